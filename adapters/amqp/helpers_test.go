package amqp_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// newEnv returns a namespace of the test's own on the broker the
// environment names (testkit.EnvBroker: without one the test skips, or
// fails under TOPICRPC_REQUIRE_BROKER=1).
func newEnv(tb testing.TB) *amqptest.Namespace {
	tb.Helper()
	return amqptest.New(tb, testkit.EnvBroker(tb), "topicrpc-test")
}

// openTransport connects a transport that the test closes itself (no
// cleanup: a second Close would report the first one's error again).
func openTransport(tb testing.TB, cfg amqp.Config) *amqp.Transport {
	tb.Helper()
	tr, err := amqp.New(testkit.Context(tb, 5*time.Second), cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return tr
}

// rawReplies declares a reply queue on ch and returns its name and deliveries.
func rawReplies(tb testing.TB, ch *amqp091.Channel) (string, <-chan amqp091.Delivery) {
	tb.Helper()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		tb.Fatalf("declare reply queue: %v", err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		tb.Fatalf("consume reply queue: %v", err)
	}
	return q.Name, d
}

// collector is a ReplySink keeping replies in a channel.
type collector struct{ ch chan domain.Reply }

func newCollector() *collector { return &collector{ch: make(chan domain.Reply, 4096)} }

func (c *collector) Deliver(r domain.Reply) {
	select {
	case c.ch <- r:
	default:
		panic("collector full")
	}
}

// take waits for n replies.
func (c *collector) take(tb testing.TB, n int, timeout time.Duration) []domain.Reply {
	tb.Helper()
	var got []domain.Reply
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case r := <-c.ch:
			got = append(got, r)
		case <-deadline:
			tb.Fatalf("got %d replies within %v, want %d: %+v", len(got), timeout, n, got)
		}
	}
	return got
}

// none checks that no reply arrives within wait.
func (c *collector) none(tb testing.TB, wait time.Duration) {
	tb.Helper()
	select {
	case r := <-c.ch:
		tb.Fatalf("unexpected reply %+v", r)
	case <-time.After(wait):
	}
}

// echo replies "<server>:<args>".
func echo(server string) ports.Handler {
	return func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		if err := rw.Reply(ctx, domain.Reply{Kind: domain.KindResult, Result: server + ":" + req.Command.Args}); err != nil {
			panic(err)
		}
	}
}

var idSeq atomic.Uint64

// request returns a request to target with a unique ID and a 10 s deadline.
func request(target, name, args string) *domain.Request {
	now := time.Now()
	return &domain.Request{
		ID:       "call-" + rand.Text()[:8] + "-" + strconv.FormatUint(idSeq.Add(1), 10),
		Target:   target,
		Command:  domain.Command{Name: name, Args: args},
		Sent:     now,
		Deadline: now.Add(10 * time.Second),
	}
}

package amqp_test

import (
	"context"
	"crypto/rand"
	"errors"
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

// env is one test's corner of the broker: its own exchange and queue
// prefix, deleted at the end.
type env = amqptest.Namespace

// newEnv returns a namespace of the test's own on the broker the
// environment names (testkit.EnvBroker: without one the test skips, or
// fails under TOPICRPC_REQUIRE_BROKER=1).
func newEnv(tb testing.TB) *env {
	tb.Helper()
	return amqptest.New(tb, testkit.EnvBroker(tb), "topicrpc-test")
}

// newPair returns a namespace of the test's own (newEnv) with two
// transports in it, each on a connection of its own: a server's and a
// client's.
func newPair(t *testing.T) (e *env, srv, cli *amqp.Transport) {
	t.Helper()
	e = newEnv(t)
	return e, e.Transport(t), e.Transport(t)
}

// inBackground runs fn in a goroutine of its own and returns the channel
// its error comes on.
func inBackground(fn func() error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	return errc
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

// newCollector returns a ReplySink keeping up to 4096 replies.
func newCollector() testkit.Replies { return testkit.NewReplies(4096) }

// echo replies "<server>:<args>". A reply lost with a connection (the
// tests that cut the network do that) is its caller's to miss; any other
// failure to reply is a bug, and panics.
func echo(server string) ports.Handler {
	return func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		err := rw.Reply(ctx, domain.Reply{Kind: domain.KindResult, Result: server + ":" + req.Command.Args})
		if err != nil && !errors.Is(err, amqp.ErrConnectionLost) {
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

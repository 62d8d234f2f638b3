package amqp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// ranLog records which requests a handler ran.
type ranLog struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (l *ranLog) handler(server string) ports.Handler {
	return func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		l.mu.Lock()
		if l.ids == nil {
			l.ids = map[string]bool{}
		}
		l.ids[req.ID] = true
		l.mu.Unlock()
		echo(server)(ctx, req, rw)
	}
}

func (l *ranLog) ran(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}

// A request whose deadline passes while its server is away expires in the
// queue: the server never runs it and nobody answers.
func TestRequestExpiresInQueueWhileServerIsAway(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	ep := ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}
	var log ranLog
	e.Track(ep.QueueName())
	sub, err := srv.Serve(testkit.Context(t, 5*time.Second), ep, log.handler("s1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(testkit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	c := newCollector()
	stale := request("s1", "echo", "stale")
	stale.Deadline = time.Now().Add(150 * time.Millisecond)
	if err := cli.Send(testkit.Context(t, 5*time.Second), stale, c); err != nil {
		t.Fatalf("Send while the server is away: %v (its queue should hold the request)", err)
	}
	time.Sleep(400 * time.Millisecond)

	e.Serve(t, srv, ep, log.handler("s1"))
	fresh := request("s1", "echo", "fresh")
	if err := cli.Send(testkit.Context(t, 5*time.Second), fresh, c); err != nil {
		t.Fatal(err)
	}
	got := c.Take(t, 1, 5*time.Second)[0]
	if got.CallID != fresh.ID {
		t.Errorf("first reply is for %s, want the fresh request %s", got.CallID, fresh.ID)
	}
	c.None(t, 200*time.Millisecond)
	if log.ran(stale.ID) {
		t.Error("the expired request was run")
	}
}

// serverRunning starts an app.Server named s1 on tr whose "count" command
// records each request it runs, stopped at the end of the test.
func serverRunning(t *testing.T, e *env, tr ports.Transport, log *ranLog) {
	t.Helper()
	e.Track("s1")
	srv := app.NewServer(tr, app.ServerConfig{Name: "s1", Bindings: []string{"s1"}}, testkit.Logger(t))
	if err := srv.Handle("count", func(ctx context.Context, args string) (string, error) {
		log.mu.Lock()
		if log.ids == nil {
			log.ids = map[string]bool{}
		}
		log.ids[args] = true
		log.mu.Unlock()
		return args, nil
	}); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, srv, 5*time.Second)
}

// A request sent after its deadline is never run: the broker drops it (its
// per-message TTL is the 1 ms minimum) or delivers it to a waiting consumer
// within that millisecond, and the server's pipeline answers it expired.
func TestRequestSentPastDeadlineIsNotRun(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	var log ranLog
	serverRunning(t, e, srv, &log)
	c := newCollector()
	req := request("s1", "count", "late")
	req.Deadline = time.Now().Add(-time.Second)
	if err := cli.Send(testkit.Context(t, 5*time.Second), req, c); err != nil {
		t.Fatal(err)
	}
	fresh := request("s1", "count", "fresh")
	if err := cli.Send(testkit.Context(t, 5*time.Second), fresh, c); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Take(t, 1, 5*time.Second) {
		if r.CallID == req.ID && r.Code != domain.CodeExpired {
			t.Errorf("reply to the late request = %+v, want code %s", r, domain.CodeExpired)
		}
	}
	for !log.ran("fresh") { // the queue is FIFO: the late request was settled first
		c.Take(t, 1, 5*time.Second)
	}
	if log.ran("late") {
		t.Error("the expired request was run")
	}
}

// A request the broker delivers after its deadline (no expiration property
// here, as from a client whose clock runs ahead) reaches the handler with
// its deadline: the adapter applies no policy, and a Server's pipeline
// answers it "expired" without running it.
func TestServerAnswersExpiredWithoutRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.Transport(t)
	var log ranLog
	serverRunning(t, e, srv, &log)
	replies, _ := publishLate(t, e, "late-1", "count", "late")
	select {
	case d := <-replies:
		if d.CorrelationId != "late-1" || d.Headers["topicrpc-code"] != domain.CodeExpired || d.Type != "result" || d.AppId != "s1" {
			t.Errorf("reply = %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	if log.ran("late") {
		t.Error("the expired request was run")
	}
}

// The adapter hands a request to the handler as decoded, deadline included,
// even one already past it: expiring it is the handler's business.
func TestAdapterDeliversExpiredRequestsToTheHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.Transport(t)
	got := make(chan *domain.Request, 1)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}},
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			got <- req
			_ = rw.Reply(ctx, domain.Reply{Kind: domain.KindResult})
		})
	_, deadline := publishLate(t, e, "late-2", "echo", "")
	select {
	case req := <-got:
		if req.ID != "late-2" || !req.Deadline.Equal(deadline) {
			t.Errorf("handler got %+v, want call late-2 with deadline %v", req, deadline)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never got the request")
	}
}

// publishLate publishes, by hand, a request to s1 whose deadline passed a
// second ago and that carries no expiration (as from a client whose clock
// runs behind): the broker delivers it. It returns the replies to it and
// its deadline.
func publishLate(t *testing.T, e *env, id, command, args string) (<-chan amqp091.Delivery, time.Time) {
	t.Helper()
	raw := amqptest.Channel(t, e.Broker.URL)
	replyTo, replies := rawReplies(t, raw)
	deadline := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	err := raw.PublishWithContext(testkit.Context(t, 5*time.Second), e.Exchange, "s1", false, false, amqp091.Publishing{
		CorrelationId: id, ReplyTo: replyTo, Type: command, Body: []byte(args),
		Headers: amqp091.Table{"topicrpc-deadline": deadline.UnixMilli()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return replies, deadline
}

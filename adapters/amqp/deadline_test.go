package amqp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
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
	e := newEnv(t)
	srv, cli := e.transport(t), e.transport(t)
	ep := ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}
	var log ranLog
	e.track(ep.QueueName())
	sub, err := srv.Serve(ctxTimeout(t, 5*time.Second), ep, log.handler("s1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	c := newCollector()
	stale := request("s1", "echo", "stale")
	stale.Deadline = time.Now().Add(150 * time.Millisecond)
	if err := cli.Send(ctxTimeout(t, 5*time.Second), stale, c); err != nil {
		t.Fatalf("Send while the server is away: %v (its queue should hold the request)", err)
	}
	time.Sleep(400 * time.Millisecond)

	e.serve(t, srv, ep, log.handler("s1"))
	fresh := request("s1", "echo", "fresh")
	if err := cli.Send(ctxTimeout(t, 5*time.Second), fresh, c); err != nil {
		t.Fatal(err)
	}
	got := c.take(t, 1, 5*time.Second)[0]
	if got.CallID != fresh.ID {
		t.Errorf("first reply is for %s, want the fresh request %s", got.CallID, fresh.ID)
	}
	c.none(t, 200*time.Millisecond)
	if log.ran(stale.ID) {
		t.Error("the expired request was run")
	}
}

// A request sent after its deadline is never run, whether the broker drops
// it or the server sees it expired.
func TestRequestSentPastDeadlineIsNotRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, cli := e.transport(t), e.transport(t)
	var log ranLog
	e.serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, log.handler("s1"))
	c := newCollector()
	req := request("s1", "echo", "")
	req.Deadline = time.Now().Add(-time.Second)
	if err := cli.Send(ctxTimeout(t, 5*time.Second), req, c); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-c.ch:
		if r.Code != domain.CodeExpired {
			t.Errorf("reply = %+v, want code %s", r, domain.CodeExpired)
		}
	case <-time.After(300 * time.Millisecond): // dropped by the broker
	}
	if log.ran(req.ID) {
		t.Error("the expired request was run")
	}
}

// A request the broker delivers after its deadline (no expiration property
// here, as from a client whose clock runs ahead) is answered "expired" and
// not run.
func TestServerAnswersExpiredWithoutRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.transport(t)
	var log ranLog
	e.serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, log.handler("s1"))
	raw := e.raw(t)
	replyTo, replies := rawReplies(t, raw)
	err := raw.PublishWithContext(ctxTimeout(t, 5*time.Second), e.exchange, "s1", false, false, amqp091.Publishing{
		CorrelationId: "late-1",
		ReplyTo:       replyTo,
		Type:          "echo",
		Headers:       amqp091.Table{"topicrpc-deadline": time.Now().Add(-time.Second).UnixMilli()},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-replies:
		if d.CorrelationId != "late-1" || d.Headers["topicrpc-code"] != domain.CodeExpired || d.Type != "result" || d.AppId != "s1" {
			t.Errorf("reply = %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	if log.ran("late-1") {
		t.Error("the expired request was run")
	}
}

func TestHandlerContextEndsAtDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, cli := e.transport(t), e.transport(t)
	e.serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}},
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			<-ctx.Done()
			r := domain.Reply{Kind: domain.KindResult, Code: domain.CodeDeadline, Error: ctx.Err().Error()}
			if err := rw.Reply(context.WithoutCancel(ctx), r); err != nil {
				panic(err)
			}
		})
	c := newCollector()
	req := request("s1", "sleep", "")
	req.Deadline = time.Now().Add(300 * time.Millisecond)
	if err := cli.Send(ctxTimeout(t, 5*time.Second), req, c); err != nil {
		t.Fatal(err)
	}
	got := c.take(t, 1, 5*time.Second)[0]
	if got.Code != domain.CodeDeadline || got.Error != context.DeadlineExceeded.Error() {
		t.Errorf("reply = %+v", got)
	}
}

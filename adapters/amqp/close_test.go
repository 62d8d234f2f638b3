package amqp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// Close waits for the handler in flight, whose reply still goes out: the
// handler is held until Close has been seen not to return, and it has
// finished by the time Close returns.
func TestSubscriptionCloseWaitsForHandlers(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	e.Track("s1")
	sub, err := srv.Serve(testkit.Context(t, 5*time.Second), ports.Endpoint{Name: "s1", Bindings: []string{"s1"}},
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			close(started)
			<-release
			echo("s1")(ctx, req, rw)
			close(finished)
		})
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	if err := cli.Send(testkit.Context(t, 5*time.Second), request("s1", "echo", "x"), c); err != nil {
		t.Fatal(err)
	}
	_ = testkit.Within(t, started, 10*time.Second, "the handler's start")
	closed := inBackground(func() error { return sub.Close(testkit.Context(t, 10*time.Second)) })
	select {
	case err := <-closed:
		close(release)
		t.Fatalf("Close returned (%v) while a handler was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := testkit.Within(t, closed, 10*time.Second, "Close after the handler's release"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("Close returned before the handler finished")
	}
	if r := c.Take(t, 1, 5*time.Second)[0]; !r.OK() || r.Result != "s1:x" {
		t.Errorf("reply = %+v", r)
	}
	if err := sub.Close(testkit.Context(t, time.Second)); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A handler that ignores its context does not hold Close past its ctx; the
// request it holds goes back to the queue for another consumer.
func TestSubscriptionCloseGivesUpAtCtxAndRequeues(t *testing.T) {
	t.Parallel()
	e, srv, cli := newPair(t)
	release := make(chan struct{})
	defer close(release)
	b := block(t, e, srv, cli, ports.Endpoint{Name: "a", Queue: "shared", Bindings: []string{"shared"}}, release)
	begin := time.Now()
	err := b.sub.Close(testkit.Context(t, 200*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case <-b.cancelled:
	case <-time.After(time.Second):
		t.Error("handler context not cancelled")
	}

	e.Serve(t, srv, ports.Endpoint{Name: "b", Queue: "shared", Bindings: []string{"shared"}}, echo("b"))
	r := b.replies.Take(t, 1, 5*time.Second)[0]
	if r.CallID != b.req.ID || r.Server != "b" || !r.OK() {
		t.Errorf("reply = %+v, want b to run the requeued request", r)
	}
}

func TestCloseStopsSubscriptionsAndFailsSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.Transport(t)
	cli := openTransport(t, e.Config())
	cancelled := block(t, e, cli, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, nil).cancelled
	if err := cli.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(time.Second):
		t.Error("handler context not cancelled by Close")
	}
	if err := cli.Send(testkit.Context(t, time.Second), request("s1", "echo", ""), newCollector()); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if _, err := cli.Serve(testkit.Context(t, time.Second), ports.Endpoint{Name: "s2"}, echo("s2")); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
	if err := cli.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A Send waiting for a broker that stopped answering returns ErrClosed when
// the transport is closed, and Close itself does not hang.
func TestCloseUnblocksSendWaitingForConfirm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := newProxy(t, e.Broker.URL)
	cfg := e.Config()
	p.via(&cfg)
	cfg.DialTimeout = time.Second
	cli := openTransport(t, cfg)
	p.hold()
	errc := inBackground(func() error { return cli.Send(context.Background(), request("nobody", "echo", ""), newCollector()) })
	p.awaitHeldPublish(t, 10*time.Second)
	select {
	case err := <-errc:
		t.Fatalf("Send returned %v while the broker was silent", err)
	case <-time.After(200 * time.Millisecond):
	}
	begin := time.Now()
	closed := inBackground(cli.Close)
	if err := testkit.Within(t, errc, time.Second, "Send after Close"); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Send = %v, want ErrClosed", err)
	}
	_ = testkit.Within(t, closed, 3*time.Second, "Close on a silent broker")
	t.Logf("Close took %v", time.Since(begin))
}

// A Send waiting for its confirm when the connection breaks fails at once;
// one made afterwards waits for the reconnection and succeeds.
func TestConnectionLossFailsSendsPromptly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.Transport(t)
	e.Serve(t, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, echo("s1"))
	p := newProxy(t, e.Broker.URL)
	cfg := e.Config()
	p.via(&cfg)
	cli := openTransport(t, cfg)
	defer cli.Close()
	c := newCollector()
	if err := cli.Send(testkit.Context(t, 5*time.Second), request("s1", "echo", ""), c); err != nil {
		t.Fatal(err)
	}
	c.Take(t, 1, 5*time.Second)

	// One Send waits for a confirm when the connection breaks.
	p.hold()
	errc := inBackground(func() error { return cli.Send(context.Background(), request("s1", "echo", ""), c) })
	p.awaitHeldPublish(t, 10*time.Second) // the Send waits for its confirm
	p.cut()
	err := testkit.Within(t, errc, 2*time.Second, "Send in flight when the connection broke")
	if !errors.Is(err, amqp.ErrConnectionLost) || !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Send in flight = %v, want ErrConnectionLost and ports.ErrUnavailable", err)
	}
	t.Logf("in flight: %v", err)
	// The proxy lets new connections through: the client reconnects, and a
	// Send after the loss completes.
	if err := cli.Send(testkit.Context(t, 10*time.Second), request("s1", "echo", ""), c); err != nil {
		t.Errorf("Send after loss = %v, want it to wait for the reconnection and succeed", err)
	}
	c.Take(t, 1, 5*time.Second)
}

func TestConnectionLossStopsHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cli := e.Transport(t)
	p := newProxy(t, e.Broker.URL)
	cfg := e.Config()
	p.via(&cfg)
	srv := openTransport(t, cfg)
	defer srv.Close()
	cancelled := block(t, e, srv, cli, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}}, nil).cancelled
	p.cut()
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("handler context not cancelled after the connection broke")
	}
}

// blocked is a request that a handler holds.
type blocked struct {
	sub       ports.Subscription // the handler's
	req       *domain.Request
	replies   testkit.Replies
	cancelled <-chan struct{} // closed when the handler's context ends
}

// block serves ep on srv with a handler that waits for its context to end
// and then, if release is not nil, for release to be closed (a hung
// handler); sends it a request to ep's first binding from cli; and returns
// once the handler holds it. The subscription is the test's to close.
func block(t *testing.T, e *env, srv, cli *amqp.Transport, ep ports.Endpoint, release <-chan struct{}) blocked {
	t.Helper()
	started, cancelled := make(chan struct{}), make(chan struct{})
	e.Track(ep.QueueName())
	sub, err := srv.Serve(testkit.Context(t, 5*time.Second), ep,
		func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			close(started)
			<-ctx.Done()
			close(cancelled)
			if release != nil {
				<-release
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	b := blocked{sub: sub, req: request(ep.Bindings[0], "echo", "x"), replies: newCollector(), cancelled: cancelled}
	if err := cli.Send(testkit.Context(t, 5*time.Second), b.req, b.replies); err != nil {
		t.Fatal(err)
	}
	<-started
	return b
}

package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

type contextT = context.Context

func testSeveralReplies(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	serve(t, tr, ports.Endpoint{Name: "worker", Bindings: []string{"w.#"}}, func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		_ = rw.Reply(ctx, domain.Reply{Server: "worker", Kind: domain.KindAck})
		for i := range 3 {
			_ = rw.Reply(ctx, domain.Reply{Server: "worker", Kind: domain.KindProgress, Result: fmt.Sprint(i)})
		}
		_ = rw.Reply(ctx, domain.Reply{Server: "worker", Kind: domain.KindResult, Result: "done", Elapsed: time.Millisecond})
	})
	s := newSink()
	req := request("w", "job", "")
	send(t, tr, req, s)
	want := []string{"ack:", "progress:0", "progress:1", "progress:2", "result:done"}
	for i, w := range want {
		r := s.next(t)
		if got := r.Kind.String() + ":" + r.Result; got != w {
			t.Fatalf("reply %d = %s, want %s", i, got, w)
		}
		if r.CallID != req.ID || r.Server != "worker" {
			t.Fatalf("reply %d: call %q server %q", i, r.CallID, r.Server)
		}
	}
	s.none(t, 50*time.Millisecond)
}

func testCompetingConsumers(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	var calls counter
	var mu sync.Mutex
	order := []string{}
	for _, name := range []string{"c1", "c2", "c3"} {
		// Prefetch 2: a consumer still settling its previous request keeps
		// credit, so idle-consumer rotation is exact (as in RabbitMQ, which
		// skips consumers without credit).
		serve(t, tr, ports.Endpoint{Name: name, Queue: "shared", Bindings: []string{"jobs.#"}, Concurrency: 2}, func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			calls.add(req.ID)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			echo(name)(ctx, req, rw)
		})
	}
	const n = 30
	s := newSink()
	var ids []string
	for i := range n {
		req := request("jobs", "echo", fmt.Sprint(i))
		ids = append(ids, req.ID)
		send(t, tr, req, s)
		if feat.StrictRoundRobin {
			s.results(t, 1) // one at a time: every consumer is idle again
		}
	}
	if !feat.StrictRoundRobin {
		s.results(t, n)
	}
	s.none(t, 100*time.Millisecond)
	for _, id := range ids {
		if c := calls.get(id); c != 1 {
			t.Errorf("request %s handled %d times, want exactly once", id, c)
		}
	}
	per := map[string]int{}
	for _, name := range order {
		per[name]++
	}
	if len(per) != 3 {
		t.Errorf("work went to %v; every consumer should get some", per)
	}
	if feat.StrictRoundRobin {
		for name, c := range per {
			if c != n/3 {
				t.Errorf("%s took %d of %d requests, want %d (round robin)", name, c, n, n/3)
			}
		}
	}
}

func testExpired(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var calls counter
	ep := ports.Endpoint{Name: "late", Bindings: []string{"late.#"}}
	// Declare the queue, then leave it without a consumer.
	sub := serve(t, tr, ep, echo("late"))
	closeNow(t, sub)
	s := newSink()
	req := request("late", "echo", "stale")
	req.Deadline = time.Now().Add(100 * time.Millisecond)
	send(t, tr, req, s)
	time.Sleep(300 * time.Millisecond) // the request expires in the queue
	serve(t, tr, ep, func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
		calls.add(r.ID)
		echo("late")(ctx, r, rw)
	})
	// A fresh request proves the consumer runs; the stale one must not have.
	freshNotStale(t, tr, s, request("late", "echo", "fresh"), req, &calls)
}

func testQueueOutlivesConsumer(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	ep := ports.Endpoint{Name: "durable", Bindings: []string{"d.#"}}
	closeNow(t, serve(t, tr, ep, echo("durable")))
	s := newSink()
	send(t, tr, request("d", "echo", "while away"), s) // routed: the queue is still bound
	s.none(t, 100*time.Millisecond)
	serve(t, tr, ep, echo("durable"))
	if r := s.next(t); r.Result != "while away" {
		t.Fatalf("got %+v", r)
	}
}

func testFIFO(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var mu sync.Mutex
	var got []string
	gate := make(chan struct{})
	serve(t, tr, ports.Endpoint{Name: "fifo", Bindings: []string{"f.#"}, Concurrency: 1}, func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		<-gate
		mu.Lock()
		got = append(got, req.Command.Args)
		mu.Unlock()
		echo("fifo")(ctx, req, rw)
	})
	s := newSink()
	const n = 50
	for i := range n {
		send(t, tr, request("f", "echo", fmt.Sprint(i)), s)
	}
	close(gate)
	s.results(t, n)
	for i := range n {
		if got[i] != fmt.Sprint(i) {
			t.Fatalf("handled in order %v", got)
		}
	}
}

func testForget(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	release := make(chan struct{})
	serve(t, tr, ports.Endpoint{Name: "slow", Bindings: []string{"s.#"}}, func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		<-release
		echo("slow")(ctx, req, rw)
	})
	s := newSink()
	req := request("s", "echo", "late")
	send(t, tr, req, s)
	tr.Forget(req.ID)
	tr.Forget(req.ID) // idempotent
	close(release)
	s.none(t, 200*time.Millisecond)
}

// testCloseWaits: Close waits for the handler in flight, whose reply still
// goes out. The handler is held until Close has been seen not to return, and
// it has finished by the time Close returns.
func testCloseWaits(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	sub := serve(t, tr, ports.Endpoint{Name: "grace", Bindings: []string{"g.#"}}, func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		close(started)
		<-release
		echo("grace")(ctx, req, rw)
		close(finished)
	})
	s := newSink()
	send(t, tr, request("g", "echo", "finish me"), s)
	within(t, started, "the handler to start")
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- sub.Close(ctx) }()
	select {
	case err := <-closed:
		close(release)
		t.Fatalf("close returned (%v) while a handler was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := within(t, closed, "close after the handler was released"); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("close returned before the handler finished")
	}
	if r := s.next(t); r.Result != "finish me" {
		t.Fatalf("in-flight request did not finish: %+v", r)
	}
}

func testCloseCancels(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	sub := serve(t, tr, ports.Endpoint{Name: "stuck", Bindings: []string{"st.#"}}, func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		close(started)
		<-ctx.Done()
		close(cancelled)
	})
	send(t, tr, request("st", "echo", ""), newSink())
	within(t, started, "the handler to start")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := sub.Close(ctx); err == nil {
		t.Error("close returned nil with a handler still running")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("close took %s past its context", d)
	}
	select {
	case <-cancelled:
	case <-time.After(wait):
		t.Fatal("the handler's context was not cancelled")
	}
}

func testBadEndpoint(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	for _, ep := range []ports.Endpoint{
		{Name: "", Bindings: []string{"a"}},
		{Name: "ok", Bindings: []string{string(make([]byte, 256))}},
	} {
		if _, err := tr.Serve(t.Context(), ep, echo("x")); err == nil {
			t.Errorf("Serve(%q) accepted a bad endpoint", ep.Name)
		}
	}
}

func testClosed(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := tr.Send(t.Context(), request("all", "echo", ""), newSink()); err == nil {
		t.Fatal("send on a closed transport succeeded")
	}
	if _, err := tr.Serve(t.Context(), ports.Endpoint{Name: "z", Bindings: []string{"z"}}, echo("z")); err == nil {
		t.Fatal("serve on a closed transport succeeded")
	}
}

func closeNow(t *testing.T, sub ports.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

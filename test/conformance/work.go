package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// testBalancedWork checks load-balanced groups (Endpoint.WorkGroups,
// Request.Balanced): a balanced request goes to its group's work queue, apart
// from the topic exchange, and is handled by exactly one consumer, an idle one
// first (prefetch 1); a consumer closed mid-job gives its request back to the
// queue for another to run, as RabbitMQ requeues the unacknowledged messages
// of a closed channel.
func testBalancedWork(t *testing.T, f Factory, feat Features) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Factory, Features)
	}{
		{"ExactlyOnceAndSpread", testWorkSpread},
		{"NoWorkQueue", testWorkNoQueue},
		{"PlainRequestsSkipWorkQueues", testWorkPlain},
		{"IdleConsumerFirst", testWorkIdleFirst},
		{"ClosedMidJobRedelivers", testWorkRedelivery},
		{"ExpiredNotRun", testWorkExpired},
		{"QueueOutlivesConsumers", testWorkOutlives},
		{"BadGroups", testWorkBadGroups},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, f, feat)
		})
	}
}

// balanced returns a request for the work queue of group.
func balanced(group, name, args string) *domain.Request {
	r := request(group, name, args)
	r.Balanced = true
	return r
}

// worker returns an endpoint with its own topic binding that also works
// for groups.
func worker(name string, groups ...string) ports.Endpoint {
	return ports.Endpoint{Name: name, Bindings: []string{name + ".#"}, WorkGroups: groups}
}

// within receives from ch or fails the test after wait.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	return testkit.Within(t, ch, wait, what)
}

func testWorkSpread(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var calls counter
	var mu sync.Mutex
	per := map[string]int{}
	for _, name := range []string{"w1", "w2", "w3"} {
		serve(t, tr, worker(name, "g"), func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			if !req.Balanced || req.Target != "g" {
				t.Errorf("%s got request %+v; want Balanced to group g", name, req)
			}
			calls.add(req.ID)
			mu.Lock()
			per[name]++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond) // some work, so that requests pile up
			echo(name)(ctx, req, rw)
		})
	}
	const n = 60
	s := newSink()
	var ids []string
	for i := range n {
		req := balanced("g", "echo", fmt.Sprint(i))
		ids = append(ids, req.ID)
		send(t, tr, req, s)
	}
	results := map[string]int{}
	for len(results) < n {
		if r := s.next(t); r.Kind == domain.KindResult {
			results[r.CallID]++
		}
	}
	s.none(t, 100*time.Millisecond)
	for _, id := range ids {
		if c, r := calls.get(id), results[id]; c != 1 || r != 1 {
			t.Errorf("request %s handled %d times with %d results; want exactly once", id, c, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d balanced requests spread as %v", n, per)
	if len(per) != 3 {
		t.Errorf("work went to %v; every idle consumer should get some", per)
	}
}

func testWorkNoQueue(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	serve(t, tr, worker("w1", "g"), echo("w1"))
	// "w1" is a server's topic queue, not a work group: no work queue either.
	for _, group := range []string{"nogroup", "w1", "g.sub"} {
		sendUnroutable(t, tr, balanced(group, "echo", "x"), fmt.Sprintf("balanced send to %q", group))
	}
}

func testWorkPlain(t *testing.T, f Factory, feat Features) {
	tr := f(t)
	type seen struct {
		server   string
		balanced bool
	}
	got := make(chan seen, 16)
	h := func(name string) ports.Handler {
		return func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			got <- seen{name, req.Balanced}
			echo(name)(ctx, req, rw)
		}
	}
	ep1 := worker("w1", "g")
	ep1.Bindings = append(ep1.Bindings, "g.#") // w1 alone is bound to g on the topic exchange
	serve(t, tr, ep1, h("w1"))
	serve(t, tr, worker("w2", "g"), h("w2"))

	// A plain request to g follows the topic bindings only.
	s := newSink()
	send(t, tr, request("g", "echo", "plain"), s)
	if names := s.results(t, 1); !slices.Equal(names, []string{"w1"}) {
		t.Errorf("plain request to g answered by %v, want [w1]", names)
	}
	s.none(t, 100*time.Millisecond)
	if v := within(t, got, "plain handler"); v != (seen{"w1", false}) {
		t.Errorf("plain request handled as %+v, want by w1, not balanced", v)
	}
	if feat.Routes {
		if r, err := tr.Routes(t.Context(), "g"); err != nil || !slices.Equal(r, []string{"w1"}) {
			t.Errorf("Routes(g) = %v, %v; work queues are not routes", r, err)
		}
	}
	// A plain request to a key no topic binding matches fails, work group or not.
	if err := tr.Send(t.Context(), request("w3", "echo", "x"), newSink()); !errors.Is(err, ports.ErrNoRoute) {
		t.Errorf("plain send to w3: %v, want ErrNoRoute", err)
	}
	// A balanced one reaches one worker, which sees it as balanced.
	send(t, tr, balanced("g", "echo", "balanced"), s)
	s.results(t, 1)
	s.none(t, 100*time.Millisecond)
	if v := within(t, got, "balanced handler"); !v.balanced {
		t.Errorf("balanced request handled as %+v", v)
	}
}

func testWorkIdleFirst(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	busy := make(chan string, 2)
	release := make(chan struct{})
	defer close(release)
	for _, name := range []string{"wa", "wb"} {
		serve(t, tr, worker(name, "p"), func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
			if req.Command.Args == "block" {
				busy <- name
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			echo(name)(ctx, req, rw)
		})
	}
	s := newSink()
	block := balanced("p", "echo", "block")
	send(t, tr, block, s)
	holder := within(t, busy, "blocking request")
	// The holder has no prefetch credit left: the next request goes to the
	// idle worker at once, not behind the blocked one.
	quick := balanced("p", "echo", "quick")
	send(t, tr, quick, s)
	r := s.next(t)
	if r.CallID != quick.ID || r.Server == holder || !r.OK() {
		t.Fatalf("reply %+v; want the quick request answered by the idle worker, not %s", r, holder)
	}
}

func testWorkRedelivery(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	started, cancelled := make(chan struct{}), make(chan struct{})
	replyErr := make(chan error, 1)
	var once sync.Once
	subA := serve(t, tr, worker("wa", "r"), func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		close(cancelled)
		// What a server does when it is stopped mid-job: this reply must not
		// reach the caller, whose request another worker runs again.
		replyErr <- rw.Reply(context.WithoutCancel(ctx), domain.Reply{Server: "wa", Kind: domain.KindResult,
			Code: domain.CodeUnavailable, Error: "shutting down"})
	})
	s := newSink()
	req := balanced("r", "job", "redo me")
	send(t, tr, req, s)
	within(t, started, "wa taking the request")

	var callsB counter
	serve(t, tr, worker("wb", "r"), func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
		callsB.add(r.ID)
		echo("wb")(ctx, r, rw)
	})
	s.none(t, 100*time.Millisecond) // wa still holds it: nobody else runs it

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := subA.Close(ctx); err == nil {
		t.Error("Close returned nil with a handler still running")
	}
	within(t, cancelled, "wa's handler context cancelled")
	r := s.next(t)
	if r.CallID != req.ID || r.Server != "wb" || !r.OK() || r.Result != "redo me" {
		t.Fatalf("reply %+v; want wb to run the request wa gave back", r)
	}
	if err := within(t, replyErr, "wa's late reply"); err == nil {
		t.Error("a handler's reply after its request went back to the queue was accepted")
	}
	s.none(t, 100*time.Millisecond)
	if n := callsB.get(req.ID); n != 1 {
		t.Errorf("wb ran the request %d times, want once", n)
	}
}

func testWorkExpired(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	var calls counter
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	serve(t, tr, worker("solo", "e"), func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		calls.add(req.ID)
		if req.Command.Args == "block" {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		echo("solo")(ctx, req, rw)
	})
	s := newSink()
	send(t, tr, balanced("e", "echo", "block"), s)
	within(t, started, "blocking request")
	stale := balanced("e", "echo", "stale")
	stale.Deadline = time.Now().Add(100 * time.Millisecond)
	send(t, tr, stale, s)
	time.Sleep(300 * time.Millisecond) // it expires in the queue, behind the blocked one
	close(release)
	freshNotStale(t, tr, s, balanced("e", "echo", "fresh"), stale, &calls)
}

func testWorkOutlives(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	ep := worker("d1", "o")
	closeNow(t, serve(t, tr, ep, echo("d1")))
	s := newSink()
	send(t, tr, balanced("o", "echo", "while away"), s) // the work queue is still there
	s.none(t, 100*time.Millisecond)                     // and nobody consumes it
	serve(t, tr, ep, echo("d1"))
	if r := s.next(t); r.Result != "while away" || !r.OK() {
		t.Fatalf("got %+v", r)
	}
}

func testWorkBadGroups(t *testing.T, f Factory, _ Features) {
	tr := f(t)
	for _, groups := range [][]string{
		{""},
		{"ok", strings.Repeat("x", 256)},
		{"twice", "twice"},
	} {
		_, err := tr.Serve(t.Context(), worker("bad", groups...), echo("bad"))
		if !errors.Is(err, ports.ErrBadEndpoint) {
			t.Errorf("Serve with work groups %.20q: %v, want ErrBadEndpoint", groups, err)
		}
	}
}

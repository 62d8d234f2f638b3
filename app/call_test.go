package app_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// scripted is a transport whose servers are the test: Routes names them and
// Send hands the call's sink to onSend, which answers (or not) as it likes.
// The other methods are not used.
type scripted struct {
	ports.Transport
	servers []string
	onSend  func(req *domain.Request, sink ports.ReplySink)

	mu        sync.Mutex
	forgotten string // the last call id forgotten
}

func (s *scripted) Routes(context.Context, string) ([]string, error) {
	if s.servers == nil {
		return nil, ports.ErrRoutesUnknown
	}
	return s.servers, nil
}

func (s *scripted) Send(_ context.Context, req *domain.Request, sink ports.ReplySink) error {
	if s.onSend != nil {
		s.onSend(req, sink)
	}
	return nil
}

func (s *scripted) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgotten = id
}

func result(server string) domain.Reply { return domain.Reply{Server: server, Result: "r-" + server} }

// TestCallToOneServerAllocatesOnlyTheCall: the call's id, its wake-up
// channel and timer, its options and its reply buffer cost no allocation of
// their own.
func TestCallToOneServerAllocatesOnlyTheCall(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop wakers")
	}
	res := result("q1")
	tr := &scripted{servers: []string{"q1"}, onSend: func(req *domain.Request, sink ports.ReplySink) {
		sink.Deliver(res)
	}}
	c := app.NewClient(tr, app.ClientConfig{}, quiet)
	cmd := domain.Command{Name: "echo", Args: "x"}
	allocs := testing.AllocsPerRun(100, func() {
		call, err := c.Call(context.Background(), "q1", cmd)
		if err != nil {
			t.Fatal(err)
		}
		for _, ok := call.Next(); ok; _, ok = call.Next() {
		}
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per call, want 1 (the Call)", allocs)
	}
}

// TestCallsReuseWakers makes calls one after another on one client, some
// that time out and some answered at once, so that each borrows a waker whose
// timer may have gone off for an earlier call: each call ends for its own
// reason, never before its deadline, and soon after it.
func TestCallsReuseWakers(t *testing.T) {
	t.Parallel()
	tr := &scripted{servers: []string{"q1"}}
	tr.onSend = func(req *domain.Request, sink ports.ReplySink) {
		if req.Command.Args == "answer" {
			go sink.Deliver(result("q1"))
		}
	}
	const timeout = 20 * time.Millisecond
	c := app.NewClient(tr, app.ClientConfig{Timeout: timeout}, quiet)
	for i := range 20 {
		// An answered call has all the time it needs, however slow the
		// machine: its context's deadline, not the client's timeout.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		args, want := "answer", domain.DoneAllReplied
		if i%3 != 0 {
			ctx, args, want = context.Background(), "silence", domain.DoneDeadline
		}
		start := time.Now()
		call, err := c.Call(ctx, "q1", domain.Command{Name: "echo", Args: args})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ok := call.Next(); ok; _, ok = call.Next() {
			n++
		}
		took := time.Since(start)
		cancel()
		s := call.Summary()
		if s.Reason != want {
			t.Fatalf("call %d (%s): reason %v, want %v", i, args, s.Reason, want)
		}
		if want == domain.DoneDeadline && (took < timeout || s.Elapsed != timeout || n != 0) {
			t.Fatalf("call %d: ended after %v, elapsed %v, %d results; want the %v deadline", i, took, s.Elapsed, n, timeout)
		}
		if want == domain.DoneDeadline && took > timeout+5*time.Second {
			t.Fatalf("call %d: took %v with a %v deadline", i, took, timeout)
		}
	}
}

// TestCallIdleGapRearms: with the expected servers unknown, every result
// moves the end of the call to an idle gap after it; the call ends one gap
// after the last result, not before and not later. In a synctest bubble: the
// results come at exact instants of the test's clock.
func TestCallIdleGapRearms(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const gap = 60 * time.Millisecond
		var lastSent time.Time
		var mu sync.Mutex
		sent := make(chan struct{})
		tr := &scripted{onSend: func(req *domain.Request, sink ports.ReplySink) {
			go func() {
				defer close(sent)
				for i := range 4 {
					time.Sleep(gap / 2)
					mu.Lock()
					lastSent = time.Now()
					mu.Unlock()
					sink.Deliver(result(fmt.Sprint("s", i)))
				}
			}()
		}}
		c := app.NewClient(tr, app.ClientConfig{IdleGap: gap, Timeout: time.Minute}, quiet)
		start := time.Now()
		call, err := c.Call(context.Background(), "all", domain.Command{Name: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ok := call.Next(); ok; _, ok = call.Next() {
			n++
		}
		end := time.Now()
		<-sent // at once, unless the call ended early
		mu.Lock()
		last := lastSent
		mu.Unlock()
		s := call.Summary()
		if s.Reason != domain.DoneIdle || n != 4 || s.OK != 4 {
			t.Fatalf("%d results, summary %+v; want 4, idle", n, s)
		}
		if end.Sub(last) != gap || last.Sub(start) != 2*gap || s.Elapsed != 3*gap {
			t.Fatalf("last result after %v, call over %v after it (elapsed %v); want %v, then one %v idle gap",
				last.Sub(start), end.Sub(last), s.Elapsed, 2*gap, gap)
		}
	})
}

// TestCallKeptBusy delivers a stream of progress replies and results from
// many goroutines while the reader is slow, so that Next always finds new
// replies behind the ones it has not observed yet: every result comes out
// once, and the summary counts them all.
func TestCallKeptBusy(t *testing.T) {
	t.Parallel()
	const servers, progress = 50, 20
	var names []string
	for i := range servers {
		names = append(names, fmt.Sprintf("s%02d", i))
	}
	tr := &scripted{servers: names, onSend: func(req *domain.Request, sink ports.ReplySink) {
		for _, name := range names {
			go func() {
				for range progress {
					sink.Deliver(domain.Reply{Server: name, Kind: domain.KindProgress})
				}
				sink.Deliver(result(name))
			}()
		}
	}}
	c := app.NewClient(tr, app.ClientConfig{Timeout: time.Minute}, quiet)
	call, err := c.Call(context.Background(), "all", domain.Command{Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for r, ok := call.Next(); ok; r, ok = call.Next() {
		if seen[r.Server] || r.Result != "r-"+r.Server {
			t.Fatalf("result %+v: again or wrong", r)
		}
		seen[r.Server] = true
		time.Sleep(50 * time.Microsecond)
	}
	if s := call.Summary(); len(seen) != servers || s.OK != servers || s.Reason != domain.DoneAllReplied {
		t.Fatalf("%d results, summary %+v", len(seen), s)
	}
}

// TestCallAfterItEnds: Summary is zero while the call runs and the same each
// time once it is over; replies delivered after the end change nothing; the
// call's id is forgotten.
func TestCallAfterItEnds(t *testing.T) {
	t.Parallel()
	var sink ports.ReplySink
	tr := &scripted{servers: []string{"q1", "q2"}, onSend: func(req *domain.Request, s ports.ReplySink) {
		sink = s
		s.Deliver(domain.Reply{Server: "q1", Error: "boom", Code: domain.CodeFailed})
	}}
	c := app.NewClient(tr, app.ClientConfig{Timeout: time.Minute}, quiet)
	call, err := c.Call(context.Background(), "all", domain.Command{Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if s := call.Summary(); s.Reason != domain.NotDone || s.Expected != 0 {
		t.Fatalf("summary of a running call %+v, want zero", s)
	}
	if r, ok := call.Next(); !ok || r.Server != "q1" {
		t.Fatalf("first result %+v %v", r, ok)
	}
	call.Close()
	if _, ok := call.Next(); ok {
		t.Fatal("a result after Close")
	}
	sink.Deliver(result("q2"))
	first, second := call.Summary(), call.Summary()
	want := domain.Summary{Expected: 2, Replied: 1, Failed: 1, NotReceived: 1, Silent: 1, Reason: domain.DoneCancelled,
		FailedServers: []string{"q1"}, SilentServers: []string{"q2"}}
	for _, s := range []domain.Summary{first, second} {
		s.Elapsed = 0
		if fmt.Sprint(s) != fmt.Sprint(want) {
			t.Fatalf("summary %+v, want %+v", s, want)
		}
	}
	if first.Elapsed != second.Elapsed {
		t.Fatalf("elapsed %v then %v", first.Elapsed, second.Elapsed)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.forgotten != call.ID() {
		t.Fatal("call not forgotten")
	}
}

// TestCallIDs: ids are distinct, and stay what they were once the call that
// holds their bytes is gone.
func TestCallIDs(t *testing.T) {
	t.Parallel()
	tr := &scripted{servers: []string{"q1"}, onSend: func(req *domain.Request, sink ports.ReplySink) {
		sink.Deliver(result("q1"))
	}}
	c := app.NewClient(tr, app.ClientConfig{}, quiet)
	ids := map[string]bool{}
	var kept, copies []string
	for range 1000 {
		call, err := c.Call(context.Background(), "q1", domain.Command{Name: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ok := call.Next(); ok; _, ok = call.Next() {
		}
		id := call.ID()
		if ids[id] {
			t.Fatalf("id %s twice", id)
		}
		ids[id] = true
		kept, copies = append(kept, id), append(copies, strings.Clone(id))
	}
	runtime.GC()
	for i, id := range kept {
		if id != copies[i] {
			t.Fatalf("id %d changed from %s to %s", i, copies[i], id)
		}
	}
}

// TestCallProgress: a live view reads where each server stands from another
// goroutine while Next runs (the race detector checks the locking): who
// acknowledged and since when, who has a result, who is not heard from.
func TestCallProgress(t *testing.T) {
	t.Parallel()
	var sink ports.ReplySink
	sent := make(chan struct{})
	tr := &scripted{servers: []string{"a", "b", "c"}, onSend: func(_ *domain.Request, s ports.ReplySink) {
		sink = s
		close(sent)
	}}
	c := app.NewClient(tr, app.ClientConfig{Timeout: time.Minute}, nil)
	call, err := c.Call(t.Context(), "all", domain.Command{Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	<-sent
	stop, first, viewed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // the view, redrawing as fast as it can while Next runs
		defer close(viewed)
		var buf []domain.Outcome
		for n := 0; ; n++ {
			buf = call.Progress(buf[:0])
			if n == 0 {
				close(first)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	<-first
	sink.Deliver(domain.Reply{Server: "b", Kind: domain.KindAck})
	sink.Deliver(result("a"))
	if r, ok := call.Next(); !ok || r.Server != "a" {
		t.Fatalf("Next: %v %v", r, ok)
	}
	p := call.Progress(nil)
	if len(p) != 3 {
		t.Fatalf("progress has %d servers, want 3: %+v", len(p), p)
	}
	byName := map[string]domain.Outcome{}
	for _, o := range p {
		byName[o.Server] = o
	}
	if o := byName["a"]; o.State != domain.StateOK || !o.Expected {
		t.Errorf("a: %+v, want ok", o)
	}
	if o := byName["b"]; o.State != domain.StatePending || !o.Acked || o.AckedAt.IsZero() {
		t.Errorf("b: %+v, want pending, acknowledged, with its time", o)
	}
	if o := byName["c"]; o.State != domain.StatePending || o.Acked {
		t.Errorf("c: %+v, want pending, not acknowledged", o)
	}
	sink.Deliver(result("b"))
	sink.Deliver(result("c"))
	for range call.Replies() {
	}
	close(stop)
	<-viewed
	if s := call.Summary(); s.OK != 3 {
		t.Errorf("summary %+v", s)
	}
}

package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// recorder keeps every reply of one request, in the order it arrived (the
// memory transport delivers synchronously, so in the order sent), and
// signals each arrival.
type recorder struct {
	mu      sync.Mutex
	replies []domain.Reply
	arrived chan struct{}
}

func newRecorder() *recorder { return &recorder{arrived: make(chan struct{}, 1)} }

func (r *recorder) Deliver(rep domain.Reply) {
	r.mu.Lock()
	r.replies = append(r.replies, rep)
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

func (r *recorder) kinds() []domain.ReplyKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := make([]domain.ReplyKind, len(r.replies))
	for i, rep := range r.replies {
		k[i] = rep.Kind
	}
	return k
}

func (r *recorder) all() []domain.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]domain.Reply(nil), r.replies...)
}

// waitFor waits until ok holds for the replies so far; it fails the test
// after 10 s, which only a broken server takes.
func (r *recorder) waitFor(t *testing.T, what string, ok func([]domain.Reply) bool) []domain.Reply {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if replies := r.all(); ok(replies) {
			return replies
		}
		select {
		case <-r.arrived:
		case <-timeout:
			t.Fatalf("no %s in 10s; replies: %v", what, r.kinds())
		}
	}
}

func count(replies []domain.Reply, k domain.ReplyKind) int {
	n := 0
	for _, r := range replies {
		if r.Kind == k {
			n++
		}
	}
	return n
}

// lazyServer starts server "s1" with cfg (its name set) on a fresh memory
// transport, with a "block" command that runs until release is closed.
func lazyServer(t *testing.T, cfg app.ServerConfig) (tr *memory.Transport, release chan struct{}, started chan struct{}) {
	t.Helper()
	tr = testkit.MemoryTransport(t)
	cfg.Name = "s1"
	s := app.NewServer(tr, cfg, quiet)
	release, started = make(chan struct{}), make(chan struct{}, 16)
	if err := s.Handle("block", func(ctx context.Context, _ string) (string, error) {
		started <- struct{}{}
		select {
		case <-release:
			return "released", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}); err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, s, 5*time.Second)
	return tr, release, started
}

var callN atomic.Int64

// send sends cmd to s1 directly through the transport, with a deadline a
// minute away, and returns the recorder of its replies.
func send(t *testing.T, tr *memory.Transport, cmd string) *recorder {
	t.Helper()
	command, err := domain.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%s-%d", t.Name(), callN.Add(1))
	now := time.Now()
	rec := newRecorder()
	req := &domain.Request{ID: id, Target: "s1", Command: command, Sent: now, Deadline: now.Add(time.Minute)}
	if err := tr.Send(t.Context(), req, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func hasResult(replies []domain.Reply) bool { return count(replies, domain.KindResult) > 0 }

// TestFastResultIsItsOwnAck: a handler done before AckDelay sends exactly
// one reply, its result: no ack, no progress.
func TestFastResultIsItsOwnAck(t *testing.T) {
	t.Parallel()
	// An AckDelay no handler here comes near, so the test cannot depend on
	// the machine's speed.
	tr, _, _ := lazyServer(t, app.ServerConfig{AckDelay: 10 * time.Second, ProgressInterval: time.Minute})
	for i := range 50 {
		rec := send(t, tr, fmt.Sprintf("echo|%d", i))
		replies := rec.waitFor(t, "result", hasResult)
		if len(replies) != 1 || replies[0].Result != fmt.Sprint(i) || replies[0].Server != "s1" {
			t.Fatalf("call %d: replies %+v, want the result alone", i, replies)
		}
	}
}

// TestSlowRequestIsAcknowledged: a handler still running after AckDelay is
// acknowledged, then sends its result, and nothing comes after the result.
func TestSlowRequestIsAcknowledged(t *testing.T) {
	t.Parallel()
	tr, release, started := lazyServer(t, app.ServerConfig{AckDelay: 5 * time.Millisecond, ProgressInterval: time.Hour})
	rec := send(t, tr, "block")
	<-started
	replies := rec.waitFor(t, "ack", func(r []domain.Reply) bool { return len(r) > 0 })
	if len(replies) != 1 || replies[0].Kind != domain.KindAck || replies[0].Server != "s1" {
		t.Fatalf("replies %+v, want one ack while the handler runs", replies)
	}
	close(release)
	replies = rec.waitFor(t, "result", hasResult)
	if len(replies) != 2 || replies[1].Kind != domain.KindResult || replies[1].Result != "released" {
		t.Fatalf("replies %v, want ack then result", rec.kinds())
	}
}

// TestProgressWhileRunning: a long handler is acknowledged once, then gets
// progress replies every ProgressInterval, their Elapsed growing; the result
// is the last reply.
func TestProgressWhileRunning(t *testing.T) {
	t.Parallel()
	const every = 20 * time.Millisecond
	tr, release, started := lazyServer(t, app.ServerConfig{AckDelay: 5 * time.Millisecond, ProgressInterval: every})
	rec := send(t, tr, "block")
	<-started
	replies := rec.waitFor(t, "third progress reply", func(r []domain.Reply) bool {
		return count(r, domain.KindProgress) >= 3
	})
	if replies[0].Kind != domain.KindAck || count(replies, domain.KindAck) != 1 {
		t.Fatalf("replies %v, want one ack first", rec.kinds())
	}
	var last time.Duration
	for i, r := range replies[1:] {
		// Progress point k is sent at k × every or later.
		if r.Kind != domain.KindProgress || r.Elapsed < time.Duration(i+1)*every || r.Elapsed <= last {
			t.Fatalf("reply %d: %+v, want progress at %s or later, after %s", i+1, r, time.Duration(i+1)*every, last)
		}
		last = r.Elapsed
	}
	close(release)
	replies = rec.waitFor(t, "result", hasResult)
	if replies[len(replies)-1].Kind != domain.KindResult {
		t.Fatalf("replies %v, want the result last", rec.kinds())
	}
	// Three more progress points: a timer left running would have fired.
	time.Sleep(3 * every)
	if n := len(rec.all()); n != len(replies) {
		t.Fatalf("replies %v: %d after the result", rec.kinds(), n-len(replies))
	}
}

// TestNothingAfterTheResult races results against the timers: handlers of
// every length around an AckDelay and a ProgressInterval of a millisecond.
// Each request gets at most one ack, before any progress, and its result
// last.
func TestNothingAfterTheResult(t *testing.T) {
	t.Parallel()
	tr, _, _ := lazyServer(t, app.ServerConfig{AckDelay: time.Millisecond, ProgressInterval: time.Millisecond,
		Concurrency: 8})
	var recs []*recorder
	for i := range 200 {
		recs = append(recs, send(t, tr, fmt.Sprintf("sleep|%dus", i*20)))
	}
	for _, rec := range recs {
		rec.waitFor(t, "result", hasResult)
	}
	time.Sleep(20 * time.Millisecond) // timers left running would fire by now
	for i, rec := range recs {
		kinds := rec.kinds()
		if kinds[len(kinds)-1] != domain.KindResult || count(rec.all(), domain.KindResult) != 1 {
			t.Fatalf("call %d: replies %v, want one result, last", i, kinds)
		}
		for j, k := range kinds {
			if k == domain.KindAck && j != 0 {
				t.Fatalf("call %d: replies %v, want the ack first", i, kinds)
			}
		}
	}
}

// TestNegativeAckDelayAcksFirst: with AckDelay < 0 the ack goes out before
// the handler runs, as it did before acknowledgements were lazy.
func TestNegativeAckDelayAcksFirst(t *testing.T) {
	t.Parallel()
	tr, release, started := lazyServer(t, app.ServerConfig{AckDelay: app.AckAtOnce, ProgressInterval: time.Hour})
	rec := send(t, tr, "block")
	<-started
	// The handler has started, so the ack was sent already.
	if kinds := rec.kinds(); len(kinds) != 1 || kinds[0] != domain.KindAck {
		t.Fatalf("replies %v once the handler runs, want the ack", kinds)
	}
	close(release)
	rec.waitFor(t, "result", hasResult)
	// A fast command is acknowledged too.
	replies := send(t, tr, "echo|x").waitFor(t, "result", hasResult)
	if len(replies) != 2 || replies[0].Kind != domain.KindAck || replies[1].Kind != domain.KindResult {
		t.Fatalf("echo: replies %+v, want ack then result", replies)
	}
}

// TestShortDeadlineAcksEarly: a request due sooner than twice AckDelay is
// acknowledged halfway to its deadline, so the caller still hears of it.
func TestShortDeadlineAcksEarly(t *testing.T) {
	t.Parallel()
	tr, release, started := lazyServer(t, app.ServerConfig{AckDelay: time.Hour, ProgressInterval: 2 * time.Hour})
	defer close(release)
	c := app.NewClient(tr, app.ClientConfig{}, quiet)
	_, outs := doWithin(t, c, 600*time.Millisecond, "s1", domain.Command{Name: "block"})
	<-started
	if len(outs) != 1 || outs[0].State != domain.StateTimedOut {
		t.Fatalf("outcomes %+v, want s1 timed out", outs)
	}
}

// TestLongJobIsTimedOutNotSilent: through the client, with the default
// AckDelay, a server still working at the deadline acknowledged the request:
// timed out, not "not received"; a fast one is ok.
func TestLongJobIsTimedOutNotSilent(t *testing.T) {
	t.Parallel()
	c, _ := fleet(t, app.ClientConfig{})
	sum, outs := doWithin(t, c, 500*time.Millisecond, "q1", domain.Command{Name: "sleep", Args: "5s"})
	if len(outs) != 1 || outs[0].State != domain.StateTimedOut || sum.TimedOut != 1 {
		t.Fatalf("summary %+v, outcomes %+v, want q1 timed out", sum, outs)
	}
	sum, outs, err := c.Do(t.Context(), "all", domain.Command{Name: "echo", Args: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 2 || sum.Reason != domain.DoneAllReplied {
		t.Fatalf("summary %+v, outcomes %+v, want both ok", sum, outs)
	}
}

package conformance

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// wait bounds every wait in the suite: long enough for a loaded CI machine,
// short enough that a hang fails rather than stalls.
const wait = 10 * time.Second

// quiet is the log of the suite's servers and clients.
var quiet = slog.New(slog.DiscardHandler)

// sink records replies.
type sink struct{ testkit.Replies }

func newSink() *sink { return &sink{testkit.NewReplies(1024)} }

// next returns the next reply or fails the test after wait.
func (s *sink) next(t *testing.T) domain.Reply {
	t.Helper()
	return s.Next(t, wait)
}

// none asserts that no reply arrives within d.
func (s *sink) none(t *testing.T, d time.Duration) {
	t.Helper()
	s.None(t, d)
}

// results collects n result replies and returns the servers' names, sorted.
func (s *sink) results(t *testing.T, n int) []string {
	t.Helper()
	var names []string
	for len(names) < n {
		if r := s.next(t); r.Kind == domain.KindResult {
			names = append(names, r.Server)
		}
	}
	slices.Sort(names)
	return names
}

var seq atomic.Int64

func request(target, name, args string) *domain.Request {
	now := time.Now()
	return &domain.Request{
		ID:      "conf-" + strconv.FormatInt(seq.Add(1), 10),
		Target:  target,
		Command: domain.Command{Name: name, Args: args},
		Sent:    now, Deadline: now.Add(wait),
	}
}

// echo is a handler that replies with its server's name and the args.
func echo(server string) ports.Handler {
	return func(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
		_ = rw.Reply(ctx, domain.Reply{Server: server, Kind: domain.KindResult, Result: req.Command.Args})
	}
}

// serve starts a subscription closed at the end of the test.
func serve(t *testing.T, tr ports.Transport, ep ports.Endpoint, h ports.Handler) ports.Subscription {
	t.Helper()
	sub, err := tr.Serve(t.Context(), ep, h)
	if err != nil {
		t.Fatalf("serve %s: %v", ep.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = sub.Close(ctx)
	})
	return sub
}

func send(t *testing.T, tr ports.Transport, req *domain.Request, s ports.ReplySink) {
	t.Helper()
	if err := tr.Send(t.Context(), req, s); err != nil {
		t.Fatalf("send %s to %s: %v", req.Command, req.Target, err)
	}
	t.Cleanup(func() { tr.Forget(req.ID) })
}

// counter counts handler calls per args, safely.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// sendUnroutable sends req, which no queue should take, and checks that
// Send fails with ports.ErrNoRoute at once (what names the request in
// messages).
func sendUnroutable(t *testing.T, tr ports.Transport, req *domain.Request, what string) {
	t.Helper()
	start := time.Now()
	err := tr.Send(t.Context(), req, newSink())
	if !errors.Is(err, ports.ErrNoRoute) {
		t.Errorf("%s: %v, want ErrNoRoute", what, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%s took %s; an unroutable request must fail at once", what, d)
	}
}

// freshNotStale sends fresh, then reads s until its result: a result to
// stale on the way fails the test unless it is an expired error, and so does
// a call of the handler for stale (calls counts them by request id).
func freshNotStale(t *testing.T, tr ports.Transport, s *sink, fresh, stale *domain.Request, calls *counter) {
	t.Helper()
	send(t, tr, fresh, s)
	for {
		r := s.next(t)
		if r.CallID == fresh.ID && r.Kind == domain.KindResult {
			break
		}
		if r.CallID == stale.ID && r.Kind == domain.KindResult && r.Code != domain.CodeExpired {
			t.Fatalf("stale request answered %+v", r)
		}
	}
	if calls.get(stale.ID) != 0 {
		t.Fatal("a request past its deadline reached the handler")
	}
}

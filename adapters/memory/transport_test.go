package memory_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

var quiet = slog.New(slog.DiscardHandler)

type chanSink chan domain.Reply

func (c chanSink) Deliver(r domain.Reply) { c <- r }

func req(id, target string) *domain.Request {
	return &domain.Request{ID: id, Target: target, Command: domain.Command{Name: "x"}, Deadline: time.Now().Add(time.Minute)}
}

func TestFullQueueRefusesWithoutStallingOthers(t *testing.T) {
	t.Parallel()
	tr := memory.New(memory.Config{QueueLength: 2, Logger: quiet})
	defer tr.Close()
	block := make(chan struct{})
	defer close(block)
	stuck := func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) { <-block }
	answer := func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
		_ = rw.Reply(ctx, domain.Reply{Server: "ok", Result: r.ID})
	}
	if _, err := tr.Serve(t.Context(), ports.Endpoint{Name: "stuck", Bindings: []string{"all.#"}}, stuck); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Serve(t.Context(), ports.Endpoint{Name: "ok", Bindings: []string{"all.#"}}, answer); err != nil {
		t.Fatal(err)
	}
	sink := make(chanSink, 16)
	// stuck holds one (prefetch 1) and its backlog two; the fourth is refused
	// there, while the healthy server answers every one.
	for i := range 4 {
		err := tr.Send(t.Context(), req(fmt.Sprint(i), "all"), sink)
		switch {
		case i < 3 && err != nil:
			t.Fatalf("send %d: %v", i, err)
		case i == 3 && (!errors.Is(err, ports.ErrQueueFull) || !strings.Contains(err.Error(), "queue stuck")):
			t.Fatalf("send to a full queue: %v", err)
		}
		select {
		case r := <-sink:
			if r.Result != fmt.Sprint(i) {
				t.Fatalf("reply %+v to request %d", r, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("healthy server starved by a full queue")
		}
	}
}

func TestRepliesForForgottenCallsAreCounted(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	forgotten, replied := make(chan struct{}), make(chan error, 1)
	if _, err := tr.Serve(t.Context(), ports.Endpoint{Name: "a", Bindings: []string{"a"}}, func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
		select {
		case <-forgotten: // the reply comes after its call was forgotten
		case <-ctx.Done():
		}
		replied <- rw.Reply(ctx, domain.Reply{Server: "a"})
	}); err != nil {
		t.Fatal(err)
	}
	sink := make(chanSink, 1)
	if err := tr.Send(t.Context(), req("gone", "a"), sink); err != nil {
		t.Fatal(err)
	}
	tr.Forget("gone")
	close(forgotten)
	select {
	case <-replied:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not reply within 10s")
	}
	if n := tr.DroppedReplies(); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	select {
	case r := <-sink:
		t.Fatalf("a reply for a forgotten call was delivered: %+v", r)
	default:
	}
}

// TestManyClientsManyServers hammers one exchange from many goroutines; run
// with -race.
func TestManyClientsManyServers(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	const servers, clients, calls = 20, 8, 200
	for i := range servers {
		ep := ports.Endpoint{Name: fmt.Sprintf("s%d", i), Bindings: []string{"all.#", fmt.Sprintf("g%d.#", i%4)}, Concurrency: 2}
		if _, err := tr.Serve(t.Context(), ep, func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
			_ = rw.Reply(ctx, domain.Reply{Server: ep.Name, Result: r.Command.Args})
		}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				target, want := "all", servers
				if i%2 == 1 {
					target, want = fmt.Sprintf("g%d", i%4), servers/4
				}
				sink := make(chanSink, servers)
				id := fmt.Sprintf("c%d-%d", c, i)
				if err := tr.Send(context.Background(), req(id, target), sink); err != nil {
					t.Error(err)
					return
				}
				for range want {
					select {
					case r := <-sink:
						if r.CallID != id {
							t.Errorf("reply for %s routed to %s", r.CallID, id)
						}
					case <-time.After(10 * time.Second):
						t.Errorf("call %s: missing replies", id)
						return
					}
				}
				tr.Forget(id)
			}
		}()
	}
	wg.Wait()
}

// TestExpiredWhenSentIsNotRun sends requests already past their deadline to
// an idle consumer, of a server queue and of a work queue: the queue drops
// them unseen (they would be at its head), and the consumer's credit is
// intact for the next request.
func TestExpiredWhenSentIsNotRun(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	ran := make(chan string, 8)
	h := func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
		ran <- r.ID
		_ = rw.Reply(ctx, domain.Reply{Server: "a"})
	}
	ep := ports.Endpoint{Name: "a", Bindings: []string{"a"}, WorkGroups: []string{"g"}}
	if _, err := tr.Serve(t.Context(), ep, h); err != nil {
		t.Fatal(err)
	}
	sink := make(chanSink, 8)
	for _, balanced := range []bool{false, true} {
		target := "a"
		if balanced {
			target = "g"
		}
		stale := req(fmt.Sprint("stale-", target), target)
		stale.Deadline, stale.Balanced = time.Now().Add(-time.Millisecond), balanced
		if err := tr.Send(t.Context(), stale, sink); err != nil {
			t.Fatalf("send to %s: %v", target, err)
		}
		fresh := req(fmt.Sprint("fresh-", target), target)
		fresh.Balanced = balanced
		if err := tr.Send(t.Context(), fresh, sink); err != nil {
			t.Fatalf("send to %s: %v", target, err)
		}
		select {
		case id := <-ran:
			if id != fresh.ID {
				t.Fatalf("%s ran, want only %s", id, fresh.ID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fresh request to %s not run", target)
		}
		if r := <-sink; r.CallID != fresh.ID {
			t.Fatalf("reply to %s, want %s", r.CallID, fresh.ID)
		}
	}
}

// TestForgetDropsRepliesOfEverySend sends one call id to two servers in two
// Sends, each with its sink (as app.Servers does): each reply reaches the
// sink of its Send, and after Forget the replies of both are dropped.
func TestForgetDropsRepliesOfEverySend(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	release := make(chan struct{})
	for _, name := range []string{"a", "b"} {
		if _, err := tr.Serve(t.Context(), ports.Endpoint{Name: name, Bindings: []string{name}}, func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
			_ = rw.Reply(ctx, domain.Reply{Server: name, Kind: domain.KindAck})
			<-release
			_ = rw.Reply(ctx, domain.Reply{Server: name})
		}); err != nil {
			t.Fatal(err)
		}
	}
	sinks := map[string]chanSink{"a": make(chanSink, 2), "b": make(chanSink, 2)}
	for _, name := range []string{"a", "b"} {
		if err := tr.Send(t.Context(), req("both", name), sinks[name]); err != nil {
			t.Fatal(err)
		}
	}
	for name, sink := range sinks {
		select {
		case r := <-sink:
			if r.Server != name || r.CallID != "both" {
				t.Fatalf("sink of %s got %+v", name, r)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no ack from %s", name)
		}
	}
	tr.Forget("both")
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for tr.DroppedReplies() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d replies, want 2", tr.DroppedReplies())
		}
		time.Sleep(time.Millisecond)
	}
	for name, sink := range sinks {
		if len(sink) != 0 {
			t.Fatalf("sink of %s got %+v after Forget", name, <-sink)
		}
	}
}

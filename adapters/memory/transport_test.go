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
	tr := memory.New(memory.Config{Logger: quiet})
	defer tr.Close()
	done := make(chan struct{})
	if _, err := tr.Serve(t.Context(), ports.Endpoint{Name: "a", Bindings: []string{"a"}}, func(ctx context.Context, r *domain.Request, rw ports.ReplyWriter) {
		time.Sleep(20 * time.Millisecond)
		_ = rw.Reply(ctx, domain.Reply{Server: "a"})
		close(done)
	}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(t.Context(), req("gone", "a"), make(chanSink)); err != nil {
		t.Fatal(err)
	}
	tr.Forget("gone")
	<-done
	if n := tr.DroppedReplies(); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
}

// TestManyClientsManyServers hammers one exchange from many goroutines; run
// with -race.
func TestManyClientsManyServers(t *testing.T) {
	t.Parallel()
	tr := memory.New(memory.Config{Logger: quiet})
	defer tr.Close()
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

package memory_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// warnCounter is a slog handler counting warnings.
type warnCounter struct{ n atomic.Int64 }

func (*warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func heartbeat(pid int) domain.Presence {
	return domain.Presence{Kind: domain.PresenceHeartbeat, Server: "s", PID: pid, Sent: time.Now()}
}

func watch(t *testing.T, tr *memory.Transport, fn func(domain.Presence)) ports.Subscription {
	t.Helper()
	return watchFor(t, tr, ports.WatchAnnouncements, fn)
}

func watchFor(t *testing.T, tr *memory.Transport, want ports.PresenceInterest, fn func(domain.Presence)) ports.Subscription {
	t.Helper()
	sub, err := tr.WatchPresence(t.Context(), want, fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	return sub
}

func TestPresenceSlowWatcherLosesItsOldestMessages(t *testing.T) {
	t.Parallel()
	warns := &warnCounter{}
	tr := memory.New(memory.Config{Logger: slog.New(warns)})
	defer tr.Close()

	entered, release := make(chan struct{}), make(chan struct{})
	var got []int
	done := make(chan struct{})
	const extra = 10
	watch(t, tr, func(p domain.Presence) {
		if p.PID == 0 {
			close(entered)
			<-release // a stuck watcher
		}
		got = append(got, p.PID)
		if p.PID == memory.PresenceBuffer+extra {
			close(done)
		}
	})
	if err := tr.Announce(t.Context(), heartbeat(0)); err != nil {
		t.Fatal(err)
	}
	<-entered
	start := time.Now()
	for pid := 1; pid <= memory.PresenceBuffer+extra; pid++ {
		if err := tr.Announce(t.Context(), heartbeat(pid)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("announcing to a stuck watcher took %v; Announce must not wait for watchers", d)
	}
	if n := tr.DroppedPresence(); n != extra {
		t.Errorf("DroppedPresence = %d, want %d", n, extra)
	}
	if n := warns.n.Load(); n != 4 { // at drops 1, 2, 4 and 8
		t.Errorf("%d warnings for %d drops, want 4", n, extra)
	}
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not catch up")
	}
	// The first, then the newest PresenceBuffer, in order.
	want := []int{0}
	for pid := extra + 1; pid <= memory.PresenceBuffer+extra; pid++ {
		want = append(want, pid)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is pid %d, want %d", i, got[i], want[i])
		}
	}
}

func TestPresenceWatcherIsNeverCalledConcurrently(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	// Fewer than PresenceBuffer messages in all: nothing is dropped.
	const announcers, each = 8, 25
	// Not atomic: the race detector checks that fn is never concurrent.
	calls := 0
	last := map[string]int{}
	ordered := true
	all := make(chan struct{})
	watch(t, tr, func(p domain.Presence) {
		calls++
		if p.PID <= last[p.Server] {
			ordered = false
		}
		last[p.Server] = p.PID
		if calls == announcers*each {
			close(all)
		}
	})
	var wg sync.WaitGroup
	for a := range announcers {
		wg.Go(func() {
			for i := 1; i <= each; i++ {
				p := heartbeat(i)
				p.Server = string(rune('a' + a))
				if err := tr.Announce(context.Background(), p); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("messages missing")
	}
	if !ordered {
		t.Error("an announcer's messages arrived out of order")
	}
}

func TestPresenceWatcherGetsASnapshot(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	ch := make(chan domain.Presence, 1)
	watch(t, tr, func(p domain.Presence) { ch <- p })
	p := heartbeat(1)
	p.Bindings = []string{"all.#"}
	if err := tr.Announce(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	p.Bindings[0] = "changed"
	if got := <-ch; got.Bindings[0] != "all.#" {
		t.Fatalf("the watcher saw the announcer's later change: %v", got.Bindings)
	}
}

func TestPresenceWatcherClose(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	sub := watch(t, tr, func(p domain.Presence) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	})
	for pid := range 3 {
		if err := tr.Announce(t.Context(), heartbeat(pid)); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	// fn is stuck: Close waits for it until its ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := sub.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with fn running = %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := sub.Close(context.Background()); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	// The two messages queued behind the stuck call are not delivered.
	if err := tr.Announce(t.Context(), heartbeat(9)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn called %d times, want 1: nothing after Close", n)
	}
}

func TestPresenceAfterClose(t *testing.T) {
	t.Parallel()
	tr := memory.New(memory.Config{Logger: quiet})
	var calls atomic.Int64
	watch(t, tr, func(domain.Presence) { calls.Add(1) })
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Announce(t.Context(), heartbeat(1)); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Announce after Close = %v, want ErrClosed", err)
	}
	if _, err := tr.WatchPresence(t.Context(), ports.WatchQueries, func(domain.Presence) {}); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("WatchPresence after Close = %v, want ErrClosed", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("fn called %d times", n)
	}
}

func TestPresenceRejectsUnknownKinds(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	if err := tr.Announce(t.Context(), domain.Presence{Kind: domain.PresenceQuery + 1, Server: "s"}); err == nil {
		t.Error("Announce accepted an unknown kind")
	}
	if _, err := tr.WatchPresence(t.Context(), ports.WatchAnnouncements, nil); err == nil {
		t.Error("WatchPresence accepted a nil fn")
	}
	if _, err := tr.WatchPresence(t.Context(), ports.WatchQueries+1, func(domain.Presence) {}); err == nil {
		t.Error("WatchPresence accepted an unknown interest")
	}
}

// In memory, queries go to the watchers of queries only, and everything
// else to the watchers of announcements only: no message is queued for a
// watcher that does not want it.
func TestPresenceGoesOnlyToWatchersThatWantIt(t *testing.T) {
	t.Parallel()
	tr := testkit.MemoryTransport(t)
	kinds := func() (chan domain.PresenceKind, func(domain.Presence)) {
		ch := make(chan domain.PresenceKind, 16)
		return ch, func(p domain.Presence) { ch <- p.Kind }
	}
	roster, rfn := kinds()
	server, sfn := kinds()
	watchFor(t, tr, ports.WatchAnnouncements, rfn)
	watchFor(t, tr, ports.WatchQueries, sfn)
	all := []domain.PresenceKind{domain.PresenceHello, domain.PresenceHeartbeat, domain.PresenceQuery, domain.PresenceGoodbye}
	for _, k := range all {
		p := heartbeat(1)
		p.Kind = k
		if err := tr.Announce(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	take := func(ch chan domain.PresenceKind, n int) []domain.PresenceKind {
		var got []domain.PresenceKind
		for range n {
			select {
			case k := <-ch:
				got = append(got, k)
			case <-time.After(5 * time.Second):
				t.Fatalf("got %v, want %d messages", got, n)
			}
		}
		select {
		case k := <-ch:
			t.Fatalf("got %v and then a %s, want %d messages", got, k, n)
		case <-time.After(20 * time.Millisecond):
		}
		return got
	}
	if got := take(roster, 3); got[0] != domain.PresenceHello || got[1] != domain.PresenceHeartbeat || got[2] != domain.PresenceGoodbye {
		t.Errorf("the watcher of announcements got %v", got)
	}
	if got := take(server, 1); got[0] != domain.PresenceQuery {
		t.Errorf("the watcher of queries got %v", got)
	}
}

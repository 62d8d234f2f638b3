package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// testPresence: every watcher of announcements (a roster) sees every hello,
// heartbeat and goodbye announced after it started, and every watcher of
// queries (a server) every query and nothing else, whole (times to the
// millisecond), each announcer's in order; a closed watcher sees nothing
// more; a closed transport announces nothing.
func testPresence(t *testing.T, f Factory, _ Features) {
	t.Run("RoundTripAndOrder", func(t *testing.T) {
		t.Parallel()
		testPresenceRoundTrip(t, f(t))
	})
	t.Run("ServersHearOnlyQueries", func(t *testing.T) {
		t.Parallel()
		testPresenceServersHearOnlyQueries(t, f(t))
	})
	for _, want := range []ports.PresenceInterest{ports.WatchAnnouncements, ports.WatchQueries} {
		t.Run("ClosedWatcherSeesNothing/"+want.String(), func(t *testing.T) {
			t.Parallel()
			testPresenceClosedWatcher(t, f(t), want)
		})
	}
	t.Run("ClosedTransport", func(t *testing.T) {
		t.Parallel()
		testPresenceClosedTransport(t, f(t))
	})
	t.Run("UnknownInterest", func(t *testing.T) {
		t.Parallel()
		tr := f(t)
		if sub, err := tr.WatchPresence(t.Context(), ports.WatchQueries+1, func(domain.Presence) {}); err == nil {
			_ = sub.Close(t.Context())
			t.Error("WatchPresence accepted an unknown interest")
		}
	})
}

// heartbeats is how many heartbeats each announcer sends in order.
const heartbeats = 50

func testPresenceRoundTrip(t *testing.T, tr ports.Transport) {
	w1, w2 := watchPresence(t, tr, ports.WatchAnnouncements), watchPresence(t, tr, ports.WatchAnnouncements)
	q := watchPresence(t, tr, ports.WatchQueries)

	started := time.Now().Add(-time.Hour)
	base := time.Now()
	a := domain.Presence{
		Kind: domain.PresenceHello, Server: "pa", Queue: "shared-a",
		Bindings: []string{"group1.#", "all.#", "pa.#"}, WorkGroups: []string{"resize", "encode"},
		Commands: []string{"echo", "fib", "sleep"}, Version: "v1.2.3", Host: "host-a.example", PID: 4242,
		Started: started, Sent: base, Interval: 1500 * time.Millisecond,
	}
	b := domain.Presence{
		Kind: domain.PresenceHello, Server: "pb", Queue: "pb",
		Bindings: []string{"group2.#", "all.#", "pb.#"},
		Commands: []string{"echo"}, Version: "v1.2.4", Host: "host-b.example", PID: 7,
		Started: started.Add(time.Minute + 123456789), Sent: base, Interval: time.Second,
	}
	// What is announced, in order: both hellos, interleaved heartbeats with
	// increasing Sent (and PIDs telling them apart), a query, a goodbye.
	var sent []domain.Presence
	announce := func(p domain.Presence) {
		t.Helper()
		if err := tr.Announce(t.Context(), p); err != nil {
			t.Fatalf("announce %s from %q: %v", p.Kind, p.Server, err)
		}
		sent = append(sent, p)
	}
	announce(a)
	announce(b)
	for i := 1; i <= heartbeats; i++ {
		for _, p := range []domain.Presence{a, b} {
			p.Kind = domain.PresenceHeartbeat
			p.Sent = base.Add(time.Duration(i)*time.Millisecond + 321*time.Microsecond)
			announce(p)
		}
	}
	query := domain.Presence{Kind: domain.PresenceQuery, Sent: base.Add(time.Second)}
	announce(query)
	bye := a
	bye.Kind, bye.Sent = domain.PresenceGoodbye, base.Add(time.Second+time.Millisecond)
	announce(bye)

	// The watcher of queries gets the query, whole, and nothing else.
	if got := q.take(t, 1)[0]; presenceDiff(got, query) != "" {
		t.Errorf("watcher of queries: %s", presenceDiff(got, query))
	}
	// The watchers of announcements get everything else (and may get the
	// query: they ignore it).
	for i, w := range []*presenceLog{w1, w2} {
		got := w.take(t, len(sent)-1)
		// Per announcer, the messages arrive in the order they were
		// announced, each whole.
		for _, server := range []string{"pa", "pb"} {
			gs, ws := ofServer(got, server), ofServer(sent, server)
			if len(gs) != len(ws) {
				t.Fatalf("watcher %d: %d messages from %q, want %d", i+1, len(gs), server, len(ws))
			}
			for j := range ws {
				if d := presenceDiff(gs[j], ws[j]); d != "" {
					t.Fatalf("watcher %d: message %d from %q: %s", i+1, j, server, d)
				}
			}
		}
		w.none(t, 100*time.Millisecond)
	}
	q.none(t, 100*time.Millisecond)

	// End to end: a roster fed by a watcher knows who a target reaches.
	r := domain.NewRoster()
	now := time.Now()
	var goodbyes []domain.Presence
	for _, p := range w1.all {
		if p.Kind == domain.PresenceGoodbye {
			goodbyes = append(goodbyes, p)
			continue
		}
		r.Observe(p, now)
	}
	for _, tc := range []struct {
		target string
		want   []string
	}{{"all", []string{"pa", "pb"}}, {"group1", []string{"pa"}}, {"pb.x", []string{"pb"}}, {"group3", nil}} {
		if got := r.Reach(tc.target, now); !slices.Equal(got, tc.want) {
			t.Errorf("before the goodbye, %s reaches %v, want %v", tc.target, got, tc.want)
		}
	}
	if got := r.WorkersOf("resize", now); !slices.Equal(got, []string{"pa"}) {
		t.Errorf("workers of resize: %v, want [pa]", got)
	}
	for _, p := range goodbyes {
		r.Observe(p, now)
	}
	if got := r.Reach("all", now); !slices.Equal(got, []string{"pb"}) {
		t.Errorf("after pa's goodbye, all reaches %v, want [pb]", got)
	}
}

// testPresenceServersHearOnlyQueries: the watchers of queries, one per
// server, get no hello, heartbeat or goodbye, neither their own server's
// nor another's, while a roster's watcher gets them all; a query reaches
// every server.
func testPresenceServersHearOnlyQueries(t *testing.T, tr ports.Transport) {
	roster := watchPresence(t, tr, ports.WatchAnnouncements)
	servers := []*presenceLog{watchPresence(t, tr, ports.WatchQueries), watchPresence(t, tr, ports.WatchQueries)}
	var n int
	for _, name := range []string{"sa", "sb"} {
		p := domain.Presence{Kind: domain.PresenceHello, Server: name, Queue: name, Bindings: []string{name + ".#"},
			Sent: time.Now(), Interval: time.Second}
		for _, kind := range []domain.PresenceKind{domain.PresenceHello, domain.PresenceHeartbeat,
			domain.PresenceHeartbeat, domain.PresenceHeartbeat, domain.PresenceGoodbye} {
			p.Kind, p.Sent = kind, p.Sent.Add(time.Millisecond)
			if err := tr.Announce(t.Context(), p); err != nil {
				t.Fatalf("announce %s from %s: %v", kind, name, err)
			}
			n++
		}
	}
	got := roster.take(t, n)
	for _, name := range []string{"sa", "sb"} {
		if beats := ofKind(ofServer(got, name), domain.PresenceHeartbeat); len(beats) != 3 {
			t.Errorf("the roster's watcher got %d heartbeats from %s, want 3", len(beats), name)
		}
	}
	// The roster's watcher has them all: a server's watcher would have
	// some by now.
	for i, s := range servers {
		select {
		case p := <-s.in.C():
			t.Fatalf("server %d's watcher got a %s from %q; it wants queries only", i, p.Kind, p.Server)
		case <-time.After(100 * time.Millisecond):
		}
	}
	query := domain.Presence{Kind: domain.PresenceQuery, Sent: time.Now()}
	if err := tr.Announce(t.Context(), query); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		if got := s.take(t, 1)[0]; got.Kind != domain.PresenceQuery {
			t.Errorf("server %d's watcher got a %s, want the query", i, got.Kind)
		}
		s.none(t, 50*time.Millisecond)
	}
	roster.none(t, 50*time.Millisecond)
}

func testPresenceClosedWatcher(t *testing.T, tr ports.Transport, want ports.PresenceInterest) {
	w1, w2 := watchPresence(t, tr, want), watchPresence(t, tr, want)
	hello := domain.Presence{Kind: domain.PresenceHello, Server: "s1", Sent: time.Now()}
	if want == ports.WatchQueries {
		hello = domain.Presence{Kind: domain.PresenceQuery, Sent: time.Now()}
	}
	if err := tr.Announce(t.Context(), hello); err != nil {
		t.Fatal(err)
	}
	w1.take(t, 1)
	w2.take(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := w1.sub.Close(ctx); err != nil {
		t.Fatalf("close watcher: %v", err)
	}
	if err := w1.sub.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	beat := hello
	beat.Sent = time.Now()
	if want == ports.WatchAnnouncements {
		beat.Kind = domain.PresenceHeartbeat
	}
	if err := tr.Announce(t.Context(), beat); err != nil {
		t.Fatal(err)
	}
	// w2 got it, so w1 would have by now, or very soon.
	if got := w2.take(t, 1); got[0].Kind != beat.Kind {
		t.Fatalf("watcher 2 got %s, want the %s", got[0].Kind, beat.Kind)
	}
	w1.none(t, 200*time.Millisecond)
}

func testPresenceClosedTransport(t *testing.T, tr ports.Transport) {
	w, q := watchPresence(t, tr, ports.WatchAnnouncements), watchPresence(t, tr, ports.WatchQueries)
	if err := tr.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// One message for each watcher: neither may hear it.
	for _, p := range []domain.Presence{
		{Kind: domain.PresenceGoodbye, Server: "late", Sent: time.Now()},
		{Kind: domain.PresenceQuery, Sent: time.Now()},
	} {
		if err := tr.Announce(t.Context(), p); !errors.Is(err, ports.ErrClosed) {
			t.Errorf("Announce(%s) after Close = %v, want ErrClosed", p.Kind, err)
		}
	}
	for _, want := range []ports.PresenceInterest{ports.WatchAnnouncements, ports.WatchQueries} {
		if _, err := tr.WatchPresence(t.Context(), want, func(domain.Presence) {}); !errors.Is(err, ports.ErrClosed) {
			t.Errorf("WatchPresence(%s) after Close = %v, want ErrClosed", want, err)
		}
	}
	// Both watchers are given the same 100 ms to show a message.
	timeout := time.After(100 * time.Millisecond)
	for {
		select {
		case p := <-w.in.C():
			t.Fatalf("the watcher of announcements got %+v after Close", p)
		case p := <-q.in.C():
			t.Fatalf("the watcher of queries got %+v after Close", p)
		case <-timeout:
			return
		}
	}
}

// presenceLog is a watcher keeping what it is given. A watcher of
// announcements may get queries too: its log drops them.
type presenceLog struct {
	sub ports.Subscription
	in  *testkit.Inbox[domain.Presence]
	all []domain.Presence // what take returned so far
}

// watchPresence starts a watcher of want closed at the end of the test.
func watchPresence(t *testing.T, tr ports.Transport, want ports.PresenceInterest) *presenceLog {
	t.Helper()
	w := &presenceLog{in: testkit.NewInbox[domain.Presence](1024, "presence messages")}
	sub, err := tr.WatchPresence(t.Context(), want, func(p domain.Presence) {
		if want == ports.WatchAnnouncements && p.Kind == domain.PresenceQuery {
			return // allowed, and of no interest
		}
		w.in.Put(p)
	})
	if err != nil {
		t.Fatalf("watch presence: %v", err)
	}
	w.sub = sub
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = sub.Close(ctx)
	})
	return w
}

// take waits for n messages.
func (w *presenceLog) take(t *testing.T, n int) []domain.Presence {
	t.Helper()
	got := w.in.Take(t, n, wait)
	w.all = append(w.all, got...)
	return got
}

// none asserts that nothing arrives within d.
func (w *presenceLog) none(t *testing.T, d time.Duration) {
	t.Helper()
	w.in.None(t, d)
}

func ofKind(ps []domain.Presence, kind domain.PresenceKind) []domain.Presence {
	var out []domain.Presence
	for _, p := range ps {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

func ofServer(ps []domain.Presence, server string) []domain.Presence {
	var out []domain.Presence
	for _, p := range ps {
		if p.Server == server {
			out = append(out, p)
		}
	}
	return out
}

// presenceDiff describes how got differs from want, or returns "". Times
// compare to the millisecond; nil and empty slices are alike.
func presenceDiff(got, want domain.Presence) string {
	var diffs []string
	check := func(field string, same bool, g, w any) {
		if !same {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	check("Kind", got.Kind == want.Kind, got.Kind, want.Kind)
	check("Server", got.Server == want.Server, got.Server, want.Server)
	check("Queue", got.Queue == want.Queue, got.Queue, want.Queue)
	check("Bindings", slices.Equal(got.Bindings, want.Bindings), got.Bindings, want.Bindings)
	check("WorkGroups", slices.Equal(got.WorkGroups, want.WorkGroups), got.WorkGroups, want.WorkGroups)
	check("Commands", slices.Equal(got.Commands, want.Commands), got.Commands, want.Commands)
	check("Version", got.Version == want.Version, got.Version, want.Version)
	check("Host", got.Host == want.Host, got.Host, want.Host)
	check("PID", got.PID == want.PID, got.PID, want.PID)
	check("Started", sameMilli(got.Started, want.Started), got.Started, want.Started)
	check("Sent", sameMilli(got.Sent, want.Sent), got.Sent, want.Sent)
	check("Interval", got.Interval == want.Interval, got.Interval, want.Interval)
	if diffs == nil {
		return ""
	}
	return fmt.Sprint(diffs)
}

func sameMilli(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	return a.UnixMilli() == b.UnixMilli()
}

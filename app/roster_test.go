package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// The roster tests run in synctest bubbles: heartbeats, expiry and Settle
// follow the test's clock, and synctest.Wait tells when every presence
// message sent so far has been handled.

// routesUnknown is a transport that cannot tell who a target reaches, as
// RabbitMQ without the management API: Routes says so, and it keeps no fleet
// register (embedding the interface hides the memory transport's
// ports.Register). The client must ask its roster.
type routesUnknown struct{ ports.Transport }

func (routesUnknown) Routes(context.Context, string) ([]string, error) {
	return nil, ports.ErrRoutesUnknown
}

// newMemory returns a memory transport closed at the end of the test.
func newMemory(t *testing.T) *memory.Transport {
	t.Helper()
	tr := memory.New(memory.Config{Logger: quiet})
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// startRoster starts a roster on tr, closed at the end of the test.
func startRoster(t *testing.T, tr ports.Transport) *app.Roster {
	t.Helper()
	r := app.NewRoster(tr, nil, quiet)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// startServer starts a server beating every second; stop stops it (once;
// the end of the test stops it otherwise).
func startServer(t *testing.T, tr ports.Transport, name string, bindings ...string) (stop func()) {
	t.Helper()
	s := app.NewServer(tr, app.ServerConfig{Name: name, Bindings: bindings, HeartbeatInterval: time.Second}, quiet)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := s.Stop(ctx); err != nil {
				t.Errorf("stop %s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func memberNames(ms []domain.Member) []string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Server
	}
	return names
}

// announce announces a server's presence of kind on tr, sent now, with a
// heartbeat interval of one second.
func announce(t *testing.T, tr ports.Transport, kind domain.PresenceKind, server string, bindings ...string) {
	t.Helper()
	p := domain.Presence{Kind: kind, Server: server, Queue: server, Bindings: bindings, Sent: time.Now(), Interval: time.Second}
	if err := tr.Announce(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

// TestRosterSeesServersComeAndGo: servers running before the roster answer
// its query; a server starting later is seen by its hello; a server stopping
// leaves at once with its goodbye; Reach matches targets against the
// members' bindings by the topic rules.
func TestRosterSeesServersComeAndGo(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := newMemory(t)
		startServer(t, tr, "q1", "group1.#")
		startServer(t, tr, "q2", "group2.#", "*.eu")
		time.Sleep(10500 * time.Millisecond) // between heartbeats: only the query can bring them now
		r := startRoster(t, tr)
		synctest.Wait()
		if got := memberNames(r.Members()); !slices.Equal(got, []string{"q1", "q2"}) || r.Len() != 2 {
			t.Fatalf("members %v (len %d) after the query, want q1 q2", got, r.Len())
		}
		m := r.Members()[1]
		if m.Queue != "q2" || !slices.Equal(m.Bindings, []string{"all.#", "q2.#", "group2.#", "*.eu"}) ||
			m.Interval != time.Second || !m.LastSeen.Equal(time.Now()) {
			t.Errorf("q2's member %+v", m)
		}

		stopQ3 := startServer(t, tr, "q3", "group1.#")
		synctest.Wait()
		for target, want := range map[string][]string{
			"all":            {"q1", "q2", "q3"},
			"group1":         {"q1", "q3"},
			"group1.sub.x":   {"q1", "q3"},
			"group2":         {"q2"},
			"q3":             {"q3"},
			"paris.eu":       {"q2"},
			"paris.eu.north": nil, // * is one word
			"group9":         nil,
		} {
			if got := r.Reach(target); !slices.Equal(got, want) {
				t.Errorf("Reach(%q) = %v, want %v", target, got, want)
			}
		}

		stopQ3()
		synctest.Wait()
		if got := memberNames(r.Members()); !slices.Equal(got, []string{"q1", "q2"}) {
			t.Fatalf("members %v right after q3's goodbye, want q1 q2", got)
		}
		if got := r.Reach("group1"); !slices.Equal(got, []string{"q1"}) {
			t.Errorf("Reach(group1) = %v after q3 left, want q1", got)
		}
	})
}

// TestRosterExpiresSilentServers: a member is kept while it beats and
// dropped after 3 heartbeat intervals of silence (domain.MissedHeartbeats),
// not one instant before; a heartbeat from a server the roster never saw
// adds it.
func TestRosterExpiresSilentServers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := newMemory(t)
		r := startRoster(t, tr)
		startServer(t, tr, "live") // beats every second
		announce(t, tr, domain.PresenceHello, "ghost", "g.#")
		synctest.Wait()
		if got := memberNames(r.Members()); !slices.Equal(got, []string{"ghost", "live"}) {
			t.Fatalf("members %v, want ghost live", got)
		}

		// A heartbeat at 2s keeps the ghost 3 intervals more: until 5s.
		time.Sleep(2 * time.Second)
		announce(t, tr, domain.PresenceHeartbeat, "ghost", "g.#")
		synctest.Wait()
		time.Sleep(3 * time.Second)
		if got := memberNames(r.Members()); !slices.Equal(got, []string{"ghost", "live"}) {
			t.Fatalf("members %v exactly 3 intervals after the ghost's heartbeat, want ghost live", got)
		}
		if got := r.Reach("g"); !slices.Equal(got, []string{"ghost"}) {
			t.Errorf("Reach(g) = %v, want ghost", got)
		}
		time.Sleep(time.Millisecond)
		if got := memberNames(r.Members()); !slices.Equal(got, []string{"live"}) {
			t.Fatalf("members %v past 3 silent intervals, want live only", got)
		}
		if got := r.Reach("g"); got != nil {
			t.Errorf("Reach(g) = %v after the ghost expired, want none", got)
		}

		// A server first heard of by its heartbeat (the roster started
		// after its hello) is a member too.
		announce(t, tr, domain.PresenceHeartbeat, "late", "g.#")
		synctest.Wait()
		if got := r.Reach("g"); !slices.Equal(got, []string{"late"}) {
			t.Errorf("Reach(g) = %v after late's heartbeat, want late", got)
		}
	})
}

// TestRosterSettle: Settle returns once the roster has not changed for the
// quiet period, waits again after every change, returns at once when the
// roster is quiet already, and gives up when its context ends.
func TestRosterSettle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const quiet = 100 * time.Millisecond
		tr := newMemory(t)
		start := time.Now()
		r := startRoster(t, tr)
		r.Settle(t.Context(), quiet)
		if d := time.Since(start); d != quiet {
			t.Errorf("Settle on a quiet roster returned after %v, want %v after Start", d, quiet)
		}

		// Three servers join 40 ms apart: Settle, called as the first
		// joins, returns one quiet period after the last.
		start = time.Now()
		announce(t, tr, domain.PresenceHello, "a")
		synctest.Wait()
		go func() {
			for _, name := range []string{"b", "c"} {
				time.Sleep(40 * time.Millisecond)
				announce(t, tr, domain.PresenceHello, name)
			}
		}()
		r.Settle(t.Context(), quiet)
		if d := time.Since(start); d != 80*time.Millisecond+quiet {
			t.Errorf("Settle returned %v after the first join, want %v (one quiet period after the last)", d, 80*time.Millisecond+quiet)
		}
		if r.Len() != 3 {
			t.Errorf("%d members after Settle, want 3", r.Len())
		}

		// Quiet long enough already: no wait.
		start = time.Now()
		r.Settle(t.Context(), quiet)
		if d := time.Since(start); d != 0 {
			t.Errorf("Settle on a settled roster waited %v", d)
		}

		// A roster that keeps changing: Settle gives up when ctx ends.
		ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
		defer cancel()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(quiet / 2)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					announce(t, tr, domain.PresenceHello, "churn", "c"+string(rune('a'+i%26)))
				}
			}
		}()
		start = time.Now()
		announce(t, tr, domain.PresenceHeartbeat, "churn", "c")
		synctest.Wait()
		r.Settle(ctx, quiet)
		close(stop)
		<-done
		if d := time.Since(start); d != 250*time.Millisecond {
			t.Errorf("Settle on a churning roster returned after %v, want its context's 250ms", d)
		}
	})
}

// mute is a transport whose announcements fail.
type mute struct{ ports.Transport }

var errMute = errors.New("mute")

func (mute) Announce(context.Context, domain.Presence) error { return errMute }

// TestRosterStartFails: Start reports a transport that cannot watch, or
// cannot ask who is there (and then stops watching).
func TestRosterStartFails(t *testing.T) {
	t.Parallel()
	closed := memory.New(memory.Config{Logger: quiet})
	_ = closed.Close()
	r := app.NewRoster(closed, nil, nil)
	if err := r.Start(t.Context()); !errors.Is(err, ports.ErrClosed) {
		t.Errorf("Start on a closed transport = %v, want ErrClosed", err)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Errorf("Close of a roster that never started = %v", err)
	}

	synctest.Test(t, func(t *testing.T) {
		mem := newMemory(t)
		r := app.NewRoster(mute{mem}, nil, quiet)
		if err := r.Start(t.Context()); !errors.Is(err, errMute) {
			t.Errorf("Start when the query fails = %v, want its error", err)
		}
		// It stopped watching: a hello reaches nobody.
		announce(t, mem, domain.PresenceHello, "q1")
		synctest.Wait()
		if r.Len() != 0 {
			t.Errorf("a roster that failed to start has %d members", r.Len())
		}
	})
}

// TestClientUsesRoster: when the transport cannot tell who a target reaches,
// a client with a roster expects the servers the roster says the target
// reaches: the call ends as soon as they all answered, or at the deadline
// naming the one that stayed silent. Without a roster, or when the roster
// knows no server for the target, the call can only end at the idle gap.
func TestClientUsesRoster(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := newMemory(t)
		tr := routesUnknown{mem}
		startServer(t, mem, "q1", "group1.#")
		startServer(t, mem, "q2", "group1.#")
		startServer(t, mem, "q9", "group9.#") // not in group1
		r := startRoster(t, tr)
		r.Settle(t.Context(), 50*time.Millisecond)
		const idle = 500 * time.Millisecond
		c := app.NewClient(tr, app.ClientConfig{Roster: r, Timeout: 2 * time.Second, IdleGap: idle}, quiet)

		servers, known, err := c.Resolve(t.Context(), "group1")
		if err != nil || !known || !slices.Equal(servers, []string{"q1", "q2"}) {
			t.Fatalf("Resolve(group1) = %v %v %v, want q1 q2 from the roster", servers, known, err)
		}
		start := time.Now()
		sum, outs, err := c.Do(t.Context(), "group1", domain.Command{Name: "echo", Args: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Reason != domain.DoneAllReplied || sum.Expected != 2 || sum.OK != 2 || len(outs) != 2 || time.Since(start) != 0 {
			t.Fatalf("summary %+v after %v, want both expected and answering at once", sum, time.Since(start))
		}

		// q3 is in the roster (its heartbeat is recent) but its requests go
		// nowhere: it is named silent at the deadline.
		announce(t, mem, domain.PresenceHello, "q3", "all.#", "q3.#", "group1.#")
		synctest.Wait()
		start = time.Now()
		sum, outs, err = c.Do(t.Context(), "group1", domain.Command{Name: "echo", Args: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Reason != domain.DoneDeadline || sum.Expected != 3 || sum.OK != 2 || sum.NotReceived != 1 ||
			!slices.Equal(sum.SilentServers, []string{"q3"}) || time.Since(start) != 2*time.Second {
			t.Fatalf("summary %+v after %v, want q3 silent at the 2s deadline", sum, time.Since(start))
		}
		if o := outs[2]; o.Server != "q3" || o.State != domain.StateNotReceived || !o.Expected {
			t.Errorf("q3's outcome %+v, want expected and not received", o)
		}

		// A target the roster knows no server for stays unknown.
		servers, known, err = c.Resolve(t.Context(), "nobody")
		if err != nil || known || servers != nil {
			t.Errorf("Resolve(nobody) = %v %v %v, want unknown", servers, known, err)
		}
		// Without a roster the same call to group1 can only wait for the
		// idle gap after the last reply.
		plain := app.NewClient(tr, app.ClientConfig{Timeout: 2 * time.Second, IdleGap: idle}, quiet)
		start = time.Now()
		sum, _, err = plain.Do(t.Context(), "group1", domain.Command{Name: "echo", Args: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Reason != domain.DoneIdle || sum.Expected != -1 || sum.OK != 2 || time.Since(start) != idle {
			t.Errorf("without a roster: summary %+v after %v, want the idle gap", sum, time.Since(start))
		}
	})
}

// A roster with the fleet key takes only signed presence: a keyed server is
// a member; a keyless one, and a forged hello or goodbye, are not.
func TestRosterWithKeyTakesOnlySignedPresence(t *testing.T) {
	t.Parallel()
	tr := newMemory(t)
	r := app.NewRoster(tr, serverKey, quiet)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	keyed := app.NewServer(tr, app.ServerConfig{Name: "k1", AuthKey: serverKey, HeartbeatInterval: time.Second}, quiet)
	testkit.Start(t, keyed, 0)
	startServer(t, tr, "open")
	now := time.Now()
	for _, p := range []domain.Presence{
		{Kind: domain.PresenceHello, Server: "ghost", Sent: now, Interval: time.Hour},
		{Kind: domain.PresenceGoodbye, Server: "k1", Sent: now.Add(time.Second), Signature: strings.Repeat("x", 32)},
	} {
		if err := tr.Announce(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	r.Settle(t.Context(), 100*time.Millisecond)
	var got []string
	for _, m := range r.Members() {
		got = append(got, m.Server)
	}
	if len(got) != 1 || got[0] != "k1" {
		t.Errorf("members %v, want k1 alone", got)
	}
}

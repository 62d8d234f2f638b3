package domain_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// interval is the heartbeat interval of the servers in these tests: a member
// silent for more than 3 s (domain.MissedHeartbeats intervals) is gone.
const interval = time.Second

// pres returns a presence message of server sent at ms on t0's clock, with
// the bindings given, or all.# and <server>.# when none are.
func pres(kind domain.PresenceKind, server string, ms int, bindings ...string) domain.Presence {
	if bindings == nil {
		bindings = []string{"all.#", server + ".#"}
	}
	return domain.Presence{
		Kind: kind, Server: server, Queue: server, Bindings: bindings,
		Commands: []string{"echo", "ping"}, Version: "v1", Host: "h", PID: 42,
		Started: t0, Sent: at(ms), Interval: interval,
	}
}

func hello(server string, ms int, bindings ...string) domain.Presence {
	return pres(domain.PresenceHello, server, ms, bindings...)
}

func beat(server string, ms int, bindings ...string) domain.Presence {
	return pres(domain.PresenceHeartbeat, server, ms, bindings...)
}

func bye(server string, ms int) domain.Presence {
	return pres(domain.PresenceGoodbye, server, ms)
}

// seen is one message observed at a time on the observer's clock.
type seen struct {
	at      int // ms
	p       domain.Presence
	changed bool // Observe's answer
}

func names(ms []domain.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Server)
	}
	return out
}

func TestRosterObserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []seen
		// checked at the last step's time
		want []string
	}{
		{
			name:  "hello adds",
			steps: []seen{{0, hello("q1", 0), true}, {1, hello("q2", 1), true}},
			want:  []string{"q1", "q2"},
		},
		{
			name:  "a heartbeat from an unknown server adds it",
			steps: []seen{{0, beat("q1", 0), true}},
			want:  []string{"q1"},
		},
		{
			name:  "a heartbeat with the same data only refreshes",
			steps: []seen{{0, hello("q1", 0), true}, {1000, beat("q1", 1000), false}, {2000, hello("q1", 2000), false}},
			want:  []string{"q1"},
		},
		{
			name:  "new bindings are a change",
			steps: []seen{{0, hello("q1", 0), true}, {1000, beat("q1", 1000, "group1.#"), true}},
			want:  []string{"q1"},
		},
		{
			name:  "goodbye removes",
			steps: []seen{{0, hello("q1", 0), true}, {0, hello("q2", 0), true}, {5, bye("q1", 5), true}},
			want:  []string{"q2"},
		},
		{
			name:  "goodbye from an unknown server changes nothing",
			steps: []seen{{0, bye("q1", 0), false}},
		},
		{
			name:  "a heartbeat sent before the goodbye but late does not resurrect",
			steps: []seen{{0, hello("q1", 0), true}, {10, bye("q1", 10), true}, {11, beat("q1", 9), false}},
		},
		{
			name:  "at equal Sent the goodbye wins",
			steps: []seen{{0, hello("q1", 0), true}, {10, bye("q1", 10), true}, {11, beat("q1", 10), false}},
		},
		{
			name:  "a goodbye that arrives before its server's hello keeps it out",
			steps: []seen{{0, bye("q1", 10), false}, {1, hello("q1", 5), false}},
		},
		{
			name:  "restart: a hello after the goodbye adds the server again",
			steps: []seen{{0, hello("q1", 0), true}, {10, bye("q1", 10), true}, {20, hello("q1", 20), true}},
			want:  []string{"q1"},
		},
		{
			name: "an old instance's late goodbye does not remove its replacement",
			steps: []seen{
				{0, hello("q1", 0), true},
				{20, hello("q1", 20), false},
				{21, bye("q1", 10), false},
			},
			want: []string{"q1"},
		},
		{
			name:  "an overtaken heartbeat is ignored",
			steps: []seen{{0, hello("q1", 0, "a.#"), true}, {10, beat("q1", 10, "b.#"), true}, {11, beat("q1", 5, "a.#"), false}},
			want:  []string{"q1"},
		},
		{
			name:  "queries and nameless messages are ignored",
			steps: []seen{{0, domain.Presence{Kind: domain.PresenceQuery, Sent: at(0)}, false}, {0, hello("", 0), false}},
		},
		{
			name:  "a silent member heard from again is a change",
			steps: []seen{{0, hello("q1", 0), true}, {3001, beat("q1", 3001), true}},
			want:  []string{"q1"},
		},
		{
			name: "zero Sent is unordered: always applied",
			steps: []seen{
				{0, hello("q1", 10), true},
				{1, func() domain.Presence { p := beat("q1", 0, "x.#"); p.Sent = time.Time{}; return p }(), true},
				{2, func() domain.Presence { p := bye("q1", 0); p.Sent = time.Time{}; return p }(), true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := domain.NewRoster()
			for i, s := range tc.steps {
				if got := r.Observe(s.p, at(s.at)); got != s.changed {
					t.Errorf("step %d (%s from %q sent at %v): Observe = %v, want %v",
						i, s.p.Kind, s.p.Server, s.p.Sent.Sub(t0), got, s.changed)
				}
			}
			now := at(tc.steps[len(tc.steps)-1].at)
			if got := names(r.Members(now)); !slices.Equal(got, tc.want) {
				t.Errorf("members %v, want %v", got, tc.want)
			}
			if r.Len() != len(tc.want) {
				t.Errorf("Len = %d, want %d", r.Len(), len(tc.want))
			}
		})
	}
}

func TestRosterExpire(t *testing.T) {
	t.Parallel()
	noInterval := hello("q3", 0)
	noInterval.Interval = 0
	tests := []struct {
		name    string
		now     int // ms
		expired []string
		members []string
	}{
		{"all beating", 2999, nil, []string{"q1", "q2", "q3"}},
		{"exactly MissedHeartbeats intervals of silence is still live", 3000, nil, []string{"q1", "q2", "q3"}},
		{"q1 silent for too long", 3001, []string{"q1"}, []string{"q2", "q3"}},
		{"q2 too, later", 4001, []string{"q1", "q2"}, []string{"q3"}},
		{"interval 0 means the default", 15001, []string{"q1", "q2", "q3"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := domain.NewRoster()
			r.Observe(hello("q1", 0), at(0))
			r.Observe(hello("q2", 1000), at(1000))
			r.Observe(noInterval, at(0))
			now := at(tc.now)
			// Members and Reach leave silent members out before Expire removes them.
			if got := names(r.Members(now)); !slices.Equal(got, tc.members) {
				t.Errorf("before Expire: members %v, want %v", got, tc.members)
			}
			if got := r.Reach("all", now); !slices.Equal(got, tc.members) {
				t.Errorf("before Expire: all reaches %v, want %v", got, tc.members)
			}
			if r.Len() != 3 {
				t.Errorf("Members or Reach modified the roster: Len = %d", r.Len())
			}
			if got := r.Expire(now); !slices.Equal(got, tc.expired) {
				t.Errorf("Expire = %v, want %v", got, tc.expired)
			}
			if r.Len() != len(tc.members) {
				t.Errorf("after Expire: Len = %d, want %d", r.Len(), len(tc.members))
			}
			if got := r.Expire(now); got != nil {
				t.Errorf("second Expire = %v, want nothing", got)
			}
		})
	}
}

func TestRosterExpireForgetsGoodbyes(t *testing.T) {
	t.Parallel()
	r := domain.NewRoster()
	r.Observe(hello("q1", 0), at(0))
	r.Observe(bye("q1", 100), at(100))
	r.Expire(at(3100)) // the goodbye is still remembered
	if r.Observe(beat("q1", 50), at(3100)) {
		t.Fatal("a heartbeat sent before the goodbye was accepted while it is remembered")
	}
	r.Expire(at(3101))
	// Forgotten: a message however old counts as a sign of life again, so
	// the memory of goodbyes stays bounded.
	if !r.Observe(beat("q1", 50), at(3101)) {
		t.Fatal("a server heard from after its goodbye was forgotten was not added")
	}
}

func TestRosterReach(t *testing.T) {
	t.Parallel()
	r := domain.NewRoster()
	r.Observe(hello("q1", 0, "group1.#", "all.#", "q1.#"), at(0))
	r.Observe(hello("q2", 0, "group2.#", "all.#", "q2.#"), at(0))
	r.Observe(hello("w", 0, "*.jobs", "#.urgent"), at(0))
	r.Observe(hello("gone", 0, "#"), at(0))
	r.Observe(bye("gone", 1), at(1))
	// q2 moves from group2 to group1: the old bindings must stop matching.
	r.Observe(beat("q2", 2, "group1.#", "all.#", "q2.#"), at(2))
	now := at(2)
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"all", []string{"q1", "q2"}},
		{"group1", []string{"q1", "q2"}},
		{"group2", nil},
		{"q1.deeper.key", []string{"q1"}},
		{"a.jobs", []string{"w"}},
		{"urgent", []string{"w"}},
		{"all.urgent", []string{"q1", "q2", "w"}},
		{"nobody", nil},
		{"", nil},
	} {
		if got := r.Reach(tc.target, now); !slices.Equal(got, tc.want) {
			t.Errorf("Reach(%q) = %v, want %v", tc.target, got, tc.want)
		}
	}
}

func TestRosterWorkersOf(t *testing.T) {
	t.Parallel()
	r := domain.NewRoster()
	for i, s := range []struct {
		name   string
		groups []string
	}{{"w2", []string{"resize", "encode"}}, {"w1", []string{"resize"}}, {"w3", nil}} {
		p := hello(s.name, i)
		p.WorkGroups = s.groups
		r.Observe(p, at(i))
	}
	for _, tc := range []struct {
		group string
		now   int
		want  []string
	}{
		{"resize", 10, []string{"w1", "w2"}},
		{"encode", 10, []string{"w2"}},
		{"nothing", 10, nil},
		{"resize", 3001, []string{"w1"}}, // w2, seen at 0, has gone silent
	} {
		if got := r.WorkersOf(tc.group, at(tc.now)); !slices.Equal(got, tc.want) {
			t.Errorf("WorkersOf(%q) at %d ms = %v, want %v", tc.group, tc.now, got, tc.want)
		}
	}
}

func TestRosterMembersKeepTheLatestPresence(t *testing.T) {
	t.Parallel()
	r := domain.NewRoster()
	p := hello("q1", 0)
	r.Observe(p, at(3))
	p.Bindings[0] = "mutated.by.caller" // the roster keeps its own copy
	b := beat("q1", 500)
	b.Version = "v2"
	r.Observe(b, at(600))
	ms := r.Members(at(600))
	if len(ms) != 1 {
		t.Fatalf("members %v", names(ms))
	}
	m := ms[0]
	if m.Kind != domain.PresenceHeartbeat || m.Version != "v2" || !m.Sent.Equal(at(500)) || !m.LastSeen.Equal(at(600)) {
		t.Errorf("member %+v: want the heartbeat's data, sent at 500 ms, seen at 600 ms", m)
	}
	if m.Bindings[0] != "all.#" {
		t.Errorf("bindings %v: the roster kept the caller's slice", m.Bindings)
	}
	if want := at(3600); !m.Expires().Equal(want) {
		t.Errorf("Expires = %v, want %v", m.Expires().Sub(t0), want.Sub(t0))
	}
	if got := r.Reach("mutated.by.caller", at(600)); got != nil {
		t.Errorf("Reach used the caller's slice: %v", got)
	}
}

func BenchmarkRosterReach(b *testing.B) {
	r := domain.NewRoster()
	for i := range 1000 {
		name := "s" + strconv.Itoa(i)
		r.Observe(hello(name, 0, "all.#", name+".#", "group"+strconv.Itoa(i%10)+".#"), at(0))
	}
	now := at(1)
	b.ReportAllocs()
	for b.Loop() {
		if len(r.Reach("group2", now)) != 100 {
			b.Fatal("wrong reach")
		}
	}
}

func ExampleRoster() {
	r := domain.NewRoster()
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	for _, p := range []domain.Presence{
		{Kind: domain.PresenceHello, Server: "q1", Bindings: []string{"group1.#", "all.#", "q1.#"}, Sent: start, Interval: time.Second},
		{Kind: domain.PresenceHello, Server: "q2", Bindings: []string{"group2.#", "all.#", "q2.#"}, Sent: start, Interval: time.Second},
	} {
		r.Observe(p, start)
	}
	fmt.Println(r.Reach("all", start), r.Reach("group1", start))

	// q1 keeps beating; q2 falls silent for more than MissedHeartbeats intervals.
	later := start.Add(3500 * time.Millisecond)
	r.Observe(domain.Presence{Kind: domain.PresenceHeartbeat, Server: "q1", Bindings: []string{"group1.#", "all.#", "q1.#"},
		Sent: later, Interval: time.Second}, later)
	fmt.Println(r.Expire(later), r.Reach("all", later))
	// Output:
	// [q1 q2] [q1]
	// [q2] [q1]
}

// Spoofed presence: a goodbye dated a day ahead does not hide a server, a
// heartbeat claiming an interval of years does not keep a ghost for long,
// and names or lists no server could have are ignored.
func TestRosterIgnoresSpoofedPresence(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(100000, 0)
	r := domain.NewRoster()
	r.Observe(domain.Presence{Kind: domain.PresenceHello, Server: "q1", Bindings: []string{"all.#"}, Sent: t0, Interval: time.Second}, t0)
	fake := domain.Presence{Kind: domain.PresenceGoodbye, Server: "q1", Sent: t0.Add(24 * time.Hour)}
	if r.Observe(fake, t0) {
		t.Error("a goodbye dated a day ahead was taken")
	}
	r.Observe(domain.Presence{Kind: domain.PresenceHeartbeat, Server: "q1", Bindings: []string{"all.#"}, Sent: t0.Add(time.Second), Interval: time.Second}, t0.Add(time.Second))
	if got := names(r.Members(t0.Add(time.Second))); len(got) != 1 || got[0] != "q1" {
		t.Errorf("members %v: q1's real heartbeats must keep it", got)
	}

	ghost := domain.Presence{Kind: domain.PresenceHeartbeat, Server: "ghost", Sent: t0, Interval: 24 * 365 * time.Hour}
	r.Observe(ghost, t0)
	if !slices.Contains(names(r.Members(t0)), "ghost") {
		t.Fatal("the ghost was not taken at all")
	}
	later := t0.Add(domain.MissedHeartbeats*domain.MaxHeartbeatInterval + time.Second)
	r.Expire(later)
	if slices.Contains(names(r.Members(later)), "ghost") {
		t.Errorf("a server claiming a year's interval is still a member after %v of silence", later.Sub(t0))
	}

	for _, p := range []domain.Presence{
		{Kind: domain.PresenceHello, Server: "a.b", Sent: t0},
		{Kind: domain.PresenceHello, Server: "wide", Sent: t0, Bindings: make([]string, domain.MaxRegListItems+1)},
	} {
		if r.Observe(p, t0) {
			t.Errorf("%q with %d bindings was taken", p.Server, len(p.Bindings))
		}
	}
}

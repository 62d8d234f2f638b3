package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

func regNames(regs []domain.Registration) []string {
	var out []string
	for _, r := range regs {
		out = append(out, r.Server)
	}
	return out
}

func TestRegisterLifecycle(t *testing.T) {
	t.Parallel()
	// A start time with nanoseconds, as a server's clock gives it: the
	// register keeps milliseconds, and a goodbye must still find its run.
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	g := domain.NewRegister(nil)
	for _, name := range []string{"w2", "w1", "w3"} {
		if err := g.Join(domain.Registration{Server: name, Queue: name, Bindings: []string{"all.#", name + ".#", "ga.#"}, Started: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if got := regNames(g.All()); !slices.Equal(got, []string{"w1", "w2", "w3"}) {
		t.Fatalf("register %v, want sorted", got)
	}
	g.Refresh("w1", t0, t0.Add(time.Minute))
	g.Leave("w2", t0, t0.Add(2*time.Minute))
	w1, _ := g.Get("w1")
	w2, _ := g.Get("w2")
	if !w1.LastSeen().Equal(t0.Add(time.Minute).Truncate(time.Millisecond)) || !w1.Left.IsZero() {
		t.Errorf("w1 after a refresh: %+v", w1)
	}
	if !w2.Left.Equal(t0.Add(2 * time.Minute).Truncate(time.Millisecond)) {
		t.Errorf("w2's goodbye was not recorded: %+v", w2)
	}

	// A goodbye or refresh of an earlier run never touches a later one.
	t1 := t0.Add(time.Hour)
	if err := g.Join(domain.Registration{Server: "w2", Queue: "w2", Bindings: []string{"all.#", "w2.#"}, Started: t1}); err != nil {
		t.Fatal(err)
	}
	g.Leave("w2", t0, t1.Add(time.Second))
	g.Refresh("w2", t0, t1.Add(time.Second))
	w2, _ = g.Get("w2")
	if !w2.Left.IsZero() || !w2.Joined.Equal(t0.Truncate(time.Millisecond)) || !w2.Seen.Equal(t1.Truncate(time.Millisecond)) {
		t.Errorf("w2 restarted: %+v; want up, joined at its first start, seen at its restart", w2)
	}

	if got := regNames(g.Reach("ga")); !slices.Equal(got, []string{"w1", "w3"}) {
		t.Errorf("ga reaches %v", got)
	}
	if got := regNames(g.Reach("w2.x")); !slices.Equal(got, []string{"w2"}) {
		t.Errorf("w2.x reaches %v", got)
	}
	if !g.Forget("w3") || g.Forget("w3") || g.Len() != 2 {
		t.Errorf("forget: %v", regNames(g.All()))
	}
}

// A register rebuilt from entries out of order, or with a name twice,
// keeps the last of each name, sorted.
func TestNewRegisterKeepsTheLastOfAName(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	g := domain.NewRegister([]domain.Registration{
		{Server: "b", PID: 1, Started: t0}, {Server: "a", PID: 2, Started: t0}, {Server: "b", PID: 3, Started: t0},
	})
	if got := regNames(g.All()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("register %v", got)
	}
	if b, _ := g.Get("b"); b.PID != 3 {
		t.Errorf("b = %+v, want the last one (pid 3)", b)
	}
}

func TestRegistrationValidate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ok := domain.Registration{Server: "w1", Queue: "w1", Bindings: []string{"all.#"}, Joined: now, Started: now, Seen: now}
	if err := ok.Validate(now); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*domain.Registration){
		"dotted name":   func(r *domain.Registration) { r.Server = "a.b" },
		"no times":      func(r *domain.Registration) { r.Joined = time.Time{} },
		"out of order":  func(r *domain.Registration) { r.Started = now.Add(-time.Hour) },
		"a day ahead":   func(r *domain.Registration) { r.Seen = now.Add(25 * time.Hour) },
		"left ahead":    func(r *domain.Registration) { r.Left = now.Add(48 * time.Hour) },
		"far past":      func(r *domain.Registration) { r.Joined = time.Unix(0, 0) },
		"many bindings": func(r *domain.Registration) { r.Bindings = make([]string, domain.MaxRegListItems+1) },
		"bad command":   func(r *domain.Registration) { r.Commands = []string{"9x"} },
		"long host":     func(r *domain.Registration) { r.Host = string(make([]byte, 256)) },
	} {
		r := ok
		mod(&r)
		if err := r.Validate(now); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// A call does not wait for servers known to be gone when it began: it ends
// as soon as the others answered, naming them down or stopped with when
// they were last seen.
func TestAggregatorDoesNotWaitForAbsentServers(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	seen := start.Add(-time.Hour)
	a := domain.NewAggregator(domain.Expectation{
		Known:   true,
		Servers: []string{"b", "d"},
		Absent: []domain.Absence{
			{Server: "c", State: domain.StateStopped, LastSeen: seen},
			{Server: "a", State: domain.StateDown, LastSeen: seen},
		},
	}, start, start.Add(10*time.Second))
	at := start.Add(time.Millisecond)
	a.Observe(domain.Reply{Server: "b", Kind: domain.KindResult, Result: "x"}, at)
	if r := a.Done(at); r != domain.NotDone {
		t.Fatalf("done %v with d still to answer", r)
	}
	a.Observe(domain.Reply{Server: "d", Kind: domain.KindResult, Result: "x"}, at)
	if r := a.Done(at); r != domain.DoneAllReplied {
		t.Fatalf("done = %v, want all_replied once b and d answered", r)
	}
	s := a.Finish(at)
	if s.Expected != 4 || s.OK != 2 || s.Down != 1 || s.Stopped != 1 || s.Silent != 0 ||
		!slices.Equal(s.DownServers, []string{"a"}) || !slices.Equal(s.StoppedServers, []string{"c"}) {
		t.Errorf("summary %+v", s)
	}
	want := map[string]domain.State{"a": domain.StateDown, "b": domain.StateOK, "c": domain.StateStopped, "d": domain.StateOK}
	for _, o := range a.Outcomes() {
		if o.State != want[o.Server] || !o.Expected {
			t.Errorf("%s: %v (expected %v), want %v", o.Server, o.State, o.Expected, want[o.Server])
		}
		if o.State.Absent() != o.LastSeen.Equal(seen) {
			t.Errorf("%s: last seen %v", o.Server, o.LastSeen)
		}
	}
}

// A server thought gone that answers after all is counted like any other,
// and the call waits for its result once it has acknowledged.
func TestAggregatorAbsentServerThatAnswers(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	a := domain.NewAggregator(domain.Expectation{
		Known:  true,
		Absent: []domain.Absence{{Server: "a", State: domain.StateDown}},
	}, start, start.Add(10*time.Second))
	if r := a.Done(start); r != domain.DoneAllReplied {
		t.Fatalf("done = %v: a call whose servers are all gone ends at once", r)
	}
	b := domain.NewAggregator(domain.Expectation{
		Known:   true,
		Servers: []string{"b"},
		Absent:  []domain.Absence{{Server: "a", State: domain.StateDown}},
	}, start, start.Add(10*time.Second))
	at := start.Add(time.Millisecond)
	b.Observe(domain.Reply{Server: "a", Kind: domain.KindAck}, at)
	b.Observe(domain.Reply{Server: "b", Kind: domain.KindResult}, at)
	if r := b.Done(at); r != domain.NotDone {
		t.Fatalf("done = %v while a, back and acknowledged, works", r)
	}
	if !b.Observe(domain.Reply{Server: "a", Kind: domain.KindResult, Result: "late"}, at) {
		t.Fatal("a's result was not taken")
	}
	s := b.Finish(at)
	if s.OK != 2 || s.Down != 0 || b.Done(at) != domain.DoneAllReplied {
		t.Errorf("summary %+v", s)
	}
}

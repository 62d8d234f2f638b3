package domain_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ok(server string) domain.Reply {
	return domain.Reply{Server: server, Kind: domain.KindResult, Result: "r-" + server}
}

func fail(server string) domain.Reply {
	return domain.Reply{Server: server, Kind: domain.KindResult, Error: "boom", Code: domain.CodeFailed}
}

func ack(server string) domain.Reply { return domain.Reply{Server: server, Kind: domain.KindAck} }

type event struct {
	ms    int
	reply domain.Reply
	shown bool // Observe's answer
}

func TestAggregator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		exp    domain.Expectation
		events []event
		// doneAt is the first millisecond (checked after each event and at every
		// ms up to the deadline) at which Done is not NotDone.
		doneAt int
		reason domain.DoneReason
		want   domain.Summary
		states map[string]domain.State
	}{
		{
			name:   "known set: done at the last expected reply",
			exp:    domain.Expectation{Servers: []string{"q1", "q2"}, Known: true},
			events: []event{{10, ok("q2"), true}, {25, ok("q1"), true}},
			doneAt: 25, reason: domain.DoneAllReplied,
			want:   domain.Summary{Expected: 2, Replied: 2, OK: 2, Elapsed: 25 * time.Millisecond, Reason: domain.DoneAllReplied},
			states: map[string]domain.State{"q1": domain.StateOK, "q2": domain.StateOK},
		},
		{
			name:   "known set: a silent server is named at the deadline",
			exp:    domain.Expectation{Servers: []string{"q1", "q2", "q3"}, Known: true},
			events: []event{{5, ok("q1"), true}, {7, fail("q3"), true}},
			doneAt: 1000, reason: domain.DoneDeadline,
			want: domain.Summary{Expected: 3, Replied: 2, OK: 1, Failed: 1, NotReceived: 1, Silent: 1,
				Elapsed: time.Second, Reason: domain.DoneDeadline,
				FailedServers: []string{"q3"}, SilentServers: []string{"q2"}},
			states: map[string]domain.State{"q1": domain.StateOK, "q2": domain.StateNotReceived, "q3": domain.StateError},
		},
		{
			name:   "acknowledged but unfinished is timed out, not silent",
			exp:    domain.Expectation{Servers: []string{"q1", "q2"}, Known: true},
			events: []event{{1, ack("q1"), false}, {2, ack("q2"), false}, {3, ok("q2"), true}},
			doneAt: 1000, reason: domain.DoneDeadline,
			want: domain.Summary{Expected: 2, Replied: 1, OK: 1, TimedOut: 1, Silent: 1,
				Elapsed: time.Second, Reason: domain.DoneDeadline,
				SilentServers: []string{"q1"}, TimedOutServers: []string{"q1"}},
			states: map[string]domain.State{"q1": domain.StateTimedOut, "q2": domain.StateOK},
		},
		{
			name:   "an unexpected server that acknowledged is waited for",
			exp:    domain.Expectation{Servers: []string{"q1"}, Known: true},
			events: []event{{1, ack("x9"), false}, {2, ok("q1"), true}, {40, ok("x9"), true}},
			doneAt: 40, reason: domain.DoneAllReplied,
			want: domain.Summary{Expected: 1, Replied: 2, OK: 2, Unexpected: 1,
				Elapsed: 40 * time.Millisecond, Reason: domain.DoneAllReplied, UnexpectedServers: []string{"x9"}},
			states: map[string]domain.State{"q1": domain.StateOK, "x9": domain.StateOK},
		},
		{
			name: "a handler stopped by the deadline is timed out, not failed",
			exp:  domain.Expectation{Servers: []string{"q1"}, Known: true},
			events: []event{{999, domain.Reply{Server: "q1", Kind: domain.KindResult, Error: "interrupted",
				Code: domain.CodeDeadline}, true}},
			doneAt: 999, reason: domain.DoneAllReplied,
			want: domain.Summary{Expected: 1, Replied: 1, TimedOut: 1, Silent: 1, Elapsed: 999 * time.Millisecond,
				Reason: domain.DoneAllReplied, SilentServers: []string{"q1"}, TimedOutServers: []string{"q1"}},
			states: map[string]domain.State{"q1": domain.StateTimedOut},
		},
		{
			name:   "duplicate results count once",
			exp:    domain.Expectation{Servers: []string{"q1", "q2"}, Known: true},
			events: []event{{1, ok("q1"), true}, {2, fail("q1"), false}, {3, ok("q2"), true}},
			doneAt: 3, reason: domain.DoneAllReplied,
			want:   domain.Summary{Expected: 2, Replied: 2, OK: 2, Elapsed: 3 * time.Millisecond, Reason: domain.DoneAllReplied},
			states: map[string]domain.State{"q1": domain.StateOK, "q2": domain.StateOK},
		},
		{
			name:   "a server listed twice is expected once",
			exp:    domain.Expectation{Servers: []string{"q1", "q1"}, Known: true},
			events: []event{{4, ok("q1"), true}},
			doneAt: 4, reason: domain.DoneAllReplied,
			want:   domain.Summary{Expected: 1, Replied: 1, OK: 1, Elapsed: 4 * time.Millisecond, Reason: domain.DoneAllReplied},
			states: map[string]domain.State{"q1": domain.StateOK},
		},
		{
			name:   "unknown set: done after the idle gap",
			exp:    domain.Expectation{IdleGap: 100 * time.Millisecond},
			events: []event{{10, ok("a"), true}, {50, ok("b"), true}},
			doneAt: 150, reason: domain.DoneIdle,
			want:   domain.Summary{Expected: -1, Replied: 2, OK: 2, Elapsed: 150 * time.Millisecond, Reason: domain.DoneIdle},
			states: map[string]domain.State{"a": domain.StateOK, "b": domain.StateOK},
		},
		{
			name:   "unknown set: no idle finish while a server is working",
			exp:    domain.Expectation{IdleGap: 100 * time.Millisecond},
			events: []event{{10, ok("a"), true}, {20, ack("b"), false}, {400, ok("b"), true}},
			doneAt: 500, reason: domain.DoneIdle,
			want:   domain.Summary{Expected: -1, Replied: 2, OK: 2, Elapsed: 500 * time.Millisecond, Reason: domain.DoneIdle},
			states: map[string]domain.State{"a": domain.StateOK, "b": domain.StateOK},
		},
		{
			name:   "unknown set: no event means wait for the deadline, not a false empty answer",
			exp:    domain.Expectation{IdleGap: 100 * time.Millisecond},
			doneAt: 1000, reason: domain.DoneDeadline,
			want:   domain.Summary{Expected: -1, Elapsed: time.Second, Reason: domain.DoneDeadline},
			states: map[string]domain.State{},
		},
		{
			name:   "count: done after N results whoever sent them; the rest are skipped, not silent",
			exp:    domain.Expectation{Count: 2, Servers: []string{"a", "b", "c", "d"}, Known: true},
			events: []event{{1, ok("c"), true}, {2, ack("a"), false}, {3, fail("b"), true}},
			doneAt: 3, reason: domain.DoneCount,
			// (a result after the count is not shown: see TestAggregatorCountIgnoresExtraResults)
			want: domain.Summary{Expected: 4, Replied: 2, OK: 1, Failed: 1,
				Elapsed: 3 * time.Millisecond, Reason: domain.DoneCount, FailedServers: []string{"b"}},
			states: map[string]domain.State{"a": domain.StateSkipped, "b": domain.StateError, "c": domain.StateOK, "d": domain.StateSkipped},
		},
		{
			name:   "results after the deadline are ignored",
			exp:    domain.Expectation{Servers: []string{"q1"}, Known: true},
			events: []event{{1000, ok("q1"), false}},
			doneAt: 1000, reason: domain.DoneDeadline,
			want: domain.Summary{Expected: 1, NotReceived: 1, Silent: 1, Elapsed: time.Second,
				Reason: domain.DoneDeadline, SilentServers: []string{"q1"}},
			states: map[string]domain.State{"q1": domain.StateNotReceived},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := domain.NewAggregator(tc.exp, t0, at(1000))
			doneAt := -1
			check := func(ms int) {
				if doneAt < 0 && a.Done(at(ms)) != domain.NotDone {
					doneAt = ms
				}
			}
			ev := 0
			for ms := 0; ms <= 1000 && doneAt < 0; ms++ {
				for ev < len(tc.events) && tc.events[ev].ms == ms {
					check(ms)
					if doneAt >= 0 {
						break
					}
					e := tc.events[ev]
					if got := a.Observe(e.reply, at(ms)); got != e.shown {
						t.Errorf("Observe(%s %s) at %dms = %v, want %v", e.reply.Server, e.reply.Kind, ms, got, e.shown)
					}
					ev++
				}
				check(ms)
			}
			if doneAt != tc.doneAt {
				t.Errorf("done at %dms, want %dms", doneAt, tc.doneAt)
			}
			if r := a.Done(at(doneAt)); r != tc.reason {
				t.Errorf("reason %v, want %v", r, tc.reason)
			}
			got := a.Finish(at(doneAt))
			if !summaryEqual(got, tc.want) {
				t.Errorf("summary\n got %+v\nwant %+v", got, tc.want)
			}
			states := map[string]domain.State{}
			for _, o := range a.Outcomes() {
				states[o.Server] = o.State
			}
			if len(states) != len(tc.states) {
				t.Errorf("outcomes %v, want %v", states, tc.states)
			}
			for s, st := range tc.states {
				if states[s] != st {
					t.Errorf("%s: state %v, want %v", s, states[s], st)
				}
			}
		})
	}
}

func summaryEqual(a, b domain.Summary) bool {
	return a.Expected == b.Expected && a.Replied == b.Replied && a.OK == b.OK && a.Failed == b.Failed &&
		a.NotReceived == b.NotReceived && a.TimedOut == b.TimedOut && a.Silent == b.Silent &&
		a.Unexpected == b.Unexpected && a.Elapsed == b.Elapsed && a.Reason == b.Reason &&
		slices.Equal(a.FailedServers, b.FailedServers) && slices.Equal(a.SilentServers, b.SilentServers) &&
		slices.Equal(a.TimedOutServers, b.TimedOutServers) && slices.Equal(a.UnexpectedServers, b.UnexpectedServers)
}

func TestAggregatorWakeAt(t *testing.T) {
	t.Parallel()
	a := domain.NewAggregator(domain.Expectation{IdleGap: 100 * time.Millisecond}, t0, at(1000))
	if got := a.WakeAt(); !got.Equal(at(1000)) {
		t.Fatalf("before any event WakeAt = %v, want the deadline", got.Sub(t0))
	}
	a.Observe(ok("a"), at(30))
	if got := a.WakeAt(); !got.Equal(at(130)) {
		t.Fatalf("after an event WakeAt = %v, want 130ms", got.Sub(t0))
	}
	a.Observe(ack("b"), at(40))
	if got := a.WakeAt(); !got.Equal(at(1000)) {
		t.Fatalf("while b works WakeAt = %v, want the deadline", got.Sub(t0))
	}
}

func TestAggregatorManyServersUsesIndex(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 200 {
		names = append(names, "s"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	a := domain.NewAggregator(domain.Expectation{Servers: names, Known: true}, t0, at(1000))
	for i, n := range names {
		if a.Done(at(i)) != domain.NotDone {
			t.Fatalf("done before %s replied", n)
		}
		if !a.Observe(ok(n), at(i)) {
			t.Fatalf("reply from %s not shown", n)
		}
	}
	if r := a.Done(at(200)); r != domain.DoneAllReplied {
		t.Fatalf("reason %v, want all_replied", r)
	}
	s := a.Finish(at(200))
	if s.OK != 200 || s.Expected != 200 || s.Unexpected != 0 {
		t.Fatalf("summary %+v", s)
	}
	if !slices.IsSortedFunc(a.Outcomes(), func(x, y domain.Outcome) int {
		if x.Server < y.Server {
			return -1
		}
		if x.Server > y.Server {
			return 1
		}
		return 0
	}) {
		t.Fatal("outcomes not sorted after Finish")
	}
}

func TestAggregatorFinishEarly(t *testing.T) {
	t.Parallel()
	a := domain.NewAggregator(domain.Expectation{Servers: []string{"q1"}, Known: true}, t0, at(1000))
	s := a.Finish(at(300)) // e.g. the caller cancelled
	if s.Reason != domain.DoneCancelled || s.NotReceived != 1 || s.Elapsed != 300*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if a.Observe(ok("q1"), at(301)) {
		t.Fatal("a reply after Finish was shown")
	}
}

func TestAggregatorUnknownSetManyServers(t *testing.T) {
	t.Parallel()
	a := domain.NewAggregator(domain.Expectation{IdleGap: 10 * time.Millisecond}, t0, at(1000))
	for i := range 50 {
		name := string(rune('z'-i%26)) + string(rune('a'+i/26))
		if !a.Observe(ok(name), at(1)) {
			t.Fatalf("first result of %s not shown", name)
		}
		if a.Observe(ok(name), at(1)) {
			t.Fatalf("duplicate result of %s shown", name)
		}
	}
	if r := a.Done(at(11)); r != domain.DoneIdle {
		t.Fatalf("reason %v", r)
	}
	s := a.Finish(at(11))
	if s.OK != 50 || s.Expected != -1 || s.Unexpected != 0 {
		t.Fatalf("summary %+v", s)
	}
	if !slices.IsSortedFunc(a.Outcomes(), func(x, y domain.Outcome) int { return strings.Compare(x.Server, y.Server) }) {
		t.Fatal("outcomes not sorted")
	}
}

func TestAggregatorCountIgnoresExtraResults(t *testing.T) {
	t.Parallel()
	a := domain.NewAggregator(domain.Expectation{Count: 1}, t0, at(1000))
	if !a.Observe(ok("a"), at(1)) {
		t.Fatal("first result not shown")
	}
	// Already in the same batch as the first: must not be shown.
	if a.Observe(ok("b"), at(1)) {
		t.Fatal("a result past the count was shown")
	}
	s := a.Finish(at(1))
	if s.OK != 1 || s.Reason != domain.DoneCount || s.Silent != 0 {
		t.Fatalf("summary %+v", s)
	}
}

// TestAggregatorResetCarriesNothingOver runs a call on an aggregator that
// already aggregated another one (Reset) and on a fresh one, and wants the
// same answers from both at every step: nothing of the first call (its
// outcomes, counts, acks, index of unexpected servers, reason, finish) may
// leak into the second.
func TestAggregatorResetCarriesNothingOver(t *testing.T) {
	t.Parallel()
	many := func(prefix string, n int) []string {
		var names []string
		for i := range n {
			names = append(names, prefix+string(rune('a'+i%26))+string(rune('a'+i/26)))
		}
		return names
	}
	type call struct {
		exp     domain.Expectation
		replies []domain.Reply // observed at 1ms, 2ms, …
		end     int            // ms at which Finish is called
	}
	unexpected := many("u", 3*16) // past smallSet: the aggregator builds its index
	var unexpectedReplies []domain.Reply
	for _, n := range unexpected {
		unexpectedReplies = append(unexpectedReplies, ack(n), ok(n))
	}
	calls := map[string]call{
		"fresh": {}, // a zero Aggregator, never reset before
		"one server answered": {
			exp: domain.Expectation{Servers: []string{"q1"}, Known: true}, replies: []domain.Reply{ack("q1"), ok("q1")}, end: 3},
		"one server silent": {
			exp: domain.Expectation{Servers: []string{"q1"}, Known: true}, replies: []domain.Reply{ack("q1")}, end: 1000},
		"many expected, unsorted, listed twice": {
			exp:     domain.Expectation{Servers: []string{"q3", "q1", "q2", "q1"}, Known: true},
			replies: []domain.Reply{ok("q2"), fail("q1"), ack("q3"), ok("x1")}, end: 500},
		"many unexpected: index built": {
			exp: domain.Expectation{Servers: []string{"q1"}, Known: true}, replies: unexpectedReplies, end: 1000},
		"unknown set, idle": {
			exp: domain.Expectation{IdleGap: 10 * time.Millisecond}, replies: []domain.Reply{ok("a"), ack("b")}, end: 40},
		"count reached": {
			exp: domain.Expectation{Count: 1}, replies: []domain.Reply{ok("a"), ok("b")}, end: 2},
		"cancelled before any reply": {
			exp: domain.Expectation{Servers: many("s", 40), Known: true}, end: 1},
		"not finished": {
			exp: domain.Expectation{Servers: []string{"q1", "q2"}, Known: true}, replies: []domain.Reply{ack("q2"), ok("q1")}, end: -1},
		"not finished, index built": {
			exp: domain.Expectation{Servers: []string{"q1"}, Known: true}, replies: unexpectedReplies, end: -1},
	}
	run := func(a *domain.Aggregator, c call) (log []string) {
		a.Reset(c.exp, t0, at(1000))
		log = append(log, fmt.Sprintf("0: done %v, wake %v, outcomes %d", a.Done(t0), a.WakeAt().Sub(t0), len(a.Outcomes())))
		defer func() {
			// Whatever the previous call left past the end of the outcomes
			// must be gone too, so that it can be collected.
			out := a.Outcomes()
			for i, o := range out[len(out):cap(out)] {
				if o != (domain.Outcome{}) {
					log = append(log, fmt.Sprintf("stale outcome %d past the end: %+v", len(out)+i, o))
				}
			}
		}()
		for i, r := range c.replies {
			ms := i + 1
			log = append(log, fmt.Sprintf("%d: observe %s %s %v, done %v, wake %v", ms, r.Server, r.Kind,
				a.Observe(r, at(ms)), a.Done(at(ms)), a.WakeAt().Sub(t0)))
		}
		if c.end < 0 {
			return log
		}
		s := a.Finish(at(c.end))
		log = append(log, fmt.Sprintf("summary %+v", s))
		for _, o := range a.Outcomes() {
			log = append(log, fmt.Sprintf("outcome %+v", o))
		}
		return log
	}
	for firstName, first := range calls {
		for secondName, second := range calls {
			if secondName == "fresh" {
				continue
			}
			t.Run(firstName+" then "+secondName, func(t *testing.T) {
				t.Parallel()
				var reused domain.Aggregator
				if firstName != "fresh" {
					run(&reused, first)
				}
				got := run(&reused, second)
				want := run(new(domain.Aggregator), second)
				if !slices.Equal(got, want) {
					t.Errorf("after a reset:\n%s\nfresh:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

// TestAggregatorEndThenSummary: End and then Summary give what Finish gives,
// as often as asked, each with slices of its own.
func TestAggregatorEndThenSummary(t *testing.T) {
	t.Parallel()
	exp := domain.Expectation{Servers: []string{"q1", "q2", "q3"}, Known: true}
	play := func(a *domain.Aggregator) {
		a.Observe(fail("q1"), at(1))
		a.Observe(ack("q2"), at(2))
	}
	finished, ended := domain.NewAggregator(exp, t0, at(1000)), domain.NewAggregator(exp, t0, at(1000))
	play(finished)
	play(ended)
	want := finished.Finish(at(500))
	ended.End(at(500))
	first := ended.Summary()
	first.FailedServers[0] = "changed"
	if second := ended.Summary(); !summaryEqual(second, want) {
		t.Fatalf("summary after End\n got %+v\nwant %+v", second, want)
	}
	if !slices.Equal(ended.Outcomes(), finished.Outcomes()) {
		t.Fatalf("outcomes after End %+v, want %+v", ended.Outcomes(), finished.Outcomes())
	}
}

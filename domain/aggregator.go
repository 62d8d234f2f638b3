package domain

import (
	"slices"
	"strings"
	"time"
)

// Expectation tells an Aggregator who should answer a call and when to stop.
type Expectation struct {
	// Servers are the servers predicted to answer. Used only when Known is true.
	Servers []string
	// Absent are servers the target reaches that were known to be gone when
	// the call began (down or stopped). Used only when Known is true; none
	// may be in Servers. They count as expected, but the call does not wait
	// for them: they end in their State (StateDown or StateStopped) unless
	// they answer after all, when they are counted like any other.
	Absent []Absence
	// Known reports whether Servers is the complete set. When false the
	// aggregator cannot tell who is missing: it finishes at the deadline, or
	// after IdleGap with no new event once every server that acknowledged has
	// returned its result.
	Known bool
	// Count, when positive, finishes the call as soon as that many results
	// arrived, whoever sent them.
	Count int
	// IdleGap is the quiet time that ends a call whose expected set is unknown.
	// Zero means such a call runs to its deadline.
	IdleGap time.Duration
}

// Absence is a server known to be gone when a call began.
type Absence struct {
	Server string
	// State is StateDown or StateStopped.
	State State
	// LastSeen is when it was last known to be up; zero when unknown.
	LastSeen time.Time
}

// Aggregator decides, from the replies of one call, when the call is done and
// what happened to each server. It is pure: it never reads a clock; every
// method that depends on time takes "now".
//
// A call is done as soon as every expected server, and every server that
// acknowledged, has returned a result; or when Count results arrived; or, when
// the expected set is unknown, after an idle gap with no event once nothing is
// in progress; and never later than the deadline.
//
// An Aggregator is not safe for concurrent use.
type Aggregator struct {
	known    bool          // Expectation.Known; the expected servers are in out
	finished bool          // Finish was called
	seen     bool          // an event was observed
	reason   DoneReason    // why the call is done; NotDone while it is not
	count    int           // Expectation.Count
	idleGap  time.Duration // Expectation.IdleGap
	start    time.Time
	deadline time.Time
	last     time.Time      // time of the last event
	results  int            // servers with a result
	working  int            // servers that acknowledged and have no result yet
	missing  int            // expected servers without a result
	out      []Outcome      // out[:nexp]: the expected servers, sorted by name; then the others
	nexp     int            // number of expected servers
	hint     int            // where find found an expected server last
	index    map[string]int // positions of the other servers, once there are more than smallSet
	inline   [1]Outcome     // backing for out in the common one-server call
}

// smallSet is the number of servers outside the expected set up to which they
// are found by a linear scan; past it the aggregator builds a map. Expected
// servers are found by binary search.
const smallSet = 16

// NewAggregator starts aggregating a call that began at start and may last
// until deadline (which must not be zero). exp.Servers is copied.
func NewAggregator(exp Expectation, start, deadline time.Time) *Aggregator {
	a := new(Aggregator)
	a.Reset(exp, start, deadline)
	return a
}

// Reset makes a ready to aggregate a new call, as NewAggregator does, reusing
// its memory. Embedding an Aggregator in a larger value and calling Reset
// saves an allocation per call. Nothing of the previous call is kept.
func (a *Aggregator) Reset(exp Expectation, start, deadline time.Time) {
	// Field by field: assigning a whole Aggregator would copy its inline
	// outcome too, with a bulk write barrier while the GC runs. Only the
	// outcomes the previous call used need clearing.
	out := a.out
	if out == nil {
		out = a.inline[:0]
	} else {
		clear(out) // let the previous call's replies go
		if cap(out) > 0 && &out[:1][0] != &a.inline[0] {
			a.inline[0] = Outcome{} // out grew out of it: let go of what it held
		}
		out = out[:0]
	}
	a.known, a.count, a.idleGap = exp.Known, exp.Count, exp.IdleGap
	a.finished, a.seen, a.reason = false, false, NotDone
	a.start, a.deadline, a.last = start, deadline, start
	a.results, a.working, a.missing, a.nexp, a.hint = 0, 0, 0, 0, 0
	a.index = nil
	if exp.Known {
		if n := len(exp.Servers) + len(exp.Absent); n > cap(out) {
			out = make([]Outcome, n)
		} else {
			out = out[:n] // zero: cleared above, or never used
		}
		// Routes come sorted, without repeats: one comparison per server
		// tells, and then neither sorting nor compacting is needed.
		order := -1
		for i, s := range exp.Servers {
			if i > 0 {
				order = max(order, strings.Compare(exp.Servers[i-1], s))
			}
			out[i].Server, out[i].Expected = s, true
		}
		if len(exp.Absent) > 0 {
			for i, x := range exp.Absent {
				o := &out[len(exp.Servers)+i]
				o.Server, o.Expected, o.State, o.LastSeen = x.Server, true, x.State, x.LastSeen
			}
			order = 1 // two lists: sort them together
		}
		if order > 0 {
			slices.SortFunc(out, byServer)
		}
		if order >= 0 {
			// A server listed twice is one server with one outcome.
			out = slices.CompactFunc(out, func(x, y Outcome) bool { return x.Server == y.Server })
		}
		a.nexp, a.missing = len(out), len(out)
		if len(exp.Absent) > 0 {
			a.missing = 0
			for i := range out {
				if out[i].State == StatePending {
					a.missing++
				}
			}
		}
	}
	a.out = out
}

func byServer(x, y Outcome) int { return strings.Compare(x.Server, y.Server) }

func (a *Aggregator) find(server string) int {
	// Replies tend to come in the order of the expected servers, each
	// server's ack just before its result: try the server found last and
	// the next one before searching.
	h := a.hint
	if h < a.nexp && a.out[h].Server == server {
		return h
	}
	if h++; h < a.nexp && a.out[h].Server == server {
		a.hint = h
		return h
	}
	// Binary search, by hand: one string comparison per step where
	// slices.BinarySearchFunc with cmp.Compare makes two.
	lo, hi := 0, a.nexp
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := strings.Compare(a.out[m].Server, server); {
		case c < 0:
			lo = m + 1
		case c > 0:
			hi = m
		default:
			a.hint = m
			return m
		}
	}
	if a.index != nil {
		if i, ok := a.index[server]; ok {
			return i
		}
		return -1
	}
	for i := a.nexp; i < len(a.out); i++ {
		if a.out[i].Server == server {
			return i
		}
	}
	return -1
}

func (a *Aggregator) add(o Outcome) int {
	a.out = append(a.out, o)
	i := len(a.out) - 1
	switch {
	case a.index != nil:
		a.index[o.Server] = i
	case len(a.out)-a.nexp > smallSet:
		a.index = make(map[string]int, 2*(len(a.out)-a.nexp))
		for j := a.nexp; j < len(a.out); j++ {
			a.index[a.out[j].Server] = j
		}
	}
	return i
}

// Observe records one reply received at now. It returns true when r is the
// first result of its server: the one to show the user. Duplicates (a request
// redelivered and answered twice), replies after the call finished, and acks
// or progress return false.
func (a *Aggregator) Observe(r Reply, now time.Time) bool {
	if a.finished || (a.count > 0 && a.results >= a.count) {
		return false // over: finished, or the results asked for are in
	}
	i := a.find(r.Server)
	if i < 0 {
		i = a.add(Outcome{Server: r.Server})
	}
	o := &a.out[i]
	if o.State.Absent() {
		// Gone when the call began, but here after all: count it like any
		// other expected server from now on.
		o.State, o.LastSeen = StatePending, time.Time{}
		a.missing++
	}
	if o.State != StatePending {
		return false
	}
	a.seen = true
	a.last = now
	if r.Kind != KindResult {
		if !o.Acked {
			o.Acked, o.AckedAt = true, now
			a.working++
		}
		return false
	}
	if o.Acked {
		a.working--
	}
	o.Acked = true
	o.Reply = r
	o.Latency = now.Sub(a.start)
	switch {
	case r.Error == "":
		o.State = StateOK
	case r.Code == CodeDeadline:
		// The handler ran out of the caller's time: it was working, so it
		// timed out; whether its own word or our clock came first is a race.
		o.State = StateTimedOut
	default:
		o.State = StateError
	}
	if o.Expected {
		a.missing--
	}
	a.results++
	return true
}

// Done reports whether the call is over at now, and why. Once it has returned
// a reason other than NotDone it keeps returning that reason.
func (a *Aggregator) Done(now time.Time) DoneReason {
	if a.reason != NotDone {
		return a.reason
	}
	switch {
	case a.count > 0 && a.results >= a.count:
		a.reason = DoneCount
	case a.known && a.missing == 0 && a.working == 0 && a.count <= 0:
		a.reason = DoneAllReplied
	case !now.Before(a.deadline):
		a.reason = DoneDeadline
	case !a.known && a.idleGap > 0 && a.seen && a.working == 0 &&
		now.Sub(a.last) >= a.idleGap:
		a.reason = DoneIdle
	}
	return a.reason
}

// WakeAt returns the next instant at which Done may change without a new
// event: the end of the idle gap when it applies, else the deadline.
func (a *Aggregator) WakeAt() time.Time {
	if !a.known && a.idleGap > 0 && a.seen && a.working == 0 {
		if idle := a.last.Add(a.idleGap); idle.Before(a.deadline) {
			return idle
		}
	}
	return a.deadline
}

// Finish closes the call at now: servers still pending become not received or
// timed out. It returns the summary. Later Observe calls are ignored; calling
// Finish again returns the same summary counts with the elapsed time of the
// first call.
func (a *Aggregator) Finish(now time.Time) Summary {
	a.End(now)
	return a.summary()
}

// End closes the call at now as Finish does, without making the summary:
// Summary makes it when it is wanted.
func (a *Aggregator) End(now time.Time) {
	if !a.finished {
		a.finished = true
		if a.Done(now) == NotDone {
			a.reason = DoneCancelled
		}
		if a.reason == DoneDeadline && now.After(a.deadline) {
			now = a.deadline
		}
		for i := range a.out {
			o := &a.out[i]
			if o.State != StatePending {
				continue
			}
			o.Latency = now.Sub(a.start)
			switch {
			case a.reason == DoneCount:
				o.State = StateSkipped // enough results: nobody is missing
			case o.Acked:
				o.State = StateTimedOut
			default:
				o.State = StateNotReceived
			}
		}
		a.last = now
		if len(a.out) > a.nexp { // only the expected part is sorted so far
			slices.SortFunc(a.out, byServer)
		}
		a.nexp, a.index = 0, nil
	}
}

// Summary returns the account of the call so far; final once Finish or End
// was called. Each call makes a new Summary: its slices are the caller's.
func (a *Aggregator) Summary() Summary { return a.summary() }

func (a *Aggregator) summary() Summary {
	s := Summary{Expected: -1, Reason: a.reason, Elapsed: a.last.Sub(a.start)}
	if a.known {
		s.Expected = 0
	}
	for i := range a.out {
		o := &a.out[i]
		if o.Expected {
			s.Expected++
		} else if a.known && o.State != StateNotReceived {
			s.Unexpected++
			s.UnexpectedServers = append(s.UnexpectedServers, o.Server)
		}
		switch o.State {
		case StateOK:
			s.OK++
		case StateError:
			s.Failed++
			s.FailedServers = append(s.FailedServers, o.Server)
		case StateNotReceived:
			s.NotReceived++
			s.SilentServers = append(s.SilentServers, o.Server)
		case StateTimedOut:
			s.TimedOut++
			s.SilentServers = append(s.SilentServers, o.Server)
			s.TimedOutServers = append(s.TimedOutServers, o.Server)
		case StateDown:
			s.Down++
			s.DownServers = append(s.DownServers, o.Server)
		case StateStopped:
			s.Stopped++
			s.StoppedServers = append(s.StoppedServers, o.Server)
		}
	}
	s.Replied = a.results
	s.Silent = s.NotReceived + s.TimedOut
	return s
}

// Outcomes returns every server's record, sorted by server name after Finish
// (in arrival order before). The slice is the aggregator's own: do not modify it.
func (a *Aggregator) Outcomes() []Outcome { return a.out }

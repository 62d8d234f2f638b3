package domain

import (
	"slices"
	"time"
)

// Job is one job as read back from a store: its records, gathered by
// Add in the order the store holds them. It is not safe for concurrent use.
type Job struct {
	// ID is the call id.
	ID string
	// Call is what is known of the call: the caller's record (Recorded),
	// else the request as the first server to store a reply saw it.
	Call JobRecord
	// Recorded reports whether the caller's record was read: only then is
	// the expected set known.
	Recorded bool
	// Replies are the stored replies, in stored order.
	Replies []StoredReply
}

// StoredReply is one reply of a job as the store holds it.
type StoredReply struct {
	Reply Reply
	// At is when its server stored it, by the server's clock.
	At time.Time
	// Clipped: its Result was left out, over the store's per-record limit.
	Clipped bool
}

// Add folds rec, a record of this job, into j. A call record replaces what
// the replies said of the request; a second one is ignored. Records of
// another id, and markers, are ignored.
func (j *Job) Add(rec JobRecord) {
	if rec.CallID != j.ID {
		return
	}
	switch rec.Kind {
	case RecordCall:
		if !j.Recorded {
			j.Call, j.Recorded = rec, true
		}
	case RecordReply:
		if !j.Recorded && len(j.Replies) == 0 {
			j.Call = rec
			j.Call.Reply, j.Call.Clipped = Reply{}, false
		}
		j.Replies = append(j.Replies, StoredReply{Reply: rec.Reply, At: rec.At, Clipped: rec.Clipped})
	}
}

// Empty reports whether no record of the job was added.
func (j *Job) Empty() bool { return !j.Recorded && len(j.Replies) == 0 }

// JobResult is one server's first result in a job, as a call prints it.
type JobResult struct {
	Reply Reply
	// At is the time from the call's start to the result's storing.
	At time.Duration
}

// JobView is where a job stands: what a call would have printed.
type JobView struct {
	// Results are the first result of each server, in stored order.
	Results []JobResult
	// Summary and Outcomes are the call's, as Aggregator makes them; while
	// the job is Open the summary's Reason is NotDone and servers without a
	// result are StatePending (acknowledged or not).
	Summary  Summary
	Outcomes []Outcome
	// Open reports that the job may still change: an expected server has
	// no result, and neither the call's deadline nor until has passed.
	Open bool
}

// View aggregates j at now, as the call's own Aggregator would have:
// every stored reply observed at the time it was stored, late ones
// included (they are what the store is for). until, when later than the
// call's deadline, keeps the job open until then (a reader still waiting
// for late replies). verify, when not nil, refuses the replies it returns
// false for (a reader with the fleet key: domain.VerifyReply); they are
// counted as Forged. A call without a deadline is open until every
// expected server answered.
func (j *Job) View(now, until time.Time, verify func(*Reply) bool) JobView {
	c := &j.Call
	var exp Expectation
	if j.Recorded && c.Known {
		exp.Servers, exp.Absent, exp.Known = c.Expected, c.Absent, true
	}
	if c.Balanced {
		exp.Count = 1
	}
	deadline := c.Deadline
	if until.After(deadline) {
		deadline = until
	}
	if deadline.IsZero() {
		deadline = now.Add(time.Hour) // none: open while anyone is missing
	}
	agg := NewAggregator(exp, c.Sent, deadline)
	var v JobView
	var forged int
	var claims []string
	var last time.Time // the last reply observed
	for i := range j.Replies {
		rec := &j.Replies[i]
		r := rec.Reply
		if r.CallID != j.ID || (verify != nil && !verify(&r)) {
			forged++
			if len(claims) < MaxForgedClaims && !slices.Contains(claims, r.Server) {
				claims = append(claims, r.Server)
			}
			continue
		}
		if rec.At.After(last) {
			last = rec.At
		}
		if agg.Observe(r, rec.At) && r.Kind == KindResult {
			v.Results = append(v.Results, JobResult{Reply: r, At: rec.At.Sub(c.Sent)})
		}
	}
	switch agg.Done(now) {
	case NotDone:
		v.Open = true
		v.Summary = agg.Summary()
		v.Outcomes = slices.SortedFunc(slices.Values(agg.Outcomes()), byServer)
	case DoneAllReplied, DoneCount:
		agg.End(last) // done when the last answer came, not when looked at
		v.Summary = agg.Summary()
		v.Outcomes = agg.Outcomes()
	default:
		agg.End(now)
		v.Summary = agg.Summary()
		v.Outcomes = agg.Outcomes()
	}
	v.Summary.Forged = forged
	slices.Sort(claims)
	v.Summary.ForgedClaims = claims
	return v
}

// Counts are how many servers of a job stand in each state: what a job
// list shows.
type Counts map[State]int

// CountStates counts the servers of outs by state.
func CountStates(outs []Outcome) Counts {
	c := make(Counts, 4)
	for _, o := range outs {
		c[o.State]++
	}
	return c
}

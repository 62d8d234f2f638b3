package domain

import "time"

// State is where one server stands in a call.
type State uint8

const (
	// StatePending: no result yet and the call is still open. Never final.
	StatePending State = iota
	// StateOK: the server returned a result.
	StateOK
	// StateError: the server returned an error reply.
	StateError
	// StateNotReceived: the server was expected but never acknowledged nor
	// answered by the end of the call (it is silent).
	StateNotReceived
	// StateTimedOut: the server acknowledged the request but had no result by
	// the end of the call: it was still working, it is not silent.
	StateTimedOut
	// StateSkipped: the call had all the results it asked for (Expectation.Count)
	// before this server answered; it is neither ok nor silent.
	StateSkipped
	// StateDown: the server was expected (its bindings match) but had gone
	// without a goodbye before the call began (Expectation.Absent): the call
	// did not wait for it. It did not run the command.
	StateDown
	// StateStopped: the server was expected but had said goodbye before the
	// call began: the call did not wait for it. It did not run the command.
	StateStopped
)

var stateNames = [...]string{"pending", "ok", "error", "not_received", "timed_out", "skipped", "down", "stopped"}

// Absent reports whether s is StateDown or StateStopped: a server known to be
// gone when the call began.
func (s State) Absent() bool { return s == StateDown || s == StateStopped }

// String returns the stable lower-case name used in JSON output.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Outcome is one server's record in a call.
type Outcome struct {
	// Server is the server's name (its queue's name for per-server queues).
	Server string
	// State is where the server stands.
	State State
	// Expected reports whether the server was predicted to answer. An answer
	// from a server that was not predicted (while the expected set was known)
	// has Expected false: it is unexpected.
	Expected bool
	// Acked reports whether the server acknowledged or sent progress.
	Acked bool
	// AckedAt is when its first acknowledgement or progress arrived; zero
	// when it sent none (a result that came at once is its own).
	AckedAt time.Time
	// Reply is the server's result reply; set when State is StateOK or StateError.
	Reply Reply
	// Latency is the time from the start of the call to the result (or to the
	// end of the call when there is no result).
	Latency time.Duration
	// LastSeen is when a down or stopped server was last known to be up;
	// zero for the others, and when unknown.
	LastSeen time.Time
}

// MaxForgedClaims bounds Summary.ForgedClaims: a flood of forged replies
// with invented names costs a count, not memory.
const MaxForgedClaims = 16

// DoneReason says why a call finished.
type DoneReason uint8

const (
	// NotDone: the call is still open.
	NotDone DoneReason = iota
	// DoneAllReplied: every expected server (and every server that
	// acknowledged) returned a result.
	DoneAllReplied
	// DoneCount: the requested number of results arrived.
	DoneCount
	// DoneIdle: the expected set was unknown and no event arrived for the idle gap.
	DoneIdle
	// DoneDeadline: the deadline passed.
	DoneDeadline
	// DoneCancelled: the caller ended the call before it was done.
	DoneCancelled
)

var doneNames = [...]string{"open", "all_replied", "count", "idle", "deadline", "cancelled"}

// String returns the stable lower-case name used in JSON output.
func (r DoneReason) String() string {
	if int(r) < len(doneNames) {
		return doneNames[r]
	}
	return "unknown"
}

// Summary is the final account of a call.
type Summary struct {
	// Expected is the number of servers predicted to answer, or -1 when the
	// expected set was unknown.
	Expected int
	// Replied counts servers that returned a result.
	Replied int
	// OK and Failed count ok and error results; an error result saying the
	// handler ran out of time (CodeDeadline) counts as TimedOut instead.
	OK, Failed int
	// NotReceived counts expected servers that never acknowledged nor answered;
	// TimedOut counts servers that acknowledged but had no result. Silent is
	// their sum.
	NotReceived, TimedOut, Silent int
	// Down and Stopped count expected servers known to be gone when the call
	// began (without, and with, a goodbye): the call did not wait for them.
	Down, Stopped int
	// Unexpected counts servers that answered without being predicted.
	Unexpected int
	// Forged counts replies refused because they did not prove they came
	// from the server they name, for this call (a client with the fleet key
	// checks every reply: see VerifyReply); ForgedClaims names the servers
	// they claimed, sorted, at most MaxForgedClaims of them. Refused replies
	// count for nothing else.
	Forged       int
	ForgedClaims []string
	// Elapsed is the time from the start of the call to its end.
	Elapsed time.Duration
	// Reason says why the call finished.
	Reason DoneReason
	// FailedServers, SilentServers (not received and timed out together),
	// TimedOutServers, DownServers, StoppedServers and UnexpectedServers
	// name the servers in each group, sorted; nil when empty.
	FailedServers, SilentServers, TimedOutServers, DownServers, StoppedServers, UnexpectedServers []string
}

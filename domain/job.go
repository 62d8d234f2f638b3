package domain

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Jobs: every call whose caller asks for it (Request.Record) is kept in a
// results store (ports.JobStore) as a job: the caller's own record of the
// call (what it knew when it published, the expected set above all), and
// each acknowledgement and result its servers sent, stored by the servers
// themselves, so that a reply arriving after the caller has gone is kept.
// A job is read back by its id (the call id) and shown like a call.

// JobRecordKind says what a stored record is.
type JobRecordKind uint8

const (
	// RecordCall is the caller's record of a call, stored before its request
	// is published (so that every reply of the job is stored after it).
	RecordCall JobRecordKind = iota + 1
	// RecordReply is one reply (an ack or a result) as its server stored it.
	RecordReply
	// RecordMark is a store's own marker, written by a reader to know when it
	// has read everything stored before it began; never a job's.
	RecordMark
)

// JobRecord is one record of the results store. Every record carries what
// its writer knew of the request, so that a job whose caller wrote nothing
// (or whose call record was lost) is still listed with its target and command.
type JobRecord struct {
	Kind JobRecordKind
	// CallID is the job's id: the call's correlation id.
	CallID string
	// At is when the record was written, by its writer's clock.
	At time.Time

	// The request, as its writer knew it.
	Sent, Deadline time.Time
	// Caller is the caller's identity where known, empty otherwise: see
	// CallerOf.
	Caller   string
	Target   string
	Command  Command
	Balanced bool

	// RecordCall only: who the caller expected to answer (as
	// Expectation: Servers, Absent, Known) and whether the caller left at
	// once (topicrpc call --async).
	Expected []string
	Absent   []Absence
	Known    bool
	Async    bool

	// RecordReply only: the reply, signature included, exactly as sent.
	// Clipped reports that its Result was left out, over the store's
	// per-record limit (ClipRecord); such a reply no longer verifies.
	Reply   Reply
	Clipped bool
}

// CallerOf is the identity a job records for the caller of req: the
// caller the request names (Request.Caller: proven when it is signed with
// the caller's own key, only claimed otherwise), empty when it names none.
func CallerOf(req *Request) string { return req.Caller }

// ReplyRecord makes the record a server stores for reply r to req, written at.
func ReplyRecord(req *Request, r Reply, at time.Time) JobRecord {
	return JobRecord{Kind: RecordReply, CallID: req.ID, At: at, Sent: req.Sent, Deadline: req.Deadline,
		Caller: CallerOf(req), Target: req.Target, Command: req.Command, Balanced: req.Balanced, Reply: r}
}

// RecordSize is about how many bytes rec takes in a store: what bounds it.
func (rec *JobRecord) RecordSize() int {
	n := 64 + len(rec.CallID) + len(rec.Caller) + len(rec.Target) + len(rec.Command.Name) + len(rec.Command.Args)
	for _, s := range rec.Expected {
		n += len(s) + 2
	}
	for _, a := range rec.Absent {
		n += len(a.Server) + 12
	}
	r := &rec.Reply
	return n + len(r.CallID) + len(r.Server) + len(r.Result) + len(r.Error) + len(r.Code) + len(r.Signature)
}

// ClipRecord makes rec fit in max bytes (RecordSize) if it can: a reply's
// Result is left out first (Clipped), then the command's args. It reports
// false when rec is still too large (a call record expecting too many
// servers): it is then not stored.
func ClipRecord(rec *JobRecord, max int) bool {
	if rec.RecordSize() <= max {
		return true
	}
	if rec.Reply.Result != "" {
		rec.Reply.Result, rec.Clipped = "", true
	}
	if rec.RecordSize() > max && rec.Command.Args != "" {
		rec.Command.Args = ""
	}
	return rec.RecordSize() <= max
}

// ErrBadJobID: a job id that no call could have had.
var ErrBadJobID = errors.New("bad job id")

// JobIDTimeDigits is how many hex digits of the call's unix time in seconds
// start every call id a Client makes, so that a store can find a job by
// reading from about when it began (JobTime).
const JobIDTimeDigits = 8

// AppendJobIDTime appends the JobIDTimeDigits hex digits of t's unix
// seconds, with which a call id begins.
func AppendJobIDTime(b []byte, t time.Time) []byte {
	const hex = "0123456789abcdef"
	s := uint32(t.Unix())
	for i := JobIDTimeDigits - 1; i >= 0; i-- {
		b = append(b, hex[(s>>(4*uint(i)))&0xf])
	}
	return b
}

// JobTime returns when the call id was made, read from its first digits,
// and false when it does not start with a plausible time (an id of another
// maker: a store then reads from its beginning).
func JobTime(id string) (time.Time, bool) {
	if len(id) < JobIDTimeDigits {
		return time.Time{}, false
	}
	for i := range JobIDTimeDigits {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return time.Time{}, false
		}
	}
	s, err := strconv.ParseUint(id[:JobIDTimeDigits], 16, 32)
	if err != nil || s < uint64(firstPlausible.Unix()) {
		return time.Time{}, false
	}
	return time.Unix(int64(s), 0), true
}

// firstPlausible: no call id was made before it.
var firstPlausible = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// ValidateJobID reports an id that cannot be a call id: empty, longer than
// a routing key, or with bytes outside printable ASCII.
func ValidateJobID(id string) error {
	if id == "" || len(id) > MaxKeyLength {
		return fmt.Errorf("%w: want the id call --async printed (1 to %d bytes), got %d bytes", ErrBadJobID, MaxKeyLength, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: %q holds a byte that no call id has", ErrBadJobID, id)
		}
	}
	return nil
}

package amqp

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// How a job record (domain.JobRecord) looks in the results stream: one
// message per record, its body a compact binary form, read back by every
// `topicrpc jobs` — 100,000 of them in well under a second, which JSON
// would not give. Every integer is a varint (lengths unsigned, times and
// durations signed, unix nanoseconds, 0 for the zero time):
//
//	"TJ" 1                      magic and version
//	kind                        1 call, 2 reply, 3 marker
//	str(CallID) time(At) time(Sent) time(Deadline)
//	str(Caller) str(Target) str(Command.Name) str(Command.Args)
//	flags                       1 balanced, 2 known, 4 async, 8 clipped
//	n, str(Expected[i])...
//	n, (str(Server) state time(LastSeen))...   Absent
//	str(Reply.CallID) str(Reply.Server) kind str(Result) str(Error) str(Code)
//	int(Elapsed) str(Signature)
//
// A record that does not read back whole (another version, truncated,
// counts past its end) is malformed: readers skip it with one log line.
const (
	jobMagic0, jobMagic1 = 'T', 'J'
	jobVersion           = 1
)

const (
	flagBalanced = 1 << iota
	flagKnown
	flagAsync
	flagClipped
)

// encodeJob returns rec's body.
func encodeJob(rec *domain.JobRecord) []byte {
	b := make([]byte, 0, rec.RecordSize()+32)
	b = append(b, jobMagic0, jobMagic1, jobVersion, byte(rec.Kind))
	b = appendStr(b, rec.CallID)
	b = appendTime(b, rec.At)
	b = appendTime(b, rec.Sent)
	b = appendTime(b, rec.Deadline)
	b = appendStr(b, rec.Caller)
	b = appendStr(b, rec.Target)
	b = appendStr(b, rec.Command.Name)
	b = appendStr(b, rec.Command.Args)
	var flags byte
	for _, f := range []struct {
		on  bool
		bit byte
	}{{rec.Balanced, flagBalanced}, {rec.Known, flagKnown}, {rec.Async, flagAsync}, {rec.Clipped, flagClipped}} {
		if f.on {
			flags |= f.bit
		}
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(rec.Expected)))
	for _, s := range rec.Expected {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(rec.Absent)))
	for _, a := range rec.Absent {
		b = appendStr(b, a.Server)
		b = append(b, byte(a.State))
		b = appendTime(b, a.LastSeen)
	}
	r := &rec.Reply
	b = appendStr(b, r.CallID)
	b = appendStr(b, r.Server)
	b = append(b, byte(r.Kind))
	b = appendStr(b, r.Result)
	b = appendStr(b, r.Error)
	b = appendStr(b, r.Code)
	b = binary.AppendVarint(b, int64(r.Elapsed))
	return appendStr(b, r.Signature)
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// jobReader reads a body, remembering the first error.
type jobReader struct {
	b   []byte
	err error
}

func (r *jobReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: job record: %s", errMalformed, what)
	}
}

func (r *jobReader) byte1(what string) byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("no " + what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *jobReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *jobReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *jobReader) str(what string) string {
	n := r.uvarint(what)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail(what + " runs past the end")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *jobReader) time(what string) time.Time {
	if v := r.varint(what); v != 0 {
		return time.Unix(0, v)
	}
	return time.Time{}
}

// count reads a count of items each at least min bytes long, refusing one
// the rest of the body cannot hold.
func (r *jobReader) count(what string, min int) int {
	n := r.uvarint(what)
	if n > uint64(len(r.b)/min) {
		r.fail(what + " count runs past the end")
		return 0
	}
	return int(n)
}

// decodeJob reads a record from body; an error wraps errMalformed.
func decodeJob(body []byte) (domain.JobRecord, error) {
	var rec domain.JobRecord
	if len(body) < 4 || body[0] != jobMagic0 || body[1] != jobMagic1 {
		return rec, fmt.Errorf("%w: not a job record", errMalformed)
	}
	if body[2] != jobVersion {
		return rec, fmt.Errorf("%w: job record of version %d, this reader knows %d", errMalformed, body[2], jobVersion)
	}
	rec.Kind = domain.JobRecordKind(body[3])
	if rec.Kind < domain.RecordCall || rec.Kind > domain.RecordMark {
		return rec, fmt.Errorf("%w: job record of kind %d", errMalformed, body[3])
	}
	r := &jobReader{b: body[4:]}
	rec.CallID = r.str("call id")
	rec.At = r.time("time")
	rec.Sent = r.time("sent")
	rec.Deadline = r.time("deadline")
	rec.Caller = r.str("caller")
	rec.Target = r.str("target")
	rec.Command.Name = r.str("command")
	rec.Command.Args = r.str("args")
	flags := r.byte1("flags")
	rec.Balanced, rec.Known = flags&flagBalanced != 0, flags&flagKnown != 0
	rec.Async, rec.Clipped = flags&flagAsync != 0, flags&flagClipped != 0
	if n := r.count("expected", 1); n > 0 {
		rec.Expected = make([]string, n)
		for i := range rec.Expected {
			rec.Expected[i] = r.str("expected server")
		}
	}
	if n := r.count("absent", 3); n > 0 {
		rec.Absent = make([]domain.Absence, n)
		for i := range rec.Absent {
			a := &rec.Absent[i]
			a.Server = r.str("absent server")
			a.State = domain.State(r.byte1("absent state"))
			a.LastSeen = r.time("last seen")
			if r.err == nil && !a.State.Absent() {
				r.fail("absent server in state " + a.State.String())
			}
		}
	}
	p := &rec.Reply
	p.CallID = r.str("reply call id")
	p.Server = r.str("server")
	p.Kind = domain.ReplyKind(r.byte1("reply kind"))
	p.Result = r.str("result")
	p.Error = r.str("error")
	p.Code = r.str("code")
	p.Elapsed = time.Duration(r.varint("elapsed"))
	p.Signature = r.str("signature")
	switch {
	case r.err != nil:
		return domain.JobRecord{}, r.err
	case len(r.b) != 0:
		return domain.JobRecord{}, fmt.Errorf("%w: job record: %d bytes past its end", errMalformed, len(r.b))
	case rec.CallID == "":
		return domain.JobRecord{}, fmt.Errorf("%w: job record without a call id", errMalformed)
	case rec.Kind == domain.RecordReply && (p.Server == "" || p.Kind > domain.KindProgress):
		return domain.JobRecord{}, fmt.Errorf("%w: reply record without a server or of an unknown kind", errMalformed)
	}
	return rec, nil
}

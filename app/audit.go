package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// AuditArgs says what an audit record keeps of a request's arguments.
type AuditArgs uint8

const (
	// AuditArgsDigest keeps their SHA-256 (args_sha256): who ran what can be
	// matched against a known input without the log holding secrets.
	AuditArgsDigest AuditArgs = iota
	// AuditArgsFull keeps them as they came (args), cut at 4 KiB.
	AuditArgsFull
	// AuditArgsNone keeps neither.
	AuditArgsNone
)

// ParseAuditArgs reads "digest", "full" or "none".
func ParseAuditArgs(s string) (AuditArgs, error) {
	switch s {
	case "digest", "":
		return AuditArgsDigest, nil
	case "full":
		return AuditArgsFull, nil
	case "none":
		return AuditArgsNone, nil
	}
	return 0, fmt.Errorf("audit args %q: want digest, full or none", s)
}

// maxAuditArgs bounds the args an AuditArgsFull record keeps.
const maxAuditArgs = 4 << 10

// AuditRecord is one line of the audit log: a request a server took, and
// what became of it. Never the key, never a signature.
type AuditRecord struct {
	Time   time.Time `json:"time"` // when the server took the request
	Server string    `json:"server"`
	Call   string    `json:"call"`
	// Caller is the name the request carries (omitted when none); Auth
	// says whether it is proven: "key" (signed with that caller's own
	// key, trusted by the server), "fleet-key" (signed with the fleet key:
	// some holder of it claims the name), "unverified" (refused: unsigned,
	// forged, replayed, or an untrusted key) or "none" (the server checks
	// nothing: the name is claimed by anyone who may publish).
	Caller     string  `json:"caller,omitempty"`
	Auth       string  `json:"auth"`
	Target     string  `json:"target"`
	Balanced   bool    `json:"balanced,omitempty"`
	Command    string  `json:"command"`
	Args       *string `json:"args,omitempty"`
	ArgsSHA256 string  `json:"args_sha256,omitempty"`
	Outcome    string  `json:"outcome"` // "ok", or the error code
	Reason     string  `json:"reason,omitempty"`
	MS         float64 `json:"ms"`
	// Lost counts the records before this one that could not be written.
	Lost int `json:"lost,omitempty"`
}

// Audit returns a middleware writing one AuditRecord per request, as a JSON
// line, to w: every request the server takes — refusals included — with
// the caller's name and how it is proven, the target, the command, the arguments as args
// says, the outcome code and the duration. Writes are serialised, one Write
// per line (open w with O_APPEND to share a file between processes); a
// failed write is counted in the record of the next one that succeeds
// ("lost") and never fails the request. Put it first in
// ServerConfig.Middleware so that it sees what every other one does.
func Audit(w io.Writer, args AuditArgs) Middleware {
	a := &auditor{w: w, args: args}
	return a.middleware
}

type auditor struct {
	w    io.Writer
	args AuditArgs
	mu   sync.Mutex
	lost int // records not written since the last one that was
}

func (a *auditor) middleware(next Step) Step {
	return func(ctx context.Context, in Inbound) domain.Reply {
		r := next(ctx, in)
		a.write(in, r)
		return r
	}
}

func (a *auditor) write(in Inbound, r domain.Reply) {
	req := in.Request
	rec := AuditRecord{Time: in.Taken.UTC(), Server: in.Server, Call: req.ID, Target: req.Target,
		Balanced: req.Balanced, Command: req.Command.Name, Outcome: "ok",
		MS: float64(time.Since(in.Taken).Microseconds()) / 1000}
	rec.Caller, rec.Auth = clipText(in.Caller.Name, 256), in.Caller.Proof.String()
	if r.Code == domain.CodeUnauthorized {
		rec.Auth = "unverified"
	}
	if r.Code != "" {
		rec.Outcome, rec.Reason = r.Code, clipText(r.Error, 512)
	}
	switch a.args {
	case AuditArgsDigest:
		sum := sha256.Sum256([]byte(req.Command.Args))
		rec.ArgsSHA256 = hex.EncodeToString(sum[:])
	case AuditArgsFull:
		args := clipText(req.Command.Args, maxAuditArgs)
		rec.Args = &args
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rec.Lost = a.lost
	line, err := json.Marshal(rec)
	if err != nil {
		return // cannot happen: strings and numbers only
	}
	if _, err := a.w.Write(append(line, '\n')); err != nil {
		a.lost++
		return
	}
	a.lost = 0
}

// clipText cuts s to at most n bytes, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

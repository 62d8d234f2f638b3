package domain

import "time"

// Request is one call as it travels from a client to every server its target
// reaches. It is immutable once published: transports may share one Request
// between all the queues it is routed to.
type Request struct {
	// ID is the correlation id: unique per call, copied into every reply.
	ID string
	// Target is the routing key, e.g. "all", "group1", "q1" or "group1.web".
	Target string
	// Command is what to run.
	Command Command
	// Sent is when the client published the request.
	Sent time.Time
	// Deadline is the caller's deadline. Servers do not start a request after
	// it and cancel handlers at it. The zero value means no deadline.
	Deadline time.Time
	// Balanced sends the request to the work queue of the group named by
	// Target instead of every matching server: exactly one server of the
	// group handles it.
	Balanced bool
	// Record asks every server to store its acks and result in the results
	// store (ports.JobStore) as well as send them, so that they outlive the
	// caller: a job. It is not signed (it changes where a copy of the
	// replies goes, not what they say, and the stored replies are signed).
	Record bool
	// Caller names who sends the request: proven when it is signed with the
	// caller's own key (SignWithKey), only claimed otherwise (with the fleet
	// key: by some holder of it). Empty when the caller gave no name.
	Caller string
	// Trace is the caller's W3C trace context, so that a server's span
	// joins the caller's trace; nil when the caller does not trace (a
	// pointer: an untraced request pays 8 bytes for it). Advisory: not
	// signed, and a malformed one only starts a new trace.
	Trace *TraceContext
	// Nonce is a value the client never reuses, set on signed requests (see
	// Sign): servers with a key remember it and refuse a second request
	// carrying it (ReplayGuard). Empty on unsigned requests.
	Nonce string
	// Signature is HMAC-SHA256 over SigningPayload (32 bytes), set by Sign,
	// or the caller's Ed25519 signature of it (64 bytes), set by
	// SignWithKey; nil on unsigned requests. Never log it.
	Signature []byte
}

// TraceContext is a W3C trace context: the traceparent and tracestate
// headers. Transports carry each only within its bound (MaxTraceParent,
// MaxTraceState), dropping a longer one, never failing the request for it.
type TraceContext struct {
	Parent string
	State  string
}

// Bounds of a TraceContext's fields: a version-00 traceparent is 55 bytes;
// W3C asks vendors to carry at least 512 bytes of tracestate.
const (
	MaxTraceParent = 128
	MaxTraceState  = 512
)

// Expired reports whether r's deadline has passed at now.
func (r *Request) Expired(now time.Time) bool {
	return !r.Deadline.IsZero() && !now.Before(r.Deadline)
}

// ReplyKind says what a reply tells the caller.
type ReplyKind uint8

const (
	// KindResult is the final answer of one server: ok or an error.
	KindResult ReplyKind = iota
	// KindAck says the server has taken the request and started it.
	KindAck
	// KindProgress says the server is still working on the request.
	KindProgress
)

func (k ReplyKind) String() string {
	switch k {
	case KindResult:
		return "result"
	case KindAck:
		return "ack"
	case KindProgress:
		return "progress"
	}
	return "unknown"
}

// Error codes carried by error replies. They are stable strings: scripts may
// match on them.
const (
	CodeUnknownCommand = "unknown_command" // no handler of that name on the server
	CodeBadArgs        = "bad_args"        // the handler rejected its arguments
	CodePanic          = "panic"           // the handler panicked; the server kept running
	CodeDeadline       = "deadline"        // the handler ran past the caller's deadline
	CodeExpired        = "expired"         // the request was past its deadline when taken
	CodeBadRequest     = "bad_request"     // the request itself was malformed
	CodeFailed         = "failed"          // the handler returned any other error
	CodeUnavailable    = "unavailable"     // the server is shutting down
	CodeUnauthorized   = "unauthorized"    // unsigned, forged or replayed request refused by a server with a key
	CodeForbidden      = "forbidden"       // the server's policy does not let this caller run this command on this target
	// CodeDuplicate: a balanced request whose call another delivery has
	// claimed (ports.Claimer: a re-publish or a replay). The server drops
	// it: the code is never sent, only seen by middleware and the audit.
	CodeDuplicate = "duplicate"
)

// Reply is one message from a server back to the caller of a request.
type Reply struct {
	// CallID is the Request.ID this reply answers.
	CallID string
	// Server is the name of the replying server.
	Server string
	// Kind says whether this is the result, an ack or a progress heartbeat.
	Kind ReplyKind
	// Result is the handler's output; set on ok results.
	Result string
	// Error is the error message; non-empty on error results only.
	Error string
	// Code classifies Error (one of the Code constants); empty when ok.
	Code string
	// Elapsed is how long the handler ran, as measured by the server.
	Elapsed time.Duration
	// Signature is HMAC-SHA256 over ReplyPayload (its raw bytes, as a string
	// so that a Reply stays comparable), set by SignReply on the replies of a
	// server with a key; empty otherwise. Never log it.
	Signature string
}

// OK reports whether r is a successful result.
func (r *Reply) OK() bool { return r.Kind == KindResult && r.Error == "" }

package domain

import (
	"container/heap"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Signed requests: a client and its servers share a secret key; the client
// signs each request (Sign) and a server holding the key refuses requests
// whose signature does not match (Verify) or that it has seen before or that
// are too old (ReplayGuard).
//
// What is signed is SigningPayload, version 1, every integer big-endian:
//
//	field("topicrpc-v1")        version tag
//	field(Target)               routing key as sent
//	field(Command.Name)
//	field(Command.Args)
//	int64(Sent)                 unix milliseconds; 0 when Sent is the zero time
//	int64(Deadline)             unix milliseconds; 0 when there is no deadline
//	field(Nonce)
//	byte(Balanced)              1 or 0
//
// where field(s) is uint32(len(s)) followed by the bytes of s. A request
// naming its Caller is signed over version 2, which is version 1 with the
// tag "topicrpc-v2" and field(Caller) right after it: the name cannot be
// changed without the key, and a version 1 payload can never be read as a
// version 2 one. Every variable
// field carries its length and the fixed ones have fixed widths, so two
// different requests never share a payload ("a|b" + "c" differs from "a" +
// "b|c"). Times are whole milliseconds because that is what travels on the
// wire (AMQP headers topicrpc-sent and topicrpc-deadline).
//
// Not signed: Request.ID and the transport's reply address. They decide where
// answers go, not what runs or where; a replayed request under a new ID is
// still caught by its nonce.

// SignatureVersion is the version tag that starts the signing payload of a
// request without a Caller; CallerSignatureVersion that of one with.
const (
	SignatureVersion       = "topicrpc-v1"
	CallerSignatureVersion = "topicrpc-v2"
)

// MinKeySize is the shortest secret key accepted by the programs, in bytes:
// the HMAC-SHA256 block of security.
const MinKeySize = 32

// MaxNonce is the longest nonce a ReplayGuard accepts, in bytes.
const MaxNonce = 64

// ErrUnauthorized is wrapped by (or matched by, through errors.Is) every error
// about a request's signature or freshness.
var ErrUnauthorized = errors.New("unauthorized")

// Reasons a request is refused. Each matches ErrUnauthorized with errors.Is.
var (
	ErrUnsigned     error = authError("request is not signed")
	ErrBadSignature error = authError("signature does not match (wrong key or altered request)")
	ErrBadNonce     error = authError(fmt.Sprintf("nonce missing or longer than %d bytes", MaxNonce))
	ErrTooOld       error = authError("request is older than the replay window")
	ErrInFuture     error = authError("request is dated later than the replay window allows")
	ErrReplayed     error = authError("request replayed (nonce seen before)")
)

// authError is a reason for refusing a request; it matches ErrUnauthorized.
type authError string

func (e authError) Error() string        { return string(e) }
func (e authError) Is(target error) bool { return target == ErrUnauthorized }

// SigningPayload returns the bytes Sign authenticates for r: see the layout
// above. It ignores r.ID and r.Signature.
func SigningPayload(r *Request) []byte {
	n := 4*6 + len(CallerSignatureVersion) + len(r.Caller) + len(r.Target) + len(r.Command.Name) +
		len(r.Command.Args) + len(r.Nonce) + 8*2 + 1
	b := make([]byte, 0, n)
	if r.Caller == "" {
		b = appendField(b, SignatureVersion)
	} else {
		b = appendField(b, CallerSignatureVersion)
		b = appendField(b, r.Caller)
	}
	b = appendField(b, r.Target)
	b = appendField(b, r.Command.Name)
	b = appendField(b, r.Command.Args)
	b = binary.BigEndian.AppendUint64(b, uint64(unixMilli(r.Sent)))
	b = binary.BigEndian.AppendUint64(b, uint64(unixMilli(r.Deadline)))
	b = appendField(b, r.Nonce)
	if r.Balanced {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// unixMilli is t in unix milliseconds, 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Sign sets r.Signature to HMAC-SHA256(key, SigningPayload(r)). Set every
// other field, the Nonce included, first.
func Sign(key []byte, r *Request) {
	r.Signature = mac(key, r)
}

// Verify reports whether r.Signature is HMAC-SHA256(key, SigningPayload(r)),
// comparing in constant time. An unsigned request does not verify.
func Verify(key []byte, r *Request) bool {
	return len(r.Signature) == sha256.Size && hmac.Equal(r.Signature, mac(key, r))
}

func mac(key []byte, r *Request) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(SigningPayload(r))
	return h.Sum(nil)
}

// Defaults for ReplayGuard.
const (
	// DefaultReplayWindow is how far a request's Sent may be from the
	// server's clock, either way: room for queueing and clock skew, short
	// enough that the nonces to remember stay few.
	DefaultReplayWindow = 5 * time.Minute
	// DefaultReplayCapacity bounds the nonces remembered (a few MiB).
	DefaultReplayCapacity = 100_000
)

// ReplayGuard refuses requests outside a time window around the receiver's
// clock and requests whose nonce it has seen. It remembers each accepted
// nonce until its request leaves the window, at most capacity of them.
//
// Policy: a request is accepted when now-window <= Sent <= now+window and
// its nonce is new. When the guard is full, it forgets the nonce with the
// oldest Sent and from then on refuses, as too old, every request sent at or
// before that time: a forgotten nonce can never be replayed, at the price of
// refusing late requests while the guard is under a flood (more than
// capacity requests in one window). The same floor applies to nonces
// forgotten because they left the window, so a clock stepping back does not
// reopen old nonces either.
//
// Check it only after the signature has verified, so forged requests cannot
// fill the guard. A ReplayGuard is not safe for concurrent use; the clock is
// passed in.
type ReplayGuard struct {
	window   time.Duration
	capacity int
	seen     map[string]struct{}
	byAge    nonceHeap
	floor    time.Time // the latest Sent forgotten; zero while nothing was
}

// NewReplayGuard returns a guard with the given window and capacity; the
// defaults replace values <= 0.
func NewReplayGuard(window time.Duration, capacity int) *ReplayGuard {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	return &ReplayGuard{window: window, capacity: capacity, seen: make(map[string]struct{})}
}

// Window returns the guard's time window.
func (g *ReplayGuard) Window() time.Duration { return g.window }

// Len returns how many nonces the guard remembers.
func (g *ReplayGuard) Len() int { return len(g.seen) }

// Check accepts (nil) or refuses a request with this nonce, sent at sent,
// received at now, and remembers the nonce when it accepts it. The errors
// wrap ErrBadNonce, ErrTooOld, ErrInFuture or ErrReplayed.
func (g *ReplayGuard) Check(nonce string, sent, now time.Time) error {
	switch {
	case nonce == "" || len(nonce) > MaxNonce:
		return ErrBadNonce
	case sent.Before(now.Add(-g.window)):
		return fmt.Errorf("%w: sent %s before the receiver's clock, window %s", ErrTooOld,
			now.Sub(sent).Round(time.Millisecond), g.window)
	case sent.After(now.Add(g.window)):
		return fmt.Errorf("%w: sent %s after the receiver's clock, window %s", ErrInFuture,
			sent.Sub(now).Round(time.Millisecond), g.window)
	}
	g.forgetBefore(now.Add(-g.window))
	if _, ok := g.seen[nonce]; ok {
		return ErrReplayed
	}
	if !g.floor.IsZero() && !sent.After(g.floor) {
		return fmt.Errorf("%w: sent at or before the oldest request the guard still remembers (more than %d in the window)",
			ErrTooOld, g.capacity)
	}
	if len(g.seen) >= g.capacity {
		g.forgetOldest()
	}
	g.seen[nonce] = struct{}{}
	heap.Push(&g.byAge, seenNonce{nonce: nonce, sent: sent})
	return nil
}

// forgetBefore forgets the nonces of requests sent before t.
func (g *ReplayGuard) forgetBefore(t time.Time) {
	for len(g.byAge) > 0 && g.byAge[0].sent.Before(t) {
		g.forgetOldest()
	}
}

// forgetOldest forgets the nonce with the oldest Sent and raises the floor.
func (g *ReplayGuard) forgetOldest() {
	old := heap.Pop(&g.byAge).(seenNonce)
	delete(g.seen, old.nonce)
	if old.sent.After(g.floor) {
		g.floor = old.sent
	}
}

type seenNonce struct {
	nonce string
	sent  time.Time
}

// nonceHeap is a min-heap of nonces by Sent (container/heap).
type nonceHeap []seenNonce

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].sent.Before(h[j].sent) }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(seenNonce)) }
func (h *nonceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = seenNonce{}
	*h = old[:len(old)-1]
	return x
}

package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Signed requests (ClientConfig.AuthKey, ServerConfig.AuthKey): the client
// gives every request a fresh random nonce and an HMAC-SHA256 signature
// (domain.Sign); a server with a key verifies it before acknowledging or
// running anything, and refuses unsigned, forged and replayed requests (a
// nonce seen before, or sent outside domain.DefaultReplayWindow of the
// server's clock) with a domain.CodeUnauthorized error reply and one warning
// in its log. A server without a key accepts every request, signed or not.
//
// Neither the key nor a signature is ever logged or sent back.

// nonceSize is the number of random bytes in a nonce (hex encoded on the wire).
const nonceSize = 16

// sign gives req a fresh nonce and signs it when the client has a key; it
// leaves req unsigned otherwise.
func (c *Client) sign(req *domain.Request) {
	if len(c.cfg.AuthKey) == 0 {
		return
	}
	var n [nonceSize]byte
	_, _ = rand.Read(n[:]) // never fails (crypto/rand documents it)
	req.Nonce = hex.EncodeToString(n[:])
	domain.Sign(c.cfg.AuthKey, req)
}

// authenticator checks the requests of a server with a key. It is safe for
// concurrent use: handlers run in parallel.
type authenticator struct {
	key []byte
	mu  sync.Mutex
	// guard remembers the nonces of this server only: a request routed to
	// several servers carries one nonce and each of them accepts it once.
	guard *domain.ReplayGuard
}

// newAuthenticator returns nil when key is empty: no checks.
func newAuthenticator(key []byte) *authenticator {
	if len(key) == 0 {
		return nil
	}
	return &authenticator{key: bytes.Clone(key), guard: domain.NewReplayGuard(0, 0)}
}

// check returns nil for a request signed with the key, fresh and never seen,
// else an error matching domain.ErrUnauthorized. The nonce is remembered only
// once the signature holds, so forged requests cannot fill the guard.
func (a *authenticator) check(req *domain.Request, now time.Time) error {
	switch {
	case len(req.Signature) == 0:
		return domain.ErrUnsigned
	case !domain.Verify(a.key, req):
		return domain.ErrBadSignature
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.guard.Check(req.Nonce, req.Sent, now)
}

// verify is the pipeline step of a server with a key: a request that fails
// the check gets a CodeUnauthorized result, without being acknowledged or
// run, and one warning in the log naming the call, target, command and
// reason (never the key or signature). Beyond the signature and its
// freshness, a signed request must be meant for this server: its signed
// target must match one of the server's own configured bindings (a group it
// works for, when balanced) — a request re-published under another routing
// key, or reaching a queue through a binding added on the broker, is
// refused — and it must have been sent after the server started, since the
// nonces it saw before a restart are forgotten. Without a key it passes
// every request on.
func (s *Server) verify(next Step) Step {
	if s.auth == nil {
		return next
	}
	bindings, groups := s.cfg.AllBindings(), s.cfg.AllWorkGroups()
	return func(ctx context.Context, in Inbound) domain.Reply {
		req := in.Request
		err := s.auth.check(req, s.now())
		if err == nil {
			err = s.meantForMe(req, bindings, groups)
		}
		if err == nil {
			return next(ctx, in)
		}
		s.log.Warn("refused an unauthorized request", "call", clip(req.ID), "target", clip(req.Target),
			"command", clip(req.Command.Name), "reason", err.Error())
		return domain.Reply{Code: domain.CodeUnauthorized, Error: fmt.Sprintf("%s: %v", domain.ErrUnauthorized, err)}
	}
}

// Reasons a signed request is not for this server; both match
// domain.ErrUnauthorized.
var (
	errNotForMe    = unauthorized("signed for a target this server's bindings do not match")
	errBeforeStart = unauthorized("sent before this server started (its memory of seen requests is new)")
)

type unauthorized string

func (e unauthorized) Error() string        { return string(e) }
func (e unauthorized) Is(target error) bool { return target == domain.ErrUnauthorized }

// meantForMe reports why a verified request is not for this server, or nil.
func (s *Server) meantForMe(req *domain.Request, bindings, groups []string) error {
	if req.Balanced {
		if !slices.Contains(groups, req.Target) {
			return fmt.Errorf("%w: work group %q", errNotForMe, req.Target)
		}
	} else if !slices.ContainsFunc(bindings, func(b string) bool { return domain.Match(b, req.Target) }) {
		return fmt.Errorf("%w: %q", errNotForMe, req.Target)
	}
	if req.Sent.UnixMilli() < s.startMs.Load() {
		return errBeforeStart
	}
	return nil
}

// signingWriter signs every reply of a server with a key (domain.SignReply):
// acks, progress and the result.
type signingWriter struct {
	rw     ports.ReplyWriter
	key    []byte
	callID string
	server string
}

// Reply implements ports.ReplyWriter.
func (w *signingWriter) Reply(ctx context.Context, r domain.Reply) error {
	r.CallID = w.callID
	if r.Server == "" {
		r.Server = w.server
	}
	domain.SignReply(w.key, &r)
	return w.rw.Reply(ctx, r)
}

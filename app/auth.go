package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// Signed requests (ClientConfig.AuthKey or Identity, ServerConfig.AuthKey
// or CallerKeys): the client gives every request a fresh random nonce and a
// signature — HMAC-SHA256 with the fleet key, or Ed25519 with its own
// private key, which names it (domain.Signer); a server with keys verifies
// it before acknowledging or running anything, and refuses unsigned, forged
// and replayed requests (a nonce seen before, or sent outside
// domain.DefaultReplayWindow of the server's clock), and those of callers
// whose key it does not trust, with a domain.CodeUnauthorized error reply
// and one warning in its log. A server without keys accepts every request,
// signed or not.
//
// Neither the key nor a signature is ever logged or sent back.

// nonceSize is the number of random bytes in a nonce (hex encoded on the wire).
const nonceSize = 16

// sign names the caller in req and, when the client has a key, gives it a
// fresh nonce and signs it; it leaves req unsigned otherwise.
func (c *Client) sign(req *domain.Request) {
	req.Caller = c.cfg.Caller
	if c.signer.IsZero() {
		return
	}
	var n [nonceSize]byte
	_, _ = rand.Read(n[:]) // never fails (crypto/rand documents it)
	req.Nonce = hex.EncodeToString(n[:])
	c.signer.SignRequest(req)
}

// authenticator checks the requests of a server with a key. It is safe for
// concurrent use: handlers run in parallel.
type authenticator struct {
	fleet []byte
	keys  atomic.Pointer[domain.Keyring] // the callers' keys; replaced by SetCallerKeys
	mu    sync.Mutex
	// guard remembers the nonces of this server only: a request routed to
	// several servers carries one nonce and each of them accepts it once.
	guard *domain.ReplayGuard
}

// newAuthenticator returns nil when trust holds no key: no checks.
func newAuthenticator(trust domain.Trust) *authenticator {
	if trust.IsZero() {
		return nil
	}
	a := &authenticator{fleet: bytes.Clone(trust.FleetKey), guard: domain.NewReplayGuard(0, 0)}
	a.keys.Store(trust.Keys)
	return a
}

// trust is what the authenticator accepts now.
func (a *authenticator) trust() domain.Trust {
	return domain.Trust{FleetKey: a.fleet, Keys: a.keys.Load()}
}

// errNoAuth is returned by SetCallerKeys on a server that checks nothing.
var errNoAuth = errors.New("the server checks no signatures (started without AuthKey or CallerKeys): restart it with keys")

// SetCallerKeys replaces the callers' public keys the server trusts
// (ServerConfig.CallerKeys) while it runs: the next requests are checked
// against keys. It fails on a server started with neither AuthKey nor
// CallerKeys, whose pipeline checks no signature. Safe for concurrent use.
func (s *Server) SetCallerKeys(keys *domain.Keyring) error {
	if s.auth == nil {
		return errNoAuth
	}
	s.auth.keys.Store(keys)
	return nil
}

// fresh returns nil for a request never seen and inside the replay window,
// else an error matching domain.ErrUnauthorized. Call it only once the
// signature holds, so forged requests cannot fill the guard.
func (a *authenticator) fresh(req *domain.Request, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.guard.Check(req.Nonce, req.Sent, now)
}

// identify returns who sent req as far as s can tell, and, on a server
// with keys, why its signature does not hold (nil when it does). It runs
// once per request, before the pipeline (Server.serve), so that every step
// and middleware sees the same Inbound.Caller.
func (s *Server) identify(req *domain.Request) (Caller, error) {
	c := Caller{Name: req.Caller}
	if s.auth == nil {
		return c, nil
	}
	var err error
	c.Proof, err = s.auth.trust().VerifyRequest(req)
	return c, err
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
// nonces it saw before a restart are forgotten. A balanced request is
// claimed before its nonce is checked (claimOnce): a copy of a call that
// another delivery claimed is dropped, unanswered (CodeDuplicate). Without
// a key it passes every request on.
func (s *Server) verify(next Step) Step {
	if s.auth == nil {
		return next
	}
	bindings, groups := s.cfg.AllBindings(), s.cfg.AllWorkGroups()
	return func(ctx context.Context, in Inbound) domain.Reply {
		req := in.Request
		err := in.sigErr
		switch {
		case err != nil:
		case req.Balanced:
			// The claim before the nonce: a copy of a balanced call is
			// dropped, not refused in its caller's face.
			if err = s.meantForMe(req, bindings, groups); err == nil {
				if r, done := s.claimOnce(ctx, in); done {
					return r
				}
				err = s.auth.fresh(req, s.now())
			}
		default:
			if err = s.auth.fresh(req, s.now()); err == nil {
				err = s.meantForMe(req, bindings, groups)
			}
		}
		if err == nil {
			return next(ctx, in)
		}
		s.log.Warn("refused an unauthorized request", "call", clip(req.ID), "caller", clip(req.Caller),
			"target", clip(req.Target), "command", clip(req.Command.Name), "reason", err.Error())
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

// signingWriter signs every reply of a server with a key (domain.Signer:
// its own private key, else the fleet key): acks, progress and the result.
type signingWriter struct {
	rw     ports.ReplyWriter
	signer domain.Signer
	callID string
	server string
}

// Reply implements ports.ReplyWriter.
func (w *signingWriter) Reply(ctx context.Context, r domain.Reply) error {
	r.CallID = w.callID
	if r.Server == "" {
		r.Server = w.server
	}
	w.signer.SignReply(&r)
	return w.rw.Reply(ctx, r)
}

package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// claimOnce is the part of verify (a server with keys) that makes a
// balanced (--any) request run once per fleet, not once per member: the
// nonce memory of each server sees only its own requests, and a signed
// balanced request re-published to the work queue would otherwise reach
// another member each time. Once the signature holds and the request is
// meant for this server, it claims the call id on the transport
// (ports.Claimer, on the request's ReplyWriter) until the request can no
// longer be run anywhere — its deadline, or the end of its replay window,
// whichever is first — before the nonce is checked, so that a copy is
// dropped as a duplicate, unanswered, rather than refused as a replay in
// the caller's face. It returns done with the result when the request must
// not run: a call another delivery has claimed (CodeDuplicate, never sent,
// one warning in the log), or a claim that could not be decided (the
// connection broke: CodeUnavailable, which the caller may send again).
//
// Without keys nothing is claimed: an unsigned request can be re-sent under
// a new call id anyway, and the claim costs a broker round trip.
func (s *Server) claimOnce(ctx context.Context, in Inbound) (r domain.Reply, done bool) {
	req := in.Request
	c, ok := in.claimer.(ports.Claimer)
	if !req.Balanced || !ok {
		return r, false
	}
	until := req.Sent.Add(domain.DefaultReplayWindow)
	if !req.Deadline.IsZero() && req.Deadline.Before(until) {
		until = req.Deadline
	}
	err := c.Claim(ctx, until.Add(claimHold))
	switch {
	case err == nil:
		return r, false
	case errors.Is(err, ports.ErrClaimed):
		s.log.Warn("dropped a duplicate balanced request: another delivery of its call runs or ran it (a re-publish or a replay)",
			"call", clip(req.ID), "caller", clip(req.Caller), "group", clip(req.Target), "command", clip(req.Command.Name))
		return domain.Reply{Code: domain.CodeDuplicate, Error: err.Error()}, true
	}
	s.log.Warn("refused a balanced request: could not claim its call", "call", clip(req.ID), "err", err)
	return domain.Reply{Code: domain.CodeUnavailable, Error: fmt.Sprintf("could not claim the call: %v", err)}, true
}

// claimHold is how long past until a claim is kept, for clock skew.
const claimHold = time.Second

package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/topicrpc/topicrpc/domain"
)

// PolicyGate enforces a domain.Policy on a server's requests: its
// Middleware, set as ServerConfig.Authorize, runs right after the verify
// step and refuses what the policy does not allow with
// domain.CodeForbidden and a reason the caller sees ("forbidden: alice may
// not run reboot on all: no rule allows it"), logged in one line — never
// acknowledged, never run. The policy can be replaced while the server
// runs (Set, e.g. on SIGHUP): each request is decided by the policy in
// place when it reaches the gate. Safe for concurrent use.
type PolicyGate struct {
	p   atomic.Pointer[domain.Policy]
	log *slog.Logger
}

// NewPolicyGate returns a gate enforcing p. log may be nil.
func NewPolicyGate(p *domain.Policy, log *slog.Logger) *PolicyGate {
	if log == nil {
		log = slog.Default()
	}
	g := &PolicyGate{log: log}
	g.p.Store(p)
	return g
}

// Set replaces the policy; requests already past the gate are not affected.
func (g *PolicyGate) Set(p *domain.Policy) { g.p.Store(p) }

// Policy returns the policy in place.
func (g *PolicyGate) Policy() *domain.Policy { return g.p.Load() }

// Middleware is the gate as a pipeline step (ServerConfig.Authorize). Put
// among ServerConfig.Middleware instead, it would judge requests before
// their signature is checked: every caller would count as unproven.
func (g *PolicyGate) Middleware(next Step) Step {
	return func(ctx context.Context, in Inbound) domain.Reply {
		req := in.Request
		d := g.p.Load().Decide(in.Caller.Name, in.Caller.Proof, req)
		if d.Allow {
			return next(ctx, in)
		}
		who := in.Caller.Name
		switch {
		case who == "":
			who = "an anonymous caller"
		case in.Caller.Proof != domain.ProofKey:
			who += " (unproven)"
		}
		reason := fmt.Sprintf("%s may not run %s on %s: %s", clip(who), clip(req.Command.Name), clip(req.Target), d.Reason())
		g.log.Warn("refused a forbidden request", "server", in.Server, "call", clip(req.ID), "caller", clip(in.Caller.Name),
			"auth", in.Caller.Proof.String(), "target", clip(req.Target), "command", clip(req.Command.Name), "reason", d.Reason())
		return domain.Reply{Code: domain.CodeForbidden, Error: "forbidden: " + reason}
	}
}

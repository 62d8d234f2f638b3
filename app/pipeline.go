package app

import (
	"context"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// The request pipeline. Every request a Server takes goes through one chain
// of steps, written once here in app and the same on every transport
// (transports only decode, deliver, settle and transmit: see ports.Handler).
// Outermost first:
//
//	ServerConfig.Middleware   the library user's, in the order given
//	verify                    signature, claim of a balanced call (claim.go), freshness, replay (auth.go)
//	ServerConfig.Authorize    who may run what: a policy (policy.go)
//	admit                     malformed command, args over MaxArgs, past deadline (limits.go)
//	withDeadline              the handler's context ends at the deadline (handlerctx.go)
//	acknowledge               ack if still running after AckDelay, then progress (flights.go)
//	recoverPanics             a panic becomes a CodePanic result (recover.go)
//	runHandler                look up the command, run it, classify the outcome (serve.go)
//
// A step that refuses a request returns its result without calling the next
// one: an unauthorized request is never acknowledged, an expired one never
// reaches the handler. The pipeline's entry (Server.serve) sends the result
// every chain returns, so a request gets exactly one result, and no ack or
// progress reply follows it — except a duplicate balanced request
// (CodeDuplicate), which gets none.

// Inbound is one request on its way through a server's pipeline. Steps pass it
// on by value.
type Inbound struct {
	// Request is the request as the transport decoded it. Steps must not
	// modify it: it may be shared with the transport.
	Request *domain.Request
	// Replies reaches the request's caller. Steps may send acknowledgements
	// and progress through it; the result is not theirs to send: a step
	// returns it, and the pipeline sends it.
	Replies ports.ReplyWriter
	// Taken is when the server took the request, by this process's clock
	// (with its monotonic reading): time.Since(in.Taken) is how long the
	// request has been in the pipeline.
	Taken time.Time
	// Server is the name of the server running the pipeline.
	Server string
	// Caller is who sent the request, as far as the server can tell.
	Caller Caller

	sigErr error // why the signature does not hold (keyed server), for verify
	// claimer is the transport's own ReplyWriter, which may be a
	// ports.Claimer (balanced requests), for claimOnce.
	claimer ports.ReplyWriter
}

// Caller is who sent a request.
type Caller struct {
	// Name is the name the request carries (domain.Request.Caller): proven
	// when Proof is domain.ProofKey, claimed otherwise. Empty when the
	// caller gave none.
	Name string
	// Proof says how the name is established: domain.ProofKey (signed by
	// that caller's private key, whose public key the server trusts),
	// domain.ProofFleetKey (signed with the fleet key: some holder of it),
	// or domain.ProofNone (unsigned, a signature that does not hold —
	// the verify step refuses those on a server with keys — or a server
	// without keys, which checks nothing). A Proof does not say the
	// request is fresh: verify refuses replays after it is set.
	Proof domain.Proof
}

// Step runs a request and returns its result: Reply.Code is the outcome
// ("" for ok, else one of domain's Code constants), Reply.Result or
// Reply.Error the rest. The pipeline fills in the reply's Server, Kind and
// Elapsed. ctx ends when the server stops serving the request's queue and,
// inside the deadline step, at the request's deadline.
type Step func(ctx context.Context, in Inbound) domain.Reply

// Middleware wraps a Step with behaviour of its own: it may look at the
// request before calling next, refuse it by returning a result without
// calling next, and look at (or change) the result next returns, with its
// outcome code and duration (time.Since(in.Taken)). It is built once, when
// the server is made, and the Step it returns is called from many
// goroutines at once: it must be safe for concurrent use.
//
// The ServerConfig.Middleware run outside the built-in steps, so each sees
// every request the server takes — before its signature is checked — and
// its final result, refusals (CodeUnauthorized, CodeExpired, …) included.
// A middleware that panics is recovered like a handler: the caller gets a
// CodePanic result.
type Middleware func(next Step) Step

// chain returns the server's pipeline: mw, then the built-in steps, around
// runHandler.
func (s *Server) chain(mw []Middleware) Step {
	steps := make([]Middleware, 0, len(mw)+5)
	steps = append(steps, mw...)
	steps = append(steps, s.verify)
	if s.cfg.Authorize != nil {
		steps = append(steps, s.cfg.Authorize)
	}
	steps = append(steps, s.admit, withDeadline, s.acknowledge, s.recoverPanics)
	h := Step(s.runHandler)
	for i := len(steps) - 1; i >= 0; i-- {
		h = steps[i](h)
	}
	return h
}

// serve is the server's ports.Handler, the pipeline's entry: it runs the
// request through the chain and sends the result.
func (s *Server) serve(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
	claimer := rw
	if req.Record && s.jobs != nil {
		rw = &storingWriter{rw: rw, s: s, req: req} // inside signing: stores the signed reply
	}
	if !s.signer.IsZero() {
		rw = &signingWriter{rw: rw, signer: s.signer, callID: req.ID, server: s.cfg.Name}
	}
	in := Inbound{Request: req, Replies: rw, Taken: time.Now(), Server: s.cfg.Name, claimer: claimer}
	in.Caller, in.sigErr = s.identify(req)
	reply := s.run(ctx, in)
	reply.Server = s.cfg.Name
	reply.Kind = domain.KindResult
	reply.Elapsed = time.Since(in.Taken) // monotonic clock only: cheaper than Now
	if reply.Code == domain.CodeDuplicate {
		return // dropped: another delivery of the call answers it (claimOnce)
	}
	if err := rw.Reply(ctx, reply); err != nil {
		s.log.Warn("reply not sent", "call", clip(req.ID), "command", clip(req.Command.Name), "err", err)
	}
}

// run runs the chain, recovering a panic of a middleware outside the
// built-in recovery step.
func (s *Server) run(ctx context.Context, in Inbound) (r domain.Reply) {
	defer s.recovered(in, &r)
	return s.pipeline(ctx, in)
}

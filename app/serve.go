package app

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// serve is the ports.Handler: it runs the request and sends exactly one
// result. A request still running ServerConfig.AckDelay after it was taken
// (or halfway to its deadline, if that comes sooner) is acknowledged then,
// and gets progress replies while it runs long; one done sooner sends only
// its result, which tells the caller it was received. No ack or progress
// reply ever follows the result. With a negative AckDelay the request is
// acknowledged before its handler runs.
// On a server with a key, a request that fails authorize gets only an
// unauthorized result: no ack, and no handler runs.
func (s *Server) serve(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
	start := time.Now()
	if !s.authorize(ctx, req, rw, start) {
		return // refused: answered unauthorized, nothing acknowledged or run
	}
	ackAfter := s.cfg.AckDelay
	if !req.Deadline.IsZero() {
		// The caller counts a server silent unless it hears from it by the
		// deadline: a short one moves the ack earlier.
		ackAfter = min(ackAfter, req.Deadline.Sub(start)/2)
	}
	if ackAfter <= 0 {
		if err := rw.Reply(ctx, domain.Reply{Server: s.cfg.Name, Kind: domain.KindAck}); err != nil {
			s.log.Warn("ack not sent", "call", req.ID, "command", req.Command.Name, "err", err)
		}
		ackAfter = -1 // acknowledged
	}
	f := s.flights.begin(start, req, rw, ackAfter)
	reply := s.run(ctx, req)
	reply.Server = s.cfg.Name
	reply.Kind = domain.KindResult
	reply.Elapsed = time.Since(start) // monotonic clock only: cheaper than Now
	// end holds the flight's lock while the result goes out, so no ack or
	// progress reply can follow the result.
	if err := s.flights.end(ctx, f, reply); err != nil {
		s.log.Warn("reply not sent", "call", req.ID, "command", req.Command.Name, "err", err)
	}
}

func (s *Server) run(ctx context.Context, req *domain.Request) domain.Reply {
	if r, refused := s.refuse(req); refused {
		return r
	}
	h, ok := s.handlers.Lookup(req.Command.Name)
	if !ok {
		return domain.Reply{Code: domain.CodeUnknownCommand, Error: fmt.Sprintf(
			"unknown command %q; this server has: %s", req.Command.Name, strings.Join(s.handlers.Names(), ", "))}
	}
	if !req.Deadline.IsZero() {
		hctx := newHandlerContext(ctx, req.Deadline)
		defer hctx.release()
		ctx = hctx
	}
	result, err := s.call(ctx, h, req)
	if err == nil {
		return domain.Reply{Result: result}
	}
	code := domain.CodeFailed
	switch {
	case errors.Is(err, ErrBadArgs):
		code = domain.CodeBadArgs
	case errors.Is(err, errPanic):
		code = domain.CodePanic
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		code = domain.CodeDeadline
	case ctx.Err() != nil:
		code = domain.CodeUnavailable
	}
	return domain.Reply{Code: code, Error: err.Error()}
}

var errPanic = errors.New("handler panicked")

// call runs h, turning a panic into an error.
func (s *Server) call(ctx context.Context, h HandlerFunc, req *domain.Request) (result string, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panicked", "call", req.ID, "command", req.Command.Name, "panic", p,
				"stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %s: %v", errPanic, req.Command.Name, p)
		}
	}()
	return h(ctx, req.Command.Args)
}

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

// serve is the ports.Handler: it acknowledges the request at once, runs it
// (with progress replies while it runs long) and sends exactly one result.
// On a server with a key, a request that fails authorize gets only an
// unauthorized result: no ack, and no handler runs.
func (s *Server) serve(ctx context.Context, req *domain.Request, rw ports.ReplyWriter) {
	start := time.Now()
	if !s.authorize(ctx, req, rw, start) {
		return // refused: answered unauthorized, nothing acknowledged or run
	}
	if err := rw.Reply(ctx, domain.Reply{Server: s.cfg.Name, Kind: domain.KindAck}); err != nil {
		s.log.Warn("ack not sent", "call", req.ID, "command", req.Command.Name, "err", err)
	}
	f := s.flights.begin(s.cfg.Name, start, rw)
	reply := s.run(ctx, req)
	reply.Server = s.cfg.Name
	reply.Kind = domain.KindResult
	reply.Elapsed = time.Since(start) // monotonic clock only: cheaper than Now
	// end holds the flight's lock while the result goes out, so no progress
	// reply can follow the result.
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

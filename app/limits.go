package app

import (
	"context"
	"fmt"
	"time"

	"github.com/topicrpc/topicrpc/domain"
)

// DefaultMaxArgs is the default ServerConfig.MaxArgs and ClientConfig.MaxArgs:
// the largest Command.Args, in bytes, a client sends and a server runs.
const DefaultMaxArgs = 1 << 20

// checkArgs reports args longer than max bytes, with an error wrapping
// domain.ErrBadCommand.
func checkArgs(args string, max int) error {
	if len(args) > max {
		return fmt.Errorf("%w: args are %d bytes, at most %d allowed", domain.ErrBadCommand, len(args), max)
	}
	return nil
}

// admit is the pipeline step that refuses what no handler should see, with
// its result: a malformed command (CodeBadRequest), args over MaxArgs
// (CodeBadArgs) and a deadline already past by the server's clock
// (CodeExpired: a transport delivers what its queue did not expire, and the
// caller's clock may run behind). Each refusal is one line in the log.
// Unknown commands are left to runHandler.
func (s *Server) admit(next Step) Step {
	return func(ctx context.Context, in Inbound) domain.Reply {
		req := in.Request
		var r domain.Reply
		switch err := req.Command.Validate(); {
		case err != nil:
			r = domain.Reply{Code: domain.CodeBadRequest, Error: err.Error()}
		case len(req.Command.Args) > s.cfg.MaxArgs:
			r = domain.Reply{Code: domain.CodeBadArgs, Error: fmt.Sprintf(
				"%s: args are %d bytes, at most %d allowed", req.Command.Name, len(req.Command.Args), s.cfg.MaxArgs)}
		case req.Deadline.IsZero():
			return next(ctx, in)
		default:
			late := s.now().Sub(req.Deadline)
			if late < 0 {
				return next(ctx, in)
			}
			s.log.Debug("request expired before it was taken", "call", clip(req.ID), "late", late.String())
			return domain.Reply{Code: domain.CodeExpired, Error: fmt.Sprintf(
				"request expired %v before %s took it", late.Round(time.Millisecond), s.cfg.Name)}
		}
		s.log.Warn("refused a request", "call", clip(req.ID), "command", clip(req.Command.Name), "code", r.Code, "reason", r.Error)
		return r
	}
}

// clip cuts s for a log line: names and ids from the wire may be long.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/topicrpc/topicrpc/domain"
)

// runHandler is the pipeline's innermost step: it looks the command up, runs
// its handler and classifies the outcome. An unknown command is
// CodeUnknownCommand (naming the commands the server has); a handler error
// wrapping ErrBadArgs is CodeBadArgs; an error once the handler's context
// has passed the deadline is CodeDeadline, once the server stopped serving
// CodeUnavailable; any other error CodeFailed.
func (s *Server) runHandler(ctx context.Context, in Inbound) domain.Reply {
	cmd := in.Request.Command
	h, ok := s.handlers.Lookup(cmd.Name)
	if !ok {
		return domain.Reply{Code: domain.CodeUnknownCommand, Error: fmt.Sprintf(
			"unknown command %q; this server has: %s", cmd.Name, strings.Join(s.handlers.Names(), ", "))}
	}
	result, err := h(ctx, cmd.Args)
	if err == nil {
		return domain.Reply{Result: result}
	}
	return domain.Reply{Code: classify(ctx, err), Error: err.Error()}
}

// classify returns the code of a handler's error.
func classify(ctx context.Context, err error) string {
	switch cerr := ctx.Err(); {
	case errors.Is(err, ErrBadArgs):
		return domain.CodeBadArgs
	case cerr != nil && errors.Is(cerr, context.DeadlineExceeded):
		return domain.CodeDeadline
	case cerr != nil:
		return domain.CodeUnavailable
	}
	return domain.CodeFailed
}

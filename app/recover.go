package app

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/topicrpc/topicrpc/domain"
)

// errPanic starts the error text of a CodePanic result.
var errPanic = errors.New("handler panicked")

// recoverPanics is the pipeline step that turns a panic of the handler into
// a CodePanic result, logged once with its stack; the server keeps serving.
func (s *Server) recoverPanics(next Step) Step {
	return func(ctx context.Context, in Inbound) (r domain.Reply) {
		defer s.recovered(in, &r)
		return next(ctx, in)
	}
}

// recovered, deferred, replaces *r with a CodePanic result if the function
// deferring it panicked.
func (s *Server) recovered(in Inbound, r *domain.Reply) {
	p := recover()
	if p == nil {
		return
	}
	name := in.Request.Command.Name
	s.log.Error("handler panicked", "call", clip(in.Request.ID), "command", clip(name), "panic", p,
		"stack", string(debug.Stack()))
	*r = domain.Reply{Code: domain.CodePanic, Error: fmt.Sprintf("%v: %s: %v", errPanic, name, p)}
}

package app

import (
	"context"

	"github.com/topicrpc/topicrpc/domain"
)

// CallTracer traces a client's calls (ClientConfig.Tracer): one span per
// call, from just before its request is sent until the call is over, whose
// context travels in the request (Request.Trace) so that
// servers' spans join it. adapters/tracing implements it with OpenTelemetry,
// and its server side as a Middleware. It must be safe for concurrent use.
type CallTracer interface {
	// StartCall begins the span of the call about to send req (its ID,
	// target, command and Sent, the call's start, are set) and returns it.
	// It may set req.Trace, and nothing else.
	StartCall(ctx context.Context, req *domain.Request) CallSpan
}

// CallSpan is one call's span, ended exactly once.
type CallSpan interface {
	// End ends the span: with the call's summary once it is over (err nil),
	// or with the error that failed the call before it began.
	End(s domain.Summary, err error)
}

// endSpan ends the call's span, if it has one, once the call is over.
func (c *Call) endSpan() {
	if c.span == nil {
		return
	}
	s := c.agg.Summary()
	c.mu.Lock()
	s.Forged = c.forged
	c.mu.Unlock()
	(*c.span).End(s, nil)
	c.span = nil
}

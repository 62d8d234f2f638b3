package tracing

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
)

// Span names: one per kind of span, whatever the command (an unknown
// command name from the wire is an attribute, never a name).
const (
	CallSpan  = "topicrpc.call"  // the client's, kind client
	ServeSpan = "topicrpc.serve" // a server's, kind server
)

// Attribute keys besides OpenTelemetry's rpc.system and rpc.method (the
// command).
const (
	AttrTarget  = attribute.Key("topicrpc.target")
	AttrCallID  = attribute.Key("topicrpc.call_id")
	AttrServer  = attribute.Key("topicrpc.server")
	AttrOutcome = attribute.Key("topicrpc.outcome") // "ok" or the error code
)

// maxAttr bounds the strings from the wire that spans record.
const maxAttr = 255

// Tracing makes the spans of calls and of the requests servers take. Safe
// for concurrent use.
type Tracing struct {
	tracer trace.Tracer
	prop   propagation.TraceContext
}

// New returns a Tracing making its spans with tp.
func New(tp trace.TracerProvider) *Tracing {
	return &Tracing{tracer: tp.Tracer("github.com/topicrpc/topicrpc", trace.WithInstrumentationVersion(app.Version))}
}

var _ app.CallTracer = (*Tracing)(nil)

// StartCall starts the client span of a call about to send req, a child of
// ctx's span if any, and puts its context in req.Trace (app.CallTracer).
func (t *Tracing) StartCall(ctx context.Context, req *domain.Request) app.CallSpan {
	ctx, span := t.tracer.Start(ctx, CallSpan, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(req.Sent),
		trace.WithAttributes(attribute.String("rpc.system", "topicrpc"), attribute.String("rpc.method", req.Command.Name),
			AttrTarget.String(req.Target), AttrCallID.String(req.ID), attribute.Bool("topicrpc.balanced", req.Balanced)))
	t.prop.Inject(ctx, carrier{req})
	return callSpan{span}
}

type callSpan struct{ trace.Span }

// End records the call's summary, or the error that failed it, and ends
// the span; a call where some server failed or did not answer has an error
// status.
func (s callSpan) End(sum domain.Summary, err error) {
	if err != nil {
		s.RecordError(err)
		s.SetStatus(codes.Error, err.Error())
		s.Span.End()
		return
	}
	s.SetAttributes(
		attribute.Int("topicrpc.expected", sum.Expected), attribute.Int("topicrpc.replied", sum.Replied),
		attribute.Int("topicrpc.ok", sum.OK), attribute.Int("topicrpc.failed", sum.Failed),
		attribute.Int("topicrpc.not_received", sum.NotReceived), attribute.Int("topicrpc.timed_out", sum.TimedOut),
		attribute.Int("topicrpc.down", sum.Down), attribute.Int("topicrpc.stopped", sum.Stopped),
		attribute.Int("topicrpc.unexpected", sum.Unexpected), attribute.Int("topicrpc.forged", sum.Forged),
		attribute.String("topicrpc.reason", sum.Reason.String()))
	if bad := sum.Failed + sum.Silent + sum.Down + sum.Stopped; bad > 0 {
		s.SetStatus(codes.Error, strconv.Itoa(bad)+" server(s) failed or did not answer")
	}
	s.Span.End()
}

// Middleware is the request-pipeline step making a server span per request
// (put it in app.ServerConfig.Middleware): a child of the caller's span
// when the request carries a valid trace context, else the root of a new
// trace. The steps after it, and the handler, get its context. It records
// the command, the server, the call id and the outcome; an error outcome
// sets an error status.
func (t *Tracing) Middleware(next app.Step) app.Step {
	return func(ctx context.Context, in app.Inbound) domain.Reply {
		req := in.Request
		ctx = t.prop.Extract(ctx, carrier{req})
		ctx, span := t.tracer.Start(ctx, ServeSpan, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(in.Taken),
			trace.WithAttributes(attribute.String("rpc.system", "topicrpc"), attribute.String("rpc.method", clip(req.Command.Name)),
				AttrServer.String(in.Server), AttrTarget.String(clip(req.Target)), AttrCallID.String(clip(req.ID))))
		defer span.End() // a middleware inside may panic
		r := next(ctx, in)
		if r.Code == "" {
			span.SetAttributes(AttrOutcome.String("ok"))
		} else {
			span.SetAttributes(AttrOutcome.String(r.Code))
			span.SetStatus(codes.Error, r.Code)
		}
		return r
	}
}

func clip(s string) string {
	if len(s) > maxAttr {
		return s[:maxAttr]
	}
	return s
}

// carrier is a request's trace context as a propagation.TextMapCarrier
// (req.Trace): values over domain's bounds are neither read nor written.
type carrier struct{ req *domain.Request }

const (
	traceparent = "traceparent"
	tracestate  = "tracestate"
)

func (c carrier) Get(key string) string {
	tc := c.req.Trace
	if tc == nil {
		return ""
	}
	switch key {
	case traceparent:
		if len(tc.Parent) <= domain.MaxTraceParent {
			return tc.Parent
		}
	case tracestate:
		if len(tc.State) <= domain.MaxTraceState {
			return tc.State
		}
	}
	return ""
}

// Set writes a value within its bound; the client's own request is not yet
// shared, so its TraceContext is made here when needed.
func (c carrier) Set(key, value string) {
	var limit int
	switch key {
	case traceparent:
		limit = domain.MaxTraceParent
	case tracestate:
		limit = domain.MaxTraceState
	default:
		return
	}
	if len(value) > limit {
		return
	}
	if c.req.Trace == nil {
		c.req.Trace = new(domain.TraceContext)
	}
	if key == traceparent {
		c.req.Trace.Parent = value
	} else {
		c.req.Trace.State = value
	}
}

func (c carrier) Keys() []string { return []string{traceparent, tracestate} }

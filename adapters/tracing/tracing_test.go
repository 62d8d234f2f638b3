package tracing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/topicrpc/topicrpc/adapters/tracing"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// recorder returns a Tracing whose spans end in the returned recorder.
func recorder(t *testing.T) (*tracing.Tracing, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing.New(tp), sr
}

// spans returns the ended spans named name.
func spans(sr *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestServerSpanIsTheCallSpansChild: on the memory transport, a traced
// client's call and a traced server's request make two spans of one trace,
// the server's the child of the client's, with the command, server and
// outcome recorded.
func TestServerSpanIsTheCallSpansChild(t *testing.T) {
	t.Parallel()
	tr, sr := recorder(t)
	mem := testkit.MemoryTransport(t)
	s := app.NewServer(mem, app.ServerConfig{Name: "web1", Middleware: []app.Middleware{tr.Middleware}}, testkit.Logger(t))
	testkit.Start(t, s, 0)
	c := app.NewClient(mem, app.ClientConfig{Timeout: 5 * time.Second, Tracer: tr}, testkit.Logger(t))
	ctx := testkit.Context(t, 10*time.Second)
	if _, _, err := c.Do(ctx, "web1", domain.Command{Name: "echo", Args: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Do(ctx, "web1", domain.Command{Name: "nope"}); err != nil {
		t.Fatal(err)
	}
	calls, serves := spans(sr, tracing.CallSpan), spans(sr, tracing.ServeSpan)
	if len(calls) != 2 || len(serves) != 2 {
		t.Fatalf("%d call spans, %d serve spans; want 2 of each", len(calls), len(serves))
	}
	for i, want := range []struct{ command, outcome string }{{"echo", "ok"}, {"nope", "unknown_command"}} {
		call, serve := calls[i], serves[i]
		if call.SpanKind() != trace.SpanKindClient || serve.SpanKind() != trace.SpanKindServer {
			t.Errorf("kinds: call %v, serve %v", call.SpanKind(), serve.SpanKind())
		}
		if serve.Parent().SpanID() != call.SpanContext().SpanID() || serve.SpanContext().TraceID() != call.SpanContext().TraceID() {
			t.Errorf("%s: serve span's parent %v, want the call span %v", want.command, serve.Parent().SpanID(), call.SpanContext().SpanID())
		}
		if got := attr(serve, "rpc.method"); got != want.command {
			t.Errorf("serve span command %q, want %q", got, want.command)
		}
		if got := attr(serve, tracing.AttrOutcome); got != want.outcome {
			t.Errorf("serve span outcome %q, want %q", got, want.outcome)
		}
		if got := attr(serve, tracing.AttrServer); got != "web1" {
			t.Errorf("serve span server %q, want web1", got)
		}
	}
	if serves[0].Status().Code == codes.Error || serves[1].Status().Code != codes.Error {
		t.Errorf("statuses: ok request %v, unknown command %v", serves[0].Status(), serves[1].Status())
	}
	if got := attr(calls[1], "topicrpc.failed"); got != "1" {
		t.Errorf("call span of the failed call: failed=%q, want 1", got)
	}
}

// serveOne runs req through a traced server's middleware and returns the
// server span and the reply.
func serveOne(t *testing.T, req *domain.Request) (sdktrace.ReadOnlySpan, domain.Reply) {
	t.Helper()
	tr, sr := recorder(t)
	var inner trace.SpanContext
	step := tr.Middleware(func(ctx context.Context, in app.Inbound) domain.Reply {
		inner = trace.SpanContextFromContext(ctx)
		return domain.Reply{}
	})
	r := step(context.Background(), app.Inbound{Request: req, Taken: time.Now(), Server: "s1"})
	got := spans(sr, tracing.ServeSpan)
	if len(got) != 1 {
		t.Fatalf("%d serve spans, want 1", len(got))
	}
	if !inner.Equal(got[0].SpanContext()) {
		t.Errorf("the steps inside got span %v, want the serve span %v", inner, got[0].SpanContext())
	}
	return got[0], r
}

// TestMalformedTraceContextStartsANewTrace: a trace context that is
// malformed or over its bound is ignored: the request is served, under a
// root span.
func TestMalformedTraceContextStartsANewTrace(t *testing.T) {
	t.Parallel()
	valid := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for name, tp := range map[string]string{
		"garbage":       "not a trace",
		"zero trace id": "00-00000000000000000000000000000000-b7ad6b7169203331-01",
		// A later version may carry more, but not past the bound.
		"over the bound": "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-" + strings.Repeat("x", domain.MaxTraceParent),
		"bad version":    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			span, r := serveOne(t, &domain.Request{ID: "c1", Command: domain.Command{Name: "echo"}, Trace: &domain.TraceContext{Parent: tp, State: "a=b"}})
			if span.Parent().IsValid() {
				t.Errorf("parent %v from %q, want none", span.Parent(), tp)
			}
			if r.Code != "" {
				t.Errorf("reply code %q", r.Code)
			}
		})
	}
	span, _ := serveOne(t, &domain.Request{ID: "c1", Command: domain.Command{Name: "echo"}, Trace: &domain.TraceContext{Parent: valid}})
	if got := span.Parent().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("a valid traceparent: parent trace %s", got)
	}
}

// TestUntracedClientCarriesNothing: without a tracer, and with a no-op
// provider's, requests carry no trace context.
func TestUntracedClientCarriesNothing(t *testing.T) {
	t.Parallel()
	for name, tracer := range map[string]app.CallTracer{"none": nil, "no-op provider": tracing.New(noop.NewTracerProvider())} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mem := testkit.MemoryTransport(t)
			seen := make(chan *domain.TraceContext, 1)
			peek := func(next app.Step) app.Step {
				return func(ctx context.Context, in app.Inbound) domain.Reply {
					seen <- in.Request.Trace
					return next(ctx, in)
				}
			}
			testkit.Start(t, app.NewServer(mem, app.ServerConfig{Name: "web1", Middleware: []app.Middleware{peek}}, testkit.Logger(t)), 0)
			c := app.NewClient(mem, app.ClientConfig{Timeout: 5 * time.Second, Tracer: tracer}, testkit.Logger(t))
			if _, _, err := c.Do(testkit.Context(t, 10*time.Second), "web1", domain.Command{Name: "echo"}); err != nil {
				t.Fatal(err)
			}
			if tc := <-seen; tc != nil {
				t.Errorf("trace context %+v carried", *tc)
			}
		})
	}
}

// TestEnabled: tracing is off unless the environment asks for OTLP.
func TestEnabled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		want    bool
		wantErr string
	}{
		{nil, false, ""},
		{map[string]string{"OTEL_SERVICE_NAME": "x"}, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, ""},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "want otlp or none"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "only http/protobuf"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
	} {
		got, err := tracing.Enabled(func(k string) string { return tc.env[k] })
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%v: %v, %v; want %v, error with %q", tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

package integration_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/topicrpc/topicrpc/adapters/tracing"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/test/internal/brokertest"
)

// TestTracingAcrossRabbitMQ: a traced client calls two traced servers, each
// on a connection of its own to RabbitMQ; the trace context crosses the
// broker in the request's headers, so each server's span is a child of the
// call's span, in its trace, with the command, server and outcome.
func TestTracingAcrossRabbitMQ(t *testing.T) {
	t.Parallel()
	space := namespace(t, brokertest.Get(t))
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tracing.New(tp)
	for _, name := range []string{"t1", "t2"} {
		s := app.NewServer(space.Transport(t), app.ServerConfig{Name: name, Bindings: []string{"traced.#"},
			Middleware: []app.Middleware{tr.Middleware}}, testkit.Logger(t))
		testkit.Start(t, s, 5*time.Second)
	}
	c := app.NewClient(space.Transport(t), app.ClientConfig{Timeout: 10 * time.Second, Tracer: tr}, testkit.Logger(t))
	sum, _, err := c.Do(testkit.Context(t, 20*time.Second), "traced", domain.Command{Name: "echo", Args: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 2 {
		t.Fatalf("summary %+v, want 2 ok", sum)
	}
	calls, serves := spans(sr, tracing.CallSpan), spans(sr, tracing.ServeSpan)
	if len(calls) != 1 || len(serves) != 2 {
		t.Fatalf("%d call spans, %d serve spans; want 1 and 2", len(calls), len(serves))
	}
	call := calls[0].SpanContext()
	servers := map[string]bool{}
	for _, s := range serves {
		if s.SpanKind() != trace.SpanKindServer || s.Parent().SpanID() != call.SpanID() || s.SpanContext().TraceID() != call.TraceID() {
			t.Errorf("serve span %v (kind %v), parent %v; want a server span, child of the call span %v",
				s.SpanContext(), s.SpanKind(), s.Parent(), call)
		}
		servers[attrOf(s, string(tracing.AttrServer))] = true
		if got := attrOf(s, string(tracing.AttrOutcome)); got != "ok" {
			t.Errorf("serve span outcome %q", got)
		}
		if got := attrOf(s, "rpc.method"); got != "echo" {
			t.Errorf("serve span command %q", got)
		}
	}
	if !servers["t1"] || !servers["t2"] {
		t.Errorf("serve spans of %v, want t1 and t2", servers)
	}
	if calls[0].SpanKind() != trace.SpanKindClient || attrOf(calls[0], "topicrpc.ok") != "2" {
		t.Errorf("call span kind %v, ok=%s", calls[0].SpanKind(), attrOf(calls[0], "topicrpc.ok"))
	}
}

func spans(sr *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrOf(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

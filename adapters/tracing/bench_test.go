package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/topicrpc/topicrpc/adapters/tracing"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// BenchmarkMemoryCall is app's BenchmarkMemoryCall (one call to one server
// on the memory transport, and its reply) untraced, and traced on both
// sides with every span sampled and dropped (an SDK provider without an
// exporter): what tracing costs a round trip, and that off costs nothing.
func BenchmarkMemoryCall(b *testing.B) {
	for _, bc := range []struct {
		name   string
		traced bool
	}{{"tracing=off", false}, {"tracing=on", true}} {
		b.Run(bc.name, func(b *testing.B) {
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			scfg, ccfg := app.ServerConfig{Name: "s000", Concurrency: 4}, app.ClientConfig{Timeout: time.Minute}
			if bc.traced {
				tp := sdktrace.NewTracerProvider()
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				tr := tracing.New(tp)
				scfg.Middleware, ccfg.Tracer = []app.Middleware{tr.Middleware}, tr
			}
			tr := testkit.MemoryTransport(b)
			testkit.Start(b, app.NewServer(tr, scfg, quiet), 0)
			c := app.NewClient(tr, ccfg, quiet)
			cmd := domain.Command{Name: "echo", Args: "hello"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				call, err := c.Call(ctx, "s000", cmd)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, ok := call.Next(); ok; _, ok = call.Next() {
					n++
				}
				if n != 1 {
					b.Fatalf("%d replies, want 1", n)
				}
			}
		})
	}
}

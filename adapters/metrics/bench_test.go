package metrics_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/topicrpc/topicrpc/adapters/metrics"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// BenchmarkMemoryCall is app's BenchmarkMemoryCall (one call to one server
// on the memory transport, and its reply) without and with the metrics
// middleware and observer: what metrics cost a round trip. Compare the two
// in one run, e.g. -count 8 with benchstat.
func BenchmarkMemoryCall(b *testing.B) {
	benchCalls(b, func(b *testing.B) (server, client ports.Transport) {
		tr := testkit.MemoryTransport(b)
		return tr, tr
	})
}

// BenchmarkRabbitMQCall is BenchmarkMemoryCall on RabbitMQ
// ($TOPICRPC_TEST_AMQP_URL), the server and the client on connections of
// their own.
func BenchmarkRabbitMQCall(b *testing.B) {
	ns := amqptest.New(b, testkit.EnvBroker(b), "bench")
	ns.Logger = slog.New(slog.DiscardHandler)
	benchCalls(b, func(b *testing.B) (server, client ports.Transport) {
		return ns.Transport(b), ns.Transport(b)
	})
}

func benchCalls(b *testing.B, transports func(*testing.B) (server, client ports.Transport)) {
	for _, bc := range []struct {
		name    string
		metrics bool
	}{{"metrics=off", false}, {"metrics=on", true}} {
		b.Run(bc.name, func(b *testing.B) {
			quiet := slog.New(slog.DiscardHandler)
			cfg := app.ServerConfig{Name: "s000", Concurrency: 4}
			if bc.metrics {
				m := metrics.New(metrics.Build{})
				if err := m.Register(prometheus.NewRegistry()); err != nil {
					b.Fatal(err)
				}
				cfg.Middleware, cfg.Observer = []app.Middleware{m.Middleware}, m
			}
			st, ct := transports(b)
			testkit.Start(b, app.NewServer(st, cfg, quiet), 0)
			c := app.NewClient(ct, app.ClientConfig{Timeout: time.Minute}, quiet)
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

// BenchmarkMiddleware is the metrics middleware alone around a step that
// returns at once: what it adds to every request, without the noise of a
// round trip.
func BenchmarkMiddleware(b *testing.B) {
	m := metrics.New(metrics.Build{})
	in := app.Inbound{Request: &domain.Request{ID: "c1", Command: domain.Command{Name: "echo"}}, Server: "s"}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		step app.Step
	}{{"metrics=off", returns("")}, {"metrics=on", m.Middleware(returns(""))}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				in.Taken = time.Now()
				bc.step(ctx, in)
			}
		})
	}
}

package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// benchFleet starts n servers, all bound to "all.#", on a memory transport.
func benchFleet(b *testing.B, n int) *app.Client {
	b.Helper()
	tr := testkit.MemoryTransport(b)
	var cfgs []app.ServerConfig
	for i := range n {
		cfgs = append(cfgs, app.ServerConfig{Name: fmt.Sprintf("s%03d", i), Concurrency: 4})
	}
	f := app.NewFleet(tr, cfgs, quiet)
	testkit.Start(b, f, 0)
	return app.NewClient(tr, app.ClientConfig{Timeout: time.Minute}, quiet)
}

func runCalls(b *testing.B, c *app.Client, target string, want int) {
	b.Helper()
	runCallsCtx(b, context.Background(), c, target, want)
}

func runCallsCtx(b *testing.B, ctx context.Context, c *app.Client, target string, want int) {
	b.Helper()
	cmd := domain.Command{Name: "echo", Args: "hello"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call, err := c.Call(ctx, target, cmd)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, ok := call.Next(); ok; _, ok = call.Next() {
			n++
		}
		if n != want {
			b.Fatalf("%d replies, want %d", n, want)
		}
	}
}

// BenchmarkMemoryCall is one call to one server and its reply, through the
// public client: the in-memory round trip.
func BenchmarkMemoryCall(b *testing.B) {
	c := benchFleet(b, 1)
	runCalls(b, c, "s000", 1)
}

// BenchmarkMemoryCallContext is BenchmarkMemoryCall with a context that can
// end (its own deadline), as callers with a timeout have: Next waits on the
// context too.
func BenchmarkMemoryCallContext(b *testing.B) {
	c := benchFleet(b, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	runCallsCtx(b, ctx, c, "s000", 1)
}

// BenchmarkMemoryFanOut is one call to every server and all replies aggregated.
func BenchmarkMemoryFanOut(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			c := benchFleet(b, n)
			runCalls(b, c, "all", n)
		})
	}
}

// BenchmarkMemoryCallParallel is many callers at once on one server.
func BenchmarkMemoryCallParallel(b *testing.B) {
	c := benchFleet(b, 1)
	cmd := domain.Command{Name: "echo", Args: "hello"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call, err := c.Call(context.Background(), "s000", cmd)
			if err != nil {
				b.Error(err)
				return
			}
			for _, ok := call.Next(); ok; _, ok = call.Next() {
			}
		}
	})
}

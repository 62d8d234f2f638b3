package amqp_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/ports"
)

// benchSink hands replies to the waiting benchmark goroutine.
type benchSink chan domain.Reply

func (s benchSink) Deliver(r domain.Reply) { s <- r }

// roundTrip sends one request to s1 and waits for its result.
func roundTrip(b *testing.B, cli *amqp.Transport, sink benchSink, id string) {
	now := time.Now()
	req := &domain.Request{ID: id, Target: "s1", Command: domain.Command{Name: "echo", Args: "hello"},
		Sent: now, Deadline: now.Add(10 * time.Second)}
	if err := cli.Send(context.Background(), req, sink); err != nil {
		b.Fatal(err)
	}
	select {
	case <-sink:
	case <-time.After(10 * time.Second):
		b.Fatal("no reply")
	}
	cli.Forget(id)
}

func benchSetup(b *testing.B, mode amqp.ReplyMode) *amqp.Transport {
	e := newEnv(b)
	srv, cli := e.Transport(b), e.Transport(b, withReplyMode(mode))
	e.Serve(b, srv, ports.Endpoint{Name: "s1", Bindings: []string{"s1"}, Concurrency: 64}, echo("s1"))
	return cli
}

// BenchmarkRoundTrip measures one call at a time: Send, the server's echo
// reply, Forget. Its sub-benchmarks compare the reply modes.
func BenchmarkRoundTrip(b *testing.B) {
	for _, mode := range replyModes {
		b.Run(mode.String(), func(b *testing.B) {
			cli := benchSetup(b, mode)
			sink := make(benchSink, 1)
			var n int
			b.ReportAllocs()
			for b.Loop() {
				n++
				roundTrip(b, cli, sink, "bench-"+strconv.Itoa(n))
			}
		})
	}
}

// BenchmarkRoundTripInFlight keeps 16 or 64 calls in flight on one Transport.
func BenchmarkRoundTripInFlight(b *testing.B) {
	for _, mode := range replyModes {
		for _, inflight := range []int{16, 64} {
			b.Run(fmt.Sprintf("%s/inflight=%d", mode, inflight), func(b *testing.B) {
				cli := benchSetup(b, mode)
				var n atomic.Int64
				b.ReportAllocs()
				b.SetParallelism((inflight + 1) / 2) // × GOMAXPROCS goroutines
				b.RunParallel(func(pb *testing.PB) {
					sink := make(benchSink, 1)
					for pb.Next() {
						roundTrip(b, cli, sink, "bench-"+strconv.FormatInt(n.Add(1), 10))
					}
				})
			})
		}
	}
}

// BenchmarkNew measures connecting and setting up, what a one-shot CLI call
// pays before it can send: the reply queue costs a declare and a consume.
func BenchmarkNew(b *testing.B) {
	for _, mode := range replyModes {
		b.Run(mode.String(), func(b *testing.B) {
			e := newEnv(b)
			cfg := e.Config()
			cfg.ReplyMode = mode
			b.ReportAllocs()
			for b.Loop() {
				tr, err := amqp.New(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := tr.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

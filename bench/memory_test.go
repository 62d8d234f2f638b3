package bench_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// memFleet starts n servers (s000, s001, …; bindings all.# and <name>.#) on
// a fresh memory transport and returns a client on it.
func memFleet(b *testing.B, n, concurrency int) *app.Client {
	b.Helper()
	tr := testkit.MemoryTransport(b)
	var cfgs []app.ServerConfig
	for i := range n {
		cfgs = append(cfgs, app.ServerConfig{Name: fmt.Sprintf("s%03d", i), Concurrency: concurrency})
	}
	f := app.NewFleet(tr, cfgs, quiet)
	testkit.Start(b, f, 0)
	return app.NewClient(tr, app.ClientConfig{Timeout: callTimeout}, quiet)
}

// chanRequest is the hand-written in-process request: an argument and
// where to answer.
type chanRequest struct {
	id    uint64
	args  string
	reply chan<- chanReply
}

type chanReply struct {
	id     uint64
	server int
	result string
}

// chanServers starts n hand-written servers, each a request channel read by
// workers goroutines, answering with the args; stop ends them.
func chanServers(b *testing.B, n, workers int) []chan chanRequest {
	servers := make([]chan chanRequest, n)
	for i := range servers {
		servers[i] = make(chan chanRequest, workers)
		for range workers {
			go func() {
				for r := range servers[i] {
					r.reply <- chanReply{id: r.id, server: i, result: r.args}
				}
			}()
		}
	}
	b.Cleanup(func() {
		for _, s := range servers {
			close(s)
		}
	})
	return servers
}

// BenchmarkMemoryRPC is one call to one server in process: impl=baseline is
// a Go channel ping-pong (request on the server's channel, reply on the
// caller's), impl=topicrpc is app.Client and app.Server on adapters/memory.
// inflight=1 is the round trip; inflight=64 is pipelined throughput, 64
// callers at once on a server with 64 workers.
func BenchmarkMemoryRPC(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			pair(b,
				func(b *testing.B) {
					srv := chanServers(b, 1, inflight)[0]
					reply := make(chan chan chanReply, inflight)
					for range inflight {
						reply <- make(chan chanReply, 1)
					}
					runLoad(b, inflight, 0, func() error {
						r := <-reply
						srv <- chanRequest{args: "hello", reply: r}
						<-r
						reply <- r
						return nil
					})
				},
				func(b *testing.B) {
					c := memFleet(b, 1, inflight)
					runLoad(b, inflight, 0, callOp(c, "s000", 1))
				})
		})
	}
}

// BenchmarkMemoryFanOut is one call reaching 100 servers in process, every
// reply collected: impl=baseline sends the request to 100 server channels
// and counts 100 replies on its own; impl=topicrpc is app.Client.Call("all")
// on 100 app.Servers on adapters/memory.
func BenchmarkMemoryFanOut(b *testing.B) {
	const n = 100
	b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
		pair(b,
			func(b *testing.B) {
				servers := chanServers(b, n, 1)
				reply := make(chan chanReply, n)
				var id uint64
				runLoad(b, 1, 0, func() error {
					id++
					for _, s := range servers {
						s <- chanRequest{id: id, args: "hello", reply: reply}
					}
					for range n {
						if r := <-reply; r.id != id {
							return fmt.Errorf("reply to call %d during call %d", r.id, id)
						}
					}
					return nil
				})
			},
			func(b *testing.B) {
				c := memFleet(b, n, 1)
				runLoad(b, 1, 0, callOp(c, "all", n))
			})
	})
}

// BenchmarkMemoryServers starts 1,000 and 2,000 app.Servers (one queue, two
// bindings, two work groups, presence each) on one memory transport and
// reports what each costs: live heap and goroutine stacks after a full GC
// (B/server, MB total), goroutines/server and the time to start one
// (start-ns/server); in round 1, also the CPU they use while idle
// (idle-cpu-%, of one core, over one heartbeat interval). The timed op is a
// call to all of them.
func BenchmarkMemoryServers(b *testing.B) {
	for _, n := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			before, goroutines := heapAndStacks(), runtime.NumGoroutine()
			t0 := time.Now()
			c := memFleet(b, n, 1)
			start := time.Since(t0)
			after := heapAndStacks()
			g := runtime.NumGoroutine() - goroutines
			idle := func(*testing.B) {}
			if round() == 1 {
				idle = idleCPU(0)
			}
			runLoad(b, 1, 0, callOp(c, "all", n))
			idle(b)
			b.ReportMetric(float64(after-before)/float64(n), "B/server")
			b.ReportMetric(float64(after-before)/(1<<20), "MB")
			b.ReportMetric(float64(g)/float64(n), "goroutines/server")
			b.ReportMetric(float64(start.Nanoseconds())/float64(n), "start-ns/server")
		})
	}
}

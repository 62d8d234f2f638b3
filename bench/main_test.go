package bench_test

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/bench"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// envRound says which pass of make bench this is: 1, 2, … The broker comes
// from testkit.EnvAMQPURL and testkit.EnvManagementURL.
const envRound = "BENCH_ROUND"

var quiet = slog.New(slog.DiscardHandler)

// TestMain prints, before the benchmarks, the facts the report needs as
// benchstat configuration lines ("key: value").
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		printConfig()
	}
	os.Exit(m.Run())
}

func printConfig() {
	fmt.Printf("go: %s\n", runtime.Version())
	fmt.Printf("cores: %d\n", runtime.NumCPU())
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/rabbitmq/amqp091-go" {
				fmt.Printf("amqp091-go: %s\n", d.Version)
			}
		}
	}
	url := os.Getenv(testkit.EnvAMQPURL)
	if url == "" {
		return
	}
	// A node just started may not tell its process id yet (broker-cpu-ns/op).
	for i := 0; i < 20 && os.Getenv(testkit.EnvManagementURL) != "" && brokerPID() == 0; i++ {
		time.Sleep(500 * time.Millisecond)
	}
	conn, err := amqp091.DialConfig(url, amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", testkit.EnvAMQPURL, err)
		return
	}
	defer conn.Close()
	for _, k := range []string{"product", "version", "platform"} {
		if v, ok := conn.Properties[k].(string); ok && v != "" {
			key := "rabbitmq"
			if k != "version" {
				key += "-" + k
			}
			fmt.Printf("%s: %s\n", key, v)
		}
	}
}

// round returns which pass of make bench this is; 1 when not told.
func round() int {
	n, err := strconv.Atoi(os.Getenv(envRound))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// side is one implementation of a workload: impl=<name>.
type side struct {
	name string
	run  func(*testing.B)
}

// sides runs the implementations of one workload back to back, as
// sub-benchmarks impl=<name>, so that noise hits them alike. Even rounds run
// them in reverse order, so that none always goes first.
func sides(b *testing.B, impls ...side) {
	for i := range impls {
		x := impls[i]
		if round()%2 == 0 {
			x = impls[len(impls)-1-i]
		}
		b.Run("impl="+x.name, x.run)
	}
}

// pair runs a baseline and topicrpc: impl=baseline and impl=topicrpc.
func pair(b *testing.B, baseline, topicrpc func(*testing.B)) {
	sides(b, side{"baseline", baseline}, side{"topicrpc", topicrpc})
}

// measure says what runLoad reports besides ns/op and calls/s.
type measure uint8

const (
	latencies measure = 1 << iota // p50-ns and p99-ns of every op (two clock readings per op)
	brokerCPU                     // broker-cpu-ns/op: the local broker's CPU time per op
)

// runLoad runs op b.N times from inflight goroutines and reports calls/s
// and cpu-ns/op, the CPU time of this process (callers and servers alike)
// per op; with latencies, also the p50 and p99 of every op's duration
// (p50-ns, p99-ns, from a bench.Histogram); with brokerCPU, the broker's
// CPU time per op. ns/op is wall time per op, so with several in flight it
// is 1/throughput, not a latency.
func runLoad(b *testing.B, inflight int, m measure, op func() error) {
	b.Helper()
	b.ReportAllocs()
	h := new(bench.Histogram)
	timed := m&latencies != 0
	beam := 0
	if m&brokerCPU != 0 {
		beam = brokerPID()
	}
	cpu0, beam0 := processCPU(), procCPU(beam)
	if inflight == 1 {
		// b.Loop runs this function once, so setup done by the caller
		// (a fleet of servers, say) is done once too.
		for b.Loop() {
			var t0 time.Time
			if timed {
				t0 = time.Now()
			}
			if err := op(); err != nil {
				b.Fatal(err)
			}
			if timed {
				h.Record(time.Since(t0))
			}
		}
	} else {
		var next atomic.Int64
		var failed atomic.Bool
		n := int64(b.N)
		b.ResetTimer()
		var wg sync.WaitGroup
		for range min(inflight, b.N) {
			wg.Go(func() {
				for next.Add(1) <= n && !failed.Load() {
					var t0 time.Time
					if timed {
						t0 = time.Now()
					}
					if err := op(); err != nil {
						if failed.CompareAndSwap(false, true) {
							b.Error(err)
						}
						return
					}
					if timed {
						h.Record(time.Since(t0))
					}
				}
			})
		}
		wg.Wait()
		if failed.Load() {
			return
		}
	}
	b.StopTimer()
	cpu, beamCPU := processCPU()-cpu0, procCPU(beam)-beam0
	if timed {
		b.ReportMetric(float64(h.Quantile(0.50)), "p50-ns")
		b.ReportMetric(float64(h.Quantile(0.99)), "p99-ns")
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "calls/s")
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	if beam != 0 {
		b.ReportMetric(float64(beamCPU)/float64(b.N), "broker-cpu-ns/op")
	}
}

// idleWindow is how long the scale benchmarks watch idle servers: one
// heartbeat interval (app.DefaultHeartbeatInterval).
const idleWindow = 5 * time.Second

// idleCPU measures the CPU this process, and the broker when beam is not 0,
// spend over idleWindow while nothing is called, and returns the function
// that reports it as idle-cpu-% and broker-idle-cpu-% (percent of one core).
// Call that after the timed loop: b.ResetTimer drops metrics reported before.
func idleCPU(beam int) (report func(*testing.B)) {
	cpu0, beam0, t0 := processCPU(), procCPU(beam), time.Now()
	time.Sleep(idleWindow)
	wall := time.Since(t0).Seconds()
	cpu, beamCPU := processCPU()-cpu0, procCPU(beam)-beam0
	return func(b *testing.B) {
		b.ReportMetric(100*cpu.Seconds()/wall, "idle-cpu-%")
		if beam != 0 {
			b.ReportMetric(100*beamCPU.Seconds()/wall, "broker-idle-cpu-%")
		}
	}
}

// heapAndStacks returns the bytes of live heap and goroutine stacks after a
// full collection: what a set of running objects costs.
func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

package bench_test

import (
	"fmt"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// BenchmarkScaleAMQP starts 200 app.Servers with the defaults on one
// amqp.Transport (one connection) and reports what they cost: live heap and
// stacks in this process (B/server, MB), goroutines/server, channels on the
// connection (channels, from the management API), the broker's memory
// (broker-MB, its own accounting, before and after), the time to start one
// (start-ns/server), and the CPU this process and the broker use while the
// servers are idle (idle-cpu-%, broker-idle-cpu-%: percent of one core over
// one heartbeat interval). The timed op is a call reaching all 200. It runs
// in the first round of make bench only: it takes a while.
func BenchmarkScaleAMQP(b *testing.B) {
	br := needBroker(b)
	if round() > 1 {
		b.Skip("runs in round 1 only")
	}
	const n = 200
	b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
		ns := namespace(b, br, "scale")
		brokerBefore := brokerMemory(br)
		before, goroutines := heapAndStacks(), runtime.NumGoroutine()
		var cfgs []app.ServerConfig
		for i := range n {
			cfgs = append(cfgs, app.ServerConfig{Name: fmt.Sprintf("s%03d", i)})
		}
		t0 := time.Now()
		startFleet(b, ns, cfgs)
		start := time.Since(t0)
		after := heapAndStacks()
		g := runtime.NumGoroutine() - goroutines
		channels := connectionChannels(br, ns.Exchange)
		brokerAfter := brokerMemory(br)
		client := newClient(b, ns, app.ClientConfig{}, fastRoutes(ns))
		idle := idleCPU(brokerPID())
		runLoad(b, 1, latencies|brokerCPU, callOp(client, "all", n))
		idle(b)
		b.ReportMetric(float64(after-before)/n, "B/server")
		b.ReportMetric(float64(after-before)/(1<<20), "MB")
		b.ReportMetric(float64(g)/n, "goroutines/server")
		b.ReportMetric(float64(start.Nanoseconds())/n, "start-ns/server")
		if channels > 0 {
			b.ReportMetric(float64(channels), "channels")
		}
		if brokerBefore > 0 && brokerAfter > 0 {
			b.ReportMetric(float64(brokerAfter-brokerBefore)/(1<<20), "broker-MB")
		}
	})
}

// connectionChannels returns the channels the management API counts on the
// connection named name, waiting up to 15 s for its statistics (refreshed
// every 5 s) to settle; 0 when it cannot tell.
func connectionChannels(br testkit.Broker, name string) int {
	if br.ManagementURL == "" {
		return 0
	}
	last, same := -1, 0
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		var conns []struct {
			Channels int `json:"channels"`
		}
		q := url.Values{"columns": {"name,channels"}, "name": {name}}
		if err := getJSON(br.ManagementURL+"/api/connections?"+q.Encode(), &conns); err != nil || len(conns) == 0 {
			continue
		}
		c := 0
		for _, x := range conns {
			c += x.Channels
		}
		if c == last && c > 0 {
			if same++; same >= 5 {
				return c
			}
		} else {
			last, same = c, 0
		}
	}
	return max(last, 0)
}

// brokerMemory returns the memory the broker says it uses, or 0.
func brokerMemory(br testkit.Broker) int64 {
	if br.ManagementURL == "" {
		return 0
	}
	var nodes []struct {
		MemUsed int64 `json:"mem_used"`
	}
	if err := getJSON(br.ManagementURL+"/api/nodes?columns=mem_used", &nodes); err != nil || len(nodes) != 1 {
		return 0
	}
	return nodes[0].MemUsed
}

package bench_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

// The cluster benchmarks run on a RabbitMQ cluster the environment names
// (make cluster prints these): its nodes' AMQP URLs, comma-separated, and
// one node's management API. make bench does not start one: they skip
// without it.
const (
	envClusterURLs = "TOPICRPC_TEST_CLUSTER_URLS"
	envClusterAPI  = "TOPICRPC_TEST_CLUSTER_MANAGEMENT_URL"
)

// clusterServers is the fleet BenchmarkClusterFanOut starts.
const clusterServers = 1000

// BenchmarkClusterFanOut starts 1,000 app.Servers with the defaults spread
// evenly over the nodes of a cluster (two connections per node, each
// given every node from its own first: OrderedURLs), and a client on node
// 1; the timed op is a call to all of them, told who should answer by the
// register. It reports p50 and p99 of that call, the time to start the
// fleet (start-s), and the cluster's memory, all nodes together, before
// and after the fleet started, per server (broker-KB/server; each server
// has a transient classic queue, a quorum work queue of its own name, and
// consumes the shared quorum work queue "all"; work=none: servers that
// take no load-balanced requests, so without the quorum queues). Run one
// at a time (each takes minutes) with
//
//	eval "$(scripts/cluster.sh start)"
//	go test -run '^$' -bench 'ClusterFanOut/work=default' -benchtime 30x -timeout 30m ./bench
func BenchmarkClusterFanOut(b *testing.B) {
	urls := amqp.SplitURLs(os.Getenv(envClusterURLs))
	api := os.Getenv(envClusterAPI)
	if len(urls) < 2 || api == "" {
		b.Skipf("no cluster: set %s and %s (make cluster prints them)", envClusterURLs, envClusterAPI)
	}
	b.Run("work=default", func(b *testing.B) { clusterFanOut(b, urls, api, false) })
	b.Run("work=none", func(b *testing.B) { clusterFanOut(b, urls, api, true) })
}

func clusterFanOut(b *testing.B, urls []string, api string, noWork bool) {
	br := testkit.Broker{URL: urls[0], ManagementURL: api}
	ns := namespace(b, br, "cluster")
	const perNode = 2
	on := func(node int) func(*amqp.Config) {
		return func(c *amqp.Config) {
			c.URL, c.URLs, c.OrderedURLs = "", slices.Concat(urls[node:], urls[:node]), true
			c.ConnectionName = ns.Exchange
		}
	}
	memBefore := clusterMemory(api)
	var trs []*amqp.Transport
	for i := range len(urls) * perNode {
		trs = append(trs, ns.Transport(b, on(i%len(urls))))
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clusterServers)
	sem := make(chan struct{}, 16)
	ns.Track("work.all")
	for i := range clusterServers {
		name := fmt.Sprintf("s%04d", i)
		ns.Track(name)
		ns.Track("work." + name)
		s := app.NewServer(trs[i%len(trs)], app.ServerConfig{Name: name, NoWorkGroups: noWork}, quiet)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := s.Start(testkit.Context(b, 5*time.Minute)); err != nil {
				errs <- fmt.Errorf("start %s: %w", name, err)
			}
		})
		b.Cleanup(func() { _ = s.Stop(testkit.Context(b, 30*time.Second)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	start := time.Since(t0)
	time.Sleep(6 * time.Second) // the management API's memory figures lag by a few seconds
	memAfter := clusterMemory(api)
	client := newClient(b, ns, app.ClientConfig{}, on(0))
	if err := callOp(client, "all", clusterServers)(); err != nil { // warm: the register read once
		b.Fatal(err)
	}
	runLoad(b, 1, latencies, callOp(client, "all", clusterServers))
	b.ReportMetric(start.Seconds(), "start-s")
	if memBefore > 0 && memAfter > 0 {
		b.ReportMetric(float64(memAfter-memBefore)/clusterServers/1024, "broker-KB/server")
		b.ReportMetric(float64(memAfter)/(1<<20), "broker-MB")
	}
}

// clusterMemory returns the memory all nodes of the cluster say they use,
// together, or 0.
func clusterMemory(api string) int64 {
	var nodes []struct {
		Name    string `json:"name"`
		MemUsed int64  `json:"mem_used"`
	}
	if err := getJSON(strings.TrimRight(api, "/")+"/api/nodes?columns=name,mem_used", &nodes); err != nil {
		return 0
	}
	var sum int64
	for _, n := range nodes {
		sum += n.MemUsed
	}
	return sum
}

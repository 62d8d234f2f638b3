package main

import (
	"fmt"
	"math"
	"strings"
)

// bound is a target on a value: at most (or, with atLeast, at least) limit.
type bound struct {
	limit   float64
	atLeast bool
}

// margin is how far v is on the right side of b: above 1 the target is met
// with that factor to spare, below 1 it is missed by its inverse.
func (b bound) margin(v float64) float64 {
	if b.atLeast {
		return v / b.limit
	}
	return b.limit / v
}

// row is one line of the comparison table: a metric of the baseline and
// topicrpc sides of one workload, and the targets it has.
type row struct {
	workload string
	unit     string
	base     string // benchmark of the baseline side; "" when there is none
	topi     string // benchmark of the topicrpc side
	speedup  bool   // the ratio is base/topi (how many times faster topicrpc is)
	ratio    *bound // target on the ratio
	abs      *bound // target on topicrpc's value
}

func atMost(x float64) *bound  { return &bound{limit: x} }
func atLeast(x float64) *bound { return &bound{limit: x, atLeast: true} }

type section struct {
	title string
	note  string
	rows  []row
}

// pairRows names a workload's baseline and topicrpc benchmarks, which are
// <name>/impl=baseline and <name>/impl=topicrpc.
func pairRow(workload, name, unit string, ratio, abs *bound) row {
	return row{workload: workload, unit: unit, base: name + "/impl=baseline", topi: name + "/impl=topicrpc", ratio: ratio, abs: abs}
}

// sections is the report: the targets, in its order.
func sections() []section {
	rpc := "bench/RPC/inflight="
	fan := "bench/FanOut/servers="
	disc := "bench/RPCDiscovery/path="
	oneAtATime := rpc + "1/impl=baseline"
	return []section{
		{
			title: "RabbitMQ: request/reply",
			note: "Baseline: RabbitMQ's tutorial RPC on amqp091-go with direct reply-to. topicrpc: app.Client and " +
				"app.Server on adapters/amqp, the client reading who should answer from the management API at most " +
				"once a second (amqp.Config.RoutesTTL = 1s). One server, 64 requests at a time on either side.",
			rows: []row{
				pairRow("one at a time", rpc+"1", "p50-ns", atMost(1.15), nil),
				pairRow("one at a time", rpc+"1", "p99-ns", nil, nil),
				pairRow("one at a time", rpc+"1", "calls/s", nil, nil),
				pairRow("16 in flight", rpc+"16", "calls/s", atLeast(0.9), nil),
				pairRow("16 in flight", rpc+"16", "p50-ns", nil, nil),
				pairRow("64 in flight", rpc+"64", "calls/s", atLeast(0.9), nil),
				pairRow("64 in flight", rpc+"64", "p50-ns", nil, nil),
			},
		},
		{
			title: "RabbitMQ: other ways to know who should answer, one call at a time",
			note: "Each against the baseline above. routes-per-call: the management API read for every call " +
				"(RoutesTTL 0, the CLI with --management-url); roster: presence, no management API (the CLI's " +
				"default without one); servers-option: the caller names the server (app.Servers); oneshot: " +
				"connect, call, close, as one CLI invocation with --management-url does, minus process start.",
			rows: []row{
				{workload: "routes-per-call", unit: "p50-ns", base: oneAtATime, topi: disc + "routes-per-call"},
				{workload: "roster", unit: "p50-ns", base: oneAtATime, topi: disc + "roster"},
				{workload: "servers-option", unit: "p50-ns", base: oneAtATime, topi: disc + "servers-option"},
				{workload: "oneshot", unit: "p50-ns", base: oneAtATime, topi: disc + "oneshot"},
			},
		},
		{
			title: "RabbitMQ: fan-out, one call to N servers, until every reply is in",
			note: "Baseline: amqp091-go by hand, a topic exchange and one queue per server bound with all.#, " +
				"each consumed on its own channel (prefetch 1). topicrpc: one app.Server per queue with the " +
				"defaults, all on one connection; the client as above. Each side's servers exist only while it runs.",
			rows: []row{
				pairRow("1 server", fan+"1", "p50-ns", nil, nil),
				pairRow("1 server", fan+"1", "p99-ns", nil, nil),
				pairRow("10 servers", fan+"10", "p50-ns", nil, nil),
				pairRow("10 servers", fan+"10", "p99-ns", nil, nil),
				pairRow("100 servers", fan+"100", "p50-ns", atMost(1.2), atMost(10e6)),
				pairRow("100 servers", fan+"100", "p99-ns", nil, atMost(25e6)),
			},
		},
		{
			title: "In memory (adapters/memory)",
			note: "Baseline: Go channels by hand (a request channel per server, a reply channel per caller). " +
				"topicrpc: app.Client and app.Server on adapters/memory.",
			rows: []row{
				pairRow("round trip", "bench/MemoryRPC/inflight=1", "ns/op", nil, atMost(2000)),
				pairRow("64 callers (pipelined)", "bench/MemoryRPC/inflight=64", "calls/s", nil, nil),
				pairRow("fan-out to 100", "bench/MemoryFanOut/servers=100", "ns/op", nil, atMost(100e3)),
				{workload: "1,000 servers in one process", unit: "MB", topi: "bench/MemoryServers/servers=1000", abs: atMost(100)},
				{workload: "1,000 servers in one process", unit: "B/server", topi: "bench/MemoryServers/servers=1000"},
			},
		},
		{
			title: "Topic matching: domain.Index against matching every binding in turn",
			note:  "One routing key against N bindings (domain/topic_bench_test.go); the ratio is how many times faster the index is.",
			rows: []row{
				{workload: "10 bindings", unit: "ns/op", base: "domain/LinearMatch/bindings=10", topi: "domain/IndexMatch/bindings=10", speedup: true},
				{workload: "1,000 bindings", unit: "ns/op", base: "domain/LinearMatch/bindings=1000", topi: "domain/IndexMatch/bindings=1000", speedup: true},
				{workload: "100,000 bindings", unit: "ns/op", base: "domain/LinearMatch/bindings=100000", topi: "domain/IndexMatch/bindings=100000", speedup: true, ratio: atLeast(100)},
			},
		},
		{
			title: "Scale: many servers in one process",
			note: "200 app.Servers with the defaults on one amqp.Transport (one connection), and 2,000 on one " +
				"memory transport. Process memory is live heap plus goroutine stacks after a full GC; channels " +
				"and broker memory are the management API's figures; idle CPU is measured over one heartbeat " +
				"interval (5 s) with no calls, in round 1.",
			rows: []row{
				{workload: "200 AMQP servers: channels on the connection", unit: "channels", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: process memory", unit: "MB", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: per server", unit: "B/server", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: goroutines per server", unit: "goroutines/server", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: broker memory", unit: "broker-MB", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: start, per server", unit: "start-ns/server", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers, idle: CPU of this process", unit: "idle-cpu-%", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers, idle: CPU of the broker", unit: "broker-idle-cpu-%", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: call to all, p50", unit: "p50-ns", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "200 AMQP servers: call to all, p99", unit: "p99-ns", topi: "bench/ScaleAMQP/servers=200"},
				{workload: "2,000 memory servers: process memory", unit: "MB", topi: "bench/MemoryServers/servers=2000"},
				{workload: "2,000 memory servers: per server", unit: "B/server", topi: "bench/MemoryServers/servers=2000"},
				{workload: "2,000 memory servers: goroutines per server", unit: "goroutines/server", topi: "bench/MemoryServers/servers=2000"},
				{workload: "1,000 memory servers, idle: CPU", unit: "idle-cpu-%", topi: "bench/MemoryServers/servers=1000"},
				{workload: "2,000 memory servers, idle: CPU", unit: "idle-cpu-%", topi: "bench/MemoryServers/servers=2000"},
				{workload: "2,000 memory servers: call to all", unit: "ns/op", topi: "bench/MemoryServers/servers=2000"},
			},
		},
		{
			title: "Results store (jobs): a call kept as a job, and topicrpc jobs",
			note: "Baseline: a call not recorded (app.ClientConfig.Record false, the library's default); topicrpc: " +
				"the same call recorded (the CLI's default, --record): its record stored before the request goes out " +
				"(so that every reply of a job is stored after it), the server's result stored after it is sent. " +
				"jobs: 100,000 stored replies (50,000 jobs of two servers, each caller's record first, written 32 jobs " +
				"at a time, so group-committed); jobs lists the newest 20 (the store read back from its end), " +
				"jobs --limit 0 all 50,000 (the whole store read), job ID the newest job.",
			rows: []row{
				storeRow("one at a time", "bench/RPCStore/inflight=1", "p50-ns"),
				storeRow("one at a time", "bench/RPCStore/inflight=1", "cpu-ns/op"),
				storeRow("64 in flight", "bench/RPCStore/inflight=64", "calls/s"),
				storeRow("in memory, one at a time", "bench/MemoryRPCStore/inflight=1", "ns/op"),
				{workload: "jobs over 100,000 stored replies, RabbitMQ", unit: "ns/op", topi: "bench/JobsList/store=amqp/read=newest", abs: atMost(1e9)},
				{workload: "jobs over 100,000 stored replies, RabbitMQ", unit: "cpu-ns/op", topi: "bench/JobsList/store=amqp/read=newest"},
				{workload: "jobs over 100,000 stored replies, RabbitMQ", unit: "broker-cpu-ns/op", topi: "bench/JobsList/store=amqp/read=newest"},
				{workload: "jobs over 100,000 stored replies, in memory", unit: "ns/op", topi: "bench/JobsList/store=memory/read=newest", abs: atMost(1e9)},
				{workload: "job ID (the newest) over 100,000 stored replies, RabbitMQ", unit: "ns/op", topi: "bench/JobsList/store=amqp/read=job", abs: atMost(1e9)},
				{workload: "jobs --limit 0 (all 50,000) over 100,000 stored replies, RabbitMQ", unit: "ns/op", topi: "bench/JobsList/store=amqp/read=whole"},
				{workload: "jobs --limit 0 (all 50,000) over 100,000 stored replies, RabbitMQ", unit: "broker-cpu-ns/op", topi: "bench/JobsList/store=amqp/read=whole"},
				{workload: "jobs --limit 0 (all 50,000) over 100,000 stored replies, in memory", unit: "ns/op", topi: "bench/JobsList/store=memory/read=whole"},
			},
		},
	}
}

// storeRow compares a call recorded as a job with the same call not.
func storeRow(workload, name, unit string) row {
	return row{workload: workload, unit: unit, base: name + "/impl=plain", topi: name + "/impl=recorded"}
}

// cpuRows are the RabbitMQ workloads whose CPU cost per call the report
// breaks down.
func cpuRows() []row {
	var rows []row
	for _, w := range []struct{ workload, name string }{
		{"one at a time", "bench/RPC/inflight=1"},
		{"16 in flight", "bench/RPC/inflight=16"},
		{"64 in flight", "bench/RPC/inflight=64"},
		{"fan-out to 1", "bench/FanOut/servers=1"},
		{"fan-out to 10", "bench/FanOut/servers=10"},
		{"fan-out to 100", "bench/FanOut/servers=100"},
	} {
		rows = append(rows, pairRow(w.workload, w.name, "", nil, nil))
	}
	return rows
}

// gapRows are the RabbitMQ workloads split into protocol and code costs.
func gapRows() []row {
	rpc, fan := "bench/RPC/inflight=", "bench/FanOut/servers="
	return []row{
		pairRow("one at a time", rpc+"1", "p50-ns", nil, nil),
		pairRow("16 in flight", rpc+"16", "calls/s", nil, nil),
		pairRow("64 in flight", rpc+"64", "calls/s", nil, nil),
		pairRow("fan-out to 1", fan+"1", "p50-ns", nil, nil),
		pairRow("fan-out to 10", fan+"10", "p50-ns", nil, nil),
		pairRow("fan-out to 100", fan+"100", "p50-ns", nil, nil),
	}
}

// format renders v, measured in unit, for people.
func format(v float64, unit string) string {
	switch {
	case strings.HasSuffix(unit, "ns/op") || strings.HasSuffix(unit, "-ns") || strings.HasPrefix(unit, "start-ns"):
		return formatNs(v)
	case unit == "calls/s":
		if v >= 1e6 {
			return fmt.Sprintf("%.2fM/s", v/1e6)
		}
		if v >= 1000 {
			return fmt.Sprintf("%.2fk/s", v/1000)
		}
		return fmt.Sprintf("%.0f/s", v)
	case strings.HasSuffix(unit, "cpu-%"):
		return fmt.Sprintf("%.0f%% of a core", v)
	case unit == "MB" || unit == "broker-MB":
		return fmt.Sprintf("%.1f MB", v)
	case unit == "B/server" || unit == "B/op":
		if v >= 1024 {
			return fmt.Sprintf("%.1f KiB", v/1024)
		}
		return fmt.Sprintf("%.0f B", v)
	}
	return trimFloat(v)
}

func formatNs(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	}
	return fmt.Sprintf("%.3g s", ns/1e9)
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// metricName says what unit measures, for the table.
func metricName(unit string) string {
	switch unit {
	case "p50-ns":
		return "p50"
	case "p99-ns":
		return "p99"
	case "calls/s":
		return "throughput"
	case "ns/op":
		return "time/op"
	case "MB", "broker-MB":
		return "memory"
	case "B/server":
		return "memory/server"
	case "start-ns/server":
		return "start/server"
	case "idle-cpu-%", "broker-idle-cpu-%":
		return "CPU"
	}
	return unit
}

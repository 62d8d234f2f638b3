// Package bench measures topicrpc side by side with what a user would write
// by hand, in one process and on one broker, so that the ratios hold on a
// noisy machine.
//
// The benchmarks live in its tests; every comparison is one benchmark with
// an impl=baseline and an impl=topicrpc sub-benchmark that run back to back
// (and, on RabbitMQ, impl=protocol: the baseline speaking topicrpc's wire
// protocol, which tells the protocol's cost from the code's):
//
//	BenchmarkRPC/inflight=1/impl=baseline     the tutorial RPC on amqp091-go, direct reply-to
//	BenchmarkRPC/inflight=1/impl=protocol     the same, speaking topicrpc's protocol
//	BenchmarkRPC/inflight=1/impl=topicrpc     app.Client and app.Server on adapters/amqp
//	BenchmarkRPCDiscovery/path=…              topicrpc's other ways to know who should answer
//	BenchmarkFanOut/servers=N/impl=…          one call to N servers, every reply collected
//	BenchmarkScaleAMQP/servers=200            200 app.Servers in one process: channels, memory
//	BenchmarkMemoryRPC, BenchmarkMemoryFanOut Go channels by hand against adapters/memory
//	BenchmarkMemoryServers/servers=N          memory per in-process app.Server
//
// The AMQP ones need a broker in TOPICRPC_TEST_AMQP_URL (and its management
// API in TOPICRPC_TEST_MANAGEMENT_URL) and skip without one, or fail under
// TOPICRPC_REQUIRE_BROKER=1 (internal/testkit.EnvBroker); `make bench`
// starts a private RabbitMQ, runs them BENCHCOUNT times, alternating, and
// turns the output into docs/BENCHMARKS.md with `go run ./bench/cmd/report`.
// Latency benchmarks report p50-ns and p99-ns from a Histogram of every call,
// and calls/s; `benchstat -col /impl bench.out` compares the two sides.
package bench

package bench_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
	"github.com/topicrpc/topicrpc/app"
	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
)

var hello = []byte("hello")

// BenchmarkRPC is one server answering echo, called one at a time and with
// 16 and 64 calls in flight from one client.
//
// impl=baseline is RabbitMQ's tutorial RPC on amqp091-go: publish to the
// server's queue through the default exchange, reply-to
// amq.rabbitmq.reply-to, no publisher confirms; the server replies, then
// acks. impl=topicrpc is app.Client.Call and app.Server on adapters/amqp with
// the defaults, the client knowing who should answer from the management
// API's bindings read at most once a second (amqp.Config.RoutesTTL): every
// request goes to the topic exchange, mandatory and confirmed, and the
// server sends its result (echo is faster than app.DefaultAckDelay, so no
// separate ack reply). Both servers take 64 requests at
// a time (prefetch 64, 64 workers). impl=protocol is amqp091-go by hand
// speaking topicrpc's wire protocol (see rawClient): what the protocol
// costs, apart from topicrpc's code.
func BenchmarkRPC(b *testing.B) {
	br := needBroker(b)
	br.Management(b) // the topicrpc client needs it for its routes
	ns := namespace(b, br, "rpc")
	raw := newRawServers(b, br.URL)
	raw.serve(b, ns.Exchange+".baseline", "", nil, 64, false)
	rawc := newRawClient(b, br.URL, false)
	wire := wireExchange(b, br, namespace(b, br, "rpc-protocol").Exchange)
	raw.serve(b, wire+".s1", wire, []string{"all.#", "s1.#"}, 64, true)
	wirec := newRawClient(b, br.URL, true)
	startFleet(b, ns, []app.ServerConfig{{Name: "s1", Concurrency: 64}})
	client := newClient(b, ns, app.ClientConfig{}, fastRoutes(ns))
	baseline := func() error { return rawc.call("", ns.Exchange+".baseline", hello, 1) }
	protocol := func() error { return wirec.call(wire, "s1", hello, 1) }
	topicrpc := callOp(client, "s1", 1)
	for _, inflight := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			sides(b,
				side{"baseline", func(b *testing.B) { runLoad(b, inflight, latencies|brokerCPU, baseline) }},
				side{"protocol", func(b *testing.B) { runLoad(b, inflight, latencies|brokerCPU, protocol) }},
				side{"topicrpc", func(b *testing.B) { runLoad(b, inflight, latencies|brokerCPU, topicrpc) }})
		})
	}
}

// wireExchange declares topic exchange x for the protocol side: a
// namespace's exchange, deleted with it.
func wireExchange(b *testing.B, br testkit.Broker, x string) string {
	b.Helper()
	if err := amqptest.Channel(b, br.URL).ExchangeDeclare(x, amqp091.ExchangeTopic, false, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	return x
}

// BenchmarkRPCDiscovery is BenchmarkRPC's topicrpc side one call at a time,
// knowing who should answer in the other ways topicrpc offers:
//
//   - path=routes-per-call: the management API read for every call
//     (Config.RoutesTTL zero), what the CLI does with --management-url;
//   - path=roster: no management API; the client's app.Roster, kept from
//     the servers' presence, what the CLI does without one;
//   - path=servers-option: the caller names the server (app.Servers);
//   - path=oneshot: connect, call, close, as one CLI invocation
//     (topicrpc call --management-url …) does, minus process start.
func BenchmarkRPCDiscovery(b *testing.B) {
	br := needBroker(b)
	ns := namespace(b, br, "disc")
	startFleet(b, ns, []app.ServerConfig{{Name: "s1", Concurrency: 64}})
	run := func(path string, op func() error) {
		b.Run("path="+path, func(b *testing.B) { runLoad(b, 1, latencies|brokerCPU, op) })
	}
	if br.ManagementURL != "" {
		perCall := newClient(b, ns, app.ClientConfig{}, ns.WithManagement)
		run("routes-per-call", callOp(perCall, "s1", 1))
	}

	t := ns.Transport(b, named(ns))
	roster := app.NewRoster(t, nil, quiet)
	if err := roster.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer roster.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	roster.Settle(ctx, 150*time.Millisecond)
	cancel()
	run("roster", callOp(app.NewClient(t, app.ClientConfig{Timeout: callTimeout, Roster: roster}, quiet), "s1", 1))

	plain := newClient(b, ns, app.ClientConfig{})
	run("servers-option", callOp(plain, "s1", 1, app.Servers("s1")))

	if br.ManagementURL != "" {
		cfg := ns.Config()
		named(ns)(&cfg)
		ns.WithManagement(&cfg)
		run("oneshot", func() error {
			t, err := amqp.New(context.Background(), cfg)
			if err != nil {
				return err
			}
			defer t.Close()
			return callOp(app.NewClient(t, app.ClientConfig{Timeout: callTimeout}, quiet), "s1", 1)()
		})
	}
}

// BenchmarkFanOut is one call to "all" reaching 1, 10 or 100 servers, timed
// until every reply is in. impl=baseline is amqp091-go by hand: a topic
// exchange, one queue per server bound with "all.#", each consumed on its
// own channel (prefetch 1) by a consumer that replies; the caller publishes
// once and counts the replies with its correlation id. impl=topicrpc is one
// app.Server per queue with the defaults (bindings all.# and <name>.#, work
// groups, presence), all on one connection, and app.Client as in
// BenchmarkRPC; impl=protocol is the baseline speaking topicrpc's protocol.
func BenchmarkFanOut(b *testing.B) {
	br := needBroker(b)
	br.Management(b) // the topicrpc client needs it for its routes
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			// Each side's servers exist only while it runs: idle topicrpc
			// servers still announce their presence to each other.
			sides(b,
				side{"baseline", func(b *testing.B) {
					runLoad(b, 1, latencies|brokerCPU, rawFanOut(b, br, namespace(b, br, "fan-baseline").Exchange, n, false))
				}},
				side{"protocol", func(b *testing.B) {
					runLoad(b, 1, latencies|brokerCPU, rawFanOut(b, br, namespace(b, br, "fan-protocol").Exchange, n, true))
				}},
				side{"topicrpc", func(b *testing.B) {
					ns := namespace(b, br, "fan")
					var cfgs []app.ServerConfig
					for i := range n {
						cfgs = append(cfgs, app.ServerConfig{Name: fmt.Sprintf("s%03d", i)})
					}
					startFleet(b, ns, cfgs)
					client := newClient(b, ns, app.ClientConfig{}, fastRoutes(ns))
					// Let the broker deliver the servers' hellos to each other first.
					time.Sleep(time.Duration(n) * 5 * time.Millisecond)
					runLoad(b, 1, latencies|brokerCPU, callOp(client, "all", n))
				}})
		})
	}
}

// rawFanOut starts n hand-written servers behind a topic exchange named x,
// bound with all.# (and, with wire, <name>.# too, as topicrpc's are), and
// returns the op calling all of them.
func rawFanOut(b *testing.B, br testkit.Broker, x string, n int, wire bool) func() error {
	b.Helper()
	wireExchange(b, br, x)
	servers := newRawServers(b, br.URL)
	for i := range n {
		name := fmt.Sprintf("s%03d", i)
		bindings := []string{"all.#"}
		if wire {
			bindings = append(bindings, name+".#")
		}
		servers.serve(b, x+"."+name, x, bindings, 1, wire)
	}
	c := newRawClient(b, br.URL, wire)
	return func() error { return c.call(x, "all", hello, n) }
}

// BenchmarkRPCSigned is what signing costs on the call path, against the
// unsigned path measured in the same run: impl=unsigned is BenchmarkRPC's
// topicrpc side; impl=hmac the same with the fleet key
// (ClientConfig.AuthKey, ServerConfig.AuthKey): every request signed
// (HMAC-SHA256, a fresh nonce) and checked against the replay guard and the
// server's bindings, every reply signed and verified; impl=ed25519 the same
// with key pairs instead: the caller signs with its private key
// (ClientConfig.Identity) and the server checks it against the caller's
// public key (ServerConfig.CallerKeys), the server signs its replies with
// its own (ServerConfig.Identity) and the client verifies each one once
// against the server's public key (ClientConfig.ServerKeys).
func BenchmarkRPCSigned(b *testing.B) {
	br := needBroker(b)
	br.Management(b)
	key := []byte("bench-fleet-key-0123456789abcdef")
	caller, server := benchKey(b, "caller"), benchKey(b, "s1")
	plain, hmac, ed := namespace(b, br, "rpc-unsigned"), namespace(b, br, "rpc-hmac"), namespace(b, br, "rpc-ed25519")
	startFleet(b, plain, []app.ServerConfig{{Name: "s1", Concurrency: 64}})
	startFleet(b, hmac, []app.ServerConfig{{Name: "s1", Concurrency: 64, AuthKey: key}})
	startFleet(b, ed, []app.ServerConfig{{Name: "s1", Concurrency: 64, Identity: server,
		CallerKeys: domain.NewKeyring(caller.Public())}})
	unsigned := callOp(newClient(b, plain, app.ClientConfig{}, fastRoutes(plain)), "s1", 1)
	withKey := callOp(newClient(b, hmac, app.ClientConfig{AuthKey: key}, fastRoutes(hmac)), "s1", 1)
	withPair := callOp(newClient(b, ed, app.ClientConfig{Identity: caller, ServerKeys: domain.NewKeyring(server.Public())},
		fastRoutes(ed)), "s1", 1)
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			sides(b,
				side{"unsigned", func(b *testing.B) { runLoad(b, inflight, latencies, unsigned) }},
				side{"hmac", func(b *testing.B) { runLoad(b, inflight, latencies, withKey) }},
				side{"ed25519", func(b *testing.B) { runLoad(b, inflight, latencies, withPair) }})
		})
	}
}

func benchKey(b *testing.B, name string) *domain.PrivateKey {
	b.Helper()
	k, err := domain.GenerateKey(name, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return &k
}

// BenchmarkRPCBalanced measures the --any call path (app.Balanced: the
// group's work queue, two members) with and without the fleet key, side by
// side in one run: impl=unsigned runs each request as it comes; impl=hmac
// signs it and, on the server, claims its call id on the broker before
// running it (app's claimOnce, adapters/amqp/claims.go: one exclusive
// queue.declare), so that a re-published copy runs nowhere else. Compare
// the ratio with BenchmarkRPCSigned's, where hmac costs the signatures only.
func BenchmarkRPCBalanced(b *testing.B) {
	br := needBroker(b)
	br.Management(b)
	key := []byte("bench-fleet-key-0123456789abcdef")
	plain, hmac := namespace(b, br, "any-unsigned"), namespace(b, br, "any-hmac")
	member := func(name string, key []byte) app.ServerConfig {
		return app.ServerConfig{Name: name, Concurrency: 64, WorkGroups: []string{"g"}, AuthKey: key}
	}
	for _, ns := range []*amqptest.Namespace{plain, hmac} {
		ns.Track("work.g")
	}
	startFleet(b, plain, []app.ServerConfig{member("s1", nil), member("s2", nil)})
	startFleet(b, hmac, []app.ServerConfig{member("s1", key), member("s2", key)})
	unsigned := callOp(newClient(b, plain, app.ClientConfig{}, fastRoutes(plain)), "g", 1, app.Balanced())
	withKey := callOp(newClient(b, hmac, app.ClientConfig{AuthKey: key}, fastRoutes(hmac)), "g", 1, app.Balanced())
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			sides(b,
				side{"unsigned", func(b *testing.B) { runLoad(b, inflight, latencies, unsigned) }},
				side{"hmac", func(b *testing.B) { runLoad(b, inflight, latencies, withKey) }})
		})
	}
}

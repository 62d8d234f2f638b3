package amqp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/domain"
	"github.com/topicrpc/topicrpc/internal/amqptest"
	"github.com/topicrpc/topicrpc/internal/testkit"
	"github.com/topicrpc/topicrpc/ports"
)

// fillRegister registers n servers in groups of 100 (g0, g1, …), with the
// bindings and commands a real server has.
func fillRegister(tb testing.TB, reg ports.Register, n int) {
	tb.Helper()
	now := time.Now()
	err := reg.UpdateRegister(testkit.Context(tb, time.Minute), func(g *domain.Register) error {
		for i := range n {
			name := fmt.Sprintf("server-%05d", i)
			if err := g.Join(domain.Registration{Server: name, Queue: name,
				Bindings:   []string{"all.#", name + ".#", fmt.Sprintf("g%d.#", i/100)},
				WorkGroups: []string{"all", name, fmt.Sprintf("g%d", i/100)},
				Commands:   []string{"echo", "fib", "ping", "sleep"}, Version: "0.2.0",
				Host: fmt.Sprintf("host-%05d.example.net", i), PID: 10000 + i, Started: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRegisterDiscovery is what a one-shot call does to tell who should
// answer from the register: read it whole and match the target (a group of
// 100) against every server's bindings; then count the 100 servers'
// consumers. Reported: the register's size per registered server on the
// wire (gzip'd JSON).
func BenchmarkRegisterDiscovery(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			e := newEnv(b)
			e.Track("fleet.register")
			tr := e.Transport(b)
			fillRegister(b, tr, n)
			size := registerSize(b, e)
			b.Run("read+match", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					g, err := tr.ReadRegister(testkit.Context(b, time.Minute))
					if err != nil {
						b.Fatal(err)
					}
					if got := g.Reach("g0"); len(got) != min(n, 100) {
						b.Fatalf("g0 reaches %d", len(got))
					}
				}
				b.ReportMetric(float64(size)/float64(n), "wire-B/server")
			})
			b.Run("consumers-100", func(b *testing.B) {
				ch := amqptest.Channel(b, e.Broker.URL)
				queues := make([]string, min(n, 100))
				for i := range queues {
					queues[i] = fmt.Sprintf("server-%05d", i)
					e.Track(queues[i])
					if _, err := ch.QueueDeclare(e.Prefix+queues[i], true, false, false, false, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := tr.Consumers(testkit.Context(b, time.Minute), queues); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// registerSize returns the size of the register's message on the broker.
func registerSize(tb testing.TB, e *amqptest.Namespace) int {
	tb.Helper()
	ch := amqptest.Channel(tb, e.Broker.URL)
	d, ok, err := ch.Get(e.Prefix+"fleet.register", false)
	if err != nil || !ok {
		tb.Fatalf("get the register: %v (found %v)", err, ok)
	}
	defer func() { _ = d.Nack(false, true) }()
	return len(d.Body)
}

package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/adapters/memory"
	"github.com/topicrpc/topicrpc/domain"
)

// BenchmarkRegisterDiscovery is what a call does to tell who should answer
// from the register, in memory: read it (a copy) and match a target (a
// group of 100) against every server's bindings.
func BenchmarkRegisterDiscovery(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			tr := memory.New(memory.Config{})
			defer tr.Close()
			now := time.Now()
			err := tr.UpdateRegister(context.Background(), func(g *domain.Register) error {
				for i := range n {
					name := fmt.Sprintf("server-%05d", i)
					if err := g.Join(domain.Registration{Server: name, Queue: name,
						Bindings: []string{"all.#", name + ".#", fmt.Sprintf("g%d.#", i/100)}, Started: now}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				g, err := tr.ReadRegister(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if len(g.Reach("g0")) != min(n, 100) {
					b.Fatal("g0 reaches the wrong servers")
				}
			}
		})
	}
}

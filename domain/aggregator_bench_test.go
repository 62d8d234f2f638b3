package domain_test

import (
	"fmt"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

// BenchmarkAggregator is one call to n servers: arm, observe n results, finish.
func BenchmarkAggregator(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			names := make([]string, n)
			replies := make([]domain.Reply, n)
			for i := range names {
				names[i] = fmt.Sprintf("s%04d", i)
				replies[i] = domain.Reply{Server: names[i], Result: "ok"}
			}
			exp := domain.Expectation{Servers: names, Known: true}
			var a domain.Aggregator
			b.ReportAllocs()
			for b.Loop() {
				a.Reset(exp, t0, at(1000))
				for i := range replies {
					a.Observe(replies[len(replies)-1-i], at(1))
				}
				if a.Done(at(2)) != domain.DoneAllReplied {
					b.Fatal("not done")
				}
				a.Finish(at(2))
			}
		})
	}
}

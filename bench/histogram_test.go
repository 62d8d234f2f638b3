package bench_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/topicrpc/topicrpc/bench"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h bench.Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram: want 0")
	}
	r := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for range 100_000 {
		d := time.Duration(r.ExpFloat64() * float64(300*time.Microsecond))
		all = append(all, d)
		h.Record(d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := all[max(int(q*float64(len(all))+0.5), 1)-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.3f = %v, want %v within 2%%", q, got, want)
		}
	}
	if h.Count() != uint64(len(all)) {
		t.Errorf("Count = %d, want %d", h.Count(), len(all))
	}
}

func TestHistogramSmallAndHuge(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 1, 63, 64, 65, 1000, time.Second, time.Hour, 1<<63 - 1} {
		var h bench.Histogram
		h.Record(d)
		got := h.Quantile(0.5)
		if diff := float64(got-d) / float64(max(d, 1)); diff > 0.016 || diff < -0.016 {
			t.Errorf("Record(%d): median %d", d, got)
		}
	}
}

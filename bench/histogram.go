package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's resolution: 2^subBits buckets per power of
// two, so a quantile is off by at most 1/64 (1.6 %) of its value.
const subBits = 6

const (
	subCount = 1 << subBits
	nBuckets = (64-subBits)*subCount + subCount
)

// Histogram counts durations in log-linear buckets, HDR style: exact below
// 64 ns, then 64 buckets per power of two. Record is safe for concurrent use,
// allocates nothing and takes a few nanoseconds; the zero value is ready.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	total  atomic.Uint64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 // >= subBits
	sub := (v >> (e - subBits)) & (subCount - 1)
	return (e-subBits+1)*subCount + int(sub)
}

// bucketMid returns the middle of bucket i.
func bucketMid(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := i/subCount + subBits - 1
	sub := uint64(i % subCount)
	lo := (subCount + sub) << (e - subBits)
	return lo + (uint64(1)<<(e-subBits))/2
}

// Record counts one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))].Add(1)
	h.total.Add(1)
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Quantile returns the q-quantile (0 < q <= 1) of the recorded durations,
// or 0 when none were. Call it once recording is over.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return time.Duration(bucketMid(nBuckets - 1))
}

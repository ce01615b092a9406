// Package hist holds a histogram of durations with quantiles at a fixed
// memory cost: the freshness a run measures (package pipeline) and exposes
// (package metrics). It imports only the standard library.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in fixed log-linear buckets: exact
// microseconds below 256µs, then 128 buckets per power of two, so a
// quantile is known to within 0.4% (well under a millisecond below a
// quarter second) at a fixed memory cost, whatever the number of samples.
// It is safe for concurrent use; Observe is a few atomic operations.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	max    atomic.Int64 // nanoseconds
}

const (
	subBits     = 7
	subBuckets  = 1 << subBits // per power of two
	maxBits     = 40
	maxMicros   = 1<<(maxBits+1) - 1 // ~25 days: longer durations count here
	histBuckets = (maxBits-subBits)*subBuckets + 2*subBuckets
)

// bucket returns the index of the bucket of v microseconds.
func bucket(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	v = min(v, maxMicros)
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bounds returns the lowest value of bucket i and its width, in microseconds.
func bounds(i int) (low, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	m := uint64(i - shift*subBuckets)
	return m << shift, 1 << shift
}

// Observe counts one duration; negative ones count as 0.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d/time.Microsecond))].Add(1)
	h.n.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count returns the number of durations observed.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Sum returns the total of the durations observed.
func (h *Histogram) Sum() time.Duration { return time.Duration(h.sum.Load()) }

// Max returns the longest duration observed.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 < q ≤ 1) of the durations observed:
// the middle of the bucket that holds it, never above Max. It is 0 when
// nothing was observed.
func (h *Histogram) Quantile(q float64) time.Duration {
	var counts [histBuckets]uint64
	var n uint64
	for i := range counts {
		counts[i] = h.counts[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			low, width := bounds(i)
			mid := time.Duration(float64(low)*float64(time.Microsecond) + float64(width-1)*float64(time.Microsecond)/2)
			return min(mid, h.Max())
		}
	}
	return h.Max()
}

// Cumulative returns, for each upper bound in seconds, how many durations
// were at most about that long (to the histogram's precision), for a
// Prometheus histogram.
func (h *Histogram) Cumulative(upper []float64) map[float64]uint64 {
	out := make(map[float64]uint64, len(upper))
	var seen uint64
	i := 0
	for _, ub := range upper {
		limit := ub * 1e6 // microseconds
		for ; i < histBuckets; i++ {
			low, _ := bounds(i)
			if float64(low) > limit {
				break
			}
			seen += h.counts[i].Load()
		}
		out[ub] = seen
	}
	return out
}

// Quantiles summarise a Histogram in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summary returns the median, 99th percentile and maximum of h in
// milliseconds, or nil when h is empty.
func (h *Histogram) Summary() *Quantiles {
	if h.Count() == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Quantiles{P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max())}
}

package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every bucket starts where the one before it ends, and bucket maps
	// each value of a bucket's range back to it.
	var next uint64
	for i := range histBuckets {
		low, width := bounds(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		for _, v := range []uint64{low, low + width/2, low + width - 1} {
			if got := bucket(v); got != i {
				t.Fatalf("bucket(%d) = %d, want %d", v, got, i)
			}
		}
		if i >= 2*subBuckets && float64(width)/float64(low) > 1.0/subBuckets {
			t.Fatalf("bucket %d: width %d at %d is wider than 1/%d", i, width, low, subBuckets)
		}
		next = low + width
	}
	if got := bucket(math.MaxUint64); got != histBuckets-1 {
		t.Errorf("bucket(MaxUint64) = %d, want the last, %d", got, histBuckets-1)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples func(r *rand.Rand) time.Duration
	}{
		{"sub-millisecond", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(900)) * time.Microsecond }},
		{"milliseconds", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(20*time.Millisecond)) }},
		{"seconds", func(r *rand.Rand) time.Duration {
			return time.Duration(r.NormFloat64()*float64(time.Second)) + 5*time.Second
		}},
		{"constant", func(*rand.Rand) time.Duration { return 42 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			var all []time.Duration
			for range 20000 {
				d := max(tt.samples(r), 0)
				all = append(all, d)
				h.Observe(d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				want := all[int(math.Ceil(q*float64(len(all))))-1]
				got := h.Quantile(q)
				// Half a bucket: 1/256 of the value, or half a microsecond.
				tol := max(time.Duration(float64(want)/(2*subBuckets)), time.Microsecond)
				if diff := got - want; diff > tol || diff < -tol {
					t.Errorf("q%.2f = %v, want %v ± %v", q, got, want, tol)
				}
			}
			if h.Max() != all[len(all)-1] {
				t.Errorf("max %v, want %v", h.Max(), all[len(all)-1])
			}
			if h.Count() != uint64(len(all)) {
				t.Errorf("count %d, want %d", h.Count(), len(all))
			}
		})
	}
}

func TestHistogramSummary(t *testing.T) {
	var h Histogram
	if s := h.Summary(); s != nil {
		t.Fatalf("empty histogram: summary %+v, want nil", s)
	}
	h.Observe(-time.Second) // clock skew: counts as 0
	for _, ms := range []int{1, 2, 3, 4, 100} {
		h.Observe(time.Duration(ms) * time.Millisecond)
	}
	s := h.Summary()
	if math.Abs(s.P50-2) > 0.01 || math.Abs(s.P99-100) > 0.4 || s.Max != 100 {
		t.Errorf("summary %+v, want p50 2, p99 100, max 100", s)
	}
	got := h.Cumulative([]float64{0, 0.0015, 0.05, 1})
	want := map[float64]uint64{0: 1, 0.0015: 2, 0.05: 5, 1: 6}
	for ub, n := range want {
		if got[ub] != n {
			t.Errorf("cumulative ≤ %gs = %d, want %d", ub, got[ub], n)
		}
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if h.Count() != 4000 || h.Max() != 3999*time.Millisecond {
		t.Errorf("count %d max %v, want 4000 and 3.999s", h.Count(), h.Max())
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Observe(time.Duration(i&0xffff) * time.Microsecond)
	}
}

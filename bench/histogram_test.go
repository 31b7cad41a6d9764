package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistogramVsSorted checks Quantile against the exact answer from a
// sorted copy of the samples, for several shapes of latency: every
// percentile read back must be within one bucket (1/128 relative) of the
// exact one, and Max, Mean and Count must be exact.
func TestHistogramVsSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func() int64{
		"tiny":        func() int64 { return rng.Int64N(200) },
		"uniform":     func() int64 { return 50_000 + rng.Int64N(1_000_000) },
		"exponential": func() int64 { return int64(rng.ExpFloat64() * 200_000) },
		"lognormal":   func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5 + 12)) },
		"bimodal": func() int64 {
			if rng.IntN(100) == 0 {
				return 900_000_000 + rng.Int64N(100_000_000)
			}
			return 100_000 + rng.Int64N(20_000)
		},
		"huge": func() int64 { return rng.Int64N(math.MaxInt64) },
	}
	for name, draw := range shapes {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 100_000)
			var sum float64
			for i := range vals {
				vals[i] = draw()
				sum += float64(vals[i])
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(len(vals)) || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count %d max %d, want %d %d", h.Count(), h.Max(), len(vals), vals[len(vals)-1])
			}
			if m := h.Mean(); math.Abs(m-sum/float64(len(vals))) > 1e-6*m+1 && name != "huge" {
				t.Errorf("mean %v, want %v", m, sum/float64(len(vals)))
			}
			for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
				want := float64(vals[rank-1])
				got := h.Quantile(q)
				if got < want || got > want+want/subCount+1 {
					t.Errorf("q%v = %v, exact %v (off by %.3f %%)", q, got, want, 100*(got-want)/want)
				}
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value lands in a bucket whose range holds it; buckets are
	// contiguous and no wider than 1/128 of their values.
	prevHi := uint64(0)
	for i := 1; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi-lo > lo/subCount {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d", i, lo, hi, subCount)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if bucketOf(v) != i {
				t.Fatalf("value %d: bucket %d, want %d", v, bucketOf(v), i)
			}
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64>>1 {
		t.Fatalf("last bucket ends at %d, want MaxInt64", prevHi)
	}
}

func TestHistogramMergeReset(t *testing.T) {
	var a, b, all Histogram
	for i := int64(1); i <= 1000; i++ {
		if i%3 == 0 {
			a.Record(i * 1000)
		} else {
			b.Record(i * 1000)
		}
		all.Record(i * 1000)
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged q%v = %v, want %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != 1000 || a.Max() != 1_000_000 || a.Mean() != all.Mean() {
		t.Errorf("merged count %d max %d mean %v", a.Count(), a.Max(), a.Mean())
	}
	a.Reset()
	if a.Count() != 0 || a.Max() != 0 || !math.IsNaN(a.Quantile(0.5)) {
		t.Errorf("after Reset: count %d max %d q50 %v", a.Count(), a.Max(), a.Quantile(0.5))
	}
	a.Record(-5)
	if a.Quantile(1) != 0 {
		t.Errorf("a negative value counts as 0, got %v", a.Quantile(1))
	}
}

package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Histogram is an HDR-style log-linear histogram of non-negative int64
// values (the generator records nanoseconds). Values below 2^subBits land in
// exact buckets; above, each power of two is cut into 2^subBits equal
// buckets, so a bucket is never wider than 1/128 of the values in it and a
// percentile read back is within 0.8 % of the exact one, over the whole
// int64 range, in a fixed 57 KiB.
//
// Record is one atomic add on a counter (plus a compare for the maximum):
// no allocation, and safe to call from several goroutines while another
// reads. The generator gives each receiver goroutine its own Histograms, so
// the adds are uncontended, and merges them when a stage ends.
type Histogram struct {
	counts [numBuckets]uint64
	total  uint64
	sum    uint64 // for the mean; wraps only after 292 years of nanoseconds
	max    int64
}

// subBits sets the precision: 2^subBits buckets per power of two. 7 gives
// 0.78 % relative bucket width, finer than run-to-run noise of any latency
// we report, for 7,296 buckets.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount
)

// bucketOf maps v ≥ 0 to its bucket: v itself below subCount, else
// e·subCount + (v >> e) where e is how far v must shift to have subBits+1
// significant bits.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	return e*subCount + int(v>>uint(e))
}

// bucketRange is the inclusive range of values that land in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	e := i/subCount - 1
	lo = uint64(i-e*subCount) << uint(e)
	return lo, lo + (1 << uint(e)) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	atomic.AddUint64(&h.counts[bucketOf(uint64(v))], 1)
	atomic.AddUint64(&h.total, 1)
	atomic.AddUint64(&h.sum, uint64(v))
	for {
		m := atomic.LoadInt64(&h.max)
		if v <= m || atomic.CompareAndSwapInt64(&h.max, m, v) {
			return
		}
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return atomic.LoadUint64(&h.total) }

// Max is the largest value recorded, exactly; 0 when empty.
func (h *Histogram) Max() int64 { return atomic.LoadInt64(&h.max) }

// Mean is the exact mean; NaN when empty.
func (h *Histogram) Mean() float64 {
	n := h.Count()
	if n == 0 {
		return math.NaN()
	}
	return float64(atomic.LoadUint64(&h.sum)) / float64(n)
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the smallest
// recorded value v such that at least ⌈q·Count⌉ values are ≤ v, to within
// the bucket's width (it returns the bucket's upper end, capped by Max, as
// HdrHistogram does). NaN when empty.
func (h *Histogram) Quantile(q float64) float64 {
	n := h.Count()
	if n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var acc uint64
	for i := range h.counts {
		acc += atomic.LoadUint64(&h.counts[i])
		if acc >= rank {
			_, hi := bucketRange(i)
			return float64(min(hi, uint64(h.Max())))
		}
	}
	return float64(h.Max())
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := atomic.LoadUint64(&o.counts[i]); c != 0 {
			atomic.AddUint64(&h.counts[i], c)
		}
	}
	atomic.AddUint64(&h.total, o.Count())
	atomic.AddUint64(&h.sum, atomic.LoadUint64(&o.sum))
	if m := o.Max(); m > h.Max() {
		atomic.StoreInt64(&h.max, m)
	}
}

// Reset empties h. Concurrent Records may be lost or kept.
func (h *Histogram) Reset() {
	for i := range h.counts {
		atomic.StoreUint64(&h.counts[i], 0)
	}
	atomic.StoreUint64(&h.total, 0)
	atomic.StoreUint64(&h.sum, 0)
	atomic.StoreInt64(&h.max, 0)
}

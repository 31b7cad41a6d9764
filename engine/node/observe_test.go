package node

import (
	"testing"
	"time"
)

func TestLagRingQuantiles(t *testing.T) {
	var r lagRing
	if p50, p99, n := r.quantiles(); p50 != 0 || p99 != 0 || n != 0 {
		t.Fatalf("empty ring: %v %v %d", p50, p99, n)
	}
	// 1..100 ms: nearest-rank p50 is 50 ms, p99 is 99 ms.
	for i := 100; i >= 1; i-- {
		r.add(int64(i) * int64(time.Millisecond))
	}
	if p50, p99, n := r.quantiles(); p50 != 50 || p99 != 99 || n != 100 {
		t.Fatalf("1..100 ms: p50 %v p99 %v n %d, want 50 99 100", p50, p99, n)
	}
	// The ring keeps the newest lagSamples: after a long run of 1 ms the
	// old large samples are gone.
	for i := 0; i < lagSamples; i++ {
		r.add(int64(time.Millisecond))
	}
	if p50, p99, n := r.quantiles(); p50 != 1 || p99 != 1 || n != lagSamples {
		t.Fatalf("after %d × 1 ms: p50 %v p99 %v n %d", lagSamples, p50, p99, n)
	}
	r.add(-5) // a clock step back counts as 0, not negative
	if r.d[(r.n-1)%lagSamples] != 0 {
		t.Fatal("negative lag stored")
	}
	if a := testing.AllocsPerRun(1000, func() { r.add(12345) }); a != 0 {
		t.Fatalf("lagRing.add allocates %v times", a)
	}
}

package main

import (
	"testing"
	"time"
)

// TestMarkCPU: the suite's own work is not counted as others'.
func TestMarkCPU(t *testing.T) {
	m0 := markCPU()
	if m0.busy <= 0 || m0.ours <= 0 {
		t.Fatalf("mark %+v: no machine or own CPU time", m0)
	}
	// Burn 200 ms of CPU in this process.
	for t0 := time.Now(); time.Since(t0) < 200*time.Millisecond; {
	}
	m1 := markCPU()
	if own := m1.ours - m0.ours; own < 0.1 {
		t.Errorf("own CPU %.3f s over a 200 ms busy loop", own)
	}
	// Others may really be busy on a shared machine; the busy loop must
	// not show up as theirs.
	if o := m1.othersSince(m0); o > 0.1+0.5*(m1.busy-m0.busy) {
		t.Logf("others %.3f s of %.3f s busy: a busy machine?", o, m1.busy-m0.busy)
	}
	if o := (cpuMark{busy: 1}).othersSince(cpuMark{busy: 2}); o != 0 {
		t.Error("othersSince below 0")
	}
}

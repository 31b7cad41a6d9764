package main

import (
	"os"
	"testing"
)

// TestOthersCPU: the snapshot sees other processes (init, at least) and
// not the suite itself; since sums differences and counts new processes
// whole.
func TestOthersCPU(t *testing.T) {
	s := othersCPU(nil)
	if _, ok := s[os.Getpid()]; ok {
		t.Error("the suite's own process counted as another's")
	}
	if _, ok := s[1]; !ok {
		t.Error("PID 1 not seen")
	}
	got := cpuSnapshot{1: 2.5, 7: 1}.since(cpuSnapshot{1: 2, 9: 4})
	if got != 1.5 {
		t.Errorf("since = %v, want 1.5 (0.5 from PID 1, 1 from the new PID 7)", got)
	}
}

//go:build !race

package journal

import (
	"runtime"
	"testing"
)

// TestAppendAllocs measures what a steady-state Append of 64 events
// allocates, process-wide, over many calls. Our own part (encoding into
// the scratch buffer, the keys, the reused batch) must be zero; what is
// left is Pebble's commit pipeline, per batch, independent of its size.
func TestAppendAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs to disk")
	}
	j := openT(t, Options{Dir: t.TempDir()})
	defer j.Close()
	evs := newGen(10, 1000, 300).events(64)

	// Our part alone: encoding and batching, without the commit.
	if n := testing.AllocsPerRun(200, func() {
		for i := range evs {
			j.scratch, _ = AppendEvent(j.scratch[:0], &evs[i])
			seq := j.last.Load() + uint64(i) + 1
			_ = j.batch.Set(seqKey(&j.key, tagEvent, seq), j.scratch, nil)
		}
		j.batch.Reset()
	}); n != 0 {
		t.Errorf("encoding a batch of 64 into the reused batch: %v allocs, want 0", n)
	}

	const calls = 300
	for i := 0; i < 20; i++ { // warm up: grow the batch and scratch buffers
		if _, err := j.Append(evs); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < calls; i++ {
		if _, err := j.Append(evs); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perBatch := float64(after.Mallocs-before.Mallocs) / calls
	perEvent := perBatch / float64(len(evs))
	t.Logf("Append of %d events with Sync: %.2f allocs per batch, %.3f per event (process-wide, Pebble's commit pipeline included)",
		len(evs), perBatch, perEvent)
	// Measured: under one allocation per batch (Pebble's WAL syncer);
	// anything that grows with the number of events would be ours.
	if perEvent > 0.05 {
		t.Errorf("%.3f allocs per event: something allocates per event", perEvent)
	}
}

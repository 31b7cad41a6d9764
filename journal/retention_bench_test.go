package journal

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkRetain measures one retention run that removes 250,000 events
// (retainMaxEvents) of a 300,000-event journal over 100,000 resources,
// while a second goroutine keeps appending batches of 64 the way the
// serving loop does. It reports the run's removal rate and what the
// appends beside it saw: their p50, p99 and worst commit latency during
// the run, and the same before it (the baseline on this machine), so the
// cost to client replies (which wait for their commit) is the difference.
func BenchmarkRetain(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		j := openT(b, Options{Dir: dir, Logger: zap.NewNop()})
		e := newEngine(b)
		g := newGen(41, 100_000, 30_000)
		appendAll(b, j, e, g.events(300_000), 1024, rand.New(rand.NewPCG(41, 41)))
		if err := j.Snapshot(e, j.LastSeq()); err != nil {
			b.Fatal(err)
		}
		horizon := g.now + 1 // every event is older

		var stop atomic.Bool
		var during atomic.Bool
		var before, beside []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			evs := g.events(64)
			for !stop.Load() {
				t0 := time.Now()
				if _, err := j.Append(evs); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				if during.Load() {
					beside = append(beside, d)
				} else {
					before = append(before, d)
				}
			}
		}()
		time.Sleep(500 * time.Millisecond)
		b.StartTimer()
		during.Store(true)
		res, err := j.Retain(horizon)
		during.Store(false)
		b.StopTimer()
		stop.Store(true)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		if res.Removed != retainMaxEvents {
			b.Fatalf("removed %d, want %d", res.Removed, retainMaxEvents)
		}
		b.ReportMetric(float64(res.Removed)/res.Took.Seconds(), "removed/s")
		for _, s := range []struct {
			name string
			d    []time.Duration
		}{{"before", before}, {"during", beside}} {
			slices.Sort(s.d)
			if len(s.d) == 0 {
				continue
			}
			q := func(p float64) float64 { return float64(s.d[int(p*float64(len(s.d)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "append-p50-ms-"+s.name)
			b.ReportMetric(q(0.99), "append-p99-ms-"+s.name)
			b.ReportMetric(q(1), "append-max-ms-"+s.name)
		}
		j.Close()
		b.StartTimer()
	}
}

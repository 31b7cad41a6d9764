package journal

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
)

// BenchmarkAppend measures durable appends: every batch is one Pebble
// commit with Sync, so events/s is bounded by fsyncs/s × batch size.
// index=off is the same without the audit index, to measure its cost.
func BenchmarkAppend(b *testing.B) {
	for _, noIndex := range []bool{false, true} {
		for _, size := range []int{1, 64, 512} {
			benchAppend(b, size, noIndex)
		}
	}
}

func benchAppend(b *testing.B, size int, noIndex bool) {
	idx := "on"
	if noIndex {
		idx = "off"
	}
	{
		b.Run(fmt.Sprintf("index=%s/batch=%d", idx, size), func(b *testing.B) {
			j := openT(b, Options{Dir: b.TempDir(), Logger: zap.NewNop(), NoIndex: noIndex})
			defer j.Close()
			evs := newGen(11, 100_000, 30_000).events(size)
			b.ReportAllocs()
			b.ResetTimer()
			t0, c0 := time.Now(), cpuTime()
			n := 0
			for i := 0; i < b.N; i++ {
				if _, err := j.Append(evs); err != nil {
					b.Fatal(err)
				}
				n += size
			}
			el, cpu := time.Since(t0), cpuTime()-c0
			b.ReportMetric(float64(n)/el.Seconds(), "events/s")
			b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/event")
		})
	}
}

// restoreEvents is the size of BenchmarkRestore's log.
const restoreEvents = 200_000

// BenchmarkRestore measures replay: reading, decoding and applying every
// event of a 200k-event log into a fresh engine (no snapshot), and loading
// a snapshot of the same state.
func BenchmarkRestore(b *testing.B) {
	dir := b.TempDir()
	j := openT(b, Options{Dir: dir, Logger: zap.NewNop(), SnapshotEvery: 1 << 40})
	live := newEngine(b)
	appendAll(b, j, live, newGen(12, 100_000, 50_000).events(restoreEvents), 1024, rand.New(rand.NewPCG(12, 12)))
	j.Close()
	j = openT(b, Options{Dir: dir, Logger: zap.NewNop()})
	defer j.Close()

	b.Run("events", func(b *testing.B) {
		b.ReportAllocs()
		var el time.Duration
		var cpu int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			e := newEngine(b)
			b.StartTimer()
			t0, c0 := time.Now(), cpuTime()
			seq, err := j.ReplayFrom(e, 1)
			el, cpu = el+time.Since(t0), cpu+cpuTime()-c0
			if err != nil || seq != restoreEvents || e.Digest() != live.Digest() {
				b.Fatalf("replay: seq %d err %v", seq, err)
			}
		}
		b.ReportMetric(float64(restoreEvents*b.N)/el.Seconds(), "events/s")
		b.ReportMetric(float64(restoreEvents*b.N)/(float64(cpu)/1e9), "events/cpu-s")
	})

	b.Run("decode-only", func(b *testing.B) {
		b.ReportAllocs()
		var el time.Duration
		var cpu int64
		for i := 0; i < b.N; i++ {
			t0, c0 := time.Now(), cpuTime()
			n := 0
			err := j.Events(1, func(uint64, *engine.Event) error { n++; return nil })
			el, cpu = el+time.Since(t0), cpu+cpuTime()-c0
			if err != nil || n != restoreEvents {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(restoreEvents*b.N)/el.Seconds(), "events/s")
		b.ReportMetric(float64(restoreEvents*b.N)/(float64(cpu)/1e9), "events/cpu-s")
	})

	// The engine's share: the same events, decoded beforehand, applied.
	b.Run("apply-only", func(b *testing.B) {
		evs := make([]engine.Event, 0, restoreEvents)
		if err := j.Events(1, func(_ uint64, ev *engine.Event) error { evs = append(evs, *ev); return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		var el time.Duration
		var cpu int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			e := newEngine(b)
			b.StartTimer()
			t0, c0 := time.Now(), cpuTime()
			for k := range evs {
				e.Apply(evs[k])
			}
			el, cpu = el+time.Since(t0), cpu+cpuTime()-c0
			if e.Digest() != live.Digest() {
				b.Fatal("digest")
			}
		}
		b.ReportMetric(float64(restoreEvents*b.N)/el.Seconds(), "events/s")
		b.ReportMetric(float64(restoreEvents*b.N)/(float64(cpu)/1e9), "events/cpu-s")
	})

	if err := j.Snapshot(live, restoreEvents); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("snapshot-%d-records", live.Len()), func(b *testing.B) {
		b.ReportAllocs()
		var el time.Duration
		var cpu int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			e := newEngine(b)
			b.StartTimer()
			t0, c0 := time.Now(), cpuTime()
			seq, err := j.Restore(e)
			el, cpu = el+time.Since(t0), cpu+cpuTime()-c0
			if err != nil || seq != restoreEvents || e.Digest() != live.Digest() {
				b.Fatalf("restore: seq %d err %v", seq, err)
			}
		}
		b.ReportMetric(float64(live.Len()*b.N)/el.Seconds(), "records/s")
		b.ReportMetric(float64(live.Len()*b.N)/(float64(cpu)/1e9), "records/cpu-s")
	})
}

// BenchmarkSnapshot measures writing a snapshot of a 100k-record state.
func BenchmarkSnapshot(b *testing.B) {
	j := openT(b, Options{Dir: b.TempDir(), Logger: zap.NewNop(), SnapshotEvery: 1 << 40})
	defer j.Close()
	live := newEngine(b)
	g := newGen(13, 100_000, 50_000)
	for live.Len() < 100_000 {
		evs := g.events(4096)
		for i := range evs {
			live.Apply(evs[i])
		}
		if _, err := j.Append(evs); err != nil {
			b.Fatal(err)
		}
		// Keep growing: the generator frees records too.
		g.nRes = 100_000 + int(j.LastSeq())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs := g.events(1)
		live.Apply(evs[0])
		seq, err := j.Append(evs)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Snapshot(live, seq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(live.Len()), "records")
}

func BenchmarkEventCodec(b *testing.B) {
	ev := codecCases()[4].ev
	buf, _ := AppendEvent(nil, &ev)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 256)
		for i := 0; i < b.N; i++ {
			dst, _ = AppendEvent(dst[:0], &ev)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		var got engine.Event
		for i := 0; i < b.N; i++ {
			if err := DecodeEvent(buf, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package journal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tandemdhcp/tandem/engine"
)

// retained builds a journal of n generated events (snapshots every 500,
// as the serving loop takes them) and returns it open, with the live
// state and the events.
func retained(t *testing.T, n int) (*Journal, string, *engine.Engine, []engine.Event) {
	t.Helper()
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir, SnapshotEvery: 500})
	live := newEngine(t)
	evs := newGen(7, 200, 40).events(n)
	appendAll(t, j, live, evs, 64, rand.New(rand.NewPCG(1, 2)))
	return j, dir, live, evs
}

// checkRetained checks everything a reader relies on after retention:
// the state (newest snapshot + tail, and from the retention base), Verify,
// the events kept, the index and Who.
func checkRetained(t *testing.T, j *Journal, live *engine.Engine, evs []engine.Event) {
	t.Helper()
	fromBase := 0
	defer func() {
		if j.Horizon().FirstSeq > 1 && fromBase == 0 && !t.Failed() {
			t.Fatal("no Who answer came from the retention base: the test does not exercise it")
		}
	}()
	hz := j.Horizon()
	first := hz.FirstSeq

	e := newEngine(t)
	if _, err := j.Restore(e); err != nil {
		t.Fatal(err)
	}
	if e.Digest() != live.Digest() {
		t.Fatalf("restore after retention: digest %016x, live %016x", e.Digest(), live.Digest())
	}
	e = newEngine(t)
	base, last, err := j.ReplayFromStart(e)
	if err != nil || base != first-1 || last != uint64(len(evs)) {
		t.Fatalf("ReplayFromStart = base %d, last %d, %v; want base %d, last %d", base, last, err, first-1, len(evs))
	}
	if e.Digest() != live.Digest() {
		t.Fatalf("replay from the retention base: digest %016x, live %016x", e.Digest(), live.Digest())
	}
	if _, err := j.ReplayFrom(newEngine(t), 1); first > 1 && !errors.Is(err, ErrBeforeHorizon) {
		t.Fatalf("ReplayFrom(1) after retention: %v, want ErrBeforeHorizon", err)
	}
	var out bytes.Buffer
	if err := j.Verify(&out); err != nil {
		t.Fatalf("verify after retention: %v\n%s", err, out.String())
	}
	if first > 1 && !strings.Contains(out.String(), "retention: events 1..") {
		t.Errorf("verify does not mention retention:\n%s", out.String())
	}

	seqs := collect(t, func(fn func(uint64, *engine.Event) error) error { return j.Events(1, fn) })
	if len(seqs) != len(evs)-int(first)+1 || len(seqs) > 0 && seqs[0] != first {
		t.Fatalf("Events(1) after retention: %d events from %v, want %d from %d", len(seqs), seqs[:min(1, len(seqs))], len(evs)-int(first)+1, first)
	}

	if first > 2 {
		if err := j.Events(first-1, func(uint64, *engine.Event) error { return nil }); !errors.Is(err, ErrBeforeHorizon) {
			t.Fatalf("Events(%d) after retention: %v, want ErrBeforeHorizon", first-1, err)
		}
	}

	// No index key names a removed event.
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagDUIDIndex}, UpperBound: []byte{tagResIndex + 1}})
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if k[0] != tagDUIDIndex && k[0] != tagResIndex {
			continue
		}
		if seq := bytesSeq(k); seq < first {
			t.Fatalf("index key %x names removed event %d", k, seq)
		}
	}
	_ = it.Close()

	ref := newReference(evs)
	for res, all := range ref.byRes {
		var want []uint64
		for _, s := range all {
			if s >= first {
				want = append(want, s)
			}
		}
		got := collect(t, func(fn func(uint64, *engine.Event) error) error { return j.History(res, fn) })
		if !equalSeqs(got, want) {
			t.Fatalf("History(%v) = %v, want %v", res, got, want)
		}
		for _, at := range []int64{evs[0].Time - 1, hz.BaseTime - 1, hz.BaseTime, hz.BaseTime + 1, hz.BaseTime + 2000,
			evs[len(evs)/2].Time, evs[len(evs)-1].Time + 10} {
			wseq, wheld := ref.who(res, at)
			h, err := j.Who(res, at)
			if first > 1 && wseq < first && at < hz.BaseTime {
				// That history is gone, and Who must say so, not "nobody".
				if !errors.Is(err, ErrBeforeHorizon) {
					t.Fatalf("Who(%v, %d) before the horizon = %+v, %v; want ErrBeforeHorizon", res, at, h, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Who(%v, %d): %v", res, at, err)
			}
			if h.Held != wheld {
				t.Fatalf("Who(%v, %d).Held = %v (seq %d, from base %v), want %v (seq %d)", res, at, h.Held, h.Seq, h.FromBase, wheld, wseq)
			}
			if wheld && (h.Event.Binding.DUID != evs[wseq-1].Binding.DUID || h.Event.Binding.IAID != evs[wseq-1].Binding.IAID) {
				t.Fatalf("Who(%v, %d) names %x/%d, want %x/%d", res, at, h.Event.Binding.DUID, h.Event.Binding.IAID,
					evs[wseq-1].Binding.DUID, evs[wseq-1].Binding.IAID)
			}
			if h.FromBase && h.Held {
				fromBase++
			}
			if !h.FromBase && h.Seq != wseq {
				t.Fatalf("Who(%v, %d).Seq = %d, want %d", res, at, h.Seq, wseq)
			}
		}
	}
}

func bytesSeq(k []byte) uint64 {
	var s uint64
	for _, b := range k[len(k)-8:] {
		s = s<<8 | uint64(b)
	}
	return s
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRetention runs retention with an injected clock (the horizon is
// now − retention for a "now" the test picks) and checks what stays:
// replay, verify, history and who, before and after a reopen, a second
// run, and snapshots taken after it.
func TestRetention(t *testing.T) {
	j, dir, live, evs := retained(t, 3000)

	// Nothing older than the horizon: nothing happens.
	if r, err := j.Retain(evs[0].Time); err != nil || r.Removed != 0 || j.Horizon().FirstSeq != 1 {
		t.Fatalf("retain with nothing old enough: %+v, %v", r, err)
	}

	// "Now" is 400 days after event 1700, the retention 400 days: the
	// events before event 1700's time go, up to the newest snapshot.
	const day = 86400
	now := evs[1699].Time + 400*day
	horizon := now - 400*day
	snap := j.SnapshotSeq()
	r, err := j.Retain(horizon)
	if err != nil {
		t.Fatal(err)
	}
	var wantCut uint64
	for i := range evs {
		if evs[i].Time >= horizon || uint64(i+1) > snap {
			break
		}
		wantCut = uint64(i + 1)
	}
	if r.FirstSeq != wantCut+1 || r.Removed != wantCut || r.More {
		t.Fatalf("retain: %+v, want %d removed", r, wantCut)
	}
	if hz := j.Horizon(); hz.FirstSeq != wantCut+1 || hz.Cutoff != horizon || hz.BaseTime != evs[wantCut-1].Time {
		t.Fatalf("horizon %+v", hz)
	}
	checkRetained(t, j, live, evs)

	// The record survives a reopen, and the base survives new snapshots.
	j.Close()
	j = openT(t, Options{Dir: dir, SnapshotEvery: 500})
	if j.Horizon().FirstSeq != wantCut+1 {
		t.Fatalf("after reopen: horizon %+v", j.Horizon())
	}
	more := newGen(8, 200, 40)
	more.now = evs[len(evs)-1].Time
	more.held = map[netip.Prefix]engine.Binding{}
	for _, ev := range evs {
		if ev.Kind == engine.EventFree {
			delete(more.held, ev.Binding.Prefix)
		} else if ev.Kind == engine.EventLease {
			more.held[ev.Binding.Prefix] = ev.Binding
		}
	}
	evs2 := more.events(1500)
	appendAll(t, j, live, evs2, 64, rand.New(rand.NewPCG(3, 4)))
	evs = append(evs, evs2...)
	if j.SnapshotSeq() <= wantCut+500 {
		t.Fatalf("no snapshot after the reopen (newest after %d)", j.SnapshotSeq())
	}
	checkRetained(t, j, live, evs)

	// A second run moves the base forward and drops the old one.
	r, err = j.Retain(evs[3200].Time)
	if err != nil || r.Removed == 0 || r.FirstSeq <= wantCut+1 {
		t.Fatalf("second retain: %+v, %v", r, err)
	}
	hs, err := j.snapshots()
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].seq != r.FirstSeq-1 {
		t.Fatalf("snapshots after the second run: %d, oldest after %d; want the base after %d and the newest", len(hs), hs[0].seq, r.FirstSeq-1)
	}
	checkRetained(t, j, live, evs)
	j.Close()
	j = openT(t, Options{Dir: dir, ReadOnly: true})
	checkRetained(t, j, live, evs)
	j.Close()
}

// TestRetentionDamage: the deliberate gap is not corruption, but a lost
// first retained event or a lost base snapshot is.
func TestRetentionDamage(t *testing.T) {
	j, dir, _, evs := retained(t, 2000)
	r, err := j.Retain(evs[1200].Time)
	if err != nil || r.Removed == 0 {
		t.Fatalf("retain: %+v, %v", r, err)
	}
	j.Close()
	first := r.FirstSeq

	// A run interrupted after its commit leaves index keys of removed
	// events: readers skip them.
	ev := evs[first-2] // event first-1, removed
	res := Resource{Kind: ev.Binding.Kind, Prefix: ev.Binding.Prefix}
	rawDB(t, dir, func(db *pebble.DB) {
		b := db.NewBatch()
		if _, err := indexEvent(b, nil, first-1, &ev); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	j = openT(t, Options{Dir: dir, ReadOnly: true})
	for _, s := range collect(t, func(fn func(uint64, *engine.Event) error) error { return j.History(res, fn) }) {
		if s < first {
			t.Fatalf("History returned removed event %d", s)
		}
	}
	if h, err := j.Who(res, ev.Time); err != nil && !errors.Is(err, ErrBeforeHorizon) || err == nil && h.Seq == first-1 && !h.FromBase {
		t.Fatalf("Who at a removed event's time: %+v, %v", h, err)
	}
	j.Close()

	rawDB(t, dir, func(db *pebble.DB) {
		if err := db.Delete(eventKey(first), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	j = openT(t, Options{Dir: dir, ReadOnly: true})
	var out bytes.Buffer
	wantSeqErr(t, j.Verify(&out), first, ErrMissingEvent)
	j.Close()

	rawDB(t, dir, func(db *pebble.DB) {
		var k [seqKeyLen]byte
		if err := db.Delete(seqKey(&k, tagHeader, first-1), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	_, err = Open(Options{Dir: dir, ReadOnly: true})
	wantSeqErr(t, err, first-1, ErrCorruptSnapshot)
	if !strings.Contains(err.Error(), "retention base") {
		t.Fatalf("open without the base: %v", err)
	}
}

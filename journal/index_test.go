package journal

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tandemdhcp/tandem/engine"
)

// reference indexes evs (seq i+1) the slow, obvious way.
type reference struct {
	evs   []engine.Event
	byRes map[Resource][]uint64
	byDU  map[string][]uint64
}

func newReference(evs []engine.Event) *reference {
	r := &reference{evs: evs, byRes: map[Resource][]uint64{}, byDU: map[string][]uint64{}}
	for i := range evs {
		b := &evs[i].Binding
		if evs[i].Kind == engine.EventEndpoint {
			continue
		}
		k := Resource{Kind: b.Kind, Prefix: b.Prefix}
		r.byRes[k] = append(r.byRes[k], uint64(i+1))
		r.byDU[b.DUID] = append(r.byDU[b.DUID], uint64(i+1))
	}
	return r
}

// who is the reference answer: the last event of res (by seq) at or before at.
func (r *reference) who(res Resource, at int64) (seq uint64, held bool) {
	for _, s := range r.byRes[res] {
		ev := &r.evs[s-1]
		if ev.Time <= at {
			seq = s
			held = ev.Kind == engine.EventLease && ev.Binding.Status == engine.StatusActive && at < ev.Binding.Expires
		}
	}
	return seq, held
}

func collect(t *testing.T, walk func(fn func(uint64, *engine.Event) error) error) []uint64 {
	t.Helper()
	var seqs []uint64
	if err := walk(func(seq uint64, ev *engine.Event) error { seqs = append(seqs, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// checkAudit compares History, HistoryDUID and Who with the reference.
func checkAudit(t *testing.T, j *Journal, ref *reference) {
	t.Helper()
	n := 0
	for res, want := range ref.byRes {
		if n++; n > 300 {
			break
		}
		got := collect(t, func(fn func(uint64, *engine.Event) error) error { return j.History(res, fn) })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("History(%v) = %v, want %v", res, got, want)
		}
		first, last := ref.evs[want[0]-1].Time, ref.evs[want[len(want)-1]-1].Time
		for _, at := range []int64{first - 1, first, (first + last) / 2, last, last + 1800, last + 7200} {
			h, err := j.Who(res, at)
			if err != nil {
				t.Fatal(err)
			}
			ws, wh := ref.who(res, at)
			if h.Seq != ws || h.Held != wh {
				t.Fatalf("Who(%v, %d) = seq %d held %v, want seq %d held %v", res, at, h.Seq, h.Held, ws, wh)
			}
			if ws != 0 && !reflect.DeepEqual(h.Event, ref.evs[ws-1]) {
				t.Fatalf("Who(%v, %d) event %+v, want %+v", res, at, h.Event, ref.evs[ws-1])
			}
		}
	}
	n = 0
	for duid, want := range ref.byDU {
		if n++; n > 50 {
			break
		}
		got := collect(t, func(fn func(uint64, *engine.Event) error) error { return j.HistoryDUID(duid, fn) })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("HistoryDUID(%x) = %v, want %v", duid, got, want)
		}
	}
}

func TestAuditIndexMatchesReplay(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir, SnapshotEvery: 3000})
	evs := newGen(21, 2000, 300).events(20_000)
	appendAll(t, j, newEngine(t), evs, 200, rand.New(rand.NewPCG(21, 21)))
	if !j.Indexed() {
		t.Fatal("a new store is not indexed")
	}
	ref := newReference(evs)
	checkAudit(t, j, ref)
	j.Close()

	// Read-only, as the tools open it.
	j = openT(t, Options{Dir: dir, ReadOnly: true})
	defer j.Close()
	checkAudit(t, j, ref)
}

// An index key is in the same batch as its event: every lease/free event
// has both keys, and nothing else does.
func TestAuditIndexKeysWithEvents(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir})
	evs := newGen(22, 50, 10).events(500)
	evs = append(evs, engine.Event{Kind: engine.EventEndpoint, Time: 1_760_001_000,
		Endpoint: engine.EndpointRecord{Rel: "pair-a"}})
	if _, err := j.Append(evs); err != nil {
		t.Fatal(err)
	}
	j.Close()
	rawDB(t, dir, func(db *pebble.DB) {
		var nI, nD int
		it, _ := db.NewIter(&pebble.IterOptions{LowerBound: []byte{'d'}, UpperBound: []byte{'e'}})
		for ok := it.First(); ok; ok = it.Next() {
			nD++
		}
		it.Close()
		it, _ = db.NewIter(&pebble.IterOptions{LowerBound: []byte{'i'}, UpperBound: []byte{'j'}})
		for ok := it.First(); ok; ok = it.Next() {
			nI++
			if len(it.Key()) != resKeyLen {
				t.Fatalf("index key %x", it.Key())
			}
		}
		it.Close()
		if nI != 500 || nD != 500 {
			t.Fatalf("index keys: %d resource, %d DUID; want 500 each (the endpoint event has none)", nI, nD)
		}
	})
}

// An address that moved from one client to another: history has both,
// who names each at its time, and nobody before the first lease or after
// the release.
func TestAuditMovedBetweenClients(t *testing.T) {
	j := openT(t, Options{Dir: t.TempDir()})
	defer j.Close()
	a := netip.MustParseAddr("2001:db8:1::1:5")
	link := netip.MustParseAddr("2001:db8:1::1")
	bind := func(duid string, st engine.Status, t0 int64) engine.Binding {
		return engine.Binding{Kind: engine.KindNA, Prefix: netip.PrefixFrom(a, 128), DUID: duid, IAID: 7,
			Status: st, CLTT: t0, StartOfState: t0, Preferred: 1800, Valid: 3600, Expires: t0 + 3600,
			Link: link, RemoteID: "\x00\x00\x0d\xe9" + duid}
	}
	const t0 = 1_772_532_000 // 2026-03-03T10:00:00Z
	evs := []engine.Event{
		{Kind: engine.EventLease, Time: t0, Why: engine.CauseRequest, Binding: bind("alice", engine.StatusActive, t0)},
		{Kind: engine.EventLease, Time: t0 + 100, Why: engine.CauseRelease, Binding: bind("alice", engine.StatusReleased, t0)},
		{Kind: engine.EventFree, Time: t0 + 200, Why: engine.CauseReclaim, Binding: bind("alice", engine.StatusReleased, t0)},
		{Kind: engine.EventLease, Time: t0 + 300, Why: engine.CauseRequest, Binding: bind("bob", engine.StatusActive, t0+300)},
	}
	if _, err := j.Append(evs); err != nil {
		t.Fatal(err)
	}
	r := AddrResource(a)
	for _, c := range []struct {
		at   int64
		seq  uint64
		duid string // "": nobody
	}{{t0 - 1, 0, ""}, {t0, 1, "alice"}, {t0 + 99, 1, "alice"}, {t0 + 100, 2, ""}, {t0 + 250, 3, ""},
		{t0 + 300, 4, "bob"}, {t0 + 300 + 3599, 4, "bob"}, {t0 + 300 + 3600, 4, ""}} {
		h, err := j.Who(r, c.at)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if h.Held {
			got = h.Event.Binding.DUID
		}
		if h.Seq != c.seq || got != c.duid {
			t.Errorf("Who at t0%+d: seq %d holder %q, want seq %d holder %q", c.at-t0, h.Seq, got, c.seq, c.duid)
		}
	}
	if got := collect(t, func(fn func(uint64, *engine.Event) error) error { return j.History(r, fn) }); !reflect.DeepEqual(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("history %v", got)
	}
	if got := collect(t, func(fn func(uint64, *engine.Event) error) error { return j.HistoryDUID("bob", fn) }); !reflect.DeepEqual(got, []uint64{4}) {
		t.Errorf("bob's history %v", got)
	}
	// Another address, never leased: nobody, at any time.
	if h, err := j.Who(AddrResource(netip.MustParseAddr("2001:db8:1::1:6")), t0+10); err != nil || h.Seq != 0 || h.Held {
		t.Errorf("never-leased address: %+v, %v", h, err)
	}
}

// A store written without the index (as before it existed) opens, answers
// the same by scanning, and Reindex makes it indexed.
func TestAuditWithoutIndexAndReindex(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir, NoIndex: true})
	evs := newGen(23, 500, 100).events(5000)
	appendAll(t, j, newEngine(t), evs, 100, rand.New(rand.NewPCG(23, 23)))
	j.Close()
	rawDB(t, dir, func(db *pebble.DB) {
		if _, c, err := db.Get(metaIndex); err == nil {
			c.Close()
			t.Fatal("NoIndex store marked indexed")
		}
	})
	ref := newReference(evs)

	j = openT(t, Options{Dir: dir, ReadOnly: true})
	if j.Indexed() {
		t.Fatal("unindexed store reports an index")
	}
	checkAudit(t, j, ref)
	if _, err := j.Reindex(); err == nil {
		t.Fatal("Reindex on a read-only journal")
	}
	j.Close()

	j = openT(t, Options{Dir: dir})
	n, err := j.Reindex()
	if err != nil || n != uint64(len(evs)) {
		t.Fatalf("Reindex: %d, %v", n, err)
	}
	j.Close()
	j = openT(t, Options{Dir: dir, ReadOnly: true})
	defer j.Close()
	if !j.Indexed() {
		t.Fatal("not indexed after Reindex")
	}
	checkAudit(t, j, ref)
}

package journal

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
)

// v1 is the version 1 encoding of an event without failover times: v2
// with the version byte changed and the failover-times flags byte (0, the
// last byte) removed. The decoder must still read it.
func v1(t *testing.T, ev *engine.Event) []byte {
	t.Helper()
	b, err := AppendEvent(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != eventV2 || b[len(b)-1] != 0 {
		t.Fatalf("want a v2 value ending in a zero failover flags byte: % x", b)
	}
	b[0] = eventV1
	return b[:len(b)-1]
}

func TestDecodeV1Events(t *testing.T) {
	n := 0
	for _, c := range codecCases() {
		if c.ev.Kind == engine.EventEndpoint || c.ev.Binding.FOTimes != (engine.FOTimes{}) {
			continue
		}
		n++
		var got engine.Event
		got.Binding.PartnerLifetime = 7 // overwritten
		if err := DecodeEvent(v1(t, &c.ev), &got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.ev {
			t.Fatalf("%s: v1 decode:\n got %+v\nwant %+v", c.name, got, c.ev)
		}
		// A v1 value with the v2 trailer is not v1.
		b, _ := AppendEvent(nil, &c.ev)
		b[0] = eventV1
		if err := DecodeEvent(b, &got); !errors.Is(err, ErrCorruptEvent) {
			t.Fatalf("%s: v1 with a trailing byte: %v", c.name, err)
		}
	}
	if n < 10 {
		t.Fatalf("only %d v1 cases", n)
	}
}

func TestDecodeRefusesFailoverCorruption(t *testing.T) {
	var ev engine.Event
	// An endpoint event is v2 only.
	for _, c := range codecCases() {
		if c.ev.Kind != engine.EventEndpoint {
			continue
		}
		b, _ := AppendEvent(nil, &c.ev)
		b[0] = eventV1
		if err := DecodeEvent(b, &ev); !errors.Is(err, ErrCorruptEvent) {
			t.Errorf("%s as v1: %v", c.name, err)
		}
	}
	lease := codecCases()[0].ev
	b, _ := AppendEvent(nil, &lease)
	b[len(b)-1] = 0x40 // unknown failover-times flag
	if err := DecodeEvent(b, &ev); !errors.Is(err, ErrCorruptEvent) {
		t.Errorf("unknown failover flag: %v", err)
	}
	ep := engine.Event{Kind: engine.EventEndpoint, Time: 10, Endpoint: engine.EndpointRecord{Rel: "r",
		StoredState: engine.StoredState{State: engine.StateNormal}}}
	b, _ = AppendEvent(nil, &ep)
	// ver kind cause time(1) len(1) 'r' state prev partner flags
	for _, c := range []struct {
		name string
		off  int
		val  byte
	}{
		{"state 11", 6, 11}, {"previous 11", 7, 11}, {"partner 200", 8, 200},
		{"unknown endpoint flag", 9, 0x40}, {"empty name", 4, 0},
	} {
		bb := append([]byte(nil), b...)
		bb[c.off] = c.val
		if err := DecodeEvent(bb, &ev); !errors.Is(err, ErrCorruptEvent) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	for _, bad := range []engine.EndpointRecord{
		{Rel: ""}, {Rel: "r", StoredState: engine.StoredState{State: 11}},
	} {
		e := engine.Event{Kind: engine.EventEndpoint, Endpoint: bad}
		if _, err := AppendEvent(nil, &e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("AppendEvent(%+v): %v", bad, err)
		}
	}
}

func TestFailoverCodecAllocs(t *testing.T) {
	var fo, ep engine.Event
	for _, c := range codecCases() {
		switch c.name {
		case "failover times":
			fo = c.ev
		case "endpoint":
			ep = c.ev
		}
	}
	buf := make([]byte, 0, 256)
	for _, ev := range []*engine.Event{&fo, &ep} {
		if n := testing.AllocsPerRun(1000, func() { buf, _ = AppendEvent(buf[:0], ev) }); n != 0 {
			t.Errorf("AppendEvent(%v): %v allocs", ev.Kind, n)
		}
	}
}

// TestSnapshotCarriesFailoverState: a relationship's endpoint records and
// the leases' failover times survive a snapshot, so snapshot+tail, full
// replay and the live engine agree on the digest and the endpoint images.
func TestSnapshotCarriesFailoverState(t *testing.T) {
	cfg := testConfig()
	cfg.Relationships = []engine.RelationshipConfig{{Name: "pair-a", Primary: true}}
	cfg.Subnets[0].Relationship = "pair-a"
	mk := func() *engine.Engine {
		e, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir, SnapshotEvery: 500})
	live := mk()
	g := newGen(3, 2000, 1000)
	r := rand.New(rand.NewPCG(3, 3))
	var evs []engine.Event
	for i := 0; i < 3000; i++ {
		ev := g.next()
		if ev.Kind == engine.EventLease && r.IntN(2) == 0 {
			ev.Binding.PartnerLifetime = ev.Time + 5400
			ev.Binding.StateExpiration = ev.Binding.Expires
			ev.Binding.AckedPartnerLifetime = ev.Time - int64(r.IntN(100))
		}
		evs = append(evs, ev)
		if r.IntN(100) == 0 {
			evs = append(evs, engine.Event{Kind: engine.EventEndpoint, Time: ev.Time, Why: engine.CauseFailover,
				Endpoint: engine.EndpointRecord{Rel: "pair-a", StoredState: engine.StoredState{
					State: engine.State(2 + r.IntN(9)), Previous: engine.StateNormal, StartTime: ev.Time,
					LastOperated: ev.Time, Communicated: true}}})
		}
	}
	appendAll(t, j, live, evs, 64, r)
	if j.SnapshotSeq() == 0 || j.SnapshotSeq() == j.LastSeq() {
		t.Fatalf("want a snapshot and a tail: snapshot %d, last %d", j.SnapshotSeq(), j.LastSeq())
	}
	fromSnap, full := mk(), mk()
	if _, err := j.Restore(fromSnap); err != nil {
		t.Fatal(err)
	}
	if _, err := j.ReplayFrom(full, 1); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if fromSnap.Digest() != live.Digest() || full.Digest() != live.Digest() {
		t.Fatalf("digests: snapshot+tail %016x, full %016x, live %016x", fromSnap.Digest(), full.Digest(), live.Digest())
	}
	li, _ := live.Endpoint(0)
	si, _ := fromSnap.Endpoint(0)
	fi, _ := full.Endpoint(0)
	if li.Stored.State == 0 || si.Stored != li.Stored || fi.Stored != li.Stored {
		t.Fatalf("endpoint images: live %+v, snapshot %+v, full %+v", li.Stored, si.Stored, fi.Stored)
	}
	if !reflect.DeepEqual(records(fromSnap), records(live)) {
		t.Fatal("records (failover times included) differ after snapshot+tail")
	}
}

// An endpoint record in the snapshot whose chunks precede the tail: the
// image at the snapshot is restored even when no later event repeats it.
func TestSnapshotEndpointWithoutTail(t *testing.T) {
	cfg := testConfig()
	cfg.Relationships = []engine.RelationshipConfig{{Name: "pair-a"}}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j := openT(t, Options{Dir: t.TempDir()})
	defer j.Close()
	ev := engine.Event{Kind: engine.EventEndpoint, Time: 50, Endpoint: engine.EndpointRecord{Rel: "pair-a",
		StoredState: engine.StoredState{State: engine.StateCommInterrupted, StartTime: 50, LastOperated: 60}}}
	appendAll(t, j, e, []engine.Event{ev}, 1, rand.New(rand.NewPCG(1, 1)))
	if err := j.Snapshot(e, j.LastSeq()); err != nil {
		t.Fatal(err)
	}
	hs, err := j.snapshots()
	if err != nil || len(hs) != 1 || len(hs[0].endpoints) != 1 || hs[0].endpoints[0] != ev.Endpoint {
		t.Fatalf("snapshot headers %+v, %v", hs, err)
	}
	e2, _ := engine.New(cfg)
	if _, err := j.Restore(e2); err != nil {
		t.Fatal(err)
	}
	got, _ := e2.Endpoint(0)
	if got.Stored != ev.Endpoint.StoredState || e2.Digest() != e.Digest() {
		t.Fatalf("restored %+v digest %x, want %+v digest %x", got.Stored, e2.Digest(), ev.Endpoint.StoredState, e.Digest())
	}
}

//go:build !race

package replicate

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Built without -race only: the race detector's instrumentation allocates.

// mallocs counts heap allocations over iters runs of f, strictly (testing's
// AllocsPerRun rounds down to an integer per run).
func mallocs(iters int, f func()) uint64 {
	f() // warm: buffers and maps reach their steady size
	// The best of three windows: the runtime itself allocates now and then
	// (a new OS thread after a long syscall, background work), once per
	// process, not per call; an allocation in f shows in every window.
	best := ^uint64(0)
	for range 3 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		for range iters {
			f()
		}
		runtime.ReadMemStats(&b)
		best = min(best, b.Mallocs-a.Mallocs)
	}
	return best
}

// TestBndUpdZeroAlloc: encoding a BNDUPD, decoding it, converting its lease
// for the engine (same client as last time), answering it and parsing the
// answer allocate nothing.
func TestBndUpdZeroAlloc(t *testing.T) {
	b, fo := activeAddr()
	buf := make([]byte, 0, 4096)
	var m, rm wire.FailoverMsg
	var r engine.ReceivedLease
	r.DUID = testDUID
	results := []LeaseResult{{Accepted: true}}
	var sink int64
	fn := func(p netip.Prefix, ok bool, st uint16, pls int64) { sink += pls }
	if n := mallocs(1000, func() {
		buf = AppendBndUpd(buf[:0], 42, tNow, &b, &fo)
		msg, _, _ := wire.SplitFrame(buf)
		if err := m.Decode(msg); err != nil {
			t.Fatal(err)
		}
		if err := ReceivedFromWire(&m, 0, 0, &r); err != nil {
			t.Fatal(err)
		}
		buf = AppendBndReply(buf[:0], &m, results)
		msg, _, _ = wire.SplitFrame(buf)
		if err := rm.Decode(msg); err != nil {
			t.Fatal(err)
		}
		ParseBndReply(&rm, fn)
	}); n != 0 {
		t.Fatalf("1000 BNDUPD/BNDREPLY round trips: %d allocs, want 0", n)
	}
	if sink == 0 {
		t.Fatal("nothing parsed")
	}
}

// TestOutboxZeroAlloc: the steady offer → send → ack cycle (with
// coalescing, and the same leases changing again and again, as renewals
// do) allocates nothing once the outbox's map and slices have grown.
func TestOutboxZeroAlloc(t *testing.T) {
	const leases = 500
	o := NewOutbox(64, leases)
	keys := make([]Key, leases)
	for i := range keys {
		keys[i] = testKey(i)
	}
	var seq uint64
	var xid uint32
	acks := make([]uint32, 0, 64)
	send := func(s uint64, k Key) (uint32, Verdict) {
		xid++
		acks = append(acks, xid)
		return xid, Sent
	}
	round := func() {
		for i := range 2 * leases {
			seq++
			o.Offer(seq, keys[(i*7)%leases], int64(seq))
			if i%16 == 15 {
				o.Next(64, send)
				for _, x := range acks {
					o.Ack(x)
				}
				acks = acks[:0]
			}
		}
		for !o.Idle() {
			o.Next(64, send)
			for _, x := range acks {
				o.Ack(x)
			}
			acks = acks[:0]
		}
		_ = o.Cursor()
	}
	for range 5 { // let the map settle after deletes and reinserts
		round()
	}
	if n := mallocs(20, round); n != 0 {
		t.Fatalf("20 rounds of %d offers: %d allocs, want 0", 2*leases, n)
	}
	if o.Cursor() != seq {
		t.Fatalf("cursor %d, want %d", o.Cursor(), seq)
	}
}

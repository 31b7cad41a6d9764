package engine

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestLeaseTableAgainstMap drives the lease table and a Go map with the
// same random puts and deletes — sequential pool addresses, as the
// allocator makes them, so probe runs are long and backward-shift
// deletion is exercised — and checks they always agree.
func TestLeaseTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tb leaseTable
	ref := map[netip.Addr]*Lease{}
	addr := func(i int) netip.Addr {
		return addrFrom64(hi64(mustAddr("2001:db8:1::")), uint64(i))
	}
	for step := range 200_000 {
		a := addr(rng.IntN(5000))
		switch l := ref[a]; {
		case l == nil && rng.IntN(3) > 0:
			l = &Lease{}
			l.Prefix = netip.PrefixFrom(a, 128)
			tb.put(l)
			ref[a] = l
		case l != nil:
			tb.del(a)
			delete(ref, a)
		}
		if got, want := tb.get(a), ref[a]; got != want {
			t.Fatalf("step %d: get(%v) = %p, want %p", step, a, got, want)
		}
		if step%10_000 == 0 {
			if tb.len() != len(ref) {
				t.Fatalf("step %d: len %d, want %d", step, tb.len(), len(ref))
			}
			for a, l := range ref {
				if tb.get(a) != l {
					t.Fatalf("step %d: %v lost", step, a)
				}
			}
			n := 0
			tb.each(func(*Lease) bool { n++; return true })
			if n != len(ref) {
				t.Fatalf("step %d: each visits %d, want %d", step, n, len(ref))
			}
		}
	}
	// Shrinks back when emptied.
	for a := range ref {
		tb.del(a)
	}
	if tb.len() != 0 || len(tb.slots) > tableMinSize {
		t.Fatalf("emptied table: len %d, %d slots", tb.len(), len(tb.slots))
	}
}

// A snapshot lists records in the slot order of the table that wrote it.
// Inserted in that order into a growing table they pile into one probe
// run once the writer's table was over half full; into a table reserved
// for them (Engine.Reserve) they spread as they were.
func TestReserveSlotOrder(t *testing.T) {
	const n = 200_000 // 200k of 256k slots: over half full
	var src leaseTable
	for i := range n {
		l := &Lease{}
		l.Prefix = netip.PrefixFrom(addrFrom64(0x20010db800010000, uint64(i)), 128)
		src.put(l)
	}
	if load := float64(src.len()) / float64(len(src.slots)); load <= 0.5 {
		t.Fatalf("load %.2f: want over half full", load)
	}
	// probes is the slots the inserts looked at, all told: for each put,
	// how far from its home the record landed, plus one.
	probes := func(reserve bool) int {
		var dst leaseTable
		if reserve {
			dst.reserve(n)
		}
		total := 0
		src.each(func(l *Lease) bool {
			dst.put(l)
			i, mask, _, _ := dst.first(addrHash(l.Prefix.Addr()))
			for dst.slots[i] != l {
				i = (i + 1) & mask
				total++
			}
			total++
			return true
		})
		if dst.len() != n {
			t.Fatal("records lost")
		}
		return total
	}
	grown, reserved := probes(false), probes(true)
	t.Logf("slots probed per insert: %.1f into a growing table, %.1f into a reserved one", float64(grown)/n, float64(reserved)/n)
	if reserved > 4*n {
		t.Errorf("%.1f slots probed per insert into a reserved table, want a few", float64(reserved)/n)
	}
	var tb leaseTable
	tb.reserve(n)
	for i := range 10 {
		l := &Lease{}
		l.Prefix = netip.PrefixFrom(addrFrom64(0x20010db800010000, uint64(i)), 128)
		tb.put(l)
	}
	tb.fit()
	if len(tb.slots) != tableMinSize || tb.get(addrFrom64(0x20010db800010000, 9)) == nil {
		t.Errorf("fit left %d slots", len(tb.slots))
	}
}

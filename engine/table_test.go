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

package engine

// RFC 8156 §4.2 (facts §12): the independent split of addresses and the
// proportional split of delegable prefixes.

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"testing/quick"
)

func TestSplitAddrOwner(t *testing.T) {
	for _, c := range []struct {
		a    string
		want Side
	}{
		{"2001:db8::1", SidePrimary},
		{"2001:db8::2", SideSecondary},
		{"2001:db8::ffff", SidePrimary},
		{"2001:db8::", SideSecondary},
		{"::", SideSecondary},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", SidePrimary},
	} {
		a := mustAddr(c.a)
		if got := AddrOwner(a); got != c.want {
			t.Errorf("AddrOwner(%s) = %v, want %v", a, got, c.want)
		}
		if !OwnedBy(a, c.want == SidePrimary) || OwnedBy(a, c.want != SidePrimary) {
			t.Errorf("OwnedBy(%s) disagrees with AddrOwner", a)
		}
	}
}

// Every address belongs to exactly one side, and it is bit 127 that says
// which.
func TestSplitExactlyOneOwner(t *testing.T) {
	f := func(b [16]byte) bool {
		a := netip.AddrFrom16(b)
		p, s := OwnedBy(a, true), OwnedBy(a, false)
		return p != s && p == (b[15]&1 == 1)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 10000}); err != nil {
		t.Fatal(err)
	}
}

// OwnedOffset lands on an owned address inside the pool, at most one away
// from the probe.
func TestSplitOwnedOffset(t *testing.T) {
	f := func(lo, off, n uint64, primary bool) bool {
		n %= 1 << 20
		off %= n + 1
		o, ok := OwnedOffset(lo, off, n, primary)
		if !ok {
			return n == 0 && ((lo&1 == 1) != primary)
		}
		a := addrFrom64(0x20010db800000000, lo+o)
		d := int64(o) - int64(off)
		return o <= n && OwnedBy(a, primary) && d >= -1 && d <= 1
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 10000}); err != nil {
		t.Fatal(err)
	}
	// Each side gets half of a small pool: both sides see exactly their
	// addresses, every one reachable.
	for lo := uint64(0); lo < 2; lo++ {
		for _, primary := range []bool{true, false} {
			seen := map[uint64]bool{}
			for off := uint64(0); off <= 9; off++ {
				o, _ := OwnedOffset(lo, off, 9, primary)
				seen[o] = true
			}
			if len(seen) != 5 {
				t.Errorf("lo=%d primary=%v: %d owned offsets of 10, want 5", lo, primary, len(seen))
			}
		}
	}
}

// A freed address returns to its owner's pool; a freed prefix to the
// primary's.
func TestSplitFreeStatus(t *testing.T) {
	for _, c := range []struct {
		k    Kind
		p    string
		want Status
	}{
		{KindNA, "2001:db8::1/128", StatusFree},
		{KindNA, "2001:db8::2/128", StatusFreeBackup},
		{KindPD, "2001:db8:1:100::/56", StatusFree},
		{KindPD, "2001:db8:1:200::/56", StatusFree},
	} {
		if got := FreeStatus(c.k, mustPrefix(c.p)); got != c.want {
			t.Errorf("FreeStatus(%v, %s) = %v, want %v", c.k, c.p, got, c.want)
		}
	}
}

func TestRebalanceTargets(t *testing.T) {
	for _, c := range []struct {
		free, backup int
		share        float64
		threshold    int
		want         int
	}{
		{100, 0, 0.5, 5, 50},       // first split
		{50, 50, 0.5, 5, 0},        // balanced
		{56, 44, 0.5, 5, 6},        // drifted past the threshold: back to the target
		{55, 45, 0.5, 5, 0},        // within it: nothing
		{45, 55, 0.5, 5, 0},        // within it the other way
		{44, 56, 0.5, 5, -6},       // reclaim
		{80, 20, 0.2, 5, 0},        // a 20% share
		{100, 0, 0, 5, 0},          // no share
		{90, 10, 0, 5, -10},        // no share: take all back
		{0, 10, 1, 5, 0},           // all to the secondary
		{0, 0, 0.5, 5, 0},          // nothing to split
		{8, 0, 0.5, 5, 4},          // refill an empty secondary despite the threshold
		{0, 8, 0.5, 5, -4},         // and an empty primary
		{1, 0, 0.5, 5, 1},          // round(0.5) = 1
		{10, 10, 1.5, 5, 10},       // share clamped to 1
		{10, 10, -1, 5, -10},       // and to 0
		{10, 10, math.NaN(), 5, 0}, // NaN: leave it be
		{-1, 10, 0.5, 0, 0},        // nonsense counts
		{100, 0, 0.5, 1000, 50},    // refill even with a huge threshold
	} {
		if got := Rebalance(c.free, c.backup, c.share, c.threshold); got != c.want {
			t.Errorf("Rebalance(%d, %d, %v, %d) = %d, want %d", c.free, c.backup, c.share, c.threshold, got, c.want)
		}
	}
}

// Hysteresis: under a long random walk of single allocations, releases and
// reclaims, a rebalance is idempotent (asking again at once moves nothing)
// and two moves in opposite directions are always separated by more than
// threshold single changes, so the pool does not oscillate.
func TestRebalanceHysteresis(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, share := range []float64{0.5, 0.3, 0.1} {
		const threshold = 4
		free, backup := 200, 0
		lastDir, since, moves := 0, 0, 0
		for step := 0; step < 20000; step++ {
			switch r.IntN(4) { // one small change
			case 0:
				if free > 0 {
					free-- // the primary delegates one
				}
			case 1:
				if backup > 0 {
					backup-- // the secondary delegates one
				}
			default:
				if free+backup < 200 {
					free++ // a delegated prefix is freed: back to the primary
				}
			}
			since++
			m := Rebalance(free, backup, share, threshold)
			if m == 0 {
				continue
			}
			moves++
			dir := 1
			if m < 0 {
				dir = -1
			}
			if dir == -lastDir && since <= threshold {
				t.Fatalf("share %v step %d: moved %d only %d changes after a move the other way", share, step, m, since)
			}
			free, backup = free-m, backup+m
			if free < 0 || backup < 0 {
				t.Fatalf("share %v step %d: moved %d, leaving %d/%d", share, step, m, free, backup)
			}
			if again := Rebalance(free, backup, share, threshold); again != 0 {
				t.Fatalf("share %v step %d: not idempotent: moved %d then %d", share, step, m, again)
			}
			lastDir, since = dir, 0
		}
		t.Logf("share %v: %d moves", share, moves)
		if moves == 0 || moves > 20000/threshold {
			t.Fatalf("share %v: %d moves in 20000 changes", share, moves)
		}
	}
}

// A pool wobbling by one (the primary delegates a prefix, the client gives
// it back, again and again) right at the edge of the dead band moves
// nothing, and one just past the edge moves once.
func TestRebalanceNoOscillation(t *testing.T) {
	for _, c := range []struct{ free, backup, want int }{
		{55, 45, 0}, // 5 short of the 50/50 target: inside the band
		{56, 44, 6}, // 6 short: one move to the target, then quiet
		{45, 55, 0}, // 5 over
	} {
		free, backup, moved := c.free, c.backup, 0
		for i := 0; i < 1000; i++ {
			m := Rebalance(free, backup, 0.5, 5)
			moved += m
			free, backup = free-m, backup+m
			if i%2 == 0 {
				free--
			} else {
				free++
			}
		}
		if moved != c.want {
			t.Errorf("from %d/%d: moved %d in all, want %d", c.free, c.backup, moved, c.want)
		}
	}
}

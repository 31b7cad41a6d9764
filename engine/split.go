package engine

import (
	"math"
	"net/netip"
)

// Who may allocate what (RFC 8156 §4.2, facts §12).
//
// Addresses use independent allocation: a fixed split that needs no
// messages and never rebalances. The primary owns every address whose
// last bit (bit 127) is 1, the secondary every address whose last bit is
// 0, so in any pool the two halves are interleaved and equal to within
// one, whatever the pool's bounds. A freed address goes back to its owner.
//
// Delegable prefixes use proportional allocation: the free ones are split
// by a configured share (pd-secondary-share), the primary holding FREE and
// the secondary FREE-BACKUP; the primary moves prefixes between the two
// with BNDUPDs (POOLREQ asks it to), and a freed prefix always returns to
// the primary as FREE.

// Side is one end of a failover pair. It is not the endpoint's Role
// (endpoint.go); the two are the same two values and the endpoint code may
// convert or replace this type.
type Side uint8

const (
	SidePrimary   Side = 1
	SideSecondary Side = 2
)

func (s Side) String() string {
	switch s {
	case SidePrimary:
		return "primary"
	case SideSecondary:
		return "secondary"
	}
	return "?"
}

// AddrOwner returns the side that may allocate a as a new lease: the
// primary if its bit 127 is 1 (odd), else the secondary.
func AddrOwner(a netip.Addr) Side {
	b := a.As16()
	if b[15]&1 == 1 {
		return SidePrimary
	}
	return SideSecondary
}

// OwnedBy reports whether a belongs to the primary's half (primary) or the
// secondary's (!primary). Every address belongs to exactly one.
func OwnedBy(a netip.Addr, primary bool) bool {
	return (AddrOwner(a) == SidePrimary) == primary
}

// OwnedOffset moves a probe offset onto an address of this side's half, so
// the allocator's probe spends no tries on the partner's addresses. The
// pool is the addresses lo … lo+n (lower 64 bits, as in addrPool); off is
// in 0 … n. The result is off itself when it is owned, else a neighbour
// (off+1, or off-1 at the top of the pool); ok is false only for a
// one-address pool owned by the partner. Each owned offset is hit from at
// most two probe values, so the hashed spread stays uniform; a linear scan
// should step by 2 from an owned offset rather than snap every step.
func OwnedOffset(lo, off, n uint64, primary bool) (uint64, bool) {
	want := uint64(0)
	if primary {
		want = 1
	}
	switch {
	case (lo+off)&1 == want:
		return off, true
	case off < n:
		return off + 1, true
	case off > 0:
		return off - 1, true
	}
	return 0, false
}

// FreeStatus is where a PENDING-FREE resource goes (RFC 8156 §5.5.1 text;
// -06's Figure 3 contradicts it and is not followed): a prefix back to the
// primary (FREE); an address to its owner's pool, FREE for the primary's
// odd ones and FREE-BACKUP for the secondary's even ones.
func FreeStatus(k Kind, p netip.Prefix) Status {
	if k == KindNA && AddrOwner(p.Addr()) == SideSecondary {
		return StatusFreeBackup
	}
	return StatusFree
}

// Rebalance says how many free delegable prefixes the primary should move
// to the secondary (positive: BNDUPDs with FREE-BACKUP) or take back
// (negative: BNDUPDs with FREE, which the secondary rejects for a prefix it
// has meanwhile delegated), given the counts of FREE and FREE-BACKUP
// prefixes, the secondary's configured share in [0, 1], and a threshold.
//
// The target is round(share × (free + freeBackup)) prefixes in FREE-BACKUP.
// With hysteresis: nothing moves while the secondary is within threshold
// of the target; once it drifts further, it is brought all the way back to
// the target. After a move the imbalance is 0, and each single allocation,
// release or move changes it by at most 1, so the next move needs more
// than threshold further changes: small changes cannot make it oscillate,
// and two rebalances in a row cannot go opposite ways without the pool
// really having moved by 2·threshold.
//
// One exception: a side whose target is positive but which holds nothing
// is refilled at once. With a small pool and a large threshold the
// secondary would otherwise sit with no prefixes to delegate in
// COMMUNICATIONS-INTERRUPTED, which is what the split is for.
//
// RFC 8156 counts "what could be delegated", not delegable prefixes; the
// caller counts prefixes of the delegated length (one pdPool entry each),
// which is the same thing when, as here, delegable prefixes are stored at
// the delegated length (FIXED_PD_LENGTH).
func Rebalance(free, freeBackup int, share float64, threshold int) (moveToBackup int) {
	total := free + freeBackup
	if total <= 0 || free < 0 || freeBackup < 0 || math.IsNaN(share) {
		return 0
	}
	share = min(max(share, 0), 1)
	target := int(math.Round(share * float64(total)))
	diff := target - freeBackup
	switch {
	case diff > threshold, diff < -threshold:
		return diff
	case freeBackup == 0 && target > 0, free == 0 && target < total:
		return diff
	}
	return 0
}

// RebalanceThreshold is a default threshold for Rebalance: 5% of the free
// prefixes, at least 1. Small enough that the split stays near the share,
// large enough that a busy pool does not send a BNDUPD per allocation.
func RebalanceThreshold(total int) int {
	return max(1, total/20)
}

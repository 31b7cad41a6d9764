package engine

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// leaseTable holds one kind's lease records, found by the resource's
// address (an address lease's address, a prefix lease's first address).
//
// It replaces a map[netip.Addr]*Lease for size: a Go map slot holds the
// 24-byte key beside the pointer and grows by doubling, so at 500,000
// records it cost about 70 bytes each; here a slot is the pointer alone
// (the key is in the record) and the table stays between 40 % and 80 %
// full: 10–20 bytes a record. Open addressing with linear probing and
// backward-shift deletion, so there are no tombstones and lookups of
// absent keys stay short. The hash needs no seed: the server chooses which
// addresses get records, not the clients.
type leaseTable struct {
	slots []*Lease // len is 0 or a power of two
	n     int
}

const tableMinSize = 64

func addrHash(a netip.Addr) uint64 {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	// Pool addresses differ mostly in their low bits, prefixes in the
	// middle ones: mix both halves fully (murmur3's finalizer).
	h := hi*0x9e3779b97f4a7c15 ^ bits.RotateLeft64(lo, 31)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func (t *leaseTable) len() int { return t.n }

// get returns the record filed under address a, or nil.
func (t *leaseTable) get(a netip.Addr) *Lease {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := addrHash(a) & mask; ; i = (i + 1) & mask {
		l := t.slots[i]
		if l == nil || l.Prefix.Addr() == a {
			return l
		}
	}
}

// put files l under its address, which must not have a record yet.
func (t *leaseTable) put(l *Lease) {
	if (t.n+1)*5 > len(t.slots)*4 {
		t.resize(max(tableMinSize, 2*len(t.slots)))
	}
	t.insert(l)
	t.n++
}

func (t *leaseTable) insert(l *Lease) {
	mask := uint64(len(t.slots) - 1)
	i := addrHash(l.Prefix.Addr()) & mask
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = l
}

// del removes the record filed under a, if any.
func (t *leaseTable) del(a netip.Addr) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := addrHash(a) & mask
	for {
		l := t.slots[i]
		if l == nil {
			return
		}
		if l.Prefix.Addr() == a {
			break
		}
		i = (i + 1) & mask
	}
	// Backward shift: move later members of the probe run into the hole
	// when their home slot is at or before it, so every record stays
	// reachable from its home without tombstones.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		l := t.slots[j]
		if l == nil {
			break
		}
		home := addrHash(l.Prefix.Addr()) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = l
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	if len(t.slots) > tableMinSize && t.n*5 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *leaseTable) resize(size int) {
	old := t.slots
	t.slots = make([]*Lease, size)
	for _, l := range old {
		if l != nil {
			t.insert(l)
		}
	}
}

// each calls fn with every record, in slot order, until fn returns false.
// fn must not add or remove records.
func (t *leaseTable) each(fn func(*Lease) bool) {
	for _, l := range t.slots {
		if l != nil && !fn(l) {
			return
		}
	}
}

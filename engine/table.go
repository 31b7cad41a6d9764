package engine

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// slotTable holds lease records for lookup by a key derived from the
// record itself: leaseTable files each record under its address, and
// clientTable each record with a client under its client IA (kind, DUID,
// IAID).
//
// It replaces Go maps for size: a map slot holds the key beside the
// pointer and grows by doubling, so at 500,000 records a
// map[netip.Addr]*Lease cost about 70 bytes each and a map[uint64]*Lease
// about 35; here a slot is the pointer alone (the key is in the record)
// plus a one-byte tag, and the table stays between 20 % and 80 % full:
// 11–23 bytes a record. Open addressing with linear probing and
// backward-shift deletion, so there are no tombstones and lookups of
// absent keys stay short. The tag (7 bits of the hash, never 0; 0 marks an
// empty slot) lets a probe pass over other records without following their
// pointers: a miss costs a cache line or two of tags instead of a record
// fetch per candidate (the pointer-only version cost 15 % more CPU per
// exchange). The hashes need no seed: the server chooses which addresses
// get records, and a client's DUID buys it one slot, as it would one map
// entry.
//
// Lookups walk the probe run themselves (first, then the next slot until
// an empty one), so the hot path needs no closure.
type slotTable[K keyer] struct {
	slots []*Lease // len is 0 or a power of two
	tags  []uint8  // tagOf the hash of slots[i]'s record; 0: empty
	n     int
}

// keyer says under which hash a record is filed.
type keyer interface{ hashOf(*Lease) uint64 }

const tableMinSize = 64

// tagOf is a slot's tag for hash h: its top seven bits, and never 0. The
// slot index comes from the low bits, so the two are independent.
func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

func (t *slotTable[K]) len() int { return t.n }

// first returns the slot a probe for hash h starts at, the mask that the
// next slot needs, and the tag to look for; ok is false when the table is
// empty.
func (t *slotTable[K]) first(h uint64) (i, mask uint64, tag uint8, ok bool) {
	if t.n == 0 {
		return 0, 0, 0, false
	}
	mask = uint64(len(t.slots) - 1)
	return h & mask, mask, tagOf(h), true
}

// put files l, whose key must not be in the table yet.
func (t *slotTable[K]) put(l *Lease) {
	if (t.n+1)*5 > len(t.slots)*4 {
		t.resize(max(tableMinSize, 2*len(t.slots)))
	}
	t.insert(l)
	t.n++
}

func (t *slotTable[K]) insert(l *Lease) {
	var k K
	h := k.hashOf(l)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.tags[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i], t.tags[i] = l, tagOf(h)
}

// remove empties slot i (found by a probe) and closes the gap: later
// members of the probe run move into the hole when their home slot is at
// or before it, so every record stays reachable from its home.
func (t *slotTable[K]) remove(i uint64) {
	var k K
	mask := uint64(len(t.slots) - 1)
	for j := (i + 1) & mask; t.tags[j] != 0; j = (j + 1) & mask {
		l := t.slots[j]
		if home := k.hashOf(l) & mask; (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.tags[i] = l, t.tags[j]
			i = j
		}
	}
	t.slots[i], t.tags[i] = nil, 0
	t.n--
	if len(t.slots) > tableMinSize && t.n*5 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *slotTable[K]) resize(size int) {
	old := t.slots
	t.slots, t.tags = make([]*Lease, size), make([]uint8, size)
	for _, l := range old {
		if l != nil {
			t.insert(l)
		}
	}
}

// drop takes record l out of the table (found by identity, not by key:
// the records of one key share a probe run). l's key fields must be what
// they were when it was put.
func (t *slotTable[K]) drop(l *Lease) {
	var k K
	i, mask, _, ok := t.first(k.hashOf(l))
	for ok && t.tags[i] != 0 {
		if t.slots[i] == l {
			t.remove(i)
			return
		}
		i = (i + 1) & mask
	}
}

// reserve grows the table so that n records fit without a resize.
func (t *slotTable[K]) reserve(n int) {
	if size := fitSize(n); size > len(t.slots) {
		t.resize(size)
	}
}

// fit shrinks the table to the size put would have grown it to for the
// records it holds (after reserve over-estimated).
func (t *slotTable[K]) fit() {
	if size := fitSize(t.n); size < len(t.slots) {
		t.resize(size)
	}
}

// fitSize is the slots put grows a table to for n records.
func fitSize(n int) int {
	s := tableMinSize
	for n*5 > s*4 {
		s *= 2
	}
	return s
}

// each calls fn with every record, in slot order, until fn returns false.
// fn must not add or remove records.
func (t *slotTable[K]) each(fn func(*Lease) bool) {
	for _, l := range t.slots {
		if l != nil && !fn(l) {
			return
		}
	}
}

// byAddr files a record under its resource's address.
type byAddr struct{}

func (byAddr) hashOf(l *Lease) uint64 { return addrHash(l.Prefix.Addr()) }

// leaseTable holds one kind's records by address.
type leaseTable struct{ slotTable[byAddr] }

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

// get returns the record filed under address a, or nil.
func (t *leaseTable) get(a netip.Addr) *Lease {
	i, mask, tag, ok := t.first(addrHash(a))
	for ok && t.tags[i] != 0 {
		if t.tags[i] == tag {
			if l := t.slots[i]; l.Prefix.Addr() == a {
				return l
			}
		}
		i = (i + 1) & mask
	}
	return nil
}

// del removes the record filed under a, if any.
func (t *leaseTable) del(a netip.Addr) {
	i, mask, tag, ok := t.first(addrHash(a))
	for ok && t.tags[i] != 0 {
		if t.tags[i] == tag && t.slots[i].Prefix.Addr() == a {
			t.remove(i)
			return
		}
		i = (i + 1) & mask
	}
}

// byClient files a record under its client IA (kind, DUID, IAID).
type byClient struct{}

func (byClient) hashOf(l *Lease) uint64 { return clientKeyStr(l.Kind, l.DUID, l.IAID) }

// clientTable is the client index: every record that has a client, filed
// under its IA. An IA's records (one per subnet it holds a lease in) share
// a home slot, so they sit in one probe run in the order they were added.
type clientTable struct{ slotTable[byClient] }

// add files l.
func (t *clientTable) add(l *Lease) { t.put(l) }

// find returns client IA (k, duid, iaid)'s record in subnet sn, the one
// added last if there are several, or nil. duid is a []byte (the
// request's CLIENTID) compared without a copy.
func (t *clientTable) find(k Kind, duid []byte, iaid uint32, sn int) *Lease {
	var found *Lease
	i, mask, tag, ok := t.first(clientKey(k, duid, iaid))
	for ok && t.tags[i] != 0 {
		if t.tags[i] == tag {
			if l := t.slots[i]; l.Kind == k && l.IAID == iaid && int(l.subnet) == sn && l.DUID == string(duid) {
				found = l
			}
		}
		i = (i + 1) & mask
	}
	return found
}

// unackedSet is a relationship's unacked records (partner_updates.go):
// those whose change the partner has not acknowledged. Apply keeps it, so
// ForEachUnacked visits these and nothing else. A set of pointers filed
// by address (an address and a prefix that share one differ by pointer),
// so membership costs the lease record nothing: 11–23 bytes per unacked
// record instead of a link in every record (two pointers would take a
// Lease from Go's 176-byte size class to the 192-byte one, 16 bytes on
// every lease for the sake of a few). The slots grow and shrink by
// doubling, so a steady flow of changes and acks allocates nothing.
type unackedSet struct{ slotTable[byAddr] }

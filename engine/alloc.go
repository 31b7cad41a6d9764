package engine

import (
	"math/bits"
	"net/netip"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Allocation is a deterministic function of (DUID, IAID, pool) and the
// current lease state: candidate i of a client IA in a pool is
// hash(DUID, IAID, pool, i) mod pool size. Two servers with identical
// config and state therefore offer a client the same address, which is what
// RFC 6853's identical-prefix model needs, and an ADVERTISE needs no stored
// offer: the REQUEST recomputes it. Pools are never materialised, so a pool
// may be a whole /64 (2^64 addresses).

const (
	// probes is how many hashed candidates are tried before scanning.
	probes = 16
	// scanLimit bounds the linear scan after the probes, so a nearly full
	// huge pool costs bounded work per request (the pool then answers
	// NoAddrsAvail for this client, which is honest: it is nearly full).
	scanLimit = 1 << 16
)

type subnet struct {
	cfg     *SubnetConfig
	anycast netip.Addr // the Subnet-Router anycast address: never leased
	pools   []addrPool
	pdPools []pdPool
	// Reservations by their key (classes.go: reservationFor), and by
	// the resource they reserve.
	resDUID, resRemote, resIface, resSub map[string]*Reservation
	resNA                                map[netip.Addr]*Reservation // reserved address
	resPD                                map[netip.Addr]*Reservation // reserved prefix, by its address
	rel                                  int                         // index of its failover relationship; -1 = standalone
	poolOpts                             bool                        // some pool or pd-pool has options

	// gen counts changes that may free capacity (a record leaving ACTIVE,
	// a record freed, a tick, a failover state change); exhausted[kind]
	// is gen+1 when a full probe of that kind found nothing, at second
	// exhaustedAt[kind] (time alone makes held records reusable), for a
	// client of the classes and prefix-length hint in exhaustedFor[kind]
	// (another class may draw from other pools). A full pool then costs
	// one comparison per request instead of a bounded scan of up to
	// scanLimit candidates, until something changes.
	gen          uint64
	exhausted    [3]uint64
	exhaustedAt  [3]int64
	exhaustedFor [3]probeKey
}

// probeKey is what, besides the lease state, decides which pools a probe
// searches: the client's classes and its prefix-length hint.
type probeKey struct {
	cls  classMask
	hint int
}

// addrPool is an inclusive range inside one /64: hi is the shared upper 64
// bits, lo..lo+n the lower ones.
type addrPool struct {
	hi, lo, n uint64
	classes   classMask // who may draw from it (0: everyone)
	opts      *Options  // its options, a level of the reply (options.go)
}

func (p *addrPool) at(off uint64) netip.Addr { return addrFrom64(p.hi, p.lo+off) }

func (p *addrPool) contains(a netip.Addr) bool {
	return a.Is6() && hi64(a) == p.hi && lo64(a)-p.lo <= p.n
}

// pdPool is 2^k prefixes of length dlen inside base.
type pdPool struct {
	base    netip.Prefix
	dlen    int
	n       uint64     // count - 1
	split   splitState // the proportional split (pdsplit.go)
	classes classMask  // as addrPool's
	opts    *Options
	// base's address and the mask of its prefix length, as 64-bit
	// halves, for contains.
	bhi, blo, mhi, mlo uint64
}

func (p *pdPool) at(idx uint64) netip.Prefix {
	hi, lo := hi64(p.base.Addr()), lo64(p.base.Addr())
	s := uint(128 - p.dlen)
	var dh, dl uint64
	switch {
	case s >= 128:
	case s >= 64:
		dh = idx << (s - 64)
	default:
		dl = idx << s
		if s > 0 {
			dh = idx >> (64 - s)
		}
	}
	lo, c := bits.Add64(lo, dl, 0)
	hi, _ = bits.Add64(hi, dh, c)
	return netip.PrefixFrom(addrFrom64(hi, lo), p.dlen)
}

func (p *pdPool) contains(q netip.Prefix) bool {
	if q.Bits() != p.dlen || !q.Addr().Is6() {
		return false
	}
	// In base: q's first base.Bits() bits are base's (mask precomputed,
	// integer compares: netip's Contains and Masked cost a hundred
	// instructions each on the packet path).
	hi, lo := hi64(q.Addr()), lo64(q.Addr())
	return hi&p.mhi == p.bhi && lo&p.mlo == p.blo && hostBitsZero(q.Addr(), p.dlen)
}

// prefixMask returns the mask of an n-bit prefix as 64-bit halves.
func prefixMask(n int) (hi, lo uint64) {
	switch {
	case n <= 0:
		return 0, 0
	case n < 64:
		return ^uint64(0) << uint(64-n), 0
	case n < 128:
		return ^uint64(0), ^uint64(0) << uint(128-n)
	default:
		return ^uint64(0), ^uint64(0)
	}
}

// hostBitsZero reports whether a's bits past the first n are all zero (a
// prefix of length n is masked).
func hostBitsZero(a netip.Addr, n int) bool {
	hi, lo := hi64(a), lo64(a)
	switch {
	case n >= 128:
		return true
	case n >= 64:
		return lo&(1<<uint(128-n)-1) == 0
	default:
		return lo == 0 && hi&(1<<uint(64-n)-1) == 0
	}
}

func (s *subnet) init(cfg *Config, c *SubnetConfig) {
	s.cfg = c
	s.anycast = c.Prefix.Masked().Addr()
	for i := range c.Pools {
		r := &c.Pools[i]
		s.pools = append(s.pools, addrPool{hi: hi64(r.Start), lo: lo64(r.Start), n: lo64(r.End) - lo64(r.Start),
			classes: cfg.classesOf(r.Classes), opts: &r.Options})
		s.poolOpts = s.poolOpts || len(r.Options) > 0
	}
	for i := range c.PDPools {
		p := &c.PDPools[i]
		pp := pdPool{base: p.Prefix.Masked(), dlen: p.DelegatedLen, n: 1<<uint(p.DelegatedLen-p.Prefix.Bits()) - 1,
			classes: cfg.classesOf(p.Classes), opts: &p.Options}
		pp.bhi, pp.blo = hi64(pp.base.Addr()), lo64(pp.base.Addr())
		pp.mhi, pp.mlo = prefixMask(pp.base.Bits())
		s.pdPools = append(s.pdPools, pp)
		s.poolOpts = s.poolOpts || len(p.Options) > 0
	}
	s.resDUID = make(map[string]*Reservation)
	s.resRemote = make(map[string]*Reservation)
	s.resIface = make(map[string]*Reservation)
	s.resSub = make(map[string]*Reservation)
	s.resNA = make(map[netip.Addr]*Reservation)
	s.resPD = make(map[netip.Addr]*Reservation)
	for i := range c.Reservations {
		r := &c.Reservations[i]
		switch {
		case r.DUID != nil:
			s.resDUID[string(r.DUID)] = r
		case r.RemoteID != nil:
			s.resRemote[string(r.RemoteID)] = r
		case r.InterfaceID != nil:
			s.resIface[string(r.InterfaceID)] = r
		case r.SubscriberID != nil:
			s.resSub[string(r.SubscriberID)] = r
		}
		if r.Address.IsValid() {
			s.resNA[r.Address] = r
		}
		if r.Prefix.IsValid() {
			s.resPD[r.Prefix.Addr()] = r
		}
	}
}

// inPools reports whether a resource may be handed out by this subnet to
// someone: inside a pool, or reserved.
func (s *subnet) inPools(k Kind, p netip.Prefix) bool {
	if k == KindNA {
		if len(s.resNA) > 0 {
			if _, ok := s.resNA[p.Addr()]; ok {
				return true
			}
		}
		for i := range s.pools {
			if s.pools[i].contains(p.Addr()) {
				return true
			}
		}
		return false
	}
	if len(s.resPD) > 0 {
		if r, ok := s.resPD[p.Addr()]; ok && r.Prefix == p {
			return true
		}
	}
	for i := range s.pdPools {
		if s.pdPools[i].contains(p) {
			return true
		}
	}
	return false
}

// appropriate reports whether resource p suits the request being answered
// (RFC 8415 §18.3.4, §18.3.5: "appropriate for the link ... according to
// the server's explicit configuration"): reserved for it, or in a pool of
// its subnet that its classes may draw from and not reserved for another.
// A resource that was leased from a pool since removed from the config
// (or closed to the client's classes) is not: renewing it gets lifetimes
// 0 and a new resource (renumbering).
func (e *Engine) appropriate(sn int, k Kind, p netip.Prefix) bool {
	s := &e.subnets[sn]
	if k == KindNA {
		if len(s.resNA) > 0 {
			if r, ok := s.resNA[p.Addr()]; ok {
				return r == e.resv
			}
		}
		for i := range s.pools {
			if s.pools[i].contains(p.Addr()) && e.allowed(s.pools[i].classes) {
				return true
			}
		}
		return false
	}
	if len(s.resPD) > 0 {
		if r, ok := s.resPD[p.Addr()]; ok && r.Prefix == p {
			return r == e.resv
		}
	}
	for i := range s.pdPools {
		if s.pdPools[i].contains(p) && e.allowed(s.pdPools[i].classes) {
			return true
		}
	}
	return false
}

// poolOptions returns the options of the pool resource p came from, or
// nil (a reservation, whose options are their own level).
func (s *subnet) poolOptions(k Kind, p netip.Prefix) *Options {
	if !s.poolOpts {
		return nil
	}
	if k == KindNA {
		for i := range s.pools {
			if s.pools[i].contains(p.Addr()) {
				return s.pools[i].opts
			}
		}
		return nil
	}
	for i := range s.pdPools {
		if s.pdPools[i].contains(p) {
			return s.pdPools[i].opts
		}
	}
	return nil
}

// subnetOf finds the subnet a resource belongs to, or -1.
func (e *Engine) subnetOf(k Kind, p netip.Prefix) int {
	for i := range e.subnets {
		s := &e.subnets[i]
		if k == KindNA && s.cfg.Prefix.Contains(p.Addr()) {
			return i
		}
		if k == KindPD && s.inPools(k, p) {
			return i
		}
	}
	return -1
}

// subnetFor picks the subnet a request belongs to: by the innermost relay
// link-address that is set (RFC 8415 §13.1), else by ingress interface.
func (e *Engine) subnetFor(in *Input) int {
	p := in.Pkt
	for r := p.NumRelays - 1; r >= 0; r-- {
		la := p.Relays[r].LinkAddr
		if la.IsUnspecified() || la.IsLinkLocalUnicast() {
			continue
		}
		for i := range e.subnets {
			if e.subnets[i].cfg.Prefix.Contains(la) {
				return i
			}
		}
		return -1
	}
	if p.NumRelays > 0 && p.Relays[0].LinkAddr.IsUnspecified() && in.Iface == "" {
		return -1
	}
	if in.Iface == "" {
		return -1
	}
	for i := range e.subnets {
		if e.subnets[i].cfg.Interface == in.Iface {
			return i
		}
	}
	return -1
}

// usable reports whether resource p may be given to client (duid, iaid).
func (e *Engine) usable(sn int, k Kind, p netip.Prefix, duid []byte, iaid uint32) bool {
	s := &e.subnets[sn]
	res := s.resNA
	if k == KindPD {
		res = s.resPD
	} else if p.Addr() == s.anycast {
		return false // the Subnet-Router anycast address (RFC 4291 §2.6.1)
	}
	var mine *Reservation
	for i := 0; i < e.nOffered; i++ {
		if e.offered[i].k == k && e.offered[i].p == p {
			return false // already offered to another IA of this ADVERTISE
		}
	}
	if r, ok := res[p.Addr()]; ok {
		if r != e.resv {
			return false // reserved for another client
		}
		mine = r
	}
	l := e.mapFor(k).get(p.Addr())
	if l == nil {
		return true
	}
	if l.Prefix != p {
		return false // overlapping prefix of another length
	}
	switch l.Status {
	case StatusAbandoned:
		return false
	case StatusActive:
		if l.DUID == string(duid) && l.IAID == iaid {
			return true
		}
		// Reserved for the subscriber line this request comes from: the
		// CPE that holds it was replaced by this one, which takes it
		// over (and its own RENEW, should it come back, finds no binding).
		// Standalone only: in a pair the partner may have extended the old
		// binding, so the new CPE waits for it to end.
		return mine != nil && mine.byLine() && e.fo.rel < 0
	}
	if l.DUID == string(duid) && l.IAID == iaid {
		return true // its own client's record: not reuse
	}
	return e.reusable(l) // EXPIRED, RELEASED, FREE: reusable (failover: when ReusableAt says)
}

// pick chooses a resource for a client IA that has no usable binding in
// subnet sn: its reservation, else its hint, else a hashed probe. A hint
// is not taken from another client's EXPIRED or RELEASED record: those
// are reclaimed only by the probe, and only when nothing else is free.
func (e *Engine) pick(sn int, k Kind, duid []byte, iaid uint32, ia *wire.IA) (netip.Prefix, bool) {
	s := &e.subnets[sn]
	if r := e.resv; r != nil {
		if k == KindNA && r.Address.IsValid() {
			p := netip.PrefixFrom(r.Address, 128)
			if e.usable(sn, k, p, duid, iaid) {
				return p, true
			}
		}
		if k == KindPD && r.Prefix.IsValid() && e.usable(sn, k, r.Prefix, duid, iaid) {
			return r.Prefix, true
		}
	}
	if ia != nil {
		if k == KindNA {
			for i := 0; i < ia.NumAddrs; i++ {
				p := netip.PrefixFrom(ia.Addrs[i].Addr, 128)
				if e.appropriate(sn, k, p) && e.usable(sn, k, p, duid, iaid) && e.unclaimed(k, p, duid, iaid) && e.mayTake(k, p) {
					return p, true
				}
			}
		} else {
			for i := 0; i < ia.NumPrefixes; i++ {
				p := ia.Prefixes[i].Prefix
				if !p.Addr().IsUnspecified() && e.appropriate(sn, k, p) && e.usable(sn, k, p, duid, iaid) && e.unclaimed(k, p, duid, iaid) && e.mayTake(k, p) {
					return p, true
				}
			}
		}
	}
	// Two passes: first only resources no record remembers for anyone;
	// then, if the pools have none, EXPIRED and RELEASED ones remembered
	// for other clients (ReclaimAfter: "another client may take the
	// resource sooner if the pool needs it").
	//
	// In a failover relationship the address probe is moved onto this
	// server's half (OwnedOffset: deterministic, and no tries spent on the
	// partner's addresses); in PARTNER-DOWN, once the partner's pool is
	// usable, a second round takes any address (own half exhausted first,
	// RFC 8156 §4.2.2). Prefixes: mayTake (the primary's whole pd-pool).
	key := probeKey{cls: e.cls}
	if k == KindPD {
		key.hint = hintLen(ia)
	}
	order := e.poolOrder(sn, k, key.hint)
	if e.fo.rel >= 0 && k == KindPD && !e.fo.primary {
		// The secondary's own pool first (pdsplit.go), the rest of the
		// pool only once the partner's is usable (§4.2.2).
		if p, ok := e.pickBackup(sn, duid, iaid, order); ok {
			return p, true
		}
		if !e.fo.partnerUsable {
			return netip.Prefix{}, false
		}
	}
	if s.exhausted[k] == s.gen+1 && s.exhaustedAt[k] == e.now && s.exhaustedFor[k] == key {
		return netip.Prefix{}, false
	}
	split := e.fo.rel >= 0 && k == KindNA
	rounds := 1
	if split && e.fo.partnerUsable {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		own := split && round == 0
		for pass := 0; pass < 2; pass++ {
			fresh := pass == 0
			if k == KindNA {
				for _, pi := range order {
					pool := &s.pools[pi]
					if p, ok := probe(pool.n, poolSeed(duid, iaid, sn, k, pi), func(off uint64) (netip.Prefix, bool) {
						if own {
							var ok bool
							if off, ok = OwnedOffset(pool.lo, off, pool.n, e.fo.primary); !ok {
								return netip.Prefix{}, false
							}
						}
						p := netip.PrefixFrom(pool.at(off), 128)
						return p, e.usable(sn, k, p, duid, iaid) && (!fresh || e.unclaimed(k, p, duid, iaid))
					}); ok {
						return p, true
					}
				}
				continue
			}
			for _, pi := range order {
				pool := &s.pdPools[pi]
				if p, ok := probe(pool.n, poolSeed(duid, iaid, sn, k, pi), func(off uint64) (netip.Prefix, bool) {
					p := pool.at(off)
					return p, e.usable(sn, k, p, duid, iaid) && (!fresh || e.unclaimed(k, p, duid, iaid)) && e.mayTake(k, p)
				}); ok {
					return p, true
				}
			}
		}
	}
	s.exhausted[k], s.exhaustedAt[k], s.exhaustedFor[k] = s.gen+1, e.now, key
	return netip.Prefix{}, false
}

// unclaimed reports whether no record remembers p for a client other than
// (duid, iaid): an EXPIRED or RELEASED record is kept so its client gets
// the resource back.
func (e *Engine) unclaimed(k Kind, p netip.Prefix, duid []byte, iaid uint32) bool {
	l := e.mapFor(k).get(p.Addr())
	if l == nil || l.Status != StatusExpired && l.Status != StatusReleased {
		return true
	}
	return l.DUID == string(duid) && l.IAID == iaid
}

// offer notes that an ADVERTISE being built names p, so that another IA of
// the same message is not offered it too: the REQUEST that follows could
// not commit it twice, and §18.3.1 wants the ADVERTISE to show what a
// REQUEST would get.
func (e *Engine) offer(k Kind, p netip.Prefix) {
	if e.nOffered < len(e.offered) {
		e.offered[e.nOffered] = offered{k, p}
		e.nOffered++
	}
}

type offered struct {
	k Kind
	p netip.Prefix
}

func poolSeed(duid []byte, iaid uint32, sn int, k Kind, pool int) uint64 {
	h := newHasher()
	h.bytes(duid)
	h.u64(uint64(iaid))
	h.u64(uint64(sn)<<32 | uint64(k)<<16 | uint64(pool))
	return h.sum()
}

// probe tries offsets mix(seed+i) mod (n+1) for i < probes, then scans
// linearly from the first candidate. n is the pool size minus one, so a
// whole /64 (n = 2^64-1) needs no modulus.
func probe(n, seed uint64, try func(off uint64) (netip.Prefix, bool)) (netip.Prefix, bool) {
	mod := func(x uint64) uint64 {
		if n == ^uint64(0) {
			return x
		}
		return x % (n + 1)
	}
	first := mod(mix(seed))
	for i := uint64(0); i < probes; i++ {
		if p, ok := try(mod(mix(seed + i))); ok {
			return p, true
		}
	}
	limit := uint64(scanLimit)
	if n < limit {
		limit = n + 1
	}
	for i := uint64(0); i < limit; i++ {
		if p, ok := try(mod(first + i)); ok {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

package engine

import (
	"net/netip"
)

// Proportional allocation of delegable prefixes (RFC 8156 §4.2.2, facts
// §12), the running part; the arithmetic is split.go's Rebalance.
//
// Records. A prefix with no record in a relationship's pd-pool is the
// primary's free prefix. A prefix record in FREE-BACKUP is the
// secondary's: the primary moved it there with a prefix-form BNDUPD, and
// neither side's expiry reclaims it (due). The primary takes one back by
// writing FREE with a non-zero PartnerLifetime — "reclaiming": until the
// secondary acks that BNDUPD the prefix is still the secondary's
// (ReusableAt treats it as FREE-BACKUP), because the secondary may have
// delegated it meanwhile and then rejects the reclaim (§4.2.2: "MUST
// reject"). The ack clears the mark and expiry drops the record: the prefix
// is the primary's again.
//
// Who decides. Only the primary moves prefixes, only in NORMAL (in
// contact, databases in step), on every tick and when the secondary's
// POOLREQ arrives (InputPoolReq). Each pool is rebalanced on its own:
// Rebalance's target is pd-secondary-share of the pool's free prefixes,
// counted over at most splitCap of them, so a huge pool (a /32 cut into
// /64s) does not put billions of records on both servers — 64k prefixes
// per pool at the default share is far more than a secondary delegates
// to new clients in an outage.
//
// Using them. The secondary allocates a new prefix only from its
// FREE-BACKUP records (pickBackup, a hashed start in the pool's backup
// list, so the choice is deterministic), and from the rest of the pool only
// in PARTNER-DOWN once PartnerPoolUsableAt has passed (§4.2.2: own pool
// first). The primary allocates from prefixes with no record or FREE, so
// FREE-BACKUP ones are never its choice outside PARTNER-DOWN.
//
// Conflicts. A FREE-BACKUP or reclaiming record on the primary yields to
// any client binding the secondary reports for it (splitAccepts):
// the secondary delegated it from its own pool, which the §7.5.4 table
// would otherwise judge by times that say nothing about whose pool it was.

const (
	// splitCap bounds how many of a pool's free prefixes the split counts.
	splitCap = 1 << 17
	// maxMovesPerTick bounds the prefixes one rebalance moves, so filling
	// a large pool's share spreads over ticks instead of one huge Ready:
	// 8192 events journal in about 10 ms, and a /40 pool of /56s at the
	// default share (32768 prefixes) is the secondary's in 4 s, before a
	// partition is likely to find it with nothing to delegate.
	maxMovesPerTick = 8192
	// moveScan bounds the offsets one rebalance looks at for free
	// prefixes to move (most are free: moves are from unused space).
	moveScan = 4 * maxMovesPerTick
)

// splitState is one pd-pool's share bookkeeping, kept by Apply (account)
// so that counting costs nothing when a rebalance asks.
type splitState struct {
	recs   uint64               // records of any status in the pool
	backup []netip.Prefix       // FREE-BACKUP records, in no particular order
	at     map[netip.Addr]int32 // index into backup
	cursor uint64               // next offset the primary looks at to move prefixes
}

func (s *splitState) add(p netip.Prefix) {
	if s.at == nil {
		s.at = make(map[netip.Addr]int32)
	}
	s.at[p.Addr()] = int32(len(s.backup))
	s.backup = append(s.backup, p)
}

func (s *splitState) remove(p netip.Prefix) {
	i, ok := s.at[p.Addr()]
	if !ok {
		return
	}
	last := len(s.backup) - 1
	if int(i) != last {
		s.backup[i] = s.backup[last]
		s.at[s.backup[i].Addr()] = i
	}
	s.backup = s.backup[:last]
	delete(s.at, p.Addr())
}

// reclaiming reports whether b is the primary's unacked reclaim of a
// FREE-BACKUP prefix (see the top of this file).
func reclaiming(b *Binding) bool {
	return b.Kind == KindPD && b.Status == StatusFree && b.PartnerLifetime != 0
}

// splitAccount is account's part for prefix records: l joins (sign=+1) or
// leaves (-1) its pool's counts.
func (e *Engine) splitAccount(l *Lease, sign int) {
	if l.Kind != KindPD || l.subnet < 0 {
		return
	}
	pool := e.poolOf(int(l.subnet), l.Kind, l.Prefix)
	if pool < 0 {
		return
	}
	s := &e.subnets[l.subnet].pdPools[pool].split
	if sign > 0 {
		s.recs++
		if l.Status == StatusFreeBackup {
			s.add(l.Prefix)
		}
		return
	}
	s.recs--
	if l.Status == StatusFreeBackup {
		s.remove(l.Prefix)
	}
}

// poolOf is the index of the pd-pool of subnet sn holding p, or -1.
func (e *Engine) poolOf(sn int, k Kind, p netip.Prefix) int16 {
	if k != KindPD || sn < 0 {
		return -1
	}
	s := &e.subnets[sn]
	for i := range s.pdPools {
		if s.pdPools[i].contains(p) {
			return int16(i)
		}
	}
	return -1
}

// rebalance moves free delegable prefixes between the primary's pool and
// the secondary's in relationship rel's subnets, when this server is the
// primary and the relationship is in NORMAL.
func (e *Engine) rebalance(rel int) {
	r := &e.rels[rel]
	if r.ep == nil || r.ep.Role() != RolePrimary || r.ep.State() != StateNormal {
		return
	}
	for sn := range e.subnets {
		s := &e.subnets[sn]
		if s.rel != rel {
			continue
		}
		for pi := range s.pdPools {
			e.rebalancePool(sn, pi, r.cfg.PDSecondaryShare)
		}
	}
}

func (e *Engine) rebalancePool(sn, pi int, share float64) {
	pool := &e.subnets[sn].pdPools[pi]
	st := &pool.split
	size := pool.n + 1 // 0 when the pool is 2^64 prefixes: treated as huge
	free := uint64(splitCap)
	if size != 0 && size-st.recs < free {
		free = size - st.recs
	}
	backup := len(st.backup)
	if int(free)+backup > splitCap {
		free = uint64(max(splitCap-backup, 0))
	}
	total := int(free) + backup
	move := Rebalance(int(free), backup, share, RebalanceThreshold(total))
	switch {
	case move > 0:
		e.moveToBackup(sn, pi, min(move, maxMovesPerTick))
	case move < 0:
		e.takeBack(sn, pi, min(-move, maxMovesPerTick))
	}
}

// moveToBackup gives the secondary n prefixes of pool pi that have no
// record: FREE-BACKUP records, each sent as a prefix-form BNDUPD.
func (e *Engine) moveToBackup(sn, pi, n int) {
	s := &e.subnets[sn]
	pool := &s.pdPools[pi]
	st := &pool.split
	for scanned := 0; n > 0 && scanned < moveScan; scanned++ {
		off := st.cursor
		if st.cursor == pool.n {
			st.cursor = 0
		} else {
			st.cursor++
		}
		p := pool.at(off)
		if _, res := s.resPD[p.Addr()]; res || e.pd.get(p.Addr()) != nil {
			continue
		}
		e.emit(Event{Kind: EventLease, Time: e.now, Why: CauseRebalance, Binding: Binding{
			Kind: KindPD, Prefix: p, Status: StatusFreeBackup, StartOfState: e.now}})
		n--
	}
}

// takeBack reclaims n of the secondary's FREE-BACKUP prefixes of pool pi.
func (e *Engine) takeBack(sn, pi, n int) {
	st := &e.subnets[sn].pdPools[pi].split
	for i := len(st.backup) - 1; i >= 0 && n > 0; i, n = i-1, n-1 {
		l := e.pd.get(st.backup[i].Addr())
		if l == nil {
			continue
		}
		b := l.Binding
		b.Status, b.StartOfState = StatusFree, e.now
		b.PartnerLifetime = e.now // the mark: unacked (any non-zero value)
		b.StateExpiration = 0
		e.emit(Event{Kind: EventLease, Time: e.now, Why: CauseRebalance, Binding: b})
	}
}

// pickBackup chooses one of the secondary's FREE-BACKUP prefixes in subnet
// sn for a client IA: a start hashed from the client, then the next ones;
// the pools in order (pdOrder: the client's classes and hint).
func (e *Engine) pickBackup(sn int, duid []byte, iaid uint32, order []int) (netip.Prefix, bool) {
	s := &e.subnets[sn]
	for _, pi := range order {
		b := s.pdPools[pi].split.backup
		if len(b) == 0 {
			continue
		}
		start := int(mix(poolSeed(duid, iaid, sn, KindPD, pi)) % uint64(len(b)))
		for i := 0; i < len(b) && i < scanLimit; i++ {
			p := b[(start+i)%len(b)]
			if e.usable(sn, KindPD, p, duid, iaid) && e.unclaimed(KindPD, p, duid, iaid) {
				return p, true
			}
		}
	}
	return netip.Prefix{}, false
}

// splitAccepts reports whether an update the §7.5.4 table rejects as
// outdated must be accepted because of who owns which free prefix. The
// table judges by times (t_upd later than t_db by more than 5 s), which say
// nothing about whose pool a free prefix is in; moves, delegations and
// reclaims follow each other within seconds.
//
//   - We are the primary and the prefix is the secondary's (FREE-BACKUP,
//     or a reclaim it has not acked): its ACTIVE binding wins. It delegated
//     the prefix from its own pool and its record is the only true one;
//     rejecting it, we could give the prefix to a second client in
//     PARTNER-DOWN. Not its EXPIRED or RELEASED: those may have crossed
//     our move on the wire (it accepted the move after sending them), and
//     accepting one would free the prefix here while it is FREE-BACKUP
//     there; the table's times decide those.
//   - We are the secondary, the update is the primary's move or reclaim
//     (the prefix form), and our record holds no client (FREE or
//     FREE-BACKUP): the primary owns the split. A prefix we delegated is
//     ACTIVE here, and time(1) still rejects the reclaim, as §4.2.2
//     requires ("MUST reject it if it has already delegated that prefix").
func splitAccepts(local *Binding, u *ReceivedLease, weArePrimary bool) bool {
	if local == nil || local.Kind != KindPD {
		return false
	}
	if weArePrimary {
		return u.Status == StatusActive && (local.Status == StatusFreeBackup || reclaiming(local))
	}
	return u.Form == FormPrefix && (u.Status == StatusFree || u.Status == StatusFreeBackup) &&
		(local.Status == StatusFree || local.Status == StatusFreeBackup)
}

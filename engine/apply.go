package engine

import ()

// Apply installs one event. It is the only function that mutates lease
// state; Step calls it for every event it decides, and journal replay calls
// it alone, so both paths build the same state.
func (e *Engine) Apply(ev Event) {
	if ev.Kind == EventEndpoint {
		e.applyEndpoint(&ev.Endpoint)
		return
	}
	b := &ev.Binding
	m := e.mapFor(b.Kind)
	if m == nil || !b.Prefix.IsValid() {
		return // unknown kind: nothing to install (a newer journal?)
	}
	key := b.Prefix.Addr()
	l := m.get(key)
	wasUnacked := -1 // the unacked set l is in (partner_updates.go)
	if l != nil {
		wasUnacked = e.unackedRel(l)
	}
	if ev.Kind == EventFree {
		if l != nil {
			e.refileUnacked(l, wasUnacked, -1)
			e.capacityChanged(int(l.subnet))
			e.unindex(l)
			e.exp.remove(l)
			e.account(l, -1)
			m.del(key)
		}
		return
	}
	fresh := l == nil
	if fresh {
		l = &Lease{heapIdx: -1, subnet: -1}
		l.Prefix = b.Prefix
		m.put(l)
	} else {
		e.account(l, -1)
		if l.Kind != b.Kind || l.IAID != b.IAID || l.DUID != b.DUID {
			e.unindex(l)
			fresh = true
		}
	}
	if !fresh && l.Status == StatusActive && b.Status != StatusActive {
		e.capacityChanged(int(l.subnet))
	}
	l.Binding = *b
	l.subnet = int32(e.subnetOf(b.Kind, b.Prefix))
	if ev.Why != 0 && ev.Why < CauseExpiry { // a client's message, at this server
		if rel := e.relOf(l); rel >= 0 {
			e.rels[rel].lastServed = max(e.rels[rel].lastServed, ev.Time)
		}
	}
	if b.Status == StatusFreeBackup {
		e.capacityChanged(int(l.subnet)) // the secondary's own pool grew
	}
	if fresh {
		e.index(l)
	}
	e.account(l, +1)
	e.refileUnacked(l, wasUnacked, e.unackedRel(l))
	e.exp.set(l, e.due(l))
}

// due is when a record next needs attention from tick. In a relationship's
// subnet an owed EXPIRED, RELEASED or RESET record waits for the partner's
// ack (heldUntil, partner_updates.go); everything else is as standalone.
func (e *Engine) due(l *Lease) int64 {
	if owedStatus(l.Status) {
		if rel := e.relOf(l); rel >= 0 {
			return e.heldUntil(l, rel)
		}
	}
	if l.Kind == KindPD && (l.Status == StatusFreeBackup || reclaiming(&l.Binding)) && e.relOf(l) >= 0 {
		return Never // the secondary's prefix (pdsplit.go): a record is what says so
	}
	switch l.Status {
	case StatusActive:
		return l.Expires
	case StatusExpired, StatusReleased:
		return l.StartOfState + int64(e.cfg.ReclaimAfter.Seconds())
	case StatusAbandoned:
		return l.StartOfState + int64(e.cfg.DeclineHold.Seconds())
	}
	return l.StartOfState // FREE and the rest: reclaim at once
}

func (e *Engine) mapFor(k Kind) *leaseTable {
	switch k {
	case KindNA:
		return &e.na
	case KindPD:
		return &e.pd
	}
	return nil
}

// account adds (sign=+1) or removes (-1) a record's share of the digest and
// of the counts by kind and status.
func (e *Engine) account(l *Lease, sign int) {
	// Rehashed rather than cached: 8 bytes per lease at 10M leases cost
	// more than one more hash per change.
	e.digest += uint64(sign) * bindingHash(&l.Binding)
	if int(l.Kind) < len(e.counts) {
		e.counts[l.Kind][statusIndex(l.Status)] += sign
	}
	e.splitAccount(l, sign)
}

// bindingHash hashes every durable field of a record.
func bindingHash(b *Binding) uint64 {
	h := newHasher()
	h.byte(byte(b.Kind))
	a := b.Prefix.Addr().As16()
	h.bytes(a[:])
	h.byte(byte(b.Prefix.Bits()))
	h.str(b.DUID)
	h.u64(uint64(b.IAID))
	h.byte(byte(b.Status))
	h.u64(uint64(b.StartOfState))
	h.u64(uint64(b.CLTT))
	h.u64(uint64(b.Preferred)<<32 | uint64(b.Valid))
	h.u64(uint64(b.Expires))
	la := b.Link.As16()
	h.bytes(la[:])
	h.str(b.RemoteID)
	// The failover times count only when set, so a standalone server's
	// digest (and every snapshot header written before they existed)
	// stays what it was.
	if t := &b.FOTimes; *t != (FOTimes{}) || b.PartnerNeedsUpdate {
		h.byte(0xf0)
		h.u64(uint64(t.ExpirationTime))
		h.u64(uint64(t.AckedPartnerLifetime))
		h.u64(uint64(t.PartnerLifetime))
		h.u64(uint64(t.PartnerRawCLTT))
		h.u64(uint64(t.StateExpiration))
		if b.PartnerNeedsUpdate {
			h.byte(1)
		}
	}
	return mix(h.sum())
}

// --- client index: (kind, DUID, IAID) → leases -----------------------------

// The index (clientTable, table.go) files each record under a 64-bit hash
// of its (kind, DUID, IAID), so a lookup with the DUID bytes of a packet
// neither allocates nor builds a string key.

func clientKey(k Kind, duid []byte, iaid uint32) uint64 {
	h := newHasher()
	h.byte(byte(k))
	h.bytes(duid)
	h.u64(uint64(iaid))
	return mix(h.sum())
}

func clientKeyStr(k Kind, duid string, iaid uint32) uint64 {
	h := newHasher()
	h.byte(byte(k))
	h.str(duid)
	h.u64(uint64(iaid))
	return mix(h.sum())
}

// index and unindex skip records with no client (a delegable prefix in
// FREE-BACKUP): thousands of them would share one chain.
func (e *Engine) index(l *Lease) {
	if l.DUID != "" {
		e.clients.add(l)
	}
}

func (e *Engine) unindex(l *Lease) {
	if l.DUID != "" {
		e.clients.drop(l)
	}
}

// binding finds the lease of a client IA in subnet sn, in any status.
func (e *Engine) binding(k Kind, duid []byte, iaid uint32, sn int) *Lease {
	return e.clients.find(k, duid, iaid, sn)
}

// capacityChanged invalidates a subnet's "pool exhausted" note (alloc.go);
// sn < 0 invalidates every subnet's.
func (e *Engine) capacityChanged(sn int) {
	if sn >= 0 && sn < len(e.subnets) {
		e.subnets[sn].gen++
		return
	}
	for i := range e.subnets {
		e.subnets[i].gen++
	}
}

package engine

import (
	"net/netip"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Binding updates on the engine (RFC 8156 §7.5–§7.7): the partner's BNDUPDs
// and BNDREPLYs, decoded by the replicator, come in as inputs; what they
// change is journaled as EventLease (Cause CausePartner), and the answer to
// a BNDUPD leaves as a PeerMsg — after the Ready's events are durable, as
// §6.4 requires ("MUST NOT be sent until the binding DB is updated in
// stable storage").
//
// How the serving loop drives it:
//
//   - A BNDUPD with n leases: n Steps of InputBndUpd, one per lease in
//     message order, all with the message's XID. Each leaves one PeerMsg
//     ActSendBndReply (PeerBndReply: accepted or the STATUS_CODE, the
//     echoed F_PARTNER_LIFETIME_SENT, BINDING_STATUS, STATE_EXPIRATION).
//     The loop collects the PeerBndReply entries of one XID, in order, into
//     one BNDREPLY (replicate.AppendBndReply's results), and sends it once
//     the Ready holding them has been journaled. SendUpdate asks for our
//     own BNDUPD of the lease right after that BNDREPLY (§7.5.4).
//   - A BNDREPLY: one Step of InputBndReply per lease it echoes.
//   - After a restart or reconnect (ActResendUnacked, UPDREQ):
//     ForEachUnacked lists what the partner has not acked, from an index
//     Apply keeps (the unacked sets), at a cost that is the number of
//     unacked records, not the lease table's size.
//
// The lease status machine (§5.5.1, facts §6) in a relationship's subnets:
// an EXPIRED, RELEASED or RESET record this server decided is owed to the
// partner. It stays (expiry does not reclaim it) until the partner acks a
// BNDUPD carrying that status; then it passes PENDING-FREE to FreeStatus —
// FREE or FREE-BACKUP, which expiry reclaims at once (no record is its
// owner's free resource, split.go). In PARTNER-DOWN no ack can come; the
// record is reclaimed MCLT after it entered its status, and not before
// ReusableAt allows its reuse. When the partner tells us of such a status
// (an accepted BNDUPD), the pair agrees on it and the ack we are about to
// send is what moves the sender on, so the receiver moves on at once too.

// PeerBndReply is the answer to one lease of a received BNDUPD: the
// per-lease part of a BNDREPLY (§6.4).
type PeerBndReply struct {
	XID      uint32 // the BNDUPD's
	Kind     Kind
	Prefix   netip.Prefix // the resource the lease named
	Accepted bool
	// StatusCode is the rejection's STATUS_CODE (DecideBndUpd), 0 when
	// accepted.
	StatusCode uint16
	// PartnerLifetimeSent is an exact copy of the lease's
	// F_PARTNER_LIFETIME (Unix seconds, 0 when absent).
	PartnerLifetimeSent int64
	// BindingStatus and StateExpiration are copied from the BNDUPD.
	BindingStatus   Status
	StateExpiration int64
	// SendUpdate: our record of the lease was judged better (an Outdated
	// rejection with the partner-needs-update flag clear before): send our
	// BNDUPD for it right after this BNDREPLY. At most once in a row, so
	// two disagreeing servers cannot storm each other (AfterDecision).
	SendUpdate bool
}

// bndUpd decides one lease of a partner's BNDUPD (InputBndUpd).
func (e *Engine) bndUpd(in *Input) error {
	u := in.Upd
	if u == nil || in.Rel < 0 || in.Rel >= len(e.rels) {
		return ErrInput
	}
	ep := e.rels[in.Rel].ep
	// §7.5.3: the lease must lie in this relationship's pools. A record of
	// an overlapping prefix of another length is no match either: the two
	// cannot both be right, and neither is this relationship's to judge.
	var l *Lease
	u.Configured = false
	if m := e.mapFor(u.Kind); m != nil && u.Prefix.IsValid() && (u.Kind != KindNA || u.Prefix.Bits() == 128) {
		l = m.get(u.Prefix.Addr())
		sn := e.subnetOf(u.Kind, u.Prefix)
		u.Configured = sn >= 0 && e.subnets[sn].rel == in.Rel && e.subnets[sn].inPools(u.Kind, u.Prefix) &&
			(l == nil || l.Prefix == u.Prefix)
		// A resource no longer in any pool (its pool was removed from the
		// config: renumbering) is still ours to hear the end of: an
		// update that ends a lease we hold a record of is judged as
		// usual, so the record does not stay ACTIVE here. Only a new
		// ACTIVE lease of it is a configuration conflict.
		if !u.Configured && l != nil && l.Prefix == u.Prefix && u.Status != StatusActive &&
			(sn < 0 || e.subnets[sn].rel == in.Rel) {
			u.Configured = true
		}
	}
	var local *Binding
	if l != nil && u.Configured {
		local = &l.Binding
	}
	acc, st := DecideBndUpd(local, u, e.now, ep.Role() == RoleSecondary)
	if !acc && st == wire.StatusOutdatedBindingInfo && local != nil &&
		(e.agrees(local, u) || splitAccepts(local, u, ep.Role() == RolePrimary)) {
		acc, st = true, 0
	}
	rep := PeerBndReply{XID: in.XID, Kind: u.Kind, Prefix: u.Prefix, Accepted: acc, StatusCode: st,
		PartnerLifetimeSent: u.PartnerLifetime, BindingStatus: u.Status, StateExpiration: u.StateExpiration}
	switch {
	case acc:
		nb := Accepted(local, u)
		if local != nil && nb.DUID == local.DUID {
			nb.DUID = local.DUID // keep our string, not the decoder's
		}
		if owedStatus(nb.Status) || nb.Status == StatusPendingFree {
			e.pendingFree(&nb)
		}
		if nb.Status == StatusFree || nb.Status == StatusFreeBackup {
			// Nothing of ours is pending for a free resource; a
			// PartnerLifetime left from an older record would read as an
			// unacked reclaim (pdsplit.go).
			nb.PartnerLifetime = 0
		}
		e.emit(Event{Kind: EventLease, Time: e.now, Why: CausePartner, Binding: nb})
	case local != nil:
		flag, send := AfterDecision(local.PartnerNeedsUpdate, false, st)
		if st == wire.StatusAddressInUse {
			// We are the primary and our client keeps the resource: the
			// secondary accepts our ACTIVE whatever its client (§7.5.4
			// accept(3)), so it needs our record — at the next scan, not
			// at once: the conflicting partner may be sending more.
			flag = true
		}
		if flag != local.PartnerNeedsUpdate {
			nb := *local
			nb.PartnerNeedsUpdate = flag
			e.emit(Event{Kind: EventLease, Time: e.now, Why: CausePartner, Binding: nb})
		}
		rep.SendUpdate = send
	}
	e.rd.PeerMsgs = append(e.rd.PeerMsgs, PeerMsg{Rel: in.Rel, Action: Action{Kind: ActSendBndReply}, BndReply: rep})
	return nil
}

// agrees reports whether an update the table rejects as outdated only
// repeats what our owed record says: the same EXPIRED, RELEASED or RESET
// for the same client. Both servers expiring the same lease do exactly
// this, and a server that learned the lease from its partner has no CLTT
// of its own, so its t_db is the moment it expired the lease, later than
// the partner's t_upd (the client's last contact): read literally, each
// would reject the other's update forever and neither record would ever be
// acked and freed. The two agree; accepting changes nothing but moves both
// on (pendingFree).
func (e *Engine) agrees(local *Binding, u *ReceivedLease) bool {
	return owedStatus(local.Status) && u.Status == local.Status && u.sameClient(local)
}

// bndReply applies the partner's answer for one lease we sent
// (InputBndReply, §7.7).
func (e *Engine) bndReply(in *Input) error {
	if in.Rel < 0 || in.Rel >= len(e.rels) || !in.Prefix.IsValid() {
		return ErrInput
	}
	m := &e.pd
	if in.Prefix.Bits() == 128 {
		m = &e.na
	}
	l := m.get(in.Prefix.Addr())
	if l == nil || l.Prefix != in.Prefix || e.relOf(l) != in.Rel {
		return nil // freed or replaced meanwhile: nothing left to ack
	}
	nb := l.Binding
	switch {
	case in.Accepted && nb.Status == StatusActive && in.BindingStatus != 0 && in.BindingStatus != StatusActive:
		// A late ack of the EXPIRED or RELEASED this ACTIVE replaced (the
		// same client came back before the ack): the partner has freed
		// the lease and forgotten its lifetimes, so its echoed
		// PARTNER_LIFETIME is no ack_pl for the new grant, which waits
		// for the ack of its own BNDUPD (found by the pair simulation,
		// seed 351: a CI renewal capped by a lifetime the partner no
		// longer held).
	case in.Accepted:
		nb.Acked(in.PartnerLifetimeSent)
		if owedStatus(nb.Status) && in.BindingStatus == nb.Status {
			e.pendingFree(&nb)
		}
		if reclaiming(&nb) && in.BindingStatus == StatusFree {
			nb.PartnerLifetime = 0 // the secondary gave it back: ours (pdsplit.go)
		}
	default:
		nb.PartnerNeedsUpdate, _ = AfterDecision(nb.PartnerNeedsUpdate, false, in.StatusCode)
	}
	if nb != l.Binding {
		e.emit(Event{Kind: EventLease, Time: e.now, Why: CausePartner, Binding: nb})
	}
	return nil
}

// pendingFree moves a record through PENDING-FREE to where it leads
// (FreeStatus). The partner knows the status that freed it, so nothing is
// owed any more.
func (e *Engine) pendingFree(b *Binding) {
	b.Status, b.StartOfState = FreeStatus(b.Kind, b.Prefix), e.now
	b.PartnerLifetime, b.PartnerNeedsUpdate = 0, false
}

// owedStatus reports whether a status, decided by this server in a
// relationship's subnet, waits for the partner's ack before the resource
// may be freed (§5.5.1: EXPIRED, RELEASED or RESET → PENDING-FREE).
func owedStatus(s Status) bool {
	return s == StatusExpired || s == StatusReleased || s == StatusReset
}

// RelationshipOf returns the index of the failover relationship that
// serves a resource (an address as a /128, or a delegated prefix), or -1
// when its subnet is standalone or unknown: the subnet is found from the
// config, as for a resource no record holds yet. The serving loop and the
// Stream use it to pick the partner a journaled change goes to; relOf
// below is the same answer for a record, from the subnet Apply filed it
// under.
func (e *Engine) RelationshipOf(k Kind, p netip.Prefix) int {
	sn := e.subnetOf(k, p)
	if sn < 0 {
		return -1
	}
	return e.subnets[sn].rel
}

// relOf is the relationship of a record's subnet, -1 when standalone.
func (e *Engine) relOf(l *Lease) int {
	if l.subnet < 0 {
		return -1
	}
	return e.subnets[l.subnet].rel
}

// heldUntil is when expiry may reclaim an owed record of relationship rel:
// Never outside PARTNER-DOWN (the partner's ack frees it, bndReply); in
// PARTNER-DOWN, MCLT after it entered its status (§5.5.1), the configured
// ReclaimAfter, and ReusableAt, whichever is last, so reclaiming (which
// forgets the record's times) never makes the resource reusable earlier
// than the record would have.
func (e *Engine) heldUntil(l *Lease, rel int) int64 {
	r := &e.rels[rel]
	if r.ep == nil || r.ep.State() != StatePartnerDown {
		return Never
	}
	mclt := uint32(r.cfg.MCLT / time.Second)
	return max(l.StartOfState+int64(mclt), l.StartOfState+int64(e.cfg.ReclaimAfter.Seconds()),
		ReusableAt(&l.Binding, r.ep.Role() == RolePrimary, true, r.ep.Stored().PartnerDownTime, mclt))
}

// reschedule recomputes the reclaim time of relationship rel's owed
// records, when its endpoint enters PARTNER-DOWN (their Never becomes a
// time). Owed records are unacked, so this walks the relationship's
// unacked set, not the lease table.
func (e *Engine) reschedule(rel int) {
	for _, l := range e.rels[rel].unacked.slots {
		if l != nil && owedStatus(l.Status) {
			e.exp.set(l, e.due(l))
		}
	}
}

// unackedRel is the relationship whose unacked set record l belongs in, or
// -1: l is in a relationship's subnet and has a pending PartnerLifetime,
// the partner-needs-update flag, or an owed EXPIRED, RELEASED or RESET.
// Everything it reads is the record's (Apply sets them) or the config's.
func (e *Engine) unackedRel(l *Lease) int {
	if l.PartnerLifetime == 0 && !l.PartnerNeedsUpdate && !owedStatus(l.Status) {
		return -1
	}
	return e.relOf(l)
}

// refileUnacked moves l from the unacked set of relationship was to that
// of now (-1: none). Apply calls it with unackedRel before and after the
// change, so each set holds exactly its relationship's unacked records.
func (e *Engine) refileUnacked(l *Lease, was, now int) {
	if was == now {
		return
	}
	if was >= 0 {
		e.rels[was].unacked.drop(l)
	}
	if now >= 0 {
		e.rels[now].unacked.put(l)
	}
}

// ForEachUnacked calls fn, until it returns false, with every record of
// relationship rel's subnets the partner has not acked: a pending
// PartnerLifetime, the partner-needs-update flag, or an owed EXPIRED,
// RELEASED or RESET; in no particular order. The loop sends these after a
// restart or a reconnect (ActResendUnacked, an UPDREQ). fn must not change
// the engine.
//
// Its cost is the number of unacked records, not the lease table's size:
// Apply files each record in its relationship's unacked set (unackedRel)
// as it installs it, replay included, so after a restart with 10 M
// records and 1,000 unacked the walk visits 1,000 (BenchmarkRestart in
// the journal package).
func (e *Engine) ForEachUnacked(rel int, fn func(*Binding) bool) {
	if rel < 0 || rel >= len(e.rels) {
		return
	}
	for _, l := range e.rels[rel].unacked.slots {
		if l != nil && !fn(&l.Binding) {
			return
		}
	}
}

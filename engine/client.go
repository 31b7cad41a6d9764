package engine

import (
	"bytes"
	"net/netip"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// client handles one client or relayed message (RFC 8415 §16, §18.3).
func (e *Engine) client(in *Input) {
	m := &in.Pkt.Msg
	e.Counters.Rx[m.Type&15]++
	e.nOffered = 0
	e.cls, e.resv, e.pools = 0, nil, replyPools{}
	unicast := !in.Pkt.Relayed() && !in.Multicast

	// §16: which messages a server accepts, and the CLIENTID/SERVERID rules.
	switch m.Type {
	case wire.Solicit, wire.Confirm, wire.Rebind:
		if m.ServerID != nil {
			e.drop(DropServerID)
			return
		}
	case wire.Request, wire.Renew, wire.Release, wire.Decline:
		if !bytes.Equal(m.ServerID, e.cfg.ServerDUID) {
			e.drop(DropServerID)
			return
		}
	case wire.InformationRequest:
		if m.ServerID != nil && !bytes.Equal(m.ServerID, e.cfg.ServerDUID) {
			e.drop(DropServerID)
			return
		}
	default:
		e.drop(DropType)
		return
	}
	// §19: a server takes RELAY-FORW layers only; a RELAY-REPL is a
	// server's answer and must not be answered.
	for i := 0; i < in.Pkt.NumRelays; i++ {
		if in.Pkt.Relays[i].Type != wire.RelayForw {
			e.drop(DropType)
			return
		}
	}
	// §16.12: an Information-request carrying an IA option is discarded.
	if m.Type == wire.InformationRequest && m.NumIANA+m.NumIATA+m.NumIAPD > 0 {
		e.drop(DropType)
		return
	}
	if m.ClientID == nil && m.Type != wire.InformationRequest {
		e.drop(DropNoClientID)
		return
	}
	switch m.Type {
	case wire.Solicit, wire.Confirm, wire.Rebind, wire.InformationRequest:
		// §16: "A server MUST discard any Solicit, Confirm, Rebind or
		// Information-request messages it receives with a Layer 3
		// unicast destination address." (After the checks of the message
		// itself, so that a malformed one is counted as what it is.)
		if unicast {
			e.drop(DropUnicast)
			return
		}
	}

	sn := e.subnetFor(in)
	if sn < 0 && m.Type != wire.InformationRequest && m.Type != wire.Confirm {
		e.drop(DropNoSubnet)
		return
	}
	line := lineOf(in.Pkt)
	e.cls = e.classify(in, sn, &line) // also off any subnet: an Information-request's options
	if sn >= 0 {
		e.resv = e.subnets[sn].reservationFor(m.ClientID, &line)
	}
	// RFC 8156 §8: the subnet's failover endpoint decides whether it may
	// answer at all (before UseMulticast: an unresponsive server says
	// nothing).
	if !e.gate(in, sn) {
		return
	}

	switch m.Type {
	case wire.Request, wire.Renew, wire.Release, wire.Decline:
		// §18.3.1 etc.: a message sent by unicast when the server has not
		// offered unicast is answered with UseMulticast and nothing else
		// — unless the operator accepts unicast (UnicastAccept).
		if unicast && e.cfg.Unicast != UnicastAccept {
			// "... and no other options" (§18.3.2, §18.3.4, §18.3.7,
			// §18.3.8): not even the stateless ones the ORO asks for.
			b, r := e.begin(in, wire.Reply)
			b = e.appendStatus(b, wire.StatusUseMulticast, "use multicast")
			e.close(in, b, r)
			return
		}
	}

	switch m.Type {
	case wire.Solicit:
		e.solicit(in, sn)
	case wire.Request:
		e.request(in, sn, CauseRequest)
	case wire.Renew:
		e.renew(in, sn, CauseRenew)
	case wire.Rebind:
		e.renew(in, sn, CauseRebind)
	case wire.Release:
		e.release(in, sn)
	case wire.Decline:
		e.decline(in, sn)
	case wire.Confirm:
		e.confirm(in, sn)
	case wire.InformationRequest:
		b, r := e.begin(in, wire.Reply)
		e.finish(in, sn, b, r)
	}
}

func (e *Engine) drop(r DropReason) { e.Counters.Dropped[r]++ }

// appendStatus appends a Status Code option to a reply and counts it.
func (e *Engine) appendStatus(b []byte, code uint16, msg string) []byte {
	if int(code) < len(e.Counters.Status) {
		e.Counters.Status[code]++
	}
	return wire.AppendStatus(b, code, msg)
}

// relayStarts remembers where each RELAY_MSG option began while a reply is
// being wrapped, so the lengths can be patched innermost first.
type relayStarts [wire.MaxRelayHops]int

// begin starts a reply: the RELAY-REPL wrapping for every relay the request
// came through (§19.3: same hop-count, link-address and peer-address,
// INTERFACE_ID echoed), then the header, SERVERID and CLIENTID.
func (e *Engine) begin(in *Input, t wire.MsgType) ([]byte, *relayStarts) {
	p := in.Pkt
	b := e.out
	e.innerType = t
	var rs *relayStarts
	if p.NumRelays > 0 {
		rs = &e.starts
		for i := 0; i < p.NumRelays; i++ {
			r := &p.Relays[i]
			b = wire.AppendRelayHeader(b, wire.RelayRepl, r.HopCount, r.LinkAddr, r.PeerAddr)
			if r.InterfaceID != nil {
				b = wire.AppendOption(b, wire.OptInterfaceID, r.InterfaceID)
			}
			b, rs[i] = wire.BeginOption(b, wire.OptRelayMsg)
		}
	}
	b = wire.AppendHeader(b, t, p.Msg.XID)
	b = wire.AppendOption(b, wire.OptServerID, e.cfg.ServerDUID)
	if p.Msg.ClientID != nil {
		b = wire.AppendOption(b, wire.OptClientID, p.Msg.ClientID)
	}
	return b, rs
}

// finish adds the configured options the client asked for (options.go),
// closes the relay wrapping and queues the reply.
func (e *Engine) finish(in *Input, sn int, b []byte, rs *relayStarts) {
	b = e.appendOptions(b, in, sn)
	e.close(in, b, rs)
}

// close ends the relay wrapping and queues the reply.
func (e *Engine) close(in *Input, b []byte, rs *relayStarts) {
	for i := in.Pkt.NumRelays - 1; i >= 0; i-- {
		b = wire.EndOption(b, rs[i])
	}
	start := len(e.out)
	e.out = b
	e.rd.Replies = append(e.rd.Replies, Reply{To: in.To, Data: b[start:len(b):len(b)]})
	e.Counters.Tx[e.innerType&15]++
}

// lifetimes returns the configured lifetimes: (preferred, valid, t1, t2) in
// seconds. leaseTimes caps them for a subnet in a failover relationship.
func (e *Engine) lifetimes() (pref, valid, t1, t2 uint32) {
	return uint32(e.cfg.Preferred.Seconds()), uint32(e.cfg.Valid.Seconds()),
		uint32(e.cfg.T1.Seconds()), uint32(e.cfg.T2.Seconds())
}

// commit records that client IA (in ia) holds p from now on, with the
// lifetimes the reply gives (leaseTimes).
func (e *Engine) commit(in *Input, k Kind, p netip.Prefix, iaid uint32, why Cause, pref, valid uint32) {
	m := &in.Pkt.Msg
	b := Binding{Kind: k, Prefix: p, IAID: iaid, Status: StatusActive, StartOfState: e.now,
		CLTT: e.now, Preferred: pref, Valid: valid, Expires: e.now + int64(valid)}
	l := e.mapFor(k).get(p.Addr())
	if l != nil && l.Prefix != p {
		l = nil
	}
	if l != nil && l.DUID == string(m.ClientID) {
		b.DUID = l.DUID // share the string: no allocation when a client renews
		if l.Status == StatusActive && l.IAID == iaid {
			b.StartOfState = l.StartOfState
		}
	} else {
		b.DUID = string(m.ClientID)
	}
	if e.fo.rel >= 0 {
		// RFC 8156 §7.3: what the partner has acked and we acked to it
		// belongs to the resource; the partner's CLTT to its client.
		var floor int64
		if l != nil {
			b.FOTimes = l.FOTimes
			if l.DUID != b.DUID || l.IAID != iaid {
				b.PartnerRawCLTT = 0
			}
			if l.Status != StatusActive {
				// The lifetimes acked either way before the lease ended
				// cap no new grant, now or in CI (see leaseTimes): the
				// partner may have accepted the EXPIRED or RELEASED and
				// forgotten them (pair simulation, seeds 12 and 220). But
				// a partner that has not still holds them, as its
				// expiration-time or its ack_pl, and renews on them in
				// CI, so what we send next covers them, and the record
				// keeps knowing them for PARTNER-DOWN reuse (seed 97).
				floor = max(b.AckedPartnerLifetime, b.ExpirationTime)
				b.AckedPartnerLifetime, b.ExpirationTime = 0, 0
			}
		}
		_, desired, _, _ := e.lifetimes()
		b.PartnerLifetime = max(LazyPartnerLifetime(e.now, desired, valid), floor)
		b.StateExpiration = b.Expires
	}
	// Where the client is now: a direct message clears what an earlier
	// relayed one recorded.
	if in.Pkt.NumRelays > 0 {
		r := in.Pkt.Inner()
		b.Link = r.LinkAddr
		if l != nil && string(r.RemoteID) == l.RemoteID {
			b.RemoteID = l.RemoteID // share: no allocation on renewal
		} else {
			b.RemoteID = string(r.RemoteID)
		}
	}
	e.emit(Event{Kind: EventLease, Time: e.now, Why: why, Binding: b})
}

// iaCode maps a lease kind to its IA option, status code and noun.
func iaCode(k Kind) (code, none uint16) {
	if k == KindPD {
		return wire.OptIAPD, wire.StatusNoPrefixAvail
	}
	return wire.OptIANA, wire.StatusNoAddrsAvail
}

// appendLease appends an IAADDR or IAPREFIX.
func appendLease(b []byte, k Kind, p netip.Prefix, pref, valid uint32) []byte {
	if k == KindPD {
		return wire.AppendIAPrefix(b, p, pref, valid)
	}
	return wire.AppendIAAddr(b, p.Addr(), pref, valid)
}

// assign answers the IAs of one kind in a SOLICIT or REQUEST: the client's
// binding if it has one, else a reservation, hint or fresh pick. With
// commit, the result is recorded (REQUEST, Rapid Commit SOLICIT). It returns
// how many IAs got a resource.
func (e *Engine) assign(b []byte, in *Input, sn int, k Kind, commit bool, why Cause) ([]byte, int) {
	m := &in.Pkt.Msg
	ias, n := m.IANA[:m.NumIANA], 0
	if k == KindPD {
		ias = m.IAPD[:m.NumIAPD]
	}
	code, none := iaCode(k)
	for i := range ias {
		ia := &ias[i]
		var start int
		if why == CauseRequest && k == KindNA && e.listsForeign(sn, k, ia) {
			// §18.3.2: "If the server finds that the prefix on one or
			// more IP addresses in any IA ... is not appropriate for the
			// link ..., the server MUST return the IA to the client with
			// a Status Code option with the value NotOnLink."
			b, start = wire.BeginIA(b, code, ia.IAID, 0, 0)
			b = e.appendStatus(b, wire.StatusNotOnLink, "address not on link")
			b = wire.EndOption(b, start)
			continue
		}
		var p netip.Prefix
		ok := false
		if l := e.binding(k, m.ClientID, ia.IAID, sn); l != nil && e.keeps(sn, l, m.ClientID) {
			p, ok = l.Prefix, true
		} else if e.mayAllocate() {
			p, ok = e.pick(sn, k, m.ClientID, ia.IAID, ia)
		}
		if !ok {
			b, start = wire.BeginIA(b, code, ia.IAID, 0, 0)
			b = e.appendStatus(b, none, "no resources available")
			b = wire.EndOption(b, start)
			continue
		}
		n++
		e.pools.add(k, e.subnets[sn].poolOptions(k, p))
		pref, valid, t1, t2 := e.leaseTimes(k, p)
		if commit {
			e.commit(in, k, p, ia.IAID, why, pref, valid)
		} else {
			e.offer(k, p)
		}
		b, start = wire.BeginIA(b, code, ia.IAID, t1, t2)
		b = appendLease(b, k, p, pref, valid)
		b = wire.EndOption(b, start)
	}
	return b, n
}

// solicit answers with ADVERTISE (§18.3.1), or with a committing REPLY
// when both sides want Rapid Commit (§18.3.1, §21.14).
func (e *Engine) solicit(in *Input, sn int) {
	m := &in.Pkt.Msg
	rapid := m.RapidCommit && e.cfg.RapidCommit
	t := wire.Advertise
	if rapid {
		t = wire.Reply
	}
	b, rs := e.begin(in, t)
	if rapid {
		b = wire.AppendEmptyOption(b, wire.OptRapidCommit)
	} else if e.cfg.Preference >= 0 {
		b = wire.AppendUint8Option(b, wire.OptPreference, uint8(e.cfg.Preference))
	}
	b = e.iaTA(b, m)
	b, nNA := e.assign(b, in, sn, KindNA, rapid, CauseSolicit)
	b, nPD := e.assign(b, in, sn, KindPD, rapid, CauseSolicit)
	if nNA+nPD == 0 && m.NumIANA+m.NumIAPD > 0 {
		// RFC 3315 clients look for this top-level status; RFC 8415 ones
		// read the per-IA codes already written.
		_, none := iaCode(KindNA)
		if m.NumIANA == 0 {
			_, none = iaCode(KindPD)
		}
		b = e.appendStatus(b, none, "no resources available")
	}
	e.finish(in, sn, b, rs)
}

// iaTA answers IA_TAs: tandem assigns no temporary addresses.
func (e *Engine) iaTA(b []byte, m *wire.Message) []byte {
	for i := 0; i < m.NumIATA; i++ {
		var start int
		b, start = wire.BeginIA(b, wire.OptIATA, m.IATA[i].IAID, 0, 0)
		b = e.appendStatus(b, wire.StatusNoAddrsAvail, "no temporary addresses")
		b = wire.EndOption(b, start)
	}
	return b
}

// request commits what a SOLICIT offered (§18.3.2).
func (e *Engine) request(in *Input, sn int, why Cause) {
	m := &in.Pkt.Msg
	b, rs := e.begin(in, wire.Reply)
	b = e.iaTA(b, m)
	b, _ = e.assign(b, in, sn, KindNA, true, why)
	b, _ = e.assign(b, in, sn, KindPD, true, why)
	e.finish(in, sn, b, rs)
}

// renew extends bindings (RENEW §18.3.4, REBIND §18.3.5). Resources the
// client lists that are not its binding come back with lifetimes 0 so it
// stops using them.
func (e *Engine) renew(in *Input, sn int, why Cause) {
	b, rs := e.begin(in, wire.Reply)
	b = e.extend(b, in, sn, KindNA, why)
	b = e.extend(b, in, sn, KindPD, why)
	e.finish(in, sn, b, rs)
}

// keeps reports whether the client may go on with binding l: it is live
// here (or may be taken up again), usable, and still appropriate for the
// client (renumbering: its pool may have been removed from the config, or
// closed to the client's classes).
func (e *Engine) keeps(sn int, l *Lease, duid []byte) bool {
	return l.Status != StatusAbandoned &&
		(l.Status == StatusActive || e.mayAllocate() && e.mayTake(l.Kind, l.Prefix)) &&
		e.usable(sn, l.Kind, l.Prefix, duid, l.IAID) && e.appropriate(sn, l.Kind, l.Prefix)
}

// extend answers one kind of IA in a RENEW or REBIND:
//
//   - the client's binding, still appropriate: new lifetimes;
//   - a binding no longer appropriate (its pool was removed from the
//     config, or it was leased on a subnet whose pd-pool is gone): it is
//     ended (EXPIRED, CauseRenumber) and listed with lifetimes 0, and the
//     IA gets a new resource from the current pools (§18.3.4: "not
//     appropriate for the link ... returns the address to the client with
//     lifetimes of 0"; "SHOULD create a binding");
//   - no binding (the server lost it, or never had it): the client's own
//     listed resource when it is appropriate and free (REBIND, and RENEW:
//     §18.3.4 "SHOULD create a binding"), else for a RENEW, or when what
//     it lists is not appropriate, a new resource; else NoBinding.
//
// Every listed resource other than the one granted comes back with
// lifetimes 0. A server that may not allocate now (failover) only
// extends, and answers NoBinding otherwise.
func (e *Engine) extend(b []byte, in *Input, sn int, k Kind, why Cause) []byte {
	m := &in.Pkt.Msg
	ias := m.IANA[:m.NumIANA]
	if k == KindPD {
		ias = m.IAPD[:m.NumIAPD]
	}
	code, none := iaCode(k)
	for i := range ias {
		ia := &ias[i]
		var p netip.Prefix
		ok, renumbered := false, false
		l := e.binding(k, m.ClientID, ia.IAID, sn)
		if l == nil {
			// A binding whose resource no longer belongs to any subnet
			// (its pd-pool was removed) is filed under no subnet.
			l = e.binding(k, m.ClientID, ia.IAID, -1)
		}
		switch {
		case l != nil && l.subnet == int32(sn) && e.keeps(sn, l, m.ClientID):
			p, ok = l.Prefix, true
		case l != nil && l.Status == StatusActive && (l.subnet < 0 || !e.appropriate(sn, k, l.Prefix)):
			e.renumber(l)
			renumbered = true
		}
		foreign := !ok && e.listsForeign(sn, k, ia)
		tried := false
		if !ok && e.mayAllocate() {
			p, ok = e.rebindHint(sn, k, m.ClientID, ia)
			// §18.3.5: a server "SHOULD only create new bindings during
			// processing of a Rebind message if [it] is configured to
			// respond ... to a Solicit message containing the Rapid
			// Commit option"; a renumbered client had one here.
			if !ok && (why == CauseRenew || renumbered || foreign && e.cfg.RapidCommit) {
				p, ok = e.pick(sn, k, m.ClientID, ia.IAID, ia)
				tried = true
			}
		}
		var start int
		if !ok {
			b, start = wire.BeginIA(b, code, ia.IAID, 0, 0)
			switch {
			case tried:
				b = e.appendStatus(b, none, "no resources available")
			case renumbered || foreign:
				// Lifetimes 0 say it all (§18.3.5).
			default:
				b = e.appendStatus(b, wire.StatusNoBinding, "no binding for this IA")
			}
			if renumbered || foreign {
				b = e.zeroOthers(b, k, ia, netip.Prefix{}, renumberedPrefix(l, renumbered))
			}
			b = wire.EndOption(b, start)
			continue
		}
		pref, valid, t1, t2 := e.leaseTimes(k, p)
		e.commit(in, k, p, ia.IAID, why, pref, valid)
		e.pools.add(k, e.subnets[sn].poolOptions(k, p))
		b, start = wire.BeginIA(b, code, ia.IAID, t1, t2)
		b = appendLease(b, k, p, pref, valid)
		b = e.zeroOthers(b, k, ia, p, renumberedPrefix(l, renumbered))
		b = wire.EndOption(b, start)
	}
	return b
}

// renumberedPrefix is the resource a renumbering ended, for zeroOthers to
// list even when the client's IA did not.
func renumberedPrefix(l *Lease, renumbered bool) netip.Prefix {
	if !renumbered {
		return netip.Prefix{}
	}
	return l.Prefix
}

// renumber ends binding l, which the config no longer serves: EXPIRED
// now, so that it is reclaimed and never offered again, and the journal
// says why.
func (e *Engine) renumber(l *Lease) {
	nb := l.Binding
	// The client's RENEW or REBIND is a transaction with it (CLTT), which
	// is also what lets the partner accept the EXPIRED over its ACTIVE
	// record (RFC 8156 §7.5.4, time(2)).
	nb.Status, nb.StartOfState, nb.CLTT, nb.Expires = StatusExpired, e.now, e.now, e.now
	e.emit(Event{Kind: EventLease, Time: e.now, Why: CauseRenumber, Binding: nb})
}

// listsAny reports whether the IA lists any resource.
func listsAny(k Kind, ia *wire.IA) bool {
	if k == KindPD {
		return ia.NumPrefixes > 0
	}
	return ia.NumAddrs > 0
}

// rebindHint returns the first resource the client lists that is
// appropriate for it and free.
func (e *Engine) rebindHint(sn int, k Kind, duid []byte, ia *wire.IA) (netip.Prefix, bool) {
	n := ia.NumAddrs
	if k == KindPD {
		n = ia.NumPrefixes
	}
	for i := 0; i < n; i++ {
		p := netip.PrefixFrom(ia.Addrs[i].Addr, 128)
		if k == KindPD {
			p = ia.Prefixes[i].Prefix
		}
		if !p.Addr().IsUnspecified() && e.appropriate(sn, k, p) && e.usable(sn, k, p, duid, ia.IAID) && e.mayTake(k, p) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// listsForeign reports whether the IA lists a resource that is not
// appropriate for the link: an address outside the subnet's prefix, or a
// prefix outside every pd-pool and reservation. (A prefix-length hint,
// "::/60", names no resource.)
func (e *Engine) listsForeign(sn int, k Kind, ia *wire.IA) bool {
	s := &e.subnets[sn]
	if k == KindNA {
		for i := 0; i < ia.NumAddrs; i++ {
			if a := ia.Addrs[i].Addr; !a.IsUnspecified() && !s.cfg.Prefix.Contains(a) {
				return true
			}
		}
		return false
	}
	for i := 0; i < ia.NumPrefixes; i++ {
		if p := ia.Prefixes[i].Prefix; !p.Addr().IsUnspecified() && !s.inPools(k, p) {
			return true
		}
	}
	return false
}

// zeroOthers lists every resource in ia other than keep with lifetimes 0,
// and ended (a renumbered binding; invalid: none) if the IA does not list
// it.
func (e *Engine) zeroOthers(b []byte, k Kind, ia *wire.IA, keep, ended netip.Prefix) []byte {
	if ended.IsValid() && !listed(k, ia, ended) {
		b = appendLease(b, k, ended, 0, 0)
	}
	if k == KindNA {
		for i := 0; i < ia.NumAddrs; i++ {
			if a := ia.Addrs[i].Addr; a != keep.Addr() && !a.IsUnspecified() {
				b = wire.AppendIAAddr(b, a, 0, 0)
			}
		}
		return b
	}
	for i := 0; i < ia.NumPrefixes; i++ {
		if p := ia.Prefixes[i].Prefix; p != keep && !p.Addr().IsUnspecified() {
			b = wire.AppendIAPrefix(b, p, 0, 0)
		}
	}
	return b
}

// release ends the client's bindings (§18.3.7). The record stays RELEASED,
// so the client gets the same resource if it comes back soon.
func (e *Engine) release(in *Input, sn int) {
	e.endBindings(in, sn, StatusReleased, CauseRelease)
}

// decline marks addresses the client found in use as ABANDONED (§18.3.8).
func (e *Engine) decline(in *Input, sn int) {
	e.endBindings(in, sn, StatusAbandoned, CauseDecline)
}

func (e *Engine) endBindings(in *Input, sn int, to Status, why Cause) {
	m := &in.Pkt.Msg
	b, rs := e.begin(in, wire.Reply)
	b = e.appendStatus(b, wire.StatusSuccess, "done")
	for _, k := range [2]Kind{KindNA, KindPD} {
		ias := m.IANA[:m.NumIANA]
		if k == KindPD {
			if to == StatusAbandoned {
				break // DECLINE is for addresses only
			}
			ias = m.IAPD[:m.NumIAPD]
		}
		code, _ := iaCode(k)
		for i := range ias {
			ia := &ias[i]
			l := e.binding(k, m.ClientID, ia.IAID, sn)
			if l == nil || l.Status != StatusActive {
				var start int
				b, start = wire.BeginIA(b, code, ia.IAID, 0, 0)
				b = e.appendStatus(b, wire.StatusNoBinding, "no binding for this IA")
				b = wire.EndOption(b, start)
				continue
			}
			if !listed(k, ia, l.Prefix) {
				// §18.3.7, §18.3.8: leases the IA does not list, or
				// that were not assigned to it, are ignored.
				continue
			}
			nb := l.Binding
			nb.Status, nb.StartOfState, nb.CLTT = to, e.now, e.now
			e.emit(Event{Kind: EventLease, Time: e.now, Why: why, Binding: nb})
		}
	}
	e.finish(in, sn, b, rs)
}

// listed reports whether the client's IA lists resource p.
func listed(k Kind, ia *wire.IA, p netip.Prefix) bool {
	if k == KindNA {
		for i := 0; i < ia.NumAddrs; i++ {
			if ia.Addrs[i].Addr == p.Addr() {
				return true
			}
		}
		return false
	}
	for i := 0; i < ia.NumPrefixes; i++ {
		if ia.Prefixes[i].Prefix == p {
			return true
		}
	}
	return false
}

// confirm tells a client whether its addresses still suit its link
// (§18.3.3). With no addresses, or no way to tell, there is no reply.
func (e *Engine) confirm(in *Input, sn int) {
	m := &in.Pkt.Msg
	n, onLink := 0, true
	for i := 0; i < m.NumIANA; i++ {
		for j := 0; j < m.IANA[i].NumAddrs; j++ {
			n++
			if sn < 0 || !e.subnets[sn].cfg.Prefix.Contains(m.IANA[i].Addrs[j].Addr) {
				onLink = false
			}
		}
	}
	if sn < 0 {
		e.drop(DropNoSubnet) // no way to tell: no reply
		return
	}
	if n == 0 {
		e.drop(DropNoAddrs)
		return
	}
	b, rs := e.begin(in, wire.Reply)
	if onLink {
		b = e.appendStatus(b, wire.StatusSuccess, "all addresses on link")
	} else {
		b = e.appendStatus(b, wire.StatusNotOnLink, "not on link")
	}
	e.finish(in, sn, b, rs)
}

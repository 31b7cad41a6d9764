package enginetest

import (
	"fmt"
	"net/netip"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// The invariants of ARCHITECTURE.md "Invariants worth a checker", checked
// against the servers' durable states (the journal folded: what a crash
// leaves) and what the clients were told.

// knows is the latest time the partner's durable record of p lets a client
// hold it: the partner will not give p to anyone else before this + MCLT,
// even in PARTNER-DOWN (engine.ReusableAt uses the same fields).
func knows(b engine.Binding, ok bool) int64 {
	if !ok {
		return 0
	}
	return max(b.Expires, b.PartnerLifetime, b.AckedPartnerLifetime, b.ExpirationTime)
}

// checkReply checks one reply server i released while in state st.
func (s *Sim) checkReply(i int, st engine.State, c *client, t wire.MsgType, p *wire.Packet, pre map[resKey]uint32) {
	m := &p.Msg
	primary := i == 0
	if !s.o.Checks.SkipService {
		switch st {
		case 0, engine.StateStartup, engine.StatePotentialConflict, engine.StateRecover, engine.StateRecoverWait:
			s.failf("4-service", "%s answered c%d's %v with %v in %v", names[i], c.n, t, m.Type, st)
			return
		}
		newOnly := (!primary && st == engine.StateNormal) || st == engine.StateRecoverDone
		if newOnly && m.Type == wire.Advertise {
			s.failf("4-service", "%s (%v) advertised to c%d", names[i], st, c.n)
			return
		}
		if newOnly && m.Type == wire.Reply && t != wire.Release {
			s.eachGrant(m, func(k engine.Kind, iaid uint32, r netip.Prefix, valid uint32) {
				if iaid2, ok := pre[resKey{k, r}]; !ok || iaid2 != iaid {
					s.failf("4-service", "%s in %v granted c%d a new lease %s (iaid %d) for its %v", names[i], st, c.n, r, iaid, t)
				}
			})
		}
	}
	if m.Type != wire.Reply || s.o.Checks.SkipMCLT || st == engine.StatePartnerDown {
		return
	}
	now := s.nowSec(i)
	partner := s.srv[1-i]
	s.eachGrant(m, func(k engine.Kind, iaid uint32, r netip.Prefix, valid uint32) {
		pb, ok := partner.shadow[r]
		kn := knows(pb, ok)
		if exp, bound := now+int64(valid), max(kn, now)+mclt+skewSlack; exp > bound {
			s.failf("1-mclt", "%s (%v) gave c%d %s until now+%ds, but its partner knows only now+%ds (+MCLT %d); partner record: %s",
				names[i], st, c.n, r, valid, kn-now, mclt, describe(pb, ok, now))
		}
	})
}

func (s *Sim) eachGrant(m *wire.Message, fn func(k engine.Kind, iaid uint32, p netip.Prefix, valid uint32)) {
	for j := 0; j < m.NumIANA; j++ {
		ia := &m.IANA[j]
		for k := 0; k < ia.NumAddrs; k++ {
			if ia.Addrs[k].Valid > 0 {
				fn(engine.KindNA, ia.IAID, netip.PrefixFrom(ia.Addrs[k].Addr, 128), ia.Addrs[k].Valid)
			}
		}
	}
	for j := 0; j < m.NumIAPD; j++ {
		ia := &m.IAPD[j]
		for k := 0; k < ia.NumPrefixes; k++ {
			if ia.Prefixes[k].Valid > 0 {
				fn(engine.KindPD, ia.IAID, ia.Prefixes[k].Prefix, ia.Prefixes[k].Valid)
			}
		}
	}
}

func describe(b engine.Binding, ok bool, now int64) string {
	if !ok {
		return "none"
	}
	rel := func(t int64) string {
		if t == 0 {
			return "0"
		}
		return fmt.Sprintf("%+d", t-now)
	}
	return fmt.Sprintf("{c%s iaid=%d %v exp=%s pl=%s ackpl=%s exptime=%s}", cname(b.DUID), b.IAID, b.Status,
		rel(b.Expires), rel(b.PartnerLifetime), rel(b.AckedPartnerLifetime), rel(b.ExpirationTime))
}

// checkStep runs after every step: conflicts in the servers' union and in
// what clients hold, and durability for a server that is down.
func (s *Sim) checkStep() {
	if s.fail {
		return
	}
	bothPD := s.srv[0].durableState() == engine.StatePartnerDown && s.srv[1].durableState() == engine.StatePartnerDown
	if !s.o.Checks.SkipConflict && !bothPD {
		live := s.simSec() + skewSlack
		for p, b0 := range s.srv[0].shadow {
			b1, ok := s.srv[1].shadow[p]
			if !ok || b0.Status != engine.StatusActive || b1.Status != engine.StatusActive || b0.Expires <= live || b1.Expires <= live {
				continue
			}
			if b0.DUID != b1.DUID || b0.IAID != b1.IAID {
				s.res.Stats.Conflicts++
				s.failf("2-conflict", "%s ACTIVE for two clients: P %s, S %s (P %v, S %v)", p,
					describe(b0, true, s.simSec()), describe(b1, true, s.simSec()), s.srv[0].durableState(), s.srv[1].durableState())
				return
			}
		}
		holder := map[resKey]*client{}
		for _, c := range s.cl {
			for k, h := range c.hold {
				if h.expiry <= live {
					continue
				}
				if o, ok := holder[k]; ok {
					s.failf("2-conflict", "clients c%d and c%d both hold %s (c%d from %s until +%d, c%d from %s until +%d)",
						o.n, c.n, k.p, o.n, names[o.hold[k].server], o.hold[k].expiry-s.simSec(), c.n, names[h.server], h.expiry-s.simSec())
					return
				}
				holder[k] = c
			}
		}
	}
	for i, sv := range s.srv {
		if !sv.running() {
			s.checkDurable(i, func(p netip.Prefix) (engine.Binding, bool) { b, ok := sv.shadow[p]; return b, ok })
		}
	}
	s.checkReleased()
}

// checkReleased: a client that released what a REQUEST had just given it
// (within 2 s, so its RELEASED ties with the grant's ACTIVE, RFC 8156
// §7.5.4) has let it go on both servers once the pair has settled (both
// NORMAL, nothing in flight): neither holds it ACTIVE for that client
// unless the client took it again since (issue 12: the partner's ACTIVE
// won the tie and came back to the releasing server).
func (s *Sim) checkReleased() {
	if s.fail || s.o.Checks.SkipConverge || !s.settled() {
		return
	}
	for _, c := range s.cl {
		for _, k := range c.released {
			for i, sv := range s.srv {
				if b, ok := sv.shadow[k.p]; ok && b.Status == engine.StatusActive && b.DUID == string(c.duid) {
					s.failf("converge", "c%d released %s right after its grant, but %s still has it %s",
						c.n, k.p, names[i], describe(b, true, s.nowSec(i)))
					return
				}
			}
		}
		s.res.Stats.ReleasesChecked += len(c.released)
		c.released = c.released[:0]
	}
}

// checkCrash runs as server i goes down: the journal replayed must hold
// every lease a client was told about by i, and every lease i acked to its
// partner; and, when no Ready was lost, replay must rebuild exactly the
// live state (ARCHITECTURE rule 1).
func (s *Sim) checkCrash(i int, live *engine.Engine) {
	e := s.rebuild(i)
	if live != nil && !live.HasReady() && live.Digest() != e.Digest() {
		s.failf("3-durable", "%s: journal replay digest %016x != live digest %016x", names[i], e.Digest(), live.Digest())
		return
	}
	s.checkDurable(i, e.Lookup)
}

func (s *Sim) checkDurable(i int, lookup func(netip.Prefix) (engine.Binding, bool)) {
	if s.fail || s.o.Checks.SkipDurable {
		return
	}
	live := s.simSec() + skewSlack
	for _, c := range s.cl {
		for k, h := range c.hold {
			if h.expiry <= live || !(h.server == i || h.acked && h.server == 1-i) {
				continue
			}
			b, ok := lookup(k.p)
			if !ok || b.Status != engine.StatusActive || b.DUID != string(c.duid) || b.IAID != h.iaid ||
				h.server == i && b.Expires < h.expiry-skewSlack {
				why := "granted by it"
				if h.server != i {
					why = "acked by it to " + names[h.server]
				}
				s.failf("3-durable", "%s's journal lost c%d's %s (%s, held until +%d): journal has %s",
					names[i], c.n, k.p, why, h.expiry-s.simSec(), describe(b, ok, s.simSec()))
				return
			}
		}
	}
}

// checkAgree is the end-of-run check: both NORMAL (settled), and the same
// ACTIVE leases on both sides.
func (s *Sim) checkAgree() {
	live := s.simSec() + 10
	for _, pair := range [2][2]int{{0, 1}, {1, 0}} {
		a, b := s.srv[pair[0]].shadow, s.srv[pair[1]].shadow
		for p, ba := range a {
			if ba.Status != engine.StatusActive || ba.Expires <= live {
				continue
			}
			bb, ok := b[p]
			if !ok || bb.Status != engine.StatusActive || bb.DUID != ba.DUID || bb.IAID != ba.IAID {
				s.failf("converge", "after healing %s has %s %s but %s has %s", names[pair[0]], p,
					describe(ba, true, s.simSec()), names[pair[1]], describe(bb, ok, s.simSec()))
				return
			}
		}
	}
}

package enginetest

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// The simulated clients: a population that SOLICITs, REQUESTs, RENEWs,
// REBINDs and RELEASEs by multicast to both servers and remembers what
// each REPLY granted — what the checks hold the servers to.

// resKey names a leased resource.
type resKey struct {
	kind engine.Kind
	p    netip.Prefix
}

// holding is what a client was told about one resource.
type holding struct {
	iaid   uint32
	expiry int64 // sim seconds
	server int   // who granted it last
	acked  bool  // the granter has had it BNDREPLY'd by its partner since
}

type client struct {
	n      int
	duid   []byte
	pd     bool // also asks for a prefix
	adv    int  // server whose ADVERTISE was taken, -1 none
	advAt  int64
	hold   map[resKey]holding
	xid    uint32
	lastAt int // last server that answered (RENEW/RELEASE go there)
	// releaseAt (ms), when set, is when the client releases what a
	// REQUEST just gave it: its next action, whichever comes first.
	releaseAt int64
	// released: what such a quick RELEASE let go of, for checkReleased.
	released []resKey
}

func cname(duid string) string {
	if len(duid) == 10 {
		return fmt.Sprint(int(duid[8])<<8 | int(duid[9]))
	}
	return fmt.Sprintf("%x", duid)
}

func (s *Sim) expireClients() {
	now := s.simSec()
	for _, c := range s.cl {
		for k, h := range c.hold {
			if h.expiry <= now {
				delete(c.hold, k)
			}
		}
	}
}

// quickReleases runs the RELEASEs that are due (see take).
func (s *Sim) quickReleases() {
	for _, c := range s.cl {
		if c.releaseAt != 0 && c.releaseAt <= s.nowMS && !s.fail {
			s.quickRelease(c)
		}
	}
}

func (s *Sim) quickRelease(c *client) {
	if len(c.hold) > 0 {
		s.exchange(c, wire.Release, c.lastAt)
	}
	c.releaseAt = 0
}

func (s *Sim) clientAction(c *client) {
	switch {
	case c.releaseAt != 0: // about to let go: nothing else first
		s.quickRelease(c)
	case len(c.hold) == 0 && (c.adv < 0 || s.nowMS-c.advAt > 30_000):
		s.exchange(c, wire.Solicit, -1)
	case len(c.hold) == 0:
		s.exchange(c, wire.Request, c.adv)
	default:
		r := s.rng.Float64()
		switch {
		case r < 0.55:
			s.exchange(c, wire.Renew, c.lastAt)
		case r < 0.8:
			s.exchange(c, wire.Rebind, -1)
		case r < 0.93:
			s.exchange(c, wire.Release, c.lastAt)
		default:
			s.logf("c%d vanishes holding %d", c.n, len(c.hold))
			clear(c.hold)
			c.adv = -1
		}
	}
}

// encode builds the client's message; to names the server (SERVERID), -1
// for none.
func (s *Sim) encode(c *client, t wire.MsgType, to int) []byte {
	c.xid++
	b := wire.AppendHeader(s.buf[:0], t, [3]byte{byte(c.n), byte(c.xid >> 8), byte(c.xid)})
	b = wire.AppendOption(b, wire.OptClientID, c.duid)
	if to >= 0 {
		b = wire.AppendOption(b, wire.OptServerID, serverID[to])
	}
	b = wire.AppendUint16Option(b, wire.OptElapsedTime, 0)
	keys := c.sortedKeys()
	var st int
	b, st = wire.BeginIA(b, wire.OptIANA, 1, 0, 0)
	for _, k := range keys {
		if k.kind == engine.KindNA {
			b = wire.AppendIAAddr(b, k.p.Addr(), 0, 0)
		}
	}
	b = wire.EndOption(b, st)
	if c.pd {
		b, st = wire.BeginIA(b, wire.OptIAPD, 2, 0, 0)
		for _, k := range keys {
			if k.kind == engine.KindPD {
				b = wire.AppendIAPrefix(b, k.p, 0, 0)
			}
		}
		b = wire.EndOption(b, st)
	}
	s.buf = b
	return b
}

func (c *client) sortedKeys() []resKey {
	keys := make([]resKey, 0, len(c.hold))
	for k := range c.hold {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].kind != keys[j].kind {
			return keys[i].kind < keys[j].kind
		}
		return keys[i].p.Addr().Less(keys[j].p.Addr())
	})
	return keys
}

type answer struct {
	from int
	raw  []byte
	pkt  *wire.Packet
}

// exchange sends one client message by multicast to both servers (in a
// random order), checks every reply released, and lets the client take the
// first one that reaches it.
func (s *Sim) exchange(c *client, t wire.MsgType, to int) {
	raw := s.encode(c, t, to)
	var answers []answer
	order := [2]int{0, 1}
	if s.rng.IntN(2) == 1 {
		order = [2]int{1, 0}
	}
	for _, i := range order {
		sv := s.srv[i]
		if !sv.running() {
			continue
		}
		if err := s.pkt.Decode(raw); err != nil {
			s.failf("harness", "client message does not decode: %v", err)
			return
		}
		pre := s.snapshotClient(i, c)
		if err := s.stepIn(i, engine.Input{Kind: engine.InputClient, Pkt: &s.pkt, Iface: "eth0", Multicast: true,
			To: engine.Dest{Addr: netip.AddrPortFrom(netip.MustParseAddr("fe80::c"), 546), IfIndex: 2}}); err != nil {
			s.failf("harness", "client step: %v", err)
			return
		}
		st := sv.state()
		for _, rep := range s.flush(i) {
			p := new(wire.Packet)
			if err := p.Decode(rep); err != nil {
				s.failf("harness", "reply from %s does not decode: %v", names[i], err)
				return
			}
			s.res.Stats.Replies++
			s.checkReply(i, st, c, t, p, pre)
			answers = append(answers, answer{from: i, raw: rep, pkt: p})
		}
	}
	if len(answers) == 0 {
		s.logf("c%d %v to %s: no answer", c.n, t, srvName(to))
		if t == wire.Request {
			c.adv = -1
		}
		return
	}
	a := answers[s.rng.IntN(len(answers))]
	s.take(c, t, a)
}

func srvName(i int) string {
	if i < 0 {
		return "all"
	}
	return names[i]
}

// snapshotClient is what server i durably held ACTIVE for client c before
// a request (for the "new client" rule).
func (s *Sim) snapshotClient(i int, c *client) map[resKey]uint32 {
	m := map[resKey]uint32{}
	for p, b := range s.srv[i].shadow {
		if b.Status == engine.StatusActive && b.DUID == string(c.duid) {
			m[resKey{b.Kind, p}] = b.IAID
		}
	}
	return m
}

// take records what the chosen answer told the client.
func (s *Sim) take(c *client, t wire.MsgType, a answer) {
	m := &a.pkt.Msg
	var sb strings.Builder
	switch {
	case t == wire.Release:
		if c.releaseAt != 0 {
			c.released = append(c.released, c.sortedKeys()...)
			s.res.Stats.QuickReleases++
		}
		clear(c.hold)
		c.adv = -1
		s.logf("c%d RELEASE -> %s", c.n, names[a.from])
		return
	case m.Type == wire.Advertise:
		c.adv, c.advAt = a.from, s.nowMS
		s.logf("c%d SOLICIT -> ADVERTISE from %s", c.n, names[a.from])
		return
	}
	c.lastAt = a.from
	c.adv = -1
	now := s.simSec()
	upd := func(k engine.Kind, iaid uint32, p netip.Prefix, valid uint32) {
		key := resKey{k, p}
		if valid == 0 {
			delete(c.hold, key)
			fmt.Fprintf(&sb, " -%s", p)
			return
		}
		s.res.Stats.Grants++
		c.hold[key] = holding{iaid: iaid, expiry: now + int64(valid), server: a.from}
		c.released = slices.DeleteFunc(c.released, func(k resKey) bool { return k == key })
		fmt.Fprintf(&sb, " %s/%ds", p, valid)
	}
	for j := 0; j < m.NumIANA; j++ {
		ia := &m.IANA[j]
		if ia.HasStatus && ia.Status == wire.StatusNoBinding {
			s.dropIA(c, engine.KindNA)
			sb.WriteString(" na:nobinding")
		}
		for k := 0; k < ia.NumAddrs; k++ {
			upd(engine.KindNA, ia.IAID, netip.PrefixFrom(ia.Addrs[k].Addr, 128), ia.Addrs[k].Valid)
		}
	}
	for j := 0; j < m.NumIAPD; j++ {
		ia := &m.IAPD[j]
		if ia.HasStatus && ia.Status == wire.StatusNoBinding {
			s.dropIA(c, engine.KindPD)
			sb.WriteString(" pd:nobinding")
		}
		for k := 0; k < ia.NumPrefixes; k++ {
			upd(engine.KindPD, ia.IAID, ia.Prefixes[k].Prefix, ia.Prefixes[k].Valid)
		}
	}
	s.logf("c%d %v -> REPLY from %s:%s", c.n, t, names[a.from], sb.String())
	if t == wire.Request && len(c.hold) > 0 && s.rng.Float64() < pQuickRelease {
		c.releaseAt = s.nowMS + s.rng.Int64N(2001)
	}
}

func (s *Sim) dropIA(c *client, k engine.Kind) {
	for key := range c.hold {
		if key.kind == k {
			delete(c.hold, key)
		}
	}
}

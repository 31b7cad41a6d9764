package engine

// One test per RFC 8415 server behaviour, named by section, in the manner
// of etcd raft's raft_paper_test.go. The section text each one checks is
// quoted (abridged) above it.

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// --- helpers -----------------------------------------------------------------

// findIA returns the IA of kind k with iaid in m.
func findIA(t testing.TB, m *wire.Message, k Kind, iaid uint32) *wire.IA {
	t.Helper()
	ias := m.IANA[:m.NumIANA]
	if k == KindPD {
		ias = m.IAPD[:m.NumIAPD]
	}
	for i := range ias {
		if ias[i].IAID == iaid {
			return &ias[i]
		}
	}
	t.Fatalf("%v has no %v IA %d", m.Type, k, iaid)
	return nil
}

// leasedAddr returns the one address in ia with a non-zero valid lifetime.
func leasedAddr(t testing.TB, ia *wire.IA) netip.Addr {
	t.Helper()
	var out []netip.Addr
	for i := 0; i < ia.NumAddrs; i++ {
		if ia.Addrs[i].Valid > 0 {
			out = append(out, ia.Addrs[i].Addr)
		}
	}
	if len(out) != 1 || ia.HasStatus && ia.Status != wire.StatusSuccess {
		t.Fatalf("IA %d: leased addresses %v, status %v/%d; want one", ia.IAID, out, ia.HasStatus, ia.Status)
	}
	return out[0]
}

// leasedPrefix returns the one prefix in ia with a non-zero valid lifetime.
func leasedPrefix(t testing.TB, ia *wire.IA) netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for i := 0; i < ia.NumPrefixes; i++ {
		if ia.Prefixes[i].Valid > 0 {
			out = append(out, ia.Prefixes[i].Prefix)
		}
	}
	if len(out) != 1 || ia.HasStatus && ia.Status != wire.StatusSuccess {
		t.Fatalf("IA_PD %d: leased prefixes %v, status %v/%d; want one", ia.IAID, out, ia.HasStatus, ia.Status)
	}
	return out[0]
}

// iaStatus returns the IA's status code, failing if it has none.
func iaStatus(t testing.TB, ia *wire.IA) uint16 {
	t.Helper()
	if !ia.HasStatus {
		t.Fatalf("IA %d has no status code", ia.IAID)
	}
	return ia.Status
}

// innerOptions lists the option codes of the client/server message inside
// any relay wrapping, in order.
func innerOptions(t testing.TB, raw []byte) []uint16 {
	t.Helper()
	b := raw
	for len(b) > 0 && (wire.MsgType(b[0]) == wire.RelayForw || wire.MsgType(b[0]) == wire.RelayRepl) {
		opts := b[34:]
		var inner []byte
		for len(opts) >= 4 {
			code, n := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
			if code == wire.OptRelayMsg {
				inner = opts[4 : 4+n]
			}
			opts = opts[4+n:]
		}
		b = inner
	}
	var codes []uint16
	for opts := b[4:]; len(opts) >= 4; {
		code, n := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
		codes = append(codes, code)
		opts = opts[4+n:]
	}
	return codes
}

func wantNoEvents(t testing.TB, r *result) {
	t.Helper()
	if len(r.events) != 0 {
		t.Fatalf("got %d events, want none: %v", len(r.events), formatEvents(r.events))
	}
}

func wantDropped(t testing.TB, r *result, why DropReason) {
	t.Helper()
	if len(r.replies) != 0 {
		t.Fatalf("got a reply, want the message dropped (%v):\n%s", why, formatReply(r.replies[0], testServerDUID))
	}
	wantNoEvents(t, r)
	if len(r.dropped) != 1 || r.dropped[0] != why {
		t.Fatalf("dropped %v, want [%v]", r.dropped, why)
	}
}

func inPool(a netip.Addr, lo, hi string) bool {
	return mustAddr(lo).Compare(a) <= 0 && a.Compare(mustAddr(hi)) <= 0
}

// --- §18.3.1 Solicit ----------------------------------------------------------

// §18.3.1: "The server MUST include IA options in the Advertise message
// containing any addresses and/or delegated prefixes that would be assigned
// to IAs contained in the Solicit message"; §18.3: "Advertise and Reply
// messages MUST always contain the Server Identifier option ... and the
// Client Identifier option from the client message". An ADVERTISE commits
// nothing.
func TestRFC8415_18_3_1_SolicitAdvertise(t *testing.T) {
	tr := newTester(t, basicConfig())
	m := tr.msgFor(wire.Solicit, 1, true, true)
	m.xid = 0xabcdef
	r := tr.send(m)
	p := r.reply(t)
	msg := &p.Msg
	if msg.Type != wire.Advertise || msg.XID != [3]byte{0xab, 0xcd, 0xef} {
		t.Fatalf("got %v xid %x, want ADVERTISE xid abcdef", msg.Type, msg.XID)
	}
	if string(msg.ServerID) != string(testServerDUID) || string(msg.ClientID) != string(clientDUID(1)) {
		t.Fatalf("SERVERID %x CLIENTID %x", msg.ServerID, msg.ClientID)
	}
	if p.Relayed() || r.to[0].Socket != 1 || r.to[0].IfIndex != 2 {
		t.Fatalf("reply destination %+v not copied from the input", r.to[0])
	}
	na := findIA(t, msg, KindNA, 1)
	a := leasedAddr(t, na)
	if !inPool(a, "2001:db8:1::1000", "2001:db8:1::1fff") {
		t.Fatalf("offered %v outside the pool", a)
	}
	if na.T1 != 900 || na.T2 != 1440 || na.Addrs[0].Preferred != 1800 || na.Addrs[0].Valid != 3600 {
		t.Fatalf("timers %d/%d lifetimes %d/%d, want 900/1440 1800/3600", na.T1, na.T2, na.Addrs[0].Preferred, na.Addrs[0].Valid)
	}
	pd := leasedPrefix(t, findIA(t, msg, KindPD, 1))
	if pd.Bits() != 56 || !mustPrefix("2001:db8:100::/48").Contains(pd.Addr()) || pd.Masked() != pd {
		t.Fatalf("offered prefix %v not a /56 of the pool", pd)
	}
	wantNoEvents(t, r)
	if tr.e.Len() != 0 {
		t.Fatalf("an ADVERTISE left %d records", tr.e.Len())
	}
	// The same SOLICIT again gets the same offer: nothing is stored, the
	// REQUEST recomputes it.
	p2 := tr.send(tr.msgFor(wire.Solicit, 1, true, true)).reply(t)
	if b := leasedAddr(t, findIA(t, &p2.Msg, KindNA, 1)); b != a {
		t.Fatalf("second ADVERTISE offered %v, first %v", b, a)
	}
}

// §18.3.1 / §21.8: "The server MAY add a Preference option to carry the
// preference value for the Advertise message" and it "MUST default to zero
// unless otherwise configured"; a missing option counts as 0 (§18.2.9).
func TestRFC8415_18_3_1_Preference(t *testing.T) {
	for _, c := range []struct {
		cfg      int
		has      bool
		expected uint8
	}{{0, true, 0}, {10, true, 10}, {255, true, 255}, {-1, false, 0}} {
		cfg := basicConfig()
		cfg.Preference = c.cfg
		tr := newTester(t, cfg)
		msg := &tr.send(tr.msgFor(wire.Solicit, 1, true, false)).reply(t).Msg
		if msg.HasPreference != c.has || msg.Preference != c.expected {
			t.Errorf("config %d: PREFERENCE present=%v value=%d, want %v %d", c.cfg, msg.HasPreference, msg.Preference, c.has, c.expected)
		}
		// A REPLY carries no preference.
		rep := &tr.send(tr.msgFor(wire.Request, 1, true, false)).reply(t).Msg
		if rep.HasPreference {
			t.Errorf("config %d: REPLY carries PREFERENCE", c.cfg)
		}
	}
}

// §18.3.1: "If the client has included a Rapid Commit option and the server
// has been configured to respond with committed address assignments ...,
// the server responds to the Solicit with a Reply message", including a
// Rapid Commit option (§21.14). Otherwise the Solicit gets an ADVERTISE.
func TestRFC8415_18_3_1_RapidCommit(t *testing.T) {
	for _, c := range []struct {
		server, client bool
		want           wire.MsgType
	}{{true, true, wire.Reply}, {true, false, wire.Advertise}, {false, true, wire.Advertise}, {false, false, wire.Advertise}} {
		cfg := basicConfig()
		cfg.RapidCommit = c.server
		tr := newTester(t, cfg)
		m := tr.msgFor(wire.Solicit, 1, true, true)
		m.rapid = c.client
		r := tr.send(m)
		msg := &r.reply(t).Msg
		if msg.Type != c.want || msg.RapidCommit != (c.want == wire.Reply) {
			t.Errorf("server=%v client=%v: got %v rapid=%v, want %v", c.server, c.client, msg.Type, msg.RapidCommit, c.want)
			continue
		}
		if c.want == wire.Advertise {
			wantNoEvents(t, r)
			continue
		}
		if msg.HasPreference {
			t.Errorf("rapid REPLY carries PREFERENCE")
		}
		a := leasedAddr(t, findIA(t, msg, KindNA, 1))
		pfx := leasedPrefix(t, findIA(t, msg, KindPD, 1))
		if len(r.events) != 2 || r.events[0].Why != CauseSolicit {
			t.Fatalf("rapid commit: events %s", formatEvents(r.events))
		}
		for _, q := range []netip.Prefix{netip.PrefixFrom(a, 128), pfx} {
			b, ok := tr.e.Lookup(q)
			if !ok || b.Status != StatusActive || b.DUID != string(clientDUID(1)) {
				t.Fatalf("rapid commit did not bind %v: %+v", q, b)
			}
		}
		// A later RENEW finds the binding.
		rr := tr.send(tr.msgFor(wire.Renew, 1, true, true)).reply(t)
		if got := leasedAddr(t, findIA(t, &rr.Msg, KindNA, 1)); got != a {
			t.Fatalf("renew after rapid commit gave %v, want %v", got, a)
		}
	}
}

// §18.3.1 (with RFC 7550): an IA the server will not serve comes back with
// NoAddrsAvail (IA_NA) or NoPrefixAvail (IA_PD) inside it; when nothing at
// all can be assigned, the message also carries a top-level NoAddrsAvail,
// which RFC 3315 clients look for.
func TestRFC8415_18_3_1_NoAddrsAvail(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::10"), End: mustAddr("2001:db8:1::11")}}
	cfg.Subnets[0].PDPools = []PDPool{{Prefix: mustPrefix("2001:db8:100::/56"), DelegatedLen: 56}}
	tr := newTester(t, cfg)
	tr.lease(1, true, true)
	tr.lease(2, true, false)

	r := tr.send(tr.msgFor(wire.Solicit, 3, true, true))
	msg := &r.reply(t).Msg
	if s := iaStatus(t, findIA(t, msg, KindNA, 1)); s != wire.StatusNoAddrsAvail {
		t.Errorf("IA_NA status %d, want NoAddrsAvail", s)
	}
	if s := iaStatus(t, findIA(t, msg, KindPD, 1)); s != wire.StatusNoPrefixAvail {
		t.Errorf("IA_PD status %d, want NoPrefixAvail", s)
	}
	if !msg.HasStatus || msg.Status != wire.StatusNoAddrsAvail {
		t.Errorf("top-level status %v/%d, want NoAddrsAvail", msg.HasStatus, msg.Status)
	}
	if ia := findIA(t, msg, KindNA, 1); ia.NumAddrs != 0 || ia.T1 != 0 || ia.T2 != 0 {
		t.Errorf("exhausted IA lists %d addresses, T1 %d T2 %d", ia.NumAddrs, ia.T1, ia.T2)
	}

	// One kind available: that IA is served, the other says why not, and
	// there is no top-level status.
	tr.send(tMsg{typ: wire.Release, client: clientDUID(2), server: testServerDUID, na: []tIA{{iaid: 1, addrs: tr.heldNA(2, 1)}}})
	msg = &tr.send(tr.msgFor(wire.Solicit, 3, true, true)).reply(t).Msg
	leasedAddr(t, findIA(t, msg, KindNA, 1))
	if s := iaStatus(t, findIA(t, msg, KindPD, 1)); s != wire.StatusNoPrefixAvail {
		t.Errorf("IA_PD status %d, want NoPrefixAvail", s)
	}
	if msg.HasStatus {
		t.Errorf("top-level status %d with an address offered", msg.Status)
	}
}

// §18.3.1, §21.5: tandem assigns no temporary addresses: an IA_TA is
// answered with NoAddrsAvail while the other IAs are served.
func TestRFC8415_18_3_1_IATA(t *testing.T) {
	tr := newTester(t, basicConfig())
	m := tr.msgFor(wire.Solicit, 1, true, false)
	m.ta = []uint32{7}
	msg := &tr.send(m).reply(t).Msg
	if msg.NumIATA != 1 || msg.IATA[0].IAID != 7 || iaStatus(t, &msg.IATA[0]) != wire.StatusNoAddrsAvail {
		t.Fatalf("IA_TA answer %+v", msg.IATA[:msg.NumIATA])
	}
	leasedAddr(t, findIA(t, msg, KindNA, 1))
}

// §18.3.1 / §18.3.2 with several IA_NA and IA_PD options in one message:
// every IA gets its own, distinct resource, and the ADVERTISE shows exactly
// what the REQUEST then commits — also when the client hints the same
// address or prefix in every IA.
func TestRFC8415_18_3_2_SeveralIAs(t *testing.T) {
	for _, hinted := range []bool{false, true} {
		tr := newTester(t, basicConfig())
		sol := tMsg{typ: wire.Solicit, client: clientDUID(1)}
		for i := uint32(1); i <= 4; i++ {
			na, pd := tIA{iaid: i}, tIA{iaid: 100 + i}
			if hinted {
				na.addrs = []netip.Addr{mustAddr("2001:db8:1::1234")}
				pd.prefixes = []netip.Prefix{mustPrefix("2001:db8:100:4200::/56")}
			}
			sol.na = append(sol.na, na)
			sol.pd = append(sol.pd, pd)
		}
		adv := &tr.send(sol).reply(t).Msg
		req := sol
		req.typ, req.server = wire.Request, testServerDUID
		r := tr.send(req)
		rep := &r.reply(t).Msg
		seen := map[netip.Prefix]bool{}
		for i := uint32(1); i <= 4; i++ {
			a := leasedAddr(t, findIA(t, adv, KindNA, i))
			if got := leasedAddr(t, findIA(t, rep, KindNA, i)); got != a {
				t.Errorf("hinted=%v IA_NA %d: ADVERTISE offered %v, REPLY gave %v", hinted, i, a, got)
			}
			p := leasedPrefix(t, findIA(t, adv, KindPD, 100+i))
			if got := leasedPrefix(t, findIA(t, rep, KindPD, 100+i)); got != p {
				t.Errorf("hinted=%v IA_PD %d: ADVERTISE offered %v, REPLY gave %v", hinted, 100+i, p, got)
			}
			for _, q := range []netip.Prefix{netip.PrefixFrom(a, 128), p} {
				if seen[q] {
					t.Errorf("hinted=%v: %v given to two IAs", hinted, q)
				}
				seen[q] = true
			}
		}
		if len(r.events) != 8 {
			t.Errorf("hinted=%v: %d events, want 8", hinted, len(r.events))
		}
		if na, pd := tr.e.Active(); na != 4 || pd != 4 {
			t.Errorf("hinted=%v: active %d/%d, want 4/4", hinted, na, pd)
		}
		if hinted {
			if !seen[mustPrefix("2001:db8:1::1234/128")] || !seen[mustPrefix("2001:db8:100:4200::/56")] {
				t.Errorf("the hints were given to no IA")
			}
		}
	}
}

// --- §18.3.2 Request ----------------------------------------------------------

// §18.3.2: "the server creates the bindings for that client according to
// the server's policy and configuration information and records the IAs
// and other information requested by the client" and sends a REPLY with
// the leases and T1/T2.
func TestRFC8415_18_3_2_Request(t *testing.T) {
	tr := newTester(t, basicConfig())
	adv := &tr.send(tr.msgFor(wire.Solicit, 1, true, true)).reply(t).Msg
	a := leasedAddr(t, findIA(t, adv, KindNA, 1))
	p := leasedPrefix(t, findIA(t, adv, KindPD, 1))
	tr.advance(5 * time.Second)
	r := tr.send(tr.msgFor(wire.Request, 1, true, true))
	rep := &r.reply(t).Msg
	if rep.Type != wire.Reply {
		t.Fatalf("got %v", rep.Type)
	}
	if got := leasedAddr(t, findIA(t, rep, KindNA, 1)); got != a {
		t.Fatalf("REPLY gave %v, ADVERTISE offered %v", got, a)
	}
	if got := leasedPrefix(t, findIA(t, rep, KindPD, 1)); got != p {
		t.Fatalf("REPLY gave %v, ADVERTISE offered %v", got, p)
	}
	now := tr.now.Unix()
	for i, q := range []netip.Prefix{netip.PrefixFrom(a, 128), p} {
		ev := r.events[i]
		want := Binding{Kind: Kind(i + 1), Prefix: q, DUID: string(clientDUID(1)), IAID: 1, Status: StatusActive,
			StartOfState: now, CLTT: now, Preferred: 1800, Valid: 3600, Expires: now + 3600}
		if ev.Kind != EventLease || ev.Why != CauseRequest || ev.Time != now || ev.Binding != want {
			t.Errorf("event %d = %s, want %s", i, formatEvent(&ev), formatBinding(&want))
		}
		if b, ok := tr.e.Lookup(q); !ok || b != want {
			t.Errorf("Lookup(%v) = %s", q, formatBinding(&b))
		}
	}
}

// §18.3.2 / §18.3.1: "If the client has included addresses in the IAs ...
// the server uses those addresses as hints". A hint inside a pool that is
// free is honoured; one outside the pools, or bound to another client, is
// not.
func TestRFC8415_18_3_2_HintHonoured(t *testing.T) {
	tr := newTester(t, basicConfig())
	solicit := func(c int, hint string) netip.Addr {
		m := tr.msgFor(wire.Solicit, c, true, false)
		m.na[0].addrs = []netip.Addr{mustAddr(hint)}
		return leasedAddr(t, findIA(t, &tr.send(m).reply(t).Msg, KindNA, 1))
	}
	if got := solicit(1, "2001:db8:1::1abc"); got != mustAddr("2001:db8:1::1abc") {
		t.Fatalf("free in-pool hint not honoured: got %v", got)
	}
	tr.send(tr.msgFor(wire.Request, 1, true, false)).reply(t)
	if got := solicit(2, "2001:db8:1::1abc"); got == mustAddr("2001:db8:1::1abc") {
		t.Fatalf("hint bound to client 1 offered to client 2")
	}
	if got := solicit(3, "2001:db8:1::5"); !inPool(got, "2001:db8:1::1000", "2001:db8:1::1fff") {
		t.Fatalf("out-of-pool hint honoured: %v", got)
	}
	if got := solicit(4, "2001:db8:99::1001"); !inPool(got, "2001:db8:1::1000", "2001:db8:1::1fff") {
		t.Fatalf("off-link hint honoured: %v", got)
	}
	// Prefix hints: a /56 of the pool, free, is honoured; a misaligned one
	// or one of the wrong length is not.
	pd := func(c int, hint string) netip.Prefix {
		m := tr.msgFor(wire.Solicit, c, false, true)
		m.pd[0].prefixes = []netip.Prefix{netip.PrefixFrom(mustPrefix(hint).Addr(), mustPrefix(hint).Bits())}
		return leasedPrefix(t, findIA(t, &tr.send(m).reply(t).Msg, KindPD, 1))
	}
	if got := pd(5, "2001:db8:100:ab00::/56"); got != mustPrefix("2001:db8:100:ab00::/56") {
		t.Fatalf("prefix hint not honoured: %v", got)
	}
	for _, h := range []string{"2001:db8:100:ab00::/60", "2001:db8:100:ab00::/48", "2001:db8:999::/56"} {
		if got := pd(6, h); got.Bits() != 56 || !mustPrefix("2001:db8:100::/48").Contains(got.Addr()) || got.Masked() != got {
			t.Fatalf("hint %s: got %v", h, got)
		}
	}
	// A length-only hint (::/56) is legal (§18.2.1) and harmless.
	m := tr.msgFor(wire.Solicit, 7, false, true)
	m.pd[0].prefixes = []netip.Prefix{netip.PrefixFrom(netip.IPv6Unspecified(), 56)}
	leasedPrefix(t, findIA(t, &tr.send(m).reply(t).Msg, KindPD, 1))
}

// A client that comes back gets what it had: while its record is RELEASED
// or EXPIRED the binding is remembered, and after the record is reclaimed
// the deterministic probe leads to the same address while it is free.
func TestRFC8415_18_3_2_ReturningClientSameLease(t *testing.T) {
	tr := newTester(t, basicConfig())
	rep := tr.lease(1, true, true)
	a := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1))
	p := leasedPrefix(t, findIA(t, &rep.Msg, KindPD, 1))
	again := func(stage string) {
		t.Helper()
		rep := tr.lease(1, true, true)
		if got := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1)); got != a {
			t.Fatalf("%s: got %v, had %v", stage, got, a)
		}
		if got := leasedPrefix(t, findIA(t, &rep.Msg, KindPD, 1)); got != p {
			t.Fatalf("%s: got %v, had %v", stage, got, p)
		}
	}
	tr.send(tr.msgFor(wire.Release, 1, true, true)).reply(t)
	if b, _ := tr.e.Lookup(netip.PrefixFrom(a, 128)); b.Status != StatusReleased {
		t.Fatalf("after release: %s", formatBinding(&b))
	}
	again("after release")
	tr.tick(2 * time.Hour)
	if b, _ := tr.e.Lookup(netip.PrefixFrom(a, 128)); b.Status != StatusExpired {
		t.Fatalf("after expiry: %s", formatBinding(&b))
	}
	again("after expiry")
	tr.tick(2 * time.Hour)
	tr.tick(2 * time.Hour)
	if tr.e.Len() != 0 {
		t.Fatalf("records left after reclaim: %s", formatLeases(tr.e))
	}
	again("after reclaim")
}

// §18.3.2: "If the server cannot assign any addresses to an IA in the
// message from the client, the server MUST include the IA in the Reply
// message with no addresses in the IA and a Status Code option in the IA
// containing status code NoAddrsAvail."
func TestRFC8415_18_3_2_RequestNoAddrsAvail(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::10"), End: mustAddr("2001:db8:1::10")}}
	tr := newTester(t, cfg)
	tr.send(tr.msgFor(wire.Solicit, 1, true, false)).reply(t)
	tr.send(tr.msgFor(wire.Solicit, 2, true, false)).reply(t) // offered the same address
	tr.send(tr.msgFor(wire.Request, 1, true, false)).reply(t)
	r := tr.send(tr.msgFor(wire.Request, 2, true, false)) // too late
	ia := findIA(t, &r.reply(t).Msg, KindNA, 1)
	if iaStatus(t, ia) != wire.StatusNoAddrsAvail || ia.NumAddrs != 0 {
		t.Fatalf("IA %+v, want NoAddrsAvail and no addresses", ia)
	}
	wantNoEvents(t, r)
}

// §18.3.2: "If the server finds that the prefix on one or more IP
// addresses in any IA in the message from the client is not appropriate
// for the link to which the client is connected, the server MUST return
// the IA to the client with a Status Code option with the value
// NotOnLink." Other IAs of the message are served.
func TestRFC8415_18_3_2_RequestNotOnLink(t *testing.T) {
	tr := newTester(t, basicConfig())
	m := tMsg{typ: wire.Request, client: clientDUID(1), server: testServerDUID,
		na: []tIA{{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:2::1001")}}, {iaid: 2}},
		pd: []tIA{{iaid: 1}}}
	r := tr.send(m)
	msg := &r.reply(t).Msg
	if ia := findIA(t, msg, KindNA, 1); iaStatus(t, ia) != wire.StatusNotOnLink || ia.NumAddrs != 0 {
		t.Fatalf("off-link IA: %+v", ia)
	}
	leasedAddr(t, findIA(t, msg, KindNA, 2))
	leasedPrefix(t, findIA(t, msg, KindPD, 1))
	if len(r.events) != 2 {
		t.Fatalf("events %s", formatEvents(r.events))
	}
	// The same address as a SOLICIT hint is just ignored.
	m.typ, m.server = wire.Solicit, nil
	leasedAddr(t, findIA(t, &tr.send(m).reply(t).Msg, KindNA, 1))
}

// --- §18.3.3 Confirm ----------------------------------------------------------

// §18.3.3: "If all of the addresses in the Confirm message pass this test,
// the server returns a status of Success."
func TestRFC8415_18_3_3_ConfirmSuccess(t *testing.T) {
	tr := newTester(t, basicConfig())
	tr.lease(1, true, false)
	r := tr.send(tMsg{typ: wire.Confirm, client: clientDUID(1), na: []tIA{{iaid: 1, addrs: append(tr.heldNA(1, 1), mustAddr("2001:db8:1::77"))}}})
	msg := &r.reply(t).Msg
	if msg.Type != wire.Reply || !msg.HasStatus || msg.Status != wire.StatusSuccess || msg.NumIANA != 0 {
		t.Fatalf("got %v status %v/%d with %d IAs", msg.Type, msg.HasStatus, msg.Status, msg.NumIANA)
	}
	wantNoEvents(t, r)
}

// §18.3.3: "If any of the addresses do not pass this test, the server
// returns a status of NotOnLink."
func TestRFC8415_18_3_3_ConfirmNotOnLink(t *testing.T) {
	tr := newTester(t, basicConfig())
	r := tr.send(tMsg{typ: wire.Confirm, client: clientDUID(1), na: []tIA{
		{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:1::1001")}},
		{iaid: 2, addrs: []netip.Addr{mustAddr("2001:db8:2::1001")}}, // the relayed link, not eth0's
	}})
	msg := &r.reply(t).Msg
	if !msg.HasStatus || msg.Status != wire.StatusNotOnLink {
		t.Fatalf("status %v/%d, want NotOnLink", msg.HasStatus, msg.Status)
	}
	// The same addresses relayed from 2001:db8:2::/64 are wrong the other way round.
	r = tr.send(tMsg{typ: wire.Confirm, client: clientDUID(1), relays: relayVia("2001:db8:2::1"),
		na: []tIA{{iaid: 2, addrs: []netip.Addr{mustAddr("2001:db8:2::1001")}}}})
	if msg := &r.reply(t).Msg; msg.Status != wire.StatusSuccess {
		t.Fatalf("relayed confirm: status %d, want Success", msg.Status)
	}
}

// §18.3.3: "If the server is unable to perform this test (for example, the
// server does not have information about prefixes on the link to which the
// client is connected), or there were no addresses in any of the IAs sent
// by the client, the server MUST NOT send a reply to the client."
func TestRFC8415_18_3_3_ConfirmNoAddresses(t *testing.T) {
	tr := newTester(t, basicConfig())
	wantDropped(t, tr.send(tMsg{typ: wire.Confirm, client: clientDUID(1), na: []tIA{{iaid: 1}}}), DropNoAddrs)
	wantDropped(t, tr.send(tMsg{typ: wire.Confirm, client: clientDUID(1)}), DropNoAddrs)
	// Unknown link: no way to tell.
	wantDropped(t, tr.send(tMsg{typ: wire.Confirm, client: clientDUID(1), na: []tIA{{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:1::1")}}}},
		how{iface: "eth9"}), DropNoSubnet)
}

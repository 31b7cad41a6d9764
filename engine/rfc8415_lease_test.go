package engine

// RFC 8415 §18.3.4-§18.3.8: what happens to a binding after it is made
// (Renew, Rebind, Information-request, Release, Decline). Helpers are in
// rfc8415_test.go.

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// --- §18.3.4 Renew ------------------------------------------------------------

// §18.3.4: "If the server finds the addresses in the IA for the client,
// then the server sends back the IA to the client with new lifetimes and,
// if applicable, T1/T2 times". The record's CLTT and expiry move; its
// start-of-state does not (it has been ACTIVE all along).
func TestRFC8415_18_3_4_RenewExtends(t *testing.T) {
	tr := newTester(t, basicConfig())
	rep := tr.lease(1, true, true)
	a := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1))
	p := leasedPrefix(t, findIA(t, &rep.Msg, KindPD, 1))
	start := tr.now.Unix()
	tr.advance(20 * time.Minute)
	r := tr.send(tr.msgFor(wire.Renew, 1, true, true))
	msg := &r.reply(t).Msg
	ia := findIA(t, msg, KindNA, 1)
	if leasedAddr(t, ia) != a || ia.T1 != 900 || ia.T2 != 1440 || ia.Addrs[0].Valid != 3600 {
		t.Fatalf("renew answer %+v", ia)
	}
	if leasedPrefix(t, findIA(t, msg, KindPD, 1)) != p {
		t.Fatalf("prefix changed on renew")
	}
	now := tr.now.Unix()
	for _, q := range []netip.Prefix{netip.PrefixFrom(a, 128), p} {
		b, _ := tr.e.Lookup(q)
		if b.Status != StatusActive || b.CLTT != now || b.Expires != now+3600 || b.StartOfState != start {
			t.Fatalf("after renew: %s", formatBinding(&b))
		}
	}
	if len(r.events) != 2 || r.events[0].Why != CauseRenew {
		t.Fatalf("events %s", formatEvents(r.events))
	}
	// Renewed in time, it does not expire at the old expiry.
	tr.advance(50 * time.Minute)
	wantNoEvents(t, tr.tick(0))
}

// §18.3.4: "For each IA for which the server cannot find a client entry
// ... If the server is configured to create new bindings as a result of
// processing Renew messages, the server SHOULD create a binding". tandem
// is: the client's own listed address when it suits the link and is free,
// else a new one, and whatever else it lists comes back with lifetimes 0.
func TestRFC8415_18_3_4_RenewNoBinding(t *testing.T) {
	tr := newTester(t, basicConfig())
	tr.lease(1, true, false)
	m := tr.msgFor(wire.Renew, 1, true, true)
	m.na = append(m.na, tIA{iaid: 9, addrs: []netip.Addr{mustAddr("2001:db8:1::1009")}})
	r := tr.send(m)
	msg := &r.reply(t).Msg
	leasedAddr(t, findIA(t, msg, KindNA, 1))
	if got := leasedAddr(t, findIA(t, msg, KindNA, 9)); got != mustAddr("2001:db8:1::1009") {
		t.Errorf("IA_NA 9 got %v, want its own free address back", got)
	}
	leasedPrefix(t, findIA(t, msg, KindPD, 1)) // nothing listed: a new prefix
	if len(r.events) != 3 {
		t.Fatalf("events %s", formatEvents(r.events))
	}
	for _, ev := range r.events {
		if ev.Why != CauseRenew || ev.Binding.Status != StatusActive {
			t.Fatalf("events %s", formatEvents(r.events))
		}
	}
	// Another client's DUID with the same IAID gets an address of its
	// own, and the first client's address with lifetimes 0.
	held := tr.heldNA(1, 1)
	m = tr.msgFor(wire.Renew, 2, true, false)
	m.na[0].addrs = held
	r = tr.send(m)
	ia := findIA(t, &r.reply(t).Msg, KindNA, 1)
	if got := leasedAddr(t, ia); got == held[0] {
		t.Fatalf("renew with another client's address got it")
	}
	if ia.NumAddrs != 2 || ia.Addrs[1].Addr != held[0] || ia.Addrs[1].Valid != 0 || ia.Addrs[1].Preferred != 0 {
		t.Fatalf("IA_NA %+v, want the other client's address with lifetimes 0", ia)
	}
	if b, _ := tr.e.Lookup(netip.PrefixFrom(held[0], 128)); b.DUID != string(clientDUID(1)) || b.Status != StatusActive {
		t.Fatalf("the first client's lease changed: %s", formatBinding(&b))
	}
}

// §18.3.5: Rebind extends a binding this server holds, like Renew, though
// the message is addressed to every server.
func TestRFC8415_18_3_5_RebindExtends(t *testing.T) {
	tr := newTester(t, basicConfig())
	rep := tr.lease(1, true, true, relayVia("2001:db8:2::1")...)
	a := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1))
	tr.advance(30 * time.Minute)
	m := tr.msgFor(wire.Rebind, 1, true, true)
	m.relays = relayVia("2001:db8:2::1")
	r := tr.send(m)
	msg := &r.reply(t).Msg
	if leasedAddr(t, findIA(t, msg, KindNA, 1)) != a {
		t.Fatalf("rebind changed the address")
	}
	leasedPrefix(t, findIA(t, msg, KindPD, 1))
	if len(r.events) != 2 || r.events[0].Why != CauseRebind || r.events[0].Binding.Expires != tr.now.Unix()+3600 {
		t.Fatalf("events %s", formatEvents(r.events))
	}
}

// §18.3.5: "If the server cannot find a client entry for the IA and the
// server determines that the addresses in the IA are not appropriate for
// the link to which the client's interface is attached ..., the server MAY
// send a Reply message to the client containing the client's IA, with the
// lifetimes for the addresses in the IA set to 0."
// With Rapid Commit configured the server also creates a binding (§18.3.5:
// "SHOULD only create new bindings during processing of a Rebind message
// if the server is configured to respond with a Reply message to a
// Solicit message containing the Rapid Commit option"); without, it does
// not.
func TestRFC8415_18_3_5_RebindNotOnLink(t *testing.T) {
	for _, rapid := range []bool{false, true} {
		cfg := basicConfig()
		cfg.RapidCommit = rapid
		tr := newTester(t, cfg)
		m := tMsg{typ: wire.Rebind, client: clientDUID(1),
			na: []tIA{{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:2::1001")}}},
			pd: []tIA{{iaid: 1, prefixes: []netip.Prefix{mustPrefix("2001:db8:200::/60")}}}}
		r := tr.send(m)
		msg := &r.reply(t).Msg
		na, pd := findIA(t, msg, KindNA, 1), findIA(t, msg, KindPD, 1)
		zeroNA, zeroPD := na.Addrs[na.NumAddrs-1], pd.Prefixes[pd.NumPrefixes-1]
		if zeroNA.Addr != mustAddr("2001:db8:2::1001") || zeroNA.Valid != 0 || zeroNA.Preferred != 0 {
			t.Fatalf("rapid %v: IA_NA %+v, want the address with lifetimes 0", rapid, na)
		}
		if zeroPD.Prefix != mustPrefix("2001:db8:200::/60") || zeroPD.Valid != 0 {
			t.Fatalf("rapid %v: IA_PD %+v, want the prefix with lifetimes 0", rapid, pd)
		}
		if !rapid {
			if na.NumAddrs != 1 || pd.NumPrefixes != 1 {
				t.Fatalf("IA_NA %+v IA_PD %+v: a binding was created without rapid-commit", na, pd)
			}
			wantNoEvents(t, r)
			continue
		}
		if na.NumAddrs != 2 || pd.NumPrefixes != 2 || na.Addrs[0].Valid == 0 || pd.Prefixes[0].Valid == 0 || len(r.events) != 2 {
			t.Fatalf("IA_NA %+v IA_PD %+v events %s: want a new address and prefix", na, pd, formatEvents(r.events))
		}
	}
}

// §18.3.5: with no binding but addresses that suit the link (this server
// lost its state, or the client's server is gone), the server may create
// the binding from the client's own addresses if they are free.
func TestRFC8415_18_3_5_RebindCreatesBinding(t *testing.T) {
	tr := newTester(t, basicConfig())
	m := tMsg{typ: wire.Rebind, client: clientDUID(1), na: []tIA{{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:1::1abc")}}}}
	r := tr.send(m)
	if got := leasedAddr(t, findIA(t, &r.reply(t).Msg, KindNA, 1)); got != mustAddr("2001:db8:1::1abc") {
		t.Fatalf("got %v", got)
	}
	if len(r.events) != 1 || r.events[0].Why != CauseRebind {
		t.Fatalf("events %s", formatEvents(r.events))
	}
	// Someone else's address is not taken over: NoBinding.
	m.client = clientDUID(2)
	r = tr.send(m)
	if ia := findIA(t, &r.reply(t).Msg, KindNA, 1); iaStatus(t, ia) != wire.StatusNoBinding {
		t.Fatalf("rebind took another client's address: %+v", ia)
	}
	wantNoEvents(t, r)
}

// --- §18.3.6 Information-request ----------------------------------------------

// §18.3.6: the server answers an Information-request with the
// configuration parameters the ORO asks for, with SERVERID and (if the
// client sent one) CLIENTID; nothing is leased, and the link need not be
// known.
func TestRFC8415_18_3_6_InformationRequest(t *testing.T) {
	cfg := basicConfig()
	cfg.Options = append(cfg.Options, dnsOption("2001:db8::53", "2001:db8::54"))
	cfg.Options = append(cfg.Options, domainOption("example.com", "corp.example.com"))
	tr := newTester(t, cfg)
	for _, c := range []struct {
		oro           []uint16
		dns, domains  bool
		client, iface string
	}{
		{[]uint16{wire.OptDNSServers, wire.OptDomainList}, true, true, "with", "eth0"},
		{[]uint16{wire.OptDNSServers}, true, false, "with", "eth0"},
		{[]uint16{wire.OptDomainList}, false, true, "without", "eth0"},
		{nil, false, false, "with", "eth0"},
		{[]uint16{wire.OptDNSServers}, true, false, "with", "unknown-link"},
	} {
		m := tMsg{typ: wire.InformationRequest, oro: c.oro}
		if c.client == "with" {
			m.client = clientDUID(1)
		}
		r := tr.send(m, how{iface: c.iface})
		msg := &r.reply(t).Msg
		if msg.Type != wire.Reply || string(msg.ServerID) != string(testServerDUID) || (msg.ClientID != nil) != (c.client == "with") {
			t.Fatalf("%+v: got %v server %x client %x", c, msg.Type, msg.ServerID, msg.ClientID)
		}
		if (msg.DNSServers != nil) != c.dns || (msg.DomainList != nil) != c.domains {
			t.Fatalf("%+v: dns %x domains %x", c, msg.DNSServers, msg.DomainList)
		}
		if c.dns && (len(msg.DNSServers) != 32 || netip.AddrFrom16([16]byte(msg.DNSServers[16:])) != mustAddr("2001:db8::54")) {
			t.Fatalf("dns servers %x", msg.DNSServers)
		}
		if c.domains && !slices.Equal(decodeDomains(msg.DomainList), []string{"example.com.", "corp.example.com."}) {
			t.Fatalf("domain list %q", decodeDomains(msg.DomainList))
		}
		wantNoEvents(t, r)
	}
	// The same options come with an ADVERTISE and a REPLY when asked for.
	m := tr.msgFor(wire.Solicit, 2, true, false)
	m.oro = []uint16{wire.OptDNSServers}
	if msg := &tr.send(m).reply(t).Msg; msg.DNSServers == nil || msg.DomainList != nil {
		t.Fatalf("ADVERTISE dns %x domains %x", msg.DNSServers, msg.DomainList)
	}
}

// --- §18.3.7 Release ----------------------------------------------------------

// §18.3.7: "If the IAs in the message are in a binding for the client and
// the leases in the IAs have been assigned by the server to those IAs, the
// server deletes the leases from the IAs and makes the leases available for
// assignment to other clients. The server ignores leases not assigned to
// the IAs ... For each IA in the Release message for which the server has
// no binding information, the server adds an IA option using the IAID from
// the Release message and includes a Status Code option with the value
// NoBinding ... the server ... includes a Status Code option with the value
// Success".
func TestRFC8415_18_3_7_Release(t *testing.T) {
	tr := newTester(t, basicConfig())
	rep := tr.lease(1, true, true)
	a := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1))
	p := leasedPrefix(t, findIA(t, &rep.Msg, KindPD, 1))

	// A RELEASE listing an address the IA was not given changes nothing.
	m := tr.msgFor(wire.Release, 1, true, false)
	m.na[0].addrs = []netip.Addr{mustAddr("2001:db8:1::1555")}
	r := tr.send(m)
	if msg := &r.reply(t).Msg; !msg.HasStatus || msg.Status != wire.StatusSuccess || msg.NumIANA != 0 {
		t.Fatalf("release of a foreign address: %s", formatReply(r.replies[0], testServerDUID))
	}
	wantNoEvents(t, r)
	if b, _ := tr.e.Lookup(netip.PrefixFrom(a, 128)); b.Status != StatusActive {
		t.Fatalf("foreign RELEASE ended the lease: %s", formatBinding(&b))
	}

	m = tMsg{typ: wire.Release, client: clientDUID(1), server: testServerDUID,
		na: []tIA{{iaid: 1, addrs: []netip.Addr{a}}, {iaid: 5, addrs: []netip.Addr{mustAddr("2001:db8:1::1005")}}},
		pd: []tIA{{iaid: 1, prefixes: []netip.Prefix{p}}}}
	tr.advance(time.Minute)
	r = tr.send(m)
	msg := &r.reply(t).Msg
	if msg.Type != wire.Reply || !msg.HasStatus || msg.Status != wire.StatusSuccess {
		t.Fatalf("got %v status %d", msg.Type, msg.Status)
	}
	if msg.NumIANA != 1 || msg.IANA[0].IAID != 5 || iaStatus(t, &msg.IANA[0]) != wire.StatusNoBinding || msg.NumIAPD != 0 {
		t.Fatalf("IAs in the release REPLY: %s", formatReply(r.replies[0], testServerDUID))
	}
	if len(r.events) != 2 {
		t.Fatalf("events %s", formatEvents(r.events))
	}
	for _, q := range []netip.Prefix{netip.PrefixFrom(a, 128), p} {
		b, _ := tr.e.Lookup(q)
		if b.Status != StatusReleased || b.StartOfState != tr.now.Unix() || b.Held() {
			t.Fatalf("after release: %s", formatBinding(&b))
		}
	}
	if na, pd := tr.e.Active(); na != 0 || pd != 0 {
		t.Fatalf("active %d/%d after release", na, pd)
	}
	// Available to another client when the pool needs it.
	for c := 2; ; c++ {
		rep := tr.send(tr.msgFor(wire.Request, c, true, false)).reply(t)
		if got := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1)); got == a {
			break
		}
		if c > 4200 {
			t.Fatalf("released address never reused")
		}
	}
	if b, _ := tr.e.Lookup(netip.PrefixFrom(a, 128)); b.Status != StatusActive || b.DUID == string(clientDUID(1)) {
		t.Fatalf("reused: %s", formatBinding(&b))
	}
	// Releasing again: no binding any more.
	m = tMsg{typ: wire.Release, client: clientDUID(1), server: testServerDUID, na: []tIA{{iaid: 1, addrs: []netip.Addr{a}}}}
	if ia := findIA(t, &tr.send(m).reply(t).Msg, KindNA, 1); iaStatus(t, ia) != wire.StatusNoBinding {
		t.Fatalf("second release: %+v", ia)
	}
}

// --- §18.3.8 Decline ----------------------------------------------------------

// §18.3.8: "The server SHOULD mark the addresses declined by the client so
// that those addresses are not assigned to other clients". tandem marks the
// address ABANDONED for DeclineHold, then frees it.
func TestRFC8415_18_3_8_Decline(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::10"), End: mustAddr("2001:db8:1::12")}} // 3 addresses
	cfg.DeclineHold = 2 * time.Hour
	cfg.Valid = 10 * time.Hour
	cfg.ReclaimAfter = time.Minute
	tr := newTester(t, cfg)
	a := leasedAddr(t, findIA(t, &tr.lease(1, true, false).Msg, KindNA, 1))
	r := tr.send(tr.msgFor(wire.Decline, 1, true, false))
	if msg := &r.reply(t).Msg; !msg.HasStatus || msg.Status != wire.StatusSuccess || msg.NumIANA != 0 {
		t.Fatalf("decline REPLY: %s", formatReply(r.replies[0], testServerDUID))
	}
	if len(r.events) != 1 || r.events[0].Why != CauseDecline {
		t.Fatalf("events %s", formatEvents(r.events))
	}
	if b, _ := tr.e.Lookup(netip.PrefixFrom(a, 128)); b.Status != StatusAbandoned || b.Held() {
		t.Fatalf("declined address: %s", formatBinding(&b))
	}
	// The decliner gets another address.
	b := leasedAddr(t, findIA(t, &tr.lease(1, true, false).Msg, KindNA, 1))
	if b == a {
		t.Fatalf("declined address given back to the decliner")
	}
	// Nobody gets it while it is held, even asking for it by name.
	var got []netip.Addr
	for c := 2; c <= 4; c++ {
		m := tr.msgFor(wire.Solicit, c, true, false)
		m.na[0].addrs = []netip.Addr{a}
		ia := findIA(t, &tr.send(m).reply(t).Msg, KindNA, 1)
		for i := 0; i < ia.NumAddrs; i++ {
			got = append(got, ia.Addrs[i].Addr)
		}
		if ia.NumAddrs > 0 {
			tr.send(tr.msgFor(wire.Request, c, true, false)).reply(t)
		}
	}
	if slices.Contains(got, a) || len(got) != 1 {
		t.Fatalf("offers while the address is held: %v (declined %v)", got, a)
	}
	// After DeclineHold it is freed and can be leased again.
	r = tr.tick(2*time.Hour + time.Second)
	if len(r.events) != 1 || r.events[0].Kind != EventFree || r.events[0].Binding.Prefix.Addr() != a {
		t.Fatalf("tick after the hold: %s", formatEvents(r.events))
	}
	m := tr.msgFor(wire.Solicit, 5, true, false)
	if got := leasedAddr(t, findIA(t, &tr.send(m).reply(t).Msg, KindNA, 1)); got != a {
		t.Fatalf("after the hold got %v, want the freed %v", got, a)
	}
}

// §18.3.8: "The server ignores addresses not assigned to the IAs" and
// answers NoBinding for an IA it has no binding for.
func TestRFC8415_18_3_8_DeclineForeignAddress(t *testing.T) {
	tr := newTester(t, basicConfig())
	a := leasedAddr(t, findIA(t, &tr.lease(1, true, false).Msg, KindNA, 1))
	m := tr.msgFor(wire.Decline, 1, true, false)
	m.na[0].addrs = []netip.Addr{mustAddr("2001:db8:1::1444")}
	m.na = append(m.na, tIA{iaid: 3, addrs: []netip.Addr{a}})
	r := tr.send(m)
	msg := &r.reply(t).Msg
	if msg.NumIANA != 1 || msg.IANA[0].IAID != 3 || iaStatus(t, &msg.IANA[0]) != wire.StatusNoBinding {
		t.Fatalf("decline REPLY: %s", formatReply(r.replies[0], testServerDUID))
	}
	wantNoEvents(t, r)
	if b, _ := tr.e.Lookup(netip.PrefixFrom(a, 128)); b.Status != StatusActive {
		t.Fatalf("lease ended by a DECLINE that did not name it: %s", formatBinding(&b))
	}
}

package engine

// RFC 8415 §16 (message validation), §18.4 (unicast), §13.1 and §19
// (relays): which messages are answered, and how.

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// --- §16 message validation ---------------------------------------------------

// §16.2-§16.12: which messages a server discards for their CLIENTID and
// SERVERID options, and the server-to-client types it never answers.
func TestRFC8415_16_ServerIDRules(t *testing.T) {
	const (
		none = iota
		ours
		other
	)
	ids := [][]byte{none: nil, ours: testServerDUID, other: otherServerDUID}
	cases := []struct {
		typ    wire.MsgType
		server int
		client bool
		answer bool
	}{
		{wire.Solicit, none, true, true},
		{wire.Solicit, ours, true, false}, // §16.2
		{wire.Solicit, none, false, false},
		{wire.Request, ours, true, true},
		{wire.Request, none, true, false}, // §16.4
		{wire.Request, other, true, false},
		{wire.Request, ours, false, false},
		{wire.Confirm, none, true, true},
		{wire.Confirm, ours, true, false}, // §16.5
		{wire.Confirm, none, false, false},
		{wire.Renew, ours, true, true},
		{wire.Renew, none, true, false}, // §16.6
		{wire.Renew, other, true, false},
		{wire.Renew, ours, false, false},
		{wire.Rebind, none, true, true},
		{wire.Rebind, ours, true, false}, // §16.7
		{wire.Rebind, none, false, false},
		{wire.Decline, ours, true, true},
		{wire.Decline, none, true, false}, // §16.8
		{wire.Decline, other, true, false},
		{wire.Decline, ours, false, false},
		{wire.Release, ours, true, true},
		{wire.Release, none, true, false}, // §16.9
		{wire.Release, other, true, false},
		{wire.Release, ours, false, false},
		{wire.InformationRequest, none, true, true}, // §16.12
		{wire.InformationRequest, none, false, true},
		{wire.InformationRequest, ours, true, true},
		{wire.InformationRequest, other, true, false},
		// §16.3, §16.10, §16.11: servers discard what servers send.
		{wire.Advertise, ours, true, false},
		{wire.Reply, ours, true, false},
		{wire.Reconfigure, ours, true, false},
	}
	for _, c := range cases {
		tr := newTester(t, basicConfig())
		m := tMsg{typ: c.typ, server: ids[c.server]}
		if c.client {
			m.client = clientDUID(1)
		}
		if c.typ != wire.InformationRequest {
			m.na = []tIA{{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:1::1001")}}}
		}
		r := tr.send(m)
		if got := len(r.replies) == 1; got != c.answer {
			t.Errorf("%v server=%d client=%v: answered=%v, want %v (dropped %v)", c.typ, c.server, c.client, got, c.answer, r.dropped)
			continue
		}
		if !c.answer {
			wantNoEvents(t, r)
			var want DropReason
			switch {
			case c.typ == wire.Advertise || c.typ == wire.Reply || c.typ == wire.Reconfigure:
				want = DropType
			case c.server == ours && (c.typ == wire.Solicit || c.typ == wire.Confirm || c.typ == wire.Rebind),
				c.server != ours && c.typ != wire.Solicit && c.typ != wire.Confirm && c.typ != wire.Rebind && c.typ != wire.InformationRequest,
				c.server == other:
				want = DropServerID
			default:
				want = DropNoClientID
			}
			if len(r.dropped) != 1 || r.dropped[0] != want {
				t.Errorf("%v server=%d client=%v: dropped %v, want %v", c.typ, c.server, c.client, r.dropped, want)
			}
		}
	}
}

// §16.12: "Servers MUST discard any received Information-request message
// that ... includes an IA option."
func TestRFC8415_16_12_InformationRequestWithIA(t *testing.T) {
	tr := newTester(t, basicConfig())
	for _, m := range []tMsg{
		{typ: wire.InformationRequest, client: clientDUID(1), na: []tIA{{iaid: 1}}},
		{typ: wire.InformationRequest, client: clientDUID(1), pd: []tIA{{iaid: 1}}},
		{typ: wire.InformationRequest, client: clientDUID(1), ta: []uint32{1}},
	} {
		wantDropped(t, tr.send(m), DropType)
	}
}

// §18.3.2, §18.3.4, §18.3.7, §18.3.8 (and §18.4): a Request, Renew,
// Release or Decline sent by unicast to a server that did not offer the
// Server Unicast option is discarded and answered with a Reply carrying
// "a Status Code option with the value UseMulticast, a Server Identifier
// option containing the server's DUID, the Client Identifier option from
// the client message, and no other options". Relayed messages arrive by
// unicast from the relay and are served.
func TestRFC8415_18_4_UseMulticast(t *testing.T) {
	cfg := basicConfig()
	cfg.Options = append(cfg.Options, dnsOption("2001:db8::53"))
	for _, typ := range []wire.MsgType{wire.Request, wire.Renew, wire.Release, wire.Decline} {
		tr := newTester(t, cfg)
		tr.lease(1, true, false)
		before := bindings(tr.e)
		m := tr.msgFor(typ, 1, true, false)
		m.oro = []uint16{wire.OptDNSServers}
		r := tr.send(m, how{iface: "eth0", unicast: true})
		msg := &r.reply(t).Msg
		if msg.Type != wire.Reply || !msg.HasStatus || msg.Status != wire.StatusUseMulticast {
			t.Fatalf("%v: got %v status %d", typ, msg.Type, msg.Status)
		}
		if got := innerOptions(t, r.replies[0]); !slices.Equal(got, []uint16{wire.OptServerID, wire.OptClientID, wire.OptStatusCode}) {
			t.Errorf("%v: UseMulticast REPLY carries options %v, want only SERVERID, CLIENTID, STATUS_CODE", typ, got)
		}
		wantNoEvents(t, r)
		if !slices.Equal(before, bindings(tr.e)) {
			t.Errorf("%v: unicast message changed the state", typ)
		}
	}
	// Relayed: the relay unicasts to the server; that is fine.
	tr := newTester(t, cfg)
	m := tr.msgFor(wire.Solicit, 1, true, false)
	m.relays = relayVia("2001:db8:2::1")
	tr.send(m, how{unicast: true}).reply(t)
	m = tr.msgFor(wire.Request, 1, true, false)
	m.relays = relayVia("2001:db8:2::1")
	if msg := &tr.send(m, how{unicast: true}).reply(t).Msg; msg.HasStatus {
		t.Fatalf("relayed REQUEST answered with status %d", msg.Status)
	}
}

// --- §13.1, §19 relays -------------------------------------------------------

// §13.1: "If the server receives the message through a relay agent, the
// server ... uses the link-address field of the innermost Relay-forward
// message to identify the link"; the lease comes from that link's pools
// whatever interface the packet arrived on.
func TestRFC8415_13_1_RelayLinkAddressSelectsSubnet(t *testing.T) {
	tr := newTester(t, basicConfig())
	for _, c := range []struct {
		relays []tRelay
		pool   [2]string
	}{
		{relayVia("2001:db8:2::1"), [2]string{"2001:db8:2::1000", "2001:db8:2::1fff"}},
		{relayVia("2001:db8:3::abcd"), [2]string{"2001:db8:3::10", "2001:db8:3::13"}},
		// Nested: the innermost relay names the client's link.
		{[]tRelay{{hops: 0, link: mustAddr("2001:db8:3::1"), peer: mustAddr("fe80::c")},
			{hops: 1, link: mustAddr("2001:db8:2::1"), peer: mustAddr("2001:db8:3::1")}}, [2]string{"2001:db8:3::10", "2001:db8:3::13"}},
		// A lightweight relay (RFC 6221) leaves link-address unspecified:
		// the next relay out names the link.
		{[]tRelay{{hops: 0, link: netip.IPv6Unspecified(), peer: mustAddr("fe80::c"), ifaceID: []byte("port1")},
			{hops: 1, link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::1")}}, [2]string{"2001:db8:2::1000", "2001:db8:2::1fff"}},
	} {
		m := tr.msgFor(wire.Solicit, 1, true, false)
		m.relays = c.relays
		// The relayed packet arrives on eth0; the link-address wins.
		a := leasedAddr(t, findIA(t, &tr.send(m, how{iface: "eth0"}).reply(t).Msg, KindNA, 1))
		if !inPool(a, c.pool[0], c.pool[1]) {
			t.Errorf("relays %+v: offered %v, want from %v", c.relays, a, c.pool)
		}
	}
	// A link-address no subnet contains: dropped.
	m := tr.msgFor(wire.Solicit, 1, true, false)
	m.relays = relayVia("2001:db8:77::1")
	wantDropped(t, tr.send(m), DropNoSubnet)
	// A direct message on an unknown interface: dropped.
	wantDropped(t, tr.send(tr.msgFor(wire.Solicit, 1, true, false), how{iface: "eth7"}), DropNoSubnet)
	// Direct on eth0: eth0's pool.
	a := leasedAddr(t, findIA(t, &tr.send(tr.msgFor(wire.Solicit, 1, true, false)).reply(t).Msg, KindNA, 1))
	if !inPool(a, "2001:db8:1::1000", "2001:db8:1::1fff") {
		t.Fatalf("direct: %v", a)
	}
}

// §19.3 / §18.3.10: the answer to a relayed message is a RELAY-REPL per
// relay, each with the hop-count, link-address and peer-address of its
// RELAY-FORW, the Interface-Id option echoed, the reply in RELAY_MSG; and
// the record notes the client's link and the relay's Remote-Id.
func TestRFC8415_19_3_RelayReplyEchoes(t *testing.T) {
	tr := newTester(t, basicConfig())
	relays := []tRelay{
		{hops: 0, link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::abcd"), ifaceID: []byte("ge-0/0/1.100"), remoteID: []byte{0, 0, 0, 9, 'r', 'i', 'd'}},
		{hops: 1, link: mustAddr("2001:db8:f::1"), peer: mustAddr("2001:db8:2::1")},
		{hops: 2, link: mustAddr("2001:db8:e::1"), peer: mustAddr("2001:db8:f::1"), ifaceID: []byte{0xff, 0}},
	}
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Request, wire.Renew} {
		m := tr.msgFor(typ, 1, true, true)
		m.relays = relays
		r := tr.send(m)
		p := r.reply(t)
		if p.NumRelays != 3 {
			t.Fatalf("%v: %d relay layers, want 3", typ, p.NumRelays)
		}
		for i := 0; i < 3; i++ {
			// p.Relays is outermost first; relays is innermost first.
			got, want := p.Relays[i], relays[2-i]
			if got.Type != wire.RelayRepl || got.HopCount != want.hops || got.LinkAddr != want.link || got.PeerAddr != want.peer ||
				string(got.InterfaceID) != string(want.ifaceID) || (got.InterfaceID == nil) != (want.ifaceID == nil) {
				t.Errorf("%v: layer %d = %+v, want %+v", typ, i, got, want)
			}
			if got.RemoteID != nil {
				t.Errorf("%v: layer %d echoes REMOTE_ID", typ, i)
			}
		}
		want := map[wire.MsgType]wire.MsgType{wire.Solicit: wire.Advertise, wire.Request: wire.Reply, wire.Renew: wire.Reply}[typ]
		if p.Msg.Type != want {
			t.Fatalf("%v answered with %v", typ, p.Msg.Type)
		}
		leasedAddr(t, findIA(t, &p.Msg, KindNA, 1))
		for _, ev := range r.events {
			if ev.Binding.Link != mustAddr("2001:db8:2::1") || ev.Binding.RemoteID != "\x00\x00\x00\x09rid" {
				t.Errorf("%v: event %s lacks link/remote-id", typ, formatEvent(&ev))
			}
		}
	}
	// The client moves to a direct link... of the same subnet: the record
	// forgets the relay.
	tr2 := newTester(t, basicConfig())
	tr2.lease(1, true, false, tRelay{link: mustAddr("2001:db8:1::1"), peer: mustAddr("fe80::c"), remoteID: []byte{0, 0, 0, 9, 'x'}})
	r := tr2.send(tr2.msgFor(wire.Renew, 1, true, false))
	if b := r.events[0].Binding; b.Link.IsValid() || b.RemoteID != "" {
		t.Fatalf("direct renew kept relay data: %s", formatBinding(&b))
	}
}

// §19 / §16: a RELAY-REPL is what servers send; one arriving at a server
// is discarded, not answered.
func TestRFC8415_19_RelayReplIgnored(t *testing.T) {
	tr := newTester(t, basicConfig())
	m := tr.msgFor(wire.Solicit, 1, true, false)
	m.relays = relayVia("2001:db8:2::1")
	buf := m.appendTo(nil)
	buf[0] = byte(wire.RelayRepl)
	var pkt wire.Packet
	if err := pkt.Decode(buf); err != nil {
		t.Fatal(err)
	}
	if err := tr.e.Step(tr.now, Input{Kind: InputClient, Pkt: &pkt}); err != nil {
		t.Fatal(err)
	}
	if rd := tr.e.Ready(); len(rd.Replies)+len(rd.Events) != 0 {
		t.Fatalf("answered a RELAY-REPL")
	}
	if tr.e.Counters.Dropped[DropType] != 1 {
		t.Fatalf("drop counters %v", tr.e.Counters.Dropped)
	}
}

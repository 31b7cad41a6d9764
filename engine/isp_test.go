package engine

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Tests of what an ISP keys its service on: options at every level, client
// classes, pools for classes, reservations by subscriber line,
// prefix-length hints, renumbering and the unicast rules. Replies are
// read back with insomniacslk/dhcp, a decoder we did not write.

// theirOptions decodes a reply with insomniacslk/dhcp and returns the
// top-level options of the innermost message, by code.
func theirOptions(t testing.TB, raw []byte) map[uint16][]byte {
	t.Helper()
	d, err := dhcpv6.FromBytes(raw)
	if err != nil {
		t.Fatalf("insomniacslk/dhcp cannot decode the reply: %v", err)
	}
	m, err := d.GetInnerMessage()
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint16][]byte{}
	for _, o := range m.Options.Options {
		if _, dup := out[uint16(o.Code())]; dup {
			t.Fatalf("option %d twice in one reply", o.Code())
		}
		out[uint16(o.Code())] = o.ToBytes()
	}
	return out
}

func u32Option(code uint16, v uint32) Option {
	return Option{Code: code, Data: []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}}
}

func textOption(code uint16, s string) Option { return Option{Code: code, Data: []byte(s)} }

// ispConfig: one relayed link with a general pool, a pool and a pd-pool
// for class "business" (remote-id prefix 00:00:0d:e9:62), pd-pools of /56
// and /60, a class "dslite" by vendor class, and options at every level.
func ispConfig() Config {
	cfg := basicConfig()
	cfg.Options = Options{dnsOption("2001:db8::53"), textOption(100, "global"), u32Option(wire.OptSolMaxRT, 3600),
		u32Option(wire.OptInfoRefresh, 86400)}
	cfg.Classes = []Class{
		{Name: "business", Match: Match{RemoteID: []byte{0, 0, 0x0d, 0xe9, 0x62}},
			Options: Options{textOption(100, "class"), textOption(101, "business")}},
		{Name: "dslite", Match: Match{VendorClass: []byte{0, 0, 0x11, 0x8b}},
			Options: Options{textOption(wire.OptAFTRName, "\x04aftr\x07example\x00")}},
	}
	s := &cfg.Subnets[1] // 2001:db8:2::/64, relayed
	s.Options = Options{textOption(100, "subnet"), textOption(102, "subnet")}
	s.Pools = []Pool{
		{Start: mustAddr("2001:db8:2::1000"), End: mustAddr("2001:db8:2::1fff"), Options: Options{textOption(103, "pool")}},
		{Start: mustAddr("2001:db8:2::2000"), End: mustAddr("2001:db8:2::2fff"), Classes: []string{"business"},
			Options: Options{textOption(103, "business pool"), textOption(102, "business pool")}},
	}
	s.PDPools = []PDPool{
		{Prefix: mustPrefix("2001:db8:200::/48"), DelegatedLen: 56},
		{Prefix: mustPrefix("2001:db8:210::/48"), DelegatedLen: 60},
		{Prefix: mustPrefix("2001:db8:220::/44"), DelegatedLen: 48, Classes: []string{"business"}},
	}
	s.Reservations = []Reservation{
		{RemoteID: []byte{0, 0, 0x0d, 0xe9, 0x62, 0x69, 0x7a, 0x01}, Prefix: mustPrefix("2001:db8:2ff::/48"),
			Options: Options{textOption(100, "reservation")}},
	}
	return cfg
}

func businessRelay(line byte) []tRelay {
	return []tRelay{{link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::c"),
		remoteID: []byte{0, 0, 0x0d, 0xe9, 0x62, 0x69, 0x7a, line}}}
}

func TestOptionLevels(t *testing.T) {
	tr := newTester(t, ispConfig())
	oro := []uint16{100, 101, 102, 103, wire.OptDNSServers, wire.OptSolMaxRT, wire.OptInfoRefresh, wire.OptAFTRName, 100}
	for _, c := range []struct {
		name   string
		relays []tRelay
		want   map[uint16]string
	}{
		{"residential", relayVia("2001:db8:2::1"), map[uint16]string{100: "subnet", 102: "subnet", 103: "pool"}},
		// class beats pool and subnet; the business pool beats the subnet.
		{"business", businessRelay(2), map[uint16]string{100: "class", 101: "business", 102: "business pool", 103: "business pool"}},
		// the reservation beats everything; its client is in the class too.
		{"reserved line", businessRelay(1), map[uint16]string{100: "reservation", 101: "business", 102: "business pool", 103: "business pool"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := tMsg{typ: wire.Solicit, client: clientDUID(len(c.name)), oro: oro, relays: c.relays,
				na: []tIA{{iaid: 1}}, pd: []tIA{{iaid: 1}}}
			r := tr.send(m)
			opts := theirOptions(t, r.replies[0])
			for code, want := range c.want {
				if got := string(opts[code]); got != want {
					t.Errorf("option %d = %q, want %q", code, got, want)
				}
			}
			if _, ok := opts[101]; !ok && c.want[101] != "" {
				t.Errorf("option 101 missing")
			}
			if got := opts[wire.OptSolMaxRT]; !bytes.Equal(got, []byte{0, 0, 0x0e, 0x10}) {
				t.Errorf("SOL_MAX_RT %x, want the global 3600", got)
			}
			if _, ok := opts[wire.OptInfoRefresh]; ok {
				t.Errorf("INFORMATION_REFRESH_TIME in an ADVERTISE (RFC 8415 §21.23: only in a Reply to an Information-request)")
			}
			if _, ok := opts[wire.OptAFTRName]; ok {
				t.Errorf("AFTR-Name sent to a client outside class dslite")
			}
		})
	}

	// Not asked for, not sent.
	r := tr.send(tMsg{typ: wire.Solicit, client: clientDUID(40), oro: []uint16{wire.OptDNSServers},
		relays: relayVia("2001:db8:2::1"), na: []tIA{{iaid: 1}}})
	opts := theirOptions(t, r.replies[0])
	if _, ok := opts[100]; ok || opts[wire.OptDNSServers] == nil {
		t.Errorf("options %v: want only DNS servers", opts)
	}

	// Information-request gets the refresh time; a vendor class puts the
	// client in dslite, whose AFTR-Name arrives and decodes as a name.
	vc := []byte{0, byte(wire.OptVendorClass), 0, 8, 0, 0, 0x11, 0x8b, 0, 2, 'c', 'm'}
	r = tr.send(tMsg{typ: wire.InformationRequest, client: clientDUID(41), oro: []uint16{wire.OptInfoRefresh, wire.OptAFTRName},
		relays: relayVia("2001:db8:2::1"), extraOpt: vc})
	d, err := dhcpv6.FromBytes(r.replies[0])
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := d.GetInnerMessage()
	if got := inner.Options.InformationRefreshTime(0); got != 86400*time.Second {
		t.Errorf("information refresh time %v, want 24h", got)
	}
	if o := inner.GetOneOption(dhcpv6.OptionAFTRName); o == nil {
		t.Errorf("AFTR-Name missing for class dslite: %v", inner.Options)
	} else if l, err := rfc1035label.FromBytes(o.ToBytes()); err != nil || len(l.Labels) != 1 || l.Labels[0] != "aftr.example" {
		t.Errorf("AFTR-Name decodes as %v, %v", l, err)
	}
}

func TestClassPools(t *testing.T) {
	tr := newTester(t, ispConfig())
	business := mustPrefix("2001:db8:2::2000/116")
	// A residential client never draws from the business pool or pd-pool.
	for c := 1; c <= 40; c++ {
		p := tr.lease(c, true, true, relayVia("2001:db8:2::1")...)
		a := leasedAddr(t, findIA(t, &p.Msg, KindNA, 1))
		pf := leasedPrefix(t, findIA(t, &p.Msg, KindPD, 1))
		if business.Contains(a) || pf.Bits() == 48 {
			t.Fatalf("residential client %d got %v %v from a business pool", c, a, pf)
		}
	}
	// A business client may draw from both; the probe finds its pools in
	// config order, so with room in the general pool it may land there
	// too — but its /48 hint lands in the class's pd-pool.
	m := tMsg{typ: wire.Solicit, client: clientDUID(50), relays: businessRelay(9), rapid: true,
		pd: []tIA{{iaid: 1, prefixes: []netip.Prefix{netip.PrefixFrom(netip.IPv6Unspecified(), 48)}}}}
	tr.e.cfg.RapidCommit = true
	r := tr.send(m)
	if pf := leasedPrefix(t, findIA(t, &r.reply(t).Msg, KindPD, 1)); !mustPrefix("2001:db8:220::/44").Contains(pf.Addr()) || pf.Bits() != 48 {
		t.Fatalf("business /48 hint got %v", pf)
	}
	// The same hint from a residential client: no /48 for it, so the
	// closest shorter... none is shorter; the closest longer: /56.
	m.client, m.relays = clientDUID(51), relayVia("2001:db8:2::1")
	r = tr.send(m)
	if pf := leasedPrefix(t, findIA(t, &r.reply(t).Msg, KindPD, 1)); pf.Bits() != 56 {
		t.Fatalf("residential /48 hint got %v, want a /56 (RFC 8168 order)", pf)
	}
}

func TestPrefixLengthHint(t *testing.T) {
	tr := newTester(t, ispConfig())
	for _, c := range []struct {
		hint, want int
	}{
		{60, 60}, {56, 56}, {58, 56}, // 58: no /58 pool; the closest shorter is /56
		{64, 60}, // none shorter than 64 but /60 is closest
		{0, 56},  // no hint: config order
	} {
		ia := tIA{iaid: 1}
		if c.hint > 0 {
			ia.prefixes = []netip.Prefix{netip.PrefixFrom(netip.IPv6Unspecified(), c.hint)}
		}
		r := tr.send(tMsg{typ: wire.Solicit, client: clientDUID(100 + c.hint), relays: relayVia("2001:db8:2::1"), pd: []tIA{ia}})
		if pf := leasedPrefix(t, findIA(t, &r.reply(t).Msg, KindPD, 1)); pf.Bits() != c.want {
			t.Errorf("hint /%d: got %v, want a /%d", c.hint, pf, c.want)
		}
	}
	// A pool of the hinted length that is full: the next in order.
	cfg := ispConfig()
	cfg.Subnets[1].PDPools[1] = PDPool{Prefix: mustPrefix("2001:db8:210::/59"), DelegatedLen: 60} // two /60s
	tr = newTester(t, cfg)
	hint := []tIA{{iaid: 1, prefixes: []netip.Prefix{netip.PrefixFrom(netip.IPv6Unspecified(), 60)}}}
	var lens []int
	for c := 0; c < 3; c++ {
		m := tMsg{typ: wire.Request, client: clientDUID(200 + c), server: testServerDUID, relays: relayVia("2001:db8:2::1"), pd: hint}
		lens = append(lens, leasedPrefix(t, findIA(t, &tr.send(m).reply(t).Msg, KindPD, 1)).Bits())
	}
	if lens[0] != 60 || lens[1] != 60 || lens[2] != 56 {
		t.Fatalf("lengths %v, want 60 60 56", lens)
	}
}

func TestReservationByLine(t *testing.T) {
	tr := newTester(t, ispConfig())
	reserved := mustPrefix("2001:db8:2ff::/48")
	p := tr.lease(1, false, true, businessRelay(1)...)
	if got := leasedPrefix(t, findIA(t, &p.Msg, KindPD, 1)); got != reserved {
		t.Fatalf("line reservation: got %v", got)
	}
	// Another CPE on another line never gets it.
	p = tr.lease(2, false, true, businessRelay(2)...)
	if got := leasedPrefix(t, findIA(t, &p.Msg, KindPD, 1)); got == reserved {
		t.Fatalf("another line got the reserved prefix")
	}
	// The CPE on line 1 is replaced: the new one (another DUID) takes the
	// prefix over at once, and the journal says so.
	p = tr.lease(3, false, true, businessRelay(1)...)
	if got := leasedPrefix(t, findIA(t, &p.Msg, KindPD, 1)); got != reserved {
		t.Fatalf("replaced CPE got %v, want the line's %v", got, reserved)
	}
	if b, _ := tr.e.Lookup(reserved); b.DUID != string(clientDUID(3)) || b.Status != StatusActive {
		t.Fatalf("record %s", formatBinding(&b))
	}
	// The old CPE, should it come back, renews nothing.
	m := tr.msgFor(wire.Renew, 1, false, true)
	m.relays = relayVia("2001:db8:2::1")
	r := tr.send(m)
	pd := findIA(t, &r.reply(t).Msg, KindPD, 1)
	for i := 0; i < pd.NumPrefixes; i++ {
		if pd.Prefixes[i].Prefix == reserved && pd.Prefixes[i].Valid != 0 {
			t.Fatalf("old CPE renewed the line's prefix: %+v", pd)
		}
	}
	// By interface-id and subscriber-id too.
	cfg := ispConfig()
	cfg.Subnets[1].Reservations = []Reservation{
		{InterfaceID: []byte("ge-0/0/1.100"), Address: mustAddr("2001:db8:2::77")},
		{SubscriberID: []byte("sub-42"), Address: mustAddr("2001:db8:2::78")},
	}
	tr = newTester(t, cfg)
	for c, relay := range []tRelay{
		{link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::c"), ifaceID: []byte("ge-0/0/1.100")},
		{link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::c"), subID: []byte("sub-42")},
	} {
		p := tr.lease(c+1, true, false, relay)
		if got, want := leasedAddr(t, findIA(t, &p.Msg, KindNA, 1)), cfg.Subnets[1].Reservations[c].Address; got != want {
			t.Errorf("reservation %d: got %v, want %v", c, got, want)
		}
	}
}

func TestClassMatch(t *testing.T) {
	cfg := basicConfig()
	cfg.Classes = []Class{
		{Name: "iface", Match: Match{InterfaceID: []byte("ge-0/0/1")}},
		{Name: "sub", Match: Match{SubscriberID: []byte("sub")}},
		{Name: "duid", Match: Match{DUID: clientDUID(7)}},
		{Name: "link", Match: Match{Link: mustPrefix("2001:db8:2::/48")}},
		{Name: "user", Match: Match{UserClass: []byte{0, 3, 'i', 's', 'p'}}},
		{Name: "and", Match: Match{InterfaceID: []byte("ge-0/0/1"), Link: mustPrefix("2001:db8:3::/64")}},
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	userClass := append([]byte{0, byte(wire.OptUserClass), 0, 5}, 0, 3, 'i', 's', 'p')
	for _, c := range []struct {
		name string
		m    tMsg
		want []string
	}{
		{"none", tMsg{typ: wire.Solicit, client: clientDUID(1)}, nil},
		{"direct on eth0 is not on 2001:db8:2::/48", tMsg{typ: wire.Solicit, client: clientDUID(1)}, nil},
		{"link", tMsg{typ: wire.Solicit, client: clientDUID(1), relays: relayVia("2001:db8:2::1")}, []string{"link"}},
		{"interface-id prefix, innermost layer", tMsg{typ: wire.Solicit, client: clientDUID(1), relays: []tRelay{
			{link: mustAddr("2001:db8:3::1"), ifaceID: []byte("ge-0/0/1.100")},
			{link: mustAddr("2001:db8:9::1"), ifaceID: []byte("xe-1/1/1")}}}, []string{"iface", "and"}},
		{"subscriber-id", tMsg{typ: wire.Solicit, client: clientDUID(1), relays: []tRelay{
			{link: mustAddr("2001:db8:3::1"), subID: []byte("sub-42")}}}, []string{"sub"}},
		{"duid prefix", tMsg{typ: wire.Solicit, client: clientDUID(7)}, []string{"duid"}},
		{"user class", tMsg{typ: wire.Solicit, client: clientDUID(1), extraOpt: userClass}, []string{"user"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p wire.Packet
			if err := p.Decode(c.m.appendTo(nil)); err != nil {
				t.Fatal(err)
			}
			in := Input{Kind: InputClient, Pkt: &p, Iface: "eth0", Multicast: true}
			if p.Relayed() {
				in.Iface = ""
			}
			sn := e.subnetFor(&in)
			line := lineOf(&p)
			got := e.classify(&in, sn, &line)
			var want classMask
			for _, n := range c.want {
				want |= 1 << uint(e.cfg.classIndex(n))
			}
			if got != want {
				t.Errorf("classes %b, want %b (%v)", got, want, c.want)
			}
		})
	}
}

// renumberConfig is basicConfig's link 1 with its pools replaced: what a
// restart with an edited config gives.
func renumberConfig() Config {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::8000"), End: mustAddr("2001:db8:1::8fff")}}
	cfg.Subnets[0].PDPools = []PDPool{{Prefix: mustPrefix("2001:db8:180::/48"), DelegatedLen: 56}}
	return cfg
}

func TestRenumber(t *testing.T) {
	for _, why := range []wire.MsgType{wire.Renew, wire.Rebind} {
		t.Run(why.String(), func(t *testing.T) {
			tr := newTester(t, basicConfig())
			tr.lease(1, true, true)
			oldNA, oldPD := tr.heldNA(1, 1)[0], tr.heldPD(1, 1)[0]
			// "Restart" with the pools replaced: replay the journal into a
			// new engine with the new config.
			tr2 := newTester(t, renumberConfig())
			tr.e.ForEach(func(b *Binding) bool {
				tr2.e.Apply(Event{Kind: EventLease, Time: tr.now.Unix(), Why: CauseRequest, Binding: *b})
				return true
			})
			tr2.held = tr.held
			tr2.advance(20 * time.Minute)
			r := tr2.send(tr2.msgFor(why, 1, true, true))
			msg := &r.reply(t).Msg
			na, pd := findIA(t, msg, KindNA, 1), findIA(t, msg, KindPD, 1)
			if na.NumAddrs != 2 || pd.NumPrefixes != 2 {
				t.Fatalf("IA_NA %+v IA_PD %+v: want a new resource and the old one with lifetimes 0", na, pd)
			}
			newNA, newPD := leasedAddr(t, na), leasedPrefix(t, pd)
			if !mustPrefix("2001:db8:1::8000/116").Contains(newNA) || !mustPrefix("2001:db8:180::/48").Contains(newPD.Addr()) {
				t.Fatalf("new resources %v %v are not from the new pools", newNA, newPD)
			}
			for i := 0; i < 2; i++ {
				if a := na.Addrs[i]; a.Addr == oldNA && (a.Valid != 0 || a.Preferred != 0) {
					t.Fatalf("old address %+v, want lifetimes 0", a)
				}
				if p := pd.Prefixes[i]; p.Prefix == oldPD && (p.Valid != 0 || p.Preferred != 0) {
					t.Fatalf("old prefix %+v, want lifetimes 0", p)
				}
			}
			// The journal says why: the old ones EXPIRED for renumbering.
			renumbered := 0
			for _, ev := range r.events {
				if ev.Why == CauseRenumber {
					renumbered++
					if ev.Binding.Status != StatusExpired || (ev.Binding.Prefix != oldPD && ev.Binding.Prefix.Addr() != oldNA) {
						t.Errorf("renumber event %s", formatEvents([]Event{ev}))
					}
				}
			}
			if renumbered != 2 {
				t.Fatalf("events %s: want two renumber events", formatEvents(r.events))
			}
			// No SOLICIT is offered the old resources again, even listing them.
			m := tMsg{typ: wire.Solicit, client: clientDUID(1), na: []tIA{{iaid: 1, addrs: []netip.Addr{oldNA}}},
				pd: []tIA{{iaid: 1, prefixes: []netip.Prefix{oldPD}}}}
			msg = &tr2.send(m).reply(t).Msg
			if leasedAddr(t, findIA(t, msg, KindNA, 1)) != newNA || leasedPrefix(t, findIA(t, msg, KindPD, 1)) != newPD {
				t.Fatalf("SOLICIT after renumbering: %+v", msg)
			}
		})
	}
}

// TestUnicast: RFC 8415 §16 discards SOLICIT, CONFIRM, REBIND and
// INFORMATION-REQUEST sent by unicast; REQUEST, RENEW, RELEASE and
// DECLINE get UseMulticast, unless the policy accepts them.
func TestUnicast(t *testing.T) {
	tr := newTester(t, basicConfig())
	uni := how{iface: "eth0", unicast: true}
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Confirm, wire.Rebind, wire.InformationRequest} {
		m := tr.msgFor(typ, 1, typ != wire.InformationRequest, false)
		if typ != wire.InformationRequest {
			m.na[0].addrs = []netip.Addr{mustAddr("2001:db8:1::1001")}
		}
		r := tr.send(m, uni)
		if len(r.replies) != 0 || len(r.dropped) != 1 || r.dropped[0] != DropUnicast {
			t.Errorf("%v by unicast: %d replies, dropped %v; want it dropped as unicast", typ, len(r.replies), r.dropped)
		}
	}
	tr.lease(1, true, false)
	r := tr.send(tr.msgFor(wire.Renew, 1, true, false), uni)
	if msg := &r.reply(t).Msg; !msg.HasStatus || msg.Status != wire.StatusUseMulticast {
		t.Fatalf("unicast RENEW: %+v, want UseMulticast", msg)
	}
	wantNoEvents(t, r)

	cfg := basicConfig()
	cfg.Unicast = UnicastAccept
	tr = newTester(t, cfg)
	tr.lease(1, true, false)
	r = tr.send(tr.msgFor(wire.Renew, 1, true, false), uni)
	if a := leasedAddr(t, findIA(t, &r.reply(t).Msg, KindNA, 1)); a != tr.heldNA(1, 1)[0] {
		t.Fatalf("accepted unicast RENEW: %v", a)
	}
	r = tr.send(tr.msgFor(wire.Release, 1, true, false), uni)
	if len(r.events) != 1 || r.events[0].Binding.Status != StatusReleased {
		t.Fatalf("accepted unicast RELEASE: events %s", formatEvents(r.events))
	}
	// SOLICIT by unicast is still discarded.
	if r := tr.send(tr.msgFor(wire.Solicit, 2, true, false), uni); len(r.replies) != 0 {
		t.Fatalf("unicast SOLICIT answered under UnicastAccept")
	}
}

// In a pair, each server applies the classes, options and hints from its
// own config: the primary (which serves new clients in NORMAL) and, with
// the primary gone, the secondary in PARTNER-DOWN once the MCLT has passed
// (RFC 8156 §4.2.2).
func TestPairClassesOptionsHints(t *testing.T) {
	withISP := func(s *foSide) {
		isp := ispConfig()
		cfg := s.e.Config()
		c := *cfg
		c.Classes, c.Options = isp.Classes, isp.Options
		c.Subnets = isp.Subnets
		for i := range c.Subnets {
			c.Subnets[i].Relationship = "pair-a"
		}
		e, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		s.e = e
	}
	p, s := newFoSide(t, true), newFoSide(t, false)
	withISP(p)
	withISP(s)
	for _, x := range []*foSide{p, s} {
		if err := x.step(Input{Kind: InputTick}); err != nil {
			t.Fatal(err)
		}
		if err := x.step(Input{Kind: InputPeerUp, Rel: 0}); err != nil {
			t.Fatal(err)
		}
	}
	pump(t, p, s)
	if p.state() != StateNormal || s.state() != StateNormal {
		t.Fatalf("primary %v, secondary %v", p.state(), s.state())
	}
	check := func(who string, x *foSide, c int) {
		t.Helper()
		m := tMsg{typ: wire.Solicit, client: clientDUID(c), relays: businessRelay(byte(c)), oro: []uint16{100, 101},
			na: []tIA{{iaid: 1}}, pd: []tIA{{iaid: 1, prefixes: []netip.Prefix{netip.PrefixFrom(netip.IPv6Unspecified(), 48)}}}}
		r := x.client(m)
		msg := &r.reply(t).Msg
		if a := leasedAddr(t, findIA(t, msg, KindNA, 1)); !mustPrefix("2001:db8:2::2000/116").Contains(a) {
			t.Errorf("%s: business client got %v, want its class's pool", who, a)
		}
		if pf := leasedPrefix(t, findIA(t, msg, KindPD, 1)); pf.Bits() != 48 {
			t.Errorf("%s: /48 hint got %v", who, pf)
		}
		opts := theirOptions(t, r.replies[0])
		if string(opts[100]) != "class" || string(opts[101]) != "business" {
			t.Errorf("%s: class options %q %q", who, opts[100], opts[101])
		}
	}
	check("primary", p, 10)
	// The primary dies; the secondary takes over and, past the MCLT,
	// serves new clients from the whole pool with the same rules.
	if err := s.step(Input{Kind: InputPeerDown, Rel: 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.step(Input{Kind: InputAdminPartnerDown, Rel: 0}); err != nil {
		t.Fatal(err)
	}
	s.advance(foMCLT + time.Minute)
	if err := s.step(Input{Kind: InputTick}); err != nil {
		t.Fatal(err)
	}
	if s.state() != StatePartnerDown {
		t.Fatalf("secondary %v", s.state())
	}
	check("secondary after takeover", s, 11)
}

// Renumbering in a pair: the primary ends the old binding and leases a new
// one; the secondary, whose config lost the same pool, accepts both
// updates — the EXPIRED of a resource outside its pools included, since a
// server must be able to learn that a lease it holds has ended (refusing
// it with ConfigurationConflict would leave the record ACTIVE there).
func TestPairRenumber(t *testing.T) {
	p, s := newPair(t)
	p.client(p.msgFor(wire.Solicit, 1, true, false)).reply(t)
	deliver(t, p, s, p.client(p.msgFor(wire.Request, 1, true, false)).events)
	old := p.heldNA(1, 1)[0]
	if b, _ := s.e.Lookup(netip.PrefixFrom(old, 128)); b.Status != StatusActive {
		t.Fatalf("secondary did not learn the lease: %s", formatBinding(&b))
	}
	// Both restart with the pool replaced.
	restart := func(x *foSide) {
		cfg := *x.e.Config()
		cfg.Subnets = renumberConfig().Subnets
		for i := range cfg.Subnets {
			cfg.Subnets[i].Relationship = "pair-a"
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range x.events {
			if ev.Kind == EventEndpoint {
				e.Apply(ev)
			}
		}
		x.e.ForEach(func(b *Binding) bool {
			e.Apply(Event{Kind: EventLease, Time: x.now.Unix(), Why: CauseRequest, Binding: *b})
			return true
		})
		x.e, x.events, x.msgs = e, nil, nil
		if err := x.step(Input{Kind: InputTick}); err != nil {
			t.Fatal(err)
		}
	}
	restart(p)
	restart(s)
	for _, x := range []*foSide{p, s} {
		if err := x.step(Input{Kind: InputPeerUp, Rel: 0}); err != nil {
			t.Fatal(err)
		}
	}
	pump(t, p, s)
	if p.state() != StateNormal || s.state() != StateNormal {
		t.Fatalf("after restart: primary %v, secondary %v", p.state(), s.state())
	}
	p.advance(10 * time.Minute)
	s.advance(10 * time.Minute)
	r := p.client(p.msgFor(wire.Renew, 1, true, false))
	ia := findIA(t, &r.reply(t).Msg, KindNA, 1)
	if ia.NumAddrs != 2 || !mustPrefix("2001:db8:1::8000/116").Contains(leasedAddr(t, ia)) {
		t.Fatalf("primary's renumbering REPLY: %+v", ia)
	}
	reps := deliver(t, p, s, r.events)
	if len(reps) != 2 {
		t.Fatalf("%d updates delivered, want the EXPIRED and the new ACTIVE: %s", len(reps), formatEvents(r.events))
	}
	for _, rep := range reps {
		if !rep.Accepted {
			t.Errorf("secondary refused %v (status %d)", rep.Prefix, rep.StatusCode)
		}
	}
	if b, _ := s.e.Lookup(netip.PrefixFrom(old, 128)); b.Status == StatusActive {
		t.Fatalf("secondary still holds the renumbered address: %s", formatBinding(&b))
	}
}

package bench

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// TestBuilderRelayOptionsIndependentDecoder: the relay options a class can
// match (INTERFACE_ID, REMOTE_ID, SUBSCRIBER_ID) and the prefix-length hint,
// as an independent decoder (github.com/insomniacslk/dhcp) reads them.
func TestBuilderRelayOptionsIndependentDecoder(t *testing.T) {
	remote := []byte{0x00, 0x00, 0x0d, 0xe9, 'l', 'i', 'n', 'e', '7'} // enterprise 3561, "line7"
	bd := builder{relayed: true, link: netip.MustParseAddr("2001:db8:1::1"), interfaceID: []byte("port7"),
		remoteID: remote, subscriber: []byte("sub-0042"), relayPort: true, na: true, pd: true,
		pdHint: netip.PrefixFrom(netip.IPv6Unspecified(), 60)}
	b := bd.append(nil, wire.Solicit, [3]byte{1, 2, 3}, 9, nil)

	d, err := dhcpv6.FromBytes(b)
	if err != nil {
		t.Fatalf("insomniacslk/dhcp cannot decode the RELAY-FORW: %v", err)
	}
	rm, ok := d.(*dhcpv6.RelayMessage)
	if !ok || rm.Type() != dhcpv6.MessageTypeRelayForward {
		t.Fatalf("decoded %T %v, want a RELAY-FORW", d, d.Type())
	}
	if !rm.LinkAddr.Equal(bd.link.AsSlice()) || rm.HopCount != 0 {
		t.Errorf("relay header: link %v hops %d", rm.LinkAddr, rm.HopCount)
	}
	if got := rm.Options.InterfaceID(); string(got) != "port7" {
		t.Errorf("INTERFACE_ID %q, want port7", got)
	}
	rid := rm.Options.RemoteID()
	if rid == nil {
		t.Fatal("no REMOTE_ID")
	}
	if rid.EnterpriseNumber != 3561 || string(rid.RemoteID) != "line7" {
		t.Errorf("REMOTE_ID enterprise %d id %q, want 3561 line7", rid.EnterpriseNumber, rid.RemoteID)
	}
	sub := rm.Options.GetOne(dhcpv6.OptionRelayAgentSubscriberID)
	if sub == nil || string(sub.ToBytes()) != "sub-0042" {
		t.Errorf("SUBSCRIBER_ID %v, want sub-0042", sub)
	}
	// The raw option as a class matches it: code 37, the data given.
	if i := bytes.Index(b, append([]byte{0, 37, 0, byte(len(remote))}, remote...)); i < 0 {
		t.Errorf("REMOTE_ID option with data %x not found in %x", remote, b)
	}
	inner, err := rm.GetInnerMessage()
	if err != nil {
		t.Fatal(err)
	}
	if inner.Type() != dhcpv6.MessageTypeSolicit {
		t.Fatalf("inner %v", inner.Type())
	}
	pd := inner.Options.OneIAPD()
	if pd == nil {
		t.Fatal("SOLICIT has no IA_PD")
	}
	if binary.BigEndian.Uint32(pd.IaId[:]) != iaid {
		t.Errorf("IA_PD IAID %x", pd.IaId)
	}
	ps := pd.Options.Prefixes()
	if len(ps) != 1 || ps[0].Prefix == nil {
		t.Fatalf("IA_PD carries %d IAPREFIXes, want the one hint", len(ps))
	}
	if ones, _ := ps[0].Prefix.Mask.Size(); ones != 60 || !ps[0].Prefix.IP.IsUnspecified() ||
		ps[0].ValidLifetime != 0 || ps[0].PreferredLifetime != 0 {
		t.Errorf("hint IAPREFIX %v pref %v valid %v, want ::/60 with lifetimes 0", ps[0].Prefix, ps[0].PreferredLifetime, ps[0].ValidLifetime)
	}
	if len(inner.Options.IANA()) != 1 || len(inner.Options.IANA()[0].Options.Addresses()) != 0 {
		t.Errorf("SOLICIT IA_NA: %v", inner.Options.IANA())
	}

	// A REQUEST names the offered prefix, not the hint; a RENEW too.
	a := ask{serverID: responderDUID, addr: wireAddr, prefix: wirePrefix}
	for _, mt := range []wire.MsgType{wire.Request, wire.Renew} {
		d, err := dhcpv6.FromBytes(bd.append(nil, mt, [3]byte{4, 5, 6}, 9, &a))
		if err != nil {
			t.Fatal(err)
		}
		m, err := d.(*dhcpv6.RelayMessage).GetInnerMessage()
		if err != nil {
			t.Fatal(err)
		}
		ps := m.Options.OneIAPD().Options.Prefixes()
		if len(ps) != 1 || ps[0].Prefix.String() != wirePrefix.String() {
			t.Errorf("%v IA_PD prefixes %v, want just %v", mt, ps, wirePrefix)
		}
		if d.(*dhcpv6.RelayMessage).Options.RemoteID() == nil {
			t.Errorf("%v: relay layer lost its REMOTE_ID", mt)
		}
	}

	// Without the options: none of them.
	bd2 := builder{relayed: true, link: bd.link, na: true, pd: true}
	d, err = dhcpv6.FromBytes(bd2.append(nil, wire.Solicit, [3]byte{}, 9, nil))
	if err != nil {
		t.Fatal(err)
	}
	rm = d.(*dhcpv6.RelayMessage)
	if rm.Options.RemoteID() != nil || rm.Options.GetOne(dhcpv6.OptionRelayAgentSubscriberID) != nil || rm.Options.InterfaceID() != nil {
		t.Errorf("relay options without configuration: %v", rm.Options)
	}
	inner, _ = rm.GetInnerMessage()
	if n := len(inner.Options.OneIAPD().Options.Prefixes()); n != 0 {
		t.Errorf("IA_PD without a hint carries %d IAPREFIXes", n)
	}
}

func TestBuilderRelayOptionsZeroAlloc(t *testing.T) {
	bd := builder{relayed: true, link: wireAddr, interfaceID: []byte("eth0"), remoteID: []byte{0, 0, 0x0d, 0xe9, 1, 2},
		subscriber: []byte("sub"), relayPort: true, na: true, pd: true, pdHint: netip.PrefixFrom(netip.IPv6Unspecified(), 60)}
	buf := make([]byte, 0, outBufSize)
	if n := testing.AllocsPerRun(1000, func() {
		buf = bd.append(buf[:0], wire.Solicit, [3]byte{1, 2, 3}, 7, nil)
	}); n != 0 {
		t.Errorf("builder.append with relay options and a hint: %v allocs", n)
	}
}

func TestConfigValidateRelayOptions(t *testing.T) {
	for _, c := range []func(*Config){
		func(c *Config) { c.RemoteID = []byte{0, 0, 1} },
		func(c *Config) { c.SubscriberID = []byte{} },
		func(c *Config) { c.PDHintLen = 129 },
		func(c *Config) { c.Interface = "lo"; c.RemoteID = []byte{0, 0, 0, 1, 2} },
	} {
		cfg := DefaultConfig()
		c(&cfg)
		if err := cfg.validate(); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	cfg := DefaultConfig()
	cfg.RemoteID, cfg.SubscriberID, cfg.PDHintLen = []byte{0, 0, 0, 1, 2}, []byte("x"), 60
	if err := cfg.validate(); err != nil {
		t.Errorf("valid relay options refused: %v", err)
	}
}

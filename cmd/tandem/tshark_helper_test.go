package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// writeTestPcap writes DHCPv6 payloads as Ethernet/IPv6/UDP frames from
// [2001:db8:1::1]:547 to [2001:db8:1::2]:546 (valid UDP checksums).
func writeTestPcap(t *testing.T, path string, payloads ...[]byte) {
	t.Helper()
	src, dst := netip.MustParseAddr("2001:db8:1::1").As16(), netip.MustParseAddr("2001:db8:1::2").As16()
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1)
	for i, pl := range payloads {
		udp := make([]byte, 8, 8+len(pl))
		binary.BigEndian.PutUint16(udp[0:], 547)
		binary.BigEndian.PutUint16(udp[2:], 546)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(pl)))
		udp = append(udp, pl...)
		// Checksum over the pseudo-header and the datagram.
		var sum uint32
		add := func(x []byte) {
			for j := 0; j+1 < len(x); j += 2 {
				sum += uint32(binary.BigEndian.Uint16(x[j:]))
			}
			if len(x)%2 == 1 {
				sum += uint32(x[len(x)-1]) << 8
			}
		}
		add(src[:])
		add(dst[:])
		sum += uint32(len(udp)) + 17
		add(udp)
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		cs := ^uint16(sum)
		if cs == 0 {
			cs = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], cs)
		frame := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd}
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
		ip[6], ip[7] = 17, 64
		copy(ip[8:], src[:])
		copy(ip[24:], dst[:])
		frame = append(append(frame, ip...), udp...)
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ispReply() *dhcpv6.Message {
	m, _ := dhcpv6.NewMessage()
	m.MessageType = dhcpv6.MessageTypeReply
	m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
	m.AddOption(&dhcpv6.OptionGeneric{OptionCode: 64, OptionData: []byte("\x04aftr\x07example\x03net\x00")})
	m.AddOption(&dhcpv6.OptionGeneric{OptionCode: 82, OptionData: []byte{0, 0, 0x0e, 0x10}})
	ntp := []byte{0, 1, 0, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x23, 0, 3, 0, 17}
	m.AddOption(&dhcpv6.OptionGeneric{OptionCode: 56, OptionData: append(ntp, "\x03ntp\x07example\x03net\x00"...)})
	m.AddOption(dhcpv6.OptDNS(net.ParseIP("2001:db8::53")))
	m.AddOption(dhcpv6.OptDomainSearchList(&rfc1035label.Labels{Labels: []string{"example.net"}}))
	pd := &dhcpv6.OptIAPD{IaId: [4]byte{0, 0, 0, 1}, T1: time.Minute, T2: 2 * time.Minute}
	_, p, _ := net.ParseCIDR("2001:db8:200:10::/60")
	pd.Options.Add(&dhcpv6.OptIAPrefix{PreferredLifetime: time.Hour, ValidLifetime: 2 * time.Hour, Prefix: p})
	m.AddOption(pd)
	na := &dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 2}}
	na.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP("2001:db8:1::1000")})
	na.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP("2001:db8:1::2000"), PreferredLifetime: time.Hour, ValidLifetime: 2 * time.Hour})
	m.AddOption(na)
	return m
}

// TestTsharkHelper checks the tshark reading itself on packets built by an
// independent encoder: values found, relays unwrapped, and damage caught.
// It needs tshark, not root.
func TestTsharkHelper(t *testing.T) {
	if _, err := lookTool("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not found: run `make deps`")
		}
		t.Skip("tshark not found")
	}
	dir := t.TempDir()
	reply := ispReply()
	relay, err := dhcpv6.EncapsulateRelay(reply, dhcpv6.MessageTypeRelayReply, net.ParseIP("2001:db8:1::1"), net.ParseIP("fe80::1"))
	if err != nil {
		t.Fatal(err)
	}
	relay.AddOption(dhcpv6.OptInterfaceID([]byte("port7")))
	good := filepath.Join(dir, "good.pcap")
	writeTestPcap(t, good, reply.ToBytes(), relay.ToBytes())
	pkts := tsharkRead(t, good)
	if len(pkts) != 2 {
		t.Fatalf("%d packets, want 2", len(pkts))
	}
	t.Logf("\n%s", tsSummary(pkts))
	for i, p := range pkts {
		m := p.client()
		if m.typ != 7 || p.sport != 547 || p.dport != 546 || p.src != "2001:db8:1::1" {
			t.Errorf("packet %d: %s", i, p)
		}
		if got := m.opt(82).u32(); got != 3600 {
			t.Errorf("packet %d: SOL_MAX_RT %d, want 3600", i, got)
		}
		if got := m.field("dhcpv6.aftr_name"); got != "aftr.example.net." {
			t.Errorf("packet %d: AFTR name %q", i, got)
		}
		if got := m.opt(56).fields("dhcpv6.ntpserver.addr"); len(got) != 1 || got[0] != "2001:db8::123" {
			t.Errorf("packet %d: NTP server addresses %v", i, got)
		}
		if got := m.opt(56).field("dhcpv6.ntpserver.fqdn"); got != "ntp.example.net." {
			t.Errorf("packet %d: NTP server FQDN %q", i, got)
		}
		if got := m.field("dhcpv6.dns_server"); got != "2001:db8::53" {
			t.Errorf("packet %d: DNS %q", i, got)
		}
		ls := m.leases()
		want := []tsLease{{"na", "00000002", "2001:db8:1::1000", 0, 0}, {"na", "00000002", "2001:db8:1::2000", 3600, 7200},
			{"pd", "00000001", "2001:db8:200:10::/60", 3600, 7200}}
		if len(ls) != 3 {
			t.Fatalf("packet %d leases %+v", i, ls)
		}
		for _, w := range want {
			found := false
			for _, l := range ls {
				found = found || l == w
			}
			if !found {
				t.Errorf("packet %d: lease %+v not among %+v", i, w, ls)
			}
		}
	}
	if o := pkts[1].outer(); o.typ != 13 || string(o.opt(18).data) != "port7" || o.field("dhcpv6.peeraddr") != "fe80::1" {
		t.Errorf("relay layer: type %d codes %v", o.typ, o.codes())
	}
	if pkts[1].outer().has(82) {
		t.Error("the inner message's options were counted at the relay level")
	}

	// Damage: an option running past the message, a bad name, trailing
	// bytes inside an IA.
	b := reply.ToBytes()
	trunc := append(append([]byte{}, b...), 0, 82, 0, 8, 0, 0)
	badName := append(append([]byte{}, b...), 0, 64, 0, 3, 3, 'a', 'b')
	iaJunk := ispReply()
	iaJunk.Options.Del(dhcpv6.OptionIANA)
	nab := (&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 2}}).ToBytes()
	nab = append(nab, 0xff, 0xff) // two bytes after the IA's options
	iaJunk.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionIANA, OptionData: nab[4:]})
	for name, pl := range map[string][]byte{"truncated": trunc, "bad-name": badName, "ia-junk": iaJunk.ToBytes()} {
		path := filepath.Join(dir, name+".pcap")
		writeTestPcap(t, path, pl)
		ps, err := tsharkDecode(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || len(ps[0].problems) == 0 {
			t.Errorf("%s: no problem found", name)
		} else {
			t.Logf("%s: %s", name, strings.Join(ps[0].problems, "; "))
		}
	}
}

package wire

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// decodeTheirs decodes one option with insomniacslk/dhcp, an independent
// implementation, so the encoders are not only checked against themselves.
func decodeTheirs(t *testing.T, code uint16, data []byte) dhcpv6.MessageOptions {
	t.Helper()
	var o dhcpv6.Options
	if err := o.FromBytes(AppendOption(nil, code, data)); err != nil {
		t.Fatalf("dhcpv6 cannot decode option %d % x: %v", code, data, err)
	}
	return dhcpv6.MessageOptions{Options: o}
}

func TestAddrListData(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("2001:db8::54")
	got := AddrListData([]netip.Addr{a, b})
	want := append(append([]byte{}, a.AsSlice()...), b.AsSlice()...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x", got)
	}
	ips := []net.IP{net.ParseIP("2001:db8::53"), net.ParseIP("2001:db8::54")}
	if dns := decodeTheirs(t, OptDNSServers, got).DNS(); !reflect.DeepEqual(dns, ips) {
		t.Errorf("dhcpv6 DNS: %v", dns)
	}
	if sntp := decodeTheirs(t, OptSNTPServers, got).SNTP(); !reflect.DeepEqual(sntp, ips) {
		t.Errorf("dhcpv6 SNTP: %v", sntp)
	}
}

func TestDomainData(t *testing.T) {
	got, err := DomainListData([]string{"example.com", "corp.example.com."})
	want := []byte("\x07example\x03com\x00\x04corp\x07example\x03com\x00")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("DomainListData = % x, %v", got, err)
	}
	l := decodeTheirs(t, OptDomainList, got).DomainSearchList()
	if l == nil || !reflect.DeepEqual(l.Labels, []string{"example.com", "corp.example.com"}) {
		t.Errorf("dhcpv6 domain list: %v", l)
	}
	// AFTR_NAME (RFC 6334) is one name in the same format; dhcpv6 has no
	// AFTR_NAME type, so decode the name with its RFC 1035 reader.
	aftr, err := AppendDomain(nil, "aftr.example.net")
	if err != nil {
		t.Fatal(err)
	}
	if l, err := rfc1035label.FromBytes(aftr); err != nil || !reflect.DeepEqual(l.Labels, []string{"aftr.example.net"}) {
		t.Errorf("rfc1035label: %v %v", l, err)
	}
	// "" and "." are the root, one zero octet; config refuses them itself.
	if b, err := AppendDomain(nil, "."); err != nil || !bytes.Equal(b, []byte{0}) {
		t.Errorf("root: % x %v", b, err)
	}
	for _, bad := range []string{"a..b", ".a", strings.Repeat("x", 64) + ".com", strings.Repeat("abcdefg.", 32) + "com"} {
		if b, err := AppendDomain([]byte{9}, bad); !errors.Is(err, ErrDomain) || !bytes.Equal(b, []byte{9}) {
			t.Errorf("AppendDomain(%q) = % x, %v; want ErrDomain and b unchanged", bad, b, err)
		}
	}
}

func TestUint32Data(t *testing.T) {
	if got := Uint32Data(3600); !bytes.Equal(got, []byte{0, 0, 0x0e, 0x10}) {
		t.Fatalf("got % x", got)
	}
	if got := Uint32Data(0xffffffff); !bytes.Equal(got, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("got % x", got)
	}
	if irt := decodeTheirs(t, OptInfoRefresh, Uint32Data(86400)).InformationRefreshTime(0); irt != 24*time.Hour {
		t.Errorf("dhcpv6 information refresh time: %v", irt)
	}
}

func TestNTPServerData(t *testing.T) {
	got, err := NTPServerData([]NTPServer{
		{Addr: netip.MustParseAddr("2001:db8::123")},
		{Addr: netip.MustParseAddr("ff05::101")},
		{FQDN: "ntp.example.net"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 1, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x23,
		0, 2, 0, 16, 0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
		0, 3, 0, 17}
	want = append(want, "\x03ntp\x07example\x03net\x00"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
	o, err := dhcpv6.ParseOption(dhcpv6.OptionNTPServer, got)
	if err != nil {
		t.Fatal(err)
	}
	subs := o.(*dhcpv6.OptNTPServer).Suboptions
	if len(subs) != 3 {
		t.Fatalf("dhcpv6 sub-options: %v", subs)
	}
	if a, ok := subs[0].(*dhcpv6.NTPSuboptionSrvAddr); !ok || !net.IP(*a).Equal(net.ParseIP("2001:db8::123")) {
		t.Errorf("sub-option 0: %v", subs[0])
	}
	if a, ok := subs[1].(*dhcpv6.NTPSuboptionMCAddr); !ok || !net.IP(*a).Equal(net.ParseIP("ff05::101")) {
		t.Errorf("sub-option 1: %v", subs[1])
	}
	if f, ok := subs[2].(*dhcpv6.NTPSuboptionSrvFQDN); !ok || !reflect.DeepEqual(f.Labels.Labels, []string{"ntp.example.net"}) {
		t.Errorf("sub-option 2: %v", subs[2])
	}

	if _, err := NTPServerData([]NTPServer{{FQDN: "a..b"}}); !errors.Is(err, ErrDomain) {
		t.Errorf("bad name: %v", err)
	}
	many := make([]NTPServer, 3300) // 20 octets each
	for i := range many {
		many[i].Addr = netip.MustParseAddr("2001:db8::1")
	}
	if _, err := NTPServerData(many); !errors.Is(err, ErrOptionTooLong) {
		t.Errorf("66000 octets: %v", err)
	}
}

func TestVendorOptsData(t *testing.T) {
	got, err := VendorOptsData(4491, []SubOption{{Code: 32, Data: []byte("cfg.example.net")}, {Code: 2, Data: []byte{1}}})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0, 0, 0x11, 0x8b, 0, 32, 0, 15}, "cfg.example.net"...)
	want = append(want, 0, 2, 0, 1, 1)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
	vo := decodeTheirs(t, OptVendorOpts, got).VendorOpts()
	if len(vo) != 1 || vo[0].EnterpriseNumber != 4491 || len(vo[0].VendorOpts) != 2 ||
		vo[0].VendorOpts[0].Code() != 32 || string(vo[0].VendorOpts[0].ToBytes()) != "cfg.example.net" ||
		vo[0].VendorOpts[1].Code() != 2 || !bytes.Equal(vo[0].VendorOpts[1].ToBytes(), []byte{1}) {
		t.Errorf("dhcpv6 vendor opts: %v", vo)
	}
	if got, err := VendorOptsData(9, nil); err != nil || !bytes.Equal(got, []byte{0, 0, 0, 9}) {
		t.Errorf("no sub-options: % x %v", got, err)
	}
	if _, err := VendorOptsData(1, []SubOption{{Code: 1, Data: make([]byte, 65532)}}); !errors.Is(err, ErrOptionTooLong) {
		t.Errorf("too long: %v", err)
	}
	if _, err := VendorOptsData(1, []SubOption{{Code: 1, Data: make([]byte, 65536)}}); !errors.Is(err, ErrOptionTooLong) {
		t.Errorf("sub-option too long: %v", err)
	}
}

package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// Fixtures are built with github.com/insomniacslk/dhcp/dhcpv6 wherever it can
// express the input, so that what the decoder is checked against is a second,
// independent reading of RFC 8415; malformed inputs, which that library will
// not produce, are built by hand with the raw helpers further down.

var (
	testXID    = dhcpv6.TransactionID{0xca, 0xfe, 0x01}
	clientDUID = &dhcpv6.DUIDLLT{
		HWType:        iana.HWTypeEthernet,
		Time:          0x1c38262d,
		LinkLayerAddr: net.HardwareAddr{0x08, 0x00, 0x27, 0xfe, 0x8f, 0x95},
	}
	serverDUID = &dhcpv6.DUIDEN{EnterpriseNumber: 32473, EnterpriseIdentifier: []byte("tandem-a")}

	clientID = clientDUID.ToBytes()
	serverID = serverDUID.ToBytes()
	xid      = [3]byte(testXID[:])
)

// msg6 marshals a client/server message built by insomniacslk/dhcp.
func msg6(t dhcpv6.MessageType, opts ...dhcpv6.Option) []byte {
	return msg6m(t, opts...).ToBytes()
}

func msg6m(t dhcpv6.MessageType, opts ...dhcpv6.Option) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: t, TransactionID: testXID}
	for _, o := range opts {
		m.AddOption(o)
	}
	return m
}

func iaid4(v uint32) [4]byte { return [4]byte(binary.BigEndian.AppendUint32(nil, v)) }

func secs(v uint32) time.Duration { return time.Duration(v) * time.Second }

func iana6(iaid, t1, t2 uint32, sub ...dhcpv6.Option) *dhcpv6.OptIANA {
	return &dhcpv6.OptIANA{IaId: iaid4(iaid), T1: secs(t1), T2: secs(t2),
		Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options(sub)}}
}

func iata6(iaid uint32, sub ...dhcpv6.Option) *dhcpv6.OptIATA {
	return &dhcpv6.OptIATA{IaId: iaid4(iaid), Options: dhcpv6.IdentityOptions{Options: dhcpv6.Options(sub)}}
}

func iapd6(iaid, t1, t2 uint32, sub ...dhcpv6.Option) *dhcpv6.OptIAPD {
	return &dhcpv6.OptIAPD{IaId: iaid4(iaid), T1: secs(t1), T2: secs(t2),
		Options: dhcpv6.PDOptions{Options: dhcpv6.Options(sub)}}
}

func iaaddr6(a string, pref, valid uint32, sub ...dhcpv6.Option) *dhcpv6.OptIAAddress {
	return &dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(a), PreferredLifetime: secs(pref), ValidLifetime: secs(valid),
		Options: dhcpv6.AddressOptions{Options: dhcpv6.Options(sub)}}
}

func iaprefix6(p string, pref, valid uint32) *dhcpv6.OptIAPrefix {
	pp := netip.MustParsePrefix(p)
	a := pp.Addr().As16()
	return &dhcpv6.OptIAPrefix{PreferredLifetime: secs(pref), ValidLifetime: secs(valid),
		Prefix: &net.IPNet{IP: net.IP(a[:]), Mask: net.CIDRMask(pp.Bits(), 128)}}
}

func status6(code iana.StatusCode, msg string) *dhcpv6.OptStatusCode {
	return &dhcpv6.OptStatusCode{StatusCode: code, StatusMessage: msg}
}

func generic6(code uint16, data []byte) *dhcpv6.OptionGeneric {
	return &dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionCode(code), OptionData: data}
}

func labels6(names ...string) *rfc1035label.Labels { return &rfc1035label.Labels{Labels: names} }

func oro6(codes ...dhcpv6.OptionCode) dhcpv6.Option { return dhcpv6.OptRequestedOption(codes...) }

// relay6 wraps inner in one RELAY-FORW or RELAY-REPL layer.
func relay6(t dhcpv6.MessageType, hops uint8, link, peer string, inner dhcpv6.DHCPv6, opts ...dhcpv6.Option) *dhcpv6.RelayMessage {
	r := &dhcpv6.RelayMessage{MessageType: t, HopCount: hops, LinkAddr: net.ParseIP(link), PeerAddr: net.ParseIP(peer)}
	for _, o := range opts {
		r.AddOption(o)
	}
	r.AddOption(dhcpv6.OptRelayMessage(inner))
	return r
}

// Views: a decoded Packet reduced to what its counts make live, comparable
// with reflect.DeepEqual and readable when printed. Entries past NumX are
// deliberately not part of the contract.

type iaView struct {
	IAID, T1, T2 uint32
	Addrs        []IAAddr
	Prefixes     []IAPrefix
	HasStatus    bool
	Status       uint16
}

type msgView struct {
	Type               MsgType
	XID                [3]byte
	ClientID, ServerID []byte
	IANA, IATA, IAPD   []iaView
	ORO                []uint16
	HasElapsed         bool
	ElapsedTime        uint16
	HasPreference      bool
	Preference         uint8
	RapidCommit        bool
	ReconfAccept       bool
	HasStatus          bool
	Status             uint16
	StatusMsg          []byte
	DNSServers         []byte
	DomainList         []byte
	ClientFQDN         []byte
	VendorClass        []byte
	UserClass          []byte
}

type packetView struct {
	Relays []Relay
	Msg    msgView
}

func viewIAs(ias []IA) []iaView {
	var out []iaView
	for i := range ias {
		ia := &ias[i]
		v := iaView{IAID: ia.IAID, T1: ia.T1, T2: ia.T2, HasStatus: ia.HasStatus, Status: ia.Status}
		if ia.NumAddrs > 0 {
			v.Addrs = append([]IAAddr(nil), ia.Addrs[:ia.NumAddrs]...)
		}
		if ia.NumPrefixes > 0 {
			v.Prefixes = append([]IAPrefix(nil), ia.Prefixes[:ia.NumPrefixes]...)
		}
		out = append(out, v)
	}
	return out
}

func viewMsg(m *Message) msgView {
	v := msgView{
		Type: m.Type, XID: m.XID, ClientID: m.ClientID, ServerID: m.ServerID,
		IANA: viewIAs(m.IANA[:m.NumIANA]), IATA: viewIAs(m.IATA[:m.NumIATA]), IAPD: viewIAs(m.IAPD[:m.NumIAPD]),
		HasElapsed: m.HasElapsed, ElapsedTime: m.ElapsedTime,
		HasPreference: m.HasPreference, Preference: m.Preference,
		RapidCommit: m.RapidCommit, ReconfAccept: m.ReconfAccept,
		HasStatus: m.HasStatus, Status: m.Status, StatusMsg: m.StatusMsg,
		DNSServers: m.DNSServers, DomainList: m.DomainList, ClientFQDN: m.ClientFQDN,
		VendorClass: m.VendorClass, UserClass: m.UserClass,
	}
	if m.NumORO > 0 {
		v.ORO = append([]uint16(nil), m.ORO[:m.NumORO]...)
	}
	return v
}

func viewPacket(p *Packet) packetView {
	v := packetView{Msg: viewMsg(&p.Msg)}
	if p.NumRelays > 0 {
		v.Relays = append([]Relay(nil), p.Relays[:p.NumRelays]...)
	}
	return v
}

func (v packetView) String() string {
	var b bytes.Buffer
	for i, r := range v.Relays {
		fmt.Fprintf(&b, "relay[%d] %s hops=%d link=%s peer=%s ifid=%x remoteid=%x subscriberid=%x\n",
			i, r.Type, r.HopCount, r.LinkAddr, r.PeerAddr, r.InterfaceID, r.RemoteID, r.SubscriberID)
	}
	fmt.Fprintf(&b, "%+v", v.Msg)
	return b.String()
}

// View constructors for expected values.

func ia(iaid, t1, t2 uint32, addrs ...IAAddr) iaView {
	return iaView{IAID: iaid, T1: t1, T2: t2, Addrs: addrs}
}

func pd(iaid, t1, t2 uint32, prefixes ...IAPrefix) iaView {
	return iaView{IAID: iaid, T1: t1, T2: t2, Prefixes: prefixes}
}

func withStatus(v iaView, code uint16) iaView {
	v.HasStatus, v.Status = true, code
	return v
}

func addr(a string, pref, valid uint32) IAAddr {
	return IAAddr{Addr: netip.MustParseAddr(a), Preferred: pref, Valid: valid}
}

func pfx(p string, pref, valid uint32) IAPrefix {
	return IAPrefix{Prefix: netip.MustParsePrefix(p), Preferred: pref, Valid: valid}
}

func addrBytes(as ...string) []byte {
	var b []byte
	for _, a := range as {
		a16 := netip.MustParseAddr(a).As16()
		b = append(b, a16[:]...)
	}
	return b
}

// Raw builders for inputs insomniacslk/dhcp cannot produce. They use plain
// appends, not the package's encoder, so a bug there cannot hide one here.

func rawOpt(code uint16, parts ...[]byte) []byte {
	var data []byte
	for _, p := range parts {
		data = append(data, p...)
	}
	b := binary.BigEndian.AppendUint16(nil, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func rawMsg(t MsgType, opts ...[]byte) []byte {
	b := []byte{byte(t), xid[0], xid[1], xid[2]}
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

func rawRelay(t MsgType, hops uint8, opts ...[]byte) []byte {
	b := []byte{byte(t), hops}
	link, peer := netip.MustParseAddr("2001:db8:1::1").As16(), netip.MustParseAddr("fe80::1").As16()
	b = append(b, link[:]...)
	b = append(b, peer[:]...)
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func rawIA(code uint16, iaid uint32, sub ...[]byte) []byte {
	hdr := u32(iaid)
	if code != OptIATA {
		hdr = append(hdr, u32(3600)...)
		hdr = append(hdr, u32(5400)...)
	}
	return rawOpt(code, append([][]byte{hdr}, sub...)...)
}

func rawIAAddr(a string) []byte {
	return rawOpt(OptIAAddr, addrBytes(a), u32(100), u32(200))
}

func rawIAPrefix(bits uint8, a string) []byte {
	return rawOpt(OptIAPrefix, u32(100), u32(200), []byte{bits}, addrBytes(a))
}

func repeat(n int, b []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func decodeView(t *testing.T, b []byte) packetView {
	t.Helper()
	var p Packet
	if err := p.Decode(b); err != nil {
		t.Fatalf("Decode: %v\n% x", err, b)
	}
	return viewPacket(&p)
}

func checkView(t *testing.T, got, want packetView) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%v\nwant\n%v", got, want)
	}
}

// Client messages as a server receives them; the fuzz seeds, allocation
// tests and benchmarks share them.

func solicitMsg() *dhcpv6.Message {
	return msg6m(dhcpv6.MessageTypeSolicit,
		dhcpv6.OptClientID(clientDUID),
		dhcpv6.OptElapsedTime(0),
		oro6(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList),
		iana6(1, 0, 0),
		iapd6(2, 0, 0, iaprefix6("::/56", 0, 0)),
		generic6(OptRapidCommit, nil),
		generic6(OptReconfAccept, nil),
		&dhcpv6.OptFQDN{Flags: 1, DomainName: labels6("host.example")},
		&dhcpv6.OptVendorClass{EnterpriseNumber: 311, Data: [][]byte{[]byte("MSFT 5.0")}},
	)
}

func requestMsg() *dhcpv6.Message {
	return msg6m(dhcpv6.MessageTypeRequest,
		dhcpv6.OptClientID(clientDUID),
		dhcpv6.OptServerID(serverDUID),
		dhcpv6.OptElapsedTime(10*time.Millisecond),
		oro6(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList),
		iana6(1, 0, 0, iaaddr6("2001:db8::10", 0, 0)),
		iapd6(2, 0, 0, iaprefix6("2001:db8:ff00::/56", 0, 0)),
		generic6(OptReconfAccept, nil),
	)
}

func renewMsg() *dhcpv6.Message {
	return msg6m(dhcpv6.MessageTypeRenew,
		dhcpv6.OptClientID(clientDUID),
		dhcpv6.OptServerID(serverDUID),
		dhcpv6.OptElapsedTime(0),
		oro6(dhcpv6.OptionDNSRecursiveNameServer),
		iana6(1, 1800, 2880, iaaddr6("2001:db8::10", 3600, 7200)),
		iapd6(2, 1800, 2880, iaprefix6("2001:db8:ff00::/56", 3600, 7200)),
	)
}

// relayed2 wraps m in two RELAY-FORW layers with the options relays add.
func relayed2(m dhcpv6.DHCPv6) []byte {
	inner := relay6(dhcpv6.MessageTypeRelayForward, 0, "2001:db8:1::1", "fe80::aa", m,
		dhcpv6.OptInterfaceID([]byte("ge-0/0/1.100")),
		&dhcpv6.OptRemoteID{EnterpriseNumber: 4491, RemoteID: []byte{0x00, 0x01, 0x5c, 0x22, 0x8d, 0x41}})
	return relay6(dhcpv6.MessageTypeRelayForward, 1, "2001:db8:2::1", "2001:db8:1::1", inner,
		dhcpv6.OptInterfaceID([]byte("xe-1/0/0"))).ToBytes()
}

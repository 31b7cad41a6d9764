package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
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
		fmt.Fprintf(&b, "relay[%d] %s hops=%d link=%s peer=%s ifid=%x remoteid=%x\n",
			i, r.Type, r.HopCount, r.LinkAddr, r.PeerAddr, r.InterfaceID, r.RemoteID)
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

// TestDecodeMessageTypes decodes one realistic message of every type a
// server receives or sends (RFC 8415 §7.3), each with the options §21 and
// Appendix B allow in it.
func TestDecodeMessageTypes(t *testing.T) {
	dnsOpt := dhcpv6.OptDNS(net.ParseIP("2001:db8::53"), net.ParseIP("2001:db8::54"))
	domains := dhcpv6.OptDomainSearchList(labels6("example.com", "lab.example.com"))
	domainsRaw := labels6("example.com", "lab.example.com").ToBytes()
	dnsRaw := addrBytes("2001:db8::53", "2001:db8::54")

	tests := []struct {
		name string
		in   []byte
		want msgView
	}{
		{
			name: "SOLICIT",
			in: msg6(dhcpv6.MessageTypeSolicit,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptElapsedTime(0),
				oro6(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList),
				iana6(1, 0, 0),
				iapd6(2, 0, 0, iaprefix6("::/56", 0, 0)),
				generic6(OptRapidCommit, nil),
				generic6(OptReconfAccept, nil),
			),
			want: msgView{Type: Solicit, XID: xid, ClientID: clientID,
				HasElapsed: true, ORO: []uint16{OptDNSServers, OptDomainList},
				IANA: []iaView{ia(1, 0, 0)}, IAPD: []iaView{pd(2, 0, 0, pfx("::/56", 0, 0))},
				RapidCommit: true, ReconfAccept: true},
		},
		{
			name: "ADVERTISE",
			in: msg6(dhcpv6.MessageTypeAdvertise,
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptPreference(255),
				iana6(1, 1800, 2880, iaaddr6("2001:db8::10", 3600, 7200)),
				iapd6(2, 1800, 2880, iaprefix6("2001:db8:ff00::/56", 3600, 7200)),
				dnsOpt, domains,
			),
			want: msgView{Type: Advertise, XID: xid, ClientID: clientID, ServerID: serverID,
				HasPreference: true, Preference: 255,
				IANA:       []iaView{ia(1, 1800, 2880, addr("2001:db8::10", 3600, 7200))},
				IAPD:       []iaView{pd(2, 1800, 2880, pfx("2001:db8:ff00::/56", 3600, 7200))},
				DNSServers: dnsRaw, DomainList: domainsRaw},
		},
		{
			name: "REQUEST",
			in: msg6(dhcpv6.MessageTypeRequest,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptElapsedTime(10*time.Millisecond),
				oro6(dhcpv6.OptionDNSRecursiveNameServer),
				iana6(1, 0, 0, iaaddr6("2001:db8::10", 0, 0)),
				iapd6(2, 0, 0, iaprefix6("2001:db8:ff00::/56", 0, 0)),
			),
			want: msgView{Type: Request, XID: xid, ClientID: clientID, ServerID: serverID,
				HasElapsed: true, ElapsedTime: 1, ORO: []uint16{OptDNSServers},
				IANA: []iaView{ia(1, 0, 0, addr("2001:db8::10", 0, 0))},
				IAPD: []iaView{pd(2, 0, 0, pfx("2001:db8:ff00::/56", 0, 0))}},
		},
		{
			name: "CONFIRM",
			in: msg6(dhcpv6.MessageTypeConfirm,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptElapsedTime(0),
				iana6(1, 0, 0, iaaddr6("2001:db8::10", 0, 0)),
			),
			want: msgView{Type: Confirm, XID: xid, ClientID: clientID, HasElapsed: true,
				IANA: []iaView{ia(1, 0, 0, addr("2001:db8::10", 0, 0))}},
		},
		{
			name: "RENEW",
			in: msg6(dhcpv6.MessageTypeRenew,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptElapsedTime(0),
				iana6(1, 1800, 2880, iaaddr6("2001:db8::10", 3600, 7200)),
				iapd6(2, 1800, 2880, iaprefix6("2001:db8:ff00::/56", 3600, 7200)),
			),
			want: msgView{Type: Renew, XID: xid, ClientID: clientID, ServerID: serverID, HasElapsed: true,
				IANA: []iaView{ia(1, 1800, 2880, addr("2001:db8::10", 3600, 7200))},
				IAPD: []iaView{pd(2, 1800, 2880, pfx("2001:db8:ff00::/56", 3600, 7200))}},
		},
		{
			name: "REBIND",
			in: msg6(dhcpv6.MessageTypeRebind,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptElapsedTime(65535*10*time.Millisecond),
				iana6(1, 0, 0, iaaddr6("2001:db8::10", 3600, 7200)),
			),
			want: msgView{Type: Rebind, XID: xid, ClientID: clientID, HasElapsed: true, ElapsedTime: 65535,
				IANA: []iaView{ia(1, 0, 0, addr("2001:db8::10", 3600, 7200))}},
		},
		{
			name: "REPLY",
			in: msg6(dhcpv6.MessageTypeReply,
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptClientID(clientDUID),
				status6(iana.StatusSuccess, "ok"),
				generic6(OptRapidCommit, nil),
				iana6(1, 1800, 2880, iaaddr6("2001:db8::10", 3600, 7200), iaaddr6("2001:db8::11", 3600, 7200)),
				iana6(7, 0, 0, status6(iana.StatusNoAddrsAvail, "pool exhausted")),
				iapd6(2, 1800, 2880, iaprefix6("2001:db8:ff00::/56", 3600, 7200), status6(iana.StatusSuccess, "")),
				dnsOpt, domains,
			),
			want: msgView{Type: Reply, XID: xid, ClientID: clientID, ServerID: serverID,
				HasStatus: true, Status: StatusSuccess, StatusMsg: []byte("ok"), RapidCommit: true,
				IANA: []iaView{
					ia(1, 1800, 2880, addr("2001:db8::10", 3600, 7200), addr("2001:db8::11", 3600, 7200)),
					withStatus(ia(7, 0, 0), StatusNoAddrsAvail),
				},
				IAPD:       []iaView{withStatus(pd(2, 1800, 2880, pfx("2001:db8:ff00::/56", 3600, 7200)), StatusSuccess)},
				DNSServers: dnsRaw, DomainList: domainsRaw},
		},
		{
			name: "RELEASE",
			in: msg6(dhcpv6.MessageTypeRelease,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptElapsedTime(0),
				iana6(1, 0, 0, iaaddr6("2001:db8::10", 0, 0)),
				iapd6(2, 0, 0, iaprefix6("2001:db8:ff00::/56", 0, 0)),
			),
			want: msgView{Type: Release, XID: xid, ClientID: clientID, ServerID: serverID, HasElapsed: true,
				IANA: []iaView{ia(1, 0, 0, addr("2001:db8::10", 0, 0))},
				IAPD: []iaView{pd(2, 0, 0, pfx("2001:db8:ff00::/56", 0, 0))}},
		},
		{
			name: "DECLINE",
			in: msg6(dhcpv6.MessageTypeDecline,
				dhcpv6.OptClientID(clientDUID),
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptElapsedTime(0),
				iana6(1, 0, 0, iaaddr6("2001:db8::10", 0, 0)),
			),
			want: msgView{Type: Decline, XID: xid, ClientID: clientID, ServerID: serverID, HasElapsed: true,
				IANA: []iaView{ia(1, 0, 0, addr("2001:db8::10", 0, 0))}},
		},
		{
			name: "INFORMATION-REQUEST",
			in: msg6(dhcpv6.MessageTypeInformationRequest,
				dhcpv6.OptElapsedTime(0),
				oro6(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList, dhcpv6.OptionInformationRefreshTime),
			),
			want: msgView{Type: InformationRequest, XID: xid, HasElapsed: true,
				ORO: []uint16{OptDNSServers, OptDomainList, 32}},
		},
		{
			name: "RECONFIGURE",
			in: msg6(dhcpv6.MessageTypeReconfigure,
				dhcpv6.OptServerID(serverDUID),
				dhcpv6.OptClientID(clientDUID),
				generic6(OptReconfMsg, []byte{byte(Renew)}),
			),
			want: msgView{Type: Reconfigure, XID: xid, ClientID: clientID, ServerID: serverID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkView(t, decodeView(t, tt.in), packetView{Msg: tt.want})
		})
	}
}

// TestDecodeOptions checks every option code in types.go in a message that
// otherwise carries only a CLIENTID.
func TestDecodeOptions(t *testing.T) {
	base := msgView{Type: Solicit, XID: xid, ClientID: clientID}
	tests := []struct {
		name string
		opts []dhcpv6.Option
		want func(v *msgView)
	}{
		{"CLIENTID only", nil, func(v *msgView) {}},
		{"SERVERID", []dhcpv6.Option{dhcpv6.OptServerID(serverDUID)}, func(v *msgView) { v.ServerID = serverID }},
		{"SERVERID DUID-UUID", []dhcpv6.Option{dhcpv6.OptServerID(&dhcpv6.DUIDUUID{UUID: [16]byte{1, 2, 3}})},
			func(v *msgView) { v.ServerID = append([]byte{0, 4, 1, 2, 3}, make([]byte, 13)...) }},
		{"IA_NA empty", []dhcpv6.Option{iana6(0xdeadbeef, 10, 20)}, func(v *msgView) {
			v.IANA = []iaView{ia(0xdeadbeef, 10, 20)}
		}},
		{"IA_NA with IAADDR", []dhcpv6.Option{iana6(1, 10, 20, iaaddr6("2001:db8::1", 30, 40))}, func(v *msgView) {
			v.IANA = []iaView{ia(1, 10, 20, addr("2001:db8::1", 30, 40))}
		}},
		{"IA_NA infinite lifetimes", []dhcpv6.Option{iana6(1, 0xffffffff, 0xffffffff, iaaddr6("2001:db8::1", 0xffffffff, 0xffffffff))}, func(v *msgView) {
			v.IANA = []iaView{ia(1, 0xffffffff, 0xffffffff, addr("2001:db8::1", 0xffffffff, 0xffffffff))}
		}},
		{"IAADDR with sub-option status", []dhcpv6.Option{iana6(1, 0, 0, iaaddr6("2001:db8::1", 30, 40, status6(iana.StatusNotOnLink, "x")))}, func(v *msgView) {
			v.IANA = []iaView{ia(1, 0, 0, addr("2001:db8::1", 30, 40))} // IAADDR sub-options are not kept
		}},
		{"IA_NA status", []dhcpv6.Option{iana6(1, 0, 0, status6(iana.StatusNoBinding, "gone"))}, func(v *msgView) {
			v.IANA = []iaView{withStatus(ia(1, 0, 0), StatusNoBinding)}
		}},
		{"IA_NA eight IAADDRs", []dhcpv6.Option{iana6(1, 0, 0,
			iaaddr6("2001:db8::1", 1, 2), iaaddr6("2001:db8::2", 1, 2), iaaddr6("2001:db8::3", 1, 2), iaaddr6("2001:db8::4", 1, 2),
			iaaddr6("2001:db8::5", 1, 2), iaaddr6("2001:db8::6", 1, 2), iaaddr6("2001:db8::7", 1, 2), iaaddr6("2001:db8::8", 1, 2))},
			func(v *msgView) {
				v.IANA = []iaView{ia(1, 0, 0,
					addr("2001:db8::1", 1, 2), addr("2001:db8::2", 1, 2), addr("2001:db8::3", 1, 2), addr("2001:db8::4", 1, 2),
					addr("2001:db8::5", 1, 2), addr("2001:db8::6", 1, 2), addr("2001:db8::7", 1, 2), addr("2001:db8::8", 1, 2))}
			}},
		{"IA_TA", []dhcpv6.Option{iata6(9, iaaddr6("2001:db8::99", 30, 40))}, func(v *msgView) {
			v.IATA = []iaView{ia(9, 0, 0, addr("2001:db8::99", 30, 40))}
		}},
		{"IA_PD with IAPREFIX", []dhcpv6.Option{iapd6(3, 10, 20, iaprefix6("2001:db8:1200::/40", 30, 40))}, func(v *msgView) {
			v.IAPD = []iaView{pd(3, 10, 20, pfx("2001:db8:1200::/40", 30, 40))}
		}},
		{"IA_PD /128 and /0", []dhcpv6.Option{iapd6(3, 0, 0, iaprefix6("2001:db8::1/128", 1, 2), iaprefix6("::/0", 1, 2))}, func(v *msgView) {
			v.IAPD = []iaView{pd(3, 0, 0, pfx("2001:db8::1/128", 1, 2), pfx("::/0", 1, 2))}
		}},
		{"IAADDR in IA_PD and IAPREFIX in IA_NA are ignored", []dhcpv6.Option{
			iapd6(3, 0, 0, iaaddr6("2001:db8::1", 1, 2)), iana6(4, 0, 0, iaprefix6("2001:db8::/64", 1, 2)),
		}, func(v *msgView) {
			v.IAPD = []iaView{pd(3, 0, 0)}
			v.IANA = []iaView{ia(4, 0, 0)}
		}},
		{"several IAs of each kind", []dhcpv6.Option{iana6(1, 0, 0), iapd6(2, 0, 0), iana6(3, 0, 0), iata6(4), iapd6(5, 0, 0)}, func(v *msgView) {
			v.IANA = []iaView{ia(1, 0, 0), ia(3, 0, 0)}
			v.IATA = []iaView{ia(4, 0, 0)}
			v.IAPD = []iaView{pd(2, 0, 0), pd(5, 0, 0)}
		}},
		{"ORO", []dhcpv6.Option{oro6(23, 24, 39, 0xffff)}, func(v *msgView) { v.ORO = []uint16{23, 24, 39, 0xffff} }},
		{"ORO empty", []dhcpv6.Option{oro6()}, func(v *msgView) {}},
		{"two OROs merge", []dhcpv6.Option{oro6(23), oro6(24)}, func(v *msgView) { v.ORO = []uint16{23, 24} }},
		{"PREFERENCE", []dhcpv6.Option{dhcpv6.OptPreference(7)}, func(v *msgView) { v.HasPreference, v.Preference = true, 7 }},
		{"ELAPSED_TIME", []dhcpv6.Option{dhcpv6.OptElapsedTime(1230 * time.Millisecond)}, func(v *msgView) { v.HasElapsed, v.ElapsedTime = true, 123 }},
		{"STATUS_CODE", []dhcpv6.Option{status6(iana.StatusUseMulticast, "use multicast")}, func(v *msgView) {
			v.HasStatus, v.Status, v.StatusMsg = true, StatusUseMulticast, []byte("use multicast")
		}},
		{"STATUS_CODE without message", []dhcpv6.Option{status6(iana.StatusUnspecFail, "")}, func(v *msgView) {
			v.HasStatus, v.Status, v.StatusMsg = true, StatusUnspecFail, []byte{}
		}},
		{"RAPID_COMMIT", []dhcpv6.Option{generic6(OptRapidCommit, nil)}, func(v *msgView) { v.RapidCommit = true }},
		{"RECONF_ACCEPT", []dhcpv6.Option{generic6(OptReconfAccept, nil)}, func(v *msgView) { v.ReconfAccept = true }},
		{"DNS servers", []dhcpv6.Option{dhcpv6.OptDNS(net.ParseIP("2001:4860:4860::8888"))}, func(v *msgView) {
			v.DNSServers = addrBytes("2001:4860:4860::8888")
		}},
		{"DNS servers empty", []dhcpv6.Option{dhcpv6.OptDNS()}, func(v *msgView) { v.DNSServers = []byte{} }},
		{"domain list", []dhcpv6.Option{dhcpv6.OptDomainSearchList(labels6("corp.example"))}, func(v *msgView) {
			v.DomainList = []byte("\x04corp\x07example\x00")
		}},
		{"CLIENT_FQDN opaque", []dhcpv6.Option{&dhcpv6.OptFQDN{Flags: 1, DomainName: labels6("host.example")}}, func(v *msgView) {
			v.ClientFQDN = []byte("\x01\x04host\x07example\x00")
		}},
		{"unknown options skipped", []dhcpv6.Option{
			generic6(OptAuth, []byte{3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9}),
			generic6(OptUnicast, addrBytes("2001:db8::547")),
			&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("tandem")}},
			&dhcpv6.OptVendorClass{EnterpriseNumber: 311, Data: [][]byte{[]byte("MSFT 5.0")}},
			generic6(OptVendorOpts, []byte{0, 0, 0x11, 0x8b}),
			generic6(OptReconfMsg, []byte{5}),
			generic6(OptRelayMsg, []byte{1, 2, 3, 4}), // not a relay: RELAY_MSG means nothing here
			generic6(OptInterfaceID, []byte("eth0")),
			generic6(OptRemoteID, []byte{0, 0, 0, 9}),
			generic6(OptIAAddr, make([]byte, 24)), // only meaningful inside an IA
			generic6(OptIAPrefix, make([]byte, 25)),
			generic6(0xfffe, []byte("future")),
			generic6(0, nil),
		}, func(v *msgView) {}},
		{"repeated singletons keep the first", []dhcpv6.Option{
			dhcpv6.OptServerID(serverDUID), dhcpv6.OptServerID(clientDUID),
			dhcpv6.OptPreference(1), dhcpv6.OptPreference(2),
			dhcpv6.OptElapsedTime(10 * time.Millisecond), dhcpv6.OptElapsedTime(20 * time.Millisecond),
			status6(iana.StatusNoBinding, "a"), status6(iana.StatusSuccess, "b"),
			dhcpv6.OptDNS(net.ParseIP("2001:db8::1")), dhcpv6.OptDNS(net.ParseIP("2001:db8::2")),
		}, func(v *msgView) {
			v.ServerID = serverID
			v.HasPreference, v.Preference = true, 1
			v.HasElapsed, v.ElapsedTime = true, 1
			v.HasStatus, v.Status, v.StatusMsg = true, StatusNoBinding, []byte("a")
			v.DNSServers = addrBytes("2001:db8::1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]dhcpv6.Option{dhcpv6.OptClientID(clientDUID)}, tt.opts...)
			want := base
			tt.want(&want)
			checkView(t, decodeView(t, msg6(dhcpv6.MessageTypeSolicit, opts...)), packetView{Msg: want})
		})
	}
}

func TestDecodeRelay(t *testing.T) {
	solicit := msg6m(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientDUID), iana6(1, 0, 0), dhcpv6.OptElapsedTime(0))
	solicitView := msgView{Type: Solicit, XID: xid, ClientID: clientID, HasElapsed: true, IANA: []iaView{ia(1, 0, 0)}}
	reply := msg6m(dhcpv6.MessageTypeReply, dhcpv6.OptServerID(serverDUID), dhcpv6.OptClientID(clientDUID),
		iana6(1, 1800, 2880, iaaddr6("2001:db8::10", 3600, 7200)))
	replyView := msgView{Type: Reply, XID: xid, ClientID: clientID, ServerID: serverID,
		IANA: []iaView{ia(1, 1800, 2880, addr("2001:db8::10", 3600, 7200))}}
	remote := &dhcpv6.OptRemoteID{EnterpriseNumber: 4491, RemoteID: []byte{0x00, 0x01, 0x5c, 0x22}}
	remoteRaw := []byte{0, 0, 0x11, 0x8b, 0x00, 0x01, 0x5c, 0x22}

	relay := func(t MsgType, hops uint8, link, peer string, ifid, rid []byte) Relay {
		return Relay{Type: t, HopCount: hops, LinkAddr: netip.MustParseAddr(link), PeerAddr: netip.MustParseAddr(peer),
			InterfaceID: ifid, RemoteID: rid}
	}

	tests := []struct {
		name string
		in   []byte
		want packetView
	}{
		{
			name: "RELAY-FORW one layer",
			in: relay6(dhcpv6.MessageTypeRelayForward, 0, "2001:db8:1::1", "fe80::aa", solicit,
				dhcpv6.OptInterfaceID([]byte("ge-0/0/1.100")), remote).ToBytes(),
			want: packetView{
				Relays: []Relay{relay(RelayForw, 0, "2001:db8:1::1", "fe80::aa", []byte("ge-0/0/1.100"), remoteRaw)},
				Msg:    solicitView,
			},
		},
		{
			name: "RELAY-FORW two layers",
			in: relay6(dhcpv6.MessageTypeRelayForward, 1, "2001:db8:2::1", "2001:db8:1::1",
				relay6(dhcpv6.MessageTypeRelayForward, 0, "2001:db8:1::1", "fe80::aa", solicit,
					dhcpv6.OptInterfaceID([]byte("inner"))),
				dhcpv6.OptInterfaceID([]byte("outer"))).ToBytes(),
			want: packetView{
				Relays: []Relay{
					relay(RelayForw, 1, "2001:db8:2::1", "2001:db8:1::1", []byte("outer"), nil),
					relay(RelayForw, 0, "2001:db8:1::1", "fe80::aa", []byte("inner"), nil),
				},
				Msg: solicitView,
			},
		},
		{
			name: "RELAY-REPL two layers",
			in: relay6(dhcpv6.MessageTypeRelayReply, 1, "2001:db8:2::1", "2001:db8:1::1",
				relay6(dhcpv6.MessageTypeRelayReply, 0, "2001:db8:1::1", "fe80::aa", reply,
					dhcpv6.OptInterfaceID([]byte("inner")))).ToBytes(),
			want: packetView{
				Relays: []Relay{
					relay(RelayRepl, 1, "2001:db8:2::1", "2001:db8:1::1", nil, nil),
					relay(RelayRepl, 0, "2001:db8:1::1", "fe80::aa", []byte("inner"), nil),
				},
				Msg: replyView,
			},
		},
		{
			name: "RELAY_MSG before other options, unknown relay options skipped, first RELAY_MSG wins",
			in: rawRelay(RelayForw, 3,
				rawOpt(OptRelayMsg, msg6(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientDUID), iana6(1, 0, 0), dhcpv6.OptElapsedTime(0))),
				rawOpt(79, u16(1), []byte{2, 0, 0, 0, 0, 0, 1}), // client link-layer address (RFC 6939)
				rawOpt(OptVendorOpts, u32(4491)),
				rawOpt(OptRemoteID, u32(9)),
				rawOpt(OptInterfaceID),
				rawOpt(OptRelayMsg, msg6(dhcpv6.MessageTypeRequest, dhcpv6.OptClientID(clientDUID))),
			),
			want: packetView{
				Relays: []Relay{relay(RelayForw, 3, "2001:db8:1::1", "fe80::1", []byte{}, u32(9))},
				Msg:    solicitView,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkView(t, decodeView(t, tt.in), tt.want)
		})
	}

	var p Packet
	if err := p.Decode(tests[1].in); err != nil {
		t.Fatal(err)
	}
	if !p.Relayed() || p.Inner() != &p.Relays[1] || string(p.Inner().InterfaceID) != "inner" {
		t.Errorf("Relayed/Inner: got %v %+v", p.Relayed(), p.Inner())
	}
	if err := p.Decode(msg6(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientDUID))); err != nil || p.Relayed() {
		t.Errorf("direct message after a relayed one: err=%v Relayed=%v", err, p.Relayed())
	}
}

// nestRelays wraps inner in n RELAY-FORW layers, as n relays in a chain would.
func nestRelays(n int, inner dhcpv6.DHCPv6) []byte {
	d := inner
	for i := 0; i < n; i++ {
		r, err := dhcpv6.EncapsulateRelay(d, dhcpv6.MessageTypeRelayForward, net.ParseIP("2001:db8::1"), net.ParseIP("fe80::1"))
		if err != nil {
			panic(err)
		}
		d = r
	}
	return d.ToBytes()
}

func TestDecodeRelayDepth(t *testing.T) {
	solicit := msg6m(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientDUID))
	var p Packet
	if err := p.Decode(nestRelays(MaxRelayHops, solicit)); err != nil {
		t.Fatalf("%d relay layers: %v", MaxRelayHops, err)
	}
	if p.NumRelays != MaxRelayHops || p.Msg.Type != Solicit || !bytes.Equal(p.Msg.ClientID, clientID) {
		t.Fatalf("%d relay layers: got %d layers around %s", MaxRelayHops, p.NumRelays, p.Msg.Type)
	}
	for i := 0; i < p.NumRelays; i++ {
		// EncapsulateRelay counts hops up from the client: the outermost
		// layer has seen the most relays.
		if want := uint8(MaxRelayHops - 1 - i); p.Relays[i].HopCount != want {
			t.Errorf("layer %d: hop count %d, want %d", i, p.Relays[i].HopCount, want)
		}
	}
	if err := p.Decode(nestRelays(MaxRelayHops+1, solicit)); !errors.Is(err, ErrRelayDepth) {
		t.Fatalf("%d relay layers: err = %v, want ErrRelayDepth", MaxRelayHops+1, err)
	}
}

// TestDecodeMalformed feeds inputs that break one rule each and checks the
// sentinel error. Most are one byte away from a valid message.
func TestDecodeMalformed(t *testing.T) {
	cid := rawOpt(OptClientID, clientID)
	valid := rawMsg(Solicit, cid, rawIA(OptIANA, 1, rawIAAddr("2001:db8::1")))
	if err := new(Packet).Decode(valid); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	relayed := rawRelay(RelayForw, 0, rawOpt(OptRelayMsg, valid))

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header 1 byte", []byte{1}, ErrShort},
		{"header 3 bytes", []byte{1, 0xca, 0xfe}, ErrShort},
		{"relay header 33 bytes", relayed[:33], ErrShort},
		{"relay header 1 byte", []byte{byte(RelayForw)}, ErrShort},
		{"empty RELAY_MSG", rawRelay(RelayForw, 0, rawOpt(OptRelayMsg)), ErrShort},
		{"RELAY_MSG with 3-byte message", rawRelay(RelayForw, 0, rawOpt(OptRelayMsg, []byte{1, 2, 3})), ErrShort},
		{"message type 0", rawMsg(0, cid), ErrMsgType},
		{"message type 14 (LEASEQUERY)", rawMsg(14, cid), ErrMsgType},
		{"message type 255", rawMsg(255, cid), ErrMsgType},
		{"relayed message type 0", rawRelay(RelayForw, 0, rawOpt(OptRelayMsg, rawMsg(0))), ErrMsgType},

		{"option header cut after 1 byte", valid[:len(valid)-len(rawIA(OptIANA, 1, rawIAAddr("::")))+1], ErrOptionLength},
		{"option header cut after 3 bytes", append(rawMsg(Solicit, cid), 0, 3, 0), ErrOptionLength},
		{"option data cut short", valid[:len(valid)-1], ErrOptionLength},
		{"option length past end", rawMsg(Solicit, cid, []byte{0, 8, 0, 3, 0, 0}), ErrOptionLength},
		{"sub-option length past IA end", rawMsg(Solicit, rawOpt(OptIANA, u32(1), u32(0), u32(0), []byte{0, 5, 0, 24, 1})), ErrOptionLength},
		{"sub-option header cut in IA", rawMsg(Solicit, rawOpt(OptIANA, u32(1), u32(0), u32(0), []byte{0, 5, 0})), ErrOptionLength},
		{"relay option past end", rawRelay(RelayForw, 0, []byte{0, 9, 0, 40, 1, 2, 3, 4}), ErrOptionLength},
		{"relay option header cut", append(relayed, 0, 18), ErrOptionLength},
		{"relayed message truncated", rawRelay(RelayForw, 0, rawOpt(OptRelayMsg, valid[:len(valid)-2])), ErrOptionLength},

		{"CLIENTID empty", rawMsg(Solicit, rawOpt(OptClientID)), ErrBadOption},
		{"CLIENTID type only", rawMsg(Solicit, rawOpt(OptClientID, u16(3))), ErrBadOption},
		{"CLIENTID 131 bytes", rawMsg(Solicit, rawOpt(OptClientID, make([]byte, MaxDUIDLen+1))), ErrBadOption},
		{"SERVERID empty", rawMsg(Request, cid, rawOpt(OptServerID)), ErrBadOption},
		{"second CLIENTID empty", rawMsg(Solicit, cid, rawOpt(OptClientID)), ErrBadOption},
		{"IA_NA 11 bytes", rawMsg(Solicit, cid, rawOpt(OptIANA, make([]byte, 11))), ErrBadOption},
		{"IA_PD 11 bytes", rawMsg(Solicit, cid, rawOpt(OptIAPD, make([]byte, 11))), ErrBadOption},
		{"IA_TA 3 bytes", rawMsg(Solicit, cid, rawOpt(OptIATA, make([]byte, 3))), ErrBadOption},
		{"IAADDR 23 bytes", rawMsg(Solicit, cid, rawIA(OptIANA, 1, rawOpt(OptIAAddr, make([]byte, 23)))), ErrBadOption},
		{"IAADDR 23 bytes in IA_TA", rawMsg(Solicit, cid, rawIA(OptIATA, 1, rawOpt(OptIAAddr, make([]byte, 23)))), ErrBadOption},
		{"IAPREFIX 24 bytes", rawMsg(Solicit, cid, rawIA(OptIAPD, 1, rawOpt(OptIAPrefix, make([]byte, 24)))), ErrBadOption},
		{"IAPREFIX length 129", rawMsg(Solicit, cid, rawIA(OptIAPD, 1, rawIAPrefix(129, "2001:db8::"))), ErrBadOption},
		{"IA status 1 byte", rawMsg(Reply, cid, rawIA(OptIANA, 1, rawOpt(OptStatusCode, []byte{0}))), ErrBadOption},
		{"ORO odd length", rawMsg(Solicit, cid, rawOpt(OptORO, []byte{0, 23, 0})), ErrBadOption},
		{"ELAPSED_TIME 1 byte", rawMsg(Solicit, cid, rawOpt(OptElapsedTime, []byte{0})), ErrBadOption},
		{"ELAPSED_TIME 3 bytes", rawMsg(Solicit, cid, rawOpt(OptElapsedTime, []byte{0, 0, 0})), ErrBadOption},
		{"PREFERENCE empty", rawMsg(Advertise, cid, rawOpt(OptPreference)), ErrBadOption},
		{"PREFERENCE 2 bytes", rawMsg(Advertise, cid, rawOpt(OptPreference, []byte{1, 2})), ErrBadOption},
		{"RAPID_COMMIT with data", rawMsg(Solicit, cid, rawOpt(OptRapidCommit, []byte{1})), ErrBadOption},
		{"RECONF_ACCEPT with data", rawMsg(Solicit, cid, rawOpt(OptReconfAccept, []byte{1})), ErrBadOption},
		{"STATUS_CODE 1 byte", rawMsg(Reply, cid, rawOpt(OptStatusCode, []byte{0})), ErrBadOption},
		{"DNS servers 15 bytes", rawMsg(Reply, cid, rawOpt(OptDNSServers, make([]byte, 15))), ErrBadOption},
		{"DNS servers 17 bytes", rawMsg(Reply, cid, rawOpt(OptDNSServers, make([]byte, 17))), ErrBadOption},
		{"REMOTE_ID 3 bytes", rawRelay(RelayForw, 0, rawOpt(OptRemoteID, []byte{0, 0, 9}), rawOpt(OptRelayMsg, valid)), ErrBadOption},

		{"9 IA_NA", rawMsg(Solicit, append([][]byte{cid}, repeat(MaxIAs+1, rawIA(OptIANA, 1))...)...), ErrTooMany},
		{"9 IA_TA", rawMsg(Solicit, append([][]byte{cid}, repeat(MaxIAs+1, rawIA(OptIATA, 1))...)...), ErrTooMany},
		{"9 IA_PD", rawMsg(Solicit, append([][]byte{cid}, repeat(MaxIAs+1, rawIA(OptIAPD, 1))...)...), ErrTooMany},
		{"9 IAADDR", rawMsg(Solicit, cid, rawIA(OptIANA, 1, repeat(MaxIAAddrs+1, rawIAAddr("2001:db8::1"))...)), ErrTooMany},
		{"9 IAPREFIX", rawMsg(Solicit, cid, rawIA(OptIAPD, 1, repeat(MaxIAAddrs+1, rawIAPrefix(64, "2001:db8::"))...)), ErrTooMany},

		{"relay without RELAY_MSG", rawRelay(RelayForw, 0, rawOpt(OptInterfaceID, []byte("eth0"))), ErrNoRelayMsg},
		{"relay with no options", rawRelay(RelayRepl, 0), ErrNoRelayMsg},
		{"inner relay without RELAY_MSG", rawRelay(RelayForw, 1, rawOpt(OptRelayMsg, rawRelay(RelayForw, 0))), ErrNoRelayMsg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.Decode(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("Decode(% x) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// TestDecodeLimits checks the accepted side of every fixed capacity.
func TestDecodeLimits(t *testing.T) {
	cid := rawOpt(OptClientID, clientID)
	tests := []struct {
		name  string
		in    []byte
		check func(*Packet) bool
	}{
		{"8 IA_NA", rawMsg(Solicit, append([][]byte{cid}, repeat(MaxIAs, rawIA(OptIANA, 1))...)...),
			func(p *Packet) bool { return p.Msg.NumIANA == MaxIAs }},
		{"8 IA_TA", rawMsg(Solicit, append([][]byte{cid}, repeat(MaxIAs, rawIA(OptIATA, 1))...)...),
			func(p *Packet) bool { return p.Msg.NumIATA == MaxIAs }},
		{"8 IA_PD", rawMsg(Solicit, append([][]byte{cid}, repeat(MaxIAs, rawIA(OptIAPD, 1))...)...),
			func(p *Packet) bool { return p.Msg.NumIAPD == MaxIAs }},
		{"8 IAPREFIX", rawMsg(Solicit, cid, rawIA(OptIAPD, 1, repeat(MaxIAAddrs, rawIAPrefix(64, "2001:db8::"))...)),
			func(p *Packet) bool { return p.Msg.IAPD[0].NumPrefixes == MaxIAAddrs }},
		{"ORO longer than MaxORO keeps the first MaxORO", rawMsg(Solicit, cid, rawOpt(OptORO, make([]byte, 2*(MaxORO+8)))),
			func(p *Packet) bool { return p.Msg.NumORO == MaxORO }},
		{"CLIENTID 3 bytes", rawMsg(Solicit, rawOpt(OptClientID, []byte{0, 9, 1})),
			func(p *Packet) bool { return len(p.Msg.ClientID) == MinDUIDLen }},
		{"CLIENTID 130 bytes", rawMsg(Solicit, rawOpt(OptClientID, make([]byte, MaxDUIDLen))),
			func(p *Packet) bool { return len(p.Msg.ClientID) == MaxDUIDLen }},
		{"header only", rawMsg(Solicit),
			func(p *Packet) bool { return p.Msg.Type == Solicit && p.Msg.ClientID == nil }},
		{"REMOTE_ID enterprise number only", rawRelay(RelayForw, 0, rawOpt(OptRemoteID, u32(9)), rawOpt(OptRelayMsg, rawMsg(Solicit))),
			func(p *Packet) bool { return len(p.Relays[0].RemoteID) == 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.Decode(tt.in); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !tt.check(&p) {
				t.Errorf("unexpected result: %v", viewPacket(&p))
			}
		})
	}
}

// TestDecodeReuse decodes a small message into a Packet that last held a
// large relayed one: nothing of the old packet may show through.
func TestDecodeReuse(t *testing.T) {
	big := relay6(dhcpv6.MessageTypeRelayForward, 0, "2001:db8:1::1", "fe80::aa",
		msg6m(dhcpv6.MessageTypeReply,
			dhcpv6.OptClientID(clientDUID), dhcpv6.OptServerID(serverDUID), dhcpv6.OptPreference(9),
			dhcpv6.OptElapsedTime(time.Second), oro6(23, 24), status6(iana.StatusNoBinding, "x"),
			generic6(OptRapidCommit, nil), generic6(OptReconfAccept, nil),
			iana6(1, 1, 2, iaaddr6("2001:db8::1", 3, 4), status6(iana.StatusNoBinding, "")), iata6(2, iaaddr6("2001:db8::2", 3, 4)),
			iapd6(3, 1, 2, iaprefix6("2001:db8::/48", 3, 4)),
			dhcpv6.OptDNS(net.ParseIP("2001:db8::53")), dhcpv6.OptDomainSearchList(labels6("a.example")),
			&dhcpv6.OptFQDN{DomainName: labels6("h.example")}),
		dhcpv6.OptInterfaceID([]byte("x")), &dhcpv6.OptRemoteID{EnterpriseNumber: 1}).ToBytes()
	small := msg6(dhcpv6.MessageTypeSolicit, iana6(5, 0, 0))

	var dirty, fresh Packet
	if err := dirty.Decode(big); err != nil {
		t.Fatal(err)
	}
	if err := dirty.Decode(small); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Decode(small); err != nil {
		t.Fatal(err)
	}
	checkView(t, viewPacket(&dirty), viewPacket(&fresh))
	// A failed decode leaves partial data, but the next good one is clean.
	if err := dirty.Decode(big[:len(big)-3]); err == nil {
		t.Fatal("truncated packet accepted")
	}
	if err := dirty.Decode(small); err != nil {
		t.Fatal(err)
	}
	checkView(t, viewPacket(&dirty), viewPacket(&fresh))
}

// TestDecodeAliases checks that decoded byte slices point into the input and
// are capped so that appending to one cannot overwrite the next option.
func TestDecodeAliases(t *testing.T) {
	in := msg6(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientDUID), dhcpv6.OptServerID(serverDUID))
	var p Packet
	if err := p.Decode(in); err != nil {
		t.Fatal(err)
	}
	if &p.Msg.ClientID[0] != &in[8] {
		t.Error("ClientID does not alias the input")
	}
	if cap(p.Msg.ClientID) != len(p.Msg.ClientID) {
		t.Errorf("ClientID cap %d, len %d", cap(p.Msg.ClientID), len(p.Msg.ClientID))
	}
	_ = append(p.Msg.ClientID, 0xff)
	if !bytes.Equal(p.Msg.ServerID, serverID) {
		t.Error("append to ClientID overwrote SERVERID")
	}
}

func TestMsgTypeString(t *testing.T) {
	for typ, want := range map[MsgType]string{
		Solicit: "SOLICIT", InformationRequest: "INFORMATION-REQUEST", RelayRepl: "RELAY-REPL",
		0: "UNKNOWN", 14: "UNKNOWN", 255: "UNKNOWN",
	} {
		if got := typ.String(); got != want {
			t.Errorf("MsgType(%d).String() = %q, want %q", typ, got, want)
		}
	}
	// Our names must agree with the other implementation's numbering.
	for typ := Solicit; typ <= RelayRepl; typ++ {
		if dhcpv6.MessageType(typ).String() == "" || typ.String() == "UNKNOWN" {
			t.Errorf("type %d unnamed", typ)
		}
	}
}

func TestRequested(t *testing.T) {
	var p Packet
	if err := p.Decode(msg6(dhcpv6.MessageTypeSolicit, oro6(23, 24))); err != nil {
		t.Fatal(err)
	}
	if !p.Msg.Requested(OptDNSServers) || !p.Msg.Requested(OptDomainList) || p.Msg.Requested(OptClientFQDN) {
		t.Errorf("Requested: ORO %v", p.Msg.ORO[:p.Msg.NumORO])
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

// TestMessageReset checks that decoding clears every field of a reused
// Message and IA except the arrays whose live length is a count: reset and
// IA.decode clear field by field, so a new field must be added there too.
func TestMessageReset(t *testing.T) {
	var m Message
	fillNonArrays(t, reflect.ValueOf(&m).Elem())
	if err := m.decode([]byte{byte(Solicit), 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	m.Type = 0 // the one field decode sets from the input
	checkNonArraysZero(t, "Message", reflect.ValueOf(&m).Elem())

	var x IA
	fillNonArrays(t, reflect.ValueOf(&x).Elem())
	if err := x.decode(make([]byte, 12), true, false); err != nil {
		t.Fatal(err)
	}
	checkNonArraysZero(t, "IA", reflect.ValueOf(&x).Elem())
}

// fillNonArrays sets every field of struct v but the non-byte arrays to a
// non-zero value.
func fillNonArrays(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(1)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(1)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Array:
			if f.Type().Elem().Kind() == reflect.Uint8 {
				f.Index(0).SetUint(1)
			}
		default:
			t.Fatalf("field %s: kind %s not handled; extend this test", v.Type().Field(i).Name, f.Kind())
		}
	}
}

func checkNonArraysZero(t *testing.T, what string, v reflect.Value) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Array && f.Type().Elem().Kind() != reflect.Uint8 {
			continue
		}
		if !f.IsZero() {
			t.Errorf("%s.%s = %v survives decoding", what, v.Type().Field(i).Name, f)
		}
	}
}

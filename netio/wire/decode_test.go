package wire

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

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
		{"USER_CLASS and VENDOR_CLASS raw, for client classes", []dhcpv6.Option{
			&dhcpv6.OptUserClass{UserClasses: [][]byte{[]byte("tandem")}},
			&dhcpv6.OptVendorClass{EnterpriseNumber: 311, Data: [][]byte{[]byte("MSFT 5.0")}},
		}, func(v *msgView) {
			v.UserClass = []byte("\x00\x06tandem")
			v.VendorClass = []byte("\x00\x00\x01\x37\x00\x08MSFT 5.0")
		}},
		{"unknown options skipped", []dhcpv6.Option{
			generic6(OptAuth, []byte{3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9}),
			generic6(OptUnicast, addrBytes("2001:db8::547")),
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

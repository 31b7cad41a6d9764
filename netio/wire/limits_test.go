package wire

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

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

package wire

import (
	"errors"
	"net/netip"
	"testing"
)

// buildBndUpd encodes a client-form BNDUPD: one CLIENT_DATA with an IA_NA
// (one address) and an IA_PD (one prefix), each lease with the options
// RFC 8156 §6.2 requires for an ACTIVE binding.
func buildBndUpd(b []byte) []byte {
	b, frame := BeginFrame(b, BndUpd, 0x0a0b0c, 100)
	b, cd := BeginOption(b, OptClientData)
	b = AppendOption(b, OptClientID, []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7})
	b = AppendUint32Option(b, OptLQBaseTime, 100)
	b, ia := BeginIA(b, OptIANA, 1, 1800, 2880)
	l := BindingLease{Prefix: netip.MustParsePrefix("2001:db8:1::1234/128"), Preferred: 3600, Valid: 7200,
		Has:           HasBindingStatus | HasStartTimeOfState | HasCLTTime | HasPartnerLifetime | HasStateExpiration,
		BindingStatus: 1, StartTimeOfState: 90, CLTTime: 10, PartnerLifetime: 9000, StateExpiration: 7290}
	b = AppendBindingLease(b, &l, true)
	b = EndOption(b, ia)
	b, ia = BeginIA(b, OptIAPD, 2, 1800, 2880)
	l.Prefix = netip.MustParsePrefix("2001:db8:100:ab00::/56")
	b = AppendBindingLease(b, &l, false)
	b = EndOption(b, ia)
	b = EndOption(b, cd)
	return EndFrame(b, frame)
}

func TestFailoverBndUpdRoundTrip(t *testing.T) {
	frame := buildBndUpd(nil)
	msg, rest, ok := SplitFrame(frame)
	if !ok || len(rest) != 0 || len(msg) != len(frame)-2 {
		t.Fatalf("SplitFrame: ok=%v msg=%d rest=%d", ok, len(msg), len(rest))
	}
	var m FailoverMsg
	if err := m.Decode(msg); err != nil {
		t.Fatal(err)
	}
	if m.Type != BndUpd || m.XID != 0x0a0b0c || m.SentTime != 100 || !m.HasClientData || m.HasPrefix {
		t.Fatalf("header: %+v", m)
	}
	c := &m.Client
	if string(c.ClientID) != string([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7}) || !c.HasLQBaseTime || c.LQBaseTime != 100 || c.NumIAs != 2 {
		t.Fatalf("client data: %+v", c)
	}
	na, pd := &c.IAs[0], &c.IAs[1]
	if na.Code != OptIANA || na.IAID != 1 || na.T1 != 1800 || na.NumLeases != 1 || pd.Code != OptIAPD || pd.IAID != 2 || pd.NumLeases != 1 {
		t.Fatalf("IAs: %+v %+v", na, pd)
	}
	for _, tc := range []struct {
		l    *BindingLease
		want string
	}{{&na.Leases[0], "2001:db8:1::1234/128"}, {&pd.Leases[0], "2001:db8:100:ab00::/56"}} {
		l := tc.l
		if l.Prefix.String() != tc.want || l.Preferred != 3600 || l.Valid != 7200 || l.BindingStatus != 1 ||
			l.StartTimeOfState != 90 || l.CLTTime != 10 || l.PartnerLifetime != 9000 || l.StateExpiration != 7290 ||
			l.Has&HasExpirationTime != 0 {
			t.Fatalf("lease: %+v", l)
		}
	}
}

func TestFailoverConnectAndState(t *testing.T) {
	b, f := BeginFrame(nil, Connect, 1, 5)
	b = AppendUint32Option(b, OptFProtocolVersion, 1<<16)
	b = AppendUint32Option(b, OptFMCLT, 3600)
	b = AppendUint32Option(b, OptFKeepaliveTime, 60)
	b = AppendUint32Option(b, OptFMaxUnackedBndUpd, 4096)
	b = AppendUint16Option(b, OptFConnectFlags, 0)
	b = AppendOptionString(b, OptFRelationshipName, "pair-a")
	b = EndFrame(b, f)
	b, f = BeginFrame(b, State, 2, 6)
	b = AppendUint8Option(b, OptFServerState, 2)
	b = AppendUint8Option(b, OptFServerFlags, ServerFlagCommunicated)
	b = AppendUint32Option(b, OptFStartTimeOfState, 4)
	b = EndFrame(b, f)

	var m FailoverMsg
	msg, rest, ok := SplitFrame(b)
	if !ok {
		t.Fatal("first frame incomplete")
	}
	if err := m.Decode(msg); err != nil {
		t.Fatal(err)
	}
	const want = FHasVersion | FHasMCLT | FHasKeepalive | FHasMaxUnacked | FHasConnectFlags
	if m.Type != Connect || m.Has != want || m.Version != 1<<16 || m.MCLT != 3600 || m.KeepaliveTime != 60 ||
		m.MaxUnacked != 4096 || string(m.RelationshipName) != "pair-a" {
		t.Fatalf("CONNECT: %+v", m)
	}
	msg, rest, ok = SplitFrame(rest)
	if !ok || len(rest) != 0 {
		t.Fatal("second frame")
	}
	if err := m.Decode(msg); err != nil {
		t.Fatal(err)
	}
	if m.Type != State || m.Has != FHasServerState|FHasServerFlags|FHasStartTimeOfState || m.ServerState != 2 ||
		m.ServerFlags != ServerFlagCommunicated || m.StartTimeOfState != 4 || m.RelationshipName != nil {
		t.Fatalf("STATE (fields must not leak from the CONNECT): %+v", m)
	}
}

func TestFailoverPrefixForm(t *testing.T) {
	b, f := BeginFrame(nil, BndUpd, 3, 7)
	l := BindingLease{Prefix: netip.MustParsePrefix("2001:db8:200::/48"), Has: HasBindingStatus | HasStartTimeOfState | HasLQBaseTime,
		BindingStatus: 6, StartTimeOfState: 5, LQBaseTime: 7}
	b = AppendBindingLease(b, &l, false)
	b = EndFrame(b, f)
	var m FailoverMsg
	if err := m.Decode(b[2:]); err != nil {
		t.Fatal(err)
	}
	if !m.HasPrefix || m.HasClientData || m.Prefix != l {
		t.Fatalf("prefix form: got %+v, want %+v", m.Prefix, l)
	}
}

func TestFailoverMalformed(t *testing.T) {
	good := buildBndUpd(nil)[2:]
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", good[:7], ErrShort},
		{"client message type", append([]byte{1}, good[1:]...), ErrMsgType},
		{"type 36", append([]byte{36}, good[1:]...), ErrMsgType},
		{"truncated option", good[:len(good)-1], ErrOptionLength},
		{"bad MCLT length", []byte{31, 0, 0, 1, 0, 0, 0, 0, 0, 122, 0, 2, 0, 1}, ErrBadOption},
		{"two bindings", append(append([]byte{}, good...), good[8:]...), ErrBadOption},
		{"empty CLIENT_DATA DUID", []byte{24, 0, 0, 1, 0, 0, 0, 0, 0, 45, 0, 4, 0, 1, 0, 0}, ErrBadOption},
	} {
		var m FailoverMsg
		if err := m.Decode(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, ok := SplitFrame([]byte{0, 9, 1, 2}); ok {
		t.Error("SplitFrame accepted an incomplete frame")
	}
}

func TestFailoverAbsTime(t *testing.T) {
	if AbsTime(946684800) != 0 || UnixTime(0) != 946684800 || UnixTime(AbsTime(1795000000)) != 1795000000 {
		t.Fatal("RFC 8156 epoch conversion")
	}
}

// FuzzFailoverDecode checks the failover decoder's properties (see
// failover_fuzz_test.go): sentinel errors only, no state leaking between
// reused messages, a canonical re-encoding that is a fixed point, and
// agreement with insomniacslk/dhcp on every option both read.
func FuzzFailoverDecode(f *testing.F) {
	for _, s := range failoverSeeds() {
		f.Add(s)
	}
	var c failoverChecker
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := c.check(b); err != nil {
			t.Fatal(err)
		}
		_, _, _ = SplitFrame(b)
	})
}

// TestFailoverClientDataStatusAndVSS: what an RFC 8156 peer may put among
// the client-options beside what tandem sends — a STATUS_CODE rejecting
// the entire BNDUPD in a BNDREPLY (§7.6) and an OPTION_VSS (§7.4) — and a
// VSS among the prefix form's IAprefix-options are decoded.
func TestFailoverClientDataStatusAndVSS(t *testing.T) {
	b, frame := BeginFrame(nil, BndReply, 9, 100)
	b, cd := BeginOption(b, OptClientData)
	b = AppendOption(b, OptClientID, []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7})
	b = AppendOption(b, OptVSS, []byte{0, 'v', 'r', 'f'})
	b = AppendStatus(b, StatusConfigurationConflict, "no such VPN")
	b, ia := BeginIA(b, OptIANA, 1, 0, 0)
	b = AppendIAAddr(b, netip.MustParseAddr("2001:db8::1"), 0, 0)
	b = EndOption(b, ia)
	b = EndOption(b, cd)
	b = EndFrame(b, frame)
	var m FailoverMsg
	if err := m.Decode(b[2:]); err != nil {
		t.Fatal(err)
	}
	c := &m.Client
	if !c.HasStatus || c.Status != StatusConfigurationConflict || string(c.VSS) != "\x00vrf" || GlobalVPN(c.VSS) ||
		c.NumIAs != 1 || m.Has&FHasStatus != 0 {
		t.Fatalf("client data: %+v", c)
	}

	for _, tc := range []struct {
		vss    []byte
		has    bool
		global bool
	}{{nil, false, true}, {[]byte{255}, true, true}, {[]byte{1, 1, 2, 3, 4, 5, 6, 7}, true, false}, {[]byte{}, true, false}} {
		b, frame = BeginFrame(nil, BndUpd, 9, 100)
		b, o := BeginOption(b, OptIAPrefix)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, 56)
		a := netip.MustParseAddr("2001:db8:100::").As16()
		b = append(b, a[:]...)
		if tc.vss != nil {
			b = AppendOption(b, OptVSS, tc.vss)
		}
		b = AppendUint8Option(b, OptFBindingStatus, 6)
		b = EndOption(b, o)
		b = EndFrame(b, frame)
		if err := m.Decode(b[2:]); err != nil {
			t.Fatal(err)
		}
		l := &m.Prefix
		if (l.Has&HasVSS != 0) != tc.has || tc.has && l.VSSGlobal != tc.global || l.BindingStatus != 6 ||
			GlobalVPN(tc.vss) != tc.global {
			t.Fatalf("VSS % x: %+v", tc.vss, l)
		}
	}
}

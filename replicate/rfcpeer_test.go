package replicate

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// An independent RFC 8156 peer, written from the RFC's figures and option
// codes and nothing of ours: it frames, builds and parses every message by
// hand with encoding/binary, and talks to a real Link over TCP loopback —
// as a primary against our secondary and as a secondary against our
// primary. Where the RFC leaves a choice it makes the other one than
// tandem does (option order, an absent RELATIONSHIP_NAME in CONNECTREPLY,
// options tandem never sends, a whole-BNDUPD rejection in CLIENT_DATA), so
// that what passes is what the RFC allows, not what tandem happens to send.

// Message types (RFC 8156 §5.3) and option codes (§5.5; RFC 8415 §21;
// RFC 5007 §4.1.2; RFC 7653 §6.3.1) as the RFC numbers them.
const (
	rfcBNDUPD       = 24
	rfcBNDREPLY     = 25
	rfcCONNECT      = 31
	rfcCONNECTREPLY = 32
	rfcDISCONNECT   = 33
	rfcSTATE        = 34
	rfcCONTACT      = 35

	rfcOptClientID       = 1
	rfcOptIANA           = 3
	rfcOptIAAddr         = 5
	rfcOptStatusCode     = 13
	rfcOptIAPD           = 25
	rfcOptIAPrefix       = 26
	rfcOptClientFQDN     = 39
	rfcOptClientData     = 45
	rfcOptCLTTime        = 46
	rfcOptLQBaseTime     = 100
	rfcOptBindingStatus  = 114
	rfcOptConnectFlags   = 115
	rfcOptExpirationTime = 120
	rfcOptMaxUnacked     = 121
	rfcOptMCLT           = 122
	rfcOptPartnerLife    = 123
	rfcOptPartnerLifeSnt = 124
	rfcOptPartnerDown    = 125
	rfcOptProtoVersion   = 127
	rfcOptKeepalive      = 128
	rfcOptRelName        = 130
	rfcOptServerFlags    = 131
	rfcOptServerState    = 132
	rfcOptStartTimeState = 133
	rfcOptStateExpTime   = 134

	rfcFixedPDLength  = 0x0001 // F_CONNECT_FLAGS bit 15 (§5.5.2)
	rfcActive         = 1      // binding-status (§5.5.1)
	rfcStateNormal    = 2      // server-state (§5.5.16)
	rfcCommunicated   = 0x01   // server-flags C (§5.5.15)
	rfcOutdated       = 19     // OutdatedBindingInformation (§5.6)
	rfcConfigConflict = 17     // ConfigurationConflict (§5.6)
	rfcShuttingDown   = 20     // ServerShuttingDown (§5.6)

	// rfcEpoch is midnight UTC, 2000-01-01, in Unix seconds: absolute
	// times count from it (§5.2, §5.5.4).
	rfcEpoch = 946684800
)

func rfcAbs(t time.Time) uint32 { return uint32(t.Unix() - rfcEpoch) }

// rfcOpt is one option: code, length, data (RFC 8415 §21.1).
func rfcOpt(code uint16, data ...[]byte) []byte {
	n := 0
	for _, d := range data {
		n += len(d)
	}
	b := binary.BigEndian.AppendUint16(nil, code)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}

func u8(v uint8) []byte   { return []byte{v} }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// rfcFrame is the 2-byte length of RFC 5460 §5.1, then the header of RFC
// 8156 §5.2 (msg-type, 3-byte transaction-id, sent-time), then options.
func rfcFrame(msgType uint8, xid uint32, sent uint32, opts ...[]byte) []byte {
	body := []byte{msgType, byte(xid >> 16), byte(xid >> 8), byte(xid)}
	body = binary.BigEndian.AppendUint32(body, sent)
	for _, o := range opts {
		body = append(body, o...)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

// rfcIAAddr is an IAADDR (RFC 8415 §21.6): address, preferred, valid,
// IAaddr-options.
func rfcIAAddr(a netip.Addr, pref, valid uint32, opts ...[]byte) []byte {
	a16 := a.As16()
	return rfcOpt(rfcOptIAAddr, append([][]byte{a16[:], u32(pref), u32(valid)}, opts...)...)
}

// rfcIAPrefix is an IAPREFIX (RFC 8415 §21.22): preferred, valid,
// prefix-length, prefix, IAprefix-options.
func rfcIAPrefix(p netip.Prefix, pref, valid uint32, opts ...[]byte) []byte {
	a16 := p.Addr().As16()
	return rfcOpt(rfcOptIAPrefix, append([][]byte{u32(pref), u32(valid), u8(uint8(p.Bits())), a16[:]}, opts...)...)
}

// rfcIA is an IA_NA or IA_PD: IAID, T1, T2, options.
func rfcIA(code uint16, iaid, t1, t2 uint32, opts ...[]byte) []byte {
	return rfcOpt(code, append([][]byte{u32(iaid), u32(t1), u32(t2)}, opts...)...)
}

// rfcMsg is a received message, parsed by hand.
type rfcMsg struct {
	typ  uint8
	xid  uint32
	sent uint32
	opts []rfcOption
}

type rfcOption struct {
	code uint16
	data []byte
}

func rfcParseOpts(t *testing.T, b []byte) []rfcOption {
	t.Helper()
	var out []rfcOption
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatalf("truncated option header % x", b)
		}
		code, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			t.Fatalf("option %d: length %d, %d bytes left", code, n, len(b)-4)
		}
		out = append(out, rfcOption{code, b[4 : 4+n]})
		b = b[4+n:]
	}
	return out
}

// find returns the data of the only option with code, failing when there
// is none or several; ok=false when want is false and there is none.
func rfcFind(t *testing.T, opts []rfcOption, code uint16) []byte {
	t.Helper()
	var d []byte
	n := 0
	for _, o := range opts {
		if o.code == code {
			d, n = o.data, n+1
		}
	}
	if n != 1 {
		t.Fatalf("option %d appears %d times in %v", code, n, rfcCodes(opts))
	}
	return d
}

func rfcHas(opts []rfcOption, code uint16) bool {
	for _, o := range opts {
		if o.code == code {
			return true
		}
	}
	return false
}

func rfcCodes(opts []rfcOption) []uint16 {
	var c []uint16
	for _, o := range opts {
		c = append(c, o.code)
	}
	return c
}

func rfcU32(t *testing.T, opts []rfcOption, code uint16) uint32 {
	t.Helper()
	d := rfcFind(t, opts, code)
	if len(d) != 4 {
		t.Fatalf("option %d has length %d, want 4", code, len(d))
	}
	return binary.BigEndian.Uint32(d)
}

// rfcPeer is one end of a failover connection.
type rfcPeer struct {
	t   *testing.T
	c   net.Conn
	xid uint32
}

func (p *rfcPeer) send(b []byte) {
	p.t.Helper()
	p.c.SetWriteDeadline(time.Now().Add(waitLong))
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// recv reads the next message that is not a CONTACT.
func (p *rfcPeer) recv() rfcMsg {
	p.t.Helper()
	for {
		p.c.SetReadDeadline(time.Now().Add(waitLong))
		var hdr [2]byte
		if _, err := io.ReadFull(p.c, hdr[:]); err != nil {
			p.t.Fatalf("read: %v", err)
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(p.c, body); err != nil {
			p.t.Fatalf("read: %v", err)
		}
		if len(body) < 8 {
			p.t.Fatalf("message of %d bytes", len(body))
		}
		m := rfcMsg{typ: body[0], xid: uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3]),
			sent: binary.BigEndian.Uint32(body[4:]), opts: rfcParseOpts(p.t, body[8:])}
		if d := int64(m.sent) - int64(rfcAbs(time.Now())); d < -2 || d > 2 {
			p.t.Fatalf("message %d sent-time %d is %d s from now", m.typ, m.sent, d)
		}
		if m.typ != rfcCONTACT {
			return m
		}
	}
}

func (p *rfcPeer) expect(typ uint8) rfcMsg {
	p.t.Helper()
	m := p.recv()
	if m.typ != typ {
		p.t.Fatalf("got message type %d %v, want %d", m.typ, rfcCodes(m.opts), typ)
	}
	return m
}

// rfcState is the STATE of §6.3, options in another order than tandem's.
func rfcState(xid uint32, now time.Time) []byte {
	return rfcFrame(rfcSTATE, xid, rfcAbs(now),
		rfcOpt(rfcOptStartTimeState, u32(rfcAbs(now)-3600)),
		rfcOpt(rfcOptServerFlags, u8(rfcCommunicated)),
		rfcOpt(rfcOptServerState, u8(rfcStateNormal)))
}

// checkState checks a STATE (§6.3): SERVER_STATE, SERVER_FLAGS and
// START_TIME_OF_STATE, and no PARTNER_DOWN_TIME outside PARTNER-DOWN.
func checkRFCState(t *testing.T, m rfcMsg, want LocalState) {
	t.Helper()
	if st := rfcFind(t, m.opts, rfcOptServerState); len(st) != 1 || st[0] != want.State {
		t.Fatalf("SERVER_STATE % x, want %d", st, want.State)
	}
	if fl := rfcFind(t, m.opts, rfcOptServerFlags); len(fl) != 1 || fl[0] != want.Flags {
		t.Fatalf("SERVER_FLAGS % x, want %#x", fl, want.Flags)
	}
	if s := rfcU32(t, m.opts, rfcOptStartTimeState); int64(s)+rfcEpoch != want.StartOfState {
		t.Fatalf("START_TIME_OF_STATE %d, want %d", s, want.StartOfState-rfcEpoch)
	}
	if rfcHas(m.opts, rfcOptPartnerDown) {
		t.Fatal("PARTNER_DOWN_TIME outside PARTNER-DOWN")
	}
}

// checkRFCConnectParams checks what CONNECT and an accepting CONNECTREPLY
// MUST carry (§6.1.1, §6.1.2) as testConfig sets it up.
func checkRFCConnectParams(t *testing.T, m rfcMsg, mclt uint32) {
	t.Helper()
	if v := rfcU32(t, m.opts, rfcOptProtoVersion); v>>16 != 1 {
		t.Fatalf("PROTOCOL_VERSION %d.%d, want major 1", v>>16, v&0xffff)
	}
	if v := rfcU32(t, m.opts, rfcOptMCLT); v != mclt {
		t.Fatalf("MCLT %d, want %d", v, mclt)
	}
	if v := rfcU32(t, m.opts, rfcOptKeepalive); v != 5 {
		t.Fatalf("KEEPALIVE_TIME %d, want 5", v)
	}
	if v := rfcU32(t, m.opts, rfcOptMaxUnacked); v == 0 {
		t.Fatal("MAX_UNACKED_BNDUPD 0")
	}
	// Every tandem pd-pool has one delegated-length (§5.5.2).
	if f := rfcFind(t, m.opts, rfcOptConnectFlags); len(f) != 2 || binary.BigEndian.Uint16(f) != rfcFixedPDLength {
		t.Fatalf("CONNECT_FLAGS % x, want FIXED_PD_LENGTH", f)
	}
	if rfcHas(m.opts, rfcOptStatusCode) {
		t.Fatal("an accepting message carries STATUS_CODE")
	}
}

// TestRFCPeerPrimary: an RFC 8156 primary connects to our secondary with
// FIXED_PD_LENGTH set, and a BNDUPD round follows.
func TestRFCPeerPrimary(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", func(c *Config) { c.DelegatesPrefixes = true })
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &rfcPeer{t: t, c: c, xid: 0x10000}
	now := time.Now()

	// CONNECT (§6.1.1): the options in another order than tandem's, and
	// one tandem does not know (ignored, RFC 8415 §16).
	p.send(rfcFrame(rfcCONNECT, 0x123456, rfcAbs(now),
		rfcOpt(rfcOptConnectFlags, u16(rfcFixedPDLength)),
		rfcOpt(rfcOptRelName, []byte("pair-a")),
		rfcOpt(0xfff0, []byte("future")),
		rfcOpt(rfcOptMaxUnacked, u32(8)),
		rfcOpt(rfcOptKeepalive, u32(10)),
		rfcOpt(rfcOptMCLT, u32(30)),
		rfcOpt(rfcOptProtoVersion, u16(1), u16(0))))
	r := p.expect(rfcCONNECTREPLY)
	if r.xid != 0x123456 {
		t.Fatalf("CONNECTREPLY xid %#x, want the CONNECT's", r.xid)
	}
	checkRFCConnectParams(t, r, 30)
	// §6.1.2: after an accepting CONNECTREPLY the secondary MUST send STATE.
	checkRFCState(t, p.expect(rfcSTATE), testState)
	p.send(rfcState(p.xid, now))

	up := waitEvent(t, s, EventUp)
	if pp := up.Partner; pp.ConnectFlags != rfcFixedPDLength || pp.MCLT != 30*time.Second ||
		pp.Keepalive != 10*time.Second || pp.MaxUnacked != 8 || pp.Version != 1<<16 {
		t.Fatalf("Up: partner %+v", pp)
	}
	if st := waitMsg(t, s, wire.State); st.ServerState != rfcStateNormal || st.ServerFlags != rfcCommunicated {
		t.Fatalf("STATE handed over as %+v", st)
	}
	rfcBindingRound(t, p, s)

	// DISCONNECT (§5.3.10) ends the session with its status.
	p.send(rfcFrame(rfcDISCONNECT, p.next(), rfcAbs(time.Now()),
		rfcOpt(rfcOptStatusCode, u16(rfcShuttingDown), []byte("maintenance"))))
	if ev := waitEvent(t, s, EventDown); ev.Status != rfcShuttingDown || !ev.WasUp {
		t.Fatalf("Down: %+v", ev)
	}
}

// TestRFCPeerSecondary: our primary connects to an RFC 8156 secondary that
// accepts with FIXED_PD_LENGTH set, and a BNDUPD round follows.
func TestRFCPeerSecondary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := startPrimary(t, ln.Addr().(*net.TCPAddr).AddrPort(), func(c *Config) {
		c.DelegatesPrefixes, c.RetryMin = true, time.Minute
	})
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &rfcPeer{t: t, c: c, xid: 0x20000}

	m := p.expect(rfcCONNECT)
	checkRFCConnectParams(t, m, 30)
	if n := rfcFind(t, m.opts, rfcOptRelName); string(n) != "pair-a" {
		t.Fatalf("RELATIONSHIP_NAME %q", n)
	}
	// CONNECTREPLY (§6.1.2): the CONNECT's transaction-id and MCLT, our
	// own keepalive and window, FIXED_PD_LENGTH; no name, no status.
	now := time.Now()
	p.send(rfcFrame(rfcCONNECTREPLY, m.xid, rfcAbs(now),
		rfcOpt(rfcOptMaxUnacked, u32(8)),
		rfcOpt(rfcOptConnectFlags, u16(rfcFixedPDLength)),
		rfcOpt(rfcOptMCLT, u32(30)),
		rfcOpt(rfcOptKeepalive, u32(10)),
		rfcOpt(rfcOptProtoVersion, u16(1), u16(0))))
	p.send(rfcState(p.next(), now))
	// §6.1.3: after an accepting CONNECTREPLY the primary MUST send STATE.
	checkRFCState(t, p.expect(rfcSTATE), testState)

	up := waitEvent(t, l, EventUp)
	if pp := up.Partner; pp.ConnectFlags != rfcFixedPDLength || pp.MCLT != 30*time.Second ||
		pp.Keepalive != 10*time.Second || pp.MaxUnacked != 8 {
		t.Fatalf("Up: partner %+v", pp)
	}
	waitMsg(t, l, wire.State)
	rfcBindingRound(t, p, l)
}

func (p *rfcPeer) next() uint32 { p.xid++; return p.xid }

// rfcBindingRound: the peer sends a BNDUPD for an address and one for a
// delegated prefix (§7.4); the Link hands each to its owner as one
// EventMessage, which reads as the leases sent; the owner's BNDREPLYs
// (§7.6), one accepting and one rejecting, read right by hand. Then our
// BNDUPDs read right by hand (§7.4), and the peer's BNDREPLYs — one
// accepting, one rejecting the entire BNDUPD with a STATUS_CODE in
// CLIENT_DATA — read right to the owner (§7.7).
func rfcBindingRound(t *testing.T, p *rfcPeer, l *Link) {
	now := time.Now()
	base := rfcAbs(now)
	duid := []byte{0, 1, 0, 1, 0x11, 0x22, 0x33, 0x44, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	addr := netip.MustParseAddr("2001:db8::42")
	pfx := netip.MustParsePrefix("2001:db8:100:4200::/56")

	// The lease options of §7.4, in another order than tandem's, with an
	// OPTION_CLIENT_FQDN that tandem keeps nothing of.
	leaseOpts := func(plife uint32) [][]byte {
		return [][]byte{
			rfcOpt(rfcOptPartnerLife, u32(plife)),
			rfcOpt(rfcOptCLTTime, u32(20)),
			rfcOpt(rfcOptStateExpTime, u32(base+3600-20)),
			rfcOpt(rfcOptStartTimeState, u32(base-20)),
			rfcOpt(rfcOptBindingStatus, u8(rfcActive)),
			rfcOpt(rfcOptExpirationTime, u32(base+100)),
			rfcOpt(rfcOptClientFQDN, []byte{0x01, 4, 'h', 'o', 's', 't', 0}),
		}
	}
	// Client form (§7.4): LQ_BASE_TIME before CLIENTID, T1/T2 as sent to
	// the client.
	naXID, pdXID := p.next(), p.next()
	p.send(rfcFrame(rfcBNDUPD, naXID, base, rfcOpt(rfcOptClientData,
		rfcOpt(rfcOptLQBaseTime, u32(base)),
		rfcOpt(rfcOptClientID, duid),
		rfcIA(rfcOptIANA, 7, 1800, 2880, rfcIAAddr(addr, 1800, 3600, leaseOpts(base+1800)...)))))
	p.send(rfcFrame(rfcBNDUPD, pdXID, base, rfcOpt(rfcOptClientData,
		rfcOpt(rfcOptClientID, duid),
		rfcIA(rfcOptIAPD, 9, 1800, 2880, rfcIAPrefix(pfx, 1800, 3600, leaseOpts(base+1900)...)),
		rfcOpt(rfcOptLQBaseTime, u32(base)))))

	// What the owner gets: one message event per BNDUPD, in order, that
	// reads as the lease sent.
	for _, want := range []struct {
		xid   uint32
		kind  engine.Kind
		p     netip.Prefix
		iaid  uint32
		plife uint32
	}{{naXID, engine.KindNA, netip.PrefixFrom(addr, 128), 7, base + 1800}, {pdXID, engine.KindPD, pfx, 9, base + 1900}} {
		ev := waitFor(t, l, "BNDUPD", func(ev Event) bool { return ev.Kind == EventMessage })
		if ev.Type != wire.BndUpd {
			t.Fatalf("event %v %s, want BNDUPD", ev.Kind, wire.FailoverName(ev.Type))
		}
		var m wire.FailoverMsg
		if err := m.Decode(ev.Msg); err != nil {
			t.Fatal(err)
		}
		if m.XID != want.xid || NumLeases(&m) != 1 {
			t.Fatalf("BNDUPD xid %#x with %d leases, want %#x with 1", m.XID, NumLeases(&m), want.xid)
		}
		var r engine.ReceivedLease
		if err := ReceivedFromWire(&m, 0, 0, &r); err != nil {
			t.Fatal(err)
		}
		b0 := int64(base) + rfcEpoch
		if r.Form != engine.FormClient || r.Kind != want.kind || r.Prefix != want.p || r.DUID != string(duid) ||
			r.IAID != want.iaid || r.Status != engine.StatusActive || r.Preferred != 1800 || r.Valid != 3600 ||
			r.BaseTime != b0 || r.CLTT != b0-20 || r.RawCLTT != b0-20 || r.StartOfState != b0-20 ||
			r.StateExpiration != b0+3600-20 || r.PartnerLifetime != int64(want.plife)+rfcEpoch ||
			r.ExpirationTime != b0+100 || r.UnknownVPN {
			t.Fatalf("lease read as %+v", r)
		}
		// The owner answers: the address accepted, the prefix rejected.
		res := LeaseResult{Accepted: true}
		if want.kind == engine.KindPD {
			res = LeaseResult{Status: wire.StatusOutdatedBindingInfo}
		}
		if err := l.Send(AppendBndReply(nil, &m, []LeaseResult{res})); err != nil {
			t.Fatal(err)
		}
	}

	// The BNDREPLYs, by hand (§7.6): same transaction-id, CLIENT_DATA with
	// CLIENTID and the IA, the lease with BINDING_STATUS and
	// STATE_EXPIRATION_TIME echoed, PARTNER_LIFETIME_SENT an exact copy,
	// STATUS_CODE only on the rejection.
	for _, want := range []struct {
		xid      uint32
		iaCode   uint16
		leaseOpt uint16
		plife    uint32
		status   uint16
	}{{naXID, rfcOptIANA, rfcOptIAAddr, base + 1800, 0}, {pdXID, rfcOptIAPD, rfcOptIAPrefix, base + 1900, rfcOutdated}} {
		m := p.expect(rfcBNDREPLY)
		if m.xid != want.xid {
			t.Fatalf("BNDREPLY xid %#x, want %#x", m.xid, want.xid)
		}
		cd := rfcParseOpts(t, rfcFind(t, m.opts, rfcOptClientData))
		if string(rfcFind(t, cd, rfcOptClientID)) != string(duid) {
			t.Fatal("BNDREPLY CLIENTID differs")
		}
		ia := rfcFind(t, cd, want.iaCode)
		lease := rfcFind(t, rfcParseOpts(t, ia[12:]), want.leaseOpt)
		hdr := 24 // IAADDR: address, preferred, valid
		if want.leaseOpt == rfcOptIAPrefix {
			hdr = 25 // IAPREFIX: preferred, valid, length, prefix
		}
		lo := rfcParseOpts(t, lease[hdr:])
		if bs := rfcFind(t, lo, rfcOptBindingStatus); len(bs) != 1 || bs[0] != rfcActive {
			t.Fatalf("BINDING_STATUS % x", bs)
		}
		if v := rfcU32(t, lo, rfcOptStateExpTime); v != base+3600-20 {
			t.Fatalf("STATE_EXPIRATION_TIME %d", v)
		}
		if v := rfcU32(t, lo, rfcOptPartnerLifeSnt); v != want.plife {
			t.Fatalf("PARTNER_LIFETIME_SENT %d, sent PARTNER_LIFETIME %d", v, want.plife)
		}
		switch {
		case want.status == 0 && rfcHas(lo, rfcOptStatusCode):
			t.Fatal("accepted lease carries STATUS_CODE")
		case want.status != 0:
			if st := rfcFind(t, lo, rfcOptStatusCode); len(st) < 2 || binary.BigEndian.Uint16(st) != want.status {
				t.Fatalf("STATUS_CODE % x, want %d", st, want.status)
			}
		}
	}

	// Our BNDUPDs, read by hand (§7.4).
	na := engine.Binding{Kind: engine.KindNA, Prefix: netip.PrefixFrom(addr, 128), DUID: string(duid), IAID: 7,
		Status: engine.StatusActive, StartOfState: now.Unix() - 60, CLTT: now.Unix() - 30, Preferred: 1800,
		Valid: 3600, Expires: now.Unix() - 30 + 3600}
	naFO := engine.FOTimes{StateExpiration: na.Expires, PartnerLifetime: now.Unix() + 1800, ExpirationTime: now.Unix() + 900}
	pd := na
	pd.Kind, pd.Prefix, pd.IAID = engine.KindPD, pfx, 9
	ourNA, ourPD := l.NextXID(), l.NextXID()
	for _, b := range [][]byte{AppendBndUpd(nil, ourNA, now.Unix(), &na, &naFO), AppendBndUpd(nil, ourPD, now.Unix(), &pd, &naFO)} {
		if err := l.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct {
		xid    uint32
		iaCode uint16
		lease  uint16
		iaid   uint32
	}{{ourNA, rfcOptIANA, rfcOptIAAddr, 7}, {ourPD, rfcOptIAPD, rfcOptIAPrefix, 9}} {
		m := p.expect(rfcBNDUPD)
		if m.xid != want.xid {
			t.Fatalf("our BNDUPD xid %#x, want %#x", m.xid, want.xid)
		}
		cd := rfcParseOpts(t, rfcFind(t, m.opts, rfcOptClientData))
		if string(rfcFind(t, cd, rfcOptClientID)) != string(duid) {
			t.Fatal("our BNDUPD: CLIENTID")
		}
		lqBase := rfcU32(t, cd, rfcOptLQBaseTime)
		if d := int64(lqBase) - int64(rfcAbs(now)); d < -1 || d > 1 {
			t.Fatalf("our BNDUPD: LQ_BASE_TIME %d, now %d", lqBase, rfcAbs(now))
		}
		ia := rfcFind(t, cd, want.iaCode)
		if binary.BigEndian.Uint32(ia) != want.iaid {
			t.Fatalf("our BNDUPD: IAID %d", binary.BigEndian.Uint32(ia))
		}
		lease := rfcFind(t, rfcParseOpts(t, ia[12:]), want.lease)
		var got netip.Prefix
		var lo []rfcOption
		if want.lease == rfcOptIAAddr {
			got = netip.PrefixFrom(netip.AddrFrom16([16]byte(lease[:16])), 128)
			lo = rfcParseOpts(t, lease[24:])
		} else {
			got = netip.PrefixFrom(netip.AddrFrom16([16]byte(lease[9:25])), int(lease[8]))
			lo = rfcParseOpts(t, lease[25:])
		}
		if got != netip.PrefixFrom(addr, 128) && got != pfx {
			t.Fatalf("our BNDUPD names %v", got)
		}
		if bs := rfcFind(t, lo, rfcOptBindingStatus); len(bs) != 1 || bs[0] != rfcActive {
			t.Fatalf("our BNDUPD: BINDING_STATUS % x", bs)
		}
		abs := func(u int64) uint32 { return uint32(u - rfcEpoch) }
		for _, o := range []struct {
			code uint16
			want uint32
		}{
			{rfcOptStartTimeState, abs(na.StartOfState)},
			{rfcOptStateExpTime, abs(naFO.StateExpiration)}, // ACTIVE has a timeout: the * options MUST appear
			{rfcOptPartnerLife, abs(naFO.PartnerLifetime)},
			{rfcOptExpirationTime, abs(naFO.ExpirationTime)},
			{rfcOptCLTTime, lqBase - abs(na.CLTT)}, // relative to LQ_BASE_TIME
		} {
			if v := rfcU32(t, lo, o.code); v != o.want {
				t.Fatalf("our BNDUPD: option %d = %d, want %d", o.code, v, o.want)
			}
		}
	}

	// The peer's BNDREPLYs: the address accepted as §7.6 shows it; the
	// prefix's whole BNDUPD rejected by a STATUS_CODE in the outermost
	// option, CLIENT_DATA (§7.6 "Entire BNDUPD"), its IAPREFIX without one.
	p.send(rfcFrame(rfcBNDREPLY, ourNA, rfcAbs(time.Now()), rfcOpt(rfcOptClientData,
		rfcOpt(rfcOptClientID, duid),
		rfcIA(rfcOptIANA, 7, 0, 0, rfcIAAddr(addr, 1800, 3600,
			rfcOpt(rfcOptPartnerLifeSnt, u32(uint32(naFO.PartnerLifetime-rfcEpoch))),
			rfcOpt(rfcOptBindingStatus, u8(rfcActive)),
			rfcOpt(rfcOptStateExpTime, u32(uint32(naFO.StateExpiration-rfcEpoch))))))))
	p.send(rfcFrame(rfcBNDREPLY, ourPD, rfcAbs(time.Now()), rfcOpt(rfcOptClientData,
		rfcOpt(rfcOptClientID, duid),
		rfcIA(rfcOptIAPD, 9, 0, 0, rfcIAPrefix(pfx, 1800, 3600,
			rfcOpt(rfcOptBindingStatus, u8(rfcActive)),
			rfcOpt(rfcOptPartnerLifeSnt, u32(uint32(naFO.PartnerLifetime-rfcEpoch))))),
		rfcOpt(rfcOptStatusCode, u16(rfcConfigConflict), []byte("prefix not in my configuration")))))
	for _, want := range []struct {
		xid      uint32
		p        netip.Prefix
		accepted bool
		status   uint16
	}{{ourNA, netip.PrefixFrom(addr, 128), true, 0}, {ourPD, pfx, false, rfcConfigConflict}} {
		ev := waitFor(t, l, "BNDREPLY", func(ev Event) bool { return ev.Kind == EventMessage })
		var m wire.FailoverMsg
		if ev.Type != wire.BndReply || m.Decode(ev.Msg) != nil || m.XID != want.xid {
			t.Fatalf("event %s xid %#x, want BNDREPLY %#x", wire.FailoverName(ev.Type), m.XID, want.xid)
		}
		n := 0
		whole := ParseBndReply(&m, func(pp netip.Prefix, accepted bool, status uint16, pls int64) {
			n++
			if pp != want.p || accepted != want.accepted || status != want.status || pls != naFO.PartnerLifetime {
				t.Fatalf("BNDREPLY reads %v accepted=%v status %d pls %d, want %+v", pp, accepted, status, pls, want)
			}
		})
		if n != 1 || whole != want.status {
			t.Fatalf("BNDREPLY: %d leases, whole status %d", n, whole)
		}
		if EchoedStatus(&m, want.p) != engine.StatusActive {
			t.Fatal("BNDREPLY: echoed status")
		}
	}
}

// TestRFCPeerVSS: a lease of a VPN other than the global one (OPTION_VSS,
// RFC 8156 §7.4: in CLIENT_DATA, or among the prefix form's
// IAprefix-options) reads as UnknownVPN, which DecideBndUpd rejects with
// ConfigurationConflict (§7.5.4); the global VPN's type 255 does not.
func TestRFCPeerVSS(t *testing.T) {
	const optVSS = 68 // RFC 6607
	base := rfcAbs(time.Now())
	duid := []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 7}
	const released = 3 // binding-status RELEASED: no timeout options needed
	lease := [][]byte{rfcOpt(rfcOptBindingStatus, u8(released)), rfcOpt(rfcOptStartTimeState, u32(base-5))}
	vrf := []byte{0, 'r', 'e', 'd'}
	for _, tc := range []struct {
		name    string
		msg     []byte
		unknown bool
	}{
		{"client form, no VSS", rfcFrame(rfcBNDUPD, 1, base, rfcOpt(rfcOptClientData,
			rfcOpt(rfcOptClientID, duid), rfcOpt(rfcOptLQBaseTime, u32(base)),
			rfcIA(rfcOptIANA, 1, 0, 0, rfcIAAddr(netip.MustParseAddr("2001:db8::1"), 0, 0, lease...)))), false},
		{"client form, VSS", rfcFrame(rfcBNDUPD, 1, base, rfcOpt(rfcOptClientData,
			rfcOpt(rfcOptClientID, duid), rfcOpt(optVSS, vrf), rfcOpt(rfcOptLQBaseTime, u32(base)),
			rfcIA(rfcOptIANA, 1, 0, 0, rfcIAAddr(netip.MustParseAddr("2001:db8::1"), 0, 0, lease...)))), true},
		{"prefix form, VSS", rfcFrame(rfcBNDUPD, 1, base, rfcIAPrefix(netip.MustParsePrefix("2001:db8:1::/48"), 0, 0,
			append([][]byte{rfcOpt(optVSS, vrf), rfcOpt(rfcOptLQBaseTime, u32(base))}, lease...)...)), true},
		{"prefix form, global VSS", rfcFrame(rfcBNDUPD, 1, base, rfcIAPrefix(netip.MustParsePrefix("2001:db8:1::/48"), 0, 0,
			append([][]byte{rfcOpt(optVSS, u8(255)), rfcOpt(rfcOptLQBaseTime, u32(base))}, lease...)...)), false},
	} {
		var m wire.FailoverMsg
		if err := m.Decode(tc.msg[2:]); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var r engine.ReceivedLease
		if err := ReceivedFromWire(&m, 0, 0, &r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.UnknownVPN != tc.unknown {
			t.Fatalf("%s: UnknownVPN %v", tc.name, r.UnknownVPN)
		}
		r.Configured = true
		if ok, st := engine.DecideBndUpd(nil, &r, time.Now().Unix(), true); tc.unknown && (ok || st != wire.StatusConfigurationConflict) {
			t.Fatalf("%s: decided %v %d", tc.name, ok, st)
		}
	}
}

package replicate

import (
	"math"
	"net/netip"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

const tNow = 1_750_000_000 // a Unix time in 2025

var testDUID = string([]byte{0, 1, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0, 0x11, 0x22, 0x33, 0x44, 0x55})

// decodeFrame checks one frame and decodes it.
func decodeFrame(t *testing.T, frame []byte) *wire.FailoverMsg {
	t.Helper()
	msg, rest, ok := wire.SplitFrame(frame)
	if !ok || len(rest) != 0 {
		t.Fatalf("not exactly one frame: ok=%v rest=%d", ok, len(rest))
	}
	var m wire.FailoverMsg
	if err := m.Decode(msg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return &m
}

// received encodes b/fo as a BNDUPD, decodes it and converts its one lease.
func received(t *testing.T, b *engine.Binding, fo *engine.FOTimes) (*wire.FailoverMsg, engine.ReceivedLease) {
	t.Helper()
	m := decodeFrame(t, AppendBndUpd(nil, 0x123456, tNow, b, fo))
	if m.Type != wire.BndUpd || m.XID != 0x123456 {
		t.Fatalf("type %v xid %#x", m.Type, m.XID)
	}
	if n := NumLeases(m); n != 1 {
		t.Fatalf("NumLeases = %d, want 1", n)
	}
	var r engine.ReceivedLease
	if err := ReceivedFromWire(m, 0, 0, &r); err != nil {
		t.Fatal(err)
	}
	return m, r
}

// wireLease is the one lease of a decoded one-lease message.
func wireLease(m *wire.FailoverMsg) *wire.BindingLease {
	_, l := leaseAt(m, 0)
	return l
}

const timeoutBits = wire.HasStateExpiration | wire.HasPartnerLifetime | wire.HasExpirationTime

func activeAddr() (engine.Binding, engine.FOTimes) {
	b := engine.Binding{
		Kind: engine.KindNA, Prefix: netip.MustParsePrefix("2001:db8::17/128"),
		DUID: testDUID, IAID: 7, Status: engine.StatusActive,
		StartOfState: tNow - 600, CLTT: tNow - 30, Preferred: 1800, Valid: 3600,
		Expires: tNow - 30 + 3600,
	}
	fo := engine.FOTimes{
		ExpirationTime:       tNow + 5000,
		AckedPartnerLifetime: tNow + 4000,
		PartnerLifetime:      tNow + 90000,
		PartnerRawCLTT:       tNow - 700,
		StateExpiration:      tNow - 30 + 3600,
	}
	return b, fo
}

// TestBndUpdActiveAddress: RFC 8156 §6.3 client form — an ACTIVE address
// travels with every option, and the receiver gets back exactly the times
// the sender holds, CLT_TIME made relative to LQ_BASE_TIME and back.
func TestBndUpdActiveAddress(t *testing.T) {
	b, fo := activeAddr()
	m, r := received(t, &b, &fo)
	if !m.HasClientData || m.HasPrefix || m.Client.NumIAs != 1 || m.Client.IAs[0].Code != wire.OptIANA {
		t.Fatalf("form: client %v prefix %v IAs %d", m.HasClientData, m.HasPrefix, m.Client.NumIAs)
	}
	if !m.Client.HasLQBaseTime || m.Client.LQBaseTime != wire.AbsTime(tNow) {
		t.Errorf("LQ_BASE_TIME %d, want %d", m.Client.LQBaseTime, wire.AbsTime(tNow))
	}
	if l := wireLease(m); l.CLTTime != 30 {
		t.Errorf("CLT_TIME %d, want 30 (relative)", l.CLTTime)
	}
	want := engine.ReceivedLease{
		Form: engine.FormClient, Kind: engine.KindNA, Prefix: b.Prefix, DUID: b.DUID, IAID: 7,
		Status: engine.StatusActive, Preferred: 1800, Valid: 3600,
		BaseTime: tNow, CLTT: b.CLTT, RawCLTT: b.CLTT,
		StartOfState: b.StartOfState, StateExpiration: fo.StateExpiration,
		PartnerLifetime: fo.PartnerLifetime, PartnerRawCLTT: fo.PartnerRawCLTT,
		ExpirationTime: fo.ExpirationTime,
	}
	if r != want {
		t.Errorf("received\n%+v\nwant\n%+v", r, want)
	}

	// The engine takes it: news to a receiver with no record, and the
	// record it keeps is the sender's, with the times crossed over as
	// §7.5.5 says.
	r.Configured = true
	if ok, st := engine.DecideBndUpd(nil, &r, tNow, true); !ok {
		t.Fatalf("DecideBndUpd rejected with %d", st)
	}
	n := engine.Accepted(nil, &r)
	if n.Status != b.Status || n.DUID != b.DUID || n.IAID != b.IAID || n.Prefix != b.Prefix ||
		n.Expires != b.Expires || n.StartOfState != b.StartOfState {
		t.Errorf("accepted record %+v", n)
	}
	// CLTT: the client's last transaction as the update tells it (so
	// Expires = CLTT + valid holds), or our own as the partner knows it,
	// whichever is later.
	if n.ExpirationTime != fo.PartnerLifetime || n.PartnerRawCLTT != b.CLTT || n.CLTT != max(b.CLTT, fo.PartnerRawCLTT) {
		t.Errorf("accepted times: exp %d praw %d cltt %d", n.ExpirationTime, n.PartnerRawCLTT, n.CLTT)
	}
}

// TestBndUpdSkew: CLTT is moved into our clock, RawCLTT is not (§7.5.5).
func TestBndUpdSkew(t *testing.T) {
	b, fo := activeAddr()
	m := decodeFrame(t, AppendBndUpd(nil, 1, tNow, &b, &fo))
	var r engine.ReceivedLease
	if err := ReceivedFromWire(m, 0, 3, &r); err != nil {
		t.Fatal(err)
	}
	if r.RawCLTT != b.CLTT || r.CLTT != b.CLTT-3 {
		t.Errorf("raw %d cltt %d, want %d and %d", r.RawCLTT, r.CLTT, b.CLTT, b.CLTT-3)
	}
}

// TestBndUpdExpiredPrefix: a delegated prefix that expired, with its
// client: client form with an IA_PD, and EXPIRED has no timeout here, so
// none of the three timeout options (the ACTIVE expiry the engine left in
// StateExpiration is older than the state and does not count).
func TestBndUpdExpiredPrefix(t *testing.T) {
	b := engine.Binding{
		Kind: engine.KindPD, Prefix: netip.MustParsePrefix("2001:db8:100:2300::/56"),
		DUID: testDUID, IAID: 3, Status: engine.StatusExpired,
		StartOfState: tNow - 5, CLTT: tNow - 7205, Preferred: 3600, Valid: 7200, Expires: tNow - 5,
	}
	fo := engine.FOTimes{StateExpiration: tNow - 5, ExpirationTime: tNow + 100, AckedPartnerLifetime: tNow}
	m, r := received(t, &b, &fo)
	if m.Client.IAs[0].Code != wire.OptIAPD || m.Client.IAs[0].IAID != 3 {
		t.Fatalf("IA %+v", m.Client.IAs[0])
	}
	if l := wireLease(m); l.Has&timeoutBits != 0 {
		t.Errorf("EXPIRED without a timeout carries timeout options: has %#x", l.Has)
	}
	if r.Kind != engine.KindPD || r.Prefix != b.Prefix || r.Status != engine.StatusExpired ||
		r.StateExpiration != 0 || r.PartnerLifetime != 0 || r.ExpirationTime != 0 ||
		r.CLTT != b.CLTT || r.StartOfState != b.StartOfState || r.Valid != 7200 {
		t.Errorf("received %+v", r)
	}
}

// TestBndUpdReleased: RELEASED with the client; no timeout options.
func TestBndUpdReleased(t *testing.T) {
	b, fo := activeAddr()
	b.Status, b.StartOfState, b.CLTT = engine.StatusReleased, tNow-2, tNow-2
	fo.StateExpiration, fo.PartnerLifetime = 0, 0
	m, r := received(t, &b, &fo)
	if l := wireLease(m); l.Has&timeoutBits != 0 {
		t.Errorf("RELEASED carries timeout options: has %#x", l.Has)
	}
	if l := wireLease(m); l.Has&wire.HasPartnerRawCLTTime == 0 {
		t.Error("F_PARTNER_RAW_CLT_TIME missing though known")
	}
	if r.Status != engine.StatusReleased || r.DUID != testDUID || r.CLTT != tNow-2 ||
		r.StateExpiration != 0 || r.PartnerLifetime != 0 {
		t.Errorf("received %+v", r)
	}
	r.Configured = true
	// The receiver's record of the ACTIVE lease, built the way it got it
	// (through Accepted).
	ab, afo := activeAddr()
	_, ar := received(t, &ab, &afo)
	local := engine.Accepted(nil, &ar)
	if ok, st := engine.DecideBndUpd(&local, &r, tNow, false); !ok {
		t.Errorf("RELEASED after ACTIVE rejected: %d", st)
	}
}

// TestBndUpdFreeBackupPrefixForm: a delegable prefix moved to the
// secondary has no client: one top-level IAPREFIX carrying LQ_BASE_TIME,
// the status and its start (RFC 8156 §6.3 prefix form).
func TestBndUpdFreeBackupPrefixForm(t *testing.T) {
	b := engine.Binding{
		Kind: engine.KindPD, Prefix: netip.MustParsePrefix("2001:db8:200::/48"),
		Status: engine.StatusFreeBackup, StartOfState: tNow - 60,
	}
	var fo engine.FOTimes
	m, r := received(t, &b, &fo)
	if m.HasClientData || !m.HasPrefix {
		t.Fatalf("not the prefix form: client %v prefix %v", m.HasClientData, m.HasPrefix)
	}
	l := &m.Prefix
	if l.Has&wire.HasLQBaseTime == 0 || l.LQBaseTime != wire.AbsTime(tNow) {
		t.Errorf("LQ_BASE_TIME: has %#x value %d", l.Has, l.LQBaseTime)
	}
	if l.Has&timeoutBits != 0 || l.Has&wire.HasCLTTime != 0 {
		t.Errorf("FREE-BACKUP carries timeout or CLT options: has %#x", l.Has)
	}
	want := engine.ReceivedLease{
		Form: engine.FormPrefix, Kind: engine.KindPD, Prefix: b.Prefix,
		Status: engine.StatusFreeBackup, BaseTime: tNow, StartOfState: tNow - 60,
	}
	if r != want {
		t.Errorf("received\n%+v\nwant\n%+v", r, want)
	}
	r.Configured = true
	if ok, st := engine.DecideBndUpd(nil, &r, tNow, true); !ok {
		t.Errorf("prefix form rejected: %d", st)
	}

	// With a timeout the prefix form carries the timeout options too.
	fo.StateExpiration = tNow + 3600
	m, r = received(t, &b, &fo)
	if m.Prefix.Has&timeoutBits != timeoutBits || r.StateExpiration != tNow+3600 {
		t.Errorf("prefix form with a timeout: has %#x, state expiration %d", m.Prefix.Has, r.StateExpiration)
	}
}

// TestBndUpdTimeoutOptions is RFC 8156 §6.3's footnote, per status:
// F_STATE_EXPIRATION_TIME, F_PARTNER_LIFETIME and F_EXPIRATION_TIME "MUST
// appear only if the status has a timeout; otherwise MUST NOT appear".
// ACTIVE always has one; another status has one when the engine set a
// state-expiration-time after the state began.
func TestBndUpdTimeoutOptions(t *testing.T) {
	for st := engine.StatusActive; st <= engine.StatusReset; st++ {
		for _, timed := range []bool{false, true} {
			b, fo := activeAddr()
			b.Status = st
			fo.StateExpiration = 0
			if timed {
				fo.StateExpiration = b.StartOfState + 100
			}
			m := decodeFrame(t, AppendBndUpd(nil, 1, tNow, &b, &fo))
			got := wireLease(m).Has & timeoutBits
			want := uint32(0)
			if timed || st == engine.StatusActive {
				want = timeoutBits
			}
			if got != want {
				t.Errorf("%v, state expiration set %v: timeout options %#x, want %#x", st, timed, got, want)
			}
			if h := wireLease(m).Has; h&(wire.HasBindingStatus|wire.HasStartTimeOfState) !=
				wire.HasBindingStatus|wire.HasStartTimeOfState {
				t.Errorf("%v: MUST options missing: has %#x", st, h)
			}
		}
	}
}

// TestBndUpdActiveFallbacks: an ACTIVE record always carries
// PARTNER_LIFETIME and STATE_EXPIRATION_TIME (a receiver rejects ACTIVE
// without them): once acked the engine zeroes PartnerLifetime, and the
// acked value is resent; lacking both, the client's expiry.
func TestBndUpdActiveFallbacks(t *testing.T) {
	b, fo := activeAddr()
	fo.PartnerLifetime = 0
	_, r := received(t, &b, &fo)
	if r.PartnerLifetime != fo.AckedPartnerLifetime {
		t.Errorf("partner lifetime %d, want the acked %d", r.PartnerLifetime, fo.AckedPartnerLifetime)
	}
	fo = engine.FOTimes{}
	_, r = received(t, &b, &fo)
	if r.PartnerLifetime != b.Expires || r.StateExpiration != b.Expires || r.ExpirationTime != 0 {
		t.Errorf("no FO times: %+v", r)
	}
}

// TestBndUpdClamp: an infinite lease's partner-lifetime lies past the
// 32-bit absolute range: it is clamped, not wrapped into the past.
func TestBndUpdClamp(t *testing.T) {
	b, fo := activeAddr()
	fo.PartnerLifetime = tNow + math.MaxUint32 + 1000
	m := decodeFrame(t, AppendBndUpd(nil, 1, tNow, &b, &fo))
	if pl := wireLease(m).PartnerLifetime; pl != math.MaxUint32 {
		t.Errorf("partner lifetime on the wire %d, want %d", pl, uint32(math.MaxUint32))
	}
}

// TestBndUpdNotEncodable: an address record with no client has no form.
func TestBndUpdNotEncodable(t *testing.T) {
	b, fo := activeAddr()
	b.DUID = ""
	if Encodable(&b) {
		t.Error("client-less address reported encodable")
	}
	if out := AppendBndUpd([]byte{9}, 1, tNow, &b, &fo); len(out) != 1 {
		t.Errorf("appended %d bytes for an unencodable record", len(out)-1)
	}
}

// multiLeaseUpd builds a BNDUPD whose CLIENT_DATA holds an IA_NA with two
// addresses and an IA_PD with one prefix — legal (one binding, several
// leases), though tandem itself sends one lease per BNDUPD.
func multiLeaseUpd(t *testing.T) *wire.FailoverMsg {
	t.Helper()
	lease := func(p string, pl uint32) wire.BindingLease {
		return wire.BindingLease{
			Prefix: netip.MustParsePrefix(p), Preferred: 100, Valid: 200,
			Has:           wire.HasBindingStatus | wire.HasStartTimeOfState | timeoutBits | wire.HasCLTTime,
			BindingStatus: uint8(engine.StatusActive), StartTimeOfState: wire.AbsTime(tNow - 50),
			StateExpiration: wire.AbsTime(tNow + 200), PartnerLifetime: pl,
			ExpirationTime: 0, CLTTime: 10,
		}
	}
	b, f := wire.BeginFrame(nil, wire.BndUpd, 0xabcdef, wire.AbsTime(tNow))
	b, cd := wire.BeginOption(b, wire.OptClientData)
	b = wire.AppendOptionString(b, wire.OptClientID, testDUID)
	b = wire.AppendUint32Option(b, wire.OptLQBaseTime, wire.AbsTime(tNow))
	b, ia := wire.BeginIA(b, wire.OptIANA, 1, 50, 80)
	l := lease("2001:db8::1/128", 0x7fff0001)
	b = wire.AppendBindingLease(b, &l, true)
	l = lease("2001:db8::2/128", 0x7fff0002)
	b = wire.AppendBindingLease(b, &l, true)
	b = wire.EndOption(b, ia)
	b, ia = wire.BeginIA(b, wire.OptIAPD, 2, 50, 80)
	l = lease("2001:db8:1::/56", 0x7fff0003)
	b = wire.AppendBindingLease(b, &l, false)
	b = wire.EndOption(b, ia)
	b = wire.EndOption(b, cd)
	return decodeFrame(t, wire.EndFrame(b, f))
}

// TestReceivedSeveralLeases: every lease of a several-lease BNDUPD comes
// out, by index, with its IA's kind and IAID.
func TestReceivedSeveralLeases(t *testing.T) {
	m := multiLeaseUpd(t)
	if n := NumLeases(m); n != 3 {
		t.Fatalf("NumLeases %d, want 3", n)
	}
	want := []struct {
		kind engine.Kind
		iaid uint32
		p    string
	}{{engine.KindNA, 1, "2001:db8::1/128"}, {engine.KindNA, 1, "2001:db8::2/128"}, {engine.KindPD, 2, "2001:db8:1::/56"}}
	var r engine.ReceivedLease
	for i, w := range want {
		if err := ReceivedFromWire(m, i, 0, &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind != w.kind || r.IAID != w.iaid || r.Prefix.String() != w.p || r.DUID != testDUID ||
			r.CLTT != tNow-10 || r.Status != engine.StatusActive {
			t.Errorf("lease %d: %+v", i, r)
		}
	}
	if err := ReceivedFromWire(m, 3, 0, &r); err != ErrNoLease {
		t.Errorf("index past the end: %v", err)
	}
	m.Type = wire.BndReply
	if err := ReceivedFromWire(m, 0, 0, &r); err != ErrNotBndUpd {
		t.Errorf("a BNDREPLY: %v", err)
	}
}

// TestBndReplyEcho: RFC 8156 §6.4 — same xid, same form, BINDING_STATUS
// and STATE_EXPIRATION_TIME copied, F_PARTNER_LIFETIME_SENT the exact bits
// of the F_PARTNER_LIFETIME received, no STATUS_CODE on success.
func TestBndReplyEcho(t *testing.T) {
	b, fo := activeAddr()
	upd := decodeFrame(t, AppendBndUpd(nil, 0x0a0b0c, tNow, &b, &fo))
	rep := decodeFrame(t, AppendBndReply(nil, upd, []LeaseResult{{Accepted: true}}))
	if rep.Type != wire.BndReply || rep.XID != 0x0a0b0c || !rep.HasClientData ||
		string(rep.Client.ClientID) != testDUID || rep.Client.IAs[0].IAID != 7 {
		t.Fatalf("reply header/form: %+v", rep)
	}
	ul, rl := wireLease(upd), wireLease(rep)
	if rl.Has&wire.HasPartnerLifetimeSent == 0 || rl.PartnerLifetimeSent != ul.PartnerLifetime {
		t.Errorf("PARTNER_LIFETIME_SENT %d, want exactly %d", rl.PartnerLifetimeSent, ul.PartnerLifetime)
	}
	if rl.BindingStatus != ul.BindingStatus || rl.StateExpiration != ul.StateExpiration || rl.Prefix != ul.Prefix {
		t.Errorf("copied fields differ: %+v vs %+v", rl, ul)
	}
	if rl.Has&wire.HasStatusCode != 0 || rep.Has&wire.FHasStatus != 0 {
		t.Error("STATUS_CODE on success")
	}
	calls := 0
	whole := ParseBndReply(rep, func(p netip.Prefix, ok bool, st uint16, pls int64) {
		calls++
		if p != b.Prefix || !ok || st != 0 || pls != fo.PartnerLifetime {
			t.Errorf("parsed %v %v %d %d", p, ok, st, pls)
		}
	})
	if whole != 0 || calls != 1 {
		t.Errorf("whole %d calls %d", whole, calls)
	}

	// The exact bits survive even where our conversion would not round
	// trip (a peer's time with no meaning to us).
	upd.Client.IAs[0].Leases[0].PartnerLifetime = 0xfffffffe
	rep = decodeFrame(t, AppendBndReply(nil, upd, []LeaseResult{{Accepted: true}}))
	if wireLease(rep).PartnerLifetimeSent != 0xfffffffe {
		t.Errorf("echo %#x", wireLease(rep).PartnerLifetimeSent)
	}

	// Prefix form answers in the prefix form.
	pb := engine.Binding{Kind: engine.KindPD, Prefix: netip.MustParsePrefix("2001:db8:200::/48"),
		Status: engine.StatusFree, StartOfState: tNow}
	var pfo engine.FOTimes
	upd = decodeFrame(t, AppendBndUpd(nil, 5, tNow, &pb, &pfo))
	rep = decodeFrame(t, AppendBndReply(nil, upd, []LeaseResult{{Accepted: true}}))
	if !rep.HasPrefix || rep.HasClientData || rep.Prefix.Prefix != pb.Prefix ||
		rep.Prefix.BindingStatus != uint8(engine.StatusFree) || rep.Prefix.Has&wire.HasPartnerLifetimeSent != 0 {
		t.Errorf("prefix-form reply %+v", rep.Prefix)
	}
}

// TestBndReplyPerLeaseRejection: a STATUS_CODE on an IAADDR/IAPREFIX
// rejects that lease only; leases without a result are rejected, never
// acked by default.
func TestBndReplyPerLeaseRejection(t *testing.T) {
	upd := multiLeaseUpd(t)
	res := []LeaseResult{{Accepted: true}, {Status: wire.StatusAddressInUse}}
	rep := decodeFrame(t, AppendBndReply(nil, upd, res))
	type got struct {
		p   string
		ok  bool
		st  uint16
		pls int64
	}
	var gs []got
	whole := ParseBndReply(rep, func(p netip.Prefix, ok bool, st uint16, pls int64) {
		gs = append(gs, got{p.String(), ok, st, pls})
	})
	want := []got{
		{"2001:db8::1/128", true, 0, wire.UnixTime(0x7fff0001)},
		{"2001:db8::2/128", false, wire.StatusAddressInUse, wire.UnixTime(0x7fff0002)},
		{"2001:db8:1::/56", false, statusUnspecFail, wire.UnixTime(0x7fff0003)},
	}
	if whole != 0 || len(gs) != len(want) {
		t.Fatalf("whole %d, %d leases", whole, len(gs))
	}
	for i := range want {
		if gs[i] != want[i] {
			t.Errorf("lease %d: %+v, want %+v", i, gs[i], want[i])
		}
	}
	if rep.Client.IAs[0].HasStatus || rep.Has&wire.FHasStatus != 0 {
		t.Error("a per-lease rejection leaked to a wider scope")
	}

	// An IA-level status covers the leases in that IA.
	rep.Client.IAs[1].HasStatus, rep.Client.IAs[1].Status = true, wire.StatusOutdatedBindingInfo
	rep.Client.IAs[1].Leases[0].Has &^= wire.HasStatusCode
	var last got
	ParseBndReply(rep, func(p netip.Prefix, ok bool, st uint16, pls int64) { last = got{p.String(), ok, st, pls} })
	if last.ok || last.st != wire.StatusOutdatedBindingInfo {
		t.Errorf("IA-level status: %+v", last)
	}
}

// TestBndReplyMissing: a BNDUPD with no binding is rejected as a whole,
// with a message-level MissingBindingInformation.
func TestBndReplyMissing(t *testing.T) {
	b, f := wire.BeginFrame(nil, wire.BndUpd, 77, 0)
	upd := decodeFrame(t, wire.EndFrame(b, f))
	if NumLeases(upd) != 0 {
		t.Fatal("leases in an empty BNDUPD")
	}
	var r engine.ReceivedLease
	if err := ReceivedFromWire(upd, 0, 0, &r); err != ErrNoLease {
		t.Errorf("ReceivedFromWire: %v", err)
	}
	rep := decodeFrame(t, AppendBndReply(nil, upd, nil))
	if rep.XID != 77 || rep.Has&wire.FHasStatus == 0 || rep.Status != wire.StatusMissingBindingInformation {
		t.Errorf("reply xid %d status %d has %#x", rep.XID, rep.Status, rep.Has)
	}
	called := false
	if whole := ParseBndReply(rep, func(netip.Prefix, bool, uint16, int64) { called = true }); whole != wire.StatusMissingBindingInformation || called {
		t.Errorf("whole %d called %v", whole, called)
	}
}

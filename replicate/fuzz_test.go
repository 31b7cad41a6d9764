package replicate

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Fuzz targets for what replicate reads off the partner link beyond
// framing (FuzzFrameReader): the CONNECT/CONNECTREPLY parameters and the
// binding options of BNDUPD/BNDREPLY. Seeds are in testdata/fuzz, written
// by TestFuzzCorpora -update-seeds from the encoders the link uses.

// checkHandshake judges a received message as CONNECT (secondary) and as
// CONNECTREPLY (primary) and checks each verdict against RFC 8156 §6.1–6.2,
// then that the answer we would send decodes to what it says.
func checkHandshake(b []byte, delta int16, pdPools bool) error {
	var m wire.FailoverMsg
	if m.Decode(b) != nil {
		return nil
	}
	c := testConfig(false)
	c.MaxUnacked = DefaultMaxUnacked
	c.DelegatesPrefixes = pdPools
	// What CONNECT_FLAGS we cannot process (checkFlags): variable-length
	// delegations, when we have pd-pools. Bits we do not know are ignored.
	cannot := func(m *wire.FailoverMsg, c *Config) bool {
		return c.DelegatesPrefixes && m.ConnectFlags&wire.ConnectFlagFixedPDLen == 0
	}
	now := time.Unix(wire.UnixTime(m.SentTime), 0).Add(time.Duration(delta) * time.Second)
	const need = wire.FHasVersion | wire.FHasMCLT | wire.FHasKeepalive | wire.FHasMaxUnacked

	p, r := checkConnect(&c, &m, now)
	if r == nil {
		skew := -time.Duration(delta) * time.Second
		switch {
		case m.Type != wire.Connect, m.Has&need != need, m.Version>>16 != ProtocolVersion>>16,
			time.Duration(m.MCLT)*time.Second != c.MCLT, m.KeepaliveTime == 0, cannot(&m, &c),
			m.RelationshipName != nil && string(m.RelationshipName) != c.Name,
			skew > MaxSkew || skew < -MaxSkew:
			return fmt.Errorf("accepted CONNECT %+v (skew %v)", m, skew)
		case p.Skew != skew || p.MCLT != c.MCLT || p.MaxUnacked != m.MaxUnacked ||
			p.Keepalive != time.Duration(m.KeepaliveTime)*time.Second || p.Version != m.Version:
			return fmt.Errorf("partner %+v from CONNECT %+v", p, m)
		}
		// Our accepting CONNECTREPLY satisfies a primary configured alike.
		reply := appendConnectReply(nil, &c, m.XID, m.SentTime, m.MCLT)
		var rm wire.FailoverMsg
		if err := decodeWhole(reply, &rm); err != nil {
			return fmt.Errorf("our CONNECTREPLY: %v", err)
		}
		pc := testConfig(true)
		pc.DelegatesPrefixes = c.DelegatesPrefixes
		if pp, r := checkConnectReply(&pc, &rm); r != nil || pp.MaxUnacked != c.MaxUnacked || rm.XID != m.XID {
			return fmt.Errorf("a primary refuses our CONNECTREPLY: %+v, %+v", r, pp)
		}
	} else if err := checkRefusal(r, &m); err != nil {
		return fmt.Errorf("CONNECT refusal: %v", err)
	}

	pc := testConfig(true)
	pc.DelegatesPrefixes = c.DelegatesPrefixes
	if p, r := checkConnectReply(&pc, &m); r == nil {
		if m.Has&need != need || m.Version>>16 != ProtocolVersion>>16 || time.Duration(m.MCLT)*time.Second != pc.MCLT ||
			m.KeepaliveTime == 0 || cannot(&m, &pc) || p.MaxUnacked != m.MaxUnacked {
			return fmt.Errorf("accepted CONNECTREPLY %+v", m)
		}
	} else if err := checkRefusal(r, &m); err != nil {
		return fmt.Errorf("CONNECTREPLY refusal: %v", err)
	}
	return nil
}

// checkRefusal: a refusal carries one of the statuses RFC 8156 names for
// the handshake and a reason, and the CONNECTREPLY (or DISCONNECT) that
// carries it decodes to exactly that, whatever the peer sent.
func checkRefusal(r *refusal, m *wire.FailoverMsg) error {
	switch r.status {
	case wire.StatusNotSupported, wire.StatusConfigurationConflict, wire.StatusMissingBindingInformation, wire.StatusExcessiveTimeSkew:
	default:
		return fmt.Errorf("status %d (%s)", r.status, r.reason)
	}
	if r.reason == "" {
		return errors.New("no reason")
	}
	if len(r.reason) > maxStatusText+maxQuotedName*4+200 {
		return fmt.Errorf("a %d-byte reason: it quotes too much of what the peer sent", len(r.reason))
	}
	for _, frame := range [][]byte{
		appendRefusal(nil, m.XID, 1, r.status, r.reason),
		appendDisconnect(nil, m.XID, 1, r.status, r.reason),
	} {
		var rm wire.FailoverMsg
		if err := decodeWhole(frame, &rm); err != nil {
			return fmt.Errorf("our answer to %q does not decode: %v", r.reason, err)
		}
		if rm.Has&wire.FHasStatus == 0 || rm.Status != r.status || string(rm.StatusMsg) != statusText(r.reason) || rm.XID != m.XID {
			return fmt.Errorf("our answer reads %d %q, want %d %q", rm.Status, rm.StatusMsg, r.status, r.reason)
		}
	}
	return nil
}

// decodeWhole checks one whole frame and decodes it.
func decodeWhole(frame []byte, m *wire.FailoverMsg) error {
	msg, rest, ok := wire.SplitFrame(frame)
	if !ok || len(rest) != 0 {
		return fmt.Errorf("frame of %d bytes does not split whole (length field %d)", len(frame), int(frame[0])<<8|int(frame[1]))
	}
	return m.Decode(msg)
}

// FuzzHandshake: CONNECT and CONNECTREPLY parameter parsing (checkConnect,
// checkConnectReply), with the receiver's clock delta seconds off the
// message's sent-time.
func FuzzHandshake(f *testing.F) {
	for _, s := range handshakeSeeds() {
		f.Add(s, int16(0), false)
	}
	f.Add(handshakeSeeds()["connect"], int16(6), false)
	f.Add(handshakeSeeds()["connect"], int16(-5), true)
	f.Fuzz(func(t *testing.T, b []byte, delta int16, pdPools bool) {
		if err := checkHandshake(b, delta, pdPools); err != nil {
			t.Fatal(err)
		}
	})
}

// checkBinding: for a decoded BNDUPD, each of its NumLeases leases reads
// (ReceivedFromWire) with the resource, lifetimes and form it carries, and
// no lease past them; and the BNDREPLY we answer it with, whatever the
// per-lease results, decodes and reads back (ParseBndReply) lease by lease
// in the same order: the same resource, the verdict given, the rejection
// status, F_PARTNER_LIFETIME_SENT equal to the F_PARTNER_LIFETIME received,
// and the echoed F_BINDING_STATUS. A BNDREPLY decoded from the input
// parses without panicking too.
func checkBinding(b []byte, verdicts []byte) error {
	var m wire.FailoverMsg
	if m.Decode(b) != nil {
		return nil
	}
	if m.Type == wire.BndReply {
		ParseBndReply(&m, func(netip.Prefix, bool, uint16, int64) {})
		return nil
	}
	if m.Type != wire.BndUpd {
		if ReceivedFromWire(&m, 0, 0, new(engine.ReceivedLease)) != ErrNotBndUpd {
			return fmt.Errorf("ReceivedFromWire read a %s", wire.FailoverName(m.Type))
		}
		return nil
	}
	n := NumLeases(&m)
	type want struct {
		p       netip.Prefix
		pl      int64
		status  uint8
		hasStat bool
	}
	var wants []want
	var r engine.ReceivedLease
	for i := 0; i < n; i++ {
		if err := ReceivedFromWire(&m, i, 0, &r); err != nil {
			return fmt.Errorf("lease %d of %d: %v", i, n, err)
		}
		ia, l := leaseAt(&m, i)
		if r.Prefix != l.Prefix || r.Preferred != l.Preferred || r.Valid != l.Valid ||
			(ia == nil) != (r.Form == engine.FormPrefix) || ia != nil && r.IAID != ia.IAID {
			return fmt.Errorf("lease %d read as %+v from %+v", i, r, *l)
		}
		if ia != nil && string(m.Client.ClientID) != r.DUID {
			return fmt.Errorf("lease %d: DUID %x, CLIENTID %x", i, r.DUID, m.Client.ClientID)
		}
		w := want{p: l.Prefix, status: l.BindingStatus, hasStat: l.Has&wire.HasBindingStatus != 0}
		if l.Has&wire.HasPartnerLifetime != 0 {
			w.pl = unixTime(l.PartnerLifetime)
		}
		wants = append(wants, w)
	}
	if err := ReceivedFromWire(&m, n, 0, &r); err != ErrNoLease {
		return fmt.Errorf("lease %d of %d: %v, want ErrNoLease", n, n, err)
	}
	results := make([]LeaseResult, n)
	for i := range results {
		if i < len(verdicts) {
			results[i] = LeaseResult{Accepted: verdicts[i]&1 != 0, Status: uint16(verdicts[i] >> 1)}
		}
	}
	reply := AppendBndReply(nil, &m, results)
	var rm wire.FailoverMsg
	if err := decodeWhole(reply, &rm); err != nil {
		return fmt.Errorf("our BNDREPLY does not decode: %v", err)
	}
	if rm.Type != wire.BndReply || rm.XID != m.XID {
		return fmt.Errorf("BNDREPLY %s xid %d for xid %d", wire.FailoverName(rm.Type), rm.XID, m.XID)
	}
	i := 0
	var err error
	whole := ParseBndReply(&rm, func(p netip.Prefix, accepted bool, status uint16, pls int64) {
		if err != nil {
			return
		}
		if i >= n {
			err = fmt.Errorf("BNDREPLY echoes more than the %d leases", n)
			return
		}
		w, res := wants[i], results[i]
		wantStatus := uint16(0)
		if !res.Accepted {
			wantStatus = res.Status
			if wantStatus == 0 {
				wantStatus = statusUnspecFail
			}
		}
		switch {
		case p != w.p:
			err = fmt.Errorf("lease %d: BNDREPLY names %v, BNDUPD %v", i, p, w.p)
		case accepted != res.Accepted || status != wantStatus:
			err = fmt.Errorf("lease %d: BNDREPLY reads accepted=%v status %d, we said %+v", i, accepted, status, res)
		case pls != w.pl:
			err = fmt.Errorf("lease %d: F_PARTNER_LIFETIME_SENT %d, F_PARTNER_LIFETIME %d", i, pls, w.pl)
		case w.hasStat && EchoedStatus(&rm, p) == 0 && w.status != 0:
			err = fmt.Errorf("lease %d: F_BINDING_STATUS %d not echoed", i, w.status)
		}
		i++
	})
	switch {
	case err != nil:
		return err
	case n == 0 && whole != wire.StatusMissingBindingInformation:
		return fmt.Errorf("BNDUPD without a lease answered with status %d", whole)
	case n > 0 && (whole != 0 || i != n):
		return fmt.Errorf("BNDREPLY: whole status %d, %d of %d leases", whole, i, n)
	}
	return nil
}

// FuzzBndUpd: the binding options of BNDUPD and BNDREPLY (CLIENT_DATA,
// the IAs, IAADDR/IAPREFIX and their failover options 114–134) as
// replicate reads them, and the BNDREPLY built in answer.
func FuzzBndUpd(f *testing.F) {
	for _, s := range bindingSeeds() {
		f.Add(s, []byte{1, 0, 3 << 1, 19 << 1})
	}
	f.Fuzz(func(t *testing.T, b, verdicts []byte) {
		if err := checkBinding(b, verdicts); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLongRelationshipName: the input FuzzHandshake's property found
// broken. A CONNECT naming a 30 KB relationship was refused with a reason
// quoting it whole, in a CONNECTREPLY too long for its 16-bit length.
func TestLongRelationshipName(t *testing.T) {
	for _, complete := range []bool{false, true} {
		b, f := wire.BeginFrame(nil, wire.Connect, 1, 800_000_000)
		b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, ProtocolVersion)
		if complete {
			b = wire.AppendUint32Option(b, wire.OptFMCLT, 30)
			b = wire.AppendUint32Option(b, wire.OptFKeepaliveTime, 30)
			b = wire.AppendUint32Option(b, wire.OptFMaxUnackedBndUpd, 30)
		}
		name := make([]byte, 30000)
		for i := range name {
			name[i] = 0xff
		}
		b = wire.AppendOption(b, wire.OptFRelationshipName, name)
		b = wire.EndFrame(b, f)
		if err := checkHandshake(b[2:], 0, false); err != nil {
			t.Fatalf("complete=%v: %v", complete, err)
		}
	}
}

package engine

// Binding updates through the engine (partner_updates.go): a primary and a
// secondary in NORMAL, the primary's journaled leases carried to the
// secondary as InputBndUpd by hand (received, below, is what the wire
// would carry), the secondary's answers carried back as InputBndReply.

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// received is the ReceivedLease a partner decodes from the BNDUPD that
// carries b, built at base (LQ_BASE_TIME), with no clock skew. It mirrors
// replicate's encoder: the timeout options only when the status has a
// timeout, a pending partner-lifetime or else the acked one, and for
// ACTIVE the client's expiry when neither is known.
func received(b *Binding, base int64) ReceivedLease {
	u := ReceivedLease{Form: FormClient, Kind: b.Kind, Prefix: b.Prefix, DUID: b.DUID, IAID: b.IAID,
		Status: b.Status, Preferred: b.Preferred, Valid: b.Valid, BaseTime: base,
		CLTT: b.CLTT, RawCLTT: b.CLTT, StartOfState: b.StartOfState, PartnerRawCLTT: b.PartnerRawCLTT}
	if b.Status == StatusActive || b.StateExpiration > b.StartOfState {
		u.StateExpiration, u.ExpirationTime = b.StateExpiration, b.ExpirationTime
		u.PartnerLifetime = b.PartnerLifetime
		if u.PartnerLifetime == 0 {
			u.PartnerLifetime = b.AckedPartnerLifetime
		}
		if b.Status == StatusActive { // as the encoder: the expiry is the floor
			if u.StateExpiration == 0 {
				u.StateExpiration = b.Expires
			}
			if u.PartnerLifetime == 0 {
				u.PartnerLifetime = b.Expires
			}
		}
	}
	return u
}

// stepRd steps in and returns the one Ready it produced (events kept as
// the journal).
func (s *foSide) stepRd(in Input) ([]Event, []PeerMsg) {
	s.tb.Helper()
	if s.e.HasReady() {
		s.tb.Fatal("a Ready was left over")
	}
	if err := s.e.Step(s.now, in); err != nil {
		s.tb.Fatalf("Step(%v): %v", in.Kind, err)
	}
	rd := s.e.Ready()
	s.events = append(s.events, rd.Events...)
	evs, msgs := slices.Clone(rd.Events), slices.Clone(rd.PeerMsgs)
	s.e.Advance(rd)
	if s.e.Len() <= 1000 { // the split tests hold thousands: their wantReplayed checks
		checkInvariants(s.tb, s.e)
	}
	return evs, msgs
}

// tickFo advances the clock by d, ticks, and returns the lease events
// (the endpoints' stored-image refreshes left out).
func (s *foSide) tickFo(d time.Duration) []Event {
	s.advance(d)
	evs, _ := s.stepRd(Input{Kind: InputTick})
	return slices.DeleteFunc(evs, func(ev Event) bool { return ev.Kind == EventEndpoint })
}

// bndUpd feeds one lease to s and returns the Ready's events and its one
// BNDREPLY entry.
func (s *foSide) bndUpd(t *testing.T, u *ReceivedLease, xid uint32) ([]Event, PeerBndReply) {
	t.Helper()
	evs, msgs := s.stepRd(Input{Kind: InputBndUpd, Rel: 0, Upd: u, XID: xid})
	if len(msgs) != 1 || msgs[0].Kind != ActSendBndReply || msgs[0].Rel != 0 {
		t.Fatalf("peer messages %+v, want one send-bndreply", msgs)
	}
	return evs, msgs[0].BndReply
}

// ack feeds the partner's answer rep to s, as the BNDREPLY carries it.
func (s *foSide) ack(t *testing.T, rep PeerBndReply) []Event {
	t.Helper()
	evs, msgs := s.stepRd(Input{Kind: InputBndReply, Rel: 0, Prefix: rep.Prefix, Accepted: rep.Accepted,
		StatusCode: rep.StatusCode, PartnerLifetimeSent: rep.PartnerLifetimeSent, BindingStatus: rep.BindingStatus})
	if len(msgs) != 0 {
		t.Fatalf("a BNDREPLY made peer messages: %+v", msgs)
	}
	return evs
}

// grant leases an address to client c on s and returns the committed record.
func (s *foSide) grant(t *testing.T, c int) Binding {
	t.Helper()
	s.client(s.msgFor(wire.Solicit, c, true, false)).reply(t)
	r := s.client(s.msgFor(wire.Request, c, true, false))
	r.reply(t)
	if len(r.events) != 1 {
		t.Fatalf("REQUEST: %d events", len(r.events))
	}
	return r.events[0].Binding
}

func lookup(t *testing.T, s *foSide, p netip.Prefix) Binding {
	t.Helper()
	b, ok := s.e.Lookup(p)
	if !ok {
		t.Fatalf("no record of %v", p)
	}
	return b
}

func unacked(s *foSide) []netip.Prefix {
	var out []netip.Prefix
	s.e.ForEachUnacked(0, func(b *Binding) bool { out = append(out, b.Prefix); return true })
	return out
}

// wantReplayed checks that each side's journal rebuilds its live state.
func wantReplayed(t *testing.T, sides ...*foSide) {
	t.Helper()
	for _, x := range sides {
		fresh := replayed(t, x)
		checkInvariants(t, x.e)
		checkInvariants(t, fresh)
	}
}

// replayed rebuilds a fresh engine from x's journal with Apply alone and
// checks it has x's digest.
func replayed(t *testing.T, x *foSide) *Engine {
	t.Helper()
	fresh, err := New(*x.e.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range x.events {
		fresh.Apply(ev)
	}
	if fresh.Digest() != x.e.Digest() {
		t.Fatalf("replayed digest %016x, live %016x", fresh.Digest(), x.e.Digest())
	}
	return fresh
}

// RFC 8156 §7.5.5, §7.7 and the MCLT example (§4.4): the primary's lease
// reaches the secondary, whose BNDREPLY (sent only once its record is
// durable) lets the primary give the client the full lifetime.
func TestFailoverBndUpdReplicates(t *testing.T) {
	p, s := newPair(t)
	b := p.grant(t, 1)
	if got := unacked(p); !slices.Equal(got, []netip.Prefix{b.Prefix}) {
		t.Fatalf("unacked on the primary %v", got)
	}
	if got := unacked(s); len(got) != 0 {
		t.Fatalf("unacked on the secondary %v", got)
	}

	s.advance(time.Second)
	u := received(&b, p.now.Unix())
	evs, rep := s.bndUpd(t, &u, 42)
	if !u.Configured {
		t.Fatal("Configured not set")
	}
	// The reply is in the same Ready as the event that records the lease:
	// the loop sends it only once that Ready is journaled.
	if len(evs) != 1 || evs[0].Kind != EventLease || evs[0].Why != CausePartner {
		t.Fatalf("events %+v, want one lease event caused by the partner", evs)
	}
	if !rep.Accepted || rep.StatusCode != 0 || rep.XID != 42 || rep.Prefix != b.Prefix || rep.Kind != KindNA ||
		rep.PartnerLifetimeSent != b.PartnerLifetime || rep.BindingStatus != StatusActive ||
		rep.StateExpiration != b.StateExpiration || rep.SendUpdate {
		t.Fatalf("reply %+v", rep)
	}
	sb := lookup(t, s, b.Prefix)
	if sb.Status != StatusActive || sb.DUID != b.DUID || sb.IAID != b.IAID || sb.ExpirationTime != b.PartnerLifetime ||
		sb.Expires != b.Expires || sb.PartnerRawCLTT != b.CLTT || sb.StateExpiration != b.StateExpiration {
		t.Fatalf("secondary's record %+v", sb)
	}
	if got := unacked(s); len(got) != 0 {
		t.Fatalf("the secondary owes its partner %v", got)
	}

	evs = p.ack(t, rep)
	pb := lookup(t, p, b.Prefix)
	if len(evs) != 1 || evs[0].Why != CausePartner || evs[0].Binding != pb {
		t.Fatalf("ack events %+v", evs)
	}
	if pb.AckedPartnerLifetime != b.PartnerLifetime || pb.PartnerLifetime != 0 || pb.Status != StatusActive {
		t.Fatalf("primary's record after the ack %+v", pb)
	}
	if got := unacked(p); len(got) != 0 {
		t.Fatalf("unacked after the ack %v", got)
	}
	// The same ack again changes nothing.
	if evs := p.ack(t, rep); len(evs) != 0 {
		t.Fatalf("a repeated ack made events %+v", evs)
	}

	// At T1 the client renews and gets the full desired lifetime.
	p.advance(30 * time.Minute)
	r := p.client(p.msgFor(wire.Renew, 1, true, false))
	wantTimes(t, "RENEW after the BNDREPLY", findIA(t, &r.reply(t).Msg, KindNA, 1),
		uint32(foPref/time.Second), uint32(foValid/time.Second), uint32(foPref/time.Second/2), uint32(foPref/time.Second*4/5))
	b2 := r.events[0].Binding
	if b2.PartnerLifetime != LazyPartnerLifetime(p.now.Unix(), uint32(foValid/time.Second), uint32(foValid/time.Second)) {
		t.Fatalf("renewed %+v", b2)
	}

	// The renewal travels too; the secondary's expiration-time follows.
	u = received(&b2, p.now.Unix())
	s.advance(30 * time.Minute)
	if _, rep = s.bndUpd(t, &u, 43); !rep.Accepted {
		t.Fatalf("renewal rejected: %+v", rep)
	}
	if sb := lookup(t, s, b.Prefix); sb.ExpirationTime != b2.PartnerLifetime || sb.Expires != b2.Expires {
		t.Fatalf("secondary after the renewal %+v", sb)
	}
	p.ack(t, rep)
	if pb := lookup(t, p, b.Prefix); pb.AckedPartnerLifetime != b2.PartnerLifetime || pb.PartnerLifetime != 0 {
		t.Fatalf("primary after the second ack %+v", pb)
	}
	wantReplayed(t, p, s)
}

// §7.5.3, §7.5.4: rejections, and the partner-needs-update flag that keeps
// two disagreeing servers from storming each other.
func TestFailoverBndUpdRejects(t *testing.T) {
	p, s := newPair(t)
	b := p.grant(t, 1)
	_, rep := s.bndUpd(t, ptr(received(&b, p.now.Unix())), 1)
	p.ack(t, rep)

	// A different client for the primary's ACTIVE address, no later than
	// the primary's own: AddressInUse. The flag is set, and no BNDUPD of
	// ours follows at once.
	other := received(&b, p.now.Unix())
	other.DUID = string(clientDUID(9))
	p.advance(time.Minute)
	for i := range 2 {
		evs, rep := p.bndUpd(t, ptr(other), 7)
		if rep.Accepted || rep.StatusCode != wire.StatusAddressInUse || rep.SendUpdate {
			t.Fatalf("conflict %d: reply %+v", i, rep)
		}
		pb := lookup(t, p, b.Prefix)
		if !pb.PartnerNeedsUpdate || pb.DUID != b.DUID || pb.Status != StatusActive {
			t.Fatalf("conflict %d: record %+v", i, pb)
		}
		if want := 1 - i; len(evs) != want || want == 1 && (evs[0].Why != CausePartner || evs[0].Binding != pb) {
			t.Fatalf("conflict %d: events %+v", i, evs)
		}
	}
	if got := unacked(p); !slices.Equal(got, []netip.Prefix{b.Prefix}) {
		t.Fatalf("a lease the partner needs is not listed: %v", got)
	}
	// The secondary, told the same, accepts the primary's client.
	if _, rep := s.bndUpd(t, ptr(received(&b, p.now.Unix())), 8); !rep.Accepted {
		t.Fatalf("secondary rejected the primary's ACTIVE: %+v", rep)
	}
	// The flag clears when the partner acks our update.
	p.ack(t, PeerBndReply{Prefix: b.Prefix, Accepted: true, BindingStatus: StatusActive})
	if pb := lookup(t, p, b.Prefix); pb.PartnerNeedsUpdate {
		t.Fatalf("flag survived the ack: %+v", pb)
	}

	// An EXPIRED for a lease the primary holds ACTIVE, before its
	// state-expiration-time: Outdated. The first rejection asks for our
	// BNDUPD at once, the second does not.
	c := p.grant(t, 2)
	old := received(&c, p.now.Unix())
	old.Status, old.StartOfState = StatusExpired, p.now.Unix()-3600
	old.StateExpiration, old.PartnerLifetime, old.ExpirationTime = 0, 0, 0
	for i, wantSend := range []bool{true, false} {
		evs, rep := p.bndUpd(t, ptr(old), 9)
		if rep.Accepted || rep.StatusCode != wire.StatusOutdatedBindingInfo || rep.SendUpdate != wantSend {
			t.Fatalf("outdated %d: reply %+v", i, rep)
		}
		if pb := lookup(t, p, c.Prefix); !pb.PartnerNeedsUpdate || pb.Status != StatusActive {
			t.Fatalf("outdated %d: record %+v", i, pb)
		}
		if len(evs) != 1-i {
			t.Fatalf("outdated %d: events %+v", i, evs)
		}
	}
	// The partner rejecting our update as outdated sets the flag; another
	// rejection leaves it alone.
	d := p.grant(t, 3)
	p.ack(t, PeerBndReply{Prefix: d.Prefix, StatusCode: wire.StatusAddressInUse})
	if pb := lookup(t, p, d.Prefix); pb.PartnerNeedsUpdate || pb.PartnerLifetime != d.PartnerLifetime {
		t.Fatalf("after AddressInUse from the partner: %+v", pb)
	}
	evs := p.ack(t, PeerBndReply{Prefix: d.Prefix, StatusCode: wire.StatusOutdatedBindingInfo})
	if pb := lookup(t, p, d.Prefix); !pb.PartnerNeedsUpdate || len(evs) != 1 || evs[0].Why != CausePartner {
		t.Fatalf("after Outdated from the partner: %+v, %+v", pb, evs)
	}

	// Not this relationship's: ConfigurationConflict. Missing data:
	// MissingBindingInformation. Neither changes anything.
	for _, c := range []struct {
		mod  func(*ReceivedLease)
		want uint16
	}{
		{func(u *ReceivedLease) { u.Prefix = mustPrefix("2001:db8:9::1/128") }, wire.StatusConfigurationConflict},
		{func(u *ReceivedLease) { u.Prefix = mustPrefix("2001:db8:1::1/128") }, wire.StatusConfigurationConflict}, // outside the pools
		{func(u *ReceivedLease) { u.Kind = KindPD }, wire.StatusConfigurationConflict},
		{func(u *ReceivedLease) { u.Prefix = mustPrefix("2001:db8:1::1001/127") }, wire.StatusConfigurationConflict},
		{func(u *ReceivedLease) { u.DUID = "" }, wire.StatusMissingBindingInformation},
	} {
		u := received(&b, p.now.Unix())
		u.Prefix = mustPrefix("2001:db8:1::1abc/128")
		c.mod(&u)
		evs, rep := s.bndUpd(t, &u, 10)
		if rep.Accepted || rep.StatusCode != c.want || len(evs) != 0 {
			t.Fatalf("%+v: reply %+v, events %+v", u, rep, evs)
		}
	}
	// An ack for a resource with no record, or another relationship's, is
	// nothing to act on; an out-of-range relationship is an input error.
	if evs := p.ack(t, PeerBndReply{Prefix: mustPrefix("2001:db8:1::1abc/128"), Accepted: true}); len(evs) != 0 {
		t.Fatalf("ack of nothing: %+v", evs)
	}
	for _, in := range []Input{{Kind: InputBndUpd}, {Kind: InputBndUpd, Rel: 1, Upd: ptr(old)}, {Kind: InputBndReply, Rel: 1, Prefix: b.Prefix}, {Kind: InputBndReply}} {
		if err := p.e.Step(p.now, in); err != ErrInput {
			t.Fatalf("%+v: %v", in, err)
		}
	}
	if CausePartner.String() != "partner" || ActSendBndReply.String() != "send-bndreply" {
		t.Fatal(CausePartner.String(), ActSendBndReply.String())
	}
	wantReplayed(t, p, s)
}

func ptr[T any](v T) *T { return &v }

// The same client comes back for an address whose RELEASED is still owed to
// the partner (§4.2.2.1: going back to the same client is no reuse). The
// new grant is MCLT-capped (the old ack may be gone from the partner), but
// the partner that has not yet heard of the release still holds our old
// partner-lifetime and may renew on it in CI, so the BNDUPD that follows
// carries at least that much (pair simulation, seed 97). And the late ack
// of the RELEASED, whose lifetimes the partner then forgets, is no ack of
// the new grant's (seed 351).
func TestFailoverBndUpdSameClientBeforeReleaseAck(t *testing.T) {
	p, s := newPair(t)
	b := p.grant(t, 1)
	_, rep := s.bndUpd(t, ptr(received(&b, p.now.Unix())), 1)
	p.ack(t, rep)
	// Renewed in full and acked: the partner now holds now + 1.5 × valid,
	// more than a fresh MCLT-capped grant's lazy partner-lifetime.
	p.advance(30 * time.Minute)
	rn := p.client(p.msgFor(wire.Renew, 1, true, false))
	rn.reply(t)
	b = rn.events[0].Binding
	_, rep = s.bndUpd(t, ptr(received(&b, p.now.Unix())), 4)
	p.ack(t, rep)
	acked := lookup(t, p, b.Prefix).AckedPartnerLifetime
	if acked != b.PartnerLifetime || b.Valid != uint32(foValid/time.Second) {
		t.Fatalf("renewal %+v, ack_pl %d", b, acked)
	}

	p.advance(time.Minute)
	r := p.client(p.msgFor(wire.Release, 1, true, false))
	r.reply(t)
	rb := lookup(t, p, b.Prefix)
	if rb.Status != StatusReleased {
		t.Fatalf("release %+v", rb)
	}
	released := received(&rb, p.now.Unix())
	p.advance(time.Second)
	nb := p.grant(t, 1)
	if nb.Prefix != b.Prefix || nb.Status != StatusActive {
		t.Fatalf("the client got %+v, not its old address back", nb)
	}
	if nb.AckedPartnerLifetime != 0 || nb.PartnerLifetime < acked || nb.Valid > uint32(foMCLT/time.Second) {
		t.Fatalf("re-grant %+v: want ack_pl 0, partner-lifetime ≥ %d, valid ≤ MCLT", nb, acked)
	}

	// The secondary takes the RELEASED (it was sent before the re-grant)
	// and frees the address; its ack reaches the primary late.
	_, rep = s.bndUpd(t, &released, 2)
	if !rep.Accepted || rep.BindingStatus != StatusReleased {
		t.Fatalf("RELEASED reply %+v", rep)
	}
	p.ack(t, rep)
	if pb := lookup(t, p, b.Prefix); pb.Status != StatusActive || pb.AckedPartnerLifetime != 0 || pb.PartnerLifetime != nb.PartnerLifetime {
		t.Fatalf("after the RELEASED's ack %+v, want the re-grant's times unchanged", pb)
	}
	// A renewal is still capped by MCLT alone.
	p.advance(time.Minute)
	rn = p.client(p.msgFor(wire.Renew, 1, true, false))
	if ia := findIA(t, &rn.reply(t).Msg, KindNA, 1); ia.NumAddrs != 1 || ia.Addrs[0].Valid > uint32(foMCLT/time.Second) {
		t.Fatalf("renewal before the new grant's ack: %+v", ia.Addrs[:ia.NumAddrs])
	}
	// The new grant's own ack counts.
	cur := lookup(t, p, b.Prefix)
	_, rep = s.bndUpd(t, ptr(received(&cur, p.now.Unix())), 3)
	p.ack(t, rep)
	if pb := lookup(t, p, b.Prefix); !rep.Accepted || pb.AckedPartnerLifetime != cur.PartnerLifetime || pb.PartnerLifetime != 0 {
		t.Fatalf("after the new grant's ack %+v (reply %+v)", pb, rep)
	}
	wantReplayed(t, p, s)
}

// §5.5.1 (facts §6): an EXPIRED lease is not freed until the partner acks
// the BNDUPD that says so, whatever ReclaimAfter says; then it passes
// PENDING-FREE to its owner's free pool. Both servers expiring the same
// lease agree on it.
func TestFailoverBndUpdExpiredHeldUntilAck(t *testing.T) {
	p, s := newPair(t)
	b := p.grant(t, 1)
	_, rep := s.bndUpd(t, ptr(received(&b, p.now.Unix())), 1)
	p.ack(t, rep)
	active := rep

	// Both expire it (MCLT-capped: an hour), and keep it well past
	// ReclaimAfter.
	for _, x := range []*foSide{p, s} {
		evs := x.tickFo(foMCLT + time.Minute)
		if len(evs) != 1 || evs[0].Binding.Status != StatusExpired || evs[0].Why != CauseExpiry {
			t.Fatalf("expiry %+v", evs)
		}
		if evs := x.tickFo(x.e.Config().ReclaimAfter + time.Hour); len(evs) != 0 {
			t.Fatalf("an unacked EXPIRED record was reclaimed: %+v", evs)
		}
		if xb := lookup(t, x, b.Prefix); xb.Status != StatusExpired {
			t.Fatalf("record %+v", xb)
		}
		if got := unacked(x); !slices.Equal(got, []netip.Prefix{b.Prefix}) {
			t.Fatalf("EXPIRED not listed as unacked: %v", got)
		}
	}
	pb := lookup(t, p, b.Prefix)

	// A late ack of the ACTIVE update frees nothing.
	p.ack(t, active)
	if xb := lookup(t, p, b.Prefix); xb.Status != StatusExpired {
		t.Fatalf("freed by the ack of an older status: %+v", xb)
	}

	// The primary's EXPIRED reaches the secondary, which expired it too:
	// the two agree, so it is accepted, and the secondary moves on to FREE
	// (an odd address is the primary's).
	evs, rep := s.bndUpd(t, ptr(received(&pb, p.now.Unix())), 2)
	if !rep.Accepted || rep.BindingStatus != StatusExpired || rep.PartnerLifetimeSent != 0 {
		t.Fatalf("EXPIRED reply %+v", rep)
	}
	if len(evs) != 1 || evs[0].Binding.Status != StatusFree || evs[0].Why != CausePartner {
		t.Fatalf("secondary events %+v", evs)
	}
	// The BNDREPLY frees the primary's record: FREE at once, reclaimed by
	// the next tick.
	evs = p.ack(t, rep)
	if len(evs) != 1 || evs[0].Binding.Status != StatusFree || evs[0].Binding.StartOfState != p.now.Unix() {
		t.Fatalf("primary events after the ack %+v", evs)
	}
	if got := unacked(p); len(got) != 0 {
		t.Fatalf("still unacked %v", got)
	}
	for _, x := range []*foSide{p, s} {
		evs := x.tickFo(time.Second)
		if len(evs) != 1 || evs[0].Kind != EventFree {
			t.Fatalf("reclaim %+v", evs)
		}
		if _, ok := x.e.Lookup(b.Prefix); ok {
			t.Fatal("record survived")
		}
	}
	// The primary may now give the address to another client.
	p.advance(time.Minute)
	for c := 10; c < 2100; c++ {
		if g := p.grant(t, c); g.Prefix == b.Prefix {
			break
		}
		if c == 2099 {
			t.Fatal("the freed address never came back")
		}
	}

	// A RELEASED record is held the same way.
	r := p.client(p.msgFor(wire.Release, 10, true, false))
	r.reply(t)
	rb := r.events[0].Binding
	if rb.Status != StatusReleased {
		t.Fatalf("release %+v", rb)
	}
	p.tickFo(p.e.Config().ReclaimAfter + time.Hour)
	if xb := lookup(t, p, rb.Prefix); xb.Status != StatusReleased {
		t.Fatalf("released record %+v", xb)
	}
	p.ack(t, PeerBndReply{Prefix: rb.Prefix, Accepted: true, BindingStatus: StatusReleased})
	if xb := lookup(t, p, rb.Prefix); xb.Status != FreeStatus(KindNA, rb.Prefix) {
		t.Fatalf("released record after the ack %+v", xb)
	}
	wantReplayed(t, p, s)
}

// §8.4.1, §5.5.1: in PARTNER-DOWN the secondary takes over the leases it
// was told of — the same client keeps its address, uncapped — and records
// owed to a partner that is down are reclaimed after MCLT (and ReusableAt)
// instead of waiting for an ack.
func TestFailoverBndUpdPartnerDownTakeover(t *testing.T) {
	p, s := newPair(t)
	b := p.grant(t, 1)
	_, rep := s.bndUpd(t, ptr(received(&b, p.now.Unix())), 1)
	p.ack(t, rep)
	c := p.grant(t, 2)
	_, rep = s.bndUpd(t, ptr(received(&c, p.now.Unix())), 2)

	// The primary dies. The secondary goes through
	// COMMUNICATIONS-INTERRUPTED, where client 2's lease runs out (owed,
	// no time to reclaim it), into PARTNER-DOWN.
	s.advance(time.Minute)
	if err := s.step(Input{Kind: InputPeerDown, Rel: 0}); err != nil {
		t.Fatal(err)
	}
	s.held[heldKey{1, KindNA, 1}] = []netip.Prefix{b.Prefix}
	m := s.msgFor(wire.Rebind, 1, true, false)
	r := s.client(m)
	if a := leasedAddr(t, findIA(t, &r.reply(t).Msg, KindNA, 1)); a != b.Prefix.Addr() {
		t.Fatalf("secondary in CI rebound to %v", a)
	}
	s.tickFo(foMCLT)
	if sb := lookup(t, s, c.Prefix); sb.Status != StatusExpired {
		t.Fatalf("client 2's lease %+v", sb)
	}
	if err := s.step(Input{Kind: InputAdminPartnerDown, Rel: 0}); err != nil {
		t.Fatal(err)
	}
	if s.state() != StatePartnerDown {
		t.Fatalf("state %v", s.state())
	}
	pdEntry := s.now.Unix()

	// Takeover: client 1 rebinds and keeps its address, with the full
	// lifetime.
	s.advance(time.Minute)
	r = s.client(m)
	ia := findIA(t, &r.reply(t).Msg, KindNA, 1)
	if a := leasedAddr(t, ia); a != b.Prefix.Addr() {
		t.Fatalf("secondary in PD gave %v, want %v", a, b.Prefix.Addr())
	}
	wantTimes(t, "REBIND in PD", ia, uint32(foPref/time.Second), uint32(foValid/time.Second),
		uint32(foPref/time.Second/2), uint32(foPref/time.Second*4/5))
	if sb := lookup(t, s, b.Prefix); sb.DUID != b.DUID || sb.Status != StatusActive {
		t.Fatalf("taken over %+v", sb)
	}

	// Client 2's EXPIRED record waits for MCLT after the latest time the
	// partner may have promised (its expiration-time), not for an ack.
	sc := lookup(t, s, c.Prefix)
	at := ReusableAt(&sc, false, true, pdEntry, uint32(foMCLT/time.Second))
	at = max(at, sc.StartOfState+int64(s.e.Config().ReclaimAfter.Seconds()))
	if at <= s.now.Unix() || at == Never {
		t.Fatalf("reusable at %d (now %d)", at, s.now.Unix())
	}
	s.advance(time.Duration(at-s.now.Unix()-1) * time.Second)
	if evs := s.tickFo(0); slices.ContainsFunc(evs, func(ev Event) bool { return ev.Binding.Prefix == c.Prefix }) {
		t.Fatalf("reclaimed a second early: %+v", evs)
	}
	evs := s.tickFo(time.Second)
	if !slices.ContainsFunc(evs, func(ev Event) bool { return ev.Kind == EventFree && ev.Binding.Prefix == c.Prefix }) {
		t.Fatalf("not reclaimed at %d: %+v", s.now.Unix(), evs)
	}
	wantReplayed(t, p, s)
}

package engine

// Failover wired into the engine (failover.go): two engines, a primary and
// a secondary, driven by hand — their STATE messages carried from one's
// Ready.PeerMsgs to the other's InputPeerState — through STARTUP, NORMAL,
// COMMUNICATIONS-INTERRUPTED and PARTNER-DOWN, checking at each stage
// which clients are answered, from which half of the pool, and with what
// lifetimes.

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

const (
	foMCLT  = time.Hour
	foValid = 72 * time.Hour
	foPref  = 48 * time.Hour
)

// foConfig is basicConfig with every subnet in relationship pair-a, MCLT
// 1 h and a desired valid lifetime of 3 days.
func foConfig(primary bool, duid []byte) Config {
	cfg := basicConfig()
	cfg.ServerDUID = duid
	cfg.Valid, cfg.Preferred = foValid, foPref
	cfg.Relationships = []RelationshipConfig{{Name: "pair-a", Primary: primary, MCLT: foMCLT}}
	for i := range cfg.Subnets {
		cfg.Subnets[i].Relationship = "pair-a"
	}
	return cfg
}

// foSide is one engine of the pair and everything it has journaled.
type foSide struct {
	*tester
	events []Event
	msgs   []PeerMsg // peer messages not yet delivered
}

func newFoSide(t *testing.T, primary bool) *foSide {
	duid := otherServerDUID
	if primary {
		duid = testServerDUID
	}
	return &foSide{tester: newTester(t, foConfig(primary, duid))}
}

// collect takes the Ready: events are kept (the journal), peer messages
// queued for delivery.
func (s *foSide) collect() *result {
	rd := s.e.Ready()
	s.events = append(s.events, rd.Events...)
	s.msgs = append(s.msgs, rd.PeerMsgs...)
	r := &result{events: slices.Clone(rd.Events)}
	for _, rp := range rd.Replies {
		r.replies = append(r.replies, append([]byte(nil), rp.Data...))
	}
	s.e.Advance(rd)
	return r
}

func (s *foSide) step(in Input) error {
	err := s.e.Step(s.now, in)
	s.collect()
	return err
}

// client sends m like tester.send, keeping the events.
func (s *foSide) client(m tMsg, h ...how) *result {
	s.tb.Helper()
	r := s.send(m, h...)
	s.events = append(s.events, r.events...)
	return r
}

func (s *foSide) state() State {
	in, _ := s.e.Endpoint(0)
	return in.State
}

// pump delivers queued STATEs to the other side and answers UPDREQ and
// UPDREQALL with an UPDDONE (nothing to send: the pair has no bindings the
// other lacks), until neither side has anything left.
func pump(t *testing.T, a, b *foSide) {
	t.Helper()
	for range 50 {
		moved := false
		for _, pair := range [2][2]*foSide{{a, b}, {b, a}} {
			from, to := pair[0], pair[1]
			msgs := from.msgs
			from.msgs = nil
			for _, m := range msgs {
				moved = true
				switch m.Kind {
				case ActSendState:
					if err := to.step(Input{Kind: InputPeerState, Rel: 0, State: m.State, Flags: m.Flags, Start: m.Start}); err != nil {
						t.Fatal(err)
					}
				case ActSendUpdReq, ActSendUpdReqAll:
					if err := from.step(Input{Kind: InputUpdDone, Rel: 0}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if !moved {
			return
		}
	}
	t.Fatal("the pair never settled")
}

func (s *foSide) advance(d time.Duration) { s.now = s.now.Add(d) }

// newPair starts both engines at t0 (STARTUP), connects them and exchanges
// STATEs until both are in NORMAL.
func newPair(t *testing.T) (p, s *foSide) {
	t.Helper()
	p, s = newFoSide(t, true), newFoSide(t, false)
	for _, x := range []*foSide{p, s} {
		if err := x.step(Input{Kind: InputTick}); err != nil {
			t.Fatal(err)
		}
		if x.state() != StateStartup {
			t.Fatalf("booted in %v, want startup", x.state())
		}
	}
	for _, x := range []*foSide{p, s} {
		if err := x.step(Input{Kind: InputPeerUp, Rel: 0}); err != nil {
			t.Fatal(err)
		}
	}
	pump(t, p, s)
	if p.state() != StateNormal || s.state() != StateNormal {
		t.Fatalf("primary %v, secondary %v: want both normal", p.state(), s.state())
	}
	return p, s
}

// solicitNA sends a SOLICIT for client c (IA_NA 1, no PD) and returns the
// offered address and the IA.
func solicitNA(t *testing.T, s *foSide, c int, relays ...tRelay) (*wire.IA, *wire.Packet) {
	t.Helper()
	m := s.msgFor(wire.Solicit, c, true, false)
	m.relays = relays
	r := s.client(m)
	p := r.reply(t)
	return findIA(t, &p.Msg, KindNA, 1), p
}

func wantTimes(t *testing.T, what string, ia *wire.IA, pref, valid, t1, t2 uint32) {
	t.Helper()
	if len(ia.Addrs[:ia.NumAddrs]) == 0 {
		t.Fatalf("%s: no address (status %d)", what, iaStatus(t, ia))
	}
	a := &ia.Addrs[0]
	if a.Preferred != pref || a.Valid != valid || ia.T1 != t1 || ia.T2 != t2 {
		t.Fatalf("%s: preferred %d valid %d T1 %d T2 %d, want %d %d %d %d", what, a.Preferred, a.Valid, ia.T1, ia.T2, pref, valid, t1, t2)
	}
}

// The MCLT-capped timers of a new lease: valid = MCLT (3600 s), preferred
// ≤ valid, T1 = ½ and T2 = 0.8 of the capped lifetime (CapTimes).
const capPref, capValid, capT1, capT2 = 3600, 3600, 1800, 2880

// RFC 8156 §8.3: a server in STARTUP is unresponsive.
func TestFailoverStartupAnswersNothing(t *testing.T) {
	p := newFoSide(t, true)
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Request, wire.Renew, wire.Rebind, wire.InformationRequest} {
		m := p.msgFor(typ, 1, typ != wire.InformationRequest, false)
		r := p.client(m)
		if len(r.replies) != 0 || len(r.events) != 0 {
			t.Fatalf("%v in STARTUP: %d replies, %d events", typ, len(r.replies), len(r.events))
		}
		wantDropped(t, r, DropFailover)
	}
	if p.state() != StateStartup {
		t.Fatalf("state %v", p.state())
	}
	// The partner-down command has no arc from STARTUP.
	if err := p.step(Input{Kind: InputAdminPartnerDown}); !errors.Is(err, ErrPartnerDownState) {
		t.Fatalf("partner-down in STARTUP: %v", err)
	}
	if err := p.step(Input{Kind: InputPeerUp, Rel: 1}); !errors.Is(err, ErrInput) {
		t.Fatalf("unknown relationship: %v", err)
	}
	if DropFailover.String() != "failover-state" {
		t.Fatal(DropFailover.String())
	}
}

func TestFailoverScenario(t *testing.T) {
	p, s := newPair(t)
	for _, x := range []*foSide{p, s} {
		if in, _ := x.e.Endpoint(0); !in.CommOK || in.PartnerState != StateNormal || in.Stored.State != StateNormal {
			t.Fatalf("endpoint info %+v", in)
		}
	}

	// --- NORMAL: the primary answers, from its (odd) half, capped by MCLT.
	ia, _ := solicitNA(t, p, 1)
	a := leasedAddr(t, ia)
	if !OwnedBy(a, true) {
		t.Fatalf("primary offered %v, not in its odd half", a)
	}
	wantTimes(t, "primary SOLICIT", ia, capPref, capValid, capT1, capT2)
	r := p.client(p.msgFor(wire.Request, 1, true, false))
	ia = findIA(t, &r.reply(t).Msg, KindNA, 1)
	wantTimes(t, "primary REQUEST", ia, capPref, capValid, capT1, capT2)
	if len(r.events) != 1 {
		t.Fatalf("REQUEST: %d events", len(r.events))
	}
	b := r.events[0].Binding
	now := p.now.Unix()
	if b.Valid != capValid || b.Expires != now+capValid ||
		b.PartnerLifetime != LazyPartnerLifetime(now, uint32(foValid/time.Second), capValid) ||
		b.PartnerLifetime != now+3*24*3600+1800 || b.StateExpiration != b.Expires {
		t.Fatalf("committed %+v", b)
	}
	// Renewing with no acked partner lifetime stays capped at MCLT.
	p.advance(30 * time.Minute)
	r = p.client(p.msgFor(wire.Renew, 1, true, false))
	wantTimes(t, "primary RENEW, nothing acked", findIA(t, &r.reply(t).Msg, KindNA, 1), capPref, capValid, capT1, capT2)
	// Once the partner has acked the lazy partner-lifetime, the renewal gets
	// the full desired lifetime (the design's worked example).
	lb, _ := p.e.Lookup(b.Prefix)
	lb.Acked(lb.PartnerLifetime)
	p.e.Apply(Event{Kind: EventLease, Time: p.now.Unix(), Why: CauseRenew, Binding: lb})
	r = p.client(p.msgFor(wire.Renew, 1, true, false))
	wantTimes(t, "primary RENEW after the ack", findIA(t, &r.reply(t).Msg, KindNA, 1),
		uint32(foPref/time.Second), uint32(foValid/time.Second), uint32(foPref/time.Second/2), uint32(foPref/time.Second*4/5))
	s.advance(30 * time.Minute)

	// --- NORMAL: the secondary is renew-responsive only.
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Rebind, wire.Confirm, wire.InformationRequest} {
		m := s.msgFor(typ, 2, typ != wire.InformationRequest, false)
		if typ == wire.Confirm {
			m.na = []tIA{{iaid: 1, addrs: []netip.Addr{mustAddr("2001:db8:1::1002")}}}
		}
		r := s.client(m)
		if len(r.replies) != 0 {
			t.Fatalf("secondary in NORMAL answered %v", typ)
		}
		wantDropped(t, r, DropFailover)
	}
	// A RENEW for a binding it does not hold: dropped.
	m := s.msgFor(wire.Renew, 2, true, false)
	m.na[0].addrs = []netip.Addr{mustAddr("2001:db8:1::1002")}
	r = s.client(m)
	if len(r.replies) != 0 {
		t.Fatal("secondary in NORMAL answered a RENEW for a binding it does not hold")
	}
	wantDropped(t, r, DropFailover)
	// A binding it holds (as a BNDUPD would install it): renewed, capped.
	held := Binding{Kind: KindNA, Prefix: mustPrefix("2001:db8:1::1002/128"), DUID: string(clientDUID(2)), IAID: 1,
		Status: StatusActive, StartOfState: s.now.Unix(), CLTT: s.now.Unix(), Preferred: 1800, Valid: 3600, Expires: s.now.Unix() + 3600}
	s.e.Apply(Event{Kind: EventLease, Time: s.now.Unix(), Why: CauseRequest, Binding: held})
	s.events = append(s.events, Event{Kind: EventLease, Time: s.now.Unix(), Why: CauseRequest, Binding: held})
	r = s.client(m)
	ia = findIA(t, &r.reply(t).Msg, KindNA, 1)
	if leasedAddr(t, ia) != held.Prefix.Addr() {
		t.Fatalf("secondary renewed %v", leasedAddr(t, ia))
	}
	wantTimes(t, "secondary RENEW", ia, capPref, capValid, capT1, capT2)

	// --- PeerDown: COMMUNICATIONS-INTERRUPTED on both; both answer, each
	// from its own half, capped.
	for _, x := range []*foSide{p, s} {
		x.advance(time.Minute)
		if err := x.step(Input{Kind: InputPeerDown, Rel: 0}); err != nil {
			t.Fatal(err)
		}
		if x.state() != StateCommInterrupted {
			t.Fatalf("after PeerDown: %v", x.state())
		}
		if !slices.ContainsFunc(x.msgs, func(m PeerMsg) bool { return m.Kind == ActAlarm }) {
			t.Fatalf("no alarm on NORMAL → CI: %+v", x.msgs)
		}
		x.msgs = nil
	}
	for c := 10; c < 20; c++ {
		ia, _ := solicitNA(t, p, c)
		if a := leasedAddr(t, ia); !OwnedBy(a, true) {
			t.Fatalf("primary in CI offered %v", a)
		}
		wantTimes(t, "primary in CI", ia, capPref, capValid, capT1, capT2)
		ia, _ = solicitNA(t, s, c)
		if a := leasedAddr(t, ia); !OwnedBy(a, false) {
			t.Fatalf("secondary in CI offered %v", a)
		}
		wantTimes(t, "secondary in CI", ia, capPref, capValid, capT1, capT2)
	}

	// --- AdminPartnerDown: PARTNER-DOWN, uncapped; the partner's half only
	// after MCLT. Subnet 2001:db8:3::/64 has four addresses, ::11 and ::13
	// the primary's.
	p.advance(time.Minute)
	if err := p.step(Input{Kind: InputAdminPartnerDown, Rel: 0}); err != nil {
		t.Fatal(err)
	}
	if p.state() != StatePartnerDown {
		t.Fatalf("after partner-down: %v", p.state())
	}
	if len(p.events) == 0 || p.events[len(p.events)-1].Kind != EventEndpoint ||
		p.events[len(p.events)-1].Endpoint.State != StatePartnerDown || p.events[len(p.events)-1].Why != CauseAdmin {
		t.Fatalf("partner-down not journaled: %+v", p.events[len(p.events)-1])
	}
	ia, _ = solicitNA(t, p, 30)
	wantTimes(t, "primary in PD", ia, uint32(foPref/time.Second), uint32(foValid/time.Second),
		uint32(foPref/time.Second/2), uint32(foPref/time.Second*4/5))
	small := relayVia("2001:db8:3::1")
	got := map[netip.Addr]bool{}
	for c := 40; c < 42; c++ {
		m := p.msgFor(wire.Solicit, c, true, false)
		m.relays, m.rapid = small, true
		p.e.cfg.RapidCommit = true
		ia := findIA(t, &p.client(m).reply(t).Msg, KindNA, 1)
		got[leasedAddr(t, ia)] = true
	}
	if !got[mustAddr("2001:db8:3::11")] || !got[mustAddr("2001:db8:3::13")] {
		t.Fatalf("primary in PD took %v, want its own ::11 and ::13 first", got)
	}
	ia, _ = solicitNA(t, p, 42, small...)
	if iaStatus(t, ia) != wire.StatusNoAddrsAvail {
		t.Fatalf("partner's half used before MCLT: %+v", ia)
	}
	p.advance(foMCLT)
	ia, _ = solicitNA(t, p, 42, small...)
	if a := leasedAddr(t, ia); !OwnedBy(a, false) {
		t.Fatalf("after MCLT in PD: offered %v, want one of the partner's", a)
	}

	// --- Replay: the journaled events rebuild the same state and endpoint.
	for _, x := range []*foSide{p, s} {
		fresh := replayed(t, x)
		li, _ := x.e.Endpoint(0)
		fi, _ := fresh.Endpoint(0)
		if fi.Stored != li.Stored || fi.Stored.State == 0 {
			t.Fatalf("replayed endpoint %+v, live %+v", fi.Stored, li.Stored)
		}
		// The restarted endpoint starts in STARTUP from the stored state,
		// and reports the recorded one until it leaves STARTUP.
		if err := fresh.Step(x.now, Input{Kind: InputTick}); err != nil {
			t.Fatal(err)
		}
		if in, _ := fresh.Endpoint(0); in.State != StateStartup || in.Stored.State != li.Stored.State {
			t.Fatalf("restarted endpoint %+v", in)
		}
	}
}

// The stored image is refreshed while serving, so LastOperated stays close
// to the truth across a crash (endpoint.go, StoredState.LastOperated).
func TestFailoverStoredRefresh(t *testing.T) {
	p, _ := newPair(t)
	before := len(p.events)
	p.advance(10 * time.Second)
	p.step(Input{Kind: InputTick})
	if len(p.events) != before {
		t.Fatalf("refreshed after 10 s: %+v", p.events[before:])
	}
	p.advance(storedRefresh * time.Second)
	p.step(Input{Kind: InputTick})
	if len(p.events) != before+1 || p.events[before].Endpoint.LastOperated != p.now.Unix() {
		t.Fatalf("no refresh after %d s: %+v", storedRefresh, p.events[before:])
	}
}

// Config checks for relationships.
func TestFailoverConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"unknown relationship", func(c *Config) { c.Subnets[0].Relationship = "pair-b" }},
		{"no name", func(c *Config) { c.Relationships[0].Name = "" }},
		{"duplicate", func(c *Config) { c.Relationships = append(c.Relationships, c.Relationships[0]) }},
		{"share", func(c *Config) { c.Relationships[0].PDSecondaryShare = 1.5 }},
		{"negative apd", func(c *Config) { c.Relationships[0].AutoPartnerDown = -1 }},
	} {
		cfg := foConfig(true, testServerDUID)
		c.mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	cfg := foConfig(true, testServerDUID)
	cfg.Relationships[0].MCLT = 0
	e, err := New(cfg)
	if err != nil || e.Config().Relationships[0].MCLT != DefaultMCLT {
		t.Fatalf("MCLT default: %v %v", err, e.Config().Relationships)
	}
}

// IA_PD in a relationship (for now): the primary delegates from the whole
// pd-pool; the secondary only in PARTNER-DOWN after MCLT.
func TestFailoverPrefixes(t *testing.T) {
	p, s := newPair(t)
	for _, x := range []*foSide{p, s} {
		x.advance(time.Minute)
		x.step(Input{Kind: InputPeerDown})
	}
	r := p.client(p.msgFor(wire.Solicit, 1, false, true))
	if pd := findIA(t, &r.reply(t).Msg, KindPD, 1); pd.NumPrefixes != 1 || pd.Prefixes[0].Valid != capValid {
		t.Fatalf("primary in CI: %+v", pd)
	}
	r = s.client(s.msgFor(wire.Solicit, 1, false, true))
	if st := iaStatus(t, findIA(t, &r.reply(t).Msg, KindPD, 1)); st != wire.StatusNoPrefixAvail {
		t.Fatalf("secondary in CI delegated a prefix (status %d)", st)
	}
	if err := s.step(Input{Kind: InputAdminPartnerDown}); err != nil {
		t.Fatal(err)
	}
	r = s.client(s.msgFor(wire.Solicit, 1, false, true))
	if st := iaStatus(t, findIA(t, &r.reply(t).Msg, KindPD, 1)); st != wire.StatusNoPrefixAvail {
		t.Fatalf("secondary in PD delegated before MCLT (status %d)", st)
	}
	s.advance(foMCLT)
	r = s.client(s.msgFor(wire.Solicit, 1, false, true))
	if pd := findIA(t, &r.reply(t).Msg, KindPD, 1); pd.NumPrefixes != 1 || pd.Prefixes[0].Valid != uint32(foValid/time.Second) {
		t.Fatalf("secondary in PD after MCLT: %+v", pd)
	}
}

package bench

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// TestSessionRebindAtSecondServer is the demo's story against two echo
// responders standing in for a failover pair: clients bound through a
// relay that forwards to both (Also), the first responder dies, their
// RENEWs are answered by the second (the echo has one DUID for both, so
// the RENEW's SERVERID matches), their REBINDs too, and Compare finds
// every client holding what it held.
func TestSessionRebindAtSecondServer(t *testing.T) {
	a, b := startResponder(t, 1), startResponder(t, 1)
	c := responderConfig(a)
	c.Also = []netip.AddrPort{b.addr()}
	c.Clients, c.Sockets = 600, 3
	s, err := Open(c, 4000)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Stage(2000, 300*time.Millisecond, Mix{Solicit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 600 || r.Timeouts != 0 {
		t.Fatalf("binding stage: %+v", r)
	}
	// Both heard every message; the second answer to each is unmatched.
	if a.count[wire.Solicit].Load() != 600 || b.count[wire.Solicit].Load() != 600 || r.Unmatched != 2*600 {
		t.Errorf("SOLICITs seen %d and %d, unmatched answers %d; want 600, 600, 1200",
			a.count[wire.Solicit].Load(), b.count[wire.Solicit].Load(), r.Unmatched)
	}
	before := s.Bindings()
	if len(before) != 600 || !before[0].Addr.IsValid() || !before[0].Prefix.IsValid() {
		t.Fatalf("%d bindings, first %+v", len(before), before)
	}
	a.stop()

	r, err = s.Sweep(Rebind, 3000, Clients(before))
	if err != nil {
		t.Fatal(err)
	}
	if r.Exchanges.Rebind.Started != 600 || r.Exchanges.Rebind.Completed != 600 || r.Started != 600 {
		t.Fatalf("rebind sweep: %+v\n%+v (b saw %d)", r.Exchanges, r, b.count[wire.Rebind].Load())
	}
	if got := b.count[wire.Rebind].Load(); got != 600 {
		t.Errorf("the second responder saw %d REBINDs, want 600", got)
	}
	cont := Compare(before, s.Bindings())
	if cont.Clients != 600 || cont.Kept != 600 || len(cont.Changed)+len(cont.Missing) != 0 || cont.KeptFrom["0002000009bf74657374"] != 600 {
		t.Fatalf("continuity %+v", cont)
	}

	// Nobody answers: every RENEW times out and the clients hold nothing
	// confirmed.
	b.stop()
	s.g.timeout = int64(100 * time.Millisecond)
	r, err = s.Sweep(Renew, 3000, Clients(before)[:100])
	if err != nil {
		t.Fatal(err)
	}
	if r.Exchanges.Renew.Started != 100 || r.Exchanges.Renew.Timeouts != 100 {
		t.Fatalf("renew sweep with nobody there: %+v", r.Exchanges.Renew)
	}
	cont = Compare(before, s.Bindings())
	if cont.Kept != 500 || len(cont.Missing) != 100 || cont.Missing[0].Before.Client != before[0].Client {
		t.Fatalf("continuity after lost RENEWs: kept %d, missing %d", cont.Kept, len(cont.Missing))
	}
}

func TestCompare(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	before := []Binding{
		{Client: 1, Server: []byte{1}, Addr: a("2001:db8::1"), Prefix: p("2001:db8:100::/56")},
		{Client: 2, Server: []byte{1}, Addr: a("2001:db8::2"), Prefix: p("2001:db8:200::/56")},
		{Client: 3, Server: []byte{1}, Addr: a("2001:db8::3"), Prefix: p("2001:db8:300::/56")},
		{Client: 4, Server: []byte{1}, Addr: a("2001:db8::4")},
	}
	after := []Binding{
		{Client: 4, Server: []byte{2}, Addr: a("2001:db8::4")},
		{Client: 1, Server: []byte{2}, Addr: a("2001:db8::1"), Prefix: p("2001:db8:100::/56")},
		{Client: 2, Server: []byte{2}, Addr: a("2001:db8::2")}, // lost its prefix
		{Client: 9, Server: []byte{2}, Addr: a("2001:db8::9")}, // new: not counted
	}
	c := Compare(before, after)
	if c.Clients != 4 || c.Kept != 2 || c.KeptFrom["02"] != 2 || len(c.Changed) != 1 || c.Changed[0].Before.Client != 2 ||
		len(c.Missing) != 1 || c.Missing[0].Before.Client != 3 {
		t.Fatalf("%+v", c)
	}
	if got := c.Changed[0].String(); got != "client 2 had 2001:db8::2 2001:db8:200::/56, holds 2001:db8::2 invalid Prefix" {
		t.Errorf("Change.String() = %q", got)
	}
}

func TestSessionArguments(t *testing.T) {
	resp := startResponder(t, 1)
	if _, err := Open(responderConfig(resp), 0); err == nil {
		t.Error("Open with max rate 0 accepted")
	}
	c := responderConfig(resp)
	c.Also = []netip.AddrPort{{}}
	if _, err := Open(c, 100); err == nil {
		t.Error("Also with an invalid address accepted")
	}
	s, err := Open(responderConfig(resp), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Sweep(Release, 100, nil); err == nil {
		t.Error("a RELEASE sweep accepted")
	}
	if _, err := s.Stage(100, time.Second, Mix{Renew: 1}); err == nil {
		t.Error("a stage mix without solicit accepted")
	}
}

package engine

// Behaviour beyond the message sections of RFC 8415: reservations, pool
// sizes and exhaustion, expiry and reclaim, prefix-delegation arithmetic,
// and the RFC 6853 redundancy models deterministic allocation enables.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// --- beyond the message sections ----------------------------------------------

// Reservations by DUID: the reserved client gets its address and prefix
// (even outside the pools); nobody else does, even asking by name.
func TestReservationsByDUID(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Reservations = []Reservation{
		{DUID: clientDUID(7), Address: mustAddr("2001:db8:1::7"), Prefix: mustPrefix("2001:db8:100:7700::/56")},
		{DUID: clientDUID(8), Address: mustAddr("2001:db8:1::1008")}, // inside the pool
	}
	tr := newTester(t, cfg)
	// Others asking for the reserved resources by name do not get them.
	m := tr.msgFor(wire.Solicit, 1, true, true)
	m.na[0].addrs = []netip.Addr{mustAddr("2001:db8:1::1008"), mustAddr("2001:db8:1::7")}
	m.pd[0].prefixes = []netip.Prefix{mustPrefix("2001:db8:100:7700::/56")}
	msg := &tr.send(m).reply(t).Msg
	if a := leasedAddr(t, findIA(t, msg, KindNA, 1)); a == mustAddr("2001:db8:1::1008") || a == mustAddr("2001:db8:1::7") {
		t.Fatalf("reserved address %v offered to another client", a)
	}
	if p := leasedPrefix(t, findIA(t, msg, KindPD, 1)); p == mustPrefix("2001:db8:100:7700::/56") {
		t.Fatalf("reserved prefix offered to another client")
	}
	rep := tr.lease(7, true, true)
	if a := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1)); a != mustAddr("2001:db8:1::7") {
		t.Fatalf("client 7 got %v", a)
	}
	if p := leasedPrefix(t, findIA(t, &rep.Msg, KindPD, 1)); p != mustPrefix("2001:db8:100:7700::/56") {
		t.Fatalf("client 7 got %v", p)
	}
	rep = tr.lease(8, true, true)
	if a := leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1)); a != mustAddr("2001:db8:1::1008") {
		t.Fatalf("client 8 got %v", a)
	}
	// Reserved addresses survive renew, and after expiry come back.
	tr.send(tr.msgFor(wire.Renew, 7, true, true)).reply(t)
	tr.tick(3 * time.Hour)
	tr.tick(3 * time.Hour)
	if a := leasedAddr(t, findIA(t, &tr.lease(7, true, false).Msg, KindNA, 1)); a != mustAddr("2001:db8:1::7") {
		t.Fatalf("client 7 after reclaim got %v", a)
	}
}

// A whole /64 as one pool: 2^64 addresses, never materialised.
func TestPool64(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::"), End: mustAddr("2001:db8:1::ffff:ffff:ffff:ffff")}}
	tr := newTester(t, cfg)
	seen := map[netip.Addr]bool{}
	for c := 1; c <= 200; c++ {
		a := leasedAddr(t, findIA(t, &tr.lease(c, true, false).Msg, KindNA, 1))
		if !mustPrefix("2001:db8:1::/64").Contains(a) || a == mustAddr("2001:db8:1::") || seen[a] {
			t.Fatalf("client %d: %v", c, a)
		}
		seen[a] = true
	}
	// Spread over the whole /64, not packed at one end.
	hi := 0
	for a := range seen {
		if lo64(a) >= 1<<63 {
			hi++
		}
	}
	if hi < 60 || hi > 140 {
		t.Fatalf("%d of 200 addresses in the upper half of the /64", hi)
	}
	// Hints anywhere in the /64 work.
	m := tr.msgFor(wire.Solicit, 999, true, false)
	m.na[0].addrs = []netip.Addr{mustAddr("2001:db8:1::ffff:ffff:ffff:fffe")}
	if a := leasedAddr(t, findIA(t, &tr.send(m).reply(t).Msg, KindNA, 1)); a != mustAddr("2001:db8:1::ffff:ffff:ffff:fffe") {
		t.Fatalf("hint at the top of the /64: got %v", a)
	}
}

// A full small pool: every address is leased exactly once, then
// NoAddrsAvail; the Subnet-Router anycast address is never leased.
func TestFullSmallPool(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Prefix = mustPrefix("2001:db8:1::5/64") // unmasked in config
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::"), End: mustAddr("2001:db8:1::7")}}
	tr := newTester(t, cfg)
	seen := map[netip.Addr]int{}
	for c := 1; c <= 7; c++ {
		a := leasedAddr(t, findIA(t, &tr.lease(c, true, false).Msg, KindNA, 1))
		if _, dup := seen[a]; dup || !inPool(a, "2001:db8:1::1", "2001:db8:1::7") {
			t.Fatalf("client %d got %v (seen %v)", c, a, seen)
		}
		seen[a] = c
	}
	r := tr.send(tr.msgFor(wire.Request, 8, true, false))
	if ia := findIA(t, &r.reply(t).Msg, KindNA, 1); iaStatus(t, ia) != wire.StatusNoAddrsAvail {
		t.Fatalf("full pool: %+v", ia)
	}
	if na, _ := tr.e.Active(); na != 7 {
		t.Fatalf("active %d", na)
	}

	// The exhausted note: further requests in the same second are
	// answered from it, and a RELEASE invalidates it at once, so the
	// freed address goes to the next client.
	r = tr.send(tr.msgFor(wire.Request, 9, true, false))
	if ia := findIA(t, &r.reply(t).Msg, KindNA, 1); iaStatus(t, ia) != wire.StatusNoAddrsAvail {
		t.Fatalf("full pool, second request: %+v", ia)
	}
	tr.send(tr.msgFor(wire.Release, 3, true, false))
	a := leasedAddr(t, findIA(t, &tr.lease(10, true, false).Msg, KindNA, 1))
	if seen[a] != 3 {
		t.Fatalf("after client 3 released, client 10 got %v, want client 3's address", a)
	}
}

// Expiry on tick: ACTIVE → EXPIRED when the valid lifetime ends, then the
// record is freed ReclaimAfter later; a free'd resource is gone from the
// state entirely.
func TestExpiryAndReclaim(t *testing.T) {
	cfg := basicConfig()
	cfg.ReclaimAfter = 30 * time.Minute
	tr := newTester(t, cfg)
	rep := tr.lease(1, true, true)
	a := netip.PrefixFrom(leasedAddr(t, findIA(t, &rep.Msg, KindNA, 1)), 128)
	wantNoEvents(t, tr.tick(59*time.Minute+59*time.Second))
	r := tr.tick(time.Second)
	if len(r.events) != 2 {
		t.Fatalf("at expiry: %s", formatEvents(r.events))
	}
	for _, ev := range r.events {
		if ev.Kind != EventLease || ev.Why != CauseExpiry || ev.Binding.Status != StatusExpired || ev.Binding.StartOfState != tr.now.Unix() {
			t.Fatalf("expiry event %s", formatEvent(&ev))
		}
	}
	if na, pd := tr.e.Active(); na+pd != 0 || tr.e.Len() != 2 {
		t.Fatalf("after expiry: active %d/%d records %d", na, pd, tr.e.Len())
	}
	wantNoEvents(t, tr.tick(29*time.Minute))
	r = tr.tick(time.Minute)
	if len(r.events) != 2 || r.events[0].Kind != EventFree || r.events[0].Why != CauseReclaim {
		t.Fatalf("at reclaim: %s", formatEvents(r.events))
	}
	if _, ok := tr.e.Lookup(a); ok || tr.e.Len() != 0 {
		t.Fatalf("records after reclaim: %s", formatLeases(tr.e))
	}
	wantNoEvents(t, tr.tick(10*time.Hour))
}

// A mass expiry is spread over ticks of at most maxTickWork changes.
func TestExpiryBoundedPerTick(t *testing.T) {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::"), End: mustAddr("2001:db8:1::ffff:ffff:ffff:ffff")}}
	tr := newTester(t, cfg)
	n := maxTickWork + 100
	for c := 1; c <= n; c++ {
		m := tr.msgFor(wire.Request, c, true, false)
		tr.send(m)
	}
	if na, _ := tr.e.Active(); na != n {
		t.Fatalf("active %d", na)
	}
	if got := len(tr.tick(2 * time.Hour).events); got != maxTickWork {
		t.Fatalf("first tick: %d events", got)
	}
	if got := len(tr.tick(0).events); got != 100 {
		t.Fatalf("second tick: %d events", got)
	}
	checkInvariants(t, tr.e)
}

// PD pool arithmetic: every delegated prefix is inside its pool, aligned
// to its length, and distinct, for pools that split at, above and below
// the 64-bit boundary.
func TestPDPoolArithmetic(t *testing.T) {
	for _, c := range []struct {
		pool string
		dlen int
	}{
		{"2001:db8:100::/48", 56},
		{"2001:db8:100::/56", 64},   // the /64 boundary
		{"2001:db8:100::/60", 68},   // below it
		{"2001:db8:100:5::/64", 72}, // inside one /64
		{"2001:db8::/32", 48},
		{"2001:db8:100::/62", 63}, // odd lengths
		{"2001:db8:100:77::/120", 124},
		{"2001:db8:100::/48", 48}, // a single prefix
	} {
		cfg := basicConfig()
		cfg.Subnets[0].PDPools = []PDPool{{Prefix: mustPrefix(c.pool), DelegatedLen: c.dlen}}
		tr := newTester(t, cfg)
		pool := mustPrefix(c.pool)
		size := 1 << min(c.dlen-pool.Bits(), 8)
		seen := map[netip.Prefix]bool{}
		for cl := 1; cl <= size; cl++ {
			m := tr.msgFor(wire.Request, cl, false, true)
			p := leasedPrefix(t, findIA(t, &tr.send(m).reply(t).Msg, KindPD, 1))
			if p.Bits() != c.dlen || p.Masked() != p || !pool.Contains(p.Addr()) || seen[p] {
				t.Fatalf("pool %s/%d client %d: %v (dup=%v)", c.pool, c.dlen, cl, p, seen[p])
			}
			seen[p] = true
		}
		if 1<<(c.dlen-pool.Bits()) == size {
			// The pool is full now.
			ia := findIA(t, &tr.send(tr.msgFor(wire.Request, 10000, false, true)).reply(t).Msg, KindPD, 1)
			if iaStatus(t, ia) != wire.StatusNoPrefixAvail {
				t.Fatalf("pool %s/%d full: %+v", c.pool, c.dlen, ia)
			}
		}
	}
	// The arithmetic itself, at the edges of every pool.
	for _, c := range []struct {
		pool string
		dlen int
		idx  uint64
		want string
	}{
		{"2001:db8:100::/48", 56, 0, "2001:db8:100::/56"},
		{"2001:db8:100::/48", 56, 255, "2001:db8:100:ff00::/56"},
		{"2001:db8:100::/56", 64, 255, "2001:db8:100:ff::/64"},
		{"2001:db8:100::/60", 68, 255, "2001:db8:100:f:f000::/68"},
		{"2001:db8:100::/60", 68, 16, "2001:db8:100:1::/68"},
		{"2001:db8::/32", 96, 1<<32 + 1, "2001:db8:0:1:0:1::/96"},
		{"2001:db8::/32", 96, 1<<64 - 1, "2001:db8:ffff:ffff:ffff:ffff::/96"},
		{"2001:db8:ffff:ffff::/64", 128, 1<<64 - 1, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128"},
	} {
		if c.dlen-mustPrefix(c.pool).Bits() > 63 {
			// Outside what Validate accepts; at() must still be right.
			pp := pdPool{base: mustPrefix(c.pool), dlen: c.dlen}
			if got := pp.at(c.idx); got != mustPrefix(c.want) {
				t.Errorf("%s/%d at %d = %v, want %s", c.pool, c.dlen, c.idx, got, c.want)
			}
			continue
		}
		var s subnet
		s.init(&Config{}, &SubnetConfig{Prefix: mustPrefix("2001:db8:1::/64"), PDPools: []PDPool{{Prefix: mustPrefix(c.pool), DelegatedLen: c.dlen}}})
		if got := s.pdPools[0].at(c.idx); got != mustPrefix(c.want) {
			t.Errorf("%s/%d at %d = %v, want %s", c.pool, c.dlen, c.idx, got, c.want)
		}
		if !s.pdPools[0].contains(mustPrefix(c.want)) {
			t.Errorf("%s/%d does not contain %s", c.pool, c.dlen, c.want)
		}
	}
}

// RFC 6853 identical-prefix model: two servers with identical config
// offer a client the same address and prefix, with no coordination,
// because allocation is a function of (DUID, IAID, pool) and the state.
func TestRFC6853_IdenticalPrefixDeterministic(t *testing.T) {
	a, b := newTester(t, basicConfig()), newTester(t, basicConfig())
	for c := 1; c <= 300; c++ {
		ma := a.msgFor(wire.Solicit, c, true, true)
		ma.relays = relayVia("2001:db8:2::1")
		pa, pb := a.send(ma).reply(t), b.send(ma).reply(t)
		if leasedAddr(t, findIA(t, &pa.Msg, KindNA, 1)) != leasedAddr(t, findIA(t, &pb.Msg, KindNA, 1)) ||
			leasedPrefix(t, findIA(t, &pa.Msg, KindPD, 1)) != leasedPrefix(t, findIA(t, &pb.Msg, KindPD, 1)) {
			t.Fatalf("client %d: the two servers disagree", c)
		}
		if c%2 == 0 { // half the clients commit on both
			mr := a.msgFor(wire.Request, c, true, true)
			mr.relays = ma.relays
			a.send(mr).reply(t)
			b.send(mr).reply(t)
		}
	}
	if a.e.Digest() != b.e.Digest() {
		t.Fatalf("digests differ after identical traffic")
	}
}

// RFC 6853 split and multiple-prefix models: servers with different config
// (here different Preference values and disjoint pools) both answer, and
// the client can tell them apart by PREFERENCE.
func TestRFC6853_SplitPreference(t *testing.T) {
	ca, cb := basicConfig(), basicConfig()
	ca.Preference, cb.Preference = 200, 100
	cb.ServerDUID = otherServerDUID
	cb.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::2000"), End: mustAddr("2001:db8:1::2fff")}}
	a, b := newTester(t, ca), newTester(t, cb)
	m := a.msgFor(wire.Solicit, 1, true, false)
	pa, pb := a.send(m).reply(t), b.send(m).reply(t)
	if pa.Msg.Preference != 200 || pb.Msg.Preference != 100 || string(pb.Msg.ServerID) != string(otherServerDUID) {
		t.Fatalf("preferences %d/%d", pa.Msg.Preference, pb.Msg.Preference)
	}
	x, y := leasedAddr(t, findIA(t, &pa.Msg, KindNA, 1)), leasedAddr(t, findIA(t, &pb.Msg, KindNA, 1))
	if !inPool(x, "2001:db8:1::1000", "2001:db8:1::1fff") || !inPool(y, "2001:db8:1::2000", "2001:db8:1::2fff") {
		t.Fatalf("offers %v %v", x, y)
	}
	// The client picks a (higher preference) and REQUESTs with its
	// SERVERID: b stays silent.
	req := tMsg{typ: wire.Request, client: clientDUID(1), server: testServerDUID, na: []tIA{{iaid: 1, addrs: []netip.Addr{x}}}}
	a.send(req).reply(t)
	wantDropped(t, b.send(req), DropServerID)
}

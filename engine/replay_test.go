package engine

// Properties: "decide, then apply" (replaying the events a live engine
// emitted rebuilds exactly its state) under a random workload, safety
// invariants checked after every step, and allocation compared against a
// deliberately simple reference with testing/quick, the way etcd raft's
// quorum/quick_test.go checks its fast path.

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand"
	"net/netip"
	"slices"
	"testing"
	"testing/quick"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// workloadConfig has small pools, so clients compete, and short holds, so
// records cycle through every status.
func workloadConfig() Config {
	cfg := basicConfig()
	cfg.RapidCommit = true
	cfg.ReclaimAfter = 30 * time.Minute
	cfg.DeclineHold = 2 * time.Hour
	cfg.Options = append(cfg.Options, dnsOption("2001:db8::53"))
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::1000"), End: mustAddr("2001:db8:1::1027")}} // 40
	cfg.Subnets[0].PDPools = []PDPool{{Prefix: mustPrefix("2001:db8:100::/52"), DelegatedLen: 56}}          // 16
	cfg.Subnets[0].Reservations = []Reservation{{DUID: clientDUID(3), Address: mustAddr("2001:db8:1::3"), Prefix: mustPrefix("2001:db8:100:f000::/56")}}
	return cfg
}

// wlClient is one simulated client.
type wlClient struct {
	id     int
	link   int // 0: direct on eth0, 1, 2: relayed from subnets 1, 2
	na, pd bool
	nIA    int
}

var wlLinks = [][]tRelay{
	nil,
	{{link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::c"), ifaceID: []byte("p1"), remoteID: []byte{0, 0, 0, 9, 1}}},
	{{link: mustAddr("2001:db8:3::1"), peer: mustAddr("fe80::c")}, {hops: 1, link: mustAddr("2001:db8:f::1"), peer: mustAddr("2001:db8:3::1")}},
}

// workload drives tr with n random operations from rng, checking the safety
// invariants after each, and returns every event in order.
func workload(t *testing.T, tr *tester, rng *rand.Rand, n int) []Event {
	clients := make([]wlClient, 60)
	for i := range clients {
		clients[i] = wlClient{id: i + 1, link: rng.Intn(3), na: rng.Intn(4) != 0, pd: rng.Intn(3) == 0, nIA: 1 + rng.Intn(2)}
		if !clients[i].na && !clients[i].pd {
			clients[i].na = true
		}
	}
	var events []Event
	for step := 0; step < n; step++ {
		c := &clients[rng.Intn(len(clients))]
		if rng.Intn(40) == 0 {
			c.link = rng.Intn(3) // the client moves
		}
		var typ wire.MsgType
		switch x := rng.Intn(100); {
		case x < 20:
			typ = wire.Solicit
		case x < 45:
			typ = wire.Request
		case x < 60:
			typ = wire.Renew
		case x < 68:
			typ = wire.Rebind
		case x < 75:
			typ = wire.Release
		case x < 79:
			typ = wire.Decline
		case x < 82:
			typ = wire.Confirm
		case x < 84:
			typ = wire.InformationRequest
		default:
			r := tr.tick(time.Duration(rng.Intn(15*60)) * time.Second)
			events = append(events, r.events...)
			checkInvariants(t, tr.e)
			continue
		}
		m := tMsg{typ: typ, client: clientDUID(c.id), relays: wlLinks[c.link]}
		switch typ {
		case wire.Request, wire.Renew, wire.Release, wire.Decline:
			m.server = testServerDUID
		}
		if typ != wire.InformationRequest {
			for i := 1; i <= c.nIA; i++ {
				if c.na {
					ia := tIA{iaid: uint32(i)}
					if typ != wire.Solicit || rng.Intn(4) == 0 {
						ia.addrs = tr.heldNA(c.id, uint32(i))
					}
					if rng.Intn(10) == 0 { // a stray or stale address
						ia.addrs = append(ia.addrs, mustAddr(fmt.Sprintf("2001:db8:%d::10%02x", 1+rng.Intn(3), rng.Intn(48))))
					}
					m.na = append(m.na, ia)
				}
				if c.pd && typ != wire.Confirm {
					ia := tIA{iaid: uint32(i)}
					if typ != wire.Solicit || rng.Intn(4) == 0 {
						ia.prefixes = tr.heldPD(c.id, uint32(i))
					}
					m.pd = append(m.pd, ia)
				}
			}
		}
		m.rapid = typ == wire.Solicit && rng.Intn(5) == 0
		if rng.Intn(3) == 0 {
			m.oro = []uint16{wire.OptDNSServers}
		}
		h := how{iface: "eth0", unicast: rng.Intn(30) == 0}
		if m.relays != nil {
			h.iface = ""
		}
		if rng.Intn(50) == 0 {
			m.server = otherServerDUID
		}
		tr.advance(time.Duration(rng.Intn(20)) * time.Second)
		r := tr.send(m, h)
		events = append(events, r.events...)
		checkSafety(t, tr, m, r)
	}
	return events
}

// checkSafety checks what must hold after every step: the internal
// structures agree; every resource a REPLY hands out is ACTIVE for that
// client IA until exactly now+valid; no client IA holds two ACTIVE
// resources of a kind on one link; no two ACTIVE prefixes overlap; every
// ACTIVE resource is in a pool or reserved.
func checkSafety(t *testing.T, tr *tester, m tMsg, r *result) {
	t.Helper()
	checkInvariants(t, tr.e)
	now := tr.now.Unix()
	for _, raw := range r.replies {
		var p wire.Packet
		if err := p.Decode(raw); err != nil {
			t.Fatalf("undecodable reply: %v", err)
		}
		if p.Msg.Type != wire.Reply {
			continue
		}
		check := func(k Kind, iaid uint32, q netip.Prefix, valid uint32) {
			if valid == 0 {
				return
			}
			b, ok := tr.e.Lookup(q)
			if !ok || b.Status != StatusActive || b.DUID != string(m.client) || b.IAID != iaid || b.Expires != now+int64(valid) {
				t.Fatalf("%v gave %v to client %d IA %d, but the record is %s", m.typ, q, clientOf(m.client), iaid, formatBinding(&b))
			}
		}
		for i := 0; i < p.Msg.NumIANA; i++ {
			ia := &p.Msg.IANA[i]
			for j := 0; j < ia.NumAddrs; j++ {
				check(KindNA, ia.IAID, netip.PrefixFrom(ia.Addrs[j].Addr, 128), ia.Addrs[j].Valid)
			}
		}
		for i := 0; i < p.Msg.NumIAPD; i++ {
			ia := &p.Msg.IAPD[i]
			for j := 0; j < ia.NumPrefixes; j++ {
				check(KindPD, ia.IAID, ia.Prefixes[j].Prefix, ia.Prefixes[j].Valid)
			}
		}
	}
	type owner struct {
		k      Kind
		duid   string
		iaid   uint32
		subnet int32
	}
	held := map[owner]netip.Prefix{}
	var active []netip.Prefix
	for _, l := range []map[netip.Addr]*Lease{tableMap(t, &tr.e.na), tableMap(t, &tr.e.pd)} {
		for _, x := range l {
			if x.Status != StatusActive {
				continue
			}
			o := owner{x.Kind, x.DUID, x.IAID, x.subnet}
			if p, dup := held[o]; dup {
				t.Fatalf("client %s IA %d holds %v and %v", clientName(x.DUID), x.IAID, p, x.Prefix)
			}
			held[o] = x.Prefix
			if x.subnet < 0 || !tr.e.subnets[x.subnet].inPools(x.Kind, x.Prefix) {
				t.Fatalf("ACTIVE %s outside every pool", formatBinding(&x.Binding))
			}
			if x.Kind == KindPD {
				active = append(active, x.Prefix)
			}
		}
	}
	for i := range active {
		for j := i + 1; j < len(active); j++ {
			if active[i].Overlaps(active[j]) {
				t.Fatalf("ACTIVE prefixes %v and %v overlap", active[i], active[j])
			}
		}
	}
}

// replayInto applies events to a fresh engine with cfg.
func replayInto(t *testing.T, cfg Config, events []Event) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		e.Apply(ev)
	}
	return e
}

func sameState(t *testing.T, live, replayed *Engine) {
	t.Helper()
	checkInvariants(t, replayed)
	if live.Digest() != replayed.Digest() {
		t.Fatalf("digest: live %x, replayed %x", live.Digest(), replayed.Digest())
	}
	lb, rb := bindings(live), bindings(replayed)
	if !slices.Equal(lb, rb) {
		t.Fatalf("records differ:\nlive:\n%s\nreplayed:\n%s", formatLeases(live), formatLeases(replayed))
	}
	ln, lp := live.Active()
	rn, rp := replayed.Active()
	if ln != rn || lp != rp || live.Len() != replayed.Len() {
		t.Fatalf("counts differ: live %d/%d/%d replayed %d/%d/%d", ln, lp, live.Len(), rn, rp, replayed.Len())
	}
}

// TestReplayRebuildsState: every Ready's events, applied in order to a
// fresh engine, rebuild the live state exactly (digest and full record
// set), at several points of a long random run; and the replayed engine
// then behaves exactly like the live one (same replies, byte for byte,
// and same events), which also checks the indexes Apply builds.
func TestReplayRebuildsState(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5, 6}
	steps := 2500
	if testing.Short() {
		seeds, steps = seeds[:2], 800
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			cfg := workloadConfig()
			rng := rand.New(rand.NewSource(seed))
			tr := newTester(t, cfg)
			var all []Event
			for round := 0; round < 4; round++ {
				all = append(all, workload(t, tr, rng, steps/4)...)
				sameState(t, tr.e, replayInto(t, cfg, all))
			}
			if len(all) < steps/4 {
				t.Fatalf("only %d events: the workload is too tame", len(all))
			}
			statuses := map[Status]bool{}
			for _, ev := range all {
				statuses[ev.Binding.Status] = true
			}
			for _, s := range []Status{StatusActive, StatusExpired, StatusReleased, StatusAbandoned} {
				if !statuses[s] {
					t.Errorf("the workload never produced a %v record", s)
				}
			}

			// Continue both with the same traffic: identical outputs.
			twin := &tester{tb: t, e: replayInto(t, cfg, all), now: tr.now, held: map[heldKey][]netip.Prefix{}}
			for k, v := range tr.held {
				twin.held[k] = slices.Clone(v)
			}
			twin.xid = tr.xid
			rngA, rngB := rand.New(rand.NewSource(seed*100)), rand.New(rand.NewSource(seed*100))
			evA := workload(t, tr, rngA, 400)
			evB := workload(t, twin, rngB, 400)
			if len(evA) != len(evB) {
				t.Fatalf("after replay: live emitted %d events, replayed %d", len(evA), len(evB))
			}
			for i := range evA {
				if evA[i] != evB[i] {
					t.Fatalf("after replay, event %d: live %s, replayed %s", i, formatEvent(&evA[i]), formatEvent(&evB[i]))
				}
			}
			sameState(t, tr.e, twin.e)
		})
	}
}

// TestDigestOrderIndependent: the digest depends on the records, not on
// the order in which they were installed.
func TestDigestOrderIndependent(t *testing.T) {
	cfg := workloadConfig()
	tr := newTester(t, cfg)
	events := workload(t, tr, rand.New(rand.NewSource(42)), 600)
	// Keep the final record of every resource, then install those in a
	// shuffled order.
	final := map[netip.Prefix]Event{}
	for _, ev := range events {
		if ev.Kind == EventFree {
			delete(final, ev.Binding.Prefix)
		} else {
			final[ev.Binding.Prefix] = ev
		}
	}
	var last []Event
	for _, ev := range final {
		last = append(last, ev)
	}
	rand.New(rand.NewSource(7)).Shuffle(len(last), func(i, j int) { last[i], last[j] = last[j], last[i] })
	e := replayInto(t, cfg, last)
	if e.Digest() != tr.e.Digest() || !slices.Equal(bindings(e), bindings(tr.e)) {
		t.Fatalf("digest %x vs %x", e.Digest(), tr.e.Digest())
	}
	// Any change to any field changes the digest.
	b := bindings(e)[0]
	before := e.Digest()
	b.CLTT++
	e.Apply(Event{Kind: EventLease, Binding: b})
	if e.Digest() == before {
		t.Fatalf("digest blind to CLTT")
	}
	b.CLTT--
	e.Apply(Event{Kind: EventLease, Binding: b})
	if e.Digest() != before {
		t.Fatalf("digest did not return")
	}
}

// --- allocation against a reference -----------------------------------------

// refSeed is poolSeed written out plainly: FNV-1a 64 over the DUID, the
// IAID and (subnet, kind, pool) as little-endian uint64s.
func refSeed(duid []byte, iaid uint32, sn int, k Kind, pool int) uint64 {
	h := fnv.New64a()
	h.Write(duid)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(iaid))
	h.Write(b[:])
	binary.LittleEndian.PutUint64(b[:], uint64(sn)<<32|uint64(k)<<16|uint64(pool))
	h.Write(b[:])
	return h.Sum64()
}

// refMix is splitmix64's finaliser.
func refMix(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// refPick is the documented probe sequence over a pool of size slots:
// candidates mix(seed+i) mod size for i < 16, then a linear scan from the
// first; it returns the first slot free says is free, or -1.
func refPick(seed uint64, size int, free func(int) bool) int {
	for i := 0; i < probes; i++ {
		if s := int(refMix(seed+uint64(i)) % uint64(size)); free(s) {
			return s
		}
	}
	first := int(refMix(seed) % uint64(size))
	for i := 0; i < size; i++ {
		if s := (first + i) % size; free(s) {
			return s
		}
	}
	return -1
}

// slotStates packs the state of 16 pool slots, 2 bits each: 0 free,
// 1 ACTIVE for another client, 2 ABANDONED, 3 RELEASED by another client.
type slotStates uint32

func (s slotStates) at(i int) uint32 { return uint32(s) >> (2 * i) & 3 }

// engineWith returns an engine whose 16-slot NA pool (2001:db8:1::1000-
// 100f) and PD pool (2001:db8:100::/60 by /64) hold states.
func engineWith(t *testing.T, states slotStates) *tester {
	cfg := basicConfig()
	cfg.Subnets[0].Pools = []Pool{{Start: mustAddr("2001:db8:1::1000"), End: mustAddr("2001:db8:1::100f")}}
	cfg.Subnets[0].PDPools = []PDPool{{Prefix: mustPrefix("2001:db8:100::/60"), DelegatedLen: 64}}
	tr := newTester(t, cfg)
	for i := 0; i < 16; i++ {
		st := map[uint32]Status{1: StatusActive, 2: StatusAbandoned, 3: StatusReleased}[states.at(i)]
		if st == 0 {
			continue
		}
		na := netip.PrefixFrom(addrFrom64(hi64(mustAddr("2001:db8:1::")), 0x1000+uint64(i)), 128)
		pd := netip.PrefixFrom(addrFrom64(hi64(mustAddr("2001:db8:100::"))+uint64(i), 0), 64)
		for _, q := range []netip.Prefix{na, pd} {
			k := KindNA
			if q == pd {
				k = KindPD
			}
			now := t0.Unix()
			tr.e.Apply(Event{Kind: EventLease, Time: now, Binding: Binding{Kind: k, Prefix: q, DUID: string(clientDUID(50000 + i)),
				IAID: 1, Status: st, StartOfState: now, CLTT: now, Valid: 3600, Preferred: 1800, Expires: now + 3600}})
		}
	}
	return tr
}

// TestAllocationMatchesReference: for random pool states and clients, the
// engine offers exactly what the plain reference picks, in both kinds: a
// slot inside the pool, never one ACTIVE or ABANDONED for someone else,
// and one released by someone else only when no slot is free.
func TestAllocationMatchesReference(t *testing.T) {
	// The reference: the first free slot in probe order; only if there is
	// none, the first slot released by another client.
	pick := func(seed uint64, st slotStates) int {
		if s := refPick(seed, 16, func(i int) bool { return st.at(i) == 0 }); s >= 0 {
			return s
		}
		return refPick(seed, 16, func(i int) bool { return st.at(i) == 3 })
	}
	engineNA := func(client uint16, iaid uint8, states uint32) string {
		tr := engineWith(t, slotStates(states))
		m := tMsg{typ: wire.Solicit, client: clientDUID(int(client)), na: []tIA{{iaid: uint32(iaid)}}, pd: []tIA{{iaid: uint32(iaid)}}}
		msg := &tr.send(m).reply(t).Msg
		out := ""
		for _, k := range []Kind{KindNA, KindPD} {
			ia := findIA(t, msg, k, uint32(iaid))
			switch {
			case ia.NumAddrs == 1:
				out += ia.Addrs[0].Addr.String() + " "
			case ia.NumPrefixes == 1:
				out += ia.Prefixes[0].Prefix.String() + " "
			default:
				out += "none "
			}
		}
		return out
	}
	refNA := func(client uint16, iaid uint8, states uint32) string {
		st := slotStates(states)
		out := ""
		if s := pick(refSeed(clientDUID(int(client)), uint32(iaid), 0, KindNA, 0), st); s >= 0 {
			out += mustAddr(fmt.Sprintf("2001:db8:1::10%02x", s)).String() + " "
		} else {
			out += "none "
		}
		if s := pick(refSeed(clientDUID(int(client)), uint32(iaid), 0, KindPD, 0), st); s >= 0 {
			out += mustPrefix(fmt.Sprintf("2001:db8:100:%x::/64", s)).String() + " "
		} else {
			out += "none "
		}
		return out
	}
	cfg := &quick.Config{MaxCount: 400, Rand: rand.New(rand.NewSource(1))}
	if err := quick.CheckEqual(engineNA, refNA, cfg); err != nil {
		t.Fatal(err)
	}
	// Dense pools (most slots taken) exercise the linear scan and the
	// exhausted case.
	dense := func(client uint16, iaid uint8, a, b uint32) bool {
		states := a | b | (a & b << 1) // mostly non-zero slots
		return engineNA(client, iaid, states) == refNA(client, iaid, states)
	}
	if err := quick.Check(dense, cfg); err != nil {
		t.Fatal(err)
	}
	if got := engineNA(1, 1, 0x55555555); got != "none none " {
		t.Fatalf("full pools offered %q", got)
	}
}

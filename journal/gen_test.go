package journal

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tandemdhcp/tandem/engine"
)

// testConfig is a one-subnet engine config: addresses from
// 2001:db8:1::/64 and /56 prefixes from 2001:db8:100::/40.
func testConfig() engine.Config {
	return engine.Config{
		ServerDUID: []byte{0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 2, 0, 0, 0, 0, 1},
		Subnets: []engine.SubnetConfig{{
			Prefix: netip.MustParsePrefix("2001:db8:1::/64"),
			Pools: []engine.Pool{{
				Start: netip.MustParseAddr("2001:db8:1::1:0"),
				End:   netip.MustParseAddr("2001:db8:1::ffff:ffff"),
			}},
			PDPools: []engine.PDPool{{Prefix: netip.MustParsePrefix("2001:db8:100::/40"), DelegatedLen: 56}},
		}},
	}
}

func newEngine(t testing.TB) *engine.Engine {
	t.Helper()
	e, err := engine.New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// gen produces a plausible stream of lease events over a fixed set of
// resources: clients take, renew, release, decline and lose leases, and
// records are reclaimed. It tracks each resource's record so frees name
// the last holder, like the engine's.
type gen struct {
	r       *rand.Rand
	now     int64
	held    map[netip.Prefix]engine.Binding
	nRes    int
	clients []string
	links   []netip.Addr
}

func newGen(seed uint64, resources, clients int) *gen {
	g := &gen{
		r:    rand.New(rand.NewPCG(seed, 0x7a6d)),
		now:  1_760_000_000,
		held: make(map[netip.Prefix]engine.Binding),
		nRes: resources,
	}
	for i := 0; i < clients; i++ {
		d := []byte{0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		g.clients = append(g.clients, string(d))
	}
	for i := 0; i < 4; i++ {
		g.links = append(g.links, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i + 1)}))
	}
	return g
}

func (g *gen) resource() (engine.Kind, netip.Prefix) {
	i := g.r.IntN(g.nRes)
	if i%5 == 4 { // a fifth are delegated prefixes
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, byte(i >> 8), byte(i)})
		return engine.KindPD, netip.PrefixFrom(a, 56)
	}
	a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 10: 0, 11: 0, 12: 0, 13: 1, 14: byte(i >> 8), 15: byte(i)})
	return engine.KindNA, netip.PrefixFrom(a, 128)
}

func (g *gen) next() engine.Event {
	g.now += int64(g.r.IntN(3))
	k, p := g.resource()
	b, ok := g.held[p]
	ev := engine.Event{Kind: engine.EventLease, Time: g.now}
	switch {
	case !ok || b.Status != engine.StatusActive && g.r.IntN(3) == 0:
		// A new client takes it.
		b = engine.Binding{Kind: k, Prefix: p, DUID: g.clients[g.r.IntN(len(g.clients))], IAID: uint32(g.r.IntN(3))}
		if g.r.IntN(2) == 0 {
			b.Link = g.links[g.r.IntN(len(g.links))]
			if g.r.IntN(2) == 0 {
				b.RemoteID = "\x00\x00\x0d\xe9port-" + string(rune('a'+g.r.IntN(26)))
			}
		}
		g.lease(&b)
		ev.Why = engine.CauseRequest
		if ok {
			ev.Why = engine.CauseReassign
		}
	case b.Status == engine.StatusActive && g.r.IntN(4) != 0:
		g.lease(&b)
		ev.Why = engine.CauseRenew
	case b.Status == engine.StatusActive:
		b.Status = []engine.Status{engine.StatusExpired, engine.StatusReleased, engine.StatusAbandoned}[g.r.IntN(3)]
		b.StartOfState = g.now
		ev.Why = []engine.Cause{engine.CauseExpiry, engine.CauseRelease, engine.CauseDecline}[g.r.IntN(3)]
	default:
		ev.Kind, ev.Why = engine.EventFree, engine.CauseReclaim
	}
	ev.Binding = b
	if ev.Kind == engine.EventFree {
		delete(g.held, p)
	} else {
		g.held[p] = b
	}
	return ev
}

func (g *gen) lease(b *engine.Binding) {
	if b.Status != engine.StatusActive {
		b.StartOfState = g.now
	}
	b.Status = engine.StatusActive
	b.CLTT = g.now
	b.Valid = 3600
	b.Preferred = 1800
	b.Expires = g.now + 3600
}

func (g *gen) events(n int) []engine.Event {
	evs := make([]engine.Event, n)
	for i := range evs {
		evs[i] = g.next()
	}
	return evs
}

func openT(t testing.TB, o Options) *Journal {
	t.Helper()
	if o.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			o.Logger = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
		}
	}
	j, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// appendAll applies evs to e and appends them in batches of varying size,
// taking a snapshot whenever one is due, the way the serving loop does.
func appendAll(t testing.TB, j *Journal, e *engine.Engine, evs []engine.Event, maxBatch int, r *rand.Rand) {
	t.Helper()
	for len(evs) > 0 {
		n := 1 + r.IntN(maxBatch)
		if n > len(evs) {
			n = len(evs)
		}
		for i := range evs[:n] {
			e.Apply(evs[i])
		}
		seq, err := j.Append(evs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if j.SnapshotDue() {
			if err := j.Snapshot(e, seq); err != nil {
				t.Fatal(err)
			}
		}
		evs = evs[n:]
	}
}

// rawDB opens the store with Pebble directly, to damage it.
func rawDB(t testing.TB, dir string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{
		FormatMajorVersion: formatMajorVersion,
		Logger:             pebbleLogger{zap.NewNop()},
	})
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func eventKey(seq uint64) []byte {
	var k [seqKeyLen]byte
	return append([]byte(nil), seqKey(&k, tagEvent, seq)...)
}

// records returns e's records by resource.
func records(e *engine.Engine) map[netip.Prefix]engine.Binding {
	m := make(map[netip.Prefix]engine.Binding)
	e.ForEach(func(b *engine.Binding) bool {
		m[b.Prefix] = *b
		return true
	})
	return m
}

package engine

// Proportional allocation of delegable prefixes (pdsplit.go, RFC 8156
// §4.2.2): the primary moves a share of the free prefixes to the secondary
// as FREE-BACKUP, each side delegates from its own, the secondary's
// delegation beats the primary's record of its pool, and a reclaim waits
// for the secondary's ack.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// newSplitPair is newPair with pd-secondary-share 0.5 on both sides.
// basicConfig's pd-pools: 256 /56s in subnet 1, 4096 /60s in subnet 2;
// edit, if not nil, changes both sides' config.
func newSplitPair(t *testing.T, edit ...func(*Config)) (p, s *foSide) {
	t.Helper()
	mk := func(primary bool) *foSide {
		duid := otherServerDUID
		if primary {
			duid = testServerDUID
		}
		cfg := foConfig(primary, duid)
		cfg.Relationships[0].PDSecondaryShare = 0.5
		for _, f := range edit {
			f(&cfg)
		}
		return &foSide{tester: newTester(t, cfg)}
	}
	p, s = mk(true), mk(false)
	for _, x := range []*foSide{p, s} {
		x.step(Input{Kind: InputTick})
	}
	for _, x := range []*foSide{p, s} {
		x.step(Input{Kind: InputPeerUp, Rel: 0})
	}
	pump(t, p, s)
	if p.state() != StateNormal || s.state() != StateNormal {
		t.Fatalf("primary %v, secondary %v: want both normal", p.state(), s.state())
	}
	return p, s
}

// receivedAny is received for either form: a prefix record with no client
// travels in the prefix form.
func receivedAny(b *Binding, base int64) ReceivedLease {
	u := received(b, base)
	if b.DUID == "" && b.Kind == KindPD {
		u.Form = FormPrefix
	}
	return u
}

// deliver sends every lease event in evs that from decided (not CausePartner)
// to to as a BNDUPD, and to's answers back to from; it returns the answers.
func deliver(t *testing.T, from, to *foSide, evs []Event) []PeerBndReply {
	t.Helper()
	var reps []PeerBndReply
	for i, ev := range evs {
		if ev.Kind != EventLease || ev.Why == CausePartner {
			continue
		}
		b := lookup(t, from, ev.Binding.Prefix) // the record as it is now, as the Outbox sends it
		u := receivedAny(&b, to.now.Unix())
		_, rep := to.bndUpd(t, &u, uint32(i+1))
		from.ack(t, rep)
		reps = append(reps, rep)
	}
	return reps
}

func rebalanceEvents(evs []Event) (toBackup, reclaims int) {
	for _, ev := range evs {
		if ev.Why != CauseRebalance {
			continue
		}
		switch ev.Binding.Status {
		case StatusFreeBackup:
			toBackup++
		case StatusFree:
			reclaims++
		}
	}
	return
}

func backupSet(s *foSide) map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	s.e.ForEach(func(b *Binding) bool {
		if b.Kind == KindPD && b.Status == StatusFreeBackup {
			out[b.Prefix] = true
		}
		return true
	})
	return out
}

// The primary moves half of each pool to the secondary, at most
// maxMovesPerTick per pool and tick, then stops (hysteresis): 128 of
// subnet 1's 256 at once, 32768 of subnet 2's 65536 over four ticks. The
// secondary accepts each move, and neither side's expiry drops the records.
func TestSplitMovesShareToSecondary(t *testing.T) {
	p, s := newSplitPair(t, func(c *Config) {
		c.Subnets[1].PDPools = []PDPool{{Prefix: mustPrefix("2001:db8:200::/44"), DelegatedLen: 60}}
	})
	var moved []int
	for range 6 {
		evs := p.tickFo(time.Second)
		n, r := rebalanceEvents(evs)
		if r != 0 {
			t.Fatalf("reclaims on a fresh pair: %d", r)
		}
		moved = append(moved, n)
		for _, rep := range deliver(t, p, s, evs) {
			if !rep.Accepted {
				t.Fatalf("secondary rejected the move of %v: status %d", rep.Prefix, rep.StatusCode)
			}
		}
	}
	const m = maxMovesPerTick
	if want := []int{128 + m, m, m, 32768 - 3*m, 0, 0}; !equalInts(moved, want) {
		t.Fatalf("moves per tick %v, want %v", moved, want)
	}
	pb, sb := backupSet(p), backupSet(s)
	if len(pb) != 128+32768 || len(sb) != len(pb) {
		t.Fatalf("FREE-BACKUP records: primary %d, secondary %d, want %d each", len(pb), len(sb), 128+32768)
	}
	for pfx := range pb {
		if !sb[pfx] {
			t.Fatalf("%v is FREE-BACKUP on the primary only", pfx)
		}
	}
	p.tickFo(time.Hour)
	s.tickFo(time.Hour)
	if len(backupSet(p)) != len(pb) || len(backupSet(s)) != len(sb) {
		t.Fatal("expiry dropped FREE-BACKUP records")
	}
	wantReplayed(t, p, s)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// grantPD leases a prefix of subnet 1 to client c on x; ok is false when x
// answers NoPrefixAvail.
func grantPD(t *testing.T, x *foSide, c int) (Binding, bool) {
	t.Helper()
	x.client(x.msgFor(wire.Solicit, c, false, true))
	r := x.client(x.msgFor(wire.Request, c, false, true))
	ia := findIA(t, &r.reply(t).Msg, KindPD, 1)
	if ia.NumPrefixes == 0 {
		return Binding{}, false
	}
	return lookup(t, x, ia.Prefixes[0].Prefix), true
}

// RFC 8156 §4.2.2: in COMMUNICATIONS-INTERRUPTED each side delegates from
// its own pool only — the secondary its FREE-BACKUP prefixes, the primary
// the rest — so the two never hand out the same prefix; when the
// secondary's own pool is empty it answers NoPrefixAvail.
func TestSplitEachSideDelegatesItsOwn(t *testing.T) {
	p, s := newSplitPair(t)
	deliver(t, p, s, p.tickFo(time.Second))
	backup := backupSet(s)
	for _, x := range []*foSide{p, s} {
		x.advance(time.Minute)
		x.step(Input{Kind: InputPeerDown})
		if x.state() != StateCommInterrupted {
			t.Fatalf("state %v, want communications-interrupted", x.state())
		}
	}
	got := map[netip.Prefix]string{}
	for c := 0; c < 120; c++ {
		for _, x := range []*foSide{p, s} {
			b, ok := grantPD(t, x, 1000+2*c+boolInt(x == s))
			if !ok {
				t.Fatalf("client %d: no prefix", c)
			}
			who := map[bool]string{true: "primary", false: "secondary"}[x == p]
			if other, dup := got[b.Prefix]; dup {
				t.Fatalf("%v delegated by the %s and the %s", b.Prefix, other, who)
			}
			got[b.Prefix] = who
			if backup[b.Prefix] != (x == s) {
				t.Fatalf("the %s delegated %v (FREE-BACKUP: %v)", who, b.Prefix, backup[b.Prefix])
			}
		}
	}
	// 128 moved in subnet 1: 8 left for the secondary, then none.
	for c := 0; c < 8; c++ {
		if _, ok := grantPD(t, s, 5000+c); !ok {
			t.Fatalf("secondary: own pool empty after %d more", c)
		}
	}
	if _, ok := grantPD(t, s, 6000); ok {
		t.Fatal("secondary delegated beyond its FREE-BACKUP prefixes in CI")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The secondary's delegation of a FREE-BACKUP prefix reaches the primary
// within the table's 5 s tie (t_upd not later than t_db): accepted all
// the same (splitAccepts), or a primary in PARTNER-DOWN could give the
// prefix to a second client.
func TestSplitSecondaryDelegationBeatsPrimaryRecord(t *testing.T) {
	p, s := newSplitPair(t)
	deliver(t, p, s, p.tickFo(time.Second))
	s.step(Input{Kind: InputPeerDown})
	b, ok := grantPD(t, s, 42)
	if !ok {
		t.Fatal("secondary in CI: no prefix")
	}
	if before := lookup(t, p, b.Prefix); before.Status != StatusFreeBackup {
		t.Fatalf("primary's record %v, want free-backup", before.Status)
	}
	u := receivedAny(&b, p.now.Unix())
	_, rep := p.bndUpd(t, &u, 7)
	if !rep.Accepted {
		t.Fatalf("primary rejected the secondary's delegation: status %d", rep.StatusCode)
	}
	if got := lookup(t, p, b.Prefix); got.Status != StatusActive || got.DUID != b.DUID {
		t.Fatalf("primary's record %+v", got)
	}
	// The table alone still rejects an ACTIVE over a plain FREE-BACKUP on
	// the secondary side: only the primary defers to its partner's pool.
	if splitAccepts(&Binding{Kind: KindPD, Status: StatusFreeBackup}, &u, false) {
		t.Fatal("splitAccepts for the secondary accepted a client update")
	}
	wantReplayed(t, p, s)
}

// Taking prefixes back (§4.2.2: "P may reclaim a prefix with a BNDUPD set
// to FREE. S MUST reject it if it has already delegated that prefix"):
// the primary, short of prefixes, reclaims some; until the secondary acks
// a reclaim the prefix stays the secondary's; one the secondary delegated
// meanwhile is rejected and its ACTIVE wins on the primary.
func TestSplitReclaim(t *testing.T) {
	p, s := newSplitPair(t)
	deliver(t, p, s, p.tickFo(time.Second))
	// The secondary delegates one FREE-BACKUP prefix in a short CI.
	s.step(Input{Kind: InputPeerDown})
	sb, ok := grantPD(t, s, 7)
	if !ok {
		t.Fatal("secondary: no prefix")
	}
	// The primary uses up most of its own half: 120 of subnet 1's 128.
	for c := 0; c < 120; c++ {
		if _, ok := grantPD(t, p, 100+c); !ok {
			t.Fatalf("primary: no prefix for client %d", c)
		}
	}
	// Its tick reclaims: free 8, FREE-BACKUP 128 → target 68.
	evs := p.tickFo(time.Second)
	toB, rec := rebalanceEvents(evs)
	if toB != 0 || rec != 60 {
		t.Fatalf("rebalance: %d moves, %d reclaims; want 0, 60", toB, rec)
	}
	var reclaimed []netip.Prefix
	for _, ev := range evs {
		if ev.Why == CauseRebalance {
			reclaimed = append(reclaimed, ev.Binding.Prefix)
		}
	}
	// Unacked, a reclaimed prefix is still the secondary's: the primary
	// does not delegate it (it has 8 free prefixes, then none).
	for c := 0; c < 9; c++ {
		b, ok := grantPD(t, p, 300+c)
		if c == 8 {
			if ok {
				t.Fatalf("primary delegated %v: an unacked reclaim or a FREE-BACKUP prefix", b.Prefix)
			}
			break
		}
		if !ok {
			t.Fatalf("primary: no prefix for client %d of its last 8", c)
		}
	}
	// The secondary answers each reclaim; the one it delegated (if
	// reclaimed) is refused, and its ACTIVE then wins on the primary.
	var refused int
	for i, pfx := range reclaimed {
		b := lookup(t, p, pfx)
		if !reclaiming(&b) {
			t.Fatalf("%v: %+v, want an unacked reclaim", pfx, b)
		}
		u := receivedAny(&b, s.now.Unix())
		_, rep := s.bndUpd(t, &u, uint32(100+i))
		p.ack(t, rep)
		if pfx == sb.Prefix {
			if rep.Accepted {
				t.Fatal("the secondary accepted the reclaim of a prefix it delegated")
			}
			refused++
			a := lookup(t, s, pfx)
			ua := receivedAny(&a, p.now.Unix())
			if _, r := p.bndUpd(t, &ua, 999); !r.Accepted {
				t.Fatalf("primary rejected the secondary's ACTIVE over its reclaim: %d", r.StatusCode)
			}
			continue
		}
		if !rep.Accepted {
			t.Fatalf("secondary refused the reclaim of %v: %d", pfx, rep.StatusCode)
		}
		if got, ok := s.e.Lookup(pfx); ok && got.Status == StatusFreeBackup {
			t.Fatalf("%v still FREE-BACKUP on the secondary", pfx)
		}
	}
	// Acked reclaims are the primary's again: after a tick drops their
	// records it delegates them.
	p.tickFo(time.Second)
	if _, ok := grantPD(t, p, 400); !ok {
		t.Fatal("primary cannot delegate an acked reclaim")
	}
	if got := lookup(t, p, sb.Prefix); got.Status != StatusActive || got.DUID != sb.DUID {
		t.Fatalf("primary's record of the secondary's delegation: %+v", got)
	}
	wantReplayed(t, p, s)
}

// A POOLREQ makes the primary rebalance at once; on the secondary it
// changes nothing.
func TestSplitPoolReq(t *testing.T) {
	p, s := newSplitPair(t)
	evs, _ := p.stepRd(Input{Kind: InputPoolReq, Rel: 0})
	if n, _ := rebalanceEvents(evs); n != 128+2048 {
		t.Fatalf("POOLREQ moved %d prefixes", n)
	}
	if evs, _ := s.stepRd(Input{Kind: InputPoolReq, Rel: 0}); len(evs) != 0 {
		t.Fatalf("a secondary's POOLREQ made %d events", len(evs))
	}
}

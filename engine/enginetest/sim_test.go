package enginetest

import (
	"flag"
	"strings"
	"testing"

	"github.com/tandemdhcp/tandem/replicate"
)

var (
	simSeeds = flag.Int("sim.seeds", 200, "seeds TestSim runs")
	simSteps = flag.Int("sim.steps", 2000, "steps per seed")
	simSeed  = flag.Int64("sim.seed", -1, "replay only this seed, with its whole trace")
	simFirst = flag.Uint64("sim.first", 1, "first seed TestSim runs")
	simSkip  = flag.String("sim.skip", "", "comma-separated checks to park: mclt,conflict,durable,service,converge")
	simAll   = flag.Bool("sim.all", false, "run every check, the parked ones too")
)

// Invariant checks parked because of a known engine bug. Each must name the
// bug; flip back to false once it is fixed. All false: every check is on.
//
// All on: 1-mclt (client expiry within MCLT of what the partner knows),
// 2-conflict (no resource ACTIVE for two clients across the pair),
// 3-durable (every lease a client was told, and every lease acked to the
// partner, survives a crash), 4-service (who may answer in which state)
// and converge (after healing both NORMAL, ACTIVE leases agree): clean
// over 1,000 seeds × 2,000 steps (go test ./engine/enginetest -run
// 'TestSim$' -sim.all -sim.seeds=1000) after the fixes this simulator
// found (stale updates shortening a lease or splitting its CLTT from its
// lifetime, a lease revived on the partner's half in CI, ack times
// outliving the lease, F_EXPIRATION_TIME taken as a debt; then the mutual
// Outdated tie: records with the same time ±5 s each kept by its own side,
// now broken the same way on both (engine.tieAccept), an ACTIVE keeping an
// older, longer grant over the client's newer one, a late ack of a
// RELEASED taken as ack_pl of the same client's new grant, and a re-grant
// forgetting the partner-lifetime the partner still renews on in CI).
//
// Also clean over seeds 1,001-2,000 (-sim.first=1001) since the last
// three fixes: a link reopening with the STATE it sent before it went
// down (seed 1486: a partner in STARTUP saw NORMAL from a server in
// PARTNER-DOWN and skipped RECOVER; now Engine.StateMessage keeps it
// current), and the checker crediting an older BNDUPD's ack to a grant
// made after it was sent (1205, 1980; markAcked now needs the ack to
// answer the newest update).
var parked = Checks{}

func checks(t *testing.T) Checks {
	c := parked
	if *simAll {
		c = Checks{}
	}
	for _, n := range strings.Split(*simSkip, ",") {
		switch n {
		case "":
		case "mclt":
			c.SkipMCLT = true
		case "conflict":
			c.SkipConflict = true
		case "durable":
			c.SkipDurable = true
		case "service":
			c.SkipService = true
		case "converge":
			c.SkipConverge = true
		default:
			t.Fatalf("-sim.skip: unknown check %q", n)
		}
	}
	return c
}

func TestSim(t *testing.T) {
	if *simSeed >= 0 {
		res := Run(Options{Seed: uint64(*simSeed), Steps: *simSteps, Verbose: testing.Verbose(), Log: func(s string) { t.Log(s) },
			Checks: checks(t), TraceLen: 200})
		t.Logf("stats: %+v", res.Stats)
		if res.Failure != "" {
			t.Fatal(res.String())
		}
		return
	}
	seeds := *simSeeds
	if testing.Short() {
		seeds /= 10
	}
	var agg Stats
	failed := 0
	for n := 0; n < seeds; n++ {
		seed := *simFirst + uint64(n)
		res := Run(Options{Seed: seed, Steps: *simSteps, Checks: checks(t)})
		agg.Replies += res.Stats.Replies
		agg.Grants += res.Stats.Grants
		agg.Crashes += res.Stats.Crashes
		agg.MidReadyCrashes += res.Stats.MidReadyCrashes
		agg.Partitions += res.Stats.Partitions
		agg.AdminPD += res.Stats.AdminPD
		agg.BndUpds += res.Stats.BndUpds
		agg.Batched += res.Stats.Batched
		agg.QuickReleases += res.Stats.QuickReleases
		agg.ReleasesChecked += res.Stats.ReleasesChecked
		if res.Failure != "" {
			failed++
			if failed <= 3 {
				t.Error(res.String())
			} else {
				t.Errorf("seed %d: invariant %s: %s", seed, res.Invariant, res.Failure)
			}
		}
	}
	t.Logf("%d seeds × %d steps, %d failed; replies %d, grants %d, crashes %d (%d mid-ready), partitions %d, admin partner-down %d, BNDUPDs %d, commits of several partner messages %d, quick releases %d (%d resources checked released on both)",
		seeds, *simSteps, failed, agg.Replies, agg.Grants, agg.Crashes, agg.MidReadyCrashes, agg.Partitions, agg.AdminPD, agg.BndUpds, agg.Batched,
		agg.QuickReleases, agg.ReleasesChecked)
}

// TestSimDeterministic: a seed replays to the same trace.
func TestSimDeterministic(t *testing.T) {
	a := Run(Options{Seed: 7, Steps: 500, TraceLen: 1000})
	b := Run(Options{Seed: 7, Steps: 500, TraceLen: 1000})
	if strings.Join(a.Trace, "\n") != strings.Join(b.Trace, "\n") {
		t.Fatal("same seed, different traces")
	}
}

// findFailure looks for a seed whose clean run passes (so the engine's own
// bugs cannot be mistaken for the fault) and whose faulty run fails
// invariant inv.
func findFailure(t *testing.T, f Faults, c Checks, inv string) {
	t.Helper()
	for seed := uint64(1); seed <= 200; seed++ {
		o := Options{Seed: seed, Steps: 1000, MidReadyCrash: 0.03, Checks: c}
		if Run(o).Failure != "" {
			continue
		}
		o.Faults = f
		res := Run(o)
		if res.Failure == "" {
			continue
		}
		if res.Invariant != inv {
			t.Fatalf("seed %d: expected invariant %s to fail, got %s: %s", seed, inv, res.Invariant, res.Failure)
		}
		t.Logf("caught at seed %d: %s", seed, res.Failure)
		return
	}
	t.Fatalf("fault %+v never caught", f)
}

// The checker can fail: replies released before their events are durable
// are lost by a crash, and invariant 3 says so.
func TestCheckerCatchesVisibleBeforeDurable(t *testing.T) {
	findFailure(t, Faults{VisibleBeforeDurable: true}, Checks{SkipConverge: true}, "3-durable")
}

// The checker can fail: acks that overstate what the partner stored let the
// engine exceed the MCLT bound, and invariant 1 says so.
func TestCheckerCatchesInflatedAck(t *testing.T) {
	// Durability is off here: a record whose ack was inflated trips
	// engine bug 1 (see the package's bug list) before the cap does.
	findFailure(t, Faults{InflateAck: true}, Checks{SkipConverge: true, SkipDurable: true}, "1-mclt")
}

// The checker catches a bug in the shipped partner protocol, not only in
// the harness: a Stream that takes a BNDUPD as acked when it is sent
// rather than when its BNDREPLY arrives believes the partner stored what
// it never did (the BNDUPD lost to a partition or a crash), and invariant
// 3 finds a lease the granter counts as acked gone from the partner's
// journal. (The MCLT bound is parked here: it often catches the same bug
// first, the cap computed from a lifetime the partner never stored; see
// the next test.)
func TestCheckerCatchesStreamAckOnSend(t *testing.T) {
	findFailure(t, Faults{Stream: replicate.StreamFaults{AckOnSend: true}}, Checks{SkipConverge: true, SkipMCLT: true}, "3-durable")
}

// The same planted bug, with durability parked, breaks the MCLT bound.
func TestCheckerCatchesStreamAckOnSendMCLT(t *testing.T) {
	findFailure(t, Faults{Stream: replicate.StreamFaults{AckOnSend: true}}, Checks{SkipConverge: true, SkipDurable: true}, "1-mclt")
}

package main

// Chaos for the pair, end to end, on the failover topology of
// failover_e2e_test.go: under continuous perfdhcp load with renewals, a
// seeded script runs cycles that each do one of
//
//   - partition: cut the partner link (nft, as the partition tests do) for a
//     random while, then heal it;
//   - kill: kill -9 one side (chosen at random), leave it down a random
//     while, restart it on its data dir;
//   - wipe: kill -9 one side and restart it with an empty data dir (it
//     recovers through RECOVER, UPDREQALL and RECOVER-WAIT, MCLT long);
//   - partition-kill: cut the link, kill -9 one side and restart it while
//     the link is still cut (it comes up without its partner), then heal;
//
// and waits for both to be NORMAL again, logging each cycle's timings. At
// the end, with the load stopped: both NORMAL, nothing active for two
// clients across the pair (foCheckUnion), the two lease databases agree
// (waitAgree), and every client that was bound and replicated before the
// chaos was told the same address and prefix in every REPLY it got
// throughout — read from tcpdump on the client link, not from the servers.
//
// The seed is logged; TANDEM_CHAOS_SEED=N replays a run's script.

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chaosMCLT is the config minimum: a wiped server waits it out in
// RECOVER-WAIT, so it sets the cost of a wipe cycle.
const chaosMCLT = 30 * time.Second

// chaosCycle is one step of the script.
type chaosCycle struct {
	action  string // partition, kill, wipe, partition-kill
	primary bool   // which side (kill, wipe)
	hold    time.Duration
}

func (c chaosCycle) String() string {
	side := "secondary"
	if c.primary {
		side = "primary"
	}
	switch c.action {
	case "partition":
		return fmt.Sprintf("partition for %v", c.hold.Round(time.Millisecond))
	case "kill":
		return fmt.Sprintf("kill -9 the %s, down %v", side, c.hold.Round(time.Millisecond))
	case "partition-kill":
		return fmt.Sprintf("partition, kill -9 the %s, restart it, heal after %v", side, c.hold.Round(time.Millisecond))
	default:
		return fmt.Sprintf("kill -9 the %s, wipe its data dir, restart after %v", side, c.hold.Round(time.Millisecond))
	}
}

// chaosScript draws 10 cycles: 3 partitions, 2 kills of each side, one wipe
// of a random side, one kill of a random side during a partition, and one
// more partition or kill, in random order.
func chaosScript(rng *rand.Rand) []chaosCycle {
	var cs []chaosCycle
	add := func(action string, primary bool) {
		c := chaosCycle{action: action, primary: primary}
		switch action {
		case "partition":
			c.hold = time.Second + time.Duration(rng.Int63n(int64(5*time.Second)))
		case "partition-kill":
			c.hold = 3*time.Second + time.Duration(rng.Int63n(int64(3*time.Second)))
		case "kill":
			c.hold = 200*time.Millisecond + time.Duration(rng.Int63n(int64(3*time.Second)))
		case "wipe":
			c.hold = 200*time.Millisecond + time.Duration(rng.Int63n(int64(time.Second)))
		}
		cs = append(cs, c)
	}
	for i := 0; i < 3; i++ {
		add("partition", false)
	}
	for i := 0; i < 4; i++ {
		add("kill", i%2 == 0)
	}
	add("wipe", rng.Intn(2) == 0)
	add("partition-kill", rng.Intn(2) == 0)
	if rng.Intn(2) == 0 {
		add("partition", false)
	} else {
		add("kill", rng.Intn(2) == 0)
	}
	rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	return cs
}

func TestFailoverChaos(t *testing.T) {
	requireE2E(t, "perfdhcp", "tcpdump", "nft")
	seed := e2eSeed(t, "TANDEM_CHAOS_SEED")
	t.Logf("seed %d (TANDEM_CHAOS_SEED=%d replays this script)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	script := chaosScript(rng)
	for i, c := range script {
		t.Logf("script %2d: %v", i+1, c)
	}

	fp := newFoPairWith(t, defaultLifetimes, foWithMCLT(chaosMCLT))
	secTp := fp.sec.tp
	pcap := filepath.Join(fp.cli.dir, "chaos.pcap")
	td := fp.cli.captureDHCP(t, fp.cli.cli, foBridge, pcap, 6*time.Minute)

	// Two perfdhcps for the whole run, multicast on the client link (both
	// servers hear them). The renewing clients: 1,000 clients drawn in turn
	// at 100/s, so each comes back every 10 s — well under the 30 s (MCLT)
	// lifetime of a first lease — with a SOLICIT that must get its binding
	// back, plus RENEWs of the bindings it got (-f), which carry the
	// answering server's id. The new clients: a million, at 100/s, from
	// their own port (-L): allocations, and expiries of their MCLT-capped
	// leases, all through the chaos.
	args := []string{"-6", "-r", "100", "-f", "25", "-p", "400", "-R", "1000", "-W", "500000",
		"-e", "address-and-prefix", "-b", "mac=00:0c:0c:00:00:00", "-l", foBridge}
	perf := fp.cli.start(fp.cli.cli, "perfdhcp", 7*time.Minute, "perfdhcp", args...)
	argsNew := []string{"-6", "-r", "100", "-p", "400", "-R", "1000000", "-W", "500000", "-L", "5460",
		"-e", "address-and-prefix", "-b", "mac=00:0c:0d:00:00:00", "-l", foBridge}
	perfNew := fp.cli.start(fp.cli.cli, "perfdhcp-new", 7*time.Minute, "perfdhcp", argsNew...)

	// Warm-up: clients bind, the pair replicates, and every renewing
	// client comes back at least once (2.5 rounds of 10 s), so that its
	// lease is no longer the MCLT-capped first one (30 s: a SOLICIT lost
	// in a takeover gap would let it lapse); then the load goes on while
	// the script runs.
	time.Sleep(25 * time.Second)
	fp.waitStates(t, 10*time.Second, "normal", "normal")
	chaosStart := time.Now()
	pl0, sl0 := fp.prim.leases(t, ""), fp.sec.leases(t, "")
	t.Logf("warm-up done: primary %d active, secondary %d active", len(foActive(pl0)), len(foActive(sl0)))

	partitioned := false
	t.Cleanup(func() {
		if partitioned {
			secTp.exec(secTp.srv, 10*time.Second, "nft", "delete", "table", "inet", "tfopart")
		}
	})
	for i, c := range script {
		for _, p := range []*proc{perf, perfNew} {
			if p.exited() {
				t.Fatalf("%s exited during the chaos: %v\n%s", p.name, p.err, tail(p.log(), 20))
			}
		}
		// A random pause under load before the next blow.
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int63n(int64(1500*time.Millisecond))))
		s := fp.sec
		if c.primary {
			s = fp.prim
		}
		t0 := time.Now()
		var detail string
		switch c.action {
		case "partition":
			foNft(t, secTp, secTp.srv, foCutRules)
			partitioned = true
			time.Sleep(c.hold)
			pr, sr := foGetStatus(t, fp.prim).Relationships[0], foGetStatus(t, fp.sec).Relationships[0]
			detail = fmt.Sprintf("before the heal: primary %s, secondary %s", pr.State, sr.State)
			foNft(t, secTp, secTp.srv, "delete table inet tfopart\n")
			partitioned = false
		case "partition-kill":
			foNft(t, secTp, secTp.srv, foCutRules)
			partitioned = true
			time.Sleep(c.hold / 3)
			s.kill9(t)
			time.Sleep(c.hold / 3)
			s.start(t)
			restarted := time.Now()
			time.Sleep(c.hold / 3)
			r := foGetStatus(t, s).Relationships[0]
			detail = fmt.Sprintf("restarted side %v after its restart (partitioned): %s", time.Since(restarted).Round(time.Millisecond), r.State)
			foNft(t, secTp, secTp.srv, "delete table inet tfopart\n")
			partitioned = false
		case "kill", "wipe":
			s.kill9(t)
			if c.action == "wipe" {
				if err := os.RemoveAll(s.dataDir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(c.hold)
			s.start(t)
			detail = fmt.Sprintf("restarted %v after the kill", time.Since(t0).Round(time.Millisecond))
		}
		limit := 60 * time.Second
		if c.action == "wipe" {
			limit = chaosMCLT + 60*time.Second
		}
		took := fp.waitStates(t, limit, "normal", "normal")
		pst, sst := foGetStatus(t, fp.prim), foGetStatus(t, fp.sec)
		var path string
		if c.action != "partition" {
			var ts []string
			for _, x := range foTransitions(t, s) {
				ts = append(ts, x.to)
			}
			path = "; restarted side went " + strings.Join(ts, "→")
			if len(ts) == 0 {
				path = "; restarted side logged no state change (back in its stored state)"
			}
		}
		t.Logf("cycle %2d: %v: %s; both normal %v after (cycle %v)%s; active: primary %d+%d, secondary %d+%d; unacked %d/%d",
			i+1, c, detail, took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), path,
			pst.Leases.NAActive, pst.Leases.PDActive, sst.Leases.NAActive, sst.Leases.PDActive,
			pst.Relationships[0].Unacked, sst.Relationships[0].Unacked)
	}
	chaosEnd := time.Now()

	// Stop the load, let the pair settle, stop the capture.
	time.Sleep(time.Second)
	_ = perf.stop(syscall.SIGINT, 10*time.Second)
	_ = perfNew.stop(syscall.SIGINT, 10*time.Second)
	t.Logf("perfdhcp %s\n%s", strings.Join(args, " "), perfSummary(perf.log()))
	t.Logf("perfdhcp %s\n%s", strings.Join(argsNew, " "), perfSummary(perfNew.log()))
	fp.waitSettled(t, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	if err := td.stop(syscall.SIGINT, 10*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}

	// Both databases agree and no resource has two clients. The new
	// clients' leases (MCLT-capped, never renewed) expire on both servers
	// by their own ticks within MCLT of the load's end; a read of the two
	// lists may straddle an expiry until then.
	agreeStart := time.Now()
	prim, sec := fp.waitAgree(t, chaosMCLT+30*time.Second)
	t.Logf("the lease databases agree %v after the pair settled", time.Since(agreeStart).Round(time.Millisecond))
	// (No checkActiveLeases: the new clients' MCLT-capped leases keep
	// expiring after the load, so /v1/status and /v1/leases, read apart,
	// differ by those.)
	foCheckUnion(t, prim, sec)
	// Those expiries are lease changes too, replicated as they happen: a
	// batch of them is unacked for the few milliseconds its BNDREPLY
	// takes, so "nothing unacked" is judged over a few reads, not one.
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		r := foGetStatus(t, s).Relationships[0]
		for deadline := time.Now().Add(10 * time.Second); r.Unacked != 0 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			r = foGetStatus(t, s).Relationships[0]
		}
		if r.State != "normal" || !r.CommOK || r.Unacked != 0 {
			t.Errorf("at the end: {%v}, want normal, comm_ok, nothing unacked", r)
		}
	}

	// What clients were told. A client IA (DUID, IAID, kind) that was bound
	// before the chaos — and held by both servers then, so replicated — and
	// whose lease never lapsed (each REPLY came before the valid lifetime
	// of the one before ran out, 2 s of slack for the servers' expiry tick)
	// renewed throughout: it must have been given the same resource in
	// every REPLY of the run. An IA whose lease lapsed may legitimately get
	// another one (its old one expired); those are only counted.
	replies, packets, err := readPcapReplies(pcap)
	if err != nil {
		t.Fatal(err)
	}
	type iaKey struct {
		duid, kind string
		iaid       uint32
	}
	byIA := map[iaKey][]replyLease{}
	for _, r := range replies {
		k := iaKey{string(r.duid), r.kind, r.iaid}
		byIA[k] = append(byIA[k], r)
	}
	bothHeld := map[string]bool{}
	sa := foActive(sl0)
	for key, l := range foActive(pl0) {
		if o, ok := sa[key]; ok && sameClient(l, o) {
			d, _ := parseDUID(l.DUID)
			bothHeld[fmt.Sprintf("%x %s %d %s", d, l.Kind, l.IAID, canon(l.Kind, l.resource()))] = true
		}
	}
	judged, lapsed, changed, otherChanged := 0, 0, 0, 0
	var bad []string
	for k, rs := range byIA {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ts.Before(rs[j].ts) })
		distinct := map[string]bool{}
		never := true
		for i, r := range rs {
			distinct[r.resource] = true
			if i > 0 && r.ts.Sub(rs[i-1].ts) > time.Duration(rs[i-1].valid)*time.Second-2*time.Second {
				never = false
			}
		}
		pre := rs[0].ts.Before(chaosStart) && bothHeld[fmt.Sprintf("%x %s %d %s", k.duid, k.kind, k.iaid, rs[0].resource)]
		through := rs[len(rs)-1].ts.After(chaosEnd.Add(-20 * time.Second))
		if !pre || !through {
			if len(distinct) > 1 {
				otherChanged++
			}
			continue
		}
		if !never {
			lapsed++
			if len(distinct) > 1 {
				otherChanged++
				if otherChanged <= 5 {
					var list []string
					for _, r := range rs {
						list = append(list, fmt.Sprintf("%s %s (valid %ds)", r.ts.Format("15:04:05.000"), r.resource, r.valid))
					}
					t.Logf("lapsed, then given another resource: duid %s iaid %d %s: %s", formatDUID([]byte(k.duid)), k.iaid, k.kind, strings.Join(list, ", "))
				}
			}
			continue
		}
		judged++
		if len(distinct) > 1 {
			changed++
			var list []string
			for _, r := range rs {
				list = append(list, fmt.Sprintf("%s %s (valid %ds)", r.ts.Format("15:04:05.000"), r.resource, r.valid))
			}
			bad = append(bad, fmt.Sprintf("duid %s iaid %d %s: %s", formatDUID([]byte(k.duid)), k.iaid, k.kind, strings.Join(list, ", ")))
		}
	}
	sort.Strings(bad)
	for _, b := range bad[:min(len(bad), 20)] {
		t.Errorf("a client that renewed throughout was given another resource: %s", b)
	}
	t.Logf("pcap: %d packets, %d leases in REPLYs, %d client IAs; %d bound and replicated before the chaos renewed throughout (REPLYs until its last 20 s, lease never lapsed): %d of them were given another resource; %d more lapsed in between; %d other IAs were given more than one resource (lapsed, or bound during the chaos)",
		packets, len(replies), len(byIA), judged, changed, lapsed, otherChanged)
	if judged < 1500 {
		t.Errorf("only %d client IAs renewed throughout the chaos: the check means little", judged)
	}
	t.Logf("FIGURE chaos: %d cycles (seed %d) in %v under perfdhcp %s and %s: both normal at the end, %d and %d active, databases agree, no resource with two clients; %d pre-chaos client IAs checked on the wire, %d changed resource",
		len(script), seed, chaosEnd.Sub(chaosStart).Round(time.Second), strings.Join(args, " "), strings.Join(argsNew, " "),
		len(foActive(prim)), len(foActive(sec)), judged, changed)
}

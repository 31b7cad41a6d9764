package main

// End-to-end tests of a failover pair's recovery paths, on the topology and
// with the helpers of failover_e2e_test.go (real `tandem serve` processes in
// network namespaces, perfdhcp and `tandem bench` as clients):
//
//   - TestFailoverRecoverAfterWipe: the secondary loses its data dir and
//     comes back through RECOVER, UPDREQALL, RECOVER-WAIT and RECOVER-DONE to
//     NORMAL holding every lease of the primary.
//   - TestFailoverBothPartnerDown: both servers are put in PARTNER-DOWN while
//     the partner link is cut, both lease to their own clients (past MCLT,
//     from the partner's pool too), and after the heal both pass
//     POTENTIAL-CONFLICT to NORMAL with one owner per resource.
//   - TestFailoverHostilePeers: fake peers on port 647 (wrong relationship,
//     skewed clock, garbage, a stalled frame) are refused with the right
//     answer while the real pair stays NORMAL and keeps replicating.
//
// With TANDEM_E2E_BIG=1 two more run, for the figures of the closing note
// (they are measurements, not CI tests):
//
//   - TestFailoverRecoverBig: UPDREQALL of 100,000 leases.
//   - TestFailoverFigures: replication lag p50/p99 under perfdhcp load, and
//     the time from kill -9 of the primary to the secondary's first REPLY.
//
// Every endpoint state change is logged by the server ("failover state",
// engine/node/observe.go); the tests read those lines for states too brief
// to poll (RECOVER, POTENTIAL-CONFLICT) and for their times.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"golang.org/x/sys/unix"

	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// foCliAddr is a global address on the client bridge, for relayed load
// (perfdhcp -A 1, tandem bench): the relay link-address it claims selects
// the subnet, and replies come back to it by unicast.
const foCliAddr = "2001:db8:1::3"

// foCutRules drops the partner link (TCP port 647, both directions) in the
// namespace they are loaded in; DHCP on the same link goes on.
const foCutRules = `table inet tfopart {
	chain in  { type filter hook input priority 0; policy accept; tcp dport 647 drop; tcp sport 647 drop; }
	chain out { type filter hook output priority 0; policy accept; tcp dport 647 drop; tcp sport 647 drop; }
}
`

// foBig skips a test unless TANDEM_E2E_BIG=1: measurements for the notes,
// too long for CI.
func foBig(t *testing.T) {
	t.Helper()
	if os.Getenv("TANDEM_E2E_BIG") != "1" {
		t.Skip("a measurement, not a CI test: run with TANDEM_E2E_BIG=1")
	}
}

// ---------------------------------------------------------------------------
// A pair with an edited config

// foWithMCLT returns a config edit that sets the relationship's MCLT (both
// sides must agree; the engine's RECOVER-WAIT and lifetime caps use it).
func foWithMCLT(mclt time.Duration) func(string) string {
	return func(cfg string) string {
		return strings.Replace(cfg, fmt.Sprintf("mclt: %s\n", foMCLT), fmt.Sprintf("mclt: %s\n", mclt), 1)
	}
}

// startFoServerWith is startFoServer with the config text passed through
// edit first.
func startFoServerWith(t *testing.T, tp *topo, ifc, role string, lt lifetimes, edit func(string) string) *tandemServer {
	t.Helper()
	s := &tandemServer{tp: tp, dataDir: filepath.Join(tp.dir, "data"), cfgPath: filepath.Join(tp.dir, "tandem.yaml")}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := foConfig(s.dataDir, ifc, role, lt)
	if edit != nil {
		cfg = edit(cfg)
	}
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.p == nil {
			return
		}
		if t.Failed() {
			t.Logf("tandem %s log (%s):\n%s", role, s.p.logPath, tail(s.p.log(), 80))
		}
		if s.p.exited() {
			return
		}
		if err := s.p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
			t.Errorf("tandem %s did not exit cleanly on SIGTERM: %v\n%s", role, err, tail(s.p.log(), 30))
		}
	})
	s.start(t)
	return s
}

// newFoPairWith is newFoPair with an edited config on both sides.
func newFoPairWith(t *testing.T, lt lifetimes, edit func(string) string) *foPair {
	t.Helper()
	primTp, secTp := newFoTopo(t)
	fp := &foPair{t: t, cli: primTp}
	fp.sec = startFoServerWith(t, secTp, foSecIf, "secondary", lt, edit)
	fp.prim = startFoServerWith(t, primTp, foPrimIf, "primary", lt, edit)
	t0 := time.Now()
	fp.waitStates(t, 30*time.Second, "normal", "normal")
	t.Logf("pair in normal %v after the primary started", time.Since(t0).Round(time.Millisecond))
	return fp
}

// addCliAddr puts foCliAddr on the client bridge (relayed load).
func (fp *foPair) addCliAddr(t *testing.T) {
	t.Helper()
	fp.cli.must("ip", "-n", fp.cli.cli, "-6", "addr", "add", foCliAddr+"/64", "dev", foBridge, "nodad")
}

// relayedPerfdhcp runs perfdhcp as a relay (RELAY-FORW by unicast to one
// server, claiming foCliAddr as link-address) and checks its report like
// foPerfdhcp does.
func (fp *foPair) relayedPerfdhcp(t *testing.T, server, lease string, rate, seconds int, base string) map[string]*perfStats {
	t.Helper()
	args := []string{"-6", "-A", "1", "-r", strconv.Itoa(rate), "-p", strconv.Itoa(seconds), "-R", "100000",
		"-W", "500000", "-e", lease, "-b", "mac=" + base, "-l", foBridge, server}
	out, code, err := fp.cli.exec(fp.cli.cli, time.Duration(seconds+30)*time.Second, "perfdhcp", args...)
	return fp.perfResult(t, args, out, code, err, rate, seconds)
}

// ---------------------------------------------------------------------------
// State changes from the server log

// foTransition is one "failover state" log line of a server.
type foTransition struct {
	at                time.Time
	from, to, partner string
}

func (x foTransition) String() string {
	return fmt.Sprintf("%s %s→%s (partner %s)", x.at.Format("15:04:05.000"), x.from, x.to, x.partner)
}

var reStateLog = regexp.MustCompile(`(?m)^(\S+)\s+INFO\s+.*\tfailover state\t(\{.*\})$`)

// foTransitions reads a server's endpoint state changes from its log
// (console format: ISO 8601 time with milliseconds, level, caller, message,
// JSON fields).
func foTransitions(t *testing.T, s *tandemServer) []foTransition {
	t.Helper()
	var out []foTransition
	for _, m := range reStateLog.FindAllStringSubmatch(s.p.log(), -1) {
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1])
		if err != nil {
			t.Fatalf("state log time %q: %v", m[1], err)
		}
		var f struct{ From, To, Partner string }
		if err := json.Unmarshal([]byte(m[2]), &f); err != nil {
			t.Fatalf("state log fields %q: %v", m[2], err)
		}
		out = append(out, foTransition{at, f.From, f.To, f.Partner})
	}
	return out
}

// foEntered is the first entry into state at or after since.
func foEntered(ts []foTransition, state string, since time.Time) (foTransition, bool) {
	for _, x := range ts {
		if x.to == state && !x.at.Before(since.Truncate(time.Millisecond)) {
			return x, true
		}
	}
	return foTransition{}, false
}

// waitEntered polls a server's log until it has entered state at or after
// since.
func waitEntered(t *testing.T, s *tandemServer, state string, since time.Time, timeout time.Duration) foTransition {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ts := foTransitions(t, s)
		if x, ok := foEntered(ts, state, since); ok {
			return x
		}
		if s.p.exited() {
			t.Fatalf("server exited waiting for %s: %v\n%s", state, s.p.err, tail(s.p.log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no entry into %s within %v; transitions: %v", state, timeout, ts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Lease comparison

// foDisagree lists, both ways, the active leases one server holds that the
// other does not hold active for the same client.
func foDisagree(prim, sec []apiLease) []string {
	var out []string
	for _, m := range missingOnPartner(prim, sec) {
		out = append(out, "primary→secondary: "+m)
	}
	for _, m := range missingOnPartner(sec, prim) {
		out = append(out, "secondary→primary: "+m)
	}
	return out
}

// waitAgree polls both servers' leases until their active sets agree (both
// ways), and returns the lists; it fails the test after timeout.
func (fp *foPair) waitAgree(t *testing.T, timeout time.Duration) (prim, sec []apiLease) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		prim, sec = fp.prim.leases(t, ""), fp.sec.leases(t, "")
		d := foDisagree(prim, sec)
		if len(d) == 0 {
			return prim, sec
		}
		if time.Now().After(deadline) {
			t.Errorf("within %v the lease databases do not agree: %d differences (primary %d active, secondary %d active), e.g.:\n%s",
				timeout, len(d), len(foActive(prim)), len(foActive(sec)), strings.Join(d[:min(len(d), 15)], "\n"))
			return prim, sec
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// macBase reports whether a perfdhcp client's DUID-LLT carries a MAC that
// starts with the three bytes of base (its -b mac=… run).
func macBase(duid string, base [3]byte) bool {
	d, _ := parseDUID(duid)
	return len(d) >= 11 && bytes.Equal(d[8:11], base[:])
}

// waitSettled waits until both endpoints are in NORMAL with nothing unacked.
func (fp *foPair) waitSettled(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pr, sr := foGetStatus(t, fp.prim).Relationships[0], foGetStatus(t, fp.sec).Relationships[0]
		if pr.State == "normal" && sr.State == "normal" && pr.Unacked == 0 && sr.Unacked == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v: primary {%v} secondary {%v}, want both normal with nothing unacked", timeout, pr, sr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// foLag is a server's replication lag percentiles from /v1/status
// (lag_p50_ms, lag_p99_ms over the last lag_samples BNDREPLYs).
func foLag(t *testing.T, s *tandemServer) (p50, p99 float64, n int) {
	t.Helper()
	var st struct {
		Relationships []struct {
			LagP50MS   float64 `json:"lag_p50_ms"`
			LagP99MS   float64 `json:"lag_p99_ms"`
			LagSamples *int    `json:"lag_samples"`
		} `json:"relationships"`
	}
	s.getJSON(t, "/v1/status", &st)
	if len(st.Relationships) != 1 || st.Relationships[0].LagSamples == nil {
		t.Fatalf("/v1/status has no lag_samples in its relationships: %+v", st.Relationships)
	}
	r := st.Relationships[0]
	return r.LagP50MS, r.LagP99MS, *r.LagSamples
}

// ---------------------------------------------------------------------------
// Test 4: the secondary loses its data dir and recovers with UPDREQALL

// recoverMCLT is test 4's MCLT: the config minimum. A secondary that lost
// its storage waits MCLT from boot in RECOVER-WAIT (RFC 8156 §8.6.2: its
// down time is unknown), so NORMAL comes MCLT after its start.
const recoverMCLT = 30 * time.Second

func TestFailoverRecoverAfterWipe(t *testing.T) {
	requireE2E(t, "perfdhcp")
	fp := newFoPairWith(t, defaultLifetimes, foWithMCLT(recoverMCLT))

	// Leases through the pair: 5,000 exchanges over 3,000 clients (perfdhcp
	// -R 3000), an address and a prefix each. A client's first lease is capped to MCLT (it would expire during
	// RECOVER-WAIT); a client drawn again after its BNDREPLY gets the full
	// lifetime, which outlives the test. Both kinds are pulled.
	const rate, seconds = 1000, 5
	args := []string{"-6", "-r", strconv.Itoa(rate), "-p", strconv.Itoa(seconds), "-R", "3000",
		"-W", "500000", "-e", "address-and-prefix", "-b", "mac=00:0c:04:00:00:00", "-l", foBridge}
	out, code, err := fp.cli.exec(fp.cli.cli, time.Duration(seconds+30)*time.Second, "perfdhcp", args...)
	fp.perfResult(t, args, out, code, err, rate, seconds)
	fp.waitSettled(t, 10*time.Second)
	prim0, sec0 := fp.waitAgree(t, 5*time.Second)
	na, pd := checkActiveLeases(t, fp.prim, prim0)
	long := 0
	for _, l := range foActive(prim0) {
		if l.Valid > uint32(recoverMCLT/time.Second) {
			long++
		}
	}
	p50, p99, samples := foLag(t, fp.prim)
	t.Logf("before the wipe: primary %d addresses + %d prefixes active (%d with a lifetime beyond MCLT), secondary %d active; primary lag p50 %.1f ms p99 %.1f ms over %d BNDREPLYs",
		na, pd, long, len(foActive(sec0)), p50, p99, samples)
	if na < 1500 || pd < 1500 || long < 1000 {
		t.Fatalf("too few leases to test recovery: %d addresses, %d prefixes, %d long-lived", na, pd, long)
	}
	if samples == 0 || p50 <= 0 || p99 < p50 || p99 > 5000 {
		t.Errorf("primary's replication lag after the load: p50 %.3f ms p99 %.3f ms over %d samples; want samples, 0 < p50 ≤ p99 ≤ 5 s",
			p50, p99, samples)
	}
	secDUID0 := foGetStatus(t, fp.sec).Server.DUID

	// Stop the secondary, wipe its data dir, start it again.
	if err := fp.sec.p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("secondary did not stop: %v", err)
	}
	if err := os.RemoveAll(fp.sec.dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(fp.sec.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fp.waitStates(t, 3*foKeepalive, "communications-interrupted", "")
	started := time.Now()
	fp.sec.start(t)
	st := foGetStatus(t, fp.sec)
	if st.Server.DUID == secDUID0 {
		t.Errorf("the wiped secondary kept its DUID %s: the data dir was not wiped", secDUID0)
	}
	if st.Leases.NAActive != 0 || st.Leases.PDActive != 0 {
		// It may already have pulled some: only a sanity log.
		t.Logf("first status after the start already shows %d + %d active leases", st.Leases.NAActive, st.Leases.PDActive)
	}

	// RECOVER, then RECOVER-WAIT once the UPDREQALL's UPDDONE is in.
	rec := waitEntered(t, fp.sec, "recover", started, 20*time.Second)
	rw := waitEntered(t, fp.sec, "recover-wait", started, 30*time.Second)
	if rec.from != "none" {
		t.Errorf("the wiped secondary entered recover from %q, want none (no stored state)", rec.from)
	}
	// It left STARTUP on the primary's first STATE, the one sent right
	// after the CONNECT exchange: that must be the primary's state now
	// (communications-interrupted), not the last one it sent before the
	// link went down (normal).
	if rec.partner != "communications-interrupted" {
		t.Errorf("the secondary entered recover seeing the primary in %q, want communications-interrupted: the primary's first STATE on the new connection was stale", rec.partner)
	}
	if connected := strings.Count(fp.sec.p.log(), "partner connected"); connected != 1 {
		t.Errorf("the restarted secondary logged %d partner connections before RECOVER-WAIT, want 1", connected)
	}
	// Everything the primary holds is on the secondary now: nothing is
	// served meanwhile, so the sets are still.
	primRW, secRW := fp.prim.leases(t, ""), fp.sec.leases(t, "")
	if miss := missingOnPartner(primRW, secRW); len(miss) > 0 {
		t.Errorf("in RECOVER-WAIT (UPDREQALL done) the secondary lacks %d of the primary's %d active leases, e.g.:\n%s",
			len(miss), len(foActive(primRW)), strings.Join(miss[:min(len(miss), 10)], "\n"))
	}
	if extra := missingOnPartner(secRW, primRW); len(extra) > 0 {
		t.Errorf("in RECOVER-WAIT the secondary holds %d active leases the primary does not, e.g.:\n%s",
			len(extra), strings.Join(extra[:min(len(extra), 10)], "\n"))
	}
	if r := foGetStatus(t, fp.sec).Relationships[0]; r.State != "recover-wait" {
		t.Errorf("secondary {%v} after RECOVER-WAIT was logged, want recover-wait (it lasts MCLT)", r)
	}

	// NORMAL after MCLT in RECOVER-WAIT, via RECOVER-DONE.
	fp.waitStates(t, recoverMCLT+15*time.Second, "normal", "normal")
	ts := foTransitions(t, fp.sec)
	rd, okRD := foEntered(ts, "recover-done", started)
	nm, okN := foEntered(ts, "normal", started)
	if !okRD || !okN {
		t.Fatalf("secondary's transitions after the restart: %v; want recover-done and normal", ts)
	}
	var path []string
	for _, x := range ts {
		path = append(path, x.to)
	}
	if want := "recover recover-wait recover-done normal"; strings.Join(path, " ") != want {
		t.Errorf("the wiped secondary went through %v, want %s", path, want)
	}
	if wait := rd.at.Sub(rw.at); wait < recoverMCLT-2*time.Second {
		t.Errorf("RECOVER-WAIT lasted %v, want about MCLT %v (a server without storage does not know when it went down)", wait, recoverMCLT)
	}
	fp.waitSettled(t, 10*time.Second)
	prim1, sec1 := fp.waitAgree(t, 5*time.Second)
	foCheckUnion(t, prim1, sec1)
	kept := 0
	for k := range foActive(prim1) {
		if _, ok := foActive(prim0)[k]; ok {
			kept++
		}
	}
	if kept < long*9/10 {
		t.Errorf("only %d of the %d long-lived leases from before the wipe are still active on the pair", kept, long)
	}
	t.Logf("recovery of a wiped secondary: started %s; %s; %s; %s; %s",
		started.Format("15:04:05.000"), rec, rw, rd, nm)
	t.Logf("FIGURE recover: start→RECOVER %v, RECOVER→RECOVER-WAIT (UPDREQALL pull of %d records, %d active) %v, start→NORMAL %v (MCLT %v)",
		rec.at.Sub(started).Round(time.Millisecond), len(secRW), len(foActive(secRW)), rw.at.Sub(rec.at).Round(time.Millisecond),
		nm.at.Sub(started).Round(time.Millisecond), recoverMCLT)
	t.Logf("at NORMAL: %d leases active on both, %d of them from before the wipe", len(foActive(prim1)), kept)
}

// ---------------------------------------------------------------------------
// Test 4, big: UPDREQALL of 100,000 leases (TANDEM_E2E_BIG=1)

// foBigPools is a config edit for load beyond the shared pools: 2^20
// addresses (2^19 on each server's half) and 2^20 delegable /56s. Leases
// from it fail checkLeaseSanity (foCheckUnion), which knows only the
// shared pools.
func foBigPools(cfg string) string {
	cfg = strings.Replace(cfg, fmt.Sprintf("pools: [%q]", naPool), `pools: ["2001:db8:1::10:0-2001:db8:1::1f:ffff"]`, 1)
	return strings.Replace(cfg, fmt.Sprintf("{prefix: %q, delegated-length: %d}", pdPool, pdLength),
		`{prefix: "2001:db8:1000::/36", delegated-length: 56}`, 1)
}

func TestFailoverRecoverBig(t *testing.T) {
	foBig(t)
	requireE2E(t)
	// 100,000 leases: 100,000 clients with an address each, then 50,000
	// with an address and a prefix each.
	for _, c := range []struct {
		ia      string
		clients int
	}{{"na", 100000}, {"both", 50000}} {
		t.Run(c.ia, func(t *testing.T) { runRecoverBig(t, c.ia, c.clients) })
	}
}

func runRecoverBig(t *testing.T, ia string, clients int) {
	const mclt = 60 * time.Second // leases are MCLT-capped: they must outlive load + pull
	want := clients
	if ia == "both" {
		want *= 2
	}
	fp := newFoPairWith(t, defaultLifetimes, func(c string) string { return foBigPools(foWithMCLT(mclt)(c)) })
	fp.addCliAddr(t)
	active := func(s *tandemServer) int {
		st := foGetStatus(t, s)
		return int(st.Leases.NAActive + st.Leases.PDActive)
	}

	// tandem bench, relayed to the primary, until every client holds its
	// leases (a run that drops some is followed by another).
	loadStart := time.Now()
	args := []string{"bench", "--server", "[" + foPrimAddr + "]:547", "--link", foCliAddr, "--rate", "8000",
		"--duration", fmt.Sprintf("%ds", clients/8000+1), "--clients", strconv.Itoa(clients), "--ia", ia}
	for run := 0; run < 3; run++ {
		out, code, err := fp.cli.exec(fp.cli.cli, 3*time.Minute, e2eBin, args...)
		t.Logf("tandem %s: run %d: exit %d %v\n%s", strings.Join(args, " "), run, code, err, out)
		if err != nil || code != 0 {
			t.Fatalf("tandem bench failed")
		}
		if active(fp.prim) >= want {
			break
		}
	}
	fp.waitSettled(t, 60*time.Second)
	p50, p99, _ := foLag(t, fp.prim)
	t.Logf("primary: %d leases active after %v of load; secondary %d; lag p50 %.1f ms p99 %.1f ms",
		active(fp.prim), time.Since(loadStart).Round(time.Millisecond), active(fp.sec), p50, p99)
	if n := active(fp.prim); n < want*95/100 {
		t.Fatalf("only %d leases on the primary, want ~%d", n, want)
	}

	if err := fp.sec.p.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("secondary did not stop: %v", err)
	}
	if err := os.RemoveAll(fp.sec.dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(fp.sec.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fp.waitStates(t, 3*foKeepalive, "communications-interrupted", "")
	started := time.Now()
	fp.sec.start(t)
	rec := waitEntered(t, fp.sec, "recover", started, 30*time.Second)
	rw := waitEntered(t, fp.sec, "recover-wait", started, 120*time.Second)
	primRW, secRW := fp.prim.leases(t, ""), fp.sec.leases(t, "")
	if miss := missingOnPartner(primRW, secRW); len(miss) > 0 {
		t.Errorf("after UPDREQALL the secondary lacks %d of the primary's %d active leases, e.g.:\n%s",
			len(miss), len(foActive(primRW)), strings.Join(miss[:min(len(miss), 10)], "\n"))
	}
	fp.waitStates(t, mclt+30*time.Second, "normal", "normal")
	nm := waitEntered(t, fp.sec, "normal", started, time.Second)
	t.Logf("FIGURE recover-big (--ia %s): %d records pulled (%d active; primary %d active): start→RECOVER %v, RECOVER→RECOVER-WAIT (UPDREQALL) %v = %.0f leases/s, RECOVER→NORMAL %v (MCLT %v)",
		ia, len(secRW), len(foActive(secRW)), len(foActive(primRW)), rec.at.Sub(started).Round(time.Millisecond),
		rw.at.Sub(rec.at).Round(time.Millisecond), float64(len(secRW))/rw.at.Sub(rec.at).Seconds(),
		nm.at.Sub(rec.at).Round(time.Millisecond), mclt)
}

// ---------------------------------------------------------------------------
// Test 5: both in PARTNER-DOWN, both lease, heal

func TestFailoverBothPartnerDown(t *testing.T) {
	requireE2E(t, "perfdhcp", "nft")
	// MCLT at the config minimum: the test waits it out in PARTNER-DOWN so
	// that both servers may also use the partner's pool (delegable prefixes
	// on both sides, RFC 8156 §8.4.1) and real conflicts can arise.
	const mclt = 30 * time.Second
	fp := newFoPairWith(t, defaultLifetimes, foWithMCLT(mclt))
	fp.addCliAddr(t)
	secTp := fp.sec.tp

	// Some leases while NORMAL, replicated to both.
	fp.foPerfdhcp(t, "address-and-prefix", 500, 2, "00:0c:05:00:00:00")
	fp.waitSettled(t, 10*time.Second)

	// Cut the partner link; both go to COMMUNICATIONS-INTERRUPTED, then the
	// administrator declares PARTNER-DOWN on each side.
	foNft(t, secTp, secTp.srv, foCutRules)
	healed := false
	t.Cleanup(func() {
		if !healed {
			secTp.exec(secTp.srv, 10*time.Second, "nft", "delete", "table", "inet", "tfopart")
		}
	})
	fp.waitStates(t, 3*foKeepalive, "communications-interrupted", "communications-interrupted")
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		out, code, err := s.tp.exec(s.tp.srv, 20*time.Second, e2eBin, "ctl", "partner-down", foRel)
		if err != nil || code != 0 || !strings.Contains(out, "partner-down") {
			t.Fatalf("tandem ctl partner-down %s in %s: exit %d %v\n%s", foRel, s.tp.srv, code, err, out)
		}
	}
	fp.waitStates(t, 5*time.Second, "partner-down", "partner-down")
	pdAt := time.Now()
	t.Logf("both in partner-down; waiting MCLT %v for the partner's pools", mclt)
	time.Sleep(mclt + 1500*time.Millisecond)

	// Each server leases to its own new clients (relayed to it alone).
	p0, s0 := foGetStatus(t, fp.prim), foGetStatus(t, fp.sec)
	fp.relayedPerfdhcp(t, foPrimAddr, "address-and-prefix", 1000, 3, "00:0c:06:00:00:00")
	fp.relayedPerfdhcp(t, foSecAddr, "address-and-prefix", 1000, 3, "00:0c:07:00:00:00")
	p1, s1 := foGetStatus(t, fp.prim), foGetStatus(t, fp.sec)
	pl, sl := fp.prim.leases(t, ""), fp.sec.leases(t, "")
	for _, x := range []struct {
		name          string
		before, after foStatus
		ls            []apiLease
		base          [3]byte
	}{{"primary", p0, p1, pl, [3]byte{0, 0x0c, 6}}, {"secondary", s0, s1, sl, [3]byte{0, 0x0c, 7}}} {
		kinds := map[string]int{}
		for _, l := range foActive(x.ls) {
			if macBase(l.DUID, x.base) {
				kinds[l.Kind]++
				if l.Valid <= uint32(mclt/time.Second) {
					t.Errorf("%s: lease %+v given in PARTNER-DOWN is capped to MCLT", x.name, l)
				}
			}
		}
		t.Logf("%s in partner-down: replied %d, its new clients hold %v; {%v}", x.name,
			x.after.Packets["replied"]-x.before.Packets["replied"], kinds, x.after.Relationships[0])
		if kinds["na"] < 1000 || kinds["pd"] < 1000 {
			t.Errorf("%s leased %v to its new clients in partner-down, want ≥ 1000 of each", x.name, kinds)
		}
	}
	// Conflicts the heal must resolve: the same resource active for
	// different clients on the two servers (prefixes: both now delegate
	// from the whole pd-pool).
	conflicts := 0
	byKind := map[string]int{}
	sa := foActive(sl)
	for k, l := range foActive(pl) {
		if o, ok := sa[k]; ok && !sameClient(l, o) {
			conflicts++
			byKind[l.Kind]++
		}
	}
	t.Logf("before the heal: primary %d active, secondary %d active, %d resources active for different clients on the two %v",
		len(foActive(pl)), len(foActive(sl)), conflicts, byKind)

	// Heal. Both pass POTENTIAL-CONFLICT and reach NORMAL.
	foNft(t, secTp, secTp.srv, "delete table inet tfopart\n")
	healed = true
	healAt := time.Now()
	took := fp.waitStates(t, 60*time.Second, "normal", "normal")
	t.Logf("heal: both in normal %v after the rule was removed (partner-down lasted %v)", took.Round(time.Millisecond), healAt.Sub(pdAt).Round(time.Second))
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		ts := foTransitions(t, s)
		pc, ok := foEntered(ts, "potential-conflict", healAt)
		if !ok {
			t.Errorf("%s did not pass potential-conflict after the heal: %v", s.tp.srv, ts)
			continue
		}
		var after []string
		for _, x := range ts {
			if !x.at.Before(pc.at) {
				after = append(after, x.to)
			}
		}
		t.Logf("%s after the heal: %v (entered potential-conflict seeing the partner in %s)", s.tp.srv, after, pc.partner)
		// The first STATE on the new connection carries the partner's
		// state now: partner-down, not what it last sent before the cut.
		if pc.partner != "partner-down" {
			t.Errorf("%s entered potential-conflict seeing its partner in %q, want partner-down: the partner's first STATE on the new connection was stale",
				s.tp.srv, pc.partner)
		}
		if after[len(after)-1] != "normal" {
			t.Errorf("%s ended in %s", s.tp.srv, after[len(after)-1])
		}
	}
	fp.waitSettled(t, 20*time.Second)
	prim, sec := fp.waitAgree(t, 10*time.Second)
	foCheckUnion(t, prim, sec)
	checkActiveLeases(t, fp.prim, prim)
	// The conflicts were resolved to one client each; count how.
	kept := map[string]int{}
	pa := foActive(prim)
	for k, l := range foActive(pl) {
		if o, ok := sa[k]; ok && !sameClient(l, o) {
			switch w, ok := pa[k]; {
			case !ok:
				kept["neither"]++
			case sameClient(w, l):
				kept["primary's client"]++
			case sameClient(w, o):
				kept["secondary's client"]++
			default:
				kept["a third client"]++
			}
		}
	}
	t.Logf("after the heal: %d leases active on both; the %d conflicting resources went to %v", len(pa), conflicts, kept)
}

// ---------------------------------------------------------------------------
// Test 6: hostile peers on the partner port

// dialInNS opens a TCP connection from inside network namespace ns (see
// inNetns).
func dialInNS(ns, addr string, timeout time.Duration) (c net.Conn, err error) {
	err = inNetns(ns, func() error {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// inNetns runs fn on a thread inside network namespace ns: a socket belongs
// to the namespace of the thread that creates it, and keeps it. The thread
// is moved into ns and back, locked meanwhile. It must come back: the thread
// may be the process's main thread, which the runtime never discards, and
// then `ip netns pids ns` would name this test process and the topology's
// cleanup would SIGKILL it. If it cannot come back, the goroutine ends still
// locked, so that any other thread is discarded, and the test stops.
func inNetns(ns string, fn func() error) error {
	type res struct {
		err   error
		stuck bool
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer self.Close()
		f, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		err = fn()
		if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); rerr != nil {
			ch <- res{err: fmt.Errorf("setns back from %s: %w", ns, rerr), stuck: true}
			return // still locked
		}
		runtime.UnlockOSThread()
		ch <- res{err: err}
	}()
	r := <-ch
	if r.stuck {
		panic(r.err) // this process is partly in a test namespace: stop before cleanup kills it
	}
	return r.err
}

// threadNetns lists the network namespaces of this process's threads
// (readlink of /proc/self/task/*/ns/net) with how many threads are in each.
func threadNetns(t *testing.T) map[string]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range tasks {
		if l, err := os.Readlink(filepath.Join("/proc/self/task", e.Name(), "ns/net")); err == nil {
			m[l]++
		}
	}
	return m
}

// fakeConnect is a CONNECT as a primary sends it (replicate/handshake.go's
// fields), with the given relationship name and sent-time.
func fakeConnect(name string, sent time.Time) []byte { return fakeConnectMCLT(name, sent, foMCLT) }

// fakeConnectMCLT is fakeConnect offering the given MCLT.
func fakeConnectMCLT(name string, sent time.Time, mclt time.Duration) []byte {
	b, f := wire.BeginFrame(nil, wire.Connect, 0x4242, wire.AbsTime(sent.Unix()))
	b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, replicate.ProtocolVersion)
	b = wire.AppendUint32Option(b, wire.OptFMCLT, uint32(mclt/time.Second))
	b = wire.AppendUint32Option(b, wire.OptFKeepaliveTime, uint32(foKeepalive/time.Second))
	b = wire.AppendUint32Option(b, wire.OptFMaxUnackedBndUpd, 512)
	b = wire.AppendUint16Option(b, wire.OptFConnectFlags, wire.ConnectFlagFixedPDLen)
	b = wire.AppendOptionString(b, wire.OptFRelationshipName, name)
	return wire.EndFrame(b, f)
}

// peerAnswer is what a hostile peer got back: the frames before the close
// (decoded), how the read ended, and when.
type peerAnswer struct {
	msgs   []wire.FailoverMsg
	raw    [][]byte
	closed bool // EOF or reset: the server closed the connection
	err    error
	took   time.Duration
}

func (a peerAnswer) String() string {
	var parts []string
	for _, m := range a.msgs {
		s := wire.FailoverName(m.Type)
		if m.Has&wire.FHasStatus != 0 {
			s += fmt.Sprintf(" status %d %q", m.Status, m.StatusMsg)
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("[%s] closed=%v after %v (%v)", strings.Join(parts, ", "), a.closed, a.took.Round(time.Millisecond), a.err)
}

// hostile connects from ns to addr, writes payload, and reads frames until
// the server closes the connection or wait passes.
func hostile(t *testing.T, ns, addr string, payload []byte, wait time.Duration) peerAnswer {
	t.Helper()
	c, err := dialInNS(ns, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns, err)
	}
	defer c.Close()
	t0 := time.Now()
	if _, err := c.Write(payload); err != nil {
		t.Fatalf("write to %s: %v", addr, err)
	}
	c.SetReadDeadline(t0.Add(wait))
	var a peerAnswer
	for {
		var hdr [2]byte
		_, err := io.ReadFull(c, hdr[:])
		if err == nil {
			msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
			if _, err = io.ReadFull(c, msg); err == nil {
				var m wire.FailoverMsg
				if derr := m.Decode(msg); derr != nil {
					t.Fatalf("undecodable frame from the server: %v: %x", derr, msg)
				}
				a.msgs = append(a.msgs, m)
				a.raw = append(a.raw, msg)
				continue
			}
		}
		a.took = time.Since(t0)
		a.err = err
		var ne net.Error
		a.closed = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
		if errors.As(err, &ne) && ne.Timeout() {
			a.closed = false
		}
		return a
	}
}

// refusedWith checks that the answer is exactly one CONNECTREPLY carrying
// status (and no accepted parameters), then the close.
func refusedWith(t *testing.T, what string, a peerAnswer, status uint16, text string) {
	t.Helper()
	t.Logf("%s: %v", what, a)
	if len(a.msgs) != 1 || a.msgs[0].Type != wire.ConnectReply {
		t.Errorf("%s: got %v, want exactly one CONNECTREPLY", what, a)
		return
	}
	m := a.msgs[0]
	if m.Has&wire.FHasStatus == 0 || m.Status != status {
		t.Errorf("%s: CONNECTREPLY status %d (present %v), want %d", what, m.Status, m.Has&wire.FHasStatus != 0, status)
	}
	if m.Has&(wire.FHasVersion|wire.FHasMCLT|wire.FHasKeepalive) != 0 {
		t.Errorf("%s: the refusing CONNECTREPLY carries accepting parameters (has %#x)", what, m.Has)
	}
	if m.XID != 0x4242 {
		t.Errorf("%s: CONNECTREPLY xid %#x, want the CONNECT's 0x4242", what, m.XID)
	}
	if text != "" && !strings.Contains(string(m.StatusMsg), text) {
		t.Errorf("%s: status text %q does not mention %q", what, m.StatusMsg, text)
	}
	if !a.closed || a.took > 3*time.Second {
		t.Errorf("%s: connection not closed by the server within 3 s: %v", what, a)
	}
}

// closedSilently checks that the server closed the connection without
// sending anything, within limit.
func closedSilently(t *testing.T, what string, a peerAnswer, limit time.Duration) {
	t.Helper()
	t.Logf("%s: %v", what, a)
	if len(a.msgs) != 0 {
		t.Errorf("%s: server answered %v, want a close without a reply", what, a)
	}
	if !a.closed || a.took > limit {
		t.Errorf("%s: want the server to close the connection within %v: %v", what, limit, a)
	}
}

// stillReplicating checks, after a hostile connection, that the real pair
// is still NORMAL on its original session and that a fresh lease reaches
// the secondary.
func (fp *foPair) stillReplicating(t *testing.T, what string, connects0 int, base [3]byte) {
	t.Helper()
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		if r := foGetStatus(t, s).Relationships[0]; r.State != "normal" || !r.CommOK {
			t.Errorf("after %s: {%v}, want normal with comm_ok", what, r)
		}
	}
	if n := strings.Count(fp.sec.p.log(), "partner connected"); n != connects0 {
		t.Errorf("after %s: the secondary logged %d partner connections, had %d: the real session was disturbed", what, n, connects0)
	}
	fp.foPerfdhcp(t, "address-and-prefix", 100, 1, fmt.Sprintf("%02x:%02x:%02x:00:00:00", base[0], base[1], base[2]))
	deadline := time.Now().Add(5 * time.Second)
	for {
		var fresh []apiLease
		for _, l := range fp.prim.leases(t, "") {
			if l.Status == "active" && macBase(l.DUID, base) {
				fresh = append(fresh, l)
			}
		}
		miss := missingOnPartner(fresh, fp.sec.leases(t, ""))
		if len(fresh) > 0 && len(miss) == 0 {
			t.Logf("after %s: %d fresh leases on the primary, all replicated", what, len(fresh))
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s: %d fresh leases on the primary, %d not on the secondary within 5 s: %v",
				what, len(fresh), len(miss), miss[:min(len(miss), 5)])
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// foHostileWindow is the secondary's max-unacked-bndupd in
// TestFailoverHostilePeers: small, so that a flooding partner passes it
// long before the link's event queue (256) fills and slows the reads.
const foHostileWindow = 16

// foSecPeerAndWindow edits the secondary's config: it names the primary's
// address as its peer (connections from anywhere else are refused before
// any byte is read) and advertises a window of foHostileWindow BNDUPDs.
func foSecPeerAndWindow(cfg string) string {
	listen := fmt.Sprintf("listen: \"[::]:%d\"\n", foPartnerPt)
	return strings.Replace(cfg, listen, listen+fmt.Sprintf("    peer: \"[%s]:%d\"\n    max-unacked-bndupd: %d\n",
		foPrimAddr, foPartnerPt, foHostileWindow), 1)
}

// partnerRefused reads tandem_partner_refused_total{relationship=foRel}
// by reason from a server's /metrics.
func partnerRefused(t *testing.T, s *tandemServer) map[string]int {
	t.Helper()
	b, code, err := s.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	m := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "tandem_partner_refused_total{")
		if !ok || !strings.Contains(rest, `relationship="`+foRel+`"`) {
			continue
		}
		_, after, _ := strings.Cut(rest, `reason="`)
		reason, _, _ := strings.Cut(after, `"`)
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[strings.LastIndex(rest, "}")+1:]), 64)
		if err != nil {
			t.Fatalf("bad metric line %q", l)
		}
		m[reason] = int(v)
	}
	return m
}

func TestFailoverHostilePeers(t *testing.T) {
	requireE2E(t, "perfdhcp")
	fp := newFoPairWith(t, defaultLifetimes, foSecPeerAndWindow)
	primNS, secNS := fp.prim.tp.srv, fp.sec.tp.srv
	secPort := net.JoinHostPort(foSecAddr, strconv.Itoa(foPartnerPt))
	loPort := net.JoinHostPort("::1", strconv.Itoa(foPartnerPt))
	connects0 := strings.Count(fp.sec.p.log(), "partner connected")
	if connects0 != 1 {
		t.Fatalf("secondary logged %d partner connections at the start, want 1", connects0)
	}
	refused0 := strings.Count(fp.sec.p.log(), "refused failover CONNECT")
	if m := partnerRefused(t, fp.sec); len(m) != 7 {
		t.Fatalf("tandem_partner_refused_total at the start: %v, want 7 reasons", m)
	}
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// dialInNS must leave no thread of this process in a test
		// namespace (the topology's cleanup kills what it finds there).
		if m := threadNetns(t); len(m) != 1 || m[home] == 0 {
			t.Errorf("threads of the test process by network namespace: %v; want all in %s", m, home)
		}
	}()

	// (a) A CONNECT for a relationship the secondary does not have, from
	// the primary's own address.
	a := hostile(t, primNS, secPort, fakeConnect("pair-b", time.Now()), 5*time.Second)
	refusedWith(t, "(a) wrong relationship name", a, wire.StatusConfigurationConflict, `"pair-b"`)
	fp.stillReplicating(t, "(a)", connects0, [3]byte{0, 0x0c, 0x0a})

	// (b) The right name, a clock 30 s ahead, then 30 s behind; then the
	// right clock and another MCLT.
	for _, skew := range []time.Duration{30 * time.Second, -30 * time.Second} {
		what := fmt.Sprintf("(b) sent-time skewed by %v", skew)
		a = hostile(t, primNS, secPort, fakeConnect(foRel, time.Now().Add(skew)), 5*time.Second)
		refusedWith(t, what, a, wire.StatusExcessiveTimeSkew, "apart")
	}
	a = hostile(t, primNS, secPort, fakeConnectMCLT(foRel, time.Now(), 2*foMCLT), 5*time.Second)
	refusedWith(t, "(b) MCLT mismatch", a, wire.StatusConfigurationConflict, "MCLT")
	fp.stillReplicating(t, "(b)", connects0, [3]byte{0, 0x0c, 0x0b})

	// (c) Garbage from the primary's address. Each is decidable at once:
	// a length below the failover header; a frame of a client message type
	// (SOLICIT); a CONNECT whose option runs past the message; 64 KiB of
	// bytes that frame as a non-failover type; a valid frame of the wrong
	// type first (CONTACT), which is refused with NotSupported.
	short := []byte{0x00, 0x03, 'a', 'b', 'c'}
	solicit, f := wire.BeginFrame(nil, wire.MsgType(1), 1, 0)
	solicit = wire.EndFrame(append(solicit, 0, 1, 0, 2, 0xaa, 0xbb), f)
	truncated, f := wire.BeginFrame(nil, wire.Connect, 0x4242, wire.AbsTime(time.Now().Unix()))
	truncated = wire.EndFrame(append(truncated, 0, byte(wire.OptFMCLT), 0x10, 0x00, 0, 0, 0, 60), f)
	big := make([]byte, 2+0xffff)
	big[0], big[1], big[2] = 0xff, 0xff, 0x01
	for i := 3; i < len(big); i++ {
		big[i] = byte(i * 131)
	}
	contact, f := wire.BeginFrame(nil, wire.Contact, 0x4242, wire.AbsTime(time.Now().Unix()))
	contact = wire.EndFrame(contact, f)
	for _, g := range []struct {
		what    string
		payload []byte
	}{
		{"(c) frame shorter than the header", short},
		{"(c) a SOLICIT framed on 647", solicit},
		{"(c) CONNECT with an option past its end", truncated},
		{"(c) 64 KiB of junk", big},
	} {
		closedSilently(t, g.what, hostile(t, primNS, secPort, g.payload, 5*time.Second), 3*time.Second)
	}
	refusedWith(t, "(c) CONTACT instead of CONNECT", hostile(t, primNS, secPort, contact, 5*time.Second), wire.StatusNotSupported, "CONNECT")

	// (c) A peer that sends the start of a frame and stalls holds no slot
	// for long: the secondary gives up after its handshake timeout (10 s).
	stall := hostile(t, primNS, secPort, []byte("GET / HTTP/1.1\r\n\r\n"), 15*time.Second)
	closedSilently(t, "(c) a stalled partial frame", stall, 12*time.Second)
	fp.stillReplicating(t, "(c)", connects0, [3]byte{0, 0x0c, 0x0c})

	// (d) An address that is not the configured peer (the secondary's
	// own loopback): closed before a byte is read, even a valid CONNECT.
	closedSilently(t, "(d) unconfigured address", hostile(t, secNS, loPort, fakeConnect(foRel, time.Now()), 5*time.Second), 3*time.Second)
	fp.stillReplicating(t, "(d)", connects0, [3]byte{0, 0x0c, 0x0d})

	// The secondary logged each refusal with its status, and counted each
	// under its reason.
	log := fp.sec.p.log()
	if n := strings.Count(log, "refused failover CONNECT") - refused0; n != 5 {
		t.Errorf("secondary logged %d refused CONNECTs, want 5 (a, b×3, CONTACT)", n)
	}
	for _, s := range []string{`"status": 17`, `"status": 22`, `"status": 14`, "refused failover connection from an address with no relationship"} {
		if !strings.Contains(log, s) {
			t.Errorf("secondary's log has no refusal with %s", s)
		}
	}
	want := map[string]int{"address": 1, "tls": 0, "malformed": 5, "skew": 2, "config-conflict": 2, "connect-other": 1, "window": 0}
	if got := partnerRefused(t, fp.sec); !reflect.DeepEqual(got, want) {
		t.Errorf("tandem_partner_refused_total by reason: %v, want %v", got, want)
	}

	// (e) A partner that passes the CONNECT (the primary's address, name,
	// clock and MCLT; it displaces the real primary's session, as a
	// reconnecting primary would) and then sends 100 times the advertised
	// window of BNDUPDs without waiting for BNDREPLYs. RFC 8156 makes the
	// window the sender's duty and says nothing of the receiver; tandem
	// ends the session with a DISCONNECT naming the window (replicate/
	// session.go windowExceeded), counts and logs it. The real primary
	// reconnects and the pair goes on.
	connects1 := strings.Count(fp.sec.p.log(), "partner connected")
	flood := fakeConnect(foRel, time.Now())
	for i := 0; i < 100*foHostileWindow; i++ {
		b, f := wire.BeginFrame(nil, wire.BndUpd, uint32(0x100+i), wire.AbsTime(time.Now().Unix()))
		flood = append(flood, wire.EndFrame(b, f)...)
	}
	a = hostile(t, primNS, secPort, flood, 5*time.Second)
	t.Logf("(e) unacked window exceeded: %v", a)
	if len(a.msgs) < 2 || a.msgs[0].Type != wire.ConnectReply || a.msgs[0].Has&wire.FHasStatus != 0 {
		t.Errorf("(e): got %v, want an accepting CONNECTREPLY first", a)
	}
	if last := a.msgs[len(a.msgs)-1]; len(a.msgs) == 0 || last.Type != wire.Disconnect || !strings.Contains(string(last.StatusMsg), "MAX_UNACKED_BNDUPD") || !a.closed {
		t.Errorf("(e): got %v, want a DISCONNECT naming MAX_UNACKED_BNDUPD, then the close", a)
	}
	if n := strings.Count(fp.sec.p.log(), "unacked window exceeded"); n != 1 {
		t.Errorf("(e): the secondary logged %d window refusals, want 1", n)
	}
	want["window"] = 1
	if got := partnerRefused(t, fp.sec); !reflect.DeepEqual(got, want) {
		t.Errorf("(e): tandem_partner_refused_total by reason: %v, want %v", got, want)
	}
	// The fake's session and the real primary's return both came up.
	for deadline := time.Now().Add(30 * time.Second); strings.Count(fp.sec.p.log(), "partner connected") < connects1+2; {
		if time.Now().After(deadline) {
			t.Fatalf("(e): the real primary did not reconnect within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	fp.waitStates(t, 30*time.Second, "normal", "normal")
	fp.stillReplicating(t, "(e)", strings.Count(fp.sec.p.log(), "partner connected"), [3]byte{0, 0x0c, 0x0e})
}

// ---------------------------------------------------------------------------
// Figures for the closing note (TANDEM_E2E_BIG=1): replication lag under
// load, and kill -9 of the primary to the secondary's first REPLY.

// pcapEach calls fn with the time and DHCPv6 payload of each UDP datagram
// from port 547 in a classic pcap file.
func pcapEach(path string, fn func(ts time.Time, payload []byte)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < 24 {
		return fmt.Errorf("pcap %s: no header", path)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	magic := binary.LittleEndian.Uint32(data)
	if magic != 0xa1b2c3d4 && magic != 0xa1b23c4d {
		bo = binary.BigEndian
		magic = binary.BigEndian.Uint32(data)
	}
	nano := magic == 0xa1b23c4d
	linkType := bo.Uint32(data[20:24]) & 0x0fffffff
	for off := 24; off+16 <= len(data); {
		sec, frac, incl := bo.Uint32(data[off:]), bo.Uint32(data[off+4:]), int(bo.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) {
			break
		}
		pkt := data[off : off+incl]
		off += incl
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		if p, ok := udpFromServer(linkType, pkt); ok {
			fn(time.Unix(int64(sec), ns), p)
		}
	}
	return nil
}

// firstReplyFrom is the time of the first REPLY at or after since whose
// SERVERID is duid.
func firstReplyFrom(path string, duid []byte, since time.Time) (time.Time, int, error) {
	var first time.Time
	n := 0
	err := pcapEach(path, func(ts time.Time, p []byte) {
		d, err := dhcpv6.FromBytes(p)
		if err != nil || d.IsRelay() {
			return
		}
		m := d.(*dhcpv6.Message)
		if m.Type() != dhcpv6.MessageTypeReply || ts.Before(since) {
			return
		}
		if sid := m.Options.ServerID(); sid != nil && bytes.Equal(sid.ToBytes(), duid) {
			n++
			if first.IsZero() || ts.Before(first) {
				first = ts
			}
		}
	})
	return first, n, err
}

func TestFailoverFigures(t *testing.T) {
	foBig(t)
	requireE2E(t, "perfdhcp", "tcpdump", "nft")

	t.Run("lag", func(t *testing.T) {
		fp := newFoPairWith(t, defaultLifetimes, foBigPools)
		for i, rate := range []int{500, 1000, 2000} {
			base := fmt.Sprintf("00:0d:%02x:00:00:00", i)
			t0 := time.Now()
			fp.foPerfdhcp(t, "address-and-prefix", rate, 10, base)
			p50, p99, n := foLag(t, fp.prim)
			t.Logf("FIGURE lag: perfdhcp -r %d -p 10 -e address-and-prefix (multicast to the pair): primary commit→BNDREPLY lag p50 %.2f ms p99 %.2f ms over the last %d BNDREPLYs (%v)",
				rate, p50, p99, n, time.Since(t0).Round(time.Second))
			if n == 0 {
				t.Errorf("no lag samples after a perfdhcp run")
			}
		}
	})

	// kill -9 of the primary under load; the secondary's first REPLY to a
	// client, seen on the client link. With a plain kill the kernel closes
	// the primary's TCP connection (FIN), so the secondary learns at once;
	// with the primary's link dropped first (a power cut), only the
	// keepalive tells it.
	for _, silent := range []bool{false, true} {
		name := "kill9"
		if silent {
			name = "powercut"
		}
		t.Run(name, func(t *testing.T) {
			fp := newFoPair(t, defaultLifetimes)
			secDUID, _ := parseDUID(foGetStatus(t, fp.sec).Server.DUID)
			pcap := filepath.Join(fp.cli.dir, name+".pcap")
			td := fp.cli.captureDHCP(t, fp.cli.cli, foBridge, pcap, 2*time.Minute)
			args := fp.perfdhcpArgs("address-only", 500, 12, "00:0e:01:00:00:00")
			perf := fp.cli.start(fp.cli.cli, "perfdhcp", time.Minute, "perfdhcp", args...)
			time.Sleep(3 * time.Second)
			if silent {
				primTp := fp.prim.tp
				foNft(t, primTp, primTp.srv, `table inet tfocut {
	chain in  { type filter hook input priority 0; policy drop; }
	chain out { type filter hook output priority 0; policy drop; }
}
`)
			}
			killed := time.Now() // SIGKILL follows at once; kill9 waits for the exit
			fp.prim.kill9(t)
			ci := fp.waitStates(t, 3*foKeepalive, "", "communications-interrupted")
			if _, ok := perf.wait(40 * time.Second); !ok {
				t.Fatalf("perfdhcp did not finish")
			}
			time.Sleep(200 * time.Millisecond)
			td.stop(syscall.SIGINT, 10*time.Second)
			first, n, err := firstReplyFrom(pcap, secDUID, killed)
			if err != nil {
				t.Fatal(err)
			}
			if first.IsZero() {
				t.Fatalf("no REPLY from the secondary after the kill\n%s", perfSummary(perf.log()))
			}
			ts := foTransitions(t, fp.sec)
			x, _ := foEntered(ts, "communications-interrupted", killed)
			t.Logf("FIGURE takeover (%s): kill -9 of the primary → secondary in communications-interrupted %v (log; status poll %v) → first REPLY from the secondary %v after the kill (%d REPLYs from it in the rest of the run); keepalive %v, auto-partner-down off, MCLT %v; perfdhcp %s\n%s",
				name, x.at.Sub(killed).Round(time.Millisecond), ci.Round(time.Millisecond), first.Sub(killed).Round(time.Millisecond), n,
				foKeepalive, foMCLT, strings.Join(args, " "), perfSummary(perf.log()))
		})
	}
}

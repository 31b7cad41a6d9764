package main

// End-to-end tests of an RFC 8156 failover pair: two `tandem serve`
// processes, a primary and a secondary, on one client link, driven by
// Kea's perfdhcp and ISC dhclient. They reuse the namespace, process,
// control-API, dhclient and perfdhcp helpers of e2e_test.go and, like those
// tests, need root and skip without it (fail under CI=true).
//
// Topology (every name starts with tfo; namespace names carry the test
// process's pid and a counter):
//
//	ns tfoc<id>                                      ns tfop<id>
//	dhclient / perfdhcp -l tfobr0                    tandem serve, role primary
//	                                                 tfo1s 2001:db8:1::1/64, control 127.0.0.1:8547
//	[bridge tfobr0, mcast snooping off]─tfo1b ══ veth ══ tfo1s
//	                     \──────────────tfo2b ══ veth ══ tfo2s
//	                                                 ns tfos<id>
//	                                                 tandem serve, role secondary
//	                                                 tfo2s 2001:db8:1::2/64, control 127.0.0.1:8547
//
// Both servers sit on the client's link (interfaces: [their veth], the
// subnet's interface set), so both receive every multicast SOLICIT; the
// partner link runs over the same link: the primary dials
// [2001:db8:1::2]:647. Each server's control API is on the loopback of its
// own namespace, queried with `ip netns exec … curl` (tandemServer.get).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	foBridge    = "tfobr0"
	foPrimIf    = "tfo1s"
	foSecIf     = "tfo2s"
	foPrimAddr  = "2001:db8:1::1"
	foSecAddr   = "2001:db8:1::2"
	foRel       = "pair-a"
	foMCLT      = 60 * time.Second
	foKeepalive = 2 * time.Second
	foPartnerPt = 647
)

func init() { aptPackage["nft"] = "nftables" }

// foPair is the three-namespace topology and the two servers on it.
type foPair struct {
	t         *testing.T
	cli       *topo // view whose cli is the client namespace (dhclient, perfdhcp)
	prim, sec *tandemServer
}

// newFoTopo creates the client namespace with its bridge, the two server
// namespaces and a veth from each into the bridge, and registers their
// removal. It returns topo views that the e2e_test.go helpers understand:
// one per server (srv = that server's namespace, cli = the client's).
func newFoTopo(t *testing.T) (primTp, secTp *topo) {
	t.Helper()
	id := fmt.Sprintf("%d-%d", os.Getpid(), nsSeq.Add(1))
	nsC, nsP, nsS := "tfoc"+id, "tfop"+id, "tfos"+id
	primTp = &topo{t: t, srv: nsP, cli: nsC, dir: t.TempDir()}
	secTp = &topo{t: t, srv: nsS, cli: nsC, dir: t.TempDir()}
	tp := primTp
	for _, ns := range []string{nsC, nsP, nsS} {
		tp.must("ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { tp.deleteNS(ns) })
		tp.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		tp.must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	// The bridge floods multicast to every port (snooping off), so both
	// servers hear ff02::1:2.
	tp.must("ip", "-n", nsC, "link", "add", foBridge, "type", "bridge",
		"stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
	for _, x := range []struct{ ns, brPort, srvIf, addr string }{
		{nsP, "tfo1b", foPrimIf, foPrimAddr},
		{nsS, "tfo2b", foSecIf, foSecAddr},
	} {
		tp.must("ip", "link", "add", x.brPort, "netns", nsC, "type", "veth", "peer", "name", x.srvIf, "netns", x.ns)
		tp.must("ip", "-n", nsC, "link", "set", x.brPort, "master", foBridge)
		tp.must("ip", "-n", nsC, "link", "set", x.brPort, "up")
		tp.sysctl(x.ns, "net.ipv6.conf."+x.srvIf+".accept_dad=0")
		tp.must("ip", "-n", x.ns, "link", "set", x.srvIf, "up")
		tp.must("ip", "-n", x.ns, "-6", "addr", "add", x.addr+"/64", "dev", x.srvIf, "nodad")
	}
	tp.sysctl(nsC, "net.ipv6.conf."+foBridge+".accept_dad=0")
	tp.must("ip", "-n", nsC, "link", "set", foBridge, "up")
	tp.waitLinkLocal(nsC, foBridge)
	tp.waitLinkLocal(nsP, foPrimIf)
	tp.waitLinkLocal(nsS, foSecIf)
	return primTp, secTp
}

// foConfig is one side of the pair: the CONTRACT.md config with the subnet
// served by relationship pair-a.
func foConfig(dataDir, ifc, role string, lt lifetimes) string {
	rel := fmt.Sprintf("peer: \"[%s]:%d\"", foSecAddr, foPartnerPt)
	if role == "secondary" {
		rel = fmt.Sprintf("listen: \"[::]:%d\"", foPartnerPt)
	}
	return fmt.Sprintf(`# tandem failover e2e test config (%s)
server:
  data-dir: %q
  interfaces: [%s]
  listen: ["[::]:547"]
  control: %q
  rapid-commit: true

lifetimes: {preferred: %s, valid: %s, t1: %s, t2: %s}

subnets:
  - prefix: 2001:db8:1::/64
    interface: %s
    relationship: %s
    pools: [%q]
    pd-pools:
      - {prefix: %q, delegated-length: %d}

relationships:
  - name: %s
    role: %s
    %s
    mclt: %s
    keepalive: %s
`, role, dataDir, ifc, ctlAddr, lt.preferred, lt.valid, lt.t1, lt.t2,
		ifc, foRel, naPool, pdPool, pdLength, foRel, role, rel, foMCLT, foKeepalive)
}

// startFoServer writes a server's config and starts it through
// tandemServer.start (which waits for the control API).
func startFoServer(t *testing.T, tp *topo, ifc, role string, lt lifetimes) *tandemServer {
	t.Helper()
	return startFoServerWith(t, tp, ifc, role, lt, nil)
}

// newFoPair builds the topology, starts the secondary (listener) and the
// primary, and waits until both are in NORMAL.
func newFoPair(t *testing.T, lt lifetimes) *foPair {
	t.Helper()
	primTp, secTp := newFoTopo(t)
	fp := &foPair{t: t, cli: primTp}
	fp.sec = startFoServer(t, secTp, foSecIf, "secondary", lt)
	fp.prim = startFoServer(t, primTp, foPrimIf, "primary", lt)
	t0 := time.Now()
	fp.waitStates(t, 30*time.Second, "normal", "normal")
	t.Logf("pair in normal %v after the primary started", time.Since(t0).Round(time.Millisecond))
	return fp
}

// ---------------------------------------------------------------------------
// Failover status

type foRelStatus struct {
	Name         string  `json:"name"`
	Role         string  `json:"role"`
	State        string  `json:"state"`
	PartnerState string  `json:"partner_state"`
	CommOK       bool    `json:"comm_ok"`
	Unacked      int     `json:"unacked"`
	LagMS        float64 `json:"lag_ms"`
}

type foStatus struct {
	Server struct {
		DUID string `json:"duid"`
	} `json:"server"`
	Relationships []foRelStatus `json:"relationships"`
	Leases        struct {
		NAActive int64 `json:"na_active"`
		PDActive int64 `json:"pd_active"`
	} `json:"leases"`
	Packets map[string]uint64 `json:"packets"`
}

func foGetStatus(t *testing.T, s *tandemServer) foStatus {
	t.Helper()
	var st foStatus
	s.getJSON(t, "/v1/status", &st)
	if len(st.Relationships) != 1 || st.Relationships[0].Name != foRel {
		t.Fatalf("/v1/status relationships %+v, want exactly %s", st.Relationships, foRel)
	}
	return st
}

func (r foRelStatus) String() string {
	return fmt.Sprintf("%s state=%s partner=%s comm_ok=%v unacked=%d lag_ms=%.1f",
		r.Role, r.State, r.PartnerState, r.CommOK, r.Unacked, r.LagMS)
}

// waitStates waits until the primary and the secondary report the given
// endpoint states ("" = don't care) and returns how long that took.
func (fp *foPair) waitStates(t *testing.T, timeout time.Duration, prim, sec string) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(timeout)
	for {
		var ps, ss foRelStatus
		ok := true
		if prim != "" {
			ps = foGetStatus(t, fp.prim).Relationships[0]
			ok = ok && ps.State == prim
		}
		if sec != "" {
			ss = foGetStatus(t, fp.sec).Relationships[0]
			ok = ok && ss.State == sec
		}
		if ok {
			return time.Since(t0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v: want primary %q secondary %q; have primary {%v} secondary {%v}",
				timeout, prim, sec, ps, ss)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Clients

// foPerfdhcp runs perfdhcp directly on the client bridge (multicast, both
// servers hear it) and returns its statistics. base is perfdhcp's -b (a
// MAC base, so that runs can use disjoint client sets).
func (fp *foPair) foPerfdhcp(t *testing.T, lease string, rate, seconds int, base string) map[string]*perfStats {
	t.Helper()
	args := fp.perfdhcpArgs(lease, rate, seconds, base)
	out, code, err := fp.cli.exec(fp.cli.cli, time.Duration(seconds+30)*time.Second, "perfdhcp", args...)
	return fp.perfResult(t, args, out, code, err, rate, seconds)
}

// perfdhcpArgs: lease is perfdhcp's -e (address-only, address-and-prefix).
func (fp *foPair) perfdhcpArgs(lease string, rate, seconds int, base string) []string {
	return []string{"-6", "-r", strconv.Itoa(rate), "-p", strconv.Itoa(seconds), "-R", "100000",
		"-W", "500000", "-e", lease, "-b", "mac=" + base, "-l", foBridge}
}

// perfResult logs and parses perfdhcp's report and checks that the load
// was applied (≥ 80 % of rate×period sent), drops are < 1 %, and < 1 % of
// the SOLICITs failed to end in a REPLY. The last is not in perfdhcp's
// drop ratios: perfdhcp sends no REQUEST for an ADVERTISE that lacks a
// lease it asked for (-e), and takes the first ADVERTISE it gets, so a
// server that advertises nothing usable shows as a low exchange rate with
// 0 % drops.
func (fp *foPair) perfResult(t *testing.T, args []string, out string, code int, err error, rate, seconds int) map[string]*perfStats {
	t.Helper()
	stats := perfdhcpDrops(t, args, out, code, err)
	if minSent := uint64(rate * seconds * 8 / 10); stats["SOLICIT-ADVERTISE"].sent < minSent {
		t.Errorf("perfdhcp sent only %d SOLICITs in %d s at rate %d (want ≥ %d): the load was not applied",
			stats["SOLICIT-ADVERTISE"].sent, seconds, rate, minSent)
	}
	sa, rr := stats["SOLICIT-ADVERTISE"], stats["REQUEST-REPLY"]
	if rr.received == 0 {
		t.Fatal("no REQUEST got a REPLY")
	}
	if failed := int64(sa.sent) - int64(rr.received); failed*100 >= int64(sa.sent) {
		t.Errorf("%d of %d SOLICITs (%.1f %%) did not end in a REPLY (perfdhcp sent %d REQUESTs; %d ADVERTISEs were orphans): want < 1 %%",
			failed, sa.sent, 100*float64(failed)/float64(sa.sent), rr.sent, foOrphans(out, "SOLICIT-ADVERTISE"))
	}
	return stats
}

var rePerfOrphans = regexp.MustCompile(`(?m)^\s*orphans: (\d+)`)

// foOrphans is the orphans count of one section of perfdhcp's report.
func foOrphans(out, section string) int {
	i := strings.Index(out, "***Statistics for: "+section+"***")
	if i < 0 {
		return -1
	}
	if m := rePerfOrphans.FindStringSubmatch(out[i:]); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return -1
}

var reLeaseSID = regexp.MustCompile(`(?m)^\s*option dhcp6\.server-id ([0-9a-fA-F:]+);`)

// dhServerID is the server-id of the last lease6 block of a dhclient lease file.
func dhServerID(text string) []byte {
	blocks := strings.Split(text, "lease6 {")
	if m := reLeaseSID.FindStringSubmatch(blocks[len(blocks)-1]); m != nil {
		b, _ := parseDUID(m[1])
		return b
	}
	return nil
}

var reLeaseTimers = regexp.MustCompile(`(?m)^\s*renew (\d+);\s*rebind (\d+);`)

// dhTimers is T1 and T2 ("renew N; rebind N;") of the IAs in the last
// lease6 block of a dhclient lease file, as text for logs.
func dhTimers(text string) string {
	blocks := strings.Split(text, "lease6 {")
	var ts []string
	for _, m := range reLeaseTimers.FindAllStringSubmatch(blocks[len(blocks)-1], -1) {
		ts = append(ts, "T1 "+m[1]+" T2 "+m[2])
	}
	return strings.Join(ts, ", ")
}

// foStartDhclient is dhclient.start on the client bridge (the e2e_test.go
// helper runs it on the two-namespace topology's interface).
func foStartDhclient(t *testing.T, d *dhclient) {
	t.Helper()
	a := append([]string{"-6", "-d", "-v"}, d.flags...)
	a = append(a, "-cf", d.cf, "-lf", d.lf, "-pf", d.pf, "-sf", d.sf, foBridge)
	d.p = d.tp.start(d.tp.cli, "dhclient", 3*time.Minute, "dhclient", a...)
}

// ---------------------------------------------------------------------------
// Lease comparison

func foActive(ls []apiLease) map[string]apiLease {
	m := map[string]apiLease{}
	for _, l := range ls {
		if l.Status == "active" {
			m[l.Kind+" "+canon(l.Kind, l.resource())] = l
		}
	}
	return m
}

func sameClient(a, b apiLease) bool {
	da, _ := parseDUID(a.DUID)
	db, _ := parseDUID(b.DUID)
	return bytes.Equal(da, db) && a.IAID == b.IAID
}

// missingOnPartner lists the primary's active leases the secondary does not
// hold as active for the same client (DUID and IAID).
func missingOnPartner(prim, sec []apiLease) []string {
	sa := foActive(sec)
	var miss []string
	for k, l := range foActive(prim) {
		o, ok := sa[k]
		switch {
		case !ok:
			miss = append(miss, fmt.Sprintf("%s (duid %s iaid %d): not active on the secondary", k, l.DUID, l.IAID))
		case !sameClient(l, o):
			miss = append(miss, fmt.Sprintf("%s: primary duid %s iaid %d, secondary duid %s iaid %d", k, l.DUID, l.IAID, o.DUID, o.IAID))
		}
	}
	sort.Strings(miss)
	return miss
}

// ---------------------------------------------------------------------------
// Test 1: NORMAL, load through the pair, lazy replication catches up

func TestFailoverNormalReplicates(t *testing.T) {
	requireE2E(t, "perfdhcp")
	fp := newFoPair(t, defaultLifetimes)
	sec0 := foGetStatus(t, fp.sec)

	const rate, seconds = 1000, 5
	stats := fp.foPerfdhcp(t, "address-and-prefix", rate, seconds, "00:0c:01:00:00:00")
	end := time.Now()

	// Within 1 s of the end of the load: the primary has nothing unacked
	// and the secondary holds every active lease of the primary, for the
	// same client.
	var miss []string
	var prim, sec []apiLease
	var pst foRelStatus
	polls := 0
	for {
		polls++
		pollStart := time.Now()
		pst = foGetStatus(t, fp.prim).Relationships[0]
		prim = fp.prim.leases(t, "")
		sec = fp.sec.leases(t, "")
		miss = missingOnPartner(prim, sec)
		if pst.Unacked == 0 && len(miss) == 0 {
			t.Logf("replicated: poll %d, started %v after perfdhcp ended, unacked 0, %d primary leases all on the secondary",
				polls, pollStart.Sub(end).Round(time.Millisecond), len(foActive(prim)))
			break
		}
		if time.Since(end) > time.Second {
			t.Errorf("1 s after the load: primary {%v}; %d of %d active primary leases not on the secondary, e.g.:\n%s",
				pst, len(miss), len(foActive(prim)), strings.Join(miss[:min(len(miss), 10)], "\n"))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	na, pd := checkActiveLeases(t, fp.prim, prim)
	t.Logf("primary: %d addresses and %d prefixes active; secondary lists %d leases (%d active); %d REPLYs to perfdhcp",
		na, pd, len(sec), len(foActive(sec)), stats["REQUEST-REPLY"].received)
	if min := int(stats["REQUEST-REPLY"].received / 2); na < min || pd < min {
		t.Errorf("only %d addresses and %d prefixes active on the primary after %d REPLYs (want ≥ %d each)",
			na, pd, stats["REQUEST-REPLY"].received, min)
	}
	// In NORMAL the secondary answers no new client.
	sec1 := foGetStatus(t, fp.sec)
	if d := sec1.Packets["replied"] - sec0.Packets["replied"]; d != 0 {
		t.Errorf("the secondary replied %d times to new clients in NORMAL", d)
	}
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		if r := foGetStatus(t, s).Relationships[0]; r.State != "normal" || !r.CommOK {
			t.Errorf("after the load: {%v}, want normal with comm_ok", r)
		}
	}
	// Nothing may be active for two clients across the pair.
	foCheckUnion(t, prim, sec)
}

// foCheckUnion fails the test if an address or prefix is active for two
// different clients (DUID, IAID) across both servers' leases.
func foCheckUnion(t *testing.T, lists ...[]apiLease) {
	t.Helper()
	holders := map[string]map[string]bool{}
	for _, ls := range lists {
		for _, l := range ls {
			if l.Status != "active" {
				continue
			}
			if err := checkLeaseSanity(l); err != nil {
				t.Errorf("active lease %+v: %v", l, err)
			}
			d, _ := parseDUID(l.DUID)
			k := l.Kind + " " + canon(l.Kind, l.resource())
			if holders[k] == nil {
				holders[k] = map[string]bool{}
			}
			holders[k][fmt.Sprintf("duid %s iaid %d", formatDUID(d), l.IAID)] = true
		}
	}
	conflicts := 0
	for k, hs := range holders {
		if len(hs) > 1 {
			conflicts++
			if conflicts <= 20 {
				var list []string
				for h := range hs {
					list = append(list, h)
				}
				sort.Strings(list)
				t.Errorf("%s is active for %d clients across the pair: %s", k, len(hs), strings.Join(list, "; "))
			}
		}
	}
	if conflicts > 0 {
		t.Errorf("%d of %d resources are active for more than one client across the pair", conflicts, len(holders))
	} else {
		t.Logf("union of both servers: %d active resources, none held by two clients", len(holders))
	}
}

// ---------------------------------------------------------------------------
// Test 2: the primary dies; the client's REBIND keeps its lease at the secondary

func TestFailoverTakeover(t *testing.T) {
	requireE2E(t, "dhclient")
	// MCLT is 60 s: the first lifetimes a client gets are capped to it.
	// T1 6 s, T2 10 s: the client renews and rebinds within the test.
	fp := newFoPair(t, lifetimes{preferred: "90s", valid: "120s", t1: "6s", t2: "10s"})
	primDUID, _ := parseDUID(foGetStatus(t, fp.prim).Server.DUID)
	secDUID, _ := parseDUID(foGetStatus(t, fp.sec).Server.DUID)
	if len(primDUID) == 0 || len(secDUID) == 0 || bytes.Equal(primDUID, secDUID) {
		t.Fatalf("server DUIDs: primary %x, secondary %x: want two different ones", primDUID, secDUID)
	}

	d := newDhclient(t, fp.cli, "fo", "-N", "-P")
	foStartDhclient(t, d)
	cl := d.waitLease(t, true, true, 30*time.Second)
	bound := time.Now()
	b, _ := os.ReadFile(d.lf)
	if sid := dhServerID(string(b)); !bytes.Equal(sid, primDUID) {
		t.Fatalf("client bound with server-id %s, want the primary's %s (the secondary must not answer a new client in NORMAL)\n%s",
			formatDUID(sid), formatDUID(primDUID), b)
	}
	t.Logf("client bound %s and %s from the primary: preferred-life %d max-life %d (%s)", cl.addr, cl.prefix, cl.preflife, cl.maxlife, dhTimers(string(b)))
	if cl.maxlife == 0 || cl.maxlife > uint32(foMCLT/time.Second) {
		t.Errorf("first lease's max-life %d, want 1..%d (MCLT cap)", cl.maxlife, int(foMCLT/time.Second))
	}
	serverLeaseFor(t, fp.prim, cl, "na")
	serverLeaseFor(t, fp.prim, cl, "pd")
	// The secondary learns of the binding through a lazy BNDUPD.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := foGetStatus(t, fp.prim).Relationships[0]
		miss := missingOnPartner(fp.prim.leases(t, "?duid="+formatDUID(cl.clientID)), fp.sec.leases(t, "?duid="+formatDUID(cl.clientID)))
		if st.Unacked == 0 && len(miss) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the secondary did not get the client's leases within 5s: primary {%v}; %v", st, miss)
		}
		time.Sleep(100 * time.Millisecond)
	}
	renewsBefore := strings.Count(d.hookLog(), "RENEW6")

	fp.prim.kill9(t)
	killed := time.Now()
	t.Logf("killed the primary with SIGKILL %v after the client bound", killed.Sub(bound).Round(time.Millisecond))
	took := fp.waitStates(t, foKeepalive+5*time.Second, "", "communications-interrupted")
	t.Logf("secondary in communications-interrupted %v after the kill: {%v}", took.Round(time.Millisecond), foGetStatus(t, fp.sec).Relationships[0])

	// The RENEW goes to the dead primary (its server-id); the REBIND that
	// follows at T2 is answered by the secondary with the same leases.
	var cl2 dhLease
	deadline = time.Now().Add(40 * time.Second)
	for {
		b, _ = os.ReadFile(d.lf)
		if l, ok := parseDhclientLeases(string(b)); ok && bytes.Equal(dhServerID(string(b)), secDUID) {
			cl2 = l
			break
		}
		if d.p.exited() {
			t.Fatalf("dhclient exited: %v\n%s", d.p.err, tail(d.p.log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lease from the secondary within 40s of the kill; secondary {%v}\nhook log:\n%s\nlease file:\n%s\ndhclient:\n%s",
				foGetStatus(t, fp.sec).Relationships[0], d.hookLog(), b, tail(d.p.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("client holds %s and %s from the secondary %v after the kill: preferred-life %d max-life %d (%s; %d lease6 blocks)",
		cl2.addr, cl2.prefix, time.Since(killed).Round(time.Millisecond), cl2.preflife, cl2.maxlife, dhTimers(string(b)), cl2.blocks)
	hook := d.hookLog()
	if !strings.Contains(d.p.log(), "Rebind") || !strings.Contains(hook, "REBIND6") {
		t.Errorf("the new lease did not come from a REBIND; hook log:\n%s\ndhclient:\n%s", hook, tail(d.p.log(), 30))
	}
	if n := strings.Count(hook, "RENEW6"); n != renewsBefore {
		t.Errorf("dhclient completed %d RENEW(s) after the primary died; nothing should answer a RENEW carrying the dead primary's server-id\n%s",
			n-renewsBefore, hook)
	}
	if !strings.Contains(d.p.log(), "Renew") {
		t.Errorf("dhclient sent no Renew before rebinding:\n%s", tail(d.p.log(), 30))
	}
	if cl2.addr != cl.addr || cl2.prefix != cl.prefix {
		t.Errorf("after the takeover the client holds %s %s, before %s %s", cl2.addr, cl2.prefix, cl.addr, cl.prefix)
	}
	if cl2.blocks < 2 {
		t.Errorf("lease file has %d lease6 blocks, want a new one from the secondary", cl2.blocks)
	}
	if !bytes.Equal(cl2.clientID, cl.clientID) || cl2.naIAID != cl.naIAID || cl2.pdIAID != cl.pdIAID {
		t.Errorf("client identity changed: duid %x→%x na iaid %#x→%#x pd iaid %#x→%#x",
			cl.clientID, cl2.clientID, cl.naIAID, cl2.naIAID, cl.pdIAID, cl2.pdIAID)
	}
	if cl2.maxlife == 0 || cl2.maxlife > 120 {
		t.Errorf("secondary's lease max-life %d: want 1..120 (the configured valid lifetime)", cl2.maxlife)
	}
	na := serverLeaseFor(t, fp.sec, cl2, "na")
	pd := serverLeaseFor(t, fp.sec, cl2, "pd")
	t.Logf("secondary's records: %s valid %d cltt %s; %s valid %d cltt %s", na.Address, na.Valid, na.CLTT, pd.Prefix, pd.Valid, pd.CLTT)
	for _, l := range []apiLease{na, pd} {
		if c := parseRFC3339(t, "cltt", l.CLTT); c.Before(killed.Add(-time.Second)) {
			t.Errorf("secondary's %s record cltt %s is before the kill (%s): the rebind did not reach its record", l.Kind, l.CLTT, killed.UTC().Format(time.RFC3339))
		}
	}
	if r := foGetStatus(t, fp.sec).Relationships[0]; r.State != "communications-interrupted" {
		t.Errorf("secondary {%v}, want communications-interrupted (no partner-down was ordered)", r)
	}

	// Both journals answer the audit question (audit_e2e_test.go): the
	// secondary's, on a checkpoint taken while it serves, names the client
	// after the takeover and (from the primary's BNDUPD) before it; the dead
	// primary's, read where it lies, names it before the kill. "Before"
	// is 2 s after the bind (the secondary's event may fall in the next
	// second; the rebind comes at T2, 10 s).
	auditCheckClient(t, fp.sec, cl2, time.Now(), "secondary after the takeover")
	ck := checkpointTandem(t, fp.sec)
	before := bound.Add(2 * time.Second)
	for _, dir := range []string{ck, fp.prim.dataDir} {
		wantHolder(t, whoAt(t, dir, "na", cl.addr, before), cl.clientID, cl.naIAID, "before the kill ("+dir+")")
		wantHolder(t, whoAt(t, dir, "pd", cl.prefix, before), cl.clientID, cl.pdIAID, "before the kill ("+dir+")")
	}
}

// ---------------------------------------------------------------------------
// Test 3: partition of the partner link under load

// foNft runs an nft script in a namespace.
func foNft(t *testing.T, tp *topo, ns, script string) {
	t.Helper()
	f := filepath.Join(tp.dir, fmt.Sprintf("nft-%d.nft", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code, err := tp.exec(ns, 20*time.Second, "nft", "-f", f); err != nil || code != 0 {
		t.Fatalf("nft -f %s in %s: exit %d %v\n%s\n%s", f, ns, code, err, out, script)
	}
}

// TestFailoverPartition is the partition test as specified: clients ask for
// an address and a prefix.
func TestFailoverPartition(t *testing.T) {
	requireE2E(t, "perfdhcp", "nft")
	runFailoverPartition(t, "address-and-prefix")
}

// TestFailoverPartitionAddresses is the same scenario with clients that ask
// for an address only, which both servers can allocate on their own
// (independent split: primary odd, secondary even).
func TestFailoverPartitionAddresses(t *testing.T) {
	requireE2E(t, "perfdhcp", "nft")
	runFailoverPartition(t, "address-only")
}

// runFailoverPartition: under perfdhcp load (-e lease), a firewall rule in
// the secondary's namespace drops the partner link (TCP port 647) while
// DHCP on the same link goes on; both endpoints must go to
// communications-interrupted within the keepalive time, both must keep
// serving with lifetimes capped by MCLT, and after the rule is removed both
// return to NORMAL with no resource active for two clients across the pair.
func runFailoverPartition(t *testing.T, lease string) {
	fp := newFoPair(t, defaultLifetimes)
	secTp := fp.sec.tp

	// Phase 1, NORMAL, under load: cut the partner link (TCP port 647, both
	// directions) in the secondary's namespace; DHCP on the same link
	// goes on. Both endpoints must notice within the keepalive time.
	const rate = 1000
	args1 := fp.perfdhcpArgs(lease, rate, 6, "00:0c:01:00:00:00")
	perf1 := fp.cli.start(fp.cli.cli, "perfdhcp1", time.Minute, "perfdhcp", args1...)
	time.Sleep(2 * time.Second)
	foNft(t, secTp, secTp.srv, `table inet tfopart {
	chain in  { type filter hook input priority 0; policy accept; tcp dport 647 drop; tcp sport 647 drop; }
	chain out { type filter hook output priority 0; policy accept; tcp dport 647 drop; tcp sport 647 drop; }
}
`)
	cut := time.Now()
	took := fp.waitStates(t, 3*foKeepalive, "communications-interrupted", "communications-interrupted")
	t.Logf("partition: both in communications-interrupted %v after the rule (keepalive %v)", took.Round(time.Millisecond), foKeepalive)
	if took > foKeepalive+time.Second {
		t.Errorf("both endpoints reached communications-interrupted %v after the cut, want within keepalive %v (+1 s)", took, foKeepalive)
	}
	if _, ok := perf1.wait(40 * time.Second); !ok {
		t.Fatalf("perfdhcp did not finish\n%s", tail(perf1.log(), 30))
	}
	code1 := -1
	if perf1.cmd.ProcessState != nil {
		code1 = perf1.cmd.ProcessState.ExitCode()
	}
	t.Log("phase 1: load across the cut")
	fp.perfResult(t, args1, perf1.log(), code1, perf1.err, rate, 6)

	// Phase 2, partitioned: fresh clients (their own MAC base), both
	// servers answer, with lifetimes capped by MCLT.
	t.Log("phase 2: load during the partition")
	p0, s0 := foGetStatus(t, fp.prim), foGetStatus(t, fp.sec)
	p2start := time.Now()
	fp.foPerfdhcp(t, lease, rate, 5, "00:0c:02:00:00:00")
	p2end := time.Now()
	p1, s1 := foGetStatus(t, fp.prim), foGetStatus(t, fp.sec)
	for _, x := range []struct {
		name   string
		before foStatus
		after  foStatus
	}{{"primary", p0, p1}, {"secondary", s0, s1}} {
		r := x.after.Relationships[0]
		replied := x.after.Packets["replied"] - x.before.Packets["replied"]
		t.Logf("%s during the partition: replied %d, {%v}", x.name, replied, r)
		if replied == 0 {
			t.Errorf("the %s answered nothing in communications-interrupted", x.name)
		}
		if r.State != "communications-interrupted" {
			t.Errorf("the %s left communications-interrupted while partitioned: {%v}", x.name, r)
		}
	}
	// Leases given during the partition (phase 2's clients: MAC base
	// 00:0c:02 in their DUID-LLT) carry lifetimes of at most MCLT.
	mcltS := uint32(foMCLT / time.Second)
	for _, x := range []struct {
		name string
		s    *tandemServer
	}{{"primary", fp.prim}, {"secondary", fp.sec}} {
		n, over := 0, 0
		kinds := map[string]int{}
		for _, l := range x.s.leases(t, "") {
			d, _ := parseDUID(l.DUID)
			if l.Status != "active" || len(d) < 11 || !bytes.Equal(d[8:11], []byte{0x00, 0x0c, 0x02}) {
				continue
			}
			c := parseRFC3339(t, "cltt", l.CLTT)
			if c.Before(p2start.Add(-time.Second)) || c.After(p2end.Add(time.Second)) {
				continue
			}
			n++
			kinds[l.Kind]++
			e := parseRFC3339(t, "expires", l.Expires)
			if l.Valid > mcltS || l.Preferred > mcltS || e.Sub(c) > foMCLT {
				over++
				if over <= 5 {
					t.Errorf("%s: lease %+v given during the partition exceeds MCLT %v", x.name, l, foMCLT)
				}
			}
		}
		t.Logf("%s: %d active leases (%d addresses, %d prefixes) of phase-2 clients with cltt in the partition, %d over MCLT",
			x.name, n, kinds["na"], kinds["pd"], over)
		if kinds["na"] == 0 || lease == "address-and-prefix" && kinds["pd"] == 0 {
			t.Errorf("%s holds no address or no prefix given during the partition: %v", x.name, kinds)
		}
		if over > 0 {
			t.Errorf("%s: %d leases given during the partition exceed MCLT", x.name, over)
		}
	}

	// Phase 3: heal under load; both return to NORMAL.
	t.Log("phase 3: heal under load")
	args3 := fp.perfdhcpArgs(lease, rate, 6, "00:0c:03:00:00:00")
	perf3 := fp.cli.start(fp.cli.cli, "perfdhcp3", time.Minute, "perfdhcp", args3...)
	time.Sleep(time.Second)
	foNft(t, secTp, secTp.srv, "delete table inet tfopart\n")
	healed := time.Now()
	t.Logf("partition lasted %v", healed.Sub(cut).Round(time.Millisecond))
	took = fp.waitStates(t, 30*time.Second, "normal", "normal")
	t.Logf("heal: both in normal %v after the rule was removed", took.Round(time.Millisecond))
	if _, ok := perf3.wait(40 * time.Second); !ok {
		t.Fatalf("perfdhcp did not finish\n%s", tail(perf3.log(), 30))
	}
	code3 := -1
	if perf3.cmd.ProcessState != nil {
		code3 = perf3.cmd.ProcessState.ExitCode()
	}
	fp.perfResult(t, args3, perf3.log(), code3, perf3.err, rate, 6)

	// After the run: the pair is in NORMAL with nothing unacked, and no
	// address or prefix is active for two clients across both servers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pr, sr := foGetStatus(t, fp.prim).Relationships[0], foGetStatus(t, fp.sec).Relationships[0]
		if pr.State == "normal" && sr.State == "normal" && pr.Unacked == 0 && sr.Unacked == 0 {
			t.Logf("settled: primary {%v} secondary {%v}", pr, sr)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("10 s after the load: primary {%v} secondary {%v}, want both normal, nothing unacked", pr, sr)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	pl, sl := fp.prim.leases(t, ""), fp.sec.leases(t, "")
	t.Logf("primary lists %d leases (%d active), secondary %d (%d active)", len(pl), len(foActive(pl)), len(sl), len(foActive(sl)))
	foCheckUnion(t, pl, sl)
}

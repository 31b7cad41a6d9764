package main

// End-to-end test of the m-to-1 failover model (RFC 7031): two primaries,
// A (relationship "a", subnet 2001:db8:1::/64) and B (relationship "b",
// subnet 2001:db8:2::/64), and one secondary S in both relationships,
// listening for both on the one socket [::]:647. Three `tandem serve`
// processes, each in its own namespace, joined by a bridge; clients are
// `tandem bench` runs relayed to each primary (the relay link-address
// selects the subnet). It reuses the namespace, process and control-API
// helpers of e2e_test.go and failover_e2e_test.go and, like them, needs
// root and skips without it (fails under CI=true).
//
//	ns tmtc<id>: bridge tmtbr0 2001:db8:ff::100/64, tandem bench
//	   ├─ veth ── ns tmta<id>: A tmta0 2001:db8:ff::1  primary "a", dials [2001:db8:ff::2]:647
//	   ├─ veth ── ns tmtb<id>: B tmtb0 2001:db8:ff::3  primary "b", dials [2001:db8:ff::2]:647
//	   └─ veth ── ns tmts<id>: S tmts0 2001:db8:ff::2  secondary "a" (peer ::1) and "b" (peer ::3), listen [::]:647

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const mtoBridge = "tmtbr0"

// mtoNode is one server of the topology.
type mtoNode struct {
	name, ifc, addr string
}

var (
	mtoA = mtoNode{"A", "tmta0", "2001:db8:ff::1"}
	mtoB = mtoNode{"B", "tmtb0", "2001:db8:ff::3"}
	mtoS = mtoNode{"S", "tmts0", "2001:db8:ff::2"}
)

const mtoCliAddr = "2001:db8:ff::100"

// newMtoTopo creates the client namespace with its bridge and one
// namespace per server with a veth into the bridge; it returns a topo
// view per server (srv = its namespace, cli = the client's).
func newMtoTopo(t *testing.T) map[string]*topo {
	t.Helper()
	id := fmt.Sprintf("%d-%d", os.Getpid(), nsSeq.Add(1))
	nsC := "tmtc" + id
	tps := map[string]*topo{}
	var tp *topo
	for _, n := range []mtoNode{mtoA, mtoB, mtoS} {
		tps[n.name] = &topo{t: t, srv: "tmt" + strings.ToLower(n.name) + id, cli: nsC, dir: t.TempDir()}
		tp = tps[n.name]
	}
	for _, ns := range []string{nsC, tps["A"].srv, tps["B"].srv, tps["S"].srv} {
		tp.must("ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { tp.deleteNS(ns) })
		tp.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		tp.must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	tp.must("ip", "-n", nsC, "link", "add", mtoBridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	for i, n := range []mtoNode{mtoA, mtoB, mtoS} {
		ns, port := tps[n.name].srv, fmt.Sprintf("tmtp%d", i)
		tp.must("ip", "link", "add", port, "netns", nsC, "type", "veth", "peer", "name", n.ifc, "netns", ns)
		tp.must("ip", "-n", nsC, "link", "set", port, "master", mtoBridge)
		tp.must("ip", "-n", nsC, "link", "set", port, "up")
		tp.sysctl(ns, "net.ipv6.conf."+n.ifc+".accept_dad=0")
		tp.must("ip", "-n", ns, "link", "set", n.ifc, "up")
		tp.must("ip", "-n", ns, "-6", "addr", "add", n.addr+"/64", "dev", n.ifc, "nodad")
	}
	tp.sysctl(nsC, "net.ipv6.conf."+mtoBridge+".accept_dad=0")
	tp.must("ip", "-n", nsC, "link", "set", mtoBridge, "up")
	tp.must("ip", "-n", nsC, "-6", "addr", "add", mtoCliAddr+"/64", "dev", mtoBridge, "nodad")
	tp.waitLinkLocal(nsC, mtoBridge)
	for _, n := range []mtoNode{mtoA, mtoB, mtoS} {
		tp.waitLinkLocal(tps[n.name].srv, n.ifc)
	}
	return tps
}

// mtoConfig is a server's config. Primaries serve one subnet; S serves
// both, each in its own relationship, on one listen address.
func mtoConfig(n mtoNode, dataDir string) string {
	subnet := func(i int, rel string) string {
		return fmt.Sprintf("  - prefix: 2001:db8:%d::/64\n    relationship: %s\n    pools: [\"2001:db8:%d::1000-2001:db8:%d::ffff\"]\n", i, rel, i, i)
	}
	var subnets, rels string
	switch n {
	case mtoA:
		subnets = subnet(1, "a")
		rels = fmt.Sprintf("  - {name: a, role: primary, peer: \"[%s]:647\", mclt: %s, keepalive: %s}\n", mtoS.addr, foMCLT, foKeepalive)
	case mtoB:
		subnets = subnet(2, "b")
		rels = fmt.Sprintf("  - {name: b, role: primary, peer: \"[%s]:647\", mclt: %s, keepalive: %s}\n", mtoS.addr, foMCLT, foKeepalive)
	case mtoS:
		subnets = subnet(1, "a") + subnet(2, "b")
		for _, r := range []struct {
			name string
			peer mtoNode
		}{{"a", mtoA}, {"b", mtoB}} {
			rels += fmt.Sprintf("  - {name: %s, role: secondary, peer: \"[%s]:647\", listen: \"[::]:647\", mclt: %s, keepalive: %s}\n",
				r.name, r.peer.addr, foMCLT, foKeepalive)
		}
	}
	return fmt.Sprintf(`# tandem m-to-1 e2e test config (%s)
server:
  data-dir: %q
  listen: ["[::]:547"]
  control: %q
lifetimes: {preferred: 30m, valid: 1h}
subnets:
%srelationships:
%s`, n.name, dataDir, ctlAddr, subnets, rels)
}

func startMtoServer(t *testing.T, tp *topo, n mtoNode) *tandemServer {
	t.Helper()
	s := &tandemServer{tp: tp, dataDir: filepath.Join(tp.dir, "data"), cfgPath: filepath.Join(tp.dir, "tandem.yaml")}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.cfgPath, []byte(mtoConfig(n, s.dataDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.p == nil {
			return
		}
		if t.Failed() {
			t.Logf("tandem %s log (%s):\n%s", n.name, s.p.logPath, tail(s.p.log(), 60))
		}
		if !s.p.exited() {
			if err := s.p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
				t.Errorf("tandem %s did not exit cleanly on SIGTERM: %v", n.name, err)
			}
		}
	})
	s.start(t)
	return s
}

// mtoRels is /v1/status's relationships by name.
func mtoRels(t *testing.T, s *tandemServer) map[string]foRelStatus {
	t.Helper()
	var st foStatus
	s.getJSON(t, "/v1/status", &st)
	m := map[string]foRelStatus{}
	for _, r := range st.Relationships {
		m[r.Name] = r
	}
	return m
}

// mtoWait waits until every server's relationships are in the wanted
// states (server name → relationship → state).
func mtoWait(t *testing.T, srv map[string]*tandemServer, timeout time.Duration, want map[string]map[string]string) time.Duration {
	t.Helper()
	t0 := time.Now()
	for {
		var bad []string
		for name, rels := range want {
			have := mtoRels(t, srv[name])
			for rel, st := range rels {
				if have[rel].State != st {
					bad = append(bad, fmt.Sprintf("%s/%s {%v} (want %s)", name, rel, have[rel], st))
				}
			}
		}
		if len(bad) == 0 {
			return time.Since(t0)
		}
		if time.Since(t0) > timeout {
			t.Fatalf("within %v: %s", timeout, strings.Join(bad, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mtoBench runs `tandem bench` from the client namespace, relayed to a
// primary and claiming a link-address in subnet.
func mtoBench(t *testing.T, tp *topo, to mtoNode, subnet int, clients int) {
	t.Helper()
	args := []string{"bench", "--server", fmt.Sprintf("[%s]:547", to.addr), "--link", fmt.Sprintf("2001:db8:%d::1", subnet),
		"--ia", "na", "--rate", "500", "--duration", "1s", "--clients", fmt.Sprint(clients), "--json"}
	out, code, err := tp.exec(tp.cli, 60*time.Second, e2eBin, args...)
	if err != nil || code != 0 {
		t.Fatalf("tandem %s: exit %d %v\n%s", strings.Join(args, " "), code, err, out)
	}
	var r struct {
		Completed uint64  `json:"completed"`
		DropRatio float64 `json:"drop_ratio"`
	}
	if err := json.Unmarshal([]byte(out[strings.LastIndexByte(strings.TrimSpace(out), '\n')+1:]), &r); err != nil {
		t.Fatalf("tandem bench output: %v\n%s", err, out)
	}
	if r.Completed < uint64(clients) || r.DropRatio > 0.01 {
		t.Fatalf("bench through %s: %s", to.name, out)
	}
	t.Logf("bench through %s (subnet %d): %d exchanges, drops %.3f %%", to.name, subnet, r.Completed, 100*r.DropRatio)
}

// inSubnet keeps the leases of 2001:db8:i::/64.
func inSubnet(ls []apiLease, i int) []apiLease {
	var out []apiLease
	for _, l := range ls {
		if strings.HasPrefix(l.resource(), fmt.Sprintf("2001:db8:%d:", i)) {
			out = append(out, l)
		}
	}
	return out
}

// TestMto1Failover: both relationships reach NORMAL through S's one
// socket; each primary's leases are replicated to S; a primary calling
// itself "a" from B's address is refused; killing A interrupts only
// relationship a, and B's leases still reach S.
func TestMto1Failover(t *testing.T) {
	requireE2E(t)
	tps := newMtoTopo(t)
	srv := map[string]*tandemServer{}
	srv["S"] = startMtoServer(t, tps["S"], mtoS)
	srv["A"] = startMtoServer(t, tps["A"], mtoA)
	srv["B"] = startMtoServer(t, tps["B"], mtoB)
	took := mtoWait(t, srv, 30*time.Second, map[string]map[string]string{
		"A": {"a": "normal"}, "B": {"b": "normal"}, "S": {"a": "normal", "b": "normal"}})
	t.Logf("both relationships in normal %v after the primaries started", took.Round(time.Millisecond))
	if rels := mtoRels(t, srv["S"]); len(rels) != 2 || rels["a"].Role != "secondary" || rels["b"].Role != "secondary" {
		t.Fatalf("S /v1/status relationships %v", rels)
	}

	// Load through each primary; S holds each one's leases, per subnet.
	mtoBench(t, tps["A"], mtoA, 1, 200)
	mtoBench(t, tps["B"], mtoB, 2, 300)
	deadline := time.Now().Add(3 * time.Second)
	for {
		sec := srv["S"].leases(t, "")
		missA := missingOnPartner(srv["A"].leases(t, ""), inSubnet(sec, 1))
		missB := missingOnPartner(srv["B"].leases(t, ""), inSubnet(sec, 2))
		na, nb := len(foActive(inSubnet(sec, 1))), len(foActive(inSubnet(sec, 2)))
		if len(missA)+len(missB) == 0 && na == 200 && nb == 300 {
			t.Logf("S holds A's %d and B's %d leases", na, nb)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 s after the load: S has %d leases in subnet 1 (%d of A's missing) and %d in subnet 2 (%d of B's missing)",
				na, len(missA), nb, len(missB))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// An impostor in B's namespace (B's address) calling itself "a".
	imp := tps["B"]
	impDir := filepath.Join(imp.dir, "impostor")
	if err := os.MkdirAll(impDir, 0o755); err != nil {
		t.Fatal(err)
	}
	impCfg := strings.NewReplacer(`"[::]:547"`, `"[::]:1547"`, ctlAddr, "127.0.0.1:8548", "name: b", "name: a",
		"relationship: b", "relationship: a", "2001:db8:2:", "2001:db8:1:").
		Replace(mtoConfig(mtoB, impDir))
	if err := os.WriteFile(filepath.Join(impDir, "tandem.yaml"), []byte(impCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ip := imp.start(imp.srv, "impostor", time.Minute, e2eBin, "serve", "--config", filepath.Join(impDir, "tandem.yaml"), "--log-format", "console")
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(ip.log(), "status 17") {
		if time.Now().After(deadline) || ip.exited() {
			t.Fatalf("impostor not refused with ConfigurationConflict (17):\n%s", tail(ip.log(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ip.stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Errorf("impostor: %v", err)
	}
	if l := srv["S"].p.log(); !strings.Contains(l, "refused failover CONNECT") {
		t.Errorf("S did not log the refusal:\n%s", tail(l, 20))
	}
	mtoWait(t, srv, time.Second, map[string]map[string]string{"S": {"a": "normal", "b": "normal"}})
	t.Log("impostor refused; both relationships still normal")

	// Kill A: only relationship a is interrupted.
	srv["A"].kill9(t)
	took = mtoWait(t, srv, foKeepalive+5*time.Second, map[string]map[string]string{"S": {"a": "communications-interrupted"}})
	t.Logf("S/a in communications-interrupted %v after A was killed", took.Round(time.Millisecond))
	for end := time.Now().Add(2 * foKeepalive); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		s, b := mtoRels(t, srv["S"]), mtoRels(t, srv["B"])
		if s["b"].State != "normal" || !s["b"].CommOK || b["b"].State != "normal" || !b["b"].CommOK {
			t.Fatalf("relationship b after A died: S {%v} B {%v}", s["b"], b["b"])
		}
	}
	mtoBench(t, tps["B"], mtoB, 2, 400)
	deadline = time.Now().Add(3 * time.Second)
	for {
		sec := inSubnet(srv["S"].leases(t, ""), 2)
		miss := missingOnPartner(srv["B"].leases(t, ""), sec)
		if len(miss) == 0 && len(foActive(sec)) == 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relationship b while a is interrupted: S has %d of B's leases, %d missing", len(foActive(sec)), len(miss))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log("B's new leases reached S while relationship a was interrupted")
}

package main

// End-to-end runs of `tandem bench` across the test topology's veth pair
// (e2e_test.go): direct (multicast from the client namespace) and relayed,
// against `tandem serve` and, where it is installed, ISC Kea. They need
// root, like the other end-to-end tests.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/bench"
)

func init() { aptPackage["kea-dhcp6"] = "kea-dhcp6-server" }

// benchIn runs `tandem bench ARGS --json` in the client namespace.
func benchIn(t *testing.T, tp *topo, args ...string) bench.Result {
	t.Helper()
	out, code, err := tp.exec(tp.cli, 60*time.Second, e2eBin, append([]string{"bench", "--json"}, args...)...)
	if err != nil || code != 0 {
		t.Fatalf("tandem bench %v: exit %d, %v\n%s", args, code, err, tail(out, 20))
	}
	var r bench.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("tandem bench %v: %v\n%s", args, err, tail(out, 20))
	}
	t.Logf("bench %v: %s; solicit %+v renew %+v release %+v", args, r.String(), r.Exchanges.Solicit, r.Exchanges.Renew, r.Exchanges.Release)
	return r
}

// checkMixRun: a clean run in which renewals and releases happened.
func checkMixRun(t *testing.T, what string, r bench.Result) {
	t.Helper()
	if r.Started == 0 || r.DropRatio > 0.01 || r.Exchanges.Renew.Completed == 0 || r.Exchanges.Release.Completed == 0 {
		t.Errorf("%s: want a clean run with renewals and releases: %+v", what, r)
	}
	if r.Timestamps != "kernel" {
		t.Errorf("%s: answers timed by %q, want kernel timestamps", what, r.Timestamps)
	}
}

// TestBenchE2ETandem: direct and relayed mixes against tandem serve; the
// server's lease list shows the releases.
func TestBenchE2ETandem(t *testing.T) {
	requireE2E(t)
	tp := newTopo(t)
	s := startTandem(t, tp, defaultLifetimes)
	mix := []string{"--rate", "1000", "--duration", "1s", "--mix", "solicit=70,renew=20,release=10"}
	direct := benchIn(t, tp, append([]string{"--interface", cliIf}, mix...)...)
	checkMixRun(t, "direct", direct)
	if direct.Mode != "direct" {
		t.Errorf("mode %q", direct.Mode)
	}
	relayed := benchIn(t, tp, append([]string{"--server", "[" + srvAddr + "]:547", "--link", cliAddr, "--sockets", "4",
		"--clients", "50000"}, mix...)...)
	checkMixRun(t, "relayed", relayed)

	released := 0
	for _, l := range s.leases(t, "") {
		if l.Status == "released" {
			released++
		}
	}
	// Each release gives back an address and a prefix (two leases); one
	// may since have gone to another client, hence no exact count.
	if want := int(direct.Exchanges.Release.Completed + relayed.Exchanges.Release.Completed); released < want {
		t.Errorf("%d released leases on the server after %d releases", released, want)
	}
}

// keaConfig serves the test topology: multicast on the server's veth
// (direct clients), unicast on its address (relayed), one subnet for
// each (a relayed request is matched by link-address, a direct one by
// interface) and a third matched by the relay's interface-id.
func keaConfig(dir string) string {
	return fmt.Sprintf(`{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "%[2]s/%[3]s" ] },
  "server-id": { "type": "EN", "enterprise-id": 2495, "identifier": "0102", "persist": false },
  "data-directory": %[1]q,
  "lease-database": { "type": "memfile", "persist": false, "lfc-interval": 0 },
  "renew-timer": 1000, "rebind-timer": 2000, "preferred-lifetime": 3000, "valid-lifetime": 4000,
  "subnet6": [
    { "id": 1, "subnet": "2001:db8:1::/64", "interface": %[2]q, "pools": [ { "pool": "2001:db8:1:0:1::/80" } ],
      "pd-pools": [ { "prefix": "2001:db8:4000::", "prefix-len": 34, "delegated-len": 56 } ] },
    { "id": 2, "subnet": "2001:db8:2::/64", "pools": [ { "pool": "2001:db8:2:0:1::/80" } ],
      "pd-pools": [ { "prefix": "2001:db8:8000::", "prefix-len": 34, "delegated-len": 56 } ] },
    { "id": 3, "subnet": "2001:db8:3::/64", "interface-id": "port7", "pools": [ { "pool": "2001:db8:3:0:1::/80" } ] }
  ],
  "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "%[1]s/kea.log" } ], "severity": "WARN" } ]
} }`, dir, srvIf, srvAddr)
}

// TestBenchE2EKea: the generator speaks plain RFC 8415 — Kea answers its
// direct and relayed allocations, renewals and releases (RELAY-REPLs come
// back to the generator's ports through RFC 8357's relay source port
// option), and selects subnets by link-address and by interface-id.
func TestBenchE2EKea(t *testing.T) {
	requireE2E(t, "kea-dhcp6")
	tp := newTopo(t)
	dir := filepath.Join(tp.dir, "kea")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "kea-dhcp6.json")
	if err := os.WriteFile(cfg, []byte(keaConfig(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	kea := tp.start(tp.srv, "kea", 5*time.Minute, "env", "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir,
		tool("kea-dhcp6"), "-c", cfg)
	defer kea.stop(syscall.SIGTERM, 5*time.Second)
	// Kea is up when its unicast socket is bound.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if o, _, _ := tp.exec(tp.srv, 5*time.Second, "ss", "-uln", "sport", "= :547"); strings.Contains(o, srvAddr) && strings.Contains(o, "ff02::1:2") {
			break
		}
		if kea.exited() || time.Now().After(deadline) {
			t.Fatalf("kea-dhcp6 did not start: %v\n%s", kea.err, tail(kea.log(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	mix := []string{"--rate", "1000", "--duration", "1s", "--mix", "solicit=70,renew=20,release=10"}
	checkMixRun(t, "direct", benchIn(t, tp, append([]string{"--interface", cliIf}, mix...)...))
	r := benchIn(t, tp, append([]string{"--server", srvAddr, "--link", "2001:db8:2::1", "--sockets", "4"}, mix...)...)
	checkMixRun(t, "relayed", r)
	if len(r.LastAddr) < 14 || r.LastAddr[:14] != "2001:db8:2:0:1" {
		t.Errorf("relayed by link-address 2001:db8:2::1: last address %q, want one of subnet 2001:db8:2::/64", r.LastAddr)
	}
	r = benchIn(t, tp, "--server", srvAddr, "--link", "2001:db8:99::1", "--interface-id", "port7", "--ia", "na",
		"--rate", "300", "--duration", "1s")
	if r.DropRatio > 0.01 || len(r.LastAddr) < 14 || r.LastAddr[:14] != "2001:db8:3:0:1" {
		t.Errorf("relayed with interface-id port7: %+v, want clean, addresses of 2001:db8:3::/64", r)
	}
}

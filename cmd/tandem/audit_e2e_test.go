package main

// End-to-end audit tests: real clients (perfdhcp, ISC dhclient) lease from
// a real `tandem serve` in the e2e namespaces, and `tandem journal who` and
// `history`, run as the binary on a checkpoint taken while the server runs,
// must name the client that really held each address and prefix: the one
// in dhclient's lease file, or in the server's lease list for perfdhcp's
// clients. TestFailoverTakeover (failover_e2e_test.go) checks the
// secondary's journal after a takeover with the same helpers.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkpointTandem copies the running server's data-dir through `tandem ctl
// checkpoint`, run inside the server's namespace (the control API is on
// its loopback), and returns the copy.
func checkpointTandem(t *testing.T, s *tandemServer) string {
	t.Helper()
	dir := filepath.Join(s.tp.dir, fmt.Sprintf("checkpoint-%d", time.Now().UnixNano()))
	out, code, err := s.tp.exec(s.tp.srv, 60*time.Second, e2eBin, "ctl", "--control", "http://"+ctlAddr, "checkpoint", dir)
	if err != nil || code != 0 {
		t.Fatalf("tandem ctl checkpoint: exit %d, %v\n%s", code, err, out)
	}
	return dir
}

// whoAt runs `tandem journal who --json` on dataDir for an address (kind
// na) or a prefix (pd) at time at.
func whoAt(t *testing.T, dataDir, kind, res string, at time.Time) whoJSON {
	t.Helper()
	flag := "--addr"
	if kind == "pd" {
		flag = "--prefix"
	}
	var w whoJSON
	out := mustRun(t, "journal", "who", "--data-dir", dataDir, flag, res, "--at", at.UTC().Format(time.RFC3339), "--json")
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("who: %v: %q", err, out)
	}
	return w
}

// wantHolder checks that who says the client with this DUID and IAID held
// the resource.
func wantHolder(t *testing.T, w whoJSON, duid []byte, iaid uint32, what string) {
	t.Helper()
	if !w.Held || w.Holder == nil {
		t.Errorf("%s: who %s at %s says nobody (%+v), want duid %s iaid %#x", what, w.Resource, w.At, w.Holder, formatDUID(duid), iaid)
		return
	}
	got, _ := parseDUID(w.Holder.DUID)
	if !bytes.Equal(got, duid) || w.Holder.IAID != iaid {
		t.Errorf("%s: who %s at %s names duid %s iaid %#x (seq %d), want duid %s iaid %#x",
			what, w.Resource, w.At, w.Holder.DUID, w.Holder.IAID, w.Holder.Seq, formatDUID(duid), iaid)
	}
}

// auditCheckClient checks, on a checkpoint of s, that who names the
// dhclient whose lease file is cl as the holder of its address and prefix
// at time at, and that their history ends with that client.
func auditCheckClient(t *testing.T, s *tandemServer, cl dhLease, at time.Time, what string) {
	t.Helper()
	ck := checkpointTandem(t, s)
	for _, r := range []struct {
		kind, res string
		iaid      uint32
	}{{"na", cl.addr, cl.naIAID}, {"pd", cl.prefix, cl.pdIAID}} {
		if r.res == "" {
			continue
		}
		wantHolder(t, whoAt(t, ck, r.kind, r.res, at), cl.clientID, r.iaid, what)
		flag := map[string]string{"na": "--addr", "pd": "--prefix"}[r.kind]
		h := jsonLines(t, mustRun(t, "journal", "history", "--data-dir", ck, flag, r.res, "--json"))
		if len(h) == 0 {
			t.Errorf("%s: no history for %s", what, r.res)
			continue
		}
		if last, _ := parseDUID(h[len(h)-1].DUID); !bytes.Equal(last, cl.clientID) {
			t.Errorf("%s: history of %s ends with duid %s, the lease file's client is %s", what, r.res, h[len(h)-1].DUID, formatDUID(cl.clientID))
		}
	}
}

// TestAuditE2E: perfdhcp leases prefixes, then two dhclients take the only
// address of the pool in turn (A binds and releases it, B gets it), and
// the journal's who and history, on checkpoints of the running server,
// name the right client before, between and after.
func TestAuditE2E(t *testing.T) {
	requireE2E(t, "dhclient", "perfdhcp")
	tp := newTopo(t)
	const only = "2001:db8:1::1000"
	s := startTandemWith(t, tp, lifetimes{preferred: "30s", valid: "60s", t1: "15s", t2: "24s"}, func(c string) string {
		return strings.Replace(c, fmt.Sprintf("%q", naPool), fmt.Sprintf("%q", only+"-"+only), 1)
	})
	start := time.Now()

	// perfdhcp: prefixes only (the pool has one address).
	args := perfdhcpArgs(false, 200, 2)
	for i := range args {
		if args[i] == "address-and-prefix" {
			args[i] = "prefix-only"
		}
	}
	out, code, err := tp.exec(tp.cli, 60*time.Second, "perfdhcp", args...)
	if rr := perfdhcpDrops(t, args, out, code, err)["REQUEST-REPLY"]; rr.received == 0 {
		t.Fatal("perfdhcp: no REQUEST got a REPLY")
	}
	now := time.Now()
	var pds []apiLease
	for _, l := range s.leases(t, "") {
		if l.Kind == "pd" && l.Status == "active" {
			pds = append(pds, l)
		}
	}
	if len(pds) < 100 {
		t.Fatalf("perfdhcp left %d active prefixes, want ≥ 100", len(pds))
	}
	ck := checkpointTandem(t, s)
	for i, l := range pds {
		if i%(len(pds)/40+1) != 0 {
			continue // about 40 of them
		}
		d, _ := parseDUID(l.DUID)
		wantHolder(t, whoAt(t, ck, "pd", l.Prefix, now), d, l.IAID, "perfdhcp client")
	}

	// A takes the address.
	a := newDhclient(t, tp, "a", "-N", "-P")
	a.start(t)
	clA := a.waitLease(t, true, true, 30*time.Second)
	if clA.addr != only {
		t.Fatalf("client A got %s, the pool has only %s", clA.addr, only)
	}
	atA := time.Now()
	auditCheckClient(t, s, clA, atA, "client A")

	// A releases it; B gets it.
	time.Sleep(1100 * time.Millisecond) // event times are whole seconds
	a.release(t)
	waitLeaseStatus(t, s, "?address="+only, "na", "released", 10*time.Second)
	atGap := time.Now()
	time.Sleep(1100 * time.Millisecond)
	b := newDhclient(t, tp, "b", "-N")
	b.start(t)
	clB := b.waitLease(t, true, false, 30*time.Second)
	if bytes.Equal(clA.clientID, clB.clientID) {
		t.Fatalf("the two dhclients have the same DUID %s: the test needs two clients", formatDUID(clA.clientID))
	}
	if clB.addr != only {
		t.Fatalf("client B got %s, the pool has only %s", clB.addr, only)
	}
	atB := time.Now()
	auditCheckClient(t, s, clB, atB, "client B")

	// On one checkpoint: A before the move, nobody between, B after.
	ck = checkpointTandem(t, s)
	wantHolder(t, whoAt(t, ck, "na", only, atA), clA.clientID, clA.naIAID, "before the move")
	if w := whoAt(t, ck, "na", only, atGap); w.Held {
		t.Errorf("between A's release and B: who says %+v %+v, want nobody", w, w.Holder)
	} else if w.Holder == nil || w.Holder.Cause != "release" {
		t.Errorf("between A's release and B: last event %+v, want A's release", w.Holder)
	}
	wantHolder(t, whoAt(t, ck, "na", only, atB), clB.clientID, clB.naIAID, "after the move")
	if w := whoAt(t, ck, "na", only, start.Add(-time.Minute)); w.Held || w.Holder != nil {
		t.Errorf("before the server ran: who says %+v", w)
	}

	// The address's history: A's events, then B's, in order.
	h := jsonLines(t, mustRun(t, "journal", "history", "--data-dir", ck, "--addr", only, "--json"))
	var who []string
	for _, e := range h {
		d, _ := parseDUID(e.DUID)
		switch {
		case bytes.Equal(d, clA.clientID):
			if len(who) == 0 || who[len(who)-1] != "A" {
				who = append(who, "A")
			}
		case bytes.Equal(d, clB.clientID):
			if len(who) == 0 || who[len(who)-1] != "B" {
				who = append(who, "B")
			}
		default:
			t.Errorf("history of %s names a third client: %+v", only, e)
		}
	}
	if strings.Join(who, ",") != "A,B" {
		t.Errorf("history of %s by client: %v, want A then B:\n%+v", only, who, h)
	}
	var released bool
	for _, e := range jsonLines(t, mustRun(t, "journal", "history", "--data-dir", ck, "--duid", formatDUID(clA.clientID), "--json")) {
		released = released || e.Cause == "release" && e.Resource == only
	}
	if !released {
		t.Errorf("client A's history has no release of %s", only)
	}
	t.Logf("%d perfdhcp prefixes, %s moved from %s to %s; %d events for it", len(pds), only,
		formatDUID(clA.clientID), formatDUID(clB.clientID), len(h))
}

package main

// A client that releases right after binding, through a failover pair
// (issue 12). The primary grants, the client's RELEASE follows within a
// second, and both BNDUPDs (ACTIVE, then RELEASED) reach the secondary
// within the 5 s in which RFC 8156 §7.5.1 counts two times as the same.
// The secondary used to keep the primary's ACTIVE in that tie and send it
// back, and the primary took it over its own RELEASED: the lease stayed
// ACTIVE on both servers, and the audit named the client as its holder.

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// foRelease is dhclient.release on the failover topology's client bridge:
// `dhclient -6 -r` stops the running dhclient and sends RELEASE for the
// leases in its lease file.
func foRelease(t *testing.T, d *dhclient) {
	t.Helper()
	a := append([]string{"-6", "-r", "-v"}, d.flags...)
	a = append(a, "-cf", d.cf, "-lf", d.lf, "-pf", d.pf, "-sf", d.sf, foBridge)
	out, code, err := d.tp.exec(d.tp.cli, 30*time.Second, "dhclient", a...)
	if err != nil || code != 0 {
		t.Fatalf("dhclient -r: exit %d, %v\n%s", code, err, tail(out, 40))
	}
	if !strings.Contains(out, "Release") {
		t.Fatalf("dhclient -r sent no Release:\n%s", tail(out, 40))
	}
	if _, ok := d.p.wait(10 * time.Second); !ok {
		t.Fatal("dhclient -r did not stop the running dhclient")
	}
}

func TestFailoverReleaseRightAfterGrant(t *testing.T) {
	requireE2E(t, "dhclient")
	start := time.Now() // after the binary's build, which the first e2e test pays for
	fp := newFoPair(t, lifetimes{preferred: "90s", valid: "120s", t1: "60s", t2: "90s"})
	primDUID, _ := parseDUID(foGetStatus(t, fp.prim).Server.DUID)

	d := newDhclient(t, fp.cli, "quick", "-N", "-P")
	foStartDhclient(t, d)
	cl := d.waitLease(t, true, true, 30*time.Second)
	bound := time.Now()
	b, _ := os.ReadFile(d.lf)
	if sid := dhServerID(string(b)); !bytes.Equal(sid, primDUID) {
		t.Fatalf("client bound with server-id %s, want the primary's %s\n%s", formatDUID(sid), formatDUID(primDUID), b)
	}
	foRelease(t, d)
	released := time.Now()
	t.Logf("client bound %s and %s from the primary and released them %v later",
		cl.addr, cl.prefix, released.Sub(bound).Round(time.Millisecond))
	if released.Sub(bound) > 3*time.Second {
		t.Logf("the release took more than 3 s after the bind: the two times may no longer tie")
	}

	// Both servers settle (nothing unacked either way) with neither lease
	// active: RELEASED, or already freed once the partner acked it.
	query := "?duid=" + formatDUID(cl.clientID)
	deadline := time.Now().Add(15 * time.Second)
	var report string
	for {
		settled, ok := true, true
		var lines []string
		for _, s := range []struct {
			name string
			srv  *tandemServer
		}{{"primary", fp.prim}, {"secondary", fp.sec}} {
			r := foGetStatus(t, s.srv).Relationships[0]
			settled = settled && r.Unacked == 0 && r.State == "normal"
			var states []string
			for _, l := range s.srv.leases(t, query) {
				states = append(states, fmt.Sprintf("%s %s %s", l.Kind, l.resource(), l.Status))
				switch l.Status {
				case "released", "free", "free-backup":
				default:
					ok = false
				}
			}
			lines = append(lines, fmt.Sprintf("%s {%v}: %v", s.name, r, states))
		}
		report = strings.Join(lines, "\n")
		if settled && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the release the pair has not settled with the client's leases released:\n%s", report)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("settled %v after the release:\n%s", time.Since(released).Round(time.Millisecond), report)
	// And they stay so: the update that used to revive the lease would
	// come back within a round trip.
	time.Sleep(2 * time.Second)
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		for _, l := range s.leases(t, query) {
			if l.Status == "active" {
				t.Errorf("%s %s is active again on %s: %+v", l.Kind, l.resource(), s.tp.srv, l)
			}
		}
	}
	// The audit agrees: on each server's journal, nobody holds the
	// address or the prefix after the release.
	at := time.Now()
	for _, s := range []*tandemServer{fp.prim, fp.sec} {
		ck := checkpointTandem(t, s)
		for _, r := range []struct{ kind, res string }{{"na", cl.addr}, {"pd", cl.prefix}} {
			if w := whoAt(t, ck, r.kind, r.res, at); w.Held {
				t.Errorf("%s: who %s at %s names a holder after the release: %+v", s.tp.srv, r.res, w.At, w.Holder)
			}
		}
	}
	t.Logf("test body took %v", time.Since(start).Round(time.Millisecond))
}

package main

// Tests of the audit tools (journal history, who, export, stats, reindex),
// run as the real binary: on a journal written through journal.Append with
// hand-made bindings (an address that moved between two clients, relay
// link-addresses and REMOTE_IDs), and on a checkpoint of a running
// `tandem serve` under `tandem bench` load.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/journal"
)

// runBin runs the built binary and returns stdout, stderr and the exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := runBin(t, args...)
	if code != 0 {
		t.Fatalf("tandem %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func jsonLines(t *testing.T, out string) []eventJSON {
	t.Helper()
	var evs []eventJSON
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e eventJSON
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%v: %q", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

const auditT0 = 1_772_532_000 // 2026-03-03T10:00:00Z

// auditJournal writes, into dataDir/journal, an address and a prefix that
// moved from alice to bob, other clients' leases, and an endpoint event.
func auditJournal(t *testing.T, dataDir string, noIndex bool) {
	t.Helper()
	j, err := journal.Open(journal.Options{Dir: filepath.Join(dataDir, "journal"), Logger: zap.NewNop(), NoIndex: noIndex})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	link := netip.MustParseAddr("2001:db8:1::1")
	alice := "\x00\x01\x00\x01\x2a\x2b\x2c\x2d\x02\x00\x00\x00\x00\xa1"
	bob := "\x00\x01\x00\x01\x2a\x2b\x2c\x2d\x02\x00\x00\x00\x00\xb0"
	bind := func(kind engine.Kind, p, duid string, st engine.Status, t0 int64, rid string) engine.Binding {
		return engine.Binding{Kind: kind, Prefix: netip.MustParsePrefix(p), DUID: duid, IAID: 1, Status: st,
			CLTT: t0, StartOfState: t0, Preferred: 1800, Valid: 3600, Expires: t0 + 3600, Link: link, RemoteID: rid}
	}
	var evs []engine.Event
	add := func(dt int64, kind engine.EventKind, why engine.Cause, b engine.Binding) {
		evs = append(evs, engine.Event{Kind: kind, Time: auditT0 + dt, Why: why, Binding: b})
	}
	const a, p = "2001:db8:1::1:5/128", "2001:db8:100:4200::/56"
	ridA, ridB := "\x00\x00\x0d\xe9port-a", "\x00\x00\x0d\xe9port-b"
	add(-600, engine.EventLease, engine.CauseRequest, bind(engine.KindNA, a, alice, engine.StatusActive, auditT0-600, ridA))
	add(-600, engine.EventLease, engine.CauseRequest, bind(engine.KindPD, p, alice, engine.StatusActive, auditT0-600, ridA))
	add(-300, engine.EventLease, engine.CauseRenew, bind(engine.KindNA, a, alice, engine.StatusActive, auditT0-300, ridA))
	for i := 0; i < 50; i++ { // others
		d := fmt.Sprintf("\x00\x03\x00\x01\x02\x00\x00\x00\x00%c", i)
		add(int64(i), engine.EventLease, engine.CauseSolicit,
			bind(engine.KindNA, fmt.Sprintf("2001:db8:1::2:%x/128", i), d, engine.StatusActive, auditT0+int64(i), ""))
	}
	add(1000, engine.EventLease, engine.CauseRelease, bind(engine.KindNA, a, alice, engine.StatusReleased, auditT0-300, ridA))
	add(1000, engine.EventLease, engine.CauseRelease, bind(engine.KindPD, p, alice, engine.StatusReleased, auditT0-600, ridA))
	add(1100, engine.EventFree, engine.CauseReclaim, bind(engine.KindNA, a, alice, engine.StatusReleased, auditT0-300, ridA))
	add(1200, engine.EventLease, engine.CauseRequest, bind(engine.KindNA, a, bob, engine.StatusActive, auditT0+1200, ridB))
	add(1200, engine.EventLease, engine.CauseReassign, bind(engine.KindPD, p, bob, engine.StatusActive, auditT0+1200, ridB))
	evs = append(evs, engine.Event{Kind: engine.EventEndpoint, Time: auditT0 + 1300, Why: engine.CauseFailover,
		Endpoint: engine.EndpointRecord{Rel: "pair-a"}})
	for i := 0; i < len(evs); i += 7 {
		if _, err := j.Append(evs[i:min(i+7, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestJournalAuditCommands(t *testing.T) {
	for _, noIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("noindex=%v", noIndex), func(t *testing.T) { testAuditCommands(t, noIndex) })
	}
}

func testAuditCommands(t *testing.T, noIndex bool) {
	dir := t.TempDir()
	auditJournal(t, dir, noIndex)
	dd := "--data-dir=" + dir

	// history, text and JSON.
	out, errs, code := runBin(t, "journal", "history", dd, "--addr", "2001:db8:1::1:5")
	if code != 0 {
		t.Fatalf("history: %d %s", code, errs)
	}
	if noIndex != strings.Contains(errs, "tandem journal reindex") {
		t.Errorf("noindex=%v, stderr: %q", noIndex, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("history: %d lines, want 5:\n%s", len(lines), out)
	}
	for i, want := range []string{
		"2026-03-03T09:50:00Z  seq 1  request   lease na 2001:db8:1::1:5  active  duid 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:a1  iaid 1  pref 1800s valid 3600s expires 2026-03-03T10:50:00Z  link 2001:db8:1::1  remote-id 00000de9706f72742d61",
		"seq 3  renew", "seq 54  release   lease na 2001:db8:1::1:5  released", "seq 56  reclaim   free",
		"2026-03-03T10:20:00Z  seq 57  request   lease na 2001:db8:1::1:5  active  duid 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:b0  iaid 1  pref 1800s valid 3600s expires 2026-03-03T11:20:00Z  link 2001:db8:1::1  remote-id 00000de9706f72742d62",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("history line %d:\n%s\nwant it to contain\n%s", i, lines[i], want)
		}
	}
	js := jsonLines(t, mustRun(t, "journal", "history", dd, "--prefix", "2001:db8:100:4200::/56", "--json"))
	if len(js) != 3 || js[0].Seq != 2 || js[2].DUID != "00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:b0" ||
		js[2].Cause != "reassign" || js[2].Type != "pd" || js[2].Link != "2001:db8:1::1" || js[2].RemoteID != "00000de9706f72742d62" {
		t.Errorf("prefix history: %+v", js)
	}
	js = jsonLines(t, mustRun(t, "journal", "history", dd, "--duid", "00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:a1", "--json"))
	if len(js) != 6 {
		t.Errorf("alice's history: %d events, want 6: %+v", len(js), js)
	}
	if out := mustRun(t, "journal", "history", dd, "--addr", "2001:db8:1::9:9"); strings.TrimSpace(out) != "no events" {
		t.Errorf("history of a never-leased address: %q", out)
	}

	// who: before any lease, alice, between the two, bob, after bob's expiry.
	for _, c := range []struct{ at, want string }{
		{"2026-03-03T09:00:00Z", "2001:db8:1::1:5 at 2026-03-03T09:00:00Z: nobody (no event for it at or before that time)"},
		{"2026-03-03T10:00:00Z", "2001:db8:1::1:5 at 2026-03-03T10:00:00Z: duid 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:a1  iaid 1  remote-id 00000de9706f72742d61  link 2001:db8:1::1\n    (seq 3, renew at 2026-03-03T09:55:00Z; expires 2026-03-03T10:55:00Z)"},
		{"2026-03-03T10:17:00Z", "2001:db8:1::1:5 at 2026-03-03T10:17:00Z: nobody (last event: seq 54, release lease at 2026-03-03T10:16:40Z, status released, duid 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:a1)"},
		{"2026-03-03T11:00:00Z", "2001:db8:1::1:5 at 2026-03-03T11:00:00Z: duid 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:b0"},
		{"2026-03-03T11:20:00Z", "nobody (last event: seq 57, request lease"},
	} {
		out, _, code := runBin(t, "journal", "who", dd, "--addr", "2001:db8:1::1:5", "--at", c.at)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("who at %s: exit %d\n%s\nwant\n%s", c.at, code, out, c.want)
		}
	}
	var w whoJSON
	if err := json.Unmarshal([]byte(mustRun(t, "journal", "who", dd, "--prefix", "2001:db8:100:4200::/56",
		"--at", "2026-03-03T10:30:00Z", "--json")), &w); err != nil {
		t.Fatal(err)
	}
	if !w.Held || w.Holder == nil || w.Holder.Seq != 58 || w.Holder.RemoteID != "00000de9706f72742d62" {
		t.Errorf("who --prefix --json: %+v %+v", w, w.Holder)
	}

	// export: all, and a window.
	if js := jsonLines(t, mustRun(t, "journal", "export", dd)); len(js) != 59 || js[58].Kind != "endpoint" || js[58].Rel != "pair-a" {
		t.Errorf("export: %d events", len(js))
	}
	js = jsonLines(t, mustRun(t, "journal", "export", dd, "--since", "2026-03-03T10:00:00Z", "--until", "2026-03-03T10:00:10Z"))
	if len(js) != 10 || js[0].Seq != 4 {
		t.Errorf("export window: %d events, first %+v", len(js), js)
	}

	// stats.
	var s statsJSON
	if err := json.Unmarshal([]byte(mustRun(t, "journal", "stats", dd, "--json")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Events != 59 || s.FirstSeq != 1 || s.LastSeq != 59 || s.ByKind["lease"] != 57 || s.ByKind["free"] != 1 ||
		s.ByCause["solicit"] != 50 || s.FirstTime != "2026-03-03T09:50:00Z" || s.LastTime != "2026-03-03T10:21:40Z" ||
		s.Indexed == noIndex || s.DiskBytes == 0 {
		t.Errorf("stats: %+v", s)
	}
	if out := mustRun(t, "journal", "stats", dd); !strings.Contains(out, "events: 59 (seq 1..59)") {
		t.Errorf("stats:\n%s", out)
	}

	// Bad usage exits 2.
	for _, args := range [][]string{
		{"who", dd, "--addr", "2001:db8:1::1:5"},
		{"who", dd, "--addr", "2001:db8:1::1:5", "--at", "yesterday"},
		{"history", dd},
		{"history", dd, "--addr", "10.0.0.1"},
	} {
		if _, _, code := runBin(t, append([]string{"journal"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}

	if noIndex {
		if out := mustRun(t, "journal", "reindex", dd); !strings.Contains(out, "indexed 59 events") {
			t.Errorf("reindex: %s", out)
		}
		if _, errs, _ := runBin(t, "journal", "who", dd, "--addr", "2001:db8:1::1:5", "--at", "2026-03-03T10:00:00Z"); errs != "" {
			t.Errorf("after reindex: %s", errs)
		}
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp6":
		c, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Skip("no IPv6 loopback:", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// TestJournalAuditServe runs `tandem serve` on loopback (no root) under
// `tandem bench` load with a pool small enough that addresses move between
// clients, checkpoints it while it runs, and checks the tools on the copy:
// who names, for every lease the server lists as active, the client the
// server has; history and export agree with a replay of the events.
func TestJournalAuditServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tandem serve and tandem bench")
	}
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	udp, ctl := freePort(t, "udp6"), freePort(t, "tcp")
	cfg := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  data-dir: %q
  interfaces: []
  listen: ["[::1]:%d"]
  control: "127.0.0.1:%d"
  rapid-commit: true
lifetimes: {preferred: 5m, valid: 10m, t1: 2m30s, t2: 4m}
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::103f"]
    pd-pools:
      - {prefix: "2001:db8:100::/50", delegated-length: 56}
`, filepath.Join(dir, "data"), udp, ctl)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "serve", "--config", cfg, "--log-format", "console")
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(srvLog.String(), 40))
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", ctl)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r, err := http.Get(base + "/v1/status"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("tandem serve did not come up")
		}
	}
	// 64 addresses and 64 prefixes, 200 clients that solicit and release:
	// resources change hands.
	out := mustRun(t, "bench", "--server", fmt.Sprintf("[::1]:%d", udp), "--link", "2001:db8:1::1",
		"--rate", "400", "--duration", "2s", "--clients", "200", "--mix", "solicit=60,renew=10,release=30", "--json")
	t.Logf("bench: %s", strings.TrimSpace(out))

	ck := filepath.Join(dir, "ck")
	mustRun(t, "ctl", "--control", base, "checkpoint", ck)
	var leases []apiLease
	r, err := http.Get(base + "/v1/leases")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(r.Body).Decode(&leases)
	r.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(time.Second).Format(time.RFC3339)

	// Reference: every event of the copy, by resource.
	j, err := journal.Open(journal.Options{Dir: filepath.Join(ck, "journal"), ReadOnly: true, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	byRes := map[string][]uint64{}
	duids := map[string]map[string]bool{}
	var total uint64
	err = j.Events(1, func(seq uint64, ev *engine.Event) error {
		total++
		if ev.Kind == engine.EventEndpoint {
			return nil
		}
		k := resourceString(&ev.Binding)
		byRes[k] = append(byRes[k], seq)
		if duids[k] == nil {
			duids[k] = map[string]bool{}
		}
		duids[k][duidString(ev.Binding.DUID)] = true
		return nil
	})
	if !j.Indexed() {
		t.Error("a new server's journal has no audit index")
	}
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	dd := "--data-dir=" + ck

	active, moved := 0, 0
	for _, l := range leases {
		if l.Status != "active" {
			continue
		}
		active++
		var w whoJSON
		args := []string{"journal", "who", dd, "--addr", l.Address, "--at", now, "--json"}
		if l.Kind == "pd" {
			args = []string{"journal", "who", dd, "--prefix", l.Prefix, "--at", now, "--json"}
		}
		if err := json.Unmarshal([]byte(mustRun(t, args...)), &w); err != nil {
			t.Fatal(err)
		}
		if !w.Held || w.Holder == nil || !sameDUID(w.Holder.DUID, l.DUID) || w.Holder.IAID != l.IAID || w.Holder.Link != "2001:db8:1::1" {
			t.Errorf("who %s at %s: %+v %+v; the server has %+v", l.resource(), now, w, w.Holder, l)
		}
		if active > 40 {
			break
		}
	}
	for res, seqs := range byRes {
		if len(duids[res]) > 1 {
			moved++
		}
		flag := "--addr"
		if strings.Contains(res, "/") {
			flag = "--prefix"
		}
		js := jsonLines(t, mustRun(t, "journal", "history", dd, flag, res, "--json"))
		got := make([]uint64, len(js))
		for i := range js {
			got[i] = js[i].Seq
		}
		if fmt.Sprint(got) != fmt.Sprint(seqs) {
			t.Errorf("history %s: %v, replay says %v", res, got, seqs)
		}
		if moved > 10 && len(byRes) > 20 {
			break
		}
	}
	if active == 0 || moved == 0 {
		t.Errorf("load gave %d active leases, %d resources that changed hands: want both", active, moved)
	}
	if n := len(jsonLines(t, mustRun(t, "journal", "export", dd))); uint64(n) != total {
		t.Errorf("export: %d events, the journal has %d", n, total)
	}
	t.Logf("%d events, %d active leases checked with who, %d resources that changed hands", total, active, moved)
}

// sameDUID compares colon-hex DUIDs, with or without leading zeros.
func sameDUID(a, b string) bool {
	x, err1 := parseDUID(a)
	y, err2 := parseDUID(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

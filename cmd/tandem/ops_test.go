package main

// What an operator touches, against real `tandem serve` processes on
// loopback (loopback_test.go): the control API over HTTP, `tandem status`,
// `tandem ctl`, /metrics scraped under load, the failover alarm, and the
// README's mutual-TLS commands, which make the pair's certificates.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine/node"
)

// readmeTLS makes the pair's certificates in dir by running the README's
// openssl commands (the block between the tls-commands markers), with
// both servers' partner-link addresses replaced by ::1.
func readmeTLS(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not found (make deps installs it)")
		}
		t.Skip("openssl not found")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- tls-commands -->\n```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```sh block after <!-- tls-commands -->")
	}
	script := strings.NewReplacer("2001:db8::1", "::1", "2001:db8::2", "::1").Replace(string(m[1]))
	cmd := exec.Command("bash", "-euc", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's TLS commands: %v\n%s\n%s", err, script, out)
	}
}

// pairConfig is one side of a pair on loopback with mutual TLS, the
// certificates in tlsDir named as the README makes them.
func pairConfig(role string, link int, tlsDir string) func(string, int, int) string {
	return func(dataDir string, udp, ctl int) string {
		ep := fmt.Sprintf(`peer: "[::1]:%d"`, link)
		cert := "tandem1"
		if role == "secondary" {
			ep, cert = fmt.Sprintf(`listen: "[::1]:%d"`, link), "tandem2"
		}
		return fmt.Sprintf(`server:
  data-dir: %q
  listen: ["[::1]:%d"]
  control: "127.0.0.1:%d"
lifetimes: {preferred: 5m, valid: 10m}
subnets:
  - prefix: 2001:db8:1::/64
    relationship: pair-a
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools: [{prefix: "2001:db8:100::/44", delegated-length: 56}]
relationships:
  - name: pair-a
    role: %s
    %s
    mclt: 30s
    keepalive: 2s
    tls: {cert: %q, key: %q, ca: %q}
`, dataDir, udp, ctl, role, ep, filepath.Join(tlsDir, cert+".pem"), filepath.Join(tlsDir, cert+".key"), filepath.Join(tlsDir, "ca.pem"))
	}
}

// TestOpsPair runs a failover pair over mutual TLS on loopback, loads the
// primary while scraping its /metrics, then checks the metrics against
// /v1/status and the load, every control API endpoint (methods, filters,
// errors), `tandem status` and `tandem ctl`; stops the primary and checks
// the secondary's alarm (warn log and metric) and an administrator's
// partner-down; then an impostor primary with another CA's certificate
// is refused in the TLS handshake.
func TestOpsPair(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two tandem serve processes and a load")
	}
	tlsDir := t.TempDir()
	readmeTLS(t, tlsDir)
	link := freeTCP6(t)
	sec := startLoServer(t, "secondary", pairConfig("secondary", link, tlsDir))
	pri := startLoServer(t, "primary", pairConfig("primary", link, tlsDir))
	pri.waitState(t, "pair-a", "normal", 20*time.Second)
	sec.waitState(t, "pair-a", "normal", 20*time.Second)
	// config check opens the TLS files as the server did.
	for _, s := range []*loServer{pri, sec} {
		if out := mustRun(t, "config", "check", filepath.Join(s.dir, "tandem.yaml")); !strings.Contains(out, ": ok (1 subnets, 1 relationships)") {
			t.Errorf("tandem config check of the %s's config: %q", s.name, out)
		}
	}

	t.Run("metrics under load", func(t *testing.T) { opsMetricsUnderLoad(t, pri, sec) })
	t.Run("control API", func(t *testing.T) { opsControlAPI(t, pri) })
	t.Run("status and ctl", func(t *testing.T) { opsStatusCtl(t, pri) })

	// The primary stops (SIGTERM: DISCONNECT, flush, exit 0); the
	// secondary raises the alarm: a warn log line and the counter.
	pri.stop(t)
	sec.waitState(t, "pair-a", "communications-interrupted", 10*time.Second)
	var alarms []map[string]any
	for deadline := time.Now().Add(5 * time.Second); len(alarms) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		alarms = sec.logLines("warn", "failover alarm")
	}
	if len(alarms) != 1 || alarms[0]["relationship"] != "pair-a" || alarms[0]["state"] != "communications-interrupted" {
		t.Errorf("secondary's warn \"failover alarm\" lines: %v, want one for pair-a, communications-interrupted", alarms)
	}
	mf := sec.scrape(t)
	if v := mustSeries(t, mf, "tandem_failover_alarms_total", "relationship", "pair-a", "state", "communications-interrupted"); v != 1 {
		t.Errorf("tandem_failover_alarms_total{state=communications-interrupted} = %v, want 1", v)
	}
	if v := mustSeries(t, mf, "tandem_failover_alarms_total", "relationship", "pair-a", "state", "resolution-interrupted"); v != 0 {
		t.Errorf("tandem_failover_alarms_total{state=resolution-interrupted} = %v, want 0", v)
	}
	if v := mustSeries(t, mf, "tandem_failover_comm_ok", "relationship", "pair-a"); v != 0 {
		t.Errorf("tandem_failover_comm_ok = %v with the partner gone", v)
	}

	// The administrator declares the partner down: flags after the command.
	out := mustRun(t, "ctl", "partner-down", "--control", sec.base, "pair-a")
	if !strings.Contains(out, "partner-down") {
		t.Errorf("tandem ctl partner-down: %q", out)
	}
	if r := sec.status(t).Relationships[0]; r.State != "partner-down" {
		t.Errorf("secondary after ctl partner-down: %+v", r)
	}
	mf = sec.scrape(t)
	if v := mustSeries(t, mf, "tandem_failover_state", "relationship", "pair-a", "state", "partner-down", "role", "secondary"); v != 1 {
		t.Errorf("tandem_failover_state{state=partner-down} = %v after ctl partner-down", v)
	}
	if len(sec.logLines("warn", "partner-down by administrator")) != 1 {
		t.Errorf("no warn log line for the administrator's partner-down")
	}
	out = mustRun(t, "status", "--control", sec.base)
	if !regexp.MustCompile(`pair-a\s+secondary\s+partner-down\s+`).MatchString(out) {
		t.Errorf("tandem status after partner-down:\n%s", out)
	}

	// An impostor primary with certificates from another CA (the README's
	// commands run again) is refused in the TLS handshake.
	otherCA := t.TempDir()
	readmeTLS(t, otherCA)
	imp := startLoServer(t, "impostor", pairConfig("primary", link, otherCA))
	var refused []map[string]any
	for deadline := time.Now().Add(10 * time.Second); len(refused) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		refused = sec.logLines("warn", "refused failover connection: TLS handshake failed")
	}
	if len(refused) == 0 {
		t.Errorf("the secondary logged no refused TLS handshake from a primary of another CA")
	}
	if r := imp.status(t).Relationships[0]; r.CommOK || r.State == "normal" {
		t.Errorf("the impostor's relationship: %+v", r)
	}
	if r := sec.status(t).Relationships[0]; r.State != "partner-down" || r.CommOK {
		t.Errorf("the secondary after the impostor: %+v", r)
	}
}

// opsMetricsUnderLoad drives the primary with the load generator (new
// clients, renewals, releases) and scrapes /metrics through the
// Prometheus parser all along: every scrape parses and the counters only
// grow. Afterwards the figures agree with the load and /v1/status, and
// the secondary holds what the primary replicated.
func opsMetricsUnderLoad(t *testing.T, pri, sec *loServer) {
	c := bench.DefaultConfig()
	c.Server = netip.AddrPortFrom(netip.IPv6Loopback(), uint16(pri.udp))
	c.IA = "both"
	c.Rate, c.Duration, c.Clients = 400, 2*time.Second, 2000
	var err error
	if c.Mix, err = bench.ParseMix("solicit=70,renew=20,release=10"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		res bench.Result
		err error
	}
	done := make(chan result, 1)
	go func() { r, err := bench.Run(c); done <- result{r, err} }()

	counters := []string{"tandem_datagrams_received_total", "tandem_datagrams_sent_total", "tandem_journal_events_total", "tandem_journal_sequence"}
	prev := map[string]float64{}
	scrapes, moved := 0, 0
	var r result
wait:
	for {
		select {
		case r = <-done:
			break wait
		case <-time.After(150 * time.Millisecond):
		}
		mf := pri.scrape(t)
		scrapes++
		grew := false
		for _, name := range counters {
			v := mustSeries(t, mf, name)
			if v < prev[name] {
				t.Errorf("scrape %d: %s went down from %v to %v", scrapes, name, prev[name], v)
			}
			grew = grew || v > prev[name]
			prev[name] = v
		}
		if grew {
			moved++
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	res := r.res
	t.Logf("load: %d exchanges started, %d completed (%.0f/s), %d no-resources, %d timeouts; %d scrapes under load, %d saw the counters move",
		res.Started, res.Completed, res.ExchangesPerS, res.NoResources, res.Timeouts, scrapes, moved)
	if res.Completed < res.Started/2 || res.Completed == 0 {
		t.Fatalf("the load mostly failed: %+v", res)
	}
	if scrapes < 3 || moved < 2 {
		t.Errorf("%d scrapes under load, %d saw counters move; want ≥ 3 and ≥ 2", scrapes, moved)
	}

	// Replication settles: nothing unacked.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if pri.status(t).Relationships[0].Unacked == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("primary still has unacked BNDUPDs 10s after the load: %+v", pri.status(t).Relationships[0])
		}
	}
	mf := pri.scrape(t)
	st := pri.status(t)

	// Every completed exchange ended with one REPLY (allocation, renewal,
	// release) and none got two.
	replies := mustSeries(t, mf, "tandem_packets_sent_total", "type", "reply")
	if replies < float64(res.Completed) || replies > float64(res.Started) {
		t.Errorf("tandem_packets_sent_total{type=reply} = %v, want between the %d exchanges completed and the %d started", replies, res.Completed, res.Started)
	}
	if got := mustSeries(t, mf, "tandem_packets_received_total", "type", "release"); got < float64(res.Exchanges.Release.Completed) || got == 0 {
		t.Errorf("tandem_packets_received_total{type=release} = %v, %d releases completed", got, res.Exchanges.Release.Completed)
	}
	// A RELEASE's REPLY carries Success; nothing was refused.
	if got := mustSeries(t, mf, "tandem_reply_status_total", "status", "success"); got < float64(res.Exchanges.Release.Completed) {
		t.Errorf("tandem_reply_status_total{status=success} = %v, %d releases completed", got, res.Exchanges.Release.Completed)
	}
	if got := mustSeries(t, mf, "tandem_reply_status_total", "status", "no-addrs-avail"); got != 0 {
		t.Errorf("tandem_reply_status_total{status=no-addrs-avail} = %v with pools far from full", got)
	}
	for _, x := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tandem_leases_active", []string{"kind", "na"}, float64(st.Leases.NAActive)},
		{"tandem_leases_active", []string{"kind", "pd"}, float64(st.Leases.PDActive)},
		{"tandem_leases", []string{"kind", "na", "state", "active"}, float64(st.Leases.NAActive)},
		{"tandem_datagrams_received_total", nil, float64(st.Packets["received"])},
		{"tandem_datagrams_sent_total", nil, float64(st.Packets["replied"])},
		{"tandem_journal_sequence", nil, float64(st.Journal.Seq)},
		{"tandem_failover_state", []string{"relationship", "pair-a", "role", "primary", "state", "normal"}, 1},
		{"tandem_failover_comm_ok", []string{"relationship", "pair-a"}, 1},
		{"tandem_failover_unacked_bndupd", []string{"relationship", "pair-a"}, 0},
		{"tandem_failover_replication_lag_seconds", []string{"relationship", "pair-a"}, float64(st.Relationships[0].LagSamples)},
		{"tandem_journal_commit_duration_seconds", nil, mustSeries(t, mf, "tandem_journal_commits_total")},
		{"tandem_journal_commit_events", nil, mustSeries(t, mf, "tandem_journal_commits_total")},
	} {
		if got := mustSeries(t, mf, x.name, x.labels...); got != x.want {
			t.Errorf("%s%v = %v, want %v", x.name, x.labels, got, x.want)
		}
	}
	if st.Relationships[0].LagSamples == 0 || st.Leases.NAActive == 0 || st.Leases.PDActive == 0 {
		t.Errorf("after the load: %d lag samples, %d addresses and %d prefixes active", st.Relationships[0].LagSamples, st.Leases.NAActive, st.Leases.PDActive)
	}
	checkLeaseStates(t, mf, st)

	// The secondary holds every lease the primary has, by status.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ss := sec.status(t)
		if ss.Leases.NAActive == st.Leases.NAActive && ss.Leases.PDActive == st.Leases.PDActive {
			checkLeaseStates(t, sec.scrape(t), sec.status(t))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("secondary holds %d/%d active, primary %d/%d", ss.Leases.NAActive, ss.Leases.PDActive, st.Leases.NAActive, st.Leases.PDActive)
			break
		}
	}
}

// checkLeaseStates: tandem_leases{kind,state} is /v1/status's
// leases.states, and adds up to tandem_lease_records.
func checkLeaseStates(t *testing.T, mf map[string]*dto.MetricFamily, st node.StatusJSON) {
	t.Helper()
	f := mf["tandem_leases"]
	if f == nil {
		t.Fatal("/metrics has no tandem_leases")
	}
	sum := 0.0
	seen := map[string]bool{}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		v := m.Gauge.GetValue()
		sum += v
		seen[labels["kind"]+"/"+labels["state"]] = true
		if want := st.Leases.States[labels["kind"]][labels["state"]]; v != float64(want) {
			t.Errorf("tandem_leases%v = %v, /v1/status says %d", labels, v, want)
		}
	}
	for kind, states := range st.Leases.States {
		for state := range states {
			if !seen[kind+"/"+state] {
				t.Errorf("/v1/status has %s %s records, /metrics no series", kind, state)
			}
		}
	}
	if rec := mustSeries(t, mf, "tandem_lease_records"); rec != sum || rec == 0 {
		t.Errorf("tandem_leases adds up to %v, tandem_lease_records = %v", sum, rec)
	}
}

// opsControlAPI checks every endpoint of CONTRACT.md's control API on the
// primary of a pair in NORMAL with leases.
func opsControlAPI(t *testing.T, s *loServer) {
	// GET /v1/status: the contract's fields, by name.
	var raw map[string]any
	s.getJSON(t, "/v1/status", &raw)
	for _, path := range []string{"server.duid", "server.uptime_s", "leases.na_active", "leases.pd_active",
		"relationships.0.name", "relationships.0.role", "relationships.0.state", "relationships.0.partner_state",
		"relationships.0.comm_ok", "relationships.0.unacked", "relationships.0.lag_ms"} {
		var v any = raw
		for _, k := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[k]
			case []any:
				if len(x) == 0 {
					v = nil
				} else {
					v = x[0]
				}
			}
		}
		if v == nil {
			t.Errorf("GET /v1/status has no %s: %v", path, raw)
		}
	}
	st := s.status(t)
	if r := st.Relationships[0]; r.Name != "pair-a" || r.Role != "primary" || r.State != "normal" || r.PartnerState != "normal" || !r.CommOK {
		t.Errorf("GET /v1/status relationship: %+v", r)
	}

	// GET /v1/leases: every record; the filters pick by address, prefix
	// and DUID.
	var all []node.LeaseJSON
	s.getJSON(t, "/v1/leases", &all)
	records := 0
	for _, m := range st.Leases.States {
		for _, n := range m {
			records += n
		}
	}
	if len(all) != records {
		t.Errorf("GET /v1/leases: %d records, /v1/status counts %d", len(all), records)
	}
	var na, pd *node.LeaseJSON
	for i := range all {
		l := &all[i]
		if l.Status == "active" && l.Kind == "na" && na == nil {
			na = l
		}
		if l.Status == "active" && l.Kind == "pd" && pd == nil {
			pd = l
		}
	}
	if na == nil || pd == nil {
		t.Fatalf("no active address or prefix among %d records", len(all))
	}
	var got []node.LeaseJSON
	get := func(query string) {
		got = nil // decode each answer into fresh records
		s.getJSON(t, "/v1/leases?"+query, &got)
	}
	get("address=" + na.Address)
	if len(got) != 1 || got[0] != *na {
		t.Errorf("GET /v1/leases?address=%s: %+v, want [%+v]", na.Address, got, *na)
	}
	get("prefix=" + pd.Prefix)
	if len(got) != 1 || got[0] != *pd {
		t.Errorf("GET /v1/leases?prefix=%s: %+v, want [%+v]", pd.Prefix, got, *pd)
	}
	get("duid=" + na.DUID)
	found := false
	for _, l := range got {
		found = found || l == *na
		if l.DUID != na.DUID {
			t.Errorf("GET /v1/leases?duid=%s returned %+v", na.DUID, l)
		}
	}
	if !found {
		t.Errorf("GET /v1/leases?duid=%s: %d records, not the one for %s", na.DUID, len(got), na.Address)
	}
	get("address=2001:db8:ffff::1")
	if len(got) != 0 {
		t.Errorf("GET /v1/leases for an address never leased: %+v", got)
	}

	// GET /metrics: the text format, every name tandem_.
	for name := range s.scrape(t) {
		if !strings.HasPrefix(name, "tandem_") {
			t.Errorf("/metrics has %s", name)
		}
	}

	// Errors: bad queries 400, wrong methods 405, unknown names 404.
	for _, x := range []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", "/v1/leases?address=not-an-address", 400, "bad address"},
		{"GET", "/v1/leases?prefix=2001:db8::/200", 400, "bad prefix"},
		{"GET", "/v1/leases?duid=zz", 400, "bad duid"},
		{"POST", "/v1/status", 405, ""},
		{"DELETE", "/v1/leases", 405, ""},
		{"POST", "/metrics", 405, ""},
		{"GET", "/v1/relationships/pair-a/partner-down", 405, ""},
		{"GET", "/v1/checkpoint", 405, ""},
		{"POST", "/v1/relationships/pair-b/partner-down", 404, `no relationship "pair-b"`},
		{"GET", "/v1/nothing", 404, ""},
		{"POST", "/v1/checkpoint", 400, "dir"},
	} {
		code, body := s.do(x.method, x.path)
		if code != x.want || !strings.Contains(string(body), x.body) {
			t.Errorf("%s %s: %d %q, want %d and %q", x.method, x.path, code, body, x.want, x.body)
		}
	}
	// A refused partner-down changed nothing.
	if r := s.status(t).Relationships[0]; r.State != "normal" {
		t.Errorf("after the refused requests: %+v", r)
	}
}

// opsStatusCtl checks `tandem status` (table and --json) and `tandem ctl`
// against the primary.
func opsStatusCtl(t *testing.T, s *loServer) {
	st := s.status(t)
	out := mustRun(t, "status", "--control", s.base)
	for _, re := range []string{
		`(?m)^server\s+` + regexp.QuoteMeta(st.Server.DUID) + `$`,
		`(?m)^leases\s+\d+ addresses, \d+ prefixes active$`,
		`(?m)^\s+na records\s+\d+ active`,
		`(?m)^RELATIONSHIP\s+ROLE\s+STATE\s+PARTNER\s+COMM\s+UNACKED\s+LAG`,
		`(?m)^pair-a\s+primary\s+normal\s+normal\s+true\s+0\s+`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("tandem status: no line matching %s in\n%s", re, out)
		}
	}
	var js node.StatusJSON
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--json", "--control", s.base)), &js); err != nil {
		t.Fatalf("tandem status --json: %v", err)
	}
	if js.Server.DUID != st.Server.DUID || len(js.Relationships) != 1 || js.Relationships[0].State != "normal" {
		t.Errorf("tandem status --json: %+v", js)
	}

	for _, x := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"ctl", "--control", s.base, "partner-down", "pair-b"}, 1, `404 Not Found: node: no relationship "pair-b"`},
		{[]string{"ctl", "--control", s.base, "checkpoint", s.dir}, 1, "already exists"},
		{[]string{"status", "--control", "http://127.0.0.1:1"}, 1, "connection refused"},
		{[]string{"ctl", "--control", "http://127.0.0.1:1", "partner-down", "pair-a"}, 1, "connection refused"},
	} {
		out, errs, code := runBin(t, x.args...)
		if code != x.code || !strings.Contains(errs, x.err) {
			t.Errorf("tandem %s: exit %d, stdout %q, stderr %q; want %d and %q", strings.Join(x.args, " "), code, out, errs, x.code, x.err)
		}
	}

	// A checkpoint while serving is a data-dir the journal tools read:
	// the digest it replays to is the one the server reported then.
	ck := filepath.Join(t.TempDir(), "ck")
	mustRun(t, "ctl", "checkpoint", "--control", s.base, ck)
	if _, err := os.Stat(filepath.Join(ck, "journal")); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	out = mustRun(t, "journal", "verify", "--data-dir", ck)
	t.Logf("journal verify of the checkpoint: %s", firstLines(out, 1))
}

// TestControlLoopbackOnly: a control API on a non-loopback address
// without server.control-allow-remote is refused at start, with the
// config line that says so, and nothing is bound.
func TestControlLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	ctl := freePort(t, "tcp")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  data-dir: %q
  listen: ["[::1]:%d"]
  control: "0.0.0.0:%d"
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
`, filepath.Join(dir, "data"), freePort(t, "udp6"), ctl)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`tandem serve: %s:4: server.control: "0.0.0.0:%d" is not a loopback address and the control API has no authentication: bind it to 127.0.0.1 or [::1], or set server.control-allow-remote: true`+"\n", cfg, ctl)
	out, errs, code := runBin(t, "serve", "--config", cfg)
	if code != 1 || errs != want || out != "" {
		t.Errorf("tandem serve: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errs, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("the refused server made its data-dir")
	}
}

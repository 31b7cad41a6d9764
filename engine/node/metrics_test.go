package node

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemdhcp/tandem/bench"
)

// scrape GETs /metrics over HTTP and parses it with the Prometheus text
// parser.
func scrape(t *testing.T, n *Node) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + n.ControlAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for name := range mf {
		if !strings.HasPrefix(name, "tandem_") {
			t.Errorf("metric %s does not start with tandem_", name)
		}
	}
	return mf
}

// metricValue is the value of the series of family name whose labels
// include want (pairs of name, value); a histogram's sample count.
func metricValue(t *testing.T, mf map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := mf[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

// TestMetricsUnderLoad drives a standalone node with the load generator,
// scrapes /metrics over HTTP while the load runs and after it, and checks
// the figures against /v1/status.
func TestMetricsUnderLoad(t *testing.T) {
	n := startNode(t, t.TempDir())
	defer n.Stop()
	c := bench.DefaultConfig()
	c.Server = n.ListenAddrs()[0]
	c.IA = "both"
	c.Rate, c.Duration, c.Clients = 400, time.Second, 200
	done := make(chan error, 1)
	go func() {
		res, err := bench.Run(c)
		if err == nil && res.Completed == 0 {
			t.Errorf("no exchange completed: %+v", res)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	scrape(t, n) // under load: it parses (the loop keeps serving)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mf := scrape(t, n)
	st := n.Status()
	if got, want := metricValue(t, mf, "tandem_leases_active", "kind", "na"), float64(st.Leases.NAActive); got != want || want == 0 {
		t.Errorf("tandem_leases_active{kind=na} = %v, status na_active = %v", got, want)
	}
	if got, want := metricValue(t, mf, "tandem_leases_active", "kind", "pd"), float64(st.Leases.PDActive); got != want || want == 0 {
		t.Errorf("tandem_leases_active{kind=pd} = %v, status pd_active = %v", got, want)
	}
	// Records by kind and status: active as tandem_leases_active, every
	// status as /v1/status has it, and all of them adding up to the records.
	var records float64
	for _, m := range mf["tandem_leases"].Metric {
		var kind, state string
		for _, l := range m.Label {
			switch l.GetName() {
			case "kind":
				kind = l.GetValue()
			case "state":
				state = l.GetValue()
			}
		}
		v := m.Gauge.GetValue()
		records += v
		if want := float64(st.Leases.States[kind][state]); v != want {
			t.Errorf("tandem_leases{kind=%s,state=%s} = %v, status says %v", kind, state, v, want)
		}
	}
	if got := metricValue(t, mf, "tandem_lease_records"); got != records || got == 0 {
		t.Errorf("tandem_leases sums to %v, tandem_lease_records = %v", records, got)
	}
	if got, want := metricValue(t, mf, "tandem_leases", "kind", "na", "state", "active"), float64(st.Leases.NAActive); got != want {
		t.Errorf("tandem_leases{kind=na,state=active} = %v, status na_active = %v", got, want)
	}
	if got, want := metricValue(t, mf, "tandem_datagrams_received_total"), float64(st.Packets["received"]); got != want || want == 0 {
		t.Errorf("tandem_datagrams_received_total = %v, status received = %v", got, want)
	}
	if got, want := metricValue(t, mf, "tandem_datagrams_sent_total"), float64(st.Packets["replied"]); got != want || want == 0 {
		t.Errorf("tandem_datagrams_sent_total = %v, status replied = %v", got, want)
	}
	if got, want := metricValue(t, mf, "tandem_journal_sequence"), float64(st.Journal.Seq); got != want || want == 0 {
		t.Errorf("tandem_journal_sequence = %v, status seq = %v", got, want)
	}
	// Every datagram read was malformed, dropped by the engine, or handled
	// as a message of some type; every datagram sent is a reply of some type.
	var handled, dropped, replies float64
	for _, m := range mf["tandem_packets_received_total"].Metric {
		handled += m.Counter.GetValue()
	}
	for _, m := range mf["tandem_packets_sent_total"].Metric {
		replies += m.Counter.GetValue()
	}
	for _, m := range mf["tandem_packets_dropped_total"].Metric {
		if m.Label[0].GetValue() == "malformed" {
			dropped += m.Counter.GetValue()
		}
	}
	if rx := metricValue(t, mf, "tandem_datagrams_received_total"); handled+dropped != rx {
		t.Errorf("handled %v + malformed %v != received %v", handled, dropped, rx)
	}
	if tx := metricValue(t, mf, "tandem_datagrams_sent_total"); replies != tx {
		t.Errorf("replies by type %v != datagrams sent %v", replies, tx)
	}
	if metricValue(t, mf, "tandem_packets_received_total", "type", "solicit") == 0 ||
		metricValue(t, mf, "tandem_packets_received_total", "type", "request") == 0 ||
		metricValue(t, mf, "tandem_packets_sent_total", "type", "reply") == 0 {
		t.Errorf("no SOLICIT, REQUEST or REPLY counted")
	}
	commits := metricValue(t, mf, "tandem_journal_commits_total")
	if got := metricValue(t, mf, "tandem_journal_commit_duration_seconds"); got != commits || got == 0 {
		t.Errorf("commit latency samples %v, commits %v", got, commits)
	}
	if got := metricValue(t, mf, "tandem_journal_commit_events"); got != commits {
		t.Errorf("commit batch samples %v, commits %v", got, commits)
	}
	if sum := mf["tandem_journal_commit_events"].Metric[0].Histogram.GetSampleSum(); sum != metricValue(t, mf, "tandem_journal_events_total") {
		t.Errorf("commit batch sizes sum to %v, events %v", sum, metricValue(t, mf, "tandem_journal_events_total"))
	}
	if _, ok := mf["tandem_failover_state"]; ok {
		t.Errorf("a standalone server exports tandem_failover_state")
	}
}

// TestMetricsPair checks the failover metrics of a pair over real TCP:
// endpoint state as /v1/status has it, no unacked updates once the load
// is replicated, a lag sample per acked update, and the alarm counter when
// the primary goes away.
func TestMetricsPair(t *testing.T) {
	port := freePort(t)
	sec := startPairNode(t, "secondary", port)
	defer sec.Stop()
	pri := startPairNode(t, "primary", port)
	stopPri := sync.OnceFunc(func() { pri.Stop() })
	defer stopPri()
	waitState(t, pri, "normal", 10*time.Second)
	waitState(t, sec, "normal", 10*time.Second)

	c := bench.DefaultConfig()
	c.Server = pri.ListenAddrs()[0]
	c.IA = "na"
	c.Rate, c.Duration, c.Clients = 400, 500*time.Millisecond, 100
	if _, err := bench.Run(c); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for pri.Status().Relationships[0].Unacked != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	mf := scrape(t, pri)
	for _, n := range []*Node{pri, sec} {
		mf := scrape(t, n)
		r := n.Status().Relationships[0]
		if v := metricValue(t, mf, "tandem_failover_state", "relationship", "pair-a", "state", r.State, "role", r.Role); v != 1 {
			t.Errorf("%s: tandem_failover_state{state=%s} = %v", r.Role, r.State, v)
		}
		if v := metricValue(t, mf, "tandem_failover_state", "relationship", "pair-a", "state", "partner-down"); v != 0 {
			t.Errorf("%s: tandem_failover_state{state=partner-down} = %v", r.Role, v)
		}
		if v := metricValue(t, mf, "tandem_failover_partner_state", "relationship", "pair-a", "state", r.PartnerState); v != 1 {
			t.Errorf("%s: tandem_failover_partner_state{state=%s} = %v", r.Role, r.PartnerState, v)
		}
		if v := metricValue(t, mf, "tandem_failover_comm_ok", "relationship", "pair-a"); v != 1 {
			t.Errorf("%s: tandem_failover_comm_ok = %v", r.Role, v)
		}
		if v := metricValue(t, mf, "tandem_failover_alarms_total", "relationship", "pair-a", "state", "communications-interrupted"); v != 0 {
			t.Errorf("%s: alarms %v before any outage", r.Role, v)
		}
		for _, reason := range []string{"address", "tls", "malformed", "skew", "config-conflict", "connect-other", "window"} {
			if v := metricValue(t, mf, "tandem_partner_refused_total", "relationship", "pair-a", "reason", reason); v != 0 {
				t.Errorf("%s: tandem_partner_refused_total{reason=%s} = %v with no refusal", r.Role, reason, v)
			}
		}
	}
	if v := metricValue(t, mf, "tandem_failover_unacked_bndupd", "relationship", "pair-a"); v != 0 {
		t.Errorf("primary: %v unacked updates after the load was replicated", v)
	}
	lag := mf["tandem_failover_replication_lag_seconds"]
	if lag == nil || len(lag.Metric) != 1 {
		t.Fatalf("tandem_failover_replication_lag_seconds: %v", lag)
	}
	h := lag.Metric[0].Histogram
	samples := pri.Status().Relationships[0].LagSamples
	if h.GetSampleCount() == 0 || h.GetSampleCount() != uint64(samples) {
		t.Errorf("lag histogram count %d, status lag_samples %d", h.GetSampleCount(), samples)
	}
	if mean := h.GetSampleSum() / float64(h.GetSampleCount()); mean <= 0 || mean > 5 {
		t.Errorf("mean replication lag %vs", mean)
	}

	// The primary goes away: the secondary enters COMMUNICATIONS-INTERRUPTED
	// and counts one alarm.
	stopPri()
	waitState(t, sec, "communications-interrupted", 10*time.Second)
	deadline = time.Now().Add(2 * time.Second)
	for {
		mf := scrape(t, sec)
		v := metricValue(t, mf, "tandem_failover_alarms_total", "relationship", "pair-a", "state", "communications-interrupted")
		if v == 1 && metricValue(t, mf, "tandem_failover_comm_ok", "relationship", "pair-a") == 0 &&
			metricValue(t, mf, "tandem_failover_state", "relationship", "pair-a", "state", "communications-interrupted") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("secondary after the primary stopped: alarms %v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsObserveAllocs: what the loop records as it goes (a BNDREPLY's
// lag in the ring and the histogram, a commit's latency and size)
// allocates nothing.
func TestMetricsObserveAllocs(t *testing.T) {
	r := lagStats{hist: newLagHistogram("x")}
	if a := testing.AllocsPerRun(1000, func() { r.observe(1234567) }); a != 0 {
		t.Fatalf("lagStats.observe: %v allocs", a)
	}
	m := newNodeMetrics()
	t0 := time.Now()
	if a := testing.AllocsPerRun(1000, func() {
		m.commitSeconds.Observe(time.Since(t0).Seconds())
		m.commitEvents.Observe(64)
	}); a != 0 {
		t.Fatalf("commit observe: %v allocs", a)
	}
}

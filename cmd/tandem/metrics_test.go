package main

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/bench"
)

// TestServeMetrics runs the real binary (`tandem serve`, standalone, no
// root: unicast on loopback) with a 64-address pool, drives more clients
// than that at it with the load generator, scrapes GET /metrics with the
// Prometheus text parser and checks it against GET /v1/status and the
// load: the pool is full, and the refusals show as no-addrs-avail.
func TestServeMetrics(t *testing.T) {
	s := startLoServer(t, "standalone", func(dataDir string, udp, ctl int) string {
		return fmt.Sprintf(`server:
  data-dir: %q
  listen: ["[::1]:%d"]
  control: "127.0.0.1:%d"
lifetimes: {preferred: 5m, valid: 10m}
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::103f"]
`, dataDir, udp, ctl)
	})
	c := bench.DefaultConfig()
	c.Server = netip.AddrPortFrom(netip.IPv6Loopback(), uint16(s.udp))
	c.IA = "na"
	c.Rate, c.Duration, c.Clients = 300, time.Second, 150
	res, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %d exchanges started, %d completed, %d no-resources, %d timeouts", res.Started, res.Completed, res.NoResources, res.Timeouts)
	if res.Completed == 0 || res.NoResources == 0 {
		t.Fatalf("want exchanges completed and refused (64 addresses, 150 clients): %+v", res)
	}

	mf := s.scrape(t)
	st := s.status(t)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tandem_leases_active", []string{"kind", "na"}, 64},
		{"tandem_leases", []string{"kind", "na", "state", "active"}, 64},
		{"tandem_leases_active", []string{"kind", "pd"}, float64(st.Leases.PDActive)},
		{"tandem_datagrams_received_total", nil, float64(st.Packets["received"])},
		{"tandem_datagrams_sent_total", nil, float64(st.Packets["replied"])},
		{"tandem_journal_sequence", nil, float64(st.Journal.Seq)},
	} {
		if got := mustSeries(t, mf, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if st.Leases.NAActive != 64 {
		t.Errorf("/v1/status na_active = %d, want the pool's 64", st.Leases.NAActive)
	}
	if got := mustSeries(t, mf, "tandem_packets_sent_total", "type", "reply"); got < float64(res.Completed) {
		t.Errorf("tandem_packets_sent_total{type=reply} = %v < %d exchanges completed", got, res.Completed)
	}
	// Every refused exchange was refused with NoAddrsAvail, in its
	// ADVERTISE or its REPLY; granted IAs carry no status.
	if got := mustSeries(t, mf, "tandem_reply_status_total", "status", "no-addrs-avail"); got < float64(res.NoResources) {
		t.Errorf("tandem_reply_status_total{status=no-addrs-avail} = %v < %d refused exchanges", got, res.NoResources)
	}
	for _, status := range []string{"no-binding", "not-on-link", "no-prefix-avail"} {
		if got := mustSeries(t, mf, "tandem_reply_status_total", "status", status); got != 0 {
			t.Errorf("tandem_reply_status_total{status=%s} = %v, want 0", status, got)
		}
	}
	if h := mf["tandem_journal_commit_duration_seconds"]; h == nil || h.Metric[0].Histogram.GetSampleCount() == 0 {
		t.Error("no journal commit latency observed")
	}
	if _, ok := mf["tandem_failover_state"]; ok {
		t.Errorf("a standalone server exports tandem_failover_state")
	}
}

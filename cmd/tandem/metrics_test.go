package main

import (
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

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine/node"
)

// TestServeMetrics runs the real binary (`tandem serve`, no root: unicast
// on loopback), drives it with the load generator, scrapes GET /metrics
// over HTTP with the Prometheus text parser and checks it against GET
// /v1/status; then SIGTERM exits 0.
func TestServeMetrics(t *testing.T) {
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port
	udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	control := tcp.Addr().String()
	tcp.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "tandem.yaml")
	y := fmt.Sprintf(`
server:
  data-dir: %s
  listen: ["[::1]:%d"]
  control: "%s"
lifetimes: {preferred: 5m, valid: 10m}
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools: [{prefix: "2001:db8:100::/40", delegated-length: 56}]
`, filepath.Join(dir, "data"), udpPort, control)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-format", "console")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tandem serve on SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("tandem serve did not exit within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("tandem serve log:\n%s", log.String())
		}
	}()

	base := "http://" + control
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(base + "/v1/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("GET /v1/status not 200 within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	c := bench.DefaultConfig()
	c.Server = netip.AddrPortFrom(netip.IPv6Loopback(), uint16(udpPort))
	c.IA = "both"
	c.Rate, c.Duration, c.Clients = 300, time.Second, 150
	res, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed == 0 {
		t.Fatalf("no exchange completed: %+v", res)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	var st node.StatusJSON
	resp, err = http.Get(base + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	value := func(name, label, want string) float64 {
		f := mf[name]
		if f == nil {
			t.Fatalf("/metrics has no %s", name)
		}
		for _, m := range f.Metric {
			ok := label == ""
			for _, l := range m.Label {
				ok = ok || l.GetName() == label && l.GetValue() == want
			}
			if !ok {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
		t.Fatalf("/metrics has no %s{%s=%q}", name, label, want)
		return 0
	}
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"tandem_leases_active", "kind", "na", float64(st.Leases.NAActive)},
		{"tandem_leases_active", "kind", "pd", float64(st.Leases.PDActive)},
		{"tandem_datagrams_received_total", "", "", float64(st.Packets["received"])},
		{"tandem_datagrams_sent_total", "", "", float64(st.Packets["replied"])},
		{"tandem_journal_sequence", "", "", float64(st.Journal.Seq)},
	} {
		if got := value(c.name, c.label, c.value); got != c.want || c.want == 0 {
			t.Errorf("%s{%s=%q} = %v, /v1/status says %v", c.name, c.label, c.value, got, c.want)
		}
	}
	if value("tandem_packets_sent_total", "type", "reply") == 0 {
		t.Error("tandem_packets_sent_total{type=reply} = 0 after a load")
	}
	if h := mf["tandem_journal_commit_duration_seconds"]; h == nil || h.Metric[0].Histogram.GetSampleCount() == 0 {
		t.Error("no journal commit latency observed")
	}
}

package main

// Real `tandem serve` processes on loopback, for the tests of what an
// operator touches (control API, status, ctl, metrics): no root and no
// namespaces, so they run everywhere. DHCPv6 is relayed by unicast to
// [::1]; the control API is on 127.0.0.1; a failover pair's partner link
// is on [::1].

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemdhcp/tandem/engine/node"
)

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loServer is one `tandem serve` on loopback.
type loServer struct {
	name string
	dir  string // holds tandem.yaml and data/
	udp  int    // relayed DHCPv6 on [::1]:udp
	base string // control API, http://127.0.0.1:port
	cmd  *exec.Cmd
	log  *syncBuffer // the server's JSON log lines
	done chan struct{}
	err  error // the exit status, once done is closed
}

// startLoServer writes the config cfg returns (given the data-dir, the UDP
// port and the control port) and starts `tandem serve` on it; it returns
// once GET /v1/status answers. The server is stopped (SIGTERM, exit 0
// expected) when the test ends, unless the test stopped it.
func startLoServer(t *testing.T, name string, cfg func(dataDir string, udp, ctl int) string) *loServer {
	t.Helper()
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	s := &loServer{name: name, dir: t.TempDir(), udp: freePort(t, "udp6"), log: &syncBuffer{}, done: make(chan struct{})}
	ctl := freePort(t, "tcp")
	s.base = fmt.Sprintf("http://127.0.0.1:%d", ctl)
	path := filepath.Join(s.dir, "tandem.yaml")
	if err := os.WriteFile(path, []byte(cfg(filepath.Join(s.dir, "data"), s.udp, ctl)), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "--config", path)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(s.log.String(), 30))
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := s.do("GET", "/v1/status"); code == http.StatusOK {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("%s: tandem serve exited at start: %v\n%s", name, s.err, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: GET /v1/status not 200 within 20s", name)
		}
	}
}

// stop sends SIGTERM and expects exit 0 within 15 s (once; later calls
// only report).
func (s *loServer) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("%s: tandem serve on SIGTERM: %v, want exit 0", s.name, s.err)
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("%s: tandem serve did not exit within 15s of SIGTERM", s.name)
	}
}

// do makes one request to the control API; code is 0 when it failed.
func (s *loServer) do(method, path string) (int, []byte) {
	req, err := http.NewRequest(method, s.base+path, nil)
	if err != nil {
		return 0, nil
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// getJSON is GET path, which must answer 200 with JSON, into v.
func (s *loServer) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, b := s.do("GET", path)
	if code != http.StatusOK {
		t.Fatalf("%s: GET %s: %d %s", s.name, path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: GET %s: %v\n%s", s.name, path, err, b)
	}
}

func (s *loServer) status(t *testing.T) node.StatusJSON {
	t.Helper()
	var st node.StatusJSON
	s.getJSON(t, "/v1/status", &st)
	return st
}

// scrape is GET /metrics through the Prometheus text parser.
func (s *loServer) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := s.do("GET", "/metrics")
	if code != http.StatusOK {
		t.Fatalf("%s: GET /metrics: %d %s", s.name, code, b)
	}
	return parseMetrics(t, s.name, b)
}

// parseMetrics reads a /metrics answer with the Prometheus text parser.
func parseMetrics(t *testing.T, who string, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: parse /metrics: %v", who, err)
	}
	return mf
}

// waitState waits until the server's relationship rel is in state.
func (s *loServer) waitState(t *testing.T, rel, state string, timeout time.Duration) {
	t.Helper()
	var last []node.RelationshipJSON
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last = s.status(t).Relationships
		for _, r := range last {
			if r.Name == rel && r.State == state {
				return
			}
		}
	}
	t.Fatalf("%s: relationship %s not in %s within %v: %+v", s.name, rel, state, timeout, last)
}

// logLines are the server's JSON log lines with the given level and msg.
func (s *loServer) logLines(level, msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.log.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["level"] == level && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// freeTCP6 is a free TCP port on [::1] (the partner link).
func freeTCP6(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// series finds the one series of a metric family whose labels include
// the given name/value pairs; ok is false when there is none.
func series(mf map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// mustSeries is series that fails the test when the series is missing.
func mustSeries(t *testing.T, mf map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := series(mf, name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s%v", name, labels)
	}
	return v
}

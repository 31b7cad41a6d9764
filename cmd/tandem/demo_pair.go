package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemdhcp/tandem/engine/node"
)

// The demo's two servers: real `tandem serve` child processes of this very
// binary, each with a generated config and a data-dir under the demo's
// temporary directory, on free loopback ports. What the demo knows of them
// it reads as an operator would: GET /v1/status, and the "failover state"
// lines of their logs (JSON, one file per start).

const demoRel = "demo"

// demoServer is one child server.
type demoServer struct {
	name    string // "primary" or "secondary"
	bin     string
	dir     string // the server's data-dir and config live here
	dhcp    netip.AddrPort
	control string // host:port of the control API
	starts  int
	logs    []string // one log file per start

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	exitErr error
}

// demoFreePort asks the kernel for a free port on addr ("udp" or "tcp"). The
// port is released before the server binds it; on loopback, with ports
// from the ephemeral range, nothing else takes it in between.
func demoFreePort(network, addr string) (uint16, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// demoConfig is a server's config: the standalone default's subnet and
// pools, served by failover relationship "demo" with the shortest MCLT the
// config allows and auto-partner-down after apd.
func demoConfig(dataDir, role string, dhcp netip.AddrPort, control string, partner netip.AddrPort, apd time.Duration) string {
	link := fmt.Sprintf("peer: %q", partner.String())
	if role == "secondary" {
		link = fmt.Sprintf("listen: %q", partner.String())
	}
	return fmt.Sprintf(`# tandem demo: the %s (generated; removed with the demo's directory)
server:
  data-dir: %q
  listen: [%q]
  control: %q

lifetimes: {preferred: 5m, valid: 10m, t1: 2m30s, t2: 4m}

subnets:
  - prefix: 2001:db8:1::/64
    relationship: %s
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools:
      - {prefix: "2001:db8:100::/40", delegated-length: 56}

relationships:
  - name: %s
    role: %s
    %s
    mclt: 30s
    keepalive: 1s
    auto-partner-down: %s
`, role, dataDir, dhcp.String(), control, demoRel, demoRel, role, link, apd)
}

// newDemoPair picks the ports and writes both configs under dir.
func newDemoPair(bin, dir string, apd time.Duration) (prim, sec *demoServer, err error) {
	fo, err := demoFreePort("tcp", "[::1]:0")
	if err != nil {
		return nil, nil, fmt.Errorf("a free port for the failover link: %w", err)
	}
	partner := netip.AddrPortFrom(netip.IPv6Loopback(), fo)
	mk := func(name string) (*demoServer, error) {
		d, err := demoFreePort("udp", "[::1]:0")
		if err != nil {
			return nil, fmt.Errorf("a free DHCP port: %w", err)
		}
		c, err := demoFreePort("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("a free control port: %w", err)
		}
		s := &demoServer{name: name, bin: bin, dir: filepath.Join(dir, name),
			dhcp: netip.AddrPortFrom(netip.IPv6Loopback(), d), control: fmt.Sprintf("127.0.0.1:%d", c)}
		if err := os.MkdirAll(s.dir, 0o750); err != nil {
			return nil, err
		}
		cfg := demoConfig(filepath.Join(s.dir, "data"), name, s.dhcp, s.control, partner, apd)
		return s, os.WriteFile(s.configPath(), []byte(cfg), 0o640)
	}
	if prim, err = mk("primary"); err != nil {
		return nil, nil, err
	}
	if sec, err = mk("secondary"); err != nil {
		return nil, nil, err
	}
	return prim, sec, nil
}

func (s *demoServer) configPath() string { return filepath.Join(s.dir, "tandem.yaml") }

// start runs `tandem serve` on the server's config, logging to a new file,
// and waits until its control API answers.
func (s *demoServer) start(ctx context.Context) error {
	s.starts++
	logPath := filepath.Join(s.dir, fmt.Sprintf("serve-%d.log", s.starts))
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "serve", "--config", s.configPath(), "--log-format", "json")
	cmd.Stdout, cmd.Stderr = lf, lf
	// If the demo itself is killed, the servers go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("%s: %w", s.name, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done, s.exitErr = cmd, done, nil
	s.logs = append(s.logs, logPath)
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		lf.Close()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := s.status(); err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at start (%v):\n%s", s.name, s.exitErr, s.logTail(10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no control API on %s within 15s:\n%s", s.name, s.control, s.logTail(10))
		}
	}
}

func (s *demoServer) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *demoServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// signal sends sig to the running process and waits up to grace for it
// to exit; it reports whether it did.
func (s *demoServer) signal(sig syscall.Signal, grace time.Duration) bool {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(grace):
		return false
	}
}

// kill is a crash: SIGKILL, no DISCONNECT, no flush.
func (s *demoServer) kill() { s.signal(syscall.SIGKILL, 5*time.Second) }

// stop is an orderly shutdown (SIGTERM), a SIGKILL if it takes too long.
func (s *demoServer) stop() error {
	if s.signal(syscall.SIGTERM, 10*time.Second) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.exitErr
	}
	s.kill()
	return fmt.Errorf("%s did not stop within 10s of SIGTERM; killed", s.name)
}

var demoHTTP = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}

func (s *demoServer) status() (node.StatusJSON, error) {
	var st node.StatusJSON
	resp, err := demoHTTP.Get("http://" + s.control + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: /v1/status: %s", s.name, resp.Status)
	}
	return st, json.Unmarshal(body, &st)
}

// relStatus is the demo relationship's entry in st.
func relStatus(st *node.StatusJSON) (node.RelationshipJSON, bool) {
	for _, r := range st.Relationships {
		if r.Name == demoRel {
			return r, true
		}
	}
	return node.RelationshipJSON{}, false
}

// transition is one endpoint state change from a server's log.
type transition struct {
	at       time.Time
	from, to string
	partner  string
	start    int // which start of the server logged it (1, 2, …)
}

// transitions reads every "failover state" line the server has logged,
// over all its starts, oldest first.
func (s *demoServer) transitions() []transition {
	s.mu.Lock()
	logs := append([]string(nil), s.logs...)
	s.mu.Unlock()
	var out []transition
	for i, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.Contains(line, []byte(`"failover state"`)) {
				continue
			}
			var l struct {
				TS      float64 `json:"ts"`
				Msg     string  `json:"msg"`
				From    string  `json:"from"`
				To      string  `json:"to"`
				Partner string  `json:"partner"`
			}
			if json.Unmarshal(line, &l) != nil || l.Msg != "failover state" {
				continue
			}
			at := time.Unix(0, int64(l.TS*1e9))
			out = append(out, transition{at: at, from: l.From, to: l.To, partner: l.Partner, start: i + 1})
		}
	}
	return out
}

// entered is the first entry into state at or after since.
func entered(ts []transition, state string, since time.Time) (transition, bool) {
	for _, x := range ts {
		if x.to == state && !x.at.Before(since) {
			return x, true
		}
	}
	return transition{}, false
}

// waitEnter waits until the server has logged an entry into state at or
// after since.
func (s *demoServer) waitEnter(ctx context.Context, state string, since time.Time, timeout time.Duration) (transition, error) {
	deadline := time.Now().Add(timeout)
	for {
		if x, ok := entered(s.transitions(), state, since); ok {
			return x, nil
		}
		if time.Now().After(deadline) {
			return transition{}, fmt.Errorf("%s did not enter %s within %v (states: %s)", s.name, state, timeout, describe(s.transitions()))
		}
		select {
		case <-ctx.Done():
			return transition{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func describe(ts []transition) string {
	var b strings.Builder
	for i, x := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s→%s", x.from, x.to)
	}
	return b.String()
}

// logTail is the last n lines of the server's current log.
func (s *demoServer) logTail(n int) string {
	s.mu.Lock()
	var path string
	if len(s.logs) > 0 {
		path = s.logs[len(s.logs)-1]
	}
	s.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

var errStory = errors.New("the story did not happen")

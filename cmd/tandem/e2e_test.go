package main

// Real-world end-to-end tests: the tandem binary serves real DHCPv6 clients
// (ISC dhclient, Kea's perfdhcp) across a veth pair between two network
// namespaces that the test creates and deletes. They need root; they skip
// without it, except under CI=true, where a missing privilege or tool is a
// failure (run `make deps` first).
//
// Topology (every name starts with te2e; namespace names carry the test
// process's pid and a counter so that parallel runs don't clash):
//
//	ns te2es<id> ─ te2es0 2001:db8:1::1/64  ══ veth ══  te2ec0 2001:db8:1::2/64 ─ ns te2ec<id>
//	   tandem serve (multicast on te2es0,              dhclient / perfdhcp /
//	   unicast [::]:547, control 127.0.0.1:8547)        tcpdump
//
// Nothing is sent outside these namespaces: the server's control API is the
// loopback of the server namespace, queried with `ip netns exec … curl`.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// ---------------------------------------------------------------------------
// Build and preconditions

var (
	e2eBuildOnce sync.Once
	e2eBinDir    string
	e2eBin       string
	e2eBuildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBinDir != "" {
		os.RemoveAll(e2eBinDir)
	}
	os.Exit(code)
}

// buildTandem builds the binary once per test process (lazily, so that
// `go test -list`, benchmarks and non-root runs don't pay for it).
func buildTandem() (string, error) {
	e2eBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tandem-e2e-bin-")
		if err != nil {
			e2eBuildErr = err
			return
		}
		e2eBinDir = dir
		e2eBin = filepath.Join(dir, "tandem")
		goTool, err := exec.LookPath("go")
		if err != nil {
			e2eBuildErr = fmt.Errorf("e2e: go tool not found in PATH: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, "build", "-o", e2eBin, ".").CombinedOutput()
		if err != nil {
			e2eBuildErr = fmt.Errorf("e2e: go build -o %s .: %v\n%s", e2eBin, err, out)
		}
	})
	return e2eBin, e2eBuildErr
}

// aptPackage names the Debian package that provides each tool the tests use.
var aptPackage = map[string]string{
	"ip":       "iproute2",
	"curl":     "curl",
	"dhclient": "isc-dhcp-client",
	"perfdhcp": "kea-admin",
	"tcpdump":  "tcpdump",
}

// lookTool finds a tool in PATH or in the sbin directories a non-login
// environment may leave out of PATH.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// tools maps a tool name to its resolved path, filled by requireE2E.
var (
	toolsMu sync.Mutex
	tools   = map[string]string{}
)

func tool(name string) string {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if p, ok := tools[name]; ok {
		return p
	}
	if p, err := lookTool(name); err == nil {
		tools[name] = p
		return p
	}
	return name
}

// requireE2E skips (or, with CI=true, fails) unless the test can run: root,
// the named tools, and a built binary.
func requireE2E(t *testing.T, needs ...string) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		if ci {
			t.Fatal("e2e: CI=true but not running as root: the end-to-end tests need root to create network namespaces")
		}
		t.Skip("e2e: needs root (network namespaces); skipping")
	}
	var missing, pkgs []string
	for _, name := range append([]string{"ip", "curl"}, needs...) {
		p, err := lookTool(name)
		if err != nil {
			missing = append(missing, name)
			pkgs = append(pkgs, aptPackage[name])
			continue
		}
		toolsMu.Lock()
		tools[name] = p
		toolsMu.Unlock()
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("e2e: missing tools %v: run `make deps` (as root: apt-get install -y %s)",
			missing, strings.Join(pkgs, " "))
		if ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := buildTandem(); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Processes

// proc is a background process. Its output goes to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid after done is closed
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to exit.
func (p *proc) wait(d time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// stop sends sig, waits up to grace, then kills. It returns the exit error
// of the process.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(sig)
	if err, ok := p.wait(grace); ok {
		return err
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not exit within %v of %v; killed", p.name, grace, sig)
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = append([]string{fmt.Sprintf("… (%d lines before)", len(ls)-lines)}, ls[len(ls)-lines:]...)
	}
	return strings.Join(ls, "\n")
}

// ---------------------------------------------------------------------------
// Topology

const (
	srvIf    = "te2es0"
	cliIf    = "te2ec0"
	srvAddr  = "2001:db8:1::1"
	cliAddr  = "2001:db8:1::2"
	ctlAddr  = "127.0.0.1:8547"
	naPool   = "2001:db8:1::1000-2001:db8:1::ffff"
	pdPool   = "2001:db8:100::/40"
	pdLength = 56
)

var nsSeq atomic.Int32

type topo struct {
	t        *testing.T
	srv, cli string // namespace names
	dir      string // temp dir for this topology's files
}

// newTopo creates the two namespaces and the veth pair between them, and
// registers their removal.
func newTopo(t *testing.T) *topo {
	t.Helper()
	id := fmt.Sprintf("%d-%d", os.Getpid(), nsSeq.Add(1))
	tp := &topo{t: t, srv: "te2es" + id, cli: "te2ec" + id, dir: t.TempDir()}
	for _, ns := range []string{tp.srv, tp.cli} {
		tp.must("ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { tp.deleteNS(ns) })
		// No DAD (addresses usable at once), IPv6 on, loopback up.
		tp.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		tp.must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	tp.must("ip", "link", "add", srvIf, "netns", tp.srv, "type", "veth", "peer", "name", cliIf, "netns", tp.cli)
	for _, x := range []struct{ ns, ifc, addr string }{{tp.srv, srvIf, srvAddr}, {tp.cli, cliIf, cliAddr}} {
		tp.sysctl(x.ns, "net.ipv6.conf."+x.ifc+".accept_dad=0")
		tp.must("ip", "-n", x.ns, "link", "set", x.ifc, "up")
		tp.must("ip", "-n", x.ns, "-6", "addr", "add", x.addr+"/64", "dev", x.ifc, "nodad")
	}
	tp.waitLinkLocal(tp.srv, srvIf)
	tp.waitLinkLocal(tp.cli, cliIf)
	return tp
}

func (tp *topo) deleteNS(ns string) {
	// Kill whatever still runs inside the namespace (only what this test
	// started can be there), then delete it; the veth goes with it.
	out, _ := exec.Command(tool("ip"), "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var err error
	for i := 0; i < 20; i++ {
		if _, err = exec.Command(tool("ip"), "netns", "del", ns).CombinedOutput(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tp.t.Errorf("cleanup: ip netns del %s: %v", ns, err)
}

// sysctl sets key=value settings inside namespace ns (sysctl -w, without
// depending on procps: /proc/sys/net belongs to the writer's namespace).
func (tp *topo) sysctl(ns string, settings ...string) {
	tp.t.Helper()
	var script strings.Builder
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&script, "echo %s > /proc/sys/%s && ", v, strings.ReplaceAll(k, ".", "/"))
	}
	script.WriteString("true")
	tp.must("ip", "netns", "exec", ns, "/bin/sh", "-c", script.String())
}

// must runs a short command (ip, or a command inside a namespace through ip
// netns exec) and fails the test on error.
func (tp *topo) must(name string, args ...string) string {
	tp.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool(name), args...).CombinedOutput()
	if err != nil {
		tp.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// exec runs a command inside namespace ns, bounded by timeout, and returns
// its combined output and exit code (-1 when it did not exit normally).
func (tp *topo) exec(ns string, timeout time.Duration, name string, args ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool("ip"), append([]string{"netns", "exec", ns, tool(name)}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, timeout, err)
	}
	return string(out), code, err
}

// start starts a long-running command inside namespace ns, with output to
// a log file; the test's cleanup kills it if it is still running.
// captureDHCP runs tcpdump in namespace ns on interface ifname, writing
// the DHCPv6 traffic (ports 546, 547) to pcap for maxLife at most, and
// returns once it listens: what clients were really told is read from it.
// flags go to tcpdump before the filter (e.g. --immediate-mode, for a
// capture stopped right after its last exchange: without it libpcap hands
// packets over a buffer block at a time, and a block not yet handed over
// when tcpdump stops is lost).
func (tp *topo) captureDHCP(t *testing.T, ns, ifname, pcap string, maxLife time.Duration, flags ...string) *proc {
	t.Helper()
	args := append([]string{"-i", ifname, "-n", "-U", "-B", "16384", "-s", "0", "-Z", "root", "-w", pcap}, flags...)
	td := tp.start(ns, "tcpdump", maxLife, "tcpdump", append(args, "udp port 546 or udp port 547")...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(td.log(), "listening on") {
		if td.exited() || time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %v\n%s", td.err, td.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return td
}

func (tp *topo) start(ns, label string, maxLife time.Duration, name string, args ...string) *proc {
	tp.t.Helper()
	logPath := filepath.Join(tp.dir, fmt.Sprintf("%s-%d.log", label, time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		tp.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxLife)
	// `ip netns exec` execs the program, so the pid is the program's own.
	cmd := exec.CommandContext(ctx, tool("ip"), append([]string{"netns", "exec", ns, tool(name)}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		f.Close()
		tp.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: label, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		cancel()
		close(p.done)
	}()
	tp.t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (tp *topo) waitLinkLocal(ns, ifc string) {
	tp.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := tp.must("ip", "-n", ns, "-6", "addr", "show", "dev", ifc, "scope", "link")
		if strings.Contains(out, "inet6 fe80") && !strings.Contains(out, "tentative") {
			return
		}
		if time.Now().After(deadline) {
			tp.t.Fatalf("no usable link-local address on %s in %s:\n%s", ifc, ns, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// The tandem server

type lifetimes struct{ preferred, valid, t1, t2 string }

var defaultLifetimes = lifetimes{preferred: "30m", valid: "1h", t1: "15m", t2: "24m"}

// tandemConfig is the CONTRACT.md config for the test topology.
func tandemConfig(dataDir string, lt lifetimes) string {
	return fmt.Sprintf(`# tandem e2e test config
server:
  data-dir: %q
  interfaces: [%s]
  listen: ["[::]:547"]
  control: %q
  rapid-commit: true

lifetimes: {preferred: %s, valid: %s, t1: %s, t2: %s}

subnets:
  - prefix: 2001:db8:1::/64
    interface: %s
    pools: [%q]
    pd-pools:
      - {prefix: %q, delegated-length: %d}
`, dataDir, srvIf, ctlAddr, lt.preferred, lt.valid, lt.t1, lt.t2, srvIf, naPool, pdPool, pdLength)
}

type tandemServer struct {
	tp      *topo
	cfgPath string
	dataDir string
	p       *proc
	starts  int
	flags   []string // extra `tandem serve` flags for the next start
}

// startTandem writes the config, starts `tandem serve` in the server
// namespace and waits until the control API answers.
func startTandem(t *testing.T, tp *topo, lt lifetimes) *tandemServer {
	t.Helper()
	return startTandemWith(t, tp, lt, nil)
}

// startTandemWith is startTandem with the config text passed through edit
// (nil: as is) before it is written.
func startTandemWith(t *testing.T, tp *topo, lt lifetimes, edit func(string) string) *tandemServer {
	t.Helper()
	s := &tandemServer{tp: tp, dataDir: filepath.Join(tp.dir, "data"), cfgPath: filepath.Join(tp.dir, "tandem.yaml")}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := tandemConfig(s.dataDir, lt)
	if edit != nil {
		cfg = edit(cfg)
	}
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.p == nil {
			return
		}
		if t.Failed() {
			t.Logf("tandem server log (%s):\n%s", s.p.logPath, tail(s.p.log(), 80))
		}
		if s.p.exited() {
			return
		}
		// CONTRACT: SIGTERM → flush the journal, exit 0.
		if err := s.p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
			t.Errorf("tandem serve did not exit cleanly on SIGTERM: %v\n%s", err, tail(s.p.log(), 30))
		}
	})
	s.start(t)
	return s
}

func (s *tandemServer) start(t *testing.T) {
	t.Helper()
	s.starts++
	s.p = s.tp.start(s.tp.srv, fmt.Sprintf("tandem%d", s.starts), 15*time.Minute,
		e2eBin, append([]string{"serve", "--config", s.cfgPath, "--log-format", "console"}, s.flags...)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.p.exited() {
			t.Fatalf("tandem serve exited during start-up: %v\n%s", s.p.err, tail(s.p.log(), 40))
		}
		if _, code, err := s.get("/v1/status"); err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem serve: GET /v1/status not 200 within 30s\n%s", tail(s.p.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill9 kills the server without warning and waits until it is gone.
func (s *tandemServer) kill9(t *testing.T) {
	t.Helper()
	_ = s.p.cmd.Process.Signal(syscall.SIGKILL)
	if _, ok := s.p.wait(10 * time.Second); !ok {
		t.Fatal("tandem serve did not die on SIGKILL within 10s")
	}
}

// get fetches a control API path with curl inside the server namespace.
func (s *tandemServer) get(path string) ([]byte, int, error) {
	out, _, err := s.tp.exec(s.tp.srv, 30*time.Second, "curl", "-sS", "--noproxy", "*", "-m", "20",
		"-o", "-", "-w", "\n%{http_code}", "http://"+ctlAddr+path)
	if err != nil {
		return nil, 0, fmt.Errorf("curl %s: %v: %s", path, err, tail(out, 5))
	}
	i := strings.LastIndexByte(out, '\n')
	if i < 0 {
		return nil, 0, fmt.Errorf("curl %s: unexpected output %q", path, out)
	}
	code, err := strconv.Atoi(strings.TrimSpace(out[i+1:]))
	if err != nil {
		return nil, 0, fmt.Errorf("curl %s: bad status line %q", path, out[i+1:])
	}
	return []byte(out[:i]), code, nil
}

func (s *tandemServer) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	body, code, err := s.get(path)
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 {
		t.Fatalf("GET %s: HTTP %d: %s", path, code, tail(string(body), 5))
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: bad JSON: %v: %s", path, err, tail(string(body), 5))
	}
}

// apiLease is one record of GET /v1/leases.
type apiLease struct {
	Kind      string `json:"kind"`
	Address   string `json:"address"`
	Prefix    string `json:"prefix"`
	DUID      string `json:"duid"`
	IAID      uint32 `json:"iaid"`
	Status    string `json:"status"`
	CLTT      string `json:"cltt"`
	Expires   string `json:"expires"`
	Preferred uint32 `json:"preferred"`
	Valid     uint32 `json:"valid"`
	Link      string `json:"link"`
}

// resource is the leased thing: the address, or the prefix.
func (l apiLease) resource() string {
	if l.Kind == "pd" {
		return l.Prefix
	}
	return l.Address
}

type apiStatus struct {
	Leases struct {
		NAActive int64 `json:"na_active"`
		PDActive int64 `json:"pd_active"`
	} `json:"leases"`
	Packets map[string]uint64 `json:"packets"`
}

func (s *tandemServer) leases(t *testing.T, query string) []apiLease {
	t.Helper()
	var ls []apiLease
	s.getJSON(t, "/v1/leases"+query, &ls)
	return ls
}

func (s *tandemServer) status(t *testing.T) apiStatus {
	t.Helper()
	var st apiStatus
	s.getJSON(t, "/v1/status", &st)
	return st
}

// ---------------------------------------------------------------------------
// DUIDs, addresses, prefixes

// parseDUID reads colon-separated hex, with or without leading zeros
// ("00:01:…" from the API, "0:1:…" from dhclient's lease file), or plain hex.
func parseDUID(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		return hex.DecodeString(s)
	}
	var b []byte
	for _, g := range strings.Split(s, ":") {
		v, err := strconv.ParseUint(g, 16, 8)
		if err != nil {
			return nil, fmt.Errorf("duid %q: %v", s, err)
		}
		b = append(b, byte(v))
	}
	return b, nil
}

func formatDUID(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

// canon returns the canonical text of an address or prefix, so that the
// server's text and a packet's can be compared.
func canon(kind, s string) string {
	if kind == "pd" {
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.Masked().String()
		}
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// checkLeaseSanity checks that an active lease is inside the configured pools.
func checkLeaseSanity(l apiLease) error {
	switch l.Kind {
	case "na":
		a, err := netip.ParseAddr(l.Address)
		if err != nil {
			return fmt.Errorf("bad address %q", l.Address)
		}
		lo, hi := netip.MustParseAddr("2001:db8:1::1000"), netip.MustParseAddr("2001:db8:1::ffff")
		if a.Compare(lo) < 0 || a.Compare(hi) > 0 {
			return fmt.Errorf("address %s outside pool %s", a, naPool)
		}
	case "pd":
		p, err := netip.ParsePrefix(l.Prefix)
		if err != nil {
			return fmt.Errorf("bad prefix %q", l.Prefix)
		}
		if p.Bits() != pdLength || !netip.MustParsePrefix(pdPool).Contains(p.Addr()) {
			return fmt.Errorf("prefix %s not a /%d in %s", p, pdLength, pdPool)
		}
	default:
		return fmt.Errorf("bad kind %q", l.Kind)
	}
	if _, err := parseDUID(l.DUID); err != nil || l.DUID == "" {
		return fmt.Errorf("bad duid %q", l.DUID)
	}
	return nil
}

// checkNoDoubleActive fails the test if any address or prefix is active
// twice, and checks the status counters and the pools.
func checkActiveLeases(t *testing.T, s *tandemServer, ls []apiLease) (na, pd int) {
	t.Helper()
	seen := map[string]apiLease{}
	dups := 0
	for _, l := range ls {
		if l.Status != "active" {
			continue
		}
		if err := checkLeaseSanity(l); err != nil {
			t.Errorf("active lease %+v: %v", l, err)
		}
		key := l.Kind + " " + canon(l.Kind, l.resource())
		if prev, ok := seen[key]; ok {
			dups++
			if dups <= 20 {
				t.Errorf("%s is active twice: duid %s iaid %d and duid %s iaid %d", key, prev.DUID, prev.IAID, l.DUID, l.IAID)
			}
			continue
		}
		seen[key] = l
		if l.Kind == "na" {
			na++
		} else {
			pd++
		}
	}
	if dups > 0 {
		t.Errorf("%d resources active more than once", dups)
	}
	// A client IA that already holds a lease should get that lease back
	// (RFC 8415 §18.3), not a second one.
	perIA := map[string]int{}
	multi := 0
	for _, l := range seen {
		k := l.Kind + " " + l.DUID + " " + strconv.FormatUint(uint64(l.IAID), 10)
		perIA[k]++
		if perIA[k] == 2 {
			multi++
		}
	}
	if multi > 0 {
		t.Errorf("%d client IAs hold more than one active lease of a kind (a client with a binding should get it back)", multi)
	}
	st := s.status(t)
	t.Logf("server packet counters: %v", st.Packets)
	if st.Leases.NAActive != int64(na) || st.Leases.PDActive != int64(pd) {
		t.Errorf("/v1/status says na_active=%d pd_active=%d, /v1/leases lists %d and %d active",
			st.Leases.NAActive, st.Leases.PDActive, na, pd)
	}
	return na, pd
}

// ---------------------------------------------------------------------------
// Test 1: ISC dhclient

// dhclient lease file parsing: the last lease6 block.
type dhLease struct {
	clientID []byte
	naIAID   uint32
	pdIAID   uint32
	addr     string
	prefix   string
	preflife uint32
	maxlife  uint32
	blocks   int
}

var (
	reLeaseIANA = regexp.MustCompile(`(?m)^\s*ia-na ([0-9a-f:]+) \{`)
	reLeaseIAPD = regexp.MustCompile(`(?m)^\s*ia-pd ([0-9a-f:]+) \{`)
	reLeaseAddr = regexp.MustCompile(`(?m)^\s*iaaddr ([0-9a-fA-F:]+) \{`)
	reLeasePfx  = regexp.MustCompile(`(?m)^\s*iaprefix ([0-9a-fA-F:]+/\d+) \{`)
	reLeaseCID  = regexp.MustCompile(`(?m)^\s*option dhcp6\.client-id ([0-9a-fA-F:]+);`)
	reLeasePref = regexp.MustCompile(`(?m)^\s*preferred-life (\d+);`)
	reLeaseMax  = regexp.MustCompile(`(?m)^\s*max-life (\d+);`)
)

func parseIAID(s string) uint32 {
	b, err := parseDUID(s)
	if err != nil || len(b) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func parseDhclientLeases(text string) (dhLease, bool) {
	blocks := strings.Split(text, "lease6 {")
	if len(blocks) < 2 {
		return dhLease{}, false
	}
	last := blocks[len(blocks)-1]
	var l dhLease
	l.blocks = len(blocks) - 1
	if m := reLeaseCID.FindStringSubmatch(last); m != nil {
		l.clientID, _ = parseDUID(m[1])
	}
	if m := reLeaseIANA.FindStringSubmatch(last); m != nil {
		l.naIAID = parseIAID(m[1])
	}
	if m := reLeaseIAPD.FindStringSubmatch(last); m != nil {
		l.pdIAID = parseIAID(m[1])
	}
	if m := reLeaseAddr.FindStringSubmatch(last); m != nil {
		l.addr = canon("na", m[1])
	}
	if m := reLeasePfx.FindStringSubmatch(last); m != nil {
		l.prefix = canon("pd", m[1])
	}
	if m := reLeasePref.FindStringSubmatch(last); m != nil {
		v, _ := strconv.Atoi(m[1])
		l.preflife = uint32(v)
	}
	if m := reLeaseMax.FindStringSubmatch(last); m != nil {
		v, _ := strconv.Atoi(m[1])
		l.maxlife = uint32(v)
	}
	return l, true
}

type dhclient struct {
	tp                   *topo
	flags                []string // -N, -P
	cf, lf, pf, sf, hook string
	p                    *proc
}

func newDhclient(t *testing.T, tp *topo, name string, flags ...string) *dhclient {
	t.Helper()
	dir := filepath.Join(tp.dir, "dhclient-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &dhclient{tp: tp, flags: flags,
		cf: filepath.Join(dir, "dhclient.conf"), lf: filepath.Join(dir, "dhclient6.leases"),
		pf: filepath.Join(dir, "dhclient6.pid"), sf: filepath.Join(dir, "hook.sh"), hook: filepath.Join(dir, "hook.log")}
	// An empty config (not /etc/dhcp/dhclient.conf) and a script that only
	// records what dhclient tells it: nothing outside the namespace changes.
	if err := os.WriteFile(d.cf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho \"$reason new=${new_ip6_address}${new_ip6_prefix} old=${old_ip6_address}${old_ip6_prefix}\" >> %s\nexit 0\n", d.hook)
	if err := os.WriteFile(d.sf, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && d.p != nil {
			t.Logf("dhclient %s output:\n%s", name, tail(d.p.log(), 60))
			hook, _ := os.ReadFile(d.hook)
			t.Logf("dhclient %s hook log:\n%s", name, hook)
		}
	})
	return d
}

func (d *dhclient) args(extra ...string) []string {
	a := []string{"-6"}
	a = append(a, extra...)
	a = append(a, d.flags...)
	return append(a, "-cf", d.cf, "-lf", d.lf, "-pf", d.pf, "-sf", d.sf, cliIf)
}

// start runs dhclient in the foreground (-d) in the client namespace.
func (d *dhclient) start(t *testing.T) {
	t.Helper()
	d.p = d.tp.start(d.tp.cli, "dhclient", 3*time.Minute, "dhclient", d.args("-d", "-v")...)
}

// waitLease waits until the lease file holds what was asked for.
func (d *dhclient) waitLease(t *testing.T, wantNA, wantPD bool, timeout time.Duration) dhLease {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(d.lf)
		if l, ok := parseDhclientLeases(string(b)); ok && (!wantNA || l.addr != "") && (!wantPD || l.prefix != "") {
			if len(l.clientID) == 0 {
				t.Fatalf("dhclient lease file has no client-id:\n%s", b)
			}
			return l
		}
		if d.p.exited() {
			t.Fatalf("dhclient exited before binding: %v\n%s", d.p.err, tail(d.p.log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("dhclient bound no lease (na=%v pd=%v) within %v; lease file:\n%s\noutput:\n%s",
				wantNA, wantPD, timeout, b, tail(d.p.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *dhclient) hookLog() string {
	b, _ := os.ReadFile(d.hook)
	return string(b)
}

// release runs `dhclient -6 -r`, which stops the running client (through
// its pid file) and sends RELEASE for the leases in the lease file.
func (d *dhclient) release(t *testing.T) {
	t.Helper()
	out, code, err := d.tp.exec(d.tp.cli, 60*time.Second, "dhclient", d.args("-r", "-v")...)
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

// serverLeaseFor finds the server's lease for the client's DUID, of the
// given kind, and checks it against the client's lease file.
func serverLeaseFor(t *testing.T, s *tandemServer, cl dhLease, kind string) apiLease {
	t.Helper()
	ls := s.leases(t, "?duid="+formatDUID(cl.clientID))
	var found []apiLease
	for _, l := range ls {
		if l.Kind == kind && l.Status == "active" {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("server has %d active %s leases for duid %s, want 1: %+v", len(found), kind, formatDUID(cl.clientID), ls)
	}
	l := found[0]
	got, _ := parseDUID(l.DUID)
	if !bytes.Equal(got, cl.clientID) {
		t.Errorf("server lease duid %s, client's %s", l.DUID, formatDUID(cl.clientID))
	}
	want, wantIAID := cl.addr, cl.naIAID
	if kind == "pd" {
		want, wantIAID = cl.prefix, cl.pdIAID
	}
	if canon(kind, l.resource()) != want {
		t.Errorf("server %s lease for the client is %s, client's lease file has %s", kind, l.resource(), want)
	}
	if l.IAID != wantIAID {
		t.Errorf("server %s lease IAID %#x, client's %#x", kind, l.IAID, wantIAID)
	}
	return l
}

func waitLeaseStatus(t *testing.T, s *tandemServer, query, kind, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ls := s.leases(t, query)
		var states []string
		for _, l := range ls {
			if l.Kind == kind {
				states = append(states, l.Status)
			}
		}
		if len(states) == 1 && states[0] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/leases%s: %s lease states %v, want [%s] within %v", query, kind, states, want, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func parseRFC3339(t *testing.T, what, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s: %q is not RFC 3339: %v", what, s, err)
	}
	return v
}

func TestDhclientAddressAndPrefix(t *testing.T) {
	requireE2E(t, "dhclient")
	tp := newTopo(t)
	// Short lifetimes, so that dhclient renews within the test.
	s := startTandem(t, tp, lifetimes{preferred: "10s", valid: "20s", t1: "5s", t2: "8s"})

	t.Run("address", func(t *testing.T) {
		d := newDhclient(t, tp, "na", "-N")
		d.start(t)
		cl := d.waitLease(t, true, false, 30*time.Second)
		l := serverLeaseFor(t, s, cl, "na")
		if cl.prefix != "" {
			t.Errorf("asked for an address only, lease file has prefix %s", cl.prefix)
		}
		d.release(t)
		waitLeaseStatus(t, s, "?address="+l.Address, "na", "released", 10*time.Second)
	})

	t.Run("prefix", func(t *testing.T) {
		d := newDhclient(t, tp, "pd", "-P")
		d.start(t)
		cl := d.waitLease(t, false, true, 30*time.Second)
		l := serverLeaseFor(t, s, cl, "pd")
		if cl.addr != "" {
			t.Errorf("asked for a prefix only, lease file has address %s", cl.addr)
		}
		d.release(t)
		waitLeaseStatus(t, s, "?prefix="+l.Prefix, "pd", "released", 10*time.Second)
	})

	t.Run("address-and-prefix-renew-release", func(t *testing.T) {
		d := newDhclient(t, tp, "both", "-N", "-P")
		d.start(t)
		cl := d.waitLease(t, true, true, 30*time.Second)
		na0 := serverLeaseFor(t, s, cl, "na")
		pd0 := serverLeaseFor(t, s, cl, "pd")
		for _, l := range []apiLease{na0, pd0} {
			if l.Valid != 20 || l.Preferred != 10 {
				t.Errorf("server %s lease lifetimes preferred=%d valid=%d, config says 10 and 20", l.Kind, l.Preferred, l.Valid)
			}
		}
		if cl.maxlife != 20 || cl.preflife != 10 {
			t.Errorf("client got preferred-life %d max-life %d, config says 10 and 20", cl.preflife, cl.maxlife)
		}

		// T1 is 5 s: dhclient must RENEW, get a REPLY, and the server must
		// have moved the leases' CLTT and expiry forward.
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(d.hookLog(), "RENEW6") {
			if d.p.exited() {
				t.Fatalf("dhclient exited: %v\n%s", d.p.err, tail(d.p.log(), 40))
			}
			if time.Now().After(deadline) {
				t.Fatalf("dhclient did not renew within 20s (T1 is 5s); hook log:\n%s\noutput:\n%s", d.hookLog(), tail(d.p.log(), 40))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(d.p.log(), "Renew") {
			t.Errorf("dhclient output shows no Renew message:\n%s", tail(d.p.log(), 40))
		}
		// The renewed lease must be the same address and prefix.
		b, _ := os.ReadFile(d.lf)
		cl2, _ := parseDhclientLeases(string(b))
		if cl2.blocks < 2 {
			t.Errorf("lease file has %d lease6 blocks after the renew, want ≥ 2", cl2.blocks)
		}
		if cl2.addr != cl.addr || cl2.prefix != cl.prefix {
			t.Errorf("after renew the client holds %s %s, before %s %s", cl2.addr, cl2.prefix, cl.addr, cl.prefix)
		}
		deadline = time.Now().Add(10 * time.Second)
		for {
			na1 := serverLeaseFor(t, s, cl2, "na")
			pd1 := serverLeaseFor(t, s, cl2, "pd")
			advanced := true
			for _, pair := range [][2]apiLease{{na0, na1}, {pd0, pd1}} {
				c0, c1 := parseRFC3339(t, "cltt", pair[0].CLTT), parseRFC3339(t, "cltt", pair[1].CLTT)
				e0, e1 := parseRFC3339(t, "expires", pair[0].Expires), parseRFC3339(t, "expires", pair[1].Expires)
				if !c1.After(c0) || !e1.After(e0) {
					advanced = false
				}
			}
			if advanced {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client renewed but the server's leases did not advance:\nbefore %+v\n       %+v\nafter  %+v\n       %+v", na0, pd0, na1, pd1)
			}
			time.Sleep(200 * time.Millisecond)
		}

		d.release(t)
		waitLeaseStatus(t, s, "?address="+na0.Address, "na", "released", 10*time.Second)
		waitLeaseStatus(t, s, "?prefix="+pd0.Prefix, "pd", "released", 10*time.Second)
	})
}

// ---------------------------------------------------------------------------
// Test 2: perfdhcp load

type perfStats struct {
	sent, received, drops uint64
	ratio                 float64 // percent, as printed
}

var (
	rePerfSection = regexp.MustCompile(`^\*\*\*Statistics for: ([A-Z-]+)\*\*\*`)
	rePerfField   = regexp.MustCompile(`^(sent packets|received packets|drops|drops ratio): ([0-9.]+)`)
)

// parsePerfdhcp reads perfdhcp's final report into per-exchange statistics
// ("SOLICIT-ADVERTISE", "REQUEST-REPLY").
func parsePerfdhcp(out string) map[string]*perfStats {
	res := map[string]*perfStats{}
	var cur *perfStats
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := rePerfSection.FindStringSubmatch(line); m != nil {
			cur = &perfStats{ratio: -1}
			res[m[1]] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if m := rePerfField.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "sent packets":
				cur.sent, _ = strconv.ParseUint(m[2], 10, 64)
			case "received packets":
				cur.received, _ = strconv.ParseUint(m[2], 10, 64)
			case "drops":
				cur.drops, _ = strconv.ParseUint(m[2], 10, 64)
			case "drops ratio":
				cur.ratio, _ = strconv.ParseFloat(m[2], 64)
			}
		}
	}
	return res
}

// perfdhcpArgs builds perfdhcp's command line. -W lets replies still in
// flight when the test period ends arrive before the report (μs).
func perfdhcpArgs(relayed bool, rate, seconds int) []string {
	a := []string{"-6"}
	if relayed {
		a = append(a, "-A", "1")
	}
	a = append(a, "-r", strconv.Itoa(rate), "-p", strconv.Itoa(seconds), "-R", "100000",
		"-W", "500000", "-e", "address-and-prefix", "-l", cliIf)
	if relayed {
		// RELAY-FORW by unicast to the server; perfdhcp claims its own
		// source address (2001:db8:1::2) as the link-address, which is in
		// the configured subnet.
		a = append(a, srvAddr)
	}
	return a
}

func runPerfdhcpLoad(t *testing.T, relayed bool) {
	requireE2E(t, "perfdhcp")
	tp := newTopo(t)
	s := startTandem(t, tp, defaultLifetimes)

	const rate, seconds = 2000, 10
	args := perfdhcpArgs(relayed, rate, seconds)
	out, code, err := tp.exec(tp.cli, 90*time.Second, "perfdhcp", args...)
	stats := perfdhcpDrops(t, args, out, code, err)
	sa, rr := stats["SOLICIT-ADVERTISE"], stats["REQUEST-REPLY"]
	// The load must really have been offered: at least 80 % of rate×period.
	if minSent := uint64(rate * seconds * 8 / 10); sa.sent < minSent {
		t.Errorf("perfdhcp sent only %d SOLICITs in %d s at rate %d (want ≥ %d): the load was not applied", sa.sent, seconds, rate, minSent)
	}
	if rr.received == 0 {
		t.Fatal("no REQUEST got a REPLY")
	}

	ls := s.leases(t, "")
	na, pd := checkActiveLeases(t, s, ls)
	t.Logf("server: %d leases listed, %d addresses and %d prefixes active, %d REPLYs received by perfdhcp", len(ls), na, pd, rr.received)

	// The server's counters against perfdhcp's: it answered every message
	// perfdhcp saw answered, and no more than perfdhcp sent.
	body, hc, err := s.get("/metrics")
	if err != nil || hc != 200 {
		t.Fatalf("GET /metrics: %d %v", hc, err)
	}
	mf := parseMetrics(t, "tandem", body)
	for _, x := range []struct {
		metric, typ string
		ps          *perfStats
	}{
		{"tandem_packets_received_total", "solicit", sa},
		{"tandem_packets_sent_total", "advertise", sa},
		{"tandem_packets_received_total", "request", rr},
		{"tandem_packets_sent_total", "reply", rr},
	} {
		if v := mustSeries(t, mf, x.metric, "type", x.typ); v < float64(x.ps.received) || v > float64(x.ps.sent) {
			t.Errorf("%s{type=%s} = %v, want between perfdhcp's %d answers received and %d sent", x.metric, x.typ, v, x.ps.received, x.ps.sent)
		}
	}
	for _, x := range []struct {
		kind string
		want int
	}{{"na", na}, {"pd", pd}} {
		if v := mustSeries(t, mf, "tandem_leases", "kind", x.kind, "state", "active"); v != float64(x.want) {
			t.Errorf("tandem_leases{kind=%s,state=active} = %v, GET /v1/leases lists %d", x.kind, v, x.want)
		}
	}
	// perfdhcp draws its clients at random from 100000; ~rr.received
	// exchanges give ≥ 80 % distinct clients. Each got an address and a
	// prefix, so well over half of the REPLYs must have left an active lease.
	if min := int(rr.received / 2); na < min || pd < min {
		t.Errorf("only %d addresses and %d prefixes active after %d REPLYs (want ≥ %d each)", na, pd, rr.received, min)
	}
	if relayed {
		for _, l := range ls {
			if l.Status == "active" && l.Link != "" && l.Link != cliAddr {
				t.Errorf("relayed lease %s records link %q, perfdhcp's link-address is %s", l.resource(), l.Link, cliAddr)
				break
			}
		}
	}
}

// perfSummary keeps the interesting lines of perfdhcp's report.
func perfSummary(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "Rate:") || strings.HasPrefix(l, "***Statistics") || strings.HasPrefix(l, "sent packets") ||
			strings.HasPrefix(l, "received packets") || strings.HasPrefix(l, "drops") || strings.HasPrefix(l, "orphans") ||
			strings.HasPrefix(l, "avg delay") || strings.HasPrefix(l, "max delay") || strings.Contains(l, "rror") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestPerfdhcpDirect(t *testing.T)  { runPerfdhcpLoad(t, false) }
func TestPerfdhcpRelayed(t *testing.T) { runPerfdhcpLoad(t, true) }

// ---------------------------------------------------------------------------
// Test 3: kill -9 and restart keeps every lease a client was told about

// replyLease is one lease a REPLY gave a client, as seen on the client's wire.
type replyLease struct {
	ts       time.Time
	duid     []byte
	iaid     uint32
	kind     string // na, pd
	resource string // canonical address or prefix
	valid    uint32 // valid lifetime, seconds
}

// readPcapReplies decodes a pcap file written by tcpdump (classic format,
// any byte order, μs or ns stamps; Ethernet or Linux cooked link types) and
// returns every lease carried by a DHCPv6 REPLY (direct or inside RELAY-REPL)
// with a non-zero valid lifetime.
func readPcapReplies(path string) ([]replyLease, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(data) < 24 {
		return nil, 0, fmt.Errorf("pcap %s: %d bytes, no header", path, len(data))
	}
	var bo binary.ByteOrder
	nano := false
	switch {
	case binary.LittleEndian.Uint32(data) == 0xa1b2c3d4:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint32(data) == 0xa1b2c3d4:
		bo = binary.BigEndian
	case binary.LittleEndian.Uint32(data) == 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(data) == 0xa1b23c4d:
		bo, nano = binary.BigEndian, true
	default:
		return nil, 0, fmt.Errorf("pcap %s: bad magic %x (pcapng is not supported)", path, data[:4])
	}
	linkType := bo.Uint32(data[20:24]) & 0x0fffffff
	var out []replyLease
	packets := 0
	for off := 24; off+16 <= len(data); {
		sec, frac := bo.Uint32(data[off:]), bo.Uint32(data[off+4:])
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) {
			break // the last record was cut short when tcpdump stopped
		}
		pkt := data[off : off+incl]
		off += incl
		packets++
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		ts := time.Unix(int64(sec), ns)
		payload, ok := udpFromServer(linkType, pkt)
		if !ok {
			continue
		}
		out = append(out, repliedLeases(ts, payload)...)
	}
	return out, packets, nil
}

// udpFromServer returns the UDP payload of an IPv6 datagram from port 547.
func udpFromServer(linkType uint32, pkt []byte) ([]byte, bool) {
	var ip []byte
	switch linkType {
	case 1: // Ethernet
		if len(pkt) < 14 {
			return nil, false
		}
		et, p := binary.BigEndian.Uint16(pkt[12:]), pkt[14:]
		for et == 0x8100 || et == 0x88a8 {
			if len(p) < 4 {
				return nil, false
			}
			et, p = binary.BigEndian.Uint16(p[2:]), p[4:]
		}
		if et != 0x86dd {
			return nil, false
		}
		ip = p
	case 113: // Linux cooked (SLL)
		if len(pkt) < 16 || binary.BigEndian.Uint16(pkt[14:]) != 0x86dd {
			return nil, false
		}
		ip = pkt[16:]
	case 276: // Linux cooked v2 (SLL2)
		if len(pkt) < 20 || binary.BigEndian.Uint16(pkt[0:]) != 0x86dd {
			return nil, false
		}
		ip = pkt[20:]
	default:
		return nil, false
	}
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return nil, false
	}
	next, p := ip[6], ip[40:]
	for next == 0 || next == 43 || next == 60 { // hop-by-hop, routing, destination options
		if len(p) < 8 {
			return nil, false
		}
		n := (int(p[1]) + 1) * 8
		if len(p) < n {
			return nil, false
		}
		next, p = p[0], p[n:]
	}
	if next != 17 || len(p) < 8 {
		return nil, false
	}
	if binary.BigEndian.Uint16(p[0:]) != 547 {
		return nil, false
	}
	ulen := int(binary.BigEndian.Uint16(p[4:]))
	if ulen < 8 || ulen > len(p) {
		return nil, false
	}
	return p[8:ulen], true
}

// repliedLeases decodes a DHCPv6 message and returns the leases of a REPLY.
func repliedLeases(ts time.Time, b []byte) []replyLease {
	d, err := dhcpv6.FromBytes(b)
	if err != nil {
		return nil
	}
	var m *dhcpv6.Message
	if d.IsRelay() {
		m, err = d.(*dhcpv6.RelayMessage).GetInnerMessage()
		if err != nil {
			return nil
		}
	} else {
		m = d.(*dhcpv6.Message)
	}
	if m.Type() != dhcpv6.MessageTypeReply {
		return nil
	}
	cid := m.Options.ClientID()
	if cid == nil {
		return nil
	}
	duid := cid.ToBytes()
	var out []replyLease
	for _, ia := range m.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			if a.ValidLifetime > 0 {
				ip, _ := netip.AddrFromSlice(a.IPv6Addr)
				out = append(out, replyLease{ts, duid, binary.BigEndian.Uint32(ia.IaId[:]), "na", ip.Unmap().String(),
					uint32(a.ValidLifetime / time.Second)})
			}
		}
	}
	for _, ia := range m.Options.IAPD() {
		for _, p := range ia.Options.Prefixes() {
			if p.ValidLifetime > 0 && p.Prefix != nil {
				ip, _ := netip.AddrFromSlice(p.Prefix.IP)
				ones, _ := p.Prefix.Mask.Size()
				out = append(out, replyLease{ts, duid, binary.BigEndian.Uint32(ia.IaId[:]), "pd",
					netip.PrefixFrom(ip.Unmap(), ones).Masked().String(), uint32(p.ValidLifetime / time.Second)})
			}
		}
	}
	return out
}

func TestRestartKeepsLeases(t *testing.T) {
	requireE2E(t, "perfdhcp", "tcpdump")
	tp := newTopo(t)
	s := startTandem(t, tp, defaultLifetimes)

	// Capture the client side of the wire: what clients were told.
	pcap := filepath.Join(tp.dir, "restart.pcap")
	td := tp.captureDHCP(t, tp.cli, cliIf, pcap, 2*time.Minute)

	const rate, seconds = 1000, 6
	args := perfdhcpArgs(true, rate, seconds)
	perf := tp.start(tp.cli, "perfdhcp", 2*time.Minute, "perfdhcp", args...)
	time.Sleep(3 * time.Second)
	killedAt := time.Now()
	s.kill9(t)
	t.Logf("killed tandem with SIGKILL at %s", killedAt.Format("15:04:05.000"))
	s.start(t)
	t.Logf("tandem restarted on the same data dir after %v", time.Since(killedAt).Round(time.Millisecond))

	if _, ok := perf.wait(60 * time.Second); !ok {
		t.Fatalf("perfdhcp did not finish within 60s\n%s", tail(perf.log(), 30))
	}
	t.Logf("perfdhcp %s: %v\n%s", strings.Join(args, " "), perf.err, perfSummary(perf.log()))
	time.Sleep(200 * time.Millisecond)
	if err := td.stop(syscall.SIGINT, 10*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}
	t.Logf("tcpdump: %s", strings.TrimSpace(tail(td.log(), 3)))

	replies, packets, err := readPcapReplies(pcap)
	if err != nil {
		t.Fatal(err)
	}
	before := 0
	for _, r := range replies {
		if r.ts.Before(killedAt) {
			before++
		}
	}
	t.Logf("pcap: %d packets, %d leases in REPLYs (%d before the kill, %d after)", packets, len(replies), before, len(replies)-before)
	// The check means nothing unless clients were told about leases before
	// the crash: at 1000/s for 3 s, expect thousands.
	if before < 500 {
		t.Fatalf("only %d leases were replied before the kill; the test did not exercise the crash", before)
	}
	if len(replies) == before {
		t.Errorf("no REPLY after the restart: the restarted server did not serve")
	}

	ls := s.leases(t, "")
	checkActiveLeases(t, s, ls)
	lost, checked := checkRepliesHeld(t, replies, ls, func(r replyLease) string {
		if r.ts.Before(killedAt) {
			return "before the kill"
		}
		return "after the kill"
	})
	if lost > 0 {
		t.Errorf("%d of %d replied leases are not held by their client after kill -9 and restart", lost, checked)
	} else {
		t.Logf("all %d replied leases are held by their clients after kill -9 and restart", checked)
	}
}

// checkRepliesHeld checks that every lease a REPLY gave a client (seen on
// the client's wire) is active in ls for that client (DUID and IAID). It
// reports the first 20 that are not, with when(r) in the message, and
// returns how many were not and how many distinct leases it checked.
func checkRepliesHeld(t *testing.T, replies []replyLease, ls []apiLease, when func(replyLease) string) (lost, checked int) {
	t.Helper()
	held := map[string]apiLease{}
	for _, l := range ls {
		if l.Status == "active" {
			held[l.Kind+" "+canon(l.Kind, l.resource())] = l
		}
	}
	type key struct{ duid, kind, res string }
	seen := map[key]bool{}
	for _, r := range replies {
		k := key{string(r.duid), r.kind, r.resource}
		if seen[k] {
			continue
		}
		seen[k] = true
		l, ok := held[r.kind+" "+r.resource]
		var why string
		switch {
		case !ok:
			why = "not active on the restarted server"
		default:
			d, _ := parseDUID(l.DUID)
			if !bytes.Equal(d, r.duid) {
				why = "active for another client, duid " + l.DUID
			} else if l.IAID != r.iaid {
				why = fmt.Sprintf("active for the client but IAID %#x, REPLY said %#x", l.IAID, r.iaid)
			}
		}
		if why == "" {
			continue
		}
		lost++
		if lost <= 20 {
			t.Errorf("REPLY at %s (%s) gave duid %s iaid %#x %s %s: %s",
				r.ts.Format("15:04:05.000000"), when(r), formatDUID(r.duid), r.iaid, r.kind, r.resource, why)
		}
	}
	return lost, len(seen)
}

// perfdhcpDrops logs a perfdhcp run, fails on an exit other than 0 (all
// exchanges completed) or 3 (some did not, judged here), and requires both
// exchanges' drop ratios — perfdhcp's own and drops/sent — under 1 %.
func perfdhcpDrops(t *testing.T, args []string, out string, code int, err error) map[string]*perfStats {
	t.Helper()
	t.Logf("perfdhcp %s: exit %d\n%s", strings.Join(args, " "), code, perfSummary(out))
	// 0: all exchanges completed; 3: some did not (judged by the ratio below).
	if err != nil && code != 3 {
		t.Fatalf("perfdhcp: exit %d: %v\n%s", code, err, tail(out, 60))
	}
	stats := parsePerfdhcp(out)
	for _, ex := range []string{"SOLICIT-ADVERTISE", "REQUEST-REPLY"} {
		st := stats[ex]
		if st == nil || st.ratio < 0 {
			t.Fatalf("perfdhcp output has no %s drops ratio:\n%s", ex, tail(out, 60))
		}
		computed := 0.0
		if st.sent > 0 {
			computed = 100 * float64(st.drops) / float64(st.sent)
		}
		if st.ratio >= 1 || computed >= 1 {
			t.Errorf("%s: drops ratio %.3f %% (%d of %d sent dropped), want < 1 %%", ex, max(st.ratio, computed), st.drops, st.sent)
		}
	}
	return stats
}

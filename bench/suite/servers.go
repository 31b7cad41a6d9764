package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/tandemdhcp/tandem/engine/node"
)

// The servers under test and how each is started, made ready and asked for
// its state. Every scenario gets fresh data directories under the run
// folder (on a real disk), and the same subnet, pools and lifetimes as
// ../shared/bench/kea's templates: 2001:db8:1::/64 with a /80 address pool
// and a /34 pool of /56 prefixes, T1/T2/preferred/valid 1000/2000/3000/4000
// s, a fixed DUID-EN. The relay's link-address 2001:db8:1::1 selects the
// subnet on both servers.

// servers is one scenario's running set: the first is the one the load
// goes to.
type servers struct {
	procs []*proc
	roles []string // "server", or "primary" / "secondary"
	// For Kea, the control sockets (in the run folder), by index.
	keaSockets []string
}

func (sv *servers) stop() {
	for i := len(sv.procs) - 1; i >= 0; i-- {
		sv.procs[i].stop(15 * time.Second)
	}
}

// cpu is each process's CPU seconds now.
func (sv *servers) cpu() ([]float64, error) {
	out := make([]float64, len(sv.procs))
	for i, p := range sv.procs {
		c, err := cpuSeconds(p.pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w (did it exit?)\n%s", p.name, err, p.tail(10))
		}
		out[i] = c
	}
	return out, nil
}

// alive fails when a server has exited.
func (sv *servers) alive() error {
	for _, p := range sv.procs {
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(15))
		}
	}
	return nil
}

// ---------------------------------------------------------------- tandem --

const (
	tandemDUID    = "00:02:00:00:09:bf:30:31" // DUID-EN 2495 "01", like the Kea template's
	tandemControl = "127.0.0.1:8547"          // in each server namespace's own loopback
	tandemPprof   = "127.0.0.1:6060"
	partnerPort   = 647
	relName       = "pair-a"
)

// tandemConfig renders one server's config: standalone (role ""), or one
// side of relationship pair-a.
func tandemConfig(dataDir, listen, role string) string {
	rel, relLine := "", ""
	switch role {
	case "primary":
		relLine = "    relationship: " + relName + "\n"
		rel = fmt.Sprintf("relationships:\n  - name: %s\n    role: primary\n    peer: \"[%s]:%d\"\n    mclt: 1h\n    keepalive: 10s\n", relName, s2Addr, partnerPort)
	case "secondary":
		relLine = "    relationship: " + relName + "\n"
		rel = fmt.Sprintf("relationships:\n  - name: %s\n    role: secondary\n    peer: \"[%s]:%d\"\n    listen: \"[::]:%d\"\n    mclt: 1h\n    keepalive: 10s\n", relName, s1Addr, partnerPort, partnerPort)
	}
	return fmt.Sprintf(`# bench/suite: tandem %s, relayed clients only.
server:
  data-dir: %q
  duid: %q
  listen: ["[%s]:547"]
  control: %q

lifetimes: {preferred: 3000s, valid: 4000s, t1: 1000s, t2: 2000s}

subnets:
  - prefix: 2001:db8:1::/64
%s    pools: ["2001:db8:1:0:1::/80"]
    pd-pools:
      - {prefix: "2001:db8:8000::/34", delegated-length: 56}
%s`, firstNonEmpty(role, "standalone"), dataDir, tandemDUID, listen, tandemControl, relLine, rel)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// startTandem starts tandem serve in ns with the given role and waits for
// its control API.
func (s *suite) startTandem(ctx context.Context, dir, ns, addr, role string, pprof bool) (*proc, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(cfg, []byte(tandemConfig(filepath.Join(dir, "data"), addr, role)), 0o644); err != nil {
		return nil, err
	}
	if out, err := run(ctx, s.tandem, "config", "check", cfg); err != nil {
		return nil, fmt.Errorf("tandem config check %s: %v\n%s", cfg, err, out)
	}
	argv := []string{s.tandem, "serve", "--config", cfg, "--log-level", "warn"}
	if pprof {
		argv = append(argv, "--pprof", tandemPprof)
	}
	argv = append(argv, s.opt.tandemFlags...)
	p, err := startProc("tandem "+firstNonEmpty(role, "standalone"), ns, s.opt.srvCPU, filepath.Join(dir, "tandem.log"), argv...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := s.tandemStatus(ctx, ns); err == nil {
			return p, nil
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("tandem serve did not come up in %s: %v\n%s", ns, p.err, p.tail(15))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tandemStatus is GET /v1/status of the tandem in ns, through `tandem
// status --json` run there.
func (s *suite) tandemStatus(ctx context.Context, ns string) (*node.StatusJSON, error) {
	out, err := run(ctx, "ip", "netns", "exec", ns, s.tandem, "status", "--json", "--control", "http://"+tandemControl)
	if err != nil {
		return nil, err
	}
	var st node.StatusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("tandem status: %w", err)
	}
	return &st, nil
}

func (s *suite) startTandemStandalone(ctx context.Context, dir string) (*servers, error) {
	p, err := s.startTandem(ctx, filepath.Join(dir, "s1"), s.topo.s1, s1Addr, "", s.opt.profile != "")
	if err != nil {
		return nil, err
	}
	return &servers{procs: []*proc{p}, roles: []string{"server"}}, nil
}

// startTandemPair starts the secondary, then the primary (which dials it),
// and waits until both are in NORMAL and the primary's first moves of
// delegable prefixes to the secondary (pd-secondary-share) have been
// acked: the load then meets a settled pair.
func (s *suite) startTandemPair(ctx context.Context, dir string) (*servers, error) {
	sec, err := s.startTandem(ctx, filepath.Join(dir, "s2"), s.topo.s2, s2Addr, "secondary", false)
	if err != nil {
		return nil, err
	}
	prim, err := s.startTandem(ctx, filepath.Join(dir, "s1"), s.topo.s1, s1Addr, "primary", s.opt.profile != "")
	if err != nil {
		sec.stop(5 * time.Second)
		return nil, err
	}
	sv := &servers{procs: []*proc{prim, sec}, roles: []string{"primary", "secondary"}}
	deadline := time.Now().Add(60 * time.Second)
	var lastSeq uint64
	stable := 0
	for {
		p, err1 := s.tandemStatus(ctx, s.topo.s1)
		q, err2 := s.tandemStatus(ctx, s.topo.s2)
		if err1 == nil && err2 == nil && len(p.Relationships) == 1 && len(q.Relationships) == 1 {
			pr, qr := p.Relationships[0], q.Relationships[0]
			if pr.State == "normal" && qr.State == "normal" && pr.CommOK && pr.Unacked == 0 {
				if p.Journal.Seq == lastSeq {
					stable++
				} else {
					stable = 0
				}
				// Two ticks (a second each) without a journal event: the
				// prefix split has settled.
				if stable >= 4 {
					return sv, nil
				}
			}
			lastSeq = p.Journal.Seq
		}
		if err := sv.alive(); err != nil {
			sv.stop()
			return nil, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			sv.stop()
			return nil, fmt.Errorf("tandem pair not settled in NORMAL within 60 s (primary %+v, secondary %+v)", p, q)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ------------------------------------------------------------------- Kea --

const (
	keaHAPort  = 8001
	keaThreads = 0  // thread-pool-size 0: Kea's auto (one per core)
	keaQueue   = 64 // packet-queue-size: Kea 2.2's default
)

var placeholder = regexp.MustCompile(`@[A-Z0-9_]+@`)

// renderKea fills a template of ../shared/bench/kea for relayed clients:
// Kea listens by unicast on the server's address (interface/address in
// interfaces-config) and the subnet loses its "interface", so the relay's
// link-address selects it.
func (s *suite) renderKea(tmpl, out string, idx int, mt bool, this string) error {
	b, err := os.ReadFile(tmpl)
	if err != nil {
		return err
	}
	t := string(b)
	for _, must := range []string{`"interfaces": [ "@IFACE@" ]`, `"interface": "@IFACE@",`} {
		if !strings.Contains(t, must) {
			return fmt.Errorf("%s: expected %s in the template (to adapt it to relayed traffic)", tmpl, must)
		}
	}
	iface, addr := "tbsv1", s1Addr
	if idx == 2 {
		iface, addr = "tbsv2", s2Addr
	}
	t = strings.Replace(t, `"interfaces": [ "@IFACE@" ]`, `"interfaces": [ "@IFACE@/`+addr+`" ]`, 1)
	t = strings.Replace(t, `"interface": "@IFACE@",`, `// (relayed: the subnet is selected by the relay's link-address)`, 1)
	rundir := filepath.Dir(out)
	r := strings.NewReplacer("@IFACE@", iface, "@SRVID@", fmt.Sprintf("0%d", idx), "@RUNDIR@", rundir,
		"@PERSIST@", "true", "@MT@", fmt.Sprint(mt), "@THREADS@", fmt.Sprint(keaThreads), "@QUEUE@", fmt.Sprint(keaQueue),
		"@HOOKSDIR@", s.opt.keaHooks, "@THIS@", this, "@HA_PORT@", fmt.Sprint(keaHAPort), "@S1_IP@", s1Addr, "@S2_IP@", s2Addr)
	t = r.Replace(t)
	if m := placeholder.FindString(t); m != "" {
		return fmt.Errorf("%s: placeholder %s left unrendered", tmpl, m)
	}
	return os.WriteFile(out, []byte(t), 0o644)
}

// startKea starts kea-dhcp6 number idx (1 or 2) on a rendered config and
// waits until it answers on its control socket and has its unicast socket.
func (s *suite) startKea(ctx context.Context, dir string, idx int, tmpl string, mt bool, this string) (*proc, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(dir, "kea-dhcp6.json")
	if err := s.renderKea(tmpl, cfg, idx, mt, this); err != nil {
		return nil, "", err
	}
	ns, addr := s.topo.s1, s1Addr
	if idx == 2 {
		ns, addr = s.topo.s2, s2Addr
	}
	env := []string{"env", "KEA_PIDFILE_DIR=" + dir, "KEA_LOCKFILE_DIR=" + dir}
	if out, err := run(ctx, "ip", append(append([]string{"netns", "exec", ns}, env...), s.opt.kea, "-t", cfg)...); err != nil {
		return nil, "", fmt.Errorf("kea-dhcp6 -t %s: %v\n%s", cfg, err, out)
	}
	argv := append(env, s.opt.kea, "-c", cfg)
	p, err := startProc(fmt.Sprintf("kea-dhcp6 #%d", idx), ns, s.opt.srvCPU, filepath.Join(dir, "kea.stdout"), argv...)
	if err != nil {
		return nil, "", err
	}
	sock := filepath.Join(dir, "kea6.sock")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := keaCommand(sock, `{"command":"version-get"}`); err == nil {
			if out, err := run(ctx, "ip", "netns", "exec", ns, "ss", "-Huln", "sport", "= :547"); err == nil && strings.Contains(out, addr) {
				return p, sock, nil
			}
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, "", fmt.Errorf("kea-dhcp6 #%d did not come up: %v\n%s", idx, p.err, p.tail(15))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keaCommand sends one command on Kea's unix control socket and returns
// the response.
func keaCommand(sock, cmd string) (map[string]any, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return nil, err
	}
	var resp map[string]any
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, err
	}
	if r, _ := resp["result"].(float64); r != 0 {
		return resp, fmt.Errorf("kea: %s: %v", cmd, resp["text"])
	}
	return resp, nil
}

// keaHA is a server's HA state and unsent lease updates (ha-heartbeat).
func keaHA(sock string) (state string, unsent float64) {
	resp, err := keaCommand(sock, `{"command":"ha-heartbeat"}`)
	if err != nil {
		return "?", -1
	}
	args, _ := resp["arguments"].(map[string]any)
	state, _ = args["state"].(string)
	unsent, _ = args["unsent-update-count"].(float64)
	return state, unsent
}

func (s *suite) startKeaStandalone(ctx context.Context, dir string, mt bool) (*servers, error) {
	p, sock, err := s.startKea(ctx, filepath.Join(dir, "s1"), 1, filepath.Join(s.opt.keaDir, "kea-dhcp6-standalone.json.in"), mt, "none")
	if err != nil {
		return nil, err
	}
	return &servers{procs: []*proc{p}, roles: []string{"server"}, keaSockets: []string{sock}}, nil
}

// startKeaHA starts the hot-standby pair (HA+MT, as the template has it)
// and waits until both report hot-standby.
func (s *suite) startKeaHA(ctx context.Context, dir string) (*servers, error) {
	tmpl := filepath.Join(s.opt.keaDir, "kea-dhcp6-ha.json.in")
	p1, sock1, err := s.startKea(ctx, filepath.Join(dir, "s1"), 1, tmpl, true, "server1")
	if err != nil {
		return nil, err
	}
	p2, sock2, err := s.startKea(ctx, filepath.Join(dir, "s2"), 2, tmpl, true, "server2")
	if err != nil {
		p1.stop(5 * time.Second)
		return nil, err
	}
	sv := &servers{procs: []*proc{p1, p2}, roles: []string{"primary", "standby"}, keaSockets: []string{sock1, sock2}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st1, _ := keaHA(sock1)
		st2, _ := keaHA(sock2)
		if st1 == "hot-standby" && st2 == "hot-standby" {
			return sv, nil
		}
		if err := sv.alive(); err != nil {
			sv.stop()
			return nil, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			sv.stop()
			return nil, fmt.Errorf("the Kea HA pair is not in hot-standby within 60 s (primary %s, standby %s)", st1, st2)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ------------------------------------------------------------------ echo --

func (s *suite) startEcho(ctx context.Context, dir string) (*servers, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := startProc("echo", s.topo.s1, s.opt.srvCPU, filepath.Join(dir, "echo.log"), s.echo, "--listen", "["+s1Addr+"]:547")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := run(ctx, "ip", "netns", "exec", s.topo.s1, "ss", "-Huln", "sport", "= :547"); err == nil && strings.Contains(out, s1Addr) {
			return &servers{procs: []*proc{p}, roles: []string{"server"}}, nil
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("echo did not come up: %v\n%s", p.err, p.tail(10))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lookTool finds a tool on PATH or in the sbin directories (root's PATH
// may lack them under sudo).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

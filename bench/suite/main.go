// Command suite is `make bench-suite`: tandem against ISC Kea end to end,
// in network namespaces of its own, with tandem bench as the one load
// generator for every server.
//
// Scenarios (--scenarios, in this order by default):
//
//	tandem       tandem serve standalone, journal synced on a real disk
//	kea          kea-dhcp6 standalone, memfile persist=true, single-threaded
//	kea-mt       the same, multi-threaded (thread-pool-size auto)
//	tandem-pair  two tandem serve, failover relationship in NORMAL, load to the primary
//	kea-ha       Kea HA hot-standby pair (HA+MT), load to the primary
//	echo         bench/suite/echo: tandem's socket code answering, nothing else
//
// Each gets fresh servers; then a fixed-rate run (5,000 exchanges/s)
// during which the servers' CPU (user + system, /proc/PID/stat) is read,
// divided by the exchanges completed; then `tandem bench --rate 0`, the
// ramp that finds the highest rate with < 1 % drops. A tandem pair also
// gets a run at half its max clean rate, and the primary's replication lag
// percentiles and the secondary's catching up are read from GET
// /v1/status. Every exchange is relayed (RELAY-FORW from many source
// ports, RFC 8357 relay source port) and asks for an address and a prefix.
//
// The generator is pinned to one core and the servers to another
// (taskset); on a 2-core machine a pair shares its core, and the output
// says so. It prints a table, writes bench/results/suite.json, suite.svg
// (offered vs achieved rate and p99, plot.go) and suite.md, and with
// --readme replaces the README's section between the bench-suite markers.
// It needs root (namespaces), ip, taskset, ss and kea-dhcp6 with its HA
// hooks (make deps installs them). It is not part of make test.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandemdhcp/tandem/bench"
)

type options struct {
	scenarios   []string
	out         string
	readme      string
	stage       time.Duration
	fixedRate   int
	fixedFor    time.Duration
	rampStart   int
	rampSteps   int
	clients     int
	genCPU      string
	srvCPU      string
	dataParent  string
	keaDir      string
	keaHooks    string
	kea         string
	tandemFlags []string
	profile     string
	profileFor  time.Duration
	keep        bool
}

// suite is one run: options, the binaries it built, the topology.
type suite struct {
	opt    options
	root   string // the repository
	rundir string
	tandem string // binary, built into rundir
	echo   string
	topo   *topo
	res    Suite
}

var allScenarios = []string{"tandem", "kea", "kea-mt", "tandem-pair", "kea-ha", "echo"}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	os.Exit(mainErr())
}

func mainErr() int {
	var o options
	scen := flag.String("scenarios", strings.Join(allScenarios, ","), "comma-separated `list` of "+strings.Join(allScenarios, ", "))
	flag.StringVar(&o.out, "out", "bench/results", "results `dir` (suite.json, suite.svg, suite.md), relative to the repository")
	flag.StringVar(&o.readme, "readme", "", "replace the section between <!-- bench-suite:begin --> and <!-- bench-suite:end --> of this `file` with the results")
	flag.DurationVar(&o.stage, "stage", 3*time.Second, "length of each ramp stage")
	flag.IntVar(&o.fixedRate, "fixed-rate", 5000, "rate of the run that measures CPU per exchange")
	flag.DurationVar(&o.fixedFor, "fixed-duration", 8*time.Second, "length of that run")
	flag.IntVar(&o.rampStart, "ramp-start", 2000, "first ramp stage's rate (it doubles while clean, then bisects)")
	flag.IntVar(&o.rampSteps, "ramp-steps", 4, "bisections after the first unclean stage")
	flag.IntVar(&o.clients, "clients", 1000000, "distinct clients (DUIDs) the generator cycles through")
	flag.StringVar(&o.genCPU, "gen-cpu", "0", "taskset -c list for the generator")
	flag.StringVar(&o.srvCPU, "server-cpu", "", "taskset -c list for the server(s) (default: the last core)")
	flag.StringVar(&o.dataParent, "data-parent", "/var/tmp", "where run folders and tandem's data-dirs go (must be a real disk, not tmpfs)")
	flag.StringVar(&o.keaDir, "kea-templates", "../shared/bench/kea", "`dir` of kea-dhcp6-standalone.json.in and kea-dhcp6-ha.json.in, relative to the repository")
	flag.StringVar(&o.keaHooks, "kea-hooks", "/usr/lib/x86_64-linux-gnu/kea/hooks", "Kea hook libraries `dir` (libdhcp_ha.so, libdhcp_lease_cmds.so)")
	tflags := flag.String("tandem-flags", "", "extra `flags` for tandem serve (space-separated, e.g. \"--journal-batch 1024\")")
	flag.StringVar(&o.profile, "profile", "", "also take a CPU profile of tandem (standalone, and the pair's primary) at its max clean rate into this `dir` (serve --pprof)")
	flag.DurationVar(&o.profileFor, "profile-duration", 10*time.Second, "length of each profile")
	flag.BoolVar(&o.keep, "keep", false, "keep the run folder (configs, logs, data-dirs)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./bench/suite [flags]   (as root; make bench-suite)\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	o.scenarios = strings.Split(*scen, ",")
	for _, sc := range o.scenarios {
		if !contains(allScenarios, sc) {
			fmt.Fprintf(os.Stderr, "bench-suite: unknown scenario %q (want some of %s)\n", sc, strings.Join(allScenarios, ", "))
			return 2
		}
	}
	o.tandemFlags = strings.Fields(*tflags)
	if o.srvCPU == "" {
		o.srvCPU = strconv.Itoa(runtime.NumCPU() - 1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s := &suite{opt: o}
	if err := s.preflight(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-suite:", err)
		return 1
	}
	code := 0
	if err := s.runAll(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-suite:", err)
		code = 1
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench-suite: interrupted")
		return 130
	}
	return code
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (s *suite) wants(prefix string) bool {
	for _, sc := range s.opt.scenarios {
		if strings.HasPrefix(sc, prefix) {
			return true
		}
	}
	return false
}

// preflight checks everything the run needs before it changes anything,
// naming what is missing and how to get it.
func (s *suite) preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (it creates network namespaces): sudo make bench-suite")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	s.root = root
	// Each tool and how to get it.
	need := [][2]string{
		{"ip", "Debian package iproute2: run `make deps` as root"},
		{"ss", "Debian package iproute2: run `make deps` as root"},
		{"taskset", "Debian package util-linux: apt-get install util-linux"},
		{"go", "install the Go toolchain of go.mod's version (https://go.dev/dl/)"},
	}
	if s.wants("kea") {
		need = append(need, [2]string{"kea-dhcp6", "Debian package kea-dhcp6-server: run `make deps` as root, or leave Kea out with --scenarios"})
	}
	for _, t := range need {
		p, err := lookTool(t[0])
		if err != nil {
			return fmt.Errorf("%s is missing: %s", t[0], t[1])
		}
		if t[0] == "kea-dhcp6" {
			s.opt.kea = p
		}
	}
	if s.wants("kea") {
		if !filepath.IsAbs(s.opt.keaDir) {
			s.opt.keaDir = filepath.Join(root, s.opt.keaDir)
		}
		for _, f := range []string{"kea-dhcp6-standalone.json.in", "kea-dhcp6-ha.json.in"} {
			if _, err := os.Stat(filepath.Join(s.opt.keaDir, f)); err != nil {
				return fmt.Errorf("the Kea config template is missing: %v (point --kea-templates at ../shared/bench/kea)", err)
			}
		}
	}
	if s.wants("kea-ha") {
		for _, f := range []string{"libdhcp_ha.so", "libdhcp_lease_cmds.so"} {
			if _, err := os.Stat(filepath.Join(s.opt.keaHooks, f)); err != nil {
				return fmt.Errorf("the Kea hook library %s is missing in %s (Debian package kea-common; --kea-hooks DIR)", f, s.opt.keaHooks)
			}
		}
	}
	if runtime.NumCPU() < 2 {
		return errors.New("needs at least 2 cores: the generator and the servers are pinned to different ones")
	}
	if fs := fsType(s.opt.dataParent); fs == "tmpfs" || fs == "ramfs" {
		return fmt.Errorf("--data-parent %s is %s: tandem's journal must be on a real disk, so that its fsync costs what it costs", s.opt.dataParent, fs)
	}
	return nil
}

// repoRoot is the directory of go.mod, from the working directory up.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("run from inside the tandem repository (no go.mod above the working directory)")
		}
		d = parent
	}
}

// fsType is the type of the filesystem holding path (/proc/self/mounts,
// longest mount point that is a prefix of it).
func fsType(path string) string {
	abs, _ := filepath.Abs(path)
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		abs = p
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "?"
	}
	best, typ := "", "?"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, typ = mp, f[2]+" ("+f[0]+")"
			if f[2] == "tmpfs" || f[2] == "ramfs" {
				typ = f[2]
			}
		}
	}
	return typ
}

// runAll builds, sets up, runs every scenario, writes the results and
// tears everything down, whatever happens.
func (s *suite) runAll(ctx context.Context) (err error) {
	s.rundir, err = os.MkdirTemp(s.opt.dataParent, "tandem-bench-suite.")
	if err != nil {
		return err
	}
	defer func() {
		if s.opt.keep {
			logf("run folder kept: %s", s.rundir)
		} else {
			os.RemoveAll(s.rundir)
		}
	}()
	if err := s.build(ctx); err != nil {
		return err
	}
	removeStale(ctx)
	t0 := time.Now()
	s.topo, err = setupTopo(ctx)
	defer func() {
		killAll()
		if s.topo != nil {
			s.topo.teardown()
		}
		logf("teardown done (%s in all)", time.Since(t0).Round(time.Second))
	}()
	if err != nil {
		return err
	}
	s.describe()
	logf("namespaces %s, %s, %s; generator on CPU %s, servers on CPU %s; run folder %s",
		s.topo.gen, s.topo.s1, s.topo.s2, s.opt.genCPU, s.opt.srvCPU, s.rundir)
	failed := 0
	for _, name := range s.opt.scenarios {
		if ctx.Err() != nil {
			break
		}
		sc := s.runScenario(ctx, name)
		if sc.Error != "" {
			failed++
			logf("[%s] FAILED: %s", name, sc.Error)
		}
		s.res.Scenarios = append(s.res.Scenarios, sc)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.res.Compare()
	fmt.Println()
	s.res.WriteTable(os.Stdout)
	if err := s.write(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d scenario(s) failed", failed)
	}
	return nil
}

// build compiles tandem and the echo responder into the run folder: the
// binaries under test cannot change mid-run.
func (s *suite) build(ctx context.Context) error {
	s.tandem = filepath.Join(s.rundir, "bin", "tandem")
	s.echo = filepath.Join(s.rundir, "bin", "echo")
	for _, b := range [][2]string{{s.tandem, "./cmd/tandem"}, {s.echo, "./bench/suite/echo"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir = s.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return nil
}

// describe fills the run's context: machine, commit, method.
func (s *suite) describe() {
	r := &s.res
	r.Date = time.Now().UTC().Format("2006-01-02 15:04 UTC")
	r.Commit = gitDescribe(s.root)
	r.Machine = fmt.Sprintf("%d cores, %s, Linux %s", runtime.NumCPU(), cpuModel(), kernel())
	if s.opt.kea != "" {
		if out, err := exec.Command(s.opt.kea, "-v").Output(); err == nil {
			r.Kea = "kea-dhcp6 " + strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	r.Pinning = fmt.Sprintf("generator on CPU %s, server(s) on CPU %s (taskset)", s.opt.genCPU, s.opt.srvCPU)
	if runtime.NumCPU() == 2 {
		r.Pinning += "; on 2 cores a pair's two servers share one core"
	}
	r.Load = fmt.Sprintf("tandem bench --server [%s]:547 --link %s --ia both --sockets 8 --clients %d, relayed over a veth from its own namespace; ramp: --rate 0 --ramp-start %d --ramp-steps %d --duration %s (< 1 %% drops)",
		s1Addr, linkAddr, s.opt.clients, s.opt.rampStart, s.opt.rampSteps, s.opt.stage)
	r.FixedFor = fmt.Sprintf("%d exchanges/s for %s on fresh servers; server CPU = user+system from /proc/PID/stat before and after, / exchanges completed", s.opt.fixedRate, s.opt.fixedFor)
	r.Journal = fmt.Sprintf("data-dirs under %s on %s; every lease change fsync'd (group commit) before its reply", s.opt.dataParent, fsType(s.opt.dataParent))
	r.Command = "sudo make bench-suite   (go run ./bench/suite --help for the knobs)"
}

func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	c := strings.TrimSpace(string(out))
	if st, _ := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		c += " + uncommitted changes"
	}
	return c
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// scenarioInfo is what a scenario is, for the results.
var scenarioInfo = map[string]struct {
	title, server string
	pair          bool
}{
	"tandem":      {"tandem standalone, synced journal", "tandem", false},
	"kea":         {"Kea standalone, memfile persist, single-threaded", "kea", false},
	"kea-mt":      {"Kea standalone, memfile persist, multi-threaded", "kea", false},
	"tandem-pair": {"tandem pair, replication live", "tandem", true},
	"kea-ha":      {"Kea HA hot-standby pair, memfile persist", "kea", true},
	"echo":        {"echo responder (netio, no engine)", "echo", false},
}

// runScenario starts the scenario's servers and measures them.
func (s *suite) runScenario(ctx context.Context, name string) (sc Scenario) {
	info := scenarioInfo[name]
	sc = Scenario{Name: name, Title: info.title, Server: info.server, Pair: info.pair}
	dir := filepath.Join(s.rundir, name)
	logf("[%s] starting: %s", name, info.title)
	var (
		sv  *servers
		err error
	)
	switch name {
	case "tandem":
		sv, err = s.startTandemStandalone(ctx, dir)
	case "kea":
		sv, err = s.startKeaStandalone(ctx, dir, false)
	case "kea-mt":
		sv, err = s.startKeaStandalone(ctx, dir, true)
	case "tandem-pair":
		sv, err = s.startTandemPair(ctx, dir)
	case "kea-ha":
		sv, err = s.startKeaHA(ctx, dir)
	case "echo":
		sv, err = s.startEcho(ctx, dir)
	}
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	defer sv.stop()
	if info.pair && runtime.NumCPU() == 2 {
		sc.Notes = append(sc.Notes, fmt.Sprintf("both servers of the pair run on CPU %s: on 2 cores they share the one the generator leaves", s.opt.srvCPU))
	}

	// 1. CPU per exchange at a fixed rate, on fresh servers.
	fixed, err := s.fixedRun(ctx, sv, s.opt.fixedRate)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	sc.Fixed = fixed
	logf("[%s] %s/s fixed: %.0f exchanges/s, drops %.2f %%, server CPU %.1f µs/exchange", name, fmtInt(float64(s.opt.fixedRate)), fixed.Achieved, 100*fixed.DropRatio, fixed.CPUus)
	if name == "tandem-pair" {
		sc.Lag = &Lag{}
		sc.Lag.At5000 = s.lagNow(ctx, float64(s.opt.fixedRate))
	}

	// 2. The ramp.
	r, err := s.bench(ctx, 0, s.opt.stage)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	sc.MaxCleanRate = r.MaxCleanRate
	sc.AtMax = point(&r)
	for i := range r.Stages {
		sc.Stages = append(sc.Stages, point(&r.Stages[i]))
	}
	logf("[%s] max clean rate %s/s (p50 %.2f ms, p99 %.2f ms), %d stages", name, fmtInt(sc.MaxCleanRate), sc.AtMax.P50ms, sc.AtMax.P99ms, len(sc.Stages))
	if err := sv.alive(); err != nil {
		sc.Error = err.Error()
		return sc
	}

	// 3. An overloaded fixed run again, below the max clean rate.
	if fixed.DropRatio >= 0.01 && sc.MaxCleanRate > 0 {
		rate := int(0.9 * sc.MaxCleanRate)
		if f, err := s.fixedRun(ctx, sv, rate); err == nil {
			sc.FixedClean = f
			logf("[%s] %s/s fixed: %.0f exchanges/s, drops %.2f %%, server CPU %.1f µs/exchange", name, fmtInt(float64(rate)), f.Achieved, 100*f.DropRatio, f.CPUus)
		}
	}

	// 4. What only some scenarios have.
	switch name {
	case "tandem-pair":
		s.pairAfter(ctx, &sc)
	case "kea-ha":
		st1, u1 := keaHA(sv.keaSockets[0])
		st2, _ := keaHA(sv.keaSockets[1])
		sc.HA = fmt.Sprintf("HA states primary %s, standby %s; primary's unsent lease updates %.0f", st1, st2, u1)
	}
	if s.opt.profile != "" && (name == "tandem" || name == "tandem-pair") && sc.MaxCleanRate > 0 {
		s.takeProfile(ctx, &sc)
	}
	return sc
}

func point(r *bench.Result) Point {
	return Point{
		Offered: r.OfferedRate, Achieved: r.ExchangesPerS, DropRatio: r.DropRatio,
		P50ms: r.P50ms, P99ms: r.P99ms, P999ms: r.P999ms, Clean: r.Clean, GeneratorLimited: r.GeneratorBound,
		GenCPUus: r.CPUusPerExch,
	}
}

// fixedRun offers the fixed rate and reads the servers' CPU around it.
func (s *suite) fixedRun(ctx context.Context, sv *servers, rate int) (*Fixed, error) {
	c0, err := sv.cpu()
	if err != nil {
		return nil, err
	}
	r, err := s.bench(ctx, rate, s.opt.fixedFor)
	if err != nil {
		return nil, err
	}
	c1, err := sv.cpu()
	if err != nil {
		return nil, err
	}
	f := &Fixed{Point: point(&r), Rate: float64(rate), Completed: r.Completed}
	total := 0.0
	for i, p := range sv.procs {
		d := c1[i] - c0[i]
		total += d
		pc := ProcCPU{Name: p.name, CPUs: d}
		if r.Completed > 0 {
			pc.CPUus = d * 1e6 / float64(r.Completed)
		}
		f.Procs = append(f.Procs, pc)
	}
	if r.Completed > 0 {
		f.CPUus = total * 1e6 / float64(r.Completed)
	}
	return f, nil
}

// bench runs tandem bench in the generator's namespace on its core: a
// fixed rate for d, or with rate 0 the ramp with stages of d.
func (s *suite) bench(ctx context.Context, rate int, d time.Duration, extra ...string) (bench.Result, error) {
	args := []string{"netns", "exec", s.topo.gen, "taskset", "-c", s.opt.genCPU, s.tandem, "bench", "--json",
		"--server", "[" + s1Addr + "]:547", "--link", linkAddr, "--ia", "both", "--sockets", "8",
		"--clients", strconv.Itoa(s.opt.clients), "--rate", strconv.Itoa(rate), "--duration", d.String()}
	limit := d + 30*time.Second
	if rate == 0 {
		args = append(args, "--ramp-start", strconv.Itoa(s.opt.rampStart), "--ramp-steps", strconv.Itoa(s.opt.rampSteps))
		limit = 40 * (d + 2*time.Second)
	}
	args = append(args, extra...)
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(cctx, "ip", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return bench.Result{}, fmt.Errorf("tandem bench --rate %d: %v: %s", rate, err, strings.TrimSpace(stderr.String()))
	}
	var r bench.Result
	if err := json.Unmarshal(out, &r); err != nil {
		return bench.Result{}, fmt.Errorf("tandem bench --rate %d: %v", rate, err)
	}
	return r, nil
}

// lagNow reads the primary's replication lag percentiles.
func (s *suite) lagNow(ctx context.Context, rate float64) LagFigures {
	st, err := s.tandemStatus(ctx, s.topo.s1)
	if err != nil || len(st.Relationships) == 0 {
		return LagFigures{Rate: rate}
	}
	r := st.Relationships[0]
	return LagFigures{Rate: rate, P50ms: r.LagP50MS, P99ms: r.LagP99MS, Samples: r.LagSamples}
}

// waitCaughtUp polls the primary until it has nothing unacked; it returns
// how long that took, or false at the timeout.
func (s *suite) waitCaughtUp(ctx context.Context, timeout time.Duration) (time.Duration, int, bool) {
	t0 := time.Now()
	unacked := -1
	for time.Since(t0) < timeout && ctx.Err() == nil {
		if st, err := s.tandemStatus(ctx, s.topo.s1); err == nil && len(st.Relationships) > 0 {
			unacked = st.Relationships[0].Unacked
			if unacked == 0 {
				return time.Since(t0), 0, true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(t0), unacked, false
}

// pairAfter measures the pair's replication at half its max clean rate
// and checks that the secondary caught up.
func (s *suite) pairAfter(ctx context.Context, sc *Scenario) {
	l := sc.Lag
	s.waitCaughtUp(ctx, 30*time.Second) // the ramp's last, overloaded stage
	half := int(sc.MaxCleanRate / 2)
	if half > 0 {
		if _, err := s.bench(ctx, half, s.opt.stage); err != nil {
			sc.Notes = append(sc.Notes, "half-max run: "+err.Error())
		}
		l.AtHalfMax = s.lagNow(ctx, float64(half))
	}
	took, unacked, ok := s.waitCaughtUp(ctx, 30*time.Second)
	l.CaughtUp, l.CaughtUpMs, l.Unacked = ok, float64(took.Microseconds())/1000, unacked
	if p, err := s.tandemStatus(ctx, s.topo.s1); err == nil {
		l.PrimaryNA, l.PrimaryPD = p.Leases.NAActive, p.Leases.PDActive
		if len(p.Relationships) > 0 {
			l.State = p.Relationships[0].State
		}
	}
	if q, err := s.tandemStatus(ctx, s.topo.s2); err == nil {
		l.SecondaryNA, l.SecondaryPD = q.Leases.NAActive, q.Leases.PDActive
	}
	logf("[%s] lag p50/p99 %.2f/%.2f ms at %s/s, %.2f/%.2f ms at %s/s; caught up %v in %.0f ms; leases primary %d+%d, secondary %d+%d",
		sc.Name, l.At5000.P50ms, l.At5000.P99ms, fmtInt(l.At5000.Rate), l.AtHalfMax.P50ms, l.AtHalfMax.P99ms, fmtInt(l.AtHalfMax.Rate),
		l.CaughtUp, l.CaughtUpMs, l.PrimaryNA, l.PrimaryPD, l.SecondaryNA, l.SecondaryPD)
}

// takeProfile runs the load at the max clean rate while tandem serve's
// pprof endpoint records a CPU profile, and saves the profile and its top
// functions in the profile directory.
func (s *suite) takeProfile(ctx context.Context, sc *Scenario) {
	dir := s.opt.profile
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		sc.Notes = append(sc.Notes, "profile: "+err.Error())
		return
	}
	s.waitCaughtUp(ctx, 30*time.Second)
	file := filepath.Join(dir, sc.Name+".pprof")
	secs := int(s.opt.profileFor.Seconds())
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", tandemPprof, secs)
	prof := exec.CommandContext(ctx, "ip", "netns", "exec", s.topo.s1, "curl", "-sf", "-o", file, url)
	if err := prof.Start(); err != nil {
		sc.Notes = append(sc.Notes, "profile: "+err.Error())
		return
	}
	r, err := s.bench(ctx, int(sc.MaxCleanRate), s.opt.profileFor+time.Second)
	perr := prof.Wait()
	if err != nil || perr != nil {
		sc.Notes = append(sc.Notes, fmt.Sprintf("profile: bench %v, curl %v", err, perr))
		return
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=30", s.tandem, file).CombinedOutput()
	if err != nil {
		sc.Notes = append(sc.Notes, fmt.Sprintf("profile: go tool pprof: %v", err))
		return
	}
	_ = os.WriteFile(filepath.Join(dir, sc.Name+".top.txt"), top, 0o644)
	logf("[%s] CPU profile at %s/s (%.0f done/s) in %s", sc.Name, fmtInt(sc.MaxCleanRate), r.ExchangesPerS, file)
}

// write saves the JSON, the SVG and the Markdown table, and updates the
// README section when asked.
func (s *suite) write() error {
	out := s.opt.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(s.root, out)
	}
	if err := s.res.WriteJSON(filepath.Join(out, "suite.json")); err != nil {
		return err
	}
	var svg, md strings.Builder
	if err := s.res.WriteSVG(&svg); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "suite.svg"), []byte(svg.String())); err != nil {
		return err
	}
	s.res.WriteMarkdown(&md)
	if err := writeFile(filepath.Join(out, "suite.md"), []byte(md.String())); err != nil {
		return err
	}
	logf("results: %s/suite.{json,svg,md}", out)
	if s.opt.readme != "" {
		p := s.opt.readme
		if !filepath.IsAbs(p) {
			p = filepath.Join(s.root, p)
		}
		if err := replaceSection(p, md.String()); err != nil {
			return err
		}
		logf("updated the bench-suite section of %s", p)
	}
	return nil
}

const (
	readmeBegin = "<!-- bench-suite:begin -->"
	readmeEnd   = "<!-- bench-suite:end -->"
)

// replaceSection puts body between the markers in the file at path.
func replaceSection(path, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	t := string(b)
	i, j := strings.Index(t, readmeBegin), strings.Index(t, readmeEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s section to replace", path, readmeBegin, readmeEnd)
	}
	t = t[:i+len(readmeBegin)] + "\n" + body + t[j:]
	return writeFile(path, []byte(t))
}

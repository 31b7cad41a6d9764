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
	flag.StringVar(&o.profile, "profile", "", "also take CPU profiles of tandem (standalone, the pair's primary) into this `dir` (serve --pprof): at the fixed rate after the measured run, and at the max clean rate after the ramp")
	flag.DurationVar(&o.profileFor, "profile-duration", 10*time.Second, "length of each profile")
	flag.BoolVar(&o.keep, "keep", false, "keep the run folder (configs, logs, data-dirs)")
	fromJSON := flag.String("from-json", "", "run nothing: render the table, suite.svg, suite.md (and --readme) again from this suite.json `file`")
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

	if *fromJSON != "" {
		if err := rerender(&o, *fromJSON); err != nil {
			fmt.Fprintln(os.Stderr, "bench-suite:", err)
			return 1
		}
		return 0
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

// rerender writes the results of an earlier run again, from its JSON: a
// change to the writers needs no new run.
func rerender(o *options, path string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := &suite{opt: *o, root: root}
	if err := json.Unmarshal(b, &s.res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s.res.Compare()
	s.res.WriteTable(os.Stdout)
	return s.write()
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

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The topology: three network namespaces of this run, named with a prefix
// and the suite's PID so that two runs never share one, joined at layer 2
// by a bridge in the generator's namespace:
//
//	netns PREFIX<pid>-gen                      netns PREFIX<pid>-s1
//	tandem bench (relay, many ports)           server / primary
//	2001:db8:77::100 on bridge tbsbr0          tbsv1 2001:db8:77::1
//	  tbsbr0 ── tbsp1 ═══════ veth ═══════════ tbsv1
//	         └─ tbsp2 ═══════ veth ═══════════ tbsv2
//	                                           netns PREFIX<pid>-s2
//	                                           secondary / standby
//	                                           tbsv2 2001:db8:77::2
//
// The generator relays: RELAY-FORWs from 2001:db8:77::100 (8 source ports)
// to the server's address, claiming link-address 2001:db8:1::1 (the
// subnet). A pair's partner link (tandem's TCP 647, Kea HA's HTTP 8001)
// runs between ::1 and ::2 over the same veths. Nothing is created outside
// these namespaces: each veth is made with its ends already in place.
// teardown deletes them, killing whatever still runs inside.

const (
	nsPrefix = "tbsuite"
	genAddr  = "2001:db8:77::100"
	s1Addr   = "2001:db8:77::1"
	s2Addr   = "2001:db8:77::2"
	linkAddr = "2001:db8:1::1" // the relay's link-address: the subnet 2001:db8:1::/64
	bridge   = "tbsbr0"
)

type topo struct {
	gen, s1, s2 string // namespace names
}

// run runs a short command and returns its output; the error carries the
// output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// removeStale deletes namespaces an earlier run of the suite left behind
// (killed before its teardown): ours by prefix, and only those whose PID
// is no longer alive.
func removeStale(ctx context.Context) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], nsPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		logf("removing namespace %s left by an earlier run (pid %d)", f[0], pid)
		deleteNS(f[0])
	}
}

// deleteNS kills what runs in ns (only what the suite started can be
// there) and deletes it.
func deleteNS(ns string) {
	ctx := context.Background()
	if out, err := run(ctx, "ip", "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for i := 0; i < 20; i++ {
		if _, err := run(ctx, "ip", "netns", "del", ns); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("teardown: could not delete namespace %s", ns)
}

// setup creates the namespaces, the bridge and the veths.
func setupTopo(ctx context.Context) (*topo, error) {
	id := fmt.Sprintf("%s%d-", nsPrefix, os.Getpid())
	t := &topo{gen: id + "gen", s1: id + "s1", s2: id + "s2"}
	steps := [][]string{}
	for _, ns := range []string{t.gen, t.s1, t.s2} {
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			sysctl(ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
				"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"))
	}
	steps = append(steps,
		[]string{"ip", "-n", t.gen, "link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		[]string{"ip", "link", "add", "tbsp1", "netns", t.gen, "type", "veth", "peer", "name", "tbsv1", "netns", t.s1},
		[]string{"ip", "link", "add", "tbsp2", "netns", t.gen, "type", "veth", "peer", "name", "tbsv2", "netns", t.s2},
		[]string{"ip", "-n", t.gen, "link", "set", "tbsp1", "master", bridge},
		[]string{"ip", "-n", t.gen, "link", "set", "tbsp2", "master", bridge},
		sysctl(t.gen, "net.ipv6.conf.tbsp1.disable_ipv6=1", "net.ipv6.conf.tbsp2.disable_ipv6=1"),
		[]string{"ip", "-n", t.gen, "link", "set", "tbsp1", "up"},
		[]string{"ip", "-n", t.gen, "link", "set", "tbsp2", "up"},
		[]string{"ip", "-n", t.gen, "link", "set", bridge, "up"},
		[]string{"ip", "-n", t.gen, "-6", "addr", "add", genAddr + "/64", "dev", bridge, "nodad"},
		[]string{"ip", "-n", t.s1, "-6", "addr", "add", s1Addr + "/64", "dev", "tbsv1", "nodad"},
		[]string{"ip", "-n", t.s2, "-6", "addr", "add", s2Addr + "/64", "dev", "tbsv2", "nodad"},
		[]string{"ip", "-n", t.s1, "link", "set", "tbsv1", "up"},
		[]string{"ip", "-n", t.s2, "link", "set", "tbsv2", "up"},
	)
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return t, err
		}
	}
	// Up when every end has its link-local address (neighbour discovery
	// sends from it) and none is tentative.
	deadline := time.Now().Add(10 * time.Second)
	for _, x := range [][2]string{{t.gen, bridge}, {t.s1, "tbsv1"}, {t.s2, "tbsv2"}} {
		for {
			out, err := run(ctx, "ip", "-n", x[0], "-6", "addr", "show", "dev", x[1])
			if err == nil && strings.Contains(out, "inet6 fe80") && !strings.Contains(out, "tentative") {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return t, fmt.Errorf("topology: %s in %s has no usable link-local address: %s", x[1], x[0], out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return t, nil
}

// sysctl is a command that sets key=value settings inside ns through /proc
// (no procps needed: /proc/sys/net belongs to the writer's namespace).
func sysctl(ns string, settings ...string) []string {
	var script strings.Builder
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&script, "echo %s > /proc/sys/%s && ", v, strings.ReplaceAll(k, ".", "/"))
	}
	script.WriteString("true")
	return []string{"ip", "netns", "exec", ns, "/bin/sh", "-c", script.String()}
}

func (t *topo) teardown() {
	for _, ns := range []string{t.gen, t.s1, t.s2} {
		deleteNS(ns)
	}
}

// proc is a server process the suite started in a namespace, pinned with
// taskset. ip netns exec, taskset and env exec in place, so the PID is the
// server's own and /proc/PID/stat is its CPU.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// procs is every process the suite has running, for teardown on a signal.
var procs struct {
	sync.Mutex
	live map[*proc]bool
}

// startProc starts argv in ns on cpus (taskset -c), output to logPath.
func startProc(name, ns, cpus, logPath string, argv ...string) (*proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	args := append([]string{"netns", "exec", ns, "taskset", "-c", cpus}, argv...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// Should the suite die without its teardown, the kernel kills the
	// servers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	procs.Lock()
	if procs.live == nil {
		procs.live = map[*proc]bool{}
	}
	procs.live[p] = true
	procs.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	procs.Lock()
	delete(procs.live, p)
	procs.Unlock()
}

// killAll kills every process still running (on a signal, before the
// namespaces go).
func killAll() {
	procs.Lock()
	defer procs.Unlock()
	for p := range procs.live {
		_ = p.cmd.Process.Kill()
	}
}

// tail is the last n lines of the process's log, for error messages.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's utime and stime: 100
// on every Linux architecture Go supports (the kernel fixes it for the
// ABI, whatever its internal HZ).
const clockTick = 100

// cpuSeconds is the process's user + system CPU time so far, all threads.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from after
	// its closing parenthesis: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("/proc stat: short")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("/proc stat: bad utime/stime")
	}
	return float64(ut+st) / clockTick, nil
}

// Others' CPU. The machine may be shared, and a benchmark that ran beside
// someone's compile says less than it seems to; so each scenario reports
// how much CPU others used while it ran: the machine's user+system time
// (/proc/stat) less the suite's own and its children's (getrusage: every
// server, generator and helper it started, once reaped) and less kernel
// threads' (they work for everyone, the suite's fsyncs included).

// cpuMark is the three totals at one moment, in CPU seconds.
type cpuMark struct{ busy, ours, kthreads float64 }

func markCPU() cpuMark {
	var m cpuMark
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i <= 3 && i < len(f); i++ {
			v, _ := strconv.ParseUint(f[i], 10, 64)
			m.busy += float64(v) / clockTick
		}
	}
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			m.ours += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		const pfKthread = 0x00200000
		if flags, _ := strconv.ParseUint(f[6], 10, 64); flags&pfKthread == 0 {
			continue
		}
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		m.kthreads += float64(ut+st) / clockTick
	}
	return m
}

// othersSince is the CPU others used from m0 to m: never below 0 (the
// sources tick at different moments).
func (m cpuMark) othersSince(m0 cpuMark) float64 {
	return max(0, (m.busy-m0.busy)-(m.ours-m0.ours)-(m.kthreads-m0.kthreads))
}

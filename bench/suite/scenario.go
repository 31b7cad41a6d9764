package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemdhcp/tandem/bench"
)

// One scenario's measurements: start its servers, the fixed-rate run
// with their CPU read around it, the ramp, and what only a pair has.

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
	// Deferred first, so run last: the servers have been stopped and
	// reaped, and their CPU is the suite's children's.
	mark0, t0 := markCPU(), time.Now()
	defer func() {
		sc.OtherCPUs = markCPU().othersSince(mark0)
		if el := time.Since(t0).Seconds(); sc.OtherCPUs > 0.05*el {
			sc.Notes = append(sc.Notes, fmt.Sprintf("other processes on the machine used %.1f CPU-seconds during this scenario's %.0f s (%.0f %% of a core): its figures may be low",
				sc.OtherCPUs, el, 100*sc.OtherCPUs/el))
			logf("[%s] warning: %s", name, sc.Notes[len(sc.Notes)-1])
		}
	}()
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
	var lp *lagPoller
	if name == "tandem-pair" {
		lp = s.pollLag(ctx)
		defer lp.halt() // on an error return
	}
	fixed, err := s.fixedRun(ctx, sv, s.opt.fixedRate)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	sc.Fixed = fixed
	logf("[%s] %s/s fixed: %.0f exchanges/s, drops %.2f %%, server CPU %.1f µs/exchange", name, fmtInt(float64(s.opt.fixedRate)), fixed.Achieved, 100*fixed.DropRatio, fixed.CPUus)
	if lp != nil {
		sc.Lag = &Lag{At5000: lp.finish(ctx, s, float64(s.opt.fixedRate))}
	}
	if s.opt.profile != "" && sc.Server == "tandem" {
		// Profiled apart from the measured run, so that the profiler's
		// cost stays out of the CPU figure.
		s.profile(ctx, &sc, "fixed", s.opt.fixedRate)
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
	// Above the max, a stage the generator could not keep on schedule
	// while the server dropped nothing says where the limit lies.
	for _, p := range sc.Stages {
		if p.Offered > sc.MaxCleanRate && p.GeneratorLimited && p.DropRatio < 0.01 {
			sc.Notes = append(sc.Notes, fmt.Sprintf("at %s/s offered the generator fell behind (%s/s done) with %.1f %% drops: this max is the generator's ceiling on its core, not the server's",
				fmtInt(p.Offered), fmtInt(p.Achieved), 100*p.DropRatio))
			break
		}
	}
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
	if s.opt.profile != "" && sc.Server == "tandem" && sc.MaxCleanRate > 0 {
		s.waitCaughtUp(ctx, 30*time.Second)
		s.profile(ctx, &sc, "max", int(sc.MaxCleanRate))
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

// lagPoll is how often the primary's lag percentiles are read during a
// run. They cover its last 8,192 acked BNDUPDs — at 8,000 exchanges/s
// (16,000 lease changes) only the last half second — so one read at the
// end says little about the run; reads every half second cover it.
const (
	lagPoll      = 500 * time.Millisecond
	lagPollAfter = time.Second // earlier windows hold acks from before the run
)

// lagPoller reads the primary's lag percentiles while a run goes on.
type lagPoller struct {
	stop, done chan struct{}
	once       sync.Once
	p50s, p99s []float64
}

// halt stops the polling; it may be called more than once.
func (lp *lagPoller) halt() {
	lp.once.Do(func() { close(lp.stop) })
	<-lp.done
}

func (s *suite) pollLag(ctx context.Context) *lagPoller {
	lp := &lagPoller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		t := time.NewTimer(lagPollAfter)
		defer t.Stop()
		for {
			select {
			case <-lp.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if st, err := s.tandemStatus(ctx, s.topo.s1); err == nil && len(st.Relationships) > 0 && st.Relationships[0].LagSamples > 0 {
				r := st.Relationships[0]
				lp.p50s, lp.p99s = append(lp.p50s, r.LagP50MS), append(lp.p99s, r.LagP99MS)
			}
			t.Reset(lagPoll)
		}
	}()
	return lp
}

// finish stops the polling and returns the run's figures: the final read,
// and the median and worst of the reads during the run.
func (lp *lagPoller) finish(ctx context.Context, s *suite, rate float64) LagFigures {
	lp.halt()
	f := LagFigures{Rate: rate, Windows: len(lp.p99s)}
	if st, err := s.tandemStatus(ctx, s.topo.s1); err == nil && len(st.Relationships) > 0 {
		r := st.Relationships[0]
		f.P50ms, f.P99ms, f.Samples = r.LagP50MS, r.LagP99MS, r.LagSamples
	}
	if len(lp.p99s) > 0 {
		f.P50Median, f.P99Median = median(lp.p50s), median(lp.p99s)
		f.P99Max = slices.Max(lp.p99s)
	}
	return f
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
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
		lp := s.pollLag(ctx)
		defer lp.halt()
		if _, err := s.bench(ctx, half, s.opt.fixedFor); err != nil {
			sc.Notes = append(sc.Notes, "half-max run: "+err.Error())
		}
		l.AtHalfMax = lp.finish(ctx, s, float64(half))
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
	logf("[%s] lag at %s/s: %s; at %s/s: %s; caught up %v in %.0f ms; leases primary %d+%d, secondary %d+%d",
		sc.Name, fmtInt(l.At5000.Rate), l.At5000.String(), fmtInt(l.AtHalfMax.Rate), l.AtHalfMax.String(),
		l.CaughtUp, l.CaughtUpMs, l.PrimaryNA, l.PrimaryPD, l.SecondaryNA, l.SecondaryPD)
}

// profile runs the load at rate for --profile-duration while tandem
// serve's pprof endpoint (in the namespace of the server the load goes to)
// records a CPU profile; it saves the profile as SCENARIO-TAG.pprof and
// its top functions as SCENARIO-TAG.top.txt in the profile directory.
func (s *suite) profile(ctx context.Context, sc *Scenario, tag string, rate int) {
	dir := s.opt.profile
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		sc.Notes = append(sc.Notes, "profile: "+err.Error())
		return
	}
	base := filepath.Join(dir, sc.Name+"-"+tag)
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", tandemPprof, int(s.opt.profileFor.Seconds()))
	prof := exec.CommandContext(ctx, "ip", "netns", "exec", s.topo.s1, "curl", "-sf", "-o", base+".pprof", url)
	if err := prof.Start(); err != nil {
		sc.Notes = append(sc.Notes, "profile: "+err.Error())
		return
	}
	r, err := s.bench(ctx, rate, s.opt.profileFor+time.Second)
	perr := prof.Wait()
	if err != nil || perr != nil {
		sc.Notes = append(sc.Notes, fmt.Sprintf("profile: bench %v, curl %v", err, perr))
		return
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", s.tandem, base+".pprof").CombinedOutput()
	if err != nil {
		sc.Notes = append(sc.Notes, fmt.Sprintf("profile: go tool pprof: %v", err))
		return
	}
	_ = os.WriteFile(base+".top.txt", top, 0o644)
	logf("[%s] CPU profile at %s/s (%.0f done/s): %s.pprof", sc.Name, fmtInt(float64(rate)), r.ExchangesPerS, base)
}

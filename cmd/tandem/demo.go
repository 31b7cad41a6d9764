package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemdhcp/tandem/bench"
)

const demoUsage = `NAME
    tandem demo — a failover pair on loopback, a crash, a takeover, a recovery

SYNOPSIS
    tandem demo [--clients N] [--rate N] [--load D] [--auto-partner-down D] [--keep]

DESCRIPTION
    Needs no root and no config. Starts two real "tandem serve" processes
    (this binary) as the primary and the secondary of failover relationship
    "demo", with generated configs and data-dirs in a temporary directory
    and free ports on loopback: DHCPv6 on [::1], the failover link on
    [::1], the control APIs on 127.0.0.1. The built-in load generator
    (tandem bench) plays a relay with --clients clients, each asking for an
    address and a delegated prefix, and forwards every message to both
    servers, as a relay configured with a failover pair's two addresses
    does. Then it tells the story, checking each step:

    1. The pair reaches NORMAL; --load of relayed load at --rate
       exchanges/s (half allocations, half RENEWs) binds the clients, all
       answered by the primary. The live display shows each server's state,
       replies/s, active leases, unacked BNDUPDs and replication lag.
    2. Once the secondary has acknowledged every lease change, the primary
       is killed (SIGKILL: a crash, no DISCONNECT).
    3. The clients RENEW (the dead primary does not answer; the secondary
       ignores RENEWs that name another server, RFC 8415 §16.6), while the
       secondary, after --auto-partner-down in COMMUNICATIONS-INTERRUPTED,
       moves to PARTNER-DOWN by itself (config auto-partner-down; no
       "tandem ctl partner-down" is involved). At least 6 s: RFC 8156
       counts times within 5 s as equal, and a PARTNER-DOWN that began
       within 5 s of the primary's last operation would bring the primary
       back through POTENTIAL-CONFLICT, not RECOVER.
    4. The clients REBIND. The secondary answers every one of them, and
       the demo compares what each client holds now with what it held
       from the primary: the same address and the same prefix, for N of N.
    5. The primary is started again on its data-dir. It finds the
       secondary in PARTNER-DOWN, goes through RECOVER (learning what the
       secondary did alone), RECOVER-WAIT (until one MCLT, 30 s, the
       shortest the config allows, after it last recorded operating) and
       RECOVER-DONE to NORMAL, while the secondary keeps serving the
       relay's load. Back in NORMAL, the primary answers new clients again.

    It ends with a summary: leases granted, clients that kept address and
    prefix, time to takeover, RECOVER→NORMAL, replication lag. The whole
    demo takes about 35 s (under a minute).

    On a terminal the live display is one line redrawn in place; otherwise
    it is a plain line every 2 s. The child servers are killed, and the
    temporary directory removed, on every exit: success, failure, Ctrl-C
    (--keep leaves the directory, with both journals and logs, for
    "tandem journal history" and friends).

EXIT STATUS
    0 when every step happened as told, 1 when one did not (a client lost
    its address or prefix, no takeover, no recovery), 2 for bad flags, 130
    when interrupted.

FLAGS
`

// demoRebindTries is how many times a client sends its REBIND before the
// demo counts it as lost.
const demoRebindTries = 4

// demoTimeout is how long a simulated client waits for an answer.
const demoTimeout = 2 * time.Second

// demoMinAPD is the shortest auto-partner-down that still brings the
// restarted primary through RECOVER: the secondary's PARTNER-DOWN must
// start more than RFC 8156's 5 s of slack after the primary's last
// operation (§8.3.2 step 5; engine timeSlack), the engine's clock counts
// whole seconds, and the timer runs from the partner's last message, which
// may precede the kill by a keepalive: 8 s leaves a margin.
const demoMinAPD = 8 * time.Second

// demoOpts are the demo's knobs.
type demoOpts struct {
	clients int
	rate    int
	load    time.Duration
	apd     time.Duration
	keep    bool
}

func demoMain(args []string) int {
	var o demoOpts
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, demoUsage); fs.PrintDefaults() }
	fs.IntVar(&o.clients, "clients", 3000, "simulated clients behind the relay (each asks for an address and a prefix)")
	fs.IntVar(&o.rate, "rate", 1000, "exchanges/s of the load stage")
	fs.DurationVar(&o.load, "load", 6*time.Second, "length of the load stage before the crash")
	fs.DurationVar(&o.apd, "auto-partner-down", demoMinAPD, "how long the secondary stays in COMMUNICATIONS-INTERRUPTED before PARTNER-DOWN (at least 8s)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, journals, logs)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || o.clients <= 0 || o.rate <= 0 || o.load <= 0 || o.apd < demoMinAPD {
		fmt.Fprintln(os.Stderr, "tandem demo: want no arguments, positive --clients, --rate and --load, --auto-partner-down ≥ 8s")
		return 2
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem demo:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "tandem-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem demo:", err)
		return 1
	}
	prim, sec, err := newDemoPair(bin, dir, o.apd)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "tandem demo:", err)
		return 1
	}

	// Cleanup runs once, on whichever comes first: the end of the story or
	// a signal.
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			prim.kill()
			sec.kill()
			if o.keep {
				fmt.Printf("kept %s (configs, data-dirs with the journals, logs)\n", dir)
			} else {
				os.RemoveAll(dir)
			}
		})
	}
	defer cleanup()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			cancel()
			cleanup()
			fmt.Fprintln(os.Stderr, "\ntandem demo: interrupted; servers stopped, temporary directory removed")
			os.Exit(130)
		}
	}()

	t0 := time.Now()
	p := newProgress(os.Stdout, t0, prim, sec)
	d := &demo{o: o, p: p, prim: prim, sec: sec, dir: dir, t0: t0}
	err = d.story(ctx)
	p.close()
	d.summary(err)
	if err != nil {
		return 1
	}
	return 0
}

// demo is one run of the story and what it measured.
type demo struct {
	o         demoOpts
	p         *progress
	prim, sec *demoServer
	dir       string
	t0        time.Time

	primDUID, secDUID string // hex, no colons
	load              bench.Result
	granted           []bench.Binding
	drain             time.Duration
	lagP50, lagP99    float64
	lagN              int
	killedAt          time.Time
	ci, pd            transition
	renew, rebind     bench.Result
	retransmitted     int // REBINDs sent again
	kept              bench.Continuity
	restartAt         time.Time
	recovery          []transition
	secLagP50         float64
	secLagP99         float64
	secLagN           int
	final             bench.Result
	finalReplies      uint64
	agree             string
}

func (d *demo) story(ctx context.Context) error {
	p, o := d.p, d.o
	fmt.Printf("tandem demo: a failover pair on loopback (files in %s)\n", d.dir)
	fmt.Printf("  primary    DHCPv6 %s  control http://%s\n", d.prim.dhcp, d.prim.control)
	fmt.Printf("  secondary  DHCPv6 %s  control http://%s\n", d.sec.dhcp, d.sec.control)
	fmt.Printf("  relay      %d clients (address + prefix each), link 2001:db8:1::1, forwarding to both servers\n", o.clients)
	fmt.Printf("  live line  per server: endpoint state, replies/s, active leases (addresses+prefixes), unacked BNDUPDs, replication lag\n\n")

	// 1. The pair, and load.
	if err := d.sec.start(ctx); err != nil {
		return err
	}
	if err := d.prim.start(ctx); err != nil {
		return err
	}
	p.start()
	if err := d.waitStates(ctx, "normal", "normal", 20*time.Second); err != nil {
		return err
	}
	ps, _ := d.prim.status()
	ss, _ := d.sec.status()
	d.primDUID, d.secDUID = hexDUID(ps.Server.DUID), hexDUID(ss.Server.DUID)
	p.say("pair in NORMAL: primary %s, secondary %s (MCLT 30s, auto-partner-down %v)", ps.Server.DUID, ss.Server.DUID, o.apd)

	c := bench.DefaultConfig()
	c.Server, c.Also = d.prim.dhcp, []netip.AddrPort{d.sec.dhcp}
	c.Clients, c.Sockets, c.IA = o.clients, 4, "both"
	// Real clients wait 1 s before their first retransmission of a
	// SOLICIT or RENEW and 10 s for a REBIND (RFC 8415 §7.6); 2 s is
	// patient enough on a busy machine and costs nothing while every
	// answer comes (a stage ends when its last exchange does).
	c.Timeout = demoTimeout
	sweepRate := max(o.rate, 3000)
	gen, err := bench.Open(c, sweepRate)
	if err != nil {
		return err
	}
	defer gen.Close()
	mix := bench.Mix{bench.Solicit: 50, bench.Renew: 50}
	p.say("load: %d exchanges/s for %v (SOLICIT/ADVERTISE/REQUEST/REPLY and RENEW/REPLY, half each)", o.rate, o.load)
	if d.load, err = gen.Stage(o.rate, o.load, mix); err != nil {
		return err
	}
	d.granted = gen.Bindings()
	p.say("load done: %d exchanges completed (%.0f/s), drops %.2f %%, latency p50 %.2f ms p99 %.2f ms; %d clients hold an address and a prefix",
		d.load.Completed, d.load.ExchangesPerS, 100*d.load.DropRatio, d.load.P50ms, d.load.P99ms, len(d.granted))
	if len(d.granted) == 0 {
		return fmt.Errorf("%w: no client got a lease", errStory)
	}
	for _, b := range d.granted {
		if fmt.Sprintf("%x", b.Server) != d.primDUID {
			return fmt.Errorf("%w: client %d was answered by %x, not the primary", errStory, b.Client, b.Server)
		}
	}

	// 2. Replication settles; the crash.
	t := time.Now()
	for {
		st, err := d.prim.status()
		if err == nil && relOf(st).Unacked == 0 && relOf(st).State == "normal" {
			r := relOf(st)
			d.drain, d.lagP50, d.lagP99, d.lagN = time.Since(t), r.LagP50MS, r.LagP99MS, r.LagSamples
			break
		}
		if time.Since(t) > 10*time.Second {
			return fmt.Errorf("%w: the primary still has unacked BNDUPDs 10s after the load", errStory)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ss, _ = d.sec.status()
	ps, _ = d.prim.status()
	p.say("replication: every lease change acknowledged by the secondary %v after the load stopped; lag (commit → BNDREPLY) p50 %.2f ms, p99 %.2f ms over %d BNDUPDs; leases primary %d+%d, secondary %d+%d",
		d.drain.Round(time.Millisecond), d.lagP50, d.lagP99, d.lagN, ps.Leases.NAActive, ps.Leases.PDActive, ss.Leases.NAActive, ss.Leases.PDActive)
	pid := d.prim.pid()
	d.killedAt = time.Now()
	d.prim.kill()
	p.say("primary killed (SIGKILL to pid %d): no DISCONNECT, no flush", pid)

	// 3. RENEWs go unanswered; the secondary takes over by itself.
	if d.renew, err = gen.Sweep(bench.Renew, sweepRate, bench.Clients(d.granted)); err != nil {
		return err
	}
	p.say("RENEW: %d of %d clients answered (the primary is gone; the secondary ignores RENEWs naming the primary)",
		d.renew.Completed, d.renew.Started)
	if d.ci, err = d.sec.waitEnter(ctx, "communications-interrupted", d.killedAt.Add(-time.Second), 10*time.Second); err != nil {
		return fmt.Errorf("%w: %v", errStory, err)
	}
	if d.pd, err = d.sec.waitEnter(ctx, "partner-down", d.killedAt, 10*time.Second+o.apd); err != nil {
		return fmt.Errorf("%w: %v", errStory, err)
	}
	p.say("secondary: normal → communications-interrupted %s after the kill, → partner-down %s after it (auto-partner-down %v)",
		fmtSince(d.ci.at, d.killedAt), fmtSince(d.pd.at, d.killedAt), o.apd)

	// 4. REBIND: every client keeps what it had. A client whose REBIND
	// goes unanswered sends it again, as a real one does (RFC 8415
	// §18.2.5, §15): a busy machine may hold one reply past the
	// generator's timeout.
	list := bench.Clients(d.granted)
	var answered uint64
	for try := 1; ; try++ {
		r, err := gen.Sweep(bench.Rebind, sweepRate, list)
		if err != nil {
			return err
		}
		answered += r.Completed
		if try == 1 {
			d.rebind = r
		} else {
			d.retransmitted += len(list)
		}
		d.kept = bench.Compare(d.granted, gen.Bindings())
		if len(d.kept.Missing) == 0 || try == demoRebindTries {
			break
		}
		list = list[:0]
		for _, ch := range d.kept.Missing {
			list = append(list, ch.Before.Client)
		}
	}
	keptSec := d.kept.KeptFrom[d.secDUID]
	p.say("REBIND: %d of %d clients answered by the secondary (%d REBINDs sent again after a %v timeout; first try p50 %.2f ms, p99 %.2f ms); %d of %d clients kept their address and prefix",
		answered, len(d.granted), d.retransmitted, demoTimeout, d.rebind.P50ms, d.rebind.P99ms, keptSec, d.kept.Clients)
	if keptSec != d.kept.Clients {
		for i, ch := range append(d.kept.Changed, d.kept.Missing...) {
			if i == 5 {
				p.say("  … and %d more", len(d.kept.Changed)+len(d.kept.Missing)-5)
				break
			}
			p.say("  lost: %s", ch)
		}
		return fmt.Errorf("%w: %d of %d clients kept their address and prefix at the secondary", errStory, keptSec, d.kept.Clients)
	}

	// 5. The primary comes back.
	d.restartAt = time.Now()
	if err := d.prim.start(ctx); err != nil {
		return err
	}
	p.say("primary restarted on its data-dir; the secondary keeps serving the relay meanwhile (%d exchanges/s)", o.rate/2)
	deadline := d.restartAt.Add(45 * time.Second)
	seen := 0
	for {
		ts := d.prim.transitions()
		d.recovery = d.recovery[:0]
		for _, x := range ts {
			if x.start >= 2 {
				d.recovery = append(d.recovery, x)
			}
		}
		for ; seen < len(d.recovery); seen++ {
			x := d.recovery[seen]
			from := x.from
			if seen == 0 {
				from = "(restart; recorded state " + x.from + ")"
			}
			p.say("primary: %s → %s %s after the restart (secondary %s)", from, x.to, fmtSince(x.at, d.restartAt), x.partner)
		}
		if st, err := d.sec.status(); err == nil && relOf(st).State == "normal" && len(d.recovery) > 0 && d.recovery[len(d.recovery)-1].to == "normal" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the pair is not back in NORMAL 45s after the restart (primary: %s)", errStory, describe(d.recovery))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := gen.Stage(max(o.rate/2, 1), 500*time.Millisecond, mix); err != nil {
			return err
		}
	}
	if _, ok := entered(d.recovery, "recover", d.restartAt); !ok {
		return fmt.Errorf("%w: the primary came back without RECOVER (%s)", errStory, describe(d.recovery))
	}
	for _, x := range d.sec.transitions() {
		if x.at.After(d.restartAt) {
			p.say("secondary: %s → %s %s after the primary's restart", x.from, x.to, fmtSince(x.at, d.restartAt))
		}
	}

	// Back in NORMAL: the primary answers again.
	before, _ := d.prim.status()
	if d.final, err = gen.Stage(o.rate, 2*time.Second, mix); err != nil {
		return err
	}
	after, _ := d.prim.status()
	d.finalReplies = after.Packets["replied"] - before.Packets["replied"]
	ss, _ = d.sec.status()
	r := relOf(ss)
	d.secLagP50, d.secLagP99, d.secLagN = r.LagP50MS, r.LagP99MS, r.LagSamples
	p.say("back in NORMAL: %d exchanges completed in 2s, drops %.2f %%; the primary sent %d replies",
		d.final.Completed, 100*d.final.DropRatio, d.finalReplies)
	if d.final.Completed == 0 || d.finalReplies == 0 {
		return fmt.Errorf("%w: the primary does not answer after the recovery", errStory)
	}
	// Both sides hold the same leases once the last changes are acked.
	t = time.Now()
	for {
		ps, err1 := d.prim.status()
		ss, err2 := d.sec.status()
		pr, sr := relOf(ps), relOf(ss)
		if err1 == nil && err2 == nil && pr.Unacked == 0 && sr.Unacked == 0 &&
			ps.Leases.NAActive == ss.Leases.NAActive && ps.Leases.PDActive == ss.Leases.PDActive {
			d.agree = fmt.Sprintf("%d addresses and %d prefixes active on both", ps.Leases.NAActive, ps.Leases.PDActive)
			p.say("the pair agrees: %s", d.agree)
			break
		}
		if time.Since(t) > 10*time.Second {
			return fmt.Errorf("%w: 10s after the load the servers disagree: primary %d+%d leases, %d unacked; secondary %d+%d, %d unacked",
				errStory, ps.Leases.NAActive, ps.Leases.PDActive, pr.Unacked, ss.Leases.NAActive, ss.Leases.PDActive, sr.Unacked)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range []*demoServer{d.prim, d.sec} {
		if err := s.stop(); err != nil {
			return fmt.Errorf("%s: stop: %v", s.name, err)
		}
	}
	p.say("both servers stopped (SIGTERM)")
	return nil
}

// waitStates waits until the primary and the secondary report the states.
func (d *demo) waitStates(ctx context.Context, prim, sec string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ps, err1 := d.prim.status()
		ss, err2 := d.sec.status()
		if err1 == nil && err2 == nil && relOf(ps).State == prim && relOf(ss).State == sec {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: not primary %s and secondary %s within %v (primary %q, secondary %q)",
				errStory, prim, sec, timeout, relOf(ps).State, relOf(ss).State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// summary prints what the story showed, with its figures.
func (d *demo) summary(err error) {
	p := d.p
	took := time.Since(d.t0)
	p.plain("")
	p.plain("summary")
	if len(d.granted) > 0 {
		p.plain("  leases granted                %d clients hold an address and a prefix from the primary (%d exchanges at %.0f/s, drops %.2f %%)",
			len(d.granted), d.load.Completed, d.load.ExchangesPerS, 100*d.load.DropRatio)
	}
	if d.lagN > 0 {
		p.plain("  replication lag (primary)     commit → BNDREPLY p50 %.2f ms, p99 %.2f ms over %d BNDUPDs (primary → secondary, under load); all acked %v after the load",
			d.lagP50, d.lagP99, d.lagN, d.drain.Round(time.Millisecond))
	}
	if !d.pd.at.IsZero() {
		p.plain("  time to takeover              %s from the kill to PARTNER-DOWN (auto-partner-down %v; connection loss seen after %s)",
			fmtSince(d.pd.at, d.killedAt), d.o.apd, fmtSince(d.ci.at, d.killedAt))
	}
	if d.kept.Clients > 0 {
		p.plain("  clients kept address+prefix   %d of %d (REBIND at the secondary, %d sent again; RENEWs answered: %d)",
			d.kept.KeptFrom[d.secDUID], d.kept.Clients, d.retransmitted, d.renew.Completed)
	}
	if x, ok := entered(d.recovery, "recover", d.restartAt); ok {
		if n, ok := entered(d.recovery, "normal", x.at); ok {
			p.plain("  RECOVER → NORMAL              %s: %s (RECOVER-WAIT lasts until MCLT after the primary last recorded operating)",
				fmtSince(n.at, x.at), timeline(d.recovery, d.restartAt))
		}
	}
	if d.secLagN > 0 {
		p.plain("  replication lag (secondary)   p50 %.2f ms, p99 %.2f ms over the last %d BNDUPDs of the secondary (its changes while alone, then in NORMAL)",
			d.secLagP50, d.secLagP99, d.secLagN)
	}
	if d.agree != "" {
		p.plain("  after the recovery            %s", d.agree)
	}
	p.plain("  demo took                     %.1f s", took.Seconds())
	switch {
	case err == nil:
		p.plain("result: OK — takeover, every client kept its address and prefix, recovery to NORMAL")
	case errors.Is(err, context.Canceled):
		p.plain("result: interrupted")
	default:
		p.plain("result: FAILED — %v", err)
		for _, s := range []*demoServer{d.prim, d.sec} {
			if t := s.logTail(5); t != "" {
				p.plain("  %s log (last lines):\n%s", s.name, t)
			}
		}
	}
}

// timeline is "restart +0.25s RECOVER +0.07s RECOVER-WAIT …": each state
// entered and how long after the previous step.
func timeline(ts []transition, from time.Time) string {
	var b strings.Builder
	b.WriteString("restart")
	for _, x := range ts {
		fmt.Fprintf(&b, " +%s %s", fmtSince(x.at, from), strings.ToUpper(x.to))
		from = x.at
	}
	return b.String()
}

func fmtSince(at, from time.Time) string {
	d := at.Sub(from)
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// hexDUID turns a DUID as /v1/status prints it (hex, maybe with colons)
// into plain lower-case hex.
func hexDUID(s string) string { return strings.ToLower(strings.ReplaceAll(s, ":", "")) }

package bench

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

// Config describes one load run.
type Config struct {
	Server   netip.AddrPort // relayed: where RELAY-FORWs go
	Link     netip.Addr     // relay link-address to claim (selects the subnet)
	Rate     int            // exchanges started per second; 0: ramp (as Ramp)
	Duration time.Duration  // how long to send; with Ramp, each stage's length
	Clients  int            // distinct DUIDs, cycled
	IA       string         // "na", "pd" or "both"
	Timeout  time.Duration  // an exchange not finished by then is a drop

	// Mix weighs the kinds of exchange started; the zero Mix is all
	// SOLICITs (four-message allocations).
	Mix Mix
	// Sockets is the number of source sockets (ports) relayed traffic is
	// spread over, round robin, so a server's SO_REUSEPORT group (which
	// hashes flows by source port) spreads it over its readers. 0 means 1.
	Sockets int
	// Interface, when set, runs direct instead of relayed: client messages
	// multicast to ff02::1:2 on this interface (port 547, or Server's port
	// when Server is a multicast address), from its link-local address on
	// ClientPort. One socket; Server, Link, InterfaceID and Sockets are
	// unused (RemoteID and SubscriberID are refused). For use inside a
	// network namespace.
	Interface  string
	ClientPort int // direct: the source port; 0 means 546, where servers reply
	// InterfaceID, when set, is sent as the relay's INTERFACE_ID option
	// (servers such as Kea can select the subnet by it).
	InterfaceID string
	// RemoteID, when set, is sent as the relay's REMOTE_ID option (RFC
	// 4649): its data, the relay's 4-byte enterprise number first.
	RemoteID []byte
	// SubscriberID, when set, is sent as the relay's SUBSCRIBER_ID option
	// (RFC 4580).
	SubscriberID []byte
	// PDHintLen, when nonzero, makes each SOLICIT's IA_PD carry a
	// prefix-length hint: an IAPREFIX ::/PDHintLen (RFC 8415 §18.2.1).
	PDHintLen int
	// Also, relayed, are further servers every message is sent to as
	// well, as a relay configured with the addresses of both servers of a
	// failover pair forwards to each (RFC 8415 §19.1). The first answer
	// to an exchange counts; a second is unmatched.
	Also []netip.AddrPort

	// Ramp searches for the highest rate with fewer than MaxDrop drops
	// instead of offering one fixed rate: stages of Duration each, doubling
	// from RampStart while clean (up to RampMax), then RampSteps bisections
	// between the last clean and the first unclean rate.
	Ramp      bool
	RampStart int     // first stage's rate; 0 means 1000
	RampMax   int     // highest rate tried; 0 means 400,000
	RampSteps int     // bisections after the first unclean stage; 0 means 4, <0 none
	MaxDrop   float64 // a stage is clean below this drop ratio; 0 means 0.01
}

// DefaultConfig is a small, safe run against the default config.
func DefaultConfig() Config {
	return Config{
		Server: netip.MustParseAddrPort("[::1]:5547"), Link: netip.MustParseAddr("2001:db8:1::1"),
		Rate: 1000, Duration: 5 * time.Second, Clients: 100000, IA: "both", Timeout: time.Second,
		Sockets: 8,
	}
}

// Result is what a run measured. For a fixed rate it describes the run; for
// a ramp, the top level is the stage at MaxCleanRate (or the first stage
// when none was clean) and Stages lists every stage in the order run.
type Result struct {
	OfferedRate   float64 `json:"offered_rate"`
	SentPerS      float64 `json:"sent_per_s"` // exchanges the generator really started per second
	Started       uint64  `json:"started"`
	Completed     uint64  `json:"completed"`
	ExchangesPerS float64 `json:"exchanges_per_s"`
	DropRatio     float64 `json:"drop_ratio"` // 1 - completed/started: timeouts and failures
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	P999ms        float64 `json:"p999_ms"`
	MaxMs         float64 `json:"max_ms"`
	MeanMs        float64 `json:"mean_ms"`
	NoResources   uint64  `json:"no_resources"` // answered without a binding (or RELEASE refused)
	Timeouts      uint64  `json:"timeouts"`     // no final answer within the timeout
	Late          uint64  `json:"late"`         // final answers that came after the timeout
	Skipped       uint64  `json:"skipped"`      // not started: every client in turn was busy
	Fallbacks     uint64  `json:"fallbacks"`    // renew/release turned SOLICIT: no bound client yet
	Malformed     uint64  `json:"malformed"`
	Unmatched     uint64  `json:"unmatched"` // answers for no exchange in flight (duplicates, stale)
	SendErrors    uint64  `json:"send_errors"`
	TxPackets     uint64  `json:"tx_packets"`
	RxPackets     uint64  `json:"rx_packets"`
	DurationS     float64 `json:"duration_s"`
	// CPUs is this process's user+system CPU time over the stage: the
	// generator's own cost when it runs as `tandem bench`.
	CPUs           float64 `json:"cpu_s"`
	CPUusPerExch   float64 `json:"cpu_us_per_exchange"`
	GeneratorBound bool    `json:"generator_limited,omitempty"` // sent < 95 % of the offered rate
	Clean          bool    `json:"clean"`                       // drop ratio under MaxDrop, nothing skipped, not generator-limited

	Exchanges KindResults `json:"exchanges"`

	Mode string `json:"mode"` // "relayed" or "direct"
	// Timestamps says how answers were timed: "kernel" (SO_TIMESTAMPNS,
	// exact) or "poll" (when the loop read them: up to a tick late).
	Timestamps string `json:"timestamps"`
	Sockets    int    `json:"sockets"`
	Mix        string `json:"mix"`

	LastAddr       string   `json:"last_address,omitempty"`
	LastPrefix     string   `json:"last_prefix,omitempty"`
	MaxCleanRate   float64  `json:"max_clean_rate,omitempty"`
	Stages         []Result `json:"stages,omitempty"`
	ServerDUIDSeen string   `json:"-"`

	ramp bool // a ramp's summary: max_clean_rate is always in its JSON
}

// MarshalJSON writes max_clean_rate for a ramp even when it is 0 (no stage
// was clean), and leaves it out of a fixed-rate run's result.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	if !r.ramp {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		plain
		MaxCleanRate float64 `json:"max_clean_rate"`
	}{plain(r), r.MaxCleanRate})
}

// KindResults is the per-kind breakdown of a run.
type KindResults struct {
	Solicit KindResult `json:"solicit"`
	Renew   KindResult `json:"renew"`
	Release KindResult `json:"release"`
	Rebind  KindResult `json:"rebind"`
}

// KindResult is one kind of exchange's counts and latency.
type KindResult struct {
	Started     uint64  `json:"started"`
	Completed   uint64  `json:"completed"`
	NoResources uint64  `json:"no_resources"`
	Timeouts    uint64  `json:"timeouts"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	P999ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	MeanMs      float64 `json:"mean_ms"`
}

func (k *KindResults) of(kind Kind) *KindResult {
	switch kind {
	case Renew:
		return &k.Renew
	case Release:
		return &k.Release
	case Rebind:
		return &k.Rebind
	}
	return &k.Solicit
}

// Ramp defaults.
const (
	defaultRampStart = 1000
	defaultRampMax   = 400000 // 2^20 slots (32 MiB) at a 1 s timeout
	defaultRampSteps = 4
	defaultMaxDrop   = 0.01
)

func (c *Config) validate() error {
	if c.Rate < 0 || c.Clients <= 0 || c.Duration <= 0 {
		return errors.New("bench: rate must be ≥ 0, clients and duration positive")
	}
	if c.IA != "na" && c.IA != "pd" && c.IA != "both" {
		return errors.New("bench: ia must be na, pd or both")
	}
	if err := c.Mix.validate(); err != nil {
		return err
	}
	if c.Rate == 0 {
		c.Ramp = true
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.Sockets <= 0 || c.Interface != "" {
		c.Sockets = 1
	}
	if c.ClientPort == 0 {
		c.ClientPort = 546
	}
	if c.Interface == "" && (!c.Server.Addr().IsValid() || c.Server.Port() == 0) {
		return errors.New("bench: relayed mode needs a server address and port")
	}
	for _, a := range c.Also {
		if c.Interface != "" || !a.Addr().IsValid() || a.Port() == 0 {
			return errors.New("bench: further servers need relayed mode, an address and a port")
		}
	}
	if len(c.InterfaceID) > 255 {
		return errors.New("bench: interface-id longer than 255 bytes")
	}
	if c.RemoteID != nil && (len(c.RemoteID) < 5 || len(c.RemoteID) > 255) {
		return errors.New("bench: remote-id must be 5 to 255 bytes: a 4-byte enterprise number, then the remote-id")
	}
	if c.SubscriberID != nil && (len(c.SubscriberID) == 0 || len(c.SubscriberID) > 255) {
		return errors.New("bench: subscriber-id must be 1 to 255 bytes")
	}
	if c.Interface != "" && (c.RemoteID != nil || c.SubscriberID != nil) {
		return errors.New("bench: remote-id and subscriber-id are relay options: not with a direct run")
	}
	if c.PDHintLen < 0 || c.PDHintLen > 128 {
		return errors.New("bench: pd-hint-len must be 1 to 128")
	}
	if c.RampStart <= 0 {
		c.RampStart = defaultRampStart
	}
	if c.RampMax <= 0 {
		c.RampMax = defaultRampMax
	}
	c.RampStart = min(c.RampStart, c.RampMax)
	if c.RampSteps == 0 {
		c.RampSteps = defaultRampSteps
	}
	if c.MaxDrop <= 0 {
		c.MaxDrop = defaultMaxDrop
	}
	return nil
}

// Run drives the load and returns what it measured.
func Run(c Config) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	maxRate := float64(c.Rate)
	if c.Ramp {
		maxRate = float64(c.RampMax)
	}
	g, err := newGen(c, maxRate)
	if err != nil {
		return Result{}, err
	}
	defer g.close()
	if !c.Ramp {
		return g.runStage(float64(c.Rate)), nil
	}
	return g.ramp(), nil
}

// runStage runs one stage and reports it.
func (g *gen) runStage(rate float64) Result {
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	g.stage(rate, g.cfg.Duration)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	r := g.collect(rate)
	r.CPUs = cpuSeconds(&ru1) - cpuSeconds(&ru0)
	if r.Completed > 0 {
		r.CPUusPerExch = r.CPUs * 1e6 / float64(r.Completed)
	}
	return r
}

func cpuSeconds(ru *syscall.Rusage) float64 {
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// ramp doubles the rate while stages are clean, then bisects between the
// last clean and the first unclean rate.
func (g *gen) ramp() Result {
	c := &g.cfg
	var stages []Result
	dead := false
	run := func(rate int) bool {
		r := g.runStage(float64(rate))
		stages = append(stages, r)
		dead = r.Completed == 0
		return r.Clean
	}
	lo, hi := 0, 0
	for rate := c.RampStart; ; rate = min(rate*2, c.RampMax) {
		if !run(rate) {
			hi = rate
			break
		}
		lo = rate
		if rate == c.RampMax {
			break
		}
	}
	// A stage with no answer at all says nobody is there: no bisecting.
	for step := 0; hi > 0 && !dead && step < c.RampSteps; step++ {
		mid := (lo + hi) / 2
		if lo == 0 {
			mid = hi / 2
		}
		// Stop when the interval is within 2 % of the rate: finer than
		// run-to-run noise.
		if hi-lo <= max(hi/50, 1) || mid <= 0 {
			break
		}
		if run(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	best := stages[0]
	for _, s := range stages {
		if s.Clean && s.OfferedRate == float64(lo) {
			best = s
		}
	}
	best.Stages = stages
	best.MaxCleanRate = float64(lo)
	best.ramp = true
	return best
}

// collect turns the counters of the stage just run into a Result.
func (g *gen) collect(rate float64) Result {
	st := &g.st
	r := Result{
		OfferedRate: rate,
		Skipped:     st.skipped,
		Fallbacks:   st.fallbacks,
		Late:        st.late,
		Unmatched:   st.unmatched,
		Malformed:   st.malformed,
		SendErrors:  st.sendErrors,
		TxPackets:   st.txPackets,
		RxPackets:   st.rxPackets,
		Sockets:     len(g.conns),
		Mix:         g.cfg.Mix.String(),
		Mode:        "relayed",
		Timestamps:  "kernel",
	}
	if !g.relayed {
		r.Mode = "direct"
	}
	if !g.stamps {
		r.Timestamps = "poll"
	}
	var all Histogram
	for k := range numKinds {
		kr := r.Exchanges.of(k)
		kr.Started, kr.Completed, kr.NoResources = st.started[k], st.completed[k], st.failed[k]
		kr.Timeouts = kr.Started - min(kr.Started, kr.Completed+kr.NoResources)
		kr.P50ms, kr.P99ms, kr.P999ms, kr.MaxMs, kr.MeanMs = latencies(&g.hist[k])
		all.Merge(&g.hist[k])
		r.Started += kr.Started
		r.Completed += kr.Completed
		r.NoResources += kr.NoResources
		r.Timeouts += kr.Timeouts
	}
	r.P50ms, r.P99ms, r.P999ms, r.MaxMs, r.MeanMs = latencies(&all)
	elapsed := time.Duration(st.t1 - st.t0)
	r.DurationS = elapsed.Seconds()
	if r.DurationS > 0 {
		r.ExchangesPerS = float64(r.Completed) / r.DurationS
		// The last exchange is due at (n-1)/rate, so a send phase of n
		// exchanges lasts (n-1)/rate when on time.
		r.SentPerS = float64(r.Started+r.Skipped) / max(r.DurationS, g.cfg.Duration.Seconds())
	}
	if r.Started > 0 {
		r.DropRatio = 1 - float64(r.Completed)/float64(r.Started)
	}
	r.GeneratorBound = r.SentPerS < 0.95*rate
	r.Clean = r.Started > 0 && r.DropRatio < g.cfg.MaxDrop && r.Skipped*100 <= r.Started && !r.GeneratorBound
	if g.lastBound > 0 {
		c := &g.clients[g.lastBound-1]
		if c.state == csBound {
			if c.has&1 != 0 {
				r.LastAddr = netip.AddrFrom16(c.addr).String()
			}
			if c.has&2 != 0 {
				r.LastPrefix = netip.PrefixFrom(netip.AddrFrom16(c.prefix), int(c.plen)).String()
			}
		}
	}
	if g.servers.n > 0 {
		r.ServerDUIDSeen = hex.EncodeToString(g.servers.id(0))
	}
	return r
}

// latencies are h's figures in ms; all 0 when h is empty (JSON has no NaN).
func latencies(h *Histogram) (p50, p99, p999, maxMs, mean float64) {
	if h.Count() == 0 {
		return 0, 0, 0, 0, 0
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	return ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(float64(h.Max())), ms(h.Mean())
}

// String is a one-stage summary line.
func (r *Result) String() string {
	return fmt.Sprintf("offered %.0f/s: %d started, %d completed (%.0f/s), drops %.3f %%, p50 %.3f ms, p99 %.3f ms",
		r.OfferedRate, r.Started, r.Completed, r.ExchangesPerS, 100*r.DropRatio, r.P50ms, r.P99ms)
}

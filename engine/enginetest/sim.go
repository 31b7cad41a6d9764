package enginetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// Options configure one simulated run.
type Options struct {
	Seed  uint64
	Steps int
	// TraceLen is how many of the last steps a failure report shows.
	TraceLen int
	// Verbose sends every trace line to Log as it happens.
	Verbose bool
	Log     func(string)

	Checks Checks
	Faults Faults
	// MidReadyCrash is the chance that a commit crashes the server before
	// its events are durable; 0 means 0.002.
	MidReadyCrash float64
}

// Checks switch individual invariant checks off. The zero value checks
// everything; a flag exists so a known engine bug can be parked without
// weakening the rest (say so in the test that sets one).
type Checks struct {
	SkipMCLT     bool // 1: client expiry ≤ max(partner's knowledge, now) + MCLT outside PARTNER-DOWN
	SkipConflict bool // 2: no resource live for two clients (servers' union, and clients' view)
	SkipDurable  bool // 3: what a client was told survives a crash of the granter, and of the partner once acked
	SkipService  bool // 4: who may answer in which state
	SkipConverge bool // end: both NORMAL, ACTIVE leases agree; once settled, a quick RELEASE holds on both
}

// Faults are deliberate bugs, for tests that prove the checker can fail.
// Never set in a real run.
type Faults struct {
	// Stream plants a bug in the shipped partner protocol
	// (replicate.StreamFaults), which both servers run.
	Stream replicate.StreamFaults
	// VisibleBeforeDurable releases a Ready's replies even when the
	// server crashes before committing its events.
	VisibleBeforeDurable bool
	// InflateAck makes every BNDREPLY claim a partner lifetime a day
	// beyond what the partner stored, so the MCLT cap is computed from a
	// lie.
	InflateAck bool
}

// Result is the outcome of a run.
type Result struct {
	Seed      uint64
	Steps     int
	Failure   string   // empty: every invariant held
	Invariant string   // which check failed
	Trace     []string // the last TraceLen steps
	Stats     Stats
}

// Stats count what a run exercised, to see that it did something.
type Stats struct {
	Replies, Grants, Crashes, MidReadyCrashes, Partitions, AdminPD, BndUpds, Conflicts int
	// Batched counts the Readies that took two or more partner messages.
	Batched int
	States  map[string]int

	// QuickReleases: RELEASEs answered right after a REQUEST's grant;
	// ReleasesChecked: their resources found released on both servers
	// once the pair settled (checkReleased).
	QuickReleases, ReleasesChecked int
}

func (r *Result) String() string {
	if r.Failure == "" {
		return fmt.Sprintf("seed %d: ok", r.Seed)
	}
	return fmt.Sprintf("seed %d: invariant %s violated: %s\nreplay: go test ./engine/enginetest -run TestSim -sim.seed=%d -sim.steps=%d\nlast steps:\n  %s",
		r.Seed, r.Invariant, r.Failure, r.Seed, r.Steps, strings.Join(r.Trace, "\n  "))
}

// Simulation parameters. Small pools so that clients compete for
// resources; lifetimes short against the run length so leases expire,
// are reclaimed and reused many times per run.
const (
	mclt       = 300 // seconds
	validLife  = 900
	prefLife   = 450
	nClients   = 110
	window     = 8 // MAX_UNACKED_BNDUPD
	startMS    = 1_767_225_600_000
	skewSlack  = 5 // seconds: per-server clocks are within ±2 s of the sim clock
	pMidReady  = 0.002
	adminAfter = 60_000 // ms the link must have been down before an operator acts
)

// pQuickRelease: a REQUEST's grant is released again within 2 s (dhclient
// -r right after binding; issue 12).
const pQuickRelease = 0.05

var (
	subnet   = netip.MustParsePrefix("2001:db8:1::/64")
	poolLo   = netip.MustParseAddr("2001:db8:1::1000")
	poolHi   = netip.MustParseAddr("2001:db8:1::103f") // 64 addresses
	pdPool   = netip.MustParsePrefix("2001:db8:100::/51")
	pdLen    = 56 // 32 prefixes
	relName  = "pair"
	serverID = [2][]byte{
		{0, 1, 0, 1, 0x30, 0, 0, 0, 2, 0, 0, 0, 0, 0xa1},
		{0, 1, 0, 1, 0x30, 0, 0, 0, 2, 0, 0, 0, 0, 0xb2},
	}
	names = [2]string{"P", "S"}
)

func config(primary bool) engine.Config {
	i := 1
	if primary {
		i = 0
	}
	return engine.Config{
		ServerDUID: serverID[i],
		Preference: -1,
		Valid:      validLife * time.Second,
		Preferred:  prefLife * time.Second,
		Subnets: []engine.SubnetConfig{{
			Prefix: subnet, Interface: "eth0", Relationship: relName,
			Pools:   []engine.Pool{{Start: poolLo, End: poolHi}},
			PDPools: []engine.PDPool{{Prefix: pdPool, DelegatedLen: pdLen}},
		}},
		Relationships: []engine.RelationshipConfig{{Name: relName, Primary: primary, MCLT: mclt * time.Second, PDSecondaryShare: 0.5}},
	}
}

// server is one tandem serve: engine, journal, partner stream, link end.
type server struct {
	i       int
	cfg     engine.Config
	eng     *engine.Engine // nil while crashed
	journal []engine.Event
	// shadow is the journal folded into records: the durable state, what
	// a crash would leave. Kept beside the journal for the checks.
	shadow   map[netip.Prefix]engine.Binding
	stored   engine.StoredState // last EventEndpoint journaled
	stream   *replicate.Stream  // the shipped partner protocol; new at each restart
	offsetMS int64
	lastTick int64

	// Link end, as replicate.Link holds it.
	local  replicate.LocalState
	peerUp bool
	skew   int64     // seconds, the partner's clock minus ours
	tx     memSender // the stream's replicate.Sender
}

func (s *server) running() bool { return s.eng != nil }

func (s *server) state() engine.State {
	if s.eng == nil {
		return 0
	}
	in, _ := s.eng.Endpoint(0)
	return in.State
}

// durableState is the endpoint state a crashed server would restart from.
func (s *server) durableState() engine.State {
	if s.eng != nil {
		return s.state()
	}
	return s.stored.State
}

// Sim is one simulated pair.
type Sim struct {
	o       Options
	rng     *rand.Rand
	nowMS   int64
	srv     [2]*server
	q       [2][]pmsg // q[i]: from server i to its partner, in order
	link    bool      // the network lets the pair connect
	downAt  int64     // when the link was last cut
	conn    bool      // the pair is connected
	cl      []*client
	pkt     wire.Packet
	buf     []byte
	step    int
	healing bool

	trace []string
	res   Result
	fail  bool
}

// Run runs one simulation and reports the first invariant violated.
func Run(o Options) Result {
	if o.TraceLen == 0 {
		o.TraceLen = 60
	}
	if o.MidReadyCrash == 0 {
		o.MidReadyCrash = pMidReady
	}
	s := &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), nowMS: startMS, link: true}
	s.res = Result{Seed: o.Seed, Steps: o.Steps, Stats: Stats{States: map[string]int{}}}
	for i := range s.srv {
		cfg := config(i == 0)
		s.srv[i] = &server{i: i, cfg: cfg, shadow: map[netip.Prefix]engine.Binding{},
			offsetMS: s.rng.Int64N(4001) - 2000, tx: memSender{s: s, i: i}}
	}
	for n := 0; n < nClients; n++ {
		s.cl = append(s.cl, &client{n: n, duid: []byte{0, 3, 0, 1, 2, 0, 0, 0, byte(n >> 8), byte(n)},
			pd: n%2 == 0, adv: -1, hold: map[resKey]holding{}})
	}
	s.logf("start: offsets P=%dms S=%dms", s.srv[0].offsetMS, s.srv[1].offsetMS)
	for i := range s.srv {
		s.restart(i)
	}
	s.connectIfPossible()
	for s.step = 0; s.step < o.Steps && !s.fail; s.step++ {
		s.doStep()
	}
	if !s.fail {
		s.heal()
	}
	s.res.Trace = s.trace
	return s.res
}

// --- time, trace, failure -----------------------------------------------------

func (s *Sim) now(i int) time.Time { return time.UnixMilli(s.nowMS + s.srv[i].offsetMS) }
func (s *Sim) nowSec(i int) int64  { return s.now(i).Unix() }
func (s *Sim) simSec() int64       { return s.nowMS / 1000 }

func (s *Sim) logf(format string, a ...any) {
	line := fmt.Sprintf("#%d t=%.1f ", s.step, float64(s.nowMS-startMS)/1000) + fmt.Sprintf(format, a...)
	if s.o.Verbose && s.o.Log != nil {
		s.o.Log(line)
	}
	s.trace = append(s.trace, line)
	if len(s.trace) > 4*s.o.TraceLen {
		s.trace = append(s.trace[:0], s.trace[len(s.trace)-s.o.TraceLen:]...)
	}
}

func (s *Sim) failf(inv, format string, a ...any) {
	if s.fail {
		return
	}
	s.fail = true
	s.res.Invariant = inv
	s.res.Failure = fmt.Sprintf("step %d t=%.1f: ", s.step, float64(s.nowMS-startMS)/1000) + fmt.Sprintf(format, a...)
	s.logf("FAIL %s: %s", inv, s.res.Failure)
	if len(s.trace) > s.o.TraceLen {
		s.trace = s.trace[len(s.trace)-s.o.TraceLen:]
	}
}

// --- one step -----------------------------------------------------------------

func (s *Sim) doStep() {
	s.nowMS += s.rng.Int64N(3000)
	s.deliver()
	s.ticks()
	s.expireClients()
	s.quickReleases()
	if s.fail {
		return
	}
	r := s.rng.Float64()
	switch {
	case r < 0.75:
		s.clientAction(s.cl[s.rng.IntN(len(s.cl))])
	case r < 0.78:
		s.toggleLink()
	case r < 0.79:
		i := s.rng.IntN(2)
		if s.srv[i].running() {
			s.crash(i, "crash")
		}
	case r < 0.85:
		i := s.rng.IntN(2)
		if !s.srv[i].running() && s.mayRestart(i) {
			s.restart(i)
			s.connectIfPossible()
		}
	case r < 0.88:
		s.maybeAdminPD()
	}
	s.checkStep()
	for i := range s.srv {
		if st := s.srv[i].state(); st != 0 {
			s.res.Stats.States[names[i]+":"+st.String()]++
		}
	}
}

func (s *Sim) ticks() {
	for i, sv := range s.srv {
		if sv.running() && s.nowMS-sv.lastTick >= 1000 {
			sv.lastTick = s.nowMS
			s.stepIn(i, engine.Input{Kind: engine.InputTick})
			s.flush(i)
		}
	}
}

// --- the serving loop, as engine/node runs it ----------------------------------

func (s *Sim) stepIn(i int, in engine.Input) error {
	sv := s.srv[i]
	in.Rel = 0 // the one relationship
	return sv.eng.Step(s.now(i), in)
}

// flush is node.flush: journal the Ready's events, then release its
// replies, hand its partner messages and lease changes to the stream.
// It may crash the server before the commit (pMidReady); the replies
// released are returned.
func (s *Sim) flush(i int) [][]byte {
	sv := s.srv[i]
	if sv.eng == nil || !sv.eng.HasReady() {
		return nil
	}
	rd := sv.eng.Ready()
	var replies [][]byte
	for _, r := range rd.Replies {
		replies = append(replies, bytes.Clone(r.Data))
	}
	if len(rd.Events) > 0 && !s.healing && s.rng.Float64() < s.o.MidReadyCrash {
		s.res.Stats.MidReadyCrashes++
		s.logf("%s crashes before committing %d events", names[i], len(rd.Events))
		s.crash(i, "crash mid-ready")
		if s.o.Faults.VisibleBeforeDurable {
			return replies
		}
		return nil
	}
	first := uint64(len(sv.journal)) + 1
	for _, ev := range rd.Events {
		sv.journal = append(sv.journal, ev)
		sv.fold(ev)
		if s.o.Verbose && ev.Kind != engine.EventEndpoint {
			s.logf("%s journal %v %v %s", names[i], ev.Kind, ev.Why, describe(ev.Binding, true, s.nowSec(i)))
		}
	}
	s.sendPeerMsgs(i, rd.PeerMsgs)
	if !sv.peerUp { // as node.refreshLocalStates
		if a, ok := sv.eng.StateMessage(0); ok {
			sv.local = replicate.LocalState{State: uint8(a.State), Flags: a.Flags, StartOfState: a.Start}
		}
	}
	if err := sv.stream.Committed(s.now(i), rd.Events, first); err != nil {
		s.failf("harness", "%s: %v", names[i], err)
	}
	sv.eng.Advance(rd)
	return replies
}

func (sv *server) fold(ev engine.Event) {
	switch ev.Kind {
	case engine.EventLease:
		sv.shadow[ev.Binding.Prefix] = ev.Binding
	case engine.EventFree:
		delete(sv.shadow, ev.Binding.Prefix)
	case engine.EventEndpoint:
		sv.stored = ev.Endpoint.StoredState
	}
}

// --- link, crash, restart, operator -------------------------------------------

func (s *Sim) toggleLink() {
	if s.link {
		if s.anyPD() {
			return // see mayRestart: keep the operator's assumption simple
		}
		s.link = false
		s.downAt = s.nowMS
		s.res.Stats.Partitions++
		s.disconnect("partition")
		return
	}
	if s.nowMS-s.downAt > 5000 {
		s.link = true
		s.logf("network healed")
		s.connectIfPossible()
	}
}

func (s *Sim) anyPD() bool {
	return s.srv[0].durableState() == engine.StatePartnerDown || s.srv[1].durableState() == engine.StatePartnerDown
}

func (s *Sim) crash(i int, why string) {
	sv := s.srv[i]
	s.logf("%s %s (state %v)", names[i], why, sv.state())
	s.res.Stats.Crashes++
	live := sv.eng
	sv.eng = nil
	sv.peerUp = false
	if s.conn {
		s.disconnect(names[i] + " " + why)
	}
	s.checkCrash(i, live)
}

// mayRestart keeps the operator's side of the partner-down bargain: a
// server whose partner is in PARTNER-DOWN comes back only when it can talk
// to that partner (otherwise STARTUP would time out into its old state and
// serve beside a partner that believes it is dead).
func (s *Sim) mayRestart(i int) bool {
	p := s.srv[1-i]
	if p.durableState() != engine.StatePartnerDown {
		return true
	}
	return p.running() && s.link
}

// restart rebuilds server i from its journal, as node.Start does.
func (s *Sim) restart(i int) {
	sv := s.srv[i]
	sv.eng = s.rebuild(i)
	s.checkDurable(i, sv.eng.Lookup)
	sv.stream = replicate.NewStream(replicate.StreamConfig{Window: window, SizeHint: 128, Seq: uint64(len(sv.journal)),
		Observe: s.observer(i), Faults: s.o.Faults.Stream}, sortedEngine{sv.eng}, &sv.tx)
	sv.peerUp = false
	info, _ := sv.eng.Endpoint(0)
	st := info.Stored.State
	if st == 0 || st == engine.StateStartup {
		st = engine.StateRecover
	}
	sv.local = replicate.LocalState{State: uint8(st), Flags: wire.ServerFlagStartup, StartOfState: info.Stored.StartTime}
	s.logf("%s restarts from %d events (stored %v)", names[i], len(sv.journal), info.Stored.State)
	sv.lastTick = s.nowMS
	s.stepIn(i, engine.Input{Kind: engine.InputTick}) // boots the endpoint
	s.flush(i)
}

func (s *Sim) rebuild(i int) *engine.Engine {
	sv := s.srv[i]
	e, err := engine.New(sv.cfg)
	if err != nil {
		panic(err)
	}
	for _, ev := range sv.journal {
		e.Apply(ev)
	}
	return e
}

func (s *Sim) maybeAdminPD() {
	if s.link || s.nowMS-s.downAt < adminAfter {
		return
	}
	for i := range s.srv {
		if s.srv[i].running() && !s.srv[1-i].running() {
			st := s.srv[i].state()
			if st == engine.StatePartnerDown {
				return
			}
			if err := s.stepIn(i, engine.Input{Kind: engine.InputAdminPartnerDown}); err == nil {
				s.res.Stats.AdminPD++
				s.logf("operator: %s partner-down (was %v)", names[i], st)
			}
			s.flush(i)
			return
		}
	}
}

// --- healing --------------------------------------------------------------------

// heal restarts every server, reconnects and runs until both are NORMAL
// and nothing is in flight, then compares their ACTIVE leases.
func (s *Sim) heal() {
	s.step = s.o.Steps
	s.healing = true
	s.logf("heal")
	s.link = true
	for round := 0; round < 2; round++ {
		for i := range s.srv {
			if !s.srv[i].running() && s.mayRestart(i) {
				s.restart(i)
			}
		}
	}
	s.connectIfPossible()
	quiet := 0
	limit := s.nowMS + int64(4*mclt+600)*1000
	for s.nowMS < limit && !s.fail {
		s.nowMS += 1000
		s.deliver()
		s.ticks()
		s.expireClients()
		s.checkStep()
		if s.settled() {
			quiet++
			if quiet >= 5 {
				break
			}
		} else {
			quiet = 0
		}
	}
	if s.fail || s.o.Checks.SkipConverge {
		return
	}
	if !s.settled() {
		s.failf("converge", "not settled after healing: P %v (outbox %d+%d), S %v (outbox %d+%d), link conn=%v",
			s.srv[0].state(), s.srv[0].stream.Outbox().Pending(), s.srv[0].stream.Outbox().Unacked(),
			s.srv[1].state(), s.srv[1].stream.Outbox().Pending(), s.srv[1].stream.Outbox().Unacked(), s.conn)
		return
	}
	s.checkAgree()
}

func (s *Sim) settled() bool {
	for _, sv := range s.srv {
		if !sv.running() || sv.state() != engine.StateNormal || !sv.stream.Outbox().Idle() {
			return false
		}
	}
	return s.conn && len(s.q[0]) == 0 && len(s.q[1]) == 0
}

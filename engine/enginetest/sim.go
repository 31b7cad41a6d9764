package enginetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
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

// Faults are deliberate harness bugs, for tests that prove the checker can
// fail. Never set in a real run.
type Faults struct {
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
	States                                                                             map[string]int

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

// pmsg is one partner message on the simulated link. STATE and the
// update-request family travel as fields (their encoding is replicate's
// and tested there); BNDUPD and BNDREPLY travel as wire frames.
type pmsg struct {
	at    int64 // delivery time, ms
	typ   wire.MsgType
	xid   uint32
	frame []byte
	state engine.State
	flags uint8
	start int64
}

// server is one tandem serve: engine, journal, outbox, link end.
type server struct {
	i       int
	cfg     engine.Config
	eng     *engine.Engine // nil while crashed
	journal []engine.Event
	// shadow is the journal folded into records: the durable state, what
	// a crash would leave. Kept beside the journal for the checks.
	shadow   map[netip.Prefix]engine.Binding
	stored   engine.StoredState // last EventEndpoint journaled
	out      *replicate.Outbox
	offsetMS int64
	lastTick int64

	// Link end, as node.peer holds it.
	local      replicate.LocalState
	peerUp     bool
	skew       int64
	xid        uint32
	upd        wire.FailoverMsg // the BNDUPD being answered
	updFrame   []byte
	results    []replicate.LeaseResult
	bndRep     []engine.PeerBndReply
	recv       [wire.MaxIAs * wire.MaxIAAddrs]engine.ReceivedLease
	updDoneXID uint32
	updDoneDue bool
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

type resKey struct {
	kind engine.Kind
	p    netip.Prefix
}

// holding is what a client was told about one resource.
type holding struct {
	iaid   uint32
	expiry int64 // sim seconds
	server int   // who granted it last
	acked  bool  // the granter has had it BNDREPLY'd by its partner since
}

type client struct {
	n      int
	duid   []byte
	pd     bool // also asks for a prefix
	adv    int  // server whose ADVERTISE was taken, -1 none
	advAt  int64
	hold   map[resKey]holding
	xid    uint32
	lastAt int // last server that answered (RENEW/RELEASE go there)
	// releaseAt (ms), when set, is when the client releases what a
	// REQUEST just gave it: its next action, whichever comes first.
	releaseAt int64
	// released: what such a quick RELEASE let go of, for checkReleased.
	released []resKey
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
			offsetMS: s.rng.Int64N(4001) - 2000}
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

// deliver hands every partner message that is due to its receiver, in
// order per direction, earliest first across directions.
func (s *Sim) deliver() {
	for !s.fail {
		from := -1
		for i := range s.q {
			if len(s.q[i]) > 0 && s.q[i][0].at <= s.nowMS && (from < 0 || s.q[i][0].at < s.q[from][0].at) {
				from = i
			}
		}
		if from < 0 {
			return
		}
		m := s.q[from][0]
		s.q[from] = s.q[from][1:]
		s.onPeerMsg(1-from, &m)
	}
}

// send queues a partner message from server i.
func (s *Sim) send(i int, m pmsg) {
	if !s.conn {
		return
	}
	at := s.nowMS + 5 + s.rng.Int64N(400)
	if q := s.q[i]; len(q) > 0 && q[len(q)-1].at > at {
		at = q[len(q)-1].at
	}
	m.at = at
	s.q[i] = append(s.q[i], m)
}

// --- the serving loop, as engine/node runs it ----------------------------------

func (s *Sim) stepIn(i int, in engine.Input) error {
	sv := s.srv[i]
	in.Rel = 0 // the one relationship
	return sv.eng.Step(s.now(i), in)
}

// flush is node.flush: journal the Ready's events, then release its
// replies and partner messages and offer the lease changes to the outbox.
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
	if len(rd.Events) > 0 {
		s.offerCommitted(i, rd.Events, first)
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

func (s *Sim) sendPeerMsgs(i int, msgs []engine.PeerMsg) {
	sv := s.srv[i]
	for k := range msgs {
		m := &msgs[k]
		switch m.Kind {
		case engine.ActSendBndReply:
			sv.bndRep = append(sv.bndRep, m.BndReply)
			if m.BndReply.SendUpdate {
				if b, ok := sv.eng.Lookup(m.BndReply.Prefix); ok && replicate.Encodable(&b) {
					sv.out.Offer(uint64(len(sv.journal)), replicate.KeyOf(&b), s.nowSec(i))
				}
			}
		case engine.ActSendState:
			sv.local = replicate.LocalState{State: uint8(m.State), Flags: m.Flags, StartOfState: m.Start}
			if sv.peerUp {
				s.send(i, pmsg{typ: wire.State, state: m.State, flags: m.Flags, start: m.Start})
			}
		case engine.ActSendUpdReq:
			s.send(i, pmsg{typ: wire.UpdReq, xid: sv.nextXID()})
		case engine.ActSendUpdReqAll:
			s.send(i, pmsg{typ: wire.UpdReqAll, xid: sv.nextXID()})
		case engine.ActSendPoolReq:
			s.send(i, pmsg{typ: wire.PoolReq, xid: sv.nextXID()})
		case engine.ActResendUnacked:
			s.resendUnacked(i)
		}
	}
	if len(sv.bndRep) > 0 {
		for _, r := range sv.bndRep {
			sv.results = append(sv.results, replicate.LeaseResult{Accepted: r.Accepted, Status: r.StatusCode})
		}
		f := replicate.AppendBndReply(nil, &sv.upd, sv.results)
		s.sendFrame(i, f)
		sv.results = sv.results[:0]
		sv.bndRep = sv.bndRep[:0]
	}
}

func (sv *server) nextXID() uint32 { sv.xid = (sv.xid + 1) & 0xffffff; return sv.xid }

// sendFrame sends one framed BNDUPD or BNDREPLY.
func (s *Sim) sendFrame(i int, frame []byte) {
	msg, _, ok := wire.SplitFrame(frame)
	if !ok {
		s.failf("harness", "%s built a bad frame", names[i])
		return
	}
	s.send(i, pmsg{typ: wire.MsgType(msg[0]), frame: frame})
}

func (s *Sim) offerCommitted(i int, evs []engine.Event, first uint64) {
	sv := s.srv[i]
	for k := range evs {
		ev := &evs[k]
		seq := first + uint64(k)
		if ev.Kind == engine.EventLease && ev.Why != engine.CausePartner &&
			sv.eng.RelationshipOf(ev.Binding.Kind, ev.Binding.Prefix) == 0 && replicate.Encodable(&ev.Binding) {
			sv.out.Offer(seq, replicate.KeyOf(&ev.Binding), s.nowSec(i))
		} else {
			sv.out.Advance(seq)
		}
	}
	s.pump(i)
}

func (s *Sim) pump(i int) {
	sv := s.srv[i]
	if !sv.peerUp || !(sv.updDoneDue || sv.eng.SendsUpdates(0)) {
		return
	}
	now := s.nowSec(i)
	sv.out.Next(1<<30, func(seq uint64, k replicate.Key) (uint32, replicate.Verdict) {
		b, ok := sv.eng.Lookup(k.Prefix)
		if !ok || !replicate.Encodable(&b) {
			return 0, replicate.Skipped
		}
		xid := sv.nextXID()
		s.sendFrame(i, replicate.AppendBndUpd(nil, xid, now, &b, &b.FOTimes))
		s.res.Stats.BndUpds++
		return xid, replicate.Sent
	})
	if sv.updDoneDue && sv.out.Idle() {
		s.send(i, pmsg{typ: wire.UpdDone, xid: sv.updDoneXID})
		sv.updDoneDue = false
	}
}

func (s *Sim) resendUnacked(i int) {
	sv := s.srv[i]
	seq := uint64(len(sv.journal))
	sortedOffer(sv.eng.ForEachUnacked, func(b *engine.Binding) {
		if replicate.Encodable(b) {
			sv.out.Offer(seq, replicate.KeyOf(b), s.nowSec(i))
		}
	})
	s.pump(i)
}

// sortedOffer calls fn with the records a ForEachUnacked-style walk yields,
// in resource order: the engine walks maps, and the simulation must not
// depend on their order.
func sortedOffer(walk func(rel int, fn func(*engine.Binding) bool), fn func(*engine.Binding)) {
	var bs []engine.Binding
	walk(0, func(b *engine.Binding) bool { bs = append(bs, *b); return true })
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].Kind != bs[j].Kind {
			return bs[i].Kind < bs[j].Kind
		}
		return bs[i].Prefix.Addr().Less(bs[j].Prefix.Addr())
	})
	for k := range bs {
		fn(&bs[k])
	}
}

// onPeerMsg is node.onPeerEvent for a message from the partner.
func (s *Sim) onPeerMsg(i int, m *pmsg) {
	sv := s.srv[i]
	if !sv.running() {
		return
	}
	switch m.typ {
	case wire.State:
		s.logf("%s <- STATE %v flags=%#x", names[i], m.state, m.flags)
		s.stepIn(i, engine.Input{Kind: engine.InputPeerState, State: m.state, Flags: m.flags, Start: m.start})
		s.pump(i) // as the node: a STATE may open the way for queued updates
	case wire.UpdDone:
		s.logf("%s <- UPDDONE", names[i])
		s.stepIn(i, engine.Input{Kind: engine.InputUpdDone})
	case wire.PoolReq:
		// As the node: POOLRESP (nothing follows from it) and a rebalance.
		s.logf("%s <- POOLREQ", names[i])
		s.stepIn(i, engine.Input{Kind: engine.InputPoolReq})
	case wire.UpdReq, wire.UpdReqAll:
		s.logf("%s <- %s", names[i], wire.FailoverName(m.typ))
		seq := uint64(len(sv.journal))
		offer := func(b *engine.Binding) bool {
			if replicate.Encodable(b) {
				sv.out.Offer(seq, replicate.KeyOf(b), s.nowSec(i))
			}
			return true
		}
		if m.typ == wire.UpdReqAll {
			sortedOffer(func(_ int, fn func(*engine.Binding) bool) { sv.eng.ForEach(fn) }, func(b *engine.Binding) {
				if sv.eng.RelationshipOf(b.Kind, b.Prefix) == 0 {
					offer(b)
				}
			})
		} else {
			sortedOffer(sv.eng.ForEachUnacked, func(b *engine.Binding) { offer(b) })
		}
		sv.updDoneXID, sv.updDoneDue = m.xid, true
		s.pump(i)
	case wire.BndUpd:
		sv.updFrame = m.frame
		msg, _, _ := wire.SplitFrame(m.frame)
		if err := sv.upd.Decode(msg); err != nil {
			s.failf("harness", "%s cannot decode a BNDUPD: %v", names[i], err)
			return
		}
		sv.results = sv.results[:0]
		k := replicate.NumLeases(&sv.upd)
		if k == 0 {
			s.sendFrame(i, replicate.AppendBndReply(nil, &sv.upd, nil))
			return
		}
		for j := 0; j < k && j < len(sv.recv); j++ {
			if err := replicate.ReceivedFromWire(&sv.upd, j, sv.skew, &sv.recv[j]); err != nil {
				sv.results = append(sv.results, replicate.LeaseResult{Status: wire.StatusMissingBindingInformation})
				continue
			}
			r := &sv.recv[j]
			s.logf("%s <- BNDUPD %s %s c%s iaid=%d %v exp=%d pl=%d", names[i], r.Kind, r.Prefix, cname(r.DUID), r.IAID, r.Status,
				r.CLTT+int64(r.Valid)-s.nowSec(i), r.PartnerLifetime-s.nowSec(i))
			s.stepIn(i, engine.Input{Kind: engine.InputBndUpd, Upd: r, XID: sv.upd.XID})
		}
	case wire.BndReply:
		var fm wire.FailoverMsg
		msg, _, _ := wire.SplitFrame(m.frame)
		if err := fm.Decode(msg); err != nil {
			s.failf("harness", "%s cannot decode a BNDREPLY: %v", names[i], err)
			return
		}
		all := true
		var firstBad uint16
		replicate.ParseBndReply(&fm, func(p netip.Prefix, accepted bool, status uint16, pls int64) {
			if !accepted {
				all = false
				if firstBad == 0 {
					firstBad = status
				}
			}
			if s.o.Faults.InflateAck && accepted && pls != 0 {
				pls += 86400
			}
			bs := replicate.EchoedStatus(&fm, p)
			s.logf("%s <- BNDREPLY %s acc=%v st=%d %v pls=%d", names[i], p, accepted, status, bs, pls-s.nowSec(i))
			before, _ := sv.eng.Lookup(p)
			s.stepIn(i, engine.Input{Kind: engine.InputBndReply, Prefix: p, Accepted: accepted, StatusCode: status,
				PartnerLifetimeSent: pls, BindingStatus: bs})
			// The ack covers the client's current grant only when it
			// answers the newest update of the lease: a grant made while
			// an older BNDUPD was in flight queued a new partner lifetime,
			// and the partner has not heard of that grant yet.
			if accepted && bs == engine.StatusActive && (before.PartnerLifetime == 0 || before.PartnerLifetime == pls) {
				s.markAcked(i, p, before)
			}
		})
		if all {
			sv.out.Ack(fm.XID)
		} else {
			sv.out.Nak(fm.XID, firstBad)
		}
		s.pump(i)
	}
	s.flush(i)
}

// markAcked notes that the partner has durably accepted server i's ACTIVE
// record of p: the client holding it from i is now protected against a
// crash of both.
func (s *Sim) markAcked(i int, p netip.Prefix, b engine.Binding) {
	for _, c := range s.cl {
		k := resKey{b.Kind, p}
		if h, ok := c.hold[k]; ok && h.server == i && string(c.duid) == b.DUID && h.iaid == b.IAID {
			h.acked = true
			c.hold[k] = h
		}
	}
}

// --- link, crash, restart, operator -------------------------------------------

func (s *Sim) connectIfPossible() {
	if s.conn || !s.link || !s.srv[0].running() || !s.srv[1].running() {
		return
	}
	s.conn = true
	s.logf("link up: P local=%v S local=%v", engine.State(s.srv[0].local.State), engine.State(s.srv[1].local.State))
	// becomeUp: each side sends its current STATE, then reports Up.
	for i, sv := range s.srv {
		sv.peerUp = true
		sv.skew = s.nowSec(1-i) - s.nowSec(i)
		sv.out.SetWindow(window)
		s.send(i, pmsg{typ: wire.State, state: engine.State(sv.local.State), flags: sv.local.Flags, start: sv.local.StartOfState})
	}
	for i := range s.srv {
		if s.srv[i].running() && s.srv[i].peerUp {
			s.stepIn(i, engine.Input{Kind: engine.InputPeerUp})
			s.flush(i)
		}
	}
}

func (s *Sim) disconnect(why string) {
	if !s.conn {
		return
	}
	s.conn = false
	s.q[0], s.q[1] = nil, nil
	s.logf("link down (%s)", why)
	for i, sv := range s.srv {
		if sv.running() && sv.peerUp {
			sv.peerUp = false
			sv.updDoneDue = false
			sv.out.Reset()
			s.stepIn(i, engine.Input{Kind: engine.InputPeerDown})
			s.flush(i)
		}
	}
}

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
	sv.out = replicate.NewOutbox(window, 128)
	sv.peerUp, sv.updDoneDue = false, false
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

// --- clients -------------------------------------------------------------------

func cname(duid string) string {
	if len(duid) == 10 {
		return fmt.Sprint(int(duid[8])<<8 | int(duid[9]))
	}
	return fmt.Sprintf("%x", duid)
}

func (s *Sim) expireClients() {
	now := s.simSec()
	for _, c := range s.cl {
		for k, h := range c.hold {
			if h.expiry <= now {
				delete(c.hold, k)
			}
		}
	}
}

// quickReleases runs the RELEASEs that are due (see take).
func (s *Sim) quickReleases() {
	for _, c := range s.cl {
		if c.releaseAt != 0 && c.releaseAt <= s.nowMS && !s.fail {
			s.quickRelease(c)
		}
	}
}

func (s *Sim) quickRelease(c *client) {
	if len(c.hold) > 0 {
		s.exchange(c, wire.Release, c.lastAt)
	}
	c.releaseAt = 0
}

func (s *Sim) clientAction(c *client) {
	switch {
	case c.releaseAt != 0: // about to let go: nothing else first
		s.quickRelease(c)
	case len(c.hold) == 0 && (c.adv < 0 || s.nowMS-c.advAt > 30_000):
		s.exchange(c, wire.Solicit, -1)
	case len(c.hold) == 0:
		s.exchange(c, wire.Request, c.adv)
	default:
		r := s.rng.Float64()
		switch {
		case r < 0.55:
			s.exchange(c, wire.Renew, c.lastAt)
		case r < 0.8:
			s.exchange(c, wire.Rebind, -1)
		case r < 0.93:
			s.exchange(c, wire.Release, c.lastAt)
		default:
			s.logf("c%d vanishes holding %d", c.n, len(c.hold))
			clear(c.hold)
			c.adv = -1
		}
	}
}

// encode builds the client's message; to names the server (SERVERID), -1
// for none.
func (s *Sim) encode(c *client, t wire.MsgType, to int) []byte {
	c.xid++
	b := wire.AppendHeader(s.buf[:0], t, [3]byte{byte(c.n), byte(c.xid >> 8), byte(c.xid)})
	b = wire.AppendOption(b, wire.OptClientID, c.duid)
	if to >= 0 {
		b = wire.AppendOption(b, wire.OptServerID, serverID[to])
	}
	b = wire.AppendUint16Option(b, wire.OptElapsedTime, 0)
	keys := c.sortedKeys()
	var st int
	b, st = wire.BeginIA(b, wire.OptIANA, 1, 0, 0)
	for _, k := range keys {
		if k.kind == engine.KindNA {
			b = wire.AppendIAAddr(b, k.p.Addr(), 0, 0)
		}
	}
	b = wire.EndOption(b, st)
	if c.pd {
		b, st = wire.BeginIA(b, wire.OptIAPD, 2, 0, 0)
		for _, k := range keys {
			if k.kind == engine.KindPD {
				b = wire.AppendIAPrefix(b, k.p, 0, 0)
			}
		}
		b = wire.EndOption(b, st)
	}
	s.buf = b
	return b
}

func (c *client) sortedKeys() []resKey {
	keys := make([]resKey, 0, len(c.hold))
	for k := range c.hold {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].kind != keys[j].kind {
			return keys[i].kind < keys[j].kind
		}
		return keys[i].p.Addr().Less(keys[j].p.Addr())
	})
	return keys
}

type answer struct {
	from int
	raw  []byte
	pkt  *wire.Packet
}

// exchange sends one client message by multicast to both servers (in a
// random order), checks every reply released, and lets the client take the
// first one that reaches it.
func (s *Sim) exchange(c *client, t wire.MsgType, to int) {
	raw := s.encode(c, t, to)
	var answers []answer
	order := [2]int{0, 1}
	if s.rng.IntN(2) == 1 {
		order = [2]int{1, 0}
	}
	for _, i := range order {
		sv := s.srv[i]
		if !sv.running() {
			continue
		}
		if err := s.pkt.Decode(raw); err != nil {
			s.failf("harness", "client message does not decode: %v", err)
			return
		}
		pre := s.snapshotClient(i, c)
		if err := s.stepIn(i, engine.Input{Kind: engine.InputClient, Pkt: &s.pkt, Iface: "eth0", Multicast: true,
			To: engine.Dest{Addr: netip.AddrPortFrom(netip.MustParseAddr("fe80::c"), 546), IfIndex: 2}}); err != nil {
			s.failf("harness", "client step: %v", err)
			return
		}
		st := sv.state()
		for _, rep := range s.flush(i) {
			p := new(wire.Packet)
			if err := p.Decode(rep); err != nil {
				s.failf("harness", "reply from %s does not decode: %v", names[i], err)
				return
			}
			s.res.Stats.Replies++
			s.checkReply(i, st, c, t, p, pre)
			answers = append(answers, answer{from: i, raw: rep, pkt: p})
		}
	}
	if len(answers) == 0 {
		s.logf("c%d %v to %s: no answer", c.n, t, srvName(to))
		if t == wire.Request {
			c.adv = -1
		}
		return
	}
	a := answers[s.rng.IntN(len(answers))]
	s.take(c, t, a)
}

func srvName(i int) string {
	if i < 0 {
		return "all"
	}
	return names[i]
}

// snapshotClient is what server i durably held ACTIVE for client c before
// a request (for the "new client" rule).
func (s *Sim) snapshotClient(i int, c *client) map[resKey]uint32 {
	m := map[resKey]uint32{}
	for p, b := range s.srv[i].shadow {
		if b.Status == engine.StatusActive && b.DUID == string(c.duid) {
			m[resKey{b.Kind, p}] = b.IAID
		}
	}
	return m
}

// take records what the chosen answer told the client.
func (s *Sim) take(c *client, t wire.MsgType, a answer) {
	m := &a.pkt.Msg
	var sb strings.Builder
	switch {
	case t == wire.Release:
		if c.releaseAt != 0 {
			c.released = append(c.released, c.sortedKeys()...)
			s.res.Stats.QuickReleases++
		}
		clear(c.hold)
		c.adv = -1
		s.logf("c%d RELEASE -> %s", c.n, names[a.from])
		return
	case m.Type == wire.Advertise:
		c.adv, c.advAt = a.from, s.nowMS
		s.logf("c%d SOLICIT -> ADVERTISE from %s", c.n, names[a.from])
		return
	}
	c.lastAt = a.from
	c.adv = -1
	now := s.simSec()
	upd := func(k engine.Kind, iaid uint32, p netip.Prefix, valid uint32) {
		key := resKey{k, p}
		if valid == 0 {
			delete(c.hold, key)
			fmt.Fprintf(&sb, " -%s", p)
			return
		}
		s.res.Stats.Grants++
		c.hold[key] = holding{iaid: iaid, expiry: now + int64(valid), server: a.from}
		c.released = slices.DeleteFunc(c.released, func(k resKey) bool { return k == key })
		fmt.Fprintf(&sb, " %s/%ds", p, valid)
	}
	for j := 0; j < m.NumIANA; j++ {
		ia := &m.IANA[j]
		if ia.HasStatus && ia.Status == wire.StatusNoBinding {
			s.dropIA(c, engine.KindNA)
			sb.WriteString(" na:nobinding")
		}
		for k := 0; k < ia.NumAddrs; k++ {
			upd(engine.KindNA, ia.IAID, netip.PrefixFrom(ia.Addrs[k].Addr, 128), ia.Addrs[k].Valid)
		}
	}
	for j := 0; j < m.NumIAPD; j++ {
		ia := &m.IAPD[j]
		if ia.HasStatus && ia.Status == wire.StatusNoBinding {
			s.dropIA(c, engine.KindPD)
			sb.WriteString(" pd:nobinding")
		}
		for k := 0; k < ia.NumPrefixes; k++ {
			upd(engine.KindPD, ia.IAID, ia.Prefixes[k].Prefix, ia.Prefixes[k].Valid)
		}
	}
	s.logf("c%d %v -> REPLY from %s:%s", c.n, t, names[a.from], sb.String())
	if t == wire.Request && len(c.hold) > 0 && s.rng.Float64() < pQuickRelease {
		c.releaseAt = s.nowMS + s.rng.Int64N(2001)
	}
}

func (s *Sim) dropIA(c *client, k engine.Kind) {
	for key := range c.hold {
		if key.kind == k {
			delete(c.hold, key)
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
			s.srv[0].state(), s.srv[0].out.Pending(), s.srv[0].out.Unacked(),
			s.srv[1].state(), s.srv[1].out.Pending(), s.srv[1].out.Unacked(), s.conn)
		return
	}
	s.checkAgree()
}

func (s *Sim) settled() bool {
	for _, sv := range s.srv {
		if !sv.running() || sv.state() != engine.StateNormal || !sv.out.Idle() {
			return false
		}
	}
	return s.conn && len(s.q[0]) == 0 && len(s.q[1]) == 0
}

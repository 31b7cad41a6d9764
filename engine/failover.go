package engine

import (
	"net/netip"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Failover wiring: the engine owns one Endpoint (endpoint.go) per configured
// relationship and lets its state gate and shape what clients of the
// relationship's subnets are told. The pieces:
//
//   - Inputs. InputPeerUp/Down/State, InputUpdDone and InputAdminPartnerDown
//     drive the endpoint of Input.Rel; InputTick drives every endpoint's
//     timers. The endpoint's actions come out in order: ActPersist becomes
//     an EventEndpoint (journaled, applied), everything else a PeerMsg in
//     Ready, sent by the loop once the Ready's events are durable.
//   - Binding updates. InputBndUpd and InputBndReply carry the partner's
//     BNDUPD and BNDREPLY leases (partner_updates.go); owed EXPIRED,
//     RELEASED and RESET records wait for the partner's ack before expiry
//     reclaims them.
//   - Replay. Apply(EventEndpoint) keeps the last stored image per
//     relationship; the endpoints start (NewEndpoint, in STARTUP, with that
//     image) on the first Step after replay, whose time is the boot time.
//   - Clients (client.go, alloc.go). Endpoint.Service gates which messages
//     are answered, MayAllocate whether new leases are made, the address
//     split (split.go) which addresses, and CapLifetime/CapTimes the
//     lifetimes; commit records PartnerLifetime (LazyPartnerLifetime) and
//     StateExpiration on the lease for the BNDUPD that follows.
//
// Delegated prefixes: proportional allocation (pdsplit.go). The primary
// moves a share of the free ones to the secondary as FREE-BACKUP records;
// each side allocates from its own, and from the partner's only in
// PARTNER-DOWN after PartnerPoolUsableAt.

// storedRefresh is how often a serving endpoint's stored image is written
// even when no transition asks for it: Stored().LastOperated is the "last
// recorded time of operation" that STARTUP and RECOVER-WAIT rely on
// (endpoint.go). A stale (early) value errs the unsafe way — RECOVER where
// POTENTIAL-CONFLICT was due, a RECOVER-WAIT too short — so boot raises it
// to the last client-caused lease event replayed (relState.lastServed). A
// minute costs one small event per relationship per minute.
const storedRefresh = 60

// relState is one relationship's endpoint and the image last applied for it.
type relState struct {
	cfg       *RelationshipConfig
	epCfg     EndpointConfig
	stored    StoredState // the last EventEndpoint applied
	hasStored bool
	digest    uint64 // stored's share of the state digest
	// lastServed is the time of the latest lease event a client's message
	// caused in this relationship's subnets, as Apply saw them (replay
	// included): when this server last served, which the stored
	// LastOperated (refreshed every storedRefresh) may understate after a
	// crash. Only this server's own client work counts: records the
	// partner sent carry the partner's activity, and counting them sent a
	// server back from RECOVER-WAIT into POTENTIAL-CONFLICT, and on to
	// serving in RESOLUTION-INTERRUPTED from a pool the partner had used
	// (pair simulation, seed 231).
	lastServed int64
	ep         *Endpoint
	// unacked holds the records of this relationship's subnets the
	// partner has not acked (unackedRel), kept by Apply.
	unacked unackedSet
}

// foCtx is the failover view of the client request being answered. rel < 0:
// the subnet is standalone and nothing below applies.
type foCtx struct {
	rel           int
	primary       bool
	mayAllocate   bool
	partnerUsable bool // PARTNER-DOWN and PartnerPoolUsableAt has passed
	rule          LifetimeRule
	mclt          uint32
}

func (e *Engine) initRels() {
	e.fo.rel = -1
	e.rels = make([]relState, len(e.cfg.Relationships))
	for i := range e.cfg.Relationships {
		c := &e.cfg.Relationships[i]
		role := RoleSecondary
		if c.Primary {
			role = RolePrimary
		}
		e.rels[i] = relState{cfg: c, epCfg: EndpointConfig{Role: role, MCLT: c.MCLT, AutoPartnerDown: c.AutoPartnerDown}}
	}
}

// boot starts the endpoints at the first Step: replay (Apply alone) has
// restored their stored images by then, and now is the boot time.
func (e *Engine) boot() {
	if e.booted {
		return
	}
	e.booted = true
	for i := range e.rels {
		r := &e.rels[i]
		var st *StoredState
		if r.hasStored {
			s := r.stored
			s.LastOperated = max(s.LastOperated, r.lastServed)
			st = &s
		}
		r.ep = NewEndpoint(r.epCfg, st, e.now)
	}
}

// peer handles the failover inputs of one relationship.
func (e *Engine) peer(in *Input) error {
	if in.Rel < 0 || in.Rel >= len(e.rels) {
		return ErrInput
	}
	ep := e.rels[in.Rel].ep
	defer e.enteredPD(in.Rel, ep.State())
	acts := e.acts[:0]
	why := CauseFailover
	switch in.Kind {
	case InputPeerUp:
		acts = ep.CommUp(e.now, acts)
	case InputPeerDown:
		acts = ep.CommDown(e.now, acts)
	case InputPeerState:
		acts = ep.PartnerState(e.now, in.State, in.Flags, in.Start, acts)
	case InputUpdDone:
		acts = ep.UpdDone(e.now, acts)
	case InputAdminPartnerDown:
		var err error
		if acts, err = ep.AdminPartnerDown(e.now, acts); err != nil {
			e.acts = acts
			return err
		}
		why = CauseAdmin
	}
	e.actions(in.Rel, acts, why)
	return nil
}

// tickEndpoints runs every endpoint's timers, and refreshes a stored image
// whose LastOperated has drifted by storedRefresh.
func (e *Engine) tickEndpoints() {
	for i := range e.rels {
		r := &e.rels[i]
		from := r.ep.State()
		e.actions(i, r.ep.Tick(e.now, e.acts[:0]), CauseFailover)
		e.enteredPD(i, from)
		e.rebalance(i)
		if st := r.ep.Stored(); st != r.stored && st.State != 0 &&
			(!r.hasStored || st.LastOperated-r.stored.LastOperated >= storedRefresh) {
			e.persist(i, CauseFailover)
		}
	}
}

// enteredPD reschedules relationship i's owed records when its endpoint
// has just entered PARTNER-DOWN from state from: they may now be reclaimed
// without the partner's ack (heldUntil).
func (e *Engine) enteredPD(i int, from State) {
	if from != StatePartnerDown && e.rels[i].ep.State() == StatePartnerDown {
		e.reschedule(i)
	}
}

// actions carries out an endpoint's actions in order: persist as an event,
// the rest for the loop.
func (e *Engine) actions(i int, acts []Action, why Cause) {
	for _, a := range acts {
		if a.Kind == ActPersist {
			e.persist(i, why)
			continue
		}
		e.rd.PeerMsgs = append(e.rd.PeerMsgs, PeerMsg{Rel: i, Action: a})
	}
	e.acts = acts[:0]
}

func (e *Engine) persist(i int, why Cause) {
	r := &e.rels[i]
	e.emit(Event{Kind: EventEndpoint, Time: e.now, Why: why,
		Endpoint: EndpointRecord{Rel: r.cfg.Name, StoredState: r.ep.Stored()}})
}

// applyEndpoint installs a stored endpoint image (Apply's EventEndpoint).
// A live endpoint already holds it (it produced it); during replay it is
// what the endpoint will start from.
func (e *Engine) applyEndpoint(rec *EndpointRecord) {
	i := e.cfg.relIndex(rec.Rel)
	if i < 0 {
		return // a relationship no longer configured
	}
	r := &e.rels[i]
	e.digest -= r.digest
	r.stored, r.hasStored = rec.StoredState, true
	r.digest = endpointHash(rec)
	e.digest += r.digest
}

func endpointHash(rec *EndpointRecord) uint64 {
	h := newHasher()
	h.byte(0xe0)
	h.str(rec.Rel)
	s := &rec.StoredState
	h.u64(uint64(s.State)<<16 | uint64(s.Previous)<<8 | uint64(s.PartnerState))
	h.u64(uint64(s.StartTime))
	h.u64(uint64(s.PartnerStart))
	h.u64(uint64(s.LastPartnerMsg))
	h.u64(uint64(s.PartnerDownTime))
	h.u64(uint64(s.LastOperated))
	if s.Communicated {
		h.byte(1)
	}
	return mix(h.sum())
}

// EndpointInfo is a relationship's failover state, for /v1/status.
type EndpointInfo struct {
	Name         string
	Role         Role
	State        State // StateStartup until the endpoint leaves it (and before the first Step)
	PartnerState State // as last reported by the partner (stored)
	CommOK       bool
	Service      Service
	// Stored is the image last journaled (what a restart would start from).
	Stored StoredState
}

// StateMessage is the STATE relationship rel's endpoint would send now
// (Endpoint.StateMessage); ok is false before the first Step.
func (e *Engine) StateMessage(rel int) (a Action, ok bool) {
	if rel < 0 || rel >= len(e.rels) || e.rels[rel].ep == nil {
		return Action{}, false
	}
	return e.rels[rel].ep.StateMessage(), true
}

// NumRelationships is len(Config().Relationships).
func (e *Engine) NumRelationships() int { return len(e.rels) }

// Relationship returns the index of the relationship called name, or -1.
func (e *Engine) Relationship(name string) int { return e.cfg.relIndex(name) }

// Endpoint returns the failover state of relationship rel; false when rel
// is out of range.
func (e *Engine) Endpoint(rel int) (EndpointInfo, bool) {
	if rel < 0 || rel >= len(e.rels) {
		return EndpointInfo{}, false
	}
	r := &e.rels[rel]
	in := EndpointInfo{Name: r.cfg.Name, Role: r.epCfg.Role, State: StateStartup,
		PartnerState: r.stored.PartnerState, Stored: r.stored}
	if r.ep != nil {
		in.State, in.CommOK, in.Service = r.ep.State(), r.ep.CommOK(), r.ep.Service()
		in.PartnerState = r.ep.Stored().PartnerState
	}
	return in, true
}

// SendsUpdates reports whether relationship rel's endpoint may send lazy
// BNDUPDs now (Endpoint.SendsUpdates); an answer to the partner's UPDREQ
// or UPDREQALL is sent regardless.
func (e *Engine) SendsUpdates(rel int) bool {
	return rel >= 0 && rel < len(e.rels) && e.rels[rel].ep != nil && e.rels[rel].ep.SendsUpdates()
}

// EndpointRecords calls fn with the stored image of every relationship that
// has one, for snapshots: applying them as EventEndpoint restores them.
func (e *Engine) EndpointRecords(fn func(rec EndpointRecord) bool) {
	for i := range e.rels {
		r := &e.rels[i]
		if r.hasStored && !fn(EndpointRecord{Rel: r.cfg.Name, StoredState: r.stored}) {
			return
		}
	}
}

// NextTimer is the earliest time an InputTick can change an endpoint's
// state (0: none pending), so the loop can tick at the right moment.
func (e *Engine) NextTimer() int64 {
	var t int64
	for i := range e.rels {
		if r := e.rels[i].ep; r != nil {
			if n := r.NextTimer(); n != 0 && (t == 0 || n < t) {
				t = n
			}
		}
	}
	return t
}

// gate decides whether a client request on subnet sn may be answered in the
// subnet's failover state, and sets e.fo for the rest of the request. It
// reports false (and counts the drop) when the request gets no answer.
func (e *Engine) gate(in *Input, sn int) bool {
	e.fo.rel = -1
	if sn < 0 || e.subnets[sn].rel < 0 {
		return true
	}
	i := e.subnets[sn].rel
	ep := e.rels[i].ep
	switch ep.Service() {
	case ServeNone:
		e.drop(DropFailover)
		return false
	case ServeRenewOwn:
		// Renew-responsive (§3, §8.7.1, §8.8.1): only messages addressed to
		// us (the SERVERID check has been made) about bindings we hold.
		switch in.Pkt.Msg.Type {
		case wire.Request, wire.Renew, wire.Release, wire.Decline:
			if !e.holdsAny(in, sn) {
				e.drop(DropFailover)
				return false
			}
		default:
			e.drop(DropFailover)
			return false
		}
	}
	st := ep.State()
	e.fo = foCtx{rel: i, primary: ep.Role() == RolePrimary, mayAllocate: ep.MayAllocate(),
		mclt: uint32(e.rels[i].cfg.MCLT / time.Second)}
	switch st {
	case StatePartnerDown:
		e.fo.rule = RuleUncapped
		e.fo.partnerUsable = e.now >= ep.PartnerPoolUsableAt()
	case StateCommInterrupted, StateResolutionInterrupted:
		e.fo.rule = RuleInterrupted
	default:
		e.fo.rule = RuleNormal
	}
	return true
}

// holdsAny reports whether the request names an IA this server holds an
// ACTIVE binding for on subnet sn.
func (e *Engine) holdsAny(in *Input, sn int) bool {
	m := &in.Pkt.Msg
	for i := 0; i < m.NumIANA; i++ {
		if l := e.binding(KindNA, m.ClientID, m.IANA[i].IAID, sn); l != nil && l.Status == StatusActive {
			return true
		}
	}
	for i := 0; i < m.NumIAPD; i++ {
		if l := e.binding(KindPD, m.ClientID, m.IAPD[i].IAID, sn); l != nil && l.Status == StatusActive {
			return true
		}
	}
	return false
}

// leaseTimes returns what a client is given now for resource p: the
// configured lifetimes, cut by the MCLT rule of the endpoint state
// (CapLifetime, CapTimes) when the subnet is in a relationship.
func (e *Engine) leaseTimes(k Kind, p netip.Prefix) (pref, valid, t1, t2 uint32) {
	pref, valid, t1, t2 = e.lifetimes()
	if e.fo.rel < 0 || e.fo.rule == RuleUncapped {
		return
	}
	var ackedPL, expTime int64
	if l := e.mapFor(k).get(p.Addr()); l != nil && l.Prefix == p && l.Status == StatusActive {
		// Only a live lease's acknowledgements count: once either side has
		// said EXPIRED or RELEASED, the partner may have accepted that and
		// forgotten the lifetimes it acked, so a new grant starts from the
		// MCLT alone (found by the pair simulation, seed 12).
		ackedPL, expTime = l.AckedPartnerLifetime, l.ExpirationTime
	}
	v := CapLifetime(e.fo.rule, valid, e.fo.mclt, e.now, ackedPL, expTime)
	return CapTimes(pref, valid, t1, t2, v)
}

// mayTake reports whether this server may make a new lease of p in the
// request's failover state: its own half of the addresses (split.go); for
// prefixes, the primary any (usable keeps it off the FREE-BACKUP ones) and
// the secondary its FREE-BACKUP ones (pdsplit.go); the partner's share
// only in PARTNER-DOWN once PartnerPoolUsableAt has passed.
func (e *Engine) mayTake(k Kind, p netip.Prefix) bool {
	if e.fo.rel < 0 {
		return true
	}
	if k == KindNA && OwnedBy(p.Addr(), e.fo.primary) || k == KindPD && e.fo.primary {
		return true
	}
	if k == KindPD {
		if l := e.pd.get(p.Addr()); l != nil && l.Prefix == p && l.Status == StatusFreeBackup {
			return true // the secondary's own pool (pdsplit.go)
		}
	}
	return e.fo.partnerUsable
}

// mayAllocate reports whether the request may get a new lease (not only a
// renewal of one it holds): always when standalone, else per MayAllocate.
func (e *Engine) mayAllocate() bool { return e.fo.rel < 0 || e.fo.mayAllocate }

// reusable reports whether l's resource may go to a client other than l's
// in the request's failover state (RFC 8156 §4.2.2.1, §8.4.1: ReusableAt).
// Standalone: always (usable has checked the status).
func (e *Engine) reusable(l *Lease) bool {
	if e.fo.rel < 0 {
		return true
	}
	ep := e.rels[e.fo.rel].ep
	return ReusableAt(&l.Binding, e.fo.primary, ep.State() == StatePartnerDown,
		ep.Stored().PartnerDownTime, e.fo.mclt) <= e.now
}

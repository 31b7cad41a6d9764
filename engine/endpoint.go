package engine

// The RFC 8156 failover endpoint state machine (draft -06 §8, which the RFC
// kept). An Endpoint is one side of one failover relationship. Like the rest
// of the engine it is pure: time arrives with every input, it keeps no timers
// of its own (Tick checks deadlines the caller schedules from NextTimer), and
// it performs no I/O. Every input appends the actions the caller must carry
// out, in order, to a caller-owned slice, so a warm caller allocates nothing.
//
// Ordering rule for the caller, the same as raft's Ready: perform the actions
// in the order given. ActPersist comes before any action that reveals the new
// state to the partner (RFC 8156 §6.3: the STATE SHOULD be in stable storage
// before it is queued), so "persist, then send" falls out of doing them in
// order.
//
// How the inputs map to the protocol (§6.1, §6.6):
//
//	CommUp       the TCP (and TLS) connection is up and CONNECT/CONNECTREPLY
//	             succeeded; the caller must send the STATE the action asks for
//	             before it processes anything else received on the connection.
//	PartnerState a STATE message. The first one without the STARTUP flag on a
//	             connection is what makes communications "OK".
//	CommDown     connection lost, keepalive timeout, DISCONNECT received, or
//	             the caller's own decision that acks stopped (§8.8.2 MAY).
//	UpdDone      the UPDDONE answering our latest UPDREQ/UPDREQALL.
//	Tick         deadlines: the STARTUP timer, auto-partner-down, the
//	             RECOVER-WAIT MCLT wait.
//
// When the state machine is evaluated. RFC 8156 §8.1 says it runs whenever
// the current state, the communications status or the partner's state
// changes. Arcs that depend on the partner's state ("comm OK" arcs) are taken
// here when communications become OK, when a STATE arrives, and right after
// the STARTUP algorithm picks its CURRENT-STATE (§8.3.2 step 5). They are not
// re-taken against a remembered partner state after one of our own
// event-driven transitions (UPDDONE, a timer, an admin command): the section
// texts speak of the partner *entering* a state, our own change is always
// announced to the partner, and the partner's reply re-runs the machine. This
// avoids detours such as RECOVER-DONE → COMMUNICATIONS-INTERRUPTED when we
// finish RECOVER-WAIT a moment before a partner still in RECOVER-WAIT, and it
// lets an operator's PARTNER-DOWN on a live link be answered by the partner
// (NORMAL → POTENTIAL-CONFLICT) rather than undone locally before it is sent.

import (
	"errors"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// State is a failover endpoint state. The values are RFC 8156 option 132
// (OPTION_F_SERVER_STATE) as registered by IANA — wire values that also live
// in stable storage; they must not change.
type State uint8

// Endpoint states (RFC 8156 §5.5.19 as published: 7 is RECOVER-WAIT, the
// drafts' SHUTDOWN having been dropped).
const (
	StateStartup               State = 1 // never sent; signalled by the STARTUP flag
	StateNormal                State = 2
	StateCommInterrupted       State = 3
	StatePartnerDown           State = 4
	StatePotentialConflict     State = 5
	StateRecover               State = 6
	StateRecoverWait           State = 7
	StateRecoverDone           State = 8
	StateResolutionInterrupted State = 9
	StateConflictDone          State = 10
)

// stateNames are the CONTRACT.md spellings (status API, metrics labels).
var stateNames = [...]string{
	StateStartup:               "startup",
	StateNormal:                "normal",
	StateCommInterrupted:       "communications-interrupted",
	StatePartnerDown:           "partner-down",
	StatePotentialConflict:     "potential-conflict",
	StateRecover:               "recover",
	StateRecoverWait:           "recover-wait",
	StateRecoverDone:           "recover-done",
	StateResolutionInterrupted: "resolution-interrupted",
	StateConflictDone:          "conflict-done",
}

func (s State) String() string {
	if s.Valid() {
		return stateNames[s]
	}
	return "invalid"
}

// Valid reports whether s is one of the ten defined states.
func (s State) Valid() bool { return s >= StateStartup && s <= StateConflictDone }

// Role is this server's side of the relationship.
type Role uint8

// Roles. The zero value is invalid so that an unset config is caught.
const (
	RolePrimary   Role = 1
	RoleSecondary Role = 2
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleSecondary:
		return "secondary"
	}
	return "invalid"
}

// DefaultStartupTime is the STARTUP timer when EndpointConfig leaves it zero.
// §8.3.2 step 3: short, but long enough to open a TCP connection to a loaded
// partner over a slow network.
const DefaultStartupTime = 10 * time.Second

// timeSlack is RFC 8156 §7.5.1's "within 5 seconds counts as equal": the
// STARTUP comparison of the partner's PARTNER-DOWN entry with our last time
// of operation treats a tie as "we may have operated after it" (the safe
// answer, POTENTIAL-CONFLICT).
const timeSlack = 5

// EndpointConfig is one relationship's failover parameters.
type EndpointConfig struct {
	Role Role
	// MCLT is the maximum client lead time (§4.4). The primary's value is
	// the relationship's; the caller passes the negotiated one.
	MCLT time.Duration
	// AutoPartnerDown is how long COMMUNICATIONS-INTERRUPTED lasts before
	// the endpoint moves to PARTNER-DOWN by itself (§8.9); 0 = never, only
	// `tandem ctl partner-down`.
	AutoPartnerDown time.Duration
	// StartupTime is the STARTUP timer (§8.3.2 step 3); 0 = DefaultStartupTime.
	StartupTime time.Duration
	// StartupPartnerDown is §8.3.2 step 1's "SHOULD be configurable": a
	// server with no record of ever having talked to its partner (newly
	// commissioned) that hears nothing during STARTUP goes to PARTNER-DOWN
	// instead of RECOVER. Off by default: it is only safe when the operator
	// knows the partner is not serving.
	StartupPartnerDown bool
}

// StoredState is what RFC 8156 §8.2 requires in stable storage, written on
// every transition (ActPersist) and read back by NewEndpoint. Times are Unix
// seconds (the wire's 2000-based times are the codec's business); 0 = none.
type StoredState struct {
	State        State // own state; never StateStartup; 0 = no record
	Previous     State // the state before State
	StartTime    int64 // when State was entered
	PartnerState State // the partner's state as last reported in a STATE
	PartnerStart int64 // the partner's START_TIME_OF_STATE
	// LastPartnerMsg is when the partner was last heard from (a STATE or
	// UPDDONE, or a Tick while communications are OK).
	LastPartnerMsg int64
	// PartnerDownTime is when this server entered PARTNER-DOWN (sent as
	// PARTNER_DOWN_TIME); 0 when not in PARTNER-DOWN.
	PartnerDownTime int64
	// LastOperated is the last time this server was answering clients. It
	// is the "last recorded time of operation" of §8.3.2 step 5 and the
	// "time the server went down" of §8.6.2. The endpoint advances it on
	// every input while serving; it reaches the disk with each ActPersist,
	// and the caller should also persist Stored() periodically (it is a few
	// bytes) so that a crash leaves it close to the truth. A stale (early)
	// value errs towards RECOVER over POTENTIAL-CONFLICT, so keep it fresh;
	// the engine also raises it at boot to its records' latest activity.
	LastOperated int64
	// Communicated is the COMMUNICATED server flag: this server has had
	// communications OK with its partner (and, if it had lost its storage,
	// has finished re-reading it with UPDREQALL).
	Communicated bool
}

// ActionKind says what the caller must do.
type ActionKind uint8

// Actions, performed in the order appended.
const (
	// ActPersist: write Stored() to stable storage (the journal). It always
	// precedes the ActSendState that reveals the new state.
	ActPersist ActionKind = iota + 1
	// ActSendState: send a STATE with Action.State, Flags, Start and, when
	// State is PARTNER-DOWN, PartnerDown.
	ActSendState
	// ActSendUpdReq: send UPDREQ (send me what I have not acked).
	ActSendUpdReq
	// ActSendUpdReqAll: send UPDREQALL (send me everything; I lost my DB).
	ActSendUpdReqAll
	// ActSendPoolReq: the secondary asks for delegable prefixes (§4.2.2).
	ActSendPoolReq
	// ActResendUnacked: entering NORMAL, send every unacked BNDUPD (§8.8).
	ActResendUnacked
	// ActAlarm: raise an operator alarm; Action.State is the state entered
	// (COMMUNICATIONS-INTERRUPTED from NORMAL, or RESOLUTION-INTERRUPTED).
	ActAlarm
	// ActSendBndReply: answer one lease of a received BNDUPD; the details
	// are in PeerMsg.BndReply. The engine makes it (InputBndUpd), never an
	// Endpoint.
	ActSendBndReply
)

var actionNames = [...]string{
	ActPersist:       "persist",
	ActSendState:     "send-state",
	ActSendUpdReq:    "send-updreq",
	ActSendUpdReqAll: "send-updreqall",
	ActSendPoolReq:   "send-poolreq",
	ActResendUnacked: "resend-unacked",
	ActAlarm:         "alarm",
	ActSendBndReply:  "send-bndreply",
}

func (k ActionKind) String() string {
	if k >= ActPersist && int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "invalid"
}

// Action is one thing the caller must do. Only ActSendState uses every field.
type Action struct {
	Kind        ActionKind
	State       State // ActSendState: SERVER_STATE; ActPersist, ActAlarm: the state entered or held
	Flags       uint8 // ActSendState: SERVER_FLAGS (wire.ServerFlag*)
	Start       int64 // ActSendState: START_TIME_OF_STATE, Unix seconds
	PartnerDown int64 // ActSendState: PARTNER_DOWN_TIME when State is PARTNER-DOWN, else 0
}

// Service is how a state lets the server answer clients (§8.1
// "responsiveness").
type Service uint8

const (
	// ServeNone: unresponsive (STARTUP, POTENTIAL-CONFLICT, RECOVER,
	// RECOVER-WAIT).
	ServeNone Service = iota
	// ServeRenewOwn: renew-responsive. Answer only requests that carry our
	// SERVERID, or renewals of leases we already hold a record of; never
	// SOLICIT. The secondary in NORMAL, and RECOVER-DONE (§8.7.1).
	ServeRenewOwn
	// ServeAll: responsive.
	ServeAll
)

func (s Service) String() string {
	switch s {
	case ServeNone:
		return "none"
	case ServeRenewOwn:
		return "renew-own"
	case ServeAll:
		return "all"
	}
	return "invalid"
}

// ErrPartnerDownState is returned by AdminPartnerDown outside NORMAL,
// COMMUNICATIONS-INTERRUPTED and RESOLUTION-INTERRUPTED, the only states
// with an "external command" arc into PARTNER-DOWN (§8.8.2, §8.9.2, §8.11.2).
var ErrPartnerDownState = errors.New("engine: partner-down is only allowed in normal, communications-interrupted or resolution-interrupted")

// Endpoint is one failover endpoint. It is not safe for concurrent use.
type Endpoint struct {
	cfg  EndpointConfig
	mclt int64 // cfg.MCLT in seconds

	state State       // live state; StateStartup until §8.3.2 ends
	st    StoredState // the stable-storage image

	// STARTUP (§8.3.2).
	startupRaw   State // recorded state, sent with the STARTUP flag
	startupPrev  State // PREVIOUS-STATE after step 2's comm-failed mapping
	startupUntil int64

	bootTime int64 // "the time the server started" (§8.6.2)
	// storedDown is the recorded time of operation read at boot, the
	// "time the server went down" of §8.6.2; valid when hadStored.
	storedDown int64
	hadStored  bool
	// fresh: at boot there was no record of ever having communicated.
	fresh bool

	apdAt   int64 // COMMUNICATIONS-INTERRUPTED auto-partner-down deadline; 0 = off
	rwUntil int64 // RECOVER-WAIT deadline

	connected bool // a connection is up (CommUp .. CommDown)
	commOK    bool // ... and a STATE without STARTUP has been received on it

	heardFirst    bool // a STATE has been received since boot
	partnerKnewUs bool // the first one had COMMUNICATED set
	needAll       bool // our storage is gone: ask with UPDREQALL until one completes
	ackStartup    bool // the last flags received had STARTUP (our ACK_STARTUP)

	updOut bool // an UPDREQ/UPDREQALL is outstanding (this state, this connection)
	updAll bool // ... and it was UPDREQALL

	// Per-input scratch.
	dirty     bool  // st changed: persist
	sendState bool  // send our STATE even if the state did not change
	alarm     State // an alarm-worthy state was entered
}

// NewEndpoint starts an endpoint in STARTUP (§8.3.2). stored is what the
// last run persisted, nil if it never ran (or its storage is gone); now is
// the boot time.
//
// No stored state: §8.2 says the primary starts in PARTNER-DOWN and the
// secondary in RECOVER, while §8.3.2 step 1 says PREVIOUS-STATE is RECOVER
// with TIME-OF-FAILURE 0 for either. We follow §8.3.2: RECOVER for both. A
// primary that boots with an empty disk may be a primary that lost it while
// the secondary is serving in COMMUNICATIONS-INTERRUPTED or PARTNER-DOWN;
// going to PARTNER-DOWN would let both allocate with no MCLT cap. RECOVER
// instead asks the partner for the bindings first (UPDREQALL when the
// partner's COMMUNICATED flag shows it knew us). TIME-OF-FAILURE 0 is kept
// in spirit: when neither side has ever communicated, RECOVER-WAIT is
// skipped (§8.6.2's MAY), so a brand-new pair reaches NORMAL at once. A lone
// new server can be brought up with StartupPartnerDown.
func NewEndpoint(cfg EndpointConfig, stored *StoredState, now int64) *Endpoint {
	if cfg.Role != RolePrimary && cfg.Role != RoleSecondary {
		panic("engine: EndpointConfig.Role must be RolePrimary or RoleSecondary")
	}
	if cfg.StartupTime <= 0 {
		cfg.StartupTime = DefaultStartupTime
	}
	e := &Endpoint{
		cfg:      cfg,
		mclt:     int64(cfg.MCLT / time.Second),
		state:    StateStartup,
		bootTime: now,
	}
	// Step 1.
	e.startupRaw = StateRecover
	if stored != nil && stored.State.Valid() && stored.State != StateStartup {
		e.st = *stored
		e.startupRaw = stored.State
		e.hadStored = true
		e.storedDown = stored.LastOperated
	}
	e.fresh = !e.st.Communicated
	// Step 2: a state that needs communications becomes the state its
	// comm-failed arc leads to. Only NORMAL and POTENTIAL-CONFLICT have one;
	// RECOVER, RECOVER-WAIT, RECOVER-DONE and CONFLICT-DONE allow both.
	switch e.startupRaw {
	case StateNormal:
		e.startupPrev = StateCommInterrupted
	case StatePotentialConflict:
		e.startupPrev = StateResolutionInterrupted
	default:
		e.startupPrev = e.startupRaw
	}
	// Step 3.
	e.startupUntil = now + int64(cfg.StartupTime/time.Second)
	return e
}

// State is the live endpoint state (StateStartup included).
func (e *Endpoint) State() State { return e.state }

// Role is the configured role.
func (e *Endpoint) Role() Role { return e.cfg.Role }

// Stored is the image to persist. While in STARTUP it still holds the state
// recorded before the restart: STARTUP itself is never recorded, or the
// next restart would lose PREVIOUS-STATE.
func (e *Endpoint) Stored() StoredState { return e.st }

// CommOK reports whether communications are OK (§6.6): connected, and the
// partner's STATE has been received.
func (e *Endpoint) CommOK() bool { return e.commOK }

// Flags are the SERVER_FLAGS this endpoint sends now.
func (e *Endpoint) Flags() uint8 {
	var f uint8
	if e.state == StateStartup {
		f |= wire.ServerFlagStartup
	}
	if e.st.Communicated {
		f |= wire.ServerFlagCommunicated
	}
	if e.ackStartup {
		f |= wire.ServerFlagAckStartup
	}
	return f
}

// NextTimer is the earliest time a Tick can change anything; 0 = none. The
// caller may tick more often.
func (e *Endpoint) NextTimer() int64 {
	switch e.state {
	case StateStartup:
		return e.startupUntil
	case StateCommInterrupted:
		return e.apdAt
	case StateRecoverWait:
		return e.rwUntil
	}
	return 0
}

// Service is how this endpoint may answer clients now (RFC 8156 §8, the
// "Operation in … State" sections; facts §11).
func (e *Endpoint) Service() Service {
	switch e.state {
	case StateNormal:
		if e.cfg.Role == RolePrimary {
			return ServeAll
		}
		return ServeRenewOwn
	case StateCommInterrupted, StatePartnerDown, StateResolutionInterrupted, StateConflictDone:
		return ServeAll
	case StateRecoverDone:
		return ServeRenewOwn
	}
	return ServeNone
}

// MayAllocate reports whether new leases may be made from this server's own
// pool. The secondary in NORMAL is renew-responsive only; RECOVER-DONE MUST
// NOT allocate (§8.7.1).
func (e *Endpoint) MayAllocate() bool {
	switch e.state {
	case StateNormal:
		return e.cfg.Role == RolePrimary
	case StateCommInterrupted, StatePartnerDown, StateResolutionInterrupted, StateConflictDone:
		return true
	}
	return false
}

// SendsUpdates reports whether this endpoint may send its lazy BNDUPDs now,
// unasked: once communications are OK (the partner's STATE has arrived, so
// both sides know which state they are in), and not in POTENTIAL-CONFLICT.
// There the order is the protocol (§8.10): the secondary sends its updates
// only when the primary's UPDREQ asks (the replicator answers that whatever
// this says), and the primary sends its own only from CONFLICT-DONE, after
// it has judged all of the secondary's. Sent crosswise instead, each side
// can accept the other's record of a resource both leased in PARTNER-DOWN
// (the secondary accepts any primary ACTIVE, the primary a later secondary
// one), and the two end up holding each other's client, each believing
// itself in sync (TestFailoverBothPartnerDown, seen once in CI).
func (e *Endpoint) SendsUpdates() bool { return e.commOK && e.state != StatePotentialConflict }

// MCLTCapped reports whether lifetimes are capped by the MCLT beyond the
// partner-acked lifetime (§4.4): everywhere but PARTNER-DOWN (§8.4.1).
func (e *Endpoint) MCLTCapped() bool { return e.state != StatePartnerDown }

// PartnerPoolUsableAt is, in PARTNER-DOWN, the earliest time the partner's
// free addresses and prefixes may go to new clients: PARTNER-DOWN entry +
// MCLT (§8.4.1). 0 outside PARTNER-DOWN.
func (e *Endpoint) PartnerPoolUsableAt() int64 {
	if e.state != StatePartnerDown {
		return 0
	}
	return e.st.PartnerDownTime + e.mclt
}

// CommUp: the connection is established and CONNECT/CONNECTREPLY accepted.
// The endpoint asks for its STATE to be sent (§6.1, STARTUP flag included
// while in STARTUP). Communications become OK only with the partner's STATE.
// A CommUp on a connection already up counts as that one failing first.
func (e *Endpoint) CommUp(now int64, acts []Action) []Action {
	from := e.begin(now)
	if e.connected {
		e.commFailed(now)
	}
	e.connected = true
	e.sendState = true
	e.timers(now)
	return e.finish(now, from, acts)
}

// CommDown: the connection is gone (closed, keepalive expired, DISCONNECT).
func (e *Endpoint) CommDown(now int64, acts []Action) []Action {
	from := e.begin(now)
	if e.connected {
		e.commFailed(now)
	}
	e.timers(now)
	return e.finish(now, from, acts)
}

// commFailed takes the comm-failed arcs. NORMAL → CI (§8.8.2),
// POTENTIAL-CONFLICT → RESOLUTION-INTERRUPTED (§8.10.2); every other state
// stays (§8.5.2, §8.6.2, §8.7.2, §8.12.2 say so explicitly; PD, CI, RI and
// STARTUP have no such arc). An outstanding UPDREQ is forgotten: RECOVER
// re-issues it when communications return (§8.5.2).
func (e *Endpoint) commFailed(now int64) {
	e.connected, e.commOK = false, false
	e.updOut, e.updAll = false, false
	switch e.state {
	case StateNormal:
		e.enter(now, StateCommInterrupted)
	case StatePotentialConflict:
		e.enter(now, StateResolutionInterrupted)
	}
}

// PartnerState: a STATE message (§6.4) with SERVER_STATE st, SERVER_FLAGS
// flags and START_TIME_OF_STATE startOfState (Unix seconds). A STATE with an
// invalid state (0, STARTUP itself, > 10) is ignored.
//
// The STARTUP flag (§5.5.18, §8.3.1, §8.4.2). A partner in STARTUP reports
// its previously recorded state, not a state it is operating in. PARTNER-DOWN
// MUST ignore such a STATE; we extend that to every state (UNVERIFIED as a
// reading, chosen for safety): its data are recorded, our ACK_STARTUP is set
// and our STATE is sent back so the partner can leave STARTUP, but no arc is
// taken and communications do not become OK until a STATE without the flag
// arrives — which the partner sends as soon as it leaves STARTUP. The one
// exception is an endpoint itself in STARTUP: any STATE is "communications
// OK" for step 5, which picks CURRENT-STATE from it (the partner's reported
// PARTNER-DOWN start time is valid data either way); the comm-OK arcs again
// wait for an unflagged STATE. Two endpoints booting together so neither
// waits for the other's STARTUP timer.
func (e *Endpoint) PartnerState(now int64, st State, flags uint8, startOfState int64, acts []Action) []Action {
	from := e.begin(now)
	e.st.LastPartnerMsg = now
	if !st.Valid() || st == StateStartup {
		return e.finish(now, from, acts)
	}
	e.connected = true
	if !e.heardFirst {
		// §8.5.2, §8.6.2: whether the partner has a record of us decides
		// UPDREQALL and whether RECOVER-WAIT may be skipped. Only the first
		// STATE counts: later ones may carry COMMUNICATED because of this
		// very run.
		e.heardFirst = true
		e.partnerKnewUs = flags&wire.ServerFlagCommunicated != 0
		e.needAll = e.fresh && e.partnerKnewUs
	}
	if e.st.PartnerState != st || e.st.PartnerStart != startOfState {
		e.st.PartnerState, e.st.PartnerStart = st, startOfState
		e.dirty = true // §6.4: SHOULD be in stable storage
	}
	startup := flags&wire.ServerFlagStartup != 0
	if startup != e.ackStartup {
		e.ackStartup = startup
		e.sendState = true
	}
	if startup {
		e.sendState = true
	}
	if e.state == StateStartup {
		e.leaveStartup(now, st, startOfState)
	}
	if !startup {
		if !e.commOK {
			e.commOK = true
			if !e.st.Communicated && !e.needAll {
				e.st.Communicated = true
				e.dirty = true
			}
		}
		e.evaluate(now, st)
	}
	e.timers(now)
	return e.finish(now, from, acts)
}

// UpdDone: the UPDDONE for our outstanding UPDREQ/UPDREQALL. Without one
// outstanding (a stale reply from before a reconnect or a state change) it
// is ignored.
func (e *Endpoint) UpdDone(now int64, acts []Action) []Action {
	from := e.begin(now)
	e.st.LastPartnerMsg = now
	if !e.updOut {
		return e.finish(now, from, acts)
	}
	e.updOut = false
	if e.updAll {
		e.updAll, e.needAll = false, false
		if !e.st.Communicated {
			e.st.Communicated = true // our storage is whole again
			e.dirty = true
		}
	}
	switch e.state {
	case StateRecover: // §8.5.2
		e.enter(now, StateRecoverWait)
	case StatePotentialConflict: // §8.10.2
		if e.cfg.Role == RolePrimary {
			e.enter(now, StateConflictDone)
		} else {
			e.enter(now, StateNormal)
		}
	}
	e.timers(now)
	return e.finish(now, from, acts)
}

// AdminPartnerDown is `tandem ctl partner-down`: the operator asserts the
// partner is down. Allowed in NORMAL (§8.8.2), COMMUNICATIONS-INTERRUPTED
// (§8.9.2) and RESOLUTION-INTERRUPTED (§8.11.2); already in PARTNER-DOWN it
// is a no-op, so a repeated command is not an error. Elsewhere it returns
// ErrPartnerDownState and acts unchanged.
func (e *Endpoint) AdminPartnerDown(now int64, acts []Action) ([]Action, error) {
	switch e.state {
	case StatePartnerDown:
		return acts, nil
	case StateNormal, StateCommInterrupted, StateResolutionInterrupted:
	default:
		return acts, ErrPartnerDownState
	}
	from := e.begin(now)
	e.enter(now, StatePartnerDown)
	return e.finish(now, from, acts), nil
}

// Tick fires whatever deadline has passed.
func (e *Endpoint) Tick(now int64, acts []Action) []Action {
	from := e.begin(now)
	if e.commOK {
		e.st.LastPartnerMsg = now // keepalives are arriving, or CommDown would have come
	}
	e.timers(now)
	return e.finish(now, from, acts)
}

package engine

import (
	"errors"
	"net/netip"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// InputKind says what an Input carries.
type InputKind uint8

const (
	// InputClient is a decoded client (or relayed) DHCPv6 packet.
	InputClient InputKind = iota + 1
	// InputTick lets time pass: leases expire and records are reclaimed,
	// and every failover endpoint checks its timers (Endpoint.Tick).
	InputTick

	// Failover inputs from the serving loop, for relationship Input.Rel
	// (an index into Config.Relationships). See Endpoint for what each
	// means on the partner link.

	// InputPeerUp: the partner connection is up and CONNECT/CONNECTREPLY
	// succeeded (Endpoint.CommUp).
	InputPeerUp
	// InputPeerDown: the partner connection is gone (Endpoint.CommDown).
	InputPeerDown
	// InputPeerState: a STATE message: State, Flags (SERVER_FLAGS) and
	// Start (START_TIME_OF_STATE, Unix seconds).
	InputPeerState
	// InputUpdDone: the UPDDONE for our outstanding UPDREQ/UPDREQALL.
	InputUpdDone
	// InputAdminPartnerDown: `tandem ctl partner-down`. Step returns
	// ErrPartnerDownState in a state that refuses it.
	InputAdminPartnerDown
	// InputBndUpd: one lease of a received BNDUPD, Upd, with the message's
	// XID. A BNDUPD carrying several leases is fed as one InputBndUpd per
	// lease, in order, with the same XID; each yields one ActSendBndReply
	// PeerMsg, and the loop answers the XID with one BNDREPLY built from
	// all of them (partner_updates.go).
	InputBndUpd
	// InputBndReply: the partner's answer for one lease of a BNDUPD we
	// sent: Prefix, Accepted, StatusCode, PartnerLifetimeSent and
	// BindingStatus as the BNDREPLY echoes them. Call once per lease.
	InputBndReply
	// InputPoolReq: the secondary's POOLREQ (the loop answers POOLRESP).
	// The primary rebalances the relationship's delegable prefixes at
	// once instead of at the next tick (pdsplit.go).
	InputPoolReq
)

// Input is one thing for the engine to decide on.
type Input struct {
	Kind InputKind

	// Client input.
	Pkt *wire.Packet // decoded; aliases a buffer the caller keeps until Advance
	// Iface is the ingress interface name of a packet that was not relayed.
	Iface string
	// Multicast is true when a non-relayed packet was sent to ff02::1:2;
	// RFC 8415 §18.3 answers unicast REQUEST/RENEW/RELEASE/DECLINE with
	// UseMulticast unless the server offered unicast (tandem does not).
	Multicast bool
	// To is where the reply goes; the engine copies it into the Reply.
	To Dest

	// Failover input (InputPeer*, InputUpdDone, InputAdminPartnerDown).
	Rel   int   // index into Config.Relationships
	State State // InputPeerState: SERVER_STATE
	Flags uint8 // InputPeerState: SERVER_FLAGS (wire.ServerFlag*)
	Start int64 // InputPeerState: START_TIME_OF_STATE, Unix seconds

	// InputBndUpd: the lease, decoded (replicate.ReceivedFromWire). The
	// caller owns it and keeps it unchanged until Advance; Step sets its
	// Configured field. Its DUID string is kept by the engine.
	Upd *ReceivedLease
	XID uint32 // InputBndUpd: the BNDUPD's transaction id, echoed in the reply

	// InputBndReply: one lease of a BNDREPLY.
	Prefix   netip.Prefix // the resource: an address as a /128, else a delegated prefix
	Accepted bool         // no STATUS_CODE (or Success) in the lease's scope
	// StatusCode is the rejection's STATUS_CODE (0 when accepted).
	StatusCode uint16
	// PartnerLifetimeSent is F_PARTNER_LIFETIME_SENT in Unix seconds (0:
	// absent, the status we sent had no timeout).
	PartnerLifetimeSent int64
	// BindingStatus is the F_BINDING_STATUS the reply echoes: the status
	// the partner accepted. An EXPIRED, RELEASED or RESET record passes to
	// PENDING-FREE only when it equals the record's current status, so a
	// late ack of an earlier (ACTIVE) update frees nothing. 0 (absent)
	// matches nothing.
	BindingStatus Status
}

// Dest is an opaque reply address the caller fills and gets back.
type Dest struct {
	Addr    netip.AddrPort
	IfIndex int
	Socket  int        // which of the caller's sockets the request came in on
	Local   netip.Addr // address to answer from (a unicast request's destination); zero lets the kernel choose
}

// Reply is one encoded datagram to send once the Ready's events are durable.
type Reply struct {
	To   Dest
	Data []byte // aliases the engine's output arena until Advance
}

// Ready is the engine's output since the last Advance: events to append to
// the journal, then replies and partner messages to send. The replies and
// peer messages MUST NOT be sent before every event in this Ready is
// durable (a STATE reveals an endpoint state that an EventEndpoint in the
// same Ready records: RFC 8156 §6.3 wants it in stable storage first).
type Ready struct {
	Events   []Event
	Replies  []Reply
	PeerMsgs []PeerMsg
}

// PeerMsg is something an endpoint asks the serving loop to do on its
// partner link, in order: an Endpoint Action other than ActPersist (which
// the engine itself turns into an EventEndpoint), or the engine's
// ActSendBndReply. ActSendState carries State, Flags, Start and
// PartnerDown for the STATE message; ActAlarm is for the operator (log,
// metric), not the partner; ActSendBndReply carries BndReply.
type PeerMsg struct {
	Rel int // index into Config.Relationships
	Action
	// BndReply is ActSendBndReply's content.
	BndReply PeerBndReply
}

// Counters are the engine's running totals, for metrics. Indexes into Rx
// are wire message types.
type Counters struct {
	Rx      [16]uint64 // requests by message type
	Tx      [16]uint64 // replies by message type
	Dropped [dropReasons]uint64
	// Status counts the Status Code options put in replies, by code
	// (RFC 8415 §21.13, StatusSuccess to StatusNoPrefixAvail): per IA
	// (NoAddrsAvail, NoBinding, ...) or per message (UseMulticast, a
	// RELEASE's Success). An IA granted its resources carries none.
	Status [NumStatusCodes]uint64
}

// NumStatusCodes is how many client status codes Counters.Status counts.
const NumStatusCodes = 7

var statusCodeNames = [NumStatusCodes]string{"success", "unspec-fail", "no-addrs-avail", "no-binding",
	"not-on-link", "use-multicast", "no-prefix-avail"}

// StatusCodeName is a client status code's name as the metrics label it
// ("no-addrs-avail"), "" beyond NumStatusCodes.
func StatusCodeName(code int) string {
	if code < 0 || code >= NumStatusCodes {
		return ""
	}
	return statusCodeNames[code]
}

// DropReason says why a decoded request got no answer.
type DropReason uint8

const (
	DropNoClientID DropReason = iota
	DropServerID              // SERVERID present where forbidden, absent where required, or not ours
	DropNoSubnet              // no subnet for the link the request came from
	DropType                  // a message type servers don't accept (or a RELAY-REPL layer, or an Information-request with an IA)
	DropNoAddrs               // CONFIRM without addresses (§18.3.3: no reply)
	DropFailover              // the subnet's failover endpoint may not answer this now (RFC 8156 §8)
	DropUnicast               // SOLICIT, CONFIRM, REBIND or INFORMATION-REQUEST sent by unicast (RFC 8415 §16)
	dropReasons

	// NumDropReasons is how many DropReason values there are.
	NumDropReasons = int(dropReasons)
)

var dropNames = [...]string{"no-client-id", "server-id", "no-subnet", "bad-type", "confirm-empty", "failover-state", "unicast"}

func (r DropReason) String() string { return dropNames[r] }

// Engine holds the lease state. See the package doc for how it is driven.
type Engine struct {
	cfg     Config
	subnets []subnet
	now     int64

	na      leaseTable  // address leases by address
	pd      leaseTable  // prefix leases by prefix address
	clients clientTable // chains of leases by client IA (kind, DUID, IAID)
	exp     expiryHeap
	digest  uint64
	counts  [3][NumStatuses]int // records by kind and status (Apply keeps them)

	rd        Ready
	out       []byte // arena the replies are encoded into
	starts    relayStarts
	innerType wire.MsgType // type of the reply being built, for counters
	// Resources named by the ADVERTISE being built (see offer).
	offered  [2 * wire.MaxIAs]offered
	nOffered int

	// The request being answered: its classes, its reservation (nil:
	// none) and the pools of the resources its reply names (classes.go,
	// options.go).
	cls   classMask
	resv  *Reservation
	pools replyPools
	// hasOptions: some level of the config has options.
	hasOptions  bool
	poolScratch []int // poolOrder's result

	// Failover: one per Config.Relationships entry (failover.go).
	rels   []relState
	booted bool     // endpoints started (on the first Step)
	acts   []Action // scratch for endpoint actions
	fo     foCtx    // the request being answered, when its subnet is in a relationship

	Counters Counters
}

// ErrInput is returned by Step for an input it cannot use.
var ErrInput = errors.New("engine: bad input")

// New returns an engine with empty state.
func New(cfg Config) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg,
		out: make([]byte, 0, 64<<10),
	}
	e.subnets = make([]subnet, len(e.cfg.Subnets))
	maxPools := 0
	for i := range e.cfg.Subnets {
		c := &e.cfg.Subnets[i]
		e.subnets[i].init(&e.cfg, c)
		e.subnets[i].rel = e.cfg.relIndex(c.Relationship)
		maxPools = max(maxPools, len(c.Pools), len(c.PDPools))
	}
	e.poolScratch = make([]int, 0, maxPools)
	e.hasOptions = e.cfg.hasOptions()
	e.initRels()
	return e, nil
}

// Config returns the configuration in effect (defaults filled).
func (e *Engine) Config() *Config { return &e.cfg }

// Step decides on one input. Outputs accumulate until Ready.
func (e *Engine) Step(now time.Time, in Input) error {
	e.now = now.Unix()
	e.boot()
	switch in.Kind {
	case InputClient:
		if in.Pkt == nil {
			return ErrInput
		}
		e.client(&in)
		return nil
	case InputTick:
		e.capacityChanged(-1) // time makes held records reusable
		e.tick()
		e.tickEndpoints()
		return nil
	case InputPeerUp, InputPeerDown, InputPeerState, InputUpdDone, InputAdminPartnerDown:
		e.capacityChanged(-1) // a new state may open the partner's pool
		return e.peer(&in)
	case InputBndUpd:
		return e.bndUpd(&in)
	case InputBndReply:
		return e.bndReply(&in)
	case InputPoolReq:
		if in.Rel < 0 || in.Rel >= len(e.rels) {
			return ErrInput
		}
		e.rebalance(in.Rel)
		return nil
	}
	return ErrInput
}

// HasReady reports whether there is output to take.
func (e *Engine) HasReady() bool {
	return len(e.rd.Events) > 0 || len(e.rd.Replies) > 0 || len(e.rd.PeerMsgs) > 0
}

// Ready returns the outputs accumulated since the last Advance.
func (e *Engine) Ready() Ready { return e.rd }

// Advance tells the engine the caller is done with rd: its events are
// journaled and its replies sent, so the buffers are reused.
func (e *Engine) Advance(rd Ready) {
	clear(e.rd.Events) // drop DUID references
	e.rd.Events = e.rd.Events[:0]
	e.rd.Replies = e.rd.Replies[:0]
	e.rd.PeerMsgs = e.rd.PeerMsgs[:0]
	e.out = e.out[:0]
}

// emit applies ev and queues it for the journal.
func (e *Engine) emit(ev Event) {
	e.Apply(ev)
	e.rd.Events = append(e.rd.Events, ev)
}

// Digest is an order-independent hash of every lease record, maintained by
// Apply: two engines with the same records have the same digest, whatever
// order the events came in.
func (e *Engine) Digest() uint64 { return e.digest }

// Active returns the number of ACTIVE address and prefix leases.
func (e *Engine) Active() (na, pd int) {
	return e.counts[KindNA][StatusActive], e.counts[KindPD][StatusActive]
}

// Counts returns how many records of kind k are in each status, indexed by
// Status (index 0 counts values this version does not know). Apply keeps
// the counts, so reading them costs nothing however many records there
// are: a metrics scrape needs no scan.
func (e *Engine) Counts(k Kind) [NumStatuses]int {
	if int(k) >= len(e.counts) {
		return [NumStatuses]int{}
	}
	return e.counts[k]
}

// Len returns the number of lease records held, in any status.
func (e *Engine) Len() int { return e.na.len() + e.pd.len() }

// Lookup returns the record of a resource (an address as a /128, or a
// delegated prefix).
func (e *Engine) Lookup(p netip.Prefix) (Binding, bool) {
	m := &e.na
	if p.Bits() != 128 {
		m = &e.pd
	}
	l := m.get(p.Addr())
	if l == nil || l.Prefix != p {
		return Binding{}, false
	}
	return l.Binding, true
}

// Reserve prepares an empty engine for a bulk load of about n records (a
// snapshot: journal restore): the lease tables and the client index get
// room for n each, so the load never resizes them. It also matters for
// time, not only for the resizes saved: a snapshot lists records in the
// slot order of the table that wrote it, and inserted in that order into a
// table still growing, whose slots are a fraction of the writer's, records
// of the writer's later slots land on the homes the earlier ones filled:
// once the writer's table was more than half full, one cluster grows
// across the table and each insert probes through it (a restore of a
// 10 M-record snapshot had not finished after 10 minutes; TestReserveSlotOrder
// shows the run). In a table of the final size (or larger) the records
// spread as they were. Compact gives back what was reserved and not used.
func (e *Engine) Reserve(n int) {
	e.na.reserve(n)
	e.pd.reserve(n)
	e.clients.reserve(n)
}

// Compact shrinks the lease tables and the client index to the size their
// records need, after a bulk load that Reserve over-estimated (Reserve
// cannot know how many records are addresses and how many prefixes).
func (e *Engine) Compact() {
	e.na.fit()
	e.pd.fit()
	e.clients.fit()
}

// ForEach calls fn with every lease record, in no particular order, until
// fn returns false. fn must not change the engine.
func (e *Engine) ForEach(fn func(*Binding) bool) {
	more := true
	visit := func(l *Lease) bool { more = fn(&l.Binding); return more }
	e.na.each(visit)
	if more {
		e.pd.each(visit)
	}
}

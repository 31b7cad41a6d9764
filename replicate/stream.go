package replicate

import (
	"errors"
	"net/netip"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Stream is one failover relationship's partner protocol (RFC 8156 §6–§8
// past the CONNECT exchange): the lazy BNDUPD stream and its BNDREPLYs,
// both ways; UPDREQ/UPDREQALL and the UPDDONE owed for them; POOLREQ and
// POOLRESP; and the engine inputs that partner messages and link events
// become. The serving loop (engine/node) and the pair simulator
// (engine/enginetest) run this same code; each only wires it.
//
// Design. A Stream is pure in the way the engine is: no goroutines, no
// clock (every method takes now), no I/O. It reaches out through two
// narrow interfaces given to NewStream: a Sender, which queues one framed
// message for the partner (Link in the server, an in-memory queue in the
// simulator), and a StreamEngine, the engine's methods it reads and the
// Step it feeds. The caller owns the order of things (ARCHITECTURE rules
// 1–3): it hands the Stream a Ready's PeerMsgs and events only once they
// are durable, and the BNDREPLYs owed wait for that. A BNDUPD carries the
// engine's record as it is when sent (Lookup): a lease change is offered
// only once durable, though the record sent may already hold later,
// partner-driven bookkeeping (an ack) of the Ready being gathered.
//
// What the caller does, on the goroutine that owns the engine:
//
//   - link Up / Down → Up(now, partner's MAX_UNACKED_BNDUPD) / Down(now);
//   - a partner message (Link EventMessage) → Receive(now, &ev): the
//     message is decoded once; a BNDUPD's leases are stepped into the
//     engine and the message (its pooled buffer) is kept until its
//     BNDREPLY is built;
//   - once the Ready produced meanwhile is durable: Act(now, &m) for each
//     of its PeerMsgs, in order (Act refuses those that are not the
//     stream's: STATE, alarms, other relationships), then
//     Committed(now, events, firstSeq), which sends the BNDREPLYs that
//     answer the Ready's BNDUPDs, offers the Ready's lease changes to the
//     Outbox and sends what the partner's window allows. A Ready that
//     could not be made durable → Dropped() instead.
//
// Act and Committed never step the engine (the caller is flushing a Ready
// then); every other method may.
//
// Several partner messages may be received per Ready (the serving loop
// drains what is waiting so that one fsync covers many BNDUPDs); their
// BNDREPLYs leave in arrival order. A Stream is not safe for concurrent
// use.
type Stream struct {
	cfg StreamConfig
	eng StreamEngine
	tx  Sender
	out *Outbox

	up  bool   // between Up and Down
	seq uint64 // the journal's durable position: offers outside a commit stand here

	frame []byte           // scratch for outgoing frames
	fm    wire.FailoverMsg // scratch decode for messages not kept

	// The BNDUPDs received since the last Committed, in order, each
	// answered with one BNDREPLY once the Ready holding its leases is
	// durable. upds[:nupd] are in use; the rest are kept for reuse (a
	// decoded message is large, and the steady state allocates nothing).
	upds []*recvUpd
	nupd int
	// Their leases as the engine got them, in fixed blocks so that the
	// pointers the engine holds stay put until the Ready is flushed.
	blocks  [][]engine.ReceivedLease
	used    int
	reps    []engine.PeerBndReply // the engine's per-lease answers (Act)
	results []LeaseResult

	// UPDDONE owed for the partner's UPDREQ/UPDREQALL: sent once the
	// Outbox is idle, on the connection that asked.
	updDoneXID uint32
	updDoneDue bool

	early []earlyAck   // StreamFaults.AckOnSend's acks, for the engine
	acked int          // of those, how many the Outbox has had
	in    engine.Input // the input shown to StreamConfig.Observe
}

// StreamEngine is what a Stream needs of the engine (*engine.Engine
// implements it). The simulator passes a wrapper whose walks run in a fixed
// order, so that a seed replays exactly.
type StreamEngine interface {
	Step(now time.Time, in engine.Input) error
	Lookup(p netip.Prefix) (engine.Binding, bool)
	ForEach(fn func(*engine.Binding) bool)
	ForEachUnacked(rel int, fn func(*engine.Binding) bool)
	RelationshipOf(k engine.Kind, p netip.Prefix) int
	SendsUpdates(rel int) bool
}

// Sender queues framed failover messages for the partner (*Link implements
// it). Send copies the frame; it fails when the link is down or its queue
// full, and the Stream then keeps what it could not send (a BNDUPD stays
// pending, an UPDDONE owed). NextXID returns a fresh transaction-id.
type Sender interface {
	Send(frame []byte) error
	NextXID() uint32
}

// StreamConfig configures a Stream.
type StreamConfig struct {
	// Rel is the relationship's index in the engine's configuration.
	Rel int
	// Window is MAX_UNACKED_BNDUPD until the partner's CONNECT says
	// (Up replaces it); at least 1 is used.
	Window int
	// SizeHint pre-sizes the Outbox's pending set (NewOutbox).
	SizeHint int
	// Seq is the journal's durable position when the Stream starts; later
	// ones come with Committed.
	Seq uint64

	// Lag, when set, is called for every BNDUPD the partner accepted with
	// how long its oldest change waited from its offer to the BNDREPLY, in
	// nanoseconds of the nows the Stream was given (the replication-lag
	// metric). Keep it allocation-free: it runs per BNDREPLY.
	Lag func(nanos int64)
	// Observe, when set, sees every input the Stream is about to step into
	// the engine, and may change it. For simulations and tests (a trace, a
	// checker's bookkeeping, a lying partner); nil in the server.
	Observe func(in *engine.Input)

	// Faults plant bugs, to prove that the simulator's checks catch them.
	// Tests only: never set in production.
	Faults StreamFaults
}

// StreamFaults are deliberate protocol bugs. Tests only: never set in
// production.
type StreamFaults struct {
	// AckOnSend settles every BNDUPD as accepted as soon as it is sent —
	// the Outbox entry at once, the engine's ack at the Stream's next
	// input — instead of waiting for the partner's BNDREPLY. A BNDUPD
	// lost with the connection is then believed delivered, and the MCLT
	// cap is computed from what the partner never stored.
	AckOnSend bool
}

// earlyAck is a BNDUPD sent under StreamFaults.AckOnSend and the BNDREPLY
// input the engine gets for it at the Stream's next input.
type earlyAck struct {
	xid uint32
	in  engine.Input
}

// recvUpd is one received BNDUPD awaiting its BNDREPLY: the message,
// decoded once, and the link's pooled buffer its slices point into.
type recvUpd struct {
	m   wire.FailoverMsg
	buf *bytebufferpool.ByteBuffer // holds the message m's slices point into (nil: not pooled)
	n   int                        // leases stepped into the engine
}

// recvBlock is how many received leases one block holds: blocks are never
// moved, only added, so a lease's address is stable while the engine holds
// it.
const recvBlock = 256

// ErrReplyOutOfStep is Committed's error when the engine's BNDREPLY
// answers do not line up with the BNDUPDs received (a bug): the rest go
// unanswered and the partner resends them after a reconnect.
var ErrReplyOutOfStep = errors.New("replicate: BNDREPLY bookkeeping out of step")

// NewStream returns the Stream of one relationship.
func NewStream(cfg StreamConfig, eng StreamEngine, tx Sender) *Stream {
	return &Stream{cfg: cfg, eng: eng, tx: tx, out: NewOutbox(cfg.Window, cfg.SizeHint), seq: cfg.Seq,
		frame: make([]byte, 0, 512), results: make([]LeaseResult, 0, 64)}
}

// Outbox is the Stream's outbox, for gauges (Unacked, Pending, Lag,
// Stats). Do not change it.
func (s *Stream) Outbox() *Outbox { return s.out }

// Connected reports whether the link is up (between Up and Down).
func (s *Stream) Connected() bool { return s.up }

// step feeds the engine one input, shown to the observer first (through
// s.in, so that the pointer the observer gets costs no allocation).
func (s *Stream) step(now time.Time, in engine.Input) error {
	in.Rel = s.cfg.Rel
	if s.cfg.Observe == nil {
		return s.eng.Step(now, in)
	}
	s.in = in
	s.cfg.Observe(&s.in)
	return s.eng.Step(now, s.in)
}

// Up: the CONNECT exchange is done and the partner's MAX_UNACKED_BNDUPD is
// window. The engine learns the link is up, and what waits is sent.
func (s *Stream) Up(now time.Time, window int) error {
	s.stepEarly(now)
	s.up = true
	s.out.SetWindow(window)
	err := s.step(now, engine.Input{Kind: engine.InputPeerUp})
	s.pump(now)
	return err
}

// Down: the connection ended. Everything in flight goes back in line (no
// BNDREPLY will come for it on this connection), an UPDDONE owed is
// forgotten (the partner asks again on the next connection; one sent then
// would answer a request it did not make), and the engine learns the
// link is down.
func (s *Stream) Down(now time.Time) error {
	s.stepEarly(now)
	s.up = false
	s.updDoneDue = false
	s.out.Reset()
	return s.step(now, engine.Input{Kind: engine.InputPeerDown})
}

// PeerState is the partner's STATE (Receive calls it for a STATE message;
// a simulator that carries STATE as fields calls it directly). A STATE
// may open the way for lazy updates queued meanwhile
// (Engine.SendsUpdates), so what waits is sent.
func (s *Stream) PeerState(now time.Time, st engine.State, flags uint8, start int64) error {
	s.stepEarly(now)
	err := s.step(now, engine.Input{Kind: engine.InputPeerState, State: st, Flags: flags, Start: start})
	s.pump(now)
	return err
}

// Received says what Receive made of a message, for the caller's logs and
// counters.
type Received struct {
	Type wire.MsgType
	// Rejected is the first STATUS_CODE of a BNDREPLY that rejected a
	// lease (0: all accepted, or not a BNDREPLY).
	Rejected uint16
	// Refused is the engine's error for the input the message became
	// (engine.Step), nil when accepted.
	Refused error
	// Unhandled: a type the Stream has nothing to do with (the link keeps
	// CONNECT, CONNECTREPLY, DISCONNECT and CONTACT to itself).
	Unhandled bool
}

// Receive handles one partner message (an EventMessage). The message is
// decoded once; the error is the decoder's (the message is dropped). The
// Stream takes the event's pooled buffer: a BNDUPD's until its BNDREPLY is
// built, any other's until Receive returns; ev.Msg must not be used after.
func (s *Stream) Receive(now time.Time, ev *Event) (Received, error) {
	s.stepEarly(now)
	if len(ev.Msg) > 0 && wire.MsgType(ev.Msg[0]) == wire.BndUpd {
		return s.receiveBndUpd(now, ev)
	}
	defer ev.Release()
	m := &s.fm
	if err := m.Decode(ev.Msg); err != nil {
		return Received{Type: ev.Type}, err
	}
	r := Received{Type: m.Type}
	switch m.Type {
	case wire.State:
		r.Refused = s.PeerState(now, engine.State(m.ServerState), m.ServerFlags, wire.UnixTime(m.StartTimeOfState))
	case wire.UpdDone:
		r.Refused = s.step(now, engine.Input{Kind: engine.InputUpdDone})
		s.pump(now)
	case wire.BndReply:
		r.Rejected = s.receiveBndReply(now, m)
		s.pump(now)
	case wire.UpdReq, wire.UpdReqAll:
		s.queueUpdates(now, m.Type == wire.UpdReqAll)
		s.updDoneXID, s.updDoneDue = m.XID, true
		s.pump(now)
	case wire.PoolReq:
		// The secondary asks for its share of the delegable prefixes:
		// POOLRESP says the task is accepted (RFC 8156 §4.2.2: it may
		// come before the BNDUPDs), and the primary's engine rebalances
		// now (a secondary's engine ignores it: only the primary moves
		// prefixes). The BNDUPDs follow through the Outbox as usual.
		s.frame = wire.AppendPoolResp(s.frame[:0], m.XID)
		s.tx.Send(s.frame)
		r.Refused = s.step(now, engine.Input{Kind: engine.InputPoolReq})
	case wire.PoolResp:
		// Nothing to do: the prefixes come as BNDUPDs.
	default:
		r.Unhandled = true
	}
	return r, nil
}

// queueUpdates offers what an UPDREQ (every record the partner has not
// acked) or an UPDREQALL (every record of the relationship: the partner
// lost its database) asks for. They stand at the current journal position.
func (s *Stream) queueUpdates(now time.Time, all bool) {
	at := now.UnixNano()
	offer := func(b *engine.Binding) bool {
		if Encodable(b) {
			s.out.Offer(s.seq, KeyOf(b), at)
		}
		return true
	}
	if !all {
		s.eng.ForEachUnacked(s.cfg.Rel, offer)
		return
	}
	s.eng.ForEach(func(b *engine.Binding) bool {
		if s.eng.RelationshipOf(b.Kind, b.Prefix) == s.cfg.Rel {
			offer(b)
		}
		return true
	})
}

// Act performs one of the engine's PeerMsgs, once the Ready holding it is
// durable, and reports whether it was the Stream's to perform: an answer
// to a received BNDUPD (sent by Committed), UPDREQ, UPDREQALL, POOLREQ, or
// the resend of everything unacked on entering NORMAL (§8.8). STATE and
// alarms, and anything of another relationship, are the caller's.
func (s *Stream) Act(now time.Time, m *engine.PeerMsg) bool {
	if m.Rel != s.cfg.Rel {
		return false
	}
	switch m.Kind {
	case engine.ActSendBndReply:
		s.reps = append(s.reps, m.BndReply)
		if m.BndReply.SendUpdate {
			// Our record is newer than the partner's: send it right after
			// the BNDREPLY (once per lease, the engine decides).
			if b, ok := s.eng.Lookup(m.BndReply.Prefix); ok && Encodable(&b) {
				s.out.Offer(s.seq, KeyOf(&b), now.UnixNano())
			}
		}
	case engine.ActSendUpdReq:
		s.frame = wire.AppendUpdReq(s.frame[:0], s.tx.NextXID())
		s.tx.Send(s.frame)
	case engine.ActSendUpdReqAll:
		s.frame = wire.AppendUpdReqAll(s.frame[:0], s.tx.NextXID())
		s.tx.Send(s.frame)
	case engine.ActSendPoolReq:
		s.frame = wire.AppendPoolReq(s.frame[:0], s.tx.NextXID())
		s.tx.Send(s.frame)
	case engine.ActResendUnacked:
		s.queueUpdates(now, false)
		s.pump(now)
	default:
		return false
	}
	return true
}

// Committed follows the Acts of a durable Ready: it sends the BNDREPLYs
// answering the BNDUPDs received for it (RFC 8156 §6.4: only once the
// accepted bindings are in stable storage), offers the Ready's events to
// the Outbox (first is the journal seq of evs[0]; evs may be empty), and
// sends what the window allows. Every lease change this server decided in
// the relationship's subnets is offered; a record taken from the partner
// (CausePartner) is not — the partner has it, and offering the ack
// bookkeeping would ping-pong forever.
func (s *Stream) Committed(now time.Time, evs []engine.Event, first uint64) error {
	err := s.sendBndReplies()
	at := now.UnixNano()
	for i := range evs {
		ev := &evs[i]
		seq := first + uint64(i)
		if ev.Kind == engine.EventLease && ev.Why != engine.CausePartner && Encodable(&ev.Binding) &&
			s.eng.RelationshipOf(ev.Binding.Kind, ev.Binding.Prefix) == s.cfg.Rel {
			s.out.Offer(seq, KeyOf(&ev.Binding), at)
		} else {
			s.out.Advance(seq)
		}
	}
	if len(evs) > 0 {
		s.seq = first + uint64(len(evs)) - 1
	}
	s.pump(now)
	return err
}

// Dropped forgets what was received for a Ready that could not be made
// durable: its BNDUPDs go unanswered (the partner resends them).
func (s *Stream) Dropped() {
	s.reps = s.reps[:0]
	s.recycle()
}

// pump sends what the window allows, and an owed UPDDONE once idle.
func (s *Stream) pump(now time.Time) {
	if !s.up || !(s.updDoneDue || s.eng.SendsUpdates(s.cfg.Rel)) {
		return
	}
	unix := now.Unix()
	s.out.Next(1<<30, func(seq uint64, k Key) (uint32, Verdict) {
		b, ok := s.eng.Lookup(k.Prefix)
		if !ok || !Encodable(&b) {
			return 0, Skipped
		}
		xid := s.tx.NextXID()
		s.frame = AppendBndUpd(s.frame[:0], xid, unix, &b, &b.FOTimes)
		if s.tx.Send(s.frame) != nil {
			return 0, Stop
		}
		if s.cfg.Faults.AckOnSend {
			s.early = append(s.early, earlyAck{xid, ackAsSent(unix, &b)})
		}
		return xid, Sent
	})
	for _, e := range s.early[s.acked:] {
		s.out.Ack(e.xid)
	}
	s.acked = len(s.early)
	if s.updDoneDue && s.out.Idle() {
		s.frame = wire.AppendUpdDone(s.frame[:0], s.updDoneXID)
		if s.tx.Send(s.frame) == nil {
			s.updDoneDue = false
		}
	}
}

// stepEarly feeds the engine the acks StreamFaults.AckOnSend took. It runs
// at the next input, since Act and Committed (where most sends happen) run
// while the caller flushes a Ready and must not step the engine.
func (s *Stream) stepEarly(now time.Time) {
	for i := range s.early {
		s.step(now, s.early[i].in)
	}
	s.early, s.acked = s.early[:0], 0
}

// ackAsSent is the BNDREPLY input a partner accepting b's BNDUPD would
// produce (StreamFaults.AckOnSend).
func ackAsSent(now int64, b *engine.Binding) engine.Input {
	var l wire.BindingLease
	bindingLease(&l, now, b, &b.FOTimes)
	in := engine.Input{Kind: engine.InputBndReply, Prefix: b.Prefix, Accepted: true, BindingStatus: b.Status}
	if l.Has&wire.HasPartnerLifetime != 0 {
		in.PartnerLifetimeSent = unixTime(l.PartnerLifetime)
	}
	return in
}

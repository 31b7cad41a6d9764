package replicate

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// fakeEngine is a StreamEngine that records the inputs it is stepped with
// and answers lookups from a map: enough to check what the Stream does,
// without the engine's decisions.
type fakeEngine struct {
	rel     int
	recs    map[netip.Prefix]engine.Binding
	unacked []netip.Prefix // what ForEachUnacked yields, in order
	sends   bool           // SendsUpdates
	inputs  []engine.Input
	stepErr error
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{recs: map[netip.Prefix]engine.Binding{}, sends: true}
}

func (f *fakeEngine) Step(now time.Time, in engine.Input) error {
	f.inputs = append(f.inputs, in)
	return f.stepErr
}

func (f *fakeEngine) Lookup(p netip.Prefix) (engine.Binding, bool) { b, ok := f.recs[p]; return b, ok }

func (f *fakeEngine) ForEach(fn func(*engine.Binding) bool) {
	for _, b := range f.recs {
		if !fn(&b) {
			return
		}
	}
}

func (f *fakeEngine) ForEachUnacked(rel int, fn func(*engine.Binding) bool) {
	for _, p := range f.unacked {
		b := f.recs[p]
		if !fn(&b) {
			return
		}
	}
}

func (f *fakeEngine) RelationshipOf(k engine.Kind, p netip.Prefix) int { return f.rel }
func (f *fakeEngine) SendsUpdates(rel int) bool                        { return f.sends }

// fakeSender keeps every frame sent; down makes Send fail.
type fakeSender struct {
	xid    uint32
	frames [][]byte
	down   bool
}

func (f *fakeSender) NextXID() uint32 { f.xid++; return f.xid }

func (f *fakeSender) Send(frame []byte) error {
	if f.down {
		return ErrNotConnected
	}
	f.frames = append(f.frames, append([]byte(nil), frame...))
	return nil
}

// take decodes and forgets the frames sent so far.
func (f *fakeSender) take(t *testing.T) []*wire.FailoverMsg {
	t.Helper()
	var ms []*wire.FailoverMsg
	for _, fr := range f.frames {
		ms = append(ms, decodeFrame(t, fr))
	}
	f.frames = nil
	return ms
}

// msgEvent is the EventMessage the link would deliver for one frame.
func msgEvent(frame []byte) Event {
	msg, _, _ := wire.SplitFrame(frame)
	return Event{Kind: EventMessage, Type: wire.MsgType(msg[0]), Msg: msg}
}

func newTestStream(t *testing.T) (*Stream, *fakeEngine, *fakeSender) {
	t.Helper()
	e, tx := newFakeEngine(), &fakeSender{}
	s := NewStream(StreamConfig{Window: 4, Seq: 10}, e, tx)
	if err := s.Up(time.Unix(tNow, 0), 4); err != nil {
		t.Fatal(err)
	}
	if len(e.inputs) != 1 || e.inputs[0].Kind != engine.InputPeerUp {
		t.Fatalf("Up stepped %+v", e.inputs)
	}
	e.inputs = nil
	return s, e, tx
}

// addrBinding is an ACTIVE address record for client n.
func addrBinding(n int) engine.Binding {
	b, fo := activeAddr()
	b.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(n)}), 128)
	b.FOTimes = fo
	return b
}

// TestStreamBndUpdAnsweredWhenDurable: several BNDUPDs received before one
// commit are stepped into the engine lease by lease and answered, in
// arrival order and from the message decoded on arrival, only at
// Committed; the engine's decisions decide each BNDREPLY.
func TestStreamBndUpdAnsweredWhenDurable(t *testing.T) {
	s, e, tx := newTestStream(t)
	now := time.Unix(tNow, 0)
	var xids []uint32
	for n := range 3 {
		b := addrBinding(n)
		ev := msgEvent(AppendBndUpd(nil, uint32(100+n), tNow, &b, &b.FOTimes))
		ev.Skew = 3 * time.Second
		if r, err := s.Receive(now, &ev); err != nil || r.Type != wire.BndUpd || r.Refused != nil {
			t.Fatalf("Receive: %+v %v", r, err)
		}
		xids = append(xids, uint32(100+n))
	}
	if len(tx.frames) != 0 {
		t.Fatalf("%d frames sent before the Ready was durable", len(tx.frames))
	}
	if len(e.inputs) != 3 {
		t.Fatalf("%d inputs, want 3", len(e.inputs))
	}
	for n, in := range e.inputs {
		b := addrBinding(n)
		if in.Kind != engine.InputBndUpd || in.XID != xids[n] || in.Upd.Prefix != b.Prefix || in.Upd.DUID != b.DUID {
			t.Fatalf("input %d: %+v", n, in)
		}
		if want := in.Upd.RawCLTT - 3; in.Upd.CLTT != want {
			t.Fatalf("CLTT %d not corrected by the event's skew (want %d)", in.Upd.CLTT, want)
		}
	}
	// The engine's answers, as PeerMsgs of the durable Ready.
	for n, in := range e.inputs {
		m := engine.PeerMsg{Action: engine.Action{Kind: engine.ActSendBndReply},
			BndReply: engine.PeerBndReply{XID: in.XID, Prefix: in.Upd.Prefix, Accepted: n != 1, StatusCode: map[bool]uint16{true: wire.StatusOutdatedBindingInfo}[n == 1]}}
		if !s.Act(now, &m) {
			t.Fatal("Act refused a BNDREPLY answer")
		}
	}
	if len(tx.frames) != 0 {
		t.Fatal("BNDREPLY sent before Committed")
	}
	if err := s.Committed(now, nil, 0); err != nil {
		t.Fatal(err)
	}
	ms := tx.take(t)
	if len(ms) != 3 {
		t.Fatalf("%d frames, want 3 BNDREPLYs", len(ms))
	}
	for n, m := range ms {
		got := 0
		ParseBndReply(m, func(p netip.Prefix, acc bool, st uint16, pls int64) {
			got++
			if p != addrBinding(n).Prefix || acc != (n != 1) || pls != addrBinding(n).PartnerLifetime {
				t.Fatalf("reply %d: %s acc=%v st=%d pls=%d", n, p, acc, st, pls)
			}
		})
		if m.Type != wire.BndReply || m.XID != xids[n] || got != 1 {
			t.Fatalf("reply %d: type %v xid %d leases %d", n, m.Type, m.XID, got)
		}
	}
	// Answered once: the next Ready has nothing owed.
	if err := s.Committed(now, nil, 0); err != nil || len(tx.frames) != 0 {
		t.Fatalf("second Committed: %v, %d frames", err, len(tx.frames))
	}
}

// TestStreamBndUpdUnreadableRefusedWhole: a BNDUPD one of whose leases
// cannot be read is refused whole at once, nothing stepped — as one with
// no lease at all.
func TestStreamBndUpdUnreadableRefusedWhole(t *testing.T) {
	s, e, tx := newTestStream(t)
	ev := msgEvent(wire.AppendUpdReq(nil, 5)) // a header only ...
	ev.Msg[0] = byte(wire.BndUpd)             // ... typed BNDUPD: no binding
	if _, err := s.Receive(time.Unix(tNow, 0), &ev); err != nil {
		t.Fatal(err)
	}
	if len(e.inputs) != 0 {
		t.Fatalf("stepped %+v", e.inputs)
	}
	ms := tx.take(t)
	if len(ms) != 1 || ms[0].Type != wire.BndReply || ms[0].XID != 5 || ms[0].Status != wire.StatusMissingBindingInformation {
		t.Fatalf("refusal: %+v", ms)
	}
	// Nothing is owed at the commit.
	if err := s.Committed(time.Unix(tNow, 0), nil, 0); err != nil || len(tx.frames) != 0 {
		t.Fatalf("Committed: %v, %d frames", err, len(tx.frames))
	}
}

// TestStreamOutOfStep: answers that do not match the BNDUPDs are reported,
// not sent.
func TestStreamOutOfStep(t *testing.T) {
	s, _, tx := newTestStream(t)
	b := addrBinding(1)
	ev := msgEvent(AppendBndUpd(nil, 9, tNow, &b, &b.FOTimes))
	s.Receive(time.Unix(tNow, 0), &ev)
	s.Act(time.Unix(tNow, 0), &engine.PeerMsg{Action: engine.Action{Kind: engine.ActSendBndReply}, BndReply: engine.PeerBndReply{XID: 8}})
	if err := s.Committed(time.Unix(tNow, 0), nil, 0); !errors.Is(err, ErrReplyOutOfStep) || len(tx.frames) != 0 {
		t.Fatalf("err %v, %d frames", err, len(tx.frames))
	}
}

// TestStreamLazyUpdates: committed lease changes go out as BNDUPDs within
// the window; a BNDREPLY acks (lag observed) or naks, and the engine hears
// of every lease in it.
func TestStreamLazyUpdates(t *testing.T) {
	e, tx := newFakeEngine(), &fakeSender{}
	var lags []int64
	s := NewStream(StreamConfig{Window: 1, Lag: func(d int64) { lags = append(lags, d) }}, e, tx)
	t0 := time.Unix(tNow, 0)
	var evs []engine.Event
	for n := range 3 {
		b := addrBinding(n)
		e.recs[b.Prefix] = b
		evs = append(evs, engine.Event{Kind: engine.EventLease, Binding: b})
	}
	evs = append(evs, engine.Event{Kind: engine.EventLease, Why: engine.CausePartner, Binding: addrBinding(9)})
	s.Committed(t0, evs, 1)
	if len(tx.frames) != 0 {
		t.Fatal("sent while the link is down")
	}
	s.Up(t0, 2)
	ms := tx.take(t)
	if len(ms) != 2 || ms[0].Type != wire.BndUpd || ms[1].Type != wire.BndUpd {
		t.Fatalf("after Up: %d frames, want 2 BNDUPDs (window 2)", len(ms))
	}
	if s.Outbox().Unacked() != 2 || s.Outbox().Pending() != 1 {
		t.Fatalf("outbox %d unacked %d pending", s.Outbox().Unacked(), s.Outbox().Pending())
	}
	// The partner accepts the first and rejects the second.
	reply := func(m *wire.FailoverMsg, acc bool) Event {
		return msgEvent(AppendBndReply(nil, m, []LeaseResult{{Accepted: acc, Status: wire.StatusAddressInUse}}))
	}
	e.inputs = nil
	ev := reply(ms[0], true)
	if r, err := s.Receive(t0.Add(time.Second), &ev); err != nil || r.Rejected != 0 {
		t.Fatalf("ack: %+v %v", r, err)
	}
	ev = reply(ms[1], false)
	if r, err := s.Receive(t0.Add(time.Second), &ev); err != nil || r.Rejected != wire.StatusAddressInUse {
		t.Fatalf("nak: %+v %v", r, err)
	}
	if len(lags) != 1 || lags[0] != int64(time.Second) {
		t.Fatalf("lags %v", lags)
	}
	if len(e.inputs) != 2 || e.inputs[0].Kind != engine.InputBndReply || !e.inputs[0].Accepted ||
		e.inputs[1].Accepted || e.inputs[1].StatusCode != wire.StatusAddressInUse || e.inputs[0].BindingStatus != engine.StatusActive {
		t.Fatalf("inputs %+v", e.inputs)
	}
	// The third went out as the window opened; the partner's record (9)
	// never does.
	ms = tx.take(t)
	if len(ms) != 1 || s.Outbox().Pending() != 0 || s.Outbox().Unacked() != 1 {
		t.Fatalf("%d frames, outbox %d/%d", len(ms), s.Outbox().Pending(), s.Outbox().Unacked())
	}
}

// TestStreamUpdReq: UPDREQ queues what the engine has unacked; UPDDONE
// echoes its xid once all of it is acked. A Down in between forgets the
// UPDDONE: the next connection asks again.
func TestStreamUpdReq(t *testing.T) {
	s, e, tx := newTestStream(t)
	e.sends = false // only the UPDDONE owed lets the stream send
	for n := range 2 {
		b := addrBinding(n)
		e.recs[b.Prefix] = b
		e.unacked = append(e.unacked, b.Prefix)
	}
	now := time.Unix(tNow, 0)
	ev := msgEvent(wire.AppendUpdReq(nil, 77))
	if _, err := s.Receive(now, &ev); err != nil {
		t.Fatal(err)
	}
	ms := tx.take(t)
	if len(ms) != 2 || ms[0].Type != wire.BndUpd {
		t.Fatalf("%d frames, want 2 BNDUPDs", len(ms))
	}
	ev = msgEvent(AppendBndReply(nil, ms[0], []LeaseResult{{Accepted: true}}))
	s.Receive(now, &ev)
	if len(tx.frames) != 0 {
		t.Fatal("UPDDONE before everything was acked")
	}
	ev = msgEvent(AppendBndReply(nil, ms[1], []LeaseResult{{Accepted: true}}))
	s.Receive(now, &ev)
	ms = tx.take(t)
	if len(ms) != 1 || ms[0].Type != wire.UpdDone || ms[0].XID != 77 {
		t.Fatalf("want UPDDONE xid 77, got %+v", ms)
	}

	// UPDREQALL, then the link drops before anything is acked.
	ev = msgEvent(wire.AppendUpdReqAll(nil, 78))
	s.Receive(now, &ev)
	if ms = tx.take(t); len(ms) != 2 {
		t.Fatalf("UPDREQALL: %d frames, want every record", len(ms))
	}
	s.Down(now)
	s.Up(now, 4)
	for _, m := range tx.take(t) {
		if m.Type == wire.UpdDone {
			t.Fatal("UPDDONE of the previous connection sent")
		}
	}
}

// TestStreamRequests: the engine's UPDREQ, UPDREQALL and POOLREQ leave
// under fresh xids; a partner's POOLREQ is answered with POOLRESP and
// becomes a rebalance; STATE and UPDDONE become inputs. Others' PeerMsgs
// are refused.
func TestStreamRequests(t *testing.T) {
	s, e, tx := newTestStream(t)
	now := time.Unix(tNow, 0)
	for _, k := range []engine.ActionKind{engine.ActSendUpdReq, engine.ActSendUpdReqAll, engine.ActSendPoolReq} {
		if !s.Act(now, &engine.PeerMsg{Action: engine.Action{Kind: k}}) {
			t.Fatalf("%v refused", k)
		}
	}
	for _, m := range []engine.PeerMsg{{Action: engine.Action{Kind: engine.ActSendState}}, {Action: engine.Action{Kind: engine.ActAlarm}},
		{Rel: 1, Action: engine.Action{Kind: engine.ActSendUpdReq}}} {
		if s.Act(now, &m) {
			t.Fatalf("%+v taken", m)
		}
	}
	ms := tx.take(t)
	if len(ms) != 3 || ms[0].Type != wire.UpdReq || ms[1].Type != wire.UpdReqAll || ms[2].Type != wire.PoolReq ||
		ms[0].XID == ms[1].XID || ms[1].XID == ms[2].XID {
		t.Fatalf("requests: %+v", ms)
	}
	ev := msgEvent(wire.AppendPoolReq(nil, 31))
	s.Receive(now, &ev)
	ms = tx.take(t)
	if len(ms) != 1 || ms[0].Type != wire.PoolResp || ms[0].XID != 31 {
		t.Fatalf("POOLRESP: %+v", ms)
	}
	ev = msgEvent(wire.AppendUpdDone(nil, 32))
	e.stepErr = errors.New("no")
	if r, _ := s.Receive(now, &ev); r.Refused == nil {
		t.Fatal("engine's refusal not reported")
	}
	e.stepErr = nil
	ev = msgEvent(wire.AppendPoolResp(nil, 33))
	s.Receive(now, &ev)
	if len(e.inputs) != 2 || e.inputs[0].Kind != engine.InputPoolReq || e.inputs[1].Kind != engine.InputUpdDone {
		t.Fatalf("inputs %+v", e.inputs)
	}
	ev = Event{Kind: EventMessage, Msg: []byte{1, 2}}
	if _, err := s.Receive(now, &ev); err == nil {
		t.Fatal("a short message decoded")
	}
}

// TestStreamAckOnSendFault: the planted bug acks a BNDUPD as it leaves —
// the Outbox is idle and the engine has its ack before any BNDREPLY.
func TestStreamAckOnSendFault(t *testing.T) {
	e, tx := newFakeEngine(), &fakeSender{}
	s := NewStream(StreamConfig{Window: 4, Faults: StreamFaults{AckOnSend: true}}, e, tx)
	b := addrBinding(1)
	e.recs[b.Prefix] = b
	now := time.Unix(tNow, 0)
	s.Up(now, 4)
	s.Committed(now, []engine.Event{{Kind: engine.EventLease, Binding: b}}, 1)
	if len(tx.frames) != 1 || !s.Outbox().Idle() {
		t.Fatalf("%d frames, idle %v", len(tx.frames), s.Outbox().Idle())
	}
	if last := e.inputs[len(e.inputs)-1]; last.Kind == engine.InputBndReply {
		t.Fatal("engine stepped inside Committed")
	}
	s.PeerState(now, engine.StateNormal, 0, tNow) // the next input
	last := e.inputs[len(e.inputs)-2]
	if last.Kind != engine.InputBndReply || !last.Accepted || last.PartnerLifetimeSent != b.PartnerLifetime {
		t.Fatalf("early ack %+v", last)
	}
}

// TestStreamObserve: the observer sees each input first and may change it.
func TestStreamObserve(t *testing.T) {
	e, tx := newFakeEngine(), &fakeSender{}
	var seen []engine.InputKind
	s := NewStream(StreamConfig{Window: 4, Rel: 3, Observe: func(in *engine.Input) {
		seen = append(seen, in.Kind)
		in.StatusCode = 99
	}}, e, tx)
	s.Up(time.Unix(tNow, 0), 4)
	s.PeerState(time.Unix(tNow, 0), engine.StateNormal, 0, tNow)
	if len(seen) != 2 || seen[1] != engine.InputPeerState || e.inputs[1].StatusCode != 99 || e.inputs[1].Rel != 3 ||
		e.inputs[1].State != engine.StateNormal {
		t.Fatalf("seen %v, stepped %+v", seen, e.inputs)
	}
}

// TestStreamBndUpdUndecodableAnswered: RFC 8156 §7.6 wants a BNDREPLY for
// every BNDUPD. One whose options cannot be decoded is refused whole under
// the XID its header carries.
func TestStreamBndUpdUndecodableAnswered(t *testing.T) {
	s, e, tx := newTestStream(t)
	frame := wire.AppendUpdReq(nil, 0x0a0b0c)
	frame = append(frame, 0, 1, 0, 9) // an option claiming 9 bytes it lacks
	frame[1] += 4                     // the frame length covers it
	ev := msgEvent(frame)
	ev.Msg[0] = byte(wire.BndUpd)
	if _, err := s.Receive(time.Unix(tNow, 0), &ev); err == nil {
		t.Fatal("an undecodable BNDUPD was not reported")
	}
	if len(e.inputs) != 0 {
		t.Fatalf("stepped %+v", e.inputs)
	}
	ms := tx.take(t)
	if len(ms) != 1 || ms[0].Type != wire.BndReply || ms[0].XID != 0x0a0b0c || ms[0].Status != wire.StatusMissingBindingInformation {
		t.Fatalf("answer: %+v", ms)
	}
}

// TestStreamWholeRejection: a BNDREPLY that rejects the entire update at
// the outermost level (RFC 8156 §7.6) and echoes no lease nakks it; it is
// never taken for an acceptance.
func TestStreamWholeRejection(t *testing.T) {
	e, tx := newFakeEngine(), &fakeSender{}
	s := NewStream(StreamConfig{Window: 4}, e, tx)
	t0 := time.Unix(tNow, 0)
	s.Up(t0, 4)
	b := addrBinding(1)
	e.recs[b.Prefix] = b
	s.Committed(t0, []engine.Event{{Kind: engine.EventLease, Binding: b}}, 1)
	ms := tx.take(t)
	if len(ms) != 1 || ms[0].Type != wire.BndUpd {
		t.Fatalf("sent %+v", ms)
	}
	// A partner's whole-update rejection: a message-level STATUS_CODE,
	// no lease echoed.
	f, o := wire.BeginFrame(nil, wire.BndReply, ms[0].XID, 0)
	f = wire.AppendStatus(f, wire.StatusConfigurationConflict, "not ours")
	ev := msgEvent(wire.EndFrame(f, o))
	r, err := s.Receive(t0, &ev)
	if err != nil || r.Rejected != wire.StatusConfigurationConflict {
		t.Fatalf("whole rejection read as %+v, %v", r, err)
	}
	if s.Outbox().Unacked() != 0 {
		t.Fatalf("still %d unacked", s.Outbox().Unacked())
	}
}

package enginetest

import (
	"bytes"
	"net/netip"
	"sort"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// The partner link, simulated: each server runs the shipped
// replicate.Stream, which sends through a memSender onto an in-order,
// delayed queue per direction; a partition drops what is in flight. The
// simulator plays only the replicate.Link's own part: the STATE exchanged
// at connect and on each ActSendState (carried as fields, as the Link
// frames it itself), the Up and Down events, and the clock skew.

// pmsg is one partner message on the simulated link: a frame as the Stream
// built it, or a STATE as fields.
type pmsg struct {
	at    int64 // delivery time, ms
	typ   wire.MsgType
	frame []byte
	state engine.State
	flags uint8
	start int64
}

// memSender is a server's end of the simulated link, the Stream's
// replicate.Sender.
type memSender struct {
	s   *Sim
	i   int
	xid uint32
}

func (m *memSender) NextXID() uint32 { m.xid = (m.xid + 1) & 0xffffff; return m.xid }

func (m *memSender) Send(frame []byte) error {
	if !m.s.conn || !m.s.srv[m.i].peerUp {
		return replicate.ErrNotConnected
	}
	msg, rest, ok := wire.SplitFrame(frame)
	if !ok || len(rest) != 0 {
		m.s.failf("harness", "%s's stream built a bad frame", names[m.i])
		return replicate.ErrBadFrame
	}
	t := wire.MsgType(msg[0])
	if t == wire.BndUpd {
		m.s.res.Stats.BndUpds++
	}
	m.s.send(m.i, pmsg{typ: t, frame: bytes.Clone(frame)})
	return nil
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

// deliver hands every partner message that is due to its receiver, in
// order per direction, earliest first across directions. As the serving
// loop drains every partner message waiting before it commits, a random
// number of messages share one Ready: after each, the receiver commits
// with probability 1/2, and every receiver commits at the end.
func (s *Sim) deliver() {
	var dirty [2]int // messages received since the receiver's last commit
	commit := func(i int) {
		if dirty[i] > 1 {
			s.res.Stats.Batched++
		}
		dirty[i] = 0
		s.flush(i)
	}
	for !s.fail {
		from := -1
		for i := range s.q {
			if len(s.q[i]) > 0 && s.q[i][0].at <= s.nowMS && (from < 0 || s.q[i][0].at < s.q[from][0].at) {
				from = i
			}
		}
		if from < 0 {
			break
		}
		m := s.q[from][0]
		s.q[from] = s.q[from][1:]
		to := 1 - from
		s.onPeerMsg(to, &m)
		dirty[to]++
		if s.rng.IntN(2) == 0 {
			commit(to)
		}
	}
	for i := range dirty {
		if dirty[i] > 0 && !s.fail {
			commit(i)
		}
	}
}

// onPeerMsg is node.onPeerEvent for a message from the partner: the
// stream's Receive (STATE, sent as fields, goes to its PeerState).
func (s *Sim) onPeerMsg(i int, m *pmsg) {
	sv := s.srv[i]
	if !sv.running() {
		return
	}
	now := s.now(i)
	if m.typ == wire.State {
		s.logf("%s <- STATE %v flags=%#x", names[i], m.state, m.flags)
		sv.stream.PeerState(now, m.state, m.flags, m.start)
		return
	}
	if m.typ != wire.BndUpd && m.typ != wire.BndReply { // those are traced lease by lease (observer)
		s.logf("%s <- %s", names[i], wire.FailoverName(m.typ))
	}
	msg, _, _ := wire.SplitFrame(m.frame)
	ev := replicate.Event{Kind: replicate.EventMessage, Type: m.typ, Msg: msg, Skew: time.Duration(sv.skew) * time.Second}
	if _, err := sv.stream.Receive(now, &ev); err != nil {
		s.failf("harness", "%s cannot decode a %s: %v", names[i], wire.FailoverName(m.typ), err)
	}
}

// observer is server i's StreamConfig.Observe: it traces the leases of
// received BNDUPDs and BNDREPLYs, plants Faults.InflateAck, and notes
// which client holdings the partner has acked (markAcked).
func (s *Sim) observer(i int) func(in *engine.Input) {
	return func(in *engine.Input) {
		now := s.nowSec(i)
		switch in.Kind {
		case engine.InputBndUpd:
			r := in.Upd
			s.logf("%s <- BNDUPD %s %s c%s iaid=%d %v exp=%d pl=%d", names[i], r.Kind, r.Prefix, cname(r.DUID), r.IAID, r.Status,
				r.CLTT+int64(r.Valid)-now, r.PartnerLifetime-now)
		case engine.InputBndReply:
			if s.o.Faults.InflateAck && in.Accepted && in.PartnerLifetimeSent != 0 {
				in.PartnerLifetimeSent += 86400
			}
			pls := in.PartnerLifetimeSent
			s.logf("%s <- BNDREPLY %s acc=%v st=%d %v pls=%d", names[i], in.Prefix, in.Accepted, in.StatusCode, in.BindingStatus, pls-now)
			// The ack covers the client's current grant only when it
			// answers the newest update of the lease: a grant made while
			// an older BNDUPD was in flight queued a new partner lifetime,
			// and the partner has not heard of that grant yet.
			before, _ := s.srv[i].eng.Lookup(in.Prefix)
			if in.Accepted && in.BindingStatus == engine.StatusActive && (before.PartnerLifetime == 0 || before.PartnerLifetime == pls) {
				s.markAcked(i, in.Prefix, before)
			}
		}
	}
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

// sendPeerMsgs is node.sendPeerMsgs: STATE is the link's (sent now if
// connected, and at the next connect), the rest the stream's.
func (s *Sim) sendPeerMsgs(i int, msgs []engine.PeerMsg) {
	sv := s.srv[i]
	for k := range msgs {
		m := &msgs[k]
		switch m.Kind {
		case engine.ActSendState:
			sv.local = replicate.LocalState{State: uint8(m.State), Flags: m.Flags, StartOfState: m.Start}
			if sv.peerUp {
				s.send(i, pmsg{typ: wire.State, state: m.State, flags: m.Flags, start: m.Start})
			}
		case engine.ActAlarm:
		default:
			sv.stream.Act(s.now(i), m)
		}
	}
}

// sortedEngine is the engine as the stream sees it, with its walks in
// resource order: the engine walks maps, and the simulation must not
// depend on their order.
type sortedEngine struct{ *engine.Engine }

func (e sortedEngine) ForEach(fn func(*engine.Binding) bool) { sortedWalk(e.Engine.ForEach, fn) }

func (e sortedEngine) ForEachUnacked(rel int, fn func(*engine.Binding) bool) {
	sortedWalk(func(f func(*engine.Binding) bool) { e.Engine.ForEachUnacked(rel, f) }, fn)
}

func sortedWalk(walk func(func(*engine.Binding) bool), fn func(*engine.Binding) bool) {
	var bs []engine.Binding
	walk(func(b *engine.Binding) bool { bs = append(bs, *b); return true })
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].Kind != bs[j].Kind {
			return bs[i].Kind < bs[j].Kind
		}
		return bs[i].Prefix.Addr().Less(bs[j].Prefix.Addr())
	})
	for k := range bs {
		if !fn(&bs[k]) {
			return
		}
	}
}

// connectIfPossible is the CONNECT exchange of replicate.Link: each side
// sends its current STATE, then reports Up to its stream.
func (s *Sim) connectIfPossible() {
	if s.conn || !s.link || !s.srv[0].running() || !s.srv[1].running() {
		return
	}
	s.conn = true
	s.logf("link up: P local=%v S local=%v", engine.State(s.srv[0].local.State), engine.State(s.srv[1].local.State))
	for i, sv := range s.srv {
		sv.peerUp = true
		sv.skew = s.nowSec(1-i) - s.nowSec(i)
		s.send(i, pmsg{typ: wire.State, state: engine.State(sv.local.State), flags: sv.local.Flags, start: sv.local.StartOfState})
	}
	for i, sv := range s.srv {
		if sv.running() && sv.peerUp {
			sv.stream.Up(s.now(i), window)
			s.flush(i)
		}
	}
}

// disconnect ends the connection: what is in flight is lost, and each
// running side reports Down to its stream.
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
			sv.stream.Down(s.now(i))
			s.flush(i)
		}
	}
}

package node

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// Lazy binding replication, on the loop goroutine (ARCHITECTURE rules 2–4):
//
//   - After a commit is durable, every lease change in a relationship's
//     subnets that this server decided (not one it took from the partner)
//     is offered to that relationship's Outbox under its journal seq;
//     several changes to one lease coalesce, and the Outbox releases at
//     most the partner's MAX_UNACKED_BNDUPD at a time. Each is sent as a
//     BNDUPD built from the lease's current record.
//   - A received BNDUPD is fed to the engine one lease at a time; the
//     BNDREPLY leaves only after the Ready holding the accepted records is
//     durable (RFC 8156: the binding must be in stable storage first).
//   - A BNDREPLY settles the Outbox entry and tells the engine, which
//     records the acked partner lifetime and frees acked EXPIRED/RELEASED
//     records.
//   - UPDREQ/UPDREQALL queue what the partner asks for and are answered
//     with UPDDONE once everything queued has been acked.
//
// A client reply never waits for any of this: MCLT bounds what a client
// may hold beyond what the partner has acknowledged.

// replState is one relationship's replication bookkeeping.
type replState struct {
	out *replicate.Outbox
	// Received leases stepped into the engine in the current Ready, in
	// fixed blocks so their addresses stay put until Advance.
	blocks [][]engine.ReceivedLease
	used   int
	// The BNDUPDs stepped in the current Ready, in order, each answered
	// with one BNDREPLY once the Ready is durable. The loop drains many
	// partner messages per commit, so one fsync covers many BNDUPDs.
	pending []pendingUpd
	results []replicate.LeaseResult
	fm      wire.FailoverMsg // scratch for re-decoding a pending BNDUPD
	// UPDDONE owed for the partner's UPDREQ/UPDREQALL, sent when the
	// Outbox is idle.
	updDoneXID uint32
	updDoneDue bool
	// lag: commit-to-BNDREPLY times of recent acked BNDUPDs (observe.go).
	lag lagRing
	// lagHist is the same lag as a Prometheus histogram (metrics.go).
	lagHist prometheus.Histogram
}

// pendingUpd is a BNDUPD awaiting its BNDREPLY: the message (owned: the
// link copies each one) and how many leases were stepped for it.
type pendingUpd struct {
	msg []byte
	xid uint32
	n   int
}

const recvBlock = 256

func newReplState() *replState {
	return &replState{out: replicate.NewOutbox(64, 1024), results: make([]replicate.LeaseResult, 0, 64),
		lagHist: newLagHistogram("")}
}

// observeLag records one acked BNDUPD's lag, in nanoseconds. Allocation-free:
// a store into the ring and a few atomic adds in the histogram.
func (r *replState) observeLag(d int64) {
	r.lag.add(d)
	r.lagHist.Observe(float64(max(d, 0)) / float64(time.Second))
}

// slot returns storage for one received lease that stays valid until the
// Ready is flushed.
func (r *replState) slot() *engine.ReceivedLease {
	b, i := r.used/recvBlock, r.used%recvBlock
	if b == len(r.blocks) {
		r.blocks = append(r.blocks, make([]engine.ReceivedLease, recvBlock))
	}
	r.used++
	return &r.blocks[b][i]
}

// flushed forgets the current Ready's received leases and BNDUPDs.
func (r *replState) flushed() {
	r.used = 0
	clear(r.pending)
	r.pending = r.pending[:0]
}

// onBindingMsg handles BNDUPD, BNDREPLY, UPDREQ, UPDREQALL, POOLREQ and
// POOLRESP.
func (n *Node) onBindingMsg(p *peer, m *wire.FailoverMsg, msg []byte, now time.Time) {
	r := p.repl
	switch m.Type {
	case wire.BndUpd:
		skew := int64(p.link.Stats().Skew / time.Second)
		k := replicate.NumLeases(m)
		start := r.used
		ok := k > 0
		for i := 0; ok && i < k; i++ {
			if replicate.ReceivedFromWire(m, i, skew, r.slot()) != nil {
				ok = false
			}
		}
		if !ok {
			// Nothing usable, or a lease we cannot read: refuse the whole
			// update at once (nothing was persisted, nothing to wait for).
			r.used = start
			r.results = r.results[:0]
			for i := 0; i < k; i++ {
				r.results = append(r.results, replicate.LeaseResult{Status: wire.StatusMissingBindingInformation})
			}
			p.frame = replicate.AppendBndReply(p.frame[:0], m, r.results)
			n.sendFrame(p, p.frame)
			return
		}
		r.pending = append(r.pending, pendingUpd{msg: msg, xid: m.XID, n: k})
		for i := 0; i < k; i++ {
			j := start + i
			n.eng.Step(now, engine.Input{Kind: engine.InputBndUpd, Rel: p.rel, Upd: &r.blocks[j/recvBlock][j%recvBlock], XID: m.XID})
		}
	case wire.BndReply:
		xid := m.XID
		all := true
		var firstBad uint16
		replicate.ParseBndReply(m, func(pfx netip.Prefix, accepted bool, status uint16, pls int64) {
			if !accepted {
				all = false
				if firstBad == 0 {
					firstBad = status
				}
			}
			n.eng.Step(now, engine.Input{Kind: engine.InputBndReply, Rel: p.rel, Prefix: pfx,
				Accepted: accepted, StatusCode: status, PartnerLifetimeSent: pls, BindingStatus: replicate.EchoedStatus(m, pfx)})
		})
		if all {
			if c, ok := r.out.Ack(xid); ok && c.At != 0 {
				r.observeLag(now.UnixNano() - c.At)
			}
		} else {
			r.out.Nak(xid, firstBad)
			n.log.Info("partner rejected an update", zap.String("relationship", p.name), zap.Uint16("status", firstBad))
		}
		n.pump(p, now)
	case wire.UpdReq, wire.UpdReqAll:
		all := m.Type == wire.UpdReqAll
		seq := n.stats.LastSeq.Load()
		offer := func(b *engine.Binding) bool {
			if replicate.Encodable(b) {
				r.out.Offer(seq, replicate.KeyOf(b), now.UnixNano())
			}
			return true
		}
		if all {
			// The partner lost its database: everything in this
			// relationship's subnets.
			n.eng.ForEach(func(b *engine.Binding) bool {
				if n.eng.RelationshipOf(b.Kind, b.Prefix) == p.rel {
					offer(b)
				}
				return true
			})
		} else {
			n.eng.ForEachUnacked(p.rel, offer)
		}
		r.updDoneXID, r.updDoneDue = m.XID, true
		n.pump(p, now)
	case wire.PoolReq:
		// The secondary asks for its share of the delegable prefixes:
		// POOLRESP says the task is accepted (RFC 8156 §4.2.2: it may come
		// before the BNDUPDs), and the primary's engine rebalances now
		// (a secondary's engine ignores it: only the primary moves
		// prefixes). The BNDUPDs follow through the Outbox as usual.
		b, f := wire.BeginFrame(p.frame[:0], wire.PoolResp, m.XID, 0)
		p.frame = wire.EndFrame(b, f)
		n.sendFrame(p, p.frame)
		n.eng.Step(now, engine.Input{Kind: engine.InputPoolReq, Rel: p.rel})
	case wire.PoolResp:
		// Nothing to do: the prefixes come as BNDUPDs.
	default:
		n.stats.PeerUnhandled.Add(1)
		if ce := n.log.Check(zap.DebugLevel, "partner message not handled"); ce != nil {
			ce.Write(zap.String("relationship", p.name), zap.String("type", wire.FailoverName(m.Type)))
		}
	}
}

// offerCommitted hands the lease changes of a durable commit to the
// outboxes. first is the journal seq of evs[0].
func (n *Node) offerCommitted(evs []engine.Event, first uint64) {
	if len(n.peers) == 0 {
		return
	}
	now := time.Now().UnixNano()
	for i := range evs {
		ev := &evs[i]
		seq := first + uint64(i)
		rel := -1
		if ev.Kind != engine.EventEndpoint && ev.Why != engine.CausePartner {
			rel = n.eng.RelationshipOf(ev.Binding.Kind, ev.Binding.Prefix)
		}
		for _, p := range n.peers {
			if p.rel == rel && ev.Kind == engine.EventLease && replicate.Encodable(&ev.Binding) {
				p.repl.out.Offer(seq, replicate.KeyOf(&ev.Binding), now)
			} else {
				p.repl.out.Advance(seq)
			}
		}
	}
	t := time.Now()
	for _, p := range n.peers {
		n.pump(p, t)
	}
}

// pump sends what the window allows, and an owed UPDDONE once idle.
func (n *Node) pump(p *peer, now time.Time) {
	r := p.repl
	if !p.up || !(r.updDoneDue || n.eng.SendsUpdates(p.rel)) {
		return
	}
	r.out.Next(1<<30, func(seq uint64, k replicate.Key) (uint32, replicate.Verdict) {
		b, ok := n.eng.Lookup(k.Prefix)
		if !ok || !replicate.Encodable(&b) {
			return 0, replicate.Skipped
		}
		xid := p.link.NextXID()
		p.frame = replicate.AppendBndUpd(p.frame[:0], xid, now.Unix(), &b, &b.FOTimes)
		if err := p.link.Send(p.frame); err != nil {
			return 0, replicate.Stop
		}
		return xid, replicate.Sent
	})
	if r.updDoneDue && r.out.Idle() {
		b, f := wire.BeginFrame(p.frame[:0], wire.UpdDone, r.updDoneXID, 0)
		p.frame = wire.EndFrame(b, f)
		if n.sendFrame(p, p.frame) {
			r.updDoneDue = false
		}
	}
}

// sendBndReplies answers the BNDUPDs of this Ready, now that the records
// they accepted are durable: the engine's per-lease answers come in the
// order the leases were stepped.
func (n *Node) sendBndReplies(p *peer, reps []engine.PeerBndReply) {
	r := p.repl
	for _, u := range r.pending {
		if len(reps) < u.n || reps[0].XID != u.xid || r.fm.Decode(u.msg) != nil {
			n.log.Error("BNDREPLY bookkeeping out of step; partner will resend", zap.String("relationship", p.name))
			return
		}
		r.results = r.results[:0]
		for i := 0; i < u.n; i++ {
			r.results = append(r.results, replicate.LeaseResult{Accepted: reps[i].Accepted, Status: reps[i].StatusCode})
		}
		reps = reps[u.n:]
		p.frame = replicate.AppendBndReply(p.frame[:0], &r.fm, r.results)
		n.sendFrame(p, p.frame)
	}
}

func (n *Node) sendFrame(p *peer, frame []byte) bool {
	if err := p.link.Send(frame); err != nil {
		if ce := n.log.Check(zap.DebugLevel, "partner send"); ce != nil {
			ce.Write(zap.String("relationship", p.name), zap.Error(err))
		}
		return false
	}
	return true
}

// resendUnacked queues every record the partner has not acknowledged
// (entering NORMAL, RFC 8156 §8.8).
func (n *Node) resendUnacked(p *peer) {
	seq := n.stats.LastSeq.Load()
	now := time.Now()
	n.eng.ForEachUnacked(p.rel, func(b *engine.Binding) bool {
		if replicate.Encodable(b) {
			p.repl.out.Offer(seq, replicate.KeyOf(b), now.UnixNano())
		}
		return true
	})
	n.pump(p, now)
}

func (n *Node) unacked(p *peer) int { return p.repl.out.Unacked() + p.repl.out.Pending() }

func (n *Node) lagMS(p *peer) float64 {
	return float64(p.repl.out.Lag(time.Now().UnixNano())) / float64(time.Millisecond)
}

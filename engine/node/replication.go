package node

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// Lazy binding replication (ARCHITECTURE rules 2–4) is replicate.Stream's:
// one per relationship, the same code the pair simulator runs. The loop
// only wires it, on the loop goroutine:
//
//   - link events → Stream.Up / Down / Receive (failover.go onPeerEvent);
//   - a durable Ready → Stream.Act for each PeerMsg it does not perform
//     itself (STATE and alarms are the loop's), then Stream.Committed
//     with the Ready's events and first journal seq (node.go flush), which
//     sends the BNDREPLYs the Ready's BNDUPDs are owed and the lazy
//     BNDUPDs the window allows;
//   - the Stream sends through the Link (peerSender), and reports each
//     acked BNDUPD's lag (lagStats: /v1/status and a histogram).
//
// A client reply never waits for any of this: MCLT bounds what a client
// may hold beyond what the partner has acknowledged.

// lagStats is one relationship's replication lag: commit-to-BNDREPLY times
// of recent acked BNDUPDs.
type lagStats struct {
	ring lagRing // recent samples, for quantiles (observe.go)
	// hist is the same lag as a Prometheus histogram (metrics.go).
	hist prometheus.Histogram
}

// observe records one acked BNDUPD's lag, in nanoseconds (the Stream's Lag
// callback). Allocation-free: a store into the ring and a few atomic adds
// in the histogram.
func (r *lagStats) observe(d int64) {
	r.ring.add(d)
	r.hist.Observe(float64(max(d, 0)) / float64(time.Second))
}

// peerSender is the Stream's replicate.Sender: the relationship's Link,
// with failures logged (the Stream keeps what it could not send).
type peerSender struct {
	n *Node
	p *peer
}

func (s *peerSender) NextXID() uint32 { return s.p.link.NextXID() }

func (s *peerSender) Send(frame []byte) error {
	err := s.p.link.Send(frame)
	if err == nil {
		return nil
	}
	t := wire.MsgType(frame[2])
	switch t {
	case wire.UpdReq, wire.UpdReqAll, wire.PoolReq:
		// A request the engine made once: worth a warning unless the
		// link is simply down (the endpoint asks again on reconnect).
		if !errors.Is(err, replicate.ErrNotConnected) {
			s.n.log.Warn("partner send", zap.String("relationship", s.p.name), zap.Stringer("type", t), zap.Error(err))
			return err
		}
	}
	if ce := s.n.log.Check(zap.DebugLevel, "partner send"); ce != nil {
		ce.Write(zap.String("relationship", s.p.name), zap.Stringer("type", t), zap.Error(err))
	}
	return err
}

// committed hands a durable Ready's events to every relationship's Stream
// (first is the journal seq of evs[0]; evs may be empty), after its
// PeerMsgs (sendPeerMsgs).
func (n *Node) committed(evs []engine.Event, first uint64) {
	now := time.Now()
	for _, p := range n.peers {
		if err := p.stream.Committed(now, evs, first); err != nil {
			n.log.Error("partner will resend", zap.String("relationship", p.name), zap.Error(err))
		}
	}
}

func (n *Node) unacked(p *peer) int {
	o := p.stream.Outbox()
	return o.Unacked() + o.Pending()
}

func (n *Node) lagMS(p *peer) float64 {
	return float64(p.stream.Outbox().Lag(time.Now().UnixNano())) / float64(time.Millisecond)
}

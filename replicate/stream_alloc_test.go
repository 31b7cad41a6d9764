//go:build !race

package replicate

import (
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Built without -race only: the race detector's instrumentation allocates.

// lastSender keeps only the last frame sent, in a reused buffer.
type lastSender struct {
	xid  uint32
	last []byte
	n    int
}

func (l *lastSender) NextXID() uint32 { l.xid++; return l.xid }
func (l *lastSender) Send(frame []byte) error {
	l.last = append(l.last[:0], frame...)
	l.n++
	return nil
}

// TestStreamZeroAlloc: the steady replication cycle through a Stream
// allocates nothing — a partner's BNDUPD arriving in a pooled buffer,
// decoded once, stepped and answered after its commit; a committed lease
// change offered, sent as a BNDUPD, and acked by the partner's BNDREPLY
// (lag observed).
func TestStreamZeroAlloc(t *testing.T) {
	e := newFakeEngine()
	e.inputs = make([]engine.Input, 0, 16)
	tx := &lastSender{last: make([]byte, 0, 1024)}
	var lag int64
	s := NewStream(StreamConfig{Window: 8, Lag: func(d int64) { lag += d }}, e, tx)
	now := time.Unix(tNow, 0)
	s.Up(now, 8)
	peer := addrBinding(1) // the partner's lease
	upd := AppendBndUpd(nil, 500, tNow, &peer, &peer.FOTimes)
	updMsg, _, _ := wire.SplitFrame(upd)
	mine := addrBinding(2) // ours, changed by a commit each round
	e.recs[mine.Prefix] = mine
	evs := []engine.Event{{Kind: engine.EventLease, Binding: mine}}
	var sent wire.FailoverMsg
	reply := make([]byte, 0, 1024)
	answer := engine.PeerMsg{Action: engine.Action{Kind: engine.ActSendBndReply},
		BndReply: engine.PeerBndReply{XID: 500, Prefix: peer.Prefix, Accepted: true}}
	seq := uint64(0)
	round := func() {
		e.inputs = e.inputs[:0]
		ev := messageEvent(wire.BndUpd, updMsg, time.Second) // as the link delivers it
		if _, err := s.Receive(now, &ev); err != nil {
			t.Fatal(err)
		}
		s.Act(now, &answer)
		seq++
		if err := s.Committed(now, evs, seq); err != nil {
			t.Fatal(err)
		}
		// The last frame is our BNDUPD (after the BNDREPLY): the partner
		// accepts it.
		msg, _, _ := wire.SplitFrame(tx.last)
		if err := sent.Decode(msg); err != nil || sent.Type != wire.BndUpd {
			t.Fatalf("last frame %v: %v", sent.Type, err)
		}
		reply = AppendBndReply(reply[:0], &sent, []LeaseResult{{Accepted: true}}[:])
		rmsg, _, _ := wire.SplitFrame(reply)
		ev = messageEvent(wire.BndReply, rmsg, 0)
		if r, err := s.Receive(now, &ev); err != nil || r.Rejected != 0 {
			t.Fatal(r, err)
		}
	}
	// mallocs forces a GC before each window, and sync.Pool (under
	// bytebufferpool) sets itself up again after one: a few allocations
	// per window, not per message (which would show as ≥ 1000).
	if n := mallocs(1000, round); n > 8 {
		t.Fatalf("1000 rounds: %d allocs, want 0 per round", n)
	}
	if s.Outbox().Unacked() != 0 || tx.n < 2000 {
		t.Fatalf("outbox unacked %d, %d frames", s.Outbox().Unacked(), tx.n)
	}
}

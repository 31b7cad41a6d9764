package replicate

import (
	"net/netip"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// The receiving half of the BNDUPD/BNDREPLY exchange (RFC 8156 §6.3,
// §6.4): a received BNDUPD is fed to the engine one lease at a time and
// answered once the engine's decisions are durable; a received BNDREPLY
// settles the Outbox entry and tells the engine what the partner stored.

// receiveBndUpd decodes a BNDUPD into a kept message and steps its leases.
// A BNDUPD with no lease, or with one that cannot be read, is refused whole
// at once (nothing was persisted, so there is nothing to wait for).
func (s *Stream) receiveBndUpd(now time.Time, ev *Event) (Received, error) {
	r := Received{Type: wire.BndUpd}
	u := s.nextUpd()
	if err := u.m.Decode(ev.Msg); err != nil {
		// RFC 8156 §7.6: every BNDUPD gets a BNDREPLY. One we cannot
		// read is refused whole (a message-level status) under the XID
		// its header carries, so the partner does not wait for it.
		if len(ev.Msg) >= 4 {
			var bad wire.FailoverMsg
			bad.Type, bad.XID = wire.BndUpd, uint32(ev.Msg[1])<<16|uint32(ev.Msg[2])<<8|uint32(ev.Msg[3])
			s.frame = AppendBndReply(s.frame[:0], &bad, nil)
			s.tx.Send(s.frame)
		}
		ev.Release()
		return r, err
	}
	k := NumLeases(&u.m)
	start := s.used
	skew := int64(ev.Skew / time.Second)
	ok := k > 0
	for i := 0; ok && i < k; i++ {
		if ReceivedFromWire(&u.m, i, skew, s.slot()) != nil {
			ok = false
		}
	}
	if !ok {
		s.used = start
		s.results = s.results[:0]
		for range k {
			s.results = append(s.results, LeaseResult{Status: wire.StatusMissingBindingInformation})
		}
		s.frame = AppendBndReply(s.frame[:0], &u.m, s.results)
		s.tx.Send(s.frame)
		ev.Release()
		return r, nil
	}
	s.nupd++
	u.buf, u.n = ev.takeBuffer(), k
	xid := u.m.XID
	for i := range k {
		j := start + i
		in := engine.Input{Kind: engine.InputBndUpd, Upd: &s.blocks[j/recvBlock][j%recvBlock], XID: xid}
		if err := s.step(now, in); err != nil && r.Refused == nil {
			r.Refused = err
		}
	}
	return r, nil
}

// nextUpd returns the next free kept message, reusing an earlier one.
func (s *Stream) nextUpd() *recvUpd {
	if s.nupd == len(s.upds) {
		s.upds = append(s.upds, new(recvUpd))
	}
	return s.upds[s.nupd]
}

// slot returns storage for one received lease that stays valid until the
// Ready is flushed.
func (s *Stream) slot() *engine.ReceivedLease {
	b, i := s.used/recvBlock, s.used%recvBlock
	if b == len(s.blocks) {
		s.blocks = append(s.blocks, make([]engine.ReceivedLease, recvBlock))
	}
	s.used++
	return &s.blocks[b][i]
}

// sendBndReplies answers the BNDUPDs received for the Ready just made
// durable: the engine's per-lease answers come in the order the leases were
// stepped. The BNDREPLY is built from the message as decoded on arrival.
func (s *Stream) sendBndReplies() error {
	var err error
	reps := s.reps
	for _, u := range s.upds[:s.nupd] {
		if len(reps) < u.n || reps[0].XID != u.m.XID {
			err = ErrReplyOutOfStep
			break
		}
		s.results = s.results[:0]
		for i := range u.n {
			s.results = append(s.results, LeaseResult{Accepted: reps[i].Accepted, Status: reps[i].StatusCode})
		}
		reps = reps[u.n:]
		s.frame = AppendBndReply(s.frame[:0], &u.m, s.results)
		s.tx.Send(s.frame)
	}
	s.reps = s.reps[:0]
	s.recycle()
	return err
}

// recycle returns the kept messages' buffers to the pool and forgets the
// received leases (the engine is done with them once the Ready is flushed).
func (s *Stream) recycle() {
	for _, u := range s.upds[:s.nupd] {
		if u.buf != nil {
			bytebufferpool.Put(u.buf)
			u.buf = nil
		}
	}
	s.nupd, s.used = 0, 0
}

// receiveBndReply steps each lease of a BNDREPLY into the engine and
// settles the Outbox entry: acked when every lease was accepted (the lag
// is observed), nakked with the first rejection's status otherwise, which
// it returns. A nakked change is not resent; the engine records what the
// rejection means for the lease.
func (s *Stream) receiveBndReply(now time.Time, m *wire.FailoverMsg) (rejected uint16) {
	all := true
	whole := ParseBndReply(m, func(pfx netip.Prefix, accepted bool, status uint16, pls int64) {
		if !accepted {
			all = false
			if rejected == 0 {
				rejected = status
			}
		}
		s.step(now, engine.Input{Kind: engine.InputBndReply, Prefix: pfx, Accepted: accepted, StatusCode: status,
			PartnerLifetimeSent: pls, BindingStatus: EchoedStatus(m, pfx)})
	})
	// A rejection of the whole update (RFC 8156 §7.6: a STATUS_CODE at
	// the outermost level) nakks it even when no lease was echoed.
	if whole != 0 && rejected == 0 {
		all, rejected = false, whole
	}
	if !all {
		s.out.Nak(m.XID, rejected)
		return rejected
	}
	if c, ok := s.out.Ack(m.XID); ok && c.At != 0 && s.cfg.Lag != nil {
		s.cfg.Lag(now.UnixNano() - c.At)
	}
	return 0
}

package replicate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// session is one TCP (or TLS) connection to the partner, from CONNECT to
// close. The manager goroutine runs the handshake and the read loop; a
// writer goroutine, started once the link is up, owns the FrameWriter.
//
// Stopping is first-wins: whoever calls stop first (the reader on an error
// or DISCONNECT, Close, a replacing connection, the writer on a write
// error) names the reason the Down event reports.
type session struct {
	l      *Link
	conn   net.Conn
	dc     *deadlineConn
	remote netip.AddrPort

	mu       sync.Mutex // guards the fields below
	pending  []byte     // queued frames, whole, in order
	pendingN uint64
	up       bool     // Send accepted
	writing  bool     // writer goroutine started
	disc     *refusal // DISCONNECT the writer sends before closing
	stopped  bool
	reason   string
	status   uint16

	// inflight counts the partner's BNDUPDs not yet answered: read minus
	// BNDREPLYs queued. The partner must keep it within the MAX_UNACKED_BNDUPD
	// we advertised (RFC 8156 §6.1, §10).
	inflight atomic.Int64

	stopCh     chan struct{} // closed by the first stop
	wake       chan struct{} // cap 1: the queue has something
	writerDone chan struct{}
	spare      []byte // the writer's half of the double buffer, returned at exit
}

// runSession runs one connection to its end and reports whether it came up.
// For the secondary, acc is the connection's already accepted CONNECT.
func (l *Link) runSession(conn net.Conn, acc *accepted) (wasUp bool) {
	s := &session{
		l:          l,
		conn:       conn,
		remote:     addrPortOf(conn.RemoteAddr()),
		stopCh:     make(chan struct{}),
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		pending:    l.qa[:0],
	}
	hs := min(l.cfg.Keepalive, handshakeTimeout)
	s.dc = &deadlineConn{c: conn, read: hs, write: hs}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		return false
	}
	l.cur.Store(s)
	l.mu.Unlock()
	log := l.log.With(zap.Stringer("remote", s.remote))
	l.fr.Reset(s.dc)
	l.fw.Reset(s.dc)
	l.skewN, l.skewWarned = 0, false

	p, reason, status := s.handshake(log, acc)
	if reason == "" {
		wasUp = s.becomeUp(p, log)
	}
	if wasUp {
		reason, status = s.readLoop()
	}
	s.stop(reason, status, nil)
	s.mu.Lock()
	writing := s.writing
	s.mu.Unlock()
	if writing {
		<-s.writerDone
		l.qa, l.qb = s.pending[:0], s.spare[:0]
	}
	s.mu.Lock()
	reason, status = s.reason, s.status
	s.mu.Unlock()
	l.cur.CompareAndSwap(s, nil)
	l.connected.Store(false)
	lvl := zap.InfoLevel
	if wasUp {
		lvl = zap.WarnLevel
	}
	if ce := log.Check(lvl, "failover partner link down"); ce != nil {
		ce.Write(zap.String("reason", reason), zap.Uint16("status", status), zap.Bool("was_up", wasUp))
	}
	l.emit(Event{Kind: EventDown, Reason: reason, Status: status, WasUp: wasUp})
	return wasUp
}

// handshake finishes the CONNECT exchange (RFC 8156 §6.1–6.2). An empty
// reason means accepted. The secondary judged the CONNECT while admitting
// the connection and only answers here.
func (s *session) handshake(log *zap.Logger, acc *accepted) (Partner, string, uint16) {
	l := s.l
	if acc != nil {
		// Batched with our STATE (becomeUp flushes both): one write, and
		// over a synchronous transport (net.Pipe) the primary's reader
		// takes both before its own STATE write needs ours to read.
		b := appendConnectReply(l.fw.Tail(), &l.cfg, acc.xid, l.sentTime(), acc.mclt)
		if err := l.fw.Commit(b); err != nil {
			return Partner{}, "write CONNECTREPLY: " + err.Error(), 0
		}
		l.framesOut.Add(1)
		return acc.partner, "", 0
	}
	m := &l.msg
	b := appendConnect(l.fw.Tail(), &l.cfg, l.NextXID(), l.sentTime())
	if err := s.writeNow(b); err != nil {
		return Partner{}, "write CONNECT: " + err.Error(), 0
	}
	msg, err := l.fr.Next()
	if err != nil {
		return Partner{}, s.readError("waiting for CONNECTREPLY", err), 0
	}
	l.framesIn.Add(1)
	now := l.cfg.Now()
	if err := m.Decode(msg); err != nil {
		return Partner{}, "malformed " + wire.FailoverName(wire.MsgType(msg[0])) + ": " + err.Error(), 0
	}
	switch {
	case m.Type == wire.Disconnect:
		return Partner{}, disconnectReason(m), m.Status
	case m.Type != wire.ConnectReply:
		return Partner{}, "expected CONNECTREPLY, got " + wire.FailoverName(m.Type), 0
	case m.Has&wire.FHasStatus != 0 && m.Status != 0:
		l.countRefused(m.Status)
		return Partner{}, fmt.Sprintf("partner refused CONNECT: status %d: %s", m.Status, m.StatusMsg), m.Status
	}
	p, r := checkConnectReply(&l.cfg, m)
	if r != nil {
		l.countRefused(r.status)
		log.Warn("refused failover CONNECTREPLY", zap.Uint16("status", r.status), zap.String("reason", r.reason))
		s.writeNow(appendDisconnect(l.fw.Tail(), l.NextXID(), l.sentTime(), r.status, r.reason))
		return Partner{}, "refused CONNECTREPLY: " + r.reason, r.status
	}
	p.MCLT = l.cfg.MCLT
	p.Skew = skewOf(m.SentTime, now)
	p.Addr = s.remote
	return p, "", 0
}

// becomeUp sends our STATE, opens the send queue, starts the writer and
// reports Up. It fails only if the session was stopped meanwhile (Close).
func (s *session) becomeUp(p Partner, log *zap.Logger) bool {
	l := s.l
	l.mu.Lock()
	sentState := l.local
	l.mu.Unlock()
	if err := s.writeNow(appendState(l.fw.Tail(), sentState, l.NextXID(), l.sentTime())); err != nil {
		s.stop("write STATE: "+err.Error(), 0, nil)
		return false
	}
	l.sampleSkew(p.Skew)

	l.mu.Lock()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		l.mu.Unlock()
		return false
	}
	s.up, s.writing = true, true
	if l.local != sentState { // SetLocalState raced with the handshake
		s.pending = appendState(s.pending, l.local, l.NextXID(), 0)
		s.pendingN++
	}
	l.partner = p
	s.mu.Unlock()
	l.mu.Unlock()

	s.dc.read, s.dc.write = l.cfg.Keepalive, l.cfg.Keepalive
	go s.writeLoop(p.Keepalive / 4)
	l.connected.Store(true)
	l.connects.Add(1)
	log.Info("failover partner link up", zap.Duration("mclt", p.MCLT),
		zap.Duration("partner_keepalive", p.Keepalive), zap.Uint32("partner_max_unacked", p.MaxUnacked),
		zap.Duration("skew", p.Skew))
	l.emit(Event{Kind: EventUp, Partner: p})
	return true
}

// readLoop reads until the connection ends and returns why.
func (s *session) readLoop() (string, uint16) {
	l := s.l
	for {
		msg, err := l.fr.Next()
		if err != nil {
			return s.readError("read", err), 0
		}
		l.framesIn.Add(1)
		t := wire.MsgType(msg[0])
		l.sampleSkew(skewOf(binary.BigEndian.Uint32(msg[4:]), l.cfg.Now()))
		switch t {
		case wire.Contact:
			continue
		case wire.Disconnect:
			if err := l.msg.Decode(msg); err != nil {
				return "partner disconnected (malformed DISCONNECT)", 0
			}
			return disconnectReason(&l.msg), l.msg.Status
		case wire.Connect, wire.ConnectReply:
			return "protocol error: " + wire.FailoverName(t) + " on an established connection", 0
		case wire.BndUpd:
			if n := s.inflight.Add(1); n > int64(l.cfg.MaxUnacked) {
				return s.windowExceeded(n)
			}
		}
		ev := messageEvent(t, msg, time.Duration(l.skew.Load()))
		select {
		case l.events <- ev:
		case <-s.stopCh:
			ev.Release()
			return "stopped", 0 // stop already named the reason
		}
	}
}

// windowExceeded drops a partner that sent more BNDUPDs than the
// MAX_UNACKED_BNDUPD we advertised without waiting for our BNDREPLYs.
// RFC 8156 makes the window the sender's duty ("never exceed") and says
// nothing of the receiver; reading on would let one peer queue unbounded
// work (each BNDUPD costs a journal write), and blocking the reads would
// also hold up its BNDREPLYs to us. So the session ends with a DISCONNECT
// naming the cause, counted and logged; the partner may reconnect and
// resend what we did not answer, this time within the window.
func (s *session) windowExceeded(n int64) (string, uint16) {
	l := s.l
	l.refusedWindow.Add(1)
	reason := fmt.Sprintf("partner exceeded MAX_UNACKED_BNDUPD: %d BNDUPDs unanswered, window %d", n, l.cfg.MaxUnacked)
	l.log.Warn("refused failover partner: unacked window exceeded", zap.Stringer("remote", s.remote),
		zap.Int64("unanswered", n), zap.Uint32("max_unacked", l.cfg.MaxUnacked))
	s.stop(reason, 0, &refusal{wire.StatusUnspecFail, reason})
	return reason, 0
}

func disconnectReason(m *wire.FailoverMsg) string {
	if m.Has&wire.FHasStatus == 0 {
		return "partner disconnected"
	}
	return fmt.Sprintf("partner disconnected: status %d: %s", m.Status, m.StatusMsg)
}

// readError names a read failure; a timeout is the keepalive expiring
// (RFC 8156 §6.6: nothing received for KEEPALIVE_TIME).
func (s *session) readError(what string, err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("%s: nothing received for %v", what, s.dc.read)
	case errors.Is(err, io.EOF):
		return what + ": partner closed the connection"
	}
	return what + ": " + err.Error()
}

// writeNow writes frames built in the FrameWriter's tail and flushes:
// the handshake's synchronous writes, before the writer goroutine exists.
func (s *session) writeNow(b []byte) error {
	fw := s.l.fw
	n := countFrames(b[fw.Buffered():])
	err := fw.Commit(b)
	if err == nil {
		err = fw.Flush()
	}
	s.l.framesOut.Add(n)
	return err
}

func countFrames(b []byte) uint64 {
	var n uint64
	for len(b) >= 2 {
		l := int(binary.BigEndian.Uint16(b))
		b = b[min(len(b), 2+l):]
		n++
	}
	return n
}

// stop ends the session once. With disc set and the writer running, the
// writer sends that DISCONNECT and closes the connection (after at most
// disconnectGrace); otherwise the connection closes now.
func (s *session) stop(reason string, status uint16, disc *refusal) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped, s.up = true, false
	s.reason, s.status = reason, status
	sendDisc := disc != nil && s.writing
	if sendDisc {
		s.disc = disc
	}
	s.mu.Unlock()
	close(s.stopCh)
	if sendDisc {
		time.AfterFunc(disconnectGrace, func() { s.conn.Close() })
		return
	}
	s.conn.Close()
}

// enqueue copies a validated frame into the send queue.
func (s *session) enqueue(frame []byte) error {
	s.mu.Lock()
	if !s.up {
		s.mu.Unlock()
		return ErrNotConnected
	}
	if len(s.pending)+len(frame) > s.l.cfg.SendQueue {
		s.mu.Unlock()
		s.l.queueFull.Add(1)
		return ErrQueueFull
	}
	s.pending = append(s.pending, frame...)
	s.pendingN++
	s.mu.Unlock()
	if wire.MsgType(frame[2]) == wire.BndReply {
		// Floor 0: a BNDREPLY may answer a BNDUPD of an earlier session.
		if s.inflight.Add(-1) < 0 {
			s.inflight.Add(1)
		}
	}
	s.poke()
	return nil
}

// enqueueState queues a STATE. It is not bounded by SendQueue: a state
// change must reach the partner even behind a full BNDUPD queue.
func (s *session) enqueueState(ls LocalState) {
	s.mu.Lock()
	if !s.up {
		s.mu.Unlock()
		return
	}
	s.pending = appendState(s.pending, ls, s.l.NextXID(), 0)
	s.pendingN++
	s.mu.Unlock()
	s.poke()
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeLoop owns the FrameWriter while the link is up. It swaps out the
// queue, stamps each frame's sent-time, writes in batches, sends CONTACT
// when nothing else went out for a quarter of the partner's keepalive
// (RFC 8156 §6.6), and writes the DISCONNECT that stop asked for.
//
// The BNDUPD stream will live here too: between queue swaps the writer
// encodes journal entries straight into fw.Tail(), up to the partner's
// unacked window.
func (s *session) writeLoop(interval time.Duration) {
	l := s.l
	fw := l.fw
	spare := l.qb[:0]
	defer func() {
		s.spare = spare
		close(s.writerDone)
	}()
	last := time.Now()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-s.wake:
		case <-t.C:
		case <-s.stopCh:
		}
		s.mu.Lock()
		batch, n := s.pending, s.pendingN
		s.pending, s.pendingN = spare[:0], 0
		disc, stopped := s.disc, s.stopped
		s.mu.Unlock()
		spare = batch

		if l.silent.Load() && disc == nil {
			if stopped {
				return
			}
			t.Reset(interval)
			continue
		}
		sent := l.sentTime()
		var err error
		wrote := len(batch) > 0
		if wrote {
			err = writeBatch(fw, batch, sent, l.cfg.WriteBatch)
			l.framesOut.Add(n)
		}
		if disc != nil {
			// The connection closes either way; a failed write only
			// means the partner learns of it by the close.
			if err == nil && fw.Commit(appendDisconnect(fw.Tail(), l.NextXID(), sent, disc.status, disc.reason)) == nil {
				if fw.Flush() == nil {
					l.framesOut.Add(1)
				}
			}
			s.conn.Close()
			return
		}
		if stopped {
			return
		}
		now := time.Now()
		if err == nil && !wrote && now.Sub(last) >= interval-interval/16 {
			err = fw.Commit(wire.AppendContact(fw.Tail(), l.NextXID(), sent))
			l.framesOut.Add(1)
			wrote = true
		}
		if err == nil {
			err = fw.Flush()
		}
		if err != nil {
			s.stop("write: "+err.Error(), 0, nil)
			return
		}
		if wrote {
			last = now
		}
		t.Reset(max(interval-time.Since(last), time.Millisecond))
	}
}

// writeBatch writes queued frames, each stamped with the sent-time,
// flushing after every per frames when per > 0 (Config.WriteBatch).
func writeBatch(fw *FrameWriter, batch []byte, sent uint32, per int) error {
	k := 0
	for off := 0; off < len(batch); {
		n := int(binary.BigEndian.Uint16(batch[off:]))
		f := batch[off : off+2+n]
		binary.BigEndian.PutUint32(f[6:], sent)
		if err := fw.WriteFrame(f); err != nil {
			return err
		}
		off += 2 + n
		if k++; per > 0 && k%per == 0 && off < len(batch) {
			if err := fw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Link) sentTime() uint32 { return wire.AbsTime(l.cfg.Now().Unix()) }

// sampleSkew adds one message's skew to the moving average. Queueing in
// TCP delays messages but not their sent-times, so the in-stream average
// is an upper bound: it is logged when it passes MaxSkew, and only the
// CONNECT's skew refuses a connection.
func (l *Link) sampleSkew(d time.Duration) {
	l.skewRing[l.skewN%skewSamples] = int64(d)
	l.skewN++
	n := min(l.skewN, skewSamples)
	var sum int64
	for _, v := range l.skewRing[:n] {
		sum += v
	}
	avg := time.Duration(sum / int64(n))
	l.skew.Store(int64(avg))
	if over := avg > MaxSkew || avg < -MaxSkew; over != l.skewWarned {
		l.skewWarned = over
		if over {
			l.log.Warn("failover partner clock skew above the limit", zap.Duration("skew", avg),
				zap.Duration("limit", MaxSkew))
		}
	}
}

// deadlineConn sets a fresh deadline before every read and write: a read
// that waits a keepalive time means the partner is gone, and so does a
// write the partner has not drained for as long. Reads and writes are
// batched, so this costs one runtime timer update per syscall, not per
// frame.
type deadlineConn struct {
	c           net.Conn
	read, write time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if err := d.c.SetReadDeadline(time.Now().Add(d.read)); err != nil {
		return 0, err
	}
	return d.c.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if err := d.c.SetWriteDeadline(time.Now().Add(d.write)); err != nil {
		return 0, err
	}
	return d.c.Write(p)
}

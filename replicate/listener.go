package replicate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Listener is a secondary's failover listening socket, shared by every
// relationship that listens on one address. RFC 7031's m-to-1 model — one
// standby backing several primaries — needs it: all the primaries dial
// the same TCP port 647, and a relationship is keyed by the partner's
// address and RELATIONSHIP_NAME (RFC 8156 §6.1–6.2), so one socket can
// serve them all.
//
// Design: one accept goroutine, and one short-lived goroutine per accepted
// connection that admits it in the order RFC 8156 §6.1 gives the
// secondary:
//
//  1. The remote address must be the configured partner of at least one
//     registered relationship (its candidates); otherwise the connection
//     is closed at once, counted and logged.
//  2. With TLS, the handshake uses the candidates' configuration (they
//     agree: Register refuses links that could accept the same address
//     with different TLS), so each primary can have its own CA.
//  3. The CONNECT's RELATIONSHIP_NAME picks one candidate; a name no
//     candidate has, or no name where several could match, is refused with
//     CONNECTREPLY(ConfigurationConflict). A name only ever selects among
//     the relationships whose partner address matches, so a primary cannot
//     reach another primary's relationship by claiming its name.
//  4. The chosen link judges the rest of the CONNECT (version, skew,
//     flags) and runs the session on its own manager goroutine.
//
// Refusals are counted on the Listener and, where the connection can be
// tied to one relationship (a single candidate, or a single registered
// link), on that link's Stats too, so a one-relationship secondary counts
// exactly as before.
//
// A secondary Link whose Config has no Shared listener makes a private
// one from Listen or Listener and closes it with the link.
type Listener struct {
	ln     net.Listener
	log    *zap.Logger
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	serve  sync.Once // starts accepting when the first link registers
	closeO sync.Once

	mu     sync.Mutex // guards links and closed
	links  []*Link
	closed bool

	refusedPeers, refusedTLS, refusedConnects, refusedMalformed atomic.Uint64
}

// ListenerStats are a Listener's counters: every refusal it made, whether
// or not it could be tied to one relationship.
type ListenerStats struct {
	Links           int    // relationships registered now
	RefusedPeers    uint64 // connections from an address that is no registered relationship's partner
	RefusedTLS      uint64 // TLS handshakes refused
	RefusedConnects uint64 // CONNECTs refused: unknown or missing name, or refused by the chosen link
	// RefusedMalformed counts connections from a candidate address closed
	// because the first frame was no decodable failover message.
	RefusedMalformed uint64
}

// Listen opens a TCP listener on addr for Config.Shared.
func Listen(addr netip.AddrPort, log *zap.Logger) (*Listener, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("replicate: listen: %w", err)
	}
	return NewListener(ln, log), nil
}

// NewListener shares ln (a TCP listener, or a Pipe) among secondary links.
// The Listener owns ln and closes it on Close. log may be nil.
func NewListener(ln net.Listener, log *zap.Logger) *Listener {
	if log == nil {
		log = zap.NewNop()
	}
	x := &Listener{ln: ln, log: log}
	x.ctx, x.cancel = context.WithCancel(context.Background())
	return x
}

// Addr is the listening address (useful with port 0).
func (x *Listener) Addr() netip.AddrPort { return addrPortOf(x.ln.Addr()) }

// Stats returns a snapshot of the counters.
func (x *Listener) Stats() ListenerStats {
	x.mu.Lock()
	n := len(x.links)
	x.mu.Unlock()
	return ListenerStats{Links: n, RefusedPeers: x.refusedPeers.Load(),
		RefusedTLS: x.refusedTLS.Load(), RefusedConnects: x.refusedConnects.Load(),
		RefusedMalformed: x.refusedMalformed.Load()}
}

// Close stops accepting, closes the socket, and waits for admissions in
// progress (each bounded by the handshake timeout, cut short here). Links
// registered on it stay open but receive no more connections; close them
// first. It is safe to call more than once.
func (x *Listener) Close() error {
	x.closeO.Do(func() {
		x.mu.Lock()
		x.closed = true
		x.mu.Unlock()
		x.cancel()
		x.ln.Close()
		x.wg.Wait()
	})
	return nil
}

// register adds a secondary link. Names are unique on a listener (the
// empty name too), and two links that could accept the same partner
// address must use the same TLS configuration (the same *tls.Config), since
// the handshake happens before the CONNECT names the relationship.
func (x *Listener) register(l *Link) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return errors.New("replicate: shared listener is closed")
	}
	for _, o := range x.links {
		switch {
		case o.cfg.Name == l.cfg.Name:
			return fmt.Errorf("replicate: relationship %q already listens on %v", l.cfg.Name, x.Addr())
		case o.cfg.TLS != l.cfg.TLS && o.cfg.overlaps(&l.cfg):
			return fmt.Errorf("replicate: relationships %q and %q accept the same partner address on %v with different TLS configurations",
				o.cfg.Name, l.cfg.Name, x.Addr())
		}
	}
	x.links = append(x.links, l)
	x.serve.Do(func() {
		x.wg.Add(1)
		go x.acceptLoop()
	})
	return nil
}

// unregister removes a link: connections no longer reach it.
func (x *Listener) unregister(l *Link) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, o := range x.links {
		if o == l {
			x.links = append(x.links[:i], x.links[i+1:]...)
			return
		}
	}
}

// candidates are the links whose partner may connect from a, and the one
// link to charge an unattributable refusal to (nil unless exactly one link
// is registered).
func (x *Listener) candidates(a netip.Addr) (c []*Link, sole *Link) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, l := range x.links {
		if l.cfg.allowed(a) {
			c = append(c, l)
		}
	}
	if len(x.links) == 1 {
		sole = x.links[0]
	}
	return c, sole
}

// acceptLoop admits connections one goroutine each, so a stalled
// handshake does not hold up a partner's real reconnect.
func (x *Listener) acceptLoop() {
	defer x.wg.Done()
	for {
		c, err := x.ln.Accept()
		if err != nil {
			if x.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			x.log.Warn("failover accept", zap.Error(err))
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-x.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		remote := addrPortOf(c.RemoteAddr())
		cands, sole := x.candidates(remote.Addr())
		if len(cands) == 0 {
			x.refusedPeers.Add(1)
			log := x.log
			if sole != nil {
				sole.refusedPeers.Add(1)
				log = sole.log
			}
			log.Warn("refused failover connection from an address with no relationship",
				zap.Stringer("remote", remote), zap.Stringer("listen", x.Addr()))
			c.Close()
			continue
		}
		x.wg.Add(1)
		go x.admit(c, remote, cands)
	}
}

// admit runs steps 2–4 of the Listener's design for one connection.
func (x *Listener) admit(c net.Conn, remote netip.AddrPort, cands []*Link) {
	defer x.wg.Done()
	// one is the link a refusal is charged to besides the Listener: the
	// only candidate, if there is one.
	var one *Link
	log := x.log
	if len(cands) == 1 {
		one = cands[0]
		log = one.log
	}
	log = log.With(zap.Stringer("remote", remote))
	ctx, cancel := context.WithTimeout(x.ctx, handshakeTimeout)
	defer cancel()
	stopWatch := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stopWatch()

	if tc := cands[0].serverTLS; tc != nil { // register made the candidates agree
		tlc := tls.Server(c, tc)
		if err := tlc.HandshakeContext(ctx); err != nil {
			x.refusedTLS.Add(1)
			if one != nil {
				one.refusedTLS.Add(1)
			}
			log.Warn("refused failover connection: TLS handshake failed", zap.Error(err))
			c.Close()
			return
		}
		c = tlc
	}
	// Read exactly the CONNECT: the primary sends nothing more until it
	// has our CONNECTREPLY, and the session's reader starts after it.
	maxFrame := 0
	for _, l := range cands {
		maxFrame = max(maxFrame, l.cfg.MaxFrame)
	}
	var m wire.FailoverMsg
	msg, err := readFrame(c, maxFrame)
	if err == nil {
		err = m.Decode(msg)
	}
	if err != nil {
		// Garbage is a refusal, counted and logged as one; a connection
		// closed or timed out before a whole frame is the network's doing
		// (or a port scan), and only logged.
		lvl := zap.InfoLevel
		if isMalformed(err) && x.ctx.Err() == nil {
			lvl = zap.WarnLevel
			x.refusedMalformed.Add(1)
			if one != nil {
				one.refusedMalformed.Add(1)
			}
		}
		if ce := log.Check(lvl, "failover connection closed before a CONNECT"); ce != nil {
			ce.Write(zap.Error(err))
		}
		c.Close()
		return
	}
	l, r := pick(cands, &m, remote.Addr())
	if l == nil {
		l = one
	}
	if l != nil {
		l.framesIn.Add(1)
		log = l.log.With(zap.Stringer("remote", remote))
	}
	var p Partner
	if r == nil {
		p, r = checkConnect(&l.cfg, &m, l.cfg.Now())
	}
	if r == nil {
		// A valid CONNECT replaces the live session (handoff), which is
		// right for the partner reconnecting, and wrong for anyone else:
		// without a configured peer address any host that reaches the
		// port could displace the real primary. Only the address of the
		// live session's partner may replace it.
		if s := l.cur.Load(); s != nil && s.remote.Addr() != remote.Addr() {
			r = &refusal{wire.StatusConfigurationConflict,
				fmt.Sprintf("relationship %q is connected to %v; a connection from %v cannot replace it", l.cfg.Name, s.remote.Addr(), remote.Addr())}
		}
	}
	if r != nil {
		x.refusedConnects.Add(1)
		now := time.Now
		if l != nil {
			l.countRefused(r.status)
			now = l.cfg.Now
		}
		log.Warn("refused failover CONNECT", zap.Uint16("status", r.status), zap.String("reason", r.reason))
		if _, err := c.Write(appendRefusal(nil, m.XID, wire.AbsTime(now().Unix()), r.status, r.reason)); err == nil && l != nil {
			l.framesOut.Add(1)
		}
		c.Close()
		return
	}
	if !stopWatch() || c.SetDeadline(time.Time{}) != nil {
		c.Close()
		return
	}
	p.Addr = remote
	l.handoff(&accepted{conn: c, partner: p, xid: m.XID, mclt: m.MCLT})
}

// pick chooses the relationship a CONNECT from a is for, among the links
// whose partner address a is (RFC 8156 §6.1–6.2: a relationship is its
// partner's address and RELATIONSHIP_NAME). A CONNECT may omit the name
// only where that leaves no choice. An unnamed link takes any name, as a
// single-relationship secondary always has. Refusals use
// ConfigurationConflict: the relationship is not configured here.
func pick(cands []*Link, m *wire.FailoverMsg, a netip.Addr) (*Link, *refusal) {
	if m.Type != wire.Connect {
		return nil, &refusal{wire.StatusNotSupported, "expected CONNECT, got " + wire.FailoverName(m.Type)}
	}
	var unnamed *Link
	nUnnamed := 0
	for _, l := range cands {
		if m.RelationshipName != nil && l.cfg.Name == string(m.RelationshipName) {
			return l, nil
		}
		if l.cfg.Name == "" {
			unnamed, nUnnamed = l, nUnnamed+1
		}
	}
	switch {
	case m.RelationshipName == nil && len(cands) == 1:
		return cands[0], nil
	case nUnnamed == 1:
		return unnamed, nil
	case m.RelationshipName == nil:
		return nil, &refusal{wire.StatusConfigurationConflict,
			fmt.Sprintf("CONNECT carries no RELATIONSHIP_NAME and %d relationships are configured here for %v", len(cands), a)}
	}
	return nil, &refusal{wire.StatusConfigurationConflict,
		fmt.Sprintf("relationship %q is not configured here for %v", clipName(m.RelationshipName), a)}
}

// accepted is a connection whose CONNECT the secondary accepted, on its
// way to the link's manager goroutine, which answers it.
type accepted struct {
	conn    net.Conn
	partner Partner
	xid     uint32 // the CONNECT's, echoed by CONNECTREPLY
	mclt    uint32 // the primary's, echoed and adopted
}

// handoff gives an admitted connection to the link's manager goroutine.
// A valid CONNECT means the partner has given up any older connection (it
// restarted, or its side of the old one died first): replace ours rather
// than make it wait out our keepalive. The closed check and the hand-over
// share l.mu with Close, so a connection is either drained by Close or
// closed here — never left behind.
func (l *Link) handoff(a *accepted) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		a.conn.Close()
		return
	}
	if s := l.cur.Load(); s != nil {
		s.stop("replaced by a new connection from the partner", 0, nil)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		a.conn.Close()
		return
	}
	for {
		select {
		case l.incoming <- a:
			return
		default:
		}
		select {
		case old := <-l.incoming:
			old.conn.Close()
		default:
		}
	}
}

// readFrame reads exactly one frame, for the CONNECT before a session owns
// the connection.
func readFrame(c net.Conn, maxFrame int) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0])<<8 | int(hdr[1])
	switch {
	case n < wire.FailoverHeaderLen:
		return nil, ErrFrameShort
	case n > maxFrame:
		return nil, ErrFrameLarge
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(c, msg); err != nil {
		return nil, err
	}
	if t := wire.MsgType(msg[0]); t < wire.BndUpd || t > wire.Contact {
		return nil, ErrFrameType
	}
	return msg, nil
}

// isMalformed tells a refusal (bytes that are no failover message, or a
// peer that stalled mid-frame past the handshake timeout) from a peer that
// simply went away before sending a whole frame.
func isMalformed(err error) bool {
	return !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		!errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, net.ErrClosed)
}

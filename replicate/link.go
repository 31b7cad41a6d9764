package replicate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventUp: CONNECT and CONNECTREPLY were exchanged and accepted and our
	// STATE has been written. Communications become "OK" (RFC 8156 §6.1)
	// when the partner's STATE arrives, as the next EventMessage.
	EventUp EventKind = iota + 1
	// EventDown: a connection ended — one that was up (WasUp), or, on the
	// primary, one refused or failed during the CONNECT exchange (the
	// secondary refuses before a connection becomes a session, and only
	// counts and logs it). The serving loop treats Downs idempotently.
	EventDown
	// EventMessage: a message from the partner other than the link's own
	// CONNECT, CONNECTREPLY, DISCONNECT and CONTACT.
	EventMessage
)

func (k EventKind) String() string {
	switch k {
	case EventUp:
		return "up"
	case EventDown:
		return "down"
	case EventMessage:
		return "message"
	}
	return "unknown"
}

// Event is what the link reports to the serving loop. For one connection
// the order is Up, Messages in arrival order, Down.
type Event struct {
	Kind EventKind

	// Up: the partner's parameters and the relationship's MCLT.
	Partner Partner

	// Down: why, the status code that ended it (sent by either side: a
	// DISCONNECT, a refusing CONNECTREPLY, or one we sent; 0 for a broken
	// or silent connection), and whether the connection had come up.
	Reason string
	Status uint16
	WasUp  bool

	// Message: its type and a copy of it without the 2-byte frame length,
	// ready for wire.FailoverMsg.Decode. The serving loop owns the copy
	// until it calls Release (Stream.Receive does, once it is done with
	// Msg); a copy never released is simply garbage-collected.
	Type wire.MsgType
	Msg  []byte
	// Skew is the link's averaged clock skew (partner minus ours) when the
	// message was read: what CLT_TIME is corrected by (Stats.Skew).
	Skew time.Duration

	// buf holds Msg: a pooled buffer (bytebufferpool), so that the copy
	// from the frame reader costs no allocation per message.
	buf *bytebufferpool.ByteBuffer
}

// Release hands a message's buffer back to the pool; Msg must not be used
// after it. Safe to call more than once and on events with no buffer.
func (ev *Event) Release() {
	if ev.buf != nil {
		bytebufferpool.Put(ev.buf)
		ev.buf = nil
	}
	ev.Msg = nil
}

// takeBuffer moves the pooled buffer out of ev: the caller (a Stream
// keeping a BNDUPD until its BNDREPLY) releases it later.
func (ev *Event) takeBuffer() *bytebufferpool.ByteBuffer {
	b := ev.buf
	ev.buf = nil
	return b
}

// messageEvent copies msg into a pooled buffer as an EventMessage.
func messageEvent(t wire.MsgType, msg []byte, skew time.Duration) Event {
	b := bytebufferpool.Get()
	b.B = append(b.B[:0], msg...)
	return Event{Kind: EventMessage, Type: t, Msg: b.B, Skew: skew, buf: b}
}

// Stats are the link's counters. Counters only grow for the Link's life.
// On a Listener shared by several secondaries, a secondary's Refused*
// count only what can be tied to it (see Listener); ListenerStats count
// every refusal.
type Stats struct {
	Connected bool
	Partner   Partner       // from the latest CONNECT exchange
	Skew      time.Duration // partner clock minus ours, averaged over recent messages

	FramesIn, FramesOut uint64
	Connects            uint64 // connections that came up
	Reconnects          uint64 // of those, all but the first
	DialFailures        uint64 // primary: dials and TLS handshakes that failed
	RefusedPeers        uint64 // secondary: connections from addresses not allowed
	RefusedTLS          uint64 // secondary: TLS handshakes refused (no or unverifiable client certificate)
	RefusedConnects     uint64 // CONNECTs we refused (secondary) or CONNECTREPLYs refused by either side (primary)
	RefusedSkew         uint64 // of RefusedConnects: ExcessiveTimeSkew (clocks more than MaxSkew apart)
	RefusedConflict     uint64 // of RefusedConnects: ConfigurationConflict (name, MCLT, flags, a second partner)
	RefusedMalformed    uint64 // secondary: connections closed because the first frame was no decodable failover message
	RefusedWindow       uint64 // sessions dropped because the partner exceeded our MAX_UNACKED_BNDUPD
	QueueFull           uint64 // Sends refused because the queue was full
}

// Send errors.
var (
	ErrNotConnected = errors.New("replicate: partner link is not up")
	ErrQueueFull    = errors.New("replicate: send queue full")
	ErrClosed       = errors.New("replicate: link closed")
	ErrBadFrame     = errors.New("replicate: Send takes exactly one framed failover message")
	ErrLinkOwned    = errors.New("replicate: CONNECT, CONNECTREPLY, DISCONNECT and CONTACT are the link's own")
)

// skewSamples is the moving-average window for Stats.Skew: recent enough to
// follow a clock step within a minute of CONTACTs, long enough that one
// message delayed across a second boundary moves the average by a sixteenth.
const skewSamples = 16

// Link is one failover relationship's connection to its partner.
//
// Design (after hashicorp/raft's net transport): one manager goroutine dials
// (primary) or takes accepted connections (secondary) and runs one session
// at a time. A session does the CONNECT exchange inline, then reads frames
// on the manager goroutine while a writer goroutine drains the send queue —
// so a slow partner stops our writes, never our reads, and acks keep
// arriving while a catch-up stream is being sent. The serving loop sees
// only Events and calls Send; nothing here touches engine state.
//
// The send queue is two byte buffers swapped under a mutex: Send copies a
// frame into the pending one, the writer swaps it out and writes the whole
// batch with one syscall per DefaultBatch bytes. Both buffers live for the
// Link's life, so steady-state sending allocates nothing.
type Link struct {
	cfg       Config
	log       *zap.Logger
	events    chan Event
	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup
	lst       *Listener      // secondary: where connections arrive
	ownLst    bool           // lst is private to this link, closed with it
	incoming  chan *accepted // secondary: the next admitted connection
	serverTLS *tls.Config
	clientTLS *tls.Config
	xid       atomic.Uint32

	cur atomic.Pointer[session]

	mu      sync.Mutex // guards the fields below
	local   LocalState
	partner Partner
	closed  bool

	// Owned by the manager goroutine and the session it runs; reused
	// across connections.
	fr         *FrameReader
	fw         *FrameWriter
	qa, qb     []byte
	skewRing   [skewSamples]int64
	skewN      int
	skewWarned bool
	msg        wire.FailoverMsg // decoded CONNECT, CONNECTREPLY, DISCONNECT

	connected                                   atomic.Bool
	skew                                        atomic.Int64
	framesIn, framesOut, connects, dialFailures atomic.Uint64
	refusedPeers, refusedTLS, refusedConnects   atomic.Uint64
	refusedSkew, refusedConflict                atomic.Uint64
	refusedMalformed, refusedWindow             atomic.Uint64
	queueFull                                   atomic.Uint64

	// silent is a test hook: while set the writer drops everything,
	// CONTACTs included, as a partner that hung would.
	silent atomic.Bool
}

// Start validates cfg, starts listening (secondary) and begins connecting
// (primary). It fails only on configuration or listen errors; an absent
// partner is reported through Events.
func Start(cfg Config) (*Link, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	role := "secondary"
	if cfg.Primary {
		role = "primary"
	}
	l := &Link{
		cfg:      cfg,
		log:      cfg.Logger.With(zap.String("relationship", cfg.Name), zap.String("role", role)),
		events:   make(chan Event, cfg.EventBuffer),
		incoming: make(chan *accepted, 1),
		local:    cfg.State,
		fr:       NewFrameReader(nil, 0, cfg.MaxFrame),
		fw:       NewFrameWriter(nil, cfg.Batch),
		qa:       make([]byte, 0, 4096),
		qb:       make([]byte, 0, 4096),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if cfg.TLS != nil {
		if cfg.Primary {
			l.clientTLS = cfg.TLS.Clone()
			if l.clientTLS.ServerName == "" && cfg.Peer.IsValid() {
				l.clientTLS.ServerName = cfg.Peer.Addr().String()
			}
		} else {
			l.serverTLS = cfg.TLS.Clone()
			l.serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		for _, t := range []*tls.Config{l.clientTLS, l.serverTLS} {
			if t != nil && t.MinVersion < tls.VersionTLS12 {
				t.MinVersion = tls.VersionTLS12
			}
		}
	}
	if cfg.Primary {
		l.wg.Add(1)
		go l.runPrimary()
		return l, nil
	}
	l.lst, l.ownLst = cfg.Shared, cfg.Shared == nil
	if l.ownLst {
		ln := cfg.Listener
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", cfg.Listen.String()); err != nil {
				return nil, fmt.Errorf("replicate: listen: %w", err)
			}
		}
		l.lst = NewListener(ln, l.log)
	}
	if err := l.lst.register(l); err != nil {
		if l.ownLst {
			l.lst.Close()
		}
		return nil, err
	}
	if cfg.acceptsAny() {
		l.log.Warn("failover listener accepts connections from any address; set AllowedPeers or Peer")
	}
	l.log.Info("failover listener up", zap.Stringer("addr", l.lst.Addr()), zap.Bool("shared", !l.ownLst))
	l.wg.Add(1)
	go l.runSecondary()
	return l, nil
}

// Events delivers Up, Down and Message events. It is closed after Close.
// The serving loop must keep reading it: a full channel stops the reader.
func (l *Link) Events() <-chan Event { return l.events }

// Addr is the secondary's listening address (useful with port 0).
func (l *Link) Addr() netip.AddrPort {
	if l.lst == nil {
		return netip.AddrPort{}
	}
	return l.lst.Addr()
}

// NextXID returns a fresh 24-bit transaction id, unique among this link's
// outstanding messages until it wraps after 16M messages. The link's own
// messages take theirs from the same counter.
func (l *Link) NextXID() uint32 { return l.xid.Add(1) & 0xffffff }

// Send queues one framed failover message (wire.BeginFrame … EndFrame) for
// the partner. It copies the frame and never blocks on the network: it
// fails with ErrNotConnected unless the link is up, and with ErrQueueFull
// when Config.SendQueue bytes are already waiting. The sent-time is
// restamped as the frame leaves (RFC 8156 §5.2: as late as possible).
func (l *Link) Send(frame []byte) error {
	if len(frame) < 2+wire.FailoverHeaderLen || int(frame[0])<<8|int(frame[1]) != len(frame)-2 {
		return ErrBadFrame
	}
	switch t := wire.MsgType(frame[2]); {
	case t < wire.BndUpd || t > wire.Contact:
		return ErrBadFrame
	case t == wire.Connect || t == wire.ConnectReply || t == wire.Disconnect || t == wire.Contact:
		return ErrLinkOwned
	}
	s := l.cur.Load()
	if s == nil {
		if l.ctx.Err() != nil {
			return ErrClosed
		}
		return ErrNotConnected
	}
	return s.enqueue(frame)
}

// SetLocalState sets what STATE carries: sent now if the link is up, and
// after every future CONNECT exchange. startOfState is Unix seconds.
func (l *Link) SetLocalState(state, flags uint8, startOfState int64) {
	ls := LocalState{State: state, Flags: flags, StartOfState: startOfState}
	l.mu.Lock()
	l.local = ls
	l.mu.Unlock()
	if s := l.cur.Load(); s != nil {
		s.enqueueState(ls)
	}
}

// Stats returns a snapshot of the counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	p := l.partner
	l.mu.Unlock()
	c := l.connects.Load()
	return Stats{
		Connected:        l.connected.Load(),
		Partner:          p,
		Skew:             time.Duration(l.skew.Load()),
		FramesIn:         l.framesIn.Load(),
		FramesOut:        l.framesOut.Load(),
		Connects:         c,
		Reconnects:       max(c, 1) - 1,
		DialFailures:     l.dialFailures.Load(),
		RefusedPeers:     l.refusedPeers.Load(),
		RefusedTLS:       l.refusedTLS.Load(),
		RefusedConnects:  l.refusedConnects.Load(),
		RefusedSkew:      l.refusedSkew.Load(),
		RefusedConflict:  l.refusedConflict.Load(),
		RefusedMalformed: l.refusedMalformed.Load(),
		RefusedWindow:    l.refusedWindow.Load(),
		QueueFull:        l.queueFull.Load(),
	}
}

// countRefused counts one refused CONNECT or CONNECTREPLY, and its
// status where Stats breaks it out.
func (l *Link) countRefused(status uint16) {
	l.refusedConnects.Add(1)
	switch status {
	case wire.StatusExcessiveTimeSkew:
		l.refusedSkew.Add(1)
	case wire.StatusConfigurationConflict:
		l.refusedConflict.Add(1)
	}
}

// Close sends DISCONNECT(ServerShuttingDown) if the link is up, closes the
// connection and the listener, waits for the link's goroutines and closes
// Events. It is safe to call more than once.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		if s := l.cur.Load(); s != nil {
			s.stop("link closed", wire.StatusServerShuttingDown,
				&refusal{wire.StatusServerShuttingDown, "server shutting down"})
		}
		l.cancel()
		if l.ownLst {
			l.lst.Close()
		} else if l.lst != nil {
			l.lst.unregister(l)
		}
		l.wg.Wait()
		for {
			select {
			case a := <-l.incoming:
				a.conn.Close()
				continue
			default:
			}
			break
		}
		close(l.events)
		l.log.Info("failover link closed")
	})
	return nil
}

// emit delivers an event, giving up only when the link is closing (and
// then only if the channel is full).
func (l *Link) emit(ev Event) {
	select {
	case l.events <- ev:
		return
	default:
	}
	select {
	case l.events <- ev:
	case <-l.ctx.Done():
	}
}

// sleep waits d or until Close; false means closing.
func (l *Link) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// runPrimary dials the secondary, runs the session, and dials again after
// an exponentially growing, jittered delay (RFC 8156 §6.1: retry
// periodically, back off after a refusal or DISCONNECT). The delay starts
// over after a connection that came up.
func (l *Link) runPrimary() {
	defer l.wg.Done()
	attempt := 0
	for l.ctx.Err() == nil {
		conn, err := l.dial()
		if err != nil {
			l.dialFailures.Add(1)
			lvl := zap.DebugLevel
			if attempt == 0 {
				lvl = zap.WarnLevel
			}
			if ce := l.log.Check(lvl, "failover partner unreachable"); ce != nil {
				ce.Write(zap.Stringer("peer", l.cfg.Peer), zap.Int("attempt", attempt), zap.Error(err))
			}
		} else if l.runSession(conn, nil) {
			attempt = 0
		}
		if !l.sleep(l.cfg.backoff(attempt)) {
			return
		}
		attempt++
	}
}

func (l *Link) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, handshakeTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if l.cfg.Dial != nil {
		conn, err = l.cfg.Dial(ctx)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", l.cfg.Peer.String())
	}
	if err != nil || l.clientTLS == nil {
		return conn, err
	}
	tc := tls.Client(conn, l.clientTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return tc, nil
}

func (l *Link) runSecondary() {
	defer l.wg.Done()
	for {
		select {
		case a := <-l.incoming:
			l.runSession(a.conn, a)
		case <-l.ctx.Done():
			return
		}
	}
}

// addrPortOf converts a net.Addr from a TCP or in-memory connection.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

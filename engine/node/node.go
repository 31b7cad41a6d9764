package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/journal"
	"github.com/tandemdhcp/tandem/netio"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// Options are the serve command's settings: the config file plus the
// tuning flags of CONTRACT.md.
type Options struct {
	File   *config.File
	Logger *zap.Logger

	// JournalBatch caps the events one journal commit takes; more waiting
	// work is committed in the next one. Bigger batches amortise fsync.
	JournalBatch int
	// JournalWait is how long the loop may wait for more requests before
	// committing a batch that is not full. 0 commits as soon as the waiting
	// work is drained, which is right unless fsync is very cheap.
	JournalWait time.Duration
	// Readers is the number of unicast sockets (SO_REUSEPORT) per listen
	// address, each with its own reader goroutine.
	Readers int
	// ReadBatch is the number of datagrams one read syscall may return.
	ReadBatch int
	// SnapshotEvery is the number of events between journal snapshots.
	SnapshotEvery uint64
	// ReplBatch caps the partner messages (BNDUPDs, BNDREPLYs) one write
	// syscall carries; 0: everything queued.
	ReplBatch int
	// ReplMaxUnacked, when > 0, replaces every relationship's configured
	// max-unacked-bndupd: the window we advertise to partners.
	ReplMaxUnacked int
	// JournalMinFree is the free space (bytes) the journal keeps in reserve
	// on its filesystem: below it the server grants nothing new (space.go).
	// 0: journal.DefaultMinFree.
	JournalMinFree uint64
	// JournalRetention, when > 0, replaces the config's
	// server.journal-retention: journal history older than this is removed
	// (retention.go).
	JournalRetention time.Duration
	// RetentionEvery is how often retention runs (0: DefaultRetentionEvery).
	RetentionEvery time.Duration
}

func (o *Options) defaults() {
	if o.JournalBatch <= 0 {
		o.JournalBatch = 4096
	}
	if o.Readers <= 0 {
		o.Readers = 1
	}
	if o.ReadBatch <= 0 {
		o.ReadBatch = 64
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.JournalRetention <= 0 && o.File != nil {
		o.JournalRetention = o.File.Server.JournalRetention
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = DefaultRetentionEvery
	}
}

// Node is one running server.
type Node struct {
	opts  Options
	log   *zap.Logger
	eng   *engine.Engine
	jrn   *journal.Journal
	duid  []byte
	start time.Time

	conns   []*socket
	batches chan *rxBatch
	calls   chan func(*engine.Engine)
	stop    chan struct{}
	done    chan struct{}
	// failed is why the loop stopped by itself (a journal commit failed);
	// written before done closes.
	failed  error
	readers sync.WaitGroup

	controlAddr string

	peers      []*peer
	listeners  []*replicate.Listener // shared by the secondaries on one address
	peerEvents chan peerEvent

	// Totals the loop and readers publish for the control API.
	stats Stats
	// metrics are what GET /metrics serves (metrics.go).
	metrics *nodeMetrics

	retention retention // journal retention runs (retention.go)
}

// Stats are running totals, safe to read from any goroutine.
type Stats struct {
	Received    atomic.Uint64 // datagrams read
	Malformed   atomic.Uint64 // datagrams that failed to decode (dropped)
	Replied     atomic.Uint64 // datagrams sent
	SendErrors  atomic.Uint64
	Commits     atomic.Uint64 // journal commits
	Events      atomic.Uint64 // journal events
	CommitErrs  atomic.Uint64 // failed commits: their replies were not sent
	LastSeq     atomic.Uint64
	NAActive    atomic.Int64
	PDActive    atomic.Int64
	Digest      atomic.Uint64
	EngineDrops [8]atomic.Uint64
	NoSpace     atomic.Uint64 // client requests dropped while the journal was low on space
	SpaceLow    atomic.Bool   // the journal's free space is below its reserve
	JournalFree atomic.Uint64 // free bytes on the journal's filesystem, last check

	PeerUnhandled atomic.Uint64 // partner messages not handled yet
}

// socket is one UDP socket with what the loop needs to answer on it.
type socket struct {
	conn      *netio.Conn
	iface     string // link name for multicast sockets; "" for unicast
	multicast bool
	out       []netio.Msg // reply slots, used by the loop only
}

// rxBatch is one read's worth of datagrams and their decoded packets. A
// reader owns a fixed ring of them; the loop hands each back on free.
type rxBatch struct {
	sock  int
	msgs  []netio.Msg
	pkts  []wire.Packet
	ok    []bool
	n     int
	owner chan *rxBatch
}

// Start opens the journal, restores state, binds the sockets and starts
// serving.
func Start(o Options) (*Node, error) {
	o.defaults()
	f := o.File
	if f == nil {
		return nil, errors.New("node: no config")
	}
	if err := os.MkdirAll(f.Server.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("node: data-dir: %w", err)
	}
	duid, err := serverDUID(f.Server.DataDir, f.Server.DUID)
	if err != nil {
		return nil, err
	}
	cfg := f.Engine
	cfg.ServerDUID = duid
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	jrn, err := journal.Open(journal.Options{
		Dir:           filepath.Join(f.Server.DataDir, "journal"),
		Logger:        o.Logger.Named("journal"),
		SnapshotEvery: o.SnapshotEvery,
		MinFree:       o.JournalMinFree,
	})
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	seq, err := jrn.Restore(eng)
	if err != nil {
		jrn.Close()
		return nil, err
	}
	na, pd := eng.Active()
	o.Logger.Info("state restored", zap.Uint64("seq", seq), zap.Int("records", eng.Len()),
		zap.Int("na_active", na), zap.Int("pd_active", pd),
		zap.String("digest", fmt.Sprintf("%016x", eng.Digest())), zap.Duration("took", time.Since(t0)))

	n := &Node{
		opts: o, log: o.Logger, eng: eng, jrn: jrn, duid: duid, start: time.Now(),
		batches:    make(chan *rxBatch, 256),
		calls:      make(chan func(*engine.Engine), 16),
		peerEvents: make(chan peerEvent, 256),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		metrics:    newNodeMetrics(),
	}
	n.stats.LastSeq.Store(seq)
	n.spaceOK(time.Now())
	n.publish()
	if err := n.listen(); err != nil {
		n.closeSockets()
		jrn.Close()
		return nil, err
	}
	if err := n.startPeers(); err != nil {
		n.closePeers()
		n.closeSockets()
		jrn.Close()
		return nil, err
	}
	n.metrics.register(n)
	for i := range n.conns {
		n.readers.Add(1)
		go n.read(i)
	}
	go n.loop()
	return n, nil
}

func (n *Node) listen() error {
	f := n.opts.File
	for _, ifname := range f.Server.Interfaces {
		c, err := netio.ListenMulticast(ifname, 547)
		if err != nil {
			return fmt.Errorf("node: interface %s: %w", ifname, err)
		}
		n.conns = append(n.conns, &socket{conn: c, iface: ifname, multicast: true})
	}
	for _, ap := range f.Server.Listen {
		for r := 0; r < n.opts.Readers; r++ {
			c, err := netio.ListenUnicast(ap, n.opts.Readers > 1)
			if err != nil {
				return fmt.Errorf("node: listen %s: %w", ap, err)
			}
			n.conns = append(n.conns, &socket{conn: c})
		}
	}
	for _, s := range n.conns {
		s.out = make([]netio.Msg, 0, 4*n.opts.ReadBatch)
	}
	if len(n.conns) == 0 {
		return errors.New("node: nothing to listen on: set server.interfaces or server.listen")
	}
	return nil
}

func (n *Node) closePeers() {
	for _, p := range n.peers {
		p.link.Close()
	}
	for _, x := range n.listeners {
		x.Close()
	}
}

func (n *Node) closeSockets() {
	for _, s := range n.conns {
		s.conn.Close()
	}
}

// ringSize is how many batches each reader owns: while the loop holds some
// (waiting for fsync), the reader keeps reading into the others.
const ringSize = 8

// read is one socket's reader: read a batch, decode it, hand it to the
// loop. Decoding here spreads that work over cores.
func (n *Node) read(i int) {
	defer n.readers.Done()
	s := n.conns[i]
	free := make(chan *rxBatch, ringSize)
	for k := 0; k < ringSize; k++ {
		b := &rxBatch{sock: i, owner: free,
			msgs: make([]netio.Msg, n.opts.ReadBatch),
			pkts: make([]wire.Packet, n.opts.ReadBatch),
			ok:   make([]bool, n.opts.ReadBatch)}
		for j := range b.msgs {
			b.msgs[j].Buf = make([]byte, 1500)
		}
		free <- b
	}
	for {
		var b *rxBatch
		select {
		case b = <-free:
		case <-n.stop:
			return
		}
		for j := range b.msgs {
			b.msgs[j].N = 0
		}
		k, err := s.conn.ReadBatch(b.msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("read", zap.String("socket", s.conn.LocalAddr().String()), zap.Error(err))
			free <- b
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n.stats.Received.Add(uint64(k))
		for j := 0; j < k; j++ {
			m := &b.msgs[j]
			b.ok[j] = b.pkts[j].Decode(m.Buf[:m.N]) == nil
			if !b.ok[j] {
				n.stats.Malformed.Add(1)
			}
		}
		b.n = k
		select {
		case n.batches <- b:
		case <-n.stop:
			return
		}
	}
}

// loop is the one goroutine that owns the engine.
func (n *Node) loop() {
	defer close(n.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var held []*rxBatch // batches whose packets the engine's replies alias
	for {
		select {
		case b := <-n.batches:
			held = n.take(b, held)
			// Group commit: take everything already waiting, up to the cap.
			deadline := time.Time{}
			if n.opts.JournalWait > 0 {
				deadline = time.Now().Add(n.opts.JournalWait)
			}
		drain:
			for len(n.eng.Ready().Events) < n.opts.JournalBatch {
				select {
				case b := <-n.batches:
					held = n.take(b, held)
				default:
					if deadline.IsZero() || !time.Now().Before(deadline) {
						break drain
					}
					time.Sleep(20 * time.Microsecond)
				}
			}
		case now := <-tick.C:
			n.spaceOK(now)
			n.eng.Step(now, engine.Input{Kind: engine.InputTick})
			n.maybeRetain(now)
		case fn := <-n.calls:
			fn(n.eng)
		case pe := <-n.peerEvents:
			n.onPeerEvent(pe)
			// Group commit for the partner too: take every partner
			// message already waiting, so one fsync covers them all.
			for k := 0; k < n.opts.JournalBatch; k++ {
				select {
				case pe := <-n.peerEvents:
					n.onPeerEvent(pe)
					continue
				default:
				}
				break
			}
		case <-n.stop:
			n.flush(held)
			return
		}
		held = n.flush(held)
		if n.failed != nil {
			return
		}
	}
}

// stepBatch feeds one batch's decoded requests to the engine.
func (n *Node) stepBatch(b *rxBatch, held []*rxBatch) []*rxBatch {
	now := time.Now()
	s := n.conns[b.sock]
	for j := 0; j < b.n; j++ {
		if !b.ok[j] {
			continue
		}
		m := &b.msgs[j]
		in := engine.Input{
			Kind:      engine.InputClient,
			Pkt:       &b.pkts[j],
			Multicast: m.Dst.IsMulticast(),
			To:        engine.Dest{Addr: m.Addr, IfIndex: m.IfIndex, Socket: b.sock},
		}
		if !in.Multicast {
			in.To.Local = m.Dst
		}
		if s.multicast {
			in.Iface = s.iface
		} else if !b.pkts[j].Relayed() {
			in.Iface = netio.IfName(m.IfIndex)
		}
		n.eng.Step(now, in)
	}
	return append(held, b)
}

// flush makes the engine's events durable, then sends the replies that
// depended on them, then returns the batches to their readers.
func (n *Node) flush(held []*rxBatch) []*rxBatch {
	if !n.eng.HasReady() {
		// A batch that only dropped packets still moved the drop
		// counters: publish them, or they read stale until the next
		// answered exchange.
		n.publish()
		return n.release(held)
	}
	rd := n.eng.Ready()
	durable := true
	var firstSeq uint64
	if len(rd.Events) > 0 {
		t0 := time.Now()
		seq, err := n.jrn.Append(rd.Events)
		if err != nil {
			// Durable before visible: without the journal we must not
			// answer. The engine has applied the events, so its state now
			// runs ahead of the disk; the safest course is to stop serving.
			n.stats.CommitErrs.Add(1)
			n.log.Error("journal commit failed: replies withheld, stopping", zap.Error(err), zap.Int("events", len(rd.Events)))
			durable = false
			n.failed = fmt.Errorf("journal commit failed (the lease state ran ahead of the disk; a restart replays the journal): %w", err)
		} else {
			n.metrics.commitSeconds.Observe(time.Since(t0).Seconds())
			n.metrics.commitEvents.Observe(float64(len(rd.Events)))
			n.stats.Commits.Add(1)
			n.stats.Events.Add(uint64(len(rd.Events)))
			n.stats.LastSeq.Store(seq)
			firstSeq = seq - uint64(len(rd.Events)) + 1
			n.logEndpointStates(rd.Events)
			// A snapshot writes the whole state: not out of the reserve.
			if n.jrn.SnapshotDue() && !n.stats.SpaceLow.Load() {
				if err := n.jrn.Snapshot(n.eng, seq); err != nil {
					n.log.Warn("snapshot", zap.Error(err))
				}
			}
		}
	}
	if durable {
		n.send(rd.Replies)
		n.sendPeerMsgs(rd.PeerMsgs)
		n.refreshLocalStates()
		n.committed(rd.Events, firstSeq) // before Advance reuses rd
	} else {
		for _, p := range n.peers {
			p.stream.Dropped()
		}
	}
	n.eng.Advance(rd)
	n.publish()
	return n.release(held)
}

func (n *Node) release(held []*rxBatch) []*rxBatch {
	for i, b := range held {
		b.owner <- b
		held[i] = nil
	}
	return held[:0]
}

// send writes the replies, batched per socket.
func (n *Node) send(replies []engine.Reply) {
	for i := range replies {
		r := &replies[i]
		s := n.conns[r.To.Socket]
		s.out = append(s.out, netio.Msg{Buf: r.Data, N: len(r.Data), Addr: r.To.Addr, IfIndex: r.To.IfIndex, Src: r.To.Local})
	}
	for _, s := range n.conns {
		for sent := 0; sent < len(s.out); {
			k, err := s.conn.WriteBatch(s.out[sent:])
			n.stats.Replied.Add(uint64(k))
			sent += k
			if err != nil {
				// out[sent] failed (e.g. an unreachable relay); skip it
				// and send the rest.
				n.stats.SendErrors.Add(1)
				if ce := n.log.Check(zap.DebugLevel, "send"); ce != nil {
					ce.Write(zap.Error(err), zap.Stringer("to", s.out[sent].Addr))
				}
				sent++
			}
		}
		clear(s.out) // drop references into the engine's arena
		s.out = s.out[:0]
	}
}

// publish copies engine figures to atomics for other goroutines.
func (n *Node) publish() {
	na, pd := n.eng.Active()
	n.stats.NAActive.Store(int64(na))
	n.stats.PDActive.Store(int64(pd))
	n.stats.Digest.Store(n.eng.Digest())
	for i, v := range n.eng.Counters.Dropped {
		if i < len(n.stats.EngineDrops) {
			n.stats.EngineDrops[i].Store(v)
		}
	}
}

// Do runs fn on the loop goroutine with the engine, and waits. For the
// control API: never on the packet path.
func (n *Node) Do(fn func(*engine.Engine)) error {
	done := make(chan struct{})
	select {
	case n.calls <- func(e *engine.Engine) { fn(e); close(done) }:
	case <-n.done:
		return errors.New("node: stopped")
	}
	select {
	case <-done:
		return nil
	case <-n.done:
		return errors.New("node: stopped")
	}
}

// Done is closed when the serving loop has stopped: after Stop, or by
// itself when a journal commit failed (Err says why).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is why the serving loop stopped by itself, once Done is closed; nil
// after a plain Stop.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.failed
	default:
		return nil
	}
}

// Stop stops reading, commits and answers what is in flight, and closes the
// journal.
func (n *Node) Stop() error {
	close(n.stop)
	<-n.done              // the loop has committed and answered what it held
	n.retention.wg.Wait() // a journal retention run has finished
	n.closePeers()        // DISCONNECT with ServerShuttingDown
	n.closeSockets()
	n.readers.Wait()
	return n.jrn.Close()
}

// ListenAddrs returns the local addresses of the node's sockets.
func (n *Node) ListenAddrs() []netip.AddrPort {
	var a []netip.AddrPort
	for _, s := range n.conns {
		a = append(a, s.conn.LocalAddr())
	}
	return a
}

// DUID returns the server's DUID.
func (n *Node) DUID() []byte { return n.duid }

// Stats returns the running totals.
func (n *Node) Stats() *Stats { return &n.stats }

// Uptime is how long the node has run.
func (n *Node) Uptime() time.Duration { return time.Since(n.start) }

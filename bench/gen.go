package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemdhcp/tandem/netio"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// gen is one load generator: its sockets, the table of exchanges in flight,
// the simulated clients' bindings, and the goroutines that move packets —
// the pacer (whoever calls stage) and one receiver per socket. Everything a
// packet touches is allocated in newGen; the send and receive loops
// allocate nothing, so the generator costs a few system calls per batch
// and never becomes the bottleneck it measures.
//
// The pipeline: the pacer wakes when exchanges are due (open loop: the
// schedule is the clock's, never the replies'), takes the next kind from
// the mix table and a client for it, claims the exchange's slot, encodes its
// first message into the batch of the next socket in turn, and sends each
// socket's batch with one sendmmsg. A receiver reads a batch with recvmmsg,
// matches each reply to its slot by transaction id, answers ADVERTISEs with
// REQUESTs (one sendmmsg per batch read) and records finished exchanges in
// its own counters and histograms, merged when a stage ends.
//
// Slots and clients are shared between the pacer and the receivers through
// atomics only: a slot's tag names the exchange that owns it, and whoever
// moves it on (next phase, or free) does so by compare-and-swap, so a
// duplicate or late reply can never complete an exchange twice.
type gen struct {
	cfg     Config
	relayed bool
	dst     netip.AddrPort
	ifindex int
	conns   []*netio.Conn
	start   time.Time
	timeout int64 // ns
	build   builder

	slots    []slot
	slotMask uint32
	clients  []client
	servers  serverTable
	mix      []Kind

	rx []*receiver
	wg sync.WaitGroup

	stageID   atomic.Uint32
	done      atomic.Uint64 // exchanges of this stage that ended (any outcome)
	lastBound atomic.Uint32 // 1 + the client that last completed a SOLICIT

	// Pacer state: only the goroutine running stage touches it.
	seq    uint32
	mixPos int
	solCur int
	renCur int
	used   int // clients [0, used) have been solicited at least once
	sock   int
	pout   [][]netio.Msg
	pn     []int
	pst    pacerStats
}

// pacerStats are one stage's counts from the sending side.
type pacerStats struct {
	started    [numKinds]uint64
	fallbacks  uint64 // renew/release with no bound client: a SOLICIT instead
	skipped    uint64 // no idle client to start an exchange for
	sendErrors uint64
	txPackets  uint64
	t0, t1     int64 // first and last send, ns since gen start
}

// Phases of an exchange, as stored in its slot's tag: what the slot waits
// for.
const (
	phFree     = 0
	phAdvert   = 1 // SOLICIT sent, waiting for ADVERTISE
	phReply    = 2 // REQUEST sent, waiting for REPLY
	phRenew    = 3 // RENEW sent, waiting for REPLY
	phRelease  = 4 // RELEASE sent, waiting for REPLY
	xidMask    = 1<<24 - 1
	maxSlots   = 1 << 21 // 64 MiB of slots; a 24-bit xid names at most 2^24
	minSlots   = 1 << 12
	scanLimit  = 64   // clients the pacer looks at before giving up on one exchange
	bufSize    = 2048 // receive buffers: an ADVERTISE with every option we know fits
	outBufSize = 1024 // our messages: under 450 bytes with a 130-byte SERVERID
)

func phaseKind(ph uint8) Kind {
	switch ph {
	case phRenew:
		return Renew
	case phRelease:
		return Release
	}
	return Solicit
}

// slot is one exchange in flight, found by its transaction id (the low bits
// of the xid index the table), so replies are matched without a map. The
// table is sized so a slot is reused only well after its exchange timed
// out.
type slot struct {
	tag     atomic.Uint64 // xid<<8 | phase; phFree (0) when free
	started atomic.Int64  // ns since gen start when the first message left
	cword   atomic.Uint64 // the client state word the pacer set
	client  atomic.Uint32
	stage   atomic.Uint32
}

// Client states, the low 4 bits of client.state; the rest is the ns (since
// gen start) of the last change, so a transitional state left by a lost
// exchange can be recognised as stale and taken over.
const (
	csFree       = 0
	csSoliciting = 1
	csBound      = 2
	csRenewing   = 3
	csReleasing  = 4
	csCommitting = 5 // a receiver is writing the binding
)

// client is one simulated client's binding. The state word is the lock:
// a receiver takes it from the exchange's state to csCommitting by
// compare-and-swap, writes the binding, and publishes csBound; the pacer
// reads the binding only after taking csBound to csRenewing or csReleasing.
type client struct {
	state  atomic.Uint64
	addr   [16]byte
	prefix [16]byte
	plen   uint8
	has    uint8 // bit 0: addr, bit 1: prefix
	server uint8 // index into the server table
}

func cword(now int64, st uint64) uint64 { return uint64(now)<<4 | st }

// serverTable interns the server DUIDs the run has seen (one, or two for a
// failover pair), so a client remembers its server in one byte.
type serverTable struct {
	mu  sync.Mutex
	n   atomic.Int32
	len [maxServers]uint8
	ids [maxServers][wire.MaxDUIDLen]byte
}

// maxServers is how many distinct servers a run remembers; a client bound
// by a server beyond that is forgotten (never renewed or released).
const maxServers = 16

func (t *serverTable) index(id []byte) int {
	n := int(t.n.Load())
	for i := range n {
		if bytes.Equal(t.ids[i][:t.len[i]], id) {
			return i
		}
	}
	if len(id) > wire.MaxDUIDLen {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n = int(t.n.Load())
	for i := range n {
		if bytes.Equal(t.ids[i][:t.len[i]], id) {
			return i
		}
	}
	if n == maxServers {
		return -1
	}
	t.len[n] = uint8(copy(t.ids[n][:], id))
	t.n.Store(int32(n + 1))
	return n
}

func (t *serverTable) id(i uint8) []byte { return t.ids[i][:t.len[i]] }

// newGen opens the sockets and allocates everything for rates up to
// maxRate, then starts the receivers.
func newGen(c Config, maxRate float64) (*gen, error) {
	g := &gen{cfg: c, timeout: int64(c.Timeout), start: time.Now()}
	g.mix = c.Mix.table()
	g.build = builder{na: c.IA != "pd", pd: c.IA != "na"}
	if c.InterfaceID != "" {
		g.build.interfaceID = []byte(c.InterfaceID)
	}
	if err := g.open(); err != nil {
		return nil, err
	}
	n := nextPow2(max(minSlots, min(maxSlots, int(maxRate*c.Timeout.Seconds()*1.5))))
	g.slots = make([]slot, n)
	g.slotMask = uint32(n - 1)
	g.clients = make([]client, c.Clients)
	g.pout = make([][]netio.Msg, len(g.conns))
	g.pn = make([]int, len(g.conns))
	for i := range g.pout {
		g.pout[i] = newMsgs(netio.MaxBatch, outBufSize)
	}
	for _, conn := range g.conns {
		r := &receiver{g: g, conn: conn, in: newMsgs(netio.MaxBatch, bufSize), out: newMsgs(netio.MaxBatch, outBufSize)}
		g.rx = append(g.rx, r)
		g.wg.Add(1)
		go r.loop()
	}
	return g, nil
}

func newMsgs(n, size int) []netio.Msg {
	buf := make([]byte, n*size)
	ms := make([]netio.Msg, n)
	for i := range ms {
		ms[i].Buf = buf[i*size : (i+1)*size : (i+1)*size]
	}
	return ms
}

func nextPow2(n int) int { return 1 << bits.Len(uint(n-1)) }

// open makes the sockets: relayed, Sockets unicast sockets on ephemeral
// ports (the server's SO_REUSEPORT group spreads flows by source port);
// direct, one socket on the interface's link-local address, client port.
func (g *gen) open() error {
	c := &g.cfg
	if c.Interface == "" {
		g.relayed = true
		g.dst = c.Server
		g.build.relayed = true
		g.build.link = c.Link
		for range c.Sockets {
			conn, err := netio.ListenUnicast(netip.AddrPortFrom(netip.IPv6Unspecified(), 0), false)
			if err != nil {
				g.closeConns()
				return fmt.Errorf("bench: %w", err)
			}
			g.conns = append(g.conns, conn)
			if conn.LocalAddr().Port() != 547 {
				g.build.relayPort = true
			}
		}
		return nil
	}
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return fmt.Errorf("bench: --interface: %w", err)
	}
	ll, err := linkLocal(ifi)
	if err != nil {
		return err
	}
	conn, err := netio.ListenUnicast(netip.AddrPortFrom(ll.WithZone(ifi.Name), uint16(c.ClientPort)), false)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	g.conns = append(g.conns, conn)
	g.ifindex = ifi.Index
	port := uint16(547)
	if c.Server.Addr().IsMulticast() && c.Server.Port() != 0 {
		port = c.Server.Port()
	}
	g.dst = netip.AddrPortFrom(netio.AllDHCPRelayAgentsAndServers.WithZone(ifi.Name), port)
	return nil
}

func linkLocal(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bench: %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("bench: %s has no IPv6 link-local address", ifi.Name)
}

func (g *gen) closeConns() {
	for _, c := range g.conns {
		c.Close()
	}
}

// close stops the receivers and closes the sockets.
func (g *gen) close() {
	g.closeConns()
	g.wg.Wait()
}

func (g *gen) now() int64 { return int64(time.Since(g.start)) }

// stage offers rate exchanges/s for d, then waits until every exchange it
// started has ended or timed out. It allocates nothing; collect reads what
// it measured.
func (g *gen) stage(rate float64, d time.Duration) {
	id := g.stageID.Add(1)
	for _, r := range g.rx {
		r.reset()
	}
	g.done.Store(0)
	g.pst = pacerStats{}
	total := uint64(rate * d.Seconds())
	interval := float64(time.Second) / rate
	t0 := g.now()
	g.pst.t0 = t0
	var launched uint64
	maxPerWake := uint64(netio.MaxBatch * len(g.conns))
	for launched < total {
		now := g.now()
		due := min(uint64(float64(now-t0)/interval)+1, total)
		if due <= launched {
			next := t0 + int64(float64(launched)*interval)
			time.Sleep(time.Duration(next - now))
			continue
		}
		k := min(due-launched, maxPerWake)
		g.launch(int(k), now, id)
		launched += k
	}
	g.pst.t1 = g.now()
	started := g.pst.started[Solicit] + g.pst.started[Renew] + g.pst.started[Release]
	deadline := g.pst.t1 + g.timeout
	for g.done.Load() < started && g.now() < deadline {
		time.Sleep(2 * time.Millisecond)
	}
}

// launch starts k exchanges at time now and sends them.
func (g *gen) launch(k int, now int64, stage uint32) {
	for range k {
		kind := g.mix[g.mixPos]
		if g.mixPos++; g.mixPos == len(g.mix) {
			g.mixPos = 0
		}
		ci, cw, kind, ok := g.pick(kind, now)
		if !ok {
			g.pst.skipped++
			continue
		}
		s := g.sock
		if g.sock++; g.sock == len(g.conns) {
			g.sock = 0
		}
		xid := g.seq & xidMask
		g.seq++
		ph := uint64(phAdvert)
		t := wire.Solicit
		var a ask
		switch kind {
		case Renew, Release:
			ph, t = phRenew, wire.Renew
			if kind == Release {
				ph, t = phRelease, wire.Release
			}
			cl := &g.clients[ci]
			a.serverID = g.servers.id(cl.server)
			if cl.has&1 != 0 {
				a.addr = netip.AddrFrom16(cl.addr)
			}
			if cl.has&2 != 0 {
				a.prefix = netip.PrefixFrom(netip.AddrFrom16(cl.prefix), int(cl.plen))
			}
		}
		sl := &g.slots[xid&g.slotMask]
		sl.tag.Store(phFree) // readers of the old tag now fail their CAS
		sl.client.Store(ci)
		sl.cword.Store(cw)
		sl.started.Store(now)
		sl.stage.Store(stage)
		sl.tag.Store(uint64(xid)<<8 | ph)
		m := &g.pout[s][g.pn[s]]
		m.N = len(g.build.append(m.Buf[:0], t, xidBytes(xid), ci, &a))
		m.Addr, m.IfIndex = g.dst, g.ifindex
		g.pst.started[kind]++
		if g.pn[s]++; g.pn[s] == netio.MaxBatch {
			g.flush(s)
		}
	}
	for s := range g.pn {
		if g.pn[s] > 0 {
			g.flush(s)
		}
	}
}

func (g *gen) flush(s int) {
	sent, errs := writeAll(g.conns[s], g.pout[s][:g.pn[s]])
	g.pst.txPackets += uint64(sent)
	g.pst.sendErrors += uint64(errs)
	g.pn[s] = 0
}

// writeAll sends msgs, skipping any the kernel refuses; it returns how many
// went and how many failed. A closed socket fails the rest.
func writeAll(c *netio.Conn, msgs []netio.Msg) (sent, failed int) {
	for len(msgs) > 0 {
		n, err := c.WriteBatch(msgs)
		sent += n
		if err == nil {
			break
		}
		if errors.Is(err, net.ErrClosed) {
			return sent, failed + len(msgs) - n
		}
		failed++
		msgs = msgs[n+1:]
	}
	return sent, failed
}

func xidBytes(x uint32) [3]byte { return [3]byte{byte(x >> 16), byte(x >> 8), byte(x)} }

// pick finds a client for an exchange of kind and moves it into that
// exchange's state. A SOLICIT takes the next client in turn that is idle
// (free or bound, or stuck longer than the timeout in an exchange that got
// lost); a RENEW or RELEASE the next bound one among those solicited so
// far, falling back to a SOLICIT when there is none.
func (g *gen) pick(kind Kind, now int64) (ci uint32, cw uint64, _ Kind, ok bool) {
	if kind != Solicit {
		want := uint64(csRenewing)
		if kind == Release {
			want = csReleasing
		}
		for range min(scanLimit, g.used) {
			i := g.renCur
			if g.renCur++; g.renCur >= g.used {
				g.renCur = 0
			}
			c := &g.clients[i]
			w := c.state.Load()
			if w&15 == csBound {
				nw := cword(now, want)
				if c.state.CompareAndSwap(w, nw) {
					return uint32(i), nw, kind, true
				}
			}
		}
		g.pst.fallbacks++
		kind = Solicit
	}
	for range min(scanLimit, len(g.clients)) {
		i := g.solCur
		if g.solCur++; g.solCur == len(g.clients) {
			g.solCur = 0
		}
		c := &g.clients[i]
		w := c.state.Load()
		switch w & 15 {
		case csFree, csBound:
		case csSoliciting, csRenewing, csReleasing:
			if now-int64(w>>4) <= g.timeout {
				continue
			}
		default:
			continue
		}
		nw := cword(now, csSoliciting)
		if c.state.CompareAndSwap(w, nw) {
			g.used = max(g.used, i+1)
			return uint32(i), nw, Solicit, true
		}
	}
	return 0, 0, kind, false
}

// receiver reads one socket. Its counters and histograms are its own
// (atomics, so a stage can read them while late replies trickle in).
type receiver struct {
	g    *gen
	conn *netio.Conn
	in   []netio.Msg
	out  []netio.Msg
	nout int
	pkt  wire.Packet

	completed [numKinds]atomic.Uint64
	failed    [numKinds]atomic.Uint64
	hist      [numKinds]Histogram
	late      atomic.Uint64 // replies after the timeout
	unmatched atomic.Uint64 // replies for no exchange in flight (duplicates, stale)
	malformed atomic.Uint64
	rxPackets atomic.Uint64
	txPackets atomic.Uint64
	sendErrs  atomic.Uint64
	readErrs  atomic.Uint64
}

func (r *receiver) reset() {
	for k := range numKinds {
		r.completed[k].Store(0)
		r.failed[k].Store(0)
		r.hist[k].Reset()
	}
	for _, c := range []*atomic.Uint64{&r.late, &r.unmatched, &r.malformed, &r.rxPackets, &r.txPackets, &r.sendErrs, &r.readErrs} {
		c.Store(0)
	}
}

func (r *receiver) loop() {
	defer r.g.wg.Done()
	for {
		n, err := r.conn.ReadBatch(r.in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.readErrs.Add(1)
			continue
		}
		r.rxPackets.Add(uint64(n))
		now := r.g.now()
		r.nout = 0
		for i := range n {
			r.handle(&r.in[i], now)
		}
		if r.nout > 0 {
			sent, failed := writeAll(r.conn, r.out[:r.nout])
			r.txPackets.Add(uint64(sent))
			r.sendErrs.Add(uint64(failed))
		}
	}
}

// handle matches one datagram to its exchange and moves the exchange on.
func (r *receiver) handle(in *netio.Msg, now int64) {
	g := r.g
	if in.Truncated || r.pkt.Decode(in.Buf[:in.N]) != nil {
		r.malformed.Add(1)
		return
	}
	if g.relayed != (r.pkt.NumRelays > 0) || (g.relayed && r.pkt.Relays[0].Type != wire.RelayRepl) {
		r.malformed.Add(1)
		return
	}
	m := &r.pkt.Msg
	xid := uint32(m.XID[0])<<16 | uint32(m.XID[1])<<8 | uint32(m.XID[2])
	sl := &g.slots[xid&g.slotMask]
	tag := sl.tag.Load()
	ph := uint8(tag)
	if ph == phFree || uint32(tag>>8) != xid || (ph == phAdvert) != (m.Type == wire.Advertise) ||
		(ph != phAdvert && m.Type != wire.Reply) {
		r.unmatched.Add(1)
		return
	}
	ci, cw, started := sl.client.Load(), sl.cword.Load(), sl.started.Load()
	if sl.stage.Load() != g.stageID.Load() {
		if sl.tag.CompareAndSwap(tag, phFree) {
			r.unmatched.Add(1)
		}
		return
	}
	kind := phaseKind(ph)
	lat := now - started
	if lat > g.timeout {
		if sl.tag.CompareAndSwap(tag, phFree) {
			r.late.Add(1)
			g.done.Add(1)
		}
		return
	}
	switch ph {
	case phAdvert:
		addr, prefix := leaseOf(m)
		if (!addr.IsValid() && !prefix.IsValid()) || m.ServerID == nil {
			r.fail(sl, tag, kind, ci, cw, now)
			return
		}
		if !sl.tag.CompareAndSwap(tag, uint64(xid)<<8|phReply) {
			return
		}
		o := &r.out[r.nout]
		a := ask{serverID: m.ServerID, addr: addr, prefix: prefix}
		o.N = len(g.build.append(o.Buf[:0], wire.Request, m.XID, ci, &a))
		o.Addr, o.IfIndex = g.dst, g.ifindex
		r.nout++
	case phReply, phRenew:
		addr, prefix := leaseOf(m)
		if !addr.IsValid() && !prefix.IsValid() {
			r.fail(sl, tag, kind, ci, cw, now)
			return
		}
		if !sl.tag.CompareAndSwap(tag, phFree) {
			return
		}
		r.completed[kind].Add(1)
		r.hist[kind].Record(lat)
		g.done.Add(1)
		g.bind(ci, cw, m.ServerID, addr, prefix, now)
		if kind == Solicit {
			g.lastBound.Store(ci + 1)
		}
	case phRelease:
		if m.HasStatus && m.Status != wire.StatusSuccess {
			r.fail(sl, tag, kind, ci, cw, now)
			return
		}
		if !sl.tag.CompareAndSwap(tag, phFree) {
			return
		}
		r.completed[kind].Add(1)
		r.hist[kind].Record(lat)
		g.done.Add(1)
		g.clients[ci].state.CompareAndSwap(cw, cword(now, csFree))
	}
}

// fail ends an exchange the server answered without a binding (or, for a
// RELEASE, with an error status); the client is left without one.
func (r *receiver) fail(sl *slot, tag uint64, kind Kind, ci uint32, cw uint64, now int64) {
	if !sl.tag.CompareAndSwap(tag, phFree) {
		return
	}
	r.failed[kind].Add(1)
	r.g.done.Add(1)
	r.g.clients[ci].state.CompareAndSwap(cw, cword(now, csFree))
}

// bind records client ci's binding, if the client is still in the exchange
// that got it (cw).
func (g *gen) bind(ci uint32, cw uint64, server []byte, addr netip.Addr, prefix netip.Prefix, now int64) {
	c := &g.clients[ci]
	if !c.state.CompareAndSwap(cw, cword(now, csCommitting)) {
		return
	}
	si := -1
	if server != nil {
		si = g.servers.index(server)
	}
	if si < 0 {
		c.state.Store(cword(now, csFree))
		return
	}
	c.server, c.has = uint8(si), 0
	if addr.IsValid() {
		c.addr, c.has = addr.As16(), c.has|1
	}
	if prefix.IsValid() {
		c.prefix, c.plen, c.has = prefix.Addr().As16(), uint8(prefix.Bits()), c.has|2
	}
	c.state.Store(cword(now, csBound))
}

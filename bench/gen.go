package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"time"

	"github.com/tandemdhcp/tandem/netio"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// gen is one load generator: its sockets, the table of exchanges in flight,
// the simulated clients' bindings and one goroutine — whoever calls stage —
// that moves every packet. Everything a packet touches is allocated in
// newGen; the loop allocates nothing.
//
// The loop, once per tick (about a millisecond, the Go timer's resolution):
// start the exchanges now due (open loop: the schedule is the clock's,
// never the replies'), each with the next kind from the mix table and a
// client for it, its first message queued on the next socket in turn; read
// every socket dry with non-blocking recvmmsg, match each answer to its
// exchange by transaction id and queue the REQUEST an ADVERTISE calls for;
// send each socket's queue with one sendmmsg; sleep. A blocking reader per
// socket pays a thread wake-up per datagram, where the tick pays one per
// millisecond whatever the rate; the sockets are ListenPolling ones, out of
// the netpoller, whose epoll would otherwise wake a thread for every
// arrival all the same. Against tandem serve on loopback at 20,000
// exchanges/s this halved the generator's CPU (2.4–2.7 s → 1.3–1.5 s over
// 5 s); what is left is mostly the kernel's send path, which on one host
// includes the receiving side's softirq work and wake-up.
//
// Polling late does not skew the latencies: the sockets carry kernel
// receive timestamps (SO_TIMESTAMPNS), so an answer's time is when it
// reached the host, and an exchange's latency is the time it waited on the
// server — SOLICIT to ADVERTISE plus REQUEST to REPLY, or RENEW/RELEASE to
// REPLY — without the up to one tick the generator holds an ADVERTISE
// before its REQUEST leaves.
//
// One goroutine owns all the state, so nothing is shared and nothing is
// locked; a second core's worth of load would take a second gen.
type gen struct {
	cfg     Config
	relayed bool
	dst     netip.AddrPort
	also    []netip.AddrPort // relayed: further servers every message goes to
	ifindex int
	conns   []*netio.Conn
	stamps  bool // every socket has kernel receive timestamps
	timeout int64
	build   builder

	slots    []slot
	slotMask uint32
	clients  []client
	servers  serverTable
	mix      []Kind

	in   []netio.Msg
	out  [][]netio.Msg // per socket: messages queued for the next sendmmsg
	nout []int
	pkt  wire.Packet

	stageID   uint32
	st        stageStats
	hist      [numKinds]Histogram
	lastBound uint32 // 1 + the client that last completed a SOLICIT

	seq    uint32
	mixPos int
	solCur int
	renCur int
	used   int // clients [0, used) have been solicited at least once
	sock   int

	// A sweep (Session.Sweep) starts one exchange of sweepKind for each
	// client in sweep, in order, instead of drawing from the mix.
	sweep     []uint32
	sweepKind Kind
	sweepPos  int
}

// stageStats are one stage's counts.
type stageStats struct {
	started    [numKinds]uint64
	completed  [numKinds]uint64
	failed     [numKinds]uint64
	done       uint64 // exchanges that ended (any outcome)
	fallbacks  uint64 // renew/release with no bound client: a SOLICIT instead
	skipped    uint64 // no idle client to start an exchange for
	late       uint64 // final answers after the timeout
	unmatched  uint64 // answers for no exchange in flight (duplicates, stale)
	malformed  uint64
	sendErrors uint64
	readErrors uint64
	txPackets  uint64
	rxPackets  uint64
	t0, t1     int64 // first and last exchange started, Unix ns
}

// Phases of an exchange: what its slot waits for.
const (
	phFree    = 0
	phAdvert  = 1 // SOLICIT sent, waiting for ADVERTISE
	phReply   = 2 // REQUEST sent, waiting for REPLY
	phRenew   = 3 // RENEW sent, waiting for REPLY
	phRelease = 4 // RELEASE sent, waiting for REPLY
	phRebind  = 5 // REBIND sent, waiting for REPLY
)

// Sizes and limits.
const (
	xidMask  = 1<<24 - 1
	maxSlots = 1 << 21 // 48 MiB of slots; a 24-bit xid names at most 2^24
	minSlots = 1 << 12
	// scanLimit is how many clients the loop looks at for one exchange
	// before giving up on it (counted as skipped).
	scanLimit = 64
	// maxPerTick bounds the exchanges one tick starts, so that a loop
	// that fell behind (a stall) catches up in bursts it still reads
	// between.
	maxPerTick = 2048
	tick       = time.Millisecond
	bufSize    = 2048 // receive buffers: an ADVERTISE with every option we know fits
	outBufSize = 1024 // our messages: under 450 bytes with a 130-byte SERVERID
)

func phaseKind(ph uint8) Kind {
	switch ph {
	case phRenew:
		return Renew
	case phRelease:
		return Release
	case phRebind:
		return Rebind
	}
	return Solicit
}

// slot is one exchange in flight, found by its transaction id (the low bits
// of the xid index the table), so answers are matched without a map. The
// table is sized so a slot is reused only well after its exchange timed
// out.
type slot struct {
	started int64 // Unix ns: the exchange's first message left
	sent    int64 // Unix ns: the message now answered left
	waited  int64 // ns spent waiting on the server in earlier round trips
	client  uint32
	stage   uint32
	xid     uint32
	phase   uint8
}

// Client states.
const (
	csFree       = 0
	csSoliciting = 1
	csBound      = 2
	csRenewing   = 3
	csReleasing  = 4
)

// client is one simulated client: its state (with the time it entered it,
// so a state left behind by a lost exchange is taken over after the
// timeout) and its binding.
type client struct {
	since  int64
	addr   [16]byte
	prefix [16]byte
	state  uint8
	plen   uint8
	has    uint8 // bit 0: addr, bit 1: prefix
	server uint8 // index into the server table
}

// serverTable interns the server DUIDs the run has seen (one, or two for a
// failover pair), so a client remembers its server in one byte.
type serverTable struct {
	n   int
	len [maxServers]uint8
	ids [maxServers][wire.MaxDUIDLen]byte
}

// maxServers is how many distinct servers a run remembers; a client bound
// by a server beyond that is forgotten (never renewed or released).
const maxServers = 16

func (t *serverTable) index(id []byte) int {
	for i := range t.n {
		if bytes.Equal(t.ids[i][:t.len[i]], id) {
			return i
		}
	}
	if t.n == maxServers || len(id) > wire.MaxDUIDLen {
		return -1
	}
	t.len[t.n] = uint8(copy(t.ids[t.n][:], id))
	t.n++
	return t.n - 1
}

func (t *serverTable) id(i uint8) []byte { return t.ids[i][:t.len[i]] }

// newGen opens the sockets and allocates everything for rates up to
// maxRate.
func newGen(c Config, maxRate float64) (*gen, error) {
	g := &gen{cfg: c, timeout: int64(c.Timeout), also: c.Also}
	g.mix = c.Mix.table()
	g.build = builder{na: c.IA != "pd", pd: c.IA != "na"}
	if c.InterfaceID != "" {
		g.build.interfaceID = []byte(c.InterfaceID)
	}
	g.build.remoteID = c.RemoteID
	g.build.subscriber = c.SubscriberID
	if c.PDHintLen > 0 {
		g.build.pdHint = netip.PrefixFrom(netip.IPv6Unspecified(), c.PDHintLen)
	}
	if err := g.open(); err != nil {
		return nil, err
	}
	g.stamps = true
	for _, conn := range g.conns {
		if conn.SetRxTimestamps(true) != nil {
			g.stamps = false
		}
	}
	n := nextPow2(max(minSlots, min(maxSlots, int(maxRate*c.Timeout.Seconds()*1.5))))
	g.slots = make([]slot, n)
	g.slotMask = uint32(n - 1)
	g.clients = make([]client, c.Clients)
	g.in = newMsgs(netio.MaxBatch, bufSize)
	g.out = make([][]netio.Msg, len(g.conns))
	g.nout = make([]int, len(g.conns))
	for i := range g.out {
		g.out[i] = newMsgs(netio.MaxBatch, outBufSize)
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
			conn, err := netio.ListenPolling(netip.AddrPortFrom(netip.IPv6Unspecified(), 0))
			if err != nil {
				g.close()
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
	conn, err := netio.ListenPolling(netip.AddrPortFrom(ll.WithZone(ifi.Name), uint16(c.ClientPort)))
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

func (g *gen) close() {
	for _, c := range g.conns {
		c.Close()
	}
}

func (g *gen) now() int64 { return time.Now().UnixNano() }

// stage offers rate exchanges/s for d, then polls until every exchange it
// started has ended or timed out. It allocates nothing; collect reads what
// it measured.
func (g *gen) stage(rate float64, d time.Duration) {
	g.stageN(rate, uint64(rate*d.Seconds()))
}

// stageN is stage for a count of exchanges rather than a duration.
func (g *gen) stageN(rate float64, total uint64) {
	g.stageID++
	g.st = stageStats{}
	for k := range g.hist {
		g.hist[k].Reset()
	}
	g.poll(g.now()) // what is left from an earlier stage: stale
	g.st.unmatched, g.st.rxPackets = 0, 0
	interval := float64(time.Second) / rate
	t0 := g.now()
	g.st.t0, g.st.t1 = t0, t0
	var launched, started uint64
	for {
		now := g.now()
		if launched < total {
			due := min(uint64(float64(now-t0)/interval)+1, total)
			if due > launched {
				k := min(due-launched, maxPerTick)
				g.launch(int(k), now)
				launched += k
				g.st.t1 = now
			}
		}
		g.poll(g.now())
		g.flushAll()
		wait := tick
		if launched < total {
			wait = min(wait, time.Duration(t0+int64(float64(launched)*interval)-g.now()))
		} else {
			started = 0
			for _, n := range g.st.started {
				started += n
			}
			if g.st.done >= started || now > g.st.t1+g.timeout {
				return
			}
		}
		if wait > 0 {
			time.Sleep(wait)
		}
	}
}

// launch starts k exchanges at time now, queued on the sockets in turn.
func (g *gen) launch(k int, now int64) {
	for range k {
		var (
			ci   uint32
			kind Kind
			ok   bool
		)
		if g.sweep != nil {
			ci, kind, ok = g.pickSweep(now)
		} else {
			kind = g.mix[g.mixPos]
			if g.mixPos++; g.mixPos == len(g.mix) {
				g.mixPos = 0
			}
			ci, kind, ok = g.pick(kind, now)
		}
		if !ok {
			g.st.skipped++
			continue
		}
		s := g.sock
		if g.sock++; g.sock == len(g.conns) {
			g.sock = 0
		}
		xid := g.seq & xidMask
		g.seq++
		ph, t := uint8(phAdvert), wire.Solicit
		var a ask
		switch kind {
		case Renew, Release, Rebind:
			ph, t = phRenew, wire.Renew
			switch kind {
			case Release:
				ph, t = phRelease, wire.Release
			case Rebind:
				ph, t = phRebind, wire.Rebind
			}
			cl := &g.clients[ci]
			if kind != Rebind {
				a.serverID = g.servers.id(cl.server)
			}
			if cl.has&1 != 0 {
				a.addr = netip.AddrFrom16(cl.addr)
			}
			if cl.has&2 != 0 {
				a.prefix = netip.PrefixFrom(netip.AddrFrom16(cl.prefix), int(cl.plen))
			}
		}
		g.slots[xid&g.slotMask] = slot{started: now, sent: now, client: ci, stage: g.stageID, xid: xid, phase: ph}
		g.queue(s, t, xidBytes(xid), ci, &a)
		g.st.started[kind]++
	}
}

// queue encodes a client message onto socket s's next sendmmsg, and a copy
// for each further server.
func (g *gen) queue(s int, t wire.MsgType, xid [3]byte, ci uint32, a *ask) {
	m := &g.out[s][g.nout[s]]
	m.N = len(g.build.append(m.Buf[:0], t, xid, ci, a))
	m.Addr, m.IfIndex = g.dst, g.ifindex
	g.queued(s)
	// A flush leaves the buffers as they are: m still holds the message.
	for _, dst := range g.also {
		c := &g.out[s][g.nout[s]]
		c.N = copy(c.Buf, m.Buf[:m.N])
		c.Addr, c.IfIndex = dst, g.ifindex
		g.queued(s)
	}
}

// queued counts one more message on socket s's queue, sending the queue
// when it is full.
func (g *gen) queued(s int) {
	if g.nout[s]++; g.nout[s] == netio.MaxBatch {
		g.flush(s)
	}
}

func (g *gen) flushAll() {
	for s, n := range g.nout {
		if n > 0 {
			g.flush(s)
		}
	}
}

func (g *gen) flush(s int) {
	sent, errs := writeAll(g.conns[s], g.out[s][:g.nout[s]])
	g.st.txPackets += uint64(sent)
	g.st.sendErrors += uint64(errs)
	g.nout[s] = 0
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
func (g *gen) pick(kind Kind, now int64) (uint32, Kind, bool) {
	if kind != Solicit {
		for range min(scanLimit, g.used) {
			i := g.renCur
			if g.renCur++; g.renCur >= g.used {
				g.renCur = 0
			}
			c := &g.clients[i]
			if c.state == csBound {
				c.state, c.since = csRenewing, now
				if kind == Release {
					c.state = csReleasing
				}
				return uint32(i), kind, true
			}
		}
		g.st.fallbacks++
		kind = Solicit
	}
	for range min(scanLimit, len(g.clients)) {
		i := g.solCur
		if g.solCur++; g.solCur == len(g.clients) {
			g.solCur = 0
		}
		c := &g.clients[i]
		if c.state == csFree || c.state == csBound || now-c.since > g.timeout {
			c.state, c.since = csSoliciting, now
			g.used = max(g.used, i+1)
			return uint32(i), Solicit, true
		}
	}
	return 0, kind, false
}

// pickSweep is pick for a sweep (RENEWs or REBINDs): the next listed
// client that has a binding to name, whatever it is doing (an exchange of
// it still in flight is abandoned: its answer will not match).
func (g *gen) pickSweep(now int64) (uint32, Kind, bool) {
	if g.sweepPos >= len(g.sweep) {
		return 0, g.sweepKind, false
	}
	ci := g.sweep[g.sweepPos]
	g.sweepPos++
	if int(ci) >= len(g.clients) {
		return 0, g.sweepKind, false
	}
	c := &g.clients[ci]
	if c.has == 0 {
		return 0, g.sweepKind, false
	}
	c.state, c.since = csRenewing, now
	return ci, g.sweepKind, true
}

// poll reads every socket dry and handles what came.
func (g *gen) poll(now int64) {
	for s, conn := range g.conns {
		for {
			n, err := conn.TryReadBatch(g.in)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					g.st.readErrors++
				}
				break
			}
			g.st.rxPackets += uint64(n)
			for i := range n {
				g.handle(s, &g.in[i], now)
			}
			if n < len(g.in) {
				break
			}
		}
	}
}

// handle matches one datagram that came in on socket s to its exchange and
// moves the exchange on.
func (g *gen) handle(s int, in *netio.Msg, now int64) {
	if in.Truncated || g.pkt.Decode(in.Buf[:in.N]) != nil ||
		g.relayed != (g.pkt.NumRelays > 0) || (g.relayed && g.pkt.Relays[0].Type != wire.RelayRepl) {
		g.st.malformed++
		return
	}
	m := &g.pkt.Msg
	xid := uint32(m.XID[0])<<16 | uint32(m.XID[1])<<8 | uint32(m.XID[2])
	sl := &g.slots[xid&g.slotMask]
	if sl.phase == phFree || sl.xid != xid || (sl.phase == phAdvert) != (m.Type == wire.Advertise) ||
		(sl.phase != phAdvert && m.Type != wire.Reply) {
		g.st.unmatched++
		return
	}
	if sl.stage != g.stageID {
		sl.phase = phFree
		g.st.unmatched++
		return
	}
	rx := in.RxTime
	if rx == 0 {
		rx = now
	}
	kind := phaseKind(sl.phase)
	if rx-sl.started > g.timeout {
		sl.phase = phFree
		g.st.late++
		g.st.done++
		return
	}
	waited := sl.waited + max(rx-sl.sent, 0)
	c := &g.clients[sl.client]
	switch sl.phase {
	case phAdvert:
		addr, prefix := leaseOf(m)
		if (!addr.IsValid() && !prefix.IsValid()) || m.ServerID == nil {
			g.fail(sl, kind, c, now)
			return
		}
		sl.phase, sl.waited, sl.sent = phReply, waited, now
		a := ask{serverID: m.ServerID, addr: addr, prefix: prefix}
		g.queue(s, wire.Request, m.XID, sl.client, &a)
	case phReply, phRenew, phRebind:
		addr, prefix := leaseOf(m)
		if !addr.IsValid() && !prefix.IsValid() {
			g.fail(sl, kind, c, now)
			return
		}
		g.complete(sl, kind, waited)
		g.bind(c, m.ServerID, addr, prefix, now)
		if kind == Solicit {
			g.lastBound = sl.client + 1
		}
	case phRelease:
		if m.HasStatus && m.Status != wire.StatusSuccess {
			g.fail(sl, kind, c, now)
			return
		}
		g.complete(sl, kind, waited)
		c.state, c.since = csFree, now
	}
}

func (g *gen) complete(sl *slot, kind Kind, waited int64) {
	sl.phase = phFree
	g.st.completed[kind]++
	g.st.done++
	g.hist[kind].Record(waited)
}

// fail ends an exchange the server answered without a binding (or, for a
// RELEASE, with an error status); the client is left without one.
func (g *gen) fail(sl *slot, kind Kind, c *client, now int64) {
	sl.phase = phFree
	g.st.failed[kind]++
	g.st.done++
	c.state, c.since = csFree, now
}

// bind records a client's binding.
func (g *gen) bind(c *client, server []byte, addr netip.Addr, prefix netip.Prefix, now int64) {
	c.since = now
	si := -1
	if server != nil {
		si = g.servers.index(server)
	}
	if si < 0 {
		c.state = csFree
		return
	}
	c.state, c.server, c.has = csBound, uint8(si), 0
	if addr.IsValid() {
		c.addr, c.has = addr.As16(), c.has|1
	}
	if prefix.IsValid() {
		c.prefix, c.plen, c.has = prefix.Addr().As16(), uint8(prefix.Bits()), c.has|2
	}
}

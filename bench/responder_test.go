package bench

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tandemdhcp/tandem/netio"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// responder is a minimal in-process DHCPv6 server for the generator's own
// tests: it answers relayed SOLICIT, REQUEST, RENEW and RELEASE at once,
// with an address and a prefix derived from the client's DUID, and keeps no
// state but counts. Like the generator it batches with netio and allocates
// nothing per packet, so a test can measure the generator's allocations
// with both in one process.
type responder struct {
	conns []*netio.Conn
	wg    sync.WaitGroup
	count [16]atomic.Uint64 // requests by message type

	mu   sync.Mutex
	seen []netip.AddrPort // sources of the first datagrams, for tests
}

// peers returns the sources of the first datagrams received.
func (r *responder) peers() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]netip.AddrPort(nil), r.seen...)
}

var responderDUID = []byte{0, 2, 0, 0, 0x09, 0xbf, 't', 'e', 's', 't'}

// startResponder listens on n reuseport sockets on [::1]:0.
func startResponder(t testing.TB, n int) *responder {
	t.Helper()
	r := &responder{}
	first, err := netio.ListenUnicast(netip.MustParseAddrPort("[::1]:0"), true)
	if err != nil {
		t.Fatal(err)
	}
	r.conns = append(r.conns, first)
	for range n - 1 {
		c, err := netio.ListenUnicast(first.LocalAddr(), true)
		if err != nil {
			t.Fatal(err)
		}
		r.conns = append(r.conns, c)
	}
	for _, c := range r.conns {
		r.wg.Add(1)
		go r.serve(c)
	}
	t.Cleanup(r.stop)
	return r
}

func (r *responder) addr() netip.AddrPort { return r.conns[0].LocalAddr() }

func (r *responder) stop() {
	for _, c := range r.conns {
		c.Close()
	}
	r.wg.Wait()
}

func (r *responder) serve(c *netio.Conn) {
	defer r.wg.Done()
	in := newMsgs(netio.MaxBatch, bufSize)
	out := newMsgs(netio.MaxBatch, bufSize)
	var p wire.Packet
	for {
		n, err := c.ReadBatch(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		k := 0
		for i := range n {
			if p.Decode(in[i].Buf[:in[i].N]) != nil || p.NumRelays != 1 {
				continue
			}
			if r.count[p.Msg.Type&15].Add(1) <= 200 && p.Msg.Type == wire.Solicit {
				r.mu.Lock()
				r.seen = append(r.seen, in[i].Addr)
				r.mu.Unlock()
			}
			o := &out[k]
			o.N = len(answer(o.Buf[:0], &p))
			if o.N == 0 {
				continue
			}
			o.Addr, o.IfIndex, o.Src = in[i].Addr, 0, netip.Addr{}
			k++
		}
		writeAll(c, out[:k])
	}
}

// answer encodes the RELAY-REPL for the one-relay packet p, or nothing.
func answer(b []byte, p *wire.Packet) []byte {
	m := &p.Msg
	rl := &p.Relays[0]
	var t wire.MsgType
	switch m.Type {
	case wire.Solicit:
		t = wire.Advertise
	case wire.Request, wire.Renew, wire.Release:
		t = wire.Reply
	default:
		return b
	}
	if len(m.ClientID) < 4 {
		return b
	}
	n := binary.BigEndian.Uint32(m.ClientID[len(m.ClientID)-4:])
	b = wire.AppendRelayHeader(b, wire.RelayRepl, rl.HopCount, rl.LinkAddr, rl.PeerAddr)
	b, start := wire.BeginOption(b, wire.OptRelayMsg)
	b = wire.AppendHeader(b, t, m.XID)
	b = wire.AppendOption(b, wire.OptClientID, m.ClientID)
	b = wire.AppendOption(b, wire.OptServerID, responderDUID)
	if m.Type == wire.Release {
		return wire.EndOption(wire.AppendStatus(b, wire.StatusSuccess, ""), start)
	}
	var a [16]byte
	a[0], a[1], a[2], a[3], a[5] = 0x20, 0x01, 0x0d, 0xb8, 1
	binary.BigEndian.PutUint32(a[12:], n+0x1000)
	for i := 0; i < m.NumIANA; i++ {
		var s int
		b, s = wire.BeginIA(b, wire.OptIANA, m.IANA[i].IAID, 300, 480)
		b = wire.AppendIAAddr(b, netip.AddrFrom16(a), 600, 1200)
		b = wire.EndOption(b, s)
	}
	var pfx [16]byte
	pfx[0], pfx[1], pfx[2], pfx[3] = 0x20, 0x01, 0x0d, 0xb8
	binary.BigEndian.PutUint32(pfx[4:], n<<8)
	for i := 0; i < m.NumIAPD; i++ {
		var s int
		b, s = wire.BeginIA(b, wire.OptIAPD, m.IAPD[i].IAID, 300, 480)
		b = wire.AppendIAPrefix(b, netip.PrefixFrom(netip.AddrFrom16(pfx), 56), 600, 1200)
		b = wire.EndOption(b, s)
	}
	return wire.EndOption(b, start)
}

package bench

import (
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
// tests: it answers relayed SOLICIT, REQUEST, RENEW and RELEASE at once
// with AppendEchoReply (echo.go), and keeps no state but counts. Like the
// generator it batches with netio and allocates nothing per packet, so a
// test can measure the generator's allocations with both in one process.
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

var responderDUID = EchoDUID

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
			o.N = len(AppendEchoReply(o.Buf[:0], &p))
			if o.N == 0 {
				continue
			}
			o.Addr, o.IfIndex, o.Src = in[i].Addr, 0, netip.Addr{}
			k++
		}
		writeAll(c, out[:k])
	}
}

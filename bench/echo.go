package bench

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/tandemdhcp/tandem/netio"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// The echo responder: the least a DHCPv6 server can do for the generator
// on tandem's socket code, and so the reference the end-to-end suite
// (bench/suite) holds tandem against — "close to the limit" is a share of
// its clean rate. Per socket, one goroutine waits in ReadBatch (recvmmsg
// through the netpoller, as tandem serve's readers do), answers every
// one-relay RELAY-FORW it can decode with EchoReply and sends the batch
// with one WriteBatch (sendmmsg). No state, no journal, no engine: what is
// left is the kernel's cost of moving the datagrams, the wake-ups, decoding
// and encoding.

// EchoDUID is the server DUID every echo answer carries (DUID-EN 2495,
// "test"): the generator needs one to send REQUESTs, RENEWs and RELEASEs.
var EchoDUID = []byte{0, 2, 0, 0, 0x09, 0xbf, 't', 'e', 's', 't'}

// AppendEchoReply appends to b the RELAY-REPL that answers the one-relay
// packet p, or returns b unchanged for a message it does not answer. The
// answer is what the generator accepts: an ADVERTISE for a SOLICIT, a REPLY
// for a REQUEST, RENEW, REBIND or RELEASE, echoing the transaction id and CLIENTID,
// with EchoDUID and, except for a RELEASE, an address in 2001:db8:1::/64
// and a /56 prefix derived from the last four bytes of the client's DUID
// for each IA the message has. It allocates nothing.
func AppendEchoReply(b []byte, p *wire.Packet) []byte {
	m := &p.Msg
	rl := &p.Relays[0]
	var t wire.MsgType
	switch m.Type {
	case wire.Solicit:
		t = wire.Advertise
	case wire.Request, wire.Renew, wire.Rebind, wire.Release:
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
	b = wire.AppendOption(b, wire.OptServerID, EchoDUID)
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

// ServeEcho answers on c until c is closed, then returns how many answers
// it sent and nil. Everything it uses is allocated before the loop.
func ServeEcho(c *netio.Conn) (answered uint64, err error) {
	in := newMsgs(netio.MaxBatch, bufSize)
	out := newMsgs(netio.MaxBatch, bufSize)
	var p wire.Packet
	for {
		n, err := c.ReadBatch(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return answered, nil
			}
			continue
		}
		k := 0
		for i := range n {
			if in[i].Truncated || p.Decode(in[i].Buf[:in[i].N]) != nil || p.NumRelays != 1 {
				continue
			}
			o := &out[k]
			o.N = len(AppendEchoReply(o.Buf[:0], &p))
			if o.N == 0 {
				continue
			}
			o.Addr, o.IfIndex, o.Src = in[i].Addr, 0, netip.Addr{}
			k++
		}
		sent, _ := writeAll(c, out[:k])
		answered += uint64(sent)
	}
}

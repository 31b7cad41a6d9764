package netio

import (
	"errors"
	"net/netip"
)

// Msg is one datagram slot of a batch. A server keeps a fixed array of them
// with preallocated buffers and reuses it for every ReadBatch and WriteBatch,
// which is what keeps the packet path free of allocations.
//
// On read, ReadBatch receives into Buf[:len(Buf)] and sets N, Addr, IfIndex,
// Dst and Truncated. On write, WriteBatch sends Buf[:N] to Addr, and uses
// IfIndex and Src to pick the egress interface and the source address.
// Writing back a received Msg with new Buf contents and N is a correct
// reply: same peer, same link.
type Msg struct {
	// Buf is owned by the caller. ReadBatch fills it up to len(Buf); a
	// datagram longer than that is cut short and Truncated is set.
	Buf []byte
	// N is the number of bytes read into Buf, or the number to write from it.
	N int
	// Addr is the source of a received datagram and the destination of one
	// to write. A link-local address read from the network carries its
	// interface as the zone (IfName), so Addr.String is what an operator
	// expects to see.
	Addr netip.AddrPort
	// IfIndex is the interface the datagram arrived on (from IPV6_PKTINFO).
	// On write, a nonzero IfIndex sends the datagram out that interface and
	// scopes a link-local Addr to it; 0 lets the kernel route (and then a
	// link-local Addr needs its zone). Replies to link-local clients need
	// it; for a global Addr (a relay agent) it overrides the routing table,
	// so a server whose routes to relays are asymmetric clears it.
	IfIndex int
	// Dst is the address the datagram was sent to (from IPV6_PKTINFO), with
	// no zone. It is how a server tells a multicast Solicit
	// (ff02::1:2) from a unicast request (RFC 8415 §18.4). Unused on write.
	Dst netip.Addr
	// Src, on write, is the source address to send from; the zero Addr lets
	// the kernel choose. A server answering a unicast request sets it to the
	// request's Dst so the reply comes from the address the client used.
	// Never a multicast address. Unused on read.
	Src netip.Addr
	// RxTime is when the kernel received the datagram, in Unix
	// nanoseconds, on a Conn with receive timestamps on (SetRxTimestamps);
	// 0 otherwise. Unused on write.
	RxTime int64
	// Truncated reports that the datagram was longer than Buf (MSG_TRUNC);
	// Buf[:N] holds only its beginning and should be dropped.
	Truncated bool
}

// MaxBatch is the most datagrams one recvmmsg or sendmmsg call moves; larger
// slices are read partly (ReadBatch) or sent in several calls (WriteBatch).
// 64 spreads the fixed cost of a system call and a netpoller round trip over
// enough datagrams that per-datagram kernel work dominates, while each Conn's
// preallocated header arrays stay near 12 KiB per direction. The kernel's own
// limit is UIO_MAXIOV (1024).
const MaxBatch = 64

// AllDHCPRelayAgentsAndServers is ff02::1:2, the link-scoped group that
// DHCPv6 clients send to (RFC 8415 §7.1).
var AllDHCPRelayAgentsAndServers = netip.MustParseAddr("ff02::1:2")

// Sentinel errors. WriteBatch returns them, with the count of datagrams sent
// before the offending one, so a caller can drop msgs[n] and go on.
var (
	ErrInvalidAddr = errors.New("netio: invalid or non-IPv6 address")
	ErrMsgLength   = errors.New("netio: Msg.N out of range of Msg.Buf")
)

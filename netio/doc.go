// Package netio is tandem's UDP socket layer: the sockets a DHCPv6 server
// listens on, and batched, allocation-free reads and writes on them. (The
// DHCPv6 codec is the sub-package wire.)
//
// # Batching
//
// A Conn moves datagrams with recvmmsg and sendmmsg, up to MaxBatch per
// system call, over mmsghdr, iovec, sockaddr and control-message arrays
// allocated once with the Conn. The caller owns the packet buffers: it keeps
// an array of Msg slots, each with a preallocated Buf, and passes it to every
// ReadBatch and WriteBatch. Under load a reader gets many datagrams per
// system call, and the engine loop — which group-commits a batch of events
// to the journal before the replies may leave — hands a whole batch of
// replies to one WriteBatch, so the per-call costs (system call, netpoller
// round trip, locking) are paid per batch, not per packet.
//
// Waiting is Go's netpoller, through syscall.RawConn: a ReadBatch with
// nothing queued parks its goroutine, not a thread, and Close wakes it with
// net.ErrClosed. The RawConn callbacks are method values cached in the Conn,
// and IPV6_PKTINFO control messages are decoded by hand, because
// x/net/ipv6's ReadBatch and ControlMessage.Parse allocate per datagram.
// Tests assert zero allocations per ReadBatch+WriteBatch round trip.
//
// # Sockets on port 547
//
// One server opens several sockets on the same port, and Linux decides which
// gets each datagram (details in socket_linux.go):
//
//   - ListenMulticast, one per link: bound to [ff02::1:2%link]:547 and
//     joined to ff02::1:2 there. It receives clients' multicast on that link
//     only and no unicast at all, and its replies leave on that link. The
//     link is a Conn property, so the server knows which link (and so which
//     subnet) a Solicit came from without trusting anything in the packet.
//   - ListenUnicast, one or several: on [::]:547 or a chosen address, for
//     relayed traffic and clients unicasting to the server. With reuseport,
//     several sockets share the address and the kernel spreads datagrams
//     across them by flow hash, one reader goroutine each, which is how the
//     relay path scales past one core. Each sets IPV6_MULTICAST_ALL=0
//     (Linux 4.20 or later): without it, a wildcard-bound socket receives a
//     copy of every ff02::1:2 datagram the multicast sockets let into the
//     host, and each Solicit would be answered twice.
//
// Every socket sets SO_REUSEADDR, without which the wildcard unicast bind and
// the group binds on the same port refuse each other, and IPV6_V6ONLY.
//
// # Addresses
//
// Msg carries netip values, never net.IP. Received link-local sources carry
// their ingress interface as the zone (names from a cached table, IfName),
// and IfIndex and Dst come from IPV6_PKTINFO. On write, a nonzero IfIndex
// both scopes a link-local destination and pins the egress interface, so a
// reply to fe80::… leaves where the request came in even from a socket bound
// to [::].
package netio

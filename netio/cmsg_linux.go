package netio

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket addresses and IPV6_PKTINFO control messages are read and written in
// place, in the per-Conn arrays that the mmsghdrs point at.
// golang.org/x/net/ipv6's ControlMessage.Parse and unix.ParseSocketControlMessage
// allocate per datagram, so the few bytes we need are decoded by hand.

// oobWords is the control buffer per datagram, in 8-byte words (uint64 keeps
// each buffer aligned for cmsghdr). A PKTINFO message needs
// CmsgSpace(20) = 40 bytes on 64-bit Linux and a receive timestamp
// (SetRxTimestamps), which the kernel puts first, CmsgSpace(16) = 32; 96
// leaves room for one more small message should another IPV6_RECV* option
// ever be turned on.
const oobWords = 12

const oobBytes = oobWords * 8

var (
	cmsgDataOff    = unix.CmsgLen(0)
	pktinfoCmsgLen = unix.CmsgLen(unix.SizeofInet6Pktinfo)
	pktinfoSpace   = unix.CmsgSpace(unix.SizeofInet6Pktinfo)

	timestampCmsgLen = unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{})))
)

// parsePktinfo finds the IPV6_PKTINFO message in b (the control bytes the
// kernel returned for one datagram) and returns its destination address and
// interface index.
func parsePktinfo(b []byte) (dst netip.Addr, ifindex int, ok bool) {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return netip.Addr{}, 0, false
		}
		if h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && l >= pktinfoCmsgLen {
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&b[cmsgDataOff]))
			return netip.AddrFrom16(pi.Addr), int(pi.Ifindex), true
		}
		// Step to the next message: its length rounded up to the
		// platform's cmsg alignment (CmsgSpace of the data length).
		next := unix.CmsgSpace(l - cmsgDataOff)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return netip.Addr{}, 0, false
}

// parseTimestamp finds the SCM_TIMESTAMPNS message in b and returns its
// time in Unix nanoseconds, or 0.
func parseTimestamp(b []byte) int64 {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= timestampCmsgLen {
			ts := (*unix.Timespec)(unsafe.Pointer(&b[cmsgDataOff]))
			return ts.Nano()
		}
		next := unix.CmsgSpace(l - cmsgDataOff)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return 0
}

// putPktinfo writes one IPV6_PKTINFO message into oob and returns its length.
// ipi6_addr :: lets the kernel choose the source; ipi6_ifindex 0 lets it
// route.
func putPktinfo(oob *[oobWords]uint64, src netip.Addr, ifindex int) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_IPV6
	h.Type = unix.IPV6_PKTINFO
	h.SetLen(pktinfoCmsgLen)
	pi := (*unix.Inet6Pktinfo)(unsafe.Add(unsafe.Pointer(&oob[0]), cmsgDataOff))
	if src.IsValid() {
		pi.Addr = src.As16()
	} else {
		pi.Addr = [16]byte{}
	}
	pi.Ifindex = uint32(ifindex)
	return pktinfoSpace
}

// sockaddrToAddrPort converts a sockaddr_in6 the kernel filled in. A scope id
// becomes the zone only where the address needs one (link-local unicast and
// link-local multicast), as in Go's net package.
func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	a := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		a = zoneFor(a, sa.Scope_id)
	}
	return netip.AddrPortFrom(a, ntohs(sa.Port))
}

// putSockaddr fills sa with ap, scoped to interface scope.
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, scope int) {
	sa.Family = unix.AF_INET6
	sa.Port = htons(ap.Port())
	sa.Flowinfo = 0
	sa.Addr = ap.Addr().As16()
	sa.Scope_id = uint32(scope)
}

// The Port field of sockaddr_in6 is in network byte order in memory; these
// convert through the bytes, so they are right on any host byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) uint16 {
	var n uint16
	b := (*[2]byte)(unsafe.Pointer(&n))
	b[0], b[1] = byte(p>>8), byte(p)
	return n
}

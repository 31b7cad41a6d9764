package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// How the sockets of one server share UDP port 547 on Linux.
//
// Linux delivers a multicast datagram to every UDP socket on the port whose
// bound address is the wildcard or the group, whose bound device (if any) is
// the ingress interface, and which passes inet6_mc_check: the socket joined
// the group, or it joined nothing and IPV6_MULTICAST_ALL is on — the
// default. Unicast goes to one socket: the best match by address and
// device, and within a SO_REUSEPORT group one member chosen by flow hash.
//
// Multicast socket, one per link: bound to [ff02::1:2%link]:547 and joined to
// ff02::1:2 on that link. Binding to the group address makes the socket match
// only datagrams sent to the group, so it never steals unicast; the scope id
// of a link-local-scoped bind sets the socket's bound device, so it gets the
// group only from its own link and its replies leave on that link. We do not
// use SO_BINDTODEVICE on a wildcard bind instead: a device-bound wildcard
// socket outscores the wildcard unicast sockets in the kernel's lookup, so it
// would swallow the unicast arriving on its link and defeat the reuseport
// spreading (and before Linux 5.7 it needed CAP_NET_RAW). Sockets for
// different links differ in bound device, so they never collide with each
// other.
//
// Unicast sockets, one or several: bound to [::]:547 or a specific address,
// with IPV6_MULTICAST_ALL=0 so that the wildcard bind does not also pick up
// a copy of every ff02::1:2 datagram that the multicast sockets' joins let
// into the host; with SO_REUSEPORT, several of them form one group and the
// kernel spreads unicast (relayed traffic) across them by flow hash.
//
// A wildcard bind and a group bind on the same port collide in the bind
// check (EADDRINUSE) unless both sockets set SO_REUSEADDR, so every socket
// here sets it.
// The price: a second, non-reuseport unicast socket on the same address is
// not refused, and silently takes the traffic from the first; configuration
// must not open one.

const (
	// recvBufferBytes is the receive buffer asked for: a burst of
	// solicits after an outage (every client on a link restarting at once)
	// must queue while the engine loop is busy committing. The kernel caps
	// it at net.core.rmem_max, so it is best-effort.
	recvBufferBytes = 4 << 20
)

// ListenMulticast opens the socket that receives DHCPv6 multicast on one
// link: it binds [ff02::1:2%ifname]:port and joins ff02::1:2 on ifname, with
// IPV6_RECVPKTINFO on. Port is normally 547. Replies written on it leave on
// that link.
func ListenMulticast(ifname string, port int) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("netio: multicast on %q: %w", ifname, err)
	}
	if port < 0 || port > 0xffff {
		return nil, fmt.Errorf("netio: multicast on %q: bad port %d", ifname, port)
	}
	group := AllDHCPRelayAgentsAndServers
	fd, err := newSocket(true)
	if err != nil {
		return nil, fmt.Errorf("netio: multicast on %q: %w", ifname, err)
	}
	mreq := unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifi.Index)}
	sa := &unix.SockaddrInet6{Port: port, ZoneId: uint32(ifi.Index), Addr: group.As16()}
	if err := setup(fd,
		sockopt{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		// Only the group joined below, never other groups on the host.
		sockopt{"IPV6_MULTICAST_ALL", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0},
	); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netio: multicast on %q: %w", ifname, err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netio: multicast on %q: bind [%s%%%s]:%d: %w", ifname, group, ifname, port, err)
	}
	if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netio: multicast on %q: join %s: %w", ifname, group, err)
	}
	local := netip.AddrPortFrom(group.WithZone(ifi.Name), uint16(port))
	return newConn(fd, "netio-multicast-"+ifi.Name, local, ifi.Index), nil
}

// ListenUnicast opens a unicast socket on addr ([::]:547 for all addresses,
// or one address; a link-local addr needs its zone). With reuseport, several
// sockets on the same addr form one SO_REUSEPORT group and the kernel spreads
// datagrams across them, one reader goroutine each. IPV6_RECVPKTINFO is on
// and IPV6_MULTICAST_ALL is off, so the socket gets no copies of the
// multicast that ListenMulticast sockets receive.
func ListenUnicast(addr netip.AddrPort, reuseport bool) (*Conn, error) {
	return listenUnicast(addr, reuseport, true)
}

// ListenPolling opens a unicast socket as ListenUnicast does (without
// SO_REUSEPORT) for a reader that polls: one goroutine that services its
// sockets with TryReadBatch on its own schedule, as tandem bench does. The
// socket stays out of Go's netpoller, whose epoll would otherwise wake a
// sleeping thread for every datagram that arrives although no goroutine
// waits for it — at tens of thousands of datagrams a second, most of such
// a reader's CPU. Without the netpoller the socket is in blocking mode:
// WriteBatch blocks the thread while the send buffer is full, ReadBatch
// blocks it until a datagram comes (Close does not wake it), and deadlines
// are not supported.
func ListenPolling(addr netip.AddrPort) (*Conn, error) {
	return listenUnicast(addr, false, false)
}

func listenUnicast(addr netip.AddrPort, reuseport, polled bool) (*Conn, error) {
	a := addr.Addr()
	if !a.Is6() || a.Is4In6() {
		return nil, fmt.Errorf("netio: unicast on %s: %w", addr, ErrInvalidAddr)
	}
	scope := 0
	if z := a.Zone(); z != "" {
		// Resolved here, on the calling thread, rather than through the
		// shared cache: binding is rare and must see the caller's namespace.
		if ifi, err := net.InterfaceByName(z); err == nil {
			scope = ifi.Index
		} else if i, err2 := strconv.Atoi(z); err2 == nil && i > 0 {
			scope = i
		} else {
			return nil, fmt.Errorf("netio: unicast on %s: %w", addr, err)
		}
	}
	fd, err := newSocket(polled)
	if err != nil {
		return nil, fmt.Errorf("netio: unicast on %s: %w", addr, err)
	}
	opts := []sockopt{
		{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{"IPV6_MULTICAST_ALL", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0},
	}
	if reuseport {
		opts = append(opts, sockopt{"SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT, 1})
	}
	if err := setup(fd, opts...); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netio: unicast on %s: %w", addr, err)
	}
	sa := &unix.SockaddrInet6{Port: int(addr.Port()), ZoneId: uint32(scope), Addr: a.As16()}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netio: unicast on %s: bind: %w", addr, err)
	}
	local, err := sockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netio: unicast on %s: %w", addr, err)
	}
	c := newConn(fd, "netio-unicast-"+local.String(), local, 0)
	c.polling = !polled
	return c, nil
}

type sockopt struct {
	name       string
	level, opt int
	val        int
}

// newSocket makes an IPv6-only UDP socket with the options every tandem
// socket has: PKTINFO on receive (destination address and ingress
// interface) and a large receive buffer. A nonblocking socket is one that
// newConn registers with the netpoller.
func newSocket(nonblocking bool) (int, error) {
	typ := unix.SOCK_DGRAM | unix.SOCK_CLOEXEC
	if nonblocking {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_INET6, typ, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := setup(fd,
		// DHCPv6 only; no v4-mapped traffic on these sockets.
		sockopt{"IPV6_V6ONLY", unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1},
		sockopt{"IPV6_RECVPKTINFO", unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1},
	); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// Best-effort: without privileges the kernel silently caps it.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBufferBytes)
	return fd, nil
}

func setup(fd int, opts ...sockopt) error {
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			return fmt.Errorf("setsockopt %s=%d: %w", o.name, o.val, err)
		}
	}
	return nil
}

func sockname(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", err)
	}
	s6, ok := sa.(*unix.SockaddrInet6)
	if !ok {
		return netip.AddrPort{}, errors.New("netio: getsockname: not an IPv6 socket")
	}
	a := netip.AddrFrom16(s6.Addr)
	if s6.ZoneId != 0 {
		if ifi, err := net.InterfaceByIndex(int(s6.ZoneId)); err == nil {
			a = a.WithZone(ifi.Name)
		} else {
			a = a.WithZone(strconv.Itoa(int(s6.ZoneId)))
		}
	}
	return netip.AddrPortFrom(a, uint16(s6.Port)), nil
}

package netio

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is one UDP socket moving datagrams in batches: recvmmsg and sendmmsg
// over mmsghdr arrays allocated with the Conn, waiting in Go's netpoller
// through syscall.RawConn rather than blocking a thread.
//
// The pipeline per call: ReadBatch points the read headers' iovecs at the
// caller's buffers, hands a cached callback to RawConn.Read, and the
// callback runs recvmmsg until it returns data (false on EAGAIN parks the
// goroutine in the netpoller until the socket is readable). The kernel fills
// the sockaddr and control arrays beside the headers; ReadBatch decodes them
// into the caller's Msgs. WriteBatch is the mirror image. The callbacks are
// method values made once in newConn, and their arguments and results travel
// through fields of the Conn, so a call allocates nothing.
//
// One ReadBatch and one WriteBatch may run at the same time (a reader
// goroutine and a writer goroutine); calls in the same direction are
// serialised by a mutex, since they share that direction's arrays.
type Conn struct {
	f       *os.File
	raw     syscall.RawConn
	local   netip.AddrPort
	ifindex int // the link of a multicast Conn; 0 for unicast
	closed  atomic.Bool
	stamps  atomic.Bool // SO_TIMESTAMPNS is on: ReadBatch fills Msg.RxTime
	polling bool        // ListenPolling: blocking socket, out of the netpoller

	rmu    sync.Mutex
	rd     batchArrays
	readFn func(uintptr) bool
	rWant  int   // in: headers to fill
	rTry   bool  // in: EAGAIN returns 0 datagrams instead of waiting
	rGot   int   // out: datagrams received
	rErr   error // out: errno other than EAGAIN/EINTR

	wmu     sync.Mutex
	wr      batchArrays
	writeFn func(uintptr) bool
	wOff    int   // in/out: next header to send; advances as sendmmsg succeeds
	wEnd    int   // in: headers prepared
	wErr    error // out
}

// batchArrays is one direction's preallocated kernel-facing state. Each
// header points at its own iovec, sockaddr and control buffer for the life
// of the Conn; a call rewrites only lengths and the iovec base.
type batchArrays struct {
	hdrs  [MaxBatch]unix.Mmsghdr
	iovs  [MaxBatch]unix.Iovec
	names [MaxBatch]unix.RawSockaddrInet6
	oob   [MaxBatch][oobWords]uint64
}

func (b *batchArrays) init() {
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
}

func newConn(fd int, name string, local netip.AddrPort, ifindex int) *Conn {
	c := &Conn{
		// A nonblocking socket os.NewFile registers with the netpoller:
		// RawConn.Read/Write wait there, and Close wakes them. A blocking
		// one (ListenPolling) it leaves alone, and the callbacks block.
		f:       os.NewFile(uintptr(fd), name),
		local:   local,
		ifindex: ifindex,
	}
	c.raw, _ = c.f.SyscallConn() // cannot fail for a valid *os.File
	c.rd.init()
	c.wr.init()
	c.readFn = c.readCallback
	c.writeFn = c.writeCallback
	return c
}

// LocalAddr is the bound address: [ff02::1:2%link]:port for a multicast Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// IfIndex is the link a multicast Conn serves, 0 for a unicast Conn.
func (c *Conn) IfIndex() int { return c.ifindex }

// Close closes the socket (leaving its multicast group) and makes a blocked
// ReadBatch or WriteBatch return net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	return c.f.Close()
}

// SetReadDeadline makes a blocked ReadBatch return os.ErrDeadlineExceeded at
// t; the zero time clears it.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline is the same for WriteBatch, which blocks only while the
// socket's send buffer is full.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// ReadBatch waits until at least one datagram is queued, then receives as
// many as are queued, up to len(msgs) and MaxBatch, in one recvmmsg. It
// returns how many Msgs it filled. It does not allocate (an interface index
// seen for the first time costs one lookup; see IfName).
func (c *Conn) ReadBatch(msgs []Msg) (int, error) { return c.readBatch(msgs, false) }

// TryReadBatch is ReadBatch without the wait: with nothing queued it
// returns 0 and no error at once. It is for a loop that services several
// sockets from one goroutine on its own schedule (tandem bench polls its
// sockets once per pacing tick): a datagram then costs no wake-up, which at
// tens of thousands of datagrams a second is most of the CPU a blocking
// reader spends. Pair it with SetRxTimestamps when the time of arrival
// matters, since the poll may come well after it.
func (c *Conn) TryReadBatch(msgs []Msg) (int, error) { return c.readBatch(msgs, true) }

func (c *Conn) readBatch(msgs []Msg, try bool) (int, error) {
	n := min(len(msgs), MaxBatch)
	if n == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	rd := &c.rd
	for i := range n {
		b := msgs[i].Buf
		if len(b) > 0 {
			rd.iovs[i].Base = &b[0]
		} else {
			rd.iovs[i].Base = nil
		}
		rd.iovs[i].SetLen(len(b))
		h := &rd.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Control = (*byte)(unsafe.Pointer(&rd.oob[i][0]))
		h.Hdr.SetControllen(oobBytes)
		h.Hdr.Flags = 0
		h.Len = 0
	}
	c.rWant, c.rTry, c.rGot, c.rErr = n, try, 0, nil
	err := c.raw.Read(c.readFn)
	if err == nil {
		err = c.rErr
	}
	if err != nil {
		return 0, c.wrapErr("recvmmsg", err)
	}
	for i := range c.rGot {
		h := &rd.hdrs[i]
		m := &msgs[i]
		m.N = int(h.Len)
		m.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		if h.Hdr.Namelen >= unix.SizeofSockaddrInet6 {
			m.Addr = sockaddrToAddrPort(&rd.names[i])
		} else {
			m.Addr = netip.AddrPort{}
		}
		oob := unsafe.Slice((*byte)(unsafe.Pointer(&rd.oob[i][0])), oobBytes)
		ctl := min(int(h.Hdr.Controllen), oobBytes)
		if dst, ifi, ok := parsePktinfo(oob[:ctl]); ok {
			m.Dst, m.IfIndex = dst, ifi
		} else {
			m.Dst, m.IfIndex = netip.Addr{}, 0
		}
		m.RxTime = 0
		if c.stamps.Load() {
			m.RxTime = parseTimestamp(oob[:ctl])
		}
		m.Src = netip.Addr{}
	}
	return c.rGot, nil
}

func (c *Conn) readCallback(fd uintptr) bool {
	hdrs := uintptr(unsafe.Pointer(&c.rd.hdrs[0]))
	for {
		var n uintptr
		var e syscall.Errno
		if c.rTry {
			// MSG_DONTWAIT (a ListenPolling socket would block): the call
			// cannot block, so it need not tell the scheduler it is in a
			// system call, which costs a P hand-off whenever the call
			// outlasts a sysmon tick.
			n, _, e = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, hdrs, uintptr(c.rWant), unix.MSG_DONTWAIT, 0, 0)
		} else {
			n, _, e = unix.Syscall6(unix.SYS_RECVMMSG, fd, hdrs, uintptr(c.rWant), 0, 0, 0)
		}
		switch e {
		case 0:
			c.rGot = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// Park in the netpoller until readable, unless the caller
			// asked not to wait.
			return c.rTry
		default:
			c.rErr = e
			return true
		}
	}
}

// SetRxTimestamps turns kernel receive timestamps (SO_TIMESTAMPNS) on or
// off: with them on, ReadBatch sets each Msg's RxTime to when the datagram
// reached the host, however late the reader gets to it.
func (c *Conn) SetRxTimestamps(on bool) error {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, v)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return c.wrapErr("setsockopt SO_TIMESTAMPNS", err)
	}
	c.stamps.Store(on)
	return nil
}

// WriteBatch sends msgs[i].Buf[:N] to msgs[i].Addr for every i, up to
// MaxBatch per sendmmsg, and returns how many it sent. A nonzero IfIndex, or
// a valid Src, travels as an IPV6_PKTINFO control message: the reply to a
// link-local client leaves on the interface its request came in on. It waits
// in the netpoller while the send buffer is full, and does not allocate.
//
// On error, n is the number sent and msgs[n] is the datagram that failed
// (ErrInvalidAddr, ErrMsgLength, or the kernel's error for it); the caller
// may drop it and call WriteBatch(msgs[n+1:]).
func (c *Conn) WriteBatch(msgs []Msg) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sent := 0
	for sent < len(msgs) {
		chunk := msgs[sent:min(len(msgs), sent+MaxBatch)]
		k, bad := c.prepareWrite(chunk)
		if k > 0 {
			c.wOff, c.wEnd, c.wErr = 0, k, nil
			err := c.raw.Write(c.writeFn)
			sent += c.wOff
			if err == nil {
				err = c.wErr
			}
			if err != nil {
				return sent, c.wrapErr("sendmmsg", err)
			}
		}
		if bad != nil {
			return sent, bad
		}
	}
	return sent, nil
}

// prepareWrite fills the write headers for the leading run of valid msgs and
// returns its length, and the error of the first invalid Msg, if any.
func (c *Conn) prepareWrite(msgs []Msg) (int, error) {
	wr := &c.wr
	for i := range msgs {
		m := &msgs[i]
		a := m.Addr.Addr()
		if !a.Is6() || a.Is4In6() || m.Addr.Port() == 0 {
			return i, ErrInvalidAddr
		}
		if m.N < 0 || m.N > len(m.Buf) {
			return i, ErrMsgLength
		}
		scope := m.IfIndex
		if scope == 0 {
			scope = ifIndexByZone(a.Zone())
		}
		putSockaddr(&wr.names[i], m.Addr, scope)
		if m.N > 0 {
			wr.iovs[i].Base = &m.Buf[0]
		} else {
			wr.iovs[i].Base = nil
		}
		wr.iovs[i].SetLen(m.N)
		h := &wr.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Flags = 0
		h.Len = 0
		if m.IfIndex != 0 || m.Src.IsValid() {
			l := putPktinfo(&wr.oob[i], m.Src, m.IfIndex)
			h.Hdr.Control = (*byte)(unsafe.Pointer(&wr.oob[i][0]))
			h.Hdr.SetControllen(l)
		} else {
			h.Hdr.Control = nil
			h.Hdr.SetControllen(0)
		}
	}
	return len(msgs), nil
}

func (c *Conn) writeCallback(fd uintptr) bool {
	for c.wOff < c.wEnd {
		hdrs, cnt := uintptr(unsafe.Pointer(&c.wr.hdrs[c.wOff])), uintptr(c.wEnd-c.wOff)
		var n uintptr
		var e syscall.Errno
		if c.polling {
			// As in readCallback: a call that cannot block goes raw. Only
			// when the send buffer is full does the thread block, in a
			// system call the scheduler knows about.
			n, _, e = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, hdrs, cnt, unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN {
				n, _, e = unix.Syscall6(unix.SYS_SENDMMSG, fd, hdrs, cnt, 0, 0, 0)
			}
		} else {
			n, _, e = unix.Syscall6(unix.SYS_SENDMMSG, fd, hdrs, cnt, 0, 0, 0)
		}
		switch e {
		case 0:
			if n == 0 {
				return false // nothing went; wait for room
			}
			c.wOff += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // send buffer full; park until writable
		default:
			c.wErr = e
			return true
		}
	}
	return true
}

// wrapErr turns what RawConn or the kernel returned into this package's
// errors: net.ErrClosed once Close has run (os.File reports "use of closed
// file", which callers of a socket should not have to know), deadline errors
// unchanged, errnos as *os.SyscallError. Only the error path allocates.
func (c *Conn) wrapErr(op string, err error) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if e, ok := err.(unix.Errno); ok {
		return os.NewSyscallError(op, e)
	}
	return err
}

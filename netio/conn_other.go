//go:build !linux

package netio

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// tandem serves from Linux only: batching needs recvmmsg and sendmmsg, and
// the socket sharing described in socket_linux.go relies on Linux's
// IPV6_MULTICAST_ALL. Elsewhere the package builds, so that tools and tests
// of other packages compile, and every Listen fails.

var errUnsupported = errors.New("netio: only supported on Linux")

// Conn is a UDP socket; see conn_linux.go.
type Conn struct{}

// ListenMulticast is not supported on this platform.
func ListenMulticast(ifname string, port int) (*Conn, error) { return nil, errUnsupported }

// ListenPolling is not supported on this platform.
func ListenPolling(addr netip.AddrPort) (*Conn, error) { return nil, errUnsupported }

// ListenUnicast is not supported on this platform.
func ListenUnicast(addr netip.AddrPort, reuseport bool) (*Conn, error) {
	return nil, errUnsupported
}

func (c *Conn) ReadBatch(msgs []Msg) (int, error)    { return 0, errUnsupported }
func (c *Conn) WriteBatch(msgs []Msg) (int, error)   { return 0, errUnsupported }
func (c *Conn) TryReadBatch(msgs []Msg) (int, error) { return 0, errUnsupported }
func (c *Conn) SetRxTimestamps(on bool) error        { return errUnsupported }
func (c *Conn) LocalAddr() netip.AddrPort            { return netip.AddrPort{} }
func (c *Conn) IfIndex() int                         { return 0 }
func (c *Conn) Close() error                         { return net.ErrClosed }
func (c *Conn) SetReadDeadline(t time.Time) error    { return errUnsupported }
func (c *Conn) SetWriteDeadline(t time.Time) error   { return errUnsupported }

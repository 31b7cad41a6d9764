package replicate

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
)

// Pipe is an in-memory network for tests and simulations: a net.Listener
// for the secondary (Config.Listener) and dialers for the primary
// (Config.Dial), joined by net.Pipe. Connections carry TCP addresses, so the
// secondary's peer check and logs work as over TCP; writes are synchronous
// (net.Pipe has no buffer), which makes back-pressure immediate.
type Pipe struct {
	addr  netip.AddrPort
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipe returns a listener that pretends to listen on addr.
func NewPipe(addr netip.AddrPort) *Pipe {
	return &Pipe{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for a Dial.
func (p *Pipe) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; later dials fail as if refused.
func (p *Pipe) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// Addr is the address given to NewPipe.
func (p *Pipe) Addr() net.Addr { return net.TCPAddrFromAddrPort(p.addr) }

// DialFrom returns a Config.Dial whose connections come from local.
func (p *Pipe) DialFrom(local netip.AddrPort) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		client, server := net.Pipe()
		la, ra := net.TCPAddrFromAddrPort(local), net.TCPAddrFromAddrPort(p.addr)
		select {
		case p.conns <- &pipeConn{Conn: server, local: ra, remote: la}:
			return &pipeConn{Conn: client, local: la, remote: ra}, nil
		case <-p.done:
		case <-ctx.Done():
		}
		client.Close()
		server.Close()
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: ra, Err: errPipeRefused}
	}
}

var errPipeRefused = errors.New("connection refused")

// pipeConn gives a net.Pipe end TCP addresses.
type pipeConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.local }
func (c *pipeConn) RemoteAddr() net.Addr { return c.remote }

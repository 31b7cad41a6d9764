package replicate

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Port is the failover TCP port ("dhcp-failover", RFC 8156 §5.1).
const Port = 647

// ProtocolVersion is PROTOCOL_VERSION 1.0: major 1 in the high 16 bits,
// minor 0 in the low. Only the major must match between partners.
const ProtocolVersion uint32 = 1 << 16

// MaxSkew is how far apart two clocks may be (RFC 8156 §6.5: 5 s). A
// CONNECT whose sent-time is further from the secondary's clock is refused
// with ExcessiveTimeSkew, and an up link whose averaged skew passes it is
// dropped with DISCONNECT(ExcessiveTimeSkew).
const MaxSkew = 5 * time.Second

// Defaults of the link's settings. This package owns them: the config
// file's defaults (engine/config) are these constants, not copies. The
// MCLT is the engine's (engine.DefaultMCLT): it bounds the lifetimes the
// engine grants; the link only carries it in CONNECT and compares it.
// RFC 8156 fixes only the keepalive default; the rest are ours.
const (
	// DefaultKeepalive is FO_KEEPALIVE_TIME (RFC 8156 §6.6).
	DefaultKeepalive = 60 * time.Second
	// DefaultMaxUnacked is the MAX_UNACKED_BNDUPD we advertise: how many
	// BNDUPDs the partner may have in flight to us before it waits for
	// our BNDREPLYs. 4096 is what the server has always advertised when
	// the config leaves max-unacked-bndupd out (the config's default was
	// 4096 while this one said 512 and served only tests), and what the
	// pair's measurements (README, Measured; UPDREQALL of 1 M leases) ran
	// with: enough BNDUPDs in flight to keep several of our journal
	// commits busy while a partner replays a backlog.
	DefaultMaxUnacked = 4096
	// DefaultRetryMin and DefaultRetryMax bound the primary's reconnect
	// backoff: quick enough after a secondary restart, slow enough that a
	// dead partner costs one SYN every half minute.
	DefaultRetryMin = 500 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
	// DefaultSendQueue bounds bytes queued by Send while the socket is
	// busy. Send fails rather than blocking the serving loop; a refused
	// BNDUPD stays pending in the Outbox, so it is never lost.
	DefaultSendQueue = 1 << 20
	// handshakeTimeout bounds TLS handshakes and the wait for CONNECT or
	// CONNECTREPLY when the keepalive is longer: a peer that connects and
	// says nothing must not hold the secondary's only session slot.
	handshakeTimeout = 10 * time.Second
	// disconnectGrace is how long Close waits for the DISCONNECT to leave
	// before it closes the socket anyway.
	disconnectGrace = time.Second
)

// LocalState is what this server's STATE message carries (RFC 8156 §6.3):
// the endpoint state (option 132 values), the server flags (wire.ServerFlag*)
// and when the state began, in Unix seconds. In PARTNER-DOWN the STATE also
// carries PARTNER_DOWN_TIME, which is the start of that state.
type LocalState struct {
	State        uint8
	Flags        uint8
	StartOfState int64
}

// statePartnerDown is the F_SERVER_STATE value of PARTNER-DOWN (RFC 8156 §5.5,
// option 132): STATE in it carries PARTNER_DOWN_TIME.
const statePartnerDown = 4

// Config configures one failover relationship's link.
type Config struct {
	// Name is RELATIONSHIP_NAME. The primary sends it in CONNECT when set;
	// the secondary refuses a CONNECT carrying a different name. RFC 8156
	// allows omitting it with a single relationship, so an absent name is
	// accepted.
	Name string
	// Primary selects the role: the primary dials Peer, the secondary
	// listens on Listen.
	Primary bool
	// Peer is the secondary's address (primary), or the one address the
	// secondary accepts connections from when AllowedPeers is empty.
	Peer netip.AddrPort
	// Listen is where the secondary listens (port 647 in production).
	Listen netip.AddrPort
	// AllowedPeers are the addresses the secondary accepts connections
	// from (RFC 8156 §6.1: drop peers with no relationship). Empty means
	// Peer's address; with neither, any address is accepted (logged).
	AllowedPeers []netip.Addr

	// MCLT is offered by the primary; the secondary refuses a CONNECT with
	// another (checkConnect says why it does not adopt it). 0:
	// engine.DefaultMCLT.
	MCLT time.Duration
	// Keepalive is KEEPALIVE_TIME, whole seconds, at least one: the link
	// is declared down after this long without receiving anything, and
	// the partner sends CONTACT every quarter of it. 0: DefaultKeepalive.
	Keepalive time.Duration
	// MaxUnacked is MAX_UNACKED_BNDUPD: BNDUPDs the partner may have in
	// flight to us. 0: DefaultMaxUnacked.
	MaxUnacked uint32
	// WriteBatch caps the messages one write syscall carries (0: all that
	// are queued, as many as the write buffer holds). The writer takes
	// everything queued since its last write; a smaller cap trades
	// syscalls for shorter bursts on the wire.
	WriteBatch int
	// DelegatesPrefixes is set when this relationship's subnets have
	// pd-pools. Then a partner whose CONNECT_FLAGS lack FIXED_PD_LENGTH is
	// refused: it may delegate prefixes of lengths a pd-pool cannot hold
	// (checkFlags). We always send FIXED_PD_LENGTH (connectFlags).
	DelegatesPrefixes bool
	// State is the STATE sent after each CONNECT exchange until
	// SetLocalState changes it. State.State must be set.
	State LocalState

	// TLS, when set, runs the link over mutual TLS from the first byte:
	// the secondary requires and verifies a client certificate against
	// TLS.ClientCAs; the primary presents TLS.Certificates and verifies the
	// secondary against TLS.RootCAs (ServerName defaults to Peer's
	// address). nil is plain TCP.
	TLS *tls.Config

	// Dial replaces the primary's TCP dial (tests, the in-memory
	// transport, a fixed source address).
	Dial func(ctx context.Context) (net.Conn, error)
	// Listener replaces the secondary's TCP listener; the link closes it.
	Listener net.Listener
	// Shared, when set, is the listener this secondary shares with the
	// other relationships that listen on the same address (m-to-1: one
	// secondary, several primaries, one port 647); Listen and Listener are
	// then ignored. Connections reach this link only from its partner's
	// address (Peer or AllowedPeers) and with a CONNECT naming it. Links
	// on one Listener need distinct Names, and links that could accept the
	// same address need the same TLS pointer. The caller closes Shared,
	// after the links on it.
	Shared *Listener

	// RetryMin and RetryMax bound the primary's exponential reconnect
	// backoff; each delay is jittered to [½, 1] of its nominal value.
	RetryMin, RetryMax time.Duration
	// Rand returns numbers in [0, 1) for the jitter. nil uses math/rand/v2;
	// tests pass a constant to make delays exact.
	Rand func() float64
	// SendQueue bounds the bytes Send may queue (DefaultSendQueue).
	SendQueue int
	// MaxFrame bounds received frames (wire.MaxFrame, which the 2-byte
	// length allows anyway).
	MaxFrame int
	// Batch is the write batch size (DefaultBatch).
	Batch int
	// EventBuffer is the Events channel's capacity (256). A full channel
	// stops the reader, which pushes back on the partner through TCP.
	EventBuffer int

	// Logger receives connection-level logs; nil discards them.
	Logger *zap.Logger
	// Now is the wall clock for sent-times and skew (time.Now). Timers use
	// the runtime's monotonic clock.
	Now func() time.Time
}

// validate fills defaults and checks the configuration.
func (c *Config) validate() error {
	if c.Primary {
		if c.Dial == nil && !c.Peer.IsValid() {
			return errors.New("replicate: the primary needs Peer or Dial")
		}
	} else if c.Shared == nil && c.Listener == nil && !c.Listen.IsValid() {
		return errors.New("replicate: the secondary needs Listen, Listener or Shared")
	}
	if c.MCLT == 0 {
		c.MCLT = engine.DefaultMCLT
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.MCLT < time.Second || c.MCLT%time.Second != 0 || c.MCLT/time.Second > 1<<32-1 {
		return errors.New("replicate: MCLT must be a whole number of seconds, at least one")
	}
	if c.Keepalive < time.Second || c.Keepalive%time.Second != 0 || c.Keepalive/time.Second > 1<<32-1 {
		return errors.New("replicate: Keepalive must be a whole number of seconds, at least one")
	}
	if c.MaxUnacked == 0 {
		c.MaxUnacked = DefaultMaxUnacked
	}
	if c.State.State == 0 {
		return errors.New("replicate: State.State must be set: it is what STATE carries after CONNECT")
	}
	if len(c.Name) > 255 {
		return errors.New("replicate: relationship name longer than 255 bytes")
	}
	if c.TLS != nil {
		if c.Primary {
			if len(c.TLS.Certificates) == 0 && c.TLS.GetClientCertificate == nil {
				return errors.New("replicate: mutual TLS: the primary needs a client certificate")
			}
		} else if c.TLS.ClientCAs == nil {
			return errors.New("replicate: mutual TLS: the secondary needs ClientCAs to verify the primary")
		}
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	c.SendQueue = max(c.SendQueue, wire.MaxFrame+2)
	if c.MaxFrame <= 0 || c.MaxFrame > wire.MaxFrame {
		c.MaxFrame = wire.MaxFrame
	}
	if c.MaxFrame < wire.FailoverHeaderLen+64 {
		return errors.New("replicate: MaxFrame too small for a CONNECT")
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// allowed reports whether the secondary accepts a connection from a.
func (c *Config) allowed(a netip.Addr) bool {
	a = a.Unmap()
	if len(c.AllowedPeers) == 0 {
		return !c.Peer.IsValid() || c.Peer.Addr().Unmap() == a
	}
	for _, p := range c.AllowedPeers {
		if p.Unmap() == a {
			return true
		}
	}
	return false
}

// acceptsAny reports whether the secondary names no partner address, and
// so accepts a connection from anywhere.
func (c *Config) acceptsAny() bool { return len(c.AllowedPeers) == 0 && !c.Peer.IsValid() }

// overlaps reports whether some address is accepted by both secondaries.
func (c *Config) overlaps(o *Config) bool {
	if c.acceptsAny() || o.acceptsAny() {
		return true
	}
	if len(c.AllowedPeers) == 0 {
		return o.allowed(c.Peer.Addr())
	}
	for _, a := range c.AllowedPeers {
		if o.allowed(a) {
			return true
		}
	}
	return false
}

// backoff is the delay before reconnect attempt n (0-based): RetryMin·2ⁿ
// capped at RetryMax, then jittered into [½, 1] of that so that a pair of
// primaries restarted together (m-to-1) do not dial in step.
func (c *Config) backoff(n int) time.Duration {
	d := c.RetryMin
	for i := 0; i < n && d < c.RetryMax; i++ {
		d *= 2
	}
	d = min(d, c.RetryMax)
	return d/2 + time.Duration(c.Rand()*float64(d/2))
}

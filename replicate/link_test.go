package replicate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tandemdhcp/tandem/netio/wire"
)

const waitLong = 5 * time.Second

var testState = LocalState{State: 2, Flags: wire.ServerFlagCommunicated, StartOfState: 1_700_000_000}

func testConfig(primary bool) Config {
	return Config{
		Name:      "pair-a",
		Primary:   primary,
		MCLT:      30 * time.Second,
		Keepalive: 5 * time.Second,
		RetryMin:  20 * time.Millisecond,
		RetryMax:  200 * time.Millisecond,
		Rand:      func() float64 { return 0.5 },
		State:     testState,
	}
}

func start(t *testing.T, c Config) *Link {
	t.Helper()
	l, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// startSecondary listens on host:0 and allows connections from host.
func startSecondary(t *testing.T, host string, mut func(*Config)) *Link {
	t.Helper()
	c := testConfig(false)
	a := netip.MustParseAddr(host)
	c.Listen = netip.AddrPortFrom(a, 0)
	c.Peer = netip.AddrPortFrom(a, 0)
	if mut != nil {
		mut(&c)
	}
	return start(t, c)
}

func startPrimary(t *testing.T, peer netip.AddrPort, mut func(*Config)) *Link {
	t.Helper()
	c := testConfig(true)
	c.Peer = peer
	if mut != nil {
		mut(&c)
	}
	return start(t, c)
}

// waitEvent returns the first event of the kind, skipping others.
func waitEvent(t *testing.T, l *Link, kind EventKind) Event {
	t.Helper()
	return waitFor(t, l, kind.String(), func(ev Event) bool { return ev.Kind == kind })
}

func waitFor(t *testing.T, l *Link, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case ev, ok := <-l.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", what, waitLong)
		}
	}
}

// waitMsg returns the next message event of type mt, decoded.
func waitMsg(t *testing.T, l *Link, mt wire.MsgType) *wire.FailoverMsg {
	t.Helper()
	ev := waitFor(t, l, wire.FailoverName(mt), func(ev Event) bool { return ev.Kind == EventMessage && ev.Type == mt })
	m := new(wire.FailoverMsg)
	if err := m.Decode(ev.Msg); err != nil {
		t.Fatal(err)
	}
	return m
}

// noEvent fails if an event of the kind arrives within d.
func noEvent(t *testing.T, l *Link, kind EventKind, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-l.Events():
			if ev.Kind == kind {
				t.Fatalf("unexpected %s event: %+v", kind, ev)
			}
		case <-deadline:
			return
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestConnectTCP(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
				t.Skipf("no %s: %v", host, err)
			} else {
				ln.Close()
			}
			s := startSecondary(t, host, func(c *Config) {
				c.Keepalive = 7 * time.Second
				c.MaxUnacked = 77
			})
			p := startPrimary(t, s.Addr(), func(c *Config) {
				c.MaxUnacked = 99
				c.State = LocalState{State: 3, Flags: 0, StartOfState: 1_700_000_100}
			})

			pu, su := waitEvent(t, p, EventUp), waitEvent(t, s, EventUp)
			if got := pu.Partner; got.MCLT != 30*time.Second || got.Keepalive != 7*time.Second ||
				got.MaxUnacked != 77 || got.Version != ProtocolVersion || got.Addr != s.Addr() {
				t.Errorf("primary's view of the secondary: %+v", got)
			}
			if got := su.Partner; got.MCLT != 30*time.Second || got.Keepalive != 5*time.Second ||
				got.MaxUnacked != 99 || got.Version != ProtocolVersion || got.Addr.Addr() != netip.MustParseAddr(host) {
				t.Errorf("secondary's view of the primary: %+v", got)
			}
			if got := su.Partner.Skew; got < -time.Second || got > time.Second {
				t.Errorf("skew of a shared clock: %v", got)
			}

			// Both send STATE after the exchange.
			if m := waitMsg(t, s, wire.State); m.ServerState != 3 || m.ServerFlags != 0 ||
				wire.UnixTime(m.StartTimeOfState) != 1_700_000_100 {
				t.Errorf("primary's STATE: %+v", m)
			}
			if m := waitMsg(t, p, wire.State); m.ServerState != testState.State ||
				m.ServerFlags != testState.Flags || m.Has&wire.FHasPartnerDownTime != 0 {
				t.Errorf("secondary's STATE: %+v", m)
			}

			// A state change is sent at once; PARTNER-DOWN carries its time.
			p.SetLocalState(statePartnerDown, wire.ServerFlagCommunicated, 1_700_000_200)
			if m := waitMsg(t, s, wire.State); m.ServerState != statePartnerDown ||
				wire.UnixTime(m.PartnerDownTime) != 1_700_000_200 {
				t.Errorf("PARTNER-DOWN STATE: %+v", m)
			}

			// Messages flow both ways, in order, with sent-time restamped.
			for i := range 50 {
				f, o := wire.BeginFrame(nil, wire.UpdReq, uint32(i), 0)
				if err := p.Send(wire.EndFrame(f, o)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 50 {
				m := waitMsg(t, s, wire.UpdReq)
				if m.XID != uint32(i) || m.SentTime == 0 {
					t.Fatalf("UPDREQ %d: xid %d sent-time %d", i, m.XID, m.SentTime)
				}
			}
			f, o := wire.BeginFrame(nil, wire.UpdDone, 5, 0)
			if err := s.Send(wire.EndFrame(f, o)); err != nil {
				t.Fatal(err)
			}
			waitMsg(t, p, wire.UpdDone)

			st := p.Stats()
			if !st.Connected || st.Connects != 1 || st.Reconnects != 0 || st.FramesOut < 53 || st.FramesIn < 3 {
				t.Errorf("primary stats: %+v", st)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", nil)
	f, o := wire.BeginFrame(nil, wire.BndUpd, 1, 0)
	frame := wire.EndFrame(f, o)
	// Before the primary exists: a primary started first may connect
	// before the check runs.
	if err := s.Send(frame); !errors.Is(err, ErrNotConnected) {
		t.Errorf("before Up: %v", err)
	}
	p := startPrimary(t, s.Addr(), nil)
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	for _, tc := range []struct {
		frame []byte
		want  error
	}{
		{frame[:5], ErrBadFrame},
		{append(frame[:len(frame):len(frame)], 0), ErrBadFrame},
		{[]byte{0, 8, 1, 0, 0, 0, 0, 0, 0, 0}, ErrBadFrame},
		{wire.AppendContact(nil, 1, 0), ErrLinkOwned},
		{appendDisconnect(nil, 1, 0, 20, "x"), ErrLinkOwned},
		{frame, nil},
	} {
		if err := p.Send(tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("Send(% x) = %v, want %v", tc.frame, err, tc.want)
		}
	}
	p.Close()
	if err := p.Send(frame); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestRelationshipNameMismatch(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", func(c *Config) { c.Name = "pair-b" })
	p := startPrimary(t, s.Addr(), nil)
	ev := waitEvent(t, p, EventDown)
	if ev.WasUp || ev.Status != wire.StatusConfigurationConflict || !strings.Contains(ev.Reason, `"pair-a"`) {
		t.Fatalf("primary: %+v", ev)
	}
	if n := s.Stats().RefusedConnects; n == 0 {
		t.Fatal("refusal not counted")
	}
	if p.Stats().Connected || s.Stats().Connected {
		t.Fatal("connected")
	}
}

// TestUnconfiguredPeerRefused dials from 127.0.0.2, which Linux routes on
// lo, to a secondary that accepts only 127.0.0.1.
func TestUnconfiguredPeerRefused(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	s := startSecondary(t, "127.0.0.1", func(c *Config) { c.Logger = zap.New(core) })
	from := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	d := net.Dialer{LocalAddr: from}
	if c, err := d.Dial("tcp", s.Addr().String()); err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	} else {
		c.Close()
	}
	p := startPrimary(t, s.Addr(), func(c *Config) {
		c.Dial = func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", s.Addr().String())
		}
	})
	if ev := waitEvent(t, p, EventDown); ev.WasUp {
		t.Fatalf("primary: %+v", ev)
	}
	eventually(t, "a counted refusal", func() bool { return s.Stats().RefusedPeers >= 2 })
	entries := logs.FilterMessageSnippet("no relationship").All()
	if len(entries) == 0 || !strings.HasPrefix(entries[0].ContextMap()["remote"].(string), "127.0.0.2:") {
		t.Fatalf("refusal not logged with the address: %v", entries)
	}
	if s.Stats().Connects != 0 {
		t.Fatal("secondary came up")
	}
}

func TestAllowedPeersList(t *testing.T) {
	pipe := NewPipe(netip.MustParseAddrPort("[fd00::2]:647"))
	s := startSecondary(t, "127.0.0.1", func(c *Config) {
		c.Listener = pipe
		c.AllowedPeers = []netip.Addr{netip.MustParseAddr("fd00::9"), netip.MustParseAddr("fd00::1")}
	})
	bad := startPrimary(t, netip.MustParseAddrPort("[fd00::2]:647"), func(c *Config) {
		c.Dial = pipe.DialFrom(netip.MustParseAddrPort("[fd00::3]:1000"))
	})
	waitEvent(t, bad, EventDown)
	bad.Close()
	eventually(t, "a counted refusal", func() bool { return s.Stats().RefusedPeers >= 1 })
	good := startPrimary(t, netip.MustParseAddrPort("[fd00::2]:647"), func(c *Config) {
		c.Dial = pipe.DialFrom(netip.MustParseAddrPort("[fd00::1]:1000"))
	})
	waitEvent(t, good, EventUp)
	if ev := waitEvent(t, s, EventUp); ev.Partner.Addr != netip.MustParseAddrPort("[fd00::1]:1000") {
		t.Fatalf("partner address %v", ev.Partner.Addr)
	}
}

func TestExcessiveTimeSkew(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(10 * time.Second) }
	})
	p := startPrimary(t, s.Addr(), nil)
	if ev := waitEvent(t, p, EventDown); ev.Status != wire.StatusExcessiveTimeSkew || ev.WasUp {
		t.Fatalf("primary: %+v", ev)
	}
	if s.Stats().RefusedConnects == 0 {
		t.Fatal("not counted")
	}
}

func TestSkewTracked(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", func(c *Config) {
		c.Keepalive = 1 * time.Second // CONTACTs every 250 ms from the primary
		c.Now = func() time.Time { return time.Now().Add(3 * time.Second) }
	})
	p := startPrimary(t, s.Addr(), nil)
	waitEvent(t, p, EventUp)
	if ev := waitEvent(t, s, EventUp); ev.Partner.Skew > -2*time.Second || ev.Partner.Skew < -4*time.Second {
		t.Fatalf("handshake skew %v, want about -3s", ev.Partner.Skew)
	}
	time.Sleep(600 * time.Millisecond)
	if sk := s.Stats().Skew; sk > -2*time.Second || sk < -4*time.Second {
		t.Fatalf("secondary's skew %v, want about -3s", sk)
	}
	if sk := p.Stats().Skew; sk < 2*time.Second || sk > 4*time.Second {
		t.Fatalf("primary's skew %v, want about +3s", sk)
	}
}

func TestCloseSendsShuttingDown(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", nil)
	p := startPrimary(t, s.Addr(), nil)
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	p.Close()
	ev := waitEvent(t, s, EventDown)
	if !ev.WasUp || ev.Status != wire.StatusServerShuttingDown || !strings.Contains(ev.Reason, "shutting down") {
		t.Fatalf("secondary: %+v", ev)
	}
	for range p.Events() { // closed after Close
	}
}

// TestReconnectAfterRestart: the secondary goes away (DISCONNECT), the
// primary backs off while dials fail, and connects again when the
// secondary is back on the same address.
func TestReconnectAfterRestart(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", nil)
	addr := s.Addr()
	p := startPrimary(t, addr, nil)
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	s.Close()
	if ev := waitEvent(t, p, EventDown); ev.Status != wire.StatusServerShuttingDown || !ev.WasUp {
		t.Fatalf("primary: %+v", ev)
	}
	eventually(t, "failed redials", func() bool { return p.Stats().DialFailures >= 3 })
	s2 := startSecondary(t, "127.0.0.1", func(c *Config) { c.Listen = addr })
	waitEvent(t, p, EventUp)
	waitEvent(t, s2, EventUp)
	if st := p.Stats(); st.Connects != 2 || st.Reconnects != 1 {
		t.Fatalf("primary stats: %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	c := Config{RetryMin: 100 * time.Millisecond, RetryMax: time.Second}
	for _, tc := range []struct {
		r    float64
		n    int
		want time.Duration
	}{
		{0, 0, 50 * time.Millisecond},
		{0.5, 0, 75 * time.Millisecond},
		{0, 1, 100 * time.Millisecond},
		{0, 3, 400 * time.Millisecond},
		{0, 4, 500 * time.Millisecond}, // capped at 1s, then halved by jitter
		{0.999999, 40, time.Second - time.Microsecond/2},
	} {
		c.Rand = func() float64 { return tc.r }
		if got := c.backoff(tc.n); got < tc.want-time.Microsecond || got > tc.want+time.Microsecond {
			t.Errorf("backoff(%d) with rand %v = %v, want %v", tc.n, tc.r, got, tc.want)
		}
	}
}

// TestKeepaliveSilentPartner: an idle link stays up on CONTACTs; a partner
// that stops sending is declared down within the keepalive time.
func TestKeepaliveSilentPartner(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", func(c *Config) { c.Keepalive = time.Second })
	p := startPrimary(t, s.Addr(), func(c *Config) { c.Keepalive = time.Second })
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	in := s.Stats().FramesIn
	noEvent(t, s, EventDown, 1500*time.Millisecond)
	if got := s.Stats().FramesIn - in; got < 4 {
		t.Fatalf("%d frames in 1.5s of idle link, want CONTACTs every 250ms", got)
	}
	p.silent.Store(true)
	t0 := time.Now()
	ev := waitEvent(t, s, EventDown)
	if el := time.Since(t0); !ev.WasUp || !strings.Contains(ev.Reason, "nothing received") || el > 1750*time.Millisecond {
		t.Fatalf("after %v: %+v", el, ev)
	}
	p.silent.Store(false)
	waitEvent(t, s, EventUp) // the primary sees the close and reconnects
}

// TestPipeBackpressure: over the in-memory transport, a secondary that
// stops consuming events pushes back to the primary's Send, which refuses
// with ErrQueueFull rather than blocking; nothing accepted is lost.
func TestPipeBackpressure(t *testing.T) {
	pipe := NewPipe(netip.MustParseAddrPort("[fd00::2]:647"))
	s := startSecondary(t, "fd00::1", func(c *Config) {
		c.Listener = pipe
		c.EventBuffer = 1
		c.MaxUnacked = 1 << 30 // Send bypasses the window (the Outbox keeps it); not under test here
	})
	p := startPrimary(t, netip.MustParseAddrPort("[fd00::2]:647"), func(c *Config) {
		c.Dial = pipe.DialFrom(netip.MustParseAddrPort("[fd00::1]:5000"))
	})
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	frame := testFrame(nil, wire.BndUpd, 0, 1000)
	sent := 0
	for ; sent < 100000; sent++ {
		frame[4], frame[5] = byte(sent>>8), byte(sent)
		err := p.Send(frame)
		if errors.Is(err, ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent == 100000 || p.Stats().QueueFull != 1 {
		t.Fatalf("queue never filled: %d sent, stats %+v", sent, p.Stats())
	}
	waitMsg(t, s, wire.State)
	for i := range sent {
		m := waitMsg(t, s, wire.BndUpd)
		if int(m.XID) != i&0xffff {
			t.Fatalf("message %d has xid %d", i, m.XID)
		}
	}
}

func netipAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestCloseStopsGoroutines: after Close on both sides, including one
// closed mid-backoff and one with a stalled admit, no link goroutine is left.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startSecondary(t, "127.0.0.1", nil)
	p := startPrimary(t, s.Addr(), nil)
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	// A connection that never speaks holds an admit/handshake slot.
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// Neither it nor a refused CONNECT from the partner's address disturbs
	// the up session.
	f := dialFake(t, s.Addr().String())
	o := goodConnect()
	o.name = "other"
	f.send(fakeConnect(wire.Connect, 1, o))
	if m := f.recv(); m == nil || m.Status != wire.StatusConfigurationConflict {
		t.Fatalf("reply: %+v", m)
	}
	noEvent(t, s, EventDown, 100*time.Millisecond)
	s.Close()
	time.Sleep(50 * time.Millisecond) // the primary is now backing off
	p.Close()
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

// TestValidConnectReplacesSession: a partner that reconnects with a valid
// CONNECT replaces the secondary's old session at once (it has given the
// old one up), instead of waiting out the keepalive.
func TestValidConnectReplacesSession(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", nil)
	p := startPrimary(t, s.Addr(), func(c *Config) { c.RetryMin = time.Minute })
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	f := dialFake(t, s.Addr().String())
	f.send(fakeConnect(wire.Connect, 5, goodConnect()))
	if ev := waitEvent(t, s, EventDown); !ev.WasUp || !strings.Contains(ev.Reason, "replaced") {
		t.Fatalf("old session: %+v", ev)
	}
	if ev := waitEvent(t, s, EventUp); ev.Partner.Addr.Port() == 0 {
		t.Fatalf("new session: %+v", ev)
	}
	if m := f.recv(); m == nil || m.Type != wire.ConnectReply || m.XID != 5 {
		t.Fatalf("reply: %+v", m)
	}
	if ev := waitEvent(t, p, EventDown); !ev.WasUp {
		t.Fatalf("primary: %+v", ev)
	}
}

// TestConnectFromElsewhereDoesNotReplace: a secondary with no configured
// peer address accepts a primary from anywhere, but once a session is up
// only its partner's address may replace it; a CONNECT from another host
// is refused (ConfigurationConflict) and the live session stays.
func TestConnectFromElsewhereDoesNotReplace(t *testing.T) {
	c := testConfig(false)
	c.Listen = netip.MustParseAddrPort("127.0.0.1:0")
	s := start(t, c)
	p := startPrimary(t, s.Addr(), func(c *Config) { c.RetryMin = time.Minute })
	waitEvent(t, p, EventUp)
	waitEvent(t, s, EventUp)
	conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", s.Addr().String())
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	f := newFakePeer(t, conn)
	f.send(fakeConnect(wire.Connect, 5, goodConnect()))
	if m := f.recv(); m == nil || m.Type != wire.ConnectReply || m.Status != wire.StatusConfigurationConflict ||
		!strings.Contains(string(m.StatusMsg), "cannot replace") {
		t.Fatalf("reply %+v, want CONNECTREPLY ConfigurationConflict", m)
	}
	noEvent(t, s, EventDown, 300*time.Millisecond)
	if st := s.Stats(); st.RefusedConnects != 1 {
		t.Fatalf("refused %d", st.RefusedConnects)
	}
}

// TestWriteBatchDeliversAll: with WriteBatch caps (1 and 3 messages per
// write) every queued BNDUPD still arrives, in order.
func TestWriteBatchDeliversAll(t *testing.T) {
	for _, per := range []int{1, 3} {
		t.Run(fmt.Sprint(per), func(t *testing.T) {
			s := startSecondary(t, "127.0.0.1", nil)
			p := startPrimary(t, s.Addr(), func(c *Config) { c.WriteBatch = per })
			waitEvent(t, p, EventUp)
			waitEvent(t, s, EventUp)
			for i := range 10 {
				b, f := wire.BeginFrame(nil, wire.BndUpd, uint32(100+i), 0)
				if err := p.Send(wire.EndFrame(b, f)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 10 {
				if m := waitMsg(t, s, wire.BndUpd); m.XID != uint32(100+i) {
					t.Fatalf("message %d has xid %d", i, m.XID)
				}
			}
		})
	}
}

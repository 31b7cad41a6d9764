package replicate

import (
	"context"
	"crypto/tls"
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

// The m-to-1 model (RFC 7031, RFC 8156 §6.1–6.2): one secondary in two
// relationships, "a" with the primary at fd00::a and "b" with the primary
// at fd00::b, both on one listening socket.

var (
	mtoListen = netip.MustParseAddrPort("[fd00::5]:647")
	mtoA      = netip.MustParseAddrPort("[fd00::a]:1000")
	mtoB      = netip.MustParseAddrPort("[fd00::b]:1000")
)

// startShared registers secondaries for relationships "a" (partner mtoA)
// and "b" (partner mtoB) on one shared listener over a Pipe.
func startShared(t *testing.T, mut func(name string, c *Config)) (*Pipe, *Listener, map[string]*Link) {
	t.Helper()
	pipe := NewPipe(mtoListen)
	x := NewListener(pipe, nil)
	t.Cleanup(func() { x.Close() })
	links := map[string]*Link{}
	for name, peer := range map[string]netip.AddrPort{"a": mtoA, "b": mtoB} {
		c := testConfig(false)
		c.Name, c.Shared = name, x
		c.Peer = netip.AddrPortFrom(peer.Addr(), 0)
		if mut != nil {
			mut(name, &c)
		}
		links[name] = start(t, c)
	}
	return pipe, x, links
}

// primaryVia starts a primary named name whose connections come from
// `from` through the pipe.
func primaryVia(t *testing.T, pipe *Pipe, name string, from netip.AddrPort, mut func(*Config)) *Link {
	t.Helper()
	return startPrimary(t, mtoListen, func(c *Config) {
		c.Name = name
		c.Dial = pipe.DialFrom(from)
		if mut != nil {
			mut(c)
		}
	})
}

// TestSharedListenerDispatches: two primaries reach their own
// relationships on one socket, and losing one leaves the other up.
func TestSharedListenerDispatches(t *testing.T) {
	pipe, x, s := startShared(t, nil)
	pa := primaryVia(t, pipe, "a", mtoA, nil)
	pb := primaryVia(t, pipe, "b", mtoB, nil)
	waitEvent(t, pa, EventUp)
	waitEvent(t, pb, EventUp)
	if ev := waitEvent(t, s["a"], EventUp); ev.Partner.Addr != mtoA {
		t.Fatalf("relationship a's partner %v, want %v", ev.Partner.Addr, mtoA)
	}
	if ev := waitEvent(t, s["b"], EventUp); ev.Partner.Addr != mtoB {
		t.Fatalf("relationship b's partner %v, want %v", ev.Partner.Addr, mtoB)
	}
	// Messages stay in their relationship.
	for name, p := range map[string]*Link{"a": pa, "b": pb} {
		b, f := wire.BeginFrame(nil, wire.UpdReqAll, p.NextXID(), 0)
		b = wire.AppendOptionString(b, wire.OptFRelationshipName, "from-"+name)
		if err := p.Send(wire.EndFrame(b, f)); err != nil {
			t.Fatal(err)
		}
	}
	for name, l := range s {
		if m := waitMsg(t, l, wire.UpdReqAll); string(m.RelationshipName) != "from-"+name {
			t.Fatalf("relationship %s got %q's message", name, m.RelationshipName)
		}
	}
	pa.Close()
	if ev := waitEvent(t, s["a"], EventDown); ev.Status != wire.StatusServerShuttingDown {
		t.Fatalf("a: %+v", ev)
	}
	noEvent(t, s["b"], EventDown, 200*time.Millisecond)
	if !s["b"].Stats().Connected || s["a"].Stats().Connected {
		t.Fatalf("after a's primary left: a %+v, b %+v", s["a"].Stats(), s["b"].Stats())
	}
	if st := x.Stats(); st.Links != 2 || st.RefusedPeers+st.RefusedTLS+st.RefusedConnects != 0 {
		t.Fatalf("listener %+v", st)
	}
	// a's primary comes back while b's session goes on.
	pa2 := primaryVia(t, pipe, "a", mtoA, nil)
	waitEvent(t, pa2, EventUp)
	waitEvent(t, s["a"], EventUp)
	if st := s["b"].Stats(); st.Connects != 1 || !st.Connected {
		t.Fatalf("b disturbed by a's reconnect: %+v", st)
	}
}

// TestSharedListenerRefusesWrongName: a CONNECT naming "a" from b's
// partner address is refused with ConfigurationConflict and counted on b;
// relationship a never hears of it.
func TestSharedListenerRefusesWrongName(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	pipe, x, s := startShared(t, func(name string, c *Config) { c.Logger = zap.New(core).Named(name) })
	p := primaryVia(t, pipe, "a", mtoB, func(c *Config) { c.RetryMin = time.Minute })
	ev := waitEvent(t, p, EventDown)
	if ev.WasUp || ev.Status != wire.StatusConfigurationConflict || !strings.Contains(ev.Reason, `"a" is not configured`) {
		t.Fatalf("primary: %+v", ev)
	}
	eventually(t, "a counted refusal", func() bool { return s["b"].Stats().RefusedConnects == 1 })
	if st := x.Stats(); st.RefusedConnects != 1 {
		t.Fatalf("listener %+v", st)
	}
	if st := s["a"].Stats(); st.RefusedConnects+st.Connects != 0 {
		t.Fatalf("relationship a saw the connection: %+v", st)
	}
	noEvent(t, s["a"], EventUp, 50*time.Millisecond)
	if e := logs.FilterMessage("refused failover CONNECT").All(); len(e) != 1 || e[0].LoggerName != "b" ||
		!strings.HasPrefix(e[0].ContextMap()["remote"].(string), "[fd00::b]:") {
		t.Fatalf("refusal logs %v", e)
	}
}

// TestSharedListenerRefusals: an address that is no relationship's
// partner, and a nameless CONNECT where two relationships share the
// partner address.
func TestSharedListenerRefusals(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	pipe := NewPipe(mtoListen)
	x := NewListener(pipe, zap.New(core))
	t.Cleanup(func() { x.Close() })
	var s []*Link
	for _, name := range []string{"a", "b"} {
		c := testConfig(false)
		c.Name, c.Shared, c.Peer = name, x, mtoA
		s = append(s, start(t, c))
	}
	stranger := primaryVia(t, pipe, "a", netip.MustParseAddrPort("[fd00::99]:1000"), func(c *Config) { c.RetryMin = time.Minute })
	waitEvent(t, stranger, EventDown)
	eventually(t, "a counted refusal", func() bool { return x.Stats().RefusedPeers == 1 })
	if e := logs.FilterMessageSnippet("no relationship").All(); len(e) != 1 {
		t.Fatalf("refusal logs %v", e)
	}
	nameless := primaryVia(t, pipe, "", mtoA, func(c *Config) { c.RetryMin = time.Minute })
	if ev := waitEvent(t, nameless, EventDown); ev.Status != wire.StatusConfigurationConflict || !strings.Contains(ev.Reason, "no RELATIONSHIP_NAME") {
		t.Fatalf("nameless primary: %+v", ev)
	}
	// Named, the same address reaches each relationship.
	for i, name := range []string{"a", "b"} {
		p := primaryVia(t, pipe, name, mtoA, nil)
		waitEvent(t, p, EventUp)
		waitEvent(t, s[i], EventUp)
	}
	for _, l := range s {
		if st := l.Stats(); st.RefusedPeers+st.RefusedConnects != 0 {
			t.Fatalf("refusals charged to a link when two could have been meant: %+v", st)
		}
	}
	if st := x.Stats(); st.RefusedConnects != 1 || st.RefusedPeers != 1 {
		t.Fatalf("listener %+v", st)
	}
}

// TestSharedListenerPerRelationshipTLS: each relationship verifies its own
// primary's certificate against its own CA on the shared socket. Real TCP
// (a net.Pipe cannot carry a refused TLS 1.3 handshake: both ends write),
// with b's primary dialing from 127.0.0.2.
func TestSharedListenerPerRelationshipTLS(t *testing.T) {
	x, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Skipf("no IPv4 loopback: %v", err)
	}
	t.Cleanup(func() { x.Close() })
	from := map[string]netip.Addr{"a": netip.MustParseAddr("127.0.0.1"), "b": netip.MustParseAddr("127.0.0.2")}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from["b"], 0))}).Dial("tcp", probe.Addr().String())
	probe.Close()
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	c.Close()
	caA, caB := newCA(t, "CA of a"), newCA(t, "CA of b")
	serverCert := caA.issue(t, "secondary")
	both := caA.pool.Clone()
	both.AddCert(caB.cert)
	s := map[string]*Link{}
	for name, ca := range map[string]*testCA{"a": caA, "b": caB} {
		c := testConfig(false)
		c.Name, c.Shared, c.Peer = name, x, netip.AddrPortFrom(from[name], 0)
		c.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.pool}
		s[name] = start(t, c)
	}
	primary := func(name string, src netip.Addr, ca *testCA) *Link {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		return startPrimary(t, x.Addr(), func(c *Config) {
			c.Name = name
			c.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "primary")}, RootCAs: both}
			c.Dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", x.Addr().String()) }
			c.RetryMin = time.Minute
		})
	}
	pa := primary("a", from["a"], caA)
	pb := primary("b", from["b"], caB)
	waitEvent(t, pa, EventUp)
	waitEvent(t, pb, EventUp)
	waitEvent(t, s["a"], EventUp)
	waitEvent(t, s["b"], EventUp)
	// b's certificate from a's address: a's CA did not sign it.
	wrong := primary("b", from["a"], caB)
	eventually(t, "a counted TLS refusal", func() bool { return s["a"].Stats().RefusedTLS == 1 })
	eventually(t, "the primary's failure", func() bool {
		st := wrong.Stats()
		return st.DialFailures+st.RefusedConnects > 0 || len(wrong.Events()) > 0
	})
	if st := x.Stats(); st.RefusedTLS != 1 || s["b"].Stats().RefusedTLS != 0 {
		t.Fatalf("listener %+v, b %+v", st, s["b"].Stats())
	}
	if !s["a"].Stats().Connected || !s["b"].Stats().Connected {
		t.Fatal("a refused connection disturbed an up relationship")
	}
}

func TestSharedListenerRegister(t *testing.T) {
	x := NewListener(NewPipe(mtoListen), nil)
	defer x.Close()
	c := testConfig(false)
	c.Shared, c.Peer = x, mtoA
	start(t, c)
	if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("second link named %q: %v", c.Name, err)
	}
	c.Name = "other"
	c.TLS = &tls.Config{ClientCAs: newCA(t, "x").pool}
	if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "different TLS") {
		t.Fatalf("same partner, different TLS: %v", err)
	}
	c.Peer = mtoB // a different partner may use its own TLS
	start(t, c)
	if n := x.Stats().Links; n != 2 {
		t.Fatalf("%d links", n)
	}
}

// TestSharedListenerClose: closing the links and then the Listener, with an
// admission stalled before its CONNECT, leaves no goroutine behind.
func TestSharedListenerClose(t *testing.T) {
	before := runtime.NumGoroutine()
	x, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Skipf("no IPv4 loopback: %v", err)
	}
	var links []*Link
	for _, name := range []string{"a", "b"} {
		c := testConfig(false)
		c.Name, c.Shared, c.Peer = name, x, netip.MustParseAddrPort("127.0.0.1:0")
		l, err := Start(c)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
	}
	p := startPrimary(t, x.Addr(), func(c *Config) { c.Name = "b" })
	waitEvent(t, p, EventUp)
	idle, err := net.Dial("tcp", x.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	for _, l := range links {
		l.Close()
	}
	if n := x.Stats().Links; n != 0 {
		t.Fatalf("%d links still registered", n)
	}
	x.Close()
	p.Close()
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

package replicate

import (
	"net"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// fakePeer speaks the failover protocol by hand, to send what a Link never
// would and to watch exactly what a Link sends.
type fakePeer struct {
	t  *testing.T
	c  net.Conn
	fr *FrameReader
	m  wire.FailoverMsg
}

func newFakePeer(t *testing.T, c net.Conn) *fakePeer {
	t.Cleanup(func() { c.Close() })
	return &fakePeer{t: t, c: c, fr: NewFrameReader(c, 0, 0)}
}

func dialFake(t *testing.T, addr string) *fakePeer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newFakePeer(t, c)
}

func (f *fakePeer) send(frame []byte) {
	f.t.Helper()
	if _, err := f.c.Write(frame); err != nil {
		f.t.Fatal(err)
	}
}

// recv returns the next message, or nil at the end of the connection.
func (f *fakePeer) recv() *wire.FailoverMsg {
	f.t.Helper()
	f.c.SetReadDeadline(time.Now().Add(waitLong))
	msg, err := f.fr.Next()
	if err != nil {
		return nil
	}
	if err := f.m.Decode(msg); err != nil {
		f.t.Fatal(err)
	}
	return &f.m
}

type connectOpts struct {
	version, mclt, keepalive uint32
	flags                    uint16
	name                     string
	sent                     time.Time
}

func fakeConnect(t wire.MsgType, xid uint32, o connectOpts) []byte {
	if o.sent.IsZero() {
		o.sent = time.Now()
	}
	b, f := wire.BeginFrame(nil, t, xid, wire.AbsTime(o.sent.Unix()))
	b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, o.version)
	b = wire.AppendUint32Option(b, wire.OptFMCLT, o.mclt)
	b = wire.AppendUint32Option(b, wire.OptFKeepaliveTime, o.keepalive)
	b = wire.AppendUint32Option(b, wire.OptFMaxUnackedBndUpd, 10)
	b = wire.AppendUint16Option(b, wire.OptFConnectFlags, o.flags)
	if o.name != "" {
		b = wire.AppendOptionString(b, wire.OptFRelationshipName, o.name)
	}
	return wire.EndFrame(b, f)
}

func goodConnect() connectOpts {
	return connectOpts{version: ProtocolVersion, mclt: 30, keepalive: 1, name: "pair-a", flags: wire.ConnectFlagFixedPDLen}
}

// TestSecondaryChecksConnect: each bad CONNECT gets a CONNECTREPLY with
// the right status and the connection is closed.
func TestSecondaryChecksConnect(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", func(c *Config) { c.DelegatesPrefixes = true })
	for _, tc := range []struct {
		name   string
		mut    func(*connectOpts)
		status uint16
	}{
		{"version 2.0", func(o *connectOpts) { o.version = 2 << 16 }, wire.StatusNotSupported},
		{"version 0.9", func(o *connectOpts) { o.version = 9 }, wire.StatusNotSupported},
		{"name", func(o *connectOpts) { o.name = "other" }, wire.StatusConfigurationConflict},
		{"skew +6s", func(o *connectOpts) { o.sent = time.Now().Add(6 * time.Second) }, wire.StatusExcessiveTimeSkew},
		{"skew -7s", func(o *connectOpts) { o.sent = time.Now().Add(-7 * time.Second) }, wire.StatusExcessiveTimeSkew},
		{"variable PD lengths", func(o *connectOpts) { o.flags = 0x8000 }, wire.StatusConfigurationConflict},
		{"MCLT differs", func(o *connectOpts) { o.mclt = 1234 }, wire.StatusConfigurationConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := dialFake(t, s.Addr().String())
			o := goodConnect()
			tc.mut(&o)
			f.send(fakeConnect(wire.Connect, 77, o))
			m := f.recv()
			if m == nil || m.Type != wire.ConnectReply || m.Status != tc.status || m.XID != 77 || len(m.StatusMsg) == 0 {
				t.Fatalf("reply %+v, want CONNECTREPLY status %d", m, tc.status)
			}
			if m := f.recv(); m != nil {
				t.Fatalf("connection still open: %v", wire.FailoverName(m.Type))
			}
		})
	}
	// An absent name is fine with one relationship (RFC 8156 §6.1); the
	// accepting reply echoes the MCLT, then STATE follows.
	f := dialFake(t, s.Addr().String())
	o := goodConnect()
	o.name = ""
	f.send(fakeConnect(wire.Connect, 78, o))
	m := f.recv()
	if m == nil || m.Type != wire.ConnectReply || m.Has&wire.FHasStatus != 0 || m.MCLT != 30 || m.XID != 78 ||
		m.KeepaliveTime != 5 || m.Version != ProtocolVersion {
		t.Fatalf("accept: %+v", m)
	}
	if m := f.recv(); m == nil || m.Type != wire.State {
		t.Fatalf("after CONNECTREPLY: %+v", m)
	}
	if ev := waitEvent(t, s, EventUp); ev.Partner.MCLT != 30*time.Second || ev.Partner.Keepalive != time.Second {
		t.Fatalf("secondary Up: %+v", ev.Partner)
	}
	// The partner asked for keepalive 1s: CONTACTs every 250 ms while idle.
	t0, contacts := time.Now(), 0
	for time.Since(t0) < 1100*time.Millisecond {
		if m := f.recv(); m == nil {
			t.Fatal("closed")
		} else if m.Type == wire.Contact {
			contacts++
		}
	}
	if contacts < 3 || contacts > 6 {
		t.Fatalf("%d CONTACTs in 1.1s with keepalive 1s", contacts)
	}
	if st := s.Stats(); st.RefusedConnects != 7 {
		t.Fatalf("refused %d", st.RefusedConnects)
	}
}

// TestPrimaryChecksConnectReply: a fake secondary answers CONNECT; on a
// mismatch the primary sends DISCONNECT and drops the connection.
func TestPrimaryChecksConnectReply(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reply      func(xid uint32) []byte
		disconnect uint16 // 0: the primary must come up
		downStatus uint16
	}{
		{"MCLT differs", func(x uint32) []byte {
			o := goodConnect()
			o.mclt = 31
			return fakeConnect(wire.ConnectReply, x, o)
		}, wire.StatusConfigurationConflict, wire.StatusConfigurationConflict},
		{"version 3.0", func(x uint32) []byte {
			o := goodConnect()
			o.version = 3 << 16
			return fakeConnect(wire.ConnectReply, x, o)
		}, wire.StatusNotSupported, wire.StatusNotSupported},
		{"variable PD lengths", func(x uint32) []byte {
			o := goodConnect()
			o.flags = 0
			return fakeConnect(wire.ConnectReply, x, o)
		}, wire.StatusConfigurationConflict, wire.StatusConfigurationConflict},
		{"refused", func(x uint32) []byte {
			b, f := wire.BeginFrame(nil, wire.ConnectReply, x, wire.AbsTime(time.Now().Unix()))
			b = wire.AppendStatus(b, wire.StatusExcessiveTimeSkew, "clocks apart")
			return wire.EndFrame(b, f)
		}, 0, wire.StatusExcessiveTimeSkew},
		{"accepted", func(x uint32) []byte {
			return fakeConnect(wire.ConnectReply, x, goodConnect())
		}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			p := startPrimary(t, ln.Addr().(*net.TCPAddr).AddrPort(), func(c *Config) {
				c.RetryMin, c.DelegatesPrefixes = time.Minute, true
			})
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			f := newFakePeer(t, c)
			m := f.recv()
			if m == nil || m.Type != wire.Connect || m.Version != ProtocolVersion || m.MCLT != 30 ||
				m.KeepaliveTime != 5 || string(m.RelationshipName) != "pair-a" || m.Has&wire.FHasConnectFlags == 0 ||
				m.ConnectFlags != wire.ConnectFlagFixedPDLen {
				t.Fatalf("CONNECT: %+v", m)
			}
			f.send(tc.reply(m.XID))
			if tc.name == "accepted" {
				if m := f.recv(); m == nil || m.Type != wire.State || m.ServerState != testState.State {
					t.Fatalf("after accept: %+v", m)
				}
				waitEvent(t, p, EventUp)
				return
			}
			if tc.disconnect != 0 {
				m := f.recv()
				if m == nil || m.Type != wire.Disconnect || m.Status != tc.disconnect {
					t.Fatalf("want DISCONNECT %d, got %+v", tc.disconnect, m)
				}
			}
			if m := f.recv(); m != nil {
				t.Fatalf("connection still open: %v", wire.FailoverName(m.Type))
			}
			if ev := waitEvent(t, p, EventDown); ev.WasUp || ev.Status != tc.downStatus {
				t.Fatalf("Down: %+v", ev)
			}
			if p.Stats().RefusedConnects != 1 {
				t.Fatal("refusal not counted")
			}
		})
	}
}

// TestConnectFlags: OPTION_F_CONNECT_FLAGS says what the sender does (RFC
// 8156 §5.5.2, §6.1.2, §6.1.3). We always send FIXED_PD_LENGTH; we refuse
// a partner only for what we cannot process — prefixes of several lengths
// from one delegable prefix, when we have pd-pools — and ignore the MBZ
// bits, on both sides of the handshake.
func TestConnectFlags(t *testing.T) {
	const fixed = wire.ConnectFlagFixedPDLen
	for _, tc := range []struct {
		name      string
		delegates bool
		flags     uint16
		absent    bool
		ok        bool
	}{
		{"fixed, pd-pools", true, fixed, false, true},
		{"fixed, no pd-pools", false, fixed, false, true},
		{"fixed and MBZ bits", true, fixed | 0x8000 | 0x0100, false, true},
		{"variable, no pd-pools", false, 0, false, true},
		{"absent, no pd-pools", false, 0, true, true},
		{"MBZ only, no pd-pools", false, 0x0002, false, true},
		{"variable, pd-pools", true, 0, false, false},
		{"absent, pd-pools", true, 0, true, false},
		{"MBZ only, pd-pools", true, 0xfffe, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(false)
			c.DelegatesPrefixes = tc.delegates
			b, f := wire.BeginFrame(nil, wire.Connect, 5, wire.AbsTime(time.Now().Unix()))
			b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, ProtocolVersion)
			b = wire.AppendUint32Option(b, wire.OptFMCLT, 30)
			b = wire.AppendUint32Option(b, wire.OptFKeepaliveTime, 10)
			b = wire.AppendUint32Option(b, wire.OptFMaxUnackedBndUpd, 10)
			if !tc.absent {
				b = wire.AppendUint16Option(b, wire.OptFConnectFlags, tc.flags)
			}
			b = wire.EndFrame(b, f)
			var m wire.FailoverMsg
			if err := m.Decode(b[2:]); err != nil {
				t.Fatal(err)
			}
			p, r := checkConnect(&c, &m, time.Now())
			if (r == nil) != tc.ok {
				t.Fatalf("secondary: refusal %+v, want ok=%v", r, tc.ok)
			}
			if r != nil && r.status != wire.StatusConfigurationConflict {
				t.Fatalf("secondary refuses with %d", r.status)
			}
			if r == nil && p.ConnectFlags != tc.flags {
				t.Fatalf("Partner.ConnectFlags %#x, sent %#x", p.ConnectFlags, tc.flags)
			}
			b[2] = byte(wire.ConnectReply)
			if err := m.Decode(b[2:]); err != nil {
				t.Fatal(err)
			}
			pc := testConfig(true)
			pc.DelegatesPrefixes = tc.delegates
			if _, r := checkConnectReply(&pc, &m); (r == nil) != tc.ok {
				t.Fatalf("primary: refusal %+v, want ok=%v", r, tc.ok)
			}
		})
	}
	// What we send says FIXED_PD_LENGTH, with or without pd-pools.
	for _, delegates := range []bool{false, true} {
		c := testConfig(true)
		c.DelegatesPrefixes = delegates
		c.MaxUnacked = 10
		for _, frame := range [][]byte{appendConnect(nil, &c, 1, 2), appendConnectReply(nil, &c, 1, 2, 30)} {
			var m wire.FailoverMsg
			if err := decodeWhole(frame, &m); err != nil {
				t.Fatal(err)
			}
			if m.Has&wire.FHasConnectFlags == 0 || m.ConnectFlags != wire.ConnectFlagFixedPDLen {
				t.Fatalf("%s carries CONNECT_FLAGS %#x (has %v)", wire.FailoverName(m.Type), m.ConnectFlags,
					m.Has&wire.FHasConnectFlags != 0)
			}
		}
	}
}

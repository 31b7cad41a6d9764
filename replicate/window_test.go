package replicate

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// TestUnackedWindowExceeded: a partner that sends more BNDUPDs than the
// MAX_UNACKED_BNDUPD we advertised, without waiting for BNDREPLYs, is
// dropped with a DISCONNECT; the refusal is counted and logged. Within
// the window, and once answered, BNDUPDs flow as usual.
func TestUnackedWindowExceeded(t *testing.T) {
	const window = 4
	core, logs := observer.New(zapcore.WarnLevel)
	s := startSecondary(t, "127.0.0.1", func(c *Config) {
		c.MaxUnacked = window
		c.Logger = zap.New(core)
	})
	bndupd := func(xid uint32) []byte {
		b, f := wire.BeginFrame(nil, wire.BndUpd, xid, wire.AbsTime(time.Now().Unix()))
		return wire.EndFrame(b, f)
	}
	reply := func(xid uint32) []byte {
		b, f := wire.BeginFrame(nil, wire.BndReply, xid, 0)
		return wire.EndFrame(b, f)
	}
	connect := func() *fakePeer {
		f := dialFake(t, s.Addr().String())
		f.send(fakeConnect(wire.Connect, 1, goodConnect()))
		if m := f.recv(); m == nil || m.Type != wire.ConnectReply || m.Has&wire.FHasStatus != 0 || m.MaxUnacked != window {
			t.Fatalf("CONNECTREPLY %+v, want an accepting one advertising window %d", m, window)
		}
		waitEvent(t, s, EventUp)
		return f
	}

	// A well-behaved partner: twice the window, each answered before the
	// window fills.
	f := connect()
	for xid := uint32(10); xid < 10+2*window; xid++ {
		f.send(bndupd(xid))
		m := waitMsg(t, s, wire.BndUpd)
		if err := s.Send(reply(m.XID)); err != nil {
			t.Fatal(err)
		}
	}
	noEvent(t, s, EventDown, 200*time.Millisecond)
	if st := s.Stats(); st.RefusedWindow != 0 {
		t.Fatalf("a partner within the window was refused: %+v", st)
	}
	f.c.Close()
	waitEvent(t, s, EventDown)

	// A flooding partner: window+3 BNDUPDs in one write, no replies.
	f = connect()
	var flood []byte
	for xid := uint32(100); xid < 100+window+3; xid++ {
		flood = append(flood, bndupd(xid)...)
	}
	f.send(flood)
	var disc *wire.FailoverMsg
	for m := f.recv(); m != nil; m = f.recv() {
		if m.Type == wire.Disconnect {
			c := *m
			disc = &c
		}
	}
	if disc == nil || !strings.Contains(string(disc.StatusMsg), "MAX_UNACKED_BNDUPD") {
		t.Fatalf("no DISCONNECT naming the window before the close: %+v", disc)
	}
	ev := waitEvent(t, s, EventDown)
	if !strings.Contains(ev.Reason, "exceeded MAX_UNACKED_BNDUPD") {
		t.Fatalf("Down reason %q", ev.Reason)
	}
	if st := s.Stats(); st.RefusedWindow != 1 {
		t.Fatalf("RefusedWindow = %d, want 1", st.RefusedWindow)
	}
	if n := logs.FilterMessageSnippet("unacked window exceeded").Len(); n != 1 {
		t.Fatalf("window refusal logged %d times, want 1", n)
	}
}

// TestRefusalCounters: each kind of refused connection is counted under
// its own Stats field (the node exports them as
// tandem_partner_refused_total{reason}).
func TestRefusalCounters(t *testing.T) {
	s := startSecondary(t, "127.0.0.1", nil)
	refuse := func(frame []byte) {
		t.Helper()
		f := dialFake(t, s.Addr().String())
		f.send(frame)
		for f.recv() != nil {
		}
	}
	o := goodConnect()
	o.sent = time.Now().Add(time.Minute)
	refuse(fakeConnect(wire.Connect, 1, o))
	o = goodConnect()
	o.mclt = 99
	refuse(fakeConnect(wire.Connect, 2, o))
	refuse([]byte{0, 3, 'a', 'b', 'c'})          // shorter than a header
	refuse([]byte{0, 8, 1, 0, 0, 0, 0, 0, 0, 0}) // a SOLICIT
	eventually(t, "the counts", func() bool {
		st := s.Stats()
		return st.RefusedSkew == 1 && st.RefusedConflict == 1 && st.RefusedConnects == 2 && st.RefusedMalformed == 2
	})
	// A peer that connects and goes away says nothing: not a refusal.
	f := dialFake(t, s.Addr().String())
	f.c.Close()
	time.Sleep(100 * time.Millisecond)
	if st := s.Stats(); st.RefusedMalformed != 2 {
		t.Fatalf("an empty connection counted as malformed: %+v", st)
	}
}

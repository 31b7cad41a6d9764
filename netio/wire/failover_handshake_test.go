package wire

import (
	"testing"
)

// decodeFrame splits one whole frame and decodes it.
func decodeFrame(t *testing.T, frame []byte) *FailoverMsg {
	t.Helper()
	msg, rest, ok := SplitFrame(frame)
	if !ok || len(rest) != 0 {
		t.Fatalf("frame of %d bytes does not split whole (rest %d)", len(frame), len(rest))
	}
	var m FailoverMsg
	if err := m.Decode(msg); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestConnectRoundTrip(t *testing.T) {
	p := ConnectParams{Version: 1<<16 | 2, MCLT: 3600, Keepalive: 60, MaxUnacked: 512,
		Flags: ConnectFlagFixedPDLen, Name: "pair-a"}
	m := decodeFrame(t, AppendConnect([]byte{9, 9}, 0xabcdef, 800_000_000, &p)[2:])
	const all = FHasVersion | FHasMCLT | FHasKeepalive | FHasMaxUnacked | FHasConnectFlags
	if m.Type != Connect || m.XID != 0xabcdef || m.SentTime != 800_000_000 || m.Has != all ||
		m.Version != p.Version || m.MCLT != 3600 || m.KeepaliveTime != 60 || m.MaxUnacked != 512 ||
		m.ConnectFlags != ConnectFlagFixedPDLen || string(m.RelationshipName) != "pair-a" {
		t.Fatalf("CONNECT: %+v", m)
	}
	p.Name = ""
	if m := decodeFrame(t, AppendConnect(nil, 1, 2, &p)); m.RelationshipName != nil {
		t.Fatalf("unnamed CONNECT carries name %q", m.RelationshipName)
	}
}

func TestConnectReplyRoundTrip(t *testing.T) {
	p := ConnectParams{Version: 1 << 16, MCLT: 30, Keepalive: 5, MaxUnacked: 64, Flags: ConnectFlagFixedPDLen, Name: "ignored"}
	m := decodeFrame(t, AppendConnectReply(nil, 77, 5, &p))
	const all = FHasVersion | FHasMCLT | FHasKeepalive | FHasMaxUnacked | FHasConnectFlags
	if m.Type != ConnectReply || m.XID != 77 || m.SentTime != 5 || m.Has != all || m.Version != 1<<16 ||
		m.MCLT != 30 || m.KeepaliveTime != 5 || m.MaxUnacked != 64 || m.ConnectFlags != ConnectFlagFixedPDLen ||
		m.RelationshipName != nil {
		t.Fatalf("CONNECTREPLY: %+v", m)
	}
	m = decodeFrame(t, AppendConnectRefusal(nil, 78, 6, StatusExcessiveTimeSkew, "clocks 30s apart"))
	if m.Type != ConnectReply || m.XID != 78 || m.SentTime != 6 || m.Has != FHasStatus ||
		m.Status != StatusExcessiveTimeSkew || string(m.StatusMsg) != "clocks 30s apart" {
		t.Fatalf("refusing CONNECTREPLY: %+v", m)
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := StateParams{State: 2, Flags: ServerFlagCommunicated | ServerFlagAckStartup, StartTimeOfState: 700_000_000,
		PartnerDownTime: 1}
	m := decodeFrame(t, AppendState(nil, 3, 4, &s))
	if m.Type != State || m.XID != 3 || m.SentTime != 4 || m.Has != FHasServerState|FHasServerFlags|FHasStartTimeOfState ||
		m.ServerState != 2 || m.ServerFlags != s.Flags || m.StartTimeOfState != 700_000_000 {
		t.Fatalf("STATE (NORMAL, no PARTNER_DOWN_TIME): %+v", m)
	}
	s.State, s.PartnerDownTime = ServerStatePartnerDown, 700_000_100
	m = decodeFrame(t, AppendState(nil, 3, 4, &s))
	if m.Has&FHasPartnerDownTime == 0 || m.PartnerDownTime != 700_000_100 || m.ServerState != ServerStatePartnerDown {
		t.Fatalf("STATE (PARTNER-DOWN): %+v", m)
	}
}

func TestContactRoundTrip(t *testing.T) {
	frame := AppendContact(nil, 0xffffff, 9)
	if len(frame) != 2+FailoverHeaderLen {
		t.Fatalf("CONTACT is %d bytes", len(frame))
	}
	if m := decodeFrame(t, frame); m.Type != Contact || m.XID != 0xffffff || m.SentTime != 9 || m.Has != 0 {
		t.Fatalf("CONTACT: %+v", m)
	}
}

func TestDisconnectRoundTrip(t *testing.T) {
	m := decodeFrame(t, AppendDisconnect(nil, 12, 13, StatusServerShuttingDown, "server shutting down"))
	if m.Type != Disconnect || m.XID != 12 || m.SentTime != 13 || m.Has != FHasStatus ||
		m.Status != StatusServerShuttingDown || string(m.StatusMsg) != "server shutting down" {
		t.Fatalf("DISCONNECT: %+v", m)
	}
}

// TestHandshakeBuildersAllocate: appending into a buffer with room costs
// nothing.
func TestHandshakeBuildersAllocate(t *testing.T) {
	b := make([]byte, 0, 512)
	p := ConnectParams{Version: 1 << 16, MCLT: 30, Keepalive: 5, MaxUnacked: 64, Name: "pair-a"}
	s := StateParams{State: 2}
	if n := testing.AllocsPerRun(100, func() {
		x := AppendConnect(b[:0], 1, 2, &p)
		x = AppendConnectReply(x, 1, 2, &p)
		x = AppendConnectRefusal(x, 1, 2, StatusNotSupported, "no")
		x = AppendState(x, 1, 2, &s)
		x = AppendContact(x, 1, 2)
		_ = AppendDisconnect(x, 1, 2, StatusServerShuttingDown, "bye")
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

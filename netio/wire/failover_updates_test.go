package wire

import "testing"

// TestFailoverUpdatesRoundTrip: each update and pool message, built by its
// builder, decodes to its type and xid with no options and nothing left.
func TestFailoverUpdatesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func([]byte, uint32) []byte
		typ   MsgType
	}{
		{"UPDREQ", AppendUpdReq, UpdReq},
		{"UPDREQALL", AppendUpdReqAll, UpdReqAll},
		{"UPDDONE", AppendUpdDone, UpdDone},
		{"POOLREQ", AppendPoolReq, PoolReq},
		{"POOLRESP", AppendPoolResp, PoolResp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte{0xee} // appends after what b holds
			frame := tc.build(prefix, 0xabcdef)
			if frame[0] != 0xee {
				t.Fatal("builder overwrote what b held")
			}
			msg, rest, ok := SplitFrame(frame[1:])
			if !ok || len(rest) != 0 || len(msg) != FailoverHeaderLen {
				t.Fatalf("SplitFrame: ok=%v msg=%d rest=%d", ok, len(msg), len(rest))
			}
			var m FailoverMsg
			m.Has = FHasStatus // Decode must reset it
			if err := m.Decode(msg); err != nil {
				t.Fatal(err)
			}
			if m.Type != tc.typ || m.XID != 0xabcdef || m.SentTime != 0 || m.Has != 0 || m.HasClientData || m.HasPrefix {
				t.Fatalf("decoded %+v", m)
			}
			if FailoverName(m.Type) != tc.name {
				t.Fatalf("name %s, want %s", FailoverName(m.Type), tc.name)
			}
			// The xid is 24 bits: the high byte is dropped.
			m2 := FailoverMsg{}
			msg, _, _ = SplitFrame(tc.build(nil, 0x12abcdef))
			if err := m2.Decode(msg); err != nil || m2.XID != 0xabcdef {
				t.Fatalf("24-bit xid: %x, %v", m2.XID, err)
			}
		})
	}
}

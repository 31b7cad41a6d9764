package engine

// The warm-path fixture shared by alloc_test.go and bench_test.go: an
// engine where one client already holds its address and prefix, and the
// encoded message that client sends next.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// hotRelays is a realistic relay layer: link-address, Interface-Id and
// Remote-Id, all of which the engine reads or echoes.
var hotRelays = []tRelay{{
	link: mustAddr("2001:db8:2::1"), peer: mustAddr("fe80::1234:5678:9abc:def0"),
	ifaceID: []byte("ge-0/0/1.100"), remoteID: []byte{0, 0, 0, 9, 'c', 'p', 'e', '-', '4', '2'},
}}

// warmPath is one message type on one path, ready to be stepped in a loop.
type warmPath struct {
	e   *Engine
	pkt wire.Packet
	raw []byte
	in  Input
	now time.Time
}

// newWarmPath builds the fixture: client 1 holds IA_NA 1 and IA_PD 1, and
// raw is its next typ message (SOLICIT, REQUEST or RENEW) with the client's
// leases listed, an ORO and an Elapsed Time, relayed or direct.
func newWarmPath(tb testing.TB, typ wire.MsgType, relayed bool) *warmPath {
	tb.Helper()
	cfg := basicConfig()
	cfg.Options = append(cfg.Options, dnsOption("2001:db8::53"))
	tr := newTester(tb, cfg)
	var relays []tRelay
	if relayed {
		relays = hotRelays
	}
	tr.lease(1, true, true, relays...)
	m := tr.msgFor(typ, 1, true, true)
	m.relays = relays
	m.oro = []uint16{wire.OptDNSServers}
	m.xid = 0x123456
	w := &warmPath{e: tr.e, raw: m.appendTo(nil), now: tr.now}
	w.in = Input{Kind: InputClient, Pkt: &w.pkt, Multicast: true,
		To: Dest{Addr: netip.AddrPortFrom(mustAddr("fe80::c"), 546), IfIndex: 2}}
	if !relayed {
		w.in.Iface = "eth0"
	}
	// One warm-up round so every buffer has grown; check it is the warm
	// path (a reply, and events only where the message commits).
	w.round(tb)
	return w
}

// round is one decode → Step → Ready → Advance; the reply is encoded by
// Step into the engine's arena.
func (w *warmPath) round(tb testing.TB) {
	if err := w.pkt.Decode(w.raw); err != nil {
		tb.Fatal(err)
	}
	if err := w.e.Step(w.now, w.in); err != nil {
		tb.Fatal(err)
	}
	rd := w.e.Ready()
	if len(rd.Replies) != 1 || len(rd.Replies[0].Data) < 40 {
		tb.Fatalf("warm round: %d replies", len(rd.Replies))
	}
	w.e.Advance(rd)
}

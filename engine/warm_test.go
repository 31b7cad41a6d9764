package engine

// The warm-path fixture shared by alloc_test.go and bench_test.go: an
// engine where one client already holds its address and prefix, and the
// encoded message that client sends next.

import (
	"bytes"
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
	// first is a copy of the warm-up round's reply.
	first []byte
}

// newWarmPath builds the fixture: client 1 holds IA_NA 1 and IA_PD 1, and
// raw is its next typ message (SOLICIT, REQUEST or RENEW) with the client's
// leases listed, an ORO and an Elapsed Time, relayed or direct.
func newWarmPath(tb testing.TB, typ wire.MsgType, relayed bool) *warmPath {
	cfg := basicConfig()
	cfg.Options = append(cfg.Options, dnsOption("2001:db8::53"))
	return newWarmPathWith(tb, cfg, []uint16{wire.OptDNSServers}, typ, relayed)
}

// serviceConfig is basicConfig as an ISP runs it: 3 client classes (two
// that hotRelays' client belongs to when relayed), pools and pd-pools for
// them, and 8 options spread over every level; serviceORO asks for all
// of them.
func serviceConfig() Config {
	cfg := basicConfig()
	cfg.Options = Options{dnsOption("2001:db8::53"), domainOption("example.net"), u32Option(wire.OptSolMaxRT, 3600)}
	cfg.Classes = []Class{
		{Name: "cpe", Match: Match{RemoteID: []byte{0, 0, 0, 9, 'c', 'p', 'e'}},
			Options: Options{textOption(wire.OptAFTRName, "\x04aftr\x07example\x03net\x00")}},
		{Name: "modem", Match: Match{VendorClass: []byte{0, 0, 0x11, 0x8b}}},
		{Name: "metro", Match: Match{Link: mustPrefix("2001:db8::/32")}, Options: Options{u32Option(wire.OptInfMaxRT, 3600)}},
	}
	for i := range cfg.Subnets[:2] {
		s := &cfg.Subnets[i]
		s.Options = Options{Option{Code: wire.OptSNTPServers, Data: mustAddr("2001:db8::123").AsSlice()}}
		s.Pools = append(s.Pools, Pool{Start: s.Pools[0].End.Next(), End: s.Pools[0].End.Next().Next().Next(),
			Classes: []string{"modem"}})
		s.Pools[0].Options = Options{textOption(100, "pool")}
		s.PDPools[0].Options = Options{textOption(101, "pd-pool")}
		s.PDPools = append(s.PDPools, PDPool{Prefix: mustPrefix([]string{"2001:db8:1f0::/48", "2001:db8:2f0::/48"}[i]),
			DelegatedLen: 56, Classes: []string{"modem"}})
	}
	return cfg
}

var serviceORO = []uint16{wire.OptDNSServers, wire.OptDomainList, wire.OptSolMaxRT, wire.OptAFTRName,
	wire.OptInfMaxRT, wire.OptSNTPServers, 100, 101}

// newWarmPathWith is newWarmPath with a config and the ORO to send.
func newWarmPathWith(tb testing.TB, cfg Config, oro []uint16, typ wire.MsgType, relayed bool) *warmPath {
	tb.Helper()
	tr := newTester(tb, cfg)
	var relays []tRelay
	if relayed {
		relays = hotRelays
	}
	tr.lease(1, true, true, relays...)
	m := tr.msgFor(typ, 1, true, true)
	m.relays = relays
	m.oro = oro
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
	if w.first == nil {
		w.first = bytes.Clone(rd.Replies[0].Data)
	}
	w.e.Advance(rd)
}

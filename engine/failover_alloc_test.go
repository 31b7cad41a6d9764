//go:build !race

package engine

import (
	"net/netip"
	"testing"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// A primary in NORMAL serves its warm path (a client renewing, or
// soliciting again, with its address and prefix) with no allocation, like
// a standalone server: the failover gate, the MCLT cap and the failover
// times on the committed lease cost nothing on the heap.
func TestFailoverPrimaryWarmPathZeroAlloc(t *testing.T) {
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Request, wire.Renew} {
		t.Run(typ.String(), func(t *testing.T) {
			p, _ := newPair(t)
			p.lease(1, true, true, hotRelays...)
			m := p.msgFor(typ, 1, true, true)
			m.relays = hotRelays
			m.oro = []uint16{wire.OptDNSServers}
			w := &warmPath{e: p.e, raw: m.appendTo(nil), now: p.now}
			w.in = Input{Kind: InputClient, Pkt: &w.pkt, Multicast: true,
				To: Dest{Addr: netip.AddrPortFrom(mustAddr("fe80::c"), 546), IfIndex: 2}}
			w.round(t)
			if n := testing.AllocsPerRun(2000, func() { w.round(t) }); n != 0 {
				t.Fatalf("AllocsPerRun = %v, want 0", n)
			}
			if in, _ := p.e.Endpoint(0); in.State != StateNormal {
				t.Fatalf("state %v", in.State)
			}
			b, _ := p.e.Lookup(p.heldPD(1, 1)[0])
			if b.PartnerLifetime == 0 || b.Valid != capValid {
				t.Fatalf("not a failover lease: %+v", b)
			}
		})
	}
}

// The unacked sets cost the packet path nothing either: a primary's
// renewal files its records as unacked (a PartnerLifetime pending) and the
// partner's BNDREPLY takes them out again, round after round, with no
// allocation.
func TestFailoverUnackedCycleZeroAlloc(t *testing.T) {
	p, _ := newPair(t)
	p.lease(1, true, true, hotRelays...)
	m := p.msgFor(wire.Renew, 1, true, true)
	m.relays = hotRelays
	w := &warmPath{e: p.e, raw: m.appendTo(nil), now: p.now}
	w.in = Input{Kind: InputClient, Pkt: &w.pkt, Multicast: true,
		To: Dest{Addr: netip.AddrPortFrom(mustAddr("fe80::c"), 546), IfIndex: 2}}
	res := []netip.Prefix{netip.PrefixFrom(p.heldNA(1, 1)[0], 128), p.heldPD(1, 1)[0]}
	round := func() {
		w.round(t)
		for _, r := range res {
			b, ok := p.e.Lookup(r)
			if !ok || b.PartnerLifetime == 0 {
				t.Fatalf("%v: not unacked after the renewal: %+v", r, b)
			}
			if err := p.e.Step(w.now, Input{Kind: InputBndReply, Rel: 0, Prefix: r, Accepted: true,
				PartnerLifetimeSent: b.PartnerLifetime, BindingStatus: StatusActive}); err != nil {
				t.Fatal(err)
			}
		}
		p.e.Advance(p.e.Ready())
		n := 0
		p.e.ForEachUnacked(0, func(*Binding) bool { n++; return true })
		if n != 0 {
			t.Fatalf("%d records unacked after the BNDREPLYs", n)
		}
	}
	round()
	if n := testing.AllocsPerRun(2000, round); n != 0 {
		t.Fatalf("AllocsPerRun = %v, want 0", n)
	}
}

package engine

// Benchmarks of the engine's packet path. Compare runs with benchstat over
// -count=10:
//
//	go test -run='^$' -bench=. -benchmem -count=10 ./engine/ > new.txt

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// BenchmarkStep is one warm message through decode → Step → Ready →
// Advance, for a client that already holds its address and prefix; the
// +service variants run serviceConfig (3 classes, 8 options asked for).
func BenchmarkStep(b *testing.B) {
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Request, wire.Renew} {
		for _, variant := range []string{"direct", "relayed", "relayed+service"} {
			relayed := variant != "direct"
			b.Run(map[wire.MsgType]string{wire.Solicit: "solicit", wire.Request: "request", wire.Renew: "renew"}[typ]+"/"+variant, func(b *testing.B) {
				w := newWarmPath(b, typ, relayed)
				if variant == "relayed+service" {
					w = newWarmPathWith(b, serviceConfig(), serviceORO, typ, relayed)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(w.raw)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					w.round(b)
				}
			})
		}
	}
}

// BenchmarkExchange is a whole four-message exchange for a new client each
// iteration, client side included: SOLICIT encoded and stepped, ADVERTISE
// decoded, REQUEST built from it and stepped, REPLY decoded and checked.
// New leases allocate (a record, the DUID string, map growth); the engine
// is replaced every 2^17 clients so the state stays a realistic size. The
// +service variants run serviceConfig (3 classes, class pools, 8 options
// over every level, all asked for): the cost of an ISP's config.
func BenchmarkExchange(b *testing.B) {
	for _, variant := range []string{"direct", "relayed", "direct+service", "relayed+service"} {
		relayed := strings.HasPrefix(variant, "relayed")
		service := strings.HasSuffix(variant, "+service")
		b.Run(variant, func(b *testing.B) {
			cfg, oro := basicConfig(), []uint16{wire.OptDNSServers}
			if service {
				cfg, oro = serviceConfig(), serviceORO
			}
			cfg.Subnets[1].Pools[0] = Pool{Start: mustAddr("2001:db8:2::"), End: mustAddr("2001:db8:2::ffff:ffff:ffff:ffff"), Options: cfg.Subnets[1].Pools[0].Options}
			cfg.Subnets[0].Pools[0] = Pool{Start: mustAddr("2001:db8:1::"), End: mustAddr("2001:db8:1::ffff:ffff:ffff:ffff"), Options: cfg.Subnets[0].Pools[0].Options}
			newEngine := func() *Engine {
				e, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				return e
			}
			e := newEngine()
			var (
				req, reply wire.Packet
				buf        []byte
				duid       = clientDUID(0)
				in         = Input{Kind: InputClient, Pkt: &req, Multicast: true}
				m          = tMsg{typ: wire.Solicit, client: duid, na: []tIA{{iaid: 1}}, oro: oro}
				addrs      = make([]netip.Addr, 1)
			)
			if relayed {
				m.relays = hotRelays
			} else {
				in.Iface = "eth0"
			}
			step := func() *wire.Packet {
				buf = m.appendTo(buf[:0])
				if err := req.Decode(buf); err != nil {
					b.Fatal(err)
				}
				if err := e.Step(t0, in); err != nil {
					b.Fatal(err)
				}
				rd := e.Ready()
				if len(rd.Replies) != 1 {
					b.Fatalf("%d replies", len(rd.Replies))
				}
				if err := reply.Decode(rd.Replies[0].Data); err != nil {
					b.Fatal(err)
				}
				e.Advance(rd)
				return &reply
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i&(1<<17-1) == 0 && i > 0 {
					b.StopTimer()
					e = newEngine()
					b.StartTimer()
				}
				n := i + 1
				duid[7], duid[8], duid[9] = byte(n>>16), byte(n>>8), byte(n)
				duid[6] = byte(n >> 24)
				m.typ, m.server, m.xid = wire.Solicit, nil, uint32(n)
				m.na[0].addrs = m.na[0].addrs[:0]
				adv := step()
				if adv.Msg.Type != wire.Advertise || adv.Msg.IANA[0].NumAddrs != 1 {
					b.Fatalf("no offer: %v", adv.Msg.Type)
				}
				addrs[0] = adv.Msg.IANA[0].Addrs[0].Addr
				m.typ, m.server, m.na[0].addrs = wire.Request, testServerDUID, addrs
				rep := step()
				if rep.Msg.Type != wire.Reply || rep.Msg.IANA[0].NumAddrs != 1 || rep.Msg.IANA[0].Addrs[0].Addr != addrs[0] {
					b.Fatalf("REPLY does not confirm the offer")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/exchange")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
		})
	}
}

package engine

import (
	"encoding/binary"
	"flag"
	"net/netip"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

var memLeases = flag.Int("mem.leases", 1_000_000, "active leases BenchmarkLeaseMemory installs")

// BenchmarkLeaseMemory measures the engine's heap per active lease (issue 4:
// ≤ 256 B at 1,000,000): -mem.leases records, half addresses and half
// prefixes, each with a 14-byte DUID-LLT, a relay link-address and an
// 8-byte remote-id, as a relayed ISP client has them, installed with Apply
// (as journal replay does). The figure is the live heap after a GC, minus
// the empty engine's, divided by the lease count; it includes the maps,
// the client index and the expiry heap.
//
//	go test ./engine -run '^$' -bench LeaseMemory -benchtime 1x [-mem.leases 10000000]
func BenchmarkLeaseMemory(b *testing.B) {
	n := *memLeases
	cfg := Config{
		ServerDUID: testServerDUID, Valid: time.Hour, Preferred: 30 * time.Minute,
		Subnets: []SubnetConfig{{
			Prefix: mustPrefix("2001:db8:1::/64"),
			Pools:  []Pool{{Start: mustAddr("2001:db8:1::1:0"), End: mustAddr("2001:db8:1::ffff:ffff")}},
			// 2^26 /56s: room for 10M prefixes.
			PDPools: []PDPool{{Prefix: mustPrefix("2001:db8::/30"), DelegatedLen: 56}},
		}},
	}
	for range b.N {
		var e *Engine
		before := liveHeap()
		e, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		now := int64(1_800_000_000)
		link := mustAddr("2001:db8:ffff::1")
		for i := range n {
			duid := make([]byte, 14)
			binary.BigEndian.PutUint16(duid, 1) // DUID-LLT
			binary.BigEndian.PutUint64(duid[6:], uint64(i))
			rid := make([]byte, 8)
			binary.BigEndian.PutUint64(rid, uint64(i))
			bd := Binding{DUID: string(duid), IAID: 1, Status: StatusActive, StartOfState: now, CLTT: now,
				Preferred: 1800, Valid: 3600, Expires: now + 3600, Link: link, RemoteID: string(rid)}
			if i%2 == 0 {
				bd.Kind = KindNA
				bd.Prefix = netip.PrefixFrom(addrFrom64(hi64(mustAddr("2001:db8:1::")), 0x10000+uint64(i)), 128)
			} else {
				bd.Kind = KindPD
				bd.Prefix = netip.PrefixFrom(addrFrom64(0x20010db800000000|uint64(i)<<8, 0), 56)
			}
			e.Apply(Event{Kind: EventLease, Time: now, Binding: bd})
		}
		if e.Len() != n {
			b.Fatalf("%d records, want %d", e.Len(), n)
		}
		after := liveHeap()
		runtime.KeepAlive(e)
		b.ReportMetric(float64(after-before)/float64(n), "B/lease")
		b.ReportMetric(float64(n), "leases")
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

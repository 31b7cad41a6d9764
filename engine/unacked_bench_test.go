package engine

import (
	"encoding/binary"
	"flag"
	"net/netip"
	"testing"
	"time"
)

var (
	walkLeases  = flag.Int("walk.leases", 1_000_000, "records BenchmarkForEachUnacked installs")
	walkUnacked = flag.Int("walk.unacked", 1_000, "of those, records with a PartnerLifetime pending")
)

// BenchmarkForEachUnacked measures the resend walk (ForEachUnacked) of a
// failover primary holding -walk.leases records (Apply, as replay
// installs them; half addresses, half /56s) of which -walk.unacked are
// unacked, spread over the table.
//
//	go test ./engine -run '^$' -bench ForEachUnacked -benchtime 100x -walk.leases 10000000 -walk.unacked 1000
func BenchmarkForEachUnacked(b *testing.B) {
	n, u := *walkLeases, *walkUnacked
	cfg := Config{
		ServerDUID: testServerDUID, Valid: time.Hour, Preferred: 30 * time.Minute,
		Subnets: []SubnetConfig{{
			Prefix: mustPrefix("2001:db8:1::/64"), Relationship: "pair",
			Pools:   []Pool{{Start: mustAddr("2001:db8:1::1:0"), End: mustAddr("2001:db8:1::ffff:ffff")}},
			PDPools: []PDPool{{Prefix: mustPrefix("2001:db8::/30"), DelegatedLen: 56}},
		}},
		Relationships: []RelationshipConfig{{Name: "pair", Primary: true}},
	}
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := int64(1_800_000_000)
	link := mustAddr("2001:db8:ffff::1")
	for i := range n {
		duid := make([]byte, 14)
		binary.BigEndian.PutUint16(duid, 1)
		binary.BigEndian.PutUint64(duid[6:], uint64(i))
		bd := Binding{DUID: string(duid), IAID: 1, Status: StatusActive, StartOfState: now, CLTT: now,
			Preferred: 1800, Valid: 3600, Expires: now + 3600, Link: link,
			FOTimes: FOTimes{AckedPartnerLifetime: now + 5400}}
		if u > 0 && i%(n/u) == 0 && i/(n/u) < u {
			bd.PartnerLifetime = now + 5400
		}
		if i%2 == 0 {
			bd.Kind = KindNA
			bd.Prefix = netip.PrefixFrom(addrFrom64(hi64(mustAddr("2001:db8:1::")), 0x10000+uint64(i)), 128)
		} else {
			bd.Kind = KindPD
			bd.Prefix = netip.PrefixFrom(addrFrom64(0x20010db800000000|uint64(i)<<8, 0), 56)
		}
		e.Apply(Event{Kind: EventLease, Time: now, Binding: bd})
	}
	b.ResetTimer()
	got := 0
	for range b.N {
		got = 0
		e.ForEachUnacked(0, func(*Binding) bool { got++; return true })
	}
	b.StopTimer()
	if got != u || e.Len() != n {
		b.Fatalf("walked %d of %d records, want %d", got, e.Len(), u)
	}
	b.ReportMetric(float64(n), "leases")
}

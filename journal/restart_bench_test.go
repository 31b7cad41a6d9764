package journal

import (
	"encoding/binary"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/replicate"
)

var (
	restartLeases  = flag.Int("restart.leases", 100_000, "records BenchmarkRestart's journal holds")
	restartUnacked = flag.Int("restart.unacked", 1_000, "of those, records the partner has not acked")
	restartDir     = flag.String("restart.dir", "", "keep BenchmarkRestart's journal here and reuse it when it exists (building 10 M records takes minutes)")
)

// restartConfig is a failover primary's engine config: one subnet in
// relationship "pair", addresses from 2001:db8:1::/64 and /56 prefixes
// from 2001:db8::/30 (room for 2^26).
func restartConfig() engine.Config {
	return engine.Config{
		ServerDUID: []byte{0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 2, 0, 0, 0, 0, 1},
		Valid:      time.Hour, Preferred: 30 * time.Minute,
		Subnets: []engine.SubnetConfig{{
			Prefix:       netip.MustParsePrefix("2001:db8:1::/64"),
			Relationship: "pair",
			Pools: []engine.Pool{{
				Start: netip.MustParseAddr("2001:db8:1::1:0"),
				End:   netip.MustParseAddr("2001:db8:1::ffff:ffff"),
			}},
			PDPools: []engine.PDPool{{Prefix: netip.MustParsePrefix("2001:db8::/30"), DelegatedLen: 56}},
		}},
		Relationships: []engine.RelationshipConfig{{Name: "pair", Primary: true, MCLT: time.Hour}},
	}
}

// restartBinding is record i of BenchmarkRestart's state: ACTIVE, acked by
// the partner (AckedPartnerLifetime set, nothing pending), half addresses,
// half /56s, with a 14-byte DUID, a relay link-address and a remote-id.
func restartBinding(i int, now int64) engine.Binding {
	duid := make([]byte, 14)
	binary.BigEndian.PutUint16(duid, 1)
	binary.BigEndian.PutUint64(duid[6:], uint64(i))
	rid := make([]byte, 8)
	binary.BigEndian.PutUint64(rid, uint64(i))
	b := engine.Binding{DUID: string(duid), IAID: 1, Status: engine.StatusActive, StartOfState: now, CLTT: now,
		Preferred: 1800, Valid: 3600, Expires: now + 3600, Link: netip.MustParseAddr("2001:db8:ffff::1"),
		RemoteID: string(rid), FOTimes: engine.FOTimes{AckedPartnerLifetime: now + 5400, StateExpiration: now + 3600}}
	if i%2 == 0 {
		a := netip.MustParseAddr("2001:db8:1::").As16()
		binary.BigEndian.PutUint64(a[8:], 0x10000+uint64(i))
		b.Kind, b.Prefix = engine.KindNA, netip.PrefixFrom(netip.AddrFrom16(a), 128)
	} else {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], 0x20010db800000000|uint64(i)<<8)
		b.Kind, b.Prefix = engine.KindPD, netip.PrefixFrom(netip.AddrFrom16(a), 56)
	}
	return b
}

// buildRestartJournal writes the journal a restart reads: a snapshot of n
// acked records (after seq 1), then a tail of u events, each making one of
// them unacked again (a renewal whose BNDUPD the partner never acked, a
// PartnerLifetime pending), spread over the table.
func buildRestartJournal(b *testing.B, dir string, n, u int) {
	t0 := time.Now()
	j := openT(b, Options{Dir: dir, Logger: zap.NewNop(), SnapshotEvery: 1 << 40})
	e, err := engine.New(restartConfig())
	if err != nil {
		b.Fatal(err)
	}
	now := int64(1_800_000_000)
	for i := range n {
		e.Apply(engine.Event{Kind: engine.EventLease, Time: now, Binding: restartBinding(i, now)})
	}
	first := engine.Event{Kind: engine.EventLease, Time: now, Binding: restartBinding(0, now)}
	e.Apply(first)
	seq, err := j.Append([]engine.Event{first})
	if err != nil {
		b.Fatal(err)
	}
	if err := j.Snapshot(e, seq); err != nil {
		b.Fatal(err)
	}
	tail := make([]engine.Event, 0, u)
	for k := range u {
		bd := restartBinding(k*(n/u), now)
		bd.CLTT, bd.Expires, bd.PartnerLifetime = now+60, now+60+3600, now+60+5400
		tail = append(tail, engine.Event{Kind: engine.EventLease, Time: now + 60, Why: engine.CauseRenew, Binding: bd})
	}
	if _, err := j.Append(tail); err != nil {
		b.Fatal(err)
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s: %d records, %d unacked, in %v", dir, n, u, time.Since(t0).Round(time.Second))
}

// BenchmarkRestart measures what a failover server's restart costs with
// -restart.leases records of which -restart.unacked are unacked: the
// journal's open, the restore (the newest snapshot, then the events after
// it) into a fresh engine, the first Step (the endpoints boot, a tick),
// and the resend walk: ForEachUnacked offering each unacked record to a fresh
// replicate.Outbox, as the serving loop does on entering NORMAL
// (ActResendUnacked) or answering an UPDREQ. It reports each part's wall
// time (on a shared machine the CPU figures are the steadier ones), and
// the walk is also measured alone, averaged over 100 walks.
//
//	go test ./journal -run '^$' -bench Restart -benchtime 1x -timeout 1h \
//	    -restart.leases 10000000 -restart.unacked 1000 -restart.dir /var/tmp/restart10m
func BenchmarkRestart(b *testing.B) {
	n, u := *restartLeases, *restartUnacked
	dir := *restartDir
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "journal")
	}
	if _, err := os.Stat(dir); err != nil {
		buildRestartJournal(b, dir, n, u)
	}
	runtime.GC()
	for range b.N {
		t0, c0 := time.Now(), cpuTime()
		j := openT(b, Options{Dir: dir, Logger: zap.NewNop()})
		t1 := time.Now()
		e, err := engine.New(restartConfig())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := j.Restore(e); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := e.Step(time.Unix(1_800_000_120, 0), engine.Input{Kind: engine.InputTick}); err != nil {
			b.Fatal(err)
		}
		e.Advance(e.Ready())
		t3 := time.Now()
		out := replicate.NewOutbox(512, 0)
		seq, got := j.LastSeq(), 0
		e.ForEachUnacked(0, func(bd *engine.Binding) bool {
			if replicate.Encodable(bd) {
				out.Offer(seq, replicate.KeyOf(bd), 0)
			}
			got++
			return true
		})
		t4, c4 := time.Now(), cpuTime()
		if e.Len() != n || got != u || out.Pending() != u {
			b.Fatalf("%d records, %d unacked walked, %d pending; want %d, %d", e.Len(), got, out.Pending(), n, u)
		}
		// The walk alone, repeated.
		const walks = 100
		w0, wc0 := time.Now(), cpuTime()
		for range walks {
			e.ForEachUnacked(0, func(*engine.Binding) bool { got++; return true })
		}
		walk, walkCPU := time.Since(w0)/walks, (cpuTime()-wc0)/walks
		_ = j.Close()
		b.ReportMetric(t4.Sub(t0).Seconds(), "s/restart")
		b.ReportMetric(float64(c4-c0)/1e9, "cpu-s/restart")
		b.ReportMetric(t1.Sub(t0).Seconds(), "s/open")
		b.ReportMetric(t2.Sub(t1).Seconds(), "s/restore")
		b.ReportMetric(t3.Sub(t2).Seconds(), "s/boot")
		b.ReportMetric(float64(t4.Sub(t3).Microseconds()), "µs/resend")
		b.ReportMetric(float64(walk.Nanoseconds())/1e3, "µs/walk")
		b.ReportMetric(float64(walkCPU)/1e3, "cpu-µs/walk")
		runtime.KeepAlive(e)
		e = nil
		runtime.GC()
	}
}

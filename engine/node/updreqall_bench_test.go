package node

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/engine"
)

var updAllLeases = flag.Int("updreqall.leases", 100_000, "leases BenchmarkUpdReqAll has the primary hold")

const updAllConfig = `
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: "127.0.0.1:0"
lifetimes: {preferred: 30m, valid: 1h}
subnets:
  - prefix: 2001:db8:1::/64
    relationship: pair-a
    pools: ["2001:db8:1::1:0-2001:db8:1::ff:ffff"]
relationships:
  - name: pair-a
    role: ROLE
    PEERKEY: "[::1]:PORT"
    mclt: 30s
    keepalive: 5s
`

// BenchmarkUpdReqAll measures a full resynchronisation over loopback TCP
// (issue 4: 1,000,000 leases in ≤ 10 s): the primary, which has lost its
// secondary, holds -updreqall.leases active leases; a new secondary with
// an empty data dir starts in RECOVER, asks UPDREQALL, and the figure is the time from its
// start to RECOVER-WAIT, which it enters once the primary's UPDDONE says
// every BNDUPD was acked — so it includes encoding, the partner link, the
// secondary's decoding, engine and journal (fsync'd batches), and the
// BNDREPLYs.
//
// The leases are installed in the primary's engine directly (not through
// its journal or its clients): the benchmark is about the transfer.
//
//	go test ./engine/node -run '^$' -bench UpdReqAll -benchtime 1x -updreqall.leases 1000000
func BenchmarkUpdReqAll(b *testing.B) {
	n := *updAllLeases
	for range b.N {
		port := freePort(b)
		yaml := func(role, key string) string {
			return strings.NewReplacer("DATADIR", b.TempDir(), "ROLE", role, "PEERKEY", key, "PORT", fmt.Sprint(port)).Replace(updAllConfig)
		}
		// A pair in NORMAL first, so that the primary has a stored state;
		// then its secondary is lost (stopped, data gone).
		pri := startYAML(b, "primary", yaml("primary", "peer"))
		old := startYAML(b, "secondary", yaml("secondary", "listen"))
		waitState(b, pri, "normal", 10*time.Second)
		old.Stop()
		waitState(b, pri, "communications-interrupted", 10*time.Second)
		now := time.Now().Unix()
		pri.Do(func(e *engine.Engine) {
			for i := range n {
				duid := make([]byte, 14)
				binary.BigEndian.PutUint16(duid, 1)
				binary.BigEndian.PutUint64(duid[6:], uint64(i))
				a := netip.MustParseAddr("2001:db8:1::1:0").As16()
				binary.BigEndian.PutUint32(a[12:], 0x10000+uint32(i))
				e.Apply(engine.Event{Kind: engine.EventLease, Time: now, Binding: engine.Binding{
					Kind: engine.KindNA, Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 128), DUID: string(duid), IAID: 1,
					Status: engine.StatusActive, StartOfState: now, CLTT: now, Preferred: 1800, Valid: 3600, Expires: now + 3600,
					FOTimes: engine.FOTimes{PartnerLifetime: now + 5400, StateExpiration: now + 3600}}})
			}
		})
		b.ResetTimer()
		sec := startYAML(b, "secondary", yaml("secondary", "listen"))
		// From the connection (RECOVER entered with the partner known:
		// the primary's reconnect backoff is not the transfer) to
		// RECOVER-WAIT, polled every millisecond.
		t0 := pollState(b, sec, "recover", time.Minute)
		t1 := pollState(b, sec, "recover-wait", 10*time.Minute)
		el := t1.Sub(t0)
		b.StopTimer()
		got := 0
		sec.Do(func(e *engine.Engine) { got = e.Len() })
		if got != n {
			b.Fatalf("secondary holds %d records, want %d", got, n)
		}
		b.ReportMetric(el.Seconds(), "s/resync")
		b.ReportMetric(float64(n)/el.Seconds(), "leases/s")
		sec.Stop()
		pri.Stop()
	}
}

// pollState waits, polling every millisecond, until n's only relationship
// is in state want with communications OK, and returns when it saw it.
func pollState(b *testing.B, n *Node, want string, within time.Duration) time.Time {
	b.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		st := n.Status()
		if len(st.Relationships) == 1 && st.Relationships[0].State == want && st.Relationships[0].CommOK {
			return time.Now()
		}
	}
	b.Fatalf("not in %s with communications OK after %v", want, within)
	return time.Time{}
}

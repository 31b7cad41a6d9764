package main

// Hostile client input against a real `tandem serve` (end to end, root):
// malformed and abusive datagrams sent from the client namespace at a fixed
// rate while `tandem bench` serves legitimate relayed clients beside them.
// Each row checks that the server dropped the input and counted it under
// the right reason, kept running, and kept serving the legitimate clients
// within a stated bound of the unattacked baseline.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Rates and bounds of TestHostileClients.
const (
	// legitRate is the legitimate load (exchanges/s, relayed SOLICIT +
	// REQUEST with an address and a prefix each) and hostileRate the
	// datagrams/s of each abusive row; floodRate is the SOLICIT flood's.
	legitRate, hostileRate, floodRate = 400, 2000, 5000
	rowTime                           = 2 * time.Second
	// minRateShare: under attack the legitimate clients keep at least this
	// share of the baseline's exchanges/s; maxExtraDrop: their drop ratio
	// grows by at most this much. Generous for a shared 2-core machine:
	// the attack costs the server CPU, it must not cost the clients.
	minRateShare = 0.85
	maxExtraDrop = 0.02
	// maxFloodRSS is how much the server's RSS may grow over the flood.
	maxFloodRSS = 32 << 20
)

// hostileRow is one kind of abusive input: gen makes datagram i, counter is
// the /v1/status packets key that must count each one.
type hostileRow struct {
	name    string
	counter string
	rate    int
	gen     func(i int) []byte
}

var hostileXID = [3]byte{0xba, 0xd0, 0x01}

// hostileMsg is a client message: type, the xid, then options.
func hostileMsg(t wire.MsgType, opts ...[]byte) []byte {
	b := wire.AppendHeader(nil, t, hostileXID)
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

func hostileOpt(code uint16, data []byte) []byte { return wire.AppendOption(nil, code, data) }

// hostileDUID is a DUID-LL (type 3, hardware type 1) of a made-up MAC
// 02:0b:ad:xx:xx:xx numbered i.
func hostileDUID(i int) []byte {
	return []byte{0, 3, 0, 1, 0x02, 0x0b, 0xad, byte(i >> 16), byte(i >> 8), byte(i)}
}

// hostileRelay wraps b in one RELAY-FORW from the client namespace's link,
// as a relay agent there would.
func hostileRelay(t wire.MsgType, b []byte) []byte {
	r := wire.AppendRelayHeader(nil, t, 0, netip.MustParseAddr(cliAddr), netip.MustParseAddr("fe80::bad"))
	return append(r, hostileOpt(wire.OptRelayMsg, b)...)
}

func hostileRows() []hostileRow {
	cid := hostileOpt(wire.OptClientID, hostileDUID(1))
	iana := func() []byte {
		b, s := wire.BeginIA(nil, wire.OptIANA, 1, 0, 0)
		return wire.EndOption(b, s)
	}()
	solicit := hostileMsg(wire.Solicit, cid, iana)
	deep := solicit
	for i := 0; i <= wire.MaxRelayHops; i++ {
		deep = hostileRelay(wire.RelayForw, deep)
	}
	overlong := append(append([]byte(nil), solicit...), 0, 6, 0x04, 0x00, 0, 1) // ORO claiming 1024 bytes
	fixed := func(b []byte) func(int) []byte { return func(int) []byte { return b } }
	return []hostileRow{
		{"truncated header", "malformed", hostileRate, fixed(solicit[:3])},
		{"truncated in an option", "malformed", hostileRate, fixed(solicit[:len(solicit)-5])},
		{"option length beyond the packet", "malformed", hostileRate, fixed(overlong)},
		{fmt.Sprintf("relay depth %d", wire.MaxRelayHops+1), "malformed", hostileRate, fixed(deep)},
		{"ADVERTISE to the server", "dropped_bad_type", hostileRate, fixed(hostileMsg(wire.Advertise, cid, iana))},
		{"REPLY to the server", "dropped_bad_type", hostileRate, fixed(hostileRelay(wire.RelayForw, hostileMsg(wire.Reply, cid)))},
		{"RECONFIGURE to the server", "dropped_bad_type", hostileRate, fixed(hostileMsg(wire.Reconfigure, cid))},
		{"RELAY-REPL to the server", "dropped_bad_type", hostileRate, fixed(hostileRelay(wire.RelayRepl, solicit))},
		{"LEASEQUERY (RFC 5007)", "malformed", hostileRate, fixed(hostileMsg(14, cid))},
		{"failover BNDUPD on 547", "malformed", hostileRate, fixed(hostileMsg(wire.BndUpd, cid))},
		{"CLIENTID of 200 bytes", "malformed", hostileRate, fixed(hostileMsg(wire.Solicit, hostileOpt(wire.OptClientID, append([]byte{0, 2, 0, 0, 0, 9}, make([]byte, 194)...)), iana))},
		{"CLIENTID of 0 bytes", "malformed", hostileRate, fixed(hostileMsg(wire.Solicit, hostileOpt(wire.OptClientID, nil), iana))},
		{"SOLICIT without CLIENTID", "dropped_no_client_id", hostileRate, fixed(hostileMsg(wire.Solicit, iana))},
		{"SOLICIT flood, unique DUIDs", "received", floodRate, func(i int) []byte {
			return hostileRelay(wire.RelayForw, hostileMsg(wire.Solicit, hostileOpt(wire.OptClientID, hostileDUID(i)), iana))
		}},
	}
}

// hostileSender sends gen(0), gen(1), ... from the client namespace to the
// server's unicast address at rate datagrams/s until stop is closed.
func hostileSender(t *testing.T, tp *topo, rate int, gen func(int) []byte, stop <-chan struct{}) (sent func() int) {
	t.Helper()
	var c *net.UDPConn
	err := inNetns(tp.cli, func() (err error) {
		c, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP(cliAddr)})
		return err
	})
	if err != nil {
		t.Fatalf("hostile socket in %s: %v", tp.cli, err)
	}
	dst := &net.UDPAddr{IP: net.ParseIP(srvAddr), Port: 547}
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		t0 := time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Catch up to rate × elapsed: a late tick sends more.
			want := int(time.Since(t0).Seconds() * float64(rate))
			mu.Lock()
			for ; n < want; n++ {
				if _, err := c.WriteToUDP(gen(n), dst); err != nil {
					t.Errorf("hostile send: %v", err)
					mu.Unlock()
					return
				}
			}
			mu.Unlock()
		}
	}()
	return func() int {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// legitBench runs the legitimate clients: relayed SOLICIT/REQUEST for an
// address and a prefix, from the client namespace, at legitRate.
func legitBench(t *testing.T, tp *topo) bench.Result {
	return benchIn(t, tp, "--server", "["+srvAddr+"]:547", "--link", cliAddr, "--sockets", "2",
		"--rate", strconv.Itoa(legitRate), "--duration", rowTime.String(), "--clients", "20000")
}

// serverRSS is the server process's resident set (VmRSS) in bytes.
func serverRSS(t *testing.T, s *tandemServer) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// packets is the server's /v1/status packet counters.
func packets(t *testing.T, s *tandemServer) map[string]uint64 {
	t.Helper()
	var st struct {
		Packets map[string]uint64 `json:"packets"`
	}
	s.getJSON(t, "/v1/status", &st)
	return st.Packets
}

// leaseRecords reads the tandem_lease_records gauge.
func leaseRecords(t *testing.T, s *tandemServer) int {
	t.Helper()
	b, code, err := s.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "tandem_lease_records "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("tandem_lease_records %q", v)
			}
			return int(n)
		}
	}
	t.Fatal("/metrics has no tandem_lease_records")
	return 0
}

func TestHostileClients(t *testing.T) {
	requireE2E(t)
	tp := newTopo(t)
	s := startTandem(t, tp, defaultLifetimes)

	// The baseline: the same legitimate load, unattacked. A first run
	// warms the server (and gives the bench's first clients their leases).
	legitBench(t, tp)
	base := legitBench(t, tp)
	if base.DropRatio > 0.01 || base.ExchangesPerS < 0.9*legitRate {
		t.Fatalf("baseline not clean: %.0f exchanges/s, drop ratio %.4f", base.ExchangesPerS, base.DropRatio)
	}
	t.Logf("baseline: %.0f exchanges/s, drop ratio %.4f, p99 %.2f ms", base.ExchangesPerS, base.DropRatio, base.P99ms)

	var report []string
	for _, row := range hostileRows() {
		before := packets(t, s)
		records0, rss0 := leaseRecords(t, s), serverRSS(t, s)
		stop := make(chan struct{})
		sent := hostileSender(t, tp, row.rate, row.gen, stop)
		r := legitBench(t, tp)
		close(stop)
		n := sent()
		time.Sleep(200 * time.Millisecond) // the last datagrams reach the counters
		if s.p.exited() {
			t.Fatalf("%s: tandem serve exited: %v\n%s", row.name, s.p.err, tail(s.p.log(), 30))
		}
		after := packets(t, s)
		moved := after[row.counter] - before[row.counter]
		if row.counter == "received" {
			// The flood is valid SOLICITs: each is received and answered;
			// the bench's own datagrams count too.
			moved -= r.TxPackets
		}
		line := fmt.Sprintf("%-34s %6d sent (%d/s) %-22s +%-6d legit %4.0f exch/s drop %.4f p99 %6.2f ms",
			row.name, n, row.rate, row.counter, moved, r.ExchangesPerS, r.DropRatio, r.P99ms)
		report = append(report, line)
		t.Log(line)
		if int(moved) < n*9/10 {
			t.Errorf("%s: %s moved by %d for %d datagrams sent", row.name, row.counter, moved, n)
		}
		if r.ExchangesPerS < minRateShare*base.ExchangesPerS || r.DropRatio > base.DropRatio+maxExtraDrop {
			t.Errorf("%s: legitimate clients got %.0f exchanges/s (drop ratio %.4f); baseline %.0f (%.4f); bound %.0f%% of the rate, +%.0f%% drops",
				row.name, r.ExchangesPerS, r.DropRatio, base.ExchangesPerS, base.DropRatio, 100*minRateShare, 100*maxExtraDrop)
		}
		if row.counter != "received" {
			continue
		}
		// The flood: an ADVERTISE stores nothing (engine/alloc.go: the
		// REQUEST recomputes the offer), so no record of a flooding DUID
		// exists and the records grew only by the legitimate clients' two
		// leases each; memory stays put.
		records1, rss1 := leaseRecords(t, s), serverRSS(t, s)
		t.Logf("flood: lease records %d → %d (legit completed %d), RSS %.1f → %.1f MiB",
			records0, records1, r.Completed, float64(rss0)/(1<<20), float64(rss1)/(1<<20))
		report = append(report, fmt.Sprintf("  flood: lease records %d → %d (legit completed %d exchanges), RSS %.1f → %.1f MiB",
			records0, records1, r.Completed, float64(rss0)/(1<<20), float64(rss1)/(1<<20)))
		if grew := records1 - records0; grew > 2*int(r.Completed) {
			t.Errorf("flood: %d lease records more, the legitimate clients account for at most %d", grew, 2*r.Completed)
		}
		// The query works (a legitimate client's DUID finds its leases)
		// and finds nothing for flooding DUIDs.
		if all := s.leases(t, ""); len(all) == 0 || len(s.leases(t, "?duid="+all[0].DUID)) == 0 {
			t.Errorf("GET /v1/leases?duid= finds nothing for a client that has leases")
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if ls := s.leases(t, "?duid="+formatDUID(hostileDUID(i))); len(ls) != 0 {
				t.Errorf("flood DUID %d has records: %+v", i, ls)
			}
		}
		if rss1-rss0 > maxFloodRSS {
			t.Errorf("flood: RSS grew by %.1f MiB (bound %d MiB)", float64(rss1-rss0)/(1<<20), maxFloodRSS>>20)
		}
	}
	t.Logf("hostile inputs (legit load %d exchanges/s relayed; baseline %.0f exch/s, drop %.4f):\n%s",
		legitRate, base.ExchangesPerS, base.DropRatio, strings.Join(report, "\n"))
}

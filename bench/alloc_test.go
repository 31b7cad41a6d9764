//go:build linux && !race

package bench

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Built without -race only: the race detector's instrumentation allocates.

// mallocs runs f three times and returns the fewest heap allocations one
// run made: the runtime allocates now and then on its own (a new OS thread
// after a long syscall, background work), once per process, not per call;
// an allocation per packet shows in every window.
func mallocs(f func()) uint64 {
	best := ^uint64(0)
	for range 3 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		f()
		runtime.ReadMemStats(&b)
		best = min(best, b.Mallocs-a.Mallocs)
	}
	return best
}

// TestGeneratorZeroAlloc runs the generator's send and receive loops — the
// pacer, every receiver, RENEWs and RELEASEs included — against the
// in-process responder (itself allocation-free) and counts the process's
// heap allocations over whole stages: a short one and one four times as
// long. A per-packet allocation would show as thousands more in the long
// one; what both show is the runtime's own (a few per window: sudogs for
// the socket mutex, whose cache every GC empties, and an occasional new OS
// thread).
func TestGeneratorZeroAlloc(t *testing.T) {
	resp := startResponder(t, 2)
	c := DefaultConfig()
	c.Server = resp.addr()
	c.Clients, c.Sockets = 4000, 4
	c.Mix = Mix{Solicit: 70, Renew: 25, Release: 5}
	const rate = 20000.0
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	g, err := newGen(c, rate)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	g.stage(rate, 100*time.Millisecond) // warm: every goroutine has parked and slept once
	// A window is a stage alone: collect allocates (the Result) and runs
	// after it, reading the counters of the window's last stage.
	short := mallocs(func() { g.stage(rate, 100*time.Millisecond) })
	rs := g.collect(rate)
	long := mallocs(func() { g.stage(rate, 400*time.Millisecond) })
	r := g.collect(rate)
	packets := r.TxPackets + r.RxPackets
	if r.Completed < r.Started*9/10 || r.Exchanges.Renew.Completed == 0 || r.Exchanges.Release.Completed == 0 {
		t.Fatalf("the stage did not run the mix: %+v", r)
	}
	t.Logf("%d allocations over a stage of %d packets, %d over one of %d (%d exchanges: %d solicit, %d renew, %d release)",
		short, rs.TxPackets+rs.RxPackets, long, packets, r.Completed,
		r.Exchanges.Solicit.Completed, r.Exchanges.Renew.Completed, r.Exchanges.Release.Completed)
	if long > short+4 || long*1000 > packets {
		t.Errorf("%d allocations in a stage of %d packets, %d in one of a quarter of that: allocation per packet",
			long, packets, short)
	}
}

// TestSweepZeroAlloc: a Session sweep — REBINDs for a list of clients,
// each sent to two servers (Config.Also) — allocates nothing per packet
// either: a sweep of 4000 clients makes no more allocations than one of
// 1000.
func TestSweepZeroAlloc(t *testing.T) {
	a, b := startResponder(t, 1), startResponder(t, 1)
	c := responderConfig(a)
	c.Also = []netip.AddrPort{b.addr()}
	c.Clients, c.Sockets = 4000, 2
	s, err := Open(c, 20000)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, _ := s.Stage(20000, 200*time.Millisecond, Mix{Solicit: 1}); r.Completed != 4000 {
		t.Fatalf("binding stage: %+v", r)
	}
	all := Clients(s.Bindings())
	s.g.sweep, s.g.sweepKind = all[:1000], Rebind
	s.g.stageN(20000, 1000) // warm
	short := mallocs(func() {
		s.g.sweep, s.g.sweepPos = all[:1000], 0
		s.g.stageN(20000, 1000)
	})
	long := mallocs(func() {
		s.g.sweep, s.g.sweepPos = all, 0
		s.g.stageN(20000, 4000)
	})
	r := s.g.collect(20000)
	if r.Exchanges.Rebind.Completed != 4000 || r.TxPackets != 8000 {
		t.Fatalf("the sweep did not run: %+v", r)
	}
	t.Logf("%d allocations over a sweep of 1000 REBINDs, %d over one of 4000 (%d packets)", short, long, r.TxPackets+r.RxPackets)
	if long > short+4 || long*1000 > r.TxPackets+r.RxPackets {
		t.Errorf("%d allocations in a sweep of 4000, %d in one of 1000: allocation per packet", long, short)
	}
}

func TestHotPathsZeroAlloc(t *testing.T) {
	var h Histogram
	v := int64(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(v); v = v*3 + 7 }); n != 0 {
		t.Errorf("Histogram.Record: %v allocs", n)
	}
	bd := builder{relayed: true, link: wireAddr, interfaceID: []byte("eth0"), relayPort: true, na: true, pd: true}
	buf := make([]byte, 0, outBufSize)
	a := ask{serverID: responderDUID, addr: wireAddr, prefix: wirePrefix}
	if n := testing.AllocsPerRun(1000, func() {
		buf = bd.append(buf[:0], wire.Renew, [3]byte{1, 2, 3}, 7, &a)
	}); n != 0 {
		t.Errorf("builder.append: %v allocs", n)
	}
	var st serverTable
	st.index(responderDUID)
	if n := testing.AllocsPerRun(1000, func() { st.index(responderDUID) }); n != 0 {
		t.Errorf("serverTable.index: %v allocs", n)
	}
}

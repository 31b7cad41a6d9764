//go:build !race

package wire

import (
	"runtime"
	"testing"
)

// The decode and encode paths must not allocate: the server loop handles
// every packet with storage it owns. Two checks, because AllocsPerRun
// truncates its average to an integer and would pass one allocation every
// other call: AllocsPerRun == 0, and the process-wide malloc count over
// allocIterations calls. Built without -race, which allocates on its own.

const allocIterations = 10_000

// strictAllocs returns how many heap allocations n calls of f made, counted
// the way testing.AllocsPerRun counts (with one P, so nothing else runs)
// but without dividing.
func strictAllocs(n int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f() // warm up: lazily initialised state is not per-packet cost
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

func checkNoAllocs(t *testing.T, f func()) {
	t.Helper()
	if avg := testing.AllocsPerRun(1000, f); avg != 0 {
		t.Errorf("AllocsPerRun = %v, want 0", avg)
	}
	if n := strictAllocs(allocIterations, f); n != 0 {
		t.Errorf("%d allocations in %d calls, want 0", n, allocIterations)
	}
}

func TestDecodeAllocs(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"solicit", solicitMsg().ToBytes()},
		{"request", requestMsg().ToBytes()},
		{"renew", renewMsg().ToBytes()},
		{"relayed-solicit", relayed2(solicitMsg())},
		{"relayed-request", relayed2(requestMsg())},
		{"relayed-renew", relayed2(renewMsg())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := new(Packet)
			in := tt.in
			var err error
			checkNoAllocs(t, func() { err = p.Decode(in) })
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodeAllocs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		encode func([]byte) []byte
	}{
		{"advertise", appendAdvertise},
		{"reply", appendReply},
		{"relayed-reply", appendRelayedReply},
	} {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, 1500) // pre-sized, as the server's send buffers are
			encode := tt.encode
			var out []byte
			checkNoAllocs(t, func() { out = encode(buf[:0]) })
			if len(out) == 0 || &out[0] != &buf[:1][0] {
				t.Fatal("encoder did not write into the pre-sized buffer")
			}
		})
	}
}

// TestStrictAllocsCounts guards the guard: one allocation per call must be
// seen by strictAllocs even where AllocsPerRun could round it away.
func TestStrictAllocsCounts(t *testing.T) {
	var sink []byte
	i := 0
	n := strictAllocs(1000, func() {
		if i++; i%2 == 0 {
			sink = make([]byte, 64+i%3)
		}
	})
	_ = sink
	if n < 500 {
		t.Errorf("strictAllocs saw %d allocations, want >= 500", n)
	}
}

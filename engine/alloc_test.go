//go:build !race

package engine

// The warm packet path allocates nothing, as fasthttp's allocation_test.go
// asserts for a whole request: decode → Step → Ready → Advance with the
// reply encoded into the engine's arena, for a client that already holds
// its lease. (Built without -race: the race detector allocates.)

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// The same holds with classes and options configured (serviceConfig: 3
// classes, 8 options over every level, all asked for).
func TestWarmPathZeroAlloc(t *testing.T) {
	for _, typ := range []wire.MsgType{wire.Solicit, wire.Request, wire.Renew} {
		for _, relayed := range []bool{false, true} {
			for _, service := range []bool{false, true} {
				name := typ.String() + "/direct"
				if relayed {
					name = typ.String() + "/relayed"
				}
				if service {
					name += "/service"
				}
				t.Run(name, func(t *testing.T) {
					w := newWarmPath(t, typ, relayed)
					if service {
						w = newWarmPathWith(t, serviceConfig(), serviceORO, typ, relayed)
						// Every option asked for arrives (AFTR-Name only
						// through the relay's remote-id class).
						opts, want := theirOptions(t, w.first), 7
						if relayed {
							want = 8
						}
						n := 0
						for _, c := range serviceORO {
							if opts[c] != nil {
								n++
							}
						}
						if n != want {
							t.Fatalf("%d of the %d options asked for arrived, want %d: %v", n, len(serviceORO), want, opts)
						}
					}
					// AllocsPerRun truncates to an integer: count every malloc
					// in the process over many rounds. The count is global, so
					// a stray runtime allocation on another goroutine can
					// land in a window; an allocation of the path itself shows
					// up in every window, so the best of three must be 0.
					const rounds = 20000
					best := ^uint64(0)
					for attempt := 0; attempt < 3 && best != 0; attempt++ {
						var before, after runtime.MemStats
						settle()
						runtime.ReadMemStats(&before)
						for i := 0; i < rounds; i++ {
							w.round(t)
						}
						runtime.ReadMemStats(&after)
						best = min(best, after.Mallocs-before.Mallocs)
					}
					if best != 0 {
						t.Fatalf("%d mallocs over %d rounds, want 0", best, rounds)
					}
					if n := testing.AllocsPerRun(1000, func() { w.round(t) }); n != 0 {
						t.Fatalf("AllocsPerRun = %v, want 0", n)
					}
				})
			}
		}
	}
}

// A SOLICIT from a client the server has never seen (the probe for a
// fresh address and prefix, an ADVERTISE, no commit) allocates nothing
// either: a solicit storm costs no garbage.
func TestNewClientSolicitZeroAlloc(t *testing.T) {
	for _, relayed := range []bool{false, true} {
		w := newWarmPath(t, wire.Solicit, relayed)
		if relayed {
			w = newWarmPathWith(t, serviceConfig(), serviceORO, wire.Solicit, relayed)
		}
		at := bytes.Index(w.raw, clientDUID(1))
		n := 1000
		next := func() {
			n++
			w.raw[at+7], w.raw[at+8], w.raw[at+9] = byte(n>>16), byte(n>>8), byte(n)
			w.round(t)
		}
		next()
		if a := testing.AllocsPerRun(2000, next); a != 0 {
			t.Fatalf("relayed=%v: AllocsPerRun = %v, want 0", relayed, a)
		}
		if w.e.Len() != 2 {
			t.Fatalf("ADVERTISEs left records: %d", w.e.Len())
		}
	}
}

// settle lets the runtime finish what collections started before a
// process-wide malloc count begins: after each GC, finalizers, cleanups and
// the unique package's map cleanup (net/netip interns zones with it) run on
// their own goroutines and allocate, which MemStats would blame on the code
// under test. Nothing after the sleep can start a GC but an allocation.
func settle() {
	runtime.GC()
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
}

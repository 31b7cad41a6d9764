//go:build linux && !race

package netio

import (
	"fmt"
	"testing"
)

// Built without -race only: the race detector's instrumentation allocates.

func init() { allocChecks = true }

// TestZeroAllocEcho: a steady-state ReadBatch+WriteBatch loop over loopback
// allocates nothing.
func TestZeroAllocEcho(t *testing.T) {
	for _, tc := range []struct{ batch, iters int }{{1, 2000}, {8, 2000}, {MaxBatch, 500}} {
		r := newEchoRig(t, tc.batch, 200)
		checkNoAllocs(t, fmt.Sprintf("%d round trips of %d datagrams", tc.iters, tc.batch), func() error {
			for range tc.iters {
				if err := r.roundTrip(tc.batch); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

func TestZeroAllocPerCall(t *testing.T) {
	r := newEchoRig(t, 4, 200)
	if n := testing.AllocsPerRun(50, func() {
		if _, err := r.cli.WriteBatch(r.out[:4]); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteBatch: %v allocs/op", n)
	}
	got := 0
	if n := testing.AllocsPerRun(20, func() {
		k, err := r.srv.ReadBatch(r.srvIn[:4])
		if err != nil {
			t.Fatal(err)
		}
		got += k
	}); n != 0 {
		t.Errorf("ReadBatch: %v allocs/op", n)
	}
	if got == 0 {
		t.Fatal("ReadBatch read nothing")
	}
}

//go:build !race

package wire

import "testing"

func TestFailoverZeroAlloc(t *testing.T) {
	buf := make([]byte, 0, 1024)
	var m FailoverMsg
	if n := testing.AllocsPerRun(1000, func() {
		buf = buildBndUpd(buf[:0])
		if err := m.Decode(buf[2:]); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("encode+decode of a BNDUPD: %v allocs, want 0", n)
	}
}

//go:build !race

package replicate

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Built without -race only: the race detector's instrumentation allocates.

// loopReader serves the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// TestFrameZeroAlloc: steady-state framing — reading frames from a stream
// and batching frames into writes — allocates nothing.
func TestFrameZeroAlloc(t *testing.T) {
	var stream []byte
	for i := range 37 { // 37 frames of odd sizes so frames straddle refills
		stream = testFrame(stream, wire.BndUpd, uint32(i), 50+i*13)
	}
	fr := NewFrameReader(&loopReader{data: stream}, 4096, 0)
	fw := NewFrameWriter(io.Discard, 4096)
	frame := testFrame(nil, wire.BndReply, 1, 120)
	if n := testing.AllocsPerRun(200, func() {
		for range 100 {
			msg, err := fr.Next()
			if err != nil {
				t.Fatal(err)
			}
			if err := fw.WriteFrame(frame); err != nil || len(msg) < 8 {
				t.Fatal(err)
			}
			b := fw.Tail()
			b = wire.AppendContact(b, 7, 8)
			if err := fw.Commit(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := fw.Flush(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("100 frames read and 200 written: %v allocs, want 0", n)
	}
}

// TestFrameZeroAllocTCP: the same over a loopback TCP connection, through
// the deadline wrapper the link uses.
func TestFrameZeroAllocTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fw := NewFrameWriter(&deadlineConn{c: c1, read: 5 * time.Second, write: 5 * time.Second}, DefaultBatch)
	fr := NewFrameReader(&deadlineConn{c: c2, read: 5 * time.Second, write: 5 * time.Second}, 0, 0)
	frame := testFrame(nil, wire.BndUpd, 1, 150)
	round := func() {
		for range 64 {
			if err := fw.WriteFrame(frame); err != nil {
				t.Fatal(err)
			}
		}
		if err := fw.Flush(); err != nil {
			t.Fatal(err)
		}
		for range 64 {
			if _, err := fr.Next(); err != nil {
				t.Fatal(err)
			}
		}
	}
	round() // warm up the poller and timers
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Fatalf("64 frames over TCP: %v allocs, want 0", n)
	}
}

//go:build linux

package netio

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestTryReadBatch: with nothing queued it returns at once; what is queued
// it reads, like ReadBatch; with receive timestamps on, each Msg carries
// the time the kernel took the datagram in, however late it is read.
func TestTryReadBatch(t *testing.T) {
	t.Run("polled", func(t *testing.T) { testTryReadBatch(t, listenLoopback(t, false)) })
	t.Run("ListenPolling", func(t *testing.T) {
		c, err := ListenPolling(netip.AddrPortFrom(loopback, 0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		testTryReadBatch(t, c)
	})
}

func testTryReadBatch(t *testing.T, srv *Conn) {
	cli := listenLoopback(t, false)
	in := newMsgs(4, 1500)
	start := time.Now()
	if n, err := srv.TryReadBatch(in); n != 0 || err != nil {
		t.Fatalf("empty socket: %d, %v", n, err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("TryReadBatch on an empty socket took %v", d)
	}
	send := func() {
		out := newMsgs(2, 20)
		for i := range out {
			out[i].N, out[i].Addr = 20, srv.LocalAddr()
		}
		if _, err := cli.WriteBatch(out); err != nil {
			t.Fatal(err)
		}
	}
	read := func() int {
		got := 0
		for deadline := time.Now().Add(2 * time.Second); got < 2 && time.Now().Before(deadline); {
			n, err := srv.TryReadBatch(in[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		return got
	}
	send()
	if got := read(); got != 2 || in[0].RxTime != 0 {
		t.Fatalf("read %d, RxTime %d without timestamps", got, in[0].RxTime)
	}
	if err := srv.SetRxTimestamps(true); err != nil {
		t.Fatal(err)
	}
	// The first socket to ask turns the kernel's timestamping on from a
	// work queue; until then datagrams are stamped when read.
	time.Sleep(50 * time.Millisecond)
	before := time.Now().UnixNano()
	send()
	time.Sleep(20 * time.Millisecond)
	after := time.Now().UnixNano()
	if got := read(); got != 2 {
		t.Fatalf("read %d", got)
	}
	for i := range 2 {
		if rx := in[i].RxTime; rx < before || rx > after-15*int64(time.Millisecond) {
			t.Errorf("RxTime %d not between the send (%d) and the sleep", rx, before)
		}
		if in[i].Addr != cli.LocalAddr() || in[i].N != 20 || in[i].Dst != loopback {
			t.Errorf("msg %d: %+v", i, in[i])
		}
	}
	if allocChecks {
		if n := testing.AllocsPerRun(100, func() { srv.TryReadBatch(in) }); n != 0 {
			t.Errorf("TryReadBatch: %v allocs", n)
		}
	}
	srv.Close()
	if _, err := srv.TryReadBatch(in); err == nil {
		t.Fatal("TryReadBatch on a closed Conn succeeded")
	}
}

func TestTimestampCodec(t *testing.T) {
	// A timestamp message first, then PKTINFO, as the kernel writes them.
	var oob [oobWords]uint64
	b := unsafe.Slice((*byte)(unsafe.Pointer(&oob[0])), oobBytes)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(timestampCmsgLen)
	*(*unix.Timespec)(unsafe.Pointer(&b[cmsgDataOff])) = unix.Timespec{Sec: 1700000000, Nsec: 123456789}
	first := unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))
	var rest [oobWords]uint64
	l := putPktinfo(&rest, loopback, 3)
	copy(b[first:], unsafe.Slice((*byte)(unsafe.Pointer(&rest[0])), l))
	if first+l > oobBytes {
		t.Fatalf("a timestamp and PKTINFO need %d bytes, the buffer has %d", first+l, oobBytes)
	}
	if got := parseTimestamp(b[:first+l]); got != 1700000000_123456789 {
		t.Errorf("timestamp %d", got)
	}
	if dst, ifi, ok := parsePktinfo(b[:first+l]); !ok || dst != loopback || ifi != 3 {
		t.Errorf("PKTINFO after a timestamp: %v %d %v", dst, ifi, ok)
	}
	if got := parseTimestamp(b[first : first+l]); got != 0 {
		t.Errorf("timestamp from PKTINFO alone: %d", got)
	}
	for _, n := range []int{0, 1, unix.SizeofCmsghdr, timestampCmsgLen - 1} {
		if got := parseTimestamp(b[:n]); got != 0 {
			t.Errorf("timestamp %d from %d bytes", got, n)
		}
	}
}

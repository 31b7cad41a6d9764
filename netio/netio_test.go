//go:build linux

package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocChecks is set by alloc_test.go, which is built without -race (the
// race detector allocates on its own account).
var allocChecks bool

// mallocsDuring counts heap allocations made by the whole process while f
// runs. testing.AllocsPerRun truncates its average to an integer, which hides
// one allocation every few calls; the raw count does not.
func mallocsDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// checkNoAllocs runs loop (many iterations of a steady-state path) once to
// warm up, then requires a run of it to allocate nothing. MemStats counts
// the runtime's allocations too, and one kind is not ours and happens once:
// when a system call outlasts 20µs, sysmon hands the caller's P to another
// OS thread, and if no idle thread exists the runtime creates one (7 small
// objects: the m, two g's, profiling stacks, a weak pointer). So a nonzero
// count is measured once more, and only a second nonzero count fails; a
// per-iteration or periodic allocation of ours shows up in both.
func checkNoAllocs(t *testing.T, what string, loop func() error) {
	t.Helper()
	if err := loop(); err != nil {
		t.Fatalf("%s: warm-up: %v", what, err)
	}
	var err error
	for try := 1; ; try++ {
		n := mallocsDuring(func() { err = loop() })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n == 0 {
			t.Logf("%s: 0 allocations", what)
			return
		}
		if try == 2 {
			t.Errorf("%s: %d allocations, want 0", what, n)
			return
		}
		t.Logf("%s: %d allocations on the first measurement (runtime thread creation?); measuring again", what, n)
	}
}

var loopback = netip.MustParseAddr("::1")

func newMsgs(n, size int) []Msg {
	msgs := make([]Msg, n)
	for i := range msgs {
		msgs[i].Buf = make([]byte, size)
	}
	return msgs
}

func listenLoopback(t testing.TB, reuseport bool) *Conn {
	t.Helper()
	c, err := ListenUnicast(netip.AddrPortFrom(loopback, 0), reuseport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// plainClient is a net.UDPConn: the far end is checked with a socket this
// package did not make.
func plainClient(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads until want datagrams are in msgs or the deadline passes, and
// returns how many ReadBatch calls it took.
func readAll(t testing.TB, c *Conn, msgs []Msg, want int) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	got, calls := 0, 0
	for got < want {
		n, err := c.ReadBatch(msgs[got:want])
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d datagrams: %v", got, want, err)
		}
		got += n
		calls++
	}
	return calls
}

func loIndex(t testing.TB) int {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	return lo.Index
}

func TestUnicastLoopback(t *testing.T) {
	srv := listenLoopback(t, false)
	if a := srv.LocalAddr(); a.Addr() != loopback || a.Port() == 0 {
		t.Fatalf("LocalAddr = %v, want [::1]:ephemeral", a)
	}
	cli := plainClient(t)
	cliAddr := cli.LocalAddr().(*net.UDPAddr).AddrPort()
	const n = 10
	for i := range n {
		if _, err := cli.WriteToUDPAddrPort([]byte(fmt.Sprintf("ping %d", i)), srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := newMsgs(n, 1500)
	readAll(t, srv, msgs, n)
	lo := loIndex(t)
	for i := range msgs[:n] {
		m := &msgs[i]
		if got, want := string(m.Buf[:m.N]), fmt.Sprintf("ping %d", i); got != want {
			t.Errorf("msg %d: payload %q, want %q", i, got, want)
		}
		if m.Addr != cliAddr {
			t.Errorf("msg %d: Addr %v, want %v", i, m.Addr, cliAddr)
		}
		if m.Dst != loopback {
			t.Errorf("msg %d: Dst %v, want ::1", i, m.Dst)
		}
		if m.IfIndex != lo {
			t.Errorf("msg %d: IfIndex %d, want %d (lo)", i, m.IfIndex, lo)
		}
		if m.Truncated {
			t.Errorf("msg %d: Truncated", i)
		}
	}

	// Reply in place: same Msgs, new payload; odd ones also pin the source
	// address to the request's destination.
	for i := range msgs[:n] {
		m := &msgs[i]
		m.N = copy(m.Buf, fmt.Sprintf("pong %d", i))
		if i%2 == 1 {
			m.Src = m.Dst
		}
	}
	sent, err := srv.WriteBatch(msgs[:n])
	if err != nil || sent != n {
		t.Fatalf("WriteBatch = %d, %v; want %d, nil", sent, err, n)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for i := range n {
		k, from, err := cli.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(buf[:k]), fmt.Sprintf("pong %d", i); got != want {
			t.Errorf("reply %d: %q, want %q", i, got, want)
		}
		if from != srv.LocalAddr() {
			t.Errorf("reply %d from %v, want %v", i, from, srv.LocalAddr())
		}
	}
}

func TestTruncated(t *testing.T) {
	srv := listenLoopback(t, false)
	cli := plainClient(t)
	if _, err := cli.WriteToUDPAddrPort(bytes.Repeat([]byte{'x'}, 100), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	msgs := newMsgs(1, 10)
	readAll(t, srv, msgs, 1)
	if !msgs[0].Truncated || msgs[0].N != 10 {
		t.Fatalf("Truncated=%v N=%d, want true 10", msgs[0].Truncated, msgs[0].N)
	}
}

func TestBatchRead(t *testing.T) {
	srv := listenLoopback(t, false)
	cli := plainClient(t)
	const n = 32
	msgs := newMsgs(n, 64)
	best := 0
	for round := 0; round < 5 && best <= 1; round++ {
		for i := range n {
			if _, err := cli.WriteToUDPAddrPort([]byte{byte(i)}, srv.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		for got < n {
			k, err := srv.ReadBatch(msgs[got:])
			if err != nil {
				t.Fatal(err)
			}
			for i := got; i < got+k; i++ {
				if msgs[i].N != 1 || msgs[i].Buf[0] != byte(i) {
					t.Fatalf("datagram %d out of order or damaged: % x", i, msgs[i].Buf[:msgs[i].N])
				}
			}
			best = max(best, k)
			got += k
		}
	}
	if best <= 1 {
		t.Fatalf("ReadBatch never returned more than one datagram")
	}
	t.Logf("largest batch: %d of %d", best, n)
}

// TestWriteBatchLarge sends more than MaxBatch in one call.
func TestWriteBatchLarge(t *testing.T) {
	srv := listenLoopback(t, false)
	cli := listenLoopback(t, false)
	const n = MaxBatch*2 + 5
	out := newMsgs(n, 8)
	for i := range out {
		out[i].N = copy(out[i].Buf, fmt.Sprint(i))
		out[i].Addr = srv.LocalAddr()
	}
	if k, err := cli.WriteBatch(out); k != n || err != nil {
		t.Fatalf("WriteBatch = %d, %v", k, err)
	}
	in := newMsgs(n, 8)
	readAll(t, srv, in, n)
	for i := range in {
		if got := string(in[i].Buf[:in[i].N]); got != fmt.Sprint(i) {
			t.Fatalf("datagram %d = %q", i, got)
		}
	}
}

func TestWriteBatchErrors(t *testing.T) {
	srv := listenLoopback(t, false)
	cli := listenLoopback(t, false)
	out := newMsgs(4, 8)
	for i := range out {
		out[i].N = 1
		out[i].Addr = srv.LocalAddr()
	}
	out[1].Addr = netip.AddrPort{}
	out[3].N = 9
	n, err := cli.WriteBatch(out)
	if n != 1 || !errors.Is(err, ErrInvalidAddr) {
		t.Fatalf("WriteBatch = %d, %v; want 1, ErrInvalidAddr", n, err)
	}
	n, err = cli.WriteBatch(out[2:])
	if n != 1 || !errors.Is(err, ErrMsgLength) {
		t.Fatalf("WriteBatch = %d, %v; want 1, ErrMsgLength", n, err)
	}
	// The kernel's own errors come back at their index too: a source
	// address that is not the host's is refused before any routing.
	out[2].N = 1
	out[3].N = 1
	out[3].Src = netip.MustParseAddr("2001:db8::dead")
	n, err = cli.WriteBatch(out[2:])
	var se *os.SyscallError
	if n != 1 || !errors.As(err, &se) || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("WriteBatch from a foreign source = %d, %v; want 1, EINVAL", n, err)
	}
	in := newMsgs(4, 8)
	readAll(t, srv, in, 3)
}

func TestCloseUnblocksRead(t *testing.T) {
	c := listenLoopback(t, false)
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadBatch(newMsgs(4, 1500))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("ReadBatch returned before Close: %v", err)
	default:
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadBatch")
	}
	if _, err := c.ReadBatch(newMsgs(1, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadBatch on closed Conn: %v", err)
	}
	if _, err := c.WriteBatch([]Msg{{Buf: []byte{1}, N: 1, Addr: netip.MustParseAddrPort("[::1]:9")}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteBatch on closed Conn: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReadDeadline(t *testing.T) {
	c := listenLoopback(t, false)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.ReadBatch(newMsgs(1, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadBatch past deadline: %v", err)
	}
}

// TestReusePort: unicast sockets sharing an address spread datagrams from
// different sources across the group.
func TestReusePort(t *testing.T) {
	a := listenLoopback(t, true)
	b, err := ListenUnicast(a.LocalAddr(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const clients = 64
	for i := range clients {
		cli := plainClient(t)
		if _, err := cli.WriteToUDPAddrPort([]byte{byte(i)}, a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	count := func(c *Conn) int {
		msgs := newMsgs(clients, 8)
		total := 0
		for {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := c.ReadBatch(msgs)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return total
			}
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	na, nb := count(a), count(b)
	if na+nb != clients || na == 0 || nb == 0 {
		t.Fatalf("reuseport split %d/%d of %d; want all delivered across both", na, nb, clients)
	}
	t.Logf("reuseport split: %d/%d", na, nb)
}

func TestIfName(t *testing.T) {
	lo := loIndex(t)
	if got := IfName(lo); got != "lo" {
		t.Fatalf("IfName(%d) = %q", lo, got)
	}
	if got := ifIndexByZone("lo"); got != lo {
		t.Fatalf("ifIndexByZone(lo) = %d", got)
	}
	if got := ifIndexByZone("7"); got != 7 {
		t.Fatalf("ifIndexByZone(7) = %d", got)
	}
	if got := IfName(0); got != "" {
		t.Fatalf("IfName(0) = %q", got)
	}
	const absent = 1 << 30
	if got := IfName(absent); got != fmt.Sprint(absent) {
		t.Fatalf("IfName(absent) = %q", got)
	}
	if got := ifIndexByZone("tnio-no-such-if"); got != 0 {
		t.Fatalf("ifIndexByZone(absent) = %d", got)
	}
	if n := testing.AllocsPerRun(100, func() { IfName(lo); IfName(absent); ifIndexByZone("lo") }); allocChecks && n != 0 {
		t.Fatalf("cached lookups allocate %v times", n)
	}
}

func TestPktinfoCodec(t *testing.T) {
	var oob [oobWords]uint64
	want := netip.MustParseAddr("2001:db8::1")
	l := putPktinfo(&oob, want, 7)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&oob[0])), oobBytes)
	dst, ifi, ok := parsePktinfo(b[:l])
	if !ok || dst != want || ifi != 7 {
		t.Fatalf("round trip: %v %d %v", dst, ifi, ok)
	}
	// The parser agrees with x/sys's (allocating) one.
	cms, err := unix.ParseSocketControlMessage(b[:l])
	if err != nil || len(cms) != 1 || cms[0].Header.Type != unix.IPV6_PKTINFO {
		t.Fatalf("x/sys parse: %v %v", cms, err)
	}
	// Damaged buffers: never a panic, never a false hit.
	for _, n := range []int{0, 1, unix.SizeofCmsghdr, pktinfoCmsgLen - 1} {
		if _, _, ok := parsePktinfo(b[:n]); ok {
			t.Errorf("parsed pktinfo from %d bytes", n)
		}
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	for _, bad := range []int{0, 3, l + 1, 1 << 20} {
		h.SetLen(bad)
		if _, _, ok := parsePktinfo(b[:l]); ok {
			t.Errorf("parsed pktinfo with cmsg_len %d", bad)
		}
	}
	// A message of another type first is skipped.
	var two [oobWords]uint64
	b2 := unsafe.Slice((*byte)(unsafe.Pointer(&two[0])), oobBytes)
	h2 := (*unix.Cmsghdr)(unsafe.Pointer(&two[0]))
	h2.Level, h2.Type = unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT
	h2.SetLen(unix.CmsgLen(4))
	var rest [oobWords]uint64
	l2 := putPktinfo(&rest, want, 9)
	first := unix.CmsgSpace(4)
	copy(b2[first:], unsafe.Slice((*byte)(unsafe.Pointer(&rest[0])), l2))
	if dst, ifi, ok := parsePktinfo(b2[:first+l2]); !ok || dst != want || ifi != 9 {
		t.Fatalf("second message: %v %d %v", dst, ifi, ok)
	}
}

// echoRig runs loopback round trips between two Conns in one goroutine:
// client WriteBatch → server ReadBatch → server WriteBatch of the same Msgs
// (an echo) → client ReadBatch. Everything is sent before it is read, so no
// call blocks; a lost datagram trips the read deadline instead of hanging.
type echoRig struct {
	srv, cli         *Conn
	out, srvIn, back []Msg
}

func newEchoRig(t testing.TB, batch, size int) *echoRig {
	r := &echoRig{
		srv:   listenLoopback(t, false),
		cli:   listenLoopback(t, false),
		out:   newMsgs(batch, size),
		srvIn: newMsgs(batch, 1500),
		back:  newMsgs(batch, 1500),
	}
	for i := range r.out {
		r.out[i].N = size
		r.out[i].Addr = r.srv.LocalAddr()
	}
	deadline := time.Now().Add(10 * time.Minute)
	r.srv.SetReadDeadline(deadline)
	r.cli.SetReadDeadline(deadline)
	return r
}

func (r *echoRig) roundTrip(batch int) error {
	if _, err := r.cli.WriteBatch(r.out[:batch]); err != nil {
		return err
	}
	for got := 0; got < batch; {
		n, err := r.srv.ReadBatch(r.srvIn[got:batch])
		if err != nil {
			return err
		}
		got += n
	}
	if _, err := r.srv.WriteBatch(r.srvIn[:batch]); err != nil {
		return err
	}
	for got := 0; got < batch; {
		n, err := r.cli.ReadBatch(r.back[got:batch])
		if err != nil {
			return err
		}
		got += n
	}
	return nil
}

// BenchmarkEcho measures loopback round trips; one op is one datagram there
// and back, so batch sizes compare directly. "stdlib" is the same echo with
// net.UDPConn's allocation-free ReadMsgUDPAddrPort/WriteMsgUDPAddrPort, one
// system call per datagram.
func BenchmarkEcho(b *testing.B) {
	const size = 200 // a typical Solicit/Advertise is 100–300 bytes
	for _, batch := range []int{1, 8, 32, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			r := newEchoRig(b, batch, size)
			if err := r.roundTrip(batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				if err := r.roundTrip(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	b.Run("stdlib", func(b *testing.B) {
		srv := plainClient(b)
		cli := plainClient(b)
		srvAddr := srv.LocalAddr().(*net.UDPAddr).AddrPort()
		out := make([]byte, size)
		buf := make([]byte, 1500)
		oob := make([]byte, 128)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, _, err := cli.WriteMsgUDPAddrPort(out, nil, srvAddr); err != nil {
				b.Fatal(err)
			}
			n, _, _, from, err := srv.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := srv.WriteMsgUDPAddrPort(buf[:n], nil, from); err != nil {
				b.Fatal(err)
			}
			if _, _, _, _, err := cli.ReadMsgUDPAddrPort(buf, oob); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// FuzzParsePktinfo: the control-message walk never panics or reads past the
// bytes it is given, whatever the kernel (or a bug) put there; what it
// finds agrees with x/sys/unix's general parser (ParseSocketControlMessage,
// which allocates: the reason parsePktinfo exists) wherever that parser
// reads the buffer; and putPktinfo's output parses back to what was put.
func FuzzParsePktinfo(f *testing.F) {
	var oob [oobWords]uint64
	l := putPktinfo(&oob, netip.MustParseAddr("fe80::1"), 3)
	f.Add(unsafe.Slice((*byte)(unsafe.Pointer(&oob[0])), oobBytes)[:l])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// The kernel's buffer is always aligned; so is this copy.
		var buf [oobWords]uint64
		b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), oobBytes)
		n := copy(b, data)
		dst, ifi, ok := parsePktinfo(b[:n])
		if !ok && (dst.IsValid() || ifi != 0) {
			t.Fatalf("not ok but returned %v %d", dst, ifi)
		}
		_ = parseTimestamp(b[:n])
		if msgs, err := unix.ParseSocketControlMessage(b[:n]); err == nil {
			var want netip.Addr
			wantIfi, found := 0, false
			for _, m := range msgs {
				if m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo {
					want = netip.AddrFrom16([16]byte(m.Data[:16]))
					wantIfi = int(binary.NativeEndian.Uint32(m.Data[16:20]))
					found = true
					break
				}
			}
			if found != ok || ok && (dst != want || ifi != wantIfi) {
				t.Fatalf("parsePktinfo: %v %d %v; x/sys/unix: %v %d %v", dst, ifi, ok, want, wantIfi, found)
			}
		}
		if ok {
			var again [oobWords]uint64
			l := putPktinfo(&again, dst, ifi)
			d2, i2, ok2 := parsePktinfo(unsafe.Slice((*byte)(unsafe.Pointer(&again[0])), oobBytes)[:l])
			if !ok2 || d2 != dst || i2 != uint32toInt(ifi) {
				t.Fatalf("putPktinfo(%v, %d) parses as %v %d %v", dst, ifi, d2, i2, ok2)
			}
		}
	})
}

// uint32toInt is what an ifindex becomes after a trip through the
// 32-bit field of in6_pktinfo.
func uint32toInt(i int) int { return int(uint32(i)) }

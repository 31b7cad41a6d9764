//go:build linux

package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The multicast test builds two links between a server and a client network
// namespace, both created (and deleted) by the test; nothing outside them is
// touched:
//
//	server ns "tnio<pid>s"                     client ns "tnio<pid>c"
//	tnios0 (index 10) fe80::1/64  <-veth->  tnioc0 (index 10) fe80::2/64
//	tnios1 (index 11) fe80::11/64 <-veth->  tnioc1 (index 11) fe80::12/64
//
// The server side runs in the test binary re-executed under
// `ip netns exec`, so the whole process — sockets, interface lookups, the
// IfName cache — sees the server namespace. Client sockets are made on one
// OS thread switched into the client namespace with setns; a socket stays in
// the namespace it was created in, whatever thread later uses it. The peers
// get the same interface indexes as the server's ends so that the client's
// link-local sources, zoned through the process-wide IfName cache (filled
// from the server namespace), hit the cache rather than miss it; their zone
// names are the server's, which these checks ignore.

const (
	envNetnsHelper = "TANDEM_NETIO_NETNS_HELPER" // "1" in the re-executed child
	envClientNS    = "TANDEM_NETIO_CLIENT_NS"
	dhcpServerPort = 547
	dhcpClientPort = 546
)

type testLink struct {
	srvIf, cliIf     string
	index            int
	srvAddr, cliAddr netip.Addr
}

var testLinks = []testLink{
	{"tnios0", "tnioc0", 10, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")},
	{"tnios1", "tnioc1", 11, netip.MustParseAddr("fe80::11"), netip.MustParseAddr("fe80::12")},
}

// requireRoot skips a test that needs root, unless CI=true, where missing
// privileges mean a misconfigured runner and fail the test.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root to " + why
	} else if _, err := exec.LookPath("ip"); err != nil {
		reason = "needs iproute2's ip command to " + why
	}
	if reason != "" {
		skipOrFail(t, reason)
	}
}

func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(reason + " (CI=true: failing instead of skipping)")
	}
	t.Skip(reason)
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func TestMulticast(t *testing.T) {
	if os.Getenv(envNetnsHelper) == "1" {
		multicastInNamespace(t, os.Getenv(envClientNS))
		return
	}
	requireRoot(t, "create network namespaces and veth links for the multicast test")
	srvNS := fmt.Sprintf("tnio%ds", os.Getpid())
	cliNS := fmt.Sprintf("tnio%dc", os.Getpid())
	for _, ns := range []string{srvNS, cliNS} {
		if err := ipCmd("netns", "add", ns); err != nil {
			skipOrFail(t, "cannot create a network namespace: "+err.Error())
		}
		t.Cleanup(func() {
			if err := ipCmd("netns", "del", ns); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	cmds := [][]string{
		{"-n", srvNS, "link", "set", "lo", "up"},
		{"-n", cliNS, "link", "set", "lo", "up"},
	}
	for _, l := range testLinks {
		idx := fmt.Sprint(l.index)
		cmds = append(cmds, []string{"-n", srvNS, "link", "add", l.srvIf, "index", idx,
			"type", "veth", "peer", "name", l.cliIf, "index", idx, "netns", cliNS})
		for _, end := range []struct {
			ns, dev string
			addr    netip.Addr
		}{{srvNS, l.srvIf, l.srvAddr}, {cliNS, l.cliIf, l.cliAddr}} {
			cmds = append(cmds,
				// Only the static address below: no EUI-64 address, and no
				// duplicate address detection to wait for.
				[]string{"-n", end.ns, "link", "set", end.dev, "addrgenmode", "none"},
				[]string{"-n", end.ns, "addr", "add", end.addr.String() + "/64", "dev", end.dev, "nodad"},
				[]string{"-n", end.ns, "link", "set", end.dev, "up"},
			)
		}
	}
	for _, c := range cmds {
		if err := ipCmd(c...); err != nil {
			t.Fatal(err)
		}
	}
	// A veth end is usable for multicast once the kernel has seen its
	// carrier come up (linkwatch, asynchronous) and added the ff00::/8
	// route; sending before that is ENETUNREACH.
	for _, l := range testLinks {
		waitMulticastRoute(t, srvNS, l.srvIf)
		waitMulticastRoute(t, cliNS, l.cliIf)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", srvNS, exe,
		"-test.run=^TestMulticast$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envNetnsHelper+"=1", envClientNS+"="+cliNS)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", srvNS, out)
	if err != nil {
		t.Fatalf("multicast checks in the namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestMulticast") {
		t.Fatal("the namespace run did not pass TestMulticast")
	}
}

func waitMulticastRoute(t *testing.T, ns, dev string) {
	t.Helper()
	var out []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var err error
		out, err = exec.Command("ip", "-n", ns, "-6", "route", "show", "table", "local", "dev", dev).CombinedOutput()
		if err != nil {
			t.Fatalf("ip route in %s: %v: %s", ns, err, out)
		}
		if strings.Contains(string(out), "ff00::/8") {
			return
		}
	}
	t.Fatalf("%s in %s never got its multicast route:\n%s", dev, ns, out)
}

// clientConns opens, inside the client namespace, one Conn per test link
// bound to the client's [link-local%link]:546.
func clientConns(t *testing.T, ns string) []*Conn {
	type result struct {
		conns []*Conn
		err   error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the thread stays in the client namespace, so the
		// runtime ends it when this goroutine returns.
		runtime.LockOSThread()
		var r result
		defer func() { ch <- r }()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			r.err = err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		for _, l := range testLinks {
			c, err := ListenUnicast(netip.AddrPortFrom(l.cliAddr.WithZone(l.cliIf), dhcpClientPort), false)
			if err != nil {
				r.err = err
				return
			}
			r.conns = append(r.conns, c)
		}
	}()
	r := <-ch
	for _, c := range r.conns {
		t.Cleanup(func() { c.Close() })
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.conns
}

func sendOne(t *testing.T, c *Conn, to netip.AddrPort, ifindex int, src netip.Addr, payload string) {
	t.Helper()
	m := []Msg{{Buf: []byte(payload), N: len(payload), Addr: to, IfIndex: ifindex, Src: src}}
	if n, err := c.WriteBatch(m); n != 1 || err != nil {
		t.Fatalf("send %q to %v via %d: %d, %v", payload, to, ifindex, n, err)
	}
}

// recvAny polls conns until one of them has a datagram or d passes, and
// returns which one got it (-1 for none).
func recvAny(t *testing.T, d time.Duration, conns ...*Conn) (int, Msg) {
	t.Helper()
	msgs := newMsgs(1, 1500)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			n, err := c.ReadBatch(msgs)
			c.SetReadDeadline(time.Time{})
			if err == nil && n == 1 {
				return i, msgs[0]
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ReadBatch on %v: %v", c.LocalAddr(), err)
			}
		}
	}
	return -1, Msg{}
}

func mustRecv(t *testing.T, what string, c *Conn) Msg {
	t.Helper()
	i, m := recvAny(t, 3*time.Second, c)
	if i < 0 {
		t.Fatalf("%s: nothing received on %v", what, c.LocalAddr())
	}
	return m
}

// expectQuiet checks that none of conns receives anything for a while.
func expectQuiet(t *testing.T, what string, conns map[string]*Conn) {
	t.Helper()
	deadline := time.Now().Add(300 * time.Millisecond)
	for name, c := range conns {
		c.SetReadDeadline(deadline)
		n, err := c.ReadBatch(newMsgs(1, 1500))
		c.SetReadDeadline(time.Time{})
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: %s got a datagram (n=%d, err=%v), want none", what, name, n, err)
		}
	}
}

func checkMsg(t *testing.T, what string, m Msg, payload string, from netip.AddrPort, dst netip.Addr, ifindex int) {
	t.Helper()
	if got := string(m.Buf[:m.N]); got != payload {
		t.Errorf("%s: payload %q, want %q", what, got, payload)
	}
	if m.Addr != from {
		t.Errorf("%s: Addr %v, want %v", what, m.Addr, from)
	}
	if m.Dst != dst {
		t.Errorf("%s: Dst %v, want %v", what, m.Dst, dst)
	}
	if m.IfIndex != ifindex {
		t.Errorf("%s: IfIndex %d, want %d", what, m.IfIndex, ifindex)
	}
}

func multicastInNamespace(t *testing.T, cliNS string) {
	l0, l1 := testLinks[0], testLinks[1]
	group := netip.AddrPortFrom(AllDHCPRelayAgentsAndServers, dhcpServerPort)
	for _, l := range testLinks {
		if got := IfName(l.index); got != l.srvIf {
			t.Fatalf("IfName(%d) = %q, want %q: not in the server namespace?", l.index, got, l.srvIf)
		}
	}

	// Server: one multicast socket per link, two reuseport unicast sockets
	// on [::]:547, all on the same port.
	var mc []*Conn
	for _, l := range testLinks {
		c, err := ListenMulticast(l.srvIf, dhcpServerPort)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if want := netip.AddrPortFrom(AllDHCPRelayAgentsAndServers.WithZone(l.srvIf), dhcpServerPort); c.LocalAddr() != want || c.IfIndex() != l.index {
			t.Fatalf("multicast LocalAddr %v IfIndex %d, want %v %d", c.LocalAddr(), c.IfIndex(), want, l.index)
		}
		mc = append(mc, c)
	}
	var uc []*Conn
	for range 2 {
		c, err := ListenUnicast(netip.AddrPortFrom(netip.IPv6Unspecified(), dhcpServerPort), true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		uc = append(uc, c)
	}
	// control is what a unicast socket would be without
	// IPV6_MULTICAST_ALL=0: a plain wildcard socket on the port.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(t.Context(), "udp6", fmt.Sprintf("[::]:%d", dhcpServerPort))
	if err != nil {
		t.Fatal(err)
	}
	control := pc.(*net.UDPConn)
	defer control.Close()

	cli := clientConns(t, cliNS)

	// 1. Multicast on link 0 reaches link 0's socket only; the reuseport
	//    unicast sockets get no copy, though a plain wildcard socket does.
	sendOne(t, cli[0], group, l0.index, netip.Addr{}, "solicit-0")
	m0 := mustRecv(t, "multicast on link 0", mc[0])
	checkMsg(t, "multicast on link 0", m0, "solicit-0",
		netip.AddrPortFrom(l0.cliAddr.WithZone(l0.srvIf), dhcpClientPort), AllDHCPRelayAgentsAndServers, l0.index)
	control.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	if n, from, err := control.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "solicit-0" {
		t.Errorf("control socket (IPV6_MULTICAST_ALL left on) did not get its copy: %q from %v, %v", buf[:n], from, err)
	} else {
		t.Logf("control: a wildcard socket without IPV6_MULTICAST_ALL=0 got a copy from %v", from)
	}
	control.Close()
	expectQuiet(t, "multicast on link 0", map[string]*Conn{"link 1 multicast": mc[1], "unicast 0": uc[0], "unicast 1": uc[1]})

	// 2. The same on link 1.
	sendOne(t, cli[1], group, l1.index, netip.Addr{}, "solicit-1")
	m1 := mustRecv(t, "multicast on link 1", mc[1])
	checkMsg(t, "multicast on link 1", m1, "solicit-1",
		netip.AddrPortFrom(l1.cliAddr.WithZone(l1.srvIf), dhcpClientPort), AllDHCPRelayAgentsAndServers, l1.index)
	expectQuiet(t, "multicast on link 1", map[string]*Conn{"link 0 multicast": mc[0], "unicast 0": uc[0], "unicast 1": uc[1]})

	// 3. Unicast to the server's link-local address goes to one of the
	//    unicast sockets, never to a multicast socket.
	sendOne(t, cli[0], netip.AddrPortFrom(l0.srvAddr, dhcpServerPort), l0.index, netip.Addr{}, "request-0")
	which, mu := recvAny(t, 3*time.Second, uc...)
	if which < 0 {
		t.Fatal("unicast request: no unicast socket got it")
	}
	checkMsg(t, "unicast request", mu, "request-0",
		netip.AddrPortFrom(l0.cliAddr.WithZone(l0.srvIf), dhcpClientPort), l0.srvAddr, l0.index)
	u := uc[which]
	expectQuiet(t, "unicast request", map[string]*Conn{"link 0 multicast": mc[0], "link 1 multicast": mc[1], "other unicast": uc[1-which]})

	// 4. Replies reach the client's link-local address on the right link.
	expectReply := func(what string, c *Conn, payload string) {
		t.Helper()
		m := mustRecv(t, what, c)
		if got := string(m.Buf[:m.N]); got != payload {
			t.Errorf("%s: got %q, want %q", what, got, payload)
		}
		t.Logf("%s: %q from %v", what, payload, m.Addr)
	}
	//    a. From the multicast socket, echoing the received Msg.
	m0.N = copy(m0.Buf, "advertise-0")
	if n, err := mc[0].WriteBatch([]Msg{m0}); n != 1 || err != nil {
		t.Fatalf("multicast socket reply: %d, %v", n, err)
	}
	expectReply("reply from multicast socket", cli[0], "advertise-0")
	//    b. From the [::] unicast socket: zone stripped, IfIndex alone
	//       scopes the link-local destination, and Src pins the source.
	sendOne(t, u, netip.AddrPortFrom(l0.cliAddr, dhcpClientPort), l0.index, l0.srvAddr, "reply-ifindex")
	expectReply("unicast reply by IfIndex", cli[0], "reply-ifindex")
	//    c. Zone alone (IfIndex 0).
	sendOne(t, u, netip.AddrPortFrom(l0.cliAddr.WithZone(l0.srvIf), dhcpClientPort), 0, netip.Addr{}, "reply-zone")
	expectReply("unicast reply by zone", cli[0], "reply-zone")
	//    d. IfIndex picks the link: link 1's client is reached through it...
	sendOne(t, u, netip.AddrPortFrom(l1.cliAddr, dhcpClientPort), l1.index, netip.Addr{}, "reply-link-1")
	expectReply("unicast reply on link 1", cli[1], "reply-link-1")
	//    ...and not when the reply is pinned to link 0.
	m := []Msg{{Buf: []byte("misrouted"), N: 9, Addr: netip.AddrPortFrom(l1.cliAddr, dhcpClientPort), IfIndex: l0.index}}
	u.WriteBatch(m) // may fail or vanish in neighbour discovery; must not arrive
	expectQuiet(t, "reply pinned to the wrong link", map[string]*Conn{"client 0": cli[0], "client 1": cli[1]})

	// 5. The link-local path (zones from the IfName cache, PKTINFO both
	//    ways) allocates nothing either.
	if allocChecks {
		solicit := []Msg{{Buf: []byte("solicit"), N: 7, Addr: group, IfIndex: l0.index}}
		in := newMsgs(1, 1500)
		back := newMsgs(1, 1500)
		mc[0].SetReadDeadline(time.Now().Add(time.Minute))
		cli[0].SetReadDeadline(time.Now().Add(time.Minute))
		iter := func() {
			if _, err := cli[0].WriteBatch(solicit); err != nil {
				t.Fatal(err)
			}
			if _, err := mc[0].ReadBatch(in); err != nil {
				t.Fatal(err)
			}
			if _, err := mc[0].WriteBatch(in); err != nil {
				t.Fatal(err)
			}
			if _, err := cli[0].ReadBatch(back); err != nil {
				t.Fatal(err)
			}
		}
		const n = 500
		checkNoAllocs(t, fmt.Sprintf("%d multicast round trips over veth", n), func() error {
			for range n {
				iter()
			}
			return nil
		})
	}
}

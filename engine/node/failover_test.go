package node

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

const pairConfig = `
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: "127.0.0.1:0"
lifetimes: {preferred: 30m, valid: 1h}
subnets:
  - prefix: 2001:db8:1::/64
    relationship: pair-a
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools: [{prefix: "2001:db8:100::/44", delegated-length: 56}]
relationships:
  - name: pair-a
    role: ROLE
    PEERKEY: "[::1]:PORT"
    mclt: 60s
    keepalive: 1s
`

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startPairNode(t *testing.T, role string, port int, extra ...string) *Node {
	t.Helper()
	key := "peer"
	if role == "secondary" {
		key = "listen"
	}
	y := strings.NewReplacer("ROLE", role, "PEERKEY", key, "PORT", fmt.Sprint(port)).Replace(pairConfig)
	for _, line := range extra { // more keys of the relationship
		y += "    " + line + "\n"
	}
	return startYAML(t, role, y)
}

func waitState(t testing.TB, n *Node, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		st := n.Status()
		if len(st.Relationships) == 1 {
			last = st.Relationships[0].State
			if last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("state %q, want %q after %v", last, want, within)
}

// TestPairReachesNormalAndInterrupts runs a primary and a secondary as two
// nodes over real TCP on loopback: a fresh pair reaches NORMAL, stopping
// the primary moves the secondary to COMMUNICATIONS-INTERRUPTED, and the
// administrator's partner-down moves it to PARTNER-DOWN.
func TestPairReachesNormalAndInterrupts(t *testing.T) {
	port := freePort(t)
	sec := startPairNode(t, "secondary", port)
	defer sec.Stop()
	pri := startPairNode(t, "primary", port)
	waitState(t, pri, "normal", 10*time.Second)
	waitState(t, sec, "normal", 10*time.Second)
	if err := sec.PartnerDown("nope"); err == nil {
		t.Fatal("partner-down for an unknown relationship must fail")
	}
	pri.Stop()
	waitState(t, sec, "communications-interrupted", 5*time.Second)
	if err := sec.PartnerDown("pair-a"); err != nil {
		t.Fatal(err)
	}
	waitState(t, sec, "partner-down", time.Second)
}

// TestPairReplicatesLeases drives load through the primary of a real pair
// and checks that within a second every lease the primary holds is on the
// secondary with the same client, and that the primary has its acks.
func TestPairReplicatesLeases(t *testing.T) {
	port := freePort(t)
	sec := startPairNode(t, "secondary", port)
	defer sec.Stop()
	pri := startPairNode(t, "primary", port)
	defer pri.Stop()
	waitState(t, pri, "normal", 10*time.Second)
	waitState(t, sec, "normal", 10*time.Second)

	c := bench.DefaultConfig()
	c.Server = pri.ListenAddrs()[0]
	c.IA = "na"
	c.Rate, c.Duration, c.Clients = 500, time.Second, 200
	res, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed == 0 || res.DropRatio > 0.01 {
		t.Fatalf("load through the primary: %+v", res)
	}
	// The secondary in NORMAL answers no new client.
	c.Server = sec.ListenAddrs()[0]
	c.Rate, c.Duration, c.Clients = 50, 200*time.Millisecond, 10
	if res2, _ := bench.Run(c); res2.Completed != 0 {
		t.Fatalf("secondary in NORMAL completed %d exchanges for new clients", res2.Completed)
	}

	deadline := time.Now().Add(time.Second)
	for {
		want := leaseSet(t, pri)
		got := leaseSet(t, sec)
		missing := 0
		for k, v := range want {
			if got[k] != v {
				missing++
			}
		}
		if len(want) == 200 && missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 1s: primary holds %d leases, %d of them not (or differently) on the secondary", len(want), missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := pri.Status(); st.Relationships[0].Unacked != 0 {
		t.Fatalf("primary still has %d unacked updates", st.Relationships[0].Unacked)
	}
}

// leaseSet returns address → DUID of the active leases a node holds.
func leaseSet(t *testing.T, n *Node) map[string]string {
	m := map[string]string{}
	n.Do(func(e *engine.Engine) {
		e.ForEach(func(b *engine.Binding) bool {
			if b.Status == engine.StatusActive {
				m[b.Prefix.String()] = b.DUID
			}
			return true
		})
	})
	return m
}

// freeBackup returns the FREE-BACKUP prefixes a node holds.
func freeBackup(n *Node) map[string]bool {
	m := map[string]bool{}
	n.Do(func(e *engine.Engine) {
		e.ForEach(func(b *engine.Binding) bool {
			if b.Kind == engine.KindPD && b.Status == engine.StatusFreeBackup {
				m[b.Prefix.String()] = true
			}
			return true
		})
	})
	return m
}

// TestPairSplitsPrefixes: over real TCP, the secondary's POOLREQ on
// entering NORMAL gets the primary to move half of the 4096 free /56s
// (pd-secondary-share 0.5, the default) to it as FREE-BACKUP; once the
// primary is gone, the secondary in COMMUNICATIONS-INTERRUPTED delegates
// new prefixes from exactly those.
func TestPairSplitsPrefixes(t *testing.T) {
	port := freePort(t)
	sec := startPairNode(t, "secondary", port)
	defer sec.Stop()
	pri := startPairNode(t, "primary", port)
	waitState(t, pri, "normal", 10*time.Second)
	waitState(t, sec, "normal", 10*time.Second)
	deadline := time.Now().Add(3 * time.Second)
	var pb, sb map[string]bool
	for {
		pb, sb = freeBackup(pri), freeBackup(sec)
		if len(pb) == 2048 && len(sb) == 2048 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FREE-BACKUP prefixes: primary %d, secondary %d, want 2048 each", len(pb), len(sb))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for p := range pb {
		if !sb[p] {
			t.Fatalf("%s is FREE-BACKUP on the primary only", p)
		}
	}
	pri.Stop()
	waitState(t, sec, "communications-interrupted", 5*time.Second)

	c := bench.DefaultConfig()
	c.Server = sec.ListenAddrs()[0]
	c.IA = "pd"
	c.Rate, c.Duration, c.Clients = 200, time.Second, 100
	res, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed == 0 || res.DropRatio > 0.01 {
		t.Fatalf("load through the secondary in CI: %+v", res)
	}
	delegated := 0
	sec.Do(func(e *engine.Engine) {
		e.ForEach(func(b *engine.Binding) bool {
			if b.Kind == engine.KindPD && b.Status == engine.StatusActive {
				delegated++
				if !sb[b.Prefix.String()] {
					t.Errorf("secondary delegated %s, not one of its FREE-BACKUP prefixes", b.Prefix)
				}
			}
			return true
		})
	})
	if delegated != 100 {
		t.Fatalf("secondary delegated %d prefixes, want 100", delegated)
	}
}

// TestFirstStateAfterReconnectIsCurrent: a primary that moved from NORMAL
// to COMMUNICATIONS-INTERRUPTED and PARTNER-DOWN while its link was down
// must open the next connection with a STATE saying PARTNER-DOWN (RFC 8156
// §6.1: STATE right after the CONNECT exchange), not the NORMAL it last
// sent. The partner here is a bare TCP listener that accepts the CONNECT
// and reads what the primary says first.
func TestFirstStateAfterReconnectIsCurrent(t *testing.T) {
	port := freePort(t)
	sec := startPairNode(t, "secondary", port)
	pri := startPairNode(t, "primary", port)
	defer pri.Stop()
	waitState(t, pri, "normal", 10*time.Second)
	sec.Stop()
	waitState(t, pri, "communications-interrupted", 5*time.Second)
	if err := pri.PartnerDown("pair-a"); err != nil {
		t.Fatal(err)
	}
	waitState(t, pri, "partner-down", time.Second)

	ln, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("the primary did not reconnect: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fr := replicate.NewFrameReader(c, 0, 0)
	var m wire.FailoverMsg
	msg, err := fr.Next()
	if err != nil || m.Decode(msg) != nil || m.Type != wire.Connect {
		t.Fatalf("want CONNECT first: %v %x", err, msg)
	}
	reply := wire.AppendConnectReply(nil, m.XID, wire.AbsTime(time.Now().Unix()), &wire.ConnectParams{
		Version: replicate.ProtocolVersion, MCLT: m.MCLT, Keepalive: m.KeepaliveTime, MaxUnacked: 64, Flags: m.ConnectFlags})
	if _, err := c.Write(reply); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := fr.Next()
		if err != nil {
			t.Fatalf("no STATE from the primary: %v", err)
		}
		if m.Decode(msg) != nil || m.Type != wire.State {
			continue
		}
		if got := engine.State(m.ServerState); got != engine.StatePartnerDown || m.Has&wire.FHasPartnerDownTime == 0 {
			t.Fatalf("first STATE after reconnecting says %v (PARTNER_DOWN_TIME present: %v), want partner-down: the primary's current state",
				got, m.Has&wire.FHasPartnerDownTime != 0)
		}
		if m.ServerFlags&wire.ServerFlagStartup != 0 || m.ServerFlags&wire.ServerFlagCommunicated == 0 {
			t.Fatalf("first STATE flags %#x, want COMMUNICATED and not STARTUP", m.ServerFlags)
		}
		return
	}
}

// TestPairAutoPartnerDown: with auto-partner-down set, a secondary that
// loses its primary goes to COMMUNICATIONS-INTERRUPTED and, that long
// after, to PARTNER-DOWN on its own (RFC 8156 §8.9.2). The engine's clock
// is whole seconds, so the wait is 3 s ± 1.
func TestPairAutoPartnerDown(t *testing.T) {
	port := freePort(t)
	sec := startPairNode(t, "secondary", port, "auto-partner-down: 3s")
	defer sec.Stop()
	pri := startPairNode(t, "primary", port)
	waitState(t, pri, "normal", 10*time.Second)
	waitState(t, sec, "normal", 10*time.Second)
	pri.Stop()
	waitState(t, sec, "communications-interrupted", 5*time.Second)
	ci := time.Now()
	waitState(t, sec, "partner-down", 6*time.Second)
	if d := time.Since(ci); d < 2*time.Second {
		t.Fatalf("partner-down %v after communications-interrupted, want auto-partner-down's 3s (±1s)", d)
	}
}

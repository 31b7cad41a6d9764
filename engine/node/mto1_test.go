package node

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// The m-to-1 model (RFC 7031): primary A in relationship "a" serves
// 2001:db8:1::/64, primary B in relationship "b" serves 2001:db8:2::/64,
// and one secondary S is in both, with one failover socket on [::]:PORT.
// A connects from 127.0.0.1 and B from ::1, so S tells them apart by
// address as it would two hosts.

const mto1Secondary = `
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: "127.0.0.1:0"
lifetimes: {preferred: 30m, valid: 1h}
subnets:
  - prefix: 2001:db8:1::/64
    relationship: a
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
  - prefix: 2001:db8:2::/64
    relationship: b
    pools: ["2001:db8:2::1000-2001:db8:2::ffff"]
relationships:
  - {name: a, role: secondary, peer: "127.0.0.1:647", listen: "[::]:PORT", mclt: 60s, keepalive: 1s}
  - {name: b, role: secondary, peer: "[::1]:647", listen: "[::]:PORT", mclt: 60s, keepalive: 1s}
`

const mto1Primary = `
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: "127.0.0.1:0"
lifetimes: {preferred: 30m, valid: 1h}
subnets:
  - prefix: 2001:db8:SUBNET::/64
    relationship: REL
    pools: ["2001:db8:SUBNET::1000-2001:db8:SUBNET::ffff"]
relationships:
  - {name: REL, role: primary, peer: "PEER", mclt: 60s, keepalive: 1s}
`

// mto1Peers are where each primary dials S: its source address is the one
// S has as that relationship's peer.
var mto1Peers = map[string]string{"a": "127.0.0.1", "b": "::1"}

func startYAML(t testing.TB, name, y string) *Node {
	t.Helper()
	f, err := config.Parse(name+".yaml", []byte(strings.ReplaceAll(y, "DATADIR", t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Options{File: f, Logger: zaptest.NewLogger(t).Named(name)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ServeControl(f.Server.Control, false); err != nil {
		t.Fatal(err)
	}
	return n
}

// mto1Topology starts S, then A and B, and waits for both relationships
// to reach NORMAL on every node. stop stops a primary (once).
func mto1Topology(t *testing.T) (s *Node, prim map[string]*Node, stop map[string]func(), port int) {
	t.Helper()
	l, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s = startYAML(t, "S", strings.ReplaceAll(mto1Secondary, "PORT", fmt.Sprint(port)))
	t.Cleanup(func() { s.Stop() })
	prim, stop = map[string]*Node{}, map[string]func(){}
	for rel, subnet := range map[string]string{"a": "1", "b": "2"} {
		y := strings.NewReplacer("SUBNET", subnet, "REL", rel,
			"PEER", netip.AddrPortFrom(netip.MustParseAddr(mto1Peers[rel]), uint16(port)).String()).Replace(mto1Primary)
		prim[rel] = startYAML(t, strings.ToUpper(rel), y)
		stop[rel] = sync.OnceFunc(func() { prim[rel].Stop() })
		t.Cleanup(stop[rel])
	}
	for _, rel := range []string{"a", "b"} {
		waitRel(t, prim[rel], rel, "normal", 10*time.Second)
		waitRel(t, s, rel, "normal", 10*time.Second)
	}
	return s, prim, stop, port
}

// relStatus is one relationship's /v1/status entry.
func relStatus(t *testing.T, n *Node, name string) RelationshipJSON {
	t.Helper()
	for _, r := range n.Status().Relationships {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no relationship %q in /v1/status", name)
	return RelationshipJSON{}
}

func waitRel(t *testing.T, n *Node, name, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last RelationshipJSON
	for time.Now().Before(deadline) {
		if last = relStatus(t, n, name); last.State == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("relationship %s: %+v, want state %q after %v", name, last, want, within)
}

// relLeases is address → DUID of the active leases a node holds in one
// relationship.
func relLeases(n *Node, rel string) map[string]string {
	m := map[string]string{}
	n.Do(func(e *engine.Engine) {
		want := e.Relationship(rel)
		e.ForEach(func(b *engine.Binding) bool {
			if b.Status == engine.StatusActive && e.RelationshipOf(b.Kind, b.Prefix) == want {
				m[b.Prefix.String()] = b.DUID
			}
			return true
		})
	})
	return m
}

// missingFrom counts the leases of want that got lacks or holds for
// another client.
func missingFrom(want, got map[string]string) int {
	n := 0
	for k, v := range want {
		if got[k] != v {
			n++
		}
	}
	return n + max(0, len(got)-len(want))
}

// TestMto1SharedListener: both relationships reach NORMAL over one socket;
// each primary's leases reach S in its own relationship; stopping A sends
// only relationship a to COMMUNICATIONS-INTERRUPTED.
func TestMto1SharedListener(t *testing.T) {
	s, prim, stop, _ := mto1Topology(t)

	// /v1/status over HTTP lists both, in config order, as secondary.
	resp, err := http.Get("http://" + s.ControlAddr() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st StatusJSON
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Relationships) != 2 || st.Relationships[0].Name != "a" || st.Relationships[1].Name != "b" {
		t.Fatalf("/v1/status relationships %+v", st.Relationships)
	}
	for _, r := range st.Relationships {
		if r.Role != "secondary" || r.State != "normal" || r.PartnerState != "normal" || !r.CommOK {
			t.Fatalf("/v1/status %+v", r)
		}
	}

	// Load through each primary, on its own subnet.
	for rel, subnet := range map[string]string{"a": "2001:db8:1::1", "b": "2001:db8:2::1"} {
		c := bench.DefaultConfig()
		c.Server = prim[rel].ListenAddrs()[0]
		c.Link = netip.MustParseAddr(subnet)
		c.IA = "na"
		c.Rate, c.Duration, c.Clients = 300, 500*time.Millisecond, 100
		res, err := bench.Run(c)
		if err != nil {
			t.Fatal(err)
		}
		// The leases are what the test needs, not a clean rate: on a
		// loaded machine an exchange may time out (seen at 1 of 100).
		if res.Completed < 90 {
			t.Fatalf("load through %s: %+v", rel, res)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		var problems []string
		for _, rel := range []string{"a", "b"} {
			want, got := relLeases(prim[rel], rel), relLeases(s, rel)
			missing := missingFrom(want, got)
			if len(want) < 90 || missing != 0 || len(got) != len(want) {
				problems = append(problems, fmt.Sprintf("%s: primary holds %d, secondary %d in that relationship, %d missing or different",
					rel, len(want), len(got), missing))
			}
			if u := relStatus(t, prim[rel], rel).Unacked; u != 0 {
				problems = append(problems, fmt.Sprintf("%s: %d unacked", rel, u))
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2s: %s", strings.Join(problems, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Cut A: only relationship a is interrupted.
	stop["a"]()
	waitRel(t, s, "a", "communications-interrupted", 5*time.Second)
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if r := relStatus(t, s, "b"); r.State != "normal" || !r.CommOK {
			t.Fatalf("relationship b after A stopped: %+v", r)
		}
		if r := relStatus(t, prim["b"], "b"); r.State != "normal" || !r.CommOK {
			t.Fatalf("B after A stopped: %+v", r)
		}
	}
	// B's clients are still replicated to S.
	c := bench.DefaultConfig()
	c.Server = prim["b"].ListenAddrs()[0]
	c.Link = netip.MustParseAddr("2001:db8:2::1")
	c.IA = "na"
	c.Rate, c.Duration, c.Clients = 300, 500*time.Millisecond, 120
	if _, err := bench.Run(c); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for {
		want, got := relLeases(prim["b"], "b"), relLeases(s, "b")
		if len(want) == 120 && missingFrom(want, got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relationship b while a is interrupted: primary %d leases, secondary %d", len(want), len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMto1RefusesNameFromWrongAddress: a primary calling itself "a" from
// B's address is refused with ConfigurationConflict and disturbs neither
// relationship.
func TestMto1RefusesNameFromWrongAddress(t *testing.T) {
	s, _, _, port := mto1Topology(t)
	l, err := replicate.Start(replicate.Config{
		Name: "a", Primary: true,
		Peer: netip.AddrPortFrom(netip.MustParseAddr(mto1Peers["b"]), uint16(port)),
		MCLT: 60 * time.Second, Keepalive: time.Second, RetryMin: time.Minute,
		State: replicate.LocalState{State: uint8(engine.StateRecover), Flags: wire.ServerFlagStartup},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	select {
	case ev := <-l.Events():
		if ev.Kind != replicate.EventDown || ev.Status != wire.StatusConfigurationConflict {
			t.Fatalf("impostor: %+v", ev)
		}
		t.Logf("refused: %s", ev.Reason)
	case <-time.After(5 * time.Second):
		t.Fatal("impostor neither refused nor connected")
	}
	for _, rel := range []string{"a", "b"} {
		if r := relStatus(t, s, rel); r.State != "normal" || !r.CommOK {
			t.Fatalf("relationship %s after the impostor: %+v", rel, r)
		}
	}
	var refused uint64
	s.Do(func(*engine.Engine) {
		for _, p := range s.peers {
			st := p.link.Stats()
			if st.Connects != 1 {
				t.Errorf("relationship %s: %d connects, want 1 (the impostor must not replace it)", p.name, st.Connects)
			}
			if p.name == "b" {
				refused = st.RefusedConnects
			}
		}
	})
	if refused != 1 {
		t.Fatalf("relationship b counted %d refused CONNECTs, want 1", refused)
	}
}

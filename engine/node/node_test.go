package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/journal"
)

const testConfig = `
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: "127.0.0.1:0"
lifetimes: {preferred: 5m, valid: 10m}
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools:
      - {prefix: "2001:db8:100::/40", delegated-length: 56}
`

func startNode(t *testing.T, dir string) *Node {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(testConfig, "DATADIR", dir)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Options{File: f, Logger: zaptest.NewLogger(t), SnapshotEvery: 500})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ServeControl(f.Server.Control, false); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServeRestartKeepsLeases drives a real node over loopback with the load
// generator, stops it, and checks that a restart on the same data-dir
// restores exactly the same state (digest), that every client that got a
// REPLY still holds its lease, and that the offline journal agrees.
func TestServeRestartKeepsLeases(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := bench.DefaultConfig()
	c.Server = n.ListenAddrs()[0]
	c.Rate, c.Duration, c.Clients = 400, time.Second, 300
	res, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed == 0 || res.DropRatio > 0.01 {
		t.Fatalf("load: %+v", res)
	}
	st := getStatus(t, n)
	if st.Leases.NAActive != 300 || st.Leases.PDActive != 300 {
		t.Fatalf("want 300 active addresses and prefixes (300 clients, each seen at least once), got %+v", st.Leases)
	}
	before := map[string]engine.Binding{}
	n.Do(func(e *engine.Engine) {
		e.ForEach(func(b *engine.Binding) bool { before[b.Prefix.String()] = *b; return true })
	})
	digest := st.Journal.Digest

	// A checkpoint taken while serving restores the same state offline.
	cp := filepath.Join(t.TempDir(), "cp")
	resp, err := http.Post("http://"+n.ControlAddr()+"/v1/checkpoint", "application/json", strings.NewReader(`{"dir":"`+cp+`"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("checkpoint: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	cj, err := journal.Open(journal.Options{Dir: filepath.Join(cp, "journal"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := journal.NewToolEngine()
	if _, err := cj.Restore(ce); err != nil {
		t.Fatal(err)
	}
	cj.Close()
	if got := fmt.Sprintf("%016x", ce.Digest()); got != digest {
		t.Fatalf("checkpoint digest %s, live %s", got, digest)
	}

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	// Offline: the journal alone rebuilds the same state.
	j, err := journal.Open(journal.Options{Dir: filepath.Join(dir, "journal"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := engine.New(engine.Config{ServerDUID: []byte{0, 1}, Subnets: n.opts.File.Engine.Subnets})
	if _, err := j.Restore(e); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if got := fmt.Sprintf("%016x", e.Digest()); got != digest {
		t.Fatalf("offline replay digest %s, server reported %s", got, digest)
	}

	n2 := startNode(t, dir)
	defer n2.Stop()
	if got := getStatus(t, n2).Journal.Digest; got != digest {
		t.Fatalf("restarted digest %s, before %s", got, digest)
	}
	n2.Do(func(e *engine.Engine) {
		for k, b := range before {
			got, ok := e.Lookup(b.Prefix)
			if !ok || got != b {
				t.Errorf("%s: before %+v, after restart %+v", k, b, got)
			}
		}
	})
	if string(n2.DUID()) != string(n.DUID()) {
		t.Fatal("server DUID changed across restart")
	}
}

func getStatus(t *testing.T, n *Node) StatusJSON {
	t.Helper()
	resp, err := http.Get("http://" + n.ControlAddr() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s StatusJSON
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCommitFailureStopsServing: when a journal commit fails, the node
// answers nothing that depended on it and stops its loop (Done, Err), so
// that `tandem serve` exits and a restart replays what the disk holds,
// instead of serving on from lease state the journal never got.
func TestCommitFailureStopsServing(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := bench.DefaultConfig()
	c.Server = n.ListenAddrs()[0]
	c.Rate, c.Duration, c.Clients = 200, 500*time.Millisecond, 50
	if res, err := bench.Run(c); err != nil || res.Completed == 0 {
		t.Fatalf("load before the failure: %+v %v", res, err)
	}
	// The journal goes away under the loop: every Append now fails.
	if err := n.Do(func(*engine.Engine) { n.jrn.Close() }); err != nil {
		t.Fatal(err)
	}
	c.Duration, c.Clients = 300*time.Millisecond, 20
	res, _ := bench.Run(c)
	select {
	case <-n.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the loop still runs 5 s after a failed commit")
	}
	if err := n.Err(); err == nil || !strings.Contains(err.Error(), "journal commit failed") {
		t.Fatalf("Err() = %v, want the failed commit", err)
	}
	if res.Completed != 0 {
		t.Fatalf("%d exchanges completed after the journal failed: replies left without being durable", res.Completed)
	}
	if st := n.Stats(); st.CommitErrs.Load() == 0 {
		t.Fatal("commit error not counted")
	}
	_ = n.Stop() // the journal is already closed: ErrClosed
}

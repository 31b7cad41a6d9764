package node

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/journal"
)

// TestServeRetention runs a node with a one-second journal retention,
// checked every 200 ms, under load: retention must remove old events
// while the node serves, and the journal must still restart to the same
// state and verify offline.
func TestServeRetention(t *testing.T) {
	dir := t.TempDir()
	f, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(testConfig, "DATADIR", dir)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Options{File: f, Logger: zaptest.NewLogger(t), SnapshotEvery: 200,
		JournalRetention: time.Second, RetentionEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ServeControl(f.Server.Control, false); err != nil {
		t.Fatal(err)
	}
	c := bench.DefaultConfig()
	c.Server = n.ListenAddrs()[0]
	c.Rate, c.Duration, c.Clients = 300, 3*time.Second, 200
	res, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed == 0 || res.DropRatio > 0.01 {
		t.Fatalf("load: %+v", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.jrn.Horizon().FirstSeq <= 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	hz := n.jrn.Horizon()
	if hz.FirstSeq <= 1 || n.retention.removed.Load() == 0 {
		t.Fatalf("no retention after %d events (snapshot after %d): horizon %+v", n.jrn.LastSeq(), n.jrn.SnapshotSeq(), hz)
	}
	digest := getStatus(t, n).Journal.Digest
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	j, err := journal.Open(journal.Options{Dir: filepath.Join(dir, "journal"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := j.Verify(&out); err != nil {
		t.Fatalf("verify after retention: %v\n%s", err, out.String())
	}
	j.Close()
	if !strings.Contains(out.String(), "retention: events 1..") {
		t.Fatalf("verify report:\n%s", out.String())
	}

	n2 := startNode(t, dir)
	defer n2.Stop()
	if got := getStatus(t, n2).Journal.Digest; got != digest {
		t.Fatalf("restart after retention: digest %s, before %s", got, digest)
	}
}

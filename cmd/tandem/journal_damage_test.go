package main

// The real binary on damaged and on retained journals: `tandem serve`
// refuses a journal whose tail is corrupt, has a hole or was cut short,
// naming the first bad sequence number, and `tandem journal verify` says
// the same; after retention, verify, replay, history and who know where
// history starts.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/journal"
)

func eventKeyOf(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'e'}, seq)
}

// damage opens DIR/journal with Pebble directly and applies fn.
func damage(t *testing.T, dataDir string, fn func(db *pebble.DB) error) {
	t.Helper()
	db, err := pebble.Open(filepath.Join(dataDir, "journal"), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// serveConfig writes a standalone config on loopback for dataDir.
func serveConfig(t *testing.T, dataDir string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "tandem.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  data-dir: %q
  listen: ["[::1]:%d"]
  control: ""
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1:0-2001:db8:1::1:ffff"]
`, dataDir, freePort(t, "udp6"))), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestJournalDamageRefused damages the tail of a 59-event journal three
// ways and checks that serve refuses to start and verify fails, both
// naming the sequence number.
func TestJournalDamageRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func(db *pebble.DB) error
		seq  uint64
		why  string
	}{
		{"corrupt event", func(db *pebble.DB) error {
			return db.Set(eventKeyOf(30), []byte{0xde, 0xad, 0xbe, 0xef}, pebble.Sync)
		}, 30, "corrupt event"},
		{"hole in the middle", func(db *pebble.DB) error { return db.Delete(eventKeyOf(20), pebble.Sync) }, 20, "missing event"},
		{"truncated tail", func(db *pebble.DB) error {
			// The last ten events are gone; "m"+"last" still says 59.
			return db.DeleteRange(eventKeyOf(50), eventKeyOf(60), pebble.Sync)
		}, 50, "missing event: the log was written up to 59"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			auditJournal(t, dir, false)
			mustRun(t, "journal", "verify", "--data-dir", dir)
			damage(t, dir, c.fn)
			want := fmt.Sprintf("seq %d: %s", c.seq, c.why)

			out, errs, code := runBin(t, "serve", "--config", serveConfig(t, dir))
			t.Logf("serve: %s", errs)
			if code != 1 || !strings.Contains(errs, want) {
				t.Errorf("serve on a damaged journal: exit %d, stderr:\n%s\nwant exit 1 and %q", code, errs, want)
			}
			out, errs, code = runBin(t, "journal", "verify", "--data-dir", dir)
			if code != 1 || !strings.Contains(errs, want) || !strings.Contains(out, fmt.Sprintf("first bad seq: %d\n", c.seq)) {
				t.Errorf("verify: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, %q and the first bad seq", code, out, errs, want)
			}
		})
	}
}

// TestJournalRetentionTools runs retention on the hand-made journal (the
// address and prefix that moved from alice to bob) and checks the tools
// on what is left.
func TestJournalRetentionTools(t *testing.T) {
	dir := t.TempDir()
	auditJournal(t, dir, false)
	before := mustRun(t, "journal", "replay", "--data-dir", dir)

	j, err := journal.Open(journal.Options{Dir: filepath.Join(dir, "journal"), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := journal.NewToolEngine()
	seq, err := j.Restore(e)
	if err == nil {
		err = j.Snapshot(e, seq)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Keep from 10:17 on: alice's release (seq 54, 55, at 10:16:40) and
	// everything before it go; the reclaim (seq 56) and bob stay.
	res, err := j.Retain(auditT0 + 1020)
	if err != nil || res.FirstSeq != 56 {
		t.Fatalf("retain: %+v, %v", res, err)
	}
	j.Close()
	dd := "--data-dir=" + dir

	if out := mustRun(t, "journal", "verify", dd); !strings.Contains(out, "retention: events 1..55 removed (horizon 2026-03-03T10:17:00Z)") ||
		!strings.Contains(out, "events: 4 (seq 56..59), all decode, no gaps") || !strings.Contains(out, "ok\n") {
		t.Errorf("verify after retention:\n%s", out)
	}
	digest := func(s string) string {
		i := strings.Index(s, "digest: ")
		if i < 0 {
			t.Fatalf("no digest in\n%s", s)
		}
		return strings.TrimSpace(s[i:])
	}
	if got, fs := digest(mustRun(t, "journal", "replay", dd)), mustRun(t, "journal", "replay", dd, "--from-start"); got != digest(before) ||
		digest(fs) != digest(before) || !strings.Contains(fs, "the retention base, after seq 55") {
		t.Errorf("replay after retention: %s; --from-start:\n%s\nbefore: %s", got, fs, digest(before))
	}

	// Before the horizon: unknown, never "nobody".
	out := mustRun(t, "journal", "who", dd, "--addr", "2001:db8:1::1:5", "--at", "2026-03-03T10:00:00Z")
	if !strings.Contains(out, "unknown: that is before the retention horizon") {
		t.Errorf("who before the horizon:\n%s", out)
	}
	var w whoJSON
	if err := json.Unmarshal([]byte(mustRun(t, "journal", "who", dd, "--addr", "2001:db8:1::1:5", "--at", "2026-03-03T10:00:00Z", "--json")), &w); err != nil || !w.BeforeHorizon || w.Held {
		t.Errorf("who --json before the horizon: %+v, %v", w, err)
	}
	// After it: bob, from his retained event.
	if out := mustRun(t, "journal", "who", dd, "--addr", "2001:db8:1::1:5", "--at", "2026-03-03T11:00:00Z"); !strings.Contains(out, "duid 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:b0") || !strings.Contains(out, "seq 57") {
		t.Errorf("who after the horizon:\n%s", out)
	}
	// A lease whose every event was removed: answered from the base.
	w = whoJSON{}
	if err := json.Unmarshal([]byte(mustRun(t, "journal", "who", dd, "--addr", "2001:db8:1::2:5", "--at", "2026-03-03T10:30:00Z", "--json")), &w); err != nil ||
		!w.Held || !w.FromBase || w.Holder == nil || w.Holder.DUID != "00:03:00:01:02:00:00:00:00:05" {
		t.Errorf("who from the retention base: %+v %+v, %v", w, w.Holder, err)
	}
	out, errs, code := runBin(t, "journal", "history", dd, "--addr", "2001:db8:1::1:5", "--json")
	js := jsonLines(t, out)
	if code != 0 || len(js) != 2 || js[0].Seq != 56 || js[1].Seq != 57 || !strings.Contains(errs, "retention removed events 1..55") {
		t.Errorf("history after retention: exit %d, %+v, stderr %q", code, js, errs)
	}
	var s statsJSON
	if err := json.Unmarshal([]byte(mustRun(t, "journal", "stats", dd, "--json")), &s); err != nil || s.Events != 4 || s.FirstSeq != 56 || s.RetainedFrom != 56 {
		t.Errorf("stats after retention: %+v, %v", s, err)
	}
}

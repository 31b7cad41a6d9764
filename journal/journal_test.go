package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tandemdhcp/tandem/engine"
)

func TestAppendRestoreMatchesLive(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir, SnapshotEvery: 1 << 40})
	live := newEngine(t)
	g := newGen(1, 600, 200)
	appendAll(t, j, live, g.events(5000), 100, rand.New(rand.NewPCG(1, 1)))
	if got := j.LastSeq(); got != 5000 {
		t.Fatalf("LastSeq %d, want 5000", got)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = openT(t, Options{Dir: dir})
	defer j.Close()
	if got := j.LastSeq(); got != 5000 {
		t.Fatalf("LastSeq after reopen %d, want 5000", got)
	}
	e := newEngine(t)
	seq, err := j.Restore(e)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 5000 {
		t.Fatalf("Restore returned seq %d, want 5000", seq)
	}
	if e.Digest() != live.Digest() || e.Len() != live.Len() {
		t.Fatalf("restored digest %016x (%d records), live %016x (%d)", e.Digest(), e.Len(), live.Digest(), live.Len())
	}
	if !reflect.DeepEqual(records(e), records(live)) {
		t.Fatal("restored records differ from live ones")
	}
	na, pd := e.Active()
	lna, lpd := live.Active()
	if na != lna || pd != lpd {
		t.Fatalf("active %d/%d, live %d/%d", na, pd, lna, lpd)
	}

	// Appending goes on from where the log ended.
	more := g.events(10)
	for i := range more {
		live.Apply(more[i])
	}
	if seq, err := j.Append(more); err != nil || seq != 5010 {
		t.Fatalf("Append after reopen: seq %d err %v", seq, err)
	}
	e = newEngine(t)
	if _, err := j.Restore(e); err != nil || e.Digest() != live.Digest() {
		t.Fatalf("restore after more appends: err %v digest %016x want %016x", err, e.Digest(), live.Digest())
	}
}

func TestSnapshotRestoreEqualsReplay(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir, SnapshotEvery: 700})
	live := newEngine(t)
	// Enough resources that a snapshot spans several chunks.
	g := newGen(2, 6000, 3000)
	appendAll(t, j, live, g.events(12000), 64, rand.New(rand.NewPCG(2, 2)))
	// Snapshots come every max(700, SnapshotSpacing × records in the last
	// one) events.
	snap, recs := j.SnapshotSeq(), j.snapCount.Load()
	if snap == 0 || recs == 0 || j.LastSeq()-snap >= max(700, SnapshotSpacing*recs) {
		t.Fatalf("snapshot at %d (%d records), last %d: SnapshotDue was not honoured", snap, recs, j.LastSeq())
	}
	if snap == j.LastSeq() {
		t.Fatal("test wants a tail after the snapshot")
	}
	j.Close()

	j = openT(t, Options{Dir: dir, SnapshotEvery: 700})
	defer j.Close()
	hs, err := j.snapshots()
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].seq != snap || hs[0].chunks < 3 {
		t.Fatalf("snapshots %+v: want just one after seq %d, several chunks", hs, snap)
	}
	if j.SnapshotDue() {
		t.Fatal("SnapshotDue right after reopen")
	}

	fromSnap := newEngine(t)
	seq, err := j.Restore(fromSnap)
	if err != nil {
		t.Fatal(err)
	}
	full := newEngine(t)
	seq2, err := j.ReplayFrom(full, 1)
	if err != nil {
		t.Fatal(err)
	}
	if seq != j.LastSeq() || seq2 != seq {
		t.Fatalf("Restore seq %d, ReplayFrom seq %d, LastSeq %d", seq, seq2, j.LastSeq())
	}
	if fromSnap.Digest() != live.Digest() || full.Digest() != live.Digest() {
		t.Fatalf("digests: snapshot+tail %016x, full replay %016x, live %016x", fromSnap.Digest(), full.Digest(), live.Digest())
	}
	if !reflect.DeepEqual(records(fromSnap), records(full)) {
		t.Fatal("snapshot+tail records differ from full replay")
	}

	// Snapshot's own rules.
	if err := j.Snapshot(live, snap); err != nil {
		t.Fatalf("snapshot at the same seq: %v", err)
	}
	if err := j.Snapshot(live, snap-1); err == nil {
		t.Fatal("snapshot older than the newest accepted")
	}
	if err := j.Snapshot(live, j.LastSeq()+1); err == nil {
		t.Fatal("snapshot past the log accepted")
	}
}

func TestSnapshotOfEmptyState(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir})
	live := newEngine(t)
	g := newGen(3, 1, 1)
	// Lease and free the one resource: the state is empty again.
	var evs []engine.Event
	for len(evs) == 0 || evs[len(evs)-1].Kind != engine.EventFree {
		evs = append(evs, g.next())
	}
	appendAll(t, j, live, evs, 1, rand.New(rand.NewPCG(3, 3)))
	if live.Len() != 0 {
		t.Fatal("generator left a record")
	}
	if err := j.Snapshot(live, j.LastSeq()); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openT(t, Options{Dir: dir})
	defer j.Close()
	e := newEngine(t)
	if seq, err := j.Restore(e); err != nil || seq != uint64(len(evs)) || e.Len() != 0 {
		t.Fatalf("restore: seq %d err %v records %d", seq, err, e.Len())
	}
	var out bytes.Buffer
	if err := j.Verify(&out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
}

func TestEvents(t *testing.T) {
	j := openT(t, Options{Dir: t.TempDir()})
	defer j.Close()
	evs := newGen(4, 50, 10).events(100)
	if _, err := j.Append(evs[:40]); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(evs[40:]); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	err := j.Events(37, func(seq uint64, ev *engine.Event) error {
		if *ev != evs[seq-1] {
			t.Fatalf("seq %d: got %+v want %+v", seq, *ev, evs[seq-1])
		}
		seqs = append(seqs, seq)
		return nil
	})
	if err != nil || len(seqs) != 64 || seqs[0] != 37 || seqs[63] != 100 {
		t.Fatalf("Events(37): err %v, %d events", err, len(seqs))
	}
	stop := errors.New("stop")
	n := 0
	if err := j.Events(0, func(uint64, *engine.Event) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("fn's error: got %v after %d calls", err, n)
	}
	if err := j.Events(101, func(uint64, *engine.Event) error { t.Fatal("called"); return nil }); err != nil {
		t.Fatalf("Events at the end: %v", err)
	}
	if err := j.Events(102, func(uint64, *engine.Event) error { return nil }); err == nil {
		t.Fatal("Events past the end: no error")
	}
}

func TestAppendRefusesInvalidBatch(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: dir})
	evs := newGen(5, 50, 10).events(10)
	if _, err := j.Append(evs[:3]); err != nil {
		t.Fatal(err)
	}
	evs[7].Binding.Status = 0
	seq, err := j.Append(evs[3:])
	if !errors.Is(err, ErrInvalidEvent) || seq != 3 {
		t.Fatalf("Append with a bad event: seq %d err %v", seq, err)
	}
	if !strings.Contains(err.Error(), "event 5 of 7") {
		t.Errorf("error does not say which event: %v", err)
	}
	evs[7].Binding.Status = engine.StatusActive
	if seq, err := j.Append(evs[3:]); err != nil || seq != 10 {
		t.Fatalf("Append after a refused batch: seq %d err %v", seq, err)
	}
	j.Close()
	j = openT(t, Options{Dir: dir})
	defer j.Close()
	if j.LastSeq() != 10 {
		t.Fatalf("LastSeq %d, want 10", j.LastSeq())
	}
	if seq, err := j.Append(nil); err != nil || seq != 10 {
		t.Fatalf("empty Append: %d %v", seq, err)
	}
}

func TestRestoreRefusesNonEmptyEngine(t *testing.T) {
	j := openT(t, Options{Dir: t.TempDir()})
	defer j.Close()
	e := newEngine(t)
	e.Apply(newGen(6, 1, 1).next())
	if _, err := j.Restore(e); err == nil {
		t.Fatal("restore into a non-empty engine accepted")
	}
}

// damaged builds a journal of 1000 events with a snapshot after 600, then
// lets fn damage it with Pebble directly.
func damaged(t *testing.T, fn func(db *pebble.DB)) (dir string, live *engine.Engine) {
	dir = t.TempDir()
	j := openT(t, Options{Dir: dir})
	live = newEngine(t)
	evs := newGen(7, 300, 100).events(1000)
	appendAll(t, j, live, evs[:600], 50, rand.New(rand.NewPCG(7, 7)))
	if err := j.Snapshot(live, 600); err != nil {
		t.Fatal(err)
	}
	appendAll(t, j, live, evs[600:], 50, rand.New(rand.NewPCG(7, 8)))
	j.Close()
	rawDB(t, dir, fn)
	return dir, live
}

func wantSeqErr(t *testing.T, err error, seq uint64, kind error) {
	t.Helper()
	var se *SeqError
	if !errors.As(err, &se) || se.Seq != seq || !errors.Is(err, kind) {
		t.Fatalf("err %v: want a SeqError at seq %d wrapping %v", err, seq, kind)
	}
	if !strings.Contains(err.Error(), "seq ") {
		t.Fatalf("error %q does not name the sequence", err)
	}
}

func TestOpenRefusesDamagedTail(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(db *pebble.DB) error
		seq    uint64
		kind   error
	}{
		{"gap after the snapshot", func(db *pebble.DB) error { return db.Delete(eventKey(777), pebble.Sync) }, 777, ErrMissingEvent},
		{"first event after the snapshot", func(db *pebble.DB) error { return db.Delete(eventKey(601), pebble.Sync) }, 601, ErrMissingEvent},
		{"lost tail", func(db *pebble.DB) error {
			return db.DeleteRange(eventKey(998), eventKey(1001), pebble.Sync)
		}, 998, ErrMissingEvent},
		{"corrupt event", func(db *pebble.DB) error { return db.Set(eventKey(900), []byte("garbage!"), pebble.Sync) }, 900, ErrCorruptEvent},
		{"corrupt last event", func(db *pebble.DB) error { return db.Set(eventKey(1000), []byte{1, 1}, pebble.Sync) }, 1000, ErrCorruptEvent},
		{"event past the recorded end", func(db *pebble.DB) error {
			v, c, err := db.Get(eventKey(5))
			if err != nil {
				return err
			}
			defer c.Close()
			return db.Set(eventKey(1001), v, pebble.Sync)
		}, 1001, ErrCorruptEvent},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := damaged(t, func(db *pebble.DB) {
				if err := c.damage(db); err != nil {
					t.Fatal(err)
				}
			})
			j, err := Open(Options{Dir: dir})
			if err == nil {
				j.Close()
				t.Fatal("Open accepted a damaged tail")
			}
			wantSeqErr(t, err, c.seq, c.kind)
		})
	}
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	dir, _ := damaged(t, func(db *pebble.DB) {
		if err := db.Set(metaFormat, []byte{2}, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("store format 2: err %v", err)
	}
	if _, err := Open(Options{Dir: dir, ReadOnly: true}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("store format 2, read-only: err %v", err)
	}

	other := t.TempDir()
	rawDB(t, other, func(db *pebble.DB) {
		if err := db.Set([]byte("some other data"), nil, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := Open(Options{Dir: other}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("a store that is not a journal: err %v", err)
	}
}

func TestVerify(t *testing.T) {
	dir, live := damaged(t, func(*pebble.DB) {})
	j := openT(t, Options{Dir: dir, ReadOnly: true})
	var out bytes.Buffer
	if err := j.Verify(&out); err != nil {
		t.Fatalf("verify of a sound journal: %v\n%s", err, out.String())
	}
	for _, want := range []string{"events: 1000 (seq 1..1000)", "snapshot after seq 600", "matches replay", "ok\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if want := "digest after seq 1000: " + fmt.Sprintf("%016x", live.Digest()); !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
	j.Close()

	for _, c := range []struct {
		name   string
		damage func(db *pebble.DB) error
		seq    uint64
		kind   error
	}{
		// Before the snapshot, so Open (which checks the tail) lets it by.
		{"deleted middle event", func(db *pebble.DB) error { return db.Delete(eventKey(321), pebble.Sync) }, 321, ErrMissingEvent},
		{"corrupt event", func(db *pebble.DB) error {
			return db.Set(eventKey(123), []byte{0xde, 0xad, 0xbe, 0xef, 0, 0}, pebble.Sync)
		}, 123, ErrCorruptEvent},
		{"event changed", func(db *pebble.DB) error {
			// Valid, but not what was decided: the replay no longer gives
			// the snapshot's digest.
			ev := newGen(99, 1, 1).next()
			v, _ := AppendEvent(nil, &ev)
			return db.Set(eventKey(500), v, pebble.Sync)
		}, 600, ErrCorruptSnapshot},
		{"snapshot header digest", func(db *pebble.DB) error {
			var k [seqKeyLen]byte
			h := header{seq: 600}
			v, c, err := db.Get(seqKey(&k, tagHeader, 600))
			if err != nil {
				return err
			}
			h, err = decodeHeader(600, v)
			c.Close()
			if err != nil {
				return err
			}
			h.digest ^= 1
			return db.Set(k[:], appendHeader(nil, &h), pebble.Sync)
		}, 600, ErrCorruptSnapshot},
		{"snapshot chunk lost", func(db *pebble.DB) error {
			var k [chunkKeyLen]byte
			return db.Delete(chunkKey(&k, 600, 0), pebble.Sync)
		}, 600, ErrCorruptSnapshot},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := damaged(t, func(db *pebble.DB) {
				if err := c.damage(db); err != nil {
					t.Fatal(err)
				}
			})
			j := openT(t, Options{Dir: dir, ReadOnly: true})
			defer j.Close()
			var out bytes.Buffer
			err := j.Verify(&out)
			wantSeqErr(t, err, c.seq, c.kind)
			if errors.Is(c.kind, ErrCorruptSnapshot) {
				// Restore checks the snapshot it loads, too.
				if c.name != "event changed" {
					if _, err := j.Restore(newEngine(t)); !errors.Is(err, ErrCorruptSnapshot) {
						t.Fatalf("restore from a bad snapshot: %v", err)
					}
				}
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	dir, live := damaged(t, func(*pebble.DB) {})
	before := listing(t, dir)

	j := openT(t, Options{Dir: dir, ReadOnly: true})
	if j.SnapshotDue() {
		t.Error("SnapshotDue on a read-only journal")
	}
	if _, err := j.Append(newGen(8, 1, 1).events(1)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append: %v", err)
	}
	e := newEngine(t)
	if seq, err := j.Restore(e); err != nil || seq != 1000 || e.Digest() != live.Digest() {
		t.Fatalf("Restore: seq %d err %v", seq, err)
	}
	if err := j.Snapshot(e, 1000); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Snapshot: %v", err)
	}
	// Pebble itself refuses writes too.
	if err := j.db.Set([]byte("x"), nil, pebble.Sync); !errors.Is(err, pebble.ErrReadOnly) {
		t.Fatalf("pebble Set: %v", err)
	}
	if err := j.Verify(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if after := listing(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("read-only open changed the directory:\nbefore %v\nafter  %v", before, after)
	}

	if _, err := Open(Options{Dir: filepath.Join(dir, "missing"), ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing store succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatal("read-only open created the directory")
	}
}

// listing returns name, size and modification time of every file in dir
// but LOCK, which Pebble opens (and so touches) to lock the directory even
// read-only.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %v %v", e.Name(), fi.Size(), fi.Mode(), fi.ModTime()))
	}
	return out
}

// TestReadersWhileAppending runs Events and the watermark readers beside
// the writer, as the replicator and the control API will (run with -race).
func TestReadersWhileAppending(t *testing.T) {
	j := openT(t, Options{Dir: t.TempDir(), SnapshotEvery: 500})
	live := newEngine(t)
	evs := newGen(14, 500, 100).events(3000)
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-done:
				return
			default:
			}
			last := j.LastSeq()
			_ = j.SnapshotDue()
			n := uint64(0)
			err := j.Events(1, func(seq uint64, ev *engine.Event) error {
				n++
				if *ev != evs[seq-1] {
					return fmt.Errorf("seq %d: read back a different event", seq)
				}
				return nil
			})
			if err == nil && n < last {
				err = fmt.Errorf("read %d events, %d were durable before", n, last)
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	appendAll(t, j, live, evs, 40, rand.New(rand.NewPCG(14, 14)))
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := j.Append(evs[:1]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
}

package journal

import (
	"path/filepath"
	"testing"
)

// TestCheckpointWhileOpen copies a journal that is still open for writing;
// the copy opens read-only and restores the same state as the live one.
func TestCheckpointWhileOpen(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, Options{Dir: filepath.Join(dir, "live")})
	live := newEngine(t)
	g := newGen(7, 500, 200)
	for i := 0; i < 20; i++ {
		evs := g.events(100)
		for _, ev := range evs {
			live.Apply(ev)
		}
		if _, err := j.Append(evs); err != nil {
			t.Fatal(err)
		}
	}
	cp := filepath.Join(dir, "copy", "journal")
	if err := j.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	if err := j.Checkpoint(cp); err == nil {
		t.Fatal("a second checkpoint into the same dir must be refused")
	}
	// The live journal keeps working after the checkpoint.
	if _, err := j.Append(g.events(10)); err != nil {
		t.Fatal(err)
	}
	c := openT(t, Options{Dir: cp, ReadOnly: true})
	e := newEngine(t)
	seq, err := c.Restore(e)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 2000 || e.Digest() != live.Digest() {
		t.Fatalf("checkpoint restored seq %d digest %016x; live at seq 2000 had %016x", seq, e.Digest(), live.Digest())
	}
}

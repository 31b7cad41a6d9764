package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoint writes a consistent, openable copy of the journal to dir
// (which must not exist) while the journal stays in use: Pebble hard-links
// the immutable sstables and copies the rest, flushing the memtable first
// so the copy holds every synced event. The offline tools then open the
// copy read-only. dir is created with its parents; an existing dir is an
// error so a checkpoint never overwrites anything.
func (j *Journal) Checkpoint(dir string) error {
	if j.closed.Load() {
		return errors.New("journal: closed")
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("journal: checkpoint %s: already exists", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return fmt.Errorf("journal: checkpoint: %w", err)
	}
	if err := j.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("journal: checkpoint %s: %w", dir, err)
	}
	return nil
}

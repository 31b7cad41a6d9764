package journal

import (
	"time"

	"golang.org/x/sys/unix"
)

// Disk space.
//
// Pebble does not survive a full disk. A WAL write or sync that fails
// (ENOSPC) leaves its log writer broken for good, and DB.Apply answers any
// commit-pipeline error by calling the logger's Fatalf ("pebble: fatal
// commit error"), which in tandem panics: the process exits. A memtable
// flush that fails is retried in the background while commits pile into
// the memtable, and once it is full every commit stalls. A MANIFEST write
// that fails is Fatalf too. So the journal must never reach ENOSPC; it keeps
// a reserve instead. SpaceLow reports when the free space on the journal's
// filesystem has dropped below Options.MinFree, and the serving loop then
// stops taking new client work (which would need new events) until space
// returns. What still must be written — the partner's BNDUPDs, endpoint
// state changes, expiries — is small and comes out of the reserve.

// DefaultMinFree is the default reserve: room for what Pebble may write at
// once without new client work — a full memtable flushed to an sstable, the
// preallocated WAL that replaces it (110 % of a memtable), a compaction's
// output and MANIFEST rewrites — with a margin.
const DefaultMinFree = 4 * memTableSize

// spaceCheckEvery bounds how often SpaceLow asks the filesystem: statfs is
// cheap, but it is a syscall per batch at full load. Between two checks a
// server writes far less than the reserve (a few hundred KB at 20,000
// events/s).
const spaceCheckEvery = 50 * time.Millisecond

// Free returns the bytes available to the server on the journal's
// filesystem (statfs f_bavail × f_bsize).
func (j *Journal) Free() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(j.opts.Dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// MinFree is the reserve SpaceLow keeps (Options.MinFree, defaulted).
func (j *Journal) MinFree() uint64 { return j.opts.MinFree }

// SpaceLow reports whether the free space on the journal's filesystem is
// below MinFree, as of the last check; it checks again when the last check
// is older than spaceCheckEvery. A failed statfs counts as low: the server
// cannot know it is safe. It also returns the free bytes of that check.
//
// SpaceLow is for the goroutine that calls Append.
func (j *Journal) SpaceLow(now time.Time) (low bool, free uint64) {
	if j.opts.ReadOnly {
		return false, 0
	}
	if now.Sub(j.spaceAt) >= spaceCheckEvery || now.Before(j.spaceAt) {
		j.spaceAt = now
		f, err := j.Free()
		j.spaceErr = err
		j.spaceFree = f
		j.spaceLow = err != nil || f < j.opts.MinFree
	}
	return j.spaceLow, j.spaceFree
}

// SpaceErr is the error of the last statfs SpaceLow made (nil: it worked).
func (j *Journal) SpaceErr() error { return j.spaceErr }

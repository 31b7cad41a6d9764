package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
)

// DefaultSnapshotEvery is the default number of events between snapshots.
// A restart replays at most this many events after loading the snapshot
// (a fraction of a second: replay runs at about Apply's speed), while a
// snapshot of a large lease table costs far more than 100k appends.
const DefaultSnapshotEvery = 100_000

// formatMajorVersion pins Pebble's on-disk format. Set explicitly so a
// Pebble upgrade never ratchets the store to a format an older tandem
// cannot read; raising it is a deliberate, one-way change. TableFormatV6
// adds a checksum to every sstable footer.
const formatMajorVersion = pebble.FormatTableFormatV6

// memTableSize is Pebble's memtable size. Larger than Pebble's 4 MiB
// default so a burst of appends (about 60 bytes an event) flushes less
// often, and a restart replays the WAL into fewer memtables.
const memTableSize = 32 << 20

// Options configures Open.
type Options struct {
	// Dir is the Pebble directory (server.data-dir/journal). Created if
	// missing, unless ReadOnly.
	Dir string
	// Logger receives Pebble's log lines and the journal's own. Nil: none.
	Logger *zap.Logger
	// SnapshotEvery is the number of events between snapshots, as reported
	// by SnapshotDue. Zero means DefaultSnapshotEvery.
	SnapshotEvery uint64
	// ReadOnly opens the store without ever writing to it (offline tools).
	// The directory must exist; Append and Snapshot return ErrReadOnly.
	ReadOnly bool
	// NoIndex skips the audit index (index.go) in Append, and a new store
	// is not marked indexed. Only for measuring the index's cost: the
	// audit tools then scan every event.
	NoIndex bool
	// MinFree is the free space (bytes) on the journal's filesystem below
	// which SpaceLow reports true (space.go). Zero means DefaultMinFree.
	MinFree uint64
}

// Journal is an open event log.
//
// Append is for one goroutine (the serving loop); Snapshot, Restore and the
// readers may run on other goroutines, and LastSeq, SnapshotSeq and
// SnapshotDue may be called from any.
type Journal struct {
	db   *pebble.DB
	log  *zap.Logger
	opts Options

	// Writer state, owned by the goroutine calling Append. The batch and
	// the scratch buffer are reused so a steady-state Append allocates
	// nothing of its own.
	batch   *pebble.Batch
	scratch []byte
	key     [seqKeyLen]byte
	lastVal [8]byte
	ikey    []byte // audit index key scratch

	indexed bool // the audit index covers every event (metaIndex)

	last    atomic.Uint64 // the last seq appended and synced
	snapSeq atomic.Uint64 // seq of the newest complete snapshot; 0: none
	// snapCount is the records in the newest snapshot (SnapshotDue spaces
	// snapshots by it).
	snapCount atomic.Uint64
	closed    atomic.Bool

	snapMu sync.Mutex // serialises Snapshot, and retention's snapshot bookkeeping
	// pendingBase is the seq of the retention base a Retain run is
	// writing (0: none); Snapshot spares it. Guarded by snapMu.
	pendingBase uint64

	// Retention (retention.go): the first retained event (1: nothing was
	// removed), the horizon of the run that removed the rest, and the
	// time of the last removed event.
	first    atomic.Uint64
	cutoff   atomic.Int64
	baseTime atomic.Int64
	retainMu sync.Mutex // one Retain at a time

	// SpaceLow's cache, owned by the Append goroutine.
	spaceAt   time.Time
	spaceLow  bool
	spaceFree uint64
	spaceErr  error
}

// Open opens (or, unless ReadOnly, creates) the journal in o.Dir. It refuses
// a store of an unknown format, and checks that the events after the newest
// snapshot continue without gaps up to the last recorded append and all
// decode; a lost or corrupt tail is refused with a *SeqError naming the
// first bad sequence number.
func Open(o Options) (*Journal, error) {
	if o.Dir == "" {
		return nil, errors.New("journal: no directory")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.MinFree == 0 {
		o.MinFree = DefaultMinFree
	}
	db, err := pebble.Open(o.Dir, &pebble.Options{
		FormatMajorVersion: formatMajorVersion,
		Logger:             pebbleLogger{o.Logger},
		MemTableSize:       memTableSize,
		ReadOnly:           o.ReadOnly,
		// A read-only open of a missing store must fail, not find nothing.
		ErrorIfNotExists: o.ReadOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", o.Dir, err)
	}
	j := &Journal{db: db, log: o.Logger, opts: o}
	if err := j.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !o.ReadOnly {
		j.batch = db.NewBatch()
		j.scratch = make([]byte, 0, 4096)
		j.ikey = make([]byte, 0, 64)
	}
	j.log.Info("journal opened", zap.String("dir", o.Dir), zap.Bool("read_only", o.ReadOnly),
		zap.Uint64("last_seq", j.last.Load()), zap.Uint64("snapshot_seq", j.snapSeq.Load()))
	return j, nil
}

// load checks the store format and the tail, and sets last and snapSeq.
func (j *Journal) load() error {
	v, ok, err := j.get(metaFormat)
	if err != nil {
		return err
	}
	if !ok {
		empty, err := j.empty()
		if err != nil {
			return err
		}
		if !empty || j.opts.ReadOnly {
			return fmt.Errorf("%w: %s has no format version: not a tandem journal", ErrUnknownFormat, j.opts.Dir)
		}
		b := j.db.NewBatch()
		_ = b.Set(metaFormat, binary.AppendUvarint(nil, storeFormat), nil)
		if !j.opts.NoIndex {
			_ = b.Set(metaIndex, binary.AppendUvarint(nil, 1), nil)
		}
		err = b.Commit(pebble.Sync)
		_ = b.Close()
		if err != nil {
			return fmt.Errorf("journal: write format version: %w", err)
		}
		j.indexed = !j.opts.NoIndex
		j.first.Store(1)
		return nil
	}
	if f, n := binary.Uvarint(v); n != len(v) || f != storeFormat {
		return fmt.Errorf("%w: %s has store format %x, this build reads %d", ErrUnknownFormat, j.opts.Dir, v, storeFormat)
	}

	if _, ok, err := j.get(metaIndex); err != nil {
		return err
	} else {
		j.indexed = ok
	}

	var recorded uint64
	if v, ok, err = j.get(metaLast); err != nil {
		return err
	} else if ok {
		if len(v) != 8 {
			return fmt.Errorf("%w: bad last-seq record", ErrUnknownFormat)
		}
		recorded = binary.BigEndian.Uint64(v)
	}

	// History before the retention horizon was removed on purpose; its
	// state must survive as the base snapshot.
	if err := j.loadRetain(); err != nil {
		return err
	}
	if _, _, err := j.baseSnapshot(); err != nil {
		return err
	}
	if first := j.first.Load(); first > recorded+1 {
		return seqErr(recorded+1, fmt.Errorf("%w: retention removed up to %d, past the last recorded append", ErrMissingEvent, first-1))
	}

	snap, ok, err := j.newestSnapshot()
	if err != nil {
		return err
	}
	if ok {
		j.snapSeq.Store(snap.seq)
		j.snapCount.Store(snap.count)
		if snap.seq > recorded {
			return seqErr(recorded+1, fmt.Errorf("%w: snapshot at %d is past the last recorded append", ErrMissingEvent, snap.seq))
		}
	}

	// Every event after the snapshot must be there and decode.
	next := snap.seq + 1
	var ev engine.Event
	err = j.scan(next, ^uint64(0), func(seq uint64, val []byte) error {
		if seq > recorded {
			return seqErr(seq, fmt.Errorf("%w: event past the last recorded append (%d)", ErrCorruptEvent, recorded))
		}
		if seq != next {
			return seqErr(next, ErrMissingEvent)
		}
		if err := DecodeEvent(val, &ev); err != nil {
			return seqErr(seq, err)
		}
		next++
		return nil
	})
	if err != nil {
		return err
	}
	if next-1 != recorded {
		return seqErr(next, fmt.Errorf("%w: the log was written up to %d", ErrMissingEvent, recorded))
	}
	j.last.Store(recorded)
	return nil
}

// get reads one value, copied.
func (j *Journal) get(key []byte) ([]byte, bool, error) {
	v, c, err := j.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal: read %q: %w", key, err)
	}
	v = append([]byte(nil), v...)
	return v, true, c.Close()
}

func (j *Journal) empty() (bool, error) {
	it, err := j.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	found := it.First()
	return !found, it.Close()
}

// scan calls fn for every event key from seq from to seq to (inclusive) in
// order, with the raw value; the value is valid only during the call. A key
// under the event tag that is not tag+seq is reported as corrupt.
func (j *Journal) scan(from, to uint64, fn func(seq uint64, val []byte) error) error {
	if to < from {
		return nil
	}
	var lo, hi [seqKeyLen]byte
	seqKey(&lo, tagEvent, from)
	hiKey := []byte{tagEvent + 1}
	if to < ^uint64(0) {
		hiKey = seqKey(&hi, tagEvent, to+1)
	}
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: lo[:], UpperBound: hiKey})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != seqKeyLen {
			seq, _ := keySeq(k)
			_ = it.Close()
			return seqErr(seq, fmt.Errorf("%w: malformed key %x", ErrCorruptEvent, k))
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(binary.BigEndian.Uint64(k[1:]), v)
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// Append writes evs as the next sequence numbers, with their audit index
// keys, in one Pebble batch committed with Sync, and returns the last sequence number written. When
// it returns nil the events are durable. On error nothing was written and
// the sequence does not advance. An event the journal could not replay is
// refused (ErrInvalidEvent) before anything is written.
//
// Append is for one goroutine. In steady state it allocates nothing of its
// own: events are encoded into a reused scratch buffer and copied into a
// reused batch.
func (j *Journal) Append(evs []engine.Event) (last uint64, err error) {
	if j.closed.Load() {
		return 0, ErrClosed
	}
	if j.opts.ReadOnly {
		return 0, ErrReadOnly
	}
	seq := j.last.Load()
	if len(evs) == 0 {
		return seq, nil
	}
	b := j.batch
	defer b.Reset()
	first := seq + 1
	for i := range evs {
		j.scratch, err = AppendEvent(j.scratch[:0], &evs[i])
		if err != nil {
			return j.last.Load(), fmt.Errorf("%w (event %d of %d in the batch)", err, i+1, len(evs))
		}
		seq++
		if err := b.Set(seqKey(&j.key, tagEvent, seq), j.scratch, nil); err != nil {
			return j.last.Load(), fmt.Errorf("journal: batch: %w", err)
		}
	}
	// The index keys go after all the event keys, not between them: Pebble
	// inserts a batch into the memtable in order, reusing the previous
	// insert's position when the next key lands right after it, so the
	// event keys (ascending) cost a short step each only while no index key
	// (random order) comes between them. Interleaved, every event key paid
	// a full skiplist search (BenchmarkAppend, index=on).
	if !j.opts.NoIndex {
		for i := range evs {
			if j.ikey, err = indexEvent(b, j.ikey, first+uint64(i), &evs[i]); err != nil {
				return j.last.Load(), fmt.Errorf("journal: batch: %w", err)
			}
		}
	}
	binary.BigEndian.PutUint64(j.lastVal[:], seq)
	if err := b.Set(metaLast, j.lastVal[:], nil); err != nil {
		return j.last.Load(), fmt.Errorf("journal: batch: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return j.last.Load(), fmt.Errorf("journal: commit: %w", err)
	}
	j.last.Store(seq)
	return seq, nil
}

// LastSeq returns the sequence number of the last durable event (0: none).
func (j *Journal) LastSeq() uint64 { return j.last.Load() }

// SnapshotSeq returns the sequence number the newest snapshot was taken
// after (0: none).
func (j *Journal) SnapshotSeq() uint64 { return j.snapSeq.Load() }

// SnapshotDue reports whether a snapshot is due: SnapshotEvery events
// appended since the newest one, and at least SnapshotSpacing times as many
// events as that snapshot held records. A snapshot costs time in
// proportion to the state and holds the serving loop meanwhile, so spacing
// them by the state's size keeps their cost per event constant (at
// 1,000,000 leases a snapshot every 100,000 events made a full
// resynchronisation spend a third of its time writing snapshots), and the
// factor keeps the loop's stalls rare enough for the replication lag's p99
// (make bench-suite, the pair at half its max: p99 median 60 ms with
// snapshots every `records` events, 4 ms with almost none). The price is
// replay: a restart replays at most max(SnapshotEvery, 4 × records)
// events after loading the snapshot, about 4 s per million leases.
func (j *Journal) SnapshotDue() bool {
	since := j.last.Load() - j.snapSeq.Load()
	return !j.opts.ReadOnly && since >= j.opts.SnapshotEvery && since >= SnapshotSpacing*j.snapCount.Load()
}

// SnapshotSpacing is how many events per record of the newest snapshot
// must follow it before the next (SnapshotDue).
const SnapshotSpacing = 4

// Close closes the store. Append, Snapshot and the readers must not be
// running.
func (j *Journal) Close() error {
	if j.closed.Swap(true) {
		return ErrClosed
	}
	var err error
	if j.batch != nil {
		err = j.batch.Close()
	}
	if cerr := j.db.Close(); cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

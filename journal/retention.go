package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
)

// Retention removes the history older than a horizon while keeping the
// journal replayable and verifiable.
//
// The events 1..C that go are replaced by a snapshot of the state after C,
// the retention base: the oldest snapshot kept, immediately before the
// first retained event C+1. Replay, Verify and `replay --from-start` start
// from it; regular snapshots never delete it. "m"+"retain" records where
// history now legitimately starts, so Open and Verify tell the deliberate
// gap from a lost one:
//
//	'm' "retain" → first retained seq (8) | zv horizon | zv time of event C
//
// A run (Retain) reads the events from the first retained one while they
// are older than the horizon, and applies them to a private copy of the
// state loaded from the current base, so it never touches the serving
// loop's engine; C is the last of them, and never past the newest regular
// snapshot (so regular snapshots stay the newest). Then, in this order:
//
//  1. the snapshot after C (if there is none yet), synced;
//  2. one synced batch: "m"+"retain", DeleteRange of the events up to C,
//     and of the snapshots before C (the old base among them);
//  3. the audit index keys of the removed events, in batches of about
//     retainIndexBatch bytes, without sync.
//
// The meta record is what readers believe: index keys below the first
// retained seq are skipped, so a crash between 2 and 3 leaves at worst a
// few index keys nobody reads. Each run removes at most retainMaxEvents
// events (the index deletions are held in memory until step 3); Retain
// says when there is more to do.

var metaRetain = []byte("mretain")

const (
	// retainMaxEvents bounds one run's work and memory: its index
	// deletions (about 100 bytes an event) and the time the run holds a
	// copy of the state. The next run continues.
	retainMaxEvents = 250_000
	// retainIndexBatch is the size of one commit of index deletions: small
	// enough that the serving loop's Append, which queues behind it in
	// Pebble's commit pipeline, waits milliseconds, not seconds.
	retainIndexBatch = 256 << 10
	// retainPause is a rest after each index batch and each retainStride
	// events read: a run is background work with no deadline, and on a
	// small machine it otherwise competes with the serving loop for CPU
	// and for Pebble's commit pipeline (BenchmarkRetain measures both).
	retainPause  = 2 * time.Millisecond
	retainStride = 16_384
)

// ErrBeforeHorizon: a question about a time before the retention horizon,
// whose events were removed.
var ErrBeforeHorizon = errors.New("journal: before the retention horizon")

// Horizon describes what retention has removed: events 1..FirstSeq-1,
// whose state survives as the snapshot after FirstSeq-1.
type Horizon struct {
	FirstSeq uint64 // the first retained event; 1: nothing was removed
	Cutoff   int64  // the run's horizon: every removed event was older (Unix seconds)
	BaseTime int64  // the time of the last removed event: the base snapshot is the state from then
}

// Horizon returns what retention has removed (FirstSeq 1: nothing).
func (j *Journal) Horizon() Horizon {
	return Horizon{FirstSeq: j.first.Load(), Cutoff: j.cutoff.Load(), BaseTime: j.baseTime.Load()}
}

func encodeRetain(h Horizon) []byte {
	v := binary.BigEndian.AppendUint64(nil, h.FirstSeq)
	v = binary.AppendVarint(v, h.Cutoff)
	return binary.AppendVarint(v, h.BaseTime)
}

func decodeRetain(v []byte) (Horizon, error) {
	var h Horizon
	bad := fmt.Errorf("%w: bad retention record %x", ErrUnknownFormat, v)
	if len(v) < 8 {
		return h, bad
	}
	h.FirstSeq = binary.BigEndian.Uint64(v)
	v = v[8:]
	var n int
	if h.Cutoff, n = binary.Varint(v); n <= 0 {
		return h, bad
	}
	v = v[n:]
	if h.BaseTime, n = binary.Varint(v); n <= 0 || n != len(v) || h.FirstSeq < 2 {
		return h, bad
	}
	return h, nil
}

// loadRetain reads the retention record; a store without one starts at 1.
func (j *Journal) loadRetain() error {
	j.first.Store(1)
	v, ok, err := j.get(metaRetain)
	if err != nil || !ok {
		return err
	}
	h, err := decodeRetain(v)
	if err != nil {
		return err
	}
	j.first.Store(h.FirstSeq)
	j.cutoff.Store(h.Cutoff)
	j.baseTime.Store(h.BaseTime)
	return nil
}

// baseSnapshot returns the retention base's header; ok is false when
// nothing was removed.
func (j *Journal) baseSnapshot() (header, bool, error) {
	first := j.first.Load()
	if first <= 1 {
		return header{}, false, nil
	}
	var k [seqKeyLen]byte
	v, ok, err := j.get(seqKey(&k, tagHeader, first-1))
	if err != nil {
		return header{}, false, err
	}
	if !ok {
		return header{}, false, seqErr(first-1, fmt.Errorf("%w: the retention base (the snapshot after seq %d, before the first retained event) is missing",
			ErrCorruptSnapshot, first-1))
	}
	h, err := decodeHeader(first-1, v)
	return h, err == nil, err
}

// RetainResult is what one Retain run did.
type RetainResult struct {
	Removed  uint64        // events removed
	FirstSeq uint64        // the first retained event now
	More     bool          // it stopped at retainMaxEvents: run again
	Took     time.Duration // wall time of the run
}

// Retain removes the events older than horizon (Unix seconds) that
// precede the newest snapshot, at most retainMaxEvents of them, with their
// audit index keys, and keeps the state after the last one removed as the
// retention base snapshot (see the top of this file). It may run on any
// goroutine beside Append; it serialises with Snapshot only for short
// moments. The journal must not be read-only.
func (j *Journal) Retain(horizon int64) (RetainResult, error) {
	t0 := time.Now()
	res := RetainResult{FirstSeq: j.first.Load()}
	if j.closed.Load() {
		return res, ErrClosed
	}
	if j.opts.ReadOnly {
		return res, ErrReadOnly
	}
	j.retainMu.Lock()
	defer j.retainMu.Unlock()

	first, limit := j.first.Load(), j.snapSeq.Load()
	if limit < first {
		return res, nil
	}
	limit = min(limit, first+retainMaxEvents-1)

	// A cheap look before any work: is the first retained event old enough?
	var oldest engine.Event
	if err := j.event(first, &oldest); err != nil {
		return res, err
	}
	if oldest.Time >= horizon {
		return res, nil
	}

	// The state after the current base, advanced over the old events.
	state, err := NewToolEngine()
	if err != nil {
		return res, err
	}
	if h, ok, err := j.baseSnapshot(); err != nil {
		return res, err
	} else if ok {
		if err := j.loadSnapshot(state, &h); err != nil {
			return res, err
		}
	}
	var (
		cut     uint64
		cutTime int64
		idx     []*pebble.Batch
		key     []byte
		errStop = errors.New("stop")
	)
	defer func() {
		for _, b := range idx {
			_ = b.Close()
		}
	}()
	err = j.Events(first, func(seq uint64, ev *engine.Event) error {
		if seq > limit || ev.Time >= horizon {
			return errStop
		}
		state.Apply(*ev)
		cut, cutTime = seq, ev.Time
		if (seq-first)%retainStride == retainStride-1 {
			time.Sleep(retainPause)
		}
		if ev.Kind != engine.EventLease && ev.Kind != engine.EventFree {
			return nil
		}
		if len(idx) == 0 || idx[len(idx)-1].Len() >= retainIndexBatch {
			idx = append(idx, j.db.NewBatch())
		}
		var err error
		key, err = unindexEvent(idx[len(idx)-1], key, seq, ev)
		return err
	})
	if err != nil && !errors.Is(err, errStop) {
		return res, err
	}
	if cut < first {
		return res, nil
	}

	// 1. The new base. Regular snapshots spare it from now on.
	j.snapMu.Lock()
	j.pendingBase = cut
	j.snapMu.Unlock()
	defer func() {
		j.snapMu.Lock()
		j.pendingBase = 0
		j.snapMu.Unlock()
	}()
	var hk [seqKeyLen]byte
	if _, ok, err := j.get(seqKey(&hk, tagHeader, cut)); err != nil {
		return res, err
	} else if !ok {
		if _, err := j.writeSnapshot(state, cut); err != nil {
			return res, fmt.Errorf("journal: retention base: %w", err)
		}
	}

	// 2. The record and the removal, together.
	hz := Horizon{FirstSeq: cut + 1, Cutoff: horizon, BaseTime: cutTime}
	b := j.db.NewBatch()
	defer func() { _ = b.Close() }()
	_ = b.Set(metaRetain, encodeRetain(hz), nil)
	var elo, ehi [seqKeyLen]byte
	_ = b.DeleteRange(seqKey(&elo, tagEvent, 0), seqKey(&ehi, tagEvent, cut+1), nil)
	j.snapMu.Lock()
	j.deleteSnapshots(b, 0, cut)
	err = b.Commit(pebble.Sync)
	if err == nil {
		j.first.Store(hz.FirstSeq)
		j.cutoff.Store(hz.Cutoff)
		j.baseTime.Store(hz.BaseTime)
	}
	j.snapMu.Unlock()
	if err != nil {
		return res, fmt.Errorf("journal: retention commit: %w", err)
	}

	// 3. The index keys of what went.
	for _, ib := range idx {
		if err := ib.Commit(pebble.NoSync); err != nil {
			return res, fmt.Errorf("journal: retention index: %w", err)
		}
		time.Sleep(retainPause)
	}
	res = RetainResult{Removed: cut - first + 1, FirstSeq: cut + 1, More: cut == first+retainMaxEvents-1, Took: time.Since(t0)}
	j.log.Info("retention", zap.Uint64("removed", res.Removed), zap.Uint64("first_seq", res.FirstSeq),
		zap.Time("horizon", time.Unix(horizon, 0)), zap.Duration("took", res.Took))
	return res, nil
}

// unindexEvent adds the deletion of ev's index keys (see indexEvent) to b.
func unindexEvent(b *pebble.Batch, key []byte, seq uint64, ev *engine.Event) ([]byte, error) {
	key = binary.BigEndian.AppendUint64(appendResKey(key[:0], ev.Binding.Kind, ev.Binding.Prefix), seq)
	if err := b.Delete(key, nil); err != nil {
		return key, err
	}
	if d := ev.Binding.DUID; d != "" && len(d) <= maxDUIDIndex {
		key = binary.BigEndian.AppendUint64(appendDUIDKey(key[:0], d), seq)
		if err := b.Delete(key, nil); err != nil {
			return key, err
		}
	}
	return key, nil
}

// baseBinding finds r in the retention base snapshot: the state of r after
// the last removed event. It reads the whole snapshot (there is no index
// over it), so it is only for questions the retained events cannot answer.
func (j *Journal) baseBinding(r Resource, b *engine.Binding) (bool, error) {
	h, ok, err := j.baseSnapshot()
	if err != nil || !ok {
		return false, err
	}
	found := false
	err = j.walkSnapshot(&h, func(x *engine.Binding) bool {
		if x.Kind == r.Kind && x.Prefix == r.Prefix {
			*b, found = *x, true
			return false
		}
		return true
	})
	return found, err
}

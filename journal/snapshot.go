package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
)

// Snapshot sizing. Not part of the format: a reader takes chunks of any
// size.
const (
	// chunkBytes is the size a chunk is cut at: big enough that per-key
	// overhead is small, small enough to stay one Pebble block or two.
	chunkBytes = 32 << 10
	// snapBatchBytes is how much a snapshot writes per Pebble commit, so a
	// snapshot of millions of leases never builds one huge batch.
	snapBatchBytes = 4 << 20
)

// header is a decoded snapshot header.
type header struct {
	ver    byte   // value version of the header and its chunks
	seq    uint64 // the snapshot is the state after this event
	count  uint64 // records
	chunks uint64
	digest uint64 // engine.Digest of the state
	// endpoints are the failover endpoint records (v2 only).
	endpoints []engine.EndpointRecord
}

// appendHeader writes a v2 header.
func appendHeader(dst []byte, h *header) []byte {
	dst = append(dst, snapshotV2)
	dst = binary.AppendUvarint(dst, h.count)
	dst = binary.AppendUvarint(dst, h.chunks)
	dst = binary.BigEndian.AppendUint64(dst, h.digest)
	dst = binary.AppendUvarint(dst, uint64(len(h.endpoints)))
	for i := range h.endpoints {
		dst = appendEndpoint(dst, &h.endpoints[i], 0)
	}
	return dst
}

func decodeHeader(seq uint64, v []byte) (header, error) {
	h := header{seq: seq}
	bad := func(why string) (header, error) {
		return h, seqErr(seq, fmt.Errorf("%w: header: %s", ErrCorruptSnapshot, why))
	}
	if len(v) < 1 || v[0] != snapshotV1 && v[0] != snapshotV2 {
		return bad("unknown version")
	}
	h.ver = v[0]
	v = v[1:]
	var n int
	if h.count, n = binary.Uvarint(v); n <= 0 {
		return bad("bad count")
	}
	v = v[n:]
	if h.chunks, n = binary.Uvarint(v); n <= 0 {
		return bad("bad chunk count")
	}
	v = v[n:]
	if len(v) < 8 || h.ver == snapshotV1 && len(v) != 8 {
		return bad("bad digest")
	}
	h.digest = binary.BigEndian.Uint64(v)
	v = v[8:]
	if h.ver == snapshotV1 {
		return h, nil
	}
	ne, n := binary.Uvarint(v)
	if n <= 0 || ne > uint64(len(v)) {
		return bad("bad endpoint count")
	}
	v = v[n:]
	for i := uint64(0); i < ne; i++ {
		var r engine.EndpointRecord
		var err error
		if v, err = decodeEndpoint(v, &r, 0); err != nil {
			return bad(fmt.Sprintf("endpoint %d: %v", i, err))
		}
		h.endpoints = append(h.endpoints, r)
	}
	if len(v) != 0 {
		return bad("trailing bytes")
	}
	return h, nil
}

// snapshots returns every complete snapshot's header, oldest first. There
// is usually one; an older one survives only until its deletion is
// written after a newer header.
func (j *Journal) snapshots() ([]header, error) {
	lo, hi := tagBounds(tagHeader, 0)
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	var hs []header
	for ok := it.First(); ok; ok = it.Next() {
		seq, _ := keySeq(it.Key())
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		if len(it.Key()) != seqKeyLen {
			_ = it.Close()
			return nil, seqErr(seq, fmt.Errorf("%w: malformed header key", ErrCorruptSnapshot))
		}
		h, err := decodeHeader(seq, v)
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, it.Close()
}

func (j *Journal) newestSnapshot() (header, bool, error) {
	hs, err := j.snapshots()
	if err != nil || len(hs) == 0 {
		return header{}, false, err
	}
	return hs[len(hs)-1], true, nil
}

// Snapshot writes every record of e as the state after event seq, then
// deletes older snapshots. e must hold exactly the state after seq (the
// caller applied events 1..seq and nothing else) and seq must be durable.
// It runs on the goroutine that owns e and holds it for the time it takes
// to encode every record (about 100 ns each), not for the disk.
//
// A snapshot at the newest snapshot's seq is a no-op; an older one is
// refused.
func (j *Journal) Snapshot(e *engine.Engine, seq uint64) error {
	if j.closed.Load() {
		return ErrClosed
	}
	if j.opts.ReadOnly {
		return ErrReadOnly
	}
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	if last := j.last.Load(); seq > last {
		return fmt.Errorf("journal: snapshot after seq %d, but the log ends at %d", seq, last)
	}
	if cur := j.snapSeq.Load(); seq <= cur {
		if seq == cur {
			return nil
		}
		return fmt.Errorf("journal: snapshot after seq %d is older than the newest (%d)", seq, cur)
	}

	h, err := j.writeSnapshot(e, seq)
	if err != nil {
		return err
	}
	j.snapCount.Store(h.count)
	j.snapSeq.Store(seq)

	// Older snapshots, and chunks of any that never got a header, go,
	// except the retention base (retention.go), which the first retained
	// event needs. No sync: if this is lost, the next open still picks the
	// newest header and the next snapshot deletes the rest.
	del := j.db.NewBatch()
	defer func() { _ = del.Close() }()
	j.deleteSnapshots(del, 0, seq, j.first.Load()-1, j.pendingBase)
	if err := del.Commit(pebble.NoSync); err != nil {
		j.log.Warn("deleting old snapshots", zap.Error(err))
	}
	return nil
}

// writeSnapshot writes every record of e as the snapshot after seq: its
// chunks without sync, then its header with Sync, so the snapshot is
// complete exactly when its header is durable. The caller holds snapMu.
func (j *Journal) writeSnapshot(e *engine.Engine, seq uint64) (header, error) {
	w := snapWriter{j: j, seq: seq, b: j.db.NewBatch()}
	defer func() { _ = w.b.Close() }()
	w.startChunk()
	e.ForEach(func(b *engine.Binding) bool {
		w.add(b)
		return w.err == nil
	})
	w.endChunk()
	if w.err != nil {
		return header{}, w.err
	}
	h := header{ver: snapshotV2, seq: seq, count: w.count, chunks: uint64(w.idx), digest: e.Digest()}
	e.EndpointRecords(func(r engine.EndpointRecord) bool {
		h.endpoints = append(h.endpoints, r)
		return true
	})
	var hk [seqKeyLen]byte
	if err := w.b.Set(seqKey(&hk, tagHeader, seq), appendHeader(nil, &h), nil); err != nil {
		return header{}, err
	}
	// Sync makes the header, and with it every chunk written before it on
	// the same WAL, durable.
	if err := w.b.Commit(pebble.Sync); err != nil {
		return header{}, fmt.Errorf("journal: snapshot commit: %w", err)
	}
	j.log.Info("snapshot written", zap.Uint64("seq", seq), zap.Uint64("records", h.count),
		zap.Uint64("chunks", h.chunks), zap.String("digest", fmt.Sprintf("%016x", h.digest)))
	return h, nil
}

// deleteSnapshots adds to b the deletion of every snapshot (header and
// chunks) after seq from and before seq to, except those after the seqs
// in keep (0 in keep means nothing).
func (j *Journal) deleteSnapshots(b *pebble.Batch, from, to uint64, keep ...uint64) {
	slices.Sort(keep)
	lo := from
	var clo, chi [chunkKeyLen]byte
	var hlo, hhi [seqKeyLen]byte
	cut := func(hi uint64) {
		if hi > lo {
			_ = b.DeleteRange(chunkKey(&clo, lo, 0), chunkKey(&chi, hi, 0), nil)
			_ = b.DeleteRange(seqKey(&hlo, tagHeader, lo), seqKey(&hhi, tagHeader, hi), nil)
		}
	}
	for _, k := range keep {
		if k == 0 || k < lo || k >= to {
			continue
		}
		cut(k)
		lo = k + 1
	}
	cut(to)
}

// snapWriter cuts records into chunks and chunks into batches.
type snapWriter struct {
	j     *Journal
	seq   uint64
	b     *pebble.Batch
	buf   []byte
	n     uint32 // records in the current chunk
	idx   uint32 // index of the current chunk
	count uint64
	err   error
}

func (w *snapWriter) startChunk() {
	w.buf = append(w.buf[:0], snapshotV2, 0, 0, 0, 0) // count patched in endChunk
	w.n = 0
}

func (w *snapWriter) add(b *engine.Binding) {
	if err := checkBinding(b); err != nil {
		w.err = fmt.Errorf("journal: snapshot: record %s: %w", b.Prefix, err)
		return
	}
	w.buf = appendBinding(w.buf, b, 0, eventV2)
	w.n++
	w.count++
	if len(w.buf) >= chunkBytes {
		w.endChunk()
		w.startChunk()
	}
}

// endChunk writes the current chunk if it holds anything (or if it is the
// only one: an empty state is one empty chunk).
func (w *snapWriter) endChunk() {
	if w.err != nil || (w.n == 0 && w.idx > 0) {
		return
	}
	binary.BigEndian.PutUint32(w.buf[1:5], w.n)
	var k [chunkKeyLen]byte
	if w.err = w.b.Set(chunkKey(&k, w.seq, w.idx), w.buf, nil); w.err != nil {
		return
	}
	w.idx++
	if w.b.Len() >= snapBatchBytes {
		if err := w.b.Commit(pebble.NoSync); err != nil {
			w.err = fmt.Errorf("journal: snapshot: %w", err)
			return
		}
		w.b.Reset()
	}
}

// decodeChunk reads one snapshot chunk value of version ver: the version
// byte, a 4-byte record count, the records (bindings with base time 0).
// fn is called after each record is decoded into b; when it returns false
// the rest is not read. It returns the records read.
func decodeChunk(v []byte, ver byte, b *engine.Binding, fn func() bool) (uint32, error) {
	if len(v) < 5 || v[0] != ver || ver != snapshotV1 && ver != snapshotV2 {
		return 0, errors.New("unknown version")
	}
	n := binary.BigEndian.Uint32(v[1:5])
	p := v[5:]
	for i := uint32(0); i < n; i++ {
		var err error
		if p, err = decodeBinding(p, b, 0, ver); err != nil {
			return 0, fmt.Errorf("record %d: %w", i, err)
		}
		if !fn() {
			return i + 1, nil
		}
	}
	if len(p) != 0 {
		return 0, errors.New("trailing bytes")
	}
	return n, nil
}

// loadSnapshot applies every record of snapshot h to e (as EventLease) and
// checks the count and the digest; e must start empty.
func (j *Journal) loadSnapshot(e *engine.Engine, h *header) error {
	// Endpoint records first: they count in the digest checked below.
	for i := range h.endpoints {
		e.Apply(engine.Event{Kind: engine.EventEndpoint, Endpoint: h.endpoints[i]})
	}
	// Room for every record first: a snapshot lists them in the slot
	// order of the engine that wrote it, which a growing table turns into
	// one long probe run (engine.Reserve).
	if e.Len() == 0 && h.count <= math.MaxInt32 {
		e.Reserve(int(h.count))
	}
	ev := engine.Event{Kind: engine.EventLease}
	err := j.walkSnapshot(h, func(b *engine.Binding) bool {
		ev.Binding = *b
		e.Apply(ev)
		return true
	})
	e.Compact()
	if err != nil {
		return err
	}
	if d := e.Digest(); d != h.digest {
		return seqErr(h.seq, fmt.Errorf("%w: digest %016x, header says %016x", ErrCorruptSnapshot, d, h.digest))
	}
	return nil
}

// walkSnapshot calls fn for every record of snapshot h, in order, until fn
// returns false; b is reused between calls. Run to the end, it checks the
// chunk sequence and the record count against the header.
func (j *Journal) walkSnapshot(h *header, fn func(b *engine.Binding) bool) error {
	bad := func(format string, args ...any) error {
		return seqErr(h.seq, fmt.Errorf("%w: "+format, append([]any{ErrCorruptSnapshot}, args...)...))
	}
	var lo, hi [chunkKeyLen]byte
	it, err := j.db.NewIter(&pebble.IterOptions{
		LowerBound: chunkKey(&lo, h.seq, 0),
		UpperBound: chunkKey(&hi, h.seq+1, 0),
	})
	if err != nil {
		return err
	}
	defer func() { _ = it.Close() }()
	var (
		b     engine.Binding
		count uint64
		idx   uint64
	)
	for ok := it.First(); ok && idx < h.chunks; ok = it.Next() {
		k := it.Key()
		if len(k) != chunkKeyLen || uint64(binary.BigEndian.Uint32(k[9:])) != idx {
			return bad("chunk %d missing", idx)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more := true
		n, err := decodeChunk(v, h.ver, &b, func() bool { more = fn(&b); return more })
		if err != nil {
			return bad("chunk %d: %v", idx, err)
		}
		if !more {
			return nil
		}
		count += uint64(n)
		idx++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if idx != h.chunks {
		return bad("chunk %d missing", idx)
	}
	if count != h.count {
		return bad("%d records, header says %d", count, h.count)
	}
	return nil
}

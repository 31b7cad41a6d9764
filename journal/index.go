package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tandemdhcp/tandem/engine"
)

// The audit index answers "every event that touched resource R" and "every
// event of client D" with a prefix scan instead of a walk over the whole
// log. Append writes its keys in the same Pebble batch as the events they
// point at, so the index is exactly as durable as the log. The key layout
// is in the package doc.

// Index key tags. Part of the format: they must not change.
const (
	tagDUIDIndex = 'd' // 'd' DUID len (2) DUID seq(8) → empty
	tagResIndex  = 'i' // 'i' kind(1) address(16) bits(1) seq(8) → zv event time
)

// metaIndex marks a store whose index covers every event: written when the
// store is created (unless Options.NoIndex) and by Reindex. A store without
// it was written before the index existed (or with NoIndex); its readers
// fall back to scanning every event.
var metaIndex = []byte("mindex")

const (
	resLen       = 1 + 16 + 1 // kind + address + prefix length
	resKeyLen    = 1 + resLen + 8
	maxDUIDIndex = 1<<16 - 1 // the DUID length field is 2 bytes
)

// Resource names one leasable resource: an address (KindNA, a /128) or a
// delegated prefix (KindPD).
type Resource struct {
	Kind   engine.Kind
	Prefix netip.Prefix
}

// AddrResource is the resource of an address lease.
func AddrResource(a netip.Addr) Resource {
	return Resource{Kind: engine.KindNA, Prefix: netip.PrefixFrom(a, 128)}
}

// PrefixResource is the resource of a delegated prefix.
func PrefixResource(p netip.Prefix) Resource {
	return Resource{Kind: engine.KindPD, Prefix: p.Masked()}
}

// appendResKey appends 'i' + resource (+ seq when withSeq).
func appendResKey(dst []byte, kind engine.Kind, p netip.Prefix) []byte {
	a := p.Addr().As16()
	dst = append(dst, tagResIndex, byte(kind))
	dst = append(dst, a[:]...)
	return append(dst, byte(p.Bits()))
}

func appendDUIDKey(dst []byte, duid string) []byte {
	dst = append(dst, tagDUIDIndex)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(duid)))
	return append(dst, duid...)
}

// indexEvent adds ev's index keys (seq seq) to b; key is scratch space.
func indexEvent(b *pebble.Batch, key []byte, seq uint64, ev *engine.Event) ([]byte, error) {
	if ev.Kind != engine.EventLease && ev.Kind != engine.EventFree {
		return key, nil
	}
	var tv [binary.MaxVarintLen64]byte
	key = binary.BigEndian.AppendUint64(appendResKey(key[:0], ev.Binding.Kind, ev.Binding.Prefix), seq)
	if err := b.Set(key, tv[:binary.PutVarint(tv[:], ev.Time)], nil); err != nil {
		return key, err
	}
	if d := ev.Binding.DUID; d != "" && len(d) <= maxDUIDIndex {
		key = binary.BigEndian.AppendUint64(appendDUIDKey(key[:0], d), seq)
		if err := b.Set(key, nil, nil); err != nil {
			return key, err
		}
	}
	return key, nil
}

// Indexed reports whether the audit index covers every event. When it
// does not, History, HistoryDUID and Who scan every event instead (same
// answers, slower); Reindex builds it.
func (j *Journal) Indexed() bool { return j.indexed }

// Reindex builds the audit index from the events and marks the store
// indexed. It needs a read-write journal (the server stopped); it is
// idempotent, and returns the number of events indexed.
func (j *Journal) Reindex() (uint64, error) {
	if j.closed.Load() {
		return 0, ErrClosed
	}
	if j.opts.ReadOnly {
		return 0, ErrReadOnly
	}
	b := j.db.NewBatch()
	var key []byte
	var n uint64
	err := j.Events(1, func(seq uint64, ev *engine.Event) error {
		var err error
		if key, err = indexEvent(b, key, seq, ev); err != nil {
			return err
		}
		n++
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Reset()
		}
		return nil
	})
	if err == nil {
		err = b.Set(metaIndex, binary.AppendUvarint(nil, 1), nil)
	}
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	_ = b.Close()
	if err != nil {
		return n, fmt.Errorf("journal: reindex: %w", err)
	}
	j.indexed = true
	return n, nil
}

// History calls fn for every durable event that touched r (lease and free
// events of that kind and prefix), in sequence order. ev is reused
// between calls.
func (j *Journal) History(r Resource, fn func(seq uint64, ev *engine.Event) error) error {
	if !j.indexed {
		return j.Events(1, func(seq uint64, ev *engine.Event) error {
			if touches(ev, r) {
				return fn(seq, ev)
			}
			return nil
		})
	}
	return j.indexWalk(appendResKey(nil, r.Kind, r.Prefix), fn)
}

// HistoryDUID calls fn for every durable lease or free event of the client
// with this DUID, in sequence order.
func (j *Journal) HistoryDUID(duid string, fn func(seq uint64, ev *engine.Event) error) error {
	if !j.indexed || len(duid) > maxDUIDIndex {
		return j.Events(1, func(seq uint64, ev *engine.Event) error {
			if (ev.Kind == engine.EventLease || ev.Kind == engine.EventFree) && ev.Binding.DUID == duid {
				return fn(seq, ev)
			}
			return nil
		})
	}
	return j.indexWalk(appendDUIDKey(nil, duid), fn)
}

func touches(ev *engine.Event, r Resource) bool {
	return (ev.Kind == engine.EventLease || ev.Kind == engine.EventFree) &&
		ev.Binding.Kind == r.Kind && ev.Binding.Prefix == r.Prefix
}

// indexWalk visits the events named by the index keys under prefix.
func (j *Journal) indexWalk(prefix []byte, fn func(seq uint64, ev *engine.Event) error) error {
	if j.closed.Load() {
		return ErrClosed
	}
	last, first := j.last.Load(), j.first.Load()
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	var ev engine.Event
	for ok := it.First(); ok; ok = it.Next() {
		seq, err := indexSeq(it.Key(), len(prefix))
		if err != nil {
			return err
		}
		if seq < first {
			continue // left behind by an interrupted retention run
		}
		if seq > last {
			break
		}
		if err := j.event(seq, &ev); err != nil {
			return err
		}
		if err := fn(seq, &ev); err != nil {
			return err
		}
	}
	return it.Error()
}

func indexSeq(k []byte, plen int) (uint64, error) {
	if len(k) != plen+8 {
		return 0, fmt.Errorf("%w: malformed index key %x", ErrCorruptEvent, k)
	}
	return binary.BigEndian.Uint64(k[plen:]), nil
}

// event reads and decodes event seq.
func (j *Journal) event(seq uint64, ev *engine.Event) error {
	var k [seqKeyLen]byte
	v, c, err := j.db.Get(seqKey(&k, tagEvent, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return seqErr(seq, fmt.Errorf("%w (named by the audit index)", ErrMissingEvent))
	}
	if err != nil {
		return seqErr(seq, err)
	}
	err = DecodeEvent(v, ev)
	_ = c.Close()
	if err != nil {
		return seqErr(seq, err)
	}
	return nil
}

// prefixEnd is the smallest key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Holder is Who's answer.
type Holder struct {
	// Seq and Event are the last event that touched the resource at or
	// before the time asked (Seq 0: none did).
	Seq   uint64
	Event engine.Event
	// Held: that event left the resource ACTIVE for its client, and its
	// valid lifetime had not run out at the time asked. Event.Binding
	// then names the client.
	Held bool
	// FromBase: retention removed the resource's events at or before the
	// time asked, and the answer is the resource's record in the retention
	// base snapshot (Seq is the base's seq, Event a lease event carrying
	// the record at the base's time). With Seq 0, the base has no record
	// of it either: nobody.
	FromBase bool
}

// Who answers which client held r at time at (Unix seconds): the last
// event of r whose time is at or before at, by sequence number. With the
// index it reads r's index keys backwards from the newest, so its cost is
// the number of r's events after at, not the log's length.
//
// When retention removed the start of the log and no retained event of r
// is at or before at, the answer is r's record in the retention base
// snapshot (FromBase) if at is at or after the base's time, and
// ErrBeforeHorizon if it is before: that history is gone.
func (j *Journal) Who(r Resource, at int64) (Holder, error) {
	h, err := j.who(r, at)
	if err != nil || h.Seq != 0 || j.first.Load() <= 1 {
		return h, err
	}
	hz := j.Horizon()
	if at < hz.BaseTime {
		return h, fmt.Errorf("%w: events up to seq %d, all before %s, were removed by retention",
			ErrBeforeHorizon, hz.FirstSeq-1, time.Unix(hz.Cutoff, 0).UTC().Format(time.RFC3339))
	}
	h.FromBase = true
	ok, err := j.baseBinding(r, &h.Event.Binding)
	if err != nil || !ok {
		return h, err
	}
	h.Seq = hz.FirstSeq - 1
	h.Event.Kind, h.Event.Time = engine.EventLease, hz.BaseTime
	h.Held = held(&h.Event, at)
	return h, nil
}

func (j *Journal) who(r Resource, at int64) (Holder, error) {
	var h Holder
	if j.closed.Load() {
		return h, ErrClosed
	}
	if !j.indexed {
		err := j.Events(1, func(seq uint64, ev *engine.Event) error {
			if touches(ev, r) && ev.Time <= at {
				h.Seq, h.Event = seq, *ev
			}
			return nil
		})
		h.Held = h.Seq != 0 && held(&h.Event, at)
		return h, err
	}
	prefix := appendResKey(nil, r.Kind, r.Prefix)
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return h, err
	}
	defer it.Close()
	last, first := j.last.Load(), j.first.Load()
	for ok := it.Last(); ok; ok = it.Prev() {
		seq, err := indexSeq(it.Key(), len(prefix))
		if err != nil {
			return h, err
		}
		if seq > last {
			continue
		}
		if seq < first {
			break // left behind by an interrupted retention run
		}
		t, n := binary.Varint(it.Value())
		if n <= 0 {
			return h, seqErr(seq, fmt.Errorf("%w: bad index value", ErrCorruptEvent))
		}
		if t > at {
			continue
		}
		h.Seq = seq
		if err := j.event(seq, &h.Event); err != nil {
			return h, err
		}
		h.Held = held(&h.Event, at)
		return h, nil
	}
	return h, it.Error()
}

func held(ev *engine.Event, at int64) bool {
	b := &ev.Binding
	return ev.Kind == engine.EventLease && b.Status == engine.StatusActive && (b.Expires == 0 || at < b.Expires)
}

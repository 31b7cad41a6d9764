package journal

import (
	"errors"
	"fmt"

	"github.com/tandemdhcp/tandem/engine"
)

// Events calls fn for every durable event from sequence number from to
// LastSeq as of the call, in order. From 0 or 1 means from the first
// retained event (1 unless retention removed the start of the log); any
// other from before it is refused with ErrBeforeHorizon, so a reader
// resuming from a cursor never skips events silently. ev is reused between
// calls: it is valid only during the call (its strings may be kept). A gap
// or an event that does not decode stops the walk with a *SeqError; an
// error from fn stops it and is returned as is.
func (j *Journal) Events(from uint64, fn func(seq uint64, ev *engine.Event) error) error {
	if j.closed.Load() {
		return ErrClosed
	}
	if first := j.first.Load(); from <= 1 {
		from = first
	} else if from < first {
		return fmt.Errorf("%w: events from %d: retention removed events 1..%d", ErrBeforeHorizon, from, first-1)
	}
	// A commit is readable before its sync returns; stop at the durable
	// watermark so a reader never sees an event that may yet be lost.
	last := j.last.Load()
	if from > last+1 {
		return fmt.Errorf("journal: events from %d: the log ends at %d", from, last)
	}
	next := from
	var ev engine.Event
	err := j.scan(from, last, func(seq uint64, val []byte) error {
		if seq != next {
			return seqErr(next, ErrMissingEvent)
		}
		if err := DecodeEvent(val, &ev); err != nil {
			return seqErr(seq, err)
		}
		next++
		return fn(seq, &ev)
	})
	if err != nil {
		return err
	}
	if next != last+1 {
		return seqErr(next, ErrMissingEvent)
	}
	return nil
}

// Restore rebuilds the state in e, which must be empty (fresh from
// engine.New): it loads the newest snapshot, checking its record count and
// digest, then applies every event after it. It returns the last sequence
// number applied, which is LastSeq.
func (j *Journal) Restore(e *engine.Engine) (seq uint64, err error) {
	if j.closed.Load() {
		return 0, ErrClosed
	}
	if e.Len() != 0 {
		return 0, errors.New("journal: restore into an engine that holds records")
	}
	h, ok, err := j.newestSnapshot()
	if err != nil {
		return 0, err
	}
	from := uint64(1)
	if ok {
		if err := j.loadSnapshot(e, &h); err != nil {
			return 0, err
		}
		from = h.seq + 1
	}
	return j.ReplayFrom(e, from)
}

// ReplayFrom applies the events from sequence number from (0 means 1) to
// LastSeq to e, ignoring snapshots, and returns the last sequence number
// applied (from-1 when there was none). Replaying from 1 into an empty
// engine rebuilds the state from the whole history; it needs the log to
// still start at 1 (ReplayFromStart copes with retention). On an error,
// the events before the bad one have been applied.
func (j *Journal) ReplayFrom(e *engine.Engine, from uint64) (uint64, error) {
	if from == 0 {
		from = 1
	}
	if first := j.first.Load(); from < first {
		return 0, fmt.Errorf("%w: events 1..%d were removed by retention; replay from the retention base", ErrBeforeHorizon, first-1)
	}
	return j.replay(e, from)
}

// ReplayFromStart rebuilds the state in e (empty) from the oldest history
// kept, ignoring every snapshot but the retention base: from the first
// event, or, when retention removed the start of the log, from the base
// snapshot and the first retained event. It returns the base's seq (0:
// none) and the last seq applied.
func (j *Journal) ReplayFromStart(e *engine.Engine) (base, last uint64, err error) {
	if j.closed.Load() {
		return 0, 0, ErrClosed
	}
	if e.Len() != 0 {
		return 0, 0, errors.New("journal: replay into an engine that holds records")
	}
	h, ok, err := j.baseSnapshot()
	if err != nil {
		return 0, 0, err
	}
	if ok {
		if err := j.loadSnapshot(e, &h); err != nil {
			return 0, 0, err
		}
		base = h.seq
	}
	last, err = j.replay(e, base+1)
	return base, last, err
}

// Replay is pipelined: one goroutine reads and decodes events into blocks
// while the caller's goroutine applies them, so a restart costs about what
// Apply costs, not Apply plus Pebble plus decoding. A few blocks circulate
// between the two (the applier always drains them, so the decoder never
// waits for long); the order of events is kept.
const (
	replayBlock  = 512 // events per block handed from decoder to applier
	replayBlocks = 4   // blocks in flight
)

type replayBatch struct {
	evs  []engine.Event
	last uint64
}

func (j *Journal) replay(e *engine.Engine, from uint64) (uint64, error) {
	free := make(chan *replayBatch, replayBlocks)
	full := make(chan *replayBatch, replayBlocks)
	for i := 0; i < replayBlocks; i++ {
		free <- &replayBatch{evs: make([]engine.Event, 0, replayBlock)}
	}
	errc := make(chan error, 1)
	go func() {
		defer close(full)
		b := <-free
		err := j.Events(from, func(seq uint64, ev *engine.Event) error {
			b.evs = append(b.evs, *ev)
			b.last = seq
			if len(b.evs) == replayBlock {
				full <- b
				b = <-free
			}
			return nil
		})
		if len(b.evs) > 0 {
			full <- b
		}
		errc <- err
	}()

	last := from - 1
	for b := range full {
		for i := range b.evs {
			e.Apply(b.evs[i])
		}
		last = b.last
		clear(b.evs) // drop the strings
		b.evs = b.evs[:0]
		free <- b
	}
	return last, <-errc
}

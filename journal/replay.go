package journal

import (
	"errors"
	"fmt"

	"github.com/tandemdhcp/tandem/engine"
)

// Events calls fn for every durable event from sequence number from
// (0 means 1) to LastSeq as of the call, in order. ev is reused between
// calls: it is valid only during the call (its strings may be kept). A gap
// or an event that does not decode stops the walk with a *SeqError; an
// error from fn stops it and is returned as is.
func (j *Journal) Events(from uint64, fn func(seq uint64, ev *engine.Event) error) error {
	if j.closed.Load() {
		return ErrClosed
	}
	if from == 0 {
		from = 1
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
// still start at 1.
func (j *Journal) ReplayFrom(e *engine.Engine, from uint64) (uint64, error) {
	if from == 0 {
		from = 1
	}
	last := from - 1
	err := j.Events(from, func(seq uint64, ev *engine.Event) error {
		e.Apply(*ev)
		last = seq
		return nil
	})
	return last, err
}

package journal

import (
	"fmt"
	"io"
	"time"

	"github.com/tandemdhcp/tandem/engine"
)

// NewToolEngine returns an empty engine for offline tools that rebuild
// state from the journal without the server's config. Apply and Digest do
// not depend on the config (records outside every subnet are kept as
// they are), so the digest matches the live server's.
func NewToolEngine() (*engine.Engine, error) {
	return engine.New(engine.Config{ServerDUID: []byte("tandem-journal-tool")})
}

// Verify checks the whole journal and writes a report to w:
//
//   - the events form one run of sequence numbers, from the first retained
//     one to the last recorded append, and every one decodes;
//   - every snapshot decodes, holds the record count its header says, and
//     rebuilds the digest its header says;
//   - replaying the events up to a snapshot's seq gives that snapshot's
//     digest, when the log reaches back far enough (it starts at 1, or at
//     an earlier snapshot).
//
// It returns the first problem, as a *SeqError naming the first bad
// sequence number where there is one. It reads the whole log into memory
// as engine state; it is for offline tools.
func (j *Journal) Verify(w io.Writer) error {
	if j.closed.Load() {
		return ErrClosed
	}
	hs, err := j.snapshots()
	if err != nil {
		return err
	}
	last, start := j.last.Load(), j.first.Load()
	fmt.Fprintf(w, "store format %d, last recorded seq %d\n", storeFormat, last)
	if start > 1 {
		hz := j.Horizon()
		fmt.Fprintf(w, "retention: events 1..%d removed (horizon %s); history starts from the snapshot after seq %d\n",
			start-1, time.Unix(hz.Cutoff, 0).UTC().Format(time.RFC3339), start-1)
		if _, _, err := j.baseSnapshot(); err != nil {
			return err
		}
	}
	if n := len(hs); n > 0 && hs[n-1].seq > last {
		return seqErr(last+1, fmt.Errorf("%w: snapshot after seq %d is past the last recorded append", ErrMissingEvent, hs[n-1].seq))
	}

	var (
		state *engine.Engine // the replayed state; nil until there is a base
		hi    int            // next snapshot header to check
		first uint64         // first retained event
		next  uint64         // the seq expected next
		ev    engine.Event
	)
	// at checks every snapshot taken after seq, against the replay when
	// there is one, or adopts it as the base of the replay.
	at := func(seq uint64) error {
		for ; hi < len(hs) && hs[hi].seq <= seq; hi++ {
			h := &hs[hi]
			snap, err := NewToolEngine()
			if err != nil {
				return err
			}
			if err := j.loadSnapshot(snap, h); err != nil {
				return err
			}
			how := "content ok"
			switch {
			case h.seq == seq && state != nil:
				if d := state.Digest(); d != h.digest {
					return seqErr(h.seq, fmt.Errorf("%w: replayed digest %016x, snapshot says %016x", ErrCorruptSnapshot, d, h.digest))
				}
				how = "content ok, matches replay"
			case h.seq == seq:
				state = snap
				how = "content ok, replay continues from it"
			}
			fmt.Fprintf(w, "snapshot after seq %d: %d records in %d chunks, digest %016x: %s\n",
				h.seq, h.count, h.chunks, h.digest, how)
		}
		return nil
	}

	err = j.scan(start, ^uint64(0), func(seq uint64, val []byte) error {
		if first == 0 {
			if seq != start {
				return seqErr(start, fmt.Errorf("%w: the log should start there", ErrMissingEvent))
			}
			first, next = seq, seq
			if seq == 1 {
				e, err := NewToolEngine()
				if err != nil {
					return err
				}
				state = e
			}
			if err := at(seq - 1); err != nil {
				return err
			}
		}
		if seq > last {
			return seqErr(seq, fmt.Errorf("%w: event past the last recorded append (%d)", ErrCorruptEvent, last))
		}
		if seq != next {
			return seqErr(next, ErrMissingEvent)
		}
		if err := DecodeEvent(val, &ev); err != nil {
			return seqErr(seq, err)
		}
		if state != nil {
			state.Apply(ev)
		}
		next++
		return at(seq)
	})
	if err != nil {
		return err
	}
	if first == 0 {
		if err := at(last); err != nil {
			return err
		}
		if last >= start {
			return seqErr(start, fmt.Errorf("%w: the log was written up to %d", ErrMissingEvent, last))
		}
		if last != 0 && (len(hs) == 0 || hs[len(hs)-1].seq != last) {
			return seqErr(last, fmt.Errorf("%w: no events are retained", ErrMissingEvent))
		}
		fmt.Fprintf(w, "events: none retained\n")
	} else {
		if next-1 != last {
			return seqErr(next, fmt.Errorf("%w: the log was written up to %d", ErrMissingEvent, last))
		}
		fmt.Fprintf(w, "events: %d (seq %d..%d), all decode, no gaps\n", last-first+1, first, last)
	}
	if state != nil {
		fmt.Fprintf(w, "digest after seq %d: %016x\n", last, state.Digest())
	} else if first > 1 {
		fmt.Fprintf(w, "log starts at seq %d with no snapshot to replay from: state not rebuilt\n", first)
	}
	fmt.Fprintln(w, "ok")
	return nil
}

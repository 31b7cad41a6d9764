package node

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultRetentionEvery is how often journal retention runs when it is on.
// Retention's horizon moves with the clock, so each run removes about
// this much history; an hour keeps each run small (its cost is the events
// it removes plus a copy of the lease state) while the journal never holds
// more than an hour beyond the retention it was given.
const DefaultRetentionEvery = time.Hour

// retention runs journal.Retain off the serving loop: the loop only starts
// a run, on a tick, when one is due and none is running. A run reads the
// journal and writes a snapshot and deletions beside the loop's appends;
// the loop never waits for it (Pebble serialises their commits, and the
// run's commits are small: see journal/retention.go).
type retention struct {
	running atomic.Bool
	next    time.Time // when the next run is due; loop goroutine only
	wg      sync.WaitGroup
	runs    atomic.Uint64
	removed atomic.Uint64
}

// maybeRetain starts a retention run if one is due. Loop goroutine only.
func (n *Node) maybeRetain(now time.Time) {
	r := &n.retention
	keep := n.opts.JournalRetention
	if keep <= 0 || now.Before(r.next) || r.running.Load() {
		return
	}
	r.next = now.Add(n.opts.RetentionEvery)
	r.running.Store(true)
	r.wg.Add(1)
	horizon := now.Add(-keep).Unix()
	go func() {
		defer r.wg.Done()
		defer r.running.Store(false)
		for {
			res, err := n.jrn.Retain(horizon)
			if err != nil {
				n.log.Warn("journal retention", zap.Error(err))
				return
			}
			r.runs.Add(1)
			r.removed.Add(res.Removed)
			if !res.More {
				return
			}
			select {
			case <-n.stop:
				return
			default:
			}
		}
	}()
}

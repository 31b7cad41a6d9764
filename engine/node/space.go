package node

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Disk space. The journal keeps a reserve of free space (journal/space.go:
// Pebble cannot survive ENOSPC). While the free space is below it the loop
// takes no new client work: a request would need events the journal may
// not be able to write, and a reply that reveals a lease must not leave
// before its event is durable. Such requests are dropped unanswered and
// counted (tandem_packets_dropped_total{reason="journal-full"}); the state
// is logged once on each change, shown in /v1/status (journal.space_low,
// journal.error) and as tandem_journal_space_low. Partner messages,
// endpoint state changes and expiries go on: they are small and come out
// of the reserve. Snapshots wait. Serving resumes by itself once space is
// back (checked at least every second, and with every batch).

// spaceOK checks the journal's free space (cached by the journal for a
// few ms) and logs a change of state. It runs on the loop.
func (n *Node) spaceOK(now time.Time) bool {
	low, free := n.jrn.SpaceLow(now)
	n.stats.JournalFree.Store(free)
	if low == n.stats.SpaceLow.Load() {
		return !low
	}
	n.stats.SpaceLow.Store(low)
	if low {
		n.log.Error("journal space low: not granting leases until space returns",
			zap.String("error", n.spaceError(free)), zap.Uint64("free_bytes", free),
			zap.Uint64("min_free_bytes", n.jrn.MinFree()), zap.NamedError("statfs", n.jrn.SpaceErr()))
	} else {
		n.log.Info("journal space available again: serving",
			zap.Uint64("free_bytes", free), zap.Uint64("min_free_bytes", n.jrn.MinFree()),
			zap.Uint64("requests_refused", n.stats.NoSpace.Load()))
	}
	return !low
}

// spaceError is the operator's one-line explanation while space is low.
func (n *Node) spaceError(free uint64) string {
	if err := n.jrn.SpaceErr(); err != nil {
		return fmt.Sprintf("cannot read the journal filesystem's free space (%v): not granting leases", err)
	}
	return fmt.Sprintf("disk nearly full: %d bytes free on the journal's filesystem, below the reserve of %d (--journal-min-free): not granting leases",
		free, n.jrn.MinFree())
}

// take steps a batch of client requests, or, while the journal is low on
// space, hands it straight back to its reader unanswered.
func (n *Node) take(b *rxBatch, held []*rxBatch) []*rxBatch {
	if n.spaceOK(time.Now()) {
		return n.stepBatch(b, held)
	}
	k := 0
	for j := 0; j < b.n; j++ {
		if b.ok[j] {
			k++
		}
	}
	n.stats.NoSpace.Add(uint64(k))
	b.owner <- b
	return held
}

package node

import (
	"math"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
)

// What an operator (and the end-to-end tests) can see of a failover
// relationship beyond its current state: a log line per endpoint state
// change, and the distribution of replication lag.

// logEndpointStates logs every endpoint state change in a durable commit
// ("failover state", from, to, partner). The engine journals an
// EventEndpoint for each transition; the log is written once the event is
// durable, so its time is within one commit of the transition. A brief state
// (RECOVER while a small UPDREQALL completes, POTENTIAL-CONFLICT) is seen
// here even when no status poll would catch it.
func (n *Node) logEndpointStates(evs []engine.Event) {
	for i := range evs {
		ev := &evs[i]
		if ev.Kind != engine.EventEndpoint {
			continue
		}
		for _, p := range n.peers {
			if p.name != ev.Endpoint.Rel || p.loggedState == ev.Endpoint.State {
				continue
			}
			from := "none" // no stored state: a new server, or one that lost its storage
			if p.loggedState.Valid() {
				from = p.loggedState.String()
			}
			n.log.Info("failover state", zap.String("relationship", p.name),
				zap.String("from", from), zap.Stringer("to", ev.Endpoint.State),
				zap.Stringer("partner", ev.Endpoint.PartnerState))
			p.loggedState = ev.Endpoint.State
		}
	}
}

// lagSamples is how many recent BNDREPLY lags a relationship keeps: at
// a few thousand acks a second, the last few seconds of load; with a
// trickle, the last several thousand updates however old.
const lagSamples = 8192

// lagRing keeps the replication lag of the most recent acked BNDUPDs: for
// each, the time from the durable journal commit of the oldest change it
// carried (when the change was offered to the Outbox) to the partner's
// BNDREPLY accepting it. Changes queued again by an UPDREQ, UPDREQALL or a
// return to NORMAL count from when they were queued again; changes held
// across a disconnection count from their commit, so an outage shows as
// a long tail. Recording is a store into a fixed array (the BNDREPLY path
// allocates nothing); the percentiles are computed on demand.
type lagRing struct {
	d [lagSamples]int64 // nanoseconds
	n uint64            // samples recorded, ever
}

func (r *lagRing) add(d int64) {
	r.d[r.n%lagSamples] = max(d, 0)
	r.n++
}

// quantiles returns the p50 and p99 of the samples held, in milliseconds,
// and how many samples that is (0: none yet, both 0).
func (r *lagRing) quantiles() (p50, p99 float64, n int) {
	n = int(min(r.n, lagSamples))
	if n == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(r.d[:n]) // the control API's cost, not the ack path's
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(n))) - 1 // nearest rank
		return float64(s[min(max(i, 0), n-1)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99), n
}

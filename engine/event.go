package engine

// EventKind says what an Event does to the lease state.
type EventKind uint8

// Event kinds. Journaled: the values must not change.
const (
	// EventLease installs Binding as the full, current record of its
	// resource (an upsert keyed by Kind+Prefix).
	EventLease EventKind = 1
	// EventFree returns the resource to its pool: the record is deleted.
	EventFree EventKind = 2
)

func (k EventKind) String() string {
	switch k {
	case EventLease:
		return "lease"
	case EventFree:
		return "free"
	}
	return "unknown"
}

// Event is one decided change to the lease state. Step produces events and
// applies them; replay applies them alone.
type Event struct {
	Kind EventKind
	// Time is when the change was decided (Unix seconds).
	Time int64
	// Why is the input that caused it, for audits.
	Why Cause
	// Binding is the whole record after the change (for EventFree: the
	// record as it was, so the journal tells who last held it).
	Binding Binding
}

// Cause records what made the engine decide an event.
type Cause uint8

// Causes. Journaled: the values must not change.
const (
	CauseSolicit  Cause = 1 // Rapid Commit SOLICIT
	CauseRequest  Cause = 3
	CauseRenew    Cause = 5
	CauseRebind   Cause = 6
	CauseRelease  Cause = 8
	CauseDecline  Cause = 9
	CauseExpiry   Cause = 64 // the valid lifetime ran out
	CauseReclaim  Cause = 65 // an expired/released/abandoned record was freed
	CauseReassign Cause = 66 // the resource was taken for another client
)

var causeNames = map[Cause]string{
	CauseSolicit: "solicit", CauseRequest: "request", CauseRenew: "renew", CauseRebind: "rebind",
	CauseRelease: "release", CauseDecline: "decline", CauseExpiry: "expiry", CauseReclaim: "reclaim",
	CauseReassign: "reassign",
}

func (c Cause) String() string {
	if s, ok := causeNames[c]; ok {
		return s
	}
	return "unknown"
}

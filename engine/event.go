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
	// EventEndpoint records a failover endpoint's stable-storage image
	// (RFC 8156 §8.2), Endpoint; Binding is unused. The engine emits one
	// for every ActPersist; replay restores the endpoint from the last.
	EventEndpoint EventKind = 3
)

func (k EventKind) String() string {
	switch k {
	case EventLease:
		return "lease"
	case EventFree:
		return "free"
	case EventEndpoint:
		return "endpoint"
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
	// Endpoint is EventEndpoint's record.
	Endpoint EndpointRecord
}

// EndpointRecord is one failover endpoint's stored state, named by its
// relationship (a name, not an index, so a journal survives reordering the
// config; a record for a relationship no longer configured is ignored).
type EndpointRecord struct {
	Rel string
	StoredState
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
	CauseFailover Cause = 67 // a failover input: the partner link, a STATE, UPDDONE, a timer
	CauseAdmin    Cause = 68 // an operator's command (partner-down)
	CausePartner  Cause = 69 // the partner's BNDUPD was accepted, or its BNDREPLY acked or rejected ours
	// CauseRebalance: the primary moved a free delegable prefix to the
	// secondary's pool (FREE-BACKUP) or took one back (pdsplit.go).
	CauseRebalance Cause = 70
	// CauseRenumber: the client renewed a resource that the config no
	// longer serves it (its pool was removed, or closed to its classes),
	// so the binding was ended and a new resource given (client.go).
	CauseRenumber Cause = 71
)

var causeNames = map[Cause]string{
	CauseSolicit: "solicit", CauseRequest: "request", CauseRenew: "renew", CauseRebind: "rebind",
	CauseRelease: "release", CauseDecline: "decline", CauseExpiry: "expiry", CauseReclaim: "reclaim",
	CauseReassign: "reassign", CauseFailover: "failover", CauseAdmin: "admin",
	CausePartner: "partner", CauseRebalance: "rebalance", CauseRenumber: "renumber",
}

func (c Cause) String() string {
	if s, ok := causeNames[c]; ok {
		return s
	}
	return "unknown"
}

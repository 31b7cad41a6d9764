package engine

import (
	"net/netip"
)

// Kind says what a lease leases.
type Kind uint8

const (
	KindNA Kind = 1 // a non-temporary address (IA_NA)
	KindPD Kind = 2 // a delegated prefix (IA_PD)
)

func (k Kind) String() string {
	switch k {
	case KindNA:
		return "na"
	case KindPD:
		return "pd"
	}
	return "?"
}

// Status is an RFC 8156 binding status (F_BINDING_STATUS, option 114). The
// values are the protocol's and must not change: they are journaled and, with
// failover, sent on the wire.
type Status uint8

const (
	StatusActive      Status = 1
	StatusExpired     Status = 2
	StatusReleased    Status = 3
	StatusPendingFree Status = 4
	StatusFree        Status = 5
	StatusFreeBackup  Status = 6
	StatusAbandoned   Status = 7
	StatusReset       Status = 8
)

var statusNames = [...]string{
	StatusActive: "active", StatusExpired: "expired", StatusReleased: "released",
	StatusPendingFree: "pending-free", StatusFree: "free", StatusFreeBackup: "free-backup",
	StatusAbandoned: "abandoned", StatusReset: "reset",
}

// NumStatuses bounds the Status values Engine.Counts is indexed by.
const NumStatuses = int(StatusReset) + 1

// statusIndex is s's index in the counts: 0 for a value this version does
// not know (a newer partner's, say).
func statusIndex(s Status) int {
	if int(s) < NumStatuses {
		return int(s)
	}
	return 0
}

func (s Status) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return "unknown"
}

// Lease is the binding of one resource (an address, or a delegated prefix)
// to one client IA. It carries everything an RFC 8156 BNDUPD needs.
//
// Times are Unix seconds: the journal, the wire (RFC 8156 absolute times)
// and the audit tools all work in whole seconds, and an int64 keeps the
// record small.
//
// Size matters at ISP scale (issue 4: ≤ 256 B of heap per lease): fields
// are ordered so that the small ones share one word, and nothing is cached
// that can be recomputed cheaply (the digest share is rehashed on removal,
// the pd-pool looked up in the subnet's short list), keeping a Lease in
// Go's 192-byte size class. BenchmarkLeaseMemory measures it.
type Lease struct {
	Binding

	subnet  int32 // index of the subnet the resource belongs to
	heapIdx int32 // position in the expiry heap; -1 when not queued
}

// Binding is a lease's durable content: what the journal stores, what Apply
// installs and, with failover, what a BNDUPD carries.
type Binding struct {
	Prefix netip.Prefix // the address as a /128 (KindNA) or the delegated prefix
	DUID   string       // the client's DUID (CLIENTID option data)

	StartOfState int64 // when Status last changed (F_START_TIME_OF_STATE)
	CLTT         int64 // client last transaction time (CLT_TIME)
	Expires      int64 // CLTT + Valid: when an ACTIVE lease becomes EXPIRED

	// Where the client was last seen, for audits (issue: "who held it").
	Link     netip.Addr // innermost relay's link-address; invalid when direct
	RemoteID string     // innermost relay's REMOTE_ID option data, if any

	// FOTimes are the RFC 8156 per-lease times (mclt.go); all zero for a
	// lease of a standalone subnet.
	FOTimes

	IAID      uint32
	Preferred uint32 // preferred lifetime last sent to the client, seconds
	Valid     uint32 // valid lifetime last sent to the client, seconds
	Kind      Kind
	Status    Status

	// PartnerNeedsUpdate is §7.5.4's "partner should be updated about
	// this lease" flag, set when the partner's BNDUPD was rejected as
	// outdated. It throttles re-sends so two servers that disagree do not
	// storm each other (see AfterDecision).
	// It lives here, not in FOTimes, to share the small fields' word.
	PartnerNeedsUpdate bool
}

// Addr returns the leased address (KindNA) or the prefix's first address.
func (l *Binding) Addr() netip.Addr { return l.Prefix.Addr() }

// Held reports whether the resource is bound to its client: only ACTIVE
// leases may be given to nobody else.
func (l *Binding) Held() bool { return l.Status == StatusActive }

package engine

import "math"

// Per-lease failover times and the MCLT rules (RFC 8156 §4.4, §4.2.2.1,
// §7.3, §8.4.1, §8.9.1, §8.11.1).
//
// Lazy updates let a server answer a client before its partner has heard of
// the lease. What keeps that safe is one inequality, checked every time a
// lifetime is handed out:
//
//	client's expiry ≤ max(acked-partner-lifetime, now) + MCLT
//
// so a partner that takes over after a crash need only wait MCLT beyond
// what it knows to be sure no client still holds the resource. The cost is
// that a new lease's first reply is short (MCLT); the partner-lifetime sent
// in the BNDUPD "leads" the client, so from the first renewal on the client
// gets the full desired lifetime (design draft §8.3.1, the worked example in
// mclt_test.go).
//
// All times are Unix seconds like the rest of Binding; converting to the
// wire's 2000-epoch, mod-2^32 absolute times is the replicator's job.
// Lifetimes are uint32 seconds as on the wire; 0xffffffff is "infinity".

// Never is the reuse time of a resource that may not go to a different
// client at all in the current state (it waits for a BNDREPLY, an operator,
// or PARTNER-DOWN).
const Never int64 = math.MaxInt64

// infinity is RFC 8415's infinite lifetime.
const infinity = math.MaxUint32

// FOTimes are the failover times RFC 8156 §7.3 keeps for each lease, beyond
// the base protocol's (CLTT and start-time-of-state live in Binding). Zero
// means "none". Binding embeds them, so they are journaled with the lease
// (journal value version 2) and count in the state digest.
type FOTimes struct {
	// ExpirationTime is the partner-lifetime this server most recently
	// acked to its partner (the PARTNER_LIFETIME of the last accepted
	// BNDUPD). The partner may have promised a client up to this + MCLT,
	// so it bounds CI renewals and PARTNER-DOWN reuse. Sent back to the
	// partner as F_EXPIRATION_TIME.
	ExpirationTime int64
	// AckedPartnerLifetime is the partner-lifetime the partner most
	// recently acked to this server (F_PARTNER_LIFETIME_SENT of a
	// BNDREPLY): what the partner is known to believe about this lease.
	// It is ack_pl in the MCLT cap.
	AckedPartnerLifetime int64
	// PartnerLifetime is the value for F_PARTNER_LIFETIME in the next (or
	// in-flight) BNDUPD; 0 once the partner has acked it.
	PartnerLifetime int64
	// PartnerRawCLTT is the partner's client-last-transaction-time as it
	// sent it (LQ_BASE_TIME − CLT_TIME, never skew-corrected), echoed back
	// in F_PARTNER_RAW_CLT_TIME.
	PartnerRawCLTT int64
	// StateExpiration is when the lease's binding status times out
	// (F_STATE_EXPIRATION_TIME); time(1) of §7.5.4 compares now with it.
	StateExpiration int64
}

// LifetimeRule says how the endpoint state limits the lifetimes a server
// gives clients. It is named apart from the endpoint's State so the state
// machine (endpoint.go) can map each State to a rule without a name clash.
type LifetimeRule uint8

const (
	// RuleNormal: NORMAL (and CONFLICT-DONE, RECOVER-DONE, which renew
	// known leases): lifetime ≤ max(ack_pl − now, 0) + MCLT.
	RuleNormal LifetimeRule = iota
	// RuleInterrupted: COMMUNICATIONS-INTERRUPTED and
	// RESOLUTION-INTERRUPTED: no BNDREPLY can arrive, so renewals are
	// capped at MCLT beyond the latest of ack_pl, now, and the partner's
	// own partner-lifetime (our ExpirationTime). Lifetimes shrink towards
	// MCLT the longer the interruption lasts.
	RuleInterrupted
	// RuleUncapped: PARTNER-DOWN (the partner is known not to be serving),
	// and a server with no failover relationship: the desired lifetime.
	RuleUncapped
)

// CapLifetime returns the valid lifetime a client may be given now: the
// desired one, cut so that the client's expiry stays within MCLT of what
// the partner knows (RFC 8156 §4.4, §8.9.1, §8.11.1).
//
// ackedPL is the lease's AckedPartnerLifetime, expirationTime its
// ExpirationTime (used by RuleInterrupted only); both 0 for a new lease.
func CapLifetime(rule LifetimeRule, desired, mclt uint32, now, ackedPL, expirationTime int64) uint32 {
	base := now
	switch rule {
	case RuleUncapped:
		return desired
	case RuleNormal:
		base = max(ackedPL, now)
	case RuleInterrupted:
		// The -04 design (§9.9.1) also lists "the actual valid lifetime
		// sent to the client"; reading that as the client's current
		// expiry would let each renewal add another MCLT without bound,
		// contradicting the RFC's own "lifetimes become now + MCLT". We
		// read it as the lifetime being sent now, i.e. now.
		base = max(ackedPL, now, expirationTime)
	}
	limit := base - now + int64(mclt)
	if limit < int64(desired) {
		return uint32(limit) // 0 ≤ limit < desired ≤ MaxUint32
	}
	return desired
}

// CapTimes shortens the other timers of a lease whose valid lifetime was
// capped to v by CapLifetime: preferred ≤ valid, and T1, T2 at most 0.5
// and 0.8 of the capped valid lifetime (RFC 8415 §21.4's recommended
// ratios). Without this a client given MCLT (1 h) with a configured T1 of
// a day would not renew before its lease ran out. The design's example
// relies on it: "the DHCPv6 client attempts to renew at T1 (approximately
// one half an hour from the start of the lease)". A zero T1 or T2 (client's
// choice) stays zero; nothing changes when v == valid.
func CapTimes(pref, valid, t1, t2, v uint32) (uint32, uint32, uint32, uint32) {
	pref = min(pref, v)
	if v >= valid {
		return pref, v, t1, t2
	}
	if t1 != 0 {
		t1 = min(t1, v/2)
	}
	if t2 != 0 {
		t2 = max(min(t2, uint32(uint64(v)*4/5)), t1)
	}
	return pref, v, t1, t2
}

// LazyPartnerLifetime is the F_PARTNER_LIFETIME to send in the BNDUPD that
// follows a reply giving the client actual seconds when desired were
// wanted: now + desired + ½·actual (design draft §8.3.1: "the desired
// potential valid lifetime will be composed of one half of the current
// actual valid lifetime added to the desired valid lifetime").
//
// The ½ is the T1 fraction: the client comes back at about T1 = ½·actual
// (CapTimes ensures that when the lifetime was capped), when the partner's
// acked lifetime still has desired seconds to run, so the renewal can get
// the full desired lifetime. RFC 8156 leaves the value to the
// implementation; it must only be ≥ the client's expiry (it is: actual ≤
// desired). The result may exceed the wire's 32-bit time range for an
// infinite lease; the replicator clamps.
func LazyPartnerLifetime(now int64, desired, actual uint32) int64 {
	return now + int64(desired) + int64(actual/2)
}

// Acked records a BNDREPLY that accepted this lease with sent as its
// F_PARTNER_LIFETIME_SENT (RFC 8156 §7.7): the partner now knows sent, and
// nothing is pending unless a newer value was queued while sent was in
// flight. A zero sent (the status had no timeout) leaves ack_pl alone.
// It also clears PartnerNeedsUpdate: the partner has what we have.
func (b *Binding) Acked(sent int64) {
	if sent != 0 {
		b.AckedPartnerLifetime = sent
	}
	if b.PartnerLifetime == sent {
		b.PartnerLifetime = 0
	}
	b.PartnerNeedsUpdate = false
}

// ReusableAt returns the earliest time the resource of l may be given to a
// client other than l's (0: now; Never: not in this state). Giving it back
// to l's own client is not reuse and is not limited here.
//
// primary says which side asks: the FREE pool is the primary's and the
// FREE-BACKUP pool the secondary's (addresses are put in their owner's
// pool when freed, see FreeStatus). pdEntry is when this server entered
// PARTNER-DOWN; it matters only when partnerDown.
//
// Outside PARTNER-DOWN (RFC 8156 §4.2.2.1): only resources in this
// server's own free pool. An EXPIRED, RELEASED or RESET lease first needs
// its BNDUPD acked, which moves it through PENDING-FREE to FREE or
// FREE-BACKUP (the BNDREPLY hook); until then, Never.
//
// In PARTNER-DOWN (§8.4.1): own free resources at once; ABANDONED never
// (it needs an operator's RESET); anything else MCLT after the latest of
// the client's expiry, the last partner-lifetime sent, the last one the
// partner acked and the last one acked to the partner — and not before
// pdEntry + MCLT. A resource with no history (the partner's free pool at
// PD entry) therefore comes out at pdEntry + MCLT, as §4.2.2.1 wants.
//
// The draft words the floor as "if this time would be earlier than now +
// MCLT, use PD-entry + MCLT instead". Taken literally that can lower the
// time below (latest + MCLT) when PD-entry ≤ latest < now, while a client
// of the partner may hold the lease until ExpirationTime + MCLT; we take
// the maximum of the two, which equals the literal rule in every other
// case. §4.2.2.1's prefix wording ("MCLT after the later of … and PD-entry
// + MCLT", i.e. PD-entry + 2·MCLT) is read the same way: the partner could
// not have issued anything after PD entry, so PD-entry + MCLT bounds it.
func ReusableAt(l *Binding, primary, partnerDown bool, pdEntry int64, mclt uint32) int64 {
	st := l.Status
	if st == StatusPendingFree {
		st = FreeStatus(l.Kind, l.Prefix)
	}
	if reclaiming(l) {
		st = StatusFreeBackup // the secondary's until it acks (pdsplit.go)
	}
	if st == StatusFree && primary || st == StatusFreeBackup && !primary {
		return 0
	}
	if !partnerDown || st == StatusAbandoned {
		return Never
	}
	latest := max(l.Expires, l.PartnerLifetime, l.AckedPartnerLifetime, l.ExpirationTime, pdEntry)
	return latest + int64(mclt)
}

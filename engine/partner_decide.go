package engine

import (
	"net/netip"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Receiving a BNDUPD (RFC 8156 §7.5.3–§7.5.5): decide whether the
// partner's view of one lease is better than ours, and if so what we keep.
//
// The decision is a pure function of the local record, the received one,
// now and our role, so both servers, given the same two records, agree on
// which one wins: the one with the later client interaction, and in a tie
// (±5 s) the one tieAccept picks, whichever side stores it. The
// replicator turns the status into the BNDREPLY's per-lease STATUS_CODE;
// the engine applies Accepted as an event (journaled before the BNDREPLY
// leaves, §7.5.2).

// TimeSlack is how far apart two times may be and still count as the same
// time (RFC 8156 §7.5.1): the servers' clocks are only kept within about
// 5 s of each other. "Later" in every comparison below means later by more
// than this.
const TimeSlack = 5

// later reports whether a is later than b by more than TimeSlack.
func later(a, b int64) bool { return a > b+TimeSlack }

// UpdForm is which of the two BNDUPD forms carried a lease.
type UpdForm uint8

const (
	FormMissing UpdForm = iota // neither: MissingBindingInformation
	FormClient                 // an IAADDR or IAPREFIX inside CLIENT_DATA
	FormPrefix                 // a top-level IAPREFIX: a delegable prefix with no client
)

// ReceivedLease is one lease of a received BNDUPD, decoded by the
// replicator and converted to local Unix seconds. A zero time means the
// option was absent (no real absolute time is the Unix epoch).
type ReceivedLease struct {
	Form   UpdForm
	Kind   Kind
	Prefix netip.Prefix // the address as a /128, or the prefix
	DUID   string       // CLIENTID; "" when absent
	IAID   uint32
	Status Status // F_BINDING_STATUS; 0 when absent

	Preferred, Valid uint32 // the lifetimes the partner gave the client

	BaseTime int64 // LQ_BASE_TIME
	// CLTT is LQ_BASE_TIME − CLT_TIME in this server's time context (the
	// replicator's skew correction, if any, applied); RawCLTT is the same
	// without correction, stored as partner-raw-clt-time. Both 0 when
	// CLT_TIME is absent.
	CLTT, RawCLTT int64

	StartOfState    int64 // F_START_TIME_OF_STATE
	StateExpiration int64 // F_STATE_EXPIRATION_TIME
	PartnerLifetime int64 // F_PARTNER_LIFETIME
	PartnerRawCLTT  int64 // F_PARTNER_RAW_CLT_TIME: our own CLTT, echoed
	ExpirationTime  int64 // F_EXPIRATION_TIME

	// UnknownVPN is set when a VSS option names a VPN this server does not
	// serve (tandem serves only the global VPN, so any VSS option).
	UnknownVPN bool
	// Configured is set when the resource lies in one of this failover
	// endpoint's pools. It must be looked up and set: the zero value
	// rejects, so a forgotten lookup cannot import foreign leases.
	Configured bool
}

// sameClient reports whether the update names the client (DUID and IAID)
// of the local record. RFC 8156 §5.6: "AddressInUse … held by a different
// client, or the same client under a different IAID".
func (u *ReceivedLease) sameClient(l *Binding) bool {
	return u.DUID == l.DUID && u.IAID == l.IAID
}

// tUpd is t_upd of §7.5.4: for ACTIVE, EXPIRED and RELEASED the client's
// last transaction if sent, else the start of the state; for the others
// the later of the two.
func (u *ReceivedLease) tUpd() int64 {
	switch u.Status {
	case StatusActive, StatusExpired, StatusReleased:
		if u.CLTT != 0 {
			return u.CLTT
		}
		return u.StartOfState
	}
	return max(u.CLTT, u.StartOfState)
}

// tDB is t_db of §7.5.4: the local CLTT if known, else the start of the
// state.
func (l *Binding) tDB() int64 {
	if l.CLTT != 0 {
		return l.CLTT
	}
	return l.StartOfState
}

// missing reports whether u lacks what §7.4 says a BNDUPD MUST carry, or
// what processing needs: the resource, a binding status, LQ_BASE_TIME,
// START_TIME_OF_STATE, a CLIENTID in the client form (and a client at all
// for ACTIVE), and for ACTIVE, whose status always times out, the
// partner-lifetime and state-expiration-time that the MCLT and reuse rules
// depend on.
func (u *ReceivedLease) missing() bool {
	switch {
	case u.Form == FormMissing, !u.Prefix.IsValid(),
		u.Status == 0, u.Status > StatusReset,
		u.BaseTime == 0, u.StartOfState == 0,
		u.Form == FormClient && u.DUID == "",
		u.Form == FormPrefix && u.Status == StatusActive:
		return true
	case u.Status == StatusActive:
		return u.PartnerLifetime == 0 || u.StateExpiration == 0
	}
	return false
}

// DecideBndUpd decides whether to accept one received lease (RFC 8156
// §7.5.3, §7.5.4). local is this server's record of the resource, nil when
// it has none (then any well-formed, configured update is accepted: it is
// news). status is 0 on acceptance, else the STATUS_CODE for the BNDREPLY.
//
// The table (rows: local status, columns: received status):
//
//	                ACTIVE     EXPIRED  RELEASED  FREE/F-BACKUP  RESET/ABANDONED
//	ACTIVE          accept(3)  time(1)  accept    time(1)        accept
//	RESET           time(2)    accept   accept    accept         accept
//	any other       accept     accept   accept    accept         accept
//
//	accept:    accept if t_upd is later than t_db
//	time(1):   accept if now is later than the local state-expiration-time
//	           (or, for EXPIRED, see newerExpiry)
//	time(2):   accept if the received CLTT is later than the local start-time-of-state
//	accept(3): same client: accept; different client: accept if time(2)
//	           holds or this server is the secondary, else AddressInUse
//
// Rejections other than AddressInUse are OutdatedBindingInformation.
//
// Two cases the table leaves open, resolved here. An "accept" cell with the
// same status and client and equal times (±5 s) is a duplicate, typically
// a BNDUPD resent after a connection dropped before its BNDREPLY arrived,
// or both servers expiring the same lease. A literal reading rejects it as
// outdated; then the sender's EXPIRED or RELEASED would never be acked and
// the lease would never become free. Accepting it changes nothing, so we
// accept. Any other "accept" cell with equal times is decided by
// tieAccept, so that exactly one of the two servers accepts.
func DecideBndUpd(local *Binding, upd *ReceivedLease, now int64, weAreSecondary bool) (accept bool, status uint16) {
	if upd.missing() {
		return false, wire.StatusMissingBindingInformation
	}
	if upd.UnknownVPN || !upd.Configured {
		return false, wire.StatusConfigurationConflict
	}
	if local == nil {
		return true, 0
	}
	time1 := func() bool { return later(now, local.StateExpiration) }
	time2 := func() bool { return upd.CLTT != 0 && later(upd.CLTT, local.StartOfState) }
	ok := false
	switch {
	case local.Status == StatusActive && upd.Status == StatusActive: // accept(3)
		switch {
		case upd.sameClient(local), time2(), weAreSecondary:
			return true, 0
		}
		return false, wire.StatusAddressInUse
	case local.Status == StatusActive &&
		(upd.Status == StatusExpired || upd.Status == StatusFree || upd.Status == StatusFreeBackup):
		ok = time1() || newerExpiry(local, upd)
	case local.Status == StatusReset && upd.Status == StatusActive:
		ok = time2()
	default: // accept
		tu, td := upd.tUpd(), local.tDB()
		switch {
		case later(tu, td):
			ok = true
		case later(td, tu):
		case upd.Status == local.Status && upd.sameClient(local):
			ok = true // a duplicate
		default:
			ok = tieAccept(local, upd, now, weAreSecondary)
		}
	}
	if ok {
		return true, 0
	}
	return false, wire.StatusOutdatedBindingInfo
}

// newerExpiry reports whether upd, received for our live ACTIVE, is the
// same client's EXPIRED from a client transaction clearly later than ours
// (CLT_TIME, never the start of the state): the client renewed with the
// partner after it last talked to us, its lifetimes are that newer
// reply's (RFC 8415 §18.2.10.1), and they have run out. Our
// state-expiration-time comes from the superseded grant, so time(1) alone
// would reject the update until then, while the partner, given our ACTIVE,
// rejects it as older than its own record: neither would move (pair
// simulation, seed 1916). The table's own ACTIVE/RELEASED cell accepts a
// later RELEASED the same way. Another client's EXPIRED, or a FREE, stays
// with time(1): it says nothing of our client's lease.
func newerExpiry(local *Binding, upd *ReceivedLease) bool {
	return upd.Status == StatusExpired && upd.sameClient(local) && upd.CLTT != 0 && later(upd.CLTT, local.CLTT)
}

// tieAccept decides an "accept" cell whose two times are the same (±5 s)
// and whose records differ (not a duplicate). The RFC's "accept if later"
// rejects such an update, and so does the partner, given our record: each
// side keeps its own, both reject as Outdated, the partner-needs-update
// resend is rejected again and the two databases stay apart for good (a
// client that renews on one server and releases on the other within 5 s
// does exactly this). §7.5.4 says only that "the server with the most
// recent binding information should have its update accepted"; when
// neither is more recent, the two servers must at least pick the same
// winner. The rule below is a function of the pair of records, whichever
// of them is local, so one side accepts and the other rejects (the one
// exception, endsKnownActive, also asks whether the partner knows our
// record; when it does, ours is neither unacked nor flagged, so it does
// not travel to the partner again as a rival):
//
//   - a live ACTIVE (its state-expiration-time not clearly past) wins.
//     This is the tie-break the table itself uses in its time(1) cells
//     (a live local ACTIVE rejects an EXPIRED or FREE of the same time),
//     carried over to RELEASED and ABANDONED, and the safe one: a lease
//     wrongly kept ACTIVE only waits for its expiry, a lease wrongly
//     freed may go to a second client. Against RESET the operator wins,
//     as the mirror cell, time(2), rejects the ACTIVE in a tie.
//   - except where the partner already knows our ACTIVE and has moved on
//     from it (endsKnownActive): then its record is not a rival but the
//     same lease's next state, and wins.
//   - otherwise the primary's record wins, as in accept(3) ("or the
//     receiving server is a secondary accept it").
//
// now is compared with the ACTIVE's state-expiration-time on each side by
// its own clock; near that moment both may briefly disagree, which
// resolves itself when the ACTIVE side expires the lease.
func tieAccept(local *Binding, upd *ReceivedLease, now int64, weAreSecondary bool) bool {
	switch {
	case local.Status == StatusActive: // RELEASED, PENDING-FREE, RESET or ABANDONED received
		return upd.Status == StatusReset || later(now, local.StateExpiration) || endsKnownActive(local, upd, now)
	case upd.Status == StatusActive: // local EXPIRED, RELEASED, FREE or ABANDONED
		return !later(now, upd.StateExpiration)
	}
	return weAreSecondary
}

// endsKnownActive reports whether upd, received in a tie for our live
// ACTIVE, is the partner ending that very lease: a client that releases
// (or declines) right after its grant. The primary grants at T and sends
// ACTIVE; the client's RELEASE reaches the primary at T+1 and the RELEASED
// follows. The secondary's record is the primary's ACTIVE, its t_db is T
// and t_upd is T+1: "essentially the same (i.e., +/- 5 seconds)" (RFC 8156
// §7.5.4), so the live-ACTIVE tie-break above kept it, sent it back
// (SendUpdate), and the primary, holding a RELEASED of the same time,
// took the ACTIVE: the address stayed held on both servers for a client
// that had let it go.
//
// §7.5.4 leaves such ties open but names the goal: "Ultimately, the server
// with the most recent binding information should have its update
// accepted by its partner." The partner has the most recent information
// when it knew our record and decided a later state from it. Both halves
// are known here without comparing two servers' clocks against ±5 s:
//
//   - the partner knows our record. No transaction of ours is pending:
//     every own client transaction sets a partner-lifetime, at least its
//     lease's end, until the partner's BNDREPLY (§7.7), so one still in
//     the future is an unacked transaction that may postdate the
//     partner's (one in the past is left over from an older grant and
//     cannot). The partner's stream is ordered: an update it built before
//     taking our latest ACTIVE reaches us before that ACTIVE's BNDREPLY.
//     And either our client time is the partner's own — we took our CLTT
//     from its BNDUPD, which left partner-raw-clt-time (§7.5.5 d, its
//     CLT_TIME uncorrected) one skew away from it, the same skew (±1 s,
//     as the link's estimate moves) that separates this update's
//     CLT_TIME from its raw value — or the partner has our record as we
//     hold it: no partner-needs-update flag (§7.5.4). That flag may be
//     left over from an older record of the resource (a late rejection of
//     our earlier FREE or EXPIRED), so the first test does not ask for it;
//   - its update is not older than the partner's client transaction we
//     hold: CLT_TIME as the partner sent it (RawCLTT) against
//     partner-raw-clt-time. Both are the partner's clock, so the ±5 s of
//     §7.5.1 (for "a comparison between two times" of two servers) is not
//     needed, and a release in the grant's own second counts.
//
// The same client only: another client's update says nothing of ours.
// When either half fails — a renewal or re-grant of ours the partner has
// not acked (the client came back to us after releasing there, or both
// servers answered its multicast REBIND in the same second: pair
// simulation, seeds 849 and 886), a disagreement still pending — the live
// ACTIVE keeps the tie as before, on both servers.
//
// Not covered: a resend of our record (the partner's own ACTIVE) that
// crosses the partner's RELEASED. The partner, holding RELEASED, takes
// that ACTIVE in the tie while we take its RELEASED, and the two records
// swap. A rule on that side cannot tell our echo from a same-second
// transaction of ours (the REBIND answered by both) without the
// partner-lifetime state this side sees; the pair simulation has not met
// it in 1,000 seeds.
func endsKnownActive(local *Binding, upd *ReceivedLease, now int64) bool {
	if !upd.sameClient(local) || upd.RawCLTT == 0 || upd.RawCLTT < local.PartnerRawCLTT {
		return false
	}
	if local.PartnerLifetime > now {
		return false // a transaction of ours, still in force, that the partner has not acked
	}
	skew := upd.RawCLTT - upd.CLTT // the partner's clock minus ours, as the replicator corrected
	partners := local.PartnerRawCLTT != 0 && abs(local.PartnerRawCLTT-local.CLTT-skew) <= 1
	return partners || !local.PartnerNeedsUpdate
}

func abs(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

// AfterDecision returns a lease's PartnerNeedsUpdate flag after a decision
// on the partner's BNDUPD for it, and whether this server may send its own
// BNDUPD for the lease right after the BNDREPLY (RFC 8156 §7.5.4).
//
// Only an Outdated rejection sets the flag; nothing else changes it. The
// immediate re-send is allowed only when the flag was clear: if it was
// already set, the two servers have just disagreed twice, and the update
// waits for the next periodic scan, so they cannot storm each other.
func AfterDecision(flag, accepted bool, status uint16) (newFlag, sendNow bool) {
	if accepted || status != wire.StatusOutdatedBindingInfo {
		return flag, false
	}
	return true, !flag
}

// Accepted returns the local record after accepting upd (RFC 8156 §7.5.5).
// local may be nil (no record yet).
//
// Failover times, as the RFC says:
//
//	BINDING_STATUS         → status (and the client, the lifetimes given)
//	START_TIME_OF_STATE    → start-time-of-state
//	STATE_EXPIRATION_TIME  → state-expiration-time
//	PARTNER_LIFETIME       → expiration-time (what we now ack)
//	base − CLT_TIME (raw)  → partner-raw-clt-time
//	PARTNER_RAW_CLT_TIME   → CLTT, only if later
//	EXPIRATION_TIME        → partner-lifetime, only if later
//
// PARTNER_LIFETIME and the CLT times, when absent from the update (the
// status has no timeout, or there was no client contact), leave the local
// values alone: an older, larger expiration-time only makes the CI cap and
// PARTNER-DOWN reuse more careful. STATE_EXPIRATION_TIME always replaces
// (absent: the new status does not time out). Our CLTT moves only on the
// partner's echo of it: the partner's own client contact is
// partner-raw-clt-time.
//
// The client's expiry (Binding.Expires, which drives expiry) is set for an
// ACTIVE update: the partner's CLTT + valid lifetime, or its
// state-expiration-time when CLT_TIME was not sent. PartnerNeedsUpdate is
// kept (§7.5.4: only an Outdated rejection changes it).
func Accepted(local *Binding, upd *ReceivedLease) Binding {
	var n Binding
	if local != nil {
		n = *local
	}
	if local != nil && !upd.sameClient(local) {
		n.Link, n.RemoteID = netip.Addr{}, "" // where the old client was seen
	}
	n.Kind, n.Prefix, n.Status, n.StartOfState = upd.Kind, upd.Prefix, upd.Status, upd.StartOfState
	if upd.Form == FormClient {
		n.DUID, n.IAID, n.Preferred, n.Valid = upd.DUID, upd.IAID, upd.Preferred, upd.Valid
	} else {
		n.DUID, n.IAID = "", 0
	}
	// The record's CLTT and Expires must describe the same client
	// transaction: Expires = CLTT + Valid is what a BNDUPD built from this
	// record tells the partner. A record taken over for another client
	// starts from the update's times alone.
	same := local != nil && upd.sameClient(local)
	if !same {
		n.CLTT, n.Expires = 0, 0
	}
	if upd.CLTT != 0 {
		n.CLTT = max(n.CLTT, upd.CLTT)
	}
	n.CLTT = max(n.CLTT, upd.PartnerRawCLTT)
	if upd.Status == StatusActive {
		exp := upd.StateExpiration
		if upd.CLTT != 0 {
			exp = upd.CLTT + int64(upd.Valid)
		}
		// Never shorten what we ourselves told the same client (an
		// update within the ±5 s tie is accepted but may be older): keep
		// our grant whole — CLTT, lifetimes and expiry together, so a
		// BNDUPD built from the record still says CLTT + valid = expiry.
		// An update whose CLT_TIME is clearly later is the client's newer
		// transaction, whose lifetimes replaced ours at the client (RFC
		// 8415 §18.2.10.1): keeping our older, longer grant would leave
		// an ACTIVE whose CLTT is older than the partner's and whose state
		// outlives the partner's EXPIRED, and each side would reject the
		// other's update as Outdated until our stale expiry passed.
		if same && local.Status == StatusActive && local.Expires > exp && !later(upd.CLTT, local.CLTT) {
			n.CLTT, n.Preferred, n.Valid, exp = local.CLTT, local.Preferred, local.Valid, local.Expires
		}
		n.Expires = exp
	}
	n.StateExpiration = upd.StateExpiration // 0: the new status does not time out
	if upd.Status == StatusActive {
		// An ACTIVE record's state lasts at least as long as its lease:
		// taking a shorter state expiry from an older update would let a
		// later EXPIRED from the partner end a lease we renewed since.
		n.StateExpiration = max(n.StateExpiration, n.Expires)
	}
	if upd.PartnerLifetime != 0 {
		n.ExpirationTime = upd.PartnerLifetime
	}
	if upd.RawCLTT != 0 {
		n.PartnerRawCLTT = upd.RawCLTT
	}
	// F_EXPIRATION_TIME is the largest lifetime the partner has acked to
	// us for this lease: an acknowledgement, so it raises what we may
	// count on (ack_pl). It is not something we still owe the partner;
	// storing it as PartnerLifetime made every accepted record look
	// unacked and sent it back, with our times, after a restart.
	n.AckedPartnerLifetime = max(n.AckedPartnerLifetime, upd.ExpirationTime)
	return n
}

package engine

// RFC 8156 §7.5.3–§7.5.5: accepting or rejecting a received BNDUPD. One
// test per cell of the §7.5.4 table (Figure 3 of -02/-06), named
// TestRFC8156_7_5_4_<local status>_<received status>_<rule>.

import (
	"net/netip"
	"testing"

	"github.com/tandemdhcp/tandem/netio/wire"
)

const (
	updA = "client-a"
	updB = "client-b"
)

// local builds the receiver's record.
func local(st Status, duid string, iaid uint32, cltt, start, stateExp int64) *Binding {
	return &Binding{Kind: KindNA, Prefix: mustPrefix("2001:db8::1/128"), DUID: duid, IAID: iaid,
		Status: st, CLTT: cltt, StartOfState: start, Valid: 3 * day, Expires: stateExp,
		FOTimes: FOTimes{StateExpiration: stateExp}}
}

// recv builds a well-formed client-form update; cltt 0 means no CLT_TIME.
func recv(st Status, duid string, iaid uint32, cltt, start int64) *ReceivedLease {
	u := &ReceivedLease{Form: FormClient, Kind: KindNA, Prefix: mustPrefix("2001:db8::1/128"),
		DUID: duid, IAID: iaid, Status: st, Preferred: 2 * day, Valid: 3 * day,
		BaseTime: max(cltt, start) + 1, CLTT: cltt, RawCLTT: cltt, StartOfState: start,
		Configured: true}
	if st == StatusActive {
		u.StateExpiration = max(cltt, start) + 3*day
		u.PartnerLifetime = max(cltt, start) + 4*day
	}
	return u
}

func wantDecision(t *testing.T, what string, l *Binding, u *ReceivedLease, now int64, secondary, accept bool, status uint16) {
	t.Helper()
	a, s := DecideBndUpd(l, u, now, secondary)
	if a != accept || s != status {
		t.Errorf("%s: local %v, received %v: got (%v, %d), want (%v, %d)", what, l.Status, u.Status, a, s, accept, status)
	}
}

const outdated = wire.StatusOutdatedBindingInfo

// expand turns the table's merged rows and columns into statuses.
func expand(st Status) []Status {
	switch st {
	case StatusFree:
		return []Status{StatusFree, StatusFreeBackup}
	case resetOrAbandoned:
		return []Status{StatusReset, StatusAbandoned}
	}
	return []Status{st}
}

// resetOrAbandoned stands for the table's RESET/ABANDONED column.
const resetOrAbandoned Status = 0x80

// checkAccept is an "accept" cell: accept iff t_upd is later than t_db by
// more than 5 s. The received update names another client, so the
// duplicate rule (TestBndUpdDuplicate) does not apply.
//
// When the times are the same (±5 s) the RFC's "later" holds neither way;
// tieAccept decides, the same way on both servers (TestBndUpdTieBreak).
// Here now is past any state-expiration, so no live ACTIVE takes part: an
// ACTIVE whose state has run out loses, local or received, as in time(1),
// and otherwise the primary's record wins (the secondary accepts, the
// primary rejects as the literal rule does).
func checkAccept(t *testing.T, lst, rst Status) {
	t.Helper()
	for _, ls := range expand(lst) {
		for _, rs := range expand(rst) {
			tdb := now0
			for _, c := range []struct {
				d   int64
				ok  bool
				tie bool
			}{{+6, true, false}, {+5, false, true}, {0, false, true}, {-5, false, true}, {-6, false, false}, {+day, true, false}, {-day, false, false}} {
				l := local(ls, updA, 1, tdb, tdb-hour, now0+day)
				u := recv(rs, updB, 1, tdb+c.d, tdb+c.d-10)
				for _, secondary := range []bool{false, true} {
					ok := c.ok
					if c.tie {
						ok = ls == StatusActive || rs != StatusActive && secondary
					}
					st := uint16(0)
					if !ok {
						st = outdated
					}
					// now is past any state-expiration: only times (and
					// in a tie, the role) decide.
					wantDecision(t, "accept cell", l, u, now0+10*day, secondary, ok, st)
				}
			}
		}
	}
}

// checkTime1 is a "time(1)" cell: accept iff now is later than the local
// state-expiration-time, whatever the times in the update — with one
// exception, newerExpiry: our own client's EXPIRED from a client
// transaction clearly later than ours (it renewed with the partner since,
// and that grant has run out) is accepted even before our stale
// state-expiration-time, as the ACTIVE/RELEASED cell would accept a
// RELEASED. Without it the partner, which rejects our older ACTIVE, and we
// would each keep our own record.
func checkTime1(t *testing.T, rst Status) {
	t.Helper()
	for _, rs := range expand(rst) {
		exp := now0 + hour
		for _, c := range []struct {
			now int64
			ok  bool
		}{{exp + 6, true}, {exp + 5, false}, {exp, false}, {exp - 6, false}, {exp + day, true}} {
			l := local(StatusActive, updA, 1, now0, now0, exp)
			for _, u := range []*ReceivedLease{ // older and newer updates, our client's and another's
				recv(rs, updA, 1, now0-day, now0-day),
				recv(rs, updA, 1, now0+5, now0+2*hour),
				recv(rs, updA, 1, now0+2*hour, now0+2*hour),
				recv(rs, updB, 1, now0+2*hour, now0+2*hour),
			} {
				ok := c.ok || rs == StatusExpired && u.DUID == updA && u.CLTT > now0+5
				st := uint16(0)
				if !ok {
					st = outdated
				}
				wantDecision(t, "time(1) cell", l, u, c.now, false, ok, st)
			}
		}
	}
}

func TestRFC8156_7_5_4_Active_Active_Accept3SameClient(t *testing.T) {
	// "If the clients match, accept the update" — even an older one.
	for _, d := range []int64{-day, 0, day} {
		l := local(StatusActive, updA, 1, now0, now0, now0+day)
		wantDecision(t, "same client", l, recv(StatusActive, updA, 1, now0+d, now0+d), now0, false, true, 0)
	}
}

func TestRFC8156_7_5_4_Active_Active_Accept3DifferentClient(t *testing.T) {
	l := local(StatusActive, updA, 1, now0, now0, now0+day)
	// A different DUID, or the same DUID under another IAID, is another
	// client: the primary keeps its binding.
	wantDecision(t, "other DUID, primary", l, recv(StatusActive, updB, 1, now0+5, now0-hour), now0, false, false, wire.StatusAddressInUse)
	wantDecision(t, "other IAID, primary", l, recv(StatusActive, updA, 2, now0+5, now0-hour), now0, false, false, wire.StatusAddressInUse)
	// The secondary yields.
	wantDecision(t, "other DUID, secondary", l, recv(StatusActive, updB, 1, now0+5, now0-hour), now0, true, true, 0)
	// time(2): the other client talked to the partner after our lease
	// began (by more than 5 s): accept even on the primary.
	wantDecision(t, "time(2) holds", l, recv(StatusActive, updB, 1, now0+6, now0-hour), now0, false, true, 0)
	// No CLT_TIME: time(2) cannot hold.
	wantDecision(t, "no CLT_TIME", l, recv(StatusActive, updB, 1, 0, now0+day), now0, false, false, wire.StatusAddressInUse)
}

func TestRFC8156_7_5_4_Active_Expired_Time1(t *testing.T) { checkTime1(t, StatusExpired) }
func TestRFC8156_7_5_4_Active_Released_Accept(t *testing.T) {
	checkAccept(t, StatusActive, StatusReleased)
}
func TestRFC8156_7_5_4_Active_Free_Time1(t *testing.T) { checkTime1(t, StatusFree) }
func TestRFC8156_7_5_4_Active_ResetAbandoned_Accept(t *testing.T) {
	checkAccept(t, StatusActive, resetOrAbandoned)
}

func TestRFC8156_7_5_4_Expired_Active_Accept(t *testing.T) {
	checkAccept(t, StatusExpired, StatusActive)
}
func TestRFC8156_7_5_4_Expired_Expired_Accept(t *testing.T) {
	checkAccept(t, StatusExpired, StatusExpired)
}
func TestRFC8156_7_5_4_Expired_Released_Accept(t *testing.T) {
	checkAccept(t, StatusExpired, StatusReleased)
}
func TestRFC8156_7_5_4_Expired_Free_Accept(t *testing.T) { checkAccept(t, StatusExpired, StatusFree) }
func TestRFC8156_7_5_4_Expired_ResetAbandoned_Accept(t *testing.T) {
	checkAccept(t, StatusExpired, resetOrAbandoned)
}

func TestRFC8156_7_5_4_Released_Active_Accept(t *testing.T) {
	checkAccept(t, StatusReleased, StatusActive)
}
func TestRFC8156_7_5_4_Released_Expired_Accept(t *testing.T) {
	checkAccept(t, StatusReleased, StatusExpired)
}
func TestRFC8156_7_5_4_Released_Released_Accept(t *testing.T) {
	checkAccept(t, StatusReleased, StatusReleased)
}
func TestRFC8156_7_5_4_Released_Free_Accept(t *testing.T) {
	checkAccept(t, StatusReleased, StatusFree)
}
func TestRFC8156_7_5_4_Released_ResetAbandoned_Accept(t *testing.T) {
	checkAccept(t, StatusReleased, resetOrAbandoned)
}

func TestRFC8156_7_5_4_Free_Active_Accept(t *testing.T)   { checkAccept(t, StatusFree, StatusActive) }
func TestRFC8156_7_5_4_Free_Expired_Accept(t *testing.T)  { checkAccept(t, StatusFree, StatusExpired) }
func TestRFC8156_7_5_4_Free_Released_Accept(t *testing.T) { checkAccept(t, StatusFree, StatusReleased) }
func TestRFC8156_7_5_4_Free_Free_Accept(t *testing.T)     { checkAccept(t, StatusFree, StatusFree) }
func TestRFC8156_7_5_4_Free_ResetAbandoned_Accept(t *testing.T) {
	checkAccept(t, StatusFree, resetOrAbandoned)
}

func TestRFC8156_7_5_4_Reset_Active_Time2(t *testing.T) {
	// "If the OPTION_CLT_TIME value (if it appears) … is later than the
	// start-time-of-state in the receiving server's binding, accept it":
	// the client talked to the partner after the operator's reset.
	start := now0
	for _, c := range []struct {
		cltt int64
		ok   bool
	}{{start + 6, true}, {start + 5, false}, {start - 5, false}, {start - day, false}, {start + day, true}} {
		l := local(StatusReset, updA, 1, now0-day, start, 0)
		st := uint16(0)
		if !c.ok {
			st = outdated
		}
		wantDecision(t, "time(2)", l, recv(StatusActive, updB, 1, c.cltt, c.cltt), now0+10*day, false, c.ok, st)
	}
	// No CLT_TIME: reject, however late the start-time-of-state.
	l := local(StatusReset, updA, 1, 0, start, 0)
	wantDecision(t, "time(2) without CLT_TIME", l, recv(StatusActive, updB, 1, 0, start+day), now0+10*day, false, false, outdated)
}
func TestRFC8156_7_5_4_Reset_Expired_Accept(t *testing.T) { checkAccept(t, StatusReset, StatusExpired) }
func TestRFC8156_7_5_4_Reset_Released_Accept(t *testing.T) {
	checkAccept(t, StatusReset, StatusReleased)
}
func TestRFC8156_7_5_4_Reset_Free_Accept(t *testing.T) { checkAccept(t, StatusReset, StatusFree) }
func TestRFC8156_7_5_4_Reset_ResetAbandoned_Accept(t *testing.T) {
	checkAccept(t, StatusReset, resetOrAbandoned)
}

func TestRFC8156_7_5_4_Abandoned_Active_Accept(t *testing.T) {
	checkAccept(t, StatusAbandoned, StatusActive)
}
func TestRFC8156_7_5_4_Abandoned_Expired_Accept(t *testing.T) {
	checkAccept(t, StatusAbandoned, StatusExpired)
}
func TestRFC8156_7_5_4_Abandoned_Released_Accept(t *testing.T) {
	checkAccept(t, StatusAbandoned, StatusReleased)
}
func TestRFC8156_7_5_4_Abandoned_Free_Accept(t *testing.T) {
	checkAccept(t, StatusAbandoned, StatusFree)
}
func TestRFC8156_7_5_4_Abandoned_ResetAbandoned_Accept(t *testing.T) {
	checkAccept(t, StatusAbandoned, resetOrAbandoned)
}

// The ±5 s rule (§7.5.1) in both directions, on the plain "accept" rule:
// 5 s later is the same time (reject), 6 s later is later (accept); 5 s
// earlier is the same time, 6 s earlier is earlier (both reject).
func TestBndUpdTimeSlackBoundary(t *testing.T) {
	for _, c := range []struct {
		d  int64
		ok bool
	}{{6, true}, {5, false}, {-5, false}, {-6, false}} {
		l := local(StatusExpired, updA, 1, now0, now0, 0)
		st := uint16(0)
		if !c.ok {
			st = outdated
		}
		// Decided at a time past the ACTIVE's state-expiration: a tie
		// with a live ACTIVE goes to the ACTIVE (TestBndUpdTieBreak).
		wantDecision(t, "slack", l, recv(StatusActive, updB, 1, now0+c.d, now0+c.d), now0+10*day, false, c.ok, st)
	}
	// And the other way round: the local record 6 s newer wins, 5 s
	// newer is a tie (and a tie is not an acceptance).
	for _, c := range []struct {
		d  int64
		ok bool
	}{{6, false}, {5, false}, {-6, true}} {
		l := local(StatusReleased, updA, 1, now0+c.d, now0, 0)
		st := uint16(0)
		if !c.ok {
			st = outdated
		}
		wantDecision(t, "slack, local newer", l, recv(StatusExpired, updB, 1, now0, now0), now0, false, c.ok, st)
	}
}

// A resent or coinciding update — same status, same client, same time
// within 5 s — is accepted: see DecideBndUpd's doc.
func TestBndUpdDuplicateAccepted(t *testing.T) {
	for _, st := range []Status{StatusExpired, StatusReleased, StatusFree, StatusReset, StatusAbandoned} {
		for _, d := range []int64{-5, 0, 5} {
			l := local(st, updA, 1, now0, now0, 0)
			wantDecision(t, "duplicate", l, recv(st, updA, 1, now0+d, now0+d), now0, false, true, 0)
		}
		// 6 s older is outdated, duplicate or not.
		l := local(st, updA, 1, now0, now0, 0)
		wantDecision(t, "older duplicate", l, recv(st, updA, 1, now0-6, now0-6), now0, false, false, outdated)
	}
	// A tie between different statuses is still a rejection on the
	// primary (the secondary yields: TestBndUpdTieBreak).
	l := local(StatusExpired, updA, 1, now0, now0, 0)
	wantDecision(t, "tie, other status", l, recv(StatusReleased, updA, 1, now0, now0), now0, false, false, outdated)
}

// t_upd (§7.5.4): CLT_TIME if present, else START_TIME_OF_STATE, for
// ACTIVE, EXPIRED and RELEASED; the later of the two otherwise. t_db: the
// local CLTT if known, else the local start-time-of-state.
func TestBndUpdTimesCompared(t *testing.T) {
	l := local(StatusReleased, updA, 1, now0, now0-day, 0)
	// EXPIRED with an old CLT_TIME but a new start-time-of-state: CLT_TIME
	// counts, so it is outdated.
	wantDecision(t, "EXPIRED uses CLT_TIME", l, recv(StatusExpired, updB, 1, now0-hour, now0+hour), now0, false, false, outdated)
	// Without CLT_TIME its start-time-of-state counts.
	wantDecision(t, "EXPIRED without CLT_TIME", l, recv(StatusExpired, updB, 1, 0, now0+hour), now0, false, true, 0)
	// FREE uses the later of the two.
	wantDecision(t, "FREE uses the later", l, recv(StatusFree, updB, 1, now0-hour, now0+hour), now0, false, true, 0)
	wantDecision(t, "FREE both old", l, recv(StatusFree, updB, 1, now0-hour, now0-hour), now0, false, false, outdated)
	// t_db falls back to the start-time-of-state when CLTT is unknown.
	l = local(StatusReleased, updA, 1, 0, now0, 0)
	wantDecision(t, "t_db is start", l, recv(StatusExpired, updB, 1, now0+hour, now0+hour), now0, false, true, 0)
	wantDecision(t, "t_db is start, older", l, recv(StatusExpired, updB, 1, now0-hour, now0-hour), now0, false, false, outdated)
}

// §7.5.3: an update without the data needed to process it is rejected
// with MissingBindingInformation; §7.5.4: one for a VPN or a resource this
// endpoint does not serve with ConfigurationConflict. Missing is checked
// first; a well-formed update for a resource we know nothing of is news.
func TestBndUpdMissingAndConflict(t *testing.T) {
	l := local(StatusActive, updA, 1, now0, now0, now0+day)
	for name, spoil := range map[string]func(u *ReceivedLease){
		"no form":                    func(u *ReceivedLease) { u.Form = FormMissing },
		"no resource":                func(u *ReceivedLease) { u.Prefix = netip.Prefix{} },
		"no binding status":          func(u *ReceivedLease) { u.Status = 0 },
		"unknown binding status":     func(u *ReceivedLease) { u.Status = 9 },
		"no LQ_BASE_TIME":            func(u *ReceivedLease) { u.BaseTime = 0 },
		"no START_TIME_OF_STATE":     func(u *ReceivedLease) { u.StartOfState = 0 },
		"no CLIENTID":                func(u *ReceivedLease) { u.DUID = "" },
		"ACTIVE without a client":    func(u *ReceivedLease) { u.Form, u.DUID = FormPrefix, "" },
		"ACTIVE without lifetime":    func(u *ReceivedLease) { u.PartnerLifetime = 0 },
		"ACTIVE without expiry":      func(u *ReceivedLease) { u.StateExpiration = 0 },
		"missing and not configured": func(u *ReceivedLease) { u.BaseTime, u.Configured = 0, false },
	} {
		u := recv(StatusActive, updA, 1, now0+hour, now0+hour)
		spoil(u)
		wantDecision(t, name, l, u, now0, false, false, wire.StatusMissingBindingInformation)
		if a, s := DecideBndUpd(nil, u, now0, true); a || s != wire.StatusMissingBindingInformation {
			t.Errorf("%s, no local record: (%v, %d)", name, a, s)
		}
	}
	u := recv(StatusActive, updA, 1, now0+hour, now0+hour)
	u.Configured = false
	wantDecision(t, "not this endpoint's", l, u, now0, false, false, wire.StatusConfigurationConflict)
	u = recv(StatusActive, updA, 1, now0+hour, now0+hour)
	u.UnknownVPN = true
	wantDecision(t, "unknown VPN", l, u, now0, false, false, wire.StatusConfigurationConflict)
	// The prefix form, FREE-BACKUP, no client: fine.
	p := &ReceivedLease{Form: FormPrefix, Kind: KindPD, Prefix: mustPrefix("2001:db8:1:100::/56"),
		Status: StatusFreeBackup, BaseTime: now0, StartOfState: now0, Configured: true}
	if a, s := DecideBndUpd(nil, p, now0, true); !a || s != 0 {
		t.Errorf("prefix form FREE-BACKUP, unknown locally: (%v, %d)", a, s)
	}
	// An update for a resource we have no record of is accepted.
	if a, s := DecideBndUpd(nil, recv(StatusExpired, updB, 1, now0-day, now0-day), now0, false); !a || s != 0 {
		t.Errorf("unknown lease: (%v, %d)", a, s)
	}
}

// §7.5.4: an Outdated rejection sets the partner-needs-update flag; an
// immediate update follows only if the flag was clear. Other outcomes
// leave the flag alone.
func TestBndUpdNeedsUpdateFlag(t *testing.T) {
	for _, c := range []struct {
		flag, accepted bool
		status         uint16
		wantFlag, send bool
	}{
		{false, false, outdated, true, true},
		{true, false, outdated, true, false},
		{false, true, 0, false, false},
		{true, true, 0, true, false},
		{false, false, wire.StatusAddressInUse, false, false},
		{true, false, wire.StatusConfigurationConflict, true, false},
		{false, false, wire.StatusMissingBindingInformation, false, false},
	} {
		f, s := AfterDecision(c.flag, c.accepted, c.status)
		if f != c.wantFlag || s != c.send {
			t.Errorf("AfterDecision(%v, %v, %d) = (%v, %v), want (%v, %v)", c.flag, c.accepted, c.status, f, s, c.wantFlag, c.send)
		}
	}
}

// Two servers that keep rejecting each other's view of a lease as outdated
// send at most one immediate update each: after that, updates wait for the
// periodic scan (and the flag clears only when an update is acked).
func TestBndUpdNoUpdateStorm(t *testing.T) {
	var flags [2]bool
	immediate := 0
	from := 0
	for round := 0; round < 100; round++ {
		to := 1 - from
		var send bool
		flags[to], send = AfterDecision(flags[to], false, outdated)
		if !send {
			break // the ping-pong stops here
		}
		immediate++
		from = to
	}
	if immediate > 2 {
		t.Fatalf("%d immediate updates between two disagreeing servers", immediate)
	}
}

// §7.5.5: what an accepted update leaves in the local record.
func TestBndUpdAcceptedStores(t *testing.T) {
	l := local(StatusActive, updA, 1, now0, now0, now0+day)
	l.Link, l.RemoteID = mustAddr("2001:db8:ffff::1"), "rid"
	l.PartnerLifetime, l.ExpirationTime, l.AckedPartnerLifetime, l.PartnerNeedsUpdate = now0+5*day, now0+2*day, now0+4*day, true
	u := recv(StatusActive, updB, 7, now0+hour, now0+hour-10)
	u.CLTT, u.RawCLTT = now0+hour, now0+hour+2 // a 2 s skew correction
	u.PartnerRawCLTT = now0 + 30               // our CLTT as the partner knows it
	u.ExpirationTime = now0 + 3*day            // older than our pending value
	n := Accepted(l, u)
	switch {
	case n.Status != StatusActive, n.DUID != updB, n.IAID != 7, n.StartOfState != now0+hour-10:
		t.Errorf("binding: %+v", n)
	case n.Preferred != 2*day, n.Valid != 3*day, n.Expires != now0+hour+3*day:
		t.Errorf("lifetimes/expiry: %+v", n)
	case n.Link.IsValid(), n.RemoteID != "":
		t.Errorf("another client kept the old client's location: %+v", n)
	case n.StateExpiration != u.StateExpiration:
		t.Errorf("state-expiration %d", n.StateExpiration)
	case n.ExpirationTime != u.PartnerLifetime:
		t.Errorf("expiration-time %d, want the received partner-lifetime %d", n.ExpirationTime, u.PartnerLifetime)
	case n.PartnerRawCLTT != now0+hour+2:
		t.Errorf("partner-raw-clt-time %d, want the raw base − CLT_TIME", n.PartnerRawCLTT)
	case n.CLTT != now0+hour:
		t.Errorf("CLTT %d, want the new client's CLT_TIME (Expires = CLTT + valid)", n.CLTT)
	case n.PartnerLifetime != now0+5*day:
		t.Errorf("partner-lifetime %d replaced by an earlier EXPIRATION_TIME", n.PartnerLifetime)
	case n.AckedPartnerLifetime != now0+4*day, !n.PartnerNeedsUpdate:
		t.Errorf("ack_pl or flag changed: %+v", n.FOTimes)
	}
	if l.DUID != updA {
		t.Errorf("Accepted modified its input")
	}
	// A later EXPIRATION_TIME (what the partner acked to us) raises
	// ack_pl and leaves what we still owe alone; the same client's later
	// CLT_TIME moves CLTT, an earlier PARTNER_RAW_CLT_TIME does not; same
	// client keeps its location.
	u = recv(StatusActive, updA, 1, now0+hour, now0)
	u.ExpirationTime, u.PartnerRawCLTT = now0+6*day, now0-hour
	n = Accepted(l, u)
	if n.AckedPartnerLifetime != now0+6*day || n.PartnerLifetime != now0+5*day || n.CLTT != now0+hour || n.RemoteID != "rid" {
		t.Errorf("second update: %+v", n)
	}
	// A RELEASED update without timeouts: state-expiration cleared, the
	// expiration-time kept (no PARTNER_LIFETIME sent).
	u = recv(StatusReleased, updA, 1, now0+hour, now0+hour)
	n = Accepted(l, u)
	if n.Status != StatusReleased || n.StateExpiration != 0 || n.ExpirationTime != now0+2*day || n.Expires != l.Expires {
		t.Errorf("released: %+v", n)
	}
	// The prefix form for a record we did not have: no client.
	p := &ReceivedLease{Form: FormPrefix, Kind: KindPD, Prefix: mustPrefix("2001:db8:1:100::/56"),
		Status: StatusFreeBackup, BaseTime: now0, StartOfState: now0, Configured: true}
	n = Accepted(nil, p)
	if n.Kind != KindPD || n.Status != StatusFreeBackup || n.DUID != "" || n.StartOfState != now0 || n.Prefix != p.Prefix {
		t.Errorf("prefix form: %+v", n)
	}
	// An ACTIVE update without CLT_TIME takes its expiry from the
	// state-expiration-time.
	u = recv(StatusActive, updB, 1, 0, now0)
	if n = Accepted(nil, u); n.Expires != u.StateExpiration {
		t.Errorf("expiry without CLT_TIME: %d, want %d", n.Expires, u.StateExpiration)
	}
}

// In a tie (t_upd and t_db the same ±5 s) the two servers, each given the
// other's record, must pick the same winner, or each keeps its own and
// rejects the other's update as outdated for good (the pair simulation's
// "converge" failures). For every pair of differing records, one side
// accepts and the other rejects: a live ACTIVE wins, an ACTIVE whose state
// has run out loses, and otherwise the primary's record wins. The table's
// own cells between ACTIVE and RESET (time(2)) and between two ACTIVEs
// (accept(3)) are left as they are, and so is a duplicate (same status
// and client: both accept).
//
// Each ACTIVE here is a rival the partner has not acked (a pending
// partner-lifetime): only such a record can meet the other in both
// directions. An ACTIVE the partner already knows loses to the partner's
// later state of the same lease instead (TestBndUpdTieEndsKnownActive).
func TestBndUpdTieBreak(t *testing.T) {
	type rec struct {
		st   Status
		duid string
		t    int64
	}
	const stateExp = now0 + hour
	loc := func(r rec) *Binding {
		l := local(r.st, r.duid, 1, r.t, r.t, 0)
		if r.st == StatusActive {
			l.StateExpiration, l.Expires = stateExp, stateExp
			l.PartnerLifetime = stateExp
		}
		return l
	}
	rcv := func(r rec) *ReceivedLease {
		u := recv(r.st, r.duid, 1, r.t, r.t)
		if r.st == StatusActive {
			u.StateExpiration = stateExp
		}
		return u
	}
	all := []Status{StatusActive, StatusExpired, StatusReleased, StatusFree, StatusFreeBackup, StatusReset, StatusAbandoned}
	for _, ps := range all {
		for _, ss := range all {
			if ps == StatusActive && ss == StatusActive ||
				ps == StatusActive && ss == StatusReset || ps == StatusReset && ss == StatusActive {
				continue
			}
			for _, sduid := range []string{updA, updB} {
				for _, d := range []int64{-5, 0, 5} {
					for _, now := range []int64{now0, stateExp + 6} { // the ACTIVE live, and run out
						p, s := rec{ps, updA, now0}, rec{ss, sduid, now0 + d}
						pAcc, _ := DecideBndUpd(loc(p), rcv(s), now, false)
						sAcc, _ := DecideBndUpd(loc(s), rcv(p), now, true)
						dup := ps == ss && sduid == updA
						if dup && !(pAcc && sAcc) || !dup && pAcc == sAcc {
							t.Errorf("P %v, S %v (%s, %+ds, now %+d): P accepts S's: %v, S accepts P's: %v",
								ps, ss, sduid, d, now-now0, pAcc, sAcc)
						}
						if !dup && (ps == StatusActive || ss == StatusActive) {
							activeWins := now == now0
							if winner := ps == StatusActive; sAcc != (winner == activeWins) {
								t.Errorf("P %v, S %v (now %+d): the ACTIVE should win iff live", ps, ss, now-now0)
							}
						}
					}
				}
			}
		}
	}
}

// Issue 12: a client releases (or declines) right after its grant. The
// receiver's live ACTIVE is one the partner knows — the partner's own
// grant, or ours that it has acked — and the partner's RELEASED or
// ABANDONED for the same client comes within 5 s of it. The partner has
// moved on from what we hold, so its update wins the tie (endsKnownActive;
// RFC 8156 §7.5.4: "the server with the most recent binding information
// should have its update accepted"). It does not when our ACTIVE holds a
// client transaction of ours the partner may not know (a renewal or
// re-grant with a pending partner-lifetime or, unless our client time is
// the partner's, the partner-needs-update flag), when the update is older than the partner's transaction we hold
// (in the partner's own clock, so without the 5 s slack), or names
// another client.
func TestBndUpdTieEndsKnownActive(t *testing.T) {
	const grant = now0
	// The partner's ACTIVE as Accepted stores it, the partner's clock skew
	// seconds ahead of ours: CLTT in our clock, partner-raw-clt-time in
	// the partner's.
	partners := func(skew int64) *Binding {
		l := local(StatusActive, updA, 1, grant, grant, grant+hour)
		l.PartnerRawCLTT, l.ExpirationTime = grant+skew, grant+2*hour
		return l
	}
	// The partner's update d seconds after the grant, from a partner skew
	// seconds ahead.
	rcv := func(st Status, duid string, d, skew int64) *ReceivedLease {
		u := recv(st, duid, 1, grant+d, grant+d)
		u.RawCLTT = u.CLTT + skew
		return u
	}
	// Our own renewal 3 s after the partner's grant.
	ours := func() *Binding {
		l := partners(0)
		l.CLTT = grant + 3
		return l
	}
	for _, st := range []Status{StatusReleased, StatusAbandoned} {
		for _, secondary := range []bool{false, true} {
			for _, skew := range []int64{-3, 0, 2} {
				for _, d := range []int64{0, 1, 2, 5} {
					wantDecision(t, "ends the partner's ACTIVE", partners(skew), rcv(st, updA, d, skew), grant+d, secondary, true, 0)
				}
				// Flags left over from an older record of the resource.
				l := partners(skew)
				l.PartnerLifetime, l.PartnerNeedsUpdate = grant-hour, true
				wantDecision(t, "stale flags", l, rcv(st, updA, 1, skew), grant+1, secondary, true, 0)
				// The link's skew estimate moved by a second.
				wantDecision(t, "skew moved", partners(skew), rcv(st, updA, 1, skew+1), grant+1, secondary, true, 0)
			}
			l := ours()
			l.PartnerLifetime = grant + 2*hour
			wantDecision(t, "our unacked renewal", l, rcv(st, updA, 1, 0), grant+1, secondary, false, outdated)
			// Both servers answered the client's multicast REBIND in the
			// same second; ours is not acked yet: a rival, whatever the
			// times say.
			l = partners(0)
			l.PartnerLifetime = grant + 2*hour
			wantDecision(t, "our unacked transaction of the same second", l, rcv(st, updA, 1, 0), grant+1, secondary, false, outdated)
			l = ours()
			l.PartnerNeedsUpdate = true
			wantDecision(t, "partner needs our renewal", l, rcv(st, updA, 1, 0), grant+1, secondary, false, outdated)
			wantDecision(t, "our acked renewal", ours(), rcv(st, updA, 1, 0), grant+1, secondary, true, 0)
			l = partners(0)
			l.PartnerRawCLTT = grant + 2
			wantDecision(t, "older than the partner's grant", l, rcv(st, updA, 1, 0), grant+1, secondary, false, outdated)
			wantDecision(t, "another client", partners(0), rcv(st, updB, 1, 0), grant+1, secondary, false, outdated)
			u := recv(st, updA, 1, 0, grant+1) // no CLT_TIME: nothing to compare in the partner's clock
			wantDecision(t, "no CLT_TIME", partners(0), u, grant+1, secondary, false, outdated)
		}
	}
}

// An accepted ACTIVE for our own client never shortens our grant when it
// is no newer (±5 s): the client may hold either reply. But a clearly
// later CLT_TIME is the client's newer transaction with the partner, whose
// lifetimes replaced ours at the client: the record takes it whole, or it
// would outlive the partner's EXPIRED with an older CLTT, and each server
// would reject the other's update as outdated (pair simulation, seed 5).
func TestBndUpdAcceptedNewerGrantReplacesOurs(t *testing.T) {
	l := local(StatusActive, updA, 1, now0, now0, now0+3*day) // valid 3 days
	for _, c := range []struct {
		d    int64
		ours bool
	}{{-5, true}, {0, true}, {5, true}, {6, false}, {hour, false}} {
		u := recv(StatusActive, updA, 1, now0+c.d, now0)
		u.Valid, u.StateExpiration = uint32(hour), now0+c.d+hour // the partner's short grant
		n := Accepted(l, u)
		wantExp, wantCLTT := now0+c.d+hour, now0+c.d
		if c.ours {
			wantExp, wantCLTT = l.Expires, l.CLTT
		}
		if n.Expires != wantExp || n.CLTT != wantCLTT || n.StateExpiration != wantExp || n.CLTT+int64(n.Valid) != n.Expires {
			t.Errorf("update %+ds: CLTT %d valid %d expires %d state-exp %d, want CLTT %d expires %d",
				c.d, n.CLTT-now0, n.Valid, n.Expires-now0, n.StateExpiration-now0, wantCLTT-now0, wantExp-now0)
		}
	}
}

package engine

import (
	"testing"
)

// Tests of the MCLT rules in mclt.go: the design draft's worked example,
// the state-dependent caps, and when a resource may go to another client.

const (
	hour = 3600
	day  = 24 * hour
	now0 = int64(1_700_000_000) // an arbitrary "now", Unix seconds
)

// checkInvariant is ARCHITECTURE.md's first invariant: outside
// PARTNER-DOWN, the expiry a client knows ≤ max(ack_pl, now) + MCLT.
func checkInvariant(t *testing.T, step string, now int64, valid, mclt uint32, ackedPL int64) {
	t.Helper()
	if exp, bound := now+int64(valid), max(ackedPL, now)+int64(mclt); exp > bound {
		t.Fatalf("%s: client expiry %d beyond max(ack_pl, now) + MCLT = %d", step, exp, bound)
	}
}

// The worked example of draft-ietf-dhc-dhcpv6-failover-design-04 §8.3.1
// ("MCLT example"), walked step by step: MCLT 1 hour, desired valid
// lifetime 3 days, renewal at half the valid lifetime.
//
// (The seed slides, 002_*.txt, say "Server updates its partner with 3 days
// + 2 hour"; the draft's text, which this follows, says 1/2 hour + 3 days,
// and 3 days + ½·MCLT is what the ½-T1 rule gives.)
func TestMCLTWorkedExample(t *testing.T) {
	const mclt, desired = hour, 3 * day
	var fo Binding // its FOTimes, and Acked

	// "It then examines the acknowledged potential valid lifetime (which
	// in this case is zero) … Thus, the actual valid lifetime is 1 hour
	// (the MCLT)."
	now := now0
	v := CapLifetime(RuleNormal, desired, mclt, now, fo.AckedPartnerLifetime, fo.ExpirationTime)
	if v != hour {
		t.Fatalf("first reply: valid %d, want 1 hour", v)
	}
	checkInvariant(t, "first reply", now, v, mclt, fo.AckedPartnerLifetime)
	// "When the DHCPv6 client attempts to renew at T1 (approximately one
	// half an hour from the start of the lease)": the capped lease's T1.
	pref, valid, t1, t2 := CapTimes(2*day, desired, day, 2*day, v)
	if pref != hour || valid != hour || t1 != hour/2 || t2 != 48*60 {
		t.Fatalf("capped times %d %d %d %d, want 3600 3600 1800 2880", pref, valid, t1, t2)
	}

	// "the failover partner is updated with a BNDUPD with a potential
	// valid lifetime of 1/2 hour + 3 days."
	fo.PartnerLifetime = LazyPartnerLifetime(now, desired, v)
	if want := now + hour/2 + 3*day; fo.PartnerLifetime != want {
		t.Fatalf("first BNDUPD partner-lifetime %d, want now + ½ h + 3 d = %d", fo.PartnerLifetime, want)
	}

	// "When the primary server receives a BNDACK to its update … it
	// records that as the acknowledged potential valid lifetime."
	fo.Acked(fo.PartnerLifetime)
	if fo.AckedPartnerLifetime != now0+hour/2+3*day || fo.PartnerLifetime != 0 {
		t.Fatalf("after ack: %+v", fo)
	}

	// "When the DHCPv6 client attempts to renew at T1 … Thus the time
	// remaining of the acknowledged potential valid interval is 3 days.
	// Adding the MCLT to this yields 3 days plus 1 hour, which is more
	// than the desired valid lifetime of 3 days. So the client is renewed
	// for the desired valid lifetime -- 3 days."
	now += int64(t1)
	if rem := fo.AckedPartnerLifetime - now; rem != 3*day {
		t.Fatalf("remaining acknowledged interval %d, want 3 days", rem)
	}
	v = CapLifetime(RuleNormal, desired, mclt, now, fo.AckedPartnerLifetime, fo.ExpirationTime)
	if v != 3*day {
		t.Fatalf("renewal at T1: valid %d, want 3 days", v)
	}
	checkInvariant(t, "renewal", now, v, mclt, fo.AckedPartnerLifetime)
	if _, _, t1, _ = CapTimes(2*day, desired, 1.5*day, 2.4*day, v); t1 != 1.5*day {
		t.Fatalf("uncapped renewal changed T1 to %d", t1)
	}

	// "it will calculate the desired potential valid lifetime as the T1
	// fraction of the actual client valid lifetime (1/2 of 3 days this
	// time = 1.5 days). To this it will add the desired client valid
	// lifetime of 3 days, yielding a total desired potential valid
	// lifetime of 4.5 days."
	fo.PartnerLifetime = LazyPartnerLifetime(now, desired, v)
	if want := now + 1.5*day + 3*day; fo.PartnerLifetime != want {
		t.Fatalf("renewal BNDUPD partner-lifetime %d, want now + 1.5 d + 3 d = %d", fo.PartnerLifetime, want)
	}

	// Slides 002, steps 10–11: "Partner acks. Ack'd lease time is 4,5
	// days. Client renews in 1,5 days and steps 7-10 repeat."
	fo.Acked(fo.PartnerLifetime)
	for i := 0; i < 5; i++ {
		now += 1.5 * day
		v = CapLifetime(RuleNormal, desired, mclt, now, fo.AckedPartnerLifetime, fo.ExpirationTime)
		if v != 3*day {
			t.Fatalf("renewal %d: valid %d, want 3 days", i+2, v)
		}
		checkInvariant(t, "steady renewal", now, v, mclt, fo.AckedPartnerLifetime)
		fo.PartnerLifetime = LazyPartnerLifetime(now, desired, v)
		fo.Acked(fo.PartnerLifetime)
	}
}

// A renewal whose BNDUPD was never acked keeps working off the old ack:
// the invariant holds without any help from the partner.
func TestMCLTUnackedRenewalStaysWithinAck(t *testing.T) {
	const mclt, desired = hour, 3 * day
	acked := now0 + hour/2 + 3*day // acked first BNDUPD
	for now := now0; now < acked+2*day; now += 7 * hour {
		v := CapLifetime(RuleNormal, desired, mclt, now, acked, 0)
		checkInvariant(t, "unacked", now, v, mclt, acked)
		if now > acked && v != mclt {
			t.Fatalf("past the ack: valid %d, want MCLT", v)
		}
	}
}

// RFC 8156 §8.9.1 (CI) and §8.11.1 (RI): renewals are capped at MCLT
// beyond the latest of ack_pl, now and the partner's partner-lifetime; with
// no new acks possible, the lifetimes shrink towards MCLT.
func TestMCLTInterruptedShrinksTowardsMCLT(t *testing.T) {
	const mclt, desired = hour, 3 * day
	acked := now0 + 4.5*day // the last ack before the link broke
	prev := uint32(desired + 1)
	now := now0
	var v uint32
	for i := 0; i < 20; i++ {
		v = CapLifetime(RuleInterrupted, desired, mclt, now, acked, 0)
		if v > prev {
			t.Fatalf("renewal %d grew: %d after %d", i, v, prev)
		}
		checkInvariant(t, "CI", now, v, mclt, acked)
		prev = v
		now += int64(v / 2) // the client renews at T1
	}
	if v != mclt {
		t.Fatalf("after a long interruption: valid %d, want MCLT %d", v, mclt)
	}
	// The partner-lifetime the partner sent us (our expiration-time) also
	// counts in CI, not in NORMAL.
	if v := CapLifetime(RuleInterrupted, desired, mclt, now0, 0, now0+2*day); v != 2*day+hour {
		t.Fatalf("CI with expiration-time now+2d: %d, want 2d+1h", v)
	}
	if v := CapLifetime(RuleNormal, desired, mclt, now0, 0, now0+2*day); v != hour {
		t.Fatalf("NORMAL ignores expiration-time: %d, want 1h", v)
	}
	// Never more than desired.
	if v := CapLifetime(RuleInterrupted, desired, mclt, now0, now0+10*day, now0+10*day); v != desired {
		t.Fatalf("CI cap above desired: %d", v)
	}
}

// RFC 8156 §8.4.1: "The server is not restricted by the MCLT when offering
// lease times while in PARTNER-DOWN state."
func TestMCLTPartnerDownUncapped(t *testing.T) {
	for _, d := range []uint32{30, hour, 3 * day, infinity} {
		if v := CapLifetime(RuleUncapped, d, hour, now0, 0, 0); v != d {
			t.Fatalf("PD: desired %d gave %d", d, v)
		}
	}
	// An infinite desired lifetime is capped like any other outside PD.
	if v := CapLifetime(RuleNormal, infinity, hour, now0, 0, 0); v != hour {
		t.Fatalf("NORMAL infinite: %d", v)
	}
	if v := CapLifetime(RuleNormal, infinity, hour, now0, now0+10*day, 0); v != 10*day+hour {
		t.Fatalf("NORMAL infinite, acked 10d: %d", v)
	}
}

// F_PARTNER_LIFETIME_SENT clears the pending value only if it is the one
// pending: a newer value queued while the older was in flight still goes.
func TestMCLTAckedKeepsNewerPending(t *testing.T) {
	var fo Binding
	fo.PartnerLifetime, fo.PartnerNeedsUpdate = now0+5*day, true
	fo.Acked(now0 + 4*day)
	if fo.AckedPartnerLifetime != now0+4*day || fo.PartnerLifetime != now0+5*day || fo.PartnerNeedsUpdate {
		t.Fatalf("older ack: %+v", fo)
	}
	fo.Acked(now0 + 5*day)
	if fo.AckedPartnerLifetime != now0+5*day || fo.PartnerLifetime != 0 {
		t.Fatalf("current ack: %+v", fo)
	}
	fo.Acked(0) // a status without a timeout: no PARTNER_LIFETIME
	if fo.AckedPartnerLifetime != now0+5*day {
		t.Fatalf("zero ack changed ack_pl: %+v", fo)
	}
}

func reuseLease(k Kind, p string, st Status) *Binding {
	return &Binding{Kind: k, Prefix: mustPrefix(p), Status: st}
}

// RFC 8156 §4.2.2.1: outside PARTNER-DOWN a resource goes to a different
// client only from this server's own free pool; an EXPIRED or RELEASED one
// must first have its BNDUPD acked (which moves it to PENDING-FREE, then
// its owner's pool).
func TestReuseOutsidePartnerDown(t *testing.T) {
	cases := []struct {
		p       string
		st      Status
		primary bool
		want    int64
	}{
		{"2001:db8::1/128", StatusFree, true, 0},
		{"2001:db8::2/128", StatusFreeBackup, false, 0},
		{"2001:db8::2/128", StatusFreeBackup, true, Never}, // the partner's
		{"2001:db8::1/128", StatusFree, false, Never},
		{"2001:db8::1/128", StatusPendingFree, true, 0}, // acked; odd → FREE
		{"2001:db8::2/128", StatusPendingFree, true, Never},
		{"2001:db8::2/128", StatusPendingFree, false, 0},
		{"2001:db8::1/128", StatusExpired, true, Never}, // BNDUPD not yet acked
		{"2001:db8::1/128", StatusReleased, true, Never},
		{"2001:db8::1/128", StatusReset, true, Never},
		{"2001:db8::1/128", StatusActive, true, Never},
		{"2001:db8::1/128", StatusAbandoned, true, Never},
	}
	for _, c := range cases {
		l := reuseLease(KindNA, c.p, c.st)
		l.Expires = now0 - day
		if got := ReusableAt(l, c.primary, false, 0, hour); got != c.want {
			t.Errorf("%s %v primary=%v: %d, want %d", c.p, c.st, c.primary, got, c.want)
		}
	}
	// A freed prefix is always the primary's.
	l := reuseLease(KindPD, "2001:db8:1:200::/56", StatusPendingFree)
	if ReusableAt(l, true, false, 0, hour) != 0 || ReusableAt(l, false, false, 0, hour) != Never {
		t.Errorf("pending-free prefix not the primary's")
	}
}

// RFC 8156 §8.4.1: in PARTNER-DOWN, MCLT after the latest of the client's
// expiry, the last partner-lifetime sent, the last ack received and the
// last partner-lifetime acked to the partner; never before PD-entry + MCLT.
func TestReuseInPartnerDown(t *testing.T) {
	const mclt = hour
	pdEntry := now0
	now := now0 + 3*day
	base := func() *Binding {
		l := reuseLease(KindNA, "2001:db8::1/128", StatusExpired)
		l.Expires, l.PartnerLifetime, l.AckedPartnerLifetime, l.ExpirationTime = now0+1, now0+2, now0+3, now0+4
		return l
	}
	for i, set := range []func(l *Binding, v int64){
		func(l *Binding, v int64) { l.Expires = v },
		func(l *Binding, v int64) { l.PartnerLifetime = v },
		func(l *Binding, v int64) { l.AckedPartnerLifetime = v },
		func(l *Binding, v int64) { l.ExpirationTime = v },
	} {
		l := base()
		set(l, now0+5*day)
		if got := ReusableAt(l, true, true, pdEntry, mclt); got != now0+5*day+mclt {
			t.Errorf("time %d latest: %d, want latest + MCLT", i, got-now0)
		}
	}
	// Everything long past: the PD-entry + MCLT floor.
	l := base()
	l.Expires, l.PartnerLifetime, l.AckedPartnerLifetime, l.ExpirationTime = now0-9*day, 0, now0-8*day, now0-7*day
	if got := ReusableAt(l, true, true, pdEntry, mclt); got != pdEntry+mclt {
		t.Errorf("old history: %d, want PD-entry + MCLT", got-now0)
	}
	// PD-entry ≤ latest < now: the literal "use PD-entry + MCLT instead"
	// would allow reuse at now0+1h, while the partner may have promised its
	// client up to expiration-time + MCLT = now0+1d+1h.
	l = base()
	l.ExpirationTime = now0 + day
	if got := ReusableAt(l, true, true, pdEntry, mclt); got != now0+day+mclt || got > now {
		t.Errorf("latest between PD entry and now: %d, want latest + MCLT", got-now0)
	}
	// The partner's free pool at PD entry (no history): PD-entry + MCLT.
	for _, c := range []struct {
		k  Kind
		p  string
		st Status
	}{{KindNA, "2001:db8::2/128", StatusFreeBackup}, {KindPD, "2001:db8:1:100::/56", StatusFreeBackup}} {
		if got := ReusableAt(reuseLease(c.k, c.p, c.st), true, true, pdEntry, mclt); got != pdEntry+mclt {
			t.Errorf("partner's free %s: %d, want PD-entry + MCLT", c.p, got-now0)
		}
	}
	// Own free pool: at once. ABANDONED: never (needs RESET).
	if got := ReusableAt(reuseLease(KindNA, "2001:db8::1/128", StatusFree), true, true, pdEntry, mclt); got != 0 {
		t.Errorf("own free in PD: %d", got)
	}
	if got := ReusableAt(reuseLease(KindNA, "2001:db8::1/128", StatusAbandoned), true, true, pdEntry, mclt); got != Never {
		t.Errorf("abandoned in PD: %d", got)
	}
}

// A lease the partner may have extended under the CI rule is never reused
// in PARTNER-DOWN while that extension can still be running: for every
// lifetime the partner could have given before we entered PD, reuse comes
// after the client's expiry.
func TestReuseInPartnerDownCoversPartnerCap(t *testing.T) {
	const mclt, desired = hour, 3 * day
	// We sent and the partner acked partner-lifetime pl (its
	// expiration-time); the partner acked us nothing.
	pl := now0 + 4.5*day
	l := reuseLease(KindNA, "2001:db8::2/128", StatusActive)
	l.Expires, l.AckedPartnerLifetime = now0+3*day, pl
	pdEntry := now0 + 2*day
	reuse := ReusableAt(l, true, true, pdEntry, mclt)
	for issued := now0; issued <= pdEntry; issued += hour {
		for _, rule := range []LifetimeRule{RuleNormal, RuleInterrupted} {
			// The partner's view: its ack_pl is 0, its expiration-time
			// is our pl.
			v := CapLifetime(rule, desired, mclt, issued, 0, pl)
			if exp := issued + int64(v); exp > reuse {
				t.Fatalf("partner issued at %d a lease to %d, after reuse at %d", issued-now0, exp-now0, reuse-now0)
			}
		}
	}
}

package replicate

import (
	"errors"
	"math"
	"net/netip"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// BNDUPD and BNDREPLY contents (RFC 8156 §6.3, §7.4–§7.7): the translation
// between the engine's lease records and the failover wire, both ways.
//
// Sending, one lease per BNDUPD:
//
//	client form (a lease with a client):
//	  CLIENT_DATA
//	    CLIENTID                 the DUID
//	    LQ_BASE_TIME             now: relative times below count back from it
//	    IA_NA | IA_PD            IAID, T1 = T2 = 0 (the engine keeps no timers)
//	      IAADDR | IAPREFIX      the lifetimes last sent to the client
//	        F_BINDING_STATUS, F_START_TIME_OF_STATE              always
//	        CLT_TIME             LQ_BASE_TIME − CLTT, when there was client contact
//	        F_PARTNER_RAW_CLT_TIME                               when known
//	        F_STATE_EXPIRATION_TIME, F_PARTNER_LIFETIME,
//	        F_EXPIRATION_TIME    only when the status has a timeout (ACTIVE always)
//
//	prefix form (a delegable prefix with no client, FREE or FREE-BACKUP):
//	  IAPREFIX with LQ_BASE_TIME, the status, its start and the timeout options
//
// One lease per BNDUPD keeps the outbox simple (one xid acks one resource)
// and costs little: a BNDUPD is ~120 bytes and many travel per write.
//
// Times: the engine's are Unix seconds with 0 meaning "none"; the wire's
// are 2000-epoch absolute seconds. A zero engine time travels as absolute 0
// (2000-01-01, older than any lease, so a peer that does not special-case
// it reads it as "long ago") and comes back as 0, so a round trip is exact
// and every option the spec says MUST appear can appear. Times past the
// 32-bit range (an infinite lease's partner-lifetime) are clamped.

// Errors of ReceivedFromWire.
var (
	ErrNotBndUpd = errors.New("replicate: not a BNDUPD")
	ErrNoLease   = errors.New("replicate: BNDUPD has no lease at that index")
)

// absTime converts an engine time (Unix seconds, 0 = none) to an RFC 8156
// absolute time, clamping to the representable range.
func absTime(t int64) uint32 {
	switch {
	case t == 0:
		return 0
	case t <= wire.UnixTime(1):
		return 1
	case t >= wire.UnixTime(math.MaxUint32):
		return math.MaxUint32
	}
	return wire.AbsTime(t)
}

// unixTime converts an absolute time to engine time; absolute 0 is none.
func unixTime(a uint32) int64 {
	if a == 0 {
		return 0
	}
	return wire.UnixTime(a)
}

// hasTimeout reports whether a record's binding status times out, which
// decides whether the three timeout options travel (RFC 8156 §6.3: they
// "MUST appear only if the status has a timeout"). ACTIVE always does;
// another status does when the engine gave it a state-expiration-time
// after the state began — one at or before StartOfState is left over from
// the previous status (an ACTIVE lease's expiry, copied when it expired).
func hasTimeout(b *engine.Binding, fo *engine.FOTimes) bool {
	return b.Status == engine.StatusActive || fo.StateExpiration > b.StartOfState
}

// PrefixForm reports whether a record travels in the prefix form: a
// delegable prefix with no client (FREE or FREE-BACKUP moved by
// rebalancing, RFC 8156 §4.2.2).
func PrefixForm(b *engine.Binding) bool { return b.DUID == "" && b.Kind == engine.KindPD }

// Encodable reports whether AppendBndUpd can express a record. An address
// record with no client has no BNDUPD form (CLIENTID is a MUST of the
// client form, and the prefix form is for delegable prefixes).
func Encodable(b *engine.Binding) bool {
	return b.Prefix.IsValid() && (b.DUID != "" || b.Kind == engine.KindPD) &&
		(b.Kind == engine.KindNA || b.Kind == engine.KindPD)
}

// bindingLease fills the wire form of a record's lease.
func bindingLease(l *wire.BindingLease, now int64, b *engine.Binding, fo *engine.FOTimes) {
	*l = wire.BindingLease{
		Prefix:           b.Prefix,
		Preferred:        b.Preferred,
		Valid:            b.Valid,
		Has:              wire.HasBindingStatus | wire.HasStartTimeOfState,
		BindingStatus:    uint8(b.Status),
		StartTimeOfState: absTime(b.StartOfState),
	}
	if b.CLTT != 0 {
		l.Has |= wire.HasCLTTime
		l.CLTTime = uint32(min(max(now-b.CLTT, 0), math.MaxUint32))
	}
	if fo.PartnerRawCLTT != 0 {
		l.Has |= wire.HasPartnerRawCLTTime
		l.PartnerRawCLTTime = absTime(fo.PartnerRawCLTT)
	}
	if !hasTimeout(b, fo) {
		return
	}
	se, pl := fo.StateExpiration, fo.PartnerLifetime
	if pl == 0 {
		// Already acked (the engine zeroes it then): resend what the
		// partner holds. A receiver needs it for ACTIVE (§7.5.5).
		pl = fo.AckedPartnerLifetime
	}
	if b.Status == engine.StatusActive {
		// The engine always sets both for an ACTIVE lease of a failover
		// subnet; the client's expiry is the safe floor for either.
		if se == 0 {
			se = b.Expires
		}
		if pl == 0 {
			pl = b.Expires
		}
	}
	l.Has |= wire.HasStateExpiration | wire.HasPartnerLifetime | wire.HasExpirationTime
	l.StateExpiration = absTime(se)
	l.PartnerLifetime = absTime(pl)
	l.ExpirationTime = absTime(fo.ExpirationTime)
}

// AppendBndUpd appends one framed BNDUPD carrying record b with its
// failover times fo (pass &b.FOTimes where Binding embeds them). now is
// LQ_BASE_TIME and the provisional sent-time (the link stamps the real one
// as the frame leaves). A record Encodable rejects appends nothing: dst
// comes back unchanged. It allocates nothing when dst has room.
func AppendBndUpd(dst []byte, xid uint32, now int64, b *engine.Binding, fo *engine.FOTimes) []byte {
	if !Encodable(b) {
		return dst
	}
	var l wire.BindingLease
	bindingLease(&l, now, b, fo)
	base := absTime(now)
	dst, f := wire.BeginFrame(dst, wire.BndUpd, xid, base)
	if PrefixForm(b) {
		l.Has |= wire.HasLQBaseTime
		l.LQBaseTime = base
		dst = wire.AppendBindingLease(dst, &l, false)
		return wire.EndFrame(dst, f)
	}
	dst, cd := wire.BeginOption(dst, wire.OptClientData)
	dst = wire.AppendOptionString(dst, wire.OptClientID, b.DUID)
	dst = wire.AppendUint32Option(dst, wire.OptLQBaseTime, base)
	code := wire.OptIANA
	if b.Kind == engine.KindPD {
		code = wire.OptIAPD
	}
	dst, ia := wire.BeginIA(dst, code, b.IAID, 0, 0)
	dst = wire.AppendBindingLease(dst, &l, code == wire.OptIANA)
	dst = wire.EndOption(dst, ia)
	dst = wire.EndOption(dst, cd)
	return wire.EndFrame(dst, f)
}

// NumLeases is how many leases a decoded BNDUPD or BNDREPLY carries: those
// inside its CLIENT_DATA's IAs, or 1 for the prefix form. 0 means the
// message has no binding (a BNDUPD like that is rejected whole with
// MissingBindingInformation).
func NumLeases(m *wire.FailoverMsg) int {
	switch {
	case m.HasPrefix:
		return 1
	case !m.HasClientData:
		return 0
	}
	n := 0
	for i := range m.Client.NumIAs {
		n += m.Client.IAs[i].NumLeases
	}
	return n
}

// leaseAt locates lease i of m: its IA (nil for the prefix form) and lease.
func leaseAt(m *wire.FailoverMsg, i int) (*wire.BindingIA, *wire.BindingLease) {
	if i < 0 {
		return nil, nil
	}
	if m.HasPrefix {
		if i == 0 {
			return nil, &m.Prefix
		}
		return nil, nil
	}
	if !m.HasClientData {
		return nil, nil
	}
	for k := range m.Client.NumIAs {
		ia := &m.Client.IAs[k]
		if i < ia.NumLeases {
			return ia, &ia.Leases[i]
		}
		i -= ia.NumLeases
	}
	return nil, nil
}

// ReceivedFromWire fills r with lease i (0 ≤ i < NumLeases(m)) of a decoded
// BNDUPD, in the engine's terms, ready for engine.DecideBndUpd.
//
// The caller sets what needs a lookup: Configured (the resource lies in
// this endpoint's pools; the zero value makes DecideBndUpd reject, so a
// forgotten lookup imports nothing). UnknownVPN is set here: tandem serves
// only the global VPN, so an OPTION_VSS naming any other (in CLIENT_DATA
// for the client form, in the IAPREFIX for the prefix form, RFC 8156 §7.4)
// makes DecideBndUpd reject the lease with ConfigurationConflict (§7.5.4).
//
// Times become Unix seconds; absent options are 0. CLT_TIME is relative:
// RawCLTT is LQ_BASE_TIME − CLT_TIME as the partner's clock saw it (stored
// uncorrected as partner-raw-clt-time, §7.5.5) and CLTT is the same moved
// into our clock by skew (the partner's clock minus ours, in seconds, e.g.
// Link.Stats().Skew; 0 for none). An IA_TA lease gets Kind 0: tandem
// serves no temporary addresses, and the pool lookup will not find it.
//
// r.DUID is reused when it already holds the same client (the common case
// of a caller filling one ReceivedLease per lease of one BNDUPD);
// otherwise one string is allocated: the engine keeps it in its record.
func ReceivedFromWire(m *wire.FailoverMsg, i int, skew int64, r *engine.ReceivedLease) error {
	if m.Type != wire.BndUpd {
		return ErrNotBndUpd
	}
	ia, l := leaseAt(m, i)
	if l == nil {
		return ErrNoLease
	}
	duid := r.DUID
	*r = engine.ReceivedLease{
		Prefix:    l.Prefix,
		Preferred: l.Preferred,
		Valid:     l.Valid,
	}
	var base uint32
	if ia == nil {
		r.Form, r.Kind = engine.FormPrefix, engine.KindPD
		if l.Has&wire.HasLQBaseTime != 0 {
			base = l.LQBaseTime
		}
		r.UnknownVPN = l.Has&wire.HasVSS != 0 && !l.VSSGlobal
	} else {
		r.Form, r.IAID = engine.FormClient, ia.IAID
		switch ia.Code {
		case wire.OptIANA:
			r.Kind = engine.KindNA
		case wire.OptIAPD:
			r.Kind = engine.KindPD
		}
		if m.Client.HasLQBaseTime {
			base = m.Client.LQBaseTime
		}
		r.UnknownVPN = !wire.GlobalVPN(m.Client.VSS)
		if id := m.Client.ClientID; len(id) > 0 {
			if duid != string(id) { // no allocation to compare
				duid = string(id)
			}
			r.DUID = duid
		}
	}
	r.BaseTime = unixTime(base)
	if l.Has&wire.HasBindingStatus != 0 {
		r.Status = engine.Status(l.BindingStatus)
	}
	if l.Has&wire.HasCLTTime != 0 && r.BaseTime != 0 {
		r.RawCLTT = r.BaseTime - int64(l.CLTTime)
		r.CLTT = r.RawCLTT - skew
	}
	for _, f := range [...]struct {
		bit uint32
		v   uint32
		dst *int64
	}{
		{wire.HasStartTimeOfState, l.StartTimeOfState, &r.StartOfState},
		{wire.HasStateExpiration, l.StateExpiration, &r.StateExpiration},
		{wire.HasPartnerLifetime, l.PartnerLifetime, &r.PartnerLifetime},
		{wire.HasPartnerRawCLTTime, l.PartnerRawCLTTime, &r.PartnerRawCLTT},
		{wire.HasExpirationTime, l.ExpirationTime, &r.ExpirationTime},
	} {
		if l.Has&f.bit != 0 {
			*f.dst = unixTime(f.v)
		}
	}
	return nil
}

// LeaseResult is the decision on one lease of a received BNDUPD, in the
// order of NumLeases/ReceivedFromWire. Status is the STATUS_CODE of a
// rejection (engine.DecideBndUpd's); a rejection without one is sent as
// UnspecFail, since no STATUS_CODE means success.
type LeaseResult struct {
	Accepted bool
	Status   uint16
}

// statusUnspecFail is RFC 8415's UnspecFail, the status of a rejection the
// caller gave no reason for.
const statusUnspecFail = 1

// AppendBndReply appends the framed BNDREPLY to upd (RFC 8156 §6.4): the
// same xid and form, each lease echoed with F_BINDING_STATUS and
// F_STATE_EXPIRATION_TIME copied, F_PARTNER_LIFETIME_SENT an exact copy of
// the F_PARTNER_LIFETIME received, and a STATUS_CODE only on rejection.
// results[i] decides lease i; a lease with no result is rejected
// (UnspecFail), never acked by default. An update with no lease at all is
// answered by a message-level MissingBindingInformation.
//
// The sent-time is 0: the link stamps it as the frame leaves. Send it only
// once the accepted records are durable (RFC 8156 §6.4, ARCHITECTURE rule 2).
func AppendBndReply(dst []byte, upd *wire.FailoverMsg, results []LeaseResult) []byte {
	dst, f := wire.BeginFrame(dst, wire.BndReply, upd.XID, 0)
	if NumLeases(upd) == 0 {
		dst = wire.AppendStatus(dst, wire.StatusMissingBindingInformation, "")
		return wire.EndFrame(dst, f)
	}
	i := 0
	reply := func(dst []byte, l *wire.BindingLease, asAddr bool) []byte {
		var r wire.BindingLease
		r.Prefix, r.Preferred, r.Valid = l.Prefix, l.Preferred, l.Valid
		r.Has = l.Has & (wire.HasBindingStatus | wire.HasStateExpiration)
		r.BindingStatus, r.StateExpiration = l.BindingStatus, l.StateExpiration
		if l.Has&wire.HasPartnerLifetime != 0 {
			r.Has |= wire.HasPartnerLifetimeSent
			r.PartnerLifetimeSent = l.PartnerLifetime
		}
		res := LeaseResult{Status: statusUnspecFail}
		if i < len(results) {
			res = results[i]
		}
		i++
		if !res.Accepted {
			r.Has |= wire.HasStatusCode
			r.Status = res.Status
			if r.Status == 0 {
				r.Status = statusUnspecFail
			}
		}
		return wire.AppendBindingLease(dst, &r, asAddr)
	}
	if upd.HasPrefix {
		dst = reply(dst, &upd.Prefix, false)
		return wire.EndFrame(dst, f)
	}
	c := &upd.Client
	dst, cd := wire.BeginOption(dst, wire.OptClientData)
	if c.ClientID != nil {
		dst = wire.AppendOption(dst, wire.OptClientID, c.ClientID)
	}
	for k := range c.NumIAs {
		ia := &c.IAs[k]
		var o int
		dst, o = wire.BeginIA(dst, ia.Code, ia.IAID, ia.T1, ia.T2)
		for j := range ia.NumLeases {
			dst = reply(dst, &ia.Leases[j], ia.Code != wire.OptIAPD)
		}
		dst = wire.EndOption(dst, o)
	}
	dst = wire.EndOption(dst, cd)
	return wire.EndFrame(dst, f)
}

// ParseBndReply reports each lease of a decoded BNDREPLY: its resource,
// whether the partner accepted it, the rejection status (0 when accepted),
// and F_PARTNER_LIFETIME_SENT in Unix seconds (0 when absent: the status had
// no timeout), the value engine.FOTimes.Acked takes.
//
// A STATUS_CODE's scope is where it sits (RFC 8156 §7.6, §7.7): in the
// outermost option — the CLIENT_DATA, or the prefix form's IAPREFIX — it
// rejects the entire BNDUPD; in an IA every lease in it; in an IAADDR or
// IAPREFIX that lease. tandem itself rejects per lease, and a BNDUPD with
// no lease with a STATUS_CODE beside the (absent) binding, at the message
// level, which rejects every lease too. No STATUS_CODE, or Success, means
// accepted. A status rejecting the entire update (message or CLIENT_DATA
// level) is returned as whole (0: none), so a reply that rejects the whole
// update and echoes no lease is still seen. For the prefix form the
// returned status and state-expiration-time the RFC says to store are in
// m.Prefix.
func ParseBndReply(m *wire.FailoverMsg, fn func(p netip.Prefix, accepted bool, status uint16, partnerLifetimeSent int64)) (whole uint16) {
	if m.Has&wire.FHasStatus != 0 {
		whole = m.Status
	}
	if whole == 0 && m.HasClientData && m.Client.HasStatus {
		whole = m.Client.Status
	}
	for i := 0; ; i++ {
		ia, l := leaseAt(m, i)
		if l == nil {
			return whole
		}
		st := whole
		if st == 0 && ia != nil && ia.HasStatus {
			st = ia.Status
		}
		if st == 0 && l.Has&wire.HasStatusCode != 0 {
			st = l.Status
		}
		var pls int64
		if l.Has&wire.HasPartnerLifetimeSent != 0 {
			pls = unixTime(l.PartnerLifetimeSent)
		}
		fn(l.Prefix, st == 0, st, pls)
	}
}

// EchoedStatus finds the F_BINDING_STATUS a BNDREPLY echoes for the lease
// p: the status the partner accepted (0 when the reply does not name p).
func EchoedStatus(m *wire.FailoverMsg, p netip.Prefix) engine.Status {
	if m.HasPrefix {
		return engine.Status(m.Prefix.BindingStatus)
	}
	for i := 0; i < m.Client.NumIAs; i++ {
		ia := &m.Client.IAs[i]
		for j := 0; j < ia.NumLeases; j++ {
			if ia.Leases[j].Prefix == p {
				return engine.Status(ia.Leases[j].BindingStatus)
			}
		}
	}
	return 0
}

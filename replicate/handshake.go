package replicate

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Partner is what the partner told us while connecting, plus the MCLT in
// force for the relationship (the primary's; RFC 8156 §6.1: the secondary
// adopts it).
type Partner struct {
	Addr         netip.AddrPort
	Version      uint32        // major<<16 | minor
	MCLT         time.Duration // the relationship's MCLT
	Keepalive    time.Duration // the partner's KEEPALIVE_TIME: we send CONTACT every quarter of it
	MaxUnacked   uint32        // BNDUPDs we may have in flight to the partner
	ConnectFlags uint16        // the partner's OPTION_F_CONNECT_FLAGS: what it does (0 when absent)
	Skew         time.Duration // partner clock minus ours, from the handshake message's sent-time
}

// connectFlags is the OPTION_F_CONNECT_FLAGS we send: FIXED_PD_LENGTH,
// because it is true of every configuration tandem accepts. RFC 8156
// §5.5.2: the bit says "that all prefixes delegated from a given delegable
// prefix have the same prefix length", and "each delegable prefix may have
// its own fixed size -- this flag does not imply that all prefixes
// delegated will be the same size". A tandem pd-pool (engine.PDPool) is one
// delegable prefix with exactly one delegated-length; a server with no
// pd-pool delegates nothing, of which the statement holds as well.
const connectFlags = wire.ConnectFlagFixedPDLen

// The link's own messages, built by wire's failover builders; sent-time is
// stamped again as a queued frame leaves (see writeBatch), so the value
// here only matters for the handshake's synchronous writes and tests.

// connectParams are the parameters our CONNECT and accepting CONNECTREPLY
// carry, with the MCLT given (ours in CONNECT, the primary's echoed in
// CONNECTREPLY).
func connectParams(c *Config, mclt uint32) wire.ConnectParams {
	return wire.ConnectParams{
		Version:    ProtocolVersion,
		MCLT:       mclt,
		Keepalive:  uint32(c.Keepalive / time.Second),
		MaxUnacked: c.MaxUnacked,
		Flags:      connectFlags,
		Name:       c.Name,
	}
}

func appendConnect(b []byte, c *Config, xid, sent uint32) []byte {
	p := connectParams(c, uint32(c.MCLT/time.Second))
	return wire.AppendConnect(b, xid, sent, &p)
}

// appendConnectReply builds an accepting CONNECTREPLY: our parameters,
// echoing the CONNECT's MCLT.
func appendConnectReply(b []byte, c *Config, xid, sent uint32, mclt uint32) []byte {
	p := connectParams(c, mclt)
	return wire.AppendConnectReply(b, xid, sent, &p)
}

// appendRefusal builds a refusing CONNECTREPLY: STATUS_CODE with the
// reason, clipped, as its text.
func appendRefusal(b []byte, xid, sent uint32, status uint16, reason string) []byte {
	return wire.AppendConnectRefusal(b, xid, sent, status, statusText(reason))
}

func appendState(b []byte, s LocalState, xid, sent uint32) []byte {
	// In PARTNER-DOWN the state's start is when it went there (§6.3).
	start := wire.AbsTime(s.StartOfState)
	return wire.AppendState(b, xid, sent, &wire.StateParams{State: s.State, Flags: s.Flags,
		StartTimeOfState: start, PartnerDownTime: start})
}

func appendDisconnect(b []byte, xid, sent uint32, status uint16, reason string) []byte {
	return wire.AppendDisconnect(b, xid, sent, status, statusText(reason))
}

// skewOf is the partner's clock minus ours for a message sent at sent
// (absolute seconds) and received at now. Both are whole seconds, so two
// synchronised clocks read 0 or -1 s.
func skewOf(sent uint32, now time.Time) time.Duration {
	return time.Duration(wire.UnixTime(sent)-now.Unix()) * time.Second
}

// maxStatusText bounds the text of a STATUS_CODE we send. A refusal's
// reason may quote what the peer sent; unbounded, a long RELATIONSHIP_NAME
// (found by FuzzHandshake: 30 KB quoted as \xff escapes) made a
// CONNECTREPLY longer than a 16-bit length can frame, and the peer read
// garbage where our refusal should have been.
const maxStatusText = 512

// maxQuotedName is how much of a peer's RELATIONSHIP_NAME a reason quotes:
// real names are short; the rest is noise in logs.
const maxQuotedName = 64

// clipName returns at most maxQuotedName bytes of a peer-sent name.
func clipName(b []byte) []byte {
	if len(b) > maxQuotedName {
		return b[:maxQuotedName]
	}
	return b
}

// statusText clips a reason to maxStatusText bytes for the wire.
func statusText(reason string) string {
	if len(reason) > maxStatusText {
		return reason[:maxStatusText]
	}
	return reason
}

// refusal is a handshake outcome: a status code for the partner and the
// reason, which is both logged and sent as the status text.
type refusal struct {
	status uint16
	reason string
}

// checkConnect is the secondary's judgement of a CONNECT (RFC 8156 §6.1).
// On acceptance it returns the partner's parameters.
//
// The MCLT. RFC 8156 has the secondary adopt the primary's. tandem's
// engine instead applies the MCLT configured for the relationship — in its
// lifetime caps, its reuse times and its RECOVER-WAIT and PARTNER-DOWN
// timers, also after a restart before any CONNECT — so a secondary that
// silently took a different value on the link would promise clients
// lifetimes the primary does not allow for (a larger MCLT) or reuse
// resources early. A CONNECT whose MCLT differs from ours is refused with
// ConfigurationConflict and a reason naming both values: the fix is one
// line of config, and the pair stays down until it is made, loudly.
func checkConnect(c *Config, m *wire.FailoverMsg, now time.Time) (Partner, *refusal) {
	const need = wire.FHasVersion | wire.FHasMCLT | wire.FHasKeepalive | wire.FHasMaxUnacked
	switch {
	case m.Type != wire.Connect:
		return Partner{}, &refusal{wire.StatusNotSupported, "expected CONNECT, got " + wire.FailoverName(m.Type)}
	case m.Has&need != need:
		return Partner{}, &refusal{wire.StatusMissingBindingInformation,
			"CONNECT lacks PROTOCOL_VERSION, MCLT, KEEPALIVE_TIME or MAX_UNACKED_BNDUPD"}
	case m.RelationshipName != nil && c.Name != "" && string(m.RelationshipName) != c.Name:
		return Partner{}, &refusal{wire.StatusConfigurationConflict,
			fmt.Sprintf("relationship %q is not configured here (this is %q)", clipName(m.RelationshipName), c.Name)}
	case m.Version>>16 != ProtocolVersion>>16:
		return Partner{}, &refusal{wire.StatusNotSupported,
			fmt.Sprintf("protocol version %d.%d not supported (speak %d.%d)",
				m.Version>>16, m.Version&0xffff, ProtocolVersion>>16, ProtocolVersion&0xffff)}
	}
	p := partnerOf(m)
	p.Skew = skewOf(m.SentTime, now)
	switch {
	case p.Skew > MaxSkew || p.Skew < -MaxSkew:
		return Partner{}, &refusal{wire.StatusExcessiveTimeSkew,
			fmt.Sprintf("clocks %v apart (limit %v)", p.Skew, MaxSkew)}
	case m.MCLT == 0 || m.KeepaliveTime == 0:
		return Partner{}, &refusal{wire.StatusConfigurationConflict, "zero MCLT or KEEPALIVE_TIME"}
	case time.Duration(m.MCLT)*time.Second != c.MCLT:
		return Partner{}, &refusal{wire.StatusConfigurationConflict,
			fmt.Sprintf("MCLT %ds differs from the %v configured here: set the same mclt on both servers", m.MCLT, c.MCLT)}
	}
	if r := checkFlags(c, m); r != nil {
		return Partner{}, r
	}
	return p, nil
}

// checkConnectReply is the primary's judgement of an accepting
// CONNECTREPLY (RFC 8156 §6.2): on a mismatch the primary sends DISCONNECT
// with the returned status and drops the connection.
func checkConnectReply(c *Config, m *wire.FailoverMsg) (Partner, *refusal) {
	const need = wire.FHasVersion | wire.FHasMCLT | wire.FHasKeepalive | wire.FHasMaxUnacked
	switch {
	case m.Has&need != need:
		return Partner{}, &refusal{wire.StatusMissingBindingInformation,
			"CONNECTREPLY lacks PROTOCOL_VERSION, MCLT, KEEPALIVE_TIME or MAX_UNACKED_BNDUPD"}
	case m.Version>>16 != ProtocolVersion>>16:
		return Partner{}, &refusal{wire.StatusNotSupported,
			fmt.Sprintf("protocol version %d.%d not supported", m.Version>>16, m.Version&0xffff)}
	case time.Duration(m.MCLT)*time.Second != c.MCLT:
		return Partner{}, &refusal{wire.StatusConfigurationConflict,
			fmt.Sprintf("CONNECTREPLY MCLT %ds differs from the %v offered", m.MCLT, c.MCLT)}
	case m.KeepaliveTime == 0:
		return Partner{}, &refusal{wire.StatusConfigurationConflict, "zero KEEPALIVE_TIME"}
	}
	if r := checkFlags(c, m); r != nil {
		return Partner{}, r
	}
	return partnerOf(m), nil
}

// checkFlags decides whether we can process what the partner's
// OPTION_F_CONNECT_FLAGS say it does (RFC 8156 §6.1.2, §6.1.3: "Ensure that
// the secondary server can process information from the primary server as
// specified in the flags"). The flags describe the sender; they are not a
// setting both sides must share, so a partner is refused only for what we
// cannot process:
//
//   - FIXED_PD_LENGTH set: every prefix the partner delegates from one
//     delegable prefix has one length (§5.5.2), which is all tandem's
//     pd-pools hold. Accepted.
//   - FIXED_PD_LENGTH clear, or the option absent (no flags): the partner
//     may delegate prefixes of several lengths from one delegable prefix.
//     tandem cannot hold those, so when this relationship delegates
//     prefixes (Config.DelegatesPrefixes) the connection is refused — the
//     RFC's own example. With no pd-pool, no such binding concerns us, and
//     a partner without the flag (an address-only server) is accepted.
//   - Bits 0–14 are MBZ: a sender sets them to zero; a receiver ignores
//     them. A bit defined after RFC 8156 describes an attribute of the
//     sender we do not know of, not something we were asked to do.
func checkFlags(c *Config, m *wire.FailoverMsg) *refusal {
	if m.ConnectFlags&wire.ConnectFlagFixedPDLen == 0 && c.DelegatesPrefixes {
		return &refusal{wire.StatusConfigurationConflict, fmt.Sprintf(
			"CONNECT_FLAGS %#04x lack FIXED_PD_LENGTH: the partner may delegate prefixes of several lengths "+
				"from one delegable prefix, and each pd-pool here has one delegated-length", m.ConnectFlags)}
	}
	return nil
}

func partnerOf(m *wire.FailoverMsg) Partner {
	return Partner{
		Version:      m.Version,
		MCLT:         time.Duration(m.MCLT) * time.Second,
		Keepalive:    time.Duration(m.KeepaliveTime) * time.Second,
		MaxUnacked:   m.MaxUnacked,
		ConnectFlags: m.ConnectFlags,
	}
}

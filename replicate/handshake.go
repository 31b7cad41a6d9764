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
	ConnectFlags uint16
	Skew         time.Duration // partner clock minus ours, from the handshake message's sent-time
}

// The link's own messages. Each is built into a caller's buffer with
// wire's append helpers; sent-time is stamped again as the frame leaves
// (see stampSentTime), so the value here only matters for tests.

func appendConnect(b []byte, c *Config, xid, sent uint32) []byte {
	b, f := wire.BeginFrame(b, wire.Connect, xid, sent)
	b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, ProtocolVersion)
	b = wire.AppendUint32Option(b, wire.OptFMCLT, uint32(c.MCLT/time.Second))
	b = wire.AppendUint32Option(b, wire.OptFKeepaliveTime, uint32(c.Keepalive/time.Second))
	b = wire.AppendUint32Option(b, wire.OptFMaxUnackedBndUpd, c.MaxUnacked)
	b = wire.AppendUint16Option(b, wire.OptFConnectFlags, c.ConnectFlags)
	if c.Name != "" {
		b = wire.AppendOptionString(b, wire.OptFRelationshipName, c.Name)
	}
	return wire.EndFrame(b, f)
}

// appendConnectReply builds an accepting CONNECTREPLY (status 0: no
// STATUS_CODE, carrying our parameters and echoing the MCLT) or a refusal
// (STATUS_CODE with the reason as its text, nothing else).
func appendConnectReply(b []byte, c *Config, xid, sent uint32, mclt uint32, status uint16, reason string) []byte {
	b, f := wire.BeginFrame(b, wire.ConnectReply, xid, sent)
	if status != 0 {
		b = wire.AppendStatus(b, status, statusText(reason))
		return wire.EndFrame(b, f)
	}
	b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, ProtocolVersion)
	b = wire.AppendUint32Option(b, wire.OptFMCLT, mclt)
	b = wire.AppendUint32Option(b, wire.OptFKeepaliveTime, uint32(c.Keepalive/time.Second))
	b = wire.AppendUint32Option(b, wire.OptFMaxUnackedBndUpd, c.MaxUnacked)
	b = wire.AppendUint16Option(b, wire.OptFConnectFlags, c.ConnectFlags)
	return wire.EndFrame(b, f)
}

func appendState(b []byte, s LocalState, xid, sent uint32) []byte {
	b, f := wire.BeginFrame(b, wire.State, xid, sent)
	b = wire.AppendUint8Option(b, wire.OptFServerState, s.State)
	b = wire.AppendUint8Option(b, wire.OptFServerFlags, s.Flags)
	b = wire.AppendUint32Option(b, wire.OptFStartTimeOfState, wire.AbsTime(s.StartOfState))
	if s.State == statePartnerDown {
		b = wire.AppendUint32Option(b, wire.OptFPartnerDownTime, wire.AbsTime(s.StartOfState))
	}
	return wire.EndFrame(b, f)
}

func appendContact(b []byte, xid, sent uint32) []byte {
	b, f := wire.BeginFrame(b, wire.Contact, xid, sent)
	return wire.EndFrame(b, f)
}

func appendDisconnect(b []byte, xid, sent uint32, status uint16, reason string) []byte {
	b, f := wire.BeginFrame(b, wire.Disconnect, xid, sent)
	b = wire.AppendStatus(b, status, statusText(reason))
	return wire.EndFrame(b, f)
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

// checkFlags: unknown CONNECT_FLAGS bits are incompatible, and both sides
// must agree on FIXED_PD_LENGTH (it changes how delegable prefixes split).
func checkFlags(c *Config, m *wire.FailoverMsg) *refusal {
	f := m.ConnectFlags // absent reads as 0: no flags
	if f&^wire.ConnectFlagFixedPDLen != 0 {
		return &refusal{wire.StatusConfigurationConflict, fmt.Sprintf("unknown CONNECT_FLAGS %#04x", f)}
	}
	if f != c.ConnectFlags {
		return &refusal{wire.StatusConfigurationConflict,
			fmt.Sprintf("CONNECT_FLAGS %#04x differ from ours %#04x", f, c.ConnectFlags)}
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

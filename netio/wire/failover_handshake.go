package wire

// Builders of the failover link's own messages (RFC 8156 §5.3, §6):
// CONNECT, CONNECTREPLY, STATE, CONTACT and DISCONNECT. They live beside
// FailoverMsg.Decode so that what we send and what we read are written
// against one set of option codes; replicate calls them and frames nothing
// itself. Each appends one framed message (2-byte length, header, options)
// to b and allocates nothing when b has room.
//
// The sent-time given here is provisional: the link stamps it again as the
// frame leaves (RFC 8156 §5.2: "set as close to transmission as
// practical").

// ServerStatePartnerDown is the OPTION_F_SERVER_STATE value of
// PARTNER-DOWN (RFC 8156 §5.5.16): only a STATE in it carries
// OPTION_F_PARTNER_DOWN_TIME (§6.3).
const ServerStatePartnerDown uint8 = 4

// ConnectParams are the options of a CONNECT (RFC 8156 §6.1.1) and of an
// accepting CONNECTREPLY (§6.1.2).
type ConnectParams struct {
	Version    uint32 // OPTION_F_PROTOCOL_VERSION: major<<16 | minor
	MCLT       uint32 // OPTION_F_MCLT, seconds; a CONNECTREPLY echoes the CONNECT's
	Keepalive  uint32 // OPTION_F_KEEPALIVE_TIME, seconds
	MaxUnacked uint32 // OPTION_F_MAX_UNACKED_BNDUPD
	Flags      uint16 // OPTION_F_CONNECT_FLAGS (ConnectFlag*): what the sender does
	// Name is OPTION_F_RELATIONSHIP_NAME, sent in CONNECT when not empty
	// (absent: the pair has a single relationship). A CONNECTREPLY carries
	// no name (§6.1.2 lists none).
	Name string
}

// appendConnectOptions appends the parameters both CONNECT and an
// accepting CONNECTREPLY carry, all of which §6.1.1 and §6.1.2 require.
func appendConnectOptions(b []byte, p *ConnectParams) []byte {
	b = AppendUint32Option(b, OptFProtocolVersion, p.Version)
	b = AppendUint32Option(b, OptFMCLT, p.MCLT)
	b = AppendUint32Option(b, OptFKeepaliveTime, p.Keepalive)
	b = AppendUint32Option(b, OptFMaxUnackedBndUpd, p.MaxUnacked)
	return AppendUint16Option(b, OptFConnectFlags, p.Flags)
}

// AppendConnect appends a CONNECT (RFC 8156 §5.3.8, §6.1.1).
func AppendConnect(b []byte, xid, sent uint32, p *ConnectParams) []byte {
	b, f := BeginFrame(b, Connect, xid, sent)
	b = appendConnectOptions(b, p)
	if p.Name != "" {
		b = AppendOptionString(b, OptFRelationshipName, p.Name)
	}
	return EndFrame(b, f)
}

// AppendConnectReply appends a CONNECTREPLY accepting the CONNECT whose
// transaction-id was xid (RFC 8156 §5.3.9, §6.1.2): no STATUS_CODE, the
// secondary's parameters, p.MCLT equal to the CONNECT's. p.Name is not
// sent.
func AppendConnectReply(b []byte, xid, sent uint32, p *ConnectParams) []byte {
	b, f := BeginFrame(b, ConnectReply, xid, sent)
	b = appendConnectOptions(b, p)
	return EndFrame(b, f)
}

// AppendConnectRefusal appends a CONNECTREPLY rejecting the CONNECT whose
// transaction-id was xid: a STATUS_CODE with the reason as its text and
// nothing else (RFC 8156 §6.1.2).
func AppendConnectRefusal(b []byte, xid, sent uint32, status uint16, text string) []byte {
	b, f := BeginFrame(b, ConnectReply, xid, sent)
	b = AppendStatus(b, status, text)
	return EndFrame(b, f)
}

// StateParams are the options of a STATE (RFC 8156 §6.3). Times are
// absolute (AbsTime).
type StateParams struct {
	State            uint8  // OPTION_F_SERVER_STATE
	Flags            uint8  // OPTION_F_SERVER_FLAGS (ServerFlag*)
	StartTimeOfState uint32 // OPTION_F_START_TIME_OF_STATE
	// PartnerDownTime is OPTION_F_PARTNER_DOWN_TIME, sent if and only if
	// State is ServerStatePartnerDown (§6.3: "If this server isn't in
	// PARTNER-DOWN state, do not include this option").
	PartnerDownTime uint32
}

// AppendState appends a STATE (RFC 8156 §5.3.11, §6.3).
func AppendState(b []byte, xid, sent uint32, s *StateParams) []byte {
	b, f := BeginFrame(b, State, xid, sent)
	b = AppendUint8Option(b, OptFServerState, s.State)
	b = AppendUint8Option(b, OptFServerFlags, s.Flags)
	b = AppendUint32Option(b, OptFStartTimeOfState, s.StartTimeOfState)
	if s.State == ServerStatePartnerDown {
		b = AppendUint32Option(b, OptFPartnerDownTime, s.PartnerDownTime)
	}
	return EndFrame(b, f)
}

// AppendContact appends a CONTACT (RFC 8156 §5.3.12): a header and no
// options.
func AppendContact(b []byte, xid, sent uint32) []byte {
	b, f := BeginFrame(b, Contact, xid, sent)
	return EndFrame(b, f)
}

// AppendDisconnect appends a DISCONNECT with a STATUS_CODE and a
// descriptive text (RFC 8156 §5.3.10: both SHOULD be there).
func AppendDisconnect(b []byte, xid, sent uint32, status uint16, text string) []byte {
	b, f := BeginFrame(b, Disconnect, xid, sent)
	b = AppendStatus(b, status, text)
	return EndFrame(b, f)
}

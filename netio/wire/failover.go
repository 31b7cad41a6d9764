package wire

import (
	"encoding/binary"
	"net/netip"
)

// RFC 8156 failover messages, carried over TCP port 647.
//
// Each message on the stream is framed by a 2-byte length (RFC 5460 §5.1)
// that excludes itself, then an 8-byte header, then options:
//
//	+---------------+---------------+
//	|     message length (2)        |   not counting these 2 bytes
//	+---------------+---------------+---------------+---------------+
//	|   msg-type    |            transaction-id (3)                 |
//	+---------------+---------------+---------------+---------------+
//	|                     sent-time (4, absolute)                   |
//	+---------------+---------------+---------------+---------------+
//	|                          options ...                          |
//
// Absolute times are seconds since 2000-01-01 00:00:00 UTC, modulo 2^32
// (RFC 8156 §5.5). The constants below are IANA assignments and must not
// change.

// Failover message types (DHCPv6 message type registry, RFC 8156).
const (
	BndUpd       MsgType = 24
	BndReply     MsgType = 25
	PoolReq      MsgType = 26
	PoolResp     MsgType = 27
	UpdReq       MsgType = 28
	UpdReqAll    MsgType = 29
	UpdDone      MsgType = 30
	Connect      MsgType = 31
	ConnectReply MsgType = 32
	Disconnect   MsgType = 33
	State        MsgType = 34
	Contact      MsgType = 35
)

var failoverNames = [...]string{
	"BNDUPD", "BNDREPLY", "POOLREQ", "POOLRESP", "UPDREQ", "UPDREQALL", "UPDDONE",
	"CONNECT", "CONNECTREPLY", "DISCONNECT", "STATE", "CONTACT",
}

// FailoverName names a failover message type.
func FailoverName(t MsgType) string {
	if t >= BndUpd && t <= Contact {
		return failoverNames[t-BndUpd]
	}
	return t.String()
}

// Options reused by failover (RFC 5007, RFC 5460) and the failover options
// 114–134 (RFC 8156 §5.5).
const (
	OptClientData          uint16 = 45
	OptCLTTime             uint16 = 46
	OptLQRelayData         uint16 = 47
	OptVSS                 uint16 = 68 // RFC 6607; RFC 8156 §7.4: only for a VPN other than the global one
	OptLQBaseTime          uint16 = 100
	OptFBindingStatus      uint16 = 114
	OptFConnectFlags       uint16 = 115
	OptFDNSRemovalInfo     uint16 = 116
	OptFExpirationTime     uint16 = 120
	OptFMaxUnackedBndUpd   uint16 = 121
	OptFMCLT               uint16 = 122
	OptFPartnerLifetime    uint16 = 123
	OptFPartnerLifetimeSnt uint16 = 124
	OptFPartnerDownTime    uint16 = 125
	OptFPartnerRawCLTTime  uint16 = 126
	OptFProtocolVersion    uint16 = 127
	OptFKeepaliveTime      uint16 = 128
	OptFReconfigureData    uint16 = 129
	OptFRelationshipName   uint16 = 130
	OptFServerFlags        uint16 = 131
	OptFServerState        uint16 = 132
	OptFStartTimeOfState   uint16 = 133
	OptFStateExpiration    uint16 = 134
)

// Status codes used on the failover link (RFC 7653, RFC 8156 §5.6).
const (
	StatusNotSupported              uint16 = 14
	StatusAddressInUse              uint16 = 16
	StatusConfigurationConflict     uint16 = 17
	StatusMissingBindingInformation uint16 = 18
	StatusOutdatedBindingInfo       uint16 = 19
	StatusServerShuttingDown        uint16 = 20
	StatusDNSUpdateNotSupported     uint16 = 21
	StatusExcessiveTimeSkew         uint16 = 22
)

// Server flags (F_SERVER_FLAGS) and connect flags (F_CONNECT_FLAGS).
const (
	ServerFlagCommunicated uint8  = 0x01
	ServerFlagStartup      uint8  = 0x02
	ServerFlagAckStartup   uint8  = 0x04
	ConnectFlagFixedPDLen  uint16 = 0x0001
)

// FailoverHeaderLen is the failover message header: type, xid, sent-time.
const FailoverHeaderLen = 8

// MaxFrame is the largest failover message a 2-byte length can frame.
const MaxFrame = 0xffff

// epoch2000 is 2000-01-01T00:00:00Z in Unix seconds: RFC 8156 times count
// from it.
const epoch2000 = 946684800

// AbsTime converts Unix seconds to an RFC 8156 absolute time.
func AbsTime(unix int64) uint32 { return uint32(unix - epoch2000) }

// UnixTime converts an RFC 8156 absolute time to Unix seconds. The 32-bit
// value wraps in 2136; until then the conversion is exact.
func UnixTime(abs uint32) int64 { return int64(abs) + epoch2000 }

// Presence bits of a failover lease's options (BindingLease.Has).
const (
	HasBindingStatus uint32 = 1 << iota
	HasStartTimeOfState
	HasStateExpiration
	HasCLTTime
	HasPartnerLifetime
	HasPartnerLifetimeSent
	HasPartnerRawCLTTime
	HasExpirationTime
	HasLQBaseTime
	HasStatusCode
	HasVSS
)

// BindingLease is one IAADDR or IAPREFIX of a BNDUPD/BNDREPLY with the
// failover options it carries, or the top-level IAPREFIX of the prefix form.
type BindingLease struct {
	Prefix    netip.Prefix // an address as a /128 (IAADDR), or the prefix
	Preferred uint32
	Valid     uint32
	Has       uint32 // Has* bits: which options below were present

	BindingStatus       uint8
	StartTimeOfState    uint32 // absolute
	StateExpiration     uint32 // absolute
	CLTTime             uint32 // relative to the LQ_BASE_TIME
	PartnerLifetime     uint32 // absolute
	PartnerLifetimeSent uint32 // absolute
	PartnerRawCLTTime   uint32 // absolute
	ExpirationTime      uint32 // absolute
	LQBaseTime          uint32 // absolute; prefix form only
	Status              uint16
	// VSSGlobal: the OPTION_VSS (HasVSS; RFC 8156 §7.4 puts it among the
	// prefix form's IAprefix-options) names the global VPN (GlobalVPN).
	// Decoded only.
	VSSGlobal bool
}

// BindingIA is an IA_NA, IA_TA or IA_PD inside CLIENT_DATA.
type BindingIA struct {
	Code      uint16 // OptIANA, OptIATA or OptIAPD
	IAID      uint32
	T1, T2    uint32
	HasStatus bool
	Status    uint16
	NumLeases int
	Leases    [MaxIAAddrs]BindingLease
}

// ClientData is the CLIENT_DATA option of a BNDUPD/BNDREPLY.
type ClientData struct {
	ClientID      []byte
	HasLQBaseTime bool
	LQBaseTime    uint32 // absolute
	RelayData     []byte // LQ_RELAY_DATA, raw
	VSS           []byte // OPTION_VSS, raw; nil when absent (the global VPN)
	// HasStatus and Status are a STATUS_CODE among the client-options: in
	// a BNDREPLY, the rejection of the entire BNDUPD when not Success
	// (RFC 8156 §7.5.3, §7.6 "Entire BNDUPD", §7.7).
	HasStatus bool
	Status    uint16
	NumIAs    int
	IAs       [MaxIAs]BindingIA
}

// FailoverMsg is a decoded failover message. Byte slices alias the input.
type FailoverMsg struct {
	Type     MsgType
	XID      uint32 // 24 bits
	SentTime uint32 // absolute

	Has              uint32 // FHas* bits for the connection/state options
	Version          uint32 // major<<16 | minor
	MCLT             uint32
	KeepaliveTime    uint32
	MaxUnacked       uint32
	ConnectFlags     uint16
	ServerState      uint8
	ServerFlags      uint8
	StartTimeOfState uint32
	PartnerDownTime  uint32
	RelationshipName []byte
	Status           uint16
	StatusMsg        []byte

	HasClientData bool
	Client        ClientData
	HasPrefix     bool
	Prefix        BindingLease // prefix form: a top-level IAPREFIX
}

// Presence bits of a failover message's top-level options (FailoverMsg.Has).
const (
	FHasVersion uint32 = 1 << iota
	FHasMCLT
	FHasKeepalive
	FHasMaxUnacked
	FHasConnectFlags
	FHasServerState
	FHasServerFlags
	FHasStartTimeOfState
	FHasPartnerDownTime
	FHasStatus
)

// SplitFrame takes the first framed message off a stream buffer. It
// returns ok=false with no error when more bytes are needed.
func SplitFrame(b []byte) (msg, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, b, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, b, false
	}
	return b[2 : 2+n : 2+n], b[2+n:], true
}

// BeginFrame starts a framed failover message: the length placeholder and
// the header. Finish it with EndFrame.
func BeginFrame(b []byte, t MsgType, xid uint32, sentTime uint32) ([]byte, int) {
	start := len(b)
	b = append(b, 0, 0, byte(t), byte(xid>>16), byte(xid>>8), byte(xid))
	return binary.BigEndian.AppendUint32(b, sentTime), start
}

// EndFrame patches the length of the frame begun at start. A message
// longer than MaxFrame cannot be framed; callers keep BNDUPDs far smaller.
func EndFrame(b []byte, start int) []byte {
	binary.BigEndian.PutUint16(b[start:], uint16(len(b)-start-2))
	return b
}

// AppendUint32Option appends a 4-byte option (times, MCLT, window, ...).
func AppendUint32Option(b []byte, code uint16, v uint32) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, 4)
	return binary.BigEndian.AppendUint32(b, v)
}

// Decode parses one failover message (without its 2-byte frame length).
func (m *FailoverMsg) Decode(b []byte) error {
	if len(b) < FailoverHeaderLen {
		return ErrShort
	}
	t := MsgType(b[0])
	if t < BndUpd || t > Contact {
		return ErrMsgType
	}
	m.Type = t
	m.XID = uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	m.SentTime = binary.BigEndian.Uint32(b[4:])
	m.Has, m.Version, m.MCLT, m.KeepaliveTime, m.MaxUnacked = 0, 0, 0, 0, 0
	m.ConnectFlags, m.ServerState, m.ServerFlags, m.StartTimeOfState, m.PartnerDownTime = 0, 0, 0, 0, 0
	m.RelationshipName, m.Status, m.StatusMsg = nil, 0, nil
	m.HasClientData, m.HasPrefix = false, false
	opts := optReader(b[FailoverHeaderLen:])
	for {
		code, data, ok, err := opts.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch code {
		case OptFProtocolVersion:
			err = firstU32(&m.Has, FHasVersion, data, &m.Version)
		case OptFMCLT:
			err = firstU32(&m.Has, FHasMCLT, data, &m.MCLT)
		case OptFKeepaliveTime:
			err = firstU32(&m.Has, FHasKeepalive, data, &m.KeepaliveTime)
		case OptFMaxUnackedBndUpd:
			err = firstU32(&m.Has, FHasMaxUnacked, data, &m.MaxUnacked)
		case OptFStartTimeOfState:
			err = firstU32(&m.Has, FHasStartTimeOfState, data, &m.StartTimeOfState)
		case OptFPartnerDownTime:
			err = firstU32(&m.Has, FHasPartnerDownTime, data, &m.PartnerDownTime)
		case OptFConnectFlags:
			if len(data) != 2 {
				return ErrBadOption
			}
			if m.Has&FHasConnectFlags == 0 {
				m.Has |= FHasConnectFlags
				m.ConnectFlags = binary.BigEndian.Uint16(data)
			}
		case OptFServerState:
			err = firstU8(&m.Has, FHasServerState, data, &m.ServerState)
		case OptFServerFlags:
			err = firstU8(&m.Has, FHasServerFlags, data, &m.ServerFlags)
		case OptFRelationshipName:
			if m.RelationshipName == nil {
				m.RelationshipName = data
			}
		case OptStatusCode:
			if len(data) < 2 {
				return ErrBadOption
			}
			if m.Has&FHasStatus == 0 {
				m.Has |= FHasStatus
				m.Status, m.StatusMsg = binary.BigEndian.Uint16(data), data[2:]
			}
		case OptClientData:
			if m.HasClientData || m.HasPrefix {
				return ErrBadOption // exactly one binding per BNDUPD
			}
			if err := m.Client.decode(data); err != nil {
				return err
			}
			m.HasClientData = true
		case OptIAPrefix:
			if m.HasClientData || m.HasPrefix {
				return ErrBadOption
			}
			if err := m.Prefix.decode(data, true); err != nil {
				return err
			}
			m.HasPrefix = true
		}
		if err != nil {
			return err
		}
	}
}

// firstU32 stores a 4-byte option's value in *v and sets bit in *has,
// unless that bit is already set: the first copy of an option wins, as in
// the client-message decoder. A wrong length is malformed.
func firstU32(has *uint32, bit uint32, data []byte, v *uint32) error {
	if len(data) != 4 {
		return ErrBadOption
	}
	if *has&bit == 0 {
		*has |= bit
		*v = binary.BigEndian.Uint32(data)
	}
	return nil
}

// firstU8 is firstU32 for 1-byte options.
func firstU8(has *uint32, bit uint32, data []byte, v *uint8) error {
	if len(data) != 1 {
		return ErrBadOption
	}
	if *has&bit == 0 {
		*has |= bit
		*v = data[0]
	}
	return nil
}

func (c *ClientData) decode(b []byte) error {
	c.ClientID, c.HasLQBaseTime, c.LQBaseTime, c.RelayData, c.NumIAs = nil, false, 0, nil, 0
	c.VSS, c.HasStatus, c.Status = nil, false, 0
	opts := optReader(b)
	for {
		code, data, ok, err := opts.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch code {
		case OptClientID:
			if len(data) < MinDUIDLen || len(data) > MaxDUIDLen {
				return ErrBadOption
			}
			if c.ClientID == nil {
				c.ClientID = data
			}
		case OptLQBaseTime:
			if len(data) != 4 {
				return ErrBadOption
			}
			if !c.HasLQBaseTime {
				c.HasLQBaseTime, c.LQBaseTime = true, binary.BigEndian.Uint32(data)
			}
		case OptLQRelayData:
			if c.RelayData == nil {
				c.RelayData = data
			}
		case OptVSS:
			if c.VSS == nil {
				c.VSS = data[:len(data):len(data)]
			}
		case OptStatusCode:
			if len(data) < 2 {
				return ErrBadOption
			}
			if !c.HasStatus {
				c.HasStatus, c.Status = true, binary.BigEndian.Uint16(data)
			}
		case OptIANA, OptIATA, OptIAPD:
			if c.NumIAs == MaxIAs {
				return ErrTooMany
			}
			if err := c.IAs[c.NumIAs].decode(code, data); err != nil {
				return err
			}
			c.NumIAs++
		}
	}
}

func (ia *BindingIA) decode(code uint16, b []byte) error {
	hdr := 12
	if code == OptIATA {
		hdr = 4
	}
	if len(b) < hdr {
		return ErrBadOption
	}
	ia.Code, ia.IAID, ia.T1, ia.T2 = code, binary.BigEndian.Uint32(b), 0, 0
	if hdr == 12 {
		ia.T1, ia.T2 = binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
	}
	ia.HasStatus, ia.Status, ia.NumLeases = false, 0, 0
	opts := optReader(b[hdr:])
	for {
		c, data, ok, err := opts.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch {
		case c == OptIAAddr && code != OptIAPD, c == OptIAPrefix && code == OptIAPD:
			if ia.NumLeases == MaxIAAddrs {
				return ErrTooMany
			}
			if err := ia.Leases[ia.NumLeases].decode(data, c == OptIAPrefix); err != nil {
				return err
			}
			ia.NumLeases++
		case c == OptStatusCode:
			if len(data) < 2 {
				return ErrBadOption
			}
			if !ia.HasStatus {
				ia.HasStatus, ia.Status = true, binary.BigEndian.Uint16(data)
			}
		}
	}
}

// decode parses an IAADDR (prefix=false) or IAPREFIX body and its failover
// sub-options.
func (l *BindingLease) decode(b []byte, prefix bool) error {
	var sub []byte
	if prefix {
		if len(b) < 25 || b[8] > 128 {
			return ErrBadOption
		}
		l.Preferred, l.Valid = binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		l.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(b[9:25])), int(b[8]))
		sub = b[25:]
	} else {
		if len(b) < 24 {
			return ErrBadOption
		}
		l.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(b[:16])), 128)
		l.Preferred, l.Valid = binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
		sub = b[24:]
	}
	l.Has, l.BindingStatus, l.Status, l.VSSGlobal = 0, 0, 0, false
	l.StartTimeOfState, l.StateExpiration, l.CLTTime, l.PartnerLifetime = 0, 0, 0, 0
	l.PartnerLifetimeSent, l.PartnerRawCLTTime, l.ExpirationTime, l.LQBaseTime = 0, 0, 0, 0
	opts := optReader(sub)
	for {
		code, data, ok, err := opts.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		var v *uint32
		var bit uint32
		switch code {
		case OptFBindingStatus:
			if err := firstU8(&l.Has, HasBindingStatus, data, &l.BindingStatus); err != nil {
				return err
			}
			continue
		case OptStatusCode:
			if len(data) < 2 {
				return ErrBadOption
			}
			if l.Has&HasStatusCode == 0 {
				l.Has |= HasStatusCode
				l.Status = binary.BigEndian.Uint16(data)
			}
			continue
		case OptFStartTimeOfState:
			v, bit = &l.StartTimeOfState, HasStartTimeOfState
		case OptFStateExpiration:
			v, bit = &l.StateExpiration, HasStateExpiration
		case OptCLTTime:
			v, bit = &l.CLTTime, HasCLTTime
		case OptFPartnerLifetime:
			v, bit = &l.PartnerLifetime, HasPartnerLifetime
		case OptFPartnerLifetimeSnt:
			v, bit = &l.PartnerLifetimeSent, HasPartnerLifetimeSent
		case OptFPartnerRawCLTTime:
			v, bit = &l.PartnerRawCLTTime, HasPartnerRawCLTTime
		case OptFExpirationTime:
			v, bit = &l.ExpirationTime, HasExpirationTime
		case OptLQBaseTime:
			v, bit = &l.LQBaseTime, HasLQBaseTime
		case OptVSS:
			if l.Has&HasVSS == 0 {
				l.Has |= HasVSS
				l.VSSGlobal = GlobalVPN(data)
			}
			continue
		default:
			continue
		}
		if err := firstU32(&l.Has, bit, data, v); err != nil {
			return err
		}
	}
}

// AppendBindingLease appends an IAADDR (for a /128 inside an IA_NA/IA_TA:
// set asAddr) or IAPREFIX with the failover options whose Has bits are set.
func AppendBindingLease(b []byte, l *BindingLease, asAddr bool) []byte {
	var start int
	if asAddr {
		b, start = BeginOption(b, OptIAAddr)
		a := l.Prefix.Addr().As16()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint32(b, l.Preferred)
		b = binary.BigEndian.AppendUint32(b, l.Valid)
	} else {
		b, start = BeginOption(b, OptIAPrefix)
		b = binary.BigEndian.AppendUint32(b, l.Preferred)
		b = binary.BigEndian.AppendUint32(b, l.Valid)
		b = append(b, byte(l.Prefix.Bits()))
		a := l.Prefix.Addr().As16()
		b = append(b, a[:]...)
	}
	if l.Has&HasStatusCode != 0 {
		b = AppendStatus(b, l.Status, "")
	}
	if l.Has&HasBindingStatus != 0 {
		b = AppendUint8Option(b, OptFBindingStatus, l.BindingStatus)
	}
	for _, f := range [...]struct {
		bit  uint32
		code uint16
		v    uint32
	}{
		{HasLQBaseTime, OptLQBaseTime, l.LQBaseTime},
		{HasStartTimeOfState, OptFStartTimeOfState, l.StartTimeOfState},
		{HasStateExpiration, OptFStateExpiration, l.StateExpiration},
		{HasCLTTime, OptCLTTime, l.CLTTime},
		{HasPartnerLifetime, OptFPartnerLifetime, l.PartnerLifetime},
		{HasPartnerLifetimeSent, OptFPartnerLifetimeSnt, l.PartnerLifetimeSent},
		{HasPartnerRawCLTTime, OptFPartnerRawCLTTime, l.PartnerRawCLTTime},
		{HasExpirationTime, OptFExpirationTime, l.ExpirationTime},
	} {
		if l.Has&f.bit != 0 {
			b = AppendUint32Option(b, f.code, f.v)
		}
	}
	return EndOption(b, start)
}

// GlobalVPN reports whether an OPTION_VSS (raw; nil when absent) names the
// global, default VPN: absent, as RFC 8156 §7.4 says it must be then, or
// of RFC 6607's VSS type 255 ("global, default VPN") with no VPN
// identifier.
func GlobalVPN(vss []byte) bool {
	return vss == nil || len(vss) == 1 && vss[0] == vssTypeGlobal
}

// vssTypeGlobal is RFC 6607's VSS type of the global, default VPN.
const vssTypeGlobal = 255

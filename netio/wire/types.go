package wire

import (
	"errors"
	"net/netip"
)

// MsgType is a DHCPv6 message type (RFC 8415 §7.3).
type MsgType uint8

// Message types. These are IANA assignments and must not change.
const (
	Solicit            MsgType = 1
	Advertise          MsgType = 2
	Request            MsgType = 3
	Confirm            MsgType = 4
	Renew              MsgType = 5
	Rebind             MsgType = 6
	Reply              MsgType = 7
	Release            MsgType = 8
	Decline            MsgType = 9
	Reconfigure        MsgType = 10
	InformationRequest MsgType = 11
	RelayForw          MsgType = 12
	RelayRepl          MsgType = 13
)

var msgTypeNames = [...]string{
	Solicit: "SOLICIT", Advertise: "ADVERTISE", Request: "REQUEST", Confirm: "CONFIRM",
	Renew: "RENEW", Rebind: "REBIND", Reply: "REPLY", Release: "RELEASE", Decline: "DECLINE",
	Reconfigure: "RECONFIGURE", InformationRequest: "INFORMATION-REQUEST",
	RelayForw: "RELAY-FORW", RelayRepl: "RELAY-REPL",
}

func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) && msgTypeNames[t] != "" {
		return msgTypeNames[t]
	}
	return "UNKNOWN"
}

// Option codes (RFC 8415 §21, RFC 3646, RFC 4649, RFC 4704). IANA
// assignments: they must not change.
const (
	OptClientID     uint16 = 1
	OptServerID     uint16 = 2
	OptIANA         uint16 = 3
	OptIATA         uint16 = 4
	OptIAAddr       uint16 = 5
	OptORO          uint16 = 6
	OptPreference   uint16 = 7
	OptElapsedTime  uint16 = 8
	OptRelayMsg     uint16 = 9
	OptAuth         uint16 = 11
	OptUnicast      uint16 = 12
	OptStatusCode   uint16 = 13
	OptRapidCommit  uint16 = 14
	OptUserClass    uint16 = 15
	OptVendorClass  uint16 = 16
	OptVendorOpts   uint16 = 17
	OptInterfaceID  uint16 = 18
	OptReconfMsg    uint16 = 19
	OptReconfAccept uint16 = 20
	OptDNSServers   uint16 = 23
	OptDomainList   uint16 = 24
	OptIAPD         uint16 = 25
	OptIAPrefix     uint16 = 26
	OptRemoteID     uint16 = 37
	OptClientFQDN   uint16 = 39
	OptSubscriberID uint16 = 38

	// Options the server sends as configured (engine/config).
	OptSIPServersD uint16 = 21 // RFC 3319
	OptSIPServersA uint16 = 22
	OptSNTPServers uint16 = 31 // RFC 4075
	OptInfoRefresh uint16 = 32 // RFC 8415 §21.23
	OptNTPServer   uint16 = 56 // RFC 5908
	OptAFTRName    uint16 = 64 // RFC 6334
	OptSolMaxRT    uint16 = 82 // RFC 8415 §21.24
	OptInfMaxRT    uint16 = 83 // RFC 8415 §21.25
)

// NTP server sub-options (RFC 5908 §4).
const (
	NTPSubSrvAddr uint16 = 1
	NTPSubMCAddr  uint16 = 2
	NTPSubSrvFQDN uint16 = 3
)

// Status codes (RFC 8415 §21.13). IANA assignments.
const (
	StatusSuccess       uint16 = 0
	StatusUnspecFail    uint16 = 1
	StatusNoAddrsAvail  uint16 = 2
	StatusNoBinding     uint16 = 3
	StatusNotOnLink     uint16 = 4
	StatusUseMulticast  uint16 = 5
	StatusNoPrefixAvail uint16 = 6
)

// Fixed capacities of a decoded Packet. They bound memory per packet and keep
// decoding allocation-free; input exceeding them is rejected as malformed
// rather than truncated, so a server never answers half a request.
const (
	// MaxRelayHops is the deepest RELAY-FORW nesting accepted. RFC 8415's
	// HOP_COUNT_LIMIT is 8; 32 leaves room for odd deployments.
	MaxRelayHops = 32
	// MaxIAs is the most IAs of one kind (IA_NA, IA_TA or IA_PD) in a message.
	MaxIAs = 8
	// MaxIAAddrs is the most IAADDR or IAPREFIX options inside one IA.
	MaxIAAddrs = 8
	// MaxORO is the most option codes kept from an Option Request option;
	// the rest are ignored (a client asking for more than we know is harmless).
	MaxORO = 32
)

// DUID length bounds (RFC 8415 §11.1): a 2-octet type code followed by 1 to
// 128 octets. A CLIENTID or SERVERID outside them is malformed and the whole
// message is rejected: an empty DUID would otherwise be a client identity that
// every other empty DUID shares, and the upper bound caps what the engine
// keeps per binding. Within the bounds a DUID is opaque (§11: compare for
// equality only), so its type-specific layout is not checked.
const (
	MinDUIDLen = 3
	MaxDUIDLen = 130
)

// Sentinel errors. Every malformed input maps to one of these.
var (
	ErrShort        = errors.New("wire: message too short")
	ErrOptionLength = errors.New("wire: option length exceeds message")
	ErrBadOption    = errors.New("wire: malformed option")
	ErrTooMany      = errors.New("wire: too many options of one kind")
	ErrRelayDepth   = errors.New("wire: relay nesting too deep")
	ErrNoRelayMsg   = errors.New("wire: relay message without RELAY_MSG option")
	ErrMsgType      = errors.New("wire: unknown message type")
)

// IAAddr is one IAADDR option (RFC 8415 §21.6).
type IAAddr struct {
	Addr      netip.Addr
	Preferred uint32
	Valid     uint32
}

// IAPrefix is one IAPREFIX option (RFC 8415 §21.22).
type IAPrefix struct {
	Prefix    netip.Prefix
	Preferred uint32
	Valid     uint32
}

// IA is a decoded IA_NA, IA_TA (T1 = T2 = 0) or IA_PD option. Entries of
// Addrs and Prefixes past NumAddrs and NumPrefixes are unspecified.
type IA struct {
	IAID        uint32
	T1, T2      uint32
	NumAddrs    int
	Addrs       [MaxIAAddrs]IAAddr // IA_NA / IA_TA
	NumPrefixes int
	Prefixes    [MaxIAAddrs]IAPrefix // IA_PD
	HasStatus   bool
	Status      uint16
}

// Message is a decoded client/server message. Byte slices alias the buffer
// that was decoded; nil means the option was absent. Array entries past their
// count (NumIANA, NumORO, ...) are unspecified: decoding does not clear them.
//
// An option that may appear once (RFC 8415 §21: all of them except IA_NA,
// IA_TA, IA_PD and, inside an IA, IAADDR/IAPREFIX) but is repeated keeps its
// first occurrence, as insomniacslk/dhcp's GetOneOption does; every
// occurrence is still checked for well-formedness. Repeated ORO options are
// the exception: some clients split their list, so their codes are merged.
type Message struct {
	Type MsgType
	XID  [3]byte

	ClientID []byte
	ServerID []byte

	NumIANA int
	IANA    [MaxIAs]IA
	NumIATA int
	IATA    [MaxIAs]IA
	NumIAPD int
	IAPD    [MaxIAs]IA

	NumORO int
	ORO    [MaxORO]uint16

	HasElapsed    bool
	ElapsedTime   uint16 // hundredths of a second
	HasPreference bool
	Preference    uint8
	RapidCommit   bool
	ReconfAccept  bool
	HasStatus     bool
	Status        uint16
	StatusMsg     []byte

	DNSServers []byte // raw option data: n × 16-byte addresses
	DomainList []byte // raw option data: RFC 1035 names
	ClientFQDN []byte // opaque (RFC 4704)
	// VendorClass and UserClass are raw option data, read for client
	// classes: VENDOR_CLASS is enterprise-number(4) then its class data,
	// USER_CLASS its length-prefixed class data (RFC 8415 §21.15, §21.16).
	VendorClass []byte
	UserClass   []byte
}

// Requested reports whether the client's ORO lists code.
func (m *Message) Requested(code uint16) bool {
	for i := 0; i < m.NumORO; i++ {
		if m.ORO[i] == code {
			return true
		}
	}
	return false
}

// Relay is one decoded RELAY-FORW or RELAY-REPL layer. A repeated
// RELAY_MSG, INTERFACE_ID or REMOTE_ID keeps its first occurrence.
type Relay struct {
	Type        MsgType
	HopCount    uint8
	LinkAddr    netip.Addr
	PeerAddr    netip.Addr
	InterfaceID []byte
	RemoteID    []byte // raw option data: enterprise-number(4) + remote-id
	// SubscriberID is SUBSCRIBER_ID's raw data (RFC 4580).
	SubscriberID []byte
}

// Packet is a whole datagram: zero or more relay layers, outermost first,
// around one client/server message. Relays past NumRelays are unspecified.
type Packet struct {
	NumRelays int
	Relays    [MaxRelayHops]Relay
	Msg       Message
}

// Relayed reports whether the packet arrived through at least one relay.
func (p *Packet) Relayed() bool { return p.NumRelays > 0 }

// Inner returns the relay layer closest to the client. It must only be
// called when Relayed().
func (p *Packet) Inner() *Relay { return &p.Relays[p.NumRelays-1] }

package wire

import (
	"errors"
	"net/netip"
)

// Encoders for option data that the server sends as configured: they run
// once, when the config is read, so they may allocate; the packet path
// appends the bytes they produced.

// AddrListData encodes a list of IPv6 addresses (DNS_SERVERS, SNTP_SERVERS,
// any ipv6-list option): 16 octets each.
func AddrListData(addrs []netip.Addr) []byte {
	b := make([]byte, 0, 16*len(addrs))
	for _, a := range addrs {
		a16 := a.As16()
		b = append(b, a16[:]...)
	}
	return b
}

// ErrDomain is returned for a name that RFC 1035 cannot encode.
var ErrDomain = errors.New("wire: invalid domain name")

// AppendDomain appends name in RFC 1035 §3.1 wire format, uncompressed
// (RFC 8415 §10): its labels, then the root's zero octet. A trailing dot
// is allowed; empty labels, labels over 63 octets and names over 255
// octets are ErrDomain.
func AppendDomain(b []byte, name string) ([]byte, error) {
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	start := len(b)
	for len(name) > 0 {
		i := 0
		for i < len(name) && name[i] != '.' {
			i++
		}
		if i == 0 || i > 63 {
			return b[:start], ErrDomain
		}
		b = append(b, byte(i))
		b = append(b, name[:i]...)
		if i < len(name) {
			i++
			if i == len(name) {
				return b[:start], ErrDomain // "a..": empty last label
			}
		}
		name = name[i:]
	}
	b = append(b, 0)
	if len(b)-start > 255 {
		return b[:start], ErrDomain
	}
	return b, nil
}

// DomainListData encodes a list of names (DOMAIN_LIST, RFC 3646).
func DomainListData(names []string) ([]byte, error) {
	var b []byte
	for _, n := range names {
		var err error
		if b, err = AppendDomain(b, n); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// MaxOptionData is the most data one option (or sub-option) carries: its
// length field is 16 bits (RFC 8415 §21.1).
const MaxOptionData = 0xffff

// ErrOptionTooLong is returned when data would not fit MaxOptionData.
var ErrOptionTooLong = errors.New("wire: option data over 65535 octets")

// Uint32Data encodes a 32-bit value, big-endian: SOL_MAX_RT, INF_MAX_RT,
// INFORMATION_REFRESH_TIME (RFC 8415 §21.23-21.25).
func Uint32Data(v uint32) []byte {
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// NTPServer is one server in an NTP_SERVER option (RFC 5908 §4): an
// address — NTP_SUBOPTION_SRV_ADDR when unicast, NTP_SUBOPTION_MC_ADDR
// when multicast — or, when Addr is the zero value, a name
// (NTP_SUBOPTION_SRV_FQDN).
type NTPServer struct {
	Addr netip.Addr
	FQDN string
}

// NTPServerData encodes NTP_SERVER option data: one sub-option per server,
// in order. A name RFC 1035 cannot encode is ErrDomain; data over
// MaxOptionData is ErrOptionTooLong.
func NTPServerData(servers []NTPServer) ([]byte, error) {
	var b []byte
	for _, s := range servers {
		if s.Addr.IsValid() {
			code := NTPSubSrvAddr
			if s.Addr.IsMulticast() {
				code = NTPSubMCAddr
			}
			a := s.Addr.As16()
			b = AppendOption(b, code, a[:])
			continue
		}
		var start int
		b, start = BeginOption(b, NTPSubSrvFQDN)
		var err error
		if b, err = AppendDomain(b, s.FQDN); err != nil {
			return nil, err
		}
		b = EndOption(b, start)
	}
	if len(b) > MaxOptionData {
		return nil, ErrOptionTooLong
	}
	return b, nil
}

// SubOption is one code and data inside another option's data.
type SubOption struct {
	Code uint16
	Data []byte
}

// VendorOptsData encodes VENDOR_OPTS option data (RFC 8415 §21.17): the
// enterprise number, then each sub-option as code(2), length(2), data.
// Data over MaxOptionData, in all or in one sub-option, is
// ErrOptionTooLong.
func VendorOptsData(enterprise uint32, subs []SubOption) ([]byte, error) {
	b := Uint32Data(enterprise)
	for _, s := range subs {
		if len(s.Data) > MaxOptionData {
			return nil, ErrOptionTooLong
		}
		b = AppendOption(b, s.Code, s.Data)
	}
	if len(b) > MaxOptionData {
		return nil, ErrOptionTooLong
	}
	return b, nil
}

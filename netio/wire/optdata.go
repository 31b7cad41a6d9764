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

package wire

import (
	"encoding/binary"
	"net/netip"
)

// AppendHeader appends a client/server message header.
func AppendHeader(b []byte, t MsgType, xid [3]byte) []byte {
	return append(b, byte(t), xid[0], xid[1], xid[2])
}

// AppendRelayHeader appends a RELAY-FORW or RELAY-REPL header.
func AppendRelayHeader(b []byte, t MsgType, hops uint8, link, peer netip.Addr) []byte {
	b = append(b, byte(t), hops)
	l, p := link.As16(), peer.As16()
	b = append(b, l[:]...)
	return append(b, p[:]...)
}

// AppendOption appends one option with the given data.
func AppendOption(b []byte, code uint16, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// AppendOptionString is AppendOption for string data (no conversion copy).
func AppendOptionString(b []byte, code uint16, data string) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// AppendEmptyOption appends a zero-length option (RAPID_COMMIT, RECONF_ACCEPT).
func AppendEmptyOption(b []byte, code uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	return binary.BigEndian.AppendUint16(b, 0)
}

// AppendUint8Option appends a one-byte option (PREFERENCE).
func AppendUint8Option(b []byte, code uint16, v uint8) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, 1)
	return append(b, v)
}

// AppendUint16Option appends a two-byte option (ELAPSED_TIME).
func AppendUint16Option(b []byte, code uint16, v uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, 2)
	return binary.BigEndian.AppendUint16(b, v)
}

// BeginOption appends the header of an option whose data follows, with a
// placeholder length, and returns the offset EndOption needs.
func BeginOption(b []byte, code uint16) ([]byte, int) {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, code)
	return binary.BigEndian.AppendUint16(b, 0), start
}

// EndOption patches the length of the option begun at start to cover
// everything appended since.
func EndOption(b []byte, start int) []byte {
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start-4))
	return b
}

// BeginIA begins an IA_NA or IA_PD (code) with its IAID and timers; close it
// with EndOption.
func BeginIA(b []byte, code uint16, iaid, t1, t2 uint32) ([]byte, int) {
	b, start := BeginOption(b, code)
	b = binary.BigEndian.AppendUint32(b, iaid)
	if code != OptIATA {
		b = binary.BigEndian.AppendUint32(b, t1)
		b = binary.BigEndian.AppendUint32(b, t2)
	}
	return b, start
}

// AppendIAAddr appends an IAADDR option with no sub-options.
func AppendIAAddr(b []byte, a netip.Addr, preferred, valid uint32) []byte {
	b = binary.BigEndian.AppendUint16(b, OptIAAddr)
	b = binary.BigEndian.AppendUint16(b, 24)
	a16 := a.As16()
	b = append(b, a16[:]...)
	b = binary.BigEndian.AppendUint32(b, preferred)
	return binary.BigEndian.AppendUint32(b, valid)
}

// AppendIAPrefix appends an IAPREFIX option with no sub-options.
func AppendIAPrefix(b []byte, p netip.Prefix, preferred, valid uint32) []byte {
	b = binary.BigEndian.AppendUint16(b, OptIAPrefix)
	b = binary.BigEndian.AppendUint16(b, 25)
	b = binary.BigEndian.AppendUint32(b, preferred)
	b = binary.BigEndian.AppendUint32(b, valid)
	b = append(b, byte(p.Bits()))
	a16 := p.Addr().As16()
	return append(b, a16[:]...)
}

// AppendStatus appends a STATUS_CODE option.
func AppendStatus(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, OptStatusCode)
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(msg)))
	b = binary.BigEndian.AppendUint16(b, code)
	return append(b, msg...)
}

package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/tandemdhcp/tandem/engine"
)

// Value versions. Part of the format: they must not change (see the package
// doc); a new layout gets a new number.
const (
	eventVersion    = 1 // first byte of every event value
	snapshotVersion = 1 // first byte of snapshot headers and chunks
)

// Binding flag bits. Part of the format.
const (
	flagLink  = 1 << 0 // a 16-byte link address follows the times
	flagsKnow = flagLink
)

// Errors about event values.
var (
	// ErrCorruptEvent is wrapped by every error about a stored value that
	// does not decode.
	ErrCorruptEvent = errors.New("journal: corrupt event")
	// ErrInvalidEvent is returned for an event the journal refuses to
	// store because it could not be replayed (unknown kind, status or
	// address family).
	ErrInvalidEvent = errors.New("journal: event cannot be journaled")
)

// Decoder errors, built once so decoding never allocates for an error.
var (
	errShort    = fmt.Errorf("%w: value too short", ErrCorruptEvent)
	errVersion  = fmt.Errorf("%w: unknown value version", ErrCorruptEvent)
	errEvKind   = fmt.Errorf("%w: unknown event kind", ErrCorruptEvent)
	errKind     = fmt.Errorf("%w: unknown binding kind", ErrCorruptEvent)
	errStatus   = fmt.Errorf("%w: unknown binding status", ErrCorruptEvent)
	errFlags    = fmt.Errorf("%w: unknown flags", ErrCorruptEvent)
	errBits     = fmt.Errorf("%w: prefix length over 128", ErrCorruptEvent)
	errVarint   = fmt.Errorf("%w: bad varint", ErrCorruptEvent)
	errRange    = fmt.Errorf("%w: value out of range", ErrCorruptEvent)
	errTrailing = fmt.Errorf("%w: trailing bytes", ErrCorruptEvent)

	errInvEvKind  = fmt.Errorf("%w: unknown event kind", ErrInvalidEvent)
	errInvKind    = fmt.Errorf("%w: unknown binding kind", ErrInvalidEvent)
	errInvStatus  = fmt.Errorf("%w: unknown binding status", ErrInvalidEvent)
	errInvPrefix  = fmt.Errorf("%w: prefix is not IPv6", ErrInvalidEvent)
	errInvLink    = fmt.Errorf("%w: link address is not IPv6", ErrInvalidEvent)
	errInvTooLong = fmt.Errorf("%w: DUID or remote-id over 64 KiB", ErrInvalidEvent)
)

// maxString bounds DUID and RemoteID lengths. Both are DHCPv6 option data
// (at most 65535 bytes on the wire); the bound keeps a corrupt length from
// asking for a huge allocation.
const maxString = 1<<16 - 1

// AppendEvent appends the encoding of ev to dst. It refuses (with an error
// wrapping ErrInvalidEvent, leaving dst as it was) an event that
// DecodeEvent would reject. It does not allocate when dst has room.
func AppendEvent(dst []byte, ev *engine.Event) ([]byte, error) {
	if ev.Kind != engine.EventLease && ev.Kind != engine.EventFree {
		return dst, errInvEvKind
	}
	if err := checkBinding(&ev.Binding); err != nil {
		return dst, err
	}
	dst = append(dst, eventVersion, byte(ev.Kind), byte(ev.Why))
	dst = binary.AppendVarint(dst, ev.Time)
	return appendBinding(dst, &ev.Binding, ev.Time), nil
}

// DecodeEvent decodes an event value into ev, overwriting all of it. DUID
// and RemoteID are copied (the engine keeps them); everything else is
// decoded in place. Errors wrap ErrCorruptEvent. It never panics.
func DecodeEvent(b []byte, ev *engine.Event) error {
	if len(b) < 4 {
		return errShort
	}
	if b[0] != eventVersion {
		return errVersion
	}
	k := engine.EventKind(b[1])
	if k != engine.EventLease && k != engine.EventFree {
		return errEvKind
	}
	ev.Kind = k
	ev.Why = engine.Cause(b[2])
	t, n := binary.Varint(b[3:])
	if n <= 0 {
		return errVarint
	}
	ev.Time = t
	rest, err := decodeBinding(b[3+n:], &ev.Binding, t)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errTrailing
	}
	return nil
}

func checkBinding(b *engine.Binding) error {
	if b.Kind != engine.KindNA && b.Kind != engine.KindPD {
		return errInvKind
	}
	if b.Status < engine.StatusActive || b.Status > engine.StatusReset {
		return errInvStatus
	}
	if !b.Prefix.IsValid() || !b.Prefix.Addr().Is6() || b.Prefix.Addr().Zone() != "" {
		return errInvPrefix
	}
	if b.Link.IsValid() && (!b.Link.Is6() || b.Link.Zone() != "") {
		return errInvLink
	}
	if len(b.DUID) > maxString || len(b.RemoteID) > maxString {
		return errInvTooLong
	}
	return nil
}

// appendBinding encodes a checked binding; times are relative to base.
func appendBinding(dst []byte, b *engine.Binding, base int64) []byte {
	var flags byte
	if b.Link.IsValid() {
		flags |= flagLink
	}
	a := b.Prefix.Addr().As16()
	dst = append(dst, byte(b.Kind), byte(b.Status), flags, byte(b.Prefix.Bits()))
	dst = append(dst, a[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(b.DUID)))
	dst = append(dst, b.DUID...)
	dst = binary.AppendUvarint(dst, uint64(b.IAID))
	dst = binary.AppendVarint(dst, b.CLTT-base)
	dst = binary.AppendVarint(dst, b.StartOfState-b.CLTT)
	dst = binary.AppendUvarint(dst, uint64(b.Preferred))
	dst = binary.AppendUvarint(dst, uint64(b.Valid))
	dst = binary.AppendVarint(dst, b.Expires-(b.CLTT+int64(b.Valid)))
	if flags&flagLink != 0 {
		l := b.Link.As16()
		dst = append(dst, l[:]...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.RemoteID)))
	return append(dst, b.RemoteID...)
}

// decodeBinding decodes one binding from the front of p and returns what
// follows it.
func decodeBinding(p []byte, b *engine.Binding, base int64) ([]byte, error) {
	if len(p) < 4+16 {
		return nil, errShort
	}
	k, st, flags, bits := engine.Kind(p[0]), engine.Status(p[1]), p[2], p[3]
	if k != engine.KindNA && k != engine.KindPD {
		return nil, errKind
	}
	if st < engine.StatusActive || st > engine.StatusReset {
		return nil, errStatus
	}
	if flags&^flagsKnow != 0 {
		return nil, errFlags
	}
	if bits > 128 {
		return nil, errBits
	}
	b.Kind, b.Status = k, st
	b.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(p[4:20])), int(bits))
	p = p[20:]

	var err error
	if b.DUID, p, err = str(p); err != nil {
		return nil, err
	}
	var u uint64
	if u, p, err = uvarint32(p); err != nil {
		return nil, err
	}
	b.IAID = uint32(u)
	var d int64
	if d, p, err = varint(p); err != nil {
		return nil, err
	}
	b.CLTT = base + d
	if d, p, err = varint(p); err != nil {
		return nil, err
	}
	b.StartOfState = b.CLTT + d
	if u, p, err = uvarint32(p); err != nil {
		return nil, err
	}
	b.Preferred = uint32(u)
	if u, p, err = uvarint32(p); err != nil {
		return nil, err
	}
	b.Valid = uint32(u)
	if d, p, err = varint(p); err != nil {
		return nil, err
	}
	b.Expires = b.CLTT + int64(b.Valid) + d
	b.Link = netip.Addr{}
	if flags&flagLink != 0 {
		if len(p) < 16 {
			return nil, errShort
		}
		b.Link = netip.AddrFrom16([16]byte(p[:16]))
		p = p[16:]
	}
	if b.RemoteID, p, err = str(p); err != nil {
		return nil, err
	}
	return p, nil
}

func varint(p []byte) (int64, []byte, error) {
	v, n := binary.Varint(p)
	if n <= 0 {
		return 0, nil, errVarint
	}
	return v, p[n:], nil
}

func uvarint32(p []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, errVarint
	}
	if v > 1<<32-1 {
		return 0, nil, errRange
	}
	return v, p[n:], nil
}

// str decodes a length-prefixed string. The empty string costs nothing;
// any other is a copy, since the engine keeps it.
func str(p []byte) (string, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return "", nil, errVarint
	}
	p = p[n:]
	if v > maxString {
		return "", nil, errRange
	}
	if v > uint64(len(p)) {
		return "", nil, errShort
	}
	if v == 0 {
		return "", p, nil
	}
	return string(p[:v]), p[v:], nil
}

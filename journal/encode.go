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
	eventV1    = 1 // first byte of an event value: bindings without failover times
	eventV2    = 2 // ... with failover times, and EventEndpoint; what AppendEvent writes
	snapshotV1 = 1 // first byte of snapshot headers and chunks: v1 bindings, no endpoints
	snapshotV2 = 2 // ... v2 bindings; the header lists the endpoint records
)

// Binding flag bits. Part of the format.
const (
	flagLink  = 1 << 0 // a 16-byte link address follows the times
	flagsKnow = flagLink
)

// Failover-times flag bits (v2 bindings). A set bit means the time is
// non-zero and a zigzag delta from Expires follows, in bit order. Part of
// the format.
const (
	foExpirationTime  = 1 << 0
	foAckedPL         = 1 << 1
	foPartnerLifetime = 1 << 2
	foPartnerRawCLTT  = 1 << 3
	foStateExpiration = 1 << 4
	foNeedsUpdate     = 1 << 5 // PartnerNeedsUpdate; no value
	foKnown           = 1<<6 - 1
)

// Endpoint flag bits (EventEndpoint and v2 snapshot headers). Bits 1-5 say
// which times follow (non-zero; zigzag deltas from the base), in bit order.
// Part of the format.
const (
	epCommunicated    = 1 << 0
	epStartTime       = 1 << 1
	epPartnerStart    = 1 << 2
	epLastPartnerMsg  = 1 << 3
	epPartnerDownTime = 1 << 4
	epLastOperated    = 1 << 5
	epKnown           = 1<<6 - 1
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
	errEPState  = fmt.Errorf("%w: unknown endpoint state", ErrCorruptEvent)
	errEPName   = fmt.Errorf("%w: endpoint without a relationship name", ErrCorruptEvent)

	errInvEvKind  = fmt.Errorf("%w: unknown event kind", ErrInvalidEvent)
	errInvKind    = fmt.Errorf("%w: unknown binding kind", ErrInvalidEvent)
	errInvStatus  = fmt.Errorf("%w: unknown binding status", ErrInvalidEvent)
	errInvPrefix  = fmt.Errorf("%w: prefix is not IPv6", ErrInvalidEvent)
	errInvLink    = fmt.Errorf("%w: link address is not IPv6", ErrInvalidEvent)
	errInvTooLong = fmt.Errorf("%w: DUID or remote-id over 64 KiB", ErrInvalidEvent)
	errInvEPName  = fmt.Errorf("%w: endpoint relationship name empty or over 64 KiB", ErrInvalidEvent)
	errInvEPState = fmt.Errorf("%w: unknown endpoint state", ErrInvalidEvent)
)

// maxString bounds DUID and RemoteID lengths. Both are DHCPv6 option data
// (at most 65535 bytes on the wire); the bound keeps a corrupt length from
// asking for a huge allocation.
const maxString = 1<<16 - 1

// AppendEvent appends the encoding of ev to dst. It refuses (with an error
// wrapping ErrInvalidEvent, leaving dst as it was) an event that
// DecodeEvent would reject. It does not allocate when dst has room.
func AppendEvent(dst []byte, ev *engine.Event) ([]byte, error) {
	switch ev.Kind {
	case engine.EventLease, engine.EventFree:
		if err := checkBinding(&ev.Binding); err != nil {
			return dst, err
		}
	case engine.EventEndpoint:
		if err := checkEndpoint(&ev.Endpoint); err != nil {
			return dst, err
		}
	default:
		return dst, errInvEvKind
	}
	dst = append(dst, eventV2, byte(ev.Kind), byte(ev.Why))
	dst = binary.AppendVarint(dst, ev.Time)
	if ev.Kind == engine.EventEndpoint {
		return appendEndpoint(dst, &ev.Endpoint, ev.Time), nil
	}
	return appendBinding(dst, &ev.Binding, ev.Time, eventV2), nil
}

// DecodeEvent decodes an event value into ev, overwriting all of it. DUID
// and RemoteID are copied (the engine keeps them); everything else is
// decoded in place. Errors wrap ErrCorruptEvent. It never panics.
func DecodeEvent(b []byte, ev *engine.Event) error {
	if len(b) < 4 {
		return errShort
	}
	ver := b[0]
	if ver != eventV1 && ver != eventV2 {
		return errVersion
	}
	k := engine.EventKind(b[1])
	if k != engine.EventLease && k != engine.EventFree && (k != engine.EventEndpoint || ver < eventV2) {
		return errEvKind
	}
	ev.Kind = k
	ev.Why = engine.Cause(b[2])
	t, n := binary.Varint(b[3:])
	if n <= 0 {
		return errVarint
	}
	ev.Time = t
	var rest []byte
	var err error
	if k == engine.EventEndpoint {
		ev.Binding = engine.Binding{}
		rest, err = decodeEndpoint(b[3+n:], &ev.Endpoint, t)
	} else {
		ev.Endpoint = engine.EndpointRecord{}
		rest, err = decodeBinding(b[3+n:], &ev.Binding, t, ver)
	}
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

// appendBinding encodes a checked binding in the layout of value version
// ver (v1 has no failover times); times are relative to base.
func appendBinding(dst []byte, b *engine.Binding, base int64, ver byte) []byte {
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
	dst = append(dst, b.RemoteID...)
	if ver < eventV2 {
		return dst
	}
	t := &b.FOTimes
	vals := [5]int64{t.ExpirationTime, t.AckedPartnerLifetime, t.PartnerLifetime, t.PartnerRawCLTT, t.StateExpiration}
	var fo byte
	if b.PartnerNeedsUpdate {
		fo |= foNeedsUpdate
	}
	return appendTimes(dst, fo, 0, vals[:], b.Expires)
}

// appendTimes appends a flags byte (flags, plus bit shift+i for each
// non-zero vals[i]) and then vals[i]-base as zigzag varints for those.
func appendTimes(dst []byte, flags byte, shift uint, vals []int64, base int64) []byte {
	for i, v := range vals {
		if v != 0 {
			flags |= 1 << (shift + uint(i))
		}
	}
	dst = append(dst, flags)
	for _, v := range vals {
		if v != 0 {
			dst = binary.AppendVarint(dst, v-base)
		}
	}
	return dst
}

// decodeTimes reads the times appendTimes wrote for flags into vals.
func decodeTimes(p []byte, flags byte, shift uint, vals []int64, base int64) ([]byte, error) {
	for i := range vals {
		vals[i] = 0
		if flags&(1<<(shift+uint(i))) == 0 {
			continue
		}
		d, rest, err := varint(p)
		if err != nil {
			return nil, err
		}
		vals[i], p = base+d, rest
	}
	return p, nil
}

func checkEndpoint(r *engine.EndpointRecord) error {
	if r.Rel == "" || len(r.Rel) > maxString {
		return errInvEPName
	}
	if r.State > engine.StateConflictDone || r.Previous > engine.StateConflictDone || r.PartnerState > engine.StateConflictDone {
		return errInvEPState
	}
	return nil
}

// appendEndpoint encodes a checked endpoint record; times relative to base:
//
//	uv name len, name | state | previous | partner state | flags | zv times
func appendEndpoint(dst []byte, r *engine.EndpointRecord, base int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r.Rel)))
	dst = append(dst, r.Rel...)
	s := &r.StoredState
	dst = append(dst, byte(s.State), byte(s.Previous), byte(s.PartnerState))
	var flags byte
	if s.Communicated {
		flags |= epCommunicated
	}
	vals := [5]int64{s.StartTime, s.PartnerStart, s.LastPartnerMsg, s.PartnerDownTime, s.LastOperated}
	return appendTimes(dst, flags, 1, vals[:], base)
}

func decodeEndpoint(p []byte, r *engine.EndpointRecord, base int64) ([]byte, error) {
	var err error
	if r.Rel, p, err = str(p); err != nil {
		return nil, err
	}
	if r.Rel == "" {
		return nil, errEPName
	}
	if len(p) < 4 {
		return nil, errShort
	}
	s := &r.StoredState
	s.State, s.Previous, s.PartnerState = engine.State(p[0]), engine.State(p[1]), engine.State(p[2])
	if s.State > engine.StateConflictDone || s.Previous > engine.StateConflictDone || s.PartnerState > engine.StateConflictDone {
		return nil, errEPState
	}
	flags := p[3]
	if flags&^epKnown != 0 {
		return nil, errFlags
	}
	s.Communicated = flags&epCommunicated != 0
	var vals [5]int64
	if p, err = decodeTimes(p[4:], flags, 1, vals[:], base); err != nil {
		return nil, err
	}
	s.StartTime, s.PartnerStart, s.LastPartnerMsg, s.PartnerDownTime, s.LastOperated = vals[0], vals[1], vals[2], vals[3], vals[4]
	return p, nil
}

// decodeBinding decodes one binding in the layout of value version ver from
// the front of p and returns what follows it.
func decodeBinding(p []byte, b *engine.Binding, base int64, ver byte) ([]byte, error) {
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
	b.FOTimes, b.PartnerNeedsUpdate = engine.FOTimes{}, false
	if ver < eventV2 {
		return p, nil
	}
	if len(p) < 1 {
		return nil, errShort
	}
	fo := p[0]
	if fo&^foKnown != 0 {
		return nil, errFlags
	}
	var vals [5]int64
	if p, err = decodeTimes(p[1:], fo, 0, vals[:], b.Expires); err != nil {
		return nil, err
	}
	t := &b.FOTimes
	t.ExpirationTime, t.AckedPartnerLifetime, t.PartnerLifetime, t.PartnerRawCLTT, t.StateExpiration = vals[0], vals[1], vals[2], vals[3], vals[4]
	b.PartnerNeedsUpdate = fo&foNeedsUpdate != 0
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

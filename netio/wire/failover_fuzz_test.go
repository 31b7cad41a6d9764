package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// Properties of the failover decoder (FuzzFailoverDecode):
//
//  1. It never panics and fails only with a sentinel error.
//  2. A FailoverMsg reused from an earlier decode (the Link reuses one)
//     reads the same as a fresh one: nothing leaks between messages.
//  3. What it accepts re-encodes canonically (appendFailover, built from the
//     package's own encoders: AppendBindingLease, BeginIA, ...) to no more
//     bytes, which decode to the same message; re-encoding that is a fixed
//     point.
//  4. Differential: the option layout agrees with insomniacslk/dhcp's
//     generic TLV walker (FromBytesWithParser keeping every option opaque):
//     a message whose options do not frame is rejected by both; and where
//     both accept, every option we extract equals the first copy of it in
//     theirs — the 4-byte connection options, RELATIONSHIP_NAME, the
//     message STATUS_CODE (their OptStatusCode), the prefix form's
//     IAPREFIX (their OptIAPrefix) and, inside CLIENT_DATA, CLIENTID,
//     LQ_BASE_TIME, LQ_RELAY_DATA and every IA_NA, IA_TA and IA_PD (their
//     OptIANA, OptIATA, OptIAPD: IAID, T1, T2, status, each IAADDR or
//     IAPREFIX with its lifetimes and the failover sub-options 114–134).

// fview is a comparable picture of a FailoverMsg: what Decode set, without
// the storage past each Num*.
type fview struct {
	Type                                                  MsgType
	XID, SentTime, Has, Version, MCLT, Keepalive, MaxUnak uint32
	ConnectFlags                                          uint16
	ServerState, ServerFlags                              uint8
	StartTimeOfState, PartnerDownTime                     uint32
	RelName                                               *string
	Status                                                uint16
	StatusMsg                                             *string
	Client                                                *cview
	Prefix                                                *BindingLease
}

type cview struct {
	ClientID      *string
	HasLQBaseTime bool
	LQBaseTime    uint32
	RelayData     *string
	IAs           []iview
}

type iview struct {
	Code         uint16
	IAID, T1, T2 uint32
	HasStatus    bool
	Status       uint16
	Leases       []BindingLease
}

func optStr(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func viewFailover(m *FailoverMsg) fview {
	v := fview{Type: m.Type, XID: m.XID, SentTime: m.SentTime, Has: m.Has, Version: m.Version, MCLT: m.MCLT,
		Keepalive: m.KeepaliveTime, MaxUnak: m.MaxUnacked, ConnectFlags: m.ConnectFlags, ServerState: m.ServerState,
		ServerFlags: m.ServerFlags, StartTimeOfState: m.StartTimeOfState, PartnerDownTime: m.PartnerDownTime,
		RelName: optStr(m.RelationshipName), Status: m.Status, StatusMsg: optStr(m.StatusMsg)}
	if m.HasClientData {
		c := &m.Client
		cv := &cview{ClientID: optStr(c.ClientID), HasLQBaseTime: c.HasLQBaseTime, LQBaseTime: c.LQBaseTime,
			RelayData: optStr(c.RelayData)}
		for i := 0; i < c.NumIAs; i++ {
			ia := &c.IAs[i]
			cv.IAs = append(cv.IAs, iview{Code: ia.Code, IAID: ia.IAID, T1: ia.T1, T2: ia.T2, HasStatus: ia.HasStatus,
				Status: ia.Status, Leases: append([]BindingLease{}, ia.Leases[:ia.NumLeases]...)})
		}
		v.Client = cv
	}
	if m.HasPrefix {
		p := m.Prefix
		v.Prefix = &p
	}
	return v
}

// appendFailover is the canonical encoding of a decoded message: each
// option it holds once, in a fixed order. A lease's STATUS_CODE loses its
// text (the decoder keeps only the code).
func appendFailover(b []byte, m *FailoverMsg) []byte {
	b, f := BeginFrame(b, m.Type, m.XID, m.SentTime)
	for _, o := range [...]struct {
		bit  uint32
		code uint16
		v    uint32
	}{
		{FHasVersion, OptFProtocolVersion, m.Version},
		{FHasMCLT, OptFMCLT, m.MCLT},
		{FHasKeepalive, OptFKeepaliveTime, m.KeepaliveTime},
		{FHasMaxUnacked, OptFMaxUnackedBndUpd, m.MaxUnacked},
		{FHasStartTimeOfState, OptFStartTimeOfState, m.StartTimeOfState},
		{FHasPartnerDownTime, OptFPartnerDownTime, m.PartnerDownTime},
	} {
		if m.Has&o.bit != 0 {
			b = AppendUint32Option(b, o.code, o.v)
		}
	}
	if m.Has&FHasConnectFlags != 0 {
		b = AppendUint16Option(b, OptFConnectFlags, m.ConnectFlags)
	}
	if m.Has&FHasServerState != 0 {
		b = AppendUint8Option(b, OptFServerState, m.ServerState)
	}
	if m.Has&FHasServerFlags != 0 {
		b = AppendUint8Option(b, OptFServerFlags, m.ServerFlags)
	}
	if m.RelationshipName != nil {
		b = AppendOption(b, OptFRelationshipName, m.RelationshipName)
	}
	if m.Has&FHasStatus != 0 {
		b = AppendStatus(b, m.Status, string(m.StatusMsg))
	}
	if m.HasPrefix {
		b = AppendBindingLease(b, &m.Prefix, false)
	}
	if m.HasClientData {
		c := &m.Client
		var cd int
		b, cd = BeginOption(b, OptClientData)
		if c.ClientID != nil {
			b = AppendOption(b, OptClientID, c.ClientID)
		}
		if c.HasLQBaseTime {
			b = AppendUint32Option(b, OptLQBaseTime, c.LQBaseTime)
		}
		if c.RelayData != nil {
			b = AppendOption(b, OptLQRelayData, c.RelayData)
		}
		for i := 0; i < c.NumIAs; i++ {
			ia := &c.IAs[i]
			var o int
			b, o = BeginIA(b, ia.Code, ia.IAID, ia.T1, ia.T2)
			if ia.HasStatus {
				b = AppendStatus(b, ia.Status, "")
			}
			for j := 0; j < ia.NumLeases; j++ {
				b = AppendBindingLease(b, &ia.Leases[j], ia.Code != OptIAPD)
			}
			b = EndOption(b, o)
		}
		b = EndOption(b, cd)
	}
	return EndFrame(b, f)
}

// failoverChecker holds the messages one check uses (about 20 KB each).
type failoverChecker struct {
	fresh, dirty, again FailoverMsg
}

var dirtyFailover = buildBndUpd(nil)[2:]

func (c *failoverChecker) check(b []byte) error {
	c.fresh = FailoverMsg{}
	err := c.fresh.Decode(b)
	if err != nil && !isSentinel(err) {
		return fmt.Errorf("non-sentinel error %v", err)
	}
	if derr := c.dirty.Decode(dirtyFailover); derr != nil {
		return derr
	}
	if derr := c.dirty.Decode(b); derr != err {
		return fmt.Errorf("reused FailoverMsg: err %v, fresh: err %v", derr, err)
	}
	if derr := checkFailoverDifferential(b, err, &c.fresh); derr != nil {
		return derr
	}
	if err != nil {
		return nil
	}
	want := viewFailover(&c.fresh)
	if got := viewFailover(&c.dirty); !reflect.DeepEqual(got, want) {
		return fmt.Errorf("reused FailoverMsg decoded\n%+v\nfresh\n%+v", got, want)
	}
	re := appendFailover(nil, &c.fresh)[2:]
	if len(re) > len(b) {
		return fmt.Errorf("re-encoding grew from %d to %d bytes", len(b), len(re))
	}
	if err := c.again.Decode(re); err != nil {
		return fmt.Errorf("re-encoding rejected: %v\n% x", err, re)
	}
	if got := viewFailover(&c.again); !reflect.DeepEqual(got, want) {
		return fmt.Errorf("re-encoding decoded\n%+v\nwant\n%+v", got, want)
	}
	if re2 := appendFailover(nil, &c.again)[2:]; !bytes.Equal(re2, re) {
		return fmt.Errorf("re-encoding is not a fixed point\n% x\n% x", re, re2)
	}
	return nil
}

// opaque keeps every option as their OptionGeneric: their TLV walker alone.
func opaque(code dhcpv6.OptionCode, data []byte) (dhcpv6.Option, error) {
	return &dhcpv6.OptionGeneric{OptionCode: code, OptionData: data}, nil
}

// theirOptions walks b with their walker and parser, turning a panic into
// an error.
func theirOptions(b []byte, parser dhcpv6.OptionParser) (opts dhcpv6.Options, err error) {
	defer func() {
		if r := recover(); r != nil {
			opts, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	err = opts.FromBytesWithParser(b, parser)
	return opts, err
}

// firstData is the data of the first option code in opts, nil if none.
func firstData(opts dhcpv6.Options, code uint16) []byte {
	if o := opts.GetOne(dhcpv6.OptionCode(code)); o != nil {
		d := o.ToBytes()
		if d == nil {
			d = []byte{}
		}
		return d
	}
	return nil
}

func checkFailoverDifferential(b []byte, ourErr error, m *FailoverMsg) error {
	if len(b) < FailoverHeaderLen || MsgType(b[0]) < BndUpd || MsgType(b[0]) > Contact {
		return nil
	}
	top, terr := theirOptions(b[FailoverHeaderLen:], opaque)
	switch {
	case terr != nil && ourErr == nil:
		return fmt.Errorf("their TLV walk rejects (%v) what we accept", terr)
	case terr != nil:
		return nil // both reject
	case ourErr != nil:
		if errors.Is(ourErr, ErrOptionLength) && firstBadLevel(b[FailoverHeaderLen:]) == 0 {
			return fmt.Errorf("we see a top-level option overrun (%v) where their walk frames every option", ourErr)
		}
		return nil // a rule on the content (length of a value, two bindings, ...)
	}
	// Both accept. Connection and state options.
	for _, o := range [...]struct {
		bit  uint32
		code uint16
		v    []byte
	}{
		{FHasVersion, OptFProtocolVersion, binary.BigEndian.AppendUint32(nil, m.Version)},
		{FHasMCLT, OptFMCLT, binary.BigEndian.AppendUint32(nil, m.MCLT)},
		{FHasKeepalive, OptFKeepaliveTime, binary.BigEndian.AppendUint32(nil, m.KeepaliveTime)},
		{FHasMaxUnacked, OptFMaxUnackedBndUpd, binary.BigEndian.AppendUint32(nil, m.MaxUnacked)},
		{FHasStartTimeOfState, OptFStartTimeOfState, binary.BigEndian.AppendUint32(nil, m.StartTimeOfState)},
		{FHasPartnerDownTime, OptFPartnerDownTime, binary.BigEndian.AppendUint32(nil, m.PartnerDownTime)},
		{FHasConnectFlags, OptFConnectFlags, binary.BigEndian.AppendUint16(nil, m.ConnectFlags)},
		{FHasServerState, OptFServerState, []byte{m.ServerState}},
		{FHasServerFlags, OptFServerFlags, []byte{m.ServerFlags}},
	} {
		theirs := firstData(top, o.code)
		if (m.Has&o.bit != 0) != (theirs != nil) || m.Has&o.bit != 0 && !bytes.Equal(theirs, o.v) {
			return fmt.Errorf("option %d: ours %x (present %v), theirs %x", o.code, o.v, m.Has&o.bit != 0, theirs)
		}
	}
	if theirs := firstData(top, OptFRelationshipName); !sameBytes(theirs, m.RelationshipName) {
		return fmt.Errorf("RELATIONSHIP_NAME: ours %q, theirs %q", m.RelationshipName, theirs)
	}
	if d := firstData(top, OptStatusCode); (d != nil) != (m.Has&FHasStatus != 0) {
		return fmt.Errorf("STATUS_CODE present: ours %v, theirs %v", m.Has&FHasStatus != 0, d != nil)
	} else if d != nil {
		var st dhcpv6.OptStatusCode
		if err := st.FromBytes(d); err != nil {
			return fmt.Errorf("STATUS_CODE we accept, they reject: %v", err)
		}
		if uint16(st.StatusCode) != m.Status || st.StatusMessage != string(m.StatusMsg) {
			return fmt.Errorf("STATUS_CODE: ours %d %q, theirs %d %q", m.Status, m.StatusMsg, st.StatusCode, st.StatusMessage)
		}
	}
	if (firstData(top, OptIAPrefix) != nil) != m.HasPrefix || (firstData(top, OptClientData) != nil) != m.HasClientData {
		return fmt.Errorf("binding: ours prefix %v client %v; theirs %v", m.HasPrefix, m.HasClientData, top)
	}
	if m.HasPrefix {
		var p dhcpv6.OptIAPrefix
		if err := p.FromBytes(firstData(top, OptIAPrefix)); err != nil {
			return nil // they check sub-options we skip
		}
		if err := sameLease(&m.Prefix, p.PreferredLifetime, p.ValidLifetime, theirPrefix(&p), p.Options.Options); err != nil {
			return fmt.Errorf("prefix form: %v", err)
		}
	}
	if m.HasClientData {
		cd, err := theirOptions(firstData(top, OptClientData), clientDataParser)
		if err != nil {
			return nil // they interpret an option inside an IA that we skip
		}
		if err := sameClientData(&m.Client, cd); err != nil {
			return fmt.Errorf("CLIENT_DATA: %v", err)
		}
	}
	return nil
}

// firstBadLevel is 0 when the options of b do not frame at the top level.
func firstBadLevel(b []byte) int {
	r := optReader(b)
	for {
		_, _, ok, err := r.next()
		if err != nil {
			return 0
		}
		if !ok {
			return 1
		}
	}
}

// clientDataParser reads inside CLIENT_DATA: the IAs their way, CLIENTID
// opaque (DUIDs are opaque to a server, RFC 8415 §11), the rest opaque.
func clientDataParser(code dhcpv6.OptionCode, data []byte) (dhcpv6.Option, error) {
	switch uint16(code) {
	case OptIANA, OptIATA, OptIAPD:
		return dhcpv6.ParseOption(code, data)
	}
	return opaque(code, data)
}

func theirPrefix(p *dhcpv6.OptIAPrefix) netip.Prefix {
	if p.Prefix == nil {
		return netip.Prefix{}
	}
	ones, _ := p.Prefix.Mask.Size()
	return netip.PrefixFrom(addrFromIP(p.Prefix.IP), ones)
}

func sameClientData(c *ClientData, cd dhcpv6.Options) error {
	if theirs := firstData(cd, OptClientID); !sameBytes(theirs, c.ClientID) {
		return fmt.Errorf("CLIENTID ours %x theirs %x", c.ClientID, theirs)
	}
	if theirs := firstData(cd, OptLQRelayData); !sameBytes(theirs, c.RelayData) {
		return fmt.Errorf("LQ_RELAY_DATA ours %x theirs %x", c.RelayData, theirs)
	}
	if theirs := firstData(cd, OptLQBaseTime); (theirs != nil) != c.HasLQBaseTime ||
		c.HasLQBaseTime && binary.BigEndian.Uint32(theirs) != c.LQBaseTime {
		return fmt.Errorf("LQ_BASE_TIME ours %v %d theirs %x", c.HasLQBaseTime, c.LQBaseTime, theirs)
	}
	k := 0
	for _, o := range cd {
		var (
			code     = uint16(o.Code())
			iaid     [4]byte
			t1, t2   time.Duration
			status   *dhcpv6.OptStatusCode
			addrs    []*dhcpv6.OptIAAddress
			prefixes []*dhcpv6.OptIAPrefix
		)
		switch x := o.(type) {
		case *dhcpv6.OptIANA:
			iaid, t1, t2, status, addrs = x.IaId, x.T1, x.T2, x.Options.Status(), x.Options.Addresses()
		case *dhcpv6.OptIATA:
			iaid, status, addrs = x.IaId, x.Options.Status(), x.Options.Addresses()
		case *dhcpv6.OptIAPD:
			iaid, t1, t2, status, prefixes = x.IaId, x.T1, x.T2, x.Options.Status(), x.Options.Prefixes()
		default:
			continue
		}
		if k >= c.NumIAs {
			return fmt.Errorf("they see more than our %d IAs", c.NumIAs)
		}
		ia := &c.IAs[k]
		k++
		if ia.Code != code || ia.IAID != binary.BigEndian.Uint32(iaid[:]) ||
			time.Duration(ia.T1)*time.Second != t1 || time.Duration(ia.T2)*time.Second != t2 {
			return fmt.Errorf("IA %d: ours %d/%d/%d/%d theirs %d/%x/%v/%v", k-1, ia.Code, ia.IAID, ia.T1, ia.T2, code, iaid, t1, t2)
		}
		if (status != nil) != ia.HasStatus || status != nil && uint16(status.StatusCode) != ia.Status {
			return fmt.Errorf("IA %d status: ours %v %d theirs %v", k-1, ia.HasStatus, ia.Status, status)
		}
		if n := len(addrs) + len(prefixes); n != ia.NumLeases {
			return fmt.Errorf("IA %d: ours %d leases, theirs %d", k-1, ia.NumLeases, n)
		}
		for j, a := range addrs {
			if err := sameLease(&ia.Leases[j], a.PreferredLifetime, a.ValidLifetime,
				netip.PrefixFrom(addrFromIP(a.IPv6Addr), 128), a.Options.Options); err != nil {
				return fmt.Errorf("IA %d lease %d: %v", k-1, j, err)
			}
		}
		for j, p := range prefixes {
			if err := sameLease(&ia.Leases[j], p.PreferredLifetime, p.ValidLifetime, theirPrefix(p), p.Options.Options); err != nil {
				return fmt.Errorf("IA %d lease %d: %v", k-1, j, err)
			}
		}
	}
	if k != c.NumIAs {
		return fmt.Errorf("ours %d IAs, theirs %d", c.NumIAs, k)
	}
	return nil
}

// sameLease compares one of our leases with theirs: lifetimes, the
// resource (a zero-length IAPREFIX is nil in theirs: its address is not
// compared), and the first copy of each failover sub-option.
func sameLease(l *BindingLease, pref, valid time.Duration, p netip.Prefix, sub dhcpv6.Options) error {
	if time.Duration(l.Preferred)*time.Second != pref || time.Duration(l.Valid)*time.Second != valid {
		return fmt.Errorf("lifetimes ours %d/%d theirs %v/%v", l.Preferred, l.Valid, pref, valid)
	}
	if p.IsValid() && p != l.Prefix || !p.IsValid() && l.Prefix.Bits() != 0 {
		return fmt.Errorf("resource ours %v theirs %v", l.Prefix, p)
	}
	for _, o := range [...]struct {
		bit  uint32
		code uint16
		v    uint32
	}{
		{HasStartTimeOfState, OptFStartTimeOfState, l.StartTimeOfState},
		{HasStateExpiration, OptFStateExpiration, l.StateExpiration},
		{HasCLTTime, OptCLTTime, l.CLTTime},
		{HasPartnerLifetime, OptFPartnerLifetime, l.PartnerLifetime},
		{HasPartnerLifetimeSent, OptFPartnerLifetimeSnt, l.PartnerLifetimeSent},
		{HasPartnerRawCLTTime, OptFPartnerRawCLTTime, l.PartnerRawCLTTime},
		{HasExpirationTime, OptFExpirationTime, l.ExpirationTime},
		{HasLQBaseTime, OptLQBaseTime, l.LQBaseTime},
	} {
		d := firstData(sub, o.code)
		if (d != nil) != (l.Has&o.bit != 0) || d != nil && binary.BigEndian.Uint32(d) != o.v {
			return fmt.Errorf("sub-option %d: ours %d (present %v), theirs %x", o.code, o.v, l.Has&o.bit != 0, d)
		}
	}
	if d := firstData(sub, OptFBindingStatus); (d != nil) != (l.Has&HasBindingStatus != 0) || d != nil && d[0] != l.BindingStatus {
		return fmt.Errorf("F_BINDING_STATUS: ours %d (present %v), theirs %x", l.BindingStatus, l.Has&HasBindingStatus != 0, d)
	}
	if st := sub.GetOne(dhcpv6.OptionStatusCode); (st != nil) != (l.Has&HasStatusCode != 0) ||
		st != nil && uint16(st.(*dhcpv6.OptStatusCode).StatusCode) != l.Status {
		return fmt.Errorf("STATUS_CODE: ours %d (present %v), theirs %v", l.Status, l.Has&HasStatusCode != 0, st)
	}
	return nil
}

// failoverSeeds are well-formed failover messages of every type and form,
// built with the package's encoders the way replicate builds them (without
// the 2-byte frame length).
func failoverSeeds() map[string][]byte {
	msg := func(b []byte) []byte { return b[2:] }
	seeds := map[string][]byte{"bndupd-client-form": msg(buildBndUpd(nil))}

	b, f := BeginFrame(nil, Connect, 1, 5)
	b = AppendUint32Option(b, OptFProtocolVersion, 1<<16)
	b = AppendUint32Option(b, OptFMCLT, 3600)
	b = AppendUint32Option(b, OptFKeepaliveTime, 60)
	b = AppendUint32Option(b, OptFMaxUnackedBndUpd, 4096)
	b = AppendUint16Option(b, OptFConnectFlags, 0)
	b = AppendOptionString(b, OptFRelationshipName, "pair-a")
	seeds["connect"] = msg(EndFrame(b, f))

	b, f = BeginFrame(nil, ConnectReply, 1, 5)
	b = AppendStatus(b, StatusExcessiveTimeSkew, "clocks 30s apart (limit 5s)")
	seeds["connectreply-refused"] = msg(EndFrame(b, f))

	b, f = BeginFrame(nil, State, 2, 6)
	b = AppendUint8Option(b, OptFServerState, 4)
	b = AppendUint8Option(b, OptFServerFlags, ServerFlagCommunicated|ServerFlagStartup)
	b = AppendUint32Option(b, OptFStartTimeOfState, 4)
	b = AppendUint32Option(b, OptFPartnerDownTime, 4)
	seeds["state-partner-down"] = msg(EndFrame(b, f))

	b, f = BeginFrame(nil, Disconnect, 3, 7)
	b = AppendStatus(b, StatusServerShuttingDown, "server shutting down")
	seeds["disconnect"] = msg(EndFrame(b, f))
	for _, t := range []MsgType{Contact, UpdReq, UpdReqAll, UpdDone, PoolReq, PoolResp} {
		b, f = BeginFrame(nil, t, 9, 8)
		seeds[string(appendLower(nil, FailoverName(t)))] = msg(EndFrame(b, f))
	}

	// The prefix form (a FREE delegable prefix moved by rebalancing).
	b, f = BeginFrame(nil, BndUpd, 3, 7)
	l := BindingLease{Prefix: netip.MustParsePrefix("2001:db8:200::/48"), Has: HasBindingStatus | HasStartTimeOfState | HasLQBaseTime,
		BindingStatus: 6, StartTimeOfState: 5, LQBaseTime: 7}
	seeds["bndupd-prefix-form"] = msg(EndFrame(AppendBindingLease(b, &l, false), f))

	// A BNDREPLY: one lease accepted, one rejected, as AppendBndReply
	// echoes them; an IA_TA; LQ_RELAY_DATA.
	b, f = BeginFrame(nil, BndReply, 0x0a0b0c, 0)
	b, cd := BeginOption(b, OptClientData)
	b = AppendOption(b, OptClientID, []byte{0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 2, 0, 0, 0, 0, 7})
	b = AppendOption(b, OptLQRelayData, append(netip.MustParseAddr("2001:db8::1").AsSlice(), 12, 0))
	b, ia := BeginIA(b, OptIANA, 1, 0, 0)
	acc := BindingLease{Prefix: netip.MustParsePrefix("2001:db8:1::1234/128"), Preferred: 3600, Valid: 7200,
		Has: HasBindingStatus | HasStateExpiration | HasPartnerLifetimeSent, BindingStatus: 1, StateExpiration: 7290, PartnerLifetimeSent: 9000}
	b = AppendBindingLease(b, &acc, true)
	rej := acc
	rej.Prefix = netip.MustParsePrefix("2001:db8:1::1235/128")
	rej.Has |= HasStatusCode
	rej.Status = StatusOutdatedBindingInfo
	b = AppendBindingLease(b, &rej, true)
	b = EndOption(b, ia)
	b, ia = BeginIA(b, OptIATA, 5, 0, 0)
	b = AppendBindingLease(b, &acc, true)
	b = AppendStatus(b, StatusNoBinding, "")
	b = EndOption(b, ia)
	b = EndOption(b, cd)
	seeds["bndreply-mixed"] = msg(EndFrame(b, f))
	return seeds
}

func appendLower(b []byte, s string) []byte {
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// TestFailoverMutations runs FuzzFailoverDecode's check over every
// truncation of every failover seed and every seed with one byte replaced
// by 0x00, 0x01, 0x7f, 0x80, 0xff or its neighbours: each length field and
// code, deterministically, on every `go test`.
func TestFailoverMutations(t *testing.T) {
	var c failoverChecker
	n, accepted := 0, 0
	check := func(name string, b []byte) {
		if err := c.check(b); err != nil {
			t.Fatalf("%s: %v\ninput % x", name, err, b)
		}
		n++
		if c.fresh.Decode(b) == nil {
			accepted++
		}
	}
	for name, seed := range failoverSeeds() {
		for i := 0; i <= len(seed); i++ {
			check(fmt.Sprintf("%s[:%d]", name, i), seed[:i])
		}
		for i := range seed {
			orig := seed[i]
			for _, v := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff, orig - 1, orig + 1} {
				if v != orig {
					b := bytes.Clone(seed)
					b[i] = v
					check(fmt.Sprintf("%s[%d]=%#x", name, i, v), b)
				}
			}
		}
	}
	t.Logf("%d inputs, %d accepted", n, accepted)
	if accepted < n/4 {
		t.Errorf("only %d of %d inputs accepted: the comparisons are barely exercised", accepted, n)
	}
}

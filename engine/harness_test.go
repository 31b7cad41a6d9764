package engine

// The test harness: a client packet builder on the wire package's Append
// functions, a driver that runs one message through Step → Ready → Advance
// the way the serving loop does, and a printer that decodes replies with
// wire.Packet into a readable trace. The scenario (datadriven) tests, the
// per-RFC-section tests, the replay property and the benchmarks share it.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// t0 is the epoch of every test clock; traces print times relative to it.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testServerDUID is the DUID of the engine under test (DUID-LLT).
var testServerDUID = []byte{0, 1, 0, 1, 0x30, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xaa}

// otherServerDUID is some other server's DUID.
var otherServerDUID = []byte{0, 1, 0, 1, 0x30, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xbb}

// clientDUID returns the DUID-LL of test client n (MAC 02:00:00:00:hi:lo).
func clientDUID(n int) []byte {
	return []byte{0, 3, 0, 1, 0x02, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)}
}

// clientOf maps a DUID made by clientDUID back to its number, or -1.
func clientOf(d []byte) int {
	if len(d) != 10 || !bytes.Equal(d[:7], []byte{0, 3, 0, 1, 0x02, 0, 0}) {
		return -1
	}
	return int(d[7])<<16 | int(d[8])<<8 | int(d[9])
}

func clientName(d string) string {
	if n := clientOf([]byte(d)); n >= 0 {
		return fmt.Sprint(n)
	}
	return hex.EncodeToString([]byte(d))
}

func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// --- client messages ---------------------------------------------------------

// tIA is one IA_NA or IA_PD a test client sends.
type tIA struct {
	iaid     uint32
	addrs    []netip.Addr
	prefixes []netip.Prefix
}

// tRelay is one relay a message passes through; in tMsg.relays the one
// nearest the client comes first.
type tRelay struct {
	hops     uint8
	link     netip.Addr
	peer     netip.Addr
	ifaceID  []byte
	remoteID []byte
	subID    []byte // SUBSCRIBER_ID
}

// tMsg is a client message to encode.
type tMsg struct {
	typ      wire.MsgType
	xid      uint32
	client   []byte // CLIENTID data; nil omits the option
	server   []byte // SERVERID data; nil omits the option
	na, pd   []tIA
	ta       []uint32
	oro      []uint16
	rapid    bool
	relays   []tRelay
	extraOpt []byte // raw options appended after the others
}

// appendTo encodes m (with its relay wrapping) onto b.
func (m *tMsg) appendTo(b []byte) []byte {
	var starts [wire.MaxRelayHops]int
	for i := len(m.relays) - 1; i >= 0; i-- {
		r := &m.relays[i]
		b = wire.AppendRelayHeader(b, wire.RelayForw, r.hops, r.link, r.peer)
		if r.ifaceID != nil {
			b = wire.AppendOption(b, wire.OptInterfaceID, r.ifaceID)
		}
		if r.remoteID != nil {
			b = wire.AppendOption(b, wire.OptRemoteID, r.remoteID)
		}
		if r.subID != nil {
			b = wire.AppendOption(b, wire.OptSubscriberID, r.subID)
		}
		b, starts[i] = wire.BeginOption(b, wire.OptRelayMsg)
	}
	b = wire.AppendHeader(b, m.typ, [3]byte{byte(m.xid >> 16), byte(m.xid >> 8), byte(m.xid)})
	if m.client != nil {
		b = wire.AppendOption(b, wire.OptClientID, m.client)
	}
	if m.server != nil {
		b = wire.AppendOption(b, wire.OptServerID, m.server)
	}
	b = wire.AppendUint16Option(b, wire.OptElapsedTime, 0)
	if m.rapid {
		b = wire.AppendEmptyOption(b, wire.OptRapidCommit)
	}
	if len(m.oro) > 0 {
		var start int
		b, start = wire.BeginOption(b, wire.OptORO)
		for _, c := range m.oro {
			b = binary.BigEndian.AppendUint16(b, c)
		}
		b = wire.EndOption(b, start)
	}
	for _, ia := range m.na {
		var start int
		b, start = wire.BeginIA(b, wire.OptIANA, ia.iaid, 0, 0)
		for _, a := range ia.addrs {
			b = wire.AppendIAAddr(b, a, 0, 0)
		}
		b = wire.EndOption(b, start)
	}
	for _, iaid := range m.ta {
		var start int
		b, start = wire.BeginIA(b, wire.OptIATA, iaid, 0, 0)
		b = wire.EndOption(b, start)
	}
	for _, ia := range m.pd {
		var start int
		b, start = wire.BeginIA(b, wire.OptIAPD, ia.iaid, 0, 0)
		for _, p := range ia.prefixes {
			b = wire.AppendIAPrefix(b, p, 0, 0)
		}
		b = wire.EndOption(b, start)
	}
	b = append(b, m.extraOpt...)
	for i := range m.relays {
		b = wire.EndOption(b, starts[i])
	}
	return b
}

// relayVia returns one relay on link (hop count 0, client peer fe80::c).
func relayVia(link string) []tRelay {
	return []tRelay{{link: mustAddr(link), peer: mustAddr("fe80::c")}}
}

// --- the driver --------------------------------------------------------------

// how says how a message reaches the engine.
type how struct {
	iface   string // ingress interface of a direct message
	unicast bool   // sent to a unicast address (Input.Multicast=false)
}

// result is what one input produced.
type result struct {
	replies [][]byte // copies of the encoded replies
	to      []Dest
	events  []Event
	dropped []DropReason // drop counters that moved
}

// reply decodes the single reply, failing if there is not exactly one.
func (r *result) reply(t testing.TB) *wire.Packet {
	t.Helper()
	if len(r.replies) != 1 {
		t.Fatalf("got %d replies, want 1 (dropped %v)", len(r.replies), r.dropped)
	}
	p := new(wire.Packet)
	if err := p.Decode(r.replies[0]); err != nil {
		t.Fatalf("decoding reply: %v", err)
	}
	return p
}

// tester drives one engine with a test clock and remembers, per client IA,
// what the server last gave it, the way a real client would.
type tester struct {
	tb   testing.TB
	e    *Engine
	now  time.Time
	pkt  wire.Packet
	buf  []byte
	xid  uint32
	held map[heldKey][]netip.Prefix
	// onReply, if set, sees every encoded reply.
	onReply func(raw []byte)
}

type heldKey struct {
	client int
	kind   Kind
	iaid   uint32
}

func newTester(tb testing.TB, cfg Config) *tester {
	tb.Helper()
	if cfg.ServerDUID == nil {
		cfg.ServerDUID = testServerDUID
	}
	e, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return &tester{tb: tb, e: e, now: t0, held: make(map[heldKey][]netip.Prefix)}
}

// basicConfig is one /64 link on eth0 with a 4096-address pool and a /48
// of /56 prefixes, plus relayed links 2001:db8:2::/64 and 2001:db8:3::/64.
func basicConfig() Config {
	return Config{
		ServerDUID: testServerDUID,
		Preference: 10,
		Valid:      time.Hour,
		Preferred:  30 * time.Minute,
		Subnets: []SubnetConfig{{
			Prefix:    mustPrefix("2001:db8:1::/64"),
			Interface: "eth0",
			Pools:     []Pool{{Start: mustAddr("2001:db8:1::1000"), End: mustAddr("2001:db8:1::1fff")}},
			PDPools:   []PDPool{{Prefix: mustPrefix("2001:db8:100::/48"), DelegatedLen: 56}},
		}, {
			Prefix:  mustPrefix("2001:db8:2::/64"),
			Pools:   []Pool{{Start: mustAddr("2001:db8:2::1000"), End: mustAddr("2001:db8:2::1fff")}},
			PDPools: []PDPool{{Prefix: mustPrefix("2001:db8:200::/48"), DelegatedLen: 60}},
		}, {
			Prefix: mustPrefix("2001:db8:3::/64"),
			Pools:  []Pool{{Start: mustAddr("2001:db8:3::10"), End: mustAddr("2001:db8:3::13")}},
		}},
	}
}

// advance moves the clock by d without telling the engine.
func (tr *tester) advance(d time.Duration) { tr.now = tr.now.Add(d) }

// tick moves the clock by d and steps a tick.
func (tr *tester) tick(d time.Duration) *result {
	tr.tb.Helper()
	tr.advance(d)
	if err := tr.e.Step(tr.now, Input{Kind: InputTick}); err != nil {
		tr.tb.Fatalf("Step(tick): %v", err)
	}
	return tr.take(nil)
}

// send encodes m, decodes it into a wire.Packet and steps it; a direct
// message comes in on eth0 by multicast unless h says otherwise.
func (tr *tester) send(m tMsg, h ...how) *result {
	tr.tb.Helper()
	hw := how{iface: "eth0"}
	if len(h) > 0 {
		hw = h[0]
	}
	if len(m.relays) > 0 && len(h) == 0 {
		hw.iface = ""
	}
	if m.xid == 0 {
		tr.xid++
		m.xid = tr.xid
	}
	tr.buf = m.appendTo(tr.buf[:0])
	if err := tr.pkt.Decode(tr.buf); err != nil {
		tr.tb.Fatalf("decoding our own %v: %v", m.typ, err)
	}
	before := tr.e.Counters.Dropped
	to := Dest{Addr: netip.AddrPortFrom(mustAddr("fe80::c"), 546), IfIndex: 2, Socket: 1}
	if err := tr.e.Step(tr.now, Input{Kind: InputClient, Pkt: &tr.pkt, Iface: hw.iface, Multicast: !hw.unicast, To: to}); err != nil {
		tr.tb.Fatalf("Step: %v", err)
	}
	r := tr.take(&before)
	tr.remember(m, r)
	return r
}

// take collects a Ready and advances.
func (tr *tester) take(before *[dropReasons]uint64) *result {
	rd := tr.e.Ready()
	r := &result{events: slices.Clone(rd.Events)}
	for _, rp := range rd.Replies {
		if tr.onReply != nil {
			tr.onReply(rp.Data)
		}
		r.replies = append(r.replies, bytes.Clone(rp.Data))
		r.to = append(r.to, rp.To)
	}
	if before != nil {
		for i, n := range tr.e.Counters.Dropped {
			if n != before[i] {
				r.dropped = append(r.dropped, DropReason(i))
			}
		}
	}
	tr.e.Advance(rd)
	return r
}

// remember updates what each client IA holds from the replies it got.
func (tr *tester) remember(m tMsg, r *result) {
	c := clientOf(m.client)
	if c < 0 {
		return
	}
	if m.typ == wire.Release || m.typ == wire.Decline {
		for _, ia := range m.na {
			delete(tr.held, heldKey{c, KindNA, ia.iaid})
		}
		if m.typ == wire.Release {
			for _, ia := range m.pd {
				delete(tr.held, heldKey{c, KindPD, ia.iaid})
			}
		}
		return
	}
	for _, raw := range r.replies {
		var p wire.Packet
		if p.Decode(raw) != nil {
			continue
		}
		msg := &p.Msg
		if msg.Type != wire.Advertise && msg.Type != wire.Reply {
			continue
		}
		for i := 0; i < msg.NumIANA; i++ {
			ia := &msg.IANA[i]
			var got []netip.Prefix
			for j := 0; j < ia.NumAddrs; j++ {
				if ia.Addrs[j].Valid > 0 {
					got = append(got, netip.PrefixFrom(ia.Addrs[j].Addr, 128))
				}
			}
			tr.setHeld(heldKey{c, KindNA, ia.IAID}, got)
		}
		for i := 0; i < msg.NumIAPD; i++ {
			ia := &msg.IAPD[i]
			var got []netip.Prefix
			for j := 0; j < ia.NumPrefixes; j++ {
				if ia.Prefixes[j].Valid > 0 {
					got = append(got, ia.Prefixes[j].Prefix)
				}
			}
			tr.setHeld(heldKey{c, KindPD, ia.IAID}, got)
		}
	}
}

func (tr *tester) setHeld(k heldKey, got []netip.Prefix) {
	if len(got) == 0 {
		delete(tr.held, k)
		return
	}
	tr.held[k] = got
}

// heldNA returns the addresses client c's IA_NA iaid was last given.
func (tr *tester) heldNA(c int, iaid uint32) []netip.Addr {
	var out []netip.Addr
	for _, p := range tr.held[heldKey{c, KindNA, iaid}] {
		out = append(out, p.Addr())
	}
	return out
}

// heldPD returns the prefixes client c's IA_PD iaid was last given.
func (tr *tester) heldPD(c int, iaid uint32) []netip.Prefix {
	return slices.Clone(tr.held[heldKey{c, KindPD, iaid}])
}

// msgFor builds a typical message of type t from client c with one IA_NA
// and/or IA_PD (iaid 1) listing what the client holds, and SERVERID where
// RFC 8415 requires it.
func (tr *tester) msgFor(t wire.MsgType, c int, na, pd bool) tMsg {
	m := tMsg{typ: t, client: clientDUID(c)}
	switch t {
	case wire.Request, wire.Renew, wire.Release, wire.Decline:
		m.server = tr.e.Config().ServerDUID
	}
	if na {
		m.na = []tIA{{iaid: 1, addrs: tr.heldNA(c, 1)}}
	}
	if pd {
		m.pd = []tIA{{iaid: 1, prefixes: tr.heldPD(c, 1)}}
	}
	return m
}

// lease runs SOLICIT/ADVERTISE/REQUEST/REPLY for client c (IA_NA and/or
// IA_PD, iaid 1) and returns the REPLY.
func (tr *tester) lease(c int, na, pd bool, relays ...tRelay) *wire.Packet {
	tr.tb.Helper()
	m := tr.msgFor(wire.Solicit, c, na, pd)
	m.relays = relays
	tr.send(m).reply(tr.tb)
	m = tr.msgFor(wire.Request, c, na, pd)
	m.relays = relays
	return tr.send(m).reply(tr.tb)
}

// --- printing ----------------------------------------------------------------

var wireStatusNames = map[uint16]string{
	wire.StatusSuccess: "Success", wire.StatusUnspecFail: "UnspecFail", wire.StatusNoAddrsAvail: "NoAddrsAvail",
	wire.StatusNoBinding: "NoBinding", wire.StatusNotOnLink: "NotOnLink", wire.StatusUseMulticast: "UseMulticast",
	wire.StatusNoPrefixAvail: "NoPrefixAvail",
}

func statusName(c uint16) string {
	if s, ok := wireStatusNames[c]; ok {
		return s
	}
	return fmt.Sprintf("status(%d)", c)
}

// rel prints a Unix time relative to t0.
func rel(sec int64) string { return fmt.Sprintf("%+d", sec-t0.Unix()) }

// formatReply decodes an encoded reply and prints it, relay layers first.
func formatReply(raw []byte, serverDUID []byte) string {
	var p wire.Packet
	if err := p.Decode(raw); err != nil {
		return fmt.Sprintf("undecodable reply: %v\n", err)
	}
	var sb strings.Builder
	ind := ""
	for i := 0; i < p.NumRelays; i++ {
		r := &p.Relays[i]
		fmt.Fprintf(&sb, "%s%v hops=%d link=%v peer=%v", ind, r.Type, r.HopCount, r.LinkAddr, r.PeerAddr)
		if r.InterfaceID != nil {
			fmt.Fprintf(&sb, " interface-id=%q", r.InterfaceID)
		}
		sb.WriteByte('\n')
		ind += "  "
	}
	m := &p.Msg
	fmt.Fprintf(&sb, "%s%v xid=%02x%02x%02x", ind, m.Type, m.XID[0], m.XID[1], m.XID[2])
	switch {
	case m.ClientID == nil:
		sb.WriteString(" client=none")
	default:
		fmt.Fprintf(&sb, " client=%s", clientName(string(m.ClientID)))
	}
	switch {
	case m.ServerID == nil:
		sb.WriteString(" server=none")
	case bytes.Equal(m.ServerID, serverDUID):
	default:
		fmt.Fprintf(&sb, " server=%x", m.ServerID)
	}
	if m.HasPreference {
		fmt.Fprintf(&sb, " preference=%d", m.Preference)
	}
	if m.RapidCommit {
		sb.WriteString(" rapid-commit")
	}
	sb.WriteByte('\n')
	ind += "  "
	if m.HasStatus {
		fmt.Fprintf(&sb, "%sstatus %s %q\n", ind, statusName(m.Status), m.StatusMsg)
	}
	printIA := func(name string, ia *wire.IA) {
		fmt.Fprintf(&sb, "%s%s iaid=%d", ind, name, ia.IAID)
		if name != "ia_ta" {
			fmt.Fprintf(&sb, " t1=%d t2=%d", ia.T1, ia.T2)
		}
		if ia.HasStatus {
			fmt.Fprintf(&sb, " status=%s", statusName(ia.Status))
		}
		sb.WriteByte('\n')
		for j := 0; j < ia.NumAddrs; j++ {
			a := &ia.Addrs[j]
			fmt.Fprintf(&sb, "%s  addr %v pref=%d valid=%d\n", ind, a.Addr, a.Preferred, a.Valid)
		}
		for j := 0; j < ia.NumPrefixes; j++ {
			a := &ia.Prefixes[j]
			fmt.Fprintf(&sb, "%s  prefix %v pref=%d valid=%d\n", ind, a.Prefix, a.Preferred, a.Valid)
		}
	}
	for i := 0; i < m.NumIANA; i++ {
		printIA("ia_na", &m.IANA[i])
	}
	for i := 0; i < m.NumIATA; i++ {
		printIA("ia_ta", &m.IATA[i])
	}
	for i := 0; i < m.NumIAPD; i++ {
		printIA("ia_pd", &m.IAPD[i])
	}
	if m.DNSServers != nil {
		fmt.Fprintf(&sb, "%sdns-servers", ind)
		for i := 0; i+16 <= len(m.DNSServers); i += 16 {
			fmt.Fprintf(&sb, " %v", netip.AddrFrom16([16]byte(m.DNSServers[i:i+16])))
		}
		sb.WriteByte('\n')
	}
	if m.DomainList != nil {
		fmt.Fprintf(&sb, "%sdomain-list %s\n", ind, strings.Join(decodeDomains(m.DomainList), " "))
	}
	return sb.String()
}

// decodeDomains reads RFC 1035 names (no compression, as RFC 8415 §10 says).
func decodeDomains(b []byte) []string {
	var out, labels []string
	for len(b) > 0 {
		n := int(b[0])
		b = b[1:]
		if n == 0 {
			out = append(out, strings.Join(labels, ".")+".")
			labels = nil
			continue
		}
		if n > len(b) {
			return append(out, "<truncated>")
		}
		labels = append(labels, string(b[:n]))
		b = b[n:]
	}
	if labels != nil {
		out = append(out, strings.Join(labels, ".")+"<unterminated>")
	}
	return out
}

// formatBinding prints a lease record on one line.
func formatBinding(b *Binding) string {
	var sb strings.Builder
	p := b.Prefix.String()
	if b.Kind == KindNA {
		p = b.Prefix.Addr().String()
	}
	fmt.Fprintf(&sb, "%v %s client=%s iaid=%d %v start=%s cltt=%s", b.Kind, p, clientName(b.DUID), b.IAID, b.Status,
		rel(b.StartOfState), rel(b.CLTT))
	if b.Status == StatusActive {
		fmt.Fprintf(&sb, " expires=%s pref=%d valid=%d", rel(b.Expires), b.Preferred, b.Valid)
	}
	if b.Link.IsValid() && !b.Link.IsUnspecified() {
		fmt.Fprintf(&sb, " link=%v", b.Link)
	}
	if b.RemoteID != "" {
		fmt.Fprintf(&sb, " remote-id=%x", b.RemoteID)
	}
	return sb.String()
}

func formatEvent(ev *Event) string {
	return fmt.Sprintf("event %v %s (%v)", ev.Kind, formatBinding(&ev.Binding), ev.Why)
}

// formatResult prints the replies then the events of one input.
func formatResult(r *result, serverDUID []byte) string {
	var sb strings.Builder
	for _, raw := range r.replies {
		sb.WriteString(formatReply(raw, serverDUID))
	}
	if len(r.replies) == 0 {
		sb.WriteString("no reply")
		for _, d := range r.dropped {
			fmt.Fprintf(&sb, " (dropped: %v)", d)
		}
		sb.WriteByte('\n')
	}
	sb.WriteString(formatEvents(r.events))
	return sb.String()
}

func formatEvents(evs []Event) string {
	var sb strings.Builder
	for i := range evs {
		sb.WriteString(formatEvent(&evs[i]))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// bindings returns every record, sorted by kind and resource.
func bindings(e *Engine) []Binding {
	var out []Binding
	e.ForEach(func(b *Binding) bool {
		out = append(out, *b)
		return true
	})
	slices.SortFunc(out, func(a, b Binding) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// formatLeases dumps the whole lease state.
func formatLeases(e *Engine) string {
	var sb strings.Builder
	for _, b := range bindings(e) {
		sb.WriteString(formatBinding(&b))
		sb.WriteByte('\n')
	}
	na, pd := e.Active()
	fmt.Fprintf(&sb, "records=%d active-na=%d active-pd=%d\n", e.Len(), na, pd)
	return sb.String()
}

// --- invariants --------------------------------------------------------------

// checkInvariants verifies the engine's internal structures agree with its
// records: the expiry heap, the client index, the counts and the digest.
func checkInvariants(t testing.TB, e *Engine) {
	t.Helper()
	var digest uint64
	var counts [3][NumStatuses]int
	inHeap := 0
	all := map[*Lease]bool{}
	inIndex := map[*Lease]bool{}
	e.clients.each(func(c *Lease) bool { inIndex[c] = true; return true })
	check := func(m map[netip.Addr]*Lease, k Kind) {
		for a, l := range m {
			all[l] = true
			if l.Kind != k || l.Prefix.Addr() != a {
				t.Fatalf("record %v filed under %v %v", formatBinding(&l.Binding), k, a)
			}
			digest += bindingHash(&l.Binding) // a record changed behind account's back shows below
			counts[k][statusIndex(l.Status)]++
			if l.heapIdx < 0 || int(l.heapIdx) >= e.exp.len() || e.exp.items[l.heapIdx] != l {
				t.Fatalf("record %v not in the expiry heap", formatBinding(&l.Binding))
			}
			if e.exp.due[l.heapIdx] != e.due(l) {
				t.Fatalf("record %v due %d in heap, want %d", formatBinding(&l.Binding), e.exp.due[l.heapIdx], e.due(l))
			}
			inHeap++
			if found := inIndex[l]; !found && l.DUID != "" { // no client: not indexed (index)
				t.Fatalf("record %v missing from the client index", formatBinding(&l.Binding))
			}
			if int(l.subnet) != e.subnetOf(l.Kind, l.Prefix) {
				t.Fatalf("record %v has subnet %d, want %d", formatBinding(&l.Binding), l.subnet, e.subnetOf(l.Kind, l.Prefix))
			}
		}
	}
	check(tableMap(t, &e.na), KindNA)
	check(tableMap(t, &e.pd), KindPD)
	for i := range e.rels {
		digest += e.rels[i].digest // the stored endpoint images' shares
	}
	if digest != e.digest {
		t.Fatalf("digest %x, records sum to %x", e.digest, digest)
	}
	if counts != e.counts {
		t.Fatalf("counts by kind and status %v, records say %v", e.counts, counts)
	}
	if inHeap != e.exp.len() {
		t.Fatalf("heap holds %d items, %d records", e.exp.len(), inHeap)
	}
	for i := 1; i < e.exp.len(); i++ {
		if e.exp.due[(i-1)/2] > e.exp.due[i] {
			t.Fatalf("heap order broken at %d", i)
		}
	}
	indexed := 0
	e.clients.each(func(c *Lease) bool {
		if !all[c] {
			t.Fatalf("client index holds a dead record %v", formatBinding(&c.Binding))
		}
		if e.clients.find(c.Kind, []byte(c.DUID), c.IAID, int(c.subnet)) == nil {
			t.Fatalf("client index: %v not found under its IA", formatBinding(&c.Binding))
		}
		indexed++
		return true
	})
	withClient := 0
	for l := range all {
		if l.DUID != "" {
			withClient++
		}
	}
	if indexed != withClient {
		t.Fatalf("client index holds %d records, maps %d with a client", indexed, withClient)
	}
	// The unacked sets hold exactly the records a scan finds unacked.
	walked := map[*Binding]int{}
	for r := range e.rels {
		n := 0
		e.ForEachUnacked(r, func(b *Binding) bool {
			n++
			l := e.mapFor(b.Kind).get(b.Prefix.Addr())
			if l == nil || &l.Binding != b || !all[l] || e.unackedRel(l) != r {
				t.Fatalf("relationship %d's unacked set holds %v, not unacked there", r, formatBinding(b))
			}
			if _, dup := walked[b]; dup {
				t.Fatalf("%v walked twice", formatBinding(b))
			}
			walked[b] = r
			return true
		})
		if n != e.rels[r].unacked.len() {
			t.Fatalf("relationship %d: unacked set walks %d, counts %d", r, n, e.rels[r].unacked.len())
		}
	}
	for l := range all {
		if r, in := walked[&l.Binding]; e.unackedRel(l) >= 0 && (!in || r != e.unackedRel(l)) {
			t.Fatalf("unacked record %v missing from relationship %d's unacked set", formatBinding(&l.Binding), e.unackedRel(l))
		}
	}
}

// tableMap lists a lease table's records by address, checking that each
// is found where get looks for it and that the count is right.
func tableMap(t testing.TB, tb *leaseTable) map[netip.Addr]*Lease {
	t.Helper()
	m := map[netip.Addr]*Lease{}
	tb.each(func(l *Lease) bool {
		a := l.Prefix.Addr()
		if _, dup := m[a]; dup {
			t.Fatalf("two records filed under %v", a)
		}
		if tb.get(a) != l {
			t.Fatalf("record %v not found under its address", formatBinding(&l.Binding))
		}
		m[a] = l
		return true
	})
	if len(m) != tb.len() {
		t.Fatalf("lease table counts %d records, holds %d", tb.len(), len(m))
	}
	return m
}

// dnsOption and domainOption build the stateless options the tests set.
func dnsOption(addrs ...string) Option {
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, mustAddr(a))
	}
	return Option{Code: wire.OptDNSServers, Data: wire.AddrListData(as)}
}

func domainOption(names ...string) Option {
	b, err := wire.DomainListData(names)
	if err != nil {
		panic(err)
	}
	return Option{Code: wire.OptDomainList, Data: b}
}

package main

// An independent reading of the captured DHCPv6 traffic: Wireshark's
// dissector (tshark), not our own parser, says what was on the wire.
//
// tsharkRead runs `tshark -r FILE -T json -x --no-duplicate-keys`, which
// prints every field the dissector found with its position in the frame
// (the "_raw" twins: hex, offset, length). From those positions it rebuilds
// the messages (a RELAY-FORW/REPL and the message inside it) and their
// options (sub-options inside their parent's data), and fails the test if
//
//   - a packet is malformed (_ws.malformed) or has an expert info of
//     severity warning or error (_ws.expert.severity), unless a real
//     client sent it (from port 546: logged only; the server's answers,
//     relay messages and tandem bench's packets are held to it);
//   - a packet to or from port 546/547 was not dissected as DHCPv6;
//   - the options the dissector found do not cover a message, an IA or an
//     IA address/prefix exactly: tshark stops quietly at an option that
//     runs past the end of its container, so bytes it skipped are caught
//     here.
//
// Option data is taken from the frame bytes at the positions the dissector
// gave (for options it decodes no field of, SOL_MAX_RT and INF_MAX_RT in
// tshark 4.0 among them).

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Expert info severities (epan/proto.h PI_*).
const (
	tsSevWarn  = 0x00600000
	tsSevError = 0x00800000
)

type tsField struct {
	name, value string
	pos, len    int
}

type tsPacket struct {
	frame          int
	ts             time.Time
	src, dst       string // IPv6 addresses
	sport, dport   int
	raw            []byte // the frame
	fields         []tsField
	problems       []string // malformed, expert warnings/errors, undissected bytes
	msgs           []*tsMsg // every DHCPv6 message, outermost first
	payloadPos     int      // the DHCPv6 layer's extent in the frame
	payloadEnd     int
	dissectedDHCP6 bool
}

// tsMsg is one DHCPv6 message: a client/server message, or a relay message
// whose RELAY_MSG option holds the next.
type tsMsg struct {
	typ      int
	pos, end int // frame offsets: the msg-type byte, the end
	opts     []*tsOpt
	inner    *tsMsg // relay messages: the message in RELAY_MSG
	pkt      *tsPacket
}

// tsOpt is one option: code, data (from the frame), and the options the
// dissector found inside its data.
type tsOpt struct {
	code        int
	pos, data0  int // the option-code offset, the data offset
	end         int
	data        []byte
	sub         []*tsOpt
	pkt         *tsPacket
	parentIsOpt bool
}

var tsMsgNames = map[int]string{1: "SOLICIT", 2: "ADVERTISE", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW", 6: "REBIND",
	7: "REPLY", 8: "RELEASE", 9: "DECLINE", 10: "RECONFIGURE", 11: "INFORMATION-REQUEST", 12: "RELAY-FORW", 13: "RELAY-REPL"}

func tsMsgName(t int) string {
	if n, ok := tsMsgNames[t]; ok {
		return n
	}
	return "type" + strconv.Itoa(t)
}

// client returns the innermost message: what the client sent or is sent.
func (p *tsPacket) client() *tsMsg {
	if len(p.msgs) == 0 {
		return nil
	}
	m := p.msgs[0]
	for m.inner != nil {
		m = m.inner
	}
	return m
}

// outer returns the outermost message.
func (p *tsPacket) outer() *tsMsg {
	if len(p.msgs) == 0 {
		return nil
	}
	return p.msgs[0]
}

func (p *tsPacket) String() string {
	var chain []string
	for m := p.outer(); m != nil; m = m.inner {
		chain = append(chain, tsMsgName(m.typ))
	}
	return fmt.Sprintf("frame %d %s [%s]:%d → [%s]:%d %s", p.frame, p.ts.Format("15:04:05.000"), p.src, p.sport, p.dst, p.dport,
		strings.Join(chain, "/"))
}

// fieldsIn returns the values of field name found in [lo, hi) of the frame.
func (p *tsPacket) fieldsIn(name string, lo, hi int) []string {
	var out []string
	for _, f := range p.fields {
		if f.name == name && f.pos >= lo && f.pos < hi {
			out = append(out, f.value)
		}
	}
	return out
}

// opt returns the message's first option with this code (nil: none).
func (m *tsMsg) opt(code int) *tsOpt {
	for _, o := range m.opts {
		if o.code == code {
			return o
		}
	}
	return nil
}

func (m *tsMsg) optsOf(code int) []*tsOpt {
	var out []*tsOpt
	for _, o := range m.opts {
		if o.code == code {
			out = append(out, o)
		}
	}
	return out
}

// codes lists the message's option codes, in order.
func (m *tsMsg) codes() []int {
	var out []int
	for _, o := range m.opts {
		out = append(out, o.code)
	}
	return out
}

func (m *tsMsg) has(code int) bool { return m.opt(code) != nil }

// fields returns every value of a dissector field inside the message.
func (m *tsMsg) fields(name string) []string { return m.pkt.fieldsIn(name, m.pos, m.end) }

func (m *tsMsg) field(name string) string {
	if v := m.fields(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (o *tsOpt) fields(name string) []string { return o.pkt.fieldsIn(name, o.pos, o.end) }

func (o *tsOpt) field(name string) string {
	if v := o.fields(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// u32 reads a 4-byte option's value (SOL_MAX_RT, INF_MAX_RT,
// INFORMATION_REFRESH_TIME); -1 when it is not 4 bytes.
func (o *tsOpt) u32() int64 {
	if o == nil || len(o.data) != 4 {
		return -1
	}
	return int64(binary.BigEndian.Uint32(o.data))
}

func (o *tsOpt) subOf(code int) []*tsOpt {
	var out []*tsOpt
	for _, s := range o.sub {
		if s.code == code {
			out = append(out, s)
		}
	}
	return out
}

// tsLease is an address or prefix in an IA, as the dissector read it.
type tsLease struct {
	kind             string // na, pd
	iaid             string // hex, as tshark prints it
	resource         string // canonical address or prefix
	preferred, valid int64
}

// leases returns the IA_NA addresses and IA_PD prefixes of the message.
func (m *tsMsg) leases() []tsLease {
	var out []tsLease
	atoi := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	for _, ia := range m.optsOf(3) {
		for _, a := range ia.subOf(5) {
			out = append(out, tsLease{"na", ia.field("dhcpv6.iaid"), canon("na", a.field("dhcpv6.iaaddr.ip")),
				atoi(a.field("dhcpv6.iaaddr.pref_lifetime")), atoi(a.field("dhcpv6.iaaddr.valid_lifetime"))})
		}
	}
	for _, ia := range m.optsOf(25) {
		for _, p := range ia.subOf(26) {
			out = append(out, tsLease{"pd", ia.field("dhcpv6.iaid"),
				canon("pd", p.field("dhcpv6.iaprefix.pref_addr")+"/"+p.field("dhcpv6.iaprefix.pref_len")),
				atoi(p.field("dhcpv6.iaprefix.pref_lifetime")), atoi(p.field("dhcpv6.iaprefix.valid_lifetime"))})
		}
	}
	return out
}

// status returns the message-level status code (-1: none).
func (m *tsMsg) status() int {
	if o := m.opt(13); o != nil && len(o.data) >= 2 {
		return int(binary.BigEndian.Uint16(o.data))
	}
	return -1
}

// tsharkRead decodes a pcap with tshark and fails the test on any problem
// listed at the top of this file. It returns the DHCPv6 packets.
func tsharkRead(t *testing.T, pcap string) []*tsPacket {
	t.Helper()
	pkts, err := tsharkDecode(pcap)
	if err != nil {
		t.Fatalf("tshark %s: %v", pcap, err)
	}
	bad := 0
	for _, p := range pkts {
		for _, pr := range p.problems {
			// A real client's own packets (from port 546) are its
			// business: noted, not failed. BusyBox udhcpc6 sends a
			// CLIENT_FQDN with an empty (root-only) name, which tshark
			// flags as an error.
			if p.sport == 546 && p.dport == 547 {
				t.Logf("tshark: client's packet (not failed): %s: %s", p, pr)
				continue
			}
			bad++
			if bad <= 20 {
				t.Errorf("tshark: %s: %s", p, pr)
			}
		}
	}
	if bad > 0 {
		dump := pcap + ".txt"
		out, _ := exec.Command(tool("tshark"), "-r", pcap, "-V", "-O", "dhcpv6").Output()
		_ = os.WriteFile(dump, out, 0o644)
		t.Errorf("tshark found %d problems in %s (decoded text in %s):\n%s", bad, pcap, dump, tail(string(out), 120))
	}
	return pkts
}

// tsharkDecode runs tshark on pcap and rebuilds the DHCPv6 messages.
func tsharkDecode(pcap string) ([]*tsPacket, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool("tshark"), "-n", "-r", pcap, "-T", "json", "-x", "--no-duplicate-keys")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, tail(stderr.String(), 10))
	}
	var docs []struct {
		Source struct {
			Layers map[string]json.RawMessage `json:"layers"`
		} `json:"_source"`
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &docs); err != nil {
		return nil, fmt.Errorf("tshark JSON: %v", err)
	}
	var pkts []*tsPacket
	for _, d := range docs {
		p := &tsPacket{}
		var frameRaw []any
		if raw, ok := d.Source.Layers["frame_raw"]; ok {
			_ = json.Unmarshal(raw, &frameRaw)
		}
		if len(frameRaw) > 0 {
			if h, ok := frameRaw[0].(string); ok {
				p.raw, _ = hex.DecodeString(h)
			}
		}
		for name, raw := range d.Source.Layers {
			if strings.HasSuffix(name, "_raw") {
				continue
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("tshark JSON layer %s: %v", name, err)
			}
			if name == "_ws.malformed" {
				p.problems = append(p.problems, "malformed packet")
			}
			p.walk(v)
			if name == "dhcpv6" {
				p.dissectedDHCP6 = true
				var lr []any
				if r, ok := d.Source.Layers["dhcpv6_raw"]; ok && json.Unmarshal(r, &lr) == nil && len(lr) >= 3 {
					if pos, ok := lr[1].(float64); ok {
						p.payloadPos = int(pos)
					}
					if n, ok := lr[2].(float64); ok {
						p.payloadEnd = p.payloadPos + int(n)
					}
				}
			}
		}
		sort.SliceStable(p.fields, func(i, j int) bool { return p.fields[i].pos < p.fields[j].pos })
		p.frame, _ = strconv.Atoi(p.first("frame.number"))
		if s := p.first("frame.time_epoch"); s != "" {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				p.ts = time.Unix(0, int64(f*1e9))
			}
		}
		p.src, p.dst = p.first("ipv6.src"), p.first("ipv6.dst")
		p.sport, _ = strconv.Atoi(p.first("udp.srcport"))
		p.dport, _ = strconv.Atoi(p.first("udp.dstport"))
		dhcpPorts := p.sport == 546 || p.sport == 547 || p.dport == 546 || p.dport == 547
		if !p.dissectedDHCP6 {
			if dhcpPorts {
				p.problems = append(p.problems, "UDP to/from a DHCPv6 port not dissected as DHCPv6")
				pkts = append(pkts, p)
			}
			continue
		}
		p.build()
		pkts = append(pkts, p)
	}
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].frame < pkts[j].frame })
	return pkts, nil
}

func (p *tsPacket) first(name string) string {
	for _, f := range p.fields {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// walk collects every field with its position, and expert infos.
func (p *tsPacket) walk(v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			p.walk(e)
		}
	case map[string]any:
		if sev, ok := x["_ws.expert.severity"]; ok {
			n, _ := strconv.ParseInt(fmt.Sprint(sev), 0, 64)
			if n >= tsSevWarn {
				level := "warning"
				if n >= tsSevError {
					level = "error"
				}
				p.problems = append(p.problems, fmt.Sprintf("expert info (%s): %v", level, x["_ws.expert.message"]))
			}
		}
		for k, val := range x {
			if strings.HasSuffix(k, "_raw") {
				continue
			}
			if k == "_ws.malformed" || strings.HasPrefix(k, "_ws.malformed.") {
				p.problems = append(p.problems, "malformed: "+fmt.Sprint(val))
			}
			raw, hasRaw := x[k+"_raw"]
			if !hasRaw {
				// Generated fields (frame.number, …) have no bytes.
				switch s := val.(type) {
				case string:
					p.fields = append(p.fields, tsField{k, s, -1, 0})
				case []any:
					for _, e := range s {
						if es, ok := e.(string); ok {
							p.fields = append(p.fields, tsField{k, es, -1, 0})
						} else {
							p.walk(e)
						}
					}
				default:
					p.walk(val)
				}
				continue
			}
			// One occurrence: "v" and [hex, pos, len, ...]; several:
			// ["v1", ...] and [[hex, pos, len, ...], ...].
			vals, raws := []any{val}, []any{raw}
			if a, ok := val.([]any); ok {
				if ra, ok := raw.([]any); ok && len(ra) > 0 {
					if _, nested := ra[0].([]any); nested {
						vals, raws = a, ra
					}
				}
			}
			for i := range vals {
				if i >= len(raws) {
					break
				}
				r, ok := raws[i].([]any)
				if !ok || len(r) < 3 {
					continue
				}
				pos, _ := r[1].(float64)
				n, _ := r[2].(float64)
				switch s := vals[i].(type) {
				case string:
					p.fields = append(p.fields, tsField{k, s, int(pos), int(n)})
				default:
					p.walk(s)
				}
			}
		}
	}
}

// build rebuilds messages and options from the field positions.
func (p *tsPacket) build() {
	var opts []*tsOpt
	for _, f := range p.fields {
		if f.name != "dhcpv6.option.type" {
			continue
		}
		code, _ := strconv.Atoi(f.value)
		o := &tsOpt{code: code, pos: f.pos, data0: f.pos + 4, pkt: p}
		if f.pos+4 > len(p.raw) {
			p.problems = append(p.problems, fmt.Sprintf("option %d at %d: header past the frame", code, f.pos))
			continue
		}
		n := int(binary.BigEndian.Uint16(p.raw[f.pos+2:]))
		o.end = o.data0 + n
		if o.end > len(p.raw) {
			p.problems = append(p.problems, fmt.Sprintf("option %d at %d: length %d past the frame", code, f.pos, n))
			o.end = len(p.raw)
		}
		o.data = p.raw[o.data0:o.end]
		opts = append(opts, o)
	}
	// Messages: the outermost spans the DHCPv6 layer; an inner one spans
	// its RELAY_MSG option's data.
	for _, f := range p.fields {
		if f.name != "dhcpv6.msgtype" {
			continue
		}
		typ, _ := strconv.Atoi(f.value)
		m := &tsMsg{typ: typ, pos: f.pos, end: p.payloadEnd, pkt: p}
		for _, o := range opts {
			if o.code == 9 && o.data0 == f.pos {
				m.end = o.end
			}
		}
		p.msgs = append(p.msgs, m)
	}
	if len(p.msgs) == 0 {
		p.problems = append(p.problems, "no DHCPv6 message type")
		return
	}
	for i := 0; i+1 < len(p.msgs); i++ {
		p.msgs[i].inner = p.msgs[i+1]
	}
	// Each option belongs to the innermost option whose data holds it, or
	// else to the innermost message holding it.
	for _, o := range opts {
		var parent *tsOpt
		for _, q := range opts {
			if q != o && o.pos >= q.data0 && o.pos < q.end && q.code != 9 &&
				(parent == nil || q.data0 >= parent.data0) {
				parent = q
			}
		}
		if parent != nil {
			parent.sub = append(parent.sub, o)
			o.parentIsOpt = true
			continue
		}
		var mp *tsMsg
		for _, m := range p.msgs {
			if o.pos > m.pos && o.pos < m.end {
				mp = m // msgs are outermost first: the last match is innermost
			}
		}
		if mp == nil {
			p.problems = append(p.problems, fmt.Sprintf("option %d at %d outside every message", o.code, o.pos))
			continue
		}
		mp.opts = append(mp.opts, o)
	}
	// Coverage: the dissected options must tile each message and each
	// container option (IA_NA, IA_TA, IA_PD, IAADDR, IAPREFIX) exactly.
	for _, m := range p.msgs {
		hdr := 4
		if m.typ == 12 || m.typ == 13 {
			hdr = 34
		}
		p.tile(fmt.Sprintf("%s message", tsMsgName(m.typ)), m.pos+hdr, m.end, m.opts)
	}
	containerHdr := map[int]int{3: 12, 4: 4, 25: 12, 5: 24, 26: 25}
	for _, o := range opts {
		if h, ok := containerHdr[o.code]; ok {
			p.tile(fmt.Sprintf("option %d", o.code), o.data0+h, o.end, o.sub)
		}
	}
}

func (p *tsPacket) tile(what string, lo, hi int, opts []*tsOpt) {
	at := lo
	for _, o := range opts {
		if o.pos != at {
			p.problems = append(p.problems, fmt.Sprintf("%s: bytes %d-%d not dissected as options (next option at %d)", what, at, o.pos, o.pos))
			return
		}
		at = o.end
	}
	if at != hi {
		p.problems = append(p.problems, fmt.Sprintf("%s: options end at %d, the %s ends at %d: %d bytes not dissected", what, at, what, hi, hi-at))
	}
}

// tsOfType filters packets by their client-level message type (0: any).
func tsOfType(pkts []*tsPacket, typ int) []*tsPacket {
	var out []*tsPacket
	for _, p := range pkts {
		if m := p.client(); m != nil && (typ == 0 || m.typ == typ) {
			out = append(out, p)
		}
	}
	return out
}

// tsSummary is a one-line-per-packet account for logs.
func tsSummary(pkts []*tsPacket) string {
	var b strings.Builder
	for _, p := range pkts {
		m := p.client()
		fmt.Fprintf(&b, "%s opts %v", p, m.codes())
		for _, l := range m.leases() {
			fmt.Fprintf(&b, " %s %s %d/%d", l.kind, l.resource, l.preferred, l.valid)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// tsPcap is the path of a capture named name in tp's directory.
func tsPcap(tp *topo, name string) string { return filepath.Join(tp.dir, name+".pcap") }

// addrIn reports whether address s is in [lo, hi].
func addrIn(s, lo, hi string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return a.Compare(netip.MustParseAddr(lo)) >= 0 && a.Compare(netip.MustParseAddr(hi)) <= 0
}

package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Options and client classes: an options mapping is read the same way at
// every level (top level, subnets, pools, pd-pools, classes,
// reservations), each key becoming one engine.Option whose data is
// encoded here, once, in wire format.

// Valid keys, in the order error messages list them. The named option keys
// are also the order their options are kept in; custom options follow in
// file order.
var (
	optionKeys = []string{"dns-servers", "domain-search", "ntp-servers", "sntp-servers", "aftr-name",
		"sol-max-rt", "inf-max-rt", "information-refresh-time", "vendor-opts", "custom"}
	vendorKeys = []string{"enterprise", "sub-options"}
	typedKeys  = []string{"code", "type", "value"}
	dataTypes  = []string{"hex", "string", "ipv6", "ipv6-list", "u8", "u16", "u32", "fqdn", "fqdn-list"}
	classKeys  = []string{"name", "match", "options"}
	matchKeys  = []string{"remote-id", "interface-id", "subscriber-id", "vendor-class", "user-class", "duid", "link"}
)

// namedCodes are the option codes with a named key, which custom refuses.
var namedCodes = map[uint16][2]string{
	wire.OptVendorOpts:  {"VENDOR_OPTS", "vendor-opts"},
	wire.OptDNSServers:  {"DNS_SERVERS", "dns-servers"},
	wire.OptDomainList:  {"DOMAIN_LIST", "domain-search"},
	wire.OptSNTPServers: {"SNTP_SERVERS", "sntp-servers"},
	wire.OptInfoRefresh: {"INFORMATION_REFRESH_TIME", "information-refresh-time"},
	wire.OptNTPServer:   {"NTP_SERVER", "ntp-servers"},
	wire.OptAFTRName:    {"AFTR_NAME", "aftr-name"},
	wire.OptSolMaxRT:    {"SOL_MAX_RT", "sol-max-rt"},
	wire.OptInfMaxRT:    {"INF_MAX_RT", "inf-max-rt"},
}

// RefusedCustomCodes are the option codes custom refuses, each with its
// name and why: the server builds them itself per message or per lease,
// a client or relay agent sends them, or they belong to leasequery or
// failover between servers rather than to clients. Codes with a named
// key are refused too (namedCodes), pointing at the key.
var RefusedCustomCodes = refusedCodes()

type refusal struct{ name, why string }

func refusedCodes() map[uint16]refusal {
	const (
		ia     = "the server builds IAs from pools and reservations"
		client = "clients send it, servers do not"
		relay  = "relay agents send it, servers do not"
		lq     = "a leasequery option (RFC 5007, RFC 5460, RFC 7653), not sent to clients"
		recon  = "tandem does not send Reconfigure"
	)
	m := map[uint16]refusal{
		1:   {"CLIENTID", "the server echoes the client's own"},
		2:   {"SERVERID", "the server sends its DUID (server.duid)"},
		3:   {"IA_NA", ia},
		4:   {"IA_TA", ia},
		5:   {"IAADDR", ia},
		6:   {"ORO", client},
		7:   {"PREFERENCE", "set server.preference"},
		8:   {"ELAPSED_TIME", client},
		9:   {"RELAY_MSG", "it carries relayed messages"},
		11:  {"AUTH", "it is computed per message, and tandem does not authenticate"},
		12:  {"UNICAST", "tandem does not invite clients to unicast; see server.unicast"},
		13:  {"STATUS_CODE", "the server sets it per reply"},
		14:  {"RAPID_COMMIT", "set server.rapid-commit"},
		15:  {"USER_CLASS", client + "; match it with classes[].match.user-class"},
		16:  {"VENDOR_CLASS", client + "; match it with classes[].match.vendor-class"},
		18:  {"INTERFACE_ID", relay + "; match it with classes[].match.interface-id"},
		19:  {"RECONF_MSG", recon},
		20:  {"RECONF_ACCEPT", recon},
		25:  {"IA_PD", ia},
		26:  {"IAPREFIX", ia},
		37:  {"REMOTE_ID", relay + "; match it with classes[].match.remote-id"},
		38:  {"SUBSCRIBER_ID", relay + "; match it with classes[].match.subscriber-id"},
		39:  {"CLIENT_FQDN", "it answers a client's own, and tandem does no DNS updates"},
		43:  {"ERO", relay},
		44:  {"LQ_QUERY", lq},
		45:  {"CLIENT_DATA", lq},
		46:  {"CLT_TIME", lq},
		47:  {"LQ_RELAY_DATA", lq},
		48:  {"LQ_CLIENT_LINK", lq},
		53:  {"RELAY_ID", relay},
		66:  {"RSOO", relay},
		67:  {"PD_EXCLUDE", "it belongs inside one delegated prefix's IAPREFIX"},
		79:  {"CLIENT_LINKLAYER_ADDR", relay},
		80:  {"LINK_ADDRESS", relay},
		100: {"LQ_BASE_TIME", lq},
		101: {"LQ_START_TIME", lq},
		102: {"LQ_END_TIME", lq},
		135: {"RELAY_SOURCE_PORT", relay},
	}
	for c := uint16(114); c <= 134; c++ {
		m[c] = refusal{"failover option " + strconv.Itoa(int(c)), "failover options (RFC 8156) pass between servers, not to clients"}
	}
	return m
}

// options decodes an options mapping into the options of one level.
func (d *decoder) options(v val) engine.Options {
	f := d.mapping(v, optionKeys...)
	var out engine.Options
	add := func(x val, code uint16, data []byte) {
		if d.err != nil {
			return
		}
		if len(data) > wire.MaxOptionData {
			d.failf(x.keyLine, x.key, "encodes to %d octets: an option carries at most %d; list fewer", len(data), wire.MaxOptionData)
			return
		}
		out = append(out, engine.Option{Code: code, Data: data})
	}
	if x := f.get("dns-servers"); x.set() {
		add(x, wire.OptDNSServers, wire.AddrListData(d.unicastList(x, "a DNS server's IPv6 address, like 2001:db8::53")))
	}
	if x := f.get("domain-search"); x.set() {
		var b []byte
		for _, it := range d.list(x, "a domain name, like example.com") {
			b = append(b, d.fqdn(it)...)
		}
		add(x, wire.OptDomainList, b)
	}
	if x := f.get("ntp-servers"); x.set() {
		var servers []wire.NTPServer
		for _, it := range d.list(x, "an NTP server, like 2001:db8::123 or ntp.example.net") {
			servers = append(servers, d.ntpServer(it))
		}
		if d.err == nil {
			b, err := wire.NTPServerData(servers)
			if err != nil {
				d.failf(x.keyLine, x.key, "encodes to more than %d octets, the most an option carries: list fewer", wire.MaxOptionData)
			}
			add(x, wire.OptNTPServer, b)
		}
	}
	if x := f.get("sntp-servers"); x.set() {
		add(x, wire.OptSNTPServers, wire.AddrListData(d.unicastList(x, "an SNTP server's IPv6 address, like 2001:db8::123")))
	}
	if x := f.get("aftr-name"); x.set() {
		add(x, wire.OptAFTRName, d.fqdn(x))
	}
	if x := f.get("sol-max-rt"); x.set() {
		add(x, wire.OptSolMaxRT, wire.Uint32Data(d.seconds(x, 60, 86400, "want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)")))
	}
	if x := f.get("inf-max-rt"); x.set() {
		add(x, wire.OptInfMaxRT, wire.Uint32Data(d.seconds(x, 60, 86400, "want 60-86400 seconds (1m to 24h) for INF_MAX_RT (RFC 8415 §21.25)")))
	}
	if x := f.get("information-refresh-time"); x.set() {
		irt := uint32(0xffffffff)
		if d.scalar(x, "seconds, like 86400, a duration, like 1d, or infinity") != "infinity" {
			irt = d.seconds(x, 600, 0xfffffffe, "want at least 600 seconds (10m, IRT_MINIMUM in RFC 8415 §21.23) and at most 4294967294, or infinity")
		}
		add(x, wire.OptInfoRefresh, wire.Uint32Data(irt))
	}
	if x := f.get("vendor-opts"); x.set() {
		add(x, wire.OptVendorOpts, d.vendorOpts(x))
	}
	seen := map[uint16]string{}
	for _, it := range d.list(f.get("custom"), "{code, type, value}, like {code: 103, type: string, value: \"https://portal.example.net/\"}") {
		code, data := d.typed(it, func(code uint16, at val) {
			if n, ok := namedCodes[code]; ok {
				d.failf(at.line, at.key, "code %d (%s) has a named key: use the named key %s", code, n[0], n[1])
			} else if r, ok := RefusedCustomCodes[code]; ok {
				d.failf(at.line, at.key, "code %d (%s) cannot be configured: %s", code, r.name, r.why)
			} else if prev, dup := seen[code]; dup {
				d.failf(at.line, at.key, "code %d is set twice at this level (%s has it already): one option per code; put all its data in one entry", code, prev)
			}
			seen[code] = it.key
		})
		add(it, code, data)
	}
	if d.err != nil {
		return nil
	}
	return out
}

// list decodes v as a list that, when set, must have items; what names an
// item, for the error.
func (d *decoder) list(v val, what string) []val {
	items := d.seq(v)
	if v.set() && d.err == nil && len(items) == 0 {
		d.failf(v.line, v.key, "empty list: want at least one %s, or remove the key", strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "))
	}
	for _, it := range items {
		if !it.set() {
			d.failf(it.line, it.key, "empty item: want %s", what)
			return nil
		}
	}
	return items
}

// unicastList decodes a list of unicast IPv6 addresses; like describes one.
func (d *decoder) unicastList(v val, like string) []netip.Addr {
	var out []netip.Addr
	for _, it := range d.list(v, like) {
		txt := d.str(it)
		a, err := parseIPv6(txt)
		switch {
		case d.err != nil:
		case err != nil:
			d.failf(it.line, it.key, "%v", err)
		case a.IsUnspecified() || a.IsMulticast():
			d.failf(it.line, it.key, "%q is not a unicast address: want %s", txt, like)
		}
		out = append(out, a)
	}
	return out
}

// fqdn decodes a domain name into RFC 1035 wire format.
func (d *decoder) fqdn(v val) []byte {
	txt := d.str(v)
	if d.err != nil {
		return nil
	}
	if !validDomain(txt) {
		d.failf(v.line, v.key, "invalid domain name %q: want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com", txt)
		return nil
	}
	b, _ := wire.AppendDomain(nil, txt) // validDomain is stricter
	return b
}

// ntpServer reads one ntp-servers item: an IPv6 address (unicast or
// multicast) or a host name.
func (d *decoder) ntpServer(v val) wire.NTPServer {
	txt := d.str(v)
	if d.err != nil {
		return wire.NTPServer{}
	}
	if _, err := netip.ParseAddr(txt); err == nil {
		a, err := parseIPv6(txt)
		switch {
		case err != nil:
			d.failf(v.line, v.key, "%v: want an IPv6 address, like 2001:db8::123, or a host name, like ntp.example.net", err)
		case a.IsUnspecified():
			d.failf(v.line, v.key, "%q is no server's address: want a unicast or multicast IPv6 address, or a host name, like ntp.example.net", txt)
		}
		return wire.NTPServer{Addr: a}
	}
	if strings.Contains(txt, ":") || !validDomain(txt) {
		d.failf(v.line, v.key, "invalid NTP server %q: want an IPv6 address, like 2001:db8::123, or a host name, like ntp.example.net", txt)
	}
	return wire.NTPServer{FQDN: txt}
}

// seconds reads a time in seconds written as a whole number (3600) or a
// duration (1h) and checks it is within lo-hi; rule says the range and why.
func (d *decoder) seconds(v val, lo, hi int64, rule string) uint32 {
	txt := d.scalar(v, "seconds, like 3600, or a duration, like 1h")
	if d.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(txt, 10, 64)
	if err != nil {
		x, derr := parseDuration(txt)
		switch {
		case derr != nil:
			d.failf(v.line, v.key, "invalid value %q: want whole seconds, like 3600, or a duration, like 1h", txt)
			return 0
		case x%time.Second != 0:
			d.failf(v.line, v.key, "%s is not a whole number of seconds: %s", txt, rule)
			return 0
		}
		n = int64(x / time.Second)
	}
	switch {
	case n < lo:
		d.failf(v.line, v.key, "%s is below %d seconds: %s", txt, lo, rule)
	case n > hi:
		d.failf(v.line, v.key, "%s is above %d seconds: %s", txt, hi, rule)
	}
	return uint32(n)
}

// vendorOpts decodes vendor-opts: {enterprise, sub-options}.
func (d *decoder) vendorOpts(v val) []byte {
	f := d.mapping(v, vendorKeys...)
	ev := f.get("enterprise")
	if !ev.set() {
		d.failf(ev.keyLine, ev.key, "required: the vendor's IANA enterprise number, like 4491")
	}
	ent := d.number(ev, 0xffffffff, "the vendor's IANA enterprise number, like 4491")
	sv := f.get("sub-options")
	if !sv.set() {
		d.failf(sv.keyLine, sv.key, "required: the vendor's sub-options, a list of {code, type, value}, like [{code: 1, type: string, value: text}]")
	}
	var subs []wire.SubOption
	for _, it := range d.list(sv, "a sub-option {code, type, value}, like {code: 1, type: string, value: text}") {
		code, data := d.typed(it, nil)
		subs = append(subs, wire.SubOption{Code: code, Data: data})
	}
	if d.err != nil {
		return nil
	}
	b, err := wire.VendorOptsData(uint32(ent), subs)
	if err != nil {
		d.failf(v.keyLine, v.key, "encodes to more than %d octets, the most an option carries: send less", wire.MaxOptionData)
	}
	return b
}

// number reads a whole number from 0 to hi, decimal or hex after 0x (a
// leading 0 is not octal); want describes it for the error.
func (d *decoder) number(v val, hi uint64, want string) uint64 {
	txt := d.scalar(v, want)
	if !v.set() || d.err != nil {
		return 0
	}
	digits, base := txt, 10
	if len(txt) > 2 && (txt[:2] == "0x" || txt[:2] == "0X") {
		digits, base = txt[2:], 16
	}
	n, err := strconv.ParseUint(digits, base, 64)
	if err != nil || n > hi {
		d.failf(v.line, v.key, "invalid value %q: want %s, from 0 to %d", txt, want, hi)
		return 0
	}
	return n
}

// typed decodes a {code, type, value} item: a custom option or a vendor
// sub-option. check, when not nil, vets the code before the data is read.
func (d *decoder) typed(it val, check func(code uint16, at val)) (uint16, []byte) {
	f := d.mapping(it, typedKeys...)
	cv := f.get("code")
	if !cv.set() {
		d.failf(cv.keyLine, cv.key, "required: the option code, a whole number from 1 to 65535")
	}
	code := uint16(d.integer(cv, 1, 0xffff))
	if check != nil && d.err == nil {
		check(code, cv)
	}
	tv := f.get("type")
	typ := d.str(tv)
	switch {
	case d.err != nil:
	case !tv.set():
		d.failf(tv.keyLine, tv.key, "required: how value is encoded, one of %s", strings.Join(dataTypes, ", "))
	case !slices.Contains(dataTypes, typ):
		d.failf(tv.line, tv.key, "invalid type %q: want one of %s", typ, strings.Join(dataTypes, ", "))
	}
	vv := f.get("value")
	if !vv.set() && d.err == nil {
		d.failf(vv.keyLine, vv.key, "required: the data, as type %s, like %s", typ, typeLike[typ])
	}
	if d.err != nil {
		return 0, nil
	}
	data := d.typedData(vv, typ)
	if len(data) > wire.MaxOptionData && d.err == nil {
		d.failf(vv.keyLine, vv.key, "encodes to %d octets: an option carries at most %d", len(data), wire.MaxOptionData)
	}
	return code, data
}

// typeLike is an example value per type, for error messages.
var typeLike = map[string]string{
	"hex": `"00:1a:2b" or "001a2b"`, "string": `"some text"`, "ipv6": "2001:db8::1",
	"ipv6-list": `["2001:db8::1", "2001:db8::2"]`, "u8": "0-255", "u16": "0-65535", "u32": "0-4294967295",
	"fqdn": "example.net", "fqdn-list": "[example.net, example.org]",
}

// typedData encodes value v as type typ.
func (d *decoder) typedData(v val, typ string) []byte {
	switch typ {
	case "hex":
		txt := d.scalar(v, "hex octets, like "+typeLike["hex"])
		b, err := parseHex(txt)
		if err != nil && d.err == nil {
			d.failf(v.line, v.key, "invalid hex %q: want hex octets, colon-separated or not, like %s (\"\" for no data)", txt, typeLike["hex"])
		}
		return b
	case "string":
		return []byte(d.scalar(v, "a string"))
	case "ipv6":
		txt := d.scalar(v, "an IPv6 address, like 2001:db8::1")
		a, err := parseIPv6(txt)
		if err != nil && d.err == nil {
			d.failf(v.line, v.key, "%v: want an IPv6 address, like 2001:db8::1", err)
		}
		return a.AsSlice()
	case "ipv6-list":
		var as []netip.Addr
		for _, it := range d.list(v, "an IPv6 address, like 2001:db8::1") {
			txt := d.str(it)
			a, err := parseIPv6(txt)
			if err != nil && d.err == nil {
				d.failf(it.line, it.key, "%v: want an IPv6 address, like 2001:db8::1", err)
			}
			as = append(as, a)
		}
		return wire.AddrListData(as)
	case "u8":
		return []byte{byte(d.number(v, 0xff, "a whole number"))}
	case "u16":
		n := d.number(v, 0xffff, "a whole number")
		return []byte{byte(n >> 8), byte(n)}
	case "u32":
		return wire.Uint32Data(uint32(d.number(v, 0xffffffff, "a whole number")))
	case "fqdn":
		return d.fqdn(v)
	case "fqdn-list":
		var b []byte
		for _, it := range d.list(v, "a domain name, like example.net") {
			b = append(b, d.fqdn(it)...)
		}
		return b
	}
	return nil
}

// parseHex reads octets written as hex digits: colon-separated pairs
// ("00:1a:2b") or a run of pairs ("001a2b"). "" is no octets.
func parseHex(s string) ([]byte, error) {
	if s == "" {
		return []byte{}, nil
	}
	if !strings.Contains(s, ":") {
		return hex.DecodeString(s)
	}
	parts := strings.Split(s, ":")
	b := make([]byte, 0, len(parts))
	for _, p := range parts {
		if len(p) != 2 {
			return nil, fmt.Errorf("octet %q is not two hex digits", p)
		}
		x, err := hex.DecodeString(p)
		if err != nil {
			return nil, err
		}
		b = append(b, x[0])
	}
	return b, nil
}

// classes decodes the top-level classes list, in file order.
func (d *decoder) classes(v val) []engine.Class {
	var out []engine.Class
	for i, it := range d.seq(v) {
		if i == engine.MaxClasses {
			d.failf(it.line, it.key, "too many classes: at most %d (a client's classes are kept as a %d-bit set)", engine.MaxClasses, engine.MaxClasses)
			return nil
		}
		f := d.mapping(it, classKeys...)
		var c engine.Class
		c.Name = d.uniqueName(f.get("name"), "classes", "class", d.classNames, "pools[].classes and pd-pools[].classes")
		d.classNames = append(d.classNames, c.Name)
		c.Match = d.match(f.get("match"))
		c.Options = d.options(f.get("options"))
		out = append(out, c)
	}
	return out
}

// matchWhat describes each byte-prefix match key, for its errors.
var matchWhat = map[string]string{
	"remote-id":     "the start of the relay's REMOTE_ID data, 4-octet enterprise number first, like 00:00:0d:e9:41:42",
	"interface-id":  "the start of the relay's INTERFACE_ID data, like 65:74:68:30",
	"subscriber-id": "the start of the relay's SUBSCRIBER_ID data, like 73:75:62:31",
	"vendor-class":  "the start of the client's VENDOR_CLASS data, 4-octet enterprise number first, like 00:00:11:8b",
	"user-class":    "the start of the client's USER_CLASS data (2-octet length, then the class), like 00:04:68:6f:6d:65",
	"duid":          "the start of the client's DUID, like 00:01:00:01",
}

// match decodes a class's match mapping; every key set must hold.
func (d *decoder) match(v val) engine.Match {
	f := d.mapping(v, matchKeys...)
	var m engine.Match
	for _, k := range matchKeys[:6] {
		x := f.get(k)
		if !x.set() {
			continue
		}
		txt := d.str(x)
		if d.err != nil {
			break
		}
		b, err := parseHex(txt)
		switch {
		case err != nil:
			d.failf(x.line, x.key, "invalid hex %q: want colon-separated hex octets, %s", txt, matchWhat[k])
		case len(b) == 0:
			d.failf(x.line, x.key, "empty: want colon-separated hex octets, %s; or remove the key", matchWhat[k])
		}
		switch k {
		case "remote-id":
			m.RemoteID = b
		case "interface-id":
			m.InterfaceID = b
		case "subscriber-id":
			m.SubscriberID = b
		case "vendor-class":
			m.VendorClass = b
		case "user-class":
			m.UserClass = b
		case "duid":
			m.DUID = b
		}
	}
	if x := f.get("link"); x.set() && d.err == nil {
		p, err := parsePrefix6(d.str(x))
		if err != nil && d.err == nil {
			d.failf(x.line, x.key, "%v", err)
		}
		m.Link = p
	}
	return m
}

// classRefs decodes a pool's classes list: names defined under classes.
func (d *decoder) classRefs(v val) []string {
	var out []string
	for _, it := range d.list(v, "a class name") {
		name := d.str(it)
		switch {
		case d.err != nil:
		case !slices.Contains(d.classNames, name):
			d.failf(it.line, it.key, "class %q is not defined: want one of the names under classes (%s)", name, listOr(d.classNames, "none defined"))
		case slices.Contains(out, name):
			d.failf(it.line, it.key, "class %q is listed twice", name)
		}
		out = append(out, name)
	}
	if d.err != nil {
		return nil
	}
	return out
}

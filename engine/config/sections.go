package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/replicate"
)

// The schema: one decoder per section, in CONTRACT.md's order. Sections are
// decoded in a fixed order — relationships before subnets, so a subnet can be
// checked against the relationships it names wherever they are in the file.

// Valid keys per mapping, in the order error messages list them.
var (
	topKeys          = []string{"server", "lifetimes", "options", "classes", "subnets", "relationships"}
	serverKeys       = []string{"data-dir", "duid", "interfaces", "listen", "control", "control-allow-remote", "preference", "rapid-commit", "unicast", "journal-retention"}
	lifetimeKeys     = []string{"preferred", "valid", "t1", "t2"}
	subnetKeys       = []string{"prefix", "interface", "relationship", "options", "pools", "pd-pools", "reservations"}
	poolKeys         = []string{"range", "classes", "options"}
	pdPoolKeys       = []string{"prefix", "delegated-length", "classes", "options"}
	reservationKeys  = []string{"duid", "remote-id", "interface-id", "subscriber-id", "address", "prefix", "options"}
	relationshipKeys = []string{"name", "role", "peer", "listen", "mclt", "keepalive", "max-unacked-bndupd", "auto-partner-down", "pd-secondary-share", "tls"}
	tlsKeys          = []string{"cert", "key", "ca"}
)

// maxLifetime is the longest lifetime DHCPv6 can carry: lifetimes are 32-bit
// seconds and 0xffffffff means infinity (RFC 8415 §7.7).
const maxLifetime = 0xfffffffe * time.Second

// maxUnacked bounds max-unacked-bndupd: far above any useful window, low
// enough that a typo cannot make the replicator allocate gigabytes.
const maxUnacked = 1 << 20

// Overlap rules, stated in the error message.
const (
	whyPools    = "pools and pd-pools must not share addresses, within a subnet or across subnets"
	whySubnets  = "a relayed request is matched to one subnet by its link-address, so subnets must not overlap"
	whyReserved = "an address or prefix can be reserved for one client only"
	whyPDSubnet = "a delegated prefix is routed to the requesting router, so pd-pools must not cover a link's prefix"
)

func (d *decoder) top(root *yaml.Node) *File {
	line := 1
	if root != nil {
		line = root.Line
	}
	top := d.mapping(val{n: root, line: line, keyLine: line}, topKeys...)
	f := &File{}
	f.Server = d.server(top.get("server"), &f.Engine)
	d.lifetimes(top.get("lifetimes"), &f.Engine)
	f.Engine.Options = d.options(top.get("options"))
	f.Engine.Classes = d.classes(top.get("classes"))
	f.Relationships = d.relationships(top.get("relationships"))
	for i := range f.Relationships {
		eng, link := f.Relationships[i].translate()
		f.Engine.Relationships = append(f.Engine.Relationships, eng)
		f.Links = append(f.Links, link)
	}
	f.Engine.Subnets = d.subnets(top.get("subnets"))
	for i := range f.Links {
		// FIXED_PD_LENGTH matters only to a relationship that delegates
		// prefixes (replicate/handshake.go).
		f.Links[i].DelegatesPrefixes = slices.ContainsFunc(f.Engine.Subnets, func(s engine.SubnetConfig) bool {
			return s.Relationship == f.Links[i].Name && len(s.PDPools) > 0
		})
	}
	d.relationshipsUsed(f.Relationships, f.Engine.Subnets)
	d.overlap(d.subnetSpan, whySubnets)
	d.overlap(d.pools, whyPools)
	d.overlap(d.reserved, whyReserved)
	d.delegatedSubnets()
	if d.err != nil {
		return nil
	}
	// The engine has its own checks; everything it rejects should have been
	// caught above with a line and key, so this is a backstop. It needs a
	// server DUID, which the server fills in later.
	f.Engine.Defaults()
	f.Engine.ServerDUID = []byte{0, 3, 0, 1, 0, 0, 0, 0, 0, 0}
	err := f.Engine.Validate()
	f.Engine.ServerDUID = nil
	if err != nil {
		d.failf(line, "", "%v", err)
		return nil
	}
	return f
}

func (d *decoder) server(v val, e *engine.Config) Server {
	f := d.mapping(v, serverKeys...)
	var s Server

	dd := f.get("data-dir")
	if s.DataDir = d.str(dd); s.DataDir == "" {
		d.failf(dd.keyLine, dd.key, "required: the directory that holds the journal and the server identity, like /var/lib/tandem")
	}

	if dv := f.get("duid"); dv.set() {
		if txt := d.str(dv); txt != "" {
			b, err := parseDUID(txt)
			if err != nil {
				d.failf(dv.line, dv.key, "%v", err)
			}
			s.DUID = b
		}
	}

	for _, it := range d.seq(f.get("interfaces")) {
		name := d.str(it)
		switch {
		case name == "":
			d.failf(it.line, it.key, "empty interface name: want a link name like eth0")
		case slices.Contains(s.Interfaces, name):
			d.failf(it.line, it.key, "interface %q is listed twice", name)
		}
		s.Interfaces = append(s.Interfaces, name)
	}
	d.interfaces = s.Interfaces

	seen := map[string]bool{}
	for _, it := range d.seq(f.get("listen")) {
		txt := d.str(it)
		ap, err := parseAddrPort(txt, "[::]:547")
		switch {
		case err != nil:
			d.failf(it.line, it.key, "%v", err)
		case !ap.Addr().Is6() || ap.Addr().Is4In6():
			d.failf(it.line, it.key, "%q is not an IPv6 address: DHCPv6 listens on IPv6, like \"[::]:547\"", txt)
		case ap.Addr().IsMulticast():
			d.failf(it.line, it.key, "%q is a multicast address: listen takes unicast sockets; for multicast list the link in server.interfaces", txt)
		case seen[ap.String()]:
			d.failf(it.line, it.key, "%q is listed twice", txt)
		}
		seen[ap.String()] = true
		s.Listen = append(s.Listen, ap)
	}
	if d.err == nil && len(s.Interfaces) == 0 && len(s.Listen) == 0 {
		d.failf(f.line, v.key, "neither interfaces nor listen is set, so no DHCP traffic can reach the server: "+
			"set interfaces (links with direct clients) and/or listen (unicast sockets for relays)")
	}

	s.AllowRemoteControl = d.boolean(f.get("control-allow-remote"))
	s.Control = DefaultControl
	if cv := f.get("control"); cv.set() {
		s.Control = d.str(cv)
		if s.Control != "" && d.err == nil {
			if err := checkControl(s.Control, s.AllowRemoteControl); err != nil {
				d.failf(cv.line, cv.key, "%v", err)
			}
		}
	}

	if rv := f.get("journal-retention"); rv.set() {
		s.JournalRetention = d.duration(rv)
	}

	e.Preference = -1
	if pv := f.get("preference"); pv.set() {
		e.Preference = d.integer(pv, 0, 255)
	}
	e.RapidCommit = d.boolean(f.get("rapid-commit"))
	if uv := f.get("unicast"); uv.set() {
		switch txt := d.str(uv); txt {
		case "use-multicast":
			e.Unicast = engine.UnicastUseMulticast
		case "accept":
			e.Unicast = engine.UnicastAccept
		default:
			if d.err == nil {
				d.failf(uv.line, uv.key, "invalid value %q: want use-multicast (the default: answer a REQUEST, RENEW, RELEASE or DECLINE "+
					"a client unicasts with UseMulticast, as RFC 8415 §18.3 asks) or accept (process it like a multicast one, "+
					"for clients such as udhcpc6 that unicast unasked and never fall back)", txt)
			}
		}
	}
	return s
}

func (d *decoder) lifetimes(v val, e *engine.Config) {
	f := d.mapping(v, lifetimeKeys...)
	get := func(k string) (val, time.Duration) {
		x := f.get(k)
		t := d.duration(x)
		if t > maxLifetime {
			d.failf(x.line, x.key, "%s is longer than DHCPv6 can carry: want at most %dd (lifetimes are 32-bit seconds)", x.n.Value, maxLifetime/(24*time.Hour))
		}
		return x, t
	}
	pv, pref := get("preferred")
	vv, valid := get("valid")
	t1v, t1 := get("t1")
	t2v, t2 := get("t2")
	e.Preferred, e.Valid, e.T1, e.T2 = pref, valid, t1, t2
	if d.err != nil {
		return
	}
	// Compare the values in effect, defaults included, so the message can
	// point at the key the operator wrote.
	c := *e
	c.Defaults()
	if c.Preferred > c.Valid {
		at := pv
		if !pv.set() {
			at = vv
		}
		d.failf(at.line, at.key, "preferred lifetime %s exceeds valid lifetime %s: want preferred <= valid", shown(pv, c.Preferred), shown(vv, c.Valid))
		return
	}
	if c.T1 > c.T2 {
		at := t1v
		if !t1v.set() {
			at = t2v
		}
		d.failf(at.line, at.key, "t1 %s exceeds t2 %s: want t1 <= t2", shown(t1v, c.T1), shown(t2v, c.T2))
	}
}

// shown prints a lifetime as written, or as defaulted.
func shown(v val, x time.Duration) string {
	if v.set() {
		return v.n.Value
	}
	return fmtDur(x) + " (default)"
}

func (d *decoder) relationships(v val) []Relationship {
	var out []Relationship
	var at []relVals
	for _, it := range d.seq(v) {
		f := d.mapping(it, relationshipKeys...)
		r := Relationship{ // the defaults of the packages that use them (config.go)
			MCLT:             engine.DefaultMCLT,
			Keepalive:        replicate.DefaultKeepalive,
			MaxUnackedBNDUPD: replicate.DefaultMaxUnacked,
			PDSecondaryShare: engine.DefaultPDSecondaryShare,
		}

		nv := f.get("name")
		r.Name = d.uniqueName(nv, "relationships", "relationship", d.relNames, "subnets[].relationship and `tandem ctl`")
		d.relNames = append(d.relNames, r.Name)

		rv := f.get("role")
		switch r.Role = d.str(rv); r.Role {
		case "primary", "secondary":
		case "":
			d.failf(rv.keyLine, rv.key, "required: primary or secondary")
		default:
			d.failf(rv.line, rv.key, "invalid role %q: want primary or secondary", r.Role)
		}

		pv := f.get("peer")
		if pv.set() {
			txt := d.str(pv)
			ap, err := parseAddrPort(txt, "[2001:db8::2]:647")
			switch {
			case err != nil:
				d.failf(pv.line, pv.key, "%v", err)
			case ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast():
				d.failf(pv.line, pv.key, "cannot dial %q: want the partner's unicast address and a port, like \"[2001:db8::2]:647\"", txt)
			}
			r.Peer = ap
		} else if r.Role == "primary" {
			d.failf(pv.keyLine, pv.key, "required for a primary: the partner's address to dial, like \"[2001:db8::2]:647\"")
		}

		lv := f.get("listen")
		if lv.set() {
			ap, err := parseAddrPort(d.str(lv), "[::]:647")
			if err != nil {
				d.failf(lv.line, lv.key, "%v", err)
			}
			r.Listen = ap
		} else if r.Role == "secondary" {
			d.failf(lv.keyLine, lv.key, "required for a secondary: the address to accept the primary on, like \"[::]:647\"")
		}

		if mv := f.get("mclt"); mv.set() {
			r.MCLT = d.duration(mv)
			if d.err == nil && r.MCLT < MinMCLT {
				d.failf(mv.line, mv.key, "%s is too short: want at least %s (the MCLT bounds how far one partner may extend a lease the other has not seen)", mv.n.Value, fmtDur(MinMCLT))
			}
		}
		if kv := f.get("keepalive"); kv.set() {
			r.Keepalive = d.duration(kv)
			if d.err == nil && r.Keepalive <= 0 {
				d.failf(kv.line, kv.key, "%s: want a positive duration, like 10s", kv.n.Value)
			}
		}
		if xv := f.get("max-unacked-bndupd"); xv.set() {
			r.MaxUnackedBNDUPD = d.integer(xv, 1, maxUnacked)
		}
		r.AutoPartnerDown = d.duration(f.get("auto-partner-down"))
		if sv := f.get("pd-secondary-share"); sv.set() {
			r.PDSecondaryShare = d.fraction(sv)
		}

		tv := f.get("tls")
		t := d.mapping(tv, tlsKeys...)
		r.TLS = TLS{Cert: d.str(t.get("cert")), Key: d.str(t.get("key")), CA: d.str(t.get("ca"))}
		var missing []string
		for _, kv := range [][2]string{{"cert", r.TLS.Cert}, {"key", r.TLS.Key}, {"ca", r.TLS.CA}} {
			if kv[1] == "" {
				missing = append(missing, kv[0])
			}
		}
		if len(missing) == 1 || len(missing) == 2 {
			d.failf(tv.keyLine, tv.key, "set all of cert, key and ca for mutual TLS, or none of them; missing: %s", strings.Join(missing, ", "))
		}
		out = append(out, r)
		at = append(at, relVals{peer: pv, listen: lv, tls: tv})
		d.relAt = append(d.relAt, nv)
	}
	if d.err == nil {
		d.sharedListeners(out, at)
	}
	return out
}

// uniqueName decodes the name of an entry (a what) of list (relationships,
// classes): required, valid, and not in prev, the names before it; usedBy
// says what refers to it.
func (d *decoder) uniqueName(nv val, list, what string, prev []string, usedBy string) string {
	name := d.str(nv)
	switch {
	case d.err != nil:
	case name == "":
		d.failf(nv.keyLine, nv.key, "required: a name for the %s, used by %s", what, usedBy)
	case !validName(name):
		d.failf(nv.line, nv.key, "invalid name %q: want 1-64 letters, digits, '.', '_' or '-'", name)
	default:
		for j, p := range prev {
			if p == name {
				d.failf(nv.line, nv.key, "duplicate name %q: %s[%d] has it already; names must be unique", name, list, j)
			}
		}
	}
	return name
}

// relationshipsUsed checks that every relationship serves a subnet: one
// that none names would open a partner link and replicate nothing, which
// is a subnet's relationship key forgotten far more often than intended.
func (d *decoder) relationshipsUsed(rels []Relationship, subnets []engine.SubnetConfig) {
	if d.err != nil {
		return
	}
	for i, r := range rels {
		if !slices.ContainsFunc(subnets, func(s engine.SubnetConfig) bool { return s.Relationship == r.Name }) {
			nv := d.relAt[i]
			d.failf(nv.line, nv.key, "relationship %q serves no subnet: set relationship: %s on the subnets it serves, or remove it", r.Name, r.Name)
			return
		}
	}
}

// relVals are where a relationship's peer, listen and tls settings are,
// for errors found by comparing relationships.
type relVals struct{ peer, listen, tls val }

// sharedListeners checks the secondaries that listen on one socket (the
// m-to-1 model: one standby for several primaries). Names are already
// unique, so no two relationships have the same partner and name either.
// A shared socket hands a connection to the relationship whose peer
// address it comes from and whose name its CONNECT carries, so each
// secondary on it needs a peer; and TLS is set up before the CONNECT
// names the relationship, so relationships on one socket with the same
// partner address need the same TLS files. Different listen values on
// one port could not both bind when one is a wildcard.
func (d *decoder) sharedListeners(rels []Relationship, at []relVals) {
	for j := range rels {
		rj := &rels[j]
		if rj.Role != "secondary" {
			continue
		}
		for i := range j {
			ri := &rels[i]
			if ri.Role != "secondary" {
				continue
			}
			if ri.Listen != rj.Listen {
				if ri.Listen.Port() == rj.Listen.Port() && ri.Listen.Port() != 0 &&
					(ri.Listen.Addr().IsUnspecified() || rj.Listen.Addr().IsUnspecified()) {
					d.failf(at[j].listen.line, at[j].listen.key,
						"%q overlaps relationships[%d].listen %q (%s): both cannot bind port %d; give relationships on one port the same listen value and they share the socket",
						rj.Listen, i, ri.Listen, ri.Name, rj.Listen.Port())
					return
				}
				continue
			}
			for _, x := range [][2]int{{i, j}, {j, i}} {
				if r := &rels[x[0]]; !r.Peer.IsValid() {
					pv := at[x[0]].peer
					d.failf(pv.keyLine, pv.key,
						"required for a secondary that shares listen %q with relationships[%d] (%s): a connection on a shared socket goes to the relationship whose peer address it comes from, so name the primary, like \"[2001:db8::1]:647\"",
						r.Listen, x[1], rels[x[1]].Name)
					return
				}
			}
			if ri.Peer.Addr() == rj.Peer.Addr() && ri.TLS != rj.TLS {
				tv := at[j].tls
				d.failf(tv.keyLine, tv.key,
					"differs from relationships[%d].tls (%s), which has the same peer address %s and listen %q: TLS is set up before the CONNECT names the relationship, so set the same cert, key and ca, or none",
					i, ri.Name, rj.Peer.Addr(), rj.Listen)
				return
			}
		}
	}
}

func (d *decoder) subnets(v val) []engine.SubnetConfig {
	var out []engine.SubnetConfig
	for _, it := range d.seq(v) {
		f := d.mapping(it, subnetKeys...)
		var s engine.SubnetConfig

		pv := f.get("prefix")
		if !pv.set() {
			d.failf(pv.keyLine, pv.key, "required: the link's IPv6 prefix, like 2001:db8:1::/64")
		}
		txt := d.str(pv)
		if d.err == nil {
			p, err := parsePrefix6(txt)
			if err != nil {
				d.failf(pv.line, pv.key, "%v", err)
			}
			s.Prefix = p
			if err == nil {
				d.subnetSpan = append(d.subnetSpan, span{lo: p.Addr(), hi: lastAddr(p), key: f.key, line: pv.line, desc: txt})
			}
		}

		iv := f.get("interface")
		if s.Interface = d.str(iv); s.Interface != "" && !slices.Contains(d.interfaces, s.Interface) {
			d.failf(iv.line, iv.key, "interface %q is not in server.interfaces (%s): add it there so the server listens on it, or remove it here",
				s.Interface, listOr(d.interfaces, "empty"))
		}

		rv := f.get("relationship")
		if s.Relationship = d.str(rv); s.Relationship != "" && !slices.Contains(d.relNames, s.Relationship) {
			d.failf(rv.line, rv.key, "relationship %q is not defined: want one of the names under relationships (%s), or remove the key for a standalone subnet",
				s.Relationship, listOr(d.relNames, "none defined"))
		}

		s.Options = d.options(f.get("options"))
		for _, pi := range d.seq(f.get("pools")) {
			s.Pools = append(s.Pools, d.pool(pi, s.Prefix))
		}

		for _, pi := range d.seq(f.get("pd-pools")) {
			s.PDPools = append(s.PDPools, d.pdPool(pi))
		}
		clients := map[string]string{} // reservation key (kind, bytes) → key of the reservation with it
		for _, ri := range d.seq(f.get("reservations")) {
			s.Reservations = append(s.Reservations, d.reservation(ri, s.Prefix, clients))
		}
		out = append(out, s)
	}
	return out
}

// pool decodes one subnets[].pools item of the subnet with prefix subnet:
// "START-END" or a prefix, or a mapping {range, classes, options}.
func (d *decoder) pool(pi val, subnet netip.Prefix) engine.Pool {
	rv := pi
	var classes []string
	var opts engine.Options
	if pi.n != nil && pi.n.Kind == yaml.MappingNode {
		pf := d.mapping(pi, poolKeys...)
		rv = pf.get("range")
		if !rv.set() {
			d.failf(rv.keyLine, rv.key, "required: the pool's addresses, START-END, like 2001:db8:1::1000-2001:db8:1::ffff, or a prefix, like 2001:db8:1::/112")
		}
		classes = d.classRefs(pf.get("classes"))
		opts = d.options(pf.get("options"))
	}
	txt := d.scalar(rv, "START-END, like 2001:db8:1::1000-2001:db8:1::ffff, a prefix, or a mapping with keys "+strings.Join(poolKeys, ", "))
	if d.err != nil {
		return engine.Pool{}
	}
	r, err := parsePool(txt)
	switch {
	case err != nil:
		d.failf(rv.line, rv.key, "%v", err)
	case !subnet.Contains(r.Start) || !subnet.Contains(r.End):
		d.failf(rv.line, rv.key, "pool %s is outside subnet %s: want addresses inside the subnet's prefix", txt, subnet)
	case hi64(r.Start) != hi64(r.End):
		d.failf(rv.line, rv.key, "pool %s spans more than one /64: want a range within one /64 (use one pool per /64)", txt)
	}
	if d.err == nil {
		d.pools = append(d.pools, span{lo: r.Start, hi: r.End, key: rv.key, line: rv.line, desc: txt})
	}
	r.Classes, r.Options = classes, opts
	return r
}

// pdPool decodes one subnets[].pd-pools item.
func (d *decoder) pdPool(pi val) engine.PDPool {
	pf := d.mapping(pi, pdPoolKeys...)
	var pp engine.PDPool
	ppv := pf.get("prefix")
	if !ppv.set() {
		d.failf(ppv.keyLine, ppv.key, "required: the prefix to delegate from, like 2001:db8:100::/40")
	}
	ptxt := d.str(ppv)
	if d.err == nil {
		p, err := parsePrefix6(ptxt)
		if err != nil {
			d.failf(ppv.line, ppv.key, "%v", err)
		}
		pp.Prefix = p
	}
	lv := pf.get("delegated-length")
	if !lv.set() && d.err == nil {
		d.failf(lv.keyLine, lv.key, "required: the length of the prefixes handed out, like 56")
	}
	if d.err == nil {
		// The engine counts a pool's prefixes in 63 bits, hence the
		// upper bound.
		lo, hi := pp.Prefix.Bits(), min(128, pp.Prefix.Bits()+63)
		txt := d.scalar(lv, "a prefix length")
		n, err := strconv.Atoi(txt)
		switch {
		case d.err != nil:
		case err != nil:
			d.failf(lv.line, lv.key, "invalid delegated-length %q: want a prefix length from %d to %d for a /%d pd-pool", txt, lo, hi, lo)
		case n < lo || n > hi:
			d.failf(lv.line, lv.key, "delegated-length %d out of range for a /%d pd-pool: want %d-%d", n, lo, lo, hi)
		}
		pp.DelegatedLen = n
	}
	if d.err == nil {
		d.pools = append(d.pools, span{lo: pp.Prefix.Addr(), hi: lastAddr(pp.Prefix), key: ppv.key, line: ppv.line, desc: ptxt, pd: true})
	}
	pp.Classes = d.classRefs(pf.get("classes"))
	pp.Options = d.options(pf.get("options"))
	return pp
}

// reservationIDs are the keys that name a reservation's client, and how
// each is written.
var reservationIDs = []struct{ key, what string }{
	{"duid", "the client's DUID, like 00:01:00:01:aa:bb:cc:dd:ee:ff"},
	{"remote-id", "the relay's REMOTE_ID data, 4-octet enterprise number first, like 00:00:0d:e9:41:42"},
	{"interface-id", "the relay's INTERFACE_ID data, like 65:74:68:30:2e:31:30:30"},
	{"subscriber-id", "the relay's SUBSCRIBER_ID data, like 73:75:62:2d:31:30:34:32"},
}

// reservation decodes one subnets[].reservations item of the subnet with
// prefix subnet; clients holds the client keys reserved so far in that
// subnet.
func (d *decoder) reservation(ri val, subnet netip.Prefix, clients map[string]string) engine.Reservation {
	rf := d.mapping(ri, reservationKeys...)
	var res engine.Reservation
	var named val // the key that names the client
	for _, id := range reservationIDs {
		iv := rf.get(id.key)
		if !iv.set() || d.err != nil {
			continue
		}
		if named.set() {
			d.failf(iv.keyLine, iv.key, "%s names the client already: a reservation is keyed by exactly one of duid, remote-id, interface-id or subscriber-id", named.key)
			break
		}
		named = iv
		txt := d.str(iv)
		if d.err != nil {
			break
		}
		var b []byte
		var err error
		if id.key == "duid" {
			b, err = parseDUID(txt)
		} else if b, err = parseHex(txt); err != nil || len(b) == 0 {
			err = fmt.Errorf("invalid %s %q: want colon-separated hex octets, %s", id.key, txt, id.what)
		} else if id.key == "remote-id" && len(b) < 5 {
			err = fmt.Errorf("remote-id of %d octets: want the 4-octet enterprise number and at least one octet of remote-id, like 00:00:0d:e9:41:42", len(b))
		}
		if err != nil {
			d.failf(iv.line, iv.key, "%v", err)
			break
		}
		k := id.key + "\x00" + string(b)
		if prev, dup := clients[k]; dup {
			what := id.key
			if what == "duid" {
				what = "DUID"
			}
			d.failf(iv.line, iv.key, "%s %s already has a reservation in this subnet (%s): put the address and prefix in one reservation", what, txt, prev)
			break
		}
		clients[k] = rf.key
		switch id.key {
		case "duid":
			res.DUID = b
		case "remote-id":
			res.RemoteID = b
		case "interface-id":
			res.InterfaceID = b
		case "subscriber-id":
			res.SubscriberID = b
		}
	}
	if !named.set() && d.err == nil {
		d.failf(ri.line, ri.key, "names no client: want one of duid (%s), remote-id, interface-id or subscriber-id (colon-separated hex octets, matched exactly against the innermost relay's option)", reservationIDs[0].what)
	}
	av, xv := rf.get("address"), rf.get("prefix")
	if !av.set() && !xv.set() && d.err == nil {
		d.failf(ri.line, ri.key, "reserves nothing: want address and/or prefix")
	}
	if atxt := d.str(av); av.set() && d.err == nil {
		a, err := parseIPv6(atxt)
		switch {
		case err != nil:
			d.failf(av.line, av.key, "%v", err)
		case !subnet.Contains(a):
			d.failf(av.line, av.key, "address %s is outside subnet %s: want an address inside the subnet's prefix", atxt, subnet)
		}
		res.Address = a
		if d.err == nil {
			d.reserved = append(d.reserved, span{lo: a, hi: a, key: av.key, line: av.line, desc: atxt})
		}
	}
	if ptxt := d.str(xv); xv.set() && d.err == nil {
		p, err := parsePrefix6(ptxt)
		if err != nil {
			d.failf(xv.line, xv.key, "%v", err)
		}
		res.Prefix = p
		if err == nil {
			d.reserved = append(d.reserved, span{lo: p.Addr(), hi: lastAddr(p), key: xv.key, line: xv.line, desc: ptxt})
		}
	}
	res.Options = d.options(rf.get("options"))
	return res
}

// delegatedSubnets checks that no pd-pool overlaps a subnet's prefix. By
// now subnets are known not to overlap one another, so sorted by start they
// are sorted by end too and a binary search finds the one candidate.
func (d *decoder) delegatedSubnets() {
	if d.err != nil || len(d.subnetSpan) == 0 {
		return
	}
	subnets := slices.Clone(d.subnetSpan)
	slices.SortFunc(subnets, func(a, b span) int { return a.lo.Compare(b.lo) })
	for _, p := range d.pools {
		if !p.pd { // address pools lie inside their subnet by design
			continue
		}
		i, _ := slices.BinarySearchFunc(subnets, p.lo, func(s span, lo netip.Addr) int { return s.hi.Compare(lo) })
		if i < len(subnets) && subnets[i].lo.Compare(p.hi) <= 0 {
			s := subnets[i]
			d.failf(p.line, p.key, "%s overlaps %s (%s): %s", p.desc, s.key, s.desc, whyPDSubnet)
			return
		}
	}
}

// hi64 is an address's upper 64 bits: a pool must stay within one /64.
func hi64(a netip.Addr) uint64 {
	b := a.As16()
	var x uint64
	for _, c := range b[:8] {
		x = x<<8 | uint64(c)
	}
	return x
}

func listOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}

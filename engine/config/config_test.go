package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/replicate"
)

// contractExample is CONTRACT.md's "Config file (YAML)" block, verbatim.
// Example() must mean exactly the same thing.
const contractExample = `server:
  data-dir: /var/lib/tandem        # journal and server identity live here
  duid: ""                          # empty: generated once, then persisted
  interfaces: [eth0]                # links whose clients talk to us directly (joins ff02::1:2)
  listen: ["[::]:547"]              # unicast sockets for relayed traffic
  control: "127.0.0.1:8547"         # HTTP control API and /metrics
  preference: 255                   # DHCPv6 Preference option in ADVERTISE (omit for none)
  rapid-commit: true

lifetimes: {preferred: 30m, valid: 1h, t1: 15m, t2: 24m}

subnets:
  - prefix: 2001:db8:1::/64
    interface: eth0                 # optional: the directly attached link
    relationship: pair-a            # optional: which failover relationship serves it
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools:
      - {prefix: "2001:db8:100::/40", delegated-length: 56}
    reservations:
      - {duid: "00:01:00:01:aa:bb:cc:dd:ee:ff", address: "2001:db8:1::10", prefix: "2001:db8:200::/56"}

relationships:
  - name: pair-a
    role: primary                   # primary dials, secondary listens
    peer: "[2001:db8::2]:647"       # primary: where to dial
    listen: "[::]:647"              # secondary: where to listen
    mclt: 1h
    keepalive: 60s
    max-unacked-bndupd: 4096
    auto-partner-down: 0s           # 0 = only by ` + "`tandem ctl partner-down`" + `
    pd-secondary-share: 0.5         # proportional allocation of free delegable prefixes
    tls: {cert: "", key: "", ca: ""}   # all three set: mutual TLS on the partner link
`

func mustAddr(s string) netip.Addr         { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix     { return netip.MustParsePrefix(s) }
func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func hexb(s string) []byte {
	b, err := parseHex(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestContractExample checks every value of the CONTRACT example lands in
// the typed structs, defaults filled.
func TestContractExample(t *testing.T) {
	got, err := Parse("contract.yaml", []byte(contractExample))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Path: "contract.yaml",
		Server: Server{
			DataDir:    "/var/lib/tandem",
			Interfaces: []string{"eth0"},
			Listen:     []netip.AddrPort{mustAddrPort("[::]:547")},
			Control:    "127.0.0.1:8547",
		},
		Engine: engine.Config{
			Preference:   255,
			RapidCommit:  true,
			Preferred:    30 * time.Minute,
			Valid:        time.Hour,
			T1:           15 * time.Minute,
			T2:           24 * time.Minute,
			ReclaimAfter: time.Hour,      // engine default: Valid
			DeclineHold:  24 * time.Hour, // engine default
			Subnets: []engine.SubnetConfig{{
				Prefix:       mustPrefix("2001:db8:1::/64"),
				Interface:    "eth0",
				Relationship: "pair-a",
				Pools:        []engine.Pool{{Start: mustAddr("2001:db8:1::1000"), End: mustAddr("2001:db8:1::ffff")}},
				PDPools:      []engine.PDPool{{Prefix: mustPrefix("2001:db8:100::/40"), DelegatedLen: 56}},
				Reservations: []engine.Reservation{{
					DUID:    []byte{0x00, 0x01, 0x00, 0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
					Address: mustAddr("2001:db8:1::10"),
					Prefix:  mustPrefix("2001:db8:200::/56"),
				}},
			}},
			Relationships: []engine.RelationshipConfig{{
				Name: "pair-a", Primary: true, MCLT: time.Hour, PDSecondaryShare: 0.5,
			}},
		},
		Relationships: []Relationship{{
			Name:             "pair-a",
			Role:             "primary",
			Peer:             mustAddrPort("[2001:db8::2]:647"),
			Listen:           mustAddrPort("[::]:647"),
			MCLT:             time.Hour,
			Keepalive:        60 * time.Second,
			AutoPartnerDown:  0,
			MaxUnackedBNDUPD: 4096,
			PDSecondaryShare: 0.5,
		}},
		Links: []replicate.Config{{
			Name: "pair-a", Primary: true,
			Peer: mustAddrPort("[2001:db8::2]:647"), Listen: mustAddrPort("[::]:647"),
			MCLT: time.Hour, Keepalive: 60 * time.Second, MaxUnacked: 4096,
			DelegatesPrefixes: true, // its subnet has a pd-pool
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Server.DUID != nil || got.Engine.ServerDUID != nil {
		t.Errorf("DUIDs must stay nil: server %v engine %v", got.Server.DUID, got.Engine.ServerDUID)
	}
	if got.Relationships[0].TLS.Enabled() {
		t.Error("TLS enabled with empty files")
	}
}

func TestExample(t *testing.T) {
	got, err := Parse("example.yaml", []byte(Example()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse("example.yaml", []byte(contractExample))
	if err != nil {
		t.Fatal(err)
	}
	// The CONTRACT example's settings, and the ISP service's on top: options
	// at several levels, two classes, class-restricted pools and a
	// reservation by remote-id.
	a := func(s ...string) []byte {
		var b []byte
		for _, x := range s {
			b = append(b, mustAddr(x).AsSlice()...)
		}
		return b
	}
	biz, res := hexb("00:00:0d:e9:62:69:7a:2d"), hexb("00:00:0d:e9:72:65:73:2d")
	w := &want.Engine
	w.Options = engine.Options{
		{Code: 23, Data: a("2001:db8::53", "2001:db8::54")},
		{Code: 24, Data: []byte("\x07example\x03net\x00")},
		{Code: 56, Data: append(append([]byte{0, 1, 0, 16}, a("2001:db8::123")...), "\x00\x03\x00\x11\x03ntp\x07example\x03net\x00"...)},
		{Code: 82, Data: []byte{0, 0, 0x0e, 0x10}},
		{Code: 32, Data: []byte{0, 1, 0x51, 0x80}},
	}
	w.Classes = []engine.Class{
		{Name: "business", Match: engine.Match{RemoteID: biz},
			Options: engine.Options{{Code: 23, Data: a("2001:db8::1:53")}, {Code: 82, Data: []byte{0, 0, 2, 0x58}}}},
		{Name: "residential", Match: engine.Match{RemoteID: res},
			Options: engine.Options{{Code: 64, Data: []byte("\x04aftr\x07example\x03net\x00")}}},
	}
	s := &w.Subnets[0]
	s.Options = engine.Options{{Code: 24, Data: []byte("\x06access\x07example\x03net\x00\x07example\x03net\x00")}}
	s.Pools = []engine.Pool{
		{Start: mustAddr("2001:db8:1::1000"), End: mustAddr("2001:db8:1::7fff")},
		{Start: mustAddr("2001:db8:1::8000"), End: mustAddr("2001:db8:1::ffff"), Classes: []string{"business"}},
	}
	s.PDPools = []engine.PDPool{
		{Prefix: mustPrefix("2001:db8:100::/40"), DelegatedLen: 56, Classes: []string{"residential"}},
		{Prefix: mustPrefix("2001:db8:1000::/36"), DelegatedLen: 48, Classes: []string{"business"},
			Options: engine.Options{{Code: 23, Data: a("2001:db8::2:53")}}},
	}
	s.Reservations = append(s.Reservations, engine.Reservation{
		RemoteID: hexb("00:00:0d:e9:62:69:7a:2d:34:32"), Prefix: mustPrefix("2001:db8:300::/48"),
		Options: engine.Options{{Code: 56, Data: []byte("\x00\x03\x00\x1c\x03ntp\x0acustomer42\x07example\x03com\x00")}},
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Example():\ngot  %+v\nwant %+v", got, want)
	}

	// The commented-out options in the example must be valid too.
	var un strings.Builder
	n := 0
	for _, line := range strings.SplitAfter(Example(), "\n") {
		for _, k := range []string{"sntp-servers:", "inf-max-rt:", "vendor-opts:", "  enterprise:", "  sub-options:", "custom:", "  - {code:"} {
			if strings.HasPrefix(line, "  # "+k) || strings.HasPrefix(line, "  #   "+strings.TrimPrefix(k, "  ")) {
				line = "  " + line[4:]
				n++
				break
			}
		}
		un.WriteString(line)
	}
	f, err := Parse("example.yaml", []byte(un.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n != 8 || len(f.Engine.Options) != 10 {
		t.Errorf("%d lines uncommented, options %+v", n, f.Engine.Options)
	}

	// So must the m-to-1 secondary's subnets and relationships, in place of
	// the example's own.
	ex := Example()
	i := strings.Index(ex, "# subnets:\n")
	if i < 0 {
		t.Fatal("no m-to-1 example")
	}
	var mto1 strings.Builder
	for _, line := range strings.Split(ex[i:], "\n") {
		mto1.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	f, err = Parse("mto1.yaml", []byte(ex[:strings.Index(ex, "\nsubnets:")+1]+mto1.String()))
	if err != nil {
		t.Fatal(err)
	}
	rs := f.Relationships
	if len(rs) != 2 || rs[0].Role != "secondary" || rs[1].Role != "secondary" || rs[0].Listen != rs[1].Listen ||
		rs[0].Peer.Addr() == rs[1].Peer.Addr() || rs[0].TLS.Enabled() || !rs[1].TLS.Enabled() {
		t.Errorf("m-to-1 relationships: %+v", rs)
	}
	if s := f.Engine.Subnets; len(s) != 2 || s[0].Relationship != "pair-a" || s[1].Relationship != "pair-b" {
		t.Errorf("m-to-1 subnets: %+v", s)
	}
}

func TestDefault(t *testing.T) {
	f, err := Parse("<default>", []byte(Default()))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Server
	if len(s.Interfaces) != 0 || !reflect.DeepEqual(s.Listen, []netip.AddrPort{mustAddrPort("[::1]:5547")}) ||
		s.Control != DefaultControl || s.DataDir != "./tandem-data" || s.DUID != nil {
		t.Errorf("server: %+v", s)
	}
	e := f.Engine
	if e.Valid != 10*time.Minute || len(e.Subnets) != 1 || e.Subnets[0].Prefix != mustPrefix("2001:db8:1::/64") ||
		len(e.Subnets[0].Pools) != 1 ||
		!reflect.DeepEqual(e.Subnets[0].PDPools, []engine.PDPool{{Prefix: mustPrefix("2001:db8:100::/40"), DelegatedLen: 56}}) {
		t.Errorf("engine: %+v", e)
	}
	if len(f.Relationships) != 0 {
		t.Errorf("relationships: %+v", f.Relationships)
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tandem.yaml")
	if err := os.WriteFile(p, []byte(Default()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil || f.Path != p {
		t.Fatalf("Load: %v %+v", err, f)
	}
	if err := os.WriteFile(p, []byte("server:\n  data-dir: \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(p)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != p || ce.Line != 2 || ce.Key != "server.data-dir" {
		t.Fatalf("Load error: %#v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

// head is a minimal valid server section: 3 lines, so a case's own text
// starts on line 4.
const head = "server:\n  data-dir: /d\n  listen: [\"[::]:547\"]\n"

// TestParseOK covers accepted forms the examples do not use.
func TestParseOK(t *testing.T) {
	f, err := Parse("t.yaml", []byte(`server:
  data-dir: d
  duid: 00:03:00:01:02:03:04:05:06:07
  interfaces: [eth0, eth1]
  control: "0.0.0.0:8547"
  control-allow-remote: true
  journal-retention: 400d
lifetimes: {valid: 400d, preferred: 1d12h}
options:
  dns-servers: ["2001:db8::53", "2001:db8::54"]
  domain-search: [example.com, corp.example.com.]
subnets:
  - prefix: 2001:db8:1::/48
    interface: eth1
    pools: ["2001:db8:1::/112", "2001:db8:1:1::10 - 2001:db8:1:1::20"]
    reservations:
      - {duid: "00:01:00:01:aa:bb:cc:dd:ee:ff", prefix: "2001:db8:300::/56"}
      - {duid: "00:01:00:01:aa:bb:cc:dd:ee:00", address: "2001:db8:1:5::1"}
  - prefix: 2001:db8:2::/64
    relationship: b
relationships:
  - {name: b, role: secondary, listen: "[::]:647", mclt: 30s, pd-secondary-share: 0,
     tls: {cert: c.pem, key: k.pem, ca: ca.pem}, auto-partner-down: 1m, max-unacked-bndupd: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Server.DUID, []byte{0, 3, 0, 1, 2, 3, 4, 5, 6, 7}) || f.Server.Control != "0.0.0.0:8547" ||
		!f.Server.AllowRemoteControl || len(f.Server.Listen) != 0 || f.Server.JournalRetention != 400*24*time.Hour {
		t.Errorf("server: %+v", f.Server)
	}
	e := f.Engine
	if e.Valid != 400*24*time.Hour || e.Preferred != 36*time.Hour || e.T1 != 18*time.Hour || e.Preference != -1 || e.RapidCommit {
		t.Errorf("engine: %+v", e)
	}
	wantOpts := engine.Options{
		{Code: 23, Data: append(mustAddr("2001:db8::53").AsSlice(), mustAddr("2001:db8::54").AsSlice()...)},
		{Code: 24, Data: []byte("\x07example\x03com\x00\x04corp\x07example\x03com\x00")},
	}
	if !reflect.DeepEqual(e.Options, wantOpts) {
		t.Errorf("options: %v", e.Options)
	}
	wantPools := []engine.Pool{
		{Start: mustAddr("2001:db8:1::"), End: mustAddr("2001:db8:1::ffff")},
		{Start: mustAddr("2001:db8:1:1::10"), End: mustAddr("2001:db8:1:1::20")},
	}
	if !reflect.DeepEqual(e.Subnets[0].Pools, wantPools) {
		t.Errorf("pools: %v", e.Subnets[0].Pools)
	}
	if r := e.Subnets[0].Reservations; r[0].Address.IsValid() || r[0].Prefix != mustPrefix("2001:db8:300::/56") || r[1].Prefix.IsValid() {
		t.Errorf("reservations: %+v", r)
	}
	r := f.Relationships[0]
	if r.MCLT != 30*time.Second || r.PDSecondaryShare != 0 || !r.TLS.Enabled() || r.AutoPartnerDown != time.Minute ||
		r.MaxUnackedBNDUPD != 1 || r.Keepalive != replicate.DefaultKeepalive || r.Peer.IsValid() {
		t.Errorf("relationship: %+v", r)
	}

	// control: "" disables; omitted means the default.
	f, err = Parse("t.yaml", []byte(head+"  control: \"\"\n"))
	if err != nil || f.Server.Control != "" {
		t.Errorf("control \"\": %v %q", err, f.Server.Control)
	}
	f, err = Parse("t.yaml", []byte(head))
	if err != nil || f.Server.Control != DefaultControl || f.Engine.Preference != -1 {
		t.Errorf("defaults: %v %+v", err, f)
	}
	for _, c := range []string{"localhost:9000", "[::1]:8547", "127.0.0.2:1"} {
		if _, err := Parse("t.yaml", []byte(head+"  control: \""+c+"\"\n")); err != nil {
			t.Errorf("control %s: %v", c, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		// The file as a whole.
		{"yaml syntax", "server: [\n", `t.yaml:1: YAML: did not find expected node content`},
		{"top level list", "- a\n", `t.yaml:1: want a mapping with keys server, lifetimes, options, classes, subnets, relationships at the top level, got a list`},
		{"empty file", "", `t.yaml:1: server.data-dir: required: the directory that holds the journal and the server identity, like /var/lib/tandem`},
		{"two documents", head + "---\nserver: {}\n", `t.yaml:4: a second YAML document; a config is one document (remove the extra ---)`},
		{"alias", head + "lifetimes: &l {valid: 1h}\noptions: *l\n", `t.yaml:5: options: YAML aliases are not supported; write the value out`},
		{"complex key", head + "? [a]\n: b\n", `t.yaml:4: keys must be plain names, got a list`},

		// Keys.
		{"unknown top key", "sever:\n  data-dir: /d\n", `t.yaml:1: sever: unknown key; valid keys here: server, lifetimes, options, classes, subnets, relationships`},
		{"bad retention", head + "  journal-retention: forever\n", `t.yaml:4: server.journal-retention: invalid duration "forever": want a number and a unit, like 90s, 30m, 12h or 400d`},
		{"unknown server key", head + "  dta-dir: /x\n", `t.yaml:4: server.dta-dir: unknown key; valid keys here: data-dir, duid, interfaces, listen, control, control-allow-remote, preference, rapid-commit, unicast, journal-retention`},
		{"unknown pd-pool key", head + "subnets:\n  - prefix: 2001:db8::/64\n    pd-pools:\n      - {prefix: 2001:db8:100::/40, length: 56}\n",
			`t.yaml:7: subnets[0].pd-pools[0].length: unknown key; valid keys here: prefix, delegated-length, classes, options`},
		{"unknown tls key", head + "relationships:\n  - {name: a, role: primary, peer: \"[2001:db8::2]:647\", tls: {crt: x}}\n",
			`t.yaml:5: relationships[0].tls.crt: unknown key; valid keys here: cert, key, ca`},
		{"duplicate key", head + "  data-dir: /e\n", `t.yaml:4: server.data-dir: duplicate key; first set on line 2`},
		{"not a mapping", "server: /d\n", `t.yaml:1: server: want a mapping with keys data-dir, duid, interfaces, listen, control, control-allow-remote, preference, rapid-commit, unicast, journal-retention, got "/d"`},
		{"not a list", head + "  interfaces: eth0\n", `t.yaml:4: server.interfaces: want a list, got "eth0"`},
		{"not a scalar", "server:\n  data-dir: [a]\n", `t.yaml:2: server.data-dir: want a string, got a list`},

		// server.
		{"data-dir missing", "server:\n  listen: [\"[::]:547\"]\n", `t.yaml:1: server.data-dir: required: the directory that holds the journal and the server identity, like /var/lib/tandem`},
		{"data-dir empty", "server:\n  data-dir: \"\"\n", `t.yaml:2: server.data-dir: required: the directory that holds the journal and the server identity, like /var/lib/tandem`},
		{"no sockets", "server:\n  data-dir: /d\n", `t.yaml:1: server: neither interfaces nor listen is set, so no DHCP traffic can reach the server: set interfaces (links with direct clients) and/or listen (unicast sockets for relays)`},
		{"duid not hex", head + "  duid: \"00:01:zz\"\n", `t.yaml:4: server.duid: invalid DUID "00:01:zz": want colon-separated hex octets, like 00:01:00:01:aa:bb:cc:dd:ee:ff`},
		{"duid too short", head + "  duid: \"00:01\"\n", `t.yaml:4: server.duid: DUID of 2 octets: want 3-130 (a 2-octet type and 1-128 octets of identifier)`},
		{"interface twice", head + "  interfaces: [eth0, eth0]\n", `t.yaml:4: server.interfaces[1]: interface "eth0" is listed twice`},
		{"listen no port", "server:\n  data-dir: /d\n  listen: [\"::\"]\n", `t.yaml:3: server.listen[0]: invalid address "::": want address:port, like "[::]:547"`},
		{"listen ipv4", "server:\n  data-dir: /d\n  listen: [\"0.0.0.0:547\"]\n", `t.yaml:3: server.listen[0]: "0.0.0.0:547" is not an IPv6 address: DHCPv6 listens on IPv6, like "[::]:547"`},
		{"listen multicast", "server:\n  data-dir: /d\n  listen: [\"[ff02::1:2]:547\"]\n", `t.yaml:3: server.listen[0]: "[ff02::1:2]:547" is a multicast address: listen takes unicast sockets; for multicast list the link in server.interfaces`},
		{"control remote", head + "  control: \"0.0.0.0:8547\"\n", `t.yaml:4: server.control: "0.0.0.0:8547" is not a loopback address and the control API has no authentication: bind it to 127.0.0.1 or [::1], or set server.control-allow-remote: true`},
		{"control all addresses", head + "  control: \":8547\"\n  control-allow-remote: false\n", `t.yaml:4: server.control: ":8547" is not a loopback address and the control API has no authentication: bind it to 127.0.0.1 or [::1], or set server.control-allow-remote: true`},
		{"control no port", head + "  control: localhost\n", `t.yaml:4: server.control: invalid address "localhost": want host:port, like "127.0.0.1:8547" or "[::1]:8547" ("" disables the control API)`},
		{"control hostname", head + "  control: \"ctl.example.com:8547\"\n", `t.yaml:4: server.control: invalid host "ctl.example.com" in "ctl.example.com:8547": want an IP address or localhost`},
		{"control port", head + "  control: \"127.0.0.1:http\"\n", `t.yaml:4: server.control: invalid port "http" in "127.0.0.1:http": want 0-65535`},
		{"preference range", head + "  preference: 256\n", `t.yaml:4: server.preference: invalid value "256": want a whole number from 0 to 255`},
		{"preference word", head + "  preference: high\n", `t.yaml:4: server.preference: invalid value "high": want a whole number from 0 to 255`},
		{"bool", head + "  rapid-commit: yes\n", `t.yaml:4: server.rapid-commit: invalid boolean "yes": want true or false`},

		// lifetimes.
		{"duration words", head + "lifetimes:\n  valid: 1 hour\n", `t.yaml:5: lifetimes.valid: invalid duration "1 hour": want a number and a unit, like 90s, 30m, 12h or 400d`},
		{"duration unitless", head + "lifetimes: {valid: 3600}\n", `t.yaml:4: lifetimes.valid: invalid duration "3600": want a number and a unit, like 90s, 30m, 12h or 400d`},
		{"duration negative", head + "lifetimes: {t1: -5m}\n", `t.yaml:4: lifetimes.t1: duration "-5m" is negative: want 0 or more`},
		{"duration bad days", head + "lifetimes: {valid: xd}\n", `t.yaml:4: lifetimes.valid: invalid duration "xd": want a number and a unit, like 90s, 30m, 12h or 400d`},
		{"duration overflow", head + "lifetimes: {valid: 200000d}\n", `t.yaml:4: lifetimes.valid: duration "200000d" is too long`},
		{"lifetime too long", head + "lifetimes: {valid: 50000d}\n", `t.yaml:4: lifetimes.valid: 50000d is longer than DHCPv6 can carry: want at most 49710d (lifetimes are 32-bit seconds)`},
		{"preferred > valid", head + "lifetimes:\n  preferred: 2h\n  valid: 1h\n", `t.yaml:5: lifetimes.preferred: preferred lifetime 2h exceeds valid lifetime 1h: want preferred <= valid`},
		{"preferred > default valid", head + "lifetimes: {preferred: 2h}\n", `t.yaml:4: lifetimes.preferred: preferred lifetime 2h exceeds valid lifetime 1h (default): want preferred <= valid`},
		{"t1 > t2", head + "lifetimes: {t1: 20m, t2: 10m}\n", `t.yaml:4: lifetimes.t1: t1 20m exceeds t2 10m: want t1 <= t2`},
		{"t1 > default t2", head + "lifetimes: {valid: 1h, t1: 25m}\n", `t.yaml:4: lifetimes.t1: t1 25m exceeds t2 24m (default): want t1 <= t2`},

		// options.
		{"dns ipv4", head + "options: {dns-servers: [192.0.2.53]}\n", `t.yaml:4: options.dns-servers[0]: "192.0.2.53" is not an IPv6 address`},
		{"dns garbage", head + "options: {dns-servers: [dns1]}\n", `t.yaml:4: options.dns-servers[0]: invalid IPv6 address "dns1"`},
		{"dns multicast", head + "options: {dns-servers: [\"ff02::1\"]}\n", `t.yaml:4: options.dns-servers[0]: "ff02::1" is not a unicast address: want a DNS server's IPv6 address, like 2001:db8::53`},
		{"domain", head + "options:\n  domain-search: [example.com, a..b]\n", `t.yaml:5: options.domain-search[1]: invalid domain name "a..b": want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com`},

		// subnets.
		{"subnet prefix missing", head + "subnets:\n  - pools: []\n", `t.yaml:5: subnets[0].prefix: required: the link's IPv6 prefix, like 2001:db8:1::/64`},
		{"subnet prefix host bits", head + "subnets:\n  - prefix: 2001:db8:1::5/64\n", `t.yaml:5: subnets[0].prefix: prefix "2001:db8:1::5/64" has bits set past /64: did you mean 2001:db8:1::/64?`},
		{"subnet prefix ipv4", head + "subnets:\n  - prefix: 192.0.2.0/24\n", `t.yaml:5: subnets[0].prefix: "192.0.2.0/24" is not an IPv6 prefix: want one like 2001:db8:1::/64`},
		{"subnet prefix garbage", head + "subnets:\n  - prefix: \"2001:db8:1::\"\n", `t.yaml:5: subnets[0].prefix: invalid prefix "2001:db8:1::": want an IPv6 prefix like 2001:db8:1::/64`},
		{"subnets overlap", head + "subnets:\n  - prefix: 2001:db8::/48\n  - prefix: 2001:db8:0:1::/64\n",
			`t.yaml:6: subnets[1]: 2001:db8:0:1::/64 overlaps subnets[0] (2001:db8::/48): a relayed request is matched to one subnet by its link-address, so subnets must not overlap`},
		{"interface not served", head + "subnets:\n  - prefix: 2001:db8::/64\n    interface: eth0\n",
			`t.yaml:6: subnets[0].interface: interface "eth0" is not in server.interfaces (empty): add it there so the server listens on it, or remove it here`},
		{"relationship undefined", head + "subnets:\n  - prefix: 2001:db8::/64\n    relationship: pair-b\nrelationships:\n  - {name: pair-a, role: secondary, listen: \"[::]:647\"}\n",
			`t.yaml:6: subnets[0].relationship: relationship "pair-b" is not defined: want one of the names under relationships (pair-a), or remove the key for a standalone subnet`},
		{"relationship none", head + "subnets:\n  - prefix: 2001:db8::/64\n    relationship: pair-a\n",
			`t.yaml:6: subnets[0].relationship: relationship "pair-a" is not defined: want one of the names under relationships (none defined), or remove the key for a standalone subnet`},

		// pools.
		{"pool syntax", head + "subnets:\n  - prefix: 2001:db8::/64\n    pools: [\"2001:db8::1..2001:db8::9\"]\n",
			`t.yaml:6: subnets[0].pools[0]: invalid pool "2001:db8::1..2001:db8::9": want START-END, like 2001:db8:1::1000-2001:db8:1::ffff, or a prefix, like 2001:db8:1::/112`},
		{"pool bad ip", head + "subnets:\n  - prefix: 2001:db8::/64\n    pools: [\"2001:db8::1-2001:db8::g\"]\n",
			`t.yaml:6: subnets[0].pools[0]: pool "2001:db8::1-2001:db8::g": invalid IPv6 address "2001:db8::g"`},
		{"pool backwards", head + "subnets:\n  - prefix: 2001:db8::/64\n    pools: [\"2001:db8::9-2001:db8::1\"]\n",
			`t.yaml:6: subnets[0].pools[0]: pool "2001:db8::9-2001:db8::1" ends before it starts: want START-END with START <= END`},
		{"pool outside subnet", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pools:\n      - 2001:db8:1::1-2001:db8:1::9\n      - 2001:db8:2::1-2001:db8:2::9\n",
			`t.yaml:8: subnets[0].pools[1]: pool 2001:db8:2::1-2001:db8:2::9 is outside subnet 2001:db8:1::/64: want addresses inside the subnet's prefix`},
		{"pool spans /64s", head + "subnets:\n  - prefix: 2001:db8::/48\n    pools: [\"2001:db8::1-2001:db8:0:1::1\"]\n",
			`t.yaml:6: subnets[0].pools[0]: pool 2001:db8::1-2001:db8:0:1::1 spans more than one /64: want a range within one /64 (use one pool per /64)`},
		{"pool prefix spans /64s", head + "subnets:\n  - prefix: 2001:db8::/48\n    pools: [\"2001:db8::/63\"]\n",
			`t.yaml:6: subnets[0].pools[0]: pool 2001:db8::/63 spans more than one /64: want a range within one /64 (use one pool per /64)`},
		{"pools overlap", head + "subnets:\n  - prefix: 2001:db8::/64\n    pools: [\"2001:db8::10-2001:db8::20\", \"2001:db8::/120\"]\n",
			`t.yaml:6: subnets[0].pools[1]: 2001:db8::/120 overlaps subnets[0].pools[0] (2001:db8::10-2001:db8::20): pools and pd-pools must not share addresses, within a subnet or across subnets`},
		{"pd-pools overlap across subnets", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools: [{prefix: \"2001:db8:100::/40\", delegated-length: 56}]\n  - prefix: 2001:db8:2::/64\n    pd-pools: [{prefix: \"2001:db8:180::/48\", delegated-length: 56}]\n",
			`t.yaml:8: subnets[1].pd-pools[0].prefix: 2001:db8:180::/48 overlaps subnets[0].pd-pools[0].prefix (2001:db8:100::/40): pools and pd-pools must not share addresses, within a subnet or across subnets`},
		{"pd-pool overlaps pool", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pools: [\"2001:db8:1::/64\"]\n    pd-pools: [{prefix: \"2001:db8::/32\", delegated-length: 56}]\n",
			`t.yaml:7: subnets[0].pd-pools[0].prefix: 2001:db8::/32 overlaps subnets[0].pools[0] (2001:db8:1::/64): pools and pd-pools must not share addresses, within a subnet or across subnets`},
		{"delegated-length short", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools:\n      - prefix: 2001:db8:100::/40\n        delegated-length: 32\n",
			`t.yaml:8: subnets[0].pd-pools[0].delegated-length: delegated-length 32 out of range for a /40 pd-pool: want 40-103`},
		{"delegated-length long", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools: [{prefix: \"2001:db8:100::/40\", delegated-length: 129}]\n",
			`t.yaml:6: subnets[0].pd-pools[0].delegated-length: delegated-length 129 out of range for a /40 pd-pool: want 40-103`},
		{"delegated-length word", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools: [{prefix: \"2001:db8:100::/40\", delegated-length: /56}]\n",
			`t.yaml:6: subnets[0].pd-pools[0].delegated-length: invalid delegated-length "/56": want a prefix length from 40 to 103 for a /40 pd-pool`},
		{"pd-pool covers subnet", head + "subnets:\n  - prefix: 2001:db8:1::/64\n  - prefix: 2001:db8:2::/64\n    pd-pools: [{prefix: \"2001:db8::/46\", delegated-length: 56}]\n",
			`t.yaml:7: subnets[1].pd-pools[0].prefix: 2001:db8::/46 overlaps subnets[0] (2001:db8:1::/64): a delegated prefix is routed to the requesting router, so pd-pools must not cover a link's prefix`},
		{"delegated-length missing", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools: [{prefix: \"2001:db8:100::/40\"}]\n",
			`t.yaml:6: subnets[0].pd-pools[0].delegated-length: required: the length of the prefixes handed out, like 56`},
		{"pd prefix missing", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools:\n      - delegated-length: 56\n",
			`t.yaml:7: subnets[0].pd-pools[0].prefix: required: the prefix to delegate from, like 2001:db8:100::/40`},

		// reservations.
		{"reservation outside", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    reservations:\n      - {duid: \"00:01:00:01:aa:bb\", address: \"2001:db8:2::10\"}\n",
			`t.yaml:7: subnets[0].reservations[0].address: address 2001:db8:2::10 is outside subnet 2001:db8:1::/64: want an address inside the subnet's prefix`},
		{"reservation bad address", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    reservations:\n      - {duid: \"00:01:00:01:aa:bb\", address: \"2001:db8:1::zz\"}\n",
			`t.yaml:7: subnets[0].reservations[0].address: invalid IPv6 address "2001:db8:1::zz"`},
		{"reservation empty", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    reservations:\n      - {duid: \"00:01:00:01:aa:bb\"}\n",
			`t.yaml:7: subnets[0].reservations[0]: reserves nothing: want address and/or prefix`},
		{"reservation no duid", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    reservations:\n      - address: 2001:db8:1::10\n",
			`t.yaml:7: subnets[0].reservations[0]: names no client: want one of duid (the client's DUID, like 00:01:00:01:aa:bb:cc:dd:ee:ff), remote-id, interface-id or subscriber-id (colon-separated hex octets, matched exactly against the innermost relay's option)`},
		{"reservation duid twice", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    reservations:\n      - {duid: \"00:01:00:01:aa:bb\", address: 2001:db8:1::10}\n      - {duid: \"00:01:00:01:AA:BB\", prefix: \"2001:db8:200::/56\"}\n",
			`t.yaml:8: subnets[0].reservations[1].duid: DUID 00:01:00:01:AA:BB already has a reservation in this subnet (subnets[0].reservations[0]): put the address and prefix in one reservation`},
		{"reservations overlap", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    reservations:\n      - {duid: \"00:01:00:01:aa:bb\", address: 2001:db8:1::10}\n  - prefix: 2001:db8:2::/64\n    reservations:\n      - {duid: \"00:01:00:01:aa:bb\", prefix: \"2001:db8:1::/64\"}\n",
			`t.yaml:10: subnets[1].reservations[0].prefix: 2001:db8:1::/64 overlaps subnets[0].reservations[0].address (2001:db8:1::10): an address or prefix can be reserved for one client only`},

		// relationships.
		{"relationship no name", head + "relationships:\n  - role: secondary\n    listen: \"[::]:647\"\n",
			"t.yaml:5: relationships[0].name: required: a name for the relationship, used by subnets[].relationship and `tandem ctl`"},
		{"relationship bad name", head + "relationships:\n  - {name: \"pair a\", role: secondary, listen: \"[::]:647\"}\n",
			`t.yaml:5: relationships[0].name: invalid name "pair a": want 1-64 letters, digits, '.', '_' or '-'`},
		{"relationship duplicate", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\"}\n  - {name: a, role: secondary, listen: \"[::]:648\"}\n",
			`t.yaml:6: relationships[1].name: duplicate name "a": relationships[0] has it already; names must be unique`},
		{"relationship duplicate with another peer", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::3]:647\"}\n",
			`t.yaml:6: relationships[1].name: duplicate name "a": relationships[0] has it already; names must be unique`},
		{"shared listen without peer", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n  - name: b\n    role: secondary\n    listen: \"[::]:647\"\n",
			`t.yaml:6: relationships[1].peer: required for a secondary that shares listen "[::]:647" with relationships[0] (a): a connection on a shared socket goes to the relationship whose peer address it comes from, so name the primary, like "[2001:db8::1]:647"`},
		{"shared listen, first without peer", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\"}\n  - {name: b, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n",
			`t.yaml:5: relationships[0].peer: required for a secondary that shares listen "[::]:647" with relationships[1] (b): a connection on a shared socket goes to the relationship whose peer address it comes from, so name the primary, like "[2001:db8::1]:647"`},
		{"shared listen, same peer, different tls", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n  - name: b\n    role: secondary\n    listen: \"[::]:647\"\n    peer: \"[2001:db8::1]:647\"\n    tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n",
			`t.yaml:10: relationships[1].tls: differs from relationships[0].tls (a), which has the same peer address 2001:db8::1 and listen "[::]:647": TLS is set up before the CONNECT names the relationship, so set the same cert, key and ca, or none`},
		{"overlapping listen", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n  - {name: b, role: secondary, listen: \"[2001:db8::5]:647\", peer: \"[2001:db8::3]:647\"}\n",
			`t.yaml:6: relationships[1].listen: "[2001:db8::5]:647" overlaps relationships[0].listen "[::]:647" (a): both cannot bind port 647; give relationships on one port the same listen value and they share the socket`},
		{"subnet in two relationships", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n  - {name: b, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::3]:647\"}\nsubnets:\n  - {prefix: 2001:db8:1::/64, relationship: [a, b]}\n",
			`t.yaml:8: subnets[0].relationship: want a string, got a list`},
		{"prefix in two relationships", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::1]:647\"}\n  - {name: b, role: secondary, listen: \"[::]:647\", peer: \"[2001:db8::3]:647\"}\nsubnets:\n  - {prefix: 2001:db8:1::/64, relationship: a}\n  - {prefix: 2001:db8:1::/48, relationship: b}\n",
			`t.yaml:9: subnets[1]: 2001:db8:1::/48 overlaps subnets[0] (2001:db8:1::/64): a relayed request is matched to one subnet by its link-address, so subnets must not overlap`},
		{"relationship serves no subnet", head + "subnets:\n  - prefix: 2001:db8:1::/64\n    relationship: a\nrelationships:\n  - {name: a, role: secondary, listen: \"[::]:647\"}\n  - name: b\n    role: primary\n    peer: \"[2001:db8::1]:647\"\n",
			`t.yaml:9: relationships[1].name: relationship "b" serves no subnet: set relationship: b on the subnets it serves, or remove it`},
		{"role missing", head + "relationships:\n  - name: a\n", `t.yaml:5: relationships[0].role: required: primary or secondary`},
		{"role bad", head + "relationships:\n  - name: a\n    role: master\n", `t.yaml:6: relationships[0].role: invalid role "master": want primary or secondary`},
		{"primary without peer", head + "relationships:\n  - name: a\n    role: primary\n    listen: \"[::]:647\"\n",
			`t.yaml:5: relationships[0].peer: required for a primary: the partner's address to dial, like "[2001:db8::2]:647"`},
		{"secondary without listen", head + "relationships:\n  - name: a\n    role: secondary\n    peer: \"[2001:db8::1]:647\"\n",
			`t.yaml:5: relationships[0].listen: required for a secondary: the address to accept the primary on, like "[::]:647"`},
		{"peer syntax", head + "relationships:\n  - {name: a, role: primary, peer: \"2001:db8::2:647\"}\n",
			`t.yaml:5: relationships[0].peer: invalid address "2001:db8::2:647": want address:port, like "[2001:db8::2]:647"`},
		{"peer port 0", head + "relationships:\n  - {name: a, role: primary, peer: \"[2001:db8::2]:0\"}\n",
			`t.yaml:5: relationships[0].peer: cannot dial "[2001:db8::2]:0": want the partner's unicast address and a port, like "[2001:db8::2]:647"`},
		{"listen syntax", head + "relationships:\n  - {name: a, role: secondary, listen: \"*:647\"}\n",
			`t.yaml:5: relationships[0].listen: invalid address "*:647": want address:port, like "[::]:647"`},
		{"mclt short", head + "relationships:\n  - name: a\n    role: secondary\n    listen: \"[::]:647\"\n    mclt: 10s\n",
			`t.yaml:8: relationships[0].mclt: 10s is too short: want at least 30s (the MCLT bounds how far one partner may extend a lease the other has not seen)`},
		{"keepalive zero", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", keepalive: 0s}\n",
			`t.yaml:5: relationships[0].keepalive: 0s: want a positive duration, like 10s`},
		{"max-unacked zero", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", max-unacked-bndupd: 0}\n",
			`t.yaml:5: relationships[0].max-unacked-bndupd: invalid value "0": want a whole number from 1 to 1048576`},
		{"share above 1", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", pd-secondary-share: 1.5}\n",
			`t.yaml:5: relationships[0].pd-secondary-share: invalid value "1.5": want a number from 0 to 1`},
		{"share nan", head + "relationships:\n  - {name: a, role: secondary, listen: \"[::]:647\", pd-secondary-share: .nan}\n",
			`t.yaml:5: relationships[0].pd-secondary-share: invalid value ".nan": want a number from 0 to 1`},
		{"tls partial", head + "relationships:\n  - name: a\n    role: secondary\n    listen: \"[::]:647\"\n    tls: {cert: c.pem}\n",
			`t.yaml:8: relationships[0].tls: set all of cert, key and ca for mutual TLS, or none of them; missing: key, ca`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("t.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if err.Error() != tc.want {
				t.Errorf("input:\n%s\ngot  %s\nwant %s", tc.in, err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, want *Error", err)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "0s": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "400d": 400 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour, "2d0s": 48 * time.Hour, "500ms": 500 * time.Millisecond,
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1", "-1d", "1d-1h", "1d+1h", "1dd", "1e3d", "infd", "1h1d", ".d", "1..2d"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

// FuzzParse: whatever the input, Parse returns a File or an *Error, never
// panics, and what it accepts the engine accepts too.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Example()))
	f.Add([]byte(Default()))
	f.Add([]byte(contractExample))
	f.Add([]byte(head + "lifetimes: {valid: 1d12h}\nsubnets:\n  - prefix: 2001:db8::/48\n    pools: [\"2001:db8::/112\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *Error: %v", err, err)
			}
			if file != nil {
				t.Fatal("both a File and an error")
			}
			return
		}
		cfg := file.Engine
		cfg.ServerDUID = []byte{0, 3, 0, 1, 1}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a config the engine rejects: %v", err)
		}
	})
}

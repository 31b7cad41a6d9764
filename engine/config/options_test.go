package config

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// addrs is the wire form of IPv6 addresses, 16 octets each.
func addrs(s ...string) []byte {
	var b []byte
	for _, x := range s {
		b = append(b, mustAddr(x).AsSlice()...)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestOptionValues: every key's accepted forms and the exact option data
// they encode to.
func TestOptionValues(t *testing.T) {
	exampleNet := []byte("\x07example\x03net\x00")
	for _, tc := range []struct {
		name, in string
		want     engine.Options
	}{
		{"dns-servers", `dns-servers: ["2001:db8::53", "2001:db8::54"]`,
			engine.Options{{Code: 23, Data: addrs("2001:db8::53", "2001:db8::54")}}},
		{"domain-search", `domain-search: [example.net, "corp.example.com."]`,
			engine.Options{{Code: 24, Data: cat(exampleNet, []byte("\x04corp\x07example\x03com\x00"))}}},
		{"ntp-servers", `ntp-servers: ["2001:db8::123", "ff05::101", ntp.example.net]`,
			engine.Options{{Code: 56, Data: cat([]byte{0, 1, 0, 16}, addrs("2001:db8::123"), []byte{0, 2, 0, 16}, addrs("ff05::101"),
				[]byte{0, 3, 0, 17}, []byte("\x03ntp"), exampleNet)}}},
		{"sntp-servers", `sntp-servers: ["2001:db8::123"]`,
			engine.Options{{Code: 31, Data: addrs("2001:db8::123")}}},
		{"aftr-name", `aftr-name: aftr.example.net.`,
			engine.Options{{Code: 64, Data: cat([]byte("\x04aftr"), exampleNet)}}},
		{"sol-max-rt seconds", `sol-max-rt: 3600`, engine.Options{{Code: 82, Data: []byte{0, 0, 0x0e, 0x10}}}},
		{"sol-max-rt duration", `sol-max-rt: 1h`, engine.Options{{Code: 82, Data: []byte{0, 0, 0x0e, 0x10}}}},
		{"sol-max-rt lowest", `sol-max-rt: 1m`, engine.Options{{Code: 82, Data: []byte{0, 0, 0, 60}}}},
		{"sol-max-rt highest", `sol-max-rt: 1d`, engine.Options{{Code: 82, Data: []byte{0, 1, 0x51, 0x80}}}},
		{"inf-max-rt", `inf-max-rt: 86400`, engine.Options{{Code: 83, Data: []byte{0, 1, 0x51, 0x80}}}},
		{"information-refresh-time lowest", `information-refresh-time: 600`, engine.Options{{Code: 32, Data: []byte{0, 0, 2, 0x58}}}},
		{"information-refresh-time duration", `information-refresh-time: 1d12h`, engine.Options{{Code: 32, Data: []byte{0, 1, 0xfa, 0x40}}}},
		{"information-refresh-time highest", `information-refresh-time: 4294967294`, engine.Options{{Code: 32, Data: []byte{0xff, 0xff, 0xff, 0xfe}}}},
		{"information-refresh-time infinity", `information-refresh-time: infinity`, engine.Options{{Code: 32, Data: []byte{0xff, 0xff, 0xff, 0xff}}}},
		{"vendor-opts", "vendor-opts:\n  enterprise: 4491\n  sub-options:\n    - {code: 32, type: string, value: tftp}\n    - {code: 2, type: u8, value: 1}\n    - {code: 2, type: ipv6, value: \"2001:db8::1\"}",
			engine.Options{{Code: 17, Data: cat([]byte{0, 0, 0x11, 0x8b, 0, 32, 0, 4}, []byte("tftp"), []byte{0, 2, 0, 1, 1, 0, 2, 0, 16}, addrs("2001:db8::1"))}}},
		{"vendor-opts enterprise 0 and highest", "vendor-opts: {enterprise: 4294967295, sub-options: [{code: 65535, type: hex, value: \"\"}]}",
			engine.Options{{Code: 17, Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}}}},
		{"custom types", `custom:
  - {code: 200, type: hex, value: "00:1a:2B"}
  - {code: 201, type: hex, value: 001a2b}
  - {code: 202, type: hex, value: ""}
  - {code: 203, type: string, value: "https://portal.example.net/"}
  - {code: 204, type: ipv6, value: "2001:db8::1"}
  - {code: 205, type: ipv6-list, value: ["2001:db8::1", "ff02::1"]}
  - {code: 206, type: u8, value: 010}
  - {code: 207, type: u16, value: 0x1234}
  - {code: 208, type: u32, value: 4294967295}
  - {code: 21, type: fqdn, value: example.net}
  - {code: 10, type: fqdn-list, value: [example.net, a.example.net]}
  - {code: 65535, type: string, value: 42}`,
			engine.Options{
				{Code: 200, Data: []byte{0, 0x1a, 0x2b}},
				{Code: 201, Data: []byte{0, 0x1a, 0x2b}},
				{Code: 202, Data: []byte{}},
				{Code: 203, Data: []byte("https://portal.example.net/")},
				{Code: 204, Data: addrs("2001:db8::1")},
				{Code: 205, Data: addrs("2001:db8::1", "ff02::1")},
				{Code: 206, Data: []byte{10}}, // not octal
				{Code: 207, Data: []byte{0x12, 0x34}},
				{Code: 208, Data: []byte{0xff, 0xff, 0xff, 0xff}},
				{Code: 21, Data: exampleNet},
				{Code: 10, Data: cat(exampleNet, []byte("\x01a"), exampleNet)},
				{Code: 65535, Data: []byte("42")},
			}},
		// Named keys in the order of optionKeys, whatever the file's; custom last.
		{"order", "custom: [{code: 200, type: u8, value: 0}]\ninf-max-rt: 60\ndns-servers: [\"2001:db8::53\"]",
			engine.Options{{Code: 23, Data: addrs("2001:db8::53")}, {Code: 83, Data: []byte{0, 0, 0, 60}}, {Code: 200, Data: []byte{0}}}},
		{"empty mapping", `{}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := head + "options:\n  " + strings.ReplaceAll(tc.in, "\n", "\n  ") + "\n"
			if tc.in == "{}" {
				in = head + "options: {}\n"
			}
			f, err := Parse("t.yaml", []byte(in))
			if err != nil {
				t.Fatalf("input:\n%s\n%v", in, err)
			}
			if !reflect.DeepEqual(f.Engine.Options, tc.want) {
				t.Errorf("got  %v\nwant %v", f.Engine.Options, tc.want)
			}
		})
	}
}

// TestOptionLevels: an options mapping is read at every level and lands
// in that level's Options; classes, class-restricted pools, reservations
// by relay options and server.unicast come out as written.
func TestOptionLevels(t *testing.T) {
	f, err := Parse("t.yaml", []byte(head+`  unicast: accept
options: {sol-max-rt: 60}
classes:
  - name: biz
    match:
      remote-id: "00:00:0d:e9:41"
      interface-id: 65:74:68
      subscriber-id: "73"
      vendor-class: "00:00:11:8B"
      user-class: "0004"
      duid: "00:01"
      link: "2001:db8::/32"
    options: {sol-max-rt: 61}
  - name: everyone
  - {name: other.class_2, match: {}, options: {}}
subnets:
  - prefix: 2001:db8:1::/64
    options: {sol-max-rt: 62}
    pools:
      - 2001:db8:1::/112
      - {range: "2001:db8:1::1:0-2001:db8:1::1:ff", classes: [biz, everyone], options: {sol-max-rt: 63}}
      - {range: "2001:db8:1::2:0/120"}
    pd-pools:
      - {prefix: "2001:db8:100::/40", delegated-length: 56, classes: [other.class_2], options: {sol-max-rt: 64}}
    reservations:
      - {duid: "00:01:00:01:aa:bb", address: "2001:db8:1::10", options: {sol-max-rt: 65}}
      - {remote-id: "00:00:0d:e9:41", address: "2001:db8:1::11"}
      - {interface-id: "65:74:68:30", address: "2001:db8:1::12"}
      - {subscriber-id: "7375623031", prefix: "2001:db8:200::/56"}
      - {remote-id: "00:00:0d:e9:42", address: "2001:db8:1::13"}
      - {interface-id: "00:01:00:01:aa:bb", address: "2001:db8:1::14"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rt := func(n byte) engine.Options { return engine.Options{{Code: wire.OptSolMaxRT, Data: []byte{0, 0, 0, n}}} }
	e := f.Engine
	if e.Unicast != engine.UnicastAccept || !reflect.DeepEqual(e.Options, rt(60)) {
		t.Errorf("unicast %v options %v", e.Unicast, e.Options)
	}
	wantClasses := []engine.Class{
		{Name: "biz", Match: engine.Match{
			RemoteID: []byte{0, 0, 0x0d, 0xe9, 0x41}, InterfaceID: []byte("eth"), SubscriberID: []byte("s"),
			VendorClass: []byte{0, 0, 0x11, 0x8b}, UserClass: []byte{0, 4}, DUID: []byte{0, 1}, Link: mustPrefix("2001:db8::/32"),
		}, Options: rt(61)},
		{Name: "everyone"},
		{Name: "other.class_2"},
	}
	if !reflect.DeepEqual(e.Classes, wantClasses) {
		t.Errorf("classes:\ngot  %+v\nwant %+v", e.Classes, wantClasses)
	}
	s := e.Subnets[0]
	wantPools := []engine.Pool{
		{Start: mustAddr("2001:db8:1::"), End: mustAddr("2001:db8:1::ffff")},
		{Start: mustAddr("2001:db8:1::1:0"), End: mustAddr("2001:db8:1::1:ff"), Classes: []string{"biz", "everyone"}, Options: rt(63)},
		{Start: mustAddr("2001:db8:1::2:0"), End: mustAddr("2001:db8:1::2:ff")},
	}
	if !reflect.DeepEqual(s.Options, rt(62)) || !reflect.DeepEqual(s.Pools, wantPools) {
		t.Errorf("subnet options %v pools %+v", s.Options, s.Pools)
	}
	if !reflect.DeepEqual(s.PDPools, []engine.PDPool{{Prefix: mustPrefix("2001:db8:100::/40"), DelegatedLen: 56, Classes: []string{"other.class_2"}, Options: rt(64)}}) {
		t.Errorf("pd-pools %+v", s.PDPools)
	}
	wantRes := []engine.Reservation{
		{DUID: []byte{0, 1, 0, 1, 0xaa, 0xbb}, Address: mustAddr("2001:db8:1::10"), Options: rt(65)},
		{RemoteID: []byte{0, 0, 0x0d, 0xe9, 0x41}, Address: mustAddr("2001:db8:1::11")},
		{InterfaceID: []byte("eth0"), Address: mustAddr("2001:db8:1::12")},
		{SubscriberID: []byte("sub01"), Prefix: mustPrefix("2001:db8:200::/56")},
		{RemoteID: []byte{0, 0, 0x0d, 0xe9, 0x42}, Address: mustAddr("2001:db8:1::13")},
		// The same bytes as a DUID above, but another kind of key.
		{InterfaceID: []byte{0, 1, 0, 1, 0xaa, 0xbb}, Address: mustAddr("2001:db8:1::14")},
	}
	if !reflect.DeepEqual(s.Reservations, wantRes) {
		t.Errorf("reservations:\ngot  %+v\nwant %+v", s.Reservations, wantRes)
	}

	f, err = Parse("t.yaml", []byte(head+"  unicast: use-multicast\n"))
	if err != nil || f.Engine.Unicast != engine.UnicastUseMulticast {
		t.Errorf("use-multicast: %v %v", err, f)
	}

	// As many classes as the engine takes.
	var b strings.Builder
	b.WriteString(head + "classes:\n")
	for i := range engine.MaxClasses {
		b.WriteString("  - {name: c" + strconv.Itoa(i) + "}\n")
	}
	if f, err := Parse("t.yaml", []byte(b.String())); err != nil || len(f.Engine.Classes) != engine.MaxClasses {
		t.Errorf("%d classes: %v", engine.MaxClasses, err)
	}
	b.WriteString("  - {name: one-too-many}\n")
	_, err = Parse("t.yaml", []byte(b.String()))
	if want := "t.yaml:" + strconv.Itoa(5+engine.MaxClasses) + ": classes[64]: too many classes: at most 64 (a client's classes are kept as a 64-bit set)"; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// TestRefusedCustomCodes: each refused code, and each code with a named
// key, is an error naming why or the key.
func TestRefusedCustomCodes(t *testing.T) {
	// Every code up to past the highest refused, and the last.
	for code := range 400 + 1 {
		if code == 400 {
			code = 65535
		}
		in := head + "options:\n  custom: [{code: " + strconv.Itoa(code) + ", type: hex, value: \"00\"}]\n"
		_, err := Parse("t.yaml", []byte(in))
		r, refused := RefusedCustomCodes[uint16(code)]
		n, named := namedCodes[uint16(code)]
		switch {
		case code == 0:
			if err == nil || !strings.Contains(err.Error(), "want a whole number from 1 to 65535") {
				t.Errorf("code 0: %v", err)
			}
		case refused:
			if want := "t.yaml:5: options.custom[0].code: code " + strconv.Itoa(code) + " (" + r.name + ") cannot be configured: " + r.why; err == nil || err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		case named:
			if want := "t.yaml:5: options.custom[0].code: code " + strconv.Itoa(code) + " (" + n[0] + ") has a named key: use the named key " + n[1]; err == nil || err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		case err != nil:
			t.Errorf("code %d: %v", code, err)
		}
	}
	// Spot checks of the list itself.
	for _, c := range []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 25, 26, 37, 38, 39, 114, 134} {
		if _, ok := RefusedCustomCodes[c]; !ok {
			t.Errorf("code %d is not refused", c)
		}
	}
	for _, c := range []uint16{10, 21, 22, 27, 103, 113, 136} {
		if _, ok := RefusedCustomCodes[c]; ok {
			t.Errorf("code %d is refused", c)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	const sub = head + "subnets:\n  - prefix: 2001:db8:1::/64\n" // subnets[0] is on line 5
	long := strings.Repeat(`"2001:db8::1", `, 4096)
	for _, tc := range []struct{ name, in, want string }{
		// The mapping.
		{"unknown option", head + "options: {dns: [\"2001:db8::53\"]}\n",
			`t.yaml:4: options.dns: unknown key; valid keys here: dns-servers, domain-search, ntp-servers, sntp-servers, aftr-name, sol-max-rt, inf-max-rt, information-refresh-time, vendor-opts, custom`},
		{"options not a mapping", head + "options: [dns-servers]\n",
			`t.yaml:4: options: want a mapping with keys dns-servers, domain-search, ntp-servers, sntp-servers, aftr-name, sol-max-rt, inf-max-rt, information-refresh-time, vendor-opts, custom, got a list`},

		// Lists of addresses and names.
		{"dns empty", head + "options: {dns-servers: []}\n", `t.yaml:4: options.dns-servers: empty list: want at least one DNS server's IPv6 address, like 2001:db8::53, or remove the key`},
		{"dns null item", head + "options:\n  dns-servers:\n    - \n", `t.yaml:6: options.dns-servers[0]: empty item: want a DNS server's IPv6 address, like 2001:db8::53`},
		{"dns scalar", head + "options: {dns-servers: \"2001:db8::53\"}\n", `t.yaml:4: options.dns-servers: want a list, got "2001:db8::53"`},
		{"dns too many", head + "options: {dns-servers: [" + long + "]}\n", `t.yaml:4: options.dns-servers: encodes to 65536 octets: an option carries at most 65535; list fewer`},
		{"sntp multicast", head + "options: {sntp-servers: [\"ff05::101\"]}\n", `t.yaml:4: options.sntp-servers[0]: "ff05::101" is not a unicast address: want an SNTP server's IPv6 address, like 2001:db8::123`},
		{"sntp unspecified", head + "options: {sntp-servers: [\"::\"]}\n", `t.yaml:4: options.sntp-servers[0]: "::" is not a unicast address: want an SNTP server's IPv6 address, like 2001:db8::123`},
		{"sntp zone", head + "options: {sntp-servers: [\"fe80::1%eth0\"]}\n", `t.yaml:4: options.sntp-servers[0]: "fe80::1%eth0" has a zone: want an IPv6 address without %zone`},
		{"domain empty", head + "options: {domain-search: []}\n", `t.yaml:4: options.domain-search: empty list: want at least one domain name, like example.com, or remove the key`},
		{"domain label", head + "options: {domain-search: [\"" + strings.Repeat("a", 64) + ".net\"]}\n",
			`t.yaml:4: options.domain-search[0]: invalid domain name "` + strings.Repeat("a", 64) + `.net": want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com`},
		{"ntp ipv4", head + "options:\n  ntp-servers: [\"2001:db8::123\", 192.0.2.1]\n",
			`t.yaml:5: options.ntp-servers[1]: "192.0.2.1" is not an IPv6 address: want an IPv6 address, like 2001:db8::123, or a host name, like ntp.example.net`},
		{"ntp unspecified", head + "options: {ntp-servers: [\"::\"]}\n",
			`t.yaml:4: options.ntp-servers[0]: "::" is no server's address: want a unicast or multicast IPv6 address, or a host name, like ntp.example.net`},
		{"ntp bad address", head + "options: {ntp-servers: [\"2001:db8::12g\"]}\n",
			`t.yaml:4: options.ntp-servers[0]: invalid NTP server "2001:db8::12g": want an IPv6 address, like 2001:db8::123, or a host name, like ntp.example.net`},
		{"ntp bad name", head + "options: {ntp-servers: [\"ntp example net\"]}\n",
			`t.yaml:4: options.ntp-servers[0]: invalid NTP server "ntp example net": want an IPv6 address, like 2001:db8::123, or a host name, like ntp.example.net`},
		{"ntp empty", head + "options: {ntp-servers: []}\n", `t.yaml:4: options.ntp-servers: empty list: want at least one NTP server, like 2001:db8::123 or ntp.example.net, or remove the key`},
		{"aftr list", head + "options: {aftr-name: [a.example.net]}\n", `t.yaml:4: options.aftr-name: want a string, got a list`},
		{"aftr bad", head + "options: {aftr-name: \"aftr..example.net\"}\n",
			`t.yaml:4: options.aftr-name: invalid domain name "aftr..example.net": want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com`},
		{"aftr empty", head + "options: {aftr-name: \"\"}\n",
			`t.yaml:4: options.aftr-name: invalid domain name "": want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com`},

		// Times.
		{"sol-max-rt low", head + "options: {sol-max-rt: 30}\n", `t.yaml:4: options.sol-max-rt: 30 is below 60 seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"sol-max-rt low duration", head + "options: {sol-max-rt: 59s}\n", `t.yaml:4: options.sol-max-rt: 59s is below 60 seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"sol-max-rt negative", head + "options: {sol-max-rt: -60}\n", `t.yaml:4: options.sol-max-rt: -60 is below 60 seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"sol-max-rt high", head + "options: {sol-max-rt: 86401}\n", `t.yaml:4: options.sol-max-rt: 86401 is above 86400 seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"sol-max-rt fraction", head + "options: {sol-max-rt: 90.5s}\n", `t.yaml:4: options.sol-max-rt: 90.5s is not a whole number of seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"sol-max-rt word", head + "options: {sol-max-rt: hourly}\n", `t.yaml:4: options.sol-max-rt: invalid value "hourly": want whole seconds, like 3600, or a duration, like 1h`},
		{"sol-max-rt list", head + "options: {sol-max-rt: [60]}\n", `t.yaml:4: options.sol-max-rt: want seconds, like 3600, or a duration, like 1h, got a list`},
		{"inf-max-rt high", head + "options: {inf-max-rt: 2d}\n", `t.yaml:4: options.inf-max-rt: 2d is above 86400 seconds: want 60-86400 seconds (1m to 24h) for INF_MAX_RT (RFC 8415 §21.25)`},
		{"irt low", head + "options: {information-refresh-time: 599}\n",
			`t.yaml:4: options.information-refresh-time: 599 is below 600 seconds: want at least 600 seconds (10m, IRT_MINIMUM in RFC 8415 §21.23) and at most 4294967294, or infinity`},
		{"irt high", head + "options: {information-refresh-time: 4294967295}\n",
			`t.yaml:4: options.information-refresh-time: 4294967295 is above 4294967294 seconds: want at least 600 seconds (10m, IRT_MINIMUM in RFC 8415 §21.23) and at most 4294967294, or infinity`},
		{"irt word", head + "options: {information-refresh-time: never}\n",
			`t.yaml:4: options.information-refresh-time: invalid value "never": want whole seconds, like 3600, or a duration, like 1h`},

		// vendor-opts.
		{"vendor no enterprise", head + "options:\n  vendor-opts:\n    sub-options: [{code: 1, type: u8, value: 1}]\n",
			`t.yaml:5: options.vendor-opts.enterprise: required: the vendor's IANA enterprise number, like 4491`},
		{"vendor bad enterprise", head + "options:\n  vendor-opts: {enterprise: 4294967296, sub-options: [{code: 1, type: u8, value: 1}]}\n",
			`t.yaml:5: options.vendor-opts.enterprise: invalid value "4294967296": want the vendor's IANA enterprise number, like 4491, from 0 to 4294967295`},
		{"vendor no sub-options", head + "options:\n  vendor-opts: {enterprise: 4491}\n",
			`t.yaml:5: options.vendor-opts.sub-options: required: the vendor's sub-options, a list of {code, type, value}, like [{code: 1, type: string, value: text}]`},
		{"vendor empty sub-options", head + "options:\n  vendor-opts: {enterprise: 4491, sub-options: []}\n",
			`t.yaml:5: options.vendor-opts.sub-options: empty list: want at least one sub-option {code, type, value}, like {code: 1, type: string, value: text}, or remove the key`},
		{"vendor unknown key", head + "options:\n  vendor-opts: {enterprise-number: 4491}\n",
			`t.yaml:5: options.vendor-opts.enterprise-number: unknown key; valid keys here: enterprise, sub-options`},
		{"vendor list", head + "options:\n  vendor-opts: [4491]\n",
			`t.yaml:5: options.vendor-opts: want a mapping with keys enterprise, sub-options, got a list`},
		{"vendor sub-option code", head + "options:\n  vendor-opts:\n    enterprise: 4491\n    sub-options:\n      - {code: 0, type: u8, value: 1}\n",
			`t.yaml:8: options.vendor-opts.sub-options[0].code: invalid value "0": want a whole number from 1 to 65535`},
		{"vendor sub-option value", head + "options:\n  vendor-opts:\n    enterprise: 4491\n    sub-options:\n      - {code: 1, type: u16, value: 65536}\n",
			`t.yaml:8: options.vendor-opts.sub-options[0].value: invalid value "65536": want a whole number, from 0 to 65535`},
		{"vendor too long", head + "options:\n  vendor-opts:\n    enterprise: 4491\n    sub-options:\n      - {code: 1, type: ipv6-list, value: [" + strings.Repeat(`"2001:db8::1", `, 2048) + "]}\n      - {code: 2, type: ipv6-list, value: [" + strings.Repeat(`"2001:db8::1", `, 2048) + "]}\n",
			`t.yaml:5: options.vendor-opts: encodes to more than 65535 octets, the most an option carries: send less`},

		// custom.
		{"custom named", head + "options:\n  custom:\n    - {code: 56, type: fqdn, value: ntp.example.net}\n",
			`t.yaml:6: options.custom[0].code: code 56 (NTP_SERVER) has a named key: use the named key ntp-servers`},
		{"custom refused", head + "options:\n  custom:\n    - {code: 12, type: ipv6, value: \"2001:db8::1\"}\n",
			`t.yaml:6: options.custom[0].code: code 12 (UNICAST) cannot be configured: tandem does not invite clients to unicast; see server.unicast`},
		{"custom failover", head + "options:\n  custom:\n    - {code: 130, type: string, value: a}\n",
			`t.yaml:6: options.custom[0].code: code 130 (failover option 130) cannot be configured: failover options (RFC 8156) pass between servers, not to clients`},
		{"custom duplicate", head + "options:\n  custom:\n    - {code: 200, type: u8, value: 1}\n    - {code: 200, type: u8, value: 2}\n",
			`t.yaml:7: options.custom[1].code: code 200 is set twice at this level (options.custom[0] has it already): one option per code; put all its data in one entry`},
		{"custom no code", head + "options:\n  custom:\n    - {type: u8, value: 1}\n",
			`t.yaml:6: options.custom[0].code: required: the option code, a whole number from 1 to 65535`},
		{"custom code word", head + "options:\n  custom:\n    - {code: x, type: u8, value: 1}\n",
			`t.yaml:6: options.custom[0].code: invalid value "x": want a whole number from 1 to 65535`},
		{"custom code big", head + "options:\n  custom:\n    - {code: 65536, type: u8, value: 1}\n",
			`t.yaml:6: options.custom[0].code: invalid value "65536": want a whole number from 1 to 65535`},
		{"custom no type", head + "options:\n  custom:\n    - {code: 200, value: 1}\n",
			`t.yaml:6: options.custom[0].type: required: how value is encoded, one of hex, string, ipv6, ipv6-list, u8, u16, u32, fqdn, fqdn-list`},
		{"custom bad type", head + "options:\n  custom:\n    - {code: 200, type: int, value: 1}\n",
			`t.yaml:6: options.custom[0].type: invalid type "int": want one of hex, string, ipv6, ipv6-list, u8, u16, u32, fqdn, fqdn-list`},
		{"custom no value", head + "options:\n  custom:\n    - {code: 200, type: ipv6}\n",
			`t.yaml:6: options.custom[0].value: required: the data, as type ipv6, like 2001:db8::1`},
		{"custom unknown key", head + "options:\n  custom:\n    - {code: 200, type: u8, data: 1}\n",
			`t.yaml:6: options.custom[0].data: unknown key; valid keys here: code, type, value`},
		{"custom not a list", head + "options:\n  custom: {code: 200, type: u8, value: 1}\n",
			`t.yaml:5: options.custom: want a list, got a mapping`},
		{"custom empty", head + "options:\n  custom: []\n",
			`t.yaml:5: options.custom: empty list: want at least one {code, type, value}, like {code: 103, type: string, value: "https://portal.example.net/"}, or remove the key`},
		{"hex odd", head + "options:\n  custom: [{code: 200, type: hex, value: \"0a:b\"}]\n",
			`t.yaml:5: options.custom[0].value: invalid hex "0a:b": want hex octets, colon-separated or not, like "00:1a:2b" or "001a2b" ("" for no data)`},
		{"hex plain odd", head + "options:\n  custom: [{code: 200, type: hex, value: abc}]\n",
			`t.yaml:5: options.custom[0].value: invalid hex "abc": want hex octets, colon-separated or not, like "00:1a:2b" or "001a2b" ("" for no data)`},
		{"hex list", head + "options:\n  custom: [{code: 200, type: hex, value: [00]}]\n",
			`t.yaml:5: options.custom[0].value: want hex octets, like "00:1a:2b" or "001a2b", got a list`},
		{"string list", head + "options:\n  custom: [{code: 200, type: string, value: [a]}]\n",
			`t.yaml:5: options.custom[0].value: want a string, got a list`},
		{"ipv6 bad", head + "options:\n  custom: [{code: 200, type: ipv6, value: 192.0.2.1}]\n",
			`t.yaml:5: options.custom[0].value: "192.0.2.1" is not an IPv6 address: want an IPv6 address, like 2001:db8::1`},
		{"ipv6-list scalar", head + "options:\n  custom: [{code: 200, type: ipv6-list, value: \"2001:db8::1\"}]\n",
			`t.yaml:5: options.custom[0].value: want a list, got "2001:db8::1"`},
		{"ipv6-list item", head + "options:\n  custom: [{code: 200, type: ipv6-list, value: [\"2001:db8::1\", x]}]\n",
			`t.yaml:5: options.custom[0].value[1]: invalid IPv6 address "x": want an IPv6 address, like 2001:db8::1`},
		{"u8 big", head + "options:\n  custom: [{code: 200, type: u8, value: 256}]\n",
			`t.yaml:5: options.custom[0].value: invalid value "256": want a whole number, from 0 to 255`},
		{"u16 underscore", head + "options:\n  custom: [{code: 200, type: u16, value: 1_000}]\n",
			`t.yaml:5: options.custom[0].value: invalid value "1_000": want a whole number, from 0 to 65535`},
		{"u32 negative", head + "options:\n  custom: [{code: 200, type: u32, value: -1}]\n",
			`t.yaml:5: options.custom[0].value: invalid value "-1": want a whole number, from 0 to 4294967295`},
		{"fqdn bad", head + "options:\n  custom: [{code: 200, type: fqdn, value: \"a b\"}]\n",
			`t.yaml:5: options.custom[0].value: invalid domain name "a b": want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com`},
		{"fqdn-list empty", head + "options:\n  custom: [{code: 200, type: fqdn-list, value: []}]\n",
			`t.yaml:5: options.custom[0].value: empty list: want at least one domain name, like example.net, or remove the key`},
		{"custom too long", head + "options:\n  custom: [{code: 200, type: ipv6-list, value: [" + long + "]}]\n",
			`t.yaml:5: options.custom[0].value: encodes to 65536 octets: an option carries at most 65535`},

		// Options at the other levels carry their own keys.
		{"subnet option", sub + "    options: {sol-max-rt: 30}\n",
			`t.yaml:6: subnets[0].options.sol-max-rt: 30 is below 60 seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"pool option", sub + "    pools:\n      - 2001:db8:1::/120\n      - range: 2001:db8:1::1:0/120\n        options: {sol-max-rt: 30}\n",
			`t.yaml:9: subnets[0].pools[1].options.sol-max-rt: 30 is below 60 seconds: want 60-86400 seconds (1m to 24h) for SOL_MAX_RT (RFC 8415 §21.24)`},
		{"pd-pool option", sub + "    pd-pools:\n      - {prefix: \"2001:db8:100::/40\", delegated-length: 56, options: {dns-servers: [x]}}\n",
			`t.yaml:7: subnets[0].pd-pools[0].options.dns-servers[0]: invalid IPv6 address "x"`},
		{"class option", head + "classes:\n  - name: a\n    options:\n      custom: [{code: 1, type: hex, value: \"00:01\"}]\n",
			`t.yaml:7: classes[0].options.custom[0].code: code 1 (CLIENTID) cannot be configured: the server echoes the client's own`},
		{"reservation option", sub + "    reservations:\n      - duid: \"00:01:00:01:aa:bb\"\n        address: 2001:db8:1::10\n        options: {aftr-name: aftr/example}\n",
			`t.yaml:9: subnets[0].reservations[0].options.aftr-name: invalid domain name "aftr/example": want dot-separated labels of letters, digits, '-' or '_' (1-63 characters each, 253 in all), like example.com`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("t.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %.300v", f)
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

func TestClassPoolReservationErrors(t *testing.T) {
	const sub = head + "subnets:\n  - prefix: 2001:db8:1::/64\n" // subnets[0] is on line 5
	const cls = head + "classes:\n  - {name: biz, match: {remote-id: \"00:00:0d:e9:62\"}}\n  - name: res\n"
	for _, tc := range []struct{ name, in, want string }{
		// server.unicast.
		{"unicast bad", head + "  unicast: allow\n",
			`t.yaml:4: server.unicast: invalid value "allow": want use-multicast (the default: answer a REQUEST, RENEW, RELEASE or DECLINE a client unicasts with UseMulticast, as RFC 8415 §18.3 asks) or accept (process it like a multicast one, for clients such as udhcpc6 that unicast unasked and never fall back)`},
		{"unicast list", head + "  unicast: [accept]\n", `t.yaml:4: server.unicast: want a string, got a list`},

		// classes.
		{"classes not a list", head + "classes: {name: a}\n", `t.yaml:4: classes: want a list, got a mapping`},
		{"class unknown key", head + "classes:\n  - {name: a, matches: {}}\n", `t.yaml:5: classes[0].matches: unknown key; valid keys here: name, match, options`},
		{"class no name", head + "classes:\n  - match: {duid: \"00:01\"}\n", `t.yaml:5: classes[0].name: required: a name for the class, used by pools[].classes and pd-pools[].classes`},
		{"class bad name", head + "classes:\n  - name: \"a b\"\n", `t.yaml:5: classes[0].name: invalid name "a b": want 1-64 letters, digits, '.', '_' or '-'`},
		{"class duplicate", cls + "  - name: biz\n", `t.yaml:7: classes[2].name: duplicate name "biz": classes[0] has it already; names must be unique`},
		{"match unknown key", head + "classes:\n  - name: a\n    match: {remote_id: \"00\"}\n",
			`t.yaml:6: classes[0].match.remote_id: unknown key; valid keys here: remote-id, interface-id, subscriber-id, vendor-class, user-class, duid, link`},
		{"match bad hex", head + "classes:\n  - name: a\n    match: {remote-id: \"0:0:d:e9\"}\n",
			`t.yaml:6: classes[0].match.remote-id: invalid hex "0:0:d:e9": want colon-separated hex octets, the start of the relay's REMOTE_ID data, 4-octet enterprise number first, like 00:00:0d:e9:41:42`},
		{"match text", head + "classes:\n  - name: a\n    match: {interface-id: eth0}\n",
			`t.yaml:6: classes[0].match.interface-id: invalid hex "eth0": want colon-separated hex octets, the start of the relay's INTERFACE_ID data, like 65:74:68:30`},
		{"match empty", head + "classes:\n  - name: a\n    match: {vendor-class: \"\"}\n",
			`t.yaml:6: classes[0].match.vendor-class: empty: want colon-separated hex octets, the start of the client's VENDOR_CLASS data, 4-octet enterprise number first, like 00:00:11:8b; or remove the key`},
		{"match user-class number", head + "classes:\n  - name: a\n    match:\n      user-class: [0]\n",
			`t.yaml:7: classes[0].match.user-class: want a string, got a list`},
		{"match link host bits", head + "classes:\n  - name: a\n    match: {link: \"2001:db8::1/64\"}\n",
			`t.yaml:6: classes[0].match.link: prefix "2001:db8::1/64" has bits set past /64: did you mean 2001:db8::/64?`},
		{"match link address", head + "classes:\n  - name: a\n    match: {link: \"2001:db8::1\"}\n",
			`t.yaml:6: classes[0].match.link: invalid prefix "2001:db8::1": want an IPv6 prefix like 2001:db8:1::/64`},

		// Pools as mappings, and their classes.
		{"pool map no range", sub + "    pools:\n      - classes: [biz]\n",
			`t.yaml:7: subnets[0].pools[0].range: required: the pool's addresses, START-END, like 2001:db8:1::1000-2001:db8:1::ffff, or a prefix, like 2001:db8:1::/112`},
		{"pool map unknown key", sub + "    pools:\n      - {start: \"2001:db8:1::1\"}\n",
			`t.yaml:7: subnets[0].pools[0].start: unknown key; valid keys here: range, classes, options`},
		{"pool map bad range", sub + "    pools:\n      - range: \"2001:db8:2::/120\"\n",
			`t.yaml:7: subnets[0].pools[0].range: pool 2001:db8:2::/120 is outside subnet 2001:db8:1::/64: want addresses inside the subnet's prefix`},
		{"pool list", sub + "    pools:\n      - [\"2001:db8:1::/120\"]\n",
			`t.yaml:7: subnets[0].pools[0]: want START-END, like 2001:db8:1::1000-2001:db8:1::ffff, a prefix, or a mapping with keys range, classes, options, got a list`},
		{"pool map overlaps", sub + "    pools:\n      - 2001:db8:1::/120\n      - {range: \"2001:db8:1::80-2001:db8:1::1ff\"}\n",
			`t.yaml:8: subnets[0].pools[1].range: 2001:db8:1::80-2001:db8:1::1ff overlaps subnets[0].pools[0] (2001:db8:1::/120): pools and pd-pools must not share addresses, within a subnet or across subnets`},
		{"pool class undefined", cls + "subnets:\n  - prefix: 2001:db8:1::/64\n    pools:\n      - {range: \"2001:db8:1::/120\", classes: [biz, business]}\n",
			`t.yaml:10: subnets[0].pools[0].classes[1]: class "business" is not defined: want one of the names under classes (biz, res)`},
		{"pool class none defined", sub + "    pools:\n      - {range: \"2001:db8:1::/120\", classes: [biz]}\n",
			`t.yaml:7: subnets[0].pools[0].classes[0]: class "biz" is not defined: want one of the names under classes (none defined)`},
		{"pool class twice", cls + "subnets:\n  - prefix: 2001:db8:1::/64\n    pools:\n      - {range: \"2001:db8:1::/120\", classes: [biz, biz]}\n",
			`t.yaml:10: subnets[0].pools[0].classes[1]: class "biz" is listed twice`},
		{"pool classes empty", sub + "    pools:\n      - {range: \"2001:db8:1::/120\", classes: []}\n",
			`t.yaml:7: subnets[0].pools[0].classes: empty list: want at least one class name, or remove the key`},
		{"pool classes scalar", cls + "subnets:\n  - prefix: 2001:db8:1::/64\n    pools:\n      - {range: \"2001:db8:1::/120\", classes: biz}\n",
			`t.yaml:10: subnets[0].pools[0].classes: want a list, got "biz"`},
		{"pd-pool class undefined", cls + "subnets:\n  - prefix: 2001:db8:1::/64\n    pd-pools:\n      - prefix: 2001:db8:100::/40\n        delegated-length: 56\n        classes: [residential]\n",
			`t.yaml:12: subnets[0].pd-pools[0].classes[0]: class "residential" is not defined: want one of the names under classes (biz, res)`},

		// Reservations by relay options.
		{"reservation two keys", sub + "    reservations:\n      - duid: \"00:01:00:01:aa:bb\"\n        remote-id: \"00:00:0d:e9:41\"\n        address: 2001:db8:1::10\n",
			`t.yaml:8: subnets[0].reservations[0].remote-id: subnets[0].reservations[0].duid names the client already: a reservation is keyed by exactly one of duid, remote-id, interface-id or subscriber-id`},
		{"reservation remote-id short", sub + "    reservations:\n      - {remote-id: \"00:00:0d:e9\", address: 2001:db8:1::10}\n",
			`t.yaml:7: subnets[0].reservations[0].remote-id: remote-id of 4 octets: want the 4-octet enterprise number and at least one octet of remote-id, like 00:00:0d:e9:41:42`},
		{"reservation interface-id text", sub + "    reservations:\n      - {interface-id: eth0.100, address: 2001:db8:1::10}\n",
			`t.yaml:7: subnets[0].reservations[0].interface-id: invalid interface-id "eth0.100": want colon-separated hex octets, the relay's INTERFACE_ID data, like 65:74:68:30:2e:31:30:30`},
		{"reservation subscriber-id empty", sub + "    reservations:\n      - {subscriber-id: \"\", address: 2001:db8:1::10}\n",
			`t.yaml:7: subnets[0].reservations[0].subscriber-id: invalid subscriber-id "": want colon-separated hex octets, the relay's SUBSCRIBER_ID data, like 73:75:62:2d:31:30:34:32`},
		{"reservation duid empty", sub + "    reservations:\n      - {duid: \"\", address: 2001:db8:1::10}\n",
			`t.yaml:7: subnets[0].reservations[0].duid: invalid DUID "": want colon-separated hex octets, like 00:01:00:01:aa:bb:cc:dd:ee:ff`},
		{"reservation remote-id twice", sub + "    reservations:\n      - {remote-id: \"00:00:0d:e9:41\", address: 2001:db8:1::10}\n      - {remote-id: \"000:00d:e941\", prefix: \"2001:db8:200::/56\"}\n",
			`t.yaml:8: subnets[0].reservations[1].remote-id: invalid remote-id "000:00d:e941": want colon-separated hex octets, the relay's REMOTE_ID data, 4-octet enterprise number first, like 00:00:0d:e9:41:42`},
		{"reservation remote-id duplicate", sub + "    reservations:\n      - {remote-id: \"00:00:0d:e9:41\", address: 2001:db8:1::10}\n      - {remote-id: \"00000DE941\", prefix: \"2001:db8:200::/56\"}\n",
			`t.yaml:8: subnets[0].reservations[1].remote-id: remote-id 00000DE941 already has a reservation in this subnet (subnets[0].reservations[0]): put the address and prefix in one reservation`},
		{"reservation subscriber-id duplicate", sub + "    reservations:\n      - {subscriber-id: \"73:75:62\", address: 2001:db8:1::10}\n      - {subscriber-id: \"737562\", prefix: \"2001:db8:200::/56\"}\n",
			`t.yaml:8: subnets[0].reservations[1].subscriber-id: subscriber-id 737562 already has a reservation in this subnet (subnets[0].reservations[0]): put the address and prefix in one reservation`},
		{"reservation only options", sub + "    reservations:\n      - {duid: \"00:01:00:01:aa:bb\", options: {sol-max-rt: 60}}\n",
			`t.yaml:7: subnets[0].reservations[0]: reserves nothing: want address and/or prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("t.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %.300v", f)
			}
			if err.Error() != tc.want {
				t.Errorf("input:\n%s\ngot  %s\nwant %s", tc.in, err, tc.want)
			}
		})
	}
}

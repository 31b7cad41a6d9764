package main

// ISP service features against real clients: options at every level
// (ISC dhclient), prefix-length hints (dhcpcd), client classes selected by
// relay options (ISC dhcrelay, tandem bench), the unicast policy (BusyBox
// udhcpc6) and renumbering (dhclient across a restart with a new pool).
// Every exchange is captured and read by tshark (tshark_e2e_test.go), so the
// assertions are on what an independent decoder saw on the wire, and the
// capture must hold no malformed packet.
//
//	go test -count=1 -v -run 'TestDhclientOptions|TestDhcpcdPrefixHint|TestRelayClasses|TestUdhcpc6Unicast|TestRenumberDhclient|TestPairISP' ./cmd/tandem

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DHCPv6 option codes the tests look for.
const (
	optIANA       = 3
	optIAPD       = 25
	optORO        = 6
	optStatus     = 13
	optRelayMsg   = 9
	optInterface  = 18
	optDNS        = 23
	optDomains    = 24
	optSNTP       = 31
	optInfoRefr   = 32
	optRemoteID   = 37
	optSubscriber = 38
	optNTP        = 56
	optAFTR       = 64
	optSolMaxRT   = 82
	optInfMaxRT   = 83
	optCustomTest = 65001 // the tests' custom option (type string)
)

// ispEdit returns a startTandemWith edit that keeps the test config's
// server and lifetimes sections, adds serverExtra (indented YAML lines) to
// server, and replaces everything from subnets: on with body.
func ispEdit(serverExtra, body string) func(string) string {
	return func(cfg string) string {
		i := strings.Index(cfg, "\nsubnets:")
		if i < 0 {
			panic("test config has no subnets section")
		}
		head := cfg[:i+1]
		if serverExtra != "" {
			head = strings.Replace(head, "  rapid-commit: true\n", "  rapid-commit: true\n"+serverExtra, 1)
		}
		return head + body
	}
}

// ispCapture starts a capture for one exchange; stop it with stopCapture.
// It is captureDHCP with --immediate-mode: without it libpcap hands
// packets over a ring-buffer block at a time (or after its timeout), and
// the packets of a block not yet handed over when tcpdump is stopped are
// lost, such as the REQUEST and REPLY just before a client's hook ran.
func ispCapture(t *testing.T, tp *topo, ns, ifc, name string) (*proc, string) {
	t.Helper()
	pcap := tsPcap(tp, name)
	td := tp.start(ns, "tcpdump-"+name, 3*time.Minute, "tcpdump", "-i", ifc, "-n", "-U", "--immediate-mode", "-s", "0",
		"-Z", "root", "-w", pcap, "udp port 546 or udp port 547")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(td.log(), "listening on") {
		if td.exited() || time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %v\n%s", td.err, td.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return td, pcap
}

// stopCapture stops tcpdump (a little after the last packet) and returns
// tshark's reading of the capture, failing the test on malformed packets.
func stopCapture(t *testing.T, td *proc, pcap string) []*tsPacket {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	if err := td.stop(syscall.SIGINT, 10*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}
	pkts := tsharkRead(t, pcap)
	t.Logf("tshark: %d DHCPv6 packets in %s:\n%s", len(pkts), filepath.Base(pcap), tsSummary(pkts))
	return pkts
}

// lastOfType returns the last packet whose client-level message is typ.
func lastOfType(t *testing.T, pkts []*tsPacket, typ int) *tsPacket {
	t.Helper()
	ps := tsOfType(pkts, typ)
	if len(ps) == 0 {
		t.Fatalf("no %s in the capture", tsMsgName(typ))
	}
	return ps[len(ps)-1]
}

// oro returns the option codes a client message's ORO asks for.
func oro(m *tsMsg) []int {
	var out []int
	for _, v := range m.fields("dhcpv6.requested_option_code") {
		n, _ := strconv.Atoi(v)
		out = append(out, n)
	}
	return out
}

// writeDhclientConf replaces the helper's empty dhclient config and
// recording hook: conf is the dhclient.conf text, and the hook also
// records every new_/old_ dhcp6 and ip6 variable as "  REASON name=value".
func (d *dhclient) writeConf(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile(d.cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
echo "$reason new=${new_ip6_address}${new_ip6_prefix} old=${old_ip6_address}${old_ip6_prefix}" >> %[1]s
env | grep -E '^(new|old|cur)_(dhcp6|ip6)' | sort | sed "s/^/  $reason /" >> %[1]s
exit 0
`, d.hook)
	if err := os.WriteFile(d.sf, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// hookVar returns the last value the hook recorded for variable name
// (e.g. new_dhcp6_aftr_name) at a reason in reasons ("" when none).
func (d *dhclient) hookVar(name string, reasons ...string) string {
	val := ""
	for _, line := range strings.Split(d.hookLog(), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(line, "  ") {
			continue
		}
		if len(reasons) > 0 && !slices.Contains(reasons, f[0]) {
			continue
		}
		rest := strings.TrimPrefix(strings.TrimSpace(line), f[0]+" ")
		if k, v, ok := strings.Cut(rest, "="); ok && k == name {
			val = v
		}
	}
	return val
}

// ntpSubAddrs decodes an RFC 5908 NTP_SERVER option's data written by
// dhclient as colon-hex (a "string" option): the server addresses
// (sub-option 1) and multicast addresses (2) as text, FQDNs (3) decoded.
func ntpSubOptions(data []byte) []string {
	var out []string
	for len(data) >= 4 {
		code, n := int(data[0])<<8|int(data[1]), int(data[2])<<8|int(data[3])
		if len(data) < 4+n {
			out = append(out, "truncated")
			return out
		}
		v := data[4 : 4+n]
		switch {
		case (code == 1 || code == 2) && n == 16:
			out = append(out, netip.AddrFrom16([16]byte(v)).String())
		case code == 3:
			var labels []string
			for len(v) > 0 && int(v[0]) < len(v) && v[0] != 0 {
				labels = append(labels, string(v[1:1+v[0]]))
				v = v[1+v[0]:]
			}
			out = append(out, strings.Join(labels, "."))
		default:
			out = append(out, fmt.Sprintf("sub%d:%x", code, v))
		}
		data = data[4+n:]
	}
	return out
}

// ---------------------------------------------------------------------------
// a. ISC dhclient asks for DS-Lite AFTR, NTP, SNTP, SOL_MAX_RT and a custom
// option; the values come from three levels (global, subnet, pool).

const dhclientOptionsConf = `# tandem e2e: ask for the ISP options
option dhcp6.ntp-server code 56 = string;
option dhcp6.tandem-test code 65001 = text;
# (dhclient asks for name-servers and domain-search by default: listing them
# again puts them twice in its ORO.)
also request dhcp6.aftr-name, dhcp6.ntp-server,
	dhcp6.sntp-servers, dhcp6.solmax-rt, dhcp6.tandem-test;
`

func TestDhclientOptions(t *testing.T) {
	requireE2E(t, "dhclient", "tcpdump", "tshark")
	tp := newTopo(t)
	body := fmt.Sprintf(`options:
  dns-servers: ["2001:db8::53"]
  domain-search: [example.net]
  ntp-servers: ["2001:db8::123", ntp.example.net]
  sntp-servers: ["2001:db8::124"]
  aftr-name: aftr.example.net
  sol-max-rt: 3600
  inf-max-rt: 7200
  custom: [{code: %d, type: string, value: from-global}]

subnets:
  - prefix: 2001:db8:1::/64
    interface: %s
    options:
      dns-servers: ["2001:db8:1::53"]          # the subnet's DNS server wins over the global one
      custom: [{code: %d, type: string, value: from-subnet}]
    pools:
      - range: "2001:db8:1::1000-2001:db8:1::1fff"
        options:
          aftr-name: aftr.pool.example.net     # the pool's AFTR wins over the global one
`, optCustomTest, srvIf, optCustomTest)
	s := startTandemWith(t, tp, defaultLifetimes, ispEdit("", body))

	td, pcap := ispCapture(t, tp, tp.cli, cliIf, "dhclient-options")
	d := newDhclient(t, tp, "opts", "-N")
	d.writeConf(t, dhclientOptionsConf)
	d.start(t)
	cl := d.waitLease(t, true, false, 30*time.Second)
	l := serverLeaseFor(t, s, cl, "na")
	if !addrIn(l.Address, "2001:db8:1::1000", "2001:db8:1::1fff") {
		t.Errorf("address %s outside the pool", l.Address)
	}
	// The hook runs after the lease file is written: wait for BOUND6.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.hookLog(), "BOUND6") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	pkts := stopCapture(t, td, pcap)

	// On the wire, as tshark read it.
	sol := lastOfType(t, pkts, 1).client()
	asked := oro(sol)
	t.Logf("dhclient's ORO: %v", asked)
	for _, c := range []int{optDNS, optDomains, optAFTR, optNTP, optSNTP, optSolMaxRT, optCustomTest} {
		if !slices.Contains(asked, c) {
			t.Errorf("dhclient's SOLICIT does not ask for option %d (ORO %v): the dhclient.conf did not take", c, asked)
		}
	}
	for _, typ := range []int{2, 7} { // ADVERTISE and REPLY
		p := lastOfType(t, pkts, typ)
		m := p.client()
		name := tsMsgName(typ)
		if got := m.fields("dhcpv6.dns_server"); !slices.Equal(got, []string{"2001:db8:1::53"}) {
			t.Errorf("%s: DNS servers %v, want the subnet's [2001:db8:1::53] (subnet over global)", name, got)
		}
		if got := m.fields("dhcpv6.search_list_entry"); !slices.Equal(got, []string{"example.net."}) {
			t.Errorf("%s: domain search %v, want [example.net.]", name, got)
		}
		if got := m.field("dhcpv6.aftr_name"); got != "aftr.pool.example.net." {
			t.Errorf("%s: AFTR name %q, want the pool's aftr.pool.example.net. (pool over global)", name, got)
		}
		if o := m.opt(optNTP); o == nil {
			t.Errorf("%s: no NTP_SERVER option", name)
		} else {
			if got := o.fields("dhcpv6.ntpserver.addr"); !slices.Equal(got, []string{"2001:db8::123"}) {
				t.Errorf("%s: NTP server addresses %v, want [2001:db8::123]", name, got)
			}
			if got := o.fields("dhcpv6.ntpserver.fqdn"); !slices.Equal(got, []string{"ntp.example.net."}) {
				t.Errorf("%s: NTP server FQDNs %v, want [ntp.example.net.]", name, got)
			}
		}
		if got := m.fields("dhcpv6.sntp_server"); !slices.Equal(got, []string{"2001:db8::124"}) {
			t.Errorf("%s: SNTP servers %v, want [2001:db8::124]", name, got)
		}
		if got := m.opt(optSolMaxRT).u32(); got != 3600 {
			t.Errorf("%s: SOL_MAX_RT %d, want 3600 (-1: absent or not 4 bytes)", name, got)
		}
		if o := m.opt(optCustomTest); o == nil || string(o.data) != "from-subnet" {
			t.Errorf("%s: custom option %d = %v, want the subnet's \"from-subnet\"", name, optCustomTest, o)
		}
		// INF_MAX_RT is configured but not asked for: not sent.
		if !slices.Contains(asked, optInfMaxRT) && m.has(optInfMaxRT) {
			t.Errorf("%s carries INF_MAX_RT, which the client did not ask for (ORO %v)", name, asked)
		}
		if len(tsOfType(pkts, typ)) == 0 {
			t.Errorf("no %s", name)
		}
	}

	// What dhclient made of it: its hook's environment and lease file.
	t.Logf("dhclient hook log:\n%s", d.hookLog())
	for name, want := range map[string]string{
		"new_dhcp6_aftr_name":    "aftr.pool.example.net.",
		"new_dhcp6_name_servers": "2001:db8:1::53",
		"new_dhcp6_solmax_rt":    "3600",
		"new_dhcp6_sntp_servers": "2001:db8::124",
		"new_dhcp6_tandem_test":  "from-subnet",
	} {
		got := strings.Trim(d.hookVar(name, "BOUND6"), `"'`)
		if strings.TrimSuffix(got, ".") != strings.TrimSuffix(want, ".") {
			t.Errorf("dhclient hook: %s=%q, want %q", name, got, want)
		}
	}
	if raw := d.hookVar("new_dhcp6_ntp_server", "BOUND6"); raw == "" {
		t.Error("dhclient hook: no new_dhcp6_ntp_server")
	} else if b, err := parseDUID(raw); err != nil {
		t.Errorf("dhclient hook: new_dhcp6_ntp_server=%q: %v", raw, err)
	} else if got := ntpSubOptions(b); !slices.Equal(got, []string{"2001:db8::123", "ntp.example.net"}) {
		t.Errorf("dhclient hook: NTP server sub-options %v, want [2001:db8::123 ntp.example.net]", got)
	}
	lf, _ := os.ReadFile(d.lf)
	for _, want := range []string{"option dhcp6.aftr-name", "option dhcp6.solmax-rt 3600;", "option dhcp6.ntp-server"} {
		if !strings.Contains(string(lf), want) {
			t.Errorf("dhclient lease file lacks %q:\n%s", want, lf)
		}
	}
	d.release(t)
}

// ---------------------------------------------------------------------------
// b. dhcpcd asks for an address and a prefix with a /60 length hint.

// dhcpcdClient runs dhcpcd (dhcpcd-base) in a namespace. dhcpcd has no
// flag for its run and database directories (/run/dhcpcd, /var/lib/dhcpcd:
// pid file, control socket, DUID, leases, all named after the interface,
// which every test topology calls te2ec0), so it runs in a mount namespace
// of its own (unshare -m) with a tmpfs on /run and the test's directory on
// /var/lib/dhcpcd: concurrent tests don't meet and the host is untouched.
// Its script only records what dhcpcd tells it.
type dhcpcdClient struct {
	tp              *topo
	ns, ifc         string
	dir, conf, hook string
	p               *proc
}

func newDhcpcd(t *testing.T, tp *topo, ns, ifc, name, conf string) *dhcpcdClient {
	t.Helper()
	c := &dhcpcdClient{tp: tp, ns: ns, ifc: ifc, dir: filepath.Join(tp.dir, "dhcpcd-"+name)}
	for _, d := range []string{c.dir, filepath.Join(c.dir, "db")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.conf, c.hook = filepath.Join(c.dir, "dhcpcd.conf"), filepath.Join(c.dir, "hook.log")
	script := filepath.Join(c.dir, "hook.sh")
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// dhcpcd runs its script as root (not in the privilege-separated
	// chroot); it passes reason, interface and new_* variables.
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\n{ echo \"$reason\"; env | grep -E '^(new|old)_' | sort | sed \"s/^/  $reason /\"; } >> %s\nexit 0\n", c.hook)), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && c.p != nil {
			t.Logf("dhcpcd %s output:\n%s", name, tail(c.p.log(), 80))
			t.Logf("dhcpcd %s hook log:\n%s", name, c.hookLog())
		}
	})
	return c
}

func (c *dhcpcdClient) start(t *testing.T, extra ...string) {
	t.Helper()
	// -6 DHCPv6 only, -B foreground, -d debug, -f our config, -c our
	// script, -1 no: it must stay to renew; --nohook is moot with -c.
	args := append([]string{"-6", "-B", "-d", "-f", c.conf, "-c", filepath.Join(c.dir, "hook.sh")}, extra...)
	args = append(args, c.ifc)
	sh := fmt.Sprintf("mount --make-rprivate / && mount -t tmpfs tmpfs /run && mount --bind %s /var/lib/dhcpcd && exec %s %s",
		filepath.Join(c.dir, "db"), tool("dhcpcd"), strings.Join(args, " "))
	c.p = c.tp.start(c.ns, "dhcpcd", 3*time.Minute, "unshare", "-m", "/bin/sh", "-c", sh)
}

func (c *dhcpcdClient) hookLog() string {
	b, _ := os.ReadFile(c.hook)
	return string(b)
}

// hookVar returns the last value the script recorded for name.
func (c *dhcpcdClient) hookVar(name string) string {
	val := ""
	for _, line := range strings.Split(c.hookLog(), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.HasPrefix(line, "  ") {
			if k, v, ok := strings.Cut(f[1], "="); ok && k == name {
				val = v
			}
		}
	}
	return val
}

// waitBound waits until the script saw a BOUND6/REBOOT6 with an address
// and a delegated prefix.
func (c *dhcpcdClient) waitBound(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h := c.hookLog()
		if (strings.Contains(h, "BOUND6") || strings.Contains(h, "REBOOT6")) && strings.Contains(h, "new_dhcp6_ia_pd") {
			return
		}
		if c.p.exited() {
			t.Fatalf("dhcpcd exited: %v\n%s", c.p.err, tail(c.p.log(), 60))
		}
		if time.Now().After(deadline) {
			t.Fatalf("dhcpcd did not bind an address and a prefix within %v\nhook log:\n%s\noutput:\n%s", timeout, h, tail(c.p.log(), 60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dhcpcdHintConf: an address (IAID 1) and a prefix (IAID 2) with the hint
// ::/60, delegated to no interface ("-"); no router solicitation (DHCPv6
// starts at once), no IPv4, nothing written to resolv.conf (no hooks run:
// the script is the test's).
func dhcpcdHintConf(ifc string) string {
	return fmt.Sprintf(`# tandem e2e: address and /60 prefix hint
ipv6only
noipv6rs
duid
persistent
option dhcp6_name_servers, dhcp6_domain_search
interface %s
  ia_na 1
  ia_pd 2/::/60 -
`, ifc)
}

func TestDhcpcdPrefixHint(t *testing.T) {
	requireE2E(t, "dhcpcd", "unshare", "tcpdump", "tshark")
	tp := newTopo(t)
	body := fmt.Sprintf(`subnets:
  - prefix: 2001:db8:1::/64
    interface: %s
    pools: ["2001:db8:1::1000-2001:db8:1::1fff"]
    pd-pools:
      - {prefix: "2001:db8:100::/40", delegated-length: 56}
      - {prefix: "2001:db8:200::/40", delegated-length: 60}
`, srvIf)
	s := startTandemWith(t, tp, defaultLifetimes, ispEdit("", body))

	td, pcap := ispCapture(t, tp, tp.cli, cliIf, "dhcpcd-hint")
	c := newDhcpcd(t, tp, tp.cli, cliIf, "hint", dhcpcdHintConf(cliIf))
	c.start(t)
	c.waitBound(t, 40*time.Second)
	pkts := stopCapture(t, td, pcap)

	// The client's hint, as tshark read it.
	sol := lastOfType(t, pkts, 1).client()
	var hints []string
	for _, ia := range sol.optsOf(optIAPD) {
		for _, p := range ia.subOf(26) {
			hints = append(hints, p.field("dhcpv6.iaprefix.pref_addr")+"/"+p.field("dhcpv6.iaprefix.pref_len"))
		}
	}
	if !slices.Contains(hints, "::/60") {
		t.Errorf("dhcpcd's SOLICIT IA_PD carries %v, want the hint ::/60 (did the ia_pd syntax change?)", hints)
	}
	// The server's answer: a /60 from the /60 pool.
	reply := lastOfType(t, pkts, 7).client()
	var got []tsLease
	for _, l := range reply.leases() {
		if l.kind == "pd" && l.valid > 0 {
			got = append(got, l)
		}
	}
	if len(got) != 1 {
		t.Fatalf("REPLY delegates %+v, want one prefix", got)
	}
	pfx := netip.MustParsePrefix(got[0].resource)
	if pfx.Bits() != 60 || !netip.MustParsePrefix("2001:db8:200::/40").Contains(pfx.Addr()) {
		t.Errorf("REPLY delegates %s, want a /60 from the /60 pool 2001:db8:200::/40", pfx)
	}
	// The server's lease records agree.
	var srvPD []apiLease
	for _, l := range s.leases(t, "") {
		if l.Kind == "pd" && l.Status == "active" {
			srvPD = append(srvPD, l)
		}
	}
	if len(srvPD) != 1 || canon("pd", srvPD[0].Prefix) != pfx.String() {
		t.Errorf("server's active prefixes %+v, want just %s", srvPD, pfx)
	}
	// And dhcpcd took it (its script's new_dhcp6_ia_pd1_prefix1 / _length1).
	if v := c.hookVar("new_dhcp6_ia_pd1_prefix1_length"); v != "60" {
		t.Logf("dhcpcd hook log:\n%s", c.hookLog())
		t.Errorf("dhcpcd script: new_dhcp6_ia_pd1_prefix1_length=%q, want 60", v)
	}
	if v := c.hookVar("new_dhcp6_ia_pd1_prefix1"); v != "" && canon("pd", v+"/60") != pfx.String() {
		t.Errorf("dhcpcd script: new_dhcp6_ia_pd1_prefix1=%q, the REPLY delegated %s", v, pfx)
	}
	c.p.stop(syscall.SIGTERM, 10*time.Second)
}

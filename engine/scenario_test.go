package engine

// Scenario tests in the style of etcd raft's interaction tests: each file in
// testdata/ is a script of commands and the trace they produce, run with
// github.com/cockroachdb/datadriven. Regenerate the traces with
//
//	go test ./engine/ -run TestScenarios -rewrite
//
// and read the diff: it is the behaviour change.
//
// Commands:
//
//	config [preference=N|none] [rapid-commit] [valid=D] [preferred=D] [t1=D] [t2=D]
//	       [reclaim=D] [decline-hold=D] [dns=(A,...)] [domain=(D,...)] [duid=other]
//	subnet PREFIX [iface=NAME]            (input lines; the rest apply to the last subnet)
//	pool START END
//	pd-pool PREFIX LEN
//	reservation client=N [addr=A] [prefix=P]
//	----
//	(resets the engine and the clock to +0)
//
//	solicit|request|renew|rebind|release|decline|confirm|info-request
//	    client=N      the client (DUID-LL 02:00:00:00:00:N)  noclient: omit CLIENTID
//	    na[=(I,...)]  IA_NAs (IAID iaid=, default 1)  pd[=(I,...)]: IA_PDs  ta[=(I,...)]: IA_TAs
//	    hint=(A|P,...) addresses/prefixes put in the first IA_NA / IA_PD
//	    addr=(A,...) prefix=(P,...)  what the first IA_NA / IA_PD lists; by default
//	                  a REQUEST/RENEW/REBIND/RELEASE/DECLINE/CONFIRM lists what the
//	                  server last gave the client, as a real client does; empty: nothing
//	    rapid         Rapid Commit         oro=(C,...) Option Request codes
//	    server=ours|other|none              (default: ours where RFC 8415 requires it)
//	    relay=(LINK,...) relays, nearest the client first; iface-id=S remote-id=HEX
//	                  (innermost relay); direct messages arrive on iface= (eth0)
//	    unicast       sent by unicast (Input.Multicast=false)
//
//	tick t=+D|D       move the clock (relative, or absolute from +0) and step a tick
//	time t=+D|D       move the clock only
//	leases            dump every lease record
//	counters          print the non-zero counters

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/tandemdhcp/tandem/netio/wire"
)

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var tr *tester
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "config" {
				cfg, err := scenarioConfig(t, d)
				if err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				if _, err := New(cfg); err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				tr = newTester(t, cfg)
				c := tr.e.Config()
				return fmt.Sprintf("ok valid=%v preferred=%v t1=%v t2=%v reclaim=%v decline-hold=%v\n",
					c.Valid, c.Preferred, c.T1, c.T2, c.ReclaimAfter, c.DeclineHold)
			}
			if tr == nil {
				t.Fatalf("%s: config first", d.Pos)
			}
			tr.tb = t
			out := scenarioCmd(t, tr, d)
			checkInvariants(t, tr.e)
			return out
		})
	})
}

func scenarioCmd(t *testing.T, tr *tester, d *datadriven.TestData) string {
	switch d.Cmd {
	case "tick", "time":
		var s string
		d.ScanArgs(t, "t", &s)
		target := tr.now
		if rest, ok := strings.CutPrefix(s, "+"); ok {
			target = target.Add(parseDur(t, rest))
		} else {
			target = t0.Add(parseDur(t, s))
		}
		if d.Cmd == "time" {
			tr.now = target
			return fmt.Sprintf("now %s\n", rel(tr.now.Unix()))
		}
		r := tr.tick(target.Sub(tr.now))
		if len(r.events) == 0 {
			return fmt.Sprintf("now %s: no events\n", rel(tr.now.Unix()))
		}
		return fmt.Sprintf("now %s\n", rel(tr.now.Unix())) + formatEvents(r.events)
	case "leases":
		return formatLeases(tr.e)
	case "counters":
		var sb strings.Builder
		c := &tr.e.Counters
		for i, n := range c.Rx {
			if n > 0 {
				fmt.Fprintf(&sb, "rx %v %d\n", wire.MsgType(i), n)
			}
		}
		for i, n := range c.Tx {
			if n > 0 {
				fmt.Fprintf(&sb, "tx %v %d\n", wire.MsgType(i), n)
			}
		}
		for i, n := range c.Dropped {
			if n > 0 {
				fmt.Fprintf(&sb, "dropped %v %d\n", DropReason(i), n)
			}
		}
		return sb.String()
	}
	types := map[string]wire.MsgType{
		"solicit": wire.Solicit, "request": wire.Request, "renew": wire.Renew, "rebind": wire.Rebind,
		"release": wire.Release, "decline": wire.Decline, "confirm": wire.Confirm,
		"info-request": wire.InformationRequest,
	}
	typ, ok := types[d.Cmd]
	if !ok {
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	m, h := scenarioMsg(t, tr, d, typ)
	r := tr.send(m, h)
	return formatResult(r, tr.e.cfg.ServerDUID)
}

func scenarioMsg(t *testing.T, tr *tester, d *datadriven.TestData, typ wire.MsgType) (tMsg, how) {
	m := tMsg{typ: typ}
	c := -1
	if d.HasArg("client") {
		d.ScanArgs(t, "client", &c)
		m.client = clientDUID(c)
	}
	switch typ {
	case wire.Request, wire.Renew, wire.Release, wire.Decline:
		m.server = tr.e.cfg.ServerDUID
	}
	if d.HasArg("server") {
		var s string
		d.ScanArgs(t, "server", &s)
		switch s {
		case "ours":
			m.server = tr.e.cfg.ServerDUID
		case "other":
			m.server = otherServerDUID
		case "none":
			m.server = nil
		default:
			t.Fatalf("%s: server=%s", d.Pos, s)
		}
	}
	iaid := uint32(1)
	if d.HasArg("iaid") {
		d.ScanArgs(t, "iaid", &iaid)
	}
	iaids := func(key string) []uint32 {
		arg, ok := d.Arg(key)
		if !ok {
			return nil
		}
		if len(arg.Vals) == 0 {
			return []uint32{iaid}
		}
		var out []uint32
		for _, v := range arg.Vals {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				t.Fatalf("%s: %s=%s: %v", d.Pos, key, v, err)
			}
			out = append(out, uint32(n))
		}
		return out
	}
	// What a client lists by default: what the server last gave it.
	remembered := typ != wire.Solicit && typ != wire.InformationRequest && !d.HasArg("empty")
	for _, id := range iaids("na") {
		ia := tIA{iaid: id}
		if remembered {
			ia.addrs = tr.heldNA(c, id)
		}
		m.na = append(m.na, ia)
	}
	for _, id := range iaids("pd") {
		ia := tIA{iaid: id}
		if remembered {
			ia.prefixes = tr.heldPD(c, id)
		}
		m.pd = append(m.pd, ia)
	}
	m.ta = iaids("ta")
	if arg, ok := d.Arg("addr"); ok {
		if len(m.na) == 0 {
			m.na = []tIA{{iaid: iaid}}
		}
		m.na[0].addrs = nil
		for _, v := range arg.Vals {
			m.na[0].addrs = append(m.na[0].addrs, mustAddr(v))
		}
	} else if typ == wire.Confirm && len(m.na) == 0 && !d.HasArg("empty") {
		m.na = []tIA{{iaid: iaid, addrs: tr.heldNA(c, iaid)}}
	}
	if arg, ok := d.Arg("prefix"); ok {
		if len(m.pd) == 0 {
			m.pd = []tIA{{iaid: iaid}}
		}
		m.pd[0].prefixes = nil
		for _, v := range arg.Vals {
			m.pd[0].prefixes = append(m.pd[0].prefixes, mustPrefix(v))
		}
	}
	if arg, ok := d.Arg("hint"); ok {
		for _, v := range arg.Vals {
			if strings.Contains(v, "/") {
				if len(m.pd) == 0 {
					t.Fatalf("%s: prefix hint without pd", d.Pos)
				}
				m.pd[0].prefixes = append(m.pd[0].prefixes, mustPrefix(v))
			} else {
				if len(m.na) == 0 {
					t.Fatalf("%s: address hint without na", d.Pos)
				}
				m.na[0].addrs = append(m.na[0].addrs, mustAddr(v))
			}
		}
	}
	m.rapid = d.HasArg("rapid")
	if arg, ok := d.Arg("oro"); ok {
		for _, v := range arg.Vals {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				t.Fatalf("%s: oro: %v", d.Pos, err)
			}
			m.oro = append(m.oro, uint16(n))
		}
	}
	if d.HasArg("xid") {
		var s string
		d.ScanArgs(t, "xid", &s)
		n, err := strconv.ParseUint(s, 16, 24)
		if err != nil {
			t.Fatalf("%s: xid: %v", d.Pos, err)
		}
		m.xid = uint32(n)
	}
	h := how{iface: "eth0", unicast: d.HasArg("unicast")}
	if arg, ok := d.Arg("relay"); ok {
		h.iface = ""
		peer := mustAddr("fe80::c")
		for i, v := range arg.Vals {
			r := tRelay{hops: uint8(i), link: mustAddr(v), peer: peer}
			m.relays = append(m.relays, r)
			peer = mustAddr(fmt.Sprintf("2001:db8:ffff::%x", i+1)) // the inner relay's address
		}
		if d.HasArg("iface-id") {
			var s string
			d.ScanArgs(t, "iface-id", &s)
			m.relays[0].ifaceID = []byte(s)
		}
		if d.HasArg("remote-id") {
			var s string
			d.ScanArgs(t, "remote-id", &s)
			b, err := hex.DecodeString(s)
			if err != nil {
				t.Fatalf("%s: remote-id: %v", d.Pos, err)
			}
			m.relays[0].remoteID = b
		}
	}
	if d.HasArg("iface") {
		d.ScanArgs(t, "iface", &h.iface)
	}
	return m, h
}

func parseDur(t *testing.T, s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return v
}

// scenarioConfig builds a Config from a config directive.
func scenarioConfig(t *testing.T, d *datadriven.TestData) (Config, error) {
	cfg := Config{ServerDUID: testServerDUID}
	for _, arg := range d.CmdArgs {
		val := ""
		if len(arg.Vals) > 0 {
			val = arg.Vals[0]
		}
		switch arg.Key {
		case "preference":
			if val == "none" {
				cfg.Preference = -1
				continue
			}
			n, err := strconv.Atoi(val)
			if err != nil {
				return cfg, err
			}
			cfg.Preference = n
		case "rapid-commit":
			cfg.RapidCommit = true
		case "valid":
			cfg.Valid = parseDur(t, val)
		case "preferred":
			cfg.Preferred = parseDur(t, val)
		case "t1":
			cfg.T1 = parseDur(t, val)
		case "t2":
			cfg.T2 = parseDur(t, val)
		case "reclaim":
			cfg.ReclaimAfter = parseDur(t, val)
		case "decline-hold":
			cfg.DeclineHold = parseDur(t, val)
		case "dns":
			cfg.Options = append(cfg.Options, dnsOption(arg.Vals...))
		case "domain":
			cfg.Options = append(cfg.Options, domainOption(arg.Vals...))
		case "duid":
			cfg.ServerDUID = otherServerDUID
		default:
			return cfg, fmt.Errorf("unknown config argument %q", arg.Key)
		}
	}
	for _, line := range strings.Split(d.Input, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var sn *SubnetConfig
		if len(cfg.Subnets) > 0 {
			sn = &cfg.Subnets[len(cfg.Subnets)-1]
		}
		if f[0] != "subnet" && sn == nil {
			return cfg, fmt.Errorf("%q before any subnet", line)
		}
		switch {
		case f[0] == "subnet" && len(f) >= 2:
			s := SubnetConfig{}
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				return cfg, err
			}
			s.Prefix = p
			for _, kv := range f[2:] {
				if v, ok := strings.CutPrefix(kv, "iface="); ok {
					s.Interface = v
				}
			}
			cfg.Subnets = append(cfg.Subnets, s)
		case f[0] == "pool" && len(f) == 3:
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				return cfg, err
			}
			b, err := netip.ParseAddr(f[2])
			if err != nil {
				return cfg, err
			}
			sn.Pools = append(sn.Pools, Pool{Start: a, End: b})
		case f[0] == "pd-pool" && len(f) == 3:
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				return cfg, err
			}
			n, err := strconv.Atoi(f[2])
			if err != nil {
				return cfg, err
			}
			sn.PDPools = append(sn.PDPools, PDPool{Prefix: p, DelegatedLen: n})
		case f[0] == "reservation":
			var r Reservation
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "client":
					n, err := strconv.Atoi(v)
					if err != nil {
						return cfg, err
					}
					r.DUID = clientDUID(n)
				case "addr":
					r.Address = mustAddr(v)
				case "prefix":
					r.Prefix = mustPrefix(v)
				default:
					return cfg, fmt.Errorf("reservation: unknown %q", k)
				}
			}
			sn.Reservations = append(sn.Reservations, r)
		default:
			return cfg, fmt.Errorf("cannot parse %q", line)
		}
	}
	return cfg, nil
}

package bench

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

var (
	wireAddr   = netip.MustParseAddr("2001:db8:1::42")
	wirePrefix = netip.MustParsePrefix("2001:db8:100:4200::/56")
)

// TestBuilderMessages: what the simulated clients send decodes as the RFC
// 8415 message it claims to be, relay layer and all.
func TestBuilderMessages(t *testing.T) {
	bd := builder{relayed: true, link: netip.MustParseAddr("2001:db8:1::1"), interfaceID: []byte("port7"), relayPort: true, na: true, pd: true}
	var p wire.Packet
	b := bd.append(nil, wire.Solicit, [3]byte{1, 2, 3}, 9, nil)
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if p.NumRelays != 1 || p.Relays[0].LinkAddr != bd.link || string(p.Relays[0].InterfaceID) != "port7" ||
		p.Relays[0].PeerAddr != clientPeer(9) {
		t.Fatalf("relay layer %+v", p.Relays[0])
	}
	m := &p.Msg
	duid := clientDUID(9)
	if m.Type != wire.Solicit || m.XID != [3]byte{1, 2, 3} || string(m.ClientID) != string(duid[:]) ||
		m.ServerID != nil || m.NumIANA != 1 || m.NumIAPD != 1 || m.IANA[0].NumAddrs != 0 || !m.HasElapsed {
		t.Fatalf("SOLICIT %+v", m)
	}
	a := ask{serverID: responderDUID, addr: wireAddr, prefix: wirePrefix}
	for _, mt := range []wire.MsgType{wire.Request, wire.Renew, wire.Release} {
		if err := p.Decode(bd.append(nil, mt, [3]byte{4, 5, 6}, 9, &a)); err != nil {
			t.Fatal(err)
		}
		if m.Type != mt || string(m.ServerID) != string(responderDUID) || m.NumIANA != 1 || m.IANA[0].Addrs[0].Addr != wireAddr ||
			m.NumIAPD != 1 || m.IAPD[0].Prefixes[0].Prefix != wirePrefix {
			t.Fatalf("%v: %+v", mt, m)
		}
	}
	// A REBIND names the client's leases and no server.
	if err := p.Decode(bd.append(nil, wire.Rebind, [3]byte{4, 5, 6}, 9, &ask{addr: wireAddr, prefix: wirePrefix})); err != nil {
		t.Fatal(err)
	}
	if m.Type != wire.Rebind || m.ServerID != nil || m.NumIANA != 1 || m.IANA[0].Addrs[0].Addr != wireAddr ||
		m.NumIAPD != 1 || m.IAPD[0].Prefixes[0].Prefix != wirePrefix {
		t.Fatalf("REBIND: %+v", m)
	}
	// A RENEW names only the IAs the client holds.
	a.prefix = netip.Prefix{}
	p.Decode(bd.append(nil, wire.Renew, [3]byte{}, 9, &a))
	if m.NumIANA != 1 || m.NumIAPD != 0 {
		t.Fatalf("RENEW for an address only: %d IA_NA, %d IA_PD", m.NumIANA, m.NumIAPD)
	}
	// Direct: the bare client message.
	bd.relayed = false
	if err := p.Decode(bd.append(nil, wire.Solicit, [3]byte{}, 9, nil)); err != nil || p.NumRelays != 0 {
		t.Fatalf("direct SOLICIT: %v, %d relays", err, p.NumRelays)
	}
}

func responderConfig(r *responder) Config {
	c := DefaultConfig()
	c.Server = r.addr()
	c.Timeout = 500 * time.Millisecond
	return c
}

// TestBenchMixAgainstResponder runs a RENEW/RELEASE mix over several
// sockets against the in-process responder and checks the accounting.
func TestBenchMixAgainstResponder(t *testing.T) {
	resp := startResponder(t, 2)
	c := responderConfig(resp)
	c.Rate, c.Duration, c.Clients, c.Sockets = 2000, 500*time.Millisecond, 3000, 4
	c.Mix = Mix{Solicit: 70, Renew: 25, Release: 5}
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	ex := r.Exchanges
	if r.Started != 1000 || r.Completed != r.Started || r.DropRatio != 0 || !r.Clean {
		t.Fatalf("want 1000 clean exchanges: %+v", r)
	}
	if ex.Renew.Completed < 150 || ex.Release.Completed < 25 || ex.Solicit.Completed+r.Fallbacks < 700 {
		t.Errorf("mix 70/25/5 of 1000 (fallbacks %d): %+v", r.Fallbacks, ex)
	}
	if got := resp.count[wire.Renew].Load(); got != ex.Renew.Started {
		t.Errorf("responder saw %d RENEWs, generator started %d", got, ex.Renew.Started)
	}
	if got := resp.count[wire.Release].Load(); got != ex.Release.Started {
		t.Errorf("responder saw %d RELEASEs, generator started %d", got, ex.Release.Started)
	}
	if got := resp.count[wire.Request].Load(); got != ex.Solicit.Started {
		t.Errorf("responder saw %d REQUESTs for %d SOLICITs", got, ex.Solicit.Started)
	}
	if r.P50ms <= 0 || r.P99ms < r.P50ms || r.P999ms < r.P99ms || r.MaxMs < r.P999ms || ex.Renew.P50ms <= 0 {
		t.Errorf("latencies: %+v", r)
	}
	if r.Sockets != 4 || r.Mode != "relayed" || r.Mix != "solicit=70,renew=25,release=5" || r.LastAddr == "" || r.LastPrefix == "" {
		t.Errorf("descriptive fields: %+v", r)
	}
	if r.TxPackets != 2*ex.Solicit.Started+ex.Renew.Started+ex.Release.Started || r.RxPackets != r.TxPackets {
		t.Errorf("packets: tx %d rx %d for %+v", r.TxPackets, r.RxPackets, ex)
	}
	js, _ := json.Marshal(r)
	for _, key := range []string{`"offered_rate"`, `"exchanges_per_s"`, `"drop_ratio"`, `"p50_ms"`, `"p99_ms"`, `"p999_ms"`, `"max_ms"`, `"renew":{`, `"release":{`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("JSON lacks %s: %s", key, js)
		}
	}
	if strings.Contains(string(js), "max_clean_rate") {
		t.Errorf("a fixed-rate run has no max_clean_rate: %s", js)
	}
}

// TestBenchSocketsSpread: every source socket carries traffic, so a
// server's SO_REUSEPORT group sees as many flows.
func TestBenchSocketsSpread(t *testing.T) {
	resp := startResponder(t, 1)
	c := responderConfig(resp)
	c.Sockets = 5
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	g, err := newGen(c, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	g.stage(1000, 200*time.Millisecond)
	r := g.collect(1000)
	if r.Completed != 200 {
		t.Fatalf("%+v", r)
	}
	// Every source port got its share of the answers.
	ports := map[uint16]int{}
	for _, rx := range resp.peers() {
		ports[rx.Port()]++
	}
	if len(ports) != 5 {
		t.Errorf("the server saw %d source ports, want 5: %v", len(ports), ports)
	}
	for p, n := range ports {
		if n != 40 {
			t.Errorf("port %d sent %d of the 200 SOLICITs, want 40 (round robin)", p, n)
		}
	}
}

// TestBenchRamp: against a responder that keeps up, every stage is clean
// and the ramp stops at RampMax.
func TestBenchRamp(t *testing.T) {
	resp := startResponder(t, 1)
	c := responderConfig(resp)
	c.Rate, c.Duration = 0, 150*time.Millisecond
	c.RampStart, c.RampMax = 500, 1600
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	var rates []float64
	for _, s := range r.Stages {
		rates = append(rates, s.OfferedRate)
		if !s.Clean {
			t.Errorf("stage %v not clean: %+v", s.OfferedRate, s)
		}
	}
	if len(rates) != 3 || rates[0] != 500 || rates[1] != 1000 || rates[2] != 1600 || r.MaxCleanRate != 1600 || r.OfferedRate != 1600 {
		t.Fatalf("stages %v, max clean %v, top %v", rates, r.MaxCleanRate, r.OfferedRate)
	}
	js, _ := json.Marshal(r)
	if !strings.Contains(string(js), `"max_clean_rate":1600`) || strings.Count(string(js), `"offered_rate"`) != 4 {
		t.Errorf("ramp JSON: %s", js)
	}
}

// TestBenchRampNobody: with no server, no stage is clean; the ramp stops
// after the first and says max_clean_rate 0.
func TestBenchRampNobody(t *testing.T) {
	resp := startResponder(t, 1)
	c := responderConfig(resp)
	resp.stop()
	c.Rate, c.Duration, c.Timeout = 0, 100*time.Millisecond, 100*time.Millisecond
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stages) != 1 || r.MaxCleanRate != 0 || r.Completed != 0 || r.DropRatio != 1 || r.Timeouts != r.Started {
		t.Fatalf("%+v", r)
	}
	js, _ := json.Marshal(r)
	if !strings.Contains(string(js), `"max_clean_rate":0`) {
		t.Errorf("ramp JSON without max_clean_rate: %s", js)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.IA = "ta"
	if _, err := Run(c); err == nil {
		t.Error("ia ta accepted")
	}
	c = DefaultConfig()
	c.Server = netip.AddrPort{}
	if _, err := Run(c); err == nil {
		t.Error("relayed run without a server accepted")
	}
	c = DefaultConfig()
	c.Mix = Mix{Renew: 1}
	if _, err := Run(c); err == nil {
		t.Error("a mix without solicit accepted")
	}
}

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Config describes one load run.
type Config struct {
	Server   netip.AddrPort // where RELAY-FORWs go
	Link     netip.Addr     // relay link-address to claim (selects the subnet)
	Rate     int            // exchanges started per second
	Duration time.Duration
	Clients  int    // distinct DUIDs, cycled
	IA       string // "na", "pd" or "both"
	Timeout  time.Duration
}

// DefaultConfig is a small, safe run against the default config.
func DefaultConfig() Config {
	return Config{
		Server: netip.MustParseAddrPort("[::1]:5547"), Link: netip.MustParseAddr("2001:db8:1::1"),
		Rate: 1000, Duration: 5 * time.Second, Clients: 100000, IA: "both", Timeout: time.Second,
	}
}

// Result is what a run measured.
type Result struct {
	OfferedRate    float64 `json:"offered_rate"`
	Started        uint64  `json:"started"`
	Completed      uint64  `json:"completed"`
	ExchangesPerS  float64 `json:"exchanges_per_s"`
	DropRatio      float64 `json:"drop_ratio"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	P999ms         float64 `json:"p999_ms"`
	NoResources    uint64  `json:"no_resources"`
	Malformed      uint64  `json:"malformed"`
	DurationS      float64 `json:"duration_s"`
	LastAddr       string  `json:"last_address,omitempty"`
	LastPrefix     string  `json:"last_prefix,omitempty"`
	MaxCleanRate   float64 `json:"max_clean_rate,omitempty"`
	ServerDUIDSeen string  `json:"-"`
}

// slot is one in-flight exchange. The transaction id names the slot, so
// replies are matched without a map.
type slot struct {
	client  atomic.Uint32
	started atomic.Int64 // ns since run start; 0 = free
	phase   atomic.Uint32
}

// Run drives the load and returns what it measured.
func Run(c Config) (Result, error) {
	if c.Rate <= 0 || c.Clients <= 0 || c.Duration <= 0 {
		return Result{}, errors.New("bench: rate, clients and duration must be positive")
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	conn.SetWriteBuffer(4 << 20)

	nslots := 1 << 16
	slots := make([]slot, nslots)
	hist := newHistogram()
	var res Result
	var completed, noRes, malformed atomic.Uint64
	start := time.Now()
	dst := c.Server

	// Receiver: ADVERTISE → REQUEST, REPLY → done.
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 2048)
		out := make([]byte, 0, 1024)
		var p wire.Packet
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if p.Decode(buf[:n]) != nil || p.NumRelays == 0 {
				malformed.Add(1)
				continue
			}
			m := &p.Msg
			id := int(m.XID[1])<<8 | int(m.XID[2])
			s := &slots[id%nslots]
			t0 := s.started.Load()
			if t0 == 0 {
				continue // late or unknown
			}
			switch {
			case m.Type == wire.Advertise && s.phase.Load() == 1:
				if !hasLease(m) {
					noRes.Add(1)
					s.started.Store(0)
					continue
				}
				s.phase.Store(2)
				out = appendClientMsg(out[:0], wire.Request, m.XID, s.client.Load(), c, m)
				conn.WriteToUDPAddrPort(out, dst)
			case m.Type == wire.Reply:
				if !hasLease(m) {
					noRes.Add(1)
					s.started.Store(0)
					continue
				}
				hist.record(time.Since(start).Nanoseconds() - t0)
				s.started.Store(0)
				completed.Add(1)
				if m.NumIANA > 0 && m.IANA[0].NumAddrs > 0 {
					res.LastAddr = m.IANA[0].Addrs[0].Addr.String()
				}
				if m.NumIAPD > 0 && m.IAPD[0].NumPrefixes > 0 {
					res.LastPrefix = m.IAPD[0].Prefixes[0].Prefix.String()
				}
			}
		}
	}()

	// Sender: open loop, paced by the clock, not by replies.
	interval := float64(time.Second) / float64(c.Rate)
	total := uint64(float64(c.Rate) * c.Duration.Seconds())
	out := make([]byte, 0, 1024)
	var started uint64
	for i := uint64(0); i < total; i++ {
		due := time.Duration(float64(i) * interval)
		if d := due - time.Since(start); d > 50*time.Microsecond {
			time.Sleep(d)
		}
		id := int(i % uint64(nslots))
		s := &slots[id]
		client := uint32(i % uint64(c.Clients))
		s.client.Store(client)
		s.phase.Store(1)
		s.started.Store(time.Since(start).Nanoseconds())
		xid := [3]byte{byte(i >> 16), byte(id >> 8), byte(id)}
		out = appendClientMsg(out[:0], wire.Solicit, xid, client, c, nil)
		if _, err := conn.WriteToUDPAddrPort(out, dst); err != nil {
			return res, fmt.Errorf("bench: send: %w", err)
		}
		started++
	}
	elapsed := time.Since(start)
	time.Sleep(c.Timeout)
	conn.Close()
	<-recvDone

	res.OfferedRate = float64(c.Rate)
	res.Started = started
	res.Completed = completed.Load()
	res.NoResources = noRes.Load()
	res.Malformed = malformed.Load()
	res.DurationS = elapsed.Seconds()
	res.ExchangesPerS = float64(res.Completed) / elapsed.Seconds()
	if started > 0 {
		res.DropRatio = 1 - float64(res.Completed)/float64(started)
	}
	res.P50ms, res.P99ms, res.P999ms = hist.quantile(0.5), hist.quantile(0.99), hist.quantile(0.999)
	return res, nil
}

func hasLease(m *wire.Message) bool {
	for i := 0; i < m.NumIANA; i++ {
		if m.IANA[i].NumAddrs > 0 {
			return true
		}
	}
	for i := 0; i < m.NumIAPD; i++ {
		if m.IAPD[i].NumPrefixes > 0 {
			return true
		}
	}
	return false
}

// appendClientMsg builds a RELAY-FORW around a client message. For a
// REQUEST, adv is the ADVERTISE whose server and leases it asks for.
func appendClientMsg(b []byte, t wire.MsgType, xid [3]byte, client uint32, c Config, adv *wire.Message) []byte {
	var peer [16]byte
	peer[0], peer[1] = 0xfe, 0x80
	binary.BigEndian.PutUint32(peer[12:], client)
	b = wire.AppendRelayHeader(b, wire.RelayForw, 0, c.Link, netip.AddrFrom16(peer))
	b, start := wire.BeginOption(b, wire.OptRelayMsg)
	b = wire.AppendHeader(b, t, xid)
	var duid [10]byte // DUID-LL, Ethernet, MAC from the client number
	duid[1], duid[3] = 3, 1
	duid[4] = 0x02
	binary.BigEndian.PutUint32(duid[6:], client)
	b = wire.AppendOption(b, wire.OptClientID, duid[:])
	if adv != nil {
		b = wire.AppendOption(b, wire.OptServerID, adv.ServerID)
	}
	b = wire.AppendUint16Option(b, wire.OptElapsedTime, 0)
	if c.IA != "pd" {
		var s int
		b, s = wire.BeginIA(b, wire.OptIANA, 1, 0, 0)
		if adv != nil && adv.NumIANA > 0 && adv.IANA[0].NumAddrs > 0 {
			b = wire.AppendIAAddr(b, adv.IANA[0].Addrs[0].Addr, 0, 0)
		}
		b = wire.EndOption(b, s)
	}
	if c.IA != "na" {
		var s int
		b, s = wire.BeginIA(b, wire.OptIAPD, 1, 0, 0)
		if adv != nil && adv.NumIAPD > 0 && adv.IAPD[0].NumPrefixes > 0 {
			b = wire.AppendIAPrefix(b, adv.IAPD[0].Prefixes[0].Prefix, 0, 0)
		}
		b = wire.EndOption(b, s)
	}
	return wire.EndOption(b, start)
}

// histogram is log-linear: 16 sub-buckets per power of two of nanoseconds,
// enough for ~3 % precision on p99 without allocating per sample.
type histogram struct {
	counts [64 * 16]atomic.Uint64
}

func newHistogram() *histogram { return &histogram{} }

func (h *histogram) record(ns int64) {
	if ns < 1 {
		ns = 1
	}
	e := 63 - leadingZeros(uint64(ns))
	sub := 0
	if e >= 4 {
		sub = int((uint64(ns) >> (e - 4)) & 15)
	}
	h.counts[e*16+sub].Add(1)
}

func (h *histogram) quantile(q float64) float64 {
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return math.NaN()
	}
	want := uint64(math.Ceil(q * float64(total)))
	var acc uint64
	for i := range h.counts {
		acc += h.counts[i].Load()
		if acc >= want {
			e, sub := i/16, i%16
			v := math.Ldexp(1+float64(sub)/16, e)
			return v / 1e6
		}
	}
	return math.NaN()
}

func leadingZeros(x uint64) int { return bits.LeadingZeros64(x) }

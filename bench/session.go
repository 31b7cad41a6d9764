package bench

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// A Session is a load generator kept open across stages, for a caller that
// tells a story with one set of clients (tandem demo): the clients keep
// their bindings from one stage to the next, so a later stage can renew or
// rebind what an earlier one obtained — at another server, after the first
// one died — and the caller can compare what the clients held before with
// what they hold after. The stages run on the same allocation-free loop as
// Run; what a Session adds (listing bindings, comparing them) runs between
// stages.
//
// A Session is not safe for concurrent use.
type Session struct {
	g       *gen
	maxRate float64
}

// Open validates c and opens the generator's sockets for stages of up to
// maxRate exchanges/s (the table of exchanges in flight is sized for it).
// c.Rate, c.Duration, c.Mix and the ramp settings are not used: each stage
// names its own.
func Open(c Config, maxRate int) (*Session, error) {
	if maxRate <= 0 {
		return nil, errors.New("bench: a session needs a positive maximum rate")
	}
	c.Rate, c.Ramp = maxRate, false
	if c.Duration <= 0 {
		c.Duration = time.Second
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	g, err := newGen(c, float64(maxRate))
	if err != nil {
		return nil, err
	}
	return &Session{g: g, maxRate: float64(maxRate)}, nil
}

// Close closes the sockets.
func (s *Session) Close() { s.g.close() }

// Stage offers rate exchanges/s (at most the session's maximum) drawn from
// mix for d, waits for the last of them to end, and reports the stage.
func (s *Session) Stage(rate int, d time.Duration, mix Mix) (Result, error) {
	if err := mix.validate(); err != nil {
		return Result{}, err
	}
	if rate <= 0 || d <= 0 {
		return Result{}, errors.New("bench: a stage needs a positive rate and duration")
	}
	r := min(float64(rate), s.maxRate)
	s.g.cfg.Mix, s.g.mix, s.g.mixPos = mix, mix.table(), 0
	s.g.sweep = nil
	s.g.stage(r, d)
	return s.g.collect(r), nil
}

// Sweep starts one exchange of kind — Renew (at the server that gave the
// binding) or Rebind (at any server) — for each of clients that holds a
// binding, in order, at rate exchanges/s, waits for the last to end and
// reports the sweep. A client with an exchange still in flight has it
// abandoned. Listed clients without a binding count as skipped.
func (s *Session) Sweep(kind Kind, rate int, clients []uint32) (Result, error) {
	if kind != Renew && kind != Rebind {
		return Result{}, fmt.Errorf("bench: a sweep renews or rebinds, not %s", kind)
	}
	if rate <= 0 {
		return Result{}, errors.New("bench: a sweep needs a positive rate")
	}
	r := min(float64(rate), s.maxRate)
	g := s.g
	g.sweep, g.sweepKind, g.sweepPos = clients, kind, 0
	defer func() { g.sweep = nil }()
	g.stageN(r, uint64(len(clients)))
	res := g.collect(r)
	res.Mix = kind.String() + "=1"
	return res, nil
}

// Binding is what one simulated client holds.
type Binding struct {
	Client uint32       // the client's number: its DUID is DUID-LL 02:00 + 4 bytes of it
	Server []byte       // the DUID of the server that gave or last extended it
	Addr   netip.Addr   // invalid: no address
	Prefix netip.Prefix // invalid: no delegated prefix
}

// Bindings lists, in client order, every client whose last exchange gave
// it a binding: not those whose last exchange failed, timed out or
// released it.
func (s *Session) Bindings() []Binding {
	g := s.g
	var out []Binding
	for i := range g.clients {
		c := &g.clients[i]
		if c.state != csBound || c.has == 0 {
			continue
		}
		b := Binding{Client: uint32(i), Server: bytes.Clone(g.servers.id(c.server))}
		if c.has&1 != 0 {
			b.Addr = netip.AddrFrom16(c.addr)
		}
		if c.has&2 != 0 {
			b.Prefix = netip.PrefixFrom(netip.AddrFrom16(c.prefix), int(c.plen))
		}
		out = append(out, b)
	}
	return out
}

// Clients returns the numbers of the clients in bs, for a Sweep.
func Clients(bs []Binding) []uint32 {
	out := make([]uint32, len(bs))
	for i, b := range bs {
		out[i] = b.Client
	}
	return out
}

// Continuity is what became of a set of bindings: for each client that
// held one before, whether it holds the same address and the same prefix
// now.
type Continuity struct {
	Clients int // clients that held a binding before
	Kept    int // hold exactly the same address and prefix now
	// KeptFrom counts the kept bindings by the server (hex DUID) that
	// last extended them.
	KeptFrom map[string]int
	Changed  []Change // hold a binding now, but not the same one
	Missing  []Change // hold no binding now
}

// Change is one client whose binding was not kept.
type Change struct {
	Before Binding
	After  Binding // zero when Missing
}

func (c Change) String() string {
	after := "nothing"
	if c.After.Addr.IsValid() || c.After.Prefix.IsValid() {
		after = c.After.Addr.String() + " " + c.After.Prefix.String()
	}
	return fmt.Sprintf("client %d had %s %s, holds %s", c.Before.Client,
		c.Before.Addr, c.Before.Prefix, after)
}

// Compare matches before and after by client; Changed and Missing keep
// before's order.
func Compare(before, after []Binding) Continuity {
	now := make(map[uint32]Binding, len(after))
	for _, b := range after {
		now[b.Client] = b
	}
	c := Continuity{Clients: len(before), KeptFrom: map[string]int{}}
	for _, b := range before {
		a, ok := now[b.Client]
		switch {
		case !ok:
			c.Missing = append(c.Missing, Change{Before: b})
		case a.Addr == b.Addr && a.Prefix == b.Prefix:
			c.Kept++
			c.KeptFrom[hex.EncodeToString(a.Server)]++
		default:
			c.Changed = append(c.Changed, Change{Before: b, After: a})
		}
	}
	return c
}

package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is one kind of exchange the generator starts.
type Kind uint8

// The exchange kinds. An exchange is the whole client transaction, counted
// once: SOLICIT, ADVERTISE, REQUEST, REPLY; or RENEW, REPLY; or RELEASE,
// REPLY.
const (
	Solicit Kind = iota // a new binding: the four-message exchange
	Renew               // extend a binding this run obtained, at the server that gave it
	Release             // give back a binding this run obtained
	// Rebind extends a binding at any server (REBIND names none): what a
	// client does when its server stopped answering RENEWs. Only a Session
	// sweep starts it; a Mix has no weight for it.
	Rebind
	numKinds
)

// numMixKinds is how many kinds a Mix weighs: those before Rebind.
const numMixKinds = Rebind

var kindNames = [numKinds]string{"solicit", "renew", "release", "rebind"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "?"
}

// Mix is the relative weight of each kind of exchange. Renewals and releases
// are for clients holding a binding from this run; while there is none (at
// the start) the generator starts a SOLICIT instead and counts a fallback.
// The zero Mix is all SOLICITs.
type Mix [numMixKinds]int

// maxMixTotal bounds the sum of the weights: the generator expands the mix
// into a table of that many entries (one per exchange slot in the cycle).
const maxMixTotal = 10000

// ParseMix reads "solicit=70,renew=25,release=5". Weights are non-negative
// integers and relative (they need not sum to 100); kinds left out weigh 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	if strings.TrimSpace(s) == "" {
		return m, errors.New("bench: empty mix")
	}
	seen := [numMixKinds]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("bench: mix %q: want kind=weight", part)
		}
		k := Kind(numMixKinds)
		for i, n := range kindNames[:numMixKinds] {
			if strings.EqualFold(strings.TrimSpace(name), n) {
				k = Kind(i)
			}
		}
		if k == numMixKinds {
			return Mix{}, fmt.Errorf("bench: mix: unknown exchange %q (solicit, renew, release)", name)
		}
		if seen[k] {
			return Mix{}, fmt.Errorf("bench: mix: %s given twice", k)
		}
		seen[k] = true
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 {
			return Mix{}, fmt.Errorf("bench: mix: %s=%q: want a non-negative integer", k, val)
		}
		m[k] = w
	}
	return m, m.validate()
}

func (m Mix) validate() error {
	t := 0
	for _, w := range m {
		if w < 0 {
			return errors.New("bench: mix: negative weight")
		}
		t += w
	}
	if t > maxMixTotal {
		return fmt.Errorf("bench: mix: weights sum to %d, at most %d", t, maxMixTotal)
	}
	if t > 0 && m[Solicit] == 0 {
		return errors.New("bench: mix: solicit must weigh more than 0 (renew and release need bindings)")
	}
	return nil
}

func (m Mix) isZero() bool { return m == Mix{} }

// String is the form ParseMix reads, with every kind.
func (m Mix) String() string {
	if m.isZero() {
		m[Solicit] = 1
	}
	var b strings.Builder
	for k, w := range m {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", Kind(k), w)
	}
	return b.String()
}

// table expands the mix into the order kinds are started in, one entry per
// unit of weight, interleaved by smooth weighted round robin (as nginx
// balances upstreams): solicit=70,renew=25,release=5 gives a 100-entry
// cycle where the renewals and releases are spread out, not bunched.
func (m Mix) table() []Kind {
	if m.isZero() {
		return []Kind{Solicit}
	}
	total := 0
	for _, w := range m {
		total += w
	}
	out := make([]Kind, 0, total)
	var cur [numMixKinds]int
	for range total {
		best := -1
		for k, w := range m {
			if w == 0 {
				continue
			}
			cur[k] += w
			if best < 0 || cur[k] > cur[best] {
				best = k
			}
		}
		cur[best] -= total
		out = append(out, Kind(best))
	}
	return out
}

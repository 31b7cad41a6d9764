package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemdhcp/tandem/engine"
)

// The syntax of single values: durations, DUIDs, addresses, pools, names.
// Each parser's error says what would have been valid.

// ParseDuration reads a duration the way the config file does: Go's
// syntax plus a leading day count ("400d"). Flags that take policy
// durations (serve --journal-retention) use it so they read alike.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }

// parseDuration is time.ParseDuration plus a leading day count ("400d",
// "1d12h"): lease lifetimes and MCLTs are naturally counted in days, and Go
// durations stop at hours. Negative durations are rejected.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q: want a number and a unit, like 90s, 30m, 12h or 400d", s)
	if s == "" {
		return 0, bad
	}
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		num := s[:i]
		if !isDecimal(num) {
			return 0, bad
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, bad
		}
		ns := f * float64(24*time.Hour)
		if ns >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		days, rest = time.Duration(ns), s[i+1:]
		if rest == "" {
			return days, nil
		}
		if rest[0] == '+' || rest[0] == '-' {
			return 0, bad
		}
	}
	x, err := time.ParseDuration(rest)
	if err != nil {
		if strings.Contains(err.Error(), "overflow") {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return 0, bad
	}
	if x < 0 {
		return 0, fmt.Errorf("duration %q is negative: want 0 or more", s)
	}
	if x > math.MaxInt64-days {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return days + x, nil
}

// isDecimal reports whether s is digits with at most one '.'.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// fmtDur prints a duration without trailing zero units: 1h, 30m, 1h30m.
func fmtDur(x time.Duration) string {
	s := x.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// DUID limits (RFC 8415 §11.1): a 2-octet type code and 1 to 128 octets of
// identifier.
const (
	minDUID = 3
	maxDUID = 130
)

// parseDUID reads colon-separated hex octets ("00:01:00:01:aa:bb").
func parseDUID(s string) ([]byte, error) {
	b, err := parseHex(s)
	if err != nil || !strings.Contains(s, ":") {
		return nil, fmt.Errorf("invalid DUID %q: want colon-separated hex octets, like 00:01:00:01:aa:bb:cc:dd:ee:ff", s)
	}
	if len(b) < minDUID || len(b) > maxDUID {
		return nil, fmt.Errorf("DUID of %d octets: want %d-%d (a 2-octet type and 1-128 octets of identifier)", len(b), minDUID, maxDUID)
	}
	return b, nil
}

// parseIPv6 reads an IPv6 address: no zone, not IPv4 or IPv4-mapped.
func parseIPv6(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid IPv6 address %q", s)
	}
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv6 address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone: want an IPv6 address without %%zone", s)
	}
	return a, nil
}

// parsePrefix6 reads an IPv6 prefix with no bits set past its length.
func parsePrefix6(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %q: want an IPv6 prefix like 2001:db8:1::/64", s)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 prefix: want one like 2001:db8:1::/64", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("prefix %q has bits set past /%d: did you mean %s?", s, p.Bits(), p.Masked())
	}
	return p, nil
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	b := p.Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

// parsePool reads "START-END" or a prefix meaning all of it.
func parsePool(s string) (engine.Pool, error) {
	if strings.Contains(s, "/") {
		p, err := parsePrefix6(s)
		if err != nil {
			return engine.Pool{}, err
		}
		return engine.Pool{Start: p.Addr(), End: lastAddr(p)}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return engine.Pool{}, fmt.Errorf("invalid pool %q: want START-END, like 2001:db8:1::1000-2001:db8:1::ffff, or a prefix, like 2001:db8:1::/112", s)
	}
	start, err := parseIPv6(strings.TrimSpace(a))
	if err != nil {
		return engine.Pool{}, fmt.Errorf("pool %q: %v", s, err)
	}
	end, err := parseIPv6(strings.TrimSpace(b))
	if err != nil {
		return engine.Pool{}, fmt.Errorf("pool %q: %v", s, err)
	}
	if end.Less(start) {
		return engine.Pool{}, fmt.Errorf("pool %q ends before it starts: want START-END with START <= END", s)
	}
	return engine.Pool{Start: start, End: end}, nil
}

// parseAddrPort reads "[addr]:port" or "a.b.c.d:port". like is an example
// of a valid value for the error message.
func parseAddrPort(s, like string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid address %q: want address:port, like %q", s, like)
	}
	return ap, nil
}

// checkControl checks the control API's host:port. The API has no
// authentication, so a non-loopback address needs explicit consent.
func checkControl(s string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf(`invalid address %q: want host:port, like "127.0.0.1:8547" or "[::1]:8547" ("" disables the control API)`, s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid port %q in %q: want 0-65535", port, s)
	}
	loopback := host == "localhost"
	if host != "" && !loopback {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("invalid host %q in %q: want an IP address or localhost", host, s)
		}
		loopback = a.Unmap().IsLoopback()
	}
	if !loopback && !allowRemote {
		return fmt.Errorf("%q is not a loopback address and the control API has no authentication: "+
			"bind it to 127.0.0.1 or [::1], or set server.control-allow-remote: true", s)
	}
	return nil
}

// validDomain reports whether s is a DNS name tandem can encode: dot-separated
// labels of letters, digits, '-' and '_', 1-63 octets each, 253 in all.
func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !nameByte(l[i]) || l[i] == '.' {
				return false
			}
		}
	}
	return true
}

// validName reports whether s can name a relationship: it appears in URLs
// of the control API and on the command line, so it is kept plain.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return false
		}
	}
	return true
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// span is an address interval some setting occupies, for overlap checks.
type span struct {
	lo, hi netip.Addr
	key    string
	line   int
	desc   string // the value as the operator wrote it
	pd     bool   // a pd-pool (rather than an address pool)
}

// overlap reports the first pair of overlapping spans, blaming the one that
// comes later in the file (spans are appended in file order) and naming the
// earlier one. why says the rule.
func (d *decoder) overlap(spans []span, why string) {
	if d.err != nil || len(spans) < 2 {
		return
	}
	idx := make([]int, len(spans))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int {
		if c := spans[x].lo.Compare(spans[y].lo); c != 0 {
			return c
		}
		return x - y
	})
	// Sweep by start address keeping the span reaching furthest; any span
	// starting at or before that reach overlaps it.
	bestA, bestB := -1, -1
	reach := idx[0]
	for _, i := range idx[1:] {
		if spans[i].lo.Compare(spans[reach].hi) <= 0 {
			a, b := i, reach
			if a < b {
				a, b = b, a
			}
			if bestA < 0 || a < bestA || a == bestA && b < bestB {
				bestA, bestB = a, b
			}
		}
		if spans[i].hi.Compare(spans[reach].hi) > 0 {
			reach = i
		}
	}
	if bestA >= 0 {
		a, b := spans[bestA], spans[bestB]
		d.failf(a.line, a.key, "%s overlaps %s (%s): %s", a.desc, b.key, b.desc, why)
	}
}

package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/tandemdhcp/tandem/bench"
)

const benchUsage = `NAME
    tandem bench — DHCPv6 load generator

SYNOPSIS
    tandem bench --server ADDR [--link ADDR] [--interface-id ID] [--remote-id HEX]
                 [--subscriber-id ID] [--sockets N] [options]
    tandem bench --interface IF [options]

DESCRIPTION
    Simulated clients (distinct DUIDs) run DHCPv6 exchanges open loop at
    --rate exchanges/s: a slow server shows as drops and latency, never as a
    slower generator. An exchange is counted once, whole: SOLICIT, ADVERTISE,
    REQUEST, REPLY (an allocation); RENEW, REPLY; or RELEASE, REPLY. --mix
    weighs them; RENEW and RELEASE go to clients holding a binding from this
    run (until there is one, a SOLICIT is sent instead and counted as a
    fallback). A client has at most one exchange in flight. SOLICITs take
    the --clients in turn, so more clients than the server's pool has
    addresses or prefixes shows, once it is used up, as no-resources.

    Relayed (the default): each message is wrapped in a RELAY-FORW claiming
    --link as the link-address (and --interface-id, if given; either selects
    the server's subnet; --remote-id and --subscriber-id add RFC 4649's
    REMOTE_ID and RFC 4580's SUBSCRIBER_ID, which a server's client classes
    can match) and sent by unicast to --server from --sockets
    source ports in turn, so a server's SO_REUSEPORT readers share the load.
    The RELAY-FORW carries RFC 8357's relay source port option, so servers
    (Kea included) answer to the port it came from.

    Direct (--interface IF, or --direct IF): messages are multicast to
    ff02::1:2 on IF from its link-local address, port --client-port (546,
    where servers answer; binding it needs root). For a client and a server
    in network namespaces joined by a veth pair or a bridge.

    --rate 0 or --ramp searches for the highest clean rate instead: stages of
    --duration each, from --ramp-start doubling while clean (below
    --max-drop drops, nothing skipped, the generator keeping up) up to
    --ramp-max, then --ramp-steps bisections. It prints every stage and
    max_clean_rate.

    --pd-hint-len N makes each SOLICIT's IA_PD carry a prefix-length hint,
    an IAPREFIX ::/N (RFC 8415 §18.2.1).

    The generator allocates nothing per packet: one goroutine polls all its
    sockets once per millisecond tick with recvmmsg and sends each socket's
    queue with one sendmmsg, so its cost barely depends on the rate. Its
    own CPU time is reported (cpu_s, cpu_us_per_exchange), so a result shows
    whether it stayed far from being the bottleneck. Plain RFC 8415
    messages: it works against any DHCPv6 server.

OPTIONS
{{flags}}
OUTPUT
    Exchanges started and completed, exchanges/s, the drop ratio (1 −
    completed/started: no answer within --timeout, or an answer without a
    binding), latency p50/p99/p99.9/max from an HDR histogram, per kind
    and overall. An exchange's latency is the time it waited on the server:
    SOLICIT to ADVERTISE plus REQUEST to REPLY, or RENEW/RELEASE to REPLY,
    answers timed by the kernel as they arrive (SO_TIMESTAMPNS). --json
    prints one object: offered_rate, exchanges_per_s, drop_ratio (0–1),
    p50_ms, p99_ms, p999_ms, max_ms, per-kind figures under "exchanges",
    and for a ramp max_clean_rate and every stage under "stages".

EXAMPLES
    tandem bench --server [::1]:5547 --rate 20000 --duration 5s
    tandem bench --server [2001:db8::1]:547 --link 2001:db8:1::1 --mix solicit=70,renew=25,release=5
    tandem bench --server [::1]:5547 --rate 0 --duration 3s --json
    tandem bench --server [::1]:5547 --remote-id 00:00:11:8b:6c:69:6e:65:37 --ia pd --pd-hint-len 60
    ip netns exec cli tandem bench --interface veth0 --rate 5000 --ia na

EXIT STATUS
    0 the run finished (drops are results, not failures); 1 the run could
    not be made (a socket, the interface); 2 bad usage.
`

func benchMain(args []string) int {
	c := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	server := fs.String("server", c.Server.String(), "relayed: server `address:port` (port 547 when omitted)")
	link := fs.String("link", c.Link.String(), "relayed: the relay link-address to claim")
	fs.StringVar(&c.InterfaceID, "interface-id", "", "relayed: send this relay INTERFACE_ID option")
	remoteID := fs.String("remote-id", "", "relayed: send a relay REMOTE_ID option with this data, `colon-hex`: the 4-byte enterprise number, then the remote-id")
	subscriberID := fs.String("subscriber-id", "", "relayed: send this relay SUBSCRIBER_ID option (text)")
	fs.IntVar(&c.PDHintLen, "pd-hint-len", 0, "SOLICITs' IA_PD asks for a prefix of this `length` (IAPREFIX ::/N); 0: no hint")
	fs.IntVar(&c.Sockets, "sockets", c.Sockets, "relayed: source sockets (ports) to spread the load over")
	fs.StringVar(&c.Interface, "interface", "", "direct: multicast to ff02::1:2 on this `interface` instead of relaying")
	fs.StringVar(&c.Interface, "direct", "", "the same as --interface")
	fs.IntVar(&c.ClientPort, "client-port", 546, "direct: source port")
	fs.IntVar(&c.Rate, "rate", c.Rate, "exchanges started per second; 0 ramps (as --ramp)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long to send (with a ramp: each stage)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "an exchange not finished by then is a drop")
	fs.IntVar(&c.Clients, "clients", c.Clients, "distinct client DUIDs")
	fs.StringVar(&c.IA, "ia", c.IA, "what to ask for: na, pd or both")
	mix := fs.String("mix", "solicit=100", "exchange mix, `kind=weight,...` of solicit, renew, release")
	fs.BoolVar(&c.Ramp, "ramp", false, "search for the highest rate with fewer than --max-drop drops")
	fs.IntVar(&c.RampStart, "ramp-start", 1000, "ramp: first stage's rate")
	fs.IntVar(&c.RampMax, "ramp-max", 400000, "ramp: highest rate tried")
	fs.IntVar(&c.RampSteps, "ramp-steps", 4, "ramp: bisections after the first unclean stage (-1: none)")
	fs.Float64Var(&c.MaxDrop, "max-drop", 0.01, "ramp: a stage is clean below this drop ratio")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if code, ok := parsePage(fs, benchUsage, args, os.Stdout, os.Stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tandem bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var err error
	if c.Mix, err = bench.ParseMix(*mix); err != nil {
		fmt.Fprintln(os.Stderr, "tandem bench: --mix:", err)
		return 2
	}
	if *remoteID != "" {
		if c.RemoteID, err = parseColonHex(*remoteID); err != nil || len(c.RemoteID) < 5 {
			fmt.Fprintf(os.Stderr, "tandem bench: --remote-id %q: want colon-hex, a 4-byte enterprise number then at least one byte\n", *remoteID)
			return 2
		}
	}
	if *subscriberID != "" {
		c.SubscriberID = []byte(*subscriberID)
	}
	if c.PDHintLen < 0 || c.PDHintLen > 128 {
		fmt.Fprintln(os.Stderr, "tandem bench: --pd-hint-len must be 0 to 128")
		return 2
	}
	ap, err := netip.ParseAddrPort(*server)
	if err != nil {
		a, err2 := netip.ParseAddr(*server)
		if err2 != nil {
			fmt.Fprintf(os.Stderr, "tandem bench: --server %q: %v\n", *server, err)
			return 2
		}
		ap = netip.AddrPortFrom(a, 547)
	}
	c.Server = ap
	if c.Link, err = netip.ParseAddr(*link); err != nil {
		fmt.Fprintf(os.Stderr, "tandem bench: --link: %v\n", err)
		return 2
	}
	if c.IA != "na" && c.IA != "pd" && c.IA != "both" {
		fmt.Fprintln(os.Stderr, "tandem bench: --ia must be na, pd or both")
		return 2
	}
	if c.Rate < 0 {
		fmt.Fprintln(os.Stderr, "tandem bench: --rate must be ≥ 0")
		return 2
	}
	r, err := bench.Run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem bench:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "tandem bench:", err)
			return 1
		}
		return 0
	}
	if c.Interface != "" {
		fmt.Printf("direct on %s, mix %s\n", c.Interface, r.Mix)
	} else {
		fmt.Printf("relayed to %s (link %s) from %d sockets, mix %s\n", c.Server, c.Link, r.Sockets, r.Mix)
	}
	if len(r.Stages) > 0 {
		fmt.Printf("%10s %10s %10s %8s %9s %9s %9s %9s %7s %s\n",
			"offered/s", "sent/s", "done/s", "drop %", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "cpu s", "")
		for _, s := range r.Stages {
			verdict := "clean"
			switch {
			case s.GeneratorBound:
				verdict = "generator-limited"
			case !s.Clean:
				verdict = "drops"
			}
			fmt.Printf("%10.0f %10.0f %10.0f %8.3f %9.3f %9.3f %9.3f %9.3f %7.2f %s\n",
				s.OfferedRate, s.SentPerS, s.ExchangesPerS, 100*s.DropRatio, s.P50ms, s.P99ms, s.P999ms, s.MaxMs, s.CPUs, verdict)
		}
		fmt.Printf("max clean rate: %.0f exchanges/s (drops < %g %%); details of that stage:\n", r.MaxCleanRate, 100*c.MaxDrop)
	}
	printResult(&r)
	return 0
}

func printResult(r *bench.Result) {
	fmt.Printf("offered %.0f/s for %.1fs (sent %.0f/s): %d started, %d completed (%.0f exchanges/s), drops %.3f %%\n",
		r.OfferedRate, r.DurationS, r.SentPerS, r.Started, r.Completed, r.ExchangesPerS, 100*r.DropRatio)
	fmt.Printf("%-8s %9s %9s %9s %9s %9s %9s %9s\n", "latency", "started", "done", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "mean ms")
	fmt.Printf("%-8s %9d %9d %9.3f %9.3f %9.3f %9.3f %9.3f\n", "all", r.Started, r.Completed, r.P50ms, r.P99ms, r.P999ms, r.MaxMs, r.MeanMs)
	for _, k := range []struct {
		name string
		v    bench.KindResult
	}{{"solicit", r.Exchanges.Solicit}, {"renew", r.Exchanges.Renew}, {"release", r.Exchanges.Release}, {"rebind", r.Exchanges.Rebind}} {
		if k.v.Started > 0 {
			fmt.Printf("%-8s %9d %9d %9.3f %9.3f %9.3f %9.3f %9.3f\n", k.name, k.v.Started, k.v.Completed, k.v.P50ms, k.v.P99ms, k.v.P999ms, k.v.MaxMs, k.v.MeanMs)
		}
	}
	fmt.Printf("no-resources %d, timeouts %d (late answers %d), skipped %d, fallbacks %d, malformed %d, send errors %d\n",
		r.NoResources, r.Timeouts, r.Late, r.Skipped, r.Fallbacks, r.Malformed, r.SendErrors)
	fmt.Printf("generator CPU %.2f s (%.1f µs per exchange)\n", r.CPUs, r.CPUusPerExch)
	if r.LastAddr != "" || r.LastPrefix != "" {
		fmt.Printf("last lease: %s %s\n", r.LastAddr, r.LastPrefix)
	}
}

// parseColonHex reads "00:00:11:8b:01" (or plain hex "0000118b01") as bytes.
func parseColonHex(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		return hex.DecodeString(s)
	}
	parts := strings.Split(s, ":")
	b := make([]byte, len(parts))
	for i, p := range parts {
		if len(p) == 0 || len(p) > 2 {
			return nil, fmt.Errorf("bad byte %q", p)
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

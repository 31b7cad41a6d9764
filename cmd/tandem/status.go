package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tandemdhcp/tandem/engine/node"
)

const statusUsage = `NAME
    tandem status — show a running server's state

SYNOPSIS
    tandem status [--control URL] [--json]

DESCRIPTION
    Reads GET /v1/status from the server's control API and prints the
    server's DUID, uptime, journal position and digest, active leases and,
    per failover relationship, the endpoint state, partner state,
    communication status, unacked BNDUPDs and replication lag: the wait of
    the oldest unacked change now, and p50/p99 of the commit-to-BNDREPLY
    time of the last 8192 acked BNDUPDs.

    The table's lines: server (its DUID), uptime, journal (the last durable
    sequence number and the state digest, which "tandem journal replay"
    of a checkpoint reproduces), leases (active addresses and prefixes,
    then every lease record by kind and binding status), packets; then one
    row per relationship: ROLE, STATE (RFC 8156, lower case), PARTNER (the
    state the partner last announced), COMM (whether the partner link is
    up), UNACKED (lease changes the partner has not acknowledged), LAG.
    --json prints GET /v1/status as the server sends it (CONTRACT.md).

OPTIONS
{{flags}}
EXAMPLES
    tandem status
    tandem status --control http://[::1]:8547 --json | jq '.relationships[0].state'

EXIT STATUS
    0 printed; 1 the server could not be reached or answered an error;
    2 bad usage.
`

func statusMain(args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	url := fs.String("control", "http://127.0.0.1:8547", "control API base `URL`")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if code, ok := parsePage(fs, statusUsage, args, os.Stdout, os.Stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(fs, statusUsage, "unexpected argument %q", fs.Arg(0))
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(*url + "/v1/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem status:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tandem status: %s: %v\n", *url, err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "tandem status: %s: %s: %s\n", *url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	if *asJSON {
		os.Stdout.Write(body)
		return 0
	}
	var s node.StatusJSON
	if err := json.Unmarshal(body, &s); err != nil {
		fmt.Fprintln(os.Stderr, "tandem status:", err)
		return 1
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "server\t%s\n", s.Server.DUID)
	fmt.Fprintf(w, "uptime\t%s\n", time.Duration(s.Server.UptimeS*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(w, "journal\tseq %d, digest %s\n", s.Journal.Seq, s.Journal.Digest)
	fmt.Fprintf(w, "leases\t%d addresses, %d prefixes active\n", s.Leases.NAActive, s.Leases.PDActive)
	for _, kind := range []string{"na", "pd"} {
		if len(s.Leases.States[kind]) > 0 {
			fmt.Fprintf(w, "  %s records\t%s\n", kind, formatStates(s.Leases.States[kind]))
		}
	}
	fmt.Fprintf(w, "packets\treceived %d, replied %d, malformed %d\n", s.Packets["received"], s.Packets["replied"], s.Packets["malformed"])
	w.Flush()
	if len(s.Relationships) == 0 {
		fmt.Println("relationships: none (standalone)")
		return 0
	}
	fmt.Println()
	w = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RELATIONSHIP\tROLE\tSTATE\tPARTNER\tCOMM\tUNACKED\tLAG\tLAG P50/P99")
	for _, r := range s.Relationships {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%d\t%.1fms\t%.1f/%.1fms (%d acks)\n", r.Name, r.Role, r.State, r.PartnerState,
			r.CommOK, r.Unacked, r.LagMS, r.LagP50MS, r.LagP99MS, r.LagSamples)
	}
	w.Flush()
	return 0
}

// formatStates prints lease record counts by status, most first.
func formatStates(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || l[i].v == l[j].v && l[i].k < l[j].k })
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = fmt.Sprintf("%d %s", x.v, x.k)
	}
	return strings.Join(parts, ", ")
}

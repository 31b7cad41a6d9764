package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
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

FLAGS
`

func statusMain(args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, statusUsage); fs.PrintDefaults() }
	url := fs.String("control", "http://127.0.0.1:8547", "control API base `URL`")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(*url + "/v1/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem status:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "tandem status: %s: %v %s\n", *url, err, resp.Status)
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

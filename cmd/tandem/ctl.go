package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemdhcp/tandem/engine/node"
)

const ctlUsage = `NAME
    tandem ctl — administrative commands to a running server

SYNOPSIS
    tandem ctl [--control URL] checkpoint DIR
    tandem ctl [--control URL] partner-down RELATIONSHIP

DESCRIPTION
    checkpoint DIR   write a consistent copy of the server's data-dir (the
                     journal and the server DUID) to DIR, which must not
                     exist, while the server keeps serving. The copy is a
                     valid --data-dir for the tandem journal tools (replay,
                     verify, history, who, export, stats) and a backup:
                     start a server on it to restore.
    partner-down REL the administrator's assertion that the partner of
                     failover relationship REL is down (RFC 8156 §8.4): this
                     server moves to PARTNER-DOWN, serves every client
                     without the MCLT cap and, after MCLT, from the
                     partner's pool too. Only do this when the partner is
                     really down: both servers serving in PARTNER-DOWN can
                     give one address to two clients.

FLAGS
`

func ctlMain(args []string) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, ctlUsage); fs.PrintDefaults() }
	url := fs.String("control", "http://127.0.0.1:8547", "control API base `URL`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 2 && rest[0] == "partner-down" {
		return partnerDown(*url, rest[1])
	}
	if len(rest) != 2 || rest[0] != "checkpoint" {
		fs.Usage()
		return 2
	}
	dir, err := filepath.Abs(rest[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem ctl:", err)
		return 2
	}
	body, _ := json.Marshal(node.CheckpointRequest{Dir: dir})
	c := &http.Client{Timeout: 5 * time.Minute}
	resp, err := c.Post(*url+"/v1/checkpoint", "application/json", strings.NewReader(string(body)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem ctl checkpoint:", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "tandem ctl checkpoint: %s", out)
		return 1
	}
	fmt.Printf("checkpoint written to %s\n", dir)
	return 0
}

func partnerDown(url, rel string) int {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url+"/v1/relationships/"+rel+"/partner-down", "application/json", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem ctl partner-down:", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "tandem ctl partner-down: %s", out)
		return 1
	}
	fmt.Printf("relationship %s: partner-down\n", rel)
	return 0
}

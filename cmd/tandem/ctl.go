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
    Sends one command to a running server's control API (server.control in
    its config; loopback by default, so run it on the server's host).
    Each command has its own page: tandem ctl CMD --help.

    checkpoint DIR   write a consistent copy of the server's data-dir (the
                     journal and the server DUID) to DIR while it serves:
                     a backup, and a --data-dir for the journal tools.
    partner-down REL the administrator's assertion that the partner of
                     failover relationship REL is down (RFC 8156 §8.4).

OPTIONS
{{flags}}
EXAMPLES
    tandem ctl checkpoint /var/backups/tandem/$(date +%F)
    tandem ctl --control http://127.0.0.1:8547 partner-down pair-a

EXIT STATUS
    0 done; 1 the server refused or could not be reached (the reason is
    printed); 2 bad usage.
`

const ctlCheckpointPage = `NAME
    tandem ctl checkpoint — back up a running server's data-dir

SYNOPSIS
    tandem ctl [--control URL] checkpoint DIR

DESCRIPTION
    Asks the server (POST /v1/checkpoint) to write a consistent copy of its
    data-dir — the journal (a Pebble checkpoint: hard links where the file
    system allows, so it is quick and small) and the server DUID — to DIR,
    which must not exist, while it keeps serving. DIR is made absolute
    here and written by the server, so it must be on the server's host and
    writable by the server's user (with the systemd unit: under
    /var/lib/tandem, the one directory it may write).

    The copy is a backup: to restore, stop the server, replace its
    data-dir with the copy and start it; it resumes from the copy's last
    event, and a failover partner brings it up to date (RFC 8156 recovery).
    It is also a valid --data-dir for the journal tools (replay, verify,
    history, who, export, stats), which cannot open a running server's
    journal.

OPTIONS
{{flags}}
EXAMPLES
    tandem ctl checkpoint /var/lib/tandem/backup-$(date +%F)
    tandem journal verify --data-dir /var/lib/tandem/backup-$(date +%F)

EXIT STATUS
    0 written; 1 the server refused (DIR exists, is not writable, ...) or
    could not be reached; 2 bad usage.
`

const ctlPartnerDownPage = `NAME
    tandem ctl partner-down — declare a failover partner down

SYNOPSIS
    tandem ctl [--control URL] partner-down RELATIONSHIP

DESCRIPTION
    The administrator's assertion that the partner of failover
    relationship RELATIONSHIP is down (RFC 8156 §8.4), sent as POST
    /v1/relationships/RELATIONSHIP/partner-down. The server moves to
    PARTNER-DOWN, serves every client without the MCLT cap and, after
    MCLT, from the partner's pool too. Only do this when the partner is
    really down (powered off, or cut off from every client): both servers
    serving in PARTNER-DOWN can give one address to two clients. When the
    partner returns, the pair goes through RECOVER back to NORMAL by
    itself.

OPTIONS
{{flags}}
EXAMPLES
    tandem ctl partner-down pair-a
    tandem status    # the relationship's state is now partner-down

EXIT STATUS
    0 the server is in PARTNER-DOWN; 1 no such relationship, the state
    does not allow it, or the server could not be reached; 2 bad usage.
`

func ctlMain(args []string) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	url := fs.String("control", "http://127.0.0.1:8547", "control API base `URL`")
	if code, ok := parsePage(fs, ctlUsage, args, os.Stdout, os.Stderr); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageError(fs, ctlUsage, "a command is required: checkpoint or partner-down")
	}
	// The command's own flags: --control may come after it too.
	sub := flag.NewFlagSet("ctl "+rest[0], flag.ContinueOnError)
	sub.StringVar(url, "control", *url, "control API base `URL`")
	page := pages[sub.Name()]
	if page == "" {
		return usageError(fs, ctlUsage, "unknown command %q: want checkpoint or partner-down", rest[0])
	}
	if code, ok := parseFlags(sub, rest[1:], os.Stdout, os.Stderr); !ok {
		return code
	}
	if sub.NArg() != 1 {
		return usageError(sub, page, "want exactly one argument")
	}
	if rest[0] == "partner-down" {
		return partnerDown(*url, sub.Arg(0))
	}
	dir, err := filepath.Abs(sub.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem ctl checkpoint:", err)
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
		fmt.Fprintf(os.Stderr, "tandem ctl partner-down: %s: %s", resp.Status, out)
		return 1
	}
	fmt.Printf("relationship %s: partner-down\n", rel)
	return 0
}

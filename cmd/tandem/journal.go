package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/journal"
)

const journalUsage = `NAME
    tandem journal — offline tools for a server's journal

SYNOPSIS
    tandem journal replay  --data-dir DIR [--from-start] [--json]
    tandem journal verify  --data-dir DIR
    tandem journal history --data-dir DIR --addr A | --prefix P | --duid D [--json]
    tandem journal who     --data-dir DIR --addr A | --prefix P --at TIME [--json]
    tandem journal export  --data-dir DIR [--since TIME] [--until TIME]
    tandem journal stats   --data-dir DIR [--json]
    tandem journal reindex --data-dir DIR

DESCRIPTION
    The journal is the Pebble store in DIR/journal (DIR is the config's
    server.data-dir). These tools (all but reindex) open it read-only and
    never write to it. Pebble locks the store, so stop the server first,
    or run them on a copy of a running server's data-dir taken with
    tandem ctl checkpoint DIR2 (then --data-dir DIR2).

    Times (TIME) are RFC 3339, e.g. 2026-03-03T10:00:00Z; output times are
    UTC. DUIDs are hex, colons optional. A REMOTE_ID is printed in hex
    (its first four bytes are the relay's enterprise number).

    replay   rebuilds the lease state from the newest snapshot and the
             events after it, and prints the number of events replayed, the
             record counts, the last sequence number and the state digest,
             as "digest: %016x". The digest is the one the running server
             reports (tandem status), so the two can be compared.
             --from-start ignores snapshots and replays every event from
             sequence number 1 (after retention: from the retention base,
             the snapshot of the state when the oldest kept event came).

    verify   checks that the events run without gaps up to the last append
             and all decode, that every snapshot holds what its header says,
             and that replaying the events reproduces each snapshot's
             digest. It prints a report; on the first problem it names the
             first bad sequence number and exits 1. After retention the log
             legitimately starts after the retention base snapshot (the
             report says which events were removed); a hole anywhere after
             it is damage. tandem serve refuses to start on a journal whose
             events after the newest snapshot are missing or undecodable,
             with the same message.

    history  prints every event that touched the address (--addr), the
             delegated prefix (--prefix) or the client (--duid), oldest
             first: time, seq, cause, kind, the resource, its status, DUID,
             IAID, lifetimes, expiry, and the relay's link-address and
             REMOTE_ID where known. --json prints JSON lines instead.

    who      names the client that held the address or prefix at --at
             TIME: its DUID, IAID, REMOTE_ID and link-address, from the last
             event for it at or before TIME, if that left it ACTIVE and its
             valid lifetime had not run out; else "nobody", with that last
             event. Exits 0 either way. --json prints one object with
             "held" and "event". After retention (serve
             --journal-retention), a TIME before the oldest kept history
             answers "unknown: before the retention horizon"
             ("before_horizon": true), and a resource whose events were
             removed is answered from the state kept at the horizon.

    export   prints every event (with --since, those at or after TIME;
             with --until, those before TIME) as JSON lines, streaming.

    stats    prints the number of events by kind and by cause, the time
             span, the sequence range, the newest snapshot, whether the
             audit index is present and the store's size on disk.

    reindex  builds the audit index of a journal written before the index
             existed (history and who then scan every event, and say so).
             It writes index keys only, never an event, and needs the
             server stopped (or a checkpoint copy).

    history and who read the audit index that the server writes with
    every event, so they answer in milliseconds however long the journal.
    Each tool has its own page: tandem journal CMD --help.

OPTIONS
    --data-dir DIR   the server's data-dir (every tool); the others are
                     each tool's own (tandem journal CMD --help).

EXAMPLES
    tandem ctl checkpoint /tmp/ck && tandem journal verify --data-dir /tmp/ck
    tandem journal who --data-dir /tmp/ck --addr 2001:db8:1::1000 --at 2026-03-03T10:00:00Z

EXIT STATUS
    0 done; 1 the journal is damaged or cannot be read; 2 bad usage.
`

// journalMain runs "tandem journal ARGS…"; args are the words after
// "journal".
func journalMain(args []string) int {
	return runJournal(args, os.Stdout, os.Stderr)
}

func runJournal(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, journalUsage)
		return 2
	}
	switch args[0] {
	case "replay":
		return journalReplay(args[1:], stdout, stderr)
	case "verify":
		return journalVerify(args[1:], stdout, stderr)
	case "history":
		return journalHistory(args[1:], stdout, stderr)
	case "who":
		return journalWho(args[1:], stdout, stderr)
	case "export":
		return journalExport(args[1:], stdout, stderr)
	case "stats":
		return journalStats(args[1:], stdout, stderr)
	case "reindex":
		return journalReindex(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, journalUsage)
		return 0
	}
	fmt.Fprintf(stderr, "tandem journal: unknown command %q\n\n%s", args[0], journalUsage)
	return 2
}

// journalFlags is a FlagSet with the flags every journal tool takes.
func journalFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("journal "+name, flag.ContinueOnError)
	dir := fs.String("data-dir", "", "the server's data `DIR` (the journal is DIR/journal)")
	return fs, dir
}

// openJournal opens DIR/journal read-only, logging Pebble's warnings to
// stderr. Open itself checks the tail after the newest snapshot.
func openJournal(name, dir string, stdout, stderr io.Writer) (*journal.Journal, bool) {
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.AddSync(stderr), zap.WarnLevel))
	j, err := journal.Open(journal.Options{Dir: filepath.Join(dir, "journal"), Logger: log, ReadOnly: true})
	if err != nil {
		fmt.Fprintf(stderr, "tandem journal %s: %v\n", name, err)
		printBadSeq(err, stdout)
		return nil, false
	}
	return j, true
}

// printBadSeq prints the first bad sequence number, when err names one,
// on a line of its own for scripts.
func printBadSeq(err error, w io.Writer) {
	var se *journal.SeqError
	if errors.As(err, &se) {
		fmt.Fprintf(w, "first bad seq: %d\n", se.Seq)
	}
}

type replayJSON struct {
	Journal     string `json:"journal"`
	FromStart   bool   `json:"from_start"`
	SnapshotSeq uint64 `json:"snapshot_seq"` // 0: none used
	Events      uint64 `json:"events"`       // events replayed
	Records     int    `json:"records"`
	RecordsNA   int    `json:"records_na"`
	RecordsPD   int    `json:"records_pd"`
	ActiveNA    int    `json:"active_na"`
	ActivePD    int    `json:"active_pd"`
	LastSeq     uint64 `json:"last_seq"`
	Digest      string `json:"digest"`
}

func journalReplay(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("replay", stderr)
	fromStart := fs.Bool("from-start", false, "ignore snapshots: replay every event from sequence number 1")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "tandem journal replay: --data-dir DIR is required, and nothing else")
		return 2
	}
	j, ok := openJournal("replay", *dir, stdout, stderr)
	if !ok {
		return 1
	}
	defer j.Close()

	e, err := journal.NewToolEngine()
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal replay:", err)
		return 1
	}
	r := replayJSON{Journal: filepath.Join(*dir, "journal"), FromStart: *fromStart}
	var seq uint64
	if *fromStart {
		// From sequence number 1, or from the retention base when
		// retention removed the start of the log.
		r.SnapshotSeq, seq, err = j.ReplayFromStart(e)
	} else {
		r.SnapshotSeq = j.SnapshotSeq()
		seq, err = j.Restore(e)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal replay:", err)
		printBadSeq(err, stdout)
		return 1
	}
	r.LastSeq, r.Events = seq, seq-r.SnapshotSeq
	e.ForEach(func(b *engine.Binding) bool {
		if b.Kind == engine.KindNA {
			r.RecordsNA++
		} else {
			r.RecordsPD++
		}
		return true
	})
	r.Records = e.Len()
	r.ActiveNA, r.ActivePD = e.Active()
	r.Digest = fmt.Sprintf("%016x", e.Digest())

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&r); err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "journal: %s\n", r.Journal)
	if r.SnapshotSeq > 0 && *fromStart {
		fmt.Fprintf(stdout, "snapshot: the retention base, after seq %d (events before it were removed by retention)\n", r.SnapshotSeq)
	} else if r.SnapshotSeq > 0 {
		fmt.Fprintf(stdout, "snapshot: after seq %d\n", r.SnapshotSeq)
	} else if *fromStart {
		fmt.Fprintln(stdout, "snapshot: not used (--from-start)")
	} else {
		fmt.Fprintln(stdout, "snapshot: none")
	}
	fmt.Fprintf(stdout, "events: %d replayed\n", r.Events)
	fmt.Fprintf(stdout, "records: %d (na %d, %d active; pd %d, %d active)\n",
		r.Records, r.RecordsNA, r.ActiveNA, r.RecordsPD, r.ActivePD)
	fmt.Fprintf(stdout, "last seq: %d\n", r.LastSeq)
	fmt.Fprintf(stdout, "digest: %s\n", r.Digest)
	return 0
}

func journalVerify(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("verify", stderr)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "tandem journal verify: --data-dir DIR is required, and nothing else")
		return 2
	}
	j, ok := openJournal("verify", *dir, stdout, stderr)
	if !ok {
		return 1
	}
	defer j.Close()
	if err := j.Verify(stdout); err != nil {
		fmt.Fprintln(stderr, "tandem journal verify:", err)
		printBadSeq(err, stdout)
		return 1
	}
	return 0
}

package main

// The help pages of the journal tools, one per subcommand (tandem journal
// CMD --help); "tandem journal --help" is journalUsage, their overview.

// journalExit is the EXIT STATUS every journal tool shares.
const journalExit = `EXIT STATUS
    0 done; 1 the journal is damaged or cannot be read; 2 bad usage.
`

// journalCommon is the paragraph on where the journal is and how to read a
// running server's.
const journalCommon = `
    The journal is the Pebble store in DIR/journal (DIR is the config's
    server.data-dir). Pebble locks it, so stop the server first, or run the
    tool on a copy of a running server's data-dir taken with
    "tandem ctl checkpoint DIR2" (then --data-dir DIR2).
`

var journalPages = map[string]string{
	"replay": `NAME
    tandem journal replay — rebuild the lease state and print its digest

SYNOPSIS
    tandem journal replay --data-dir DIR [--from-start] [--json]

DESCRIPTION
    Rebuilds the lease state from the newest snapshot and the events after
    it, and prints the number of events replayed, the record counts, the
    last sequence number and the state digest, as "digest: %016x". The
    digest is the one the running server reports (tandem status), so the
    two can be compared. --from-start ignores snapshots and replays every
    event from sequence number 1. Read-only.
` + journalCommon + `
OPTIONS
{{flags}}
EXAMPLES
    tandem journal replay --data-dir /var/lib/tandem
    tandem journal replay --data-dir /backup/tandem-2026-03-03 --from-start --json

` + journalExit,

	"verify": `NAME
    tandem journal verify — check a journal's integrity

SYNOPSIS
    tandem journal verify --data-dir DIR

DESCRIPTION
    Checks that the events run without gaps up to the last append and all
    decode, that every snapshot holds what its header says, and that
    replaying the events reproduces each snapshot's digest. It prints a
    report; on the first problem it names the first bad sequence number
    ("first bad seq: N") and exits 1. Read-only.
` + journalCommon + `
OPTIONS
{{flags}}
EXAMPLES
    tandem journal verify --data-dir /var/lib/tandem

` + journalExit,

	"history": `NAME
    tandem journal history — every change to an address, a prefix or a client

SYNOPSIS
    tandem journal history --data-dir DIR --addr A | --prefix P | --duid D [--json]

DESCRIPTION
    Prints every event that touched the address (--addr), the delegated
    prefix (--prefix) or the client (--duid), oldest first: time, seq,
    cause, kind, the resource, its status, DUID, IAID, lifetimes, expiry,
    and the relay's link-address and REMOTE_ID where known (in hex; its
    first four bytes are the relay's enterprise number). Times are UTC.
    It reads the audit index the server writes with every event, so it
    answers in milliseconds however long the journal. Read-only.
` + journalCommon + `
OPTIONS
{{flags}}
EXAMPLES
    tandem journal history --data-dir /var/lib/tandem --addr 2001:db8:1::1000
    tandem journal history --data-dir /var/lib/tandem --duid 00:01:00:01:aa:bb:cc:dd:ee:ff --json

` + journalExit,

	"who": `NAME
    tandem journal who — which client held an address or prefix at a moment

SYNOPSIS
    tandem journal who --data-dir DIR --addr A | --prefix P --at TIME [--json]

DESCRIPTION
    Names the client that held the address or prefix at TIME (RFC 3339,
    e.g. 2026-03-03T10:00:00Z): its DUID, IAID, REMOTE_ID and link-address,
    from the last event for it at or before TIME, if that left it ACTIVE
    and its valid lifetime had not run out; else "nobody", with that last
    event. Exits 0 either way. --json prints one object with "held" and
    "event". Read-only.
` + journalCommon + `
OPTIONS
{{flags}}
EXAMPLES
    tandem journal who --data-dir /var/lib/tandem --addr 2001:db8:1::1000 --at 2026-03-03T10:00:00Z

` + journalExit,

	"export": `NAME
    tandem journal export — every event as JSON lines

SYNOPSIS
    tandem journal export --data-dir DIR [--since TIME] [--until TIME]

DESCRIPTION
    Prints every event (with --since, those at or after TIME; with
    --until, those before TIME) as JSON lines, streaming, oldest first.
    Times are RFC 3339. Read-only.
` + journalCommon + `
OPTIONS
{{flags}}
EXAMPLES
    tandem journal export --data-dir /var/lib/tandem --since 2026-03-03T00:00:00Z > day.jsonl

` + journalExit,

	"stats": `NAME
    tandem journal stats — what a journal holds

SYNOPSIS
    tandem journal stats --data-dir DIR [--json]

DESCRIPTION
    Prints the number of events by kind and by cause, the time span, the
    sequence range, the newest snapshot, whether the audit index is
    present and the store's size on disk. Read-only.
` + journalCommon + `
OPTIONS
{{flags}}
EXAMPLES
    tandem journal stats --data-dir /var/lib/tandem --json

` + journalExit,

	"reindex": `NAME
    tandem journal reindex — build the audit index of an old journal

SYNOPSIS
    tandem journal reindex --data-dir DIR

DESCRIPTION
    Builds the audit index of a journal written before the index existed
    (history and who then scan every event, and say so). It writes index
    keys only, never an event, and needs the server stopped (or a
    checkpoint copy): the one journal tool that writes.

OPTIONS
{{flags}}
EXAMPLES
    systemctl stop tandem && tandem journal reindex --data-dir /var/lib/tandem

` + journalExit,
}

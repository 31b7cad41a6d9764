package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tandemdhcp/tandem/engine/config"
)

const configUsage = `NAME
    tandem config — validate and print configuration

SYNOPSIS
    tandem config check [--no-files] FILE
    tandem config example
    tandem config default

DESCRIPTION
    check    parses and validates FILE; on error prints one line
             FILE:LINE: KEY: what is wrong and what would be valid, exit 1.
    example  prints a commented, valid config to start from.
    default  prints the embedded config "tandem serve --default" uses.

    Each command has its own page: tandem config CMD --help.

OPTIONS
    none

EXAMPLES
    tandem config example > /etc/tandem/tandem.yaml
    tandem config check /etc/tandem/tandem.yaml

EXIT STATUS
    0 done (check: the file is valid); 1 check: the file is invalid or
    unreadable; 2 bad usage.
`

const configCheckPage = `NAME
    tandem config check — validate a config file

SYNOPSIS
    tandem config check [--no-files] FILE

DESCRIPTION
    Parses and validates FILE the way tandem serve does, without opening a
    socket or touching the data-dir. A valid file prints "FILE: ok" with
    its number of subnets and relationships. The first problem found is
    printed as one line, FILE:LINE: KEY: what is wrong and what would be
    valid, for instance

        tandem.yaml:14: relationships[0].mclt: 10s is too short: want at least 30s (...)

    Unknown keys (usually typos) are errors, not ignored. Checked besides
    each value's syntax and range: pools inside their subnet and within
    one /64, no two pools or pd-pools overlapping (in one subnet or
    across subnets), no pd-pool covering a subnet, no overlapping subnets
    or reservations, a subnet's interface in server.interfaces and its
    relationship defined, every relationship serving a subnet, a
    primary's peer, a secondary's listen (and its
    peer when secondaries share a listen), MCLT of at least 30s, TLS files
    all set or none, preferred <= valid and t1 <= t2, and a control API on
    loopback unless server.control-allow-remote is true.

    Then, unless --no-files, it opens the files the config names the way
    the server will: each relationship's TLS certificate and key (which
    must match) and CA. Run it as the server's user (the systemd unit
    does, before every start) and a key it cannot read is named too.

OPTIONS
{{flags}}
EXAMPLES
    tandem config check /etc/tandem/tandem.yaml
    tandem config check --no-files tandem-secondary.yaml   # on a workstation

EXIT STATUS
    0 valid; 1 invalid or unreadable (the reason is printed on stderr);
    2 bad usage.
`

const configExamplePage = `NAME
    tandem config example — print a commented example config

SYNOPSIS
    tandem config example

DESCRIPTION
    Prints a valid config with a comment on every key: the primary of a
    failover pair serving one link directly and relayed links by unicast,
    with documentation prefixes (2001:db8::/32). Edit it into your own;
    "tandem config check" validates the result.

OPTIONS
{{flags}}
EXAMPLES
    tandem config example > tandem.yaml && tandem config check tandem.yaml

EXIT STATUS
    0 always; 2 bad usage.
`

const configDefaultPage = `NAME
    tandem config default — print the embedded default config

SYNOPSIS
    tandem config default

DESCRIPTION
    Prints the config "tandem serve --default" runs on: no root needed,
    relayed DHCPv6 on [::1]:5547, the control API on 127.0.0.1:8547, state
    in ./tandem-data, documentation prefixes and short lifetimes.

OPTIONS
{{flags}}
EXAMPLES
    tandem config default

EXIT STATUS
    0 always; 2 bad usage.
`

func configMain(args []string) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	if len(args) == 0 {
		return usageError(fs, configUsage, "a command is required: check, example or default")
	}
	if isHelp(args[0]) {
		writePage(os.Stdout, configUsage, nil)
		return 0
	}
	sub := flag.NewFlagSet("config "+args[0], flag.ContinueOnError)
	page := pages[sub.Name()]
	if page == "" {
		return usageError(fs, configUsage, "unknown command %q: want check, example or default", args[0])
	}
	noFiles := new(bool)
	if args[0] == "check" {
		sub.BoolVar(noFiles, "no-files", false, "check the config alone, not the TLS files it names (on a host other than the server's)")
	}
	if code, ok := parseFlags(sub, args[1:], os.Stdout, os.Stderr); !ok {
		return code
	}
	switch args[0] {
	case "check":
		if sub.NArg() != 1 {
			return usageError(sub, page, "want exactly one FILE")
		}
		path := sub.Arg(0)
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "config:", err)
			return 1
		}
		f, err := config.Parse(path, data)
		if err == nil && !*noFiles {
			err = config.CheckFiles(path, data, f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: ok (%d subnets, %d relationships)\n", sub.Arg(0), len(f.Engine.Subnets), len(f.Relationships))
		return 0
	case "example", "default":
		if sub.NArg() != 0 {
			return usageError(sub, page, "takes no arguments")
		}
		if args[0] == "example" {
			fmt.Print(config.Example())
		} else {
			fmt.Print(config.Default())
		}
	}
	return 0
}

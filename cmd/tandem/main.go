// Command tandem is the one binary of the tandem DHCPv6 failover server:
// serve, journal tools, status and config commands. This package is flag
// parsing and wiring only; the work happens in the library packages.
package main

import (
	"flag"
	"fmt"
	"os"
)

const usage = `NAME
    tandem — a DHCPv6 server that runs as an RFC 8156 hot-standby pair

SYNOPSIS
    tandem COMMAND [ARGS...]
    tandem COMMAND --help

DESCRIPTION
    One binary: the server, its load generator, its offline journal tools
    and the commands an operator runs against a running server. Every
    command has its own page: tandem COMMAND --help.

    serve --config FILE       run a server: standalone, or one side of one or
                              more failover relationships
    serve --default           run on the embedded default config (no root)
    demo                      a primary and a secondary on loopback under
                              load: takeover and recovery, with figures
    bench --server ADDR       the load generator (relayed or direct)
    journal CMD --data-dir D  offline journal tools: replay, verify,
                              history, who, export, stats, reindex
    status                    a running server's state (--json for scripts)
    ctl checkpoint DIR        back up a running server's data-dir
    ctl partner-down REL      declare the failover partner of REL down
    config check FILE         validate a config file
    config example            print a commented example config
    config default            print the embedded default config
    version                   print the version

OPTIONS
    -h, --help                this page (and COMMAND --help, each command's)

EXAMPLES
    tandem config example > tandem.yaml && tandem config check tandem.yaml
    tandem serve --config tandem.yaml
    tandem status
    tandem bench --server [::1]:5547 --rate 1000 --duration 5s

EXIT STATUS
    Each command's page says; in general 0 success, 1 failure, 2 bad usage.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveMain(args[1:])
	case "bench":
		return benchMain(args[1:])
	case "demo":
		return demoMain(args[1:])
	case "journal":
		return journalMain(args[1:])
	case "status":
		return statusMain(args[1:])
	case "ctl":
		return ctlMain(args[1:])
	case "config":
		return configMain(args[1:])
	case "version", "--version":
		fs := flag.NewFlagSet("version", flag.ContinueOnError)
		if code, ok := parseFlags(fs, args[1:], os.Stdout, os.Stderr); !ok {
			return code
		}
		fmt.Println("tandem", version)
		return 0
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] != "help" { // tandem help CMD
			return run([]string{args[1], "--help"})
		}
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "tandem: unknown command %q\n\n%s", args[0], usage)
	return 2
}

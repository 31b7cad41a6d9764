// Command tandem is the one binary of the tandem DHCPv6 failover server:
// serve, journal tools, status and config commands. This package is flag
// parsing and wiring only; the work happens in the library packages.
package main

import (
	"fmt"
	"os"
)

const usage = `tandem — a DHCPv6 server that runs as an RFC 8156 hot-standby pair

Usage:
  tandem serve --config FILE [flags]     run a server (see: tandem serve --help)
  tandem serve --default                 run on the embedded default config (no root needed)
  tandem demo                            a failover pair on loopback: load, a crash, takeover, recovery
                                          (no root, no config; what "make run" runs)
  tandem bench --server ADDR [flags]     load generator (see: tandem bench --help)
  tandem journal replay|verify|history|who|export|stats ...
                                          offline journal tools (see: tandem journal --help)
  tandem status [--control URL] [--json]  a running server's state
  tandem ctl checkpoint DIR               copy a running server's data-dir (journal + DUID)
  tandem ctl partner-down REL             declare the failover partner of REL down
  tandem config check FILE                validate a config file
  tandem config example                   print a commented example config
  tandem config default                   print the embedded default config
  tandem version                          print the version
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
		fmt.Println("tandem", version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "tandem: unknown command %q\n\n%s", args[0], usage)
	return 2
}

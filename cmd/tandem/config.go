package main

import (
	"fmt"
	"os"

	"github.com/tandemdhcp/tandem/engine/config"
)

const configUsage = `NAME
    tandem config — validate and print configuration

SYNOPSIS
    tandem config check FILE
    tandem config example
    tandem config default

DESCRIPTION
    check    parses and validates FILE; on error prints one line
             FILE:LINE: KEY: what is wrong and what would be valid, exit 1.
    example  prints a commented, valid config to start from.
    default  prints the embedded config "tandem serve --default" uses.
`

func configMain(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, configUsage)
		return 2
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			fmt.Fprint(os.Stderr, configUsage)
			return 2
		}
		f, err := config.Load(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: ok (%d subnets, %d relationships)\n", args[1], len(f.Engine.Subnets), len(f.Relationships))
		return 0
	case "example":
		fmt.Print(config.Example())
		return 0
	case "default":
		fmt.Print(config.Default())
		return 0
	}
	fmt.Fprintf(os.Stderr, "tandem config: unknown subcommand %q\n\n%s", args[0], configUsage)
	return 2
}

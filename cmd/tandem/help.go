package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Every command and subcommand answers -h and --help with a page in the
// shape of man(1): NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES, EXIT
// STATUS, printed to stdout with exit status 0 (help asked for is output,
// not an error). A usage mistake prints the error and the same page to
// stderr and exits 2. A page's OPTIONS section is the flag set's own
// defaults, so it cannot drift from the flags; a page names where they go
// with the line "{{flags}}".

// flagsMarker is replaced by the flag set's defaults when a page is printed.
const flagsMarker = "{{flags}}\n"

// pages are the help pages of the commands whose flag sets are named after
// them ("journal replay", "ctl checkpoint"); the others print their own.
var pages = map[string]string{}

func init() {
	for name, page := range journalPages {
		pages["journal "+name] = page
	}
	for name, page := range map[string]string{
		"ctl checkpoint":   ctlCheckpointPage,
		"ctl partner-down": ctlPartnerDownPage,
		"config check":     configCheckPage,
		"config example":   configExamplePage,
		"config default":   configDefaultPage,
		"version":          versionPage,
	} {
		pages[name] = page
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// writePage prints page with fs's flags in its OPTIONS section.
func writePage(w io.Writer, page string, fs *flag.FlagSet) {
	var flags bytes.Buffer
	if fs != nil {
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if flags.Len() == 0 {
		flags.WriteString("    none\n")
	}
	flags.WriteString("\n")
	fmt.Fprint(w, strings.Replace(page, flagsMarker, flags.String(), 1))
}

// parseFlags parses args into fs, whose page is pages[fs.Name()]. On
// -h/--help it prints the page to stdout and returns (0, false); on a bad
// flag it prints the error and the page to stderr and returns (2, false).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	return parsePage(fs, pages[fs.Name()], args, stdout, stderr)
}

// parsePage is parseFlags with the page given.
func parsePage(fs *flag.FlagSet, page string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		writePage(stdout, page, fs)
		return 0, false
	}
	fmt.Fprintf(stderr, "tandem %s: %v\n\n", fs.Name(), err)
	writePage(stderr, page, fs)
	return 2, false
}

// usageError prints a usage mistake and the page to stderr; it returns 2.
func usageError(fs *flag.FlagSet, page, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "tandem %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	writePage(os.Stderr, page, fs)
	return 2
}

const versionPage = `NAME
    tandem version — print the version

SYNOPSIS
    tandem version

DESCRIPTION
    Prints "tandem VERSION": the version the binary was built as (set with
    go build -ldflags "-X main.version=V"; "dev" otherwise).

OPTIONS
{{flags}}
EXAMPLES
    tandem version

EXIT STATUS
    0 always; 2 bad usage.
`

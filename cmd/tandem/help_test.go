package main

import (
	"strings"
	"testing"
)

// manSections are the sections every --help page has, in this order.
var manSections = []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "EXIT STATUS"}

// TestHelpPages runs the binary: `tandem CMD --help` (and -h) for every
// command and subcommand exits 0, prints a man-page style page to stdout
// and nothing to stderr. (`tandem demo --help` is the demo's own.)
func TestHelpPages(t *testing.T) {
	for _, c := range []struct {
		args []string
		name string // what the NAME line names
	}{
		{nil, "tandem"},
		{[]string{"serve"}, "tandem serve"},
		{[]string{"bench"}, "tandem bench"},
		{[]string{"journal"}, "tandem journal"},
		{[]string{"journal", "replay"}, "tandem journal replay"},
		{[]string{"journal", "verify"}, "tandem journal verify"},
		{[]string{"journal", "history"}, "tandem journal history"},
		{[]string{"journal", "who"}, "tandem journal who"},
		{[]string{"journal", "export"}, "tandem journal export"},
		{[]string{"journal", "stats"}, "tandem journal stats"},
		{[]string{"journal", "reindex"}, "tandem journal reindex"},
		{[]string{"status"}, "tandem status"},
		{[]string{"ctl"}, "tandem ctl"},
		{[]string{"ctl", "checkpoint"}, "tandem ctl checkpoint"},
		{[]string{"ctl", "partner-down"}, "tandem ctl partner-down"},
		{[]string{"config"}, "tandem config"},
		{[]string{"config", "check"}, "tandem config check"},
		{[]string{"config", "example"}, "tandem config example"},
		{[]string{"config", "default"}, "tandem config default"},
		{[]string{"version"}, "tandem version"},
	} {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string{}, c.args...), h)
			out, errs, code := runBin(t, args...)
			what := "tandem " + strings.Join(args, " ")
			if code != 0 || errs != "" {
				t.Errorf("%s: exit %d, stderr %q; want 0 and nothing", what, code, errs)
				continue
			}
			if want := "NAME\n    " + c.name + " — "; !strings.HasPrefix(out, want) {
				t.Errorf("%s: page starts %q, want %q", what, firstLines(out, 2), want)
			}
			at := 0
			for _, s := range manSections {
				i := strings.Index(out[at:], "\n"+s+"\n")
				if i < 0 && s == "NAME" && strings.HasPrefix(out, "NAME\n") {
					continue
				}
				if i < 0 {
					t.Errorf("%s: no %s section after the ones before it:\n%s", what, s, out)
					break
				}
				at += i + 1
			}
		}
	}
}

// TestUsageErrors: a usage mistake exits 2 with the reason and the page on
// stderr, nothing on stdout.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"serve", "--bogus"},
		{"serve", "stray"},
		{"status", "--bogus"},
		{"ctl"},
		{"ctl", "reboot"},
		{"ctl", "checkpoint"},
		{"ctl", "partner-down", "a", "b"},
		{"config"},
		{"config", "check"},
		{"config", "lint", "x"},
		{"config", "example", "x"},
		{"journal", "replay", "--bogus"},
	} {
		out, errs, code := runBin(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, "SYNOPSIS") && !strings.Contains(errs, "Usage") {
			t.Errorf("tandem %s: exit %d, stdout %q, stderr %q; want 2, nothing, the reason and the page",
				strings.Join(args, " "), code, firstLines(out, 2), firstLines(errs, 3))
		}
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

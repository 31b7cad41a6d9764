package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Results: what one run of the suite measured, and its three renderings —
// the table (text for the terminal, Markdown for the README), the JSON
// (bench/results/suite.json) and the plot (plot.go, suite.svg). The
// writers take a Suite and nothing else, so a test feeds them synthetic
// figures.

// Suite is one run of every scenario.
type Suite struct {
	Date     string `json:"date"`
	Commit   string `json:"commit"`
	Machine  string `json:"machine"` // CPU model, cores, kernel
	Kea      string `json:"kea"`     // kea-dhcp6 -v
	Pinning  string `json:"pinning"`
	Load     string `json:"load"`    // the generator's command line, rate left out
	Journal  string `json:"journal"` // where tandem's data-dirs were, and the filesystem
	Command  string `json:"command"` // how to reproduce
	FixedFor string `json:"fixed_run"`

	Scenarios []Scenario `json:"scenarios"`
	Targets   []Target   `json:"targets"`
}

// Scenario is one server set-up's figures.
type Scenario struct {
	Name   string `json:"name"`   // tandem, kea, kea-mt, tandem-pair, kea-ha, echo
	Title  string `json:"title"`  // one line: what ran
	Server string `json:"server"` // tandem, kea or echo (the plot's colour)
	Pair   bool   `json:"pair"`

	MaxCleanRate float64 `json:"max_clean_rate"`
	// AtMax is the ramp's stage at MaxCleanRate.
	AtMax Point `json:"at_max"`
	// Stages are every ramp stage in the order run.
	Stages []Point `json:"stages"`
	// Fixed is the run at a fixed rate (5,000/s) that measures CPU.
	Fixed *Fixed `json:"fixed,omitempty"`
	// FixedClean, when the fixed rate was more than the servers could
	// take cleanly, is the same measurement at 90 % of the max clean
	// rate, after the ramp: CPU per exchange of an overloaded server
	// counts the work on exchanges it then dropped.
	FixedClean *Fixed `json:"fixed_at_clean_rate,omitempty"`
	// Lag is the pair's replication figures (tandem pair only).
	Lag *Lag `json:"replication,omitempty"`
	// HA is Kea HA's state after the load (Kea HA pair only).
	HA string `json:"ha,omitempty"`

	// Versus names the scenario this one's max clean rate is compared
	// with, and Ratio is this / that.
	Versus string  `json:"versus,omitempty"`
	Ratio  float64 `json:"ratio,omitempty"`

	// OtherCPUs is the CPU time processes other than the suite's used
	// while the scenario ran (topo.go, markCPU): on a shared machine,
	// how much the figures could have been disturbed.
	OtherCPUs float64 `json:"other_cpu_s"`

	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Point is one ramp stage (or the fixed run) as the generator saw it.
type Point struct {
	Offered          float64 `json:"offered_rate"`
	Achieved         float64 `json:"exchanges_per_s"`
	DropRatio        float64 `json:"drop_ratio"`
	P50ms            float64 `json:"p50_ms"`
	P99ms            float64 `json:"p99_ms"`
	P999ms           float64 `json:"p999_ms"`
	Clean            bool    `json:"clean"`
	GeneratorLimited bool    `json:"generator_limited,omitempty"`
	GenCPUus         float64 `json:"generator_cpu_us_per_exchange"`
}

// Fixed is the fixed-rate run and the servers' CPU over it.
type Fixed struct {
	Point
	Rate      float64 `json:"rate"`
	Completed uint64  `json:"completed"`
	// Procs is each server process's user+system CPU over the run.
	Procs []ProcCPU `json:"procs"`
	// CPUus is the sum over Procs per completed exchange: what the
	// scenario's server side spent on one.
	CPUus float64 `json:"cpu_us_per_exchange"`
}

// ProcCPU is one process's CPU over the fixed run.
type ProcCPU struct {
	Name  string  `json:"name"`
	CPUs  float64 `json:"cpu_s"`
	CPUus float64 `json:"cpu_us_per_exchange"`
}

// Lag is a tandem pair's replication after its runs, from the primary's
// GET /v1/status.
type Lag struct {
	// At5000 and AtHalfMax: lag percentiles right after the fixed run
	// and after a run at half the max clean rate.
	At5000    LagFigures `json:"at_fixed_rate"`
	AtHalfMax LagFigures `json:"at_half_max"`
	// CaughtUp: the primary's unacked count reached 0 after the last
	// run, within CaughtUpMs.
	CaughtUp   bool    `json:"caught_up"`
	CaughtUpMs float64 `json:"caught_up_ms"`
	Unacked    int     `json:"unacked"`
	// Active leases on each side once caught up.
	PrimaryNA   int64  `json:"primary_na_active"`
	PrimaryPD   int64  `json:"primary_pd_active"`
	SecondaryNA int64  `json:"secondary_na_active"`
	SecondaryPD int64  `json:"secondary_pd_active"`
	State       string `json:"state"`
}

// LagFigures are the primary's lag_p50_ms/lag_p99_ms over a run: read
// once at its end (the last 8,192 acked BNDUPDs), and read every half
// second during it, of which the median and the worst read are kept.
type LagFigures struct {
	Rate      float64 `json:"rate"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Samples   int     `json:"samples"`
	Windows   int     `json:"windows"`
	P50Median float64 `json:"p50_ms_median"`
	P99Median float64 `json:"p99_ms_median"`
	P99Max    float64 `json:"p99_ms_max"`
}

func (f *LagFigures) String() string {
	s := fmt.Sprintf("p50 / p99 %.2f / %.2f ms at the end", f.P50ms, f.P99ms)
	if f.Windows > 0 {
		s += fmt.Sprintf("; over %d reads during the run, median p50 %.2f ms, p99 median %.2f ms, worst %.2f ms",
			f.Windows, f.P50Median, f.P99Median, f.P99Max)
	}
	return s
}

// Target is one of the goals and how this run fared.
type Target struct {
	What string  `json:"what"`
	Want float64 `json:"want"` // the ratio wanted
	Got  float64 `json:"got"`
	Met  bool    `json:"met"`
}

// find returns the scenario named name, or nil.
func (s *Suite) find(name string) *Scenario {
	for i := range s.Scenarios {
		if s.Scenarios[i].Name == name {
			return &s.Scenarios[i]
		}
	}
	return nil
}

// comparison is one line of the ratio table: a scenario, what it is held
// against (the first of versus that ran cleanly, the best of them when
// several did), and the target for the ratio.
type comparison struct {
	name   string
	versus []string
	want   float64
	what   string
}

// comparisons are the targets. Kea standalone counts at its better
// threading mode, so the ratio is against the stronger Kea.
var comparisons = []comparison{
	{"tandem", []string{"kea", "kea-mt"}, 4, "tandem standalone ≥ 4× Kea standalone"},
	{"tandem-pair", []string{"kea-ha"}, 10, "tandem pair ≥ 10× Kea HA hot-standby pair"},
	{"tandem", []string{"echo"}, 0.5, "tandem standalone ≥ 50 % of the echo responder"},
}

// Compare fills each scenario's Versus and Ratio and the Suite's Targets.
// A scenario is held against its Kea counterpart; tandem's share of the
// echo responder is a target only.
func (s *Suite) Compare() {
	s.Targets = nil
	for _, c := range comparisons {
		sc := s.find(c.name)
		if sc == nil || sc.Error != "" {
			continue
		}
		var best *Scenario
		for _, v := range c.versus {
			if o := s.find(v); o != nil && o.Error == "" && o.MaxCleanRate > 0 && (best == nil || o.MaxCleanRate > best.MaxCleanRate) {
				best = o
			}
		}
		if best == nil {
			continue
		}
		got := sc.MaxCleanRate / best.MaxCleanRate
		if best.Server == "kea" {
			sc.Versus, sc.Ratio = best.Name, got
		}
		s.Targets = append(s.Targets, Target{What: c.what + " (vs " + best.Name + ")", Want: c.want, Got: got, Met: got >= c.want})
	}
}

// WriteJSON writes the suite as indented JSON to path (via a temporary
// file, so a reader never sees half of it).
func (s *Suite) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tableRow is one scenario's cells, shared by the two table writers.
func (sc *Scenario) tableRow() []string {
	if sc.Error != "" {
		return []string{sc.Name, "failed: " + sc.Error, "", "", "", ""}
	}
	rate := fmtInt(sc.MaxCleanRate)
	if sc.AtMax.GeneratorLimited {
		rate += " (generator-limited)"
	}
	lat := "–"
	if sc.MaxCleanRate > 0 {
		lat = fmt.Sprintf("%.2f / %.2f", sc.AtMax.P50ms, sc.AtMax.P99ms)
	}
	cpu := "–"
	if f := sc.Fixed; f != nil && f.Completed > 0 {
		cpu = f.cpuCell()
		if f.DropRatio >= 0.01 {
			cpu = fmt.Sprintf("%s with %.0f %% drops", cpu, 100*f.DropRatio)
			if c := sc.FixedClean; c != nil && c.Completed > 0 {
				cpu = fmt.Sprintf("%s at %s/s (%s at %s/s)", c.cpuCell(), fmtInt(c.Rate), cpu, fmtInt(f.Rate))
			}
		}
	}
	ratio := "–"
	if sc.Versus != "" {
		ratio = fmt.Sprintf("%.1f× %s", sc.Ratio, sc.Versus)
	}
	return []string{sc.Name, rate, lat, cpu, ratio, sc.Title}
}

// cpuCell is the CPU per exchange, with each process's share for a pair.
func (f *Fixed) cpuCell() string {
	cpu := fmt.Sprintf("%.1f", f.CPUus)
	if len(f.Procs) > 1 {
		parts := make([]string, len(f.Procs))
		for i, p := range f.Procs {
			parts[i] = fmt.Sprintf("%.1f", p.CPUus)
		}
		cpu += " (" + strings.Join(parts, " + ") + ")"
	}
	return cpu
}

var tableHeader = []string{"scenario", "max clean rate (exch/s)", "p50 / p99 at max (ms)", "server CPU µs/exch at fixed rate", "ratio", "set-up"}

// WriteTable prints the figures as an aligned text table, the targets and
// the pair's replication.
func (s *Suite) WriteTable(w io.Writer) {
	rows := [][]string{tableHeader}
	for i := range s.Scenarios {
		rows = append(rows, s.Scenarios[i].tableRow())
	}
	width := make([]int, len(tableHeader))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for j, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if j == 0 {
			fmt.Fprintln(w, strings.Repeat("-", min(120, len([]rune(b.String())))))
		}
	}
	s.writeNotes(w, "")
}

// WriteMarkdown writes the same as a Markdown table with the notes as a
// list: what the README embeds (suite.md).
func (s *Suite) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(tableHeader, " | "), strings.Repeat("---|", len(tableHeader)))
	for i := range s.Scenarios {
		r := s.Scenarios[i].tableRow()
		for j := range r {
			r[j] = strings.ReplaceAll(r[j], "|", "\\|")
		}
		r[1] = "**" + r[1] + "**"
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	s.writeNotes(w, "- ")
}

// writeNotes prints the targets, the replication figures and the method
// lines, each line starting with bullet.
func (s *Suite) writeNotes(w io.Writer, bullet string) {
	fmt.Fprintln(w)
	for _, t := range s.Targets {
		verdict := "met"
		if !t.Met {
			verdict = fmt.Sprintf("MISSED by %.0f %%", 100*(1-t.Got/t.Want))
		}
		fmt.Fprintf(w, "%starget %s: %s (%s)\n", bullet, t.What, fmtRatio(t.Got, t.Want), verdict)
	}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		if l := sc.Lag; l != nil {
			fmt.Fprintf(w, "%s%s replication lag (primary's lag_p50_ms / lag_p99_ms) at %s/s: %s\n", bullet, sc.Name, fmtInt(l.At5000.Rate), l.At5000.String())
			fmt.Fprintf(w, "%s%s replication lag at %s/s (half the max): %s\n", bullet, sc.Name, fmtInt(l.AtHalfMax.Rate), l.AtHalfMax.String())
			fmt.Fprintf(w, "%s%s after the load: ", bullet, sc.Name)
			if l.CaughtUp {
				fmt.Fprintf(w, "secondary caught up (unacked 0) within %.0f ms, state %s, active leases primary %d + %d, secondary %d + %d (NA + PD)\n",
					l.CaughtUpMs, l.State, l.PrimaryNA, l.PrimaryPD, l.SecondaryNA, l.SecondaryPD)
			} else {
				fmt.Fprintf(w, "secondary NOT caught up: %d unacked, state %s\n", l.Unacked, l.State)
			}
		}
		if sc.HA != "" {
			fmt.Fprintf(w, "%s%s after the load: %s\n", bullet, sc.Name, sc.HA)
		}
		for _, n := range sc.Notes {
			fmt.Fprintf(w, "%s%s: %s\n", bullet, sc.Name, n)
		}
	}
	for _, l := range []struct{ k, v string }{
		{"date", s.Date}, {"commit", s.Commit}, {"machine", s.Machine}, {"Kea", s.Kea}, {"pinning", s.Pinning},
		{"load", s.Load}, {"fixed-rate run", s.FixedFor}, {"tandem journal", s.Journal}, {"reproduce", s.Command},
	} {
		if l.v != "" {
			fmt.Fprintf(w, "%s%s: %s\n", bullet, l.k, l.v)
		}
	}
}

func fmtRatio(got, want float64) string {
	if want < 1 {
		return fmt.Sprintf("%.0f %% (want ≥ %.0f %%)", 100*got, 100*want)
	}
	return fmt.Sprintf("%.1f× (want ≥ %.0f×)", got, want)
}

// fmtInt formats a rate with thousands separators: 12,500.
func fmtInt(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "?"
	}
	n := int64(math.Round(v))
	s := fmt.Sprint(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}

package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthetic is a run with every kind of scenario, made up.
func synthetic() *Suite {
	ramp := func(rates ...float64) []Point {
		var ps []Point
		for i, r := range rates {
			clean := i < len(rates)-1
			ach, drop := r, 0.0
			if !clean {
				ach, drop = 0.8*r, 0.2
			}
			ps = append(ps, Point{Offered: r, Achieved: ach, DropRatio: drop, P50ms: 0.2 * float64(i+1), P99ms: float64(i + 1), Clean: clean})
		}
		return ps
	}
	fixed := func(cpuus ...float64) *Fixed {
		f := &Fixed{Point: Point{Offered: 5000, Achieved: 5000}, Rate: 5000, Completed: 40000}
		for i, c := range cpuus {
			f.Procs = append(f.Procs, ProcCPU{Name: []string{"primary", "secondary"}[i], CPUs: c * 0.04, CPUus: c})
			f.CPUus += c
		}
		return f
	}
	s := &Suite{Date: "2026-11-22 17:00 UTC", Commit: "abc1234", Machine: "2 cores, test CPU", Kea: "kea-dhcp6 2.2.0",
		Pinning: "generator on CPU 0, server(s) on CPU 1", Command: "sudo make bench-suite"}
	add := func(name string, max float64, f *Fixed, stages []Point) *Scenario {
		info := scenarioInfo[name]
		sc := Scenario{Name: name, Title: info.title, Server: info.server, Pair: info.pair, MaxCleanRate: max, Fixed: f, Stages: stages}
		sc.AtMax = stages[len(stages)-2]
		s.Scenarios = append(s.Scenarios, sc)
		return &s.Scenarios[len(s.Scenarios)-1]
	}
	add("tandem", 32000, fixed(20), ramp(2000, 4000, 8000, 16000, 32000, 64000))
	add("kea", 6000, fixed(100), ramp(2000, 4000, 6000, 8000))
	add("kea-mt", 7000, fixed(130), ramp(2000, 4000, 7000, 8000))
	p := add("tandem-pair", 16000, fixed(30, 15), ramp(2000, 4000, 8000, 16000, 32000))
	p.Lag = &Lag{At5000: LagFigures{Rate: 5000, P50ms: 0.5, P99ms: 1.5, Samples: 8192}, AtHalfMax: LagFigures{Rate: 8000, P50ms: 0.6, P99ms: 3, Windows: 14, P50Median: 0.55, P99Median: 2.5, P99Max: 700},
		CaughtUp: true, CaughtUpMs: 9, PrimaryNA: 100, PrimaryPD: 100, SecondaryNA: 100, SecondaryPD: 100, State: "normal"}
	h := add("kea-ha", 1750, fixed(500, 230), ramp(1000, 1500, 1750, 2000))
	h.Fixed.DropRatio = 0.7
	h.FixedClean = fixed(300, 150)
	h.FixedClean.Rate = 1575
	add("echo", 80000, fixed(25), ramp(2000, 4000, 8000, 16000, 32000, 64000, 80000, 128000))
	s.Compare()
	return s
}

// TestCompare: ratios against the better Kea standalone, the HA pair and
// the echo responder, with the targets' verdicts.
func TestCompare(t *testing.T) {
	s := synthetic()
	if sc := s.find("tandem"); sc.Versus != "kea-mt" || sc.Ratio != 32000.0/7000 {
		t.Errorf("tandem versus %q ratio %v, want kea-mt (the better Kea) %v", sc.Versus, sc.Ratio, 32000.0/7000)
	}
	if sc := s.find("tandem-pair"); sc.Versus != "kea-ha" || sc.Ratio != 16000.0/1750 {
		t.Errorf("pair versus %q ratio %v", sc.Versus, sc.Ratio)
	}
	if sc := s.find("echo"); sc.Versus != "" {
		t.Errorf("echo compared with %q", sc.Versus)
	}
	want := []Target{
		{Want: 4, Got: 32000.0 / 7000, Met: true},
		{Want: 10, Got: 16000.0 / 1750, Met: false},
		{Want: 0.5, Got: 0.4, Met: false},
	}
	if len(s.Targets) != len(want) {
		t.Fatalf("targets %+v", s.Targets)
	}
	for i, w := range want {
		if g := s.Targets[i]; g.Want != w.Want || g.Got != w.Got || g.Met != w.Met {
			t.Errorf("target %d: %+v, want %+v", i, g, w)
		}
	}
	// A scenario that failed is in no comparison.
	s.find("kea-ha").Error = "did not start"
	s.Compare()
	if len(s.Targets) != 2 {
		t.Errorf("with kea-ha failed: %+v", s.Targets)
	}
}

// TestWriteTable: a row per scenario with its figures, the targets and
// the pair's replication.
func TestWriteTable(t *testing.T) {
	s := synthetic()
	var b bytes.Buffer
	s.WriteTable(&b)
	out := b.String()
	for _, want := range []string{
		"tandem       32,000", "4.6× kea-mt", "45.0 (30.0 + 15.0)", "9.1× kea-ha",
		"450.0 (300.0 + 150.0) at 1,575/s (730.0 (500.0 + 230.0) with 70 % drops at 5,000/s)",
		"echo         80,000", "MISSED by 9 %", "40 % (want ≥ 50 %) (MISSED by 20 %)",
		"at 5,000/s: p50 / p99 0.50 / 1.50 ms at the end\n",
		"at 8,000/s (half the max): p50 / p99 0.60 / 3.00 ms at the end; over 14 reads during the run, median p50 0.55 ms, p99 median 2.50 ms, worst 700.00 ms",
		"after the load: secondary caught up (unacked 0) within 9 ms",
		"reproduce: sudo make bench-suite",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	s.WriteMarkdown(&b)
	md := b.String()
	if n := strings.Count(md, "\n| "); n != len(s.Scenarios) {
		t.Errorf("markdown: %d rows, want %d:\n%s", n, len(s.Scenarios), md)
	}
	if !strings.HasPrefix(md, "| scenario |") || !strings.Contains(md, "| **32,000** |") || !strings.Contains(md, "- target ") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestWriteJSON: the file reads back as the same Suite.
func TestWriteJSON(t *testing.T) {
	s := synthetic()
	p := filepath.Join(t.TempDir(), "results", "suite.json")
	if err := s.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Suite
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != len(s.Scenarios) || back.Scenarios[0].MaxCleanRate != 32000 ||
		back.find("tandem-pair").Lag.AtHalfMax.P99ms != 3 || back.find("kea-ha").FixedClean.Rate != 1575 ||
		len(back.Targets) != 3 || back.Targets[1].Met {
		t.Errorf("read back %+v", back)
	}
	for _, key := range []string{`"max_clean_rate"`, `"cpu_us_per_exchange"`, `"p99_ms"`, `"stages"`, `"targets"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// TestWriteSVG: well-formed SVG with both panels, ticks on log axes, a
// line per scenario, a marker per stage and a legend entry per scenario.
func TestWriteSVG(t *testing.T) {
	s := synthetic()
	var b bytes.Buffer
	if err := s.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var texts []string
	d := xml.NewDecoder(&b)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			counts[e.Name.Local]++
		case xml.CharData:
			if s := strings.TrimSpace(string(e)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if counts["svg"] != 1 {
		t.Errorf("%d svg elements", counts["svg"])
	}
	// Two polylines (rate, latency) per scenario.
	if want := 2 * len(s.Scenarios); counts["polyline"] != want {
		t.Errorf("%d polylines, want %d", counts["polyline"], want)
	}
	// Two markers per stage (both panels), one per legend entry.
	markers := len(s.Scenarios)
	for _, sc := range s.Scenarios {
		markers += 2 * len(sc.Stages)
	}
	// Rects that are not markers: the background and each panel's fill
	// and frame.
	if got := counts["circle"] + counts["rect"] - 5; got != markers {
		t.Errorf("%d markers, want %d", got, markers)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{
		"Achieved vs offered rate", "p99 latency vs offered rate", "offered rate (exchanges/s, log)", "p99 latency (ms, log)",
		"1k", "10k", "100k", "2", "5", "10",
		"tandem standalone, synced journal — max clean 32,000/s", "Kea HA hot-standby pair, memfile persist — max clean 1,750/s",
		"echo responder (netio, no engine) — max clean 80,000/s", "achieved = offered",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

// TestLogAxis: 1-2-5 bounds and ticks.
func TestLogAxis(t *testing.T) {
	a := newLogAxis([]float64{1750, 80000, 0}, 0, 100, fmtRate, 1)
	if a.lo != 1000 || a.hi != 100000 {
		t.Errorf("bounds %v–%v, want 1000–100000", a.lo, a.hi)
	}
	var labels []string
	for _, v := range a.ticks {
		labels = append(labels, fmtRate(v))
	}
	if got := strings.Join(labels, " "); got != "1k 2k 5k 10k 20k 50k 100k" {
		t.Errorf("ticks %s", got)
	}
	if p := a.pos(10000); p != 50 {
		t.Errorf("10k at %v, want 50 (half way on a log scale)", p)
	}
	if fmtMs(0.25) != "0.25" || fmtRate(1500) != "1.5k" || fmtInt(1234567) != "1,234,567" {
		t.Errorf("labels %s %s %s", fmtMs(0.25), fmtRate(1500), fmtInt(1234567))
	}
}

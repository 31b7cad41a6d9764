package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// The plot (suite.svg): two panels over the offered rate of every ramp
// stage, both axes logarithmic since Kea and tandem differ by an order of
// magnitude — left, the achieved rate (a server keeping up lies on the
// diagonal); right, the p99 latency. One line per scenario: blue tandem,
// orange Kea, grey the echo responder; a pair dashed. Filled markers are
// clean stages (< 1 % drops), hollow ones are not. Plain SVG written by
// hand, so the suite needs no plotting library.

// Geometry, in SVG user units (pixels at 100 %).
const (
	plotW       = 1120
	plotH       = 600
	panelW      = 440 // one panel's plotting area
	panelH      = 340
	panelTop    = 90
	leftMargin  = 80
	panelGap    = 120
	legendTop   = panelTop + panelH + 60
	fontFamily  = "DejaVu Sans, Helvetica, Arial, sans-serif"
	axisColour  = "#333"
	gridColour  = "#e3e3e3"
	markerSize  = 4.0
	lineWidth   = 2.0
	titleSize   = 17
	labelSize   = 13
	tickSize    = 11
	legendSize  = 12
	legendRowH  = 20
	legendColW  = 540
	diagonalCol = "#bbb"
)

// seriesStyle is how one scenario is drawn.
type seriesStyle struct {
	colour string
	dash   string // stroke-dasharray; empty: solid
	square bool   // square markers instead of circles
}

func styleOf(sc *Scenario) seriesStyle {
	st := seriesStyle{colour: "#7f7f7f", dash: "2,3"} // echo and anything else
	switch sc.Server {
	case "tandem":
		st = seriesStyle{colour: "#1f5fb4"}
	case "kea":
		st = seriesStyle{colour: "#e6750a"}
		if strings.HasSuffix(sc.Name, "-mt") {
			st.colour = "#a0522d"
		}
	}
	if sc.Pair {
		st.dash, st.square = "7,4", true
	}
	return st
}

// logAxis maps values to pixels on a log scale between 1-2-5 bounds.
type logAxis struct {
	lo, hi   float64 // data bounds, 1-2-5 values
	p0, p1   float64 // pixels of lo and hi
	ticks    []float64
	fmtLabel func(float64) string
}

// newLogAxis spans [min, max] of vs (positive values only), widened to
// the 1-2-5 values around them.
func newLogAxis(vs []float64, p0, p1 float64, fmtLabel func(float64) string, floor float64) logAxis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v > 0 {
			lo, hi = math.Min(lo, math.Max(v, floor)), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	a := logAxis{lo: step125(lo, false), hi: step125(hi, true), p0: p0, p1: p1, fmtLabel: fmtLabel}
	if a.hi <= a.lo {
		a.hi = step125(a.lo*1.01, true)
	}
	for e := math.Floor(math.Log10(a.lo)); e <= math.Ceil(math.Log10(a.hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= a.lo*0.999 && v <= a.hi*1.001 {
				a.ticks = append(a.ticks, v)
			}
		}
	}
	return a
}

// step125 is the largest 1-2-5 value ≤ v, or with up the smallest ≥ v.
func step125(v float64, up bool) float64 {
	e := math.Floor(math.Log10(v))
	base := math.Pow(10, e)
	cands := []float64{base, 2 * base, 5 * base, 10 * base}
	if up {
		for _, c := range cands {
			if c >= v*0.999 {
				return c
			}
		}
		return 10 * base
	}
	best := base
	for _, c := range cands {
		if c <= v*1.001 {
			best = c
		}
	}
	return best
}

func (a *logAxis) pos(v float64) float64 {
	v = math.Min(math.Max(v, a.lo), a.hi)
	f := (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	return a.p0 + f*(a.p1-a.p0)
}

// fmtRate labels a rate axis: 500, 2k, 100k, 1M.
func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

// fmtMs labels a latency axis: 0.01, 0.5, 20.
func fmtMs(v float64) string { return trimFloat(v) }

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return xmlEscaper.Replace(s) }

// svg is a tiny writer of SVG elements.
type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func (s *svg) text(x, y float64, size int, anchor, extra, t string) {
	s.f(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s"%s>%s</text>`+"\n", x, y, size, anchor, extra, esc(t))
}

func (s *svg) line(x1, y1, x2, y2 float64, colour string, width float64, dash string) {
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, colour, width, d)
}

func (s *svg) marker(x, y float64, st seriesStyle, filled bool) {
	fill := "#fff"
	if filled {
		fill = st.colour
	}
	if st.square {
		s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n",
			x-markerSize, y-markerSize, 2*markerSize, 2*markerSize, fill, st.colour)
		return
	}
	s.f(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n", x, y, markerSize, fill, st.colour)
}

// panel draws one panel's frame, grid, ticks and labels.
func (s *svg) panel(x0 float64, xa, ya *logAxis, title, xLabel, yLabel string) {
	y0 := float64(panelTop)
	s.f(`<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="#fff" stroke="%s"/>`+"\n", x0, y0, panelW, panelH, axisColour)
	for _, t := range xa.ticks {
		x := xa.pos(t)
		s.line(x, y0, x, y0+panelH, gridColour, 1, "")
		s.line(x, y0+panelH, x, y0+panelH+5, axisColour, 1, "")
		s.text(x, y0+panelH+19, tickSize, "middle", "", xa.fmtLabel(t))
	}
	for _, t := range ya.ticks {
		y := ya.pos(t)
		s.line(x0, y, x0+panelW, y, gridColour, 1, "")
		s.line(x0-5, y, x0, y, axisColour, 1, "")
		s.text(x0-8, y+4, tickSize, "end", "", ya.fmtLabel(t))
	}
	s.f(`<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n", x0, y0, panelW, panelH, axisColour)
	s.text(x0+panelW/2, y0-12, labelSize+1, "middle", ` font-weight="bold"`, title)
	s.text(x0+panelW/2, y0+panelH+40, labelSize, "middle", "", xLabel)
	s.text(x0-58, y0+panelH/2, labelSize, "middle", fmt.Sprintf(` transform="rotate(-90 %.1f %.1f)"`, x0-58, y0+panelH/2), yLabel)
}

// sortedStages returns a scenario's ramp stages by offered rate.
func sortedStages(sc *Scenario) []Point {
	ps := append([]Point(nil), sc.Stages...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Offered < ps[j].Offered })
	return ps
}

// WriteSVG draws the plot.
func (s *Suite) WriteSVG(w io.Writer) error {
	var rates, lats []float64
	var plotted []*Scenario
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		if len(sc.Stages) == 0 {
			continue
		}
		plotted = append(plotted, sc)
		for _, p := range sc.Stages {
			rates = append(rates, p.Offered, p.Achieved)
			if p.Achieved > 0 {
				lats = append(lats, p.P99ms)
			}
		}
	}
	lx := float64(leftMargin)
	rx := lx + panelW + panelGap
	top, bottom := float64(panelTop), float64(panelTop+panelH)
	xa1 := newLogAxis(rates, lx, lx+panelW, fmtRate, 1)
	ya1 := newLogAxis(rates, bottom, top, fmtRate, 1)
	// The same span on both axes, so the diagonal is at 45°.
	ya1.lo, ya1.hi, ya1.ticks = xa1.lo, xa1.hi, xa1.ticks
	xa2 := xa1
	xa2.p0, xa2.p1 = rx, rx+panelW
	ya2 := newLogAxis(lats, bottom, top, fmtMs, 0.01)

	var g svg
	g.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n",
		plotW, plotH, plotW, plotH, fontFamily)
	g.f(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	g.text(plotW/2, 28, titleSize, "middle", ` font-weight="bold"`,
		"tandem vs ISC Kea: relayed DHCPv6 (4-message exchanges, IA_NA + IA_PD), open-loop ramp of tandem bench")
	sub := strings.TrimSpace(strings.Join(nonEmpty(s.Date, s.Machine, s.Pinning), " · "))
	g.text(plotW/2, 50, labelSize-1, "middle", ` fill="#555"`, sub)
	g.panel(lx, &xa1, &ya1, "Achieved vs offered rate", "offered rate (exchanges/s, log)", "achieved rate (exchanges/s, log)")
	g.panel(rx, &xa2, &ya2, "p99 latency vs offered rate", "offered rate (exchanges/s, log)", "p99 latency (ms, log)")
	// The diagonal: a server that keeps up.
	g.line(xa1.pos(xa1.lo), ya1.pos(xa1.lo), xa1.pos(xa1.hi), ya1.pos(xa1.hi), diagonalCol, 1, "4,4")
	g.text(xa1.pos(xa1.hi)-6, ya1.pos(xa1.hi)+16, tickSize, "end", ` fill="#888"`, "achieved = offered")

	for _, sc := range plotted {
		st := styleOf(sc)
		ps := sortedStages(sc)
		var l1, l2 []string
		for _, p := range ps {
			l1 = append(l1, fmt.Sprintf("%.1f,%.1f", xa1.pos(p.Offered), ya1.pos(math.Max(p.Achieved, xa1.lo))))
			if p.Achieved > 0 {
				l2 = append(l2, fmt.Sprintf("%.1f,%.1f", xa2.pos(p.Offered), ya2.pos(p.P99ms)))
			}
		}
		for _, l := range [][]string{l1, l2} {
			if len(l) == 0 {
				continue
			}
			d := ""
			if st.dash != "" {
				d = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
			}
			g.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n", strings.Join(l, " "), st.colour, lineWidth, d)
		}
		for _, p := range ps {
			g.marker(xa1.pos(p.Offered), ya1.pos(math.Max(p.Achieved, xa1.lo)), st, p.Clean)
			if p.Achieved > 0 {
				g.marker(xa2.pos(p.Offered), ya2.pos(p.P99ms), st, p.Clean)
			}
		}
	}

	// Legend: one entry per scenario with its max clean rate, two columns.
	for i, sc := range plotted {
		st := styleOf(sc)
		x := lx + float64(i%2)*legendColW
		y := float64(legendTop) + float64(i/2)*legendRowH
		g.line(x, y-4, x+34, y-4, st.colour, lineWidth, st.dash)
		g.marker(x+17, y-4, st, true)
		label := fmt.Sprintf("%s — max clean %s/s", sc.Title, fmtInt(sc.MaxCleanRate))
		g.text(x+44, y, legendSize, "start", "", label)
	}
	rows := (len(plotted) + 1) / 2
	g.text(lx, float64(legendTop)+float64(rows)*legendRowH+8, tickSize, "start", ` fill="#555"`,
		"Filled markers: clean stage (< 1 % drops, generator on schedule); hollow: not clean. Dashed, squares: a failover pair, load to the primary.")
	g.f("</svg>\n")
	_, err := io.WriteString(w, g.b.String())
	return err
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

package bench

import (
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
		err  string
	}{
		{in: "solicit=70,renew=25,release=5", want: Mix{70, 25, 5}},
		{in: " Solicit = 1 , RELEASE=1", want: Mix{1, 0, 1}},
		{in: "solicit=100", want: Mix{100, 0, 0}},
		{in: "release=2,solicit=3,renew=0", want: Mix{3, 0, 2}},
		{in: "", err: "empty"},
		{in: "solicit", err: "kind=weight"},
		{in: "rebind=5,solicit=1", err: "unknown exchange"},
		{in: "solicit=1,solicit=2", err: "twice"},
		{in: "solicit=-1", err: "non-negative"},
		{in: "solicit=x", err: "non-negative"},
		{in: "renew=10", err: "solicit must"},
		{in: "solicit=0,renew=0", err: ""},
		{in: "solicit=9000,renew=2000", err: "at most"},
	} {
		got, err := ParseMix(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseMix(%q) error %v, want one with %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseMix(%q): %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseMix(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	m := Mix{70, 25, 5}
	if back, err := ParseMix(m.String()); err != nil || back != m {
		t.Errorf("String %q parses back as %v, %v", m.String(), back, err)
	}
	if (Mix{}).String() != "solicit=1,renew=0,release=0" {
		t.Errorf("zero Mix is %q", Mix{}.String())
	}
}

// TestMixTable: the expanded cycle has each kind exactly its weight's
// number of times, spread out rather than bunched.
func TestMixTable(t *testing.T) {
	for _, m := range []Mix{{70, 25, 5}, {1, 1, 1}, {3, 0, 1}, {100, 0, 0}, {}} {
		tab := m.table()
		var n [numMixKinds]int
		for _, k := range tab {
			n[k]++
		}
		want := m
		if m.isZero() {
			want = Mix{1, 0, 0}
		}
		if n != [numMixKinds]int(want) {
			t.Errorf("%v: table counts %v", m, n)
		}
	}
	// 70/25/5: no two RELEASEs (weight 5 of 100) closer than 10 apart, and
	// no run of more than 3 SOLICITs between RENEWs' cycle share.
	tab := Mix{70, 25, 5}.table()
	last := -100
	for i, k := range tab {
		if k == Release {
			if i-last < 10 {
				t.Errorf("RELEASEs at %d and %d: bunched", last, i)
			}
			last = i
		}
	}
	run := 0
	for _, k := range tab {
		if k == Solicit {
			if run++; run > 4 {
				t.Fatalf("a run of %d SOLICITs in %v", run, tab)
			}
		} else {
			run = 0
		}
	}
}

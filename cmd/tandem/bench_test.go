package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/engine/node"
)

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func() int) (string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	code := f()
	os.Stdout = old
	w.Close()
	return string(<-done), code
}

// benchNode starts an in-process tandem node on [::1]:0 for the generator
// to drive, with no root and no network namespace.
func benchNode(t *testing.T) string {
	t.Helper()
	y := strings.ReplaceAll(`
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: ""
lifetimes: {preferred: 5m, valid: 10m}
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools: [{prefix: "2001:db8:100::/40", delegated-length: 56}]
`, "DATADIR", t.TempDir())
	f, err := config.Parse("bench.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{File: f, Readers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n.ListenAddrs()[0].String()
}

func TestBenchFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--mix", "solicit=1,rebind=2"},
		{"--mix", "renew=1"},
		{"--ia", "ta"},
		{"--server", "not-an-address"},
		{"--link", "x"},
		{"--rate", "-5"},
		{"stray"},
		{"--remote-id", "00:00:0d"},
		{"--remote-id", "00:00:0d:e9:zz"},
		{"--remote-id", "00:00:0d:e9:123"},
		{"--pd-hint-len", "129"},
	} {
		if code := benchMain(args); code != 2 {
			t.Errorf("tandem bench %v: exit %d, want 2", args, code)
		}
	}
}

// TestBenchCommandJSON runs `tandem bench --json` with a mix against an
// in-process server and checks the contract's JSON fields.
func TestBenchCommandJSON(t *testing.T) {
	srv := benchNode(t)
	out, code := captureStdout(t, func() int {
		return benchMain([]string{"--server", srv, "--rate", "400", "--duration", "500ms", "--clients", "2000",
			"--sockets", "3", "--mix", "solicit=80,renew=15,release=5", "--json"})
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"offered_rate", "exchanges_per_s", "drop_ratio", "p50_ms", "p99_ms", "p999_ms", "max_ms", "exchanges", "cpu_s"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	if _, ok := r["max_clean_rate"]; ok {
		t.Errorf("a fixed rate has no max_clean_rate: %s", out)
	}
	ex := r["exchanges"].(map[string]any)
	if r["offered_rate"] != 400.0 || r["drop_ratio"].(float64) > 0.01 || r["sockets"] != 3.0 ||
		ex["renew"].(map[string]any)["completed"].(float64) < 10 || ex["release"].(map[string]any)["completed"].(float64) < 3 {
		t.Errorf("result: %s", out)
	}
}

// TestBenchCommandRamp: --rate 0 ramps; the JSON has every stage and
// max_clean_rate, the text output a table of stages.
func TestBenchCommandRamp(t *testing.T) {
	srv := benchNode(t)
	out, code := captureStdout(t, func() int {
		return benchMain([]string{"--server", srv, "--rate", "0", "--ramp-start", "200", "--ramp-max", "400",
			"--duration", "200ms", "--clients", "2000", "--json"})
	})
	var r struct {
		MaxCleanRate *float64 `json:"max_clean_rate"`
		Stages       []struct {
			OfferedRate float64 `json:"offered_rate"`
			Clean       bool    `json:"clean"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if r.MaxCleanRate == nil || *r.MaxCleanRate != 400 || len(r.Stages) != 2 || r.Stages[1].OfferedRate != 400 || !r.Stages[1].Clean {
		t.Errorf("ramp: %s", out)
	}
	out, code = captureStdout(t, func() int {
		return benchMain([]string{"--server", srv, "--ramp", "--ramp-start", "300", "--ramp-max", "300",
			"--duration", "200ms", "--mix", "solicit=2,renew=1"})
	})
	if code != 0 || !strings.Contains(out, "max clean rate: 300") || !strings.Contains(out, "renew") ||
		!bytes.Contains([]byte(out), []byte("p99.9 ms")) {
		t.Errorf("text output:\n%s", out)
	}
}

func TestParseColonHex(t *testing.T) {
	for in, want := range map[string]string{
		"00:00:0d:e9:62:69:7a": "00000de962697a",
		"0:0:d:e9:1":           "00000de901",
		"00000de901":           "00000de901",
	} {
		b, err := parseColonHex(in)
		if err != nil || hex.EncodeToString(b) != want {
			t.Errorf("parseColonHex(%q) = %x, %v; want %s", in, b, err, want)
		}
	}
	for _, in := range []string{"0:0::1", "xyz", "000", "1:100"} {
		if b, err := parseColonHex(in); err == nil {
			t.Errorf("parseColonHex(%q) = %x, want an error", in, b)
		}
	}
}

// TestBenchCommandRelayOptions: --remote-id, --subscriber-id and
// --pd-hint-len make well-formed exchanges that a server answers.
func TestBenchCommandRelayOptions(t *testing.T) {
	srv := benchNode(t)
	out, code := captureStdout(t, func() int {
		return benchMain([]string{"--server", srv, "--rate", "200", "--duration", "300ms", "--clients", "500",
			"--remote-id", "00:00:0d:e9:6c:69:6e:65:37", "--subscriber-id", "sub-7", "--interface-id", "port7",
			"--pd-hint-len", "60", "--json"})
	})
	var r struct {
		Completed uint64  `json:"completed"`
		DropRatio float64 `json:"drop_ratio"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if r.Completed < 30 || r.DropRatio > 0.01 {
		t.Errorf("with relay options and a hint: %s", out)
	}
}

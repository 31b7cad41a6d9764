package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Bounds for `tandem demo` in make test: the demo tells its story in about
// 35 s on a quiet machine and must stay under a minute; the test's own
// limit leaves room for a machine shared with other test binaries.
const (
	demoMustFinish = 60 * time.Second
	demoTestLimit  = 90 * time.Second
)

// TestDemo runs the built binary's `tandem demo` as `make run` does — no
// root, no config, two real `tandem serve` children on loopback — and
// checks the story in its output: the pair reached NORMAL, the primary
// was killed, the secondary went to PARTNER-DOWN by itself, every client
// that held an address and a prefix from the primary kept both after
// rebinding at the secondary, the restarted primary went through RECOVER
// to NORMAL and answered again, both servers hold the same leases, exit
// status 0, in under a minute, and
// nothing left behind (the temporary directory, the killed primary).
func TestDemo(t *testing.T) {
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), demoTestLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo")
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err = cmd.Run()
	took := time.Since(t0)
	text := out.String()
	t.Logf("tandem demo took %v, output:\n%s", took.Round(time.Millisecond), text)
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("tandem demo still running after %v", demoTestLimit)
	case errors.As(err, &ee):
		t.Fatalf("tandem demo exited %d", ee.ExitCode())
	case err != nil:
		t.Fatal(err)
	}
	if took > demoMustFinish {
		t.Errorf("tandem demo took %v, want under %v", took, demoMustFinish)
	}

	find := func(what, re string) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no %s in the output (want /%s/)", what, re)
			return make([]string, 8)
		}
		return m
	}
	num := func(s string) int {
		n, _ := strconv.Atoi(s)
		return n
	}
	find("pair in NORMAL", `pair in NORMAL: primary \S+, secondary \S+`)
	granted := num(find("leases granted", `load done: .*; (\d+) clients hold an address and a prefix`)[1])
	if granted < 1000 {
		t.Errorf("%d clients got leases from the primary, want at least 1000 of 3000", granted)
	}
	pid := num(find("kill", `primary killed \(SIGKILL to pid (\d+)\)`)[1])
	find("takeover", `secondary: normal → communications-interrupted [\d.]+s after the kill, → partner-down [\d.]+s after it`)
	m := find("rebind", `REBIND: (\d+) of (\d+) clients answered by the secondary .*; (\d+) of (\d+) clients kept their address and prefix`)
	if m[1] != m[2] || m[3] != m[4] || num(m[4]) != granted {
		t.Errorf("REBIND %s of %s answered, %s of %s kept; want all %d", m[1], m[2], m[3], m[4], granted)
	}
	find("summary of kept leases", `clients kept address\+prefix +`+strconv.Itoa(granted)+` of `+strconv.Itoa(granted)+` `)
	find("RECOVER", `primary: \(restart; recorded state \S+\) → recover `)
	find("RECOVER-DONE → NORMAL", `primary: recover-done → normal [\d.]+s after the restart`)
	find("summary of the recovery", `RECOVER → NORMAL +[\d.]+s: restart .* RECOVER .* NORMAL`)
	find("the primary answering again", `back in NORMAL: [1-9]\d* exchanges completed in 2s, .*the primary sent [1-9]\d* replies`)
	find("the pair in agreement", `the pair agrees: `+strconv.Itoa(granted)+` addresses and `+strconv.Itoa(granted)+` prefixes active on both`)
	find("lag figures", `replication lag \(primary\) +commit → BNDREPLY p50 [\d.]+ ms, p99 [\d.]+ ms over [1-9]\d* BNDUPDs`)
	find("verdict", `(?m)^result: OK`)

	dir := find("temporary directory", `files in (\S+)\)`)[1]
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's directory %s is still there (%v)", dir, err)
	}
	if pid > 0 {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("the killed primary (pid %d) is still there: %v", pid, err)
		}
	}
}

// TestDemoFlags: --help is a man page; bad flags exit 2 before anything
// starts.
func TestDemoFlags(t *testing.T) {
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "demo", "--help").CombinedOutput()
	if !bytes.Contains(out, []byte("NAME\n    tandem demo")) || !bytes.Contains(out, []byte("EXIT STATUS")) {
		t.Errorf("tandem demo --help (%v):\n%s", err, out)
	}
	for _, args := range [][]string{{"--clients", "0"}, {"--auto-partner-down", "0s"}, {"extra"}} {
		err := exec.Command(bin, append([]string{"demo"}, args...)...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("tandem demo %v: %v, want exit status 2", args, err)
		}
	}
}

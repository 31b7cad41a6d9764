package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDistConfigs: the packaged sample config, the secondary the README
// derives from it, and `tandem config example` all pass `tandem config
// check --no-files` (their TLS files are the servers').
func TestDistConfigs(t *testing.T) {
	sample, err := os.ReadFile("dist/tandem.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The README's edit for the secondary: role, listen, peer, its files.
	secondary := strings.NewReplacer(
		`role: primary `, `role: secondary `,
		`peer: "[2001:db8::2]:647"`, `listen: "[::]:647"`+"\n    peer: \"[2001:db8::1]:647\"",
		`tandem1.`, `tandem2.`,
	).Replace(string(sample))
	if secondary == string(sample) || !strings.Contains(secondary, "role: secondary") {
		t.Fatal("the secondary edit changed nothing: dist/tandem.yaml no longer reads as the README says")
	}
	example := mustRun(t, "config", "example")
	for name, text := range map[string]string{"primary.yaml": string(sample), "secondary.yaml": secondary, "example.yaml": example} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// --no-files: the TLS files are the target host's.
		out := mustRun(t, "config", "check", "--no-files", p)
		if !strings.HasPrefix(out, p+": ok (") {
			t.Errorf("tandem config check %s: %q", name, out)
		}
	}
	if out := mustRun(t, "config", "check", "--no-files", filepath.Join(dir, "secondary.yaml")); !strings.Contains(out, "1 relationships") {
		t.Errorf("secondary: %q", out)
	}
	// Without --no-files the files are opened: they are not on this host.
	_, errs, code := runBin(t, "config", "check", filepath.Join(dir, "primary.yaml"))
	if want := "relationships[0].tls.cert: relationship pair-a: open /etc/tandem/tls/tandem1.pem: "; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("config check of the sample, files absent: exit %d, %q; want 1 and %q", code, errs, want)
	}
}

// TestDistUnit checks the systemd unit's hardening and, where
// systemd-analyze is installed, that systemd accepts every line of it.
func TestDistUnit(t *testing.T) {
	b, err := os.ReadFile("dist/tandem.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, line := range []string{
		"User=tandem",
		"ExecStart=/usr/local/bin/tandem serve --config /etc/tandem/tandem.yaml",
		"StateDirectory=tandem",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"SystemCallFilter=@system-service",
		"KillSignal=SIGTERM",
	} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("dist/tandem.service lacks %q", line)
		}
	}
	if users, err := os.ReadFile("dist/tandem.sysusers"); err != nil || !strings.Contains(string(users), "\nu tandem - ") {
		t.Errorf("dist/tandem.sysusers does not make the user tandem: %v", err)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: unit syntax not verified")
	}
	bin, err := buildTandem()
	if err != nil {
		t.Fatal(err)
	}
	// verify insists that ExecStart exists: point it at the built binary.
	p := filepath.Join(t.TempDir(), "tandem.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(unit, "/usr/local/bin/tandem", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

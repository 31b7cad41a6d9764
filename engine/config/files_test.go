package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a self-signed certificate and its key as PEM files.
func writePair(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestCheckFiles: the TLS files a config names are opened as the server
// will, and a problem names the line and key of the file at fault.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "me")
	otherCert, _ := writePair(t, dir, "other")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		name, cert, key, ca, want string
	}{
		{"ok", cert, key, cert, ""},
		{"cert missing", missing, key, cert, fmt.Sprintf("t.yaml:12: relationships[1].tls.cert: relationship b: open %s: no such file or directory: want a PEM file the server's user can read", missing)},
		{"key missing", cert, missing, cert, fmt.Sprintf("t.yaml:13: relationships[1].tls.key: relationship b: open %s: no such file or directory: want a PEM file the server's user can read", missing)},
		{"key of another cert", otherCert, key, cert, "t.yaml:12: relationships[1].tls.cert: relationship b: tls: private key does not match public key: want the PEM certificate and the PEM key that matches it"},
		{"cert not PEM", junk, key, cert, "t.yaml:12: relationships[1].tls.cert: relationship b: tls: failed to find any PEM data in certificate input: want the PEM certificate and the PEM key that matches it"},
		{"ca missing", cert, key, missing, fmt.Sprintf("t.yaml:14: relationships[1].tls.ca: relationship b: open %s: no such file or directory: want a PEM file the server's user can read, with the CA that signed the partner's certificate", missing)},
		{"ca not PEM", cert, key, junk, fmt.Sprintf("t.yaml:14: relationships[1].tls.ca: relationship b: %s holds no PEM certificate: want a PEM file the server's user can read, with the CA that signed the partner's certificate", junk)},
	} {
		data := []byte(fmt.Sprintf(`server:
  data-dir: /d
  listen: ["[::]:547"]
subnets:
  - {prefix: "2001:db8:1::/64", relationship: a}
  - {prefix: "2001:db8:2::/64", relationship: b}
relationships:
  - {name: a, role: secondary, listen: "[::]:647"}
  - name: b
    role: primary
    tls:
      cert: %s
      key: %s
      ca: %s
    peer: "[2001:db8::2]:647"
`, c.cert, c.key, c.ca))
		f, err := Parse("t.yaml", data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = CheckFiles("t.yaml", data, f)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.name, got, c.want)
		}
	}
}

package main

// Mutual TLS on the partner link, end to end: two `tandem serve` processes
// whose relationship has `tls: {cert, key, ca}`, with certificates made in
// the test by an in-test CA (crypto/x509). The right CA connects and the
// pair replicates; a client certificate from another CA, no client
// certificate, and plaintext are refused by the secondary, each logged and
// counted as tandem_partner_refused_total{reason="tls"}.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// e2eCA is a throwaway certificate authority.
type e2eCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newE2ECA(t *testing.T, name string) *e2eCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &e2eCA{cert: cert, key: key, pool: pool}
}

// issue signs a server-and-client certificate for addr.
func (ca *e2eCA) issue(t *testing.T, name, addr string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP(addr)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeTLS writes cert, key and the CA as PEM files under dir and returns
// the config line `tls: {cert, key, ca}`.
func (ca *e2eCA) writeTLS(t *testing.T, dir, name string, c tls.Certificate) string {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		name + ".crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		name + ".key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}),
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("tls: {cert: %q, key: %q, ca: %q}", filepath.Join(dir, name+".crt"),
		filepath.Join(dir, name+".key"), filepath.Join(dir, "ca.crt"))
}

// tlsAttempt connects from ns to addr, runs a TLS handshake with cfg (nil:
// plaintext, a CONNECT) and reads; it reports whether the secondary let
// the connection through: a CONNECTREPLY came back.
func tlsAttempt(t *testing.T, ns, addr string, cfg *tls.Config) (through bool, why string) {
	t.Helper()
	c, err := dialInNS(ns, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if cfg != nil {
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			return false, "handshake: " + err.Error()
		}
		c = tc
	}
	if _, err := c.Write(fakeConnect(foRel, time.Now())); err != nil {
		return false, "write: " + err.Error()
	}
	var hdr [3]byte
	if _, err := c.Read(hdr[:]); err != nil {
		return false, "read: " + err.Error()
	}
	return true, fmt.Sprintf("got % x", hdr)
}

func TestFailoverMutualTLS(t *testing.T) {
	requireE2E(t, "perfdhcp")
	ca, other := newE2ECA(t, "tandem e2e CA"), newE2ECA(t, "some other CA")
	dir := t.TempDir()
	primLine := ca.writeTLS(t, dir, "primary", ca.issue(t, "primary", foPrimAddr))
	secDir := filepath.Join(dir, "sec")
	if err := os.MkdirAll(secDir, 0o755); err != nil {
		t.Fatal(err)
	}
	secLine := ca.writeTLS(t, secDir, "secondary", ca.issue(t, "secondary", foSecAddr))
	fp := newFoPairWith(t, defaultLifetimes, func(cfg string) string {
		line := primLine
		if strings.Contains(cfg, "role: secondary") {
			line = secLine
		}
		return strings.Replace(cfg, fmt.Sprintf("keepalive: %s\n", foKeepalive),
			fmt.Sprintf("keepalive: %s\n    %s\n", foKeepalive, line), 1)
	})
	// The right CA: the pair is up (newFoPairWith waited for NORMAL on
	// both) and replicates over TLS.
	connects0 := strings.Count(fp.sec.p.log(), "partner connected")
	fp.stillReplicating(t, "right CA", connects0, [3]byte{0, 0x0c, 0x71})

	primNS := fp.prim.tp.srv
	secPort := net.JoinHostPort(foSecAddr, strconv.Itoa(foPartnerPt))
	impostor := other.issue(t, "impostor", foPrimAddr)
	for _, tc := range []struct {
		what string
		cfg  *tls.Config
	}{
		// GetClientCertificate, not Certificates: Go's client would not
		// send a certificate the server's CA list does not name.
		{"client certificate from another CA", &tls.Config{RootCAs: ca.pool, ServerName: foSecAddr,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &impostor, nil }}},
		{"no client certificate", &tls.Config{RootCAs: ca.pool, ServerName: foSecAddr}},
		{"plaintext CONNECT", nil},
	} {
		through, why := tlsAttempt(t, primNS, secPort, tc.cfg)
		t.Logf("%s: %s", tc.what, why)
		if through {
			t.Errorf("%s: the secondary answered (%s)", tc.what, why)
		}
	}
	// Each refusal is logged and counted; the real session is untouched.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := partnerRefused(t, fp.sec)
		n := strings.Count(fp.sec.p.log(), "TLS handshake failed")
		if got["tls"] == 3 && n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 refused handshakes: tandem_partner_refused_total %v, %d logged", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fp.stillReplicating(t, "refused handshakes", connects0, [3]byte{0, 0x0c, 0x72})
}

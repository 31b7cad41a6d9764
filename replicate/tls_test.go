package replicate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
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
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue signs a certificate for server and client use on the loopback
// addresses.
func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestMutualTLS(t *testing.T) {
	ca, other := newCA(t, "tandem test CA"), newCA(t, "some other CA")
	serverCert := ca.issue(t, "secondary")
	core, logs := observer.New(zapcore.WarnLevel)
	s := startSecondary(t, "127.0.0.1", func(c *Config) {
		// The link insists on verified client certificates even if the
		// config forgot to ask.
		c.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.pool}
		c.Logger = zap.New(core)
	})
	refusedTLS := uint64(0)

	for _, tc := range []struct {
		name string
		tls  *tls.Config
		ok   bool
	}{
		{"right CA", &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "primary")}, RootCAs: ca.pool}, true},
		{"wrong CA", &tls.Config{Certificates: []tls.Certificate{other.issue(t, "impostor")}, RootCAs: ca.pool}, false},
		{"no client certificate", &tls.Config{
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &tls.Certificate{}, nil
			},
			RootCAs: ca.pool,
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPrimary(t, s.Addr(), func(c *Config) { c.TLS = tc.tls })
			if tc.ok {
				waitEvent(t, p, EventUp)
				waitEvent(t, s, EventUp)
				waitMsg(t, s, 34) // STATE over TLS
				p.Close()
				if ev := waitEvent(t, s, EventDown); ev.Status != 20 {
					t.Fatalf("Down over TLS: %+v", ev)
				}
				return
			}
			refusedTLS++
			eventually(t, "a counted TLS refusal", func() bool { return s.Stats().RefusedTLS >= refusedTLS })
			// The primary learns of it at the handshake or at its first read
			// (TLS 1.3 verifies the client after the client's side is done).
			eventually(t, "the primary's failure", func() bool {
				st := p.Stats()
				return st.DialFailures+st.RefusedConnects > 0 || len(p.Events()) > 0
			})
			p.Close()
			if n := s.Stats().Connects; n != 1 {
				t.Fatalf("secondary connects = %d", n)
			}
		})
	}
	entries := logs.FilterMessageSnippet("TLS handshake failed").All()
	if len(entries) < 2 {
		t.Fatalf("TLS refusals logged %d times, want ≥ 2", len(entries))
	}
	for _, e := range entries {
		if r, _ := e.ContextMap()["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("log without the remote address: %v", e.ContextMap())
		}
	}

	// The primary refuses a secondary its CA did not sign.
	s2 := startSecondary(t, "127.0.0.1", func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{other.issue(t, "rogue")}, ClientCAs: ca.pool}
	})
	p := startPrimary(t, s2.Addr(), func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "primary")}, RootCAs: ca.pool}
	})
	eventually(t, "a failed dial", func() bool { return p.Stats().DialFailures > 0 })
	if s2.Stats().Connects != 0 || p.Stats().Connects != 0 {
		t.Fatal("connected to a rogue secondary")
	}
}

func TestTLSConfigValidation(t *testing.T) {
	c := testConfig(true)
	c.Peer = netipAddrPort("127.0.0.1:647")
	c.TLS = &tls.Config{}
	if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("primary without a certificate: %v", err)
	}
	c = testConfig(false)
	c.Listen = netipAddrPort("127.0.0.1:0")
	c.TLS = &tls.Config{}
	if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "ClientCAs") {
		t.Fatalf("secondary without ClientCAs: %v", err)
	}
}

package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

// CheckFiles opens the files a parsed config names — each relationship's
// TLS certificate, key and CA — the way the server will, and reports the
// first that cannot be used as an *Error with its line and key. Parse
// touches no files, so that a config can be checked anywhere; this is
// the extra step `tandem config check` takes on the host that will run
// it (the systemd unit runs it as the server's user before starting, so
// a key the user cannot read is named there).
func CheckFiles(path string, data []byte, f *File) error {
	for i, r := range f.Relationships {
		if !r.TLS.Enabled() {
			continue
		}
		at := func(k string) *Error {
			key := "relationships[" + strconv.Itoa(i) + "].tls." + k
			return &Error{File: path, Line: lineOf(path, data, i, k), Key: key}
		}
		for _, x := range [][2]string{{"cert", r.TLS.Cert}, {"key", r.TLS.Key}} {
			if _, err := os.ReadFile(x[1]); err != nil {
				e := at(x[0])
				e.Msg = fmt.Sprintf("relationship %s: %v: want a PEM file the server's user can read", r.Name, err)
				return e
			}
		}
		if _, err := tls.LoadX509KeyPair(r.TLS.Cert, r.TLS.Key); err != nil {
			e := at("cert")
			e.Msg = fmt.Sprintf("relationship %s: %v: want the PEM certificate and the PEM key that matches it", r.Name, err)
			return e
		}
		pem, err := os.ReadFile(r.TLS.CA)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(pem) {
			err = fmt.Errorf("%s holds no PEM certificate", r.TLS.CA)
		}
		if err != nil {
			e := at("ca")
			e.Msg = fmt.Sprintf("relationship %s: %v: want a PEM file the server's user can read, with the CA that signed the partner's certificate", r.Name, err)
			return e
		}
	}
	return nil
}

// lineOf finds the line of relationships[i].tls.k in the file (0 when it
// cannot: the file parsed once already, so it can).
func lineOf(path string, data []byte, i int, k string) int {
	root, err := parseYAML(path, data)
	if err != nil || root == nil {
		return 0
	}
	n := child(root, "relationships")
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return 0
	}
	rel := n.Content[i]
	t := child(rel, "tls")
	if t == nil {
		return rel.Line
	}
	if v := child(t, k); v != nil {
		return v.Line
	}
	return t.Line
}

// child is the value of key k in mapping node n, or nil.
func child(n *yaml.Node, k string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == k {
			return n.Content[j+1]
		}
	}
	return nil
}

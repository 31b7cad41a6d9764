package node

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// duidFile holds the server DUID generated on first start. A server's DUID
// must never change: clients address RENEW/RELEASE to it.
const duidFile = "server-duid"

// serverDUID returns the configured DUID, else the persisted one, else a new
// DUID-UUID (RFC 6355, type 4) that is written to dataDir before use.
func serverDUID(dataDir string, configured []byte) ([]byte, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	path := filepath.Join(dataDir, duidFile)
	if b, err := os.ReadFile(path); err == nil {
		d, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(d) < 2 {
			return nil, fmt.Errorf("node: %s is corrupt; restore it or set server.duid", path)
		}
		return d, nil
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	d := make([]byte, 18)
	d[0], d[1] = 0, 4 // DUID-UUID
	if _, err := rand.Read(d[2:]); err != nil {
		return nil, err
	}
	d[2+6] = d[2+6]&0x0f | 0x40 // UUID version 4
	d[2+8] = d[2+8]&0x3f | 0x80 // RFC 4122 variant
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(d)+"\n"), 0o644); err != nil {
		return nil, err
	}
	if f, err := os.Open(tmp); err == nil {
		f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return d, nil
}

// FormatDUID writes a DUID as colon-separated hex, the form configs use.
func FormatDUID(d []byte) string {
	var sb strings.Builder
	for i, c := range d {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

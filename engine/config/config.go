// Package config reads tandem's YAML configuration file (CONTRACT.md,
// "Config file (YAML)") into typed values: the server's sockets and
// data directory, the engine's engine.Config, and the failover
// relationships.
//
// The file is decoded through yaml.v3's Node API rather than into tagged
// structs, so that every problem can be reported with the file, the line and
// the dotted key it concerns ("subnets[0].pools[1]"), and so that unknown
// keys — usually typos — are errors instead of silently ignored settings.
// Parse reports the first problem it finds, as an *Error whose message says
// what would have been valid.
//
// Parse only reads and checks; it opens no sockets and touches no files.
// Load reads a file and parses it.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/replicate"
)

// DefaultControl is where the HTTP control API listens when server.control
// is omitted: loopback only, because the API has no authentication.
const DefaultControl = "127.0.0.1:8547"

// A relationship key the file leaves out takes the default of the package
// that uses the setting; this package defines none of its own:
//
//	mclt                engine.DefaultMCLT (1h)
//	pd-secondary-share  engine.DefaultPDSecondaryShare (0.5)
//	auto-partner-down   0 (never: only `tandem ctl partner-down`)
//	keepalive           replicate.DefaultKeepalive (60s)
//	max-unacked-bndupd  replicate.DefaultMaxUnacked (4096)

// MinMCLT is the shortest MCLT accepted. Below it, a partner that is merely
// slow (a GC pause, a congested link) would see leases it granted expire
// before the other side had heard of them.
const MinMCLT = 30 * time.Second

// File is one parsed and validated configuration file.
type File struct {
	// Path is the file name given to Parse or Load, used in error messages.
	Path   string
	Server Server
	// Engine holds lifetimes, preference, rapid-commit, options and subnets,
	// with engine defaults filled in. ServerDUID is left nil: the server
	// fills it from Server.DUID or from the identity kept in the data dir.
	Engine        engine.Config
	Relationships []Relationship
	// Links are the relationships' partner links, in Relationships' order,
	// as replicate.Start takes them: translated once, beside
	// Engine.Relationships (Relationship.translate). The server adds what
	// only it knows: the stored state, TLS configs, a shared listener,
	// the logger and its command-line overrides.
	Links []replicate.Config
}

// Server is the server section: where state lives and where to listen.
type Server struct {
	// DataDir holds the journal and the server identity. A relative path is
	// relative to the working directory.
	DataDir string
	// DUID is the configured server DUID; nil when the config leaves it empty
	// (the server generates one once and persists it in DataDir).
	DUID []byte
	// Interfaces are links whose clients talk to us directly (multicast).
	Interfaces []string
	// Listen are unicast sockets for relayed traffic.
	Listen []netip.AddrPort
	// Control is host:port of the HTTP control API; "" disables it.
	Control string
	// AllowRemoteControl (server.control-allow-remote) must be true for
	// Control to name a non-loopback address.
	AllowRemoteControl bool
	// JournalRetention (server.journal-retention) is how long the journal
	// keeps history for audit: older events are removed, their state kept
	// as a snapshot. 0 keeps everything. A policy, so a config key; serve
	// --journal-retention overrides it.
	JournalRetention time.Duration
}

// Relationship is one RFC 8156 failover relationship this server takes part in.
type Relationship struct {
	Name string
	Role string // "primary" (dials Peer) or "secondary" (listens on Listen)
	// Peer is where a primary dials its partner; Listen is where a secondary
	// accepts it. A secondary's Peer, when set, is the only address its
	// primary may connect from (the port is not checked); it is required
	// when secondaries share a Listen (m-to-1), since the partner's address
	// and the CONNECT's name are how a connection finds its relationship.
	// Either may be the zero value when the role does not use it.
	Peer, Listen netip.AddrPort
	// MCLT is the maximum client lead time (RFC 8156 §4.2.2).
	MCLT time.Duration
	// Keepalive is KEEPALIVE_TIME: the link is declared down after this
	// long without hearing from the partner, who sends CONTACT every
	// quarter of it.
	Keepalive time.Duration
	// AutoPartnerDown is how long COMMUNICATIONS-INTERRUPTED lasts before
	// moving to PARTNER-DOWN on its own; 0 leaves it to the administrator.
	AutoPartnerDown time.Duration
	// MaxUnackedBNDUPD is the MAX_UNACKED_BNDUPD this server advertises:
	// how many BNDUPDs the partner may have in flight to it. (Our own
	// window towards the partner is what the partner advertises.)
	MaxUnackedBNDUPD int
	// PDSecondaryShare is the fraction of free delegable prefixes allocated
	// to the secondary (RFC 8156 §5.2.2 proportional allocation).
	PDSecondaryShare float64
	TLS              TLS
}

// TLS names the files for mutual TLS on the partner link. Either all three
// are set or none is.
type TLS struct{ Cert, Key, CA string }

// Enabled reports whether the partner link uses TLS.
func (t TLS) Enabled() bool { return t.Cert != "" }

// Error is a problem with a configuration file. Key is the dotted path of
// the setting, like "lifetimes.valid" or "subnets[0].pools[1]"; it is empty
// when the problem is with the file as a whole (a YAML syntax error). Line
// is 1-based; 0 when unknown.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats as "FILE:LINE: KEY: MSG", leaving out what is unknown.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	s += ": "
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}

// Load reads and parses the file at path. A file that cannot be read gives
// the os error, wrapped; a bad config gives an *Error.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration. path is used only in error
// messages and File.Path. A returned error is an *Error.
func Parse(path string, data []byte) (*File, error) {
	root, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: path}
	f := d.top(root)
	if d.err != nil {
		return nil, d.err
	}
	f.Path = path
	return f, nil
}

// translate is the one place a relationship of the file becomes the
// engine's RelationshipConfig and the partner link's replicate.Config.
func (r *Relationship) translate() (engine.RelationshipConfig, replicate.Config) {
	primary := r.Role == "primary"
	return engine.RelationshipConfig{
			Name: r.Name, Primary: primary, MCLT: r.MCLT,
			AutoPartnerDown: r.AutoPartnerDown, PDSecondaryShare: r.PDSecondaryShare,
		}, replicate.Config{
			Name: r.Name, Primary: primary, Peer: r.Peer, Listen: r.Listen,
			MCLT: r.MCLT, Keepalive: r.Keepalive, MaxUnacked: uint32(r.MaxUnackedBNDUPD),
		}
}

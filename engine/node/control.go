package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
)

// The control API (CONTRACT.md): status and lease queries over HTTP/JSON,
// bound to loopback unless the config explicitly allows otherwise.

// StatusJSON is GET /v1/status.
type StatusJSON struct {
	Server struct {
		DUID    string  `json:"duid"`
		UptimeS float64 `json:"uptime_s"`
	} `json:"server"`
	Relationships []RelationshipJSON `json:"relationships"`
	Leases        struct {
		NAActive int64 `json:"na_active"`
		PDActive int64 `json:"pd_active"`
		// States counts the lease records by kind ("na", "pd") and binding
		// status ("active", "expired", "free-backup", ...), as the
		// tandem_leases metric does; statuses with no records are left
		// out.
		States map[string]map[string]int `json:"states"`
	} `json:"leases"`
	Journal struct {
		Seq    uint64 `json:"seq"`
		Digest string `json:"digest"`
		// FreeBytes is the free space on the journal's filesystem at the
		// last check; below MinFreeBytes the server grants nothing new
		// (SpaceLow, with the reason in Error).
		FreeBytes    uint64 `json:"free_bytes"`
		MinFreeBytes uint64 `json:"min_free_bytes"`
		SpaceLow     bool   `json:"space_low"`
		Error        string `json:"error,omitempty"`
	} `json:"journal"`
	Packets map[string]uint64 `json:"packets"`
}

// RelationshipJSON is one failover relationship's state in /v1/status.
type RelationshipJSON struct {
	Name         string  `json:"name"`
	Role         string  `json:"role"`
	State        string  `json:"state"`
	PartnerState string  `json:"partner_state"`
	CommOK       bool    `json:"comm_ok"`
	Unacked      int     `json:"unacked"`
	LagMS        float64 `json:"lag_ms"`
	// LagP50MS and LagP99MS are percentiles of the replication lag of the
	// last LagSamples acked BNDUPDs (at most 8192): journal commit of a
	// lease change to the partner's BNDREPLY for it (observe.go).
	LagP50MS   float64 `json:"lag_p50_ms"`
	LagP99MS   float64 `json:"lag_p99_ms"`
	LagSamples int     `json:"lag_samples"`
	SkewMS     float64 `json:"skew_ms"`
}

// LeaseJSON is one record in GET /v1/leases.
type LeaseJSON struct {
	Kind         string `json:"kind"`
	Address      string `json:"address,omitempty"`
	Prefix       string `json:"prefix,omitempty"`
	DUID         string `json:"duid"`
	IAID         uint32 `json:"iaid"`
	Status       string `json:"status"`
	StartOfState string `json:"start_of_state"`
	CLTT         string `json:"cltt"`
	Preferred    uint32 `json:"preferred"`
	Valid        uint32 `json:"valid"`
	Expires      string `json:"expires"`
	Link         string `json:"link,omitempty"`
	RemoteID     string `json:"remote_id,omitempty"`
}

// LeaseToJSON renders a record the way the API and the journal tools show it.
func LeaseToJSON(b *engine.Binding) LeaseJSON {
	l := LeaseJSON{
		Kind: b.Kind.String(), DUID: FormatDUID([]byte(b.DUID)), IAID: b.IAID, Status: b.Status.String(),
		StartOfState: unixTime(b.StartOfState), CLTT: unixTime(b.CLTT),
		Preferred: b.Preferred, Valid: b.Valid, Expires: unixTime(b.Expires),
	}
	if b.Kind == engine.KindNA {
		l.Address = b.Prefix.Addr().String()
	} else {
		l.Prefix = b.Prefix.String()
	}
	if b.Link.IsValid() && !b.Link.IsUnspecified() {
		l.Link = b.Link.String()
	}
	if b.RemoteID != "" {
		l.RemoteID = hex.EncodeToString([]byte(b.RemoteID))
	}
	return l
}

func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// ServeControl serves the control API on addr until the node stops.
func (n *Node) ServeControl(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("node: control %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); (err != nil || !ip.IsLoopback()) && host != "localhost" && !allowRemote {
		return fmt.Errorf("node: control %q is not a loopback address; set server.control-allow-remote: true to expose it", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: control: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("GET /v1/leases", n.handleLeases)
	mux.HandleFunc("POST /v1/checkpoint", n.handleCheckpoint)
	mux.HandleFunc("POST /v1/relationships/{name}/partner-down", n.handlePartnerDown)
	mux.HandleFunc("GET /metrics", n.handleMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-n.done
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("control API", zap.Error(err))
		}
	}()
	n.controlAddr = ln.Addr().String()
	n.log.Info("control API", zap.String("addr", n.controlAddr))
	return nil
}

// ControlAddr is where the control API listens ("" when it does not).
func (n *Node) ControlAddr() string { return n.controlAddr }

// Status assembles /v1/status.
func (n *Node) Status() StatusJSON {
	var s StatusJSON
	s.Server.DUID = FormatDUID(n.duid)
	s.Server.UptimeS = n.Uptime().Seconds()
	s.Relationships = []RelationshipJSON{}
	s.Leases.States = map[string]map[string]int{"na": {}, "pd": {}}
	n.Do(func(e *engine.Engine) {
		if len(n.peers) > 0 {
			s.Relationships = n.relationshipsJSON(e)
		}
		for kind, k := range map[string]engine.Kind{"na": engine.KindNA, "pd": engine.KindPD} {
			for st, v := range e.Counts(k) {
				if v > 0 {
					s.Leases.States[kind][engine.Status(st).String()] = v
				}
			}
		}
	})
	s.Leases.NAActive = n.stats.NAActive.Load()
	s.Leases.PDActive = n.stats.PDActive.Load()
	s.Journal.Seq = n.stats.LastSeq.Load()
	s.Journal.Digest = fmt.Sprintf("%016x", n.stats.Digest.Load())
	s.Journal.FreeBytes = n.stats.JournalFree.Load()
	s.Journal.MinFreeBytes = n.jrn.MinFree()
	if s.Journal.SpaceLow = n.stats.SpaceLow.Load(); s.Journal.SpaceLow {
		s.Journal.Error = n.spaceError(s.Journal.FreeBytes)
	}
	s.Packets = map[string]uint64{
		"received":             n.stats.Received.Load(),
		"malformed":            n.stats.Malformed.Load(),
		"replied":              n.stats.Replied.Load(),
		"send_errors":          n.stats.SendErrors.Load(),
		"commit_errors":        n.stats.CommitErrs.Load(),
		"partner_unhandled":    n.stats.PeerUnhandled.Load(),
		"dropped_journal_full": n.stats.NoSpace.Load(),
	}
	for i := range n.stats.EngineDrops {
		if i < engine.NumDropReasons {
			s.Packets["dropped_"+strings.ReplaceAll(engine.DropReason(i).String(), "-", "_")] = n.stats.EngineDrops[i].Load()
		}
	}
	return s
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.Status())
}

func (n *Node) handleLeases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var match func(*engine.Binding) bool
	switch {
	case q.Get("address") != "":
		a, err := netip.ParseAddr(q.Get("address"))
		if err != nil {
			http.Error(w, "bad address: "+err.Error(), http.StatusBadRequest)
			return
		}
		match = func(b *engine.Binding) bool { return b.Kind == engine.KindNA && b.Prefix.Addr() == a }
	case q.Get("prefix") != "":
		p, err := netip.ParsePrefix(q.Get("prefix"))
		if err != nil {
			http.Error(w, "bad prefix: "+err.Error(), http.StatusBadRequest)
			return
		}
		match = func(b *engine.Binding) bool { return b.Kind == engine.KindPD && b.Prefix.Overlaps(p) }
	case q.Get("duid") != "":
		d, err := hex.DecodeString(strings.ReplaceAll(q.Get("duid"), ":", ""))
		if err != nil {
			http.Error(w, "bad duid: "+err.Error(), http.StatusBadRequest)
			return
		}
		match = func(b *engine.Binding) bool { return b.DUID == string(d) }
	default:
		match = func(*engine.Binding) bool { return true }
	}
	out := []LeaseJSON{}
	err := n.Do(func(e *engine.Engine) {
		e.ForEach(func(b *engine.Binding) bool {
			if match(b) {
				out = append(out, LeaseToJSON(b))
			}
			return true
		})
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// CheckpointRequest is the body of POST /v1/checkpoint.
type CheckpointRequest struct {
	Dir string `json:"dir"`
}

// Checkpoint writes a consistent copy of the server's data-dir (journal and
// server DUID) to dir, which must be an absolute path that does not exist.
// The copy is a valid --data-dir for the offline journal tools and for a
// restore. It runs beside the serving loop: Pebble checkpoints are safe
// while the journal is written.
func (n *Node) Checkpoint(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("node: checkpoint dir %q must be an absolute path", dir)
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("node: checkpoint dir %s already exists", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("node: checkpoint: %w", err)
	}
	if err := n.jrn.Checkpoint(filepath.Join(dir, "journal")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, duidFile), []byte(hex.EncodeToString(n.duid)+"\n"), 0o644)
}

func (n *Node) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	var req CheckpointRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Dir == "" {
		http.Error(w, `want {"dir": "/absolute/path"}`, http.StatusBadRequest)
		return
	}
	t0 := time.Now()
	if err := n.Checkpoint(req.Dir); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.log.Info("checkpoint", zap.String("dir", req.Dir), zap.Duration("took", time.Since(t0)))
	writeJSON(w, map[string]any{"dir": req.Dir, "seq": n.stats.LastSeq.Load()})
}

func (n *Node) handlePartnerDown(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := n.PartnerDown(name); err != nil {
		code := http.StatusConflict // the endpoint's state does not allow it
		if errors.Is(err, ErrNoRelationship) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return
	}
	n.log.Warn("partner-down by administrator", zap.String("relationship", name))
	writeJSON(w, map[string]string{"relationship": name, "state": "partner-down"})
}

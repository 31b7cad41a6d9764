package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/journal"
)

// The audit tools: history, who, export, stats (read-only) and reindex
// (the one journal tool that writes, and only index keys).

// eventJSON is one event as history, who and export print it.
type eventJSON struct {
	Seq      uint64 `json:"seq"`
	Time     string `json:"time"`
	Kind     string `json:"kind"` // lease, free, endpoint
	Cause    string `json:"cause"`
	Type     string `json:"type,omitempty"`     // na, pd
	Resource string `json:"resource,omitempty"` // address or prefix
	Status   string `json:"status,omitempty"`
	DUID     string `json:"duid,omitempty"` // colon-separated hex
	IAID     uint32 `json:"iaid"`
	CLTT     string `json:"cltt,omitempty"`
	Pref     uint32 `json:"preferred"`
	Valid    uint32 `json:"valid"`
	Expires  string `json:"expires,omitempty"`
	Link     string `json:"link,omitempty"`      // relay link-address
	RemoteID string `json:"remote_id,omitempty"` // hex
	Rel      string `json:"relationship,omitempty"`
	State    string `json:"state,omitempty"`
}

func utc(t int64) string {
	if t == 0 {
		return ""
	}
	return time.Unix(t, 0).UTC().Format(time.RFC3339)
}

func duidString(d string) string {
	var sb strings.Builder
	for i := 0; i < len(d); i++ {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02x", d[i])
	}
	return sb.String()
}

func resourceString(b *engine.Binding) string {
	if b.Kind == engine.KindNA {
		return b.Prefix.Addr().String()
	}
	return b.Prefix.String()
}

func toJSON(seq uint64, ev *engine.Event) eventJSON {
	r := eventJSON{Seq: seq, Time: utc(ev.Time), Kind: ev.Kind.String(), Cause: ev.Why.String()}
	if ev.Kind == engine.EventEndpoint {
		r.Rel, r.State = ev.Endpoint.Rel, fmt.Sprint(ev.Endpoint.State)
		return r
	}
	b := &ev.Binding
	r.Type, r.Resource, r.Status = b.Kind.String(), resourceString(b), b.Status.String()
	r.DUID, r.IAID, r.CLTT = duidString(b.DUID), b.IAID, utc(b.CLTT)
	r.Pref, r.Valid, r.Expires = b.Preferred, b.Valid, utc(b.Expires)
	if b.Link.IsValid() {
		r.Link = b.Link.String()
	}
	r.RemoteID = hex.EncodeToString([]byte(b.RemoteID))
	return r
}

// text is the human-readable line of an event.
func (r *eventJSON) text() string {
	if r.Kind == "endpoint" {
		return fmt.Sprintf("%s  seq %d  %-9s endpoint %s %s", r.Time, r.Seq, r.Cause, r.Rel, r.State)
	}
	s := fmt.Sprintf("%s  seq %d  %-9s %-5s %s %s  %s  duid %s  iaid %d  pref %ds valid %ds expires %s",
		r.Time, r.Seq, r.Cause, r.Kind, r.Type, r.Resource, r.Status, r.DUID, r.IAID, r.Pref, r.Valid, r.Expires)
	if r.Link != "" {
		s += "  link " + r.Link
	}
	if r.RemoteID != "" {
		s += "  remote-id " + r.RemoteID
	}
	return s
}

// parseDUID reads hex, with or without colons or dashes.
func parseDUIDArg(s string) (string, error) {
	b, err := hex.DecodeString(strings.NewReplacer(":", "", "-", "").Replace(s))
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("bad DUID %q: want hex bytes, e.g. 00:01:00:01:2a:2b:2c:2d:02:00:00:00:00:01", s)
	}
	return string(b), nil
}

// parseTime reads RFC 3339 (2026-03-03T10:00:00Z).
func parseTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("bad time %q: want RFC 3339, e.g. 2026-03-03T10:00:00Z", s)
	}
	return t.Unix(), nil
}

// resourceFlags parses --addr A | --prefix P into a resource.
func resourceArg(addr, prefix string) (journal.Resource, error) {
	switch {
	case addr != "" && prefix != "":
		return journal.Resource{}, errors.New("--addr and --prefix are exclusive")
	case addr != "":
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return journal.Resource{}, fmt.Errorf("bad --addr %q: want an IPv6 address", addr)
		}
		return journal.AddrResource(a), nil
	case prefix != "":
		p, err := netip.ParsePrefix(prefix)
		if err != nil || !p.Addr().Is6() {
			return journal.Resource{}, fmt.Errorf("bad --prefix %q: want an IPv6 prefix", prefix)
		}
		return journal.PrefixResource(p), nil
	}
	return journal.Resource{}, errors.New("one of --addr or --prefix is required")
}

// noIndexNote tells the operator a query scans the whole log.
func noIndexNote(name string, j *journal.Journal, stderr io.Writer) {
	if !j.Indexed() {
		fmt.Fprintf(stderr, "tandem journal %s: this journal has no audit index (written before it existed): "+
			"scanning every event; `tandem journal reindex` (server stopped) builds it\n", name)
	}
}

// horizonNote tells the operator that retention removed older history.
func horizonNote(name string, j *journal.Journal, stderr io.Writer) {
	if hz := j.Horizon(); hz.FirstSeq > 1 {
		fmt.Fprintf(stderr, "tandem journal %s: retention removed events 1..%d (all before %s): history starts at seq %d\n",
			name, hz.FirstSeq-1, utc(hz.Cutoff), hz.FirstSeq)
	}
}

func journalHistory(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("history", stderr)
	addr := fs.String("addr", "", "a leased IPv6 `address`")
	prefix := fs.String("prefix", "", "a delegated `prefix`")
	duid := fs.String("duid", "", "a client's `DUID` in hex (colons optional)")
	asJSON := fs.Bool("json", false, "JSON lines, one event a line")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	n := 0
	for _, s := range []string{*addr, *prefix, *duid} {
		if s != "" {
			n++
		}
	}
	if *dir == "" || fs.NArg() != 0 || n != 1 {
		fmt.Fprintln(stderr, "tandem journal history: --data-dir DIR and exactly one of --addr, --prefix, --duid")
		return 2
	}
	var walk func(j *journal.Journal, fn func(uint64, *engine.Event) error) error
	if *duid != "" {
		d, err := parseDUIDArg(*duid)
		if err != nil {
			fmt.Fprintln(stderr, "tandem journal history:", err)
			return 2
		}
		walk = func(j *journal.Journal, fn func(uint64, *engine.Event) error) error { return j.HistoryDUID(d, fn) }
	} else {
		r, err := resourceArg(*addr, *prefix)
		if err != nil {
			fmt.Fprintln(stderr, "tandem journal history:", err)
			return 2
		}
		walk = func(j *journal.Journal, fn func(uint64, *engine.Event) error) error { return j.History(r, fn) }
	}
	j, ok := openJournal("history", *dir, stdout, stderr)
	if !ok {
		return 1
	}
	defer j.Close()
	noIndexNote("history", j, stderr)
	horizonNote("history", j, stderr)
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	count := 0
	err := walk(j, func(seq uint64, ev *engine.Event) error {
		count++
		r := toJSON(seq, ev)
		if *asJSON {
			return enc.Encode(&r)
		}
		_, err := fmt.Fprintln(w, r.text())
		return err
	})
	if err == nil && count == 0 && !*asJSON {
		fmt.Fprintln(w, "no events")
	}
	return finishOutput(w, err, "tandem journal history", stdout, stderr)
}

type whoJSON struct {
	Resource string     `json:"resource"`
	At       string     `json:"at"`
	Held     bool       `json:"held"`
	Holder   *eventJSON `json:"event,omitempty"` // the last event at or before At
	// BeforeHorizon: At is before the retention horizon, whose events
	// were removed: the journal cannot say (Held is false, Holder absent).
	BeforeHorizon bool `json:"before_horizon,omitempty"`
	// FromBase: the answer is the resource's record in the retention base
	// snapshot (its events were removed); Holder then carries that record.
	FromBase bool `json:"from_retention_base,omitempty"`
}

func journalWho(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("who", stderr)
	addr := fs.String("addr", "", "a leased IPv6 `address`")
	prefix := fs.String("prefix", "", "a delegated `prefix`")
	at := fs.String("at", "", "the moment, RFC 3339 (`TIME`, e.g. 2026-03-03T10:00:00Z)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 || *at == "" {
		fmt.Fprintln(stderr, "tandem journal who: --data-dir DIR, --addr A or --prefix P, and --at TIME are required")
		return 2
	}
	r, err := resourceArg(*addr, *prefix)
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal who:", err)
		return 2
	}
	t, err := parseTime(*at)
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal who:", err)
		return 2
	}
	j, ok := openJournal("who", *dir, stdout, stderr)
	if !ok {
		return 1
	}
	defer j.Close()
	noIndexNote("who", j, stderr)
	res := r.Prefix.String()
	if r.Kind == engine.KindNA {
		res = r.Prefix.Addr().String()
	}
	h, err := j.Who(r, t)
	if errors.Is(err, journal.ErrBeforeHorizon) {
		// Not damage: the history was removed on purpose. Say so, and
		// never "nobody".
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(&whoJSON{Resource: res, At: utc(t), BeforeHorizon: true}); err != nil {
				return 1
			}
			return 0
		}
		hz := j.Horizon()
		fmt.Fprintf(stdout, "%s at %s: unknown: that is before the retention horizon (events up to seq %d, before %s, were removed; history starts at %s)\n",
			res, utc(t), hz.FirstSeq-1, utc(hz.Cutoff), utc(hz.BaseTime))
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal who:", err)
		printBadSeq(err, stdout)
		return 1
	}
	out := whoJSON{Resource: res, At: utc(t), Held: h.Held, FromBase: h.FromBase}
	if h.Seq != 0 {
		e := toJSON(h.Seq, &h.Event)
		out.Holder = &e
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(&out); err != nil {
			return 1
		}
		return 0
	}
	switch {
	case h.Held:
		e := out.Holder
		fmt.Fprintf(stdout, "%s at %s: duid %s  iaid %d", res, out.At, e.DUID, e.IAID)
		if e.RemoteID != "" {
			fmt.Fprintf(stdout, "  remote-id %s", e.RemoteID)
		}
		if e.Link != "" {
			fmt.Fprintf(stdout, "  link %s", e.Link)
		}
		if h.FromBase {
			fmt.Fprintf(stdout, "\n    (from the retention base: the state after seq %d, at %s; expires %s)\n", e.Seq, e.Time, e.Expires)
		} else {
			fmt.Fprintf(stdout, "\n    (seq %d, %s at %s; expires %s)\n", e.Seq, e.Cause, e.Time, e.Expires)
		}
	case h.Seq == 0 && h.FromBase:
		fmt.Fprintf(stdout, "%s at %s: nobody (no record of it in the state at the retention horizon, and no event for it since)\n", res, out.At)
	case h.Seq == 0:
		fmt.Fprintf(stdout, "%s at %s: nobody (no event for it at or before that time)\n", res, out.At)
	default:
		fmt.Fprintf(stdout, "%s at %s: nobody (last event: seq %d, %s %s at %s, status %s, duid %s)\n",
			res, out.At, h.Seq, out.Holder.Cause, out.Holder.Kind, out.Holder.Time, out.Holder.Status, out.Holder.DUID)
	}
	return 0
}

func journalExport(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("export", stderr)
	since := fs.String("since", "", "only events at or after `TIME` (RFC 3339)")
	until := fs.String("until", "", "only events before `TIME` (RFC 3339)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "tandem journal export: --data-dir DIR is required")
		return 2
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	var err error
	if *since != "" {
		if lo, err = parseTime(*since); err != nil {
			fmt.Fprintln(stderr, "tandem journal export:", err)
			return 2
		}
	}
	if *until != "" {
		if hi, err = parseTime(*until); err != nil {
			fmt.Fprintln(stderr, "tandem journal export:", err)
			return 2
		}
	}
	j, ok := openJournal("export", *dir, stdout, stderr)
	if !ok {
		return 1
	}
	defer j.Close()
	horizonNote("export", j, stderr)
	w := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(w)
	err = j.Events(1, func(seq uint64, ev *engine.Event) error {
		if ev.Time < lo || ev.Time >= hi {
			return nil
		}
		r := toJSON(seq, ev)
		return enc.Encode(&r)
	})
	return finishOutput(w, err, "tandem journal export", stdout, stderr)
}

type statsJSON struct {
	Journal     string            `json:"journal"`
	Events      uint64            `json:"events"`
	FirstSeq    uint64            `json:"first_seq"`
	LastSeq     uint64            `json:"last_seq"`
	FirstTime   string            `json:"first_time,omitempty"`
	LastTime    string            `json:"last_time,omitempty"`
	ByKind      map[string]uint64 `json:"by_kind"`
	ByCause     map[string]uint64 `json:"by_cause"`
	SnapshotSeq uint64            `json:"snapshot_seq"`
	// RetainedFrom is the first event retention kept (1: none removed),
	// RetentionHorizon the cutoff of the run that removed the rest.
	RetainedFrom     uint64 `json:"retained_from_seq"`
	RetentionHorizon string `json:"retention_horizon,omitempty"`
	Indexed          bool   `json:"indexed"`
	DiskBytes        int64  `json:"disk_bytes"`
}

func journalStats(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("stats", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "tandem journal stats: --data-dir DIR is required")
		return 2
	}
	j, ok := openJournal("stats", *dir, stdout, stderr)
	if !ok {
		return 1
	}
	defer j.Close()
	s := statsJSON{Journal: filepath.Join(*dir, "journal"), ByKind: map[string]uint64{}, ByCause: map[string]uint64{},
		SnapshotSeq: j.SnapshotSeq(), Indexed: j.Indexed(), LastSeq: j.LastSeq()}
	hz := j.Horizon()
	s.RetainedFrom = hz.FirstSeq
	if hz.FirstSeq > 1 {
		s.RetentionHorizon = utc(hz.Cutoff)
	}
	var tmin, tmax int64 = math.MaxInt64, math.MinInt64
	err := j.Events(1, func(seq uint64, ev *engine.Event) error {
		if s.Events == 0 {
			s.FirstSeq = seq
		}
		s.Events++
		s.ByKind[ev.Kind.String()]++
		s.ByCause[ev.Why.String()]++
		tmin, tmax = min(tmin, ev.Time), max(tmax, ev.Time)
		return nil
	})
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal stats:", err)
		printBadSeq(err, stdout)
		return 1
	}
	if s.Events > 0 {
		s.FirstTime, s.LastTime = utc(tmin), utc(tmax)
	}
	root := s.Journal
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r // WalkDir does not follow a symlinked root
	}
	_ = filepath.WalkDir(root, func(_ string, d iofs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				s.DiskBytes += fi.Size()
			}
		}
		return nil
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&s); err != nil {
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "journal: %s\n", s.Journal)
	fmt.Fprintf(stdout, "events: %d (seq %d..%d)\n", s.Events, s.FirstSeq, s.LastSeq)
	if s.Events > 0 {
		fmt.Fprintf(stdout, "time span: %s .. %s (%s)\n", s.FirstTime, s.LastTime, time.Duration(tmax-tmin)*time.Second)
	}
	printCounts(stdout, "by kind", s.ByKind)
	printCounts(stdout, "by cause", s.ByCause)
	fmt.Fprintf(stdout, "snapshot: after seq %d\n", s.SnapshotSeq)
	if s.RetainedFrom > 1 {
		fmt.Fprintf(stdout, "retention: events 1..%d removed (horizon %s); the state then is the snapshot after seq %d\n",
			s.RetainedFrom-1, s.RetentionHorizon, s.RetainedFrom-1)
	}
	fmt.Fprintf(stdout, "audit index: %v\n", s.Indexed)
	fmt.Fprintf(stdout, "size on disk: %d bytes (%.1f MiB)\n", s.DiskBytes, float64(s.DiskBytes)/(1<<20))
	return 0
}

func printCounts(w io.Writer, title string, m map[string]uint64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%s:", title)
	for _, k := range keys {
		fmt.Fprintf(w, " %s %d", k, m[k])
	}
	fmt.Fprintln(w)
}

func journalReindex(args []string, stdout, stderr io.Writer) int {
	fs, dir := journalFlags("reindex", stderr)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "tandem journal reindex: --data-dir DIR is required")
		return 2
	}
	j, err := journal.Open(journal.Options{Dir: filepath.Join(*dir, "journal")})
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal reindex:", err)
		printBadSeq(err, stdout)
		return 1
	}
	n, err := j.Reindex()
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "tandem journal reindex:", err)
		return 1
	}
	fmt.Fprintf(stdout, "indexed %d events\n", n)
	return 0
}

// finishOutput flushes a command's buffered output and turns the walk's
// error (or the flush's) into the exit status: 1 with the error, and the
// first bad sequence when the journal is at fault.
func finishOutput(w *bufio.Writer, err error, cmd string, stdout, stderr io.Writer) int {
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(stderr, cmd+":", err)
		printBadSeq(err, stdout)
		return 1
	}
	return 0
}

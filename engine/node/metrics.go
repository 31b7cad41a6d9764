package node

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// GET /metrics (CONTRACT.md): the Prometheus text format, every name
// starting with tandem_.
//
// The packet path knows nothing of Prometheus. Counters the readers and
// the loop already keep (Stats, engine.Counters) and the relationship
// state are read when a scrape arrives, by a custom Collector: atomics
// directly, the engine's own figures with one Node.Do per scrape. Only three
// things are observed as they happen, each on the loop goroutine and never
// per packet: a journal commit's latency and size (once per commit), a
// BNDUPD's replication lag (once per acked BNDREPLY) and a failover alarm.
// Histogram.Observe and Counter.Inc are a few atomic adds and allocate
// nothing.
//
// Each node has its own registry (tests run several nodes in one process),
// and only tandem_ metrics are in it: no Go runtime or process collectors.

// Histogram buckets. Why these bounds:
var (
	// Replication lag: sub-millisecond on a LAN under light load, up to
	// tens of seconds for changes held across a partner outage (the tail
	// an outage leaves is what an operator wants to see).
	lagBuckets = prometheus.ExponentialBuckets(0.0005, 2, 18) // 0.5 ms … 65 s
	// Journal commit: an fsync on a fast SSD is ~100 µs; seconds mean the
	// disk is in trouble.
	commitBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16) // 100 µs … 3.3 s
	// Events per commit: 1 when idle, up to --journal-batch (default 4096)
	// under load.
	batchBuckets = prometheus.ExponentialBuckets(1, 2, 14) // 1 … 8192
)

// nodeMetrics are the metrics observed as things happen (loop goroutine).
type nodeMetrics struct {
	reg           *prometheus.Registry
	commitSeconds prometheus.Histogram
	commitEvents  prometheus.Histogram
	alarms        *prometheus.CounterVec
	handler       http.Handler
}

// newNodeMetrics makes the registry; register adds the collector once the
// relationships are known (its Describe lists their lag histograms).
func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		reg: prometheus.NewRegistry(),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tandem_journal_commit_duration_seconds",
			Help:    "Time one journal commit (a batch of events, synced) took.",
			Buckets: commitBuckets,
		}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tandem_journal_commit_events",
			Help:    "Events per journal commit (the group-commit batch size).",
			Buckets: batchBuckets,
		}),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_failover_alarms_total",
			Help: "Failover alarms raised: entries into communications-interrupted (from normal) or resolution-interrupted.",
		}, []string{"relationship", "state"}),
	}
	m.reg.MustRegister(m.commitSeconds, m.commitEvents, m.alarms)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *nodeMetrics) register(n *Node) { m.reg.MustRegister(&collector{n: n}) }

// newLagHistogram is one relationship's replication lag histogram; the
// collector reports it, so it is not registered.
func newLagHistogram(rel string) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "tandem_failover_replication_lag_seconds",
		Help:        "Time from the durable commit of a lease change to the partner's BNDREPLY accepting it.",
		Buckets:     lagBuckets,
		ConstLabels: prometheus.Labels{"relationship": rel},
	})
}

// initAlarms makes both alarm series exist from the start, at 0, so that
// rate() and alerts see the first alarm.
func (m *nodeMetrics) initAlarms(rel string) {
	m.alarms.WithLabelValues(rel, engine.StateCommInterrupted.String())
	m.alarms.WithLabelValues(rel, engine.StateResolutionInterrupted.String())
}

// Metrics returns the node's registry, for embedding its metrics elsewhere.
func (n *Node) Metrics() *prometheus.Registry { return n.metrics.reg }

func (n *Node) handleMetrics(w http.ResponseWriter, r *http.Request) {
	n.metrics.handler.ServeHTTP(w, r)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descUptime         = desc("tandem_server_uptime_seconds", "Time since the server started.")
	descDatagramsRx    = desc("tandem_datagrams_received_total", "UDP datagrams read from the DHCPv6 sockets.")
	descDatagramsTx    = desc("tandem_datagrams_sent_total", "UDP datagrams sent.")
	descSendErrors     = desc("tandem_datagram_send_errors_total", "Datagrams that could not be sent (e.g. an unreachable relay).")
	descPacketsRx      = desc("tandem_packets_received_total", "Decoded DHCPv6 messages handled, by message type (of the innermost message for relayed ones).", "type")
	descPacketsTx      = desc("tandem_packets_sent_total", "DHCPv6 replies made, by message type.", "type")
	descPacketsDropped = desc("tandem_packets_dropped_total", "Datagrams that got no answer, by reason (malformed: failed to decode; the others: the server's decision).", "reason")
	descReplyStatus    = desc("tandem_reply_status_total", "Status Code options in replies, by status: per IA (no-addrs-avail, no-prefix-avail, no-binding, not-on-link) or per message (success of a RELEASE, use-multicast). An IA granted its resources carries none, so no-addrs-avail against tandem_packets_sent_total is the share of refusals.", "status")
	descPeerUnhandled  = desc("tandem_partner_messages_unhandled_total", "Partner messages received and not handled.")
	descLeasesActive   = desc("tandem_leases_active", "Leases in status active, by kind (na: addresses, pd: delegated prefixes).", "kind")
	descLeaseRecords   = desc("tandem_lease_records", "Lease records held, in any status.")
	descLeasesByState  = desc("tandem_leases", "Lease records by kind (na, pd) and binding status (RFC 8156: active, expired, released, free, free-backup, abandoned, ...).", "kind", "state")
	descJournalSeq     = desc("tandem_journal_sequence", "Sequence number of the last durable journal event.")
	descJournalCommits = desc("tandem_journal_commits_total", "Journal commits.")
	descJournalEvents  = desc("tandem_journal_events_total", "Journal events committed.")
	descJournalErrors  = desc("tandem_journal_commit_errors_total", "Failed journal commits (their replies were withheld).")
	descJournalFree    = desc("tandem_journal_free_bytes", "Free bytes on the journal's filesystem at the last check.")
	descJournalLow     = desc("tandem_journal_space_low", "1 while the journal's free space is below its reserve (--journal-min-free): no new leases are granted.")
	descFoState        = desc("tandem_failover_state", "Failover endpoint state: 1 for the current state, 0 for the others.", "relationship", "role", "state")
	descFoPartnerState = desc("tandem_failover_partner_state", "Last state the partner announced: 1 for it, 0 for the others.", "relationship", "state")
	descFoCommOK       = desc("tandem_failover_comm_ok", "1 while the partner link is up and the partner's STATE has arrived.", "relationship")
	descFoUnacked      = desc("tandem_failover_unacked_bndupd", "Lease changes not yet acknowledged by the partner (sent and unacked, or queued).", "relationship")
	descFoSkew         = desc("tandem_failover_clock_skew_seconds", "Partner clock minus ours, measured at CONNECT.", "relationship")
	descPartnerRefused = desc("tandem_partner_refused_total", "Partner-port connections and sessions refused, by reason (address: not the configured partner; tls: handshake failed; malformed: no failover message first; skew: clocks too far apart; config-conflict: name, MCLT or flags differ, or a second partner; connect-other: any other CONNECT refusal; window: the partner exceeded our MAX_UNACKED_BNDUPD).", "relationship", "reason")
)

// collector reads the node's figures when a scrape arrives.
type collector struct{ n *Node }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUptime, descDatagramsRx, descDatagramsTx, descSendErrors,
		descPacketsRx, descPacketsTx, descPacketsDropped, descReplyStatus, descPeerUnhandled, descLeasesActive,
		descLeaseRecords, descLeasesByState, descJournalSeq, descJournalCommits, descJournalEvents, descJournalErrors,
		descJournalFree, descJournalLow,
		descFoState, descFoPartnerState, descFoCommOK, descFoUnacked, descFoSkew, descPartnerRefused} {
		ch <- d
	}
	for _, p := range c.n.peers {
		p.lag.hist.Describe(ch)
	}
}

// relSnapshot is one relationship as a scrape sees it.
type relSnapshot struct {
	name          string
	role          string
	state, pstate engine.State
	commOK        bool
	unacked       int
	skew          time.Duration
}

// scrapeSnapshot is what a scrape reads on the loop goroutine.
type scrapeSnapshot struct {
	counters engine.Counters
	records  int
	na, pd   [engine.NumStatuses]int
	rels     []relSnapshot
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	st := &n.stats
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var snap scrapeSnapshot
	live := n.Do(func(e *engine.Engine) {
		snap.counters = e.Counters
		snap.records = e.Len()
		snap.na, snap.pd = e.Counts(engine.KindNA), e.Counts(engine.KindPD)
		for _, p := range n.peers {
			info, ok := e.Endpoint(p.rel)
			if !ok {
				continue
			}
			snap.rels = append(snap.rels, relSnapshot{name: p.name, role: info.Role.String(),
				state: info.State, pstate: info.PartnerState, commOK: info.CommOK,
				unacked: n.unacked(p), skew: p.link.Stats().Skew})
		}
	}) == nil

	gauge(descUptime, n.Uptime().Seconds())
	counter(descDatagramsRx, st.Received.Load())
	counter(descDatagramsTx, st.Replied.Load())
	counter(descSendErrors, st.SendErrors.Load())
	counter(descPeerUnhandled, st.PeerUnhandled.Load())
	counter(descPacketsDropped, st.Malformed.Load(), "malformed")
	for i := 0; i < engine.NumDropReasons; i++ {
		counter(descPacketsDropped, st.EngineDrops[i].Load(), engine.DropReason(i).String())
	}
	gauge(descLeasesActive, float64(st.NAActive.Load()), "na")
	gauge(descLeasesActive, float64(st.PDActive.Load()), "pd")
	gauge(descJournalSeq, float64(st.LastSeq.Load()))
	counter(descJournalCommits, st.Commits.Load())
	counter(descJournalEvents, st.Events.Load())
	counter(descJournalErrors, st.CommitErrs.Load())
	gauge(descJournalFree, float64(st.JournalFree.Load()))
	gauge(descJournalLow, b2f(st.SpaceLow.Load()))
	counter(descPacketsDropped, st.NoSpace.Load(), "journal-full")
	for _, p := range n.peers {
		p.lag.hist.Collect(ch)
		ls := p.link.Stats()
		for _, r := range [...]struct {
			reason string
			v      uint64
		}{
			{"address", ls.RefusedPeers}, {"tls", ls.RefusedTLS}, {"malformed", ls.RefusedMalformed},
			{"skew", ls.RefusedSkew}, {"config-conflict", ls.RefusedConflict},
			{"connect-other", ls.RefusedConnects - ls.RefusedSkew - ls.RefusedConflict},
			{"window", ls.RefusedWindow},
		} {
			counter(descPartnerRefused, r.v, p.name, r.reason)
		}
	}
	if !live {
		return // stopped: the engine's own figures are gone with the loop
	}
	gauge(descLeaseRecords, float64(snap.records))
	for _, k := range []struct {
		kind   string
		counts *[engine.NumStatuses]int
	}{{"na", &snap.na}, {"pd", &snap.pd}} {
		for st, v := range k.counts {
			// Every known status always has a series; values this
			// version does not know appear when seen.
			if st > 0 || v > 0 {
				gauge(descLeasesByState, float64(v), k.kind, engine.Status(st).String())
			}
		}
	}
	var otherRx, otherTx uint64
	for t := range snap.counters.Rx {
		name := msgTypeLabel(wire.MsgType(t))
		rx, tx := snap.counters.Rx[t], snap.counters.Tx[t]
		if name == "" {
			otherRx, otherTx = otherRx+rx, otherTx+tx
			continue
		}
		// The types a server takes and sends always have a series; the
		// others (a client sending an ADVERTISE, say) appear when seen.
		if rx > 0 || clientTypes[t] {
			counter(descPacketsRx, rx, name)
		}
		if tx > 0 || wire.MsgType(t) == wire.Advertise || wire.MsgType(t) == wire.Reply {
			counter(descPacketsTx, tx, name)
		}
	}
	for code, v := range snap.counters.Status {
		counter(descReplyStatus, v, engine.StatusCodeName(code))
	}
	if otherRx > 0 {
		counter(descPacketsRx, otherRx, "unknown")
	}
	if otherTx > 0 {
		counter(descPacketsTx, otherTx, "unknown")
	}
	for _, r := range snap.rels {
		for s := engine.StateStartup; s <= engine.StateConflictDone; s++ {
			gauge(descFoState, b2f(r.state == s), r.name, r.role, s.String())
			gauge(descFoPartnerState, b2f(r.pstate == s), r.name, s.String())
		}
		gauge(descFoCommOK, b2f(r.commOK), r.name)
		gauge(descFoUnacked, float64(r.unacked), r.name)
		gauge(descFoSkew, r.skew.Seconds(), r.name)
	}
}

// clientTypes are the message types a server accepts from clients
// (RFC 8415 §16).
var clientTypes = [16]bool{wire.Solicit: true, wire.Request: true, wire.Confirm: true, wire.Renew: true,
	wire.Rebind: true, wire.Release: true, wire.Decline: true, wire.InformationRequest: true}

// msgTypeLabel is a message type as a label value ("solicit",
// "information-request"), or "" for an unassigned one.
func msgTypeLabel(t wire.MsgType) string {
	s := t.String()
	if s == "UNKNOWN" {
		return ""
	}
	return strings.ToLower(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

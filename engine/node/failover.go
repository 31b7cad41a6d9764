package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/netio/wire"
	"github.com/tandemdhcp/tandem/replicate"
)

// The partner side of the serving loop: one replicate.Link and one
// replicate.Stream per failover relationship, and one replicate.Listener
// per distinct listen address of the secondaries among them. Link events
// go to the Stream on the loop goroutine (it steps the engine); once a
// Ready is durable its PeerMsgs go to the Stream too, except STATE (the
// Link's) and alarms (logs and a metric).

// peer is one relationship's link as the loop sees it.
type peer struct {
	rel  int
	name string
	link *replicate.Link
	// Last state the endpoint asked us to advertise, for /v1/status.
	commOK bool
	// offline is the STATE last handed to the link while disconnected
	// (refreshLocalStates).
	offline engine.Action
	stream  *replicate.Stream // the partner protocol (loop goroutine only)
	lag     lagStats
	// loggedState is the endpoint state last logged (observe.go).
	loggedState engine.State
}

// peerEvent is a link event tagged with its relationship.
type peerEvent struct {
	rel int
	ev  replicate.Event
}

// startPeers starts a link per relationship. The endpoint is still in
// STARTUP (the engine boots it on the first Step), so the link's initial
// STATE carries the STARTUP flag and the stored state.
//
// Secondaries share one replicate.Listener per distinct listen address
// (m-to-1: one standby for several primaries on one port 647); it hands
// each connection to the relationship whose peer address and
// RELATIONSHIP_NAME it carries. Relationships with the same TLS files share
// one *tls.Config, which is how the listener knows they agree.
func (n *Node) startPeers() error {
	f := n.opts.File
	listeners := map[netip.AddrPort]*replicate.Listener{}
	type tlsKey struct {
		files   config.TLS
		primary bool
	}
	tlsConfigs := map[tlsKey]*tls.Config{}
	if len(f.Links) != len(f.Relationships) {
		return errors.New("node: config has no partner link for each relationship (config.Parse makes them)")
	}
	for i := range f.Relationships {
		r := &f.Relationships[i]
		rel := n.eng.Relationship(r.Name)
		if rel < 0 {
			return fmt.Errorf("node: relationship %s: unknown to the engine", r.Name)
		}
		info, _ := n.eng.Endpoint(rel)
		st := info.Stored.State
		if st == 0 || st == engine.StateStartup {
			st = engine.StateRecover
		}
		cfg := f.Links[i] // the config's translation; what only the server knows is added here
		cfg.WriteBatch = n.opts.ReplBatch
		cfg.State = replicate.LocalState{State: uint8(st), Flags: wire.ServerFlagStartup, StartOfState: info.Stored.StartTime}
		cfg.Logger = n.log.Named("partner").With(zap.String("relationship", r.Name))
		if n.opts.ReplMaxUnacked > 0 {
			cfg.MaxUnacked = uint32(n.opts.ReplMaxUnacked)
		}
		if r.TLS.Enabled() {
			k := tlsKey{r.TLS, cfg.Primary}
			if tlsConfigs[k] == nil {
				tc, err := loadTLS(r.TLS, cfg.Primary)
				if err != nil {
					return fmt.Errorf("node: relationship %s: %w", r.Name, err)
				}
				tlsConfigs[k] = tc
			}
			cfg.TLS = tlsConfigs[k]
		}
		if !cfg.Primary {
			x := listeners[r.Listen]
			if x == nil {
				var err error
				x, err = replicate.Listen(r.Listen, n.log.Named("partner").With(zap.Stringer("listen", r.Listen)))
				if err != nil {
					return fmt.Errorf("node: relationship %s: %w", r.Name, err)
				}
				listeners[r.Listen] = x
				n.listeners = append(n.listeners, x)
			}
			cfg.Shared = x
		}
		l, err := replicate.Start(cfg)
		if err != nil {
			return fmt.Errorf("node: relationship %s: %w", r.Name, err)
		}
		p := &peer{rel: rel, name: r.Name, link: l, loggedState: info.Stored.State,
			lag: lagStats{hist: newLagHistogram(r.Name)}}
		p.stream = replicate.NewStream(replicate.StreamConfig{Rel: rel, Window: 64, SizeHint: 1024,
			Seq: n.stats.LastSeq.Load(), Lag: p.lag.observe}, n.eng, &peerSender{n: n, p: p})
		n.metrics.initAlarms(r.Name)
		n.peers = append(n.peers, p)
		go func() {
			for ev := range l.Events() {
				select {
				case n.peerEvents <- peerEvent{rel: rel, ev: ev}:
				case <-n.done:
					return
				}
			}
		}()
	}
	return nil
}

// loadTLS builds a mutual-TLS config from PEM files: our certificate and
// key, and the CA that must have signed the partner's certificate.
func loadTLS(t config.TLS, primary bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pem, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", t.CA)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if primary {
		c.RootCAs = pool
	} else {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func (n *Node) peerByRel(rel int) *peer {
	for _, p := range n.peers {
		if p.rel == rel {
			return p
		}
	}
	return nil
}

// onPeerEvent hands a link event to the relationship's Stream (loop
// goroutine), which turns it into engine input; the loop keeps the logs
// and counters.
func (n *Node) onPeerEvent(pe peerEvent) {
	p := n.peerByRel(pe.rel)
	now := time.Now()
	var err error
	switch pe.ev.Kind {
	case replicate.EventUp:
		n.log.Info("partner connected", zap.String("relationship", p.name),
			zap.Stringer("partner", pe.ev.Partner.Addr), zap.Duration("skew", pe.ev.Partner.Skew))
		err = p.stream.Up(now, int(pe.ev.Partner.MaxUnacked))
	case replicate.EventDown:
		p.commOK = false
		err = p.stream.Down(now)
		if pe.ev.WasUp {
			n.log.Warn("partner connection lost", zap.String("relationship", p.name), zap.String("reason", pe.ev.Reason))
		}
	case replicate.EventMessage:
		r, derr := p.stream.Receive(now, &pe.ev)
		if derr != nil {
			n.log.Warn("partner message dropped", zap.String("relationship", p.name), zap.Error(derr))
			return
		}
		switch {
		case r.Type == wire.State:
			p.commOK = true
		case r.Rejected != 0:
			n.log.Info("partner rejected an update", zap.String("relationship", p.name), zap.Uint16("status", r.Rejected))
		case r.Unhandled:
			n.stats.PeerUnhandled.Add(1)
			if ce := n.log.Check(zap.DebugLevel, "partner message not handled"); ce != nil {
				ce.Write(zap.String("relationship", p.name), zap.String("type", wire.FailoverName(r.Type)))
			}
		}
		err = r.Refused
	}
	if err != nil {
		n.log.Warn("partner input refused", zap.String("relationship", p.name), zap.Error(err))
	}
}

// sendPeerMsgs performs the endpoints' requests; called after the Ready
// holding them is durable. STATE goes to the Link, alarms to the log and a
// metric, the rest to the relationship's Stream (then committed sends the
// BNDREPLYs owed).
func (n *Node) sendPeerMsgs(msgs []engine.PeerMsg) {
	now := time.Now()
	for i := range msgs {
		m := &msgs[i]
		p := n.peerByRel(m.Rel)
		if p == nil {
			continue
		}
		switch m.Kind {
		case engine.ActSendState:
			p.link.SetLocalState(uint8(m.State), m.Flags, m.Start)
		case engine.ActAlarm:
			n.log.Warn("failover alarm", zap.String("relationship", p.name), zap.Stringer("state", m.State))
			n.metrics.alarms.WithLabelValues(p.name, m.State.String()).Inc()
		default:
			p.stream.Act(now, m)
		}
	}
}

// refreshLocalStates keeps the STATE each disconnected link will open its
// next connection with equal to the endpoint's current state
// (engine.Endpoint.StateMessage): the endpoint announces no change while
// disconnected.
func (n *Node) refreshLocalStates() {
	for _, p := range n.peers {
		if p.stream.Connected() {
			continue
		}
		if a, ok := n.eng.StateMessage(p.rel); ok && a != p.offline {
			p.offline = a
			p.link.SetLocalState(uint8(a.State), a.Flags, a.Start)
		}
	}
}

// ErrNoRelationship is PartnerDown's error for a name the config does not
// define (the control API answers 404).
var ErrNoRelationship = errors.New("node: no relationship")

// PartnerDown is `tandem ctl partner-down REL`: the administrator asserts
// the partner is down (RFC 8156 §8.4).
func (n *Node) PartnerDown(name string) error {
	var err error
	derr := n.Do(func(e *engine.Engine) {
		rel := e.Relationship(name)
		if rel < 0 {
			err = fmt.Errorf("%w %q", ErrNoRelationship, name)
			return
		}
		err = e.Step(time.Now(), engine.Input{Kind: engine.InputAdminPartnerDown, Rel: rel})
	})
	if derr != nil {
		return derr
	}
	return err
}

// relationshipsJSON fills /v1/status's relationships (loop goroutine).
func (n *Node) relationshipsJSON(e *engine.Engine) []RelationshipJSON {
	out := []RelationshipJSON{}
	for _, p := range n.peers {
		info, ok := e.Endpoint(p.rel)
		if !ok {
			continue
		}
		r := RelationshipJSON{Name: p.name, Role: info.Role.String(), State: info.State.String(),
			PartnerState: info.PartnerState.String(), CommOK: info.CommOK}
		st := p.link.Stats()
		r.SkewMS = float64(st.Skew) / float64(time.Millisecond)
		r.Unacked = n.unacked(p)
		r.LagMS = n.lagMS(p)
		r.LagP50MS, r.LagP99MS, r.LagSamples = p.lag.ring.quantiles()
		out = append(out, r)
	}
	return out
}

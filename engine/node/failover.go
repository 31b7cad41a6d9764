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

// The partner side of the serving loop: one replicate.Link per failover
// relationship, and one replicate.Listener per distinct listen address of
// the secondaries among them. Link events become engine inputs on the loop
// goroutine; the engine's PeerMsgs become STATE and UPDREQ messages on the
// link once the Ready that produced them is durable.

// peer is one relationship's link as the loop sees it.
type peer struct {
	rel  int
	name string
	link *replicate.Link
	// Last state the endpoint asked us to advertise, for /v1/status.
	commOK bool
	up     bool // CONNECT exchange done, link not yet down
	// offline is the STATE last handed to the link while disconnected
	// (refreshLocalStates).
	offline engine.Action
	frame   []byte // scratch for outgoing frames (loop goroutine only)
	fm      wire.FailoverMsg
	repl    *replState
	bndRep  []engine.PeerBndReply // BNDREPLY entries gathered from one Ready
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
		p := &peer{rel: rel, name: r.Name, link: l, frame: make([]byte, 0, 4096), repl: newReplState(),
			loggedState: info.Stored.State}
		p.repl.lagHist = newLagHistogram(r.Name)
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

// onPeerEvent turns a link event into engine input (loop goroutine).
func (n *Node) onPeerEvent(pe peerEvent) {
	p := n.peerByRel(pe.rel)
	now := time.Now()
	in := engine.Input{Rel: pe.rel}
	switch pe.ev.Kind {
	case replicate.EventUp:
		p.up = true
		p.repl.out.SetWindow(int(pe.ev.Partner.MaxUnacked))
		in.Kind = engine.InputPeerUp
		n.log.Info("partner connected", zap.String("relationship", p.name),
			zap.Stringer("partner", pe.ev.Partner.Addr), zap.Duration("skew", pe.ev.Partner.Skew))
	case replicate.EventDown:
		p.commOK, p.up = false, false
		p.repl.out.Reset()
		in.Kind = engine.InputPeerDown
		if pe.ev.WasUp {
			n.log.Warn("partner connection lost", zap.String("relationship", p.name), zap.String("reason", pe.ev.Reason))
		}
	case replicate.EventMessage:
		m := &p.fm
		if err := m.Decode(pe.ev.Msg); err != nil {
			n.log.Warn("partner message dropped", zap.String("relationship", p.name), zap.Error(err))
			return
		}
		switch m.Type {
		case wire.State:
			p.commOK = true
			in.Kind = engine.InputPeerState
			in.State, in.Flags, in.Start = engine.State(m.ServerState), m.ServerFlags, wire.UnixTime(m.StartTimeOfState)
		case wire.UpdDone:
			in.Kind = engine.InputUpdDone
		default:
			n.onBindingMsg(p, m, pe.ev.Msg, now)
			return
		}
	default:
		return
	}
	if err := n.eng.Step(now, in); err != nil {
		n.log.Warn("partner input refused", zap.String("relationship", p.name), zap.Error(err))
	}
	// A STATE may open the way for the lazy updates queued meanwhile
	// (Engine.SendsUpdates) without any commit to pump them.
	n.pump(p, now)
}

// sendPeerMsgs performs the endpoints' requests; called after the Ready
// holding them is durable.
func (n *Node) sendPeerMsgs(msgs []engine.PeerMsg) {
	defer func() {
		for _, p := range n.peers {
			if len(p.bndRep) > 0 {
				n.sendBndReplies(p, p.bndRep)
				p.bndRep = p.bndRep[:0]
			}
		}
	}()
	for i := range msgs {
		m := &msgs[i]
		p := n.peerByRel(m.Rel)
		if p == nil {
			continue
		}
		switch m.Kind {
		case engine.ActSendBndReply:
			p.bndRep = append(p.bndRep, m.BndReply)
			if m.BndReply.SendUpdate {
				// Our record is newer than the partner's: send it right
				// after the BNDREPLY (once per lease, the engine decides).
				if b, ok := n.eng.Lookup(m.BndReply.Prefix); ok && replicate.Encodable(&b) {
					p.repl.out.Offer(n.stats.LastSeq.Load(), replicate.KeyOf(&b), time.Now().UnixNano())
				}
			}
		case engine.ActSendState:
			p.link.SetLocalState(uint8(m.State), m.Flags, m.Start)
		case engine.ActSendUpdReq, engine.ActSendUpdReqAll, engine.ActSendPoolReq:
			t := map[engine.ActionKind]wire.MsgType{engine.ActSendUpdReq: wire.UpdReq,
				engine.ActSendUpdReqAll: wire.UpdReqAll, engine.ActSendPoolReq: wire.PoolReq}[m.Kind]
			b, f := wire.BeginFrame(p.frame[:0], t, p.link.NextXID(), 0)
			p.frame = wire.EndFrame(b, f)
			if err := p.link.Send(p.frame); err != nil && !errors.Is(err, replicate.ErrNotConnected) {
				n.log.Warn("partner send", zap.String("relationship", p.name), zap.Stringer("type", t), zap.Error(err))
			}
		case engine.ActResendUnacked:
			n.resendUnacked(p)
		case engine.ActAlarm:
			n.log.Warn("failover alarm", zap.String("relationship", p.name), zap.Stringer("state", m.State))
			n.metrics.alarms.WithLabelValues(p.name, m.State.String()).Inc()
		}
	}
}

// refreshLocalStates keeps the STATE each disconnected link will open its
// next connection with equal to the endpoint's current state
// (engine.Endpoint.StateMessage): the endpoint announces no change while
// disconnected.
func (n *Node) refreshLocalStates() {
	for _, p := range n.peers {
		if p.up {
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
		r.LagP50MS, r.LagP99MS, r.LagSamples = p.repl.lag.quantiles()
		out = append(out, r)
	}
	return out
}

package bench

import (
	"encoding/binary"
	"net/netip"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// What the simulated clients put on the wire. Plain RFC 8415 client
// messages, so any server answers them:
//
//	SOLICIT  CLIENTID ELAPSED_TIME [IA_NA] [IA_PD[(IAPREFIX ::/hint)]]
//	REQUEST  CLIENTID SERVERID ELAPSED_TIME [IA_NA(IAADDR)] [IA_PD(IAPREFIX)]   (from the ADVERTISE)
//	RENEW    CLIENTID SERVERID ELAPSED_TIME [IA_NA(IAADDR)] [IA_PD(IAPREFIX)]   (the client's binding)
//	RELEASE  the same as RENEW
//	REBIND   CLIENTID ELAPSED_TIME [IA_NA(IAADDR)] [IA_PD(IAPREFIX)]            (the client's binding, any server)
//
// Relayed, each is wrapped in one RELAY-FORW (hop count 0, link-address
// --link, peer-address fe80::<client>) with an INTERFACE_ID, a REMOTE_ID
// (RFC 4649) and a SUBSCRIBER_ID (RFC 4580) when configured (the same for
// every client: a server's client classes can match them), and a RELAY_SOURCE_PORT (RFC 8357) because the generator's
// sockets are not on port 547: without it, Kea sends the RELAY-REPL to port
// 547 of the relay, where nobody listens. Direct, the client message goes
// to ff02::1:2 as it is.

// optRelayPort is OPTION_RELAY_PORT (RFC 8357 §5.2, IANA 135).
const optRelayPort uint16 = 135

// iaid is the one IAID every simulated client uses for its IA_NA and IA_PD.
const iaid = 1

// ask is what a client message asks for beyond the client's identity: the
// server (REQUEST, RENEW, RELEASE) and the leases to name in the IAs.
type ask struct {
	serverID []byte
	addr     netip.Addr   // IAADDR to name; invalid: none
	prefix   netip.Prefix // IAPREFIX to name; invalid: none
}

var noAsk ask

// builder encodes client messages for one run's settings.
type builder struct {
	relayed     bool
	link        netip.Addr
	interfaceID []byte
	remoteID    []byte // REMOTE_ID data: enterprise number, then the remote-id
	subscriber  []byte // SUBSCRIBER_ID data
	relayPort   bool   // add RELAY_SOURCE_PORT
	na, pd      bool   // IAs a SOLICIT asks for
	// pdHint, when valid (::/len), is the prefix-length hint a SOLICIT's
	// IA_PD carries as an IAPREFIX (RFC 8415 §18.2.1).
	pdHint netip.Prefix
}

// clientDUID is the DUID-LL (Ethernet) of client n: MAC 02:00 followed by n.
func clientDUID(n uint32) [10]byte {
	var d [10]byte
	d[1], d[3] = 3, 1
	d[4] = 0x02
	binary.BigEndian.PutUint32(d[6:], n)
	return d
}

// clientPeer is the link-local address a relay reports for client n.
func clientPeer(n uint32) netip.Addr {
	var p [16]byte
	p[0], p[1] = 0xfe, 0x80
	binary.BigEndian.PutUint32(p[12:], n)
	return netip.AddrFrom16(p)
}

// append encodes message t of client n into b. For a SOLICIT, a is empty
// and the IAs are the configured ones; otherwise the IAs are those a names.
func (bd *builder) append(b []byte, t wire.MsgType, xid [3]byte, n uint32, a *ask) []byte {
	if a == nil {
		a = &noAsk
	}
	var relayStart int
	if bd.relayed {
		b = wire.AppendRelayHeader(b, wire.RelayForw, 0, bd.link, clientPeer(n))
		if bd.interfaceID != nil {
			b = wire.AppendOption(b, wire.OptInterfaceID, bd.interfaceID)
		}
		if bd.remoteID != nil {
			b = wire.AppendOption(b, wire.OptRemoteID, bd.remoteID)
		}
		if bd.subscriber != nil {
			b = wire.AppendOption(b, wire.OptSubscriberID, bd.subscriber)
		}
		if bd.relayPort {
			// Downstream Source Port 0: there is no relay below us.
			b = wire.AppendUint16Option(b, optRelayPort, 0)
		}
		b, relayStart = wire.BeginOption(b, wire.OptRelayMsg)
	}
	b = wire.AppendHeader(b, t, xid)
	duid := clientDUID(n)
	b = wire.AppendOption(b, wire.OptClientID, duid[:])
	if t != wire.Solicit && t != wire.Rebind {
		b = wire.AppendOption(b, wire.OptServerID, a.serverID)
	}
	b = wire.AppendUint16Option(b, wire.OptElapsedTime, 0)
	na, pd := bd.na, bd.pd
	if t != wire.Solicit && t != wire.Request {
		na, pd = a.addr.IsValid(), a.prefix.IsValid()
	}
	if na {
		var s int
		b, s = wire.BeginIA(b, wire.OptIANA, iaid, 0, 0)
		if a.addr.IsValid() {
			b = wire.AppendIAAddr(b, a.addr, 0, 0)
		}
		b = wire.EndOption(b, s)
	}
	if pd {
		var s int
		b, s = wire.BeginIA(b, wire.OptIAPD, iaid, 0, 0)
		if a.prefix.IsValid() {
			b = wire.AppendIAPrefix(b, a.prefix, 0, 0)
		} else if t == wire.Solicit && bd.pdHint.IsValid() {
			b = wire.AppendIAPrefix(b, bd.pdHint, 0, 0)
		}
		b = wire.EndOption(b, s)
	}
	if bd.relayed {
		b = wire.EndOption(b, relayStart)
	}
	return b
}

// leaseOf returns the first address and the first prefix with a nonzero
// valid lifetime in m's IAs: what the client now holds, or was offered.
func leaseOf(m *wire.Message) (addr netip.Addr, prefix netip.Prefix) {
	for i := 0; i < m.NumIANA && !addr.IsValid(); i++ {
		ia := &m.IANA[i]
		for j := 0; j < ia.NumAddrs; j++ {
			if ia.Addrs[j].Valid != 0 {
				addr = ia.Addrs[j].Addr
				break
			}
		}
	}
	for i := 0; i < m.NumIAPD && !prefix.IsValid(); i++ {
		ia := &m.IAPD[i]
		for j := 0; j < ia.NumPrefixes; j++ {
			if ia.Prefixes[j].Valid != 0 {
				prefix = ia.Prefixes[j].Prefix
				break
			}
		}
	}
	return addr, prefix
}

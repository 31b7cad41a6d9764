package engine

import (
	"bytes"
	"net/netip"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Client classes and subscriber-line reservations: what an ISP keys its
// service on is the line a request arrives from (the relay's REMOTE_ID,
// INTERFACE_ID, SUBSCRIBER_ID), not the CPE's DUID, which changes when the
// CPE is replaced. Both are decided once per request, before any pool is
// looked at (client.go), and kept in e.cls and e.resv for the rest of it.

// classMask is a set of classes: bit i is Config.Classes[i].
type classMask uint64

// lineOpts are the relay options of a request, each from the innermost
// relay layer that carries it (RFC 8415 §19: the relay closest to the
// client knows the line).
type lineOpts struct {
	remoteID, interfaceID, subscriberID []byte
}

func lineOf(p *wire.Packet) lineOpts {
	var l lineOpts
	for i := p.NumRelays - 1; i >= 0; i-- {
		r := &p.Relays[i]
		if l.remoteID == nil {
			l.remoteID = r.RemoteID
		}
		if l.interfaceID == nil {
			l.interfaceID = r.InterfaceID
		}
		if l.subscriberID == nil {
			l.subscriberID = r.SubscriberID
		}
	}
	return l
}

// linkAddr is the address that places a request on a link for Match.Link:
// the innermost relay link-address that is set, or, for a client on a
// directly attached link, its subnet's prefix.
func (e *Engine) linkAddr(p *wire.Packet, sn int) netip.Addr {
	for i := p.NumRelays - 1; i >= 0; i-- {
		if la := p.Relays[i].LinkAddr; !la.IsUnspecified() && !la.IsLinkLocalUnicast() {
			return la
		}
	}
	if sn >= 0 {
		return e.subnets[sn].cfg.Prefix.Addr()
	}
	return netip.Addr{}
}

// classify returns the classes the request belongs to.
func (e *Engine) classify(in *Input, sn int, line *lineOpts) classMask {
	if len(e.cfg.Classes) == 0 {
		return 0
	}
	m := &in.Pkt.Msg
	link := e.linkAddr(in.Pkt, sn)
	var cls classMask
	for i := range e.cfg.Classes {
		x := &e.cfg.Classes[i].Match
		if prefixed(line.remoteID, x.RemoteID) && prefixed(line.interfaceID, x.InterfaceID) &&
			prefixed(line.subscriberID, x.SubscriberID) && prefixed(m.VendorClass, x.VendorClass) &&
			prefixed(m.UserClass, x.UserClass) && prefixed(m.ClientID, x.DUID) &&
			(!x.Link.IsValid() || link.IsValid() && x.Link.Contains(link)) {
			cls |= 1 << uint(i)
		}
	}
	return cls
}

// prefixed reports whether data starts with want; a nil want matches
// anything, an absent option (nil data) only that.
func prefixed(data, want []byte) bool {
	return want == nil || data != nil && bytes.HasPrefix(data, want)
}

// classesOf turns class names into a mask; names are checked by Validate.
func (c *Config) classesOf(names []string) classMask {
	var m classMask
	for _, n := range names {
		for i := range c.Classes {
			if c.Classes[i].Name == n {
				m |= 1 << uint(i)
			}
		}
	}
	return m
}

// allowed reports whether the request's classes may draw from a pool
// restricted to mask (0: everyone).
func (e *Engine) allowed(mask classMask) bool { return mask == 0 || mask&e.cls != 0 }

// reservationFor finds the request's reservation in subnet sn: by DUID
// first, then by the line's REMOTE_ID, INTERFACE_ID and SUBSCRIBER_ID.
func (s *subnet) reservationFor(duid []byte, line *lineOpts) *Reservation {
	if r := s.resDUID[string(duid)]; r != nil {
		return r
	}
	if line.remoteID != nil {
		if r := s.resRemote[string(line.remoteID)]; r != nil {
			return r
		}
	}
	if line.interfaceID != nil {
		if r := s.resIface[string(line.interfaceID)]; r != nil {
			return r
		}
	}
	if line.subscriberID != nil {
		if r := s.resSub[string(line.subscriberID)]; r != nil {
			return r
		}
	}
	return nil
}

// byLine reports whether a reservation names a subscriber line rather
// than a DUID: whoever asks from that line is its client, so a replaced
// CPE takes the resource over from the one it replaced (usable).
func (r *Reservation) byLine() bool { return r.DUID == nil }

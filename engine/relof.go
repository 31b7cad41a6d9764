package engine

import "net/netip"

// RelationshipOf returns the index of the failover relationship that
// serves a resource (an address as a /128, or a delegated prefix), or -1
// when its subnet is standalone or unknown. The serving loop uses it to
// pick the partner link a journaled change goes to.
func (e *Engine) RelationshipOf(k Kind, p netip.Prefix) int {
	sn := e.subnetOf(k, p)
	if sn < 0 {
		return -1
	}
	return e.subnets[sn].rel
}

package engine

import "github.com/tandemdhcp/tandem/netio/wire"

// Prefix-length hints (RFC 8415 §18.2.1, RFC 8168). A requesting router
// may put an IAPREFIX in its IA_PD naming only a length ("::/60"): the
// size of prefix it wants. The pd-pools a client may draw from are then
// tried in RFC 8168 §3's order: those delegating exactly that length,
// then shorter (larger) prefixes, closest first, then longer ones,
// closest first; ties keep the config's order. Without a hint the order
// is the config's. A client holding a binding keeps it whatever it hints.

// hintLen returns the prefix length an IA_PD asks for, 0 for none: the
// first IAPREFIX with a length, whether or not it names a prefix too.
func hintLen(ia *wire.IA) int {
	if ia == nil {
		return 0
	}
	for i := 0; i < ia.NumPrefixes; i++ {
		if n := ia.Prefixes[i].Prefix.Bits(); n > 0 {
			return n
		}
	}
	return 0
}

// pdOrder returns the indexes of subnet sn's pd-pools that the request's
// classes may draw from, in the order to try them for hint (0: none). The
// slice is the engine's scratch, valid until the next call.
func (e *Engine) pdOrder(sn int, hint int) []int {
	s := &e.subnets[sn]
	order := e.pdScratch[:0]
	for pi := range s.pdPools {
		if e.allowed(s.pdPools[pi].classes) {
			order = append(order, pi)
		}
	}
	if hint > 0 {
		// Insertion sort: a handful of pools, stable, no allocation.
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && hintRank(s.pdPools[order[j]].dlen, hint) < hintRank(s.pdPools[order[j-1]].dlen, hint); j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
	}
	e.pdScratch = order
	return order
}

// hintRank orders delegated lengths for a hint: exact first, then shorter
// by distance, then longer by distance.
func hintRank(dlen, hint int) int {
	switch {
	case dlen == hint:
		return 0
	case dlen < hint:
		return hint - dlen
	default:
		return 256 + dlen - hint
	}
}

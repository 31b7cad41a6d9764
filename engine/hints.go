package engine

import "github.com/tandemdhcp/tandem/netio/wire"

// The order pools are tried in, for a request: its classes' own pools
// first, and for prefixes its prefix-length hint (RFC 8415 §18.2.1, RFC
// 8168). A requesting router
// may put an IAPREFIX in its IA_PD naming only a length ("::/60"): the
// size of prefix it wants. The pd-pools a client may draw from are then
// tried in RFC 8168 §3's order: those delegating exactly that length,
// then shorter (larger) prefixes, closest first, then longer ones,
// closest first. A client holding a binding keeps it whatever it hints.

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

// poolOrder returns the indexes of subnet sn's pools of kind k that the
// request's classes may draw from, in the order to try them: for
// prefixes by hint (0: none, see above); then, at equal rank, the pools
// reserved to one of the client's classes before the open ones, so that
// a class's clients fill their own pools first and the open ones only
// once those are full; ties keep the config's order. The slice is the
// engine's scratch, valid until the next call.
func (e *Engine) poolOrder(sn int, k Kind, hint int) []int {
	s := &e.subnets[sn]
	order := e.poolScratch[:0]
	n := len(s.pools)
	if k == KindPD {
		n = len(s.pdPools)
	}
	classes := func(pi int) classMask {
		if k == KindPD {
			return s.pdPools[pi].classes
		}
		return s.pools[pi].classes
	}
	rank := func(pi int) int {
		r := 0
		if k == KindPD && hint > 0 {
			r = 2 * hintRank(s.pdPools[pi].dlen, hint)
		}
		if classes(pi) == 0 {
			r++ // open to everyone: after the class's own
		}
		return r
	}
	for pi := 0; pi < n; pi++ {
		if !e.allowed(classes(pi)) {
			continue
		}
		// Insertion sort: a handful of pools, stable, no allocation.
		order = append(order, pi)
		for j := len(order) - 1; j > 0 && rank(order[j]) < rank(order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	e.poolScratch = order
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

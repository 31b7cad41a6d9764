// Package replicate is the failover partner link of RFC 8156: TCP port 647
// with 2-byte length framing, CONNECT/CONNECTREPLY/STATE/CONTACT, and the
// lazy BNDUPD stream that tails the journal from the partner's acked cursor.
//
// It is not built yet: tandem currently runs standalone. The engine's lease
// records already carry RFC 8156 binding statuses and what a BNDUPD needs,
// so this package plugs in beside the serving loop without a new lease model.
package replicate

// Package node runs one tandem server: it owns the pure engine and connects
// it to the journal, the UDP sockets and (with failover) the partner link.
// It is to engine what etcd raft's Node is to RawNode: the impure wrapper —
// goroutines, sockets, the clock, the journal, logs and metrics — kept
// small so the rules stay in pure code: the lease rules in engine, the
// partner protocol in replicate.Stream. (The package lives under engine/
// for history; nothing in it is pure.)
//
// Data flow (ARCHITECTURE.md):
//
//	reader goroutines ── decoded batches ──▶ loop (owns the engine)
//	                                          │ Step each request
//	                                          │ Ready → journal.Append (one batch, Sync)
//	                                          │ replies sent only now: durable before visible
//	                                          ▼ Advance
//
// The loop drains every batch that is already waiting before it commits, so
// one fsync covers all of them (group commit); while it syncs, readers keep
// filling their other buffers. Nothing on this path allocates per packet:
// readers own fixed rings of datagram buffers and decoded packets, and the
// loop hands a batch back to its reader when the replies are sent.
//
// With failover the loop also owns, per relationship, one replicate.Link
// (the connection: framing, CONNECT, STATE, keepalives) and one
// replicate.Stream (the partner protocol: lazy BNDUPDs and their
// BNDREPLYs, UPDREQ/UPDREQALL/UPDDONE, POOLREQ/POOLRESP). failover.go wires
// them: link events go to the Stream, which steps the engine; a durable
// Ready's PeerMsgs go to the Stream, except STATE (the Link's) and alarms;
// then the Stream gets the Ready's events (replication.go), sends the
// BNDREPLYs owed and the BNDUPDs its window allows through the Link. The
// pair simulator (engine/enginetest) runs the same Stream.
//
// A server may be in several relationships, each with its own subnets (RFC
// 7031's m-to-1 model: one secondary backing several primaries): the
// secondaries among them share one replicate.Listener per distinct listen
// address, which hands each partner connection to the relationship whose
// peer address and RELATIONSHIP_NAME it carries. Every relationship keeps
// its own endpoint state, Stream and /v1/status entry, so losing one
// partner interrupts only that relationship.
package node

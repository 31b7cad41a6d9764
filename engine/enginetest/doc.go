// Package enginetest is a deterministic simulation of a tandem failover
// pair (ARCHITECTURE rule 6): two engines, a primary and a secondary of one
// RFC 8156 relationship, each with its own durable journal and lazy-update
// outbox, joined by a simulated partner link and driven by a seeded PRNG
// through a simulated clock — no goroutines, no sockets, no real time.
//
// The harness wires the engines exactly the way the serving loop does
// (engine/node): Ready events are appended to the journal before the
// Ready's replies and partner messages are released (durable before
// visible); STATE/UPDREQ/UPDDONE follow the endpoints' PeerMsgs; lease
// events are offered to a replicate.Outbox after their commit and leave as
// BNDUPDs built by replicate.AppendBndUpd, decoded on the far side with
// wire.FailoverMsg and replicate.ReceivedFromWire; BNDREPLYs go through
// replicate.AppendBndReply and ParseBndReply. Faults are partitions
// (messages in flight dropped, InputPeerDown on both sides, a re-connect
// exchanging STATE as replicate.Link does), crashes (in-memory state lost,
// also in the middle of a Ready before its commit; restart replays the
// journal with Apply), per-server clock skew, and an operator's
// partner-down while the partner really is stopped.
//
// A population of clients SOLICITs, REQUESTs, RENEWs, REBINDs and RELEASEs
// by multicast to both servers and remembers what each REPLY granted.
// After every step the ARCHITECTURE invariants are checked (Checker); a run
// ends by healing everything and checking that both servers reach NORMAL
// and agree on every ACTIVE lease.
//
// Run uses it; sim_test.go runs many seeds and replays one with
// -sim.seed=N.
package enginetest

// Package enginetest is a deterministic simulation of a tandem failover
// pair (ARCHITECTURE rule 6): two engines, a primary and a secondary of one
// RFC 8156 relationship, each with its own durable journal and lazy-update
// outbox, joined by a simulated partner link and driven by a seeded PRNG
// through a simulated clock — no goroutines, no sockets, no real time.
//
// The harness wires the engines exactly the way the serving loop does
// (engine/node), and runs the shipped partner protocol, replicate.Stream,
// itself — no copy of it: Ready events are appended to the journal before
// the Ready's replies and partner messages are released (durable before
// visible); each durable Ready's PeerMsgs and events go to the server's
// Stream (Act, Committed), whose frames travel through an in-memory
// replicate.Sender onto a delayed, in-order queue per direction and are
// handed to the partner's Stream (Receive). As the serving loop drains
// every partner message waiting before it commits, a random number of
// delivered messages share one Ready, so several BNDUPDs are answered per
// commit. The simulator plays only the Link's part: STATE at connect and
// on each ActSendState (as fields), Up and Down, the clock skew. The
// Stream sees the engine through a wrapper whose walks run in resource
// order (the engine walks maps), so a seed replays exactly; its Observe
// hook feeds the trace and the checker's "acked by the partner" marks.
// Faults are partitions (messages in flight dropped, Down on both sides, a
// re-connect exchanging STATE as replicate.Link does), crashes (in-memory
// state lost, also in the middle of a Ready before its commit; restart
// replays the journal with Apply and starts a fresh Stream), per-server
// clock skew, and an operator's partner-down while the partner really is
// stopped. Options.Faults plants bugs — in the harness, or in the Stream
// (replicate.StreamFaults) — for tests that prove the checks fail.
//
// A population of clients SOLICITs, REQUESTs, RENEWs, REBINDs and RELEASEs
// by multicast to both servers and remembers what each REPLY granted.
// After every step the ARCHITECTURE invariants are checked (Checker); a run
// ends by healing everything and checking that both servers reach NORMAL
// and agree on every ACTIVE lease.
//
// Run uses it; sim_test.go runs many seeds and replays one with
// -sim.seed=N.
//
// Open failures (issue 12; `go test ./engine/enginetest -run 'TestSim$'
// -sim.all -sim.seeds=2000`, 235 s here: 10 of 2000 seeds fail since
// clients also release right after a grant):
//
//   - 2-conflict, a delegated prefix ACTIVE for two clients while the
//     pair is apart (seeds 1293, 1404; seed 981 at an earlier commit): the
//     quick-release tie rule (engine endsKnownActive) never fires for
//     those prefixes, so the changed trajectory exposes an older fault in
//     prefix allocation across communications-interrupted / partner-down.
//   - converge, a quick RELEASE that one server still holds ACTIVE after
//     the pair settled (seeds 416, 458, 565, 1233, 1238): crossings the
//     tie rule does not cover (see endsKnownActive's comment).
//   - converge, not settled or a record on one side only after healing
//     (seeds 1336, 1804).
//
// Replay any with -sim.seed=N -sim.all; without -sim.all (make test) the
// run of 200 seeds is clean.
package enginetest

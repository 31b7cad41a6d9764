// Package engine is tandem's lease state and every rule about it: address
// and prefix allocation, lifetimes, RFC 8415 message handling, expiry, and
// (with failover) the RFC 8156 endpoint state machine.
//
// The engine is pure. It performs no I/O, never reads a clock, starts no
// goroutines and uses no randomness: time arrives with every input, and the
// same sequence of inputs always yields the same outputs. It is driven the
// way etcd raft's RawNode is:
//
//	e.Step(now, in)   // decide: turn an input into events and outputs
//	rd := e.Ready()   // Events → journal; Replies → network, PeerMsgs → partner link (after the events are durable)
//	e.Advance(rd)     // the caller has taken rd; its buffers may be reused
//
// Decide, then apply: Step never mutates lease state directly. It builds
// Events and passes each to Apply, which is the only mutation. Replaying a
// journal calls Apply alone and rebuilds exactly the state that was live;
// Digest summarises that state so tests and operators can compare.
//
// Durable before visible: Ready.Replies and Ready.PeerMsgs must not be sent
// before every event in the same Ready (and all earlier ones) is synced to
// the journal.
//
// Failover (RFC 8156) is per relationship (Config.Relationships): the engine
// owns one Endpoint each, journals its stored state as EventEndpoint, and
// lets its state gate and cap what the relationship's subnets answer
// (failover.go). A config without relationships is a standalone server.
//
// Lease states are RFC 8156 binding statuses (ACTIVE, EXPIRED, RELEASED,
// FREE, ABANDONED, …) and lease records carry what a BNDUPD needs (start time
// of state, CLTT, lifetimes sent, IAID, DUID), so failover plugs in without
// a new lease model.
//
// An Engine is not safe for concurrent use: one goroutine owns it.
package engine

// Package replicate is the failover partner link of RFC 8156: TCP port 647
// (optionally mutual TLS), 2-byte length framing, the CONNECT exchange,
// STATE, CONTACT keepalives and DISCONNECT. It hands every other message to
// the serving loop and sends what the serving loop gives it; it never
// touches engine state.
//
// # Connection sequence
//
//	primary (dials, backs off)                secondary (listens, checks peer address)
//	  ── TCP connect ─────────────────────────▶  address not allowed → close, counted
//	  ── TLS handshake (optional) ────────────▶  no verified client cert → close, counted
//	  ── CONNECT version, MCLT, keepalive, ───▶  name, version, skew > 5 s, flags checked
//	     max-unacked, flags, name                (refused only for what we cannot process);
//	                                             refusal: CONNECTREPLY(status), close
//	  ◀── CONNECTREPLY (MCLT echoed) + STATE ──  adopts the primary's MCLT
//	  version, MCLT, flags checked; mismatch:
//	  DISCONNECT(status), close
//	  ── STATE ───────────────────────────────▶
//	  ◀─────── Up event on both sides: messages flow both ways ────────▶
//	  CONTACT after partner-keepalive/4 with nothing sent; down after keepalive with nothing received
//	  ── DISCONNECT(ServerShuttingDown) on Close ─▶ partner reports Down with that status
//
// Frames are a 2-byte length (not counting itself), the 8-byte failover
// header (type, xid, sent-time) and options; wire.FailoverMsg decodes them
// and wire's builders beside it (wire.AppendConnect, AppendConnectReply,
// AppendConnectRefusal, AppendState, AppendContact, AppendDisconnect) build
// the link's own. FrameReader and FrameWriter move
// them over a stream without allocating per frame.
//
// # Several relationships on one socket (m-to-1)
//
// A secondary in several relationships — RFC 7031's m-to-1 model, one
// standby for several primaries — listens for all of them on one port
// 647. A Listener (Listen, NewListener) is that socket; each secondary's
// Config.Shared names it. A connection is admitted only from an address
// that is some registered relationship's partner, TLS is set up with that
// relationship's configuration, and the CONNECT's RELATIONSHIP_NAME picks
// the relationship among those with that partner address, so a primary can
// never reach another primary's relationship by naming it: the refusal is
// CONNECTREPLY(ConfigurationConflict). A secondary without Shared gets a
// Listener of its own.
//
//	primaries            Listener on [::]:647              secondary links
//	A ─ CONNECT "a" ──▶  from A's address?  name "a"? ──▶  Link "a"
//	B ─ CONNECT "b" ──▶  from B's address?  name "b"? ──▶  Link "b"
//	B ─ CONNECT "a" ──▶  refused: ConfigurationConflict (counted on "b")
//
// # Interface to the serving loop
//
// Start returns a Link. Events delivers Up (with the partner's parameters),
// Message (each STATE, BNDUPD, BNDREPLY, UPDREQ, UPDREQALL, UPDDONE,
// POOLREQ and POOLRESP, copied out of the frame reader into a pooled
// buffer — github.com/valyala/bytebufferpool — that Event.Release hands
// back; with the averaged clock skew) and Down (with the reason and
// status). Send queues a framed message without blocking (bounded, fails
// when full or down); SetLocalState sets what STATE says. Stats exposes
// counters and the averaged clock skew. Pipe is an in-memory transport for
// tests and simulations.
//
// The partner protocol past the CONNECT exchange is a Stream per
// relationship (stream.go, stream_recv.go): pure — no goroutines, no clock,
// no I/O — it takes link events, received messages and the engine's
// PeerMsgs and durable events as inputs, and acts through two narrow
// interfaces, a Sender (Link) and a StreamEngine (*engine.Engine). The
// serving loop (engine/node) only wires a Link to a Stream; the pair
// simulator (engine/enginetest) drives the same Stream through an
// in-memory Sender. The Link keeps STATE, CONTACT, CONNECT and DISCONNECT
// to itself.
//
// Every failover message is built beside its decoder (wire.FailoverMsg):
// the link's own (CONNECT, CONNECTREPLY, STATE, CONTACT, DISCONNECT) in
// netio/wire/failover_handshake.go, the update and pool exchanges' in
// netio/wire/failover_updates.go, each with a round-trip test; BNDUPD and
// BNDREPLY, which carry engine records, here in binding_codec.go, beside
// their decoders ReceivedFromWire and ParseBndReply. Nothing else frames a
// failover message.
//
// # Lazy updates
//
// binding_codec.go translates between engine records and BNDUPD/BNDREPLY
// messages; outbox.go is the sender's bookkeeping: journal changes are
// offered under their sequence numbers, changes to one lease coalesce, at
// most the partner's MAX_UNACKED_BNDUPD are in flight, and Cursor is the
// position the partner has durably seen. The Stream owns its
// relationship's Outbox: Committed offers each durable commit's lease
// changes (not the records taken from the partner) and sends BNDUPDs of
// the records as they are now, within the window; a BNDREPLY acks or naks
// them. A received BNDUPD is decoded once into a kept message (its pooled
// buffer held, not copied) and stepped into the engine lease by lease; its
// BNDREPLY is built from that message once the Ready holding the engine's
// decisions is durable, several BNDUPDs per Ready, in arrival order. An
// UPDREQ queues what the engine has unacked (ForEachUnacked), an UPDREQALL
// every record of the relationship, and UPDDONE follows once the Outbox is
// idle; entering NORMAL queues the unacked records again (§8.8). The
// link's writer batches many frames per write.
//
// A restart resumes from the engine's unacked records, not from a cursor
// (nothing persists Cursor): a restarted Stream starts empty and resends
// what the engine has unacked when the engine asks (ActResendUnacked on
// entering NORMAL) or the partner does (UPDREQ), at a cost that is the
// number of unacked records, not the lease table's (the engine keeps them
// indexed). Still to do: BNDUPDs are encoded into the Stream's scratch
// buffer and copied by Link.Send rather than encoded straight into the
// writer's buffer.
package replicate

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
//	  ── CONNECT version, MCLT, keepalive, ───▶  name, version, skew > 5 s, flags checked;
//	     max-unacked, flags, name                refusal: CONNECTREPLY(status), close
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
// and wire.BeginFrame/EndFrame build them. FrameReader and FrameWriter move
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
// Message (a copy of each STATE, BNDUPD, BNDREPLY, UPDREQ, UPDREQALL,
// UPDDONE, POOLREQ and POOLRESP) and Down (with the reason and status). Send
// queues a framed message without blocking (bounded, fails when full or
// down); SetLocalState sets what STATE says. Stats exposes counters and the
// averaged clock skew. Pipe is an in-memory transport for tests and
// simulations.
//
// # Lazy updates
//
// bndupd.go translates between engine records and BNDUPD/BNDREPLY
// messages; outbox.go is the sender's bookkeeping: journal changes are
// offered under their sequence numbers, changes to one lease coalesce, at
// most the partner's MAX_UNACKED_BNDUPD are in flight, and Cursor is the
// position the partner has durably seen. The serving loop (engine/node)
// owns an Outbox per relationship, offers each durable commit's lease
// changes, and sends BNDUPDs through Link.Send; the link's writer batches
// many frames per write. A restart resumes from the engine's unacked
// records, not from a cursor (nothing persists Cursor): the loop offers
// engine.ForEachUnacked's records to a fresh Outbox on entering NORMAL and
// for an UPDREQ, at a cost that is the number of unacked records, not the
// lease table's (the engine keeps them indexed). Still to do: encoding
// BNDUPDs straight into the writer's buffer.
package replicate

// Package journal is tandem's durable, append-only event log: every decided
// change to lease state (an engine.Event) is written here, synced, and only
// then made visible to clients or the partner. Replaying the log through
// engine.Apply rebuilds exactly the state that was live; snapshots bound how
// much has to be replayed.
//
// The log is a Pebble store. One writer (the serving loop) appends batches
// of events, each batch one Pebble batch committed with Sync, so a busy
// server pays one fsync per batch (group commit). Offline tools open the
// store read-only and never write to it.
//
// # Keys
//
// Every key starts with a one-byte tag; numbers are big-endian so that
// Pebble's bytewise order is numeric order.
//
//	 tag  rest                          value
//	+----+------------------------------+----------------------------------+
//	|'c' | seq (8) | chunk (4)          | snapshot chunk (below)           |
//	|'d' | DUID len (2) | DUID | seq (8) | empty: audit index by client     |
//	|'e' | seq (8)                      | event (below)                    |
//	|'h' | seq (8)                      | snapshot header (below)          |
//	|'i' | kind (1) | address (16) |    | zv event time: audit index by    |
//	|    | prefix len (1) | seq (8)     | resource                         |
//	|'m' | "format"                     | uvarint store format version (1) |
//	|'m' | "index"                      | uvarint 1: the index is complete |
//	|'m' | "last"                       | seq (8): the last seq appended   |
//	|'m' | "retain"                     | first retained seq (8) | zv      |
//	|    |                              | horizon | zv time of the last    |
//	|    |                              | removed event (retention.go)     |
//	+----+------------------------------+----------------------------------+
//
// Sequence numbers start at 1 and have no gaps; 0 means "before any event".
// "m"+"last" is rewritten in the same batch as the events it covers, so a
// store whose newest event is older than it lost its tail, and Open says so.
// A snapshot "after seq S" is the complete lease state once events 1..S are
// applied: its chunks are written first (without sync), then its header
// with Sync, so a snapshot without a header is incomplete and ignored.
// Older snapshots are deleted once a newer header is durable, except the
// retention base. Events are kept (they are the audit history) until
// retention (retention.go) removes those older than a horizon: then
// "m"+"retain" names the first retained seq F, the snapshot after F-1 (the
// retention base) holds the state the removed events built, and the log
// legitimately starts at F; a store without the record starts at 1.
//
// # Audit index
//
// For every lease or free event Append writes, in the same batch as the
// event, an 'i' key naming the resource (binding kind 1 na / 2 pd, the
// address or prefix, its length) and a 'd' key naming the client's DUID
// (when non-empty), each ending in the event's seq. So "every event that
// touched R" is a prefix scan of 'i'+R in sequence order, and "who held R at
// time T" reads R's keys backwards from the newest until one whose value
// (the event's time) is at or before T, then reads that one event. The DUID
// length comes first so that one DUID's keys are never a prefix of
// another's. Endpoint events are not indexed.
//
// The index came after store format 1 and needs no new one: older builds
// never read 'd' or 'i' keys. "m"+"index" is written when a store is
// created (and by Reindex, which builds the index of an older store from
// its events); a store without it, one written before the index existed,
// opens as before and its audit queries scan every event instead (same
// answers, slower) until `tandem journal reindex` is run on it.
//
// # Event value (versions 1 and 2)
//
//	 0         1          2         3
//	+---------+----------+---------+--------------------+------------------+
//	| ver     |  kind    |  cause  | time (zigzag var)  | body (base =     |
//	| 1 or 2  | 1 lease  | engine. | Unix seconds       | time)            |
//	|         | 2 free   | Cause   |                    |                  |
//	|         | 3 endpt  |         |                    |                  |
//	+---------+----------+---------+--------------------+------------------+
//
// The body of a lease or free event is a binding in the layout of the value
// version (below); of an endpoint event (version 2 only), an endpoint
// record. AppendEvent writes version 2; DecodeEvent reads both (a version 1
// binding decodes with zero failover times).
//
// # Binding (shared by events and snapshot chunks)
//
//	+------+--------+-------+------+-------------+-----------------+------------+
//	| kind | status | flags | bits | prefix (16) | uv DUID len,    | uv IAID    |
//	| 1 na | 1..8   | bit0: | 0..  | address     | DUID bytes      |            |
//	| 2 pd |        | link  | 128  |             |                 |            |
//	+------+--------+-------+------+-------------+-----------------+------------+
//	| zv CLTT-base | zv StartOfState-CLTT | uv Preferred | uv Valid |
//	+--------------+----------------------+--------------+----------+
//	| zv Expires-(CLTT+Valid) | link (16), if flags bit 0 | uv RemoteID len, bytes |
//	+-------------------------+---------------------------+------------------------+
//
// Version 2 appends the RFC 8156 failover times (engine.FOTimes):
//
//	+----------+----------------------------------------------+
//	| fo flags | zv (time − Expires) for each time bit set,   |
//	|          | in bit order                                 |
//	+----------+----------------------------------------------+
//
//	fo flags: bit0 ExpirationTime, bit1 AckedPartnerLifetime,
//	          bit2 PartnerLifetime, bit3 PartnerRawCLTT,
//	          bit4 StateExpiration (a set bit: the time is non-zero),
//	          bit5 PartnerNeedsUpdate (no value); bits 6-7 must be 0
//
// so a lease of a standalone subnet costs one byte more than in version 1,
// and a failover lease a few bytes per time (they cluster around Expires).
//
// uv is an unsigned varint (encoding/binary), zv a zigzag varint. Times are
// stored as differences because they cluster: CLTT is usually the event's
// own time, StartOfState usually CLTT, and Expires usually CLTT+Valid, so an
// address lease event with a 14-byte DUID-LLT and a relay link-address is
// 68 bytes (a test holds it to that). Differences wrap modulo 2^64, so every int64 round
// trips. In events base is the event time; in snapshot chunks base is 0.
// Addresses are IPv6, 16 bytes (the encoder refuses IPv4 and zones).
//
// # Endpoint record (version 2 events and snapshot headers)
//
// A failover endpoint's stable-storage image (engine.EndpointRecord):
//
//	+-----------------+-------+----------+---------+-------+---------------------------+
//	| uv name len,    | state | previous | partner | flags | zv (time − base) for each |
//	| name (non-empty)| 0..10 | 0..10    | 0..10   |       | time bit set, in bit order|
//	+-----------------+-------+----------+---------+-------+---------------------------+
//
//	flags: bit0 Communicated; times (set: non-zero): bit1 StartTime,
//	       bit2 PartnerStart, bit3 LastPartnerMsg, bit4 PartnerDownTime,
//	       bit5 LastOperated; bits 6-7 must be 0
//
// # Snapshot values (versions 1 and 2)
//
//	header v1:  ver = 1 | uv record count | uv chunk count | digest (8, big-endian)
//	header v2:  ver = 2 | uv record count | uv chunk count | digest (8, big-endian) |
//	            uv endpoint count | endpoint record (base 0) ...
//	chunk:      ver (the header's) | record count (4, big-endian) | binding ...
//
// Chunk bindings use the layout of their version. Snapshot writes version
// 2. The digest is engine.Digest of the state, endpoint records included
// (they are applied first), so a restore checks itself.
//
// The tags, the version numbers and the layouts above are part of the
// format and must not change. A new layout gets a new value version (the
// decoder refuses versions it does not know) or, for the key layout, a new
// store format version (Open refuses it).
//
// # Strictness
//
// The decoder rejects unknown versions, event kinds, binding kinds and
// statuses, lengths that overrun, and trailing bytes; the encoder refuses
// any event the decoder would reject, so the journal never accepts what it
// could not replay. Byte-level integrity of the store is Pebble's (checksums
// on WAL records and sstable blocks); the checks here catch gaps, a lost
// tail and values that are not events.
package journal

package replicate

import (
	"net/netip"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// Key names a leased resource the way the engine keys its records: the
// kind and the prefix (an address as a /128).
type Key struct {
	Kind   engine.Kind
	Prefix netip.Prefix
}

// KeyOf is the Key of a record.
func KeyOf(b *engine.Binding) Key { return Key{b.Kind, b.Prefix} }

// Verdict is what Outbox.Next's callback did with the change it was given.
type Verdict uint8

const (
	// Sent: a BNDUPD went out under the returned xid; the change is
	// outstanding until Ack or Nak.
	Sent Verdict = iota
	// Skipped: the change needs no BNDUPD after all (the record cannot be
	// expressed, or its subnet has no partner); it counts as done.
	Skipped
	// Stop: no room to send now; the change stays pending, first in line.
	Stop
)

// Outbox is the sending side of the lazy BNDUPD stream (ARCHITECTURE rule
// 4, RFC 8156 §6.3 and §10's flow control): which lease changes the partner
// still has to hear of, which are in flight, and how far the journal is
// covered by the partner's acks.
//
// Design. Journal entries that change a lease are Offered in journal order
// with their sequence number. A change waits as pending, keyed by resource:
// a later change to the same resource before it is sent replaces it, so a
// lease renewed three times while the link is busy costs one BNDUPD (of the
// newest record), but keeps the first change's place in line and its
// floor — the oldest seq it stands for. Next hands pending changes to the
// caller in floor order, within the partner's MAX_UNACKED_BNDUPD window,
// and remembers each one sent by xid. Ack and Nak settle them.
//
// Cursor is the watermark the partner has durably seen: every change at or
// below it is acked, or was replaced by a change that is acked. It is the
// smallest open floor − 1 (open: pending or in flight), or, with nothing
// open, the highest seq offered; it never goes backwards. Nothing persists
// it: an Outbox lives in memory, and what survives a restart is the
// engine's own record of what the partner has not acked (each lease's
// PartnerLifetime, partner-needs-update flag and owed status, journaled
// with the lease). After a restart the serving loop starts a fresh Outbox
// and, when the endpoint enters NORMAL or the partner sends UPDREQ, offers
// those records (engine.ForEachUnacked, whose cost is the number of
// unacked records, not the lease table's) at the journal's last seq; after
// a reconnect Reset puts everything in flight back in line as well.
//
// Using it from the serving loop (the goroutine that owns the journal
// writer's durable watermark and the link's events):
//
//   - After each journal commit is durable, for each event in it (seq in
//     order) whose record belongs to a failover relationship's subnet:
//     EventLease and EventFree decided from a client (solicit, request,
//     renew, rebind, release, decline), expiry, reclaim, reassign or an
//     operator → Offer(seq, KeyOf(&ev.Binding), now). Not the events
//     that record a partner's BNDUPD or BNDREPLY (CauseFailover): the
//     partner already has that record, and offering the ack bookkeeping
//     would ping-pong forever. Everything else → Advance(seq).
//   - Whenever the link is up and something was offered, acked or
//     reset: Next(room, fn), where fn reads the record at seq from the
//     journal, encodes it with AppendBndUpd under Link.NextXID() and
//     sends it (or returns Skipped when Encodable says no, Stop when the
//     send queue is full).
//   - A BNDREPLY (EventMessage): decode, ParseBndReply; every lease
//     accepted → Ack(xid) and FOTimes.Acked(partnerLifetimeSent) in the
//     engine; any rejection → Nak(xid, status) and hand the engine the
//     status: Outdated means the partner holds newer data (it will send
//     it), AddressInUse a conflict, ConfigurationConflict or
//     MissingBindingInformation a misconfiguration or a bug to log. A
//     nakked change is not resent.
//   - EventDown → Reset(). EventUp → SetWindow(partner's max-unacked).
//   - UPDREQ from the partner: Offer every record engine.ForEachUnacked
//     lists, then send UPDDONE once the Outbox is Idle.
//
// Memory is bounded by the number of distinct resources pending (one map
// entry and one queue slot each) plus the window; both are reused, so the
// steady offer/send/ack cycle allocates nothing. An Outbox is not safe for
// concurrent use and performs no I/O; times are inputs, as in the engine.
type Outbox struct {
	window int
	high   uint64 // highest seq offered or passed (Advance)
	cur    uint64 // last Cursor computed; Cursor never returns less

	pending map[Key]pend
	queue   []qent // pending changes in floor order, from qhead
	qhead   int

	out     []oent // in flight, in send order (so floor order), from ohead
	ohead   int
	unacked int // entries of out[ohead:] not yet settled

	spare   []qent           // Reset's merge buffer
	settled map[Key]struct{} // Reset's scratch set

	stats OutboxStats
}

type pend struct {
	seq   uint64 // newest change: the journal entry whose record to send
	floor uint64 // oldest change it stands for
	at    int64  // when the floor change was offered (Lag)
	mark  bool   // Reset's merge: already queued
}

type qent struct {
	key   Key
	floor uint64
}

type oent struct {
	xid   uint32
	key   Key
	seq   uint64
	floor uint64
	at    int64
	done  bool
}

// OutboxStats are counters over an Outbox's life.
type OutboxStats struct {
	Offered   uint64 // Offer calls taken
	Coalesced uint64 // of those, replacing a change still pending
	Sent      uint64 // BNDUPDs Next reported sent
	Skipped   uint64 // changes Next's callback skipped
	Acked     uint64
	Nakked    uint64
	Resent    uint64 // in-flight changes put back in line by Reset

	// Of the naks: the partner holds newer data, or the resource for
	// another client (conflicts worth a metric of their own).
	NakOutdated, NakAddressInUse uint64
}

// Change is one BNDUPD the outbox had in flight, as Ack and Nak report it.
type Change struct {
	Seq uint64 // the journal entry whose record was sent
	Key Key
	// At is the now given to Offer for the oldest change the BNDUPD stood
	// for (in the caller's unit): Ack's caller measures replication lag
	// from it.
	At int64
}

// NewOutbox returns an Outbox for a partner whose MAX_UNACKED_BNDUPD is
// window (at least 1 is used). sizeHint pre-sizes the pending set, e.g. to
// the number of leases in the relationship's pools.
func NewOutbox(window, sizeHint int) *Outbox {
	o := &Outbox{pending: make(map[Key]pend, sizeHint), settled: make(map[Key]struct{})}
	o.SetWindow(window)
	return o
}

// SetWindow changes the window, as a new CONNECT exchange may. Changes
// already in flight stay in flight; a smaller window only holds back new
// sends until enough are settled.
func (o *Outbox) SetWindow(window int) { o.window = max(window, 1) }

// Window is the current window.
func (o *Outbox) Window() int { return o.window }

// Offer records that journal entry seq changed the lease k at time now.
// Offers come in journal order: seq at or above every seq offered before.
// An Offer below that is a resend of an older record (the periodic
// needs-update scan, an UPDREQALL snapshot): it is queued like a change
// but stands at the current position, since the cursor has already
// covered it (until settled it holds the cursor where it is). Offering a resource already pending replaces the record to
// send and keeps its place in line. now is in whatever unit the caller
// keeps (the serving loop: Unix nanoseconds); Lag and Change.At use it.
func (o *Outbox) Offer(seq uint64, k Key, now int64) {
	floor := max(seq, o.high)
	o.high = floor
	o.stats.Offered++
	if p, ok := o.pending[k]; ok {
		p.seq = max(p.seq, seq)
		o.pending[k] = p
		o.stats.Coalesced++
		return
	}
	o.pending[k] = pend{seq: seq, floor: floor, at: now}
	o.queue = append(o.queue, qent{k, floor})
}

// Advance records that the journal up to seq has been looked at: entries
// that were not offered need no BNDUPD (they changed no replicated lease),
// so the cursor may pass them.
func (o *Outbox) Advance(seq uint64) { o.high = max(o.high, seq) }

// Next offers pending changes, oldest first, to fn until fn returns Stop,
// limit changes have been sent, the window is full, or nothing is pending;
// it returns how many were sent. fn gets the seq of the newest record for
// the resource (the serving loop sends the engine's current record of it,
// which is at least as new and durable: offers follow the commit)
// and sends one BNDUPD for it, returning its xid and Sent, or Skipped, or
// Stop.
func (o *Outbox) Next(limit int, fn func(seq uint64, k Key) (xid uint32, v Verdict)) int {
	n := 0
	for n < limit && o.unacked < o.window && o.qhead < len(o.queue) {
		q := o.queue[o.qhead]
		p := o.pending[q.key]
		xid, v := fn(p.seq, q.key)
		if v == Stop {
			break
		}
		o.qhead++
		delete(o.pending, q.key)
		if v == Skipped {
			o.stats.Skipped++
			if o.unacked > 0 {
				// Kept, settled, so that Reset knows an older change
				// of this resource still in flight is superseded.
				o.out = append(o.out, oent{key: q.key, seq: p.seq, floor: p.floor, done: true})
				o.compactOut()
			}
			continue
		}
		o.out = append(o.out, oent{xid: xid, key: q.key, seq: p.seq, floor: p.floor, at: p.at})
		o.unacked++
		o.stats.Sent++
		n++
	}
	o.trimQueue()
	return n
}

// trimQueue reclaims the queue's consumed front so its storage is reused.
func (o *Outbox) trimQueue() {
	switch {
	case o.qhead == len(o.queue):
		o.queue, o.qhead = o.queue[:0], 0
	case o.qhead > 64 && o.qhead > len(o.queue)/2:
		o.queue = o.queue[:copy(o.queue, o.queue[o.qhead:])]
		o.qhead = 0
	}
}

// settle marks the in-flight BNDUPD xid done.
func (o *Outbox) settle(xid uint32) (Change, bool) {
	for i := o.ohead; i < len(o.out); i++ {
		e := &o.out[i]
		if e.xid != xid || e.done {
			continue
		}
		e.done = true
		o.unacked--
		s := Change{e.seq, e.key, e.at}
		o.compactOut()
		return s, true
	}
	return Change{}, false
}

// compactOut drops settled entries from the front of out and, when
// something early is never settled while later ones are, from the middle,
// so memory stays bounded by the window. Only the newest settled entry
// per resource matters to Reset, and a dropped one makes Reset resend an
// older record the partner will reject as outdated: harmless.
func (o *Outbox) compactOut() {
	for o.ohead < len(o.out) && o.out[o.ohead].done {
		o.ohead++
	}
	switch {
	case o.ohead == len(o.out):
		o.out, o.ohead = o.out[:0], 0
	case len(o.out)-o.ohead > 2*o.window+64:
		w := 0
		for _, e := range o.out[o.ohead:] {
			if !e.done {
				o.out[w] = e
				w++
			}
		}
		o.out, o.ohead = o.out[:w], 0
	}
}

// Ack settles the BNDUPD sent as xid, accepted by the partner. ok is false
// for an xid not in flight (a duplicate, or one sent before a Reset).
func (o *Outbox) Ack(xid uint32) (s Change, ok bool) {
	s, ok = o.settle(xid)
	if ok {
		o.stats.Acked++
	}
	return s, ok
}

// Nak settles the BNDUPD sent as xid, rejected by the partner with status.
// For the cursor a rejection is as final as an ack: the partner has seen
// the change and decided. It is not resent; what the rejection means for
// the lease is the engine's to record (see Outbox).
func (o *Outbox) Nak(xid uint32, status uint16) (s Change, ok bool) {
	s, ok = o.settle(xid)
	if ok {
		o.stats.Nakked++
		switch status {
		case wire.StatusOutdatedBindingInfo:
			o.stats.NakOutdated++
		case wire.StatusAddressInUse:
			o.stats.NakAddressInUse++
		}
	}
	return s, ok
}

// Reset puts every change in flight back in line, as when the link goes
// down: no BNDREPLY will come for them on this connection, and the partner
// may not have them. A resource with a newer change pending merges into
// one pending change again (newest record, oldest floor).
func (o *Outbox) Reset() {
	open := o.out[o.ohead:]
	if o.unacked == 0 {
		o.out, o.ohead = o.out[:0], 0
		return
	}
	// A change in flight behind a later send of the same resource that is
	// already settled is superseded: resending it would put an older
	// record after a newer one the partner holds. (The link delivers
	// replies in order, so this is for robustness, not the common path.)
	clear(o.settled)
	for i := len(open) - 1; i >= 0; i-- {
		e := &open[i]
		if e.done {
			o.settled[e.key] = struct{}{}
		} else if _, ok := o.settled[e.key]; ok {
			e.done = true
		}
	}
	for _, e := range open {
		if e.done {
			continue
		}
		p, ok := o.pending[e.key]
		if ok {
			p.seq = max(p.seq, e.seq)
			if e.floor < p.floor {
				p.floor, p.at = e.floor, e.at
			}
		} else {
			p = pend{seq: e.seq, floor: e.floor, at: e.at}
		}
		o.pending[e.key] = p
		o.stats.Resent++
	}
	// Merge the two floor-ordered lists, keeping each resource once: at
	// the floor its pending entry now has.
	m := o.spare[:0]
	q := o.queue[o.qhead:]
	i, j := 0, 0
	keep := func(k Key, floor uint64) {
		if p, ok := o.pending[k]; ok && p.floor == floor && !p.mark {
			m = append(m, qent{k, floor})
			p.mark = true
			o.pending[k] = p
		}
	}
	for i < len(open) || j < len(q) {
		if j == len(q) || i < len(open) && open[i].floor <= q[j].floor {
			if !open[i].done {
				keep(open[i].key, open[i].floor)
			}
			i++
		} else {
			keep(q[j].key, q[j].floor)
			j++
		}
	}
	for _, e := range m {
		p := o.pending[e.key]
		p.mark = false
		o.pending[e.key] = p
	}
	o.spare = o.queue[:0]
	o.queue, o.qhead = m, 0
	o.out, o.ohead, o.unacked = o.out[:0], 0, 0
}

// Cursor is the highest seq such that every change at or below it has been
// acked (or nakked), or replaced by a change that has. It never decreases.
func (o *Outbox) Cursor() uint64 {
	c := o.high
	if f, ok := o.oldest(); ok {
		c = f.floor - 1
	}
	o.cur = max(o.cur, c)
	return o.cur
}

// oldest is the open change with the lowest floor.
func (o *Outbox) oldest() (pend, bool) {
	var best pend
	found := false
	if o.qhead < len(o.queue) {
		best, found = o.pending[o.queue[o.qhead].key], true
	}
	for i := o.ohead; i < len(o.out); i++ {
		if e := &o.out[i]; !e.done {
			if !found || e.floor < best.floor {
				best, found = pend{seq: e.seq, floor: e.floor, at: e.at}, true
			}
			break
		}
	}
	return best, found
}

// Unacked is how many BNDUPDs are in flight.
func (o *Outbox) Unacked() int { return o.unacked }

// Pending is how many resources wait to be sent.
func (o *Outbox) Pending() int { return len(o.queue) - o.qhead }

// Idle reports whether nothing is pending or in flight: the partner has
// acked everything offered (an UPDDONE may go out).
func (o *Outbox) Idle() bool { return o.Pending() == 0 && o.unacked == 0 }

// Lag is how long the oldest change the partner has not acked has waited
// (0 when none): a replication-delay gauge, and the measure by which a
// NORMAL server may decide acks have stopped (RFC 8156 §10).
func (o *Outbox) Lag(now int64) int64 {
	if f, ok := o.oldest(); ok {
		return max(now-f.at, 0)
	}
	return 0
}

// Stats returns the counters.
func (o *Outbox) Stats() OutboxStats { return o.stats }

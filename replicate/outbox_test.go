package replicate

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
)

func testKey(i int) Key {
	a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
	return Key{engine.KindNA, netip.PrefixFrom(a, 128)}
}

// sentRec is one BNDUPD a test's Next callback sent.
type sentRec struct {
	xid uint32
	seq uint64
	key Key
}

// sendAll drains o with xids from *xid, returning what was sent.
func sendAll(o *Outbox, xid *uint32, limit int) []sentRec {
	var out []sentRec
	o.Next(limit, func(seq uint64, k Key) (uint32, Verdict) {
		*xid++
		out = append(out, sentRec{*xid, seq, k})
		return *xid, Sent
	})
	return out
}

// TestOutboxCoalesce: three changes to one lease before it is sent are one
// BNDUPD, of the newest record; the cursor waits for its ack.
func TestOutboxCoalesce(t *testing.T) {
	o := NewOutbox(8, 0)
	a, b := testKey(1), testKey(2)
	o.Offer(1, a, 100)
	o.Offer(2, b, 101)
	o.Offer(3, a, 102)
	o.Offer(4, a, 103)
	if o.Pending() != 2 {
		t.Fatalf("pending %d, want 2", o.Pending())
	}
	var xid uint32
	s := sendAll(o, &xid, 10)
	if len(s) != 2 || s[0].key != a || s[0].seq != 4 || s[1].key != b || s[1].seq != 2 {
		t.Fatalf("sent %+v, want a@4 then b@2", s)
	}
	if c := o.Cursor(); c != 0 {
		t.Errorf("cursor %d before any ack", c)
	}
	if lag := o.Lag(110); lag != 10 {
		t.Errorf("lag %d, want 10 (the change at seq 1, offered at 100)", lag)
	}
	if _, ok := o.Ack(s[1].xid); !ok {
		t.Fatal("ack b")
	}
	if c := o.Cursor(); c != 0 {
		t.Errorf("cursor %d: seq 1 (a) is not acked", c)
	}
	if got, ok := o.Ack(s[0].xid); !ok || got.Seq != 4 || got.Key != a {
		t.Fatalf("ack a: %+v %v", got, ok)
	}
	if c := o.Cursor(); c != 4 || !o.Idle() || o.Lag(200) != 0 {
		t.Errorf("cursor %d idle %v, want 4 and idle", c, o.Idle())
	}
	if _, ok := o.Ack(s[0].xid); ok {
		t.Error("a second ack of one xid was taken")
	}
	st := o.Stats()
	if st.Offered != 4 || st.Coalesced != 2 || st.Sent != 2 || st.Acked != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestOutboxCursorWaitsForReplacedInFlight: a newer change to a lease whose
// older change is in flight is sent too, and the cursor stays below the
// older change until that one is settled.
func TestOutboxCursorWaitsForReplacedInFlight(t *testing.T) {
	o := NewOutbox(8, 0)
	a, b := testKey(1), testKey(2)
	var xid uint32
	o.Offer(5, a, 0)
	s1 := sendAll(o, &xid, 10)
	o.Offer(6, b, 0)
	o.Offer(9, a, 0)
	s2 := sendAll(o, &xid, 10)
	if len(s2) != 2 || s2[0].seq != 6 || s2[1].seq != 9 {
		t.Fatalf("second batch %+v", s2)
	}
	o.Ack(s2[0].xid)
	o.Ack(s2[1].xid)
	if c := o.Cursor(); c != 4 {
		t.Errorf("cursor %d, want 4: seq 5 is still in flight", c)
	}
	o.Nak(s1[0].xid, 19)
	if c := o.Cursor(); c != 9 {
		t.Errorf("cursor %d, want 9 after the nak settles seq 5", c)
	}
	if st := o.Stats(); st.Nakked != 1 || st.NakOutdated != 1 {
		t.Errorf("nakked %d", st.Nakked)
	}
}

// TestOutboxWindow: Next never has more than the window in flight, and a
// shrunk window holds sends back until enough are settled.
func TestOutboxWindow(t *testing.T) {
	o := NewOutbox(3, 0)
	for i := range 10 {
		o.Offer(uint64(i+1), testKey(i), 0)
	}
	var xid uint32
	s := sendAll(o, &xid, 100)
	if len(s) != 3 || o.Unacked() != 3 || o.Pending() != 7 {
		t.Fatalf("sent %d unacked %d pending %d", len(s), o.Unacked(), o.Pending())
	}
	if n := len(sendAll(o, &xid, 100)); n != 0 {
		t.Fatalf("sent %d with a full window", n)
	}
	o.SetWindow(1)
	o.Ack(s[0].xid)
	if n := len(sendAll(o, &xid, 100)); n != 0 {
		t.Fatalf("sent %d with 2 in flight and a window of 1", n)
	}
	o.Ack(s[1].xid)
	o.Ack(s[2].xid)
	if s := sendAll(o, &xid, 100); len(s) != 1 || s[0].seq != 4 {
		t.Fatalf("after the window drained: %+v", s)
	}
}

// TestOutboxResetResends: after the link drops, what was in flight goes out
// again first, merged with newer changes to the same lease; replies to the
// old xids are ignored.
func TestOutboxResetResends(t *testing.T) {
	o := NewOutbox(2, 0)
	a, b, c := testKey(1), testKey(2), testKey(3)
	o.Offer(1, a, 0)
	o.Offer(2, b, 0)
	o.Offer(3, c, 0)
	var xid uint32
	old := sendAll(o, &xid, 10) // a@1, b@2 in flight
	o.Offer(4, a, 0)            // newer a pending behind c
	o.Reset()
	if o.Unacked() != 0 || o.Pending() != 3 || o.Stats().Resent != 2 {
		t.Fatalf("after reset: unacked %d pending %d stats %+v", o.Unacked(), o.Pending(), o.Stats())
	}
	if _, ok := o.Ack(old[0].xid); ok {
		t.Error("an ack from before the reset was taken")
	}
	o.SetWindow(10)
	s := sendAll(o, &xid, 10)
	if len(s) != 3 || s[0].key != a || s[0].seq != 4 || s[1].key != b || s[1].seq != 2 || s[2].key != c {
		t.Fatalf("resent %+v, want a@4, b@2, c@3", s)
	}
	if o.Cursor() != 0 {
		t.Errorf("cursor %d", o.Cursor())
	}
	for _, r := range s {
		o.Ack(r.xid)
	}
	if o.Cursor() != 4 || !o.Idle() {
		t.Errorf("cursor %d idle %v", o.Cursor(), o.Idle())
	}
}

// TestOutboxSkipStop: Skipped settles a change without a send; Stop leaves
// it first in line.
func TestOutboxSkipStop(t *testing.T) {
	o := NewOutbox(4, 0)
	o.Offer(1, testKey(1), 0)
	o.Offer(2, testKey(2), 0)
	if n := o.Next(10, func(uint64, Key) (uint32, Verdict) { return 0, Stop }); n != 0 || o.Pending() != 2 {
		t.Fatalf("stop: sent %d pending %d", n, o.Pending())
	}
	calls := 0
	n := o.Next(10, func(seq uint64, k Key) (uint32, Verdict) {
		calls++
		if seq == 1 {
			return 0, Skipped
		}
		return 9, Sent
	})
	if n != 1 || calls != 2 || o.Unacked() != 1 || o.Cursor() != 1 {
		t.Fatalf("sent %d calls %d unacked %d cursor %d", n, calls, o.Unacked(), o.Cursor())
	}
}

// TestOutboxResend: an offer below the journal position (a needs-update
// rescan) is sent but does not pull the cursor back.
func TestOutboxResend(t *testing.T) {
	o := NewOutbox(4, 0)
	var xid uint32
	o.Offer(10, testKey(1), 0)
	for _, r := range sendAll(o, &xid, 10) {
		o.Ack(r.xid)
	}
	o.Advance(20)
	if o.Cursor() != 20 {
		t.Fatalf("cursor %d", o.Cursor())
	}
	o.Offer(10, testKey(1), 0)
	s := sendAll(o, &xid, 10)
	if len(s) != 1 || s[0].seq != 10 || o.Cursor() != 20 {
		t.Fatalf("resend %+v cursor %d", s, o.Cursor())
	}
}

// TestOutboxProperties drives an Outbox with random offers, sends, acks,
// naks, resets and window changes, checking after every step against a
// simple model:
//
//   - never more BNDUPDs in flight than the window;
//   - each send carries the newest record offered for its lease;
//   - the cursor never decreases and never passes a change that is not
//     settled (acked or nakked, or replaced by a settled newer change);
//   - once the link stays up and everything is acked, every lease's newest
//     record has been acked and the cursor reaches the journal's end.
func TestOutboxProperties(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		keys := 1 + rng.IntN(20)
		window := 1 + rng.IntN(6)
		o := NewOutbox(window, 0)

		var (
			seq      uint64
			xid      uint32
			latest   = map[Key]uint64{} // newest change offered per lease
			settled  = map[Key]uint64{} // newest record acked, nakked or skipped per lease
			changes  []sentRec          // every real change, by seq
			inflight = map[uint32]sentRec{}
			cursor   uint64
		)
		settle := func(r sentRec) {
			settled[r.key] = max(settled[r.key], r.seq)
		}
		send := func(limit int) {
			o.Next(limit, func(s uint64, k Key) (uint32, Verdict) {
				if s != latest[k] {
					t.Fatalf("seed %d: sent %v@%d, newest offered is %d", seed, k, s, latest[k])
				}
				switch rng.IntN(10) {
				case 0:
					return 0, Stop
				case 1:
					settle(sentRec{0, s, k})
					return 0, Skipped
				}
				xid++
				inflight[xid] = sentRec{xid, s, k}
				if len(inflight) > o.Window() {
					t.Fatalf("seed %d: %d in flight, window %d", seed, len(inflight), o.Window())
				}
				return xid, Sent
			})
		}
		pickInflight := func() (sentRec, bool) {
			for _, r := range inflight { // map order is random enough
				return r, true
			}
			return sentRec{}, false
		}
		check := func(step int) {
			c := o.Cursor()
			if c < cursor {
				t.Fatalf("seed %d step %d: cursor went back from %d to %d", seed, step, cursor, c)
			}
			cursor = c
			for _, ch := range changes {
				if ch.seq > c {
					break
				}
				if settled[ch.key] < ch.seq {
					t.Fatalf("seed %d step %d: cursor %d passes change %d to %v, settled only to %d",
						seed, step, c, ch.seq, ch.key, settled[ch.key])
				}
			}
			if o.Unacked() != len(inflight) {
				t.Fatalf("seed %d step %d: unacked %d, model %d", seed, step, o.Unacked(), len(inflight))
			}
		}
		for step := range 400 {
			switch r := rng.IntN(100); {
			case r < 40:
				seq++
				k := testKey(rng.IntN(keys))
				latest[k] = seq
				changes = append(changes, sentRec{0, seq, k})
				o.Offer(seq, k, int64(step))
			case r < 45:
				seq++
				o.Advance(seq)
			case r < 48 && len(latest) > 0: // a resend of some lease's newest record
				for k, s := range latest {
					o.Offer(s, k, int64(step))
					break
				}
			case r < 65:
				send(1 + rng.IntN(4))
			case r < 82:
				if x, ok := pickInflight(); ok {
					if got, ok := o.Ack(x.xid); !ok || got.Seq != x.seq || got.Key != x.key {
						t.Fatalf("seed %d: ack %d: %+v %v", seed, x.xid, got, ok)
					}
					delete(inflight, x.xid)
					settle(x)
				}
			case r < 90:
				if x, ok := pickInflight(); ok {
					if _, ok := o.Nak(x.xid, 19); !ok {
						t.Fatalf("seed %d: nak %d", seed, x.xid)
					}
					delete(inflight, x.xid)
					settle(x)
				}
			case r < 95:
				o.Reset()
				clear(inflight)
			case r < 97:
				o.SetWindow(1 + rng.IntN(6))
			default:
				o.Ack(xid + 1000) // unknown xid: ignored
			}
			check(step)
		}
		// Link stays up: drain.
		for i := 0; !o.Idle(); i++ {
			if i > 10000 {
				t.Fatalf("seed %d: did not drain: pending %d unacked %d", seed, o.Pending(), o.Unacked())
			}
			send(8)
			for x, r := range inflight {
				o.Ack(x)
				settle(r)
				delete(inflight, x)
			}
			check(-1)
		}
		for k, s := range latest {
			if settled[k] != s {
				t.Fatalf("seed %d: lease %v newest %d, settled %d", seed, k, s, settled[k])
			}
		}
		if c := o.Cursor(); c != seq {
			t.Fatalf("seed %d: drained cursor %d, journal end %d", seed, c, seq)
		}
	}
}

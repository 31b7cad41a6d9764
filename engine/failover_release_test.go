package engine

import (
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// A client that releases right after its grant (issue 12): the primary
// grants (REQUEST) and, a second or two later, takes the RELEASE; both
// BNDUPDs reach the secondary, whose own record of the lease is the
// primary's ACTIVE, within 5 s of the RELEASED — the same time by RFC 8156
// §7.5.1. Both servers must end with the lease released (freed once the
// RELEASED is acked), never ACTIVE again, in every realistic order: the
// ACTIVE acked before the RELEASED leaves, or both in flight at once.
func TestFailoverReleaseRightAfterGrant(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gap      time.Duration // grant to RELEASE
		inFlight bool          // the ACTIVE is still unanswered when the RELEASED is sent
	}{
		{"acked-then-released-1s", time.Second, false},
		{"acked-then-released-2s", 2 * time.Second, false},
		{"acked-then-released-same-second", 0, false},
		{"both-in-flight-1s", time.Second, true},
		{"both-in-flight-2s", 2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := newPair(t)
			b := p.grant(t, 1)
			active := received(&b, p.now.Unix())
			var xid uint32
			send := func(from, to *foSide, u ReceivedLease) PeerBndReply {
				t.Helper()
				xid++
				_, rep := to.bndUpd(t, &u, xid)
				return rep
			}
			var activeRep PeerBndReply
			if !tc.inFlight {
				activeRep = send(p, s, active)
				p.ack(t, activeRep)
			}
			p.advance(tc.gap)
			s.advance(tc.gap)
			p.client(p.msgFor(wire.Release, 1, true, false)).reply(t)
			rb := lookup(t, p, b.Prefix)
			if rb.Status != StatusReleased {
				t.Fatalf("after the RELEASE the primary has %+v", rb)
			}
			released := received(&rb, p.now.Unix())
			if tc.inFlight {
				// Both BNDUPDs are on the wire; the secondary answers them
				// in order, and the primary reads the answers in order.
				activeRep = send(p, s, active)
			}
			relRep := send(p, s, released)
			p.ack(t, activeRep)
			p.ack(t, relRep)
			if !relRep.Accepted {
				t.Errorf("the secondary rejected the RELEASED: %+v (its record %+v)", relRep, lookup(t, s, b.Prefix))
			}
			// Whatever the secondary asks to send back (SendUpdate), and
			// whatever either side still owes (the periodic scan), goes
			// across until neither has anything left to say.
			if relRep.SendUpdate {
				sb := lookup(t, s, b.Prefix)
				s.ack(t, send(s, p, received(&sb, s.now.Unix())))
			}
			for range 4 {
				p.advance(time.Second)
				s.advance(time.Second)
				for _, pair := range [2][2]*foSide{{p, s}, {s, p}} {
					from, to := pair[0], pair[1]
					for _, pfx := range unacked(from) {
						fb := lookup(t, from, pfx)
						from.ack(t, send(from, to, received(&fb, from.now.Unix())))
					}
				}
			}
			for _, x := range []*foSide{p, s} {
				name := "primary"
				if x == s {
					name = "secondary"
				}
				if xb, ok := x.e.Lookup(b.Prefix); ok && (xb.Status == StatusActive || xb.DUID == b.DUID && xb.Status != StatusReleased && xb.Status != StatusFree) {
					t.Errorf("the %s holds %v for the released client: %+v", name, xb.Status, xb)
				}
			}
			if got := unacked(p); len(got) != 0 {
				t.Errorf("the primary still owes %v", got)
			}
			if got := unacked(s); len(got) != 0 {
				t.Errorf("the secondary still owes %v", got)
			}
			wantReplayed(t, p, s)
		})
	}
}

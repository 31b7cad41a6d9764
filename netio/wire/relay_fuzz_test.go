package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// relayChain wraps inner in depth RELAY-FORW layers (RELAY-REPL when repl),
// the way a chain of relays builds them: layer i from the outside has hop
// count hops+depth-1-i, link-address 2001:db8:<i>::1, peer-address fe80::<i>,
// then INTERFACE_ID (when ifid is not nil), REMOTE_ID (when rid is not nil)
// and RELAY_MSG, in the order given by order (bit 0: RELAY_MSG first, bit 1:
// REMOTE_ID before INTERFACE_ID). It returns nil when a layer would not fit
// a 16-bit option length.
func relayChain(depth int, hops uint8, repl bool, ifid, rid []byte, order uint8, inner []byte) []byte {
	b := inner
	t := RelayForw
	if repl {
		t = RelayRepl
	}
	for i := depth - 1; i >= 0; i-- {
		if len(b) > 0xffff || len(ifid) > 0xffff || len(rid) > 0xffff {
			return nil
		}
		link, peer := chainLink(i).As16(), chainPeer(i).As16()
		out := []byte{byte(t), hops + uint8(depth-1-i)}
		out = append(out, link[:]...)
		out = append(out, peer[:]...)
		var opts [][]byte
		if ifid != nil {
			opts = append(opts, rawOpt(OptInterfaceID, ifid))
		}
		if rid != nil {
			if order&2 != 0 {
				opts = append([][]byte{rawOpt(OptRemoteID, rid)}, opts...)
			} else {
				opts = append(opts, rawOpt(OptRemoteID, rid))
			}
		}
		if order&1 != 0 {
			opts = append([][]byte{rawOpt(OptRelayMsg, b)}, opts...)
		} else {
			opts = append(opts, rawOpt(OptRelayMsg, b))
		}
		for _, o := range opts {
			out = append(out, o...)
		}
		b = out
	}
	return b
}

func chainLink(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 15: 1})
}

func chainPeer(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 14: byte(i >> 8), 15: byte(i)})
}

// checkRelayChain decodes a chain of depth layers built around inner and
// checks it against what was built and against inner decoded alone:
//
//   - the depth limit: more than MaxRelayHops layers in all (ours plus any
//     inside inner) is ErrRelayDepth, never a panic or a partial success;
//   - otherwise the chain decodes exactly when inner does, with the same
//     error, and then every layer we built reads back (type, hop count,
//     addresses, the first INTERFACE_ID and REMOTE_ID) around inner's own
//     decoding, unchanged;
//   - a REMOTE_ID shorter than its 4-byte enterprise number is malformed
//     (RFC 4649), in any layer;
//   - insomniacslk/dhcp, where it parses the chain too, sees the same
//     layers (type, hop count, link and peer address).
func checkRelayChain(depth int, hops uint8, repl bool, ifid, rid []byte, order uint8, inner []byte) error {
	b := relayChain(depth, hops, repl, ifid, rid, order, inner)
	if b == nil {
		return nil
	}
	var alone, chain Packet
	innerErr := alone.Decode(inner)
	err := chain.Decode(b)
	switch {
	case depth > 0 && rid != nil && len(rid) < 4:
		if !errors.Is(err, ErrBadOption) {
			return fmt.Errorf("%d-byte REMOTE_ID: err %v, want ErrBadOption", len(rid), err)
		}
		return nil
	case depth > MaxRelayHops:
		if !errors.Is(err, ErrRelayDepth) {
			return fmt.Errorf("%d layers: err %v, want ErrRelayDepth", depth, err)
		}
		return nil
	case innerErr != nil:
		// inner's own relay layers may reach the limit before inner's
		// error does.
		if err != innerErr && !errors.Is(err, ErrRelayDepth) {
			return fmt.Errorf("inner alone: %v; in %d layers: %v", innerErr, depth, err)
		}
		return nil
	case depth+alone.NumRelays > MaxRelayHops:
		if !errors.Is(err, ErrRelayDepth) {
			return fmt.Errorf("%d+%d layers: err %v, want ErrRelayDepth", depth, alone.NumRelays, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("inner decodes alone, but not in %d layers: %v", depth, err)
	}
	if chain.NumRelays != depth+alone.NumRelays {
		return fmt.Errorf("%d layers decoded, built %d around %d", chain.NumRelays, depth, alone.NumRelays)
	}
	t := RelayForw
	if repl {
		t = RelayRepl
	}
	for i := 0; i < depth; i++ {
		r := &chain.Relays[i]
		want := Relay{Type: t, HopCount: hops + uint8(depth-1-i), LinkAddr: chainLink(i), PeerAddr: chainPeer(i),
			InterfaceID: ifid, RemoteID: rid}
		if r.Type != want.Type || r.HopCount != want.HopCount || r.LinkAddr != want.LinkAddr || r.PeerAddr != want.PeerAddr ||
			!sameBytes(r.InterfaceID, want.InterfaceID) || !sameBytes(r.RemoteID, want.RemoteID) {
			return fmt.Errorf("layer %d: got %+v, want %+v", i, *r, want)
		}
	}
	got, want := viewPacket(&chain), viewPacket(&alone)
	got.Relays = got.Relays[depth:]
	if len(got.Relays) == 0 {
		got.Relays = nil
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("inside %d layers:\n%v\nalone:\n%v", depth, got, want)
	}

	theirs, terr := theirFromBytes(b)
	if terr != nil {
		return nil // they interpret more of inner than we do (see FuzzDecodeDifferential)
	}
	for i := 0; i < chain.NumRelays; i++ {
		rm, ok := theirs.(*dhcpv6.RelayMessage)
		if !ok {
			return fmt.Errorf("they see %d relay layers, we %d", i, chain.NumRelays)
		}
		r := &chain.Relays[i]
		if MsgType(rm.MessageType) != r.Type || rm.HopCount != r.HopCount ||
			addrFromIP(rm.LinkAddr) != r.LinkAddr || addrFromIP(rm.PeerAddr) != r.PeerAddr {
			return fmt.Errorf("layer %d: theirs %s, ours %+v", i, rm.Summary(), *r)
		}
		theirs = rm.Options.RelayMessage()
		if theirs == nil {
			return fmt.Errorf("layer %d: they find no RELAY_MSG", i)
		}
	}
	if theirs.IsRelay() {
		return fmt.Errorf("they see more than our %d relay layers", chain.NumRelays)
	}
	return nil
}

// sameBytes is bytes.Equal that also tells a present empty option from an
// absent one.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// FuzzRelayChain: nested relays, explicitly. The fuzzer picks the depth
// (0 to 40, across the MaxRelayHops limit), the hop count, the relay
// options and the innermost bytes; checkRelayChain states what must hold.
func FuzzRelayChain(f *testing.F) {
	// The committed corpus (testdata/fuzz/FuzzRelayChain, relayChainSeeds)
	// and an empty innermost message.
	f.Add(uint8(1), uint8(0), false, []byte(nil), []byte(nil), uint8(12), []byte{})
	f.Fuzz(func(t *testing.T, depth, hops uint8, repl bool, ifid, rid []byte, order uint8, inner []byte) {
		if len(ifid) == 0 && order&4 != 0 {
			ifid = nil // a fuzzer gives no nil []byte: let a bit choose absent
		}
		if len(rid) == 0 && order&8 != 0 {
			rid = nil
		}
		if err := checkRelayChain(int(depth%41), hops, repl, ifid, rid, order, inner); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRelayChainDepths runs checkRelayChain over every depth from 0 to
// MaxRelayHops+2 around each seed, with and without relay options, so the
// limit is checked on every `go test`, not only when fuzzing.
func TestRelayChainDepths(t *testing.T) {
	rid := binary.BigEndian.AppendUint32(nil, 4491)
	for name, inner := range seedPackets() {
		for depth := 0; depth <= MaxRelayHops+2; depth++ {
			for _, o := range []struct {
				ifid, rid []byte
				order     uint8
			}{{nil, nil, 0}, {[]byte("ge-0/0/1.100"), append(rid, "circuit"...), 1}, {[]byte{}, rid, 2}} {
				if err := checkRelayChain(depth, 0, false, o.ifid, o.rid, o.order, inner); err != nil {
					t.Fatalf("%s in %d layers: %v", name, depth, err)
				}
			}
		}
	}
}

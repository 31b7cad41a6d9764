package journal

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
)

var (
	duidLLT = "\x00\x01\x00\x01\x2a\x2b\x2c\x2d\x02\x00\x00\x00\x00\x01"
	relay   = netip.MustParseAddr("2001:db8:1::1")
)

func lease(p string) engine.Binding {
	pfx := netip.MustParsePrefix(p)
	k := engine.KindNA
	if pfx.Bits() != 128 {
		k = engine.KindPD
	}
	return engine.Binding{Kind: k, Prefix: pfx, DUID: duidLLT, IAID: 1, Status: engine.StatusActive,
		StartOfState: 1_760_000_000, CLTT: 1_760_000_000, Preferred: 1800, Valid: 3600, Expires: 1_760_003_600,
		Link: relay}
}

func codecCases() []struct {
	name string
	ev   engine.Event
} {
	type tc = struct {
		name string
		ev   engine.Event
	}
	typical := engine.Event{Kind: engine.EventLease, Time: 1_760_000_000, Why: engine.CauseRequest, Binding: lease("2001:db8:1::1:2/128")}
	var cs []tc
	cs = append(cs, tc{"typical address", typical})
	pd := typical
	pd.Binding = lease("2001:db8:100:ab00::/56")
	cs = append(cs, tc{"prefix", pd})
	free := typical
	free.Kind, free.Why, free.Binding.Status = engine.EventFree, engine.CauseReclaim, engine.StatusExpired
	cs = append(cs, tc{"free", free})
	direct := typical
	direct.Binding.Link, direct.Binding.RemoteID = netip.Addr{}, ""
	cs = append(cs, tc{"direct, no relay", direct})
	unspec := typical
	unspec.Binding.Link = netip.IPv6Unspecified()
	unspec.Binding.RemoteID = "\x00\x00\x0d\xe9eth0/1/2"
	cs = append(cs, tc{"unspecified link and remote-id", unspec})
	empty := typical
	empty.Binding.DUID, empty.Binding.IAID = "", 0
	cs = append(cs, tc{"empty DUID", empty})
	long := typical
	long.Binding.DUID = strings.Repeat("\xfe", 130)
	long.Binding.RemoteID = strings.Repeat("r", 300)
	long.Binding.IAID = math.MaxUint32
	cs = append(cs, tc{"long strings, max IAID", long})
	odd := typical
	odd.Time = math.MinInt64
	odd.Binding.CLTT, odd.Binding.StartOfState, odd.Binding.Expires = math.MaxInt64, math.MinInt64, 7
	odd.Binding.Preferred, odd.Binding.Valid = math.MaxUint32, math.MaxUint32
	cs = append(cs, tc{"extreme times and lifetimes", odd})
	unmasked := typical
	unmasked.Binding.Prefix = netip.MustParsePrefix("2001:db8:100:ab01::1/0")
	unmasked.Binding.Kind = engine.KindPD
	cs = append(cs, tc{"unmasked /0", unmasked})
	mapped := typical
	mapped.Binding.Prefix = netip.MustParsePrefix("::ffff:192.0.2.1/128")
	mapped.Binding.Link = netip.MustParseAddr("::ffff:192.0.2.2")
	cs = append(cs, tc{"IPv4-mapped IPv6", mapped})
	for _, st := range []engine.Status{engine.StatusReleased, engine.StatusPendingFree, engine.StatusFree,
		engine.StatusFreeBackup, engine.StatusAbandoned, engine.StatusReset} {
		e := typical
		e.Binding.Status = st
		e.Why = engine.Cause(200) // causes are audit data: any value passes
		cs = append(cs, tc{"status " + st.String(), e})
	}
	fo := typical
	fo.Binding.FOTimes = engine.FOTimes{ExpirationTime: 1_760_001_800, AckedPartnerLifetime: 1_760_000_100,
		PartnerLifetime: 1_760_261_000, PartnerRawCLTT: 1_759_999_990, StateExpiration: 1_760_003_600}
	fo.Binding.PartnerNeedsUpdate = true
	cs = append(cs, tc{"failover times", fo})
	fo1 := typical
	fo1.Binding.PartnerLifetime = math.MinInt64
	fo1.Binding.StateExpiration = math.MaxInt64
	cs = append(cs, tc{"some extreme failover times", fo1})
	ep := engine.Event{Kind: engine.EventEndpoint, Time: 1_760_000_000, Why: engine.CauseFailover,
		Endpoint: engine.EndpointRecord{Rel: "pair-a", StoredState: engine.StoredState{
			State: engine.StatePartnerDown, Previous: engine.StateCommInterrupted, StartTime: 1_760_000_000,
			PartnerState: engine.StateNormal, PartnerStart: 1_759_000_000, LastPartnerMsg: 1_759_990_000,
			PartnerDownTime: 1_760_000_000, LastOperated: 1_760_000_000, Communicated: true}}}
	cs = append(cs, tc{"endpoint", ep})
	ep0 := ep
	ep0.Endpoint.StoredState = engine.StoredState{State: engine.StateRecover}
	cs = append(cs, tc{"endpoint, no times", ep0})
	return cs
}

func TestEventRoundTrip(t *testing.T) {
	for _, c := range codecCases() {
		t.Run(c.name, func(t *testing.T) {
			b, err := AppendEvent([]byte("prefix"), &c.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:6]) != "prefix" {
				t.Fatal("AppendEvent overwrote dst")
			}
			var got engine.Event
			got.Binding.RemoteID = "stale" // DecodeEvent overwrites everything
			got.Binding.Link = relay
			if err := DecodeEvent(b[6:], &got); err != nil {
				t.Fatal(err)
			}
			if got != c.ev {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, c.ev)
			}
			// Every strict prefix of a value is refused, never a panic.
			for n := 0; n < len(b)-6; n++ {
				if err := DecodeEvent(b[6:6+n], &got); !errors.Is(err, ErrCorruptEvent) {
					t.Fatalf("prefix of %d bytes: err %v", n, err)
				}
			}
			if err := DecodeEvent(append(b[6:len(b):len(b)], 0), &got); !errors.Is(err, ErrCorruptEvent) {
				t.Fatalf("trailing byte: err %v", err)
			}
		})
	}
}

func TestEventSize(t *testing.T) {
	c := codecCases()[0]
	b, _ := AppendEvent(nil, &c.ev)
	// 3 + 5 (time) + 4 + 16 + 15 (DUID) + 1 + 1 + 1 + 2 + 2 + 1 + 16 + 1
	// + 1 (v2: failover-times flags, all zero)
	if len(b) != 69 {
		t.Errorf("typical relayed address lease encodes to %d bytes, want 69", len(b))
	}
}

func TestAppendEventRefuses(t *testing.T) {
	ok := codecCases()[0].ev
	for _, c := range []struct {
		name string
		mod  func(*engine.Event)
	}{
		{"event kind 0", func(e *engine.Event) { e.Kind = 0 }},
		{"event kind 3", func(e *engine.Event) { e.Kind = 3 }},
		{"binding kind 0", func(e *engine.Event) { e.Binding.Kind = 0 }},
		{"binding kind 3", func(e *engine.Event) { e.Binding.Kind = 3 }},
		{"status 0", func(e *engine.Event) { e.Binding.Status = 0 }},
		{"status 9", func(e *engine.Event) { e.Binding.Status = 9 }},
		{"no prefix", func(e *engine.Event) { e.Binding.Prefix = netip.Prefix{} }},
		{"IPv4 prefix", func(e *engine.Event) { e.Binding.Prefix = netip.MustParsePrefix("192.0.2.1/32") }},
		{"IPv4 link", func(e *engine.Event) { e.Binding.Link = netip.MustParseAddr("192.0.2.1") }},
		{"zoned link", func(e *engine.Event) { e.Binding.Link = netip.MustParseAddr("fe80::1%eth0") }},
		{"huge DUID", func(e *engine.Event) { e.Binding.DUID = strings.Repeat("x", 1<<16) }},
	} {
		ev := ok
		c.mod(&ev)
		dst := []byte{1, 2, 3}
		b, err := AppendEvent(dst, &ev)
		if !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: err %v, want ErrInvalidEvent", c.name, err)
		}
		if len(b) != 3 {
			t.Errorf("%s: dst grew to %d bytes", c.name, len(b))
		}
	}
}

func TestDecodeEventRefuses(t *testing.T) {
	good, _ := AppendEvent(nil, &codecCases()[0].ev)
	for _, c := range []struct {
		name string
		off  int
		val  byte
	}{
		{"version 0", 0, 0},
		{"version 3", 0, 3},
		{"event kind 0", 1, 0},
		{"event kind 9", 1, 9},
		{"binding kind 0", 8, 0},
		{"binding kind 3", 8, 3},
		{"status 0", 9, 0},
		{"status 9", 9, 9},
		{"unknown flag", 10, 0x81},
		{"prefix length 129", 11, 129},
		{"DUID length overrun", 28, 200},
	} {
		b := append([]byte(nil), good...)
		b[c.off] = c.val
		var ev engine.Event
		if err := DecodeEvent(b, &ev); !errors.Is(err, ErrCorruptEvent) {
			t.Errorf("%s: err %v, want ErrCorruptEvent", c.name, err)
		}
	}
}

func TestCodecAllocs(t *testing.T) {
	ev := codecCases()[4].ev // with a remote-id
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(1000, func() {
		buf, _ = AppendEvent(buf[:0], &ev)
	}); n != 0 {
		t.Errorf("AppendEvent: %v allocs", n)
	}
	direct := codecCases()[3].ev
	direct.Binding.DUID = ""
	b, _ := AppendEvent(nil, &direct)
	var got engine.Event
	if n := testing.AllocsPerRun(1000, func() {
		_ = DecodeEvent(b, &got)
	}); n != 0 {
		t.Errorf("DecodeEvent without strings: %v allocs", n)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, c := range codecCases() {
		b, err := AppendEvent(nil, &c.ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev engine.Event
		if err := DecodeEvent(b, &ev); err != nil {
			if !errors.Is(err, ErrCorruptEvent) {
				t.Fatalf("error %v does not wrap ErrCorruptEvent", err)
			}
			return
		}
		// What decodes must encode (the journal never holds what it could
		// not write) and decode to the same event.
		b2, err := AppendEvent(nil, &ev)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", ev, err)
		}
		var ev2 engine.Event
		if err := DecodeEvent(b2, &ev2); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if ev2 != ev {
			t.Fatalf("re-encode changed the event:\n%+v\n%+v", ev, ev2)
		}
	})
}

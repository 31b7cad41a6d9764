package replicate

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/netio/wire"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz seed corpora")

// handshakeSeeds are the link's own handshake messages (without the frame
// length), as Link sends them.
func handshakeSeeds() map[string][]byte {
	c := testConfig(true)
	c.MaxUnacked = 512 // the window the seeds were made with (any will do)
	anon := c
	anon.Name = ""
	const sent = 800_000_000
	return map[string][]byte{
		"connect":              appendConnect(nil, &c, 0x4242, sent)[2:],
		"connect-unnamed":      appendConnect(nil, &anon, 7, sent)[2:],
		"connectreply":         appendConnectReply(nil, &c, 0x4242, sent, 30)[2:],
		"connectreply-refused": appendRefusal(nil, 0x4242, sent, wire.StatusExcessiveTimeSkew, "clocks 30s apart (limit 5s)")[2:],
		"disconnect":           appendDisconnect(nil, 9, sent, wire.StatusServerShuttingDown, "server shutting down")[2:],
		"state":                appendState(nil, testState, 3, sent)[2:],
	}
}

// bindingSeeds are BNDUPDs of each form and status, built by AppendBndUpd
// from engine records, and the BNDREPLYs that answer them.
func bindingSeeds() map[string][]byte {
	na := engine.Binding{Kind: engine.KindNA, Prefix: netip.MustParsePrefix("2001:db8::17/128"),
		DUID: testDUID, IAID: 7, Status: engine.StatusActive,
		StartOfState: tNow - 600, CLTT: tNow - 30, Preferred: 1800, Valid: 3600, Expires: tNow - 30 + 3600}
	naFO := engine.FOTimes{ExpirationTime: tNow + 5000, AckedPartnerLifetime: tNow + 4000, PartnerRawCLTT: tNow - 40}
	pd := engine.Binding{Kind: engine.KindPD, Prefix: netip.MustParsePrefix("2001:db8:100:2300::/56"),
		DUID: testDUID, IAID: 3, Status: engine.StatusExpired,
		StartOfState: tNow - 5, CLTT: tNow - 7205, Preferred: 3600, Valid: 7200, Expires: tNow - 5}
	pdFO := engine.FOTimes{StateExpiration: tNow - 5, ExpirationTime: tNow + 100, AckedPartnerLifetime: tNow}
	free := engine.Binding{Kind: engine.KindPD, Prefix: netip.MustParsePrefix("2001:db8:200::/48"),
		Status: engine.StatusFreeBackup, StartOfState: tNow - 60}
	rel := na
	rel.Status, rel.StartOfState = engine.StatusReleased, tNow-1
	seeds := map[string][]byte{}
	for name, r := range map[string]struct {
		b  *engine.Binding
		fo *engine.FOTimes
	}{"na-active": {&na, &naFO}, "pd-expired": {&pd, &pdFO}, "prefix-form-free-backup": {&free, &engine.FOTimes{}},
		"na-released": {&rel, &engine.FOTimes{}}} {
		upd := AppendBndUpd(nil, 0x0a0b0c, tNow, r.b, r.fo)
		seeds["bndupd-"+name] = upd[2:]
		var m wire.FailoverMsg
		if err := m.Decode(upd[2:]); err != nil {
			panic(err)
		}
		seeds["bndreply-"+name] = AppendBndReply(nil, &m, []LeaseResult{{Status: wire.StatusOutdatedBindingInfo}})[2:]
	}
	return seeds
}

func corpusContent(args ...any) []byte {
	b := []byte("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case int16:
			b = fmt.Appendf(b, "int16(%d)\n", v)
		case uint16:
			b = fmt.Appendf(b, "uint16(%d)\n", v)
		case bool:
			b = fmt.Appendf(b, "bool(%v)\n", v)
		default:
			panic(fmt.Sprintf("corpusContent: %T", a))
		}
	}
	return b
}

// TestFuzzCorpora checks (or, with -update-seeds, writes) the committed
// seed corpora under testdata/fuzz.
func TestFuzzCorpora(t *testing.T) {
	in := map[string]map[string][]any{"FuzzHandshake": {}, "FuzzBndUpd": {}, "FuzzFrameReader": {}}
	for name, b := range handshakeSeeds() {
		in["FuzzHandshake"][name] = []any{b, int16(0), false}
	}
	in["FuzzHandshake"]["connect-skew-6s"] = []any{handshakeSeeds()["connect"], int16(6), false}
	// The crasher TestLongRelationshipName pins: a name that, quoted in
	// the refusal, overflowed the CONNECTREPLY's 16-bit length.
	b, f := wire.BeginFrame(nil, wire.Connect, 1, 800_000_000)
	b = wire.AppendUint32Option(b, wire.OptFProtocolVersion, ProtocolVersion)
	b = wire.AppendOption(b, wire.OptFRelationshipName, bytes.Repeat([]byte{0xff}, 16500))
	in["FuzzHandshake"]["crash-long-relationship-name"] = []any{wire.EndFrame(b, f)[2:], int16(0), false}
	for name, b := range bindingSeeds() {
		in["FuzzBndUpd"][name] = []any{b, []byte{1, 0, 3 << 1, 19 << 1}}
	}
	// A stream of what one session carries, split at odd read sizes.
	var stream []byte
	for _, name := range []string{"connect", "connectreply", "state"} {
		stream = append(stream, byte(len(handshakeSeeds()[name])>>8), byte(len(handshakeSeeds()[name])))
		stream = append(stream, handshakeSeeds()[name]...)
	}
	for _, b := range []string{"bndupd-na-active", "bndupd-pd-expired", "bndreply-prefix-form-free-backup"} {
		stream = append(stream, byte(len(bindingSeeds()[b])>>8), byte(len(bindingSeeds()[b])))
		stream = append(stream, bindingSeeds()[b]...)
	}
	in["FuzzFrameReader"]["session-stream"] = []any{stream, []byte{1, 7, 200, 3}, uint16(0)}
	for target, inputs := range in {
		names := make([]string, 0, len(inputs))
		for n := range inputs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			path := filepath.Join("testdata", "fuzz", target, "seed-"+name)
			want := corpusContent(inputs[name]...)
			if *updateSeeds {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is missing or stale (err=%v); run with -update-seeds", path, err)
			}
		}
	}
}

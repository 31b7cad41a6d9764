package wire

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// corpusContent is one input in the `go test fuzz v1` corpus format.
func corpusContent(args ...any) []byte {
	b := []byte("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case uint8:
			b = fmt.Appendf(b, "byte(%q)\n", v)
		case bool:
			b = fmt.Appendf(b, "bool(%v)\n", v)
		default:
			panic(fmt.Sprintf("corpusContent: %T", a))
		}
	}
	return b
}

// checkCorpus compares (or, with -update-seeds, writes) the committed seed
// corpus testdata/fuzz/<target>/seed-<name> for each named input.
func checkCorpus(t *testing.T, target string, inputs map[string][]any) {
	t.Helper()
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		path := seedFile(target, name)
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

// relayChainSeeds: the client seeds at depths around the limit.
func relayChainSeeds() map[string][]any {
	seeds := seedPackets()
	in := map[string][]any{}
	for _, name := range []string{"solicit", "request", "renew", "relayed-solicit", "kea-relayed-2x-rsoo", "kea-erouter-relayed-solicit"} {
		for _, depth := range []uint8{1, 8, MaxRelayHops, MaxRelayHops + 1} {
			in[fmt.Sprintf("%s-x%d", name, depth)] = []any{depth, uint8(0), false, []byte("eth0"), []byte{}, uint8(8), seeds[name]}
		}
	}
	in["repl-remote-id"] = []any{uint8(3), uint8(250), true, []byte{}, []byte{0, 0, 0x11, 0x8b, 1, 2}, uint8(3), seeds["solicit"]}
	in["short-remote-id"] = []any{uint8(2), uint8(7), false, []byte{}, []byte{0, 0, 9}, uint8(5), seeds["renew"]}
	return in
}

func TestFuzzCorpora(t *testing.T) {
	fo := map[string][]any{}
	for name, b := range failoverSeeds() {
		fo[name] = []any{b}
	}
	checkCorpus(t, "FuzzFailoverDecode", fo)
	checkCorpus(t, "FuzzRelayChain", relayChainSeeds())
}

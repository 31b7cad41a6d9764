package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/tandemdhcp/tandem/engine"
)

// Fuzz targets for the journal's other decoders besides events
// (FuzzDecodeEvent): snapshot headers and chunks, and the audit index's key
// layout. Seeds under testdata/fuzz come from codecCases() through the
// writers' own encoders (TestFuzzCorpora -update-seeds).

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz seed corpora")

// checkHeader: decodeHeader fails only with a *SeqError naming seq and
// wrapping ErrCorruptSnapshot; what it accepts re-encodes (appendHeader,
// v2) to no more bytes and decodes to the same header.
func checkHeader(v []byte) error {
	const seq = 77
	h, err := decodeHeader(seq, v)
	if err != nil {
		var se *SeqError
		if !errors.As(err, &se) || se.Seq != seq || !errors.Is(err, ErrCorruptSnapshot) {
			return fmt.Errorf("error %v is not a SeqError(%d) wrapping ErrCorruptSnapshot", err, seq)
		}
		return nil
	}
	if h.seq != seq {
		return fmt.Errorf("seq %d", h.seq)
	}
	re := appendHeader(nil, &h)
	if h.ver == snapshotV2 && len(re) > len(v) {
		return fmt.Errorf("re-encoding grew from %d to %d bytes", len(v), len(re))
	}
	h2, err := decodeHeader(seq, re)
	if err != nil {
		return fmt.Errorf("re-encoded header rejected: %v", err)
	}
	h.ver = snapshotV2 // appendHeader writes v2; a v1 header has no endpoints
	if !reflect.DeepEqual(h, h2) {
		return fmt.Errorf("re-encoding changed the header:\n%+v\n%+v", h, h2)
	}
	return nil
}

func FuzzSnapshotHeader(f *testing.F) {
	for _, s := range headerSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if err := checkHeader(v); err != nil {
			t.Fatal(err)
		}
	})
}

// checkChunk: decodeChunk fails cleanly; every record it accepts is one
// the snapshot writer could have written (checkBinding), and the chunk
// re-encoded the way snapWriter does decodes to the same records.
func checkChunk(v []byte) error {
	if len(v) == 0 {
		_, err := decodeChunk(v, snapshotV2, new(engine.Binding), func() bool { return true })
		if err == nil {
			return errors.New("empty chunk accepted")
		}
		return nil
	}
	ver := v[0]
	var b engine.Binding
	var recs []engine.Binding
	n, err := decodeChunk(v, ver, &b, func() bool { recs = append(recs, b); return true })
	if err != nil {
		if ver != snapshotV1 && ver != snapshotV2 && len(recs) != 0 {
			return fmt.Errorf("version %d: %d records read before the error", ver, len(recs))
		}
		return nil
	}
	if ver != snapshotV1 && ver != snapshotV2 {
		return fmt.Errorf("chunk of version %d accepted", ver)
	}
	if int(n) != len(recs) {
		return fmt.Errorf("count %d, %d records", n, len(recs))
	}
	re := append([]byte{ver}, binary.BigEndian.AppendUint32(nil, n)...)
	for i := range recs {
		if err := checkBinding(&recs[i]); err != nil {
			return fmt.Errorf("record %d decoded but the writer refuses it: %v: %+v", i, err, recs[i])
		}
		re = appendBinding(re, &recs[i], 0, ver)
	}
	var again []engine.Binding
	if _, err := decodeChunk(re, ver, &b, func() bool { again = append(again, b); return true }); err != nil {
		return fmt.Errorf("re-encoded chunk rejected: %v", err)
	}
	if !reflect.DeepEqual(recs, again) {
		return fmt.Errorf("re-encoding changed the records:\n%+v\n%+v", recs, again)
	}
	return nil
}

func FuzzSnapshotChunk(f *testing.F) {
	for _, s := range chunkSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if err := checkChunk(v); err != nil {
			t.Fatal(err)
		}
	})
}

// checkIndexKeys: the audit index's keys (index.go) for two resources and
// two DUIDs. A key reads back its seq (indexSeq); keys of one resource or
// DUID sort by seq, so History walks in sequence order; and a key lies in
// the range an index walk scans for a resource or DUID ([prefix,
// prefixEnd)) exactly when it is that resource's or DUID's, so no query
// sees another lease's or client's history.
func checkIndexKeys(k1, k2 uint8, a1, a2 [16]byte, bits1, bits2 uint8, seq1, seq2 uint64, d1, d2 string) error {
	r1 := resource{engine.Kind(k1), netip.PrefixFrom(netip.AddrFrom16(a1), int(bits1%129))}
	r2 := resource{engine.Kind(k2), netip.PrefixFrom(netip.AddrFrom16(a2), int(bits2%129))}
	for _, c := range []struct {
		what           string
		p1, p2, k1, k2 []byte
		same           bool
	}{
		{"resource", r1.prefix(), r2.prefix(), r1.key(seq1), r2.key(seq2), r1 == r2},
		{"DUID", appendDUIDKey(nil, d1), appendDUIDKey(nil, d2),
			binary.BigEndian.AppendUint64(appendDUIDKey(nil, d1), seq1),
			binary.BigEndian.AppendUint64(appendDUIDKey(nil, d2), seq2), d1 == d2},
	} {
		if got, err := indexSeq(c.k1, len(c.p1)); err != nil || got != seq1 {
			return fmt.Errorf("%s key %x: seq %d (%v), want %d", c.what, c.k1, got, err, seq1)
		}
		if _, err := indexSeq(c.k1, len(c.p1)+1); !errors.Is(err, ErrCorruptEvent) {
			return fmt.Errorf("%s key with a wrong length: %v", c.what, err)
		}
		if in := inRange(c.k2, c.p1); in != c.same {
			return fmt.Errorf("%s key %x in the scan of %x: %v, same %s: %v", c.what, c.k2, c.p1, in, c.what, c.same)
		}
		if c.same {
			if got, want := bytes.Compare(c.k1, c.k2), cmpU64(seq1, seq2); got != want {
				return fmt.Errorf("%s keys for seq %d and %d compare %d", c.what, seq1, seq2, got)
			}
		}
	}
	return nil
}

type resource struct {
	kind engine.Kind
	p    netip.Prefix
}

func (r resource) prefix() []byte { return appendResKey(nil, r.kind, r.p) }
func (r resource) key(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(r.prefix(), seq)
}

func inRange(k, prefix []byte) bool {
	end := prefixEnd(prefix)
	return bytes.Compare(k, prefix) >= 0 && (end == nil || bytes.Compare(k, end) < 0)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func FuzzIndexKeys(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzIndexKeys (indexSeeds).
	f.Fuzz(func(t *testing.T, k1, k2 uint8, a1, a2 []byte, bits1, bits2 uint8, seq1, seq2 uint64, d1, d2 string) {
		if len(d1) > maxDUIDIndex || len(d2) > maxDUIDIndex {
			return // not indexed (HistoryDUID scans instead)
		}
		var x1, x2 [16]byte
		copy(x1[:], a1)
		copy(x2[:], a2)
		if err := checkIndexKeys(k1, k2, x1, x2, bits1, bits2, seq1, seq2, d1, d2); err != nil {
			t.Fatal(err)
		}
	})
}

// Seeds, from codecCases() through the writers' encoders.

func headerSeeds() map[string][]byte {
	var eps []engine.EndpointRecord
	for _, c := range codecCases() {
		if c.ev.Kind == engine.EventEndpoint {
			eps = append(eps, c.ev.Endpoint)
		}
	}
	v1 := []byte{snapshotV1}
	v1 = binary.AppendUvarint(v1, 3)
	v1 = binary.AppendUvarint(v1, 1)
	v1 = binary.BigEndian.AppendUint64(v1, 0x0123456789abcdef)
	return map[string][]byte{
		"v2-endpoints": appendHeader(nil, &header{count: 1_000_000, chunks: 300, digest: 0xfeedface, endpoints: eps}),
		"v2-empty":     appendHeader(nil, &header{chunks: 1}),
		"v1":           v1,
	}
}

func chunkSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	for _, ver := range []byte{snapshotV1, snapshotV2} {
		v := []byte{ver, 0, 0, 0, 0}
		n := uint32(0)
		for _, c := range codecCases() {
			if c.ev.Kind == engine.EventEndpoint {
				continue
			}
			v = appendBinding(v, &c.ev.Binding, 0, ver)
			n++
		}
		binary.BigEndian.PutUint32(v[1:], n)
		seeds[fmt.Sprintf("v%d-codec-cases", ver)] = v
	}
	seeds["v2-empty"] = []byte{snapshotV2, 0, 0, 0, 0}
	return seeds
}

func indexSeeds() map[string][]any {
	seeds := map[string][]any{}
	cs := codecCases()
	for i := 0; i+1 < len(cs); i += 2 {
		b1, b2 := &cs[i].ev.Binding, &cs[i+1].ev.Binding
		a1, a2 := b1.Prefix.Addr().As16(), b2.Prefix.Addr().As16()
		seeds[fmt.Sprintf("pair-%02d", i/2)] = []any{uint8(b1.Kind), uint8(b2.Kind), a1[:], a2[:],
			uint8(b1.Prefix.Bits()), uint8(b2.Prefix.Bits()), uint64(i + 1), uint64(1 << 40), b1.DUID, b2.DUID}
	}
	a := netip.MustParseAddr("2001:db8::1").As16()
	seeds["same-resource"] = []any{uint8(1), uint8(1), a[:], a[:], uint8(128), uint8(128), uint64(255), uint64(256), "\x00\x01ab", "\x00\x01ab"}
	seeds["duid-prefix-of-another"] = []any{uint8(1), uint8(2), a[:], a[:], uint8(128), uint8(64), uint64(1), uint64(2), "\x00\x01", "\x00\x01\x00"}
	return seeds
}

func corpusContent(args ...any) []byte {
	b := []byte("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case string:
			b = fmt.Appendf(b, "string(%q)\n", v)
		case uint8:
			b = fmt.Appendf(b, "byte(%q)\n", v)
		case uint64:
			b = fmt.Appendf(b, "uint64(%d)\n", v)
		default:
			panic(fmt.Sprintf("corpusContent: %T", a))
		}
	}
	return b
}

// TestFuzzCorpora checks (or, with -update-seeds, writes) the committed
// seed corpora under testdata/fuzz.
func TestFuzzCorpora(t *testing.T) {
	in := map[string]map[string][]any{"FuzzSnapshotHeader": {}, "FuzzSnapshotChunk": {}, "FuzzIndexKeys": indexSeeds(), "FuzzDecodeEvent": {}}
	for name, v := range headerSeeds() {
		in["FuzzSnapshotHeader"][name] = []any{v}
	}
	for name, v := range chunkSeeds() {
		in["FuzzSnapshotChunk"][name] = []any{v}
	}
	for i, c := range codecCases() {
		b, err := AppendEvent(nil, &c.ev)
		if err != nil {
			t.Fatal(err)
		}
		in["FuzzDecodeEvent"][fmt.Sprintf("case-%02d", i)] = []any{b}
	}
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

package journal

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkWho's journal: -who-events events (default small, so the
// benchmark stays cheap in a plain -bench run), kept in -who-dir when set
// so that a second run, or `tandem journal who`, can reuse it.
var (
	whoEvents = flag.Int("who-events", 200_000, "BenchmarkWho: events in the journal")
	whoDir    = flag.String("who-dir", "", "BenchmarkWho: build the journal in (or reuse it from) this Pebble `dir`")
)

// BenchmarkWho measures Who (an index seek and a backwards walk over the
// resource's keys, then one event read) on a journal of -who-events
// events over about 130,000 resources, written the way a server writes
// (batches of up to 1024, snapshots when due), opened read-only.
func BenchmarkWho(b *testing.B) {
	dir := *whoDir
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "journal")
	}
	g := newGen(31, 100_000, 30_000)
	if _, err := os.Stat(dir); err != nil {
		t0 := time.Now()
		j := openT(b, Options{Dir: dir, Logger: zap.NewNop()})
		e := newEngine(b)
		r := rand.New(rand.NewPCG(31, 31))
		for left := *whoEvents; left > 0; {
			n := min(left, 65536)
			appendAll(b, j, e, g.events(n), 1024, r)
			left -= n
		}
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %d events in %v", *whoEvents, time.Since(t0))
	}
	t0 := time.Now()
	j := openT(b, Options{Dir: dir, Logger: zap.NewNop(), ReadOnly: true})
	defer j.Close()
	open := time.Since(t0)
	if !j.Indexed() {
		b.Fatal("not indexed")
	}
	first, last := int64(1_760_000_000), 1_760_000_000+int64(j.LastSeq()) // gen advances 0-2 s an event
	r := rand.New(rand.NewPCG(32, 32))
	held := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k, p := g.resource()
		h, err := j.Who(Resource{Kind: k, Prefix: p}, first+r.Int64N(last-first))
		if err != nil {
			b.Fatal(err)
		}
		if h.Held {
			held++
		}
	}
	b.ReportMetric(float64(held)/float64(b.N), "held-ratio")
	b.ReportMetric(float64(open.Milliseconds()), "open-ms")
}

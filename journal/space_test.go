package journal

import (
	"testing"
	"time"
)

func TestSpaceLow(t *testing.T) {
	for _, c := range []struct {
		minFree uint64
		low     bool
	}{{1, false}, {^uint64(0), true}} {
		j, err := Open(Options{Dir: t.TempDir(), MinFree: c.minFree})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		low, free := j.SpaceLow(now)
		if low != c.low || free == 0 || j.SpaceErr() != nil {
			t.Errorf("MinFree %d: SpaceLow = %v, %d free (err %v); want low=%v with the free bytes", c.minFree, low, free, j.SpaceErr(), c.low)
		}
		if got := j.MinFree(); got != c.minFree {
			t.Errorf("MinFree() = %d, want %d", got, c.minFree)
		}
		j.Close()
	}
	j, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.MinFree() != DefaultMinFree {
		t.Errorf("default MinFree %d, want %d", j.MinFree(), DefaultMinFree)
	}
}

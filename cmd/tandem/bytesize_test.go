package main

import "testing"

func TestByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		bad  bool
	}{
		{"0", 0, false}, {"4096", 4096, false}, {"128MiB", 128 << 20, false}, {"1GiB", 1 << 30, false},
		{"64M", 64 << 20, false}, {"10 KB", 10 << 10, false}, {"5B", 5, false},
		{"", 0, true}, {"-1", 0, true}, {"1.5GiB", 0, true}, {"12TiB", 0, true}, {"99999999999999999999G", 0, true},
	} {
		var b byteSize
		err := b.Set(c.in)
		if (err != nil) != c.bad || !c.bad && uint64(b) != c.want {
			t.Errorf("Set(%q) = %d, %v; want %d, error %v", c.in, b, err, c.want, c.bad)
		}
	}
}

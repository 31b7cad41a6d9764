package engine

// A fixed, portable hash (FNV-1a 64 finished with splitmix64). Allocation
// depends on it: two servers with the same config must pick the same
// address for a client (RFC 6853 identical-prefix model), so it must never
// change with the Go version, the process or the machine — hash/maphash
// would. Changing it changes every client's offered address.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

type hasher uint64

func newHasher() hasher { return fnvOffset }

func (h *hasher) byte(c byte) { *h = (*h ^ hasher(c)) * fnvPrime }

func (h *hasher) bytes(b []byte) {
	x := *h
	for _, c := range b {
		x = (x ^ hasher(c)) * fnvPrime
	}
	*h = x
}

func (h *hasher) str(s string) {
	x := *h
	for i := 0; i < len(s); i++ {
		x = (x ^ hasher(s[i])) * fnvPrime
	}
	*h = x
}

func (h *hasher) u64(v uint64) {
	for i := 0; i < 8; i++ {
		h.byte(byte(v >> (8 * i)))
	}
}

func (h hasher) sum() uint64 { return uint64(h) }

// mix is splitmix64's finaliser: FNV's low bits are weak, and allocation
// takes the hash modulo small pool sizes.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

package wire

import "testing"

// go test -run='^$' -bench=. -benchmem -count=10 ./netio/wire/ | benchstat -

func BenchmarkDecode(b *testing.B) {
	for _, bb := range []struct {
		name string
		in   []byte
	}{
		{"solicit", solicitMsg().ToBytes()},
		{"request", requestMsg().ToBytes()},
		{"renew", renewMsg().ToBytes()},
		{"relayed-solicit", relayed2(solicitMsg())},
	} {
		b.Run(bb.name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.in)))
			for b.Loop() {
				if err := p.Decode(bb.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bb := range []struct {
		name   string
		encode func([]byte) []byte
	}{
		{"advertise", appendAdvertise},
		{"reply", appendReply},
		{"relayed-reply", appendRelayedReply},
	} {
		b.Run(bb.name, func(b *testing.B) {
			buf := make([]byte, 0, 1500)
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.encode(nil))))
			for b.Loop() {
				buf = bb.encode(buf[:0])
			}
		})
	}
}

package replicate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// testFrame builds a framed message of type t with payload bytes of filler
// option data, so that the whole frame is 2+8+4+payload bytes.
func testFrame(b []byte, t wire.MsgType, xid uint32, payload int) []byte {
	b, f := wire.BeginFrame(b, t, xid, 1234)
	b, o := wire.BeginOption(b, 0xfffe)
	for i := range payload {
		b = append(b, byte(i))
	}
	b = wire.EndOption(b, o)
	return wire.EndFrame(b, f)
}

func TestFrameReaderStream(t *testing.T) {
	var stream []byte
	for i := range 200 {
		stream = testFrame(stream, wire.BndUpd+wire.MsgType(i%12), uint32(i), i*7)
	}
	for name, r := range map[string]io.Reader{
		"whole":   bytes.NewReader(stream),
		"onebyte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":    iotest.HalfReader(bytes.NewReader(stream)),
		"dataerr": iotest.DataErrReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			fr := NewFrameReader(r, 0, 0)
			for i := range 200 {
				msg, err := fr.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				var m wire.FailoverMsg
				if err := m.Decode(msg); err != nil {
					t.Fatalf("frame %d: decode: %v", i, err)
				}
				if m.XID != uint32(i) || m.Type != wire.BndUpd+wire.MsgType(i%12) || len(msg) != 12+i*7 {
					t.Fatalf("frame %d: got xid %d type %v len %d", i, m.XID, m.Type, len(msg))
				}
			}
			if _, err := fr.Next(); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameReaderRejects(t *testing.T) {
	good := testFrame(nil, wire.Contact, 1, 0)
	short := []byte{0, 7, byte(wire.Contact), 0, 0, 1, 0, 0, 0}
	wrongType := testFrame(nil, wire.Contact, 1, 0)
	wrongType[2] = byte(wire.Reply)
	large := testFrame(nil, wire.BndUpd, 1, 200)
	for _, tc := range []struct {
		name  string
		in    []byte
		max   int
		first error
	}{
		{"short header", short, 0, ErrFrameShort},
		{"zero length", []byte{0, 0}, 0, ErrFrameShort},
		{"client message type", wrongType, 0, ErrFrameType},
		{"over the bound", large, 100, ErrFrameLarge},
		{"truncated frame", good[:len(good)-1], 0, io.ErrUnexpectedEOF},
		{"truncated length", good[:1], 0, io.ErrUnexpectedEOF},
		{"empty", nil, 0, io.EOF},
		{"at the bound", large, len(large) - 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tc.in), 0, tc.max)
			if _, err := fr.Next(); !errors.Is(err, tc.first) {
				t.Fatalf("got %v, want %v", err, tc.first)
			}
		})
	}
}

// countingWriter counts Writes and keeps what was written.
type countingWriter struct {
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func TestFrameWriterBatches(t *testing.T) {
	var w countingWriter
	fw := NewFrameWriter(&w, 1000)
	frame := testFrame(nil, wire.BndUpd, 9, 86) // 100 bytes
	if len(frame) != 100 {
		t.Fatalf("frame is %d bytes", len(frame))
	}
	for range 95 {
		if err := fw.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if w.writes != 9 || fw.Buffered() != 500 {
		t.Fatalf("after 95 frames: %d writes, %d buffered; want 9 and 500", w.writes, fw.Buffered())
	}
	// In-place encoding through Tail/Commit joins the same batch.
	b := fw.Tail()
	b = testFrame(b, wire.Contact, 10, 0)
	if err := fw.Commit(b); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.writes != 10 || w.buf.Len() != 95*100+14 {
		t.Fatalf("after flush: %d writes, %d bytes", w.writes, w.buf.Len())
	}
	// A frame larger than the batch goes out whole, on its own.
	big := testFrame(nil, wire.BndUpd, 11, 3000)
	if err := fw.WriteFrame(big); err != nil || w.writes != 11 || fw.Buffered() != 0 {
		t.Fatalf("big frame: err %v, %d writes, %d buffered", err, w.writes, fw.Buffered())
	}
	// Everything reads back in order.
	fr := NewFrameReader(&w.buf, 0, 0)
	for i := range 97 {
		msg, err := fr.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i == 96 && (len(msg) != len(big)-2 || binary.BigEndian.Uint32(msg)&0xffffff != 11) {
			t.Fatalf("last frame wrong")
		}
	}
}

// chunkReader returns data in chunk sizes taken from sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])*37 + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func FuzzFrameReader(f *testing.F) {
	var seed []byte
	for i := range 5 {
		seed = testFrame(seed, wire.BndUpd+wire.MsgType(i), uint32(i), i*30)
	}
	f.Add(seed, []byte{0, 3, 200}, uint16(0))
	f.Add(seed, []byte{255}, uint16(40))
	f.Add([]byte{0, 7, 24, 0, 0, 0, 0, 0, 0}, []byte(nil), uint16(0))
	f.Add([]byte{0xff, 0xff, 24}, []byte{1}, uint16(0))
	f.Add(append(testFrame(nil, wire.State, 3, 4), 0, 9, 7), []byte{2, 2}, uint16(100))
	f.Fuzz(func(t *testing.T, data, sizes []byte, maxFrame uint16) {
		fr := NewFrameReader(&chunkReader{data: data, sizes: sizes}, 0, int(maxFrame))
		total := 0
		for {
			msg, err := fr.Next()
			if err != nil {
				return
			}
			if len(msg) < wire.FailoverHeaderLen || (maxFrame != 0 && len(msg) > int(maxFrame)) {
				t.Fatalf("frame of %d bytes passed (max %d)", len(msg), maxFrame)
			}
			if tp := wire.MsgType(msg[0]); tp < wire.BndUpd || tp > wire.Contact {
				t.Fatalf("frame of type %d passed", tp)
			}
			total += 2 + len(msg)
			if total > len(data) {
				t.Fatalf("returned %d bytes of frames from %d bytes of input", total, len(data))
			}
			var m wire.FailoverMsg
			_ = m.Decode(msg) // must not panic either
		}
	})
}

package replicate

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/tandemdhcp/tandem/netio/wire"
)

// Framing errors. A framing error ends the connection: after a bad length
// the stream has no resynchronisation point.
var (
	ErrFrameShort = errors.New("replicate: frame shorter than the failover header")
	ErrFrameLarge = errors.New("replicate: frame larger than the configured bound")
	ErrFrameType  = errors.New("replicate: frame carries a non-failover message type")
)

// DefaultReadBuffer is the FrameReader's buffer when none is asked for: one
// largest frame plus its length, so any legal frame fits without a second
// buffer, and large enough that one read(2) usually returns many BNDUPDs.
const DefaultReadBuffer = wire.MaxFrame + 2

// DefaultBatch is the FrameWriter's flush threshold: the size of one write.
// 32 KiB is a few hundred BNDUPDs — enough that a catch-up stream costs few
// syscalls, small enough that a CONTACT or STATE behind a batch waits
// microseconds, not milliseconds, on a LAN.
const DefaultBatch = 32 << 10

// FrameReader reads 2-byte-length framed failover messages (RFC 5460 §5.1)
// from a stream into one reusable buffer.
//
// Design: the buffer is filled by as few Reads as possible and frames are
// handed out as slices of it, so a steady stream costs no allocation and one
// read(2) per buffer-full rather than per frame. A frame is checked before it
// is returned: at least the 8-byte header, at most the configured bound, a
// failover message type (24–35). The bound is checked from the length field
// alone, so a hostile length never makes the reader wait for or buffer more
// than the bound.
type FrameReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	max        int
}

// NewFrameReader reads from r with a buffer of at least size bytes; frames
// longer than maxFrame (message bytes, not counting the 2-byte length) are
// rejected with ErrFrameLarge. maxFrame ≤ 0 or above wire.MaxFrame means
// wire.MaxFrame.
func NewFrameReader(r io.Reader, size, maxFrame int) *FrameReader {
	if maxFrame <= 0 || maxFrame > wire.MaxFrame {
		maxFrame = wire.MaxFrame
	}
	size = max(size, maxFrame+2)
	return &FrameReader{r: r, buf: make([]byte, size), max: maxFrame}
}

// Reset makes the reader read from r, dropping any buffered bytes. The
// buffer is kept, so one FrameReader serves connection after connection.
func (fr *FrameReader) Reset(r io.Reader) {
	fr.r, fr.start, fr.end = r, 0, 0
}

// Buffered is how many bytes are read but not yet returned as frames.
func (fr *FrameReader) Buffered() int { return fr.end - fr.start }

// Next returns the next message, without its 2-byte length. The slice
// aliases the reader's buffer and is valid only until the next call. A
// clean end of stream between frames is io.EOF; one inside a frame is
// io.ErrUnexpectedEOF.
func (fr *FrameReader) Next() ([]byte, error) {
	if err := fr.fill(2); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(fr.buf[fr.start:]))
	switch {
	case n < wire.FailoverHeaderLen:
		return nil, ErrFrameShort
	case n > fr.max:
		return nil, ErrFrameLarge
	}
	if err := fr.fill(2 + n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	msg := fr.buf[fr.start+2 : fr.start+2+n : fr.start+2+n]
	if t := wire.MsgType(msg[0]); t < wire.BndUpd || t > wire.Contact {
		return nil, ErrFrameType
	}
	fr.start += 2 + n
	return msg, nil
}

// fill makes at least need bytes available at buf[start:], moving the
// unread tail to the front when the frame would run off the end.
func (fr *FrameReader) fill(need int) error {
	if fr.end-fr.start >= need {
		return nil
	}
	if fr.start == fr.end {
		fr.start, fr.end = 0, 0
	} else if fr.start+need > len(fr.buf) {
		fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
		fr.start = 0
	}
	for fr.end-fr.start < need {
		n, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += n
		if err != nil {
			if fr.end-fr.start >= need {
				return nil // report the error on the next call
			}
			if err == io.EOF && fr.end != fr.start {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if n == 0 {
			// A Reader that returns 0, nil forever would spin; io.Reader
			// discourages it and the net package never does it.
			continue
		}
	}
	return nil
}

// FrameWriter batches framed messages and writes them with as few Writes as
// possible: the batch is written when adding a frame would pass the batch
// size, or when the caller Flushes (the writer's queue ran dry, a keepalive
// or a shutdown must leave now). Frames are written whole and in order; the
// buffer is reused, so steady-state writing allocates nothing.
type FrameWriter struct {
	w     io.Writer
	buf   []byte
	batch int
}

// NewFrameWriter writes to w in batches of up to batch bytes (≤ 0 means
// DefaultBatch). A single frame larger than the batch is written on its own.
func NewFrameWriter(w io.Writer, batch int) *FrameWriter {
	if batch <= 0 {
		batch = DefaultBatch
	}
	return &FrameWriter{w: w, buf: make([]byte, 0, batch+wire.MaxFrame+2), batch: batch}
}

// Reset makes the writer write to w, dropping anything unflushed.
func (fw *FrameWriter) Reset(w io.Writer) { fw.w, fw.buf = w, fw.buf[:0] }

// Buffered is how many bytes wait for the next Write.
func (fw *FrameWriter) Buffered() int { return len(fw.buf) }

// WriteFrame adds one framed message (2-byte length included, as
// wire.BeginFrame/EndFrame build it) to the batch; it may Write.
func (fw *FrameWriter) WriteFrame(frame []byte) error {
	if len(fw.buf) > 0 && len(fw.buf)+len(frame) > fw.batch {
		if err := fw.Flush(); err != nil {
			return err
		}
	}
	fw.buf = append(fw.buf, frame...)
	if len(fw.buf) >= fw.batch {
		return fw.Flush()
	}
	return nil
}

// Tail returns the batch buffer so that a frame can be encoded in place
// (wire.BeginFrame(fw.Tail(), ...)); hand the result to Commit. Nothing is
// written in between.
func (fw *FrameWriter) Tail() []byte { return fw.buf }

// Commit takes back the buffer Tail returned, with frames appended, and
// writes the batch if it has reached the batch size.
func (fw *FrameWriter) Commit(b []byte) error {
	fw.buf = b
	if len(fw.buf) >= fw.batch {
		return fw.Flush()
	}
	return nil
}

// Flush writes everything batched.
func (fw *FrameWriter) Flush() error {
	if len(fw.buf) == 0 {
		return nil
	}
	_, err := fw.w.Write(fw.buf)
	fw.buf = fw.buf[:0]
	return err
}

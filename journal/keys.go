package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Key tags and meta names. Part of the format: they must not change (see
// the package doc).
const (
	tagChunk  = 'c' // 'c' seq(8) chunk(4) → snapshot chunk
	tagEvent  = 'e' // 'e' seq(8) → event
	tagHeader = 'h' // 'h' seq(8) → snapshot header
	tagMeta   = 'm' // 'm' name → meta value

	// storeFormat is the version of the key layout, kept under
	// metaFormat. Open refuses any other.
	storeFormat = 1
)

var (
	metaFormat = []byte("mformat") // uvarint store format version
	metaLast   = []byte("mlast")   // seq(8) of the last event appended
)

const (
	seqKeyLen   = 1 + 8     // tag + seq
	chunkKeyLen = 1 + 8 + 4 // tag + seq + chunk index
)

// seqKey writes tag+seq into k and returns it.
func seqKey(k *[seqKeyLen]byte, tag byte, seq uint64) []byte {
	k[0] = tag
	binary.BigEndian.PutUint64(k[1:], seq)
	return k[:]
}

func chunkKey(k *[chunkKeyLen]byte, seq uint64, idx uint32) []byte {
	k[0] = tagChunk
	binary.BigEndian.PutUint64(k[1:], seq)
	binary.BigEndian.PutUint32(k[9:], idx)
	return k[:]
}

// keySeq parses a tag+seq key (or the seq part of a chunk key).
func keySeq(k []byte) (uint64, bool) {
	if len(k) < seqKeyLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:9]), true
}

// tagBounds returns the key range [tag+from, tag+1) for an iterator.
func tagBounds(tag byte, from uint64) (lo, hi []byte) {
	var k [seqKeyLen]byte
	lo = append([]byte(nil), seqKey(&k, tag, from)...)
	return lo, []byte{tag + 1}
}

// Errors. Problems found at a sequence number come as a *SeqError that
// wraps one of these.
var (
	// ErrMissingEvent: a sequence number has no event (a gap, or a tail
	// lost after the last recorded append).
	ErrMissingEvent = errors.New("journal: missing event")
	// ErrCorruptSnapshot: a snapshot does not decode or does not match its
	// header.
	ErrCorruptSnapshot = errors.New("journal: corrupt snapshot")
	// ErrUnknownFormat: the store was written by an incompatible version,
	// or is not a tandem journal.
	ErrUnknownFormat = errors.New("journal: unknown store format")
	// ErrReadOnly: a write on a journal opened with ReadOnly.
	ErrReadOnly = errors.New("journal: read-only")
	// ErrClosed: a call after Close.
	ErrClosed = errors.New("journal: closed")
)

// SeqError names the sequence number a problem was found at; it wraps the
// problem (ErrCorruptEvent, ErrMissingEvent, ErrCorruptSnapshot, …).
type SeqError struct {
	Seq uint64
	Err error
}

func (e *SeqError) Error() string {
	return fmt.Sprintf("journal: seq %d: %s", e.Seq, strings.TrimPrefix(e.Err.Error(), "journal: "))
}

func (e *SeqError) Unwrap() error { return e.Err }

func seqErr(seq uint64, err error) error { return &SeqError{Seq: seq, Err: err} }

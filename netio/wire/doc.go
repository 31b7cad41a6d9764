// Package wire is tandem's zero-allocation DHCPv6 codec (RFC 8415).
//
// Decoding fills a caller-owned Packet in place: every byte slice in it
// aliases the input buffer, so a Packet is valid only while that buffer is
// unchanged, and decoding the same Packet twice reuses its arrays. Nothing in
// this package allocates on the decode or encode path; tests assert it.
//
// Encoding is append-style (AppendX(dst, ...) []byte). Options that contain
// other options are written with BeginOption/EndOption, which reserve the
// 4-byte header and patch the length afterwards, so nested IAs and relay
// messages are encoded in one pass into one buffer.
//
// Layout of a client/server message (RFC 8415 §8) and a relay message (§9):
//
//	 0               1               2               3
//	+---------------+-----------------------------------------------+
//	|   msg-type    |               transaction-id                  |
//	+---------------+-----------------------------------------------+
//	|                            options ...                        |
//
//	+---------------+---------------+
//	|   msg-type    |   hop-count   |  link-address (16) | peer-address (16) | options ...
//	+---------------+---------------+
//
// Every option is code(2) length(2) data(length). Malformed input returns one
// of the sentinel errors below; the decoder never panics (fuzzed, and
// checked against github.com/insomniacslk/dhcp's parser).
//
// This package imports nothing of tandem's, so the engine, the server loop,
// the load generator and the failover framing can all share it.
package wire

// Package bench holds tandem's load generator and benchmark suites. It is a
// library; cmd/tandem's "bench" subcommand is a flag shim over Run.
//
// The generator simulates many DHCPv6 clients (distinct DUIDs) doing the
// four-message SOLICIT/ADVERTISE/REQUEST/REPLY exchange, sent as a relay
// (RELAY-FORW by unicast), open loop at a fixed rate: a slow server shows up
// as drops and latency, not as a slower generator. It speaks plain RFC 8415,
// so it works against any server, Kea included.
package bench

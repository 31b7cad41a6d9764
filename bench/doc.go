// Package bench holds tandem's load generator and benchmark suites. It is a
// library; cmd/tandem's "bench" subcommand is a flag shim over Run.
//
// The generator simulates many DHCPv6 clients (distinct DUIDs) running
// exchanges open loop at a fixed rate: a slow server shows up as drops and
// latency, not as a slower generator. An exchange is the four-message
// SOLICIT/ADVERTISE/REQUEST/REPLY allocation, or a RENEW/REPLY or
// RELEASE/REPLY for a binding the run obtained, weighed by a Mix. Messages
// go relayed (one RELAY-FORW layer, by unicast from several source ports so
// a server's SO_REUSEPORT group spreads them) or direct (multicast to
// ff02::1:2 on an interface, from its link-local address). It speaks plain
// RFC 8415, so it works against any server, Kea included. With Ramp it
// searches for the highest rate with fewer than 1 % drops. Config.Also
// makes it a relay that forwards every message to several servers, as one
// configured with both addresses of a failover pair does.
//
// A Session keeps one generator and its clients open across stages, for
// a story told with one set of clients (tandem demo): load, then a sweep
// of RENEWs or REBINDs for the clients that hold bindings, then Compare
// what they held before with what they hold after.
//
// The generator must never be what a benchmark measures, so its packet
// path allocates nothing and makes few system calls: one goroutine polls
// all its sockets once per tick with recvmmsg and sends each socket's queue
// with one sendmmsg (gen.go tells why), and latencies come from kernel
// receive timestamps into a log-linear Histogram of fixed size.
package bench

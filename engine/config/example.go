package config

import _ "embed"

//go:embed example.yaml
var example string

//go:embed default.yaml
var defaultConfig string

// Example returns a commented, valid config: CONTRACT.md's example, using
// documentation prefixes (2001:db8::/32). `tandem config example` prints it.
func Example() string { return example }

// Default returns the embedded config used until an operator writes one
// (`make run`, `tandem serve --default`). It needs no root: no interfaces,
// relayed traffic on [::1]:5547, control on 127.0.0.1:8547, state in
// ./tandem-data relative to the working directory, one subnet
// 2001:db8:1::/64 with an address pool and /56 delegation from
// 2001:db8:100::/40, and short lifetimes (valid 10m).
func Default() string { return defaultConfig }

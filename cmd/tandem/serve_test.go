package main

import "testing"

// TestServePprofLoopbackOnly: --pprof refuses any address a remote host
// could reach.
func TestServePprofLoopbackOnly(t *testing.T) {
	for _, a := range []string{"0.0.0.0:6060", "[::]:6060", ":6060", "192.0.2.1:6060", "example.net:6060", "127.0.0.1"} {
		if err := servePprof(a); err == nil {
			t.Errorf("--pprof %s accepted", a)
		}
	}
	for _, a := range []string{"127.0.0.1:0", "[::1]:0"} {
		if err := servePprof(a); err != nil {
			t.Errorf("--pprof %s: %v", a, err)
		}
	}
}

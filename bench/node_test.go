package bench_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/engine"
	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/engine/node"
)

const nodeConfig = `
server:
  data-dir: DATADIR
  listen: ["[::1]:0"]
  control: ""
lifetimes: {preferred: 5m, valid: 10m}
subnets:
  - prefix: 2001:db8:1::/64
    pools: ["2001:db8:1::1000-2001:db8:1::ffff"]
    pd-pools:
      - {prefix: "2001:db8:100::/40", delegated-length: 56}
`

// TestBenchMixAgainstNode drives a real tandem node (engine, journal,
// batched sockets with two SO_REUSEPORT readers) with a mix of
// allocations, renewals and releases, and checks on the server's side that
// they happened: leases the generator released are RELEASED in the engine,
// and leases it renewed have a client-last-transaction time later than the
// time they became ACTIVE (the run spans more than one second, the
// engine's time unit; renewals go to the clients bound longest ago, and
// with solicits 3.5 times as frequent those are about 0.3·t seconds old at
// time t; no client is solicited twice).
func TestBenchMixAgainstNode(t *testing.T) {
	f, err := config.Parse("bench.yaml", []byte(strings.ReplaceAll(nodeConfig, "DATADIR", t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{File: f, Logger: zaptest.NewLogger(t), Readers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()

	c := bench.DefaultConfig()
	c.Server = n.ListenAddrs()[0]
	c.Rate, c.Duration, c.Clients, c.Sockets = 500, 2200*time.Millisecond, 5000, 4
	c.Mix = bench.Mix{bench.Solicit: 70, bench.Renew: 20, bench.Release: 10}
	r, err := bench.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	ex := r.Exchanges
	t.Logf("solicit %+v", ex.Solicit)
	t.Logf("renew   %+v", ex.Renew)
	t.Logf("release %+v", ex.Release)
	if r.DropRatio > 0.01 || ex.Renew.Completed < 150 || ex.Release.Completed < 80 {
		t.Fatalf("want a clean run with renewals and releases: %+v", r)
	}

	var active, released, renewed int
	n.Do(func(e *engine.Engine) {
		e.ForEach(func(b *engine.Binding) bool {
			switch b.Status {
			case engine.StatusActive:
				active++
				if b.CLTT > b.StartOfState {
					renewed++
				}
			case engine.StatusReleased:
				released++
			}
			return true
		})
	})
	t.Logf("server: %d active (%d renewed after the second they were granted), %d released", active, renewed, released)
	// Each exchange covers an address and a prefix.
	if released != 2*int(ex.Release.Completed) {
		t.Errorf("%d released leases on the server, want 2 × %d releases", released, ex.Release.Completed)
	}
	if want := 2 * int(ex.Solicit.Completed-ex.Release.Completed); active != want {
		t.Errorf("%d active leases on the server, want 2 × (%d allocations − %d releases)", active, ex.Solicit.Completed, ex.Release.Completed)
	}
	if renewed == 0 {
		t.Error("no lease on the server shows a renewal")
	}
}

package bench

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio"
)

// TestServeEcho: the echo responder the suite measures against answers
// every exchange of a renew/release mix, and returns its count on Close.
func TestServeEcho(t *testing.T) {
	conn, err := netio.ListenUnicast(netip.MustParseAddrPort("[::1]:0"), true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan uint64, 1)
	go func() {
		n, err := ServeEcho(conn)
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	c := DefaultConfig()
	c.Server = conn.LocalAddr()
	c.Rate, c.Duration, c.Clients, c.Timeout = 2000, 250*time.Millisecond, 1000, 500*time.Millisecond
	c.Mix = Mix{Solicit: 80, Renew: 15, Release: 5}
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Clean || r.Completed != r.Started || r.Exchanges.Renew.Completed == 0 || r.Exchanges.Release.Completed == 0 {
		t.Errorf("want every exchange answered, renewals and releases among them: %+v", r)
	}
	conn.Close()
	if n := <-done; n != r.RxPackets {
		t.Errorf("echo answered %d, generator received %d", n, r.RxPackets)
	}
}

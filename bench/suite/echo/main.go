// Command echo is the bare UDP responder of the benchmark suite: relayed
// DHCPv6 answered on tandem's socket code (netio: recvmmsg, sendmmsg,
// SO_REUSEPORT) with bench.AppendEchoReply and nothing else — no engine, no
// journal. Driven by tandem bench, its clean rate is the ceiling that the
// socket path and the kernel leave a server on this machine; the suite
// reports tandem's as a share of it.
//
//	echo --listen [2001:db8:77::1]:547 --readers 1
//
// It runs until SIGTERM or SIGINT and then prints how many answers it sent.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tandemdhcp/tandem/bench"
	"github.com/tandemdhcp/tandem/netio"
)

func main() {
	listen := flag.String("listen", "[::]:547", "unicast `address:port` to answer on")
	// One reader, as tandem serve's --readers default: the suite compares
	// the two on the same core with the same number of sockets.
	readers := flag.Int("readers", 1, "SO_REUSEPORT sockets, one goroutine each")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || *readers < 1 {
		fmt.Fprintf(os.Stderr, "echo: --listen %q / --readers %d: want address:port and ≥ 1\n", *listen, *readers)
		os.Exit(2)
	}
	var conns []*netio.Conn
	for range *readers {
		c, err := netio.ListenUnicast(ap, true)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	var (
		wg    sync.WaitGroup
		total atomic.Uint64
	)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, _ := bench.ServeEcho(c)
			total.Add(n)
		}()
	}
	fmt.Fprintf(os.Stderr, "echo: answering on %s with %d socket(s)\n", ap, len(conns))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "echo: %d answers sent\n", total.Load())
}

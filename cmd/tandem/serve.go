package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tandemdhcp/tandem/engine/config"
	"github.com/tandemdhcp/tandem/engine/node"
)

const serveUsage = `NAME
    tandem serve — run one DHCPv6 server

SYNOPSIS
    tandem serve --config FILE [flags]
    tandem serve --default [flags]

DESCRIPTION
    Serves DHCPv6 clients on the interfaces (multicast ff02::1:2) and unicast
    listen addresses (relayed traffic) of the config file. Every lease change
    is synced to the journal in server.data-dir before the reply that reveals
    it is sent. SIGTERM or SIGINT: finish in-flight work, flush, exit 0.
    A bad config exits 1 with one line naming the file, line and key.

    --default runs the embedded default config ("tandem config default"):
    unicast on [::1]:5547, data in ./tandem-data, documentation prefixes.

RETENTION
    --journal-retention D (or server.journal-retention in the config)
    removes journal events older than D, about once an hour, off the
    serving path; the state they built is kept as a snapshot, so restarts,
    tandem journal replay and verify still work, and tandem journal who
    says when a question reaches before the horizon.

TUNING
    --journal-batch and --journal-wait size the journal's group commit (one
    fsync per commit); --readers and --read-batch the UDP receive side;
    --repl-batch and --repl-max-unacked the partner link: how many
    messages one write carries and how many BNDUPDs the partner may have
    unacknowledged (MAX_UNACKED_BNDUPD) before it waits for BNDREPLYs.

DISK SPACE
    The journal keeps --journal-min-free of its filesystem free (default
    128MiB: what its store may write at once, a memtable flush and a new
    log, with a margin). Below it the server grants no new leases and
    answers no client until space returns: it logs "journal space low"
    at error level, /v1/status shows journal.space_low and journal.error,
    and tandem_journal_space_low is 1; the refused requests are counted in
    tandem_packets_dropped_total{reason="journal-full"}. Partner messages
    and endpoint state changes still go to the journal from the reserve.
    Serving resumes by itself when space is freed.

PROFILING
    --pprof ADDR serves Go's net/http/pprof handlers under /debug/pprof/ on
    ADDR, which must be a loopback address (127.0.0.1:6060, [::1]:6060):
    for example a 10 s CPU profile under load with
        go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=10
    Off unless given.

OPTIONS
{{flags}}
EXAMPLES
    tandem serve --config /etc/tandem/tandem.yaml
    tandem serve --default --log-format console
    tandem serve --config tandem.yaml --journal-batch 8192 --readers 4

EXIT STATUS
    0 stopped by SIGTERM or SIGINT; 1 a bad config, the server could not
    start (a socket, the data-dir, the control API), or it stopped because
    a journal commit failed (a restart replays the journal); 2 bad usage.
`

func serveMain(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config `file` (YAML)")
	useDefault := fs.Bool("default", false, "use the embedded default config")
	logFormat := fs.String("log-format", "json", "log format: json or console")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback `address` (e.g. 127.0.0.1:6060); empty: off")
	var o node.Options
	fs.IntVar(&o.JournalBatch, "journal-batch", 4096, "max events per journal commit")
	fs.DurationVar(&o.JournalWait, "journal-wait", 0, "max time a journal commit waits to fill (0: commit when the queue is drained)")
	fs.IntVar(&o.Readers, "readers", 1, "unicast sockets (SO_REUSEPORT) and reader goroutines per listen address")
	fs.IntVar(&o.ReadBatch, "read-batch", 64, "datagrams per read syscall (recvmmsg)")
	fs.Uint64Var(&o.SnapshotEvery, "snapshot-every", 100000, "journal events between snapshots, at least (and at least 4× as many as the last snapshot held records, so their cost per event stays constant)")
	fs.IntVar(&o.ReplBatch, "repl-batch", 0, "max partner messages (BNDUPDs, BNDREPLYs) per write syscall (0: all queued)")
	fs.IntVar(&o.ReplMaxUnacked, "repl-max-unacked", 0, "MAX_UNACKED_BNDUPD window advertised to partners; overrides each relationship's max-unacked-bndupd (0: keep the config's)")
	fs.Var((*byteSize)(&o.JournalMinFree), "journal-min-free", "free `space` kept in reserve on the journal's filesystem (e.g. 128MiB, 1GiB); below it no new leases are granted (default 128MiB)")
	fs.Func("journal-retention", "remove journal history older than this `duration` (e.g. 400d), keeping its state as a snapshot; overrides server.journal-retention (default: the config's; none: keep all)", func(s string) error {
		d, err := config.ParseDuration(s)
		o.JournalRetention = d
		return err
	})
	if code, ok := parsePage(fs, serveUsage, args, os.Stdout, os.Stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(fs, serveUsage, "unexpected argument %q", fs.Arg(0))
	}
	var (
		f   *config.File
		err error
	)
	switch {
	case *useDefault:
		f, err = config.Parse("<default>", []byte(config.Default()))
	case *cfgPath != "":
		f, err = config.Load(*cfgPath)
	default:
		fmt.Fprintln(os.Stderr, "tandem serve: --config FILE or --default is required")
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem serve:", err)
		return 1
	}
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem serve:", err)
		return 2
	}
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr); err != nil {
			fmt.Fprintln(os.Stderr, "tandem serve: --pprof:", err)
			return 2
		}
	}
	defer log.Sync()
	o.File, o.Logger = f, log
	n, err := node.Start(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem serve:", err)
		return 1
	}
	if f.Server.Control != "" {
		if err := n.ServeControl(f.Server.Control, f.Server.AllowRemoteControl); err != nil {
			fmt.Fprintln(os.Stderr, "tandem serve:", err)
			n.Stop()
			return 1
		}
	}
	log.Info("serving", zap.String("duid", node.FormatDUID(n.DUID())),
		zap.Strings("interfaces", f.Server.Interfaces), zap.Stringers("listen", f.Server.Listen))
	if *useDefault {
		fmt.Fprintf(os.Stderr, "\ntandem is serving the default config on [::1]:5547 (relayed DHCPv6, documentation prefixes).\n"+
			"Point a client at it: tandem's load generator acts as a relay on loopback:\n"+
			"    bin/tandem bench --server [::1]:5547 --link 2001:db8:1::1 --rate 500 --duration 5s\n"+
			"Status: curl -s http://%s/v1/status   Leases: curl -s http://%s/v1/leases   Metrics: curl -s http://%s/metrics\n"+
			"Stop with Ctrl-C.\n\n", f.Server.Control, f.Server.Control, f.Server.Control)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var s os.Signal
	select {
	case s = <-sig:
	case <-n.Done():
		// The loop stopped itself: a journal commit failed, and serving
		// on would answer from state the disk does not hold. Exit
		// non-zero so a supervisor restarts it on what the journal has.
		log.Error("serving stopped", zap.Error(n.Err()))
		if err := n.Stop(); err != nil {
			log.Error("stop", zap.Error(err))
		}
		return 1
	}
	log.Info("stopping", zap.String("signal", s.String()))
	t0 := time.Now()
	if err := n.Stop(); err != nil {
		log.Error("stop", zap.Error(err))
		return 1
	}
	log.Info("stopped", zap.Duration("took", time.Since(t0)))
	return 0
}

// servePprof serves the pprof handlers on addr, a loopback address only:
// a profile shows the server's internals and costs CPU to take.
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); (err != nil || !ip.IsLoopback()) && host != "localhost" {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return nil
}

func newLogger(format, level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	var c zap.Config
	switch format {
	case "json":
		c = zap.NewProductionConfig()
	case "console":
		c = zap.NewDevelopmentConfig()
		c.Development = false
	default:
		return nil, fmt.Errorf("--log-format %q: want json or console", format)
	}
	c.Level = zap.NewAtomicLevelAt(lvl)
	c.Sampling = nil
	return c.Build()
}

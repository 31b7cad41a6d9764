package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandemdhcp/tandem/engine/node"
)

// progress is the demo's live display. A goroutine polls both servers'
// /v1/status; on a terminal one line is redrawn in place four times a
// second, otherwise a plain line is printed every two seconds. The story's
// own lines go through say, which clears the live line first, so the two
// never interleave.
type progress struct {
	out     io.Writer
	tty     bool
	width   int
	t0      time.Time
	servers []*demoServer

	mu      sync.Mutex
	live    bool // a live line is on the screen (terminal only)
	running bool
	prev    []rateSample

	stop chan struct{}
	done chan struct{}
}

type rateSample struct {
	at      time.Time
	replied uint64
	ok      bool
}

// Live display cadence.
const (
	livePoll     = 250 * time.Millisecond // terminal: redraw this often
	plainEvery   = 2 * time.Second        // not a terminal: one line this often
	rateInterval = time.Second            // replies/s is measured over about this long
)

func newProgress(out *os.File, t0 time.Time, servers ...*demoServer) *progress {
	p := &progress{out: out, t0: t0, servers: servers, prev: make([]rateSample, len(servers)),
		stop: make(chan struct{}), done: make(chan struct{})}
	if ws, err := unix.IoctlGetWinsize(int(out.Fd()), unix.TIOCGWINSZ); err == nil {
		p.tty, p.width = true, int(ws.Col)
	}
	return p
}

func (p *progress) since() string { return fmt.Sprintf("[%5.1fs]", time.Since(p.t0).Seconds()) }

// say prints one line of the story.
func (p *progress) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.out, "%s %s\n", p.since(), fmt.Sprintf(format, args...))
}

// plain prints lines as they are (the summary).
func (p *progress) plain(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.out, format+"\n", args...)
}

func (p *progress) clear() {
	if p.live {
		fmt.Fprint(p.out, "\r\033[K")
		p.live = false
	}
}

// start starts polling and drawing, until close.
func (p *progress) start() {
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	go p.run()
}

func (p *progress) run() {
	defer close(p.done)
	every := plainEvery
	if p.tty {
		every = livePoll
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		line := p.line()
		p.mu.Lock()
		if p.tty {
			if p.width > 1 && len([]rune(line)) > p.width-1 {
				line = string([]rune(line)[:p.width-1])
			}
			fmt.Fprint(p.out, "\r\033[K"+line)
			p.live = true
		} else {
			fmt.Fprintln(p.out, line)
		}
		p.mu.Unlock()
	}
}

func (p *progress) close() {
	p.mu.Lock()
	running := p.running
	p.mu.Unlock()
	if running {
		close(p.stop)
		<-p.done
	}
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
}

// line is one status line: per server, its endpoint state, replies/s,
// active leases (addresses+prefixes), unacked BNDUPDs and replication lag
// (the oldest unacked change's wait now; p99 of recent acks).
func (p *progress) line() string {
	parts := make([]string, 0, len(p.servers))
	now := time.Now()
	for i, s := range p.servers {
		if !s.running() {
			parts = append(parts, s.name+" down")
			p.prev[i] = rateSample{}
			continue
		}
		st, err := s.status()
		if err != nil {
			parts = append(parts, s.name+" (no answer)")
			continue
		}
		rate := "     -"
		cur := rateSample{at: now, replied: st.Packets["replied"], ok: true}
		if pv := p.prev[i]; pv.ok && now.Sub(pv.at) > 0 {
			rate = fmt.Sprintf("%6.0f", float64(cur.replied-pv.replied)/now.Sub(pv.at).Seconds())
		}
		if !p.prev[i].ok || now.Sub(p.prev[i].at) >= rateInterval || !p.tty {
			p.prev[i] = cur
		}
		state, lag := "standalone", ""
		if r, ok := relStatus(&st); ok {
			state = shortState(r.State)
			lag = fmt.Sprintf(" unacked %d lag %.0fms p99 %.1fms", r.Unacked, r.LagMS, r.LagP99MS)
		}
		parts = append(parts, fmt.Sprintf("%s %-12s %s replies/s %d+%d leases%s",
			s.name, state, rate, st.Leases.NAActive, st.Leases.PDActive, lag))
	}
	return p.since() + " " + strings.Join(parts, " │ ")
}

// shortState fits RFC 8156's longest state names into a live line.
func shortState(s string) string {
	switch s {
	case "communications-interrupted":
		return "comm-interr"
	case "resolution-interrupted":
		return "resol-interr"
	case "potential-conflict":
		return "pot-conflict"
	}
	return s
}

// relOf is the demo relationship of st, or a zero one.
func relOf(st node.StatusJSON) node.RelationshipJSON {
	r, _ := relStatus(&st)
	return r
}

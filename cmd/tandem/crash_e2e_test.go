package main

// Crash consistency, end to end: a real `tandem serve` under perfdhcp load
// is killed with SIGKILL at seeded random moments, again and again, on the
// two-namespace topology of e2e_test.go. After each kill the offline tools
// check the journal the dead server left (`tandem journal verify`, and
// `tandem journal replay`'s digest), and the restarted server must report
// the same journal position and digest and hold every lease a client saw
// in a REPLY — what clients saw comes from tcpdump on the client's side of
// the wire, not from the server.
//
// The seed is logged; TANDEM_CRASH_SEED=N replays a run's kill moments.

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// crashRounds is how many kill -9 / restart rounds one run does.
const crashRounds = 20

// e2eSeed reads a seed from env, or makes one from the clock; the caller
// logs it so that a failing run can be replayed.
func e2eSeed(t *testing.T, env string) int64 {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, v, err)
		}
		return n
	}
	return time.Now().UnixNano()
}

// journalCheck is what the offline tools say about a stopped server's data
// dir: verify's verdict and replay's position and digest.
type journalCheck struct {
	lastSeq uint64
	digest  string
	records int
}

// offlineJournal runs `tandem journal verify` and `tandem journal replay
// --json` on dir (the server must not be running: Pebble locks the store)
// and fails the test unless both succeed.
func offlineJournal(t *testing.T, dir string) journalCheck {
	t.Helper()
	if out, errs, code := runBin(t, "journal", "verify", "--data-dir", dir); code != 0 {
		t.Fatalf("tandem journal verify --data-dir %s: exit %d\n%s%s", dir, code, tail(out, 20), tail(errs, 20))
	}
	out, errs, code := runBin(t, "journal", "replay", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("tandem journal replay --json --data-dir %s: exit %d\n%s%s", dir, code, tail(out, 20), tail(errs, 20))
	}
	var r replayJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("tandem journal replay --json: %v\n%s", err, tail(out, 20))
	}
	return journalCheck{lastSeq: r.LastSeq, digest: r.Digest, records: r.Records}
}

// statusJournal is the journal part of GET /v1/status.
type statusJournal struct {
	Journal struct {
		Seq    uint64 `json:"seq"`
		Digest string `json:"digest"`
	} `json:"journal"`
}

// crashNoDHCP drops DHCP to the server (UDP port 547) in its namespace:
// while it is loaded, the restarted server's journal position holds still,
// so /v1/status can be compared with the offline replay.
const crashNoDHCP = `table inet tcrash {
	chain in { type filter hook input priority 0; policy accept; udp dport 547 drop; }
}
`

// TestCrashRounds: 20 rounds of kill -9 at a random moment under load, then
// verify, replay, restart, compare, and check every replied lease is held.
func TestCrashRounds(t *testing.T) {
	requireE2E(t, "perfdhcp", "tcpdump", "nft")
	seed := e2eSeed(t, "TANDEM_CRASH_SEED")
	t.Logf("seed %d (TANDEM_CRASH_SEED=%d replays these kill moments)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	tp := newTopo(t)
	s := startTandem(t, tp, defaultLifetimes)

	pcap := filepath.Join(tp.dir, "crash.pcap")
	td := tp.captureDHCP(t, tp.cli, cliIf, pcap, 5*time.Minute)

	// One perfdhcp for all rounds: relayed, 20,000 clients drawn at random,
	// so that later rounds also bring back clients that already hold a
	// lease. It sees the outages as drops; that is not judged here.
	const rate = 500
	args := []string{"-6", "-A", "1", "-r", strconv.Itoa(rate), "-p", "300", "-R", "20000",
		"-W", "500000", "-e", "address-and-prefix", "-l", cliIf, srvAddr}
	perf := tp.start(tp.cli, "perfdhcp", 6*time.Minute, "perfdhcp", args...)

	type round struct {
		up, killed time.Time // serving since; killed at
		seq        uint64
	}
	var rounds []round
	up := time.Now()
	start := up
	lostTotal := 0
	for i := 1; i <= crashRounds; i++ {
		// Kill at a random moment 0.5–2.5 s into the round.
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int63n(int64(2*time.Second))))
		if perf.exited() {
			t.Fatalf("perfdhcp exited early: %v\n%s", perf.err, tail(perf.log(), 20))
		}
		killed := time.Now()
		s.kill9(t)

		jc := offlineJournal(t, s.dataDir)
		foNft(t, tp, tp.srv, crashNoDHCP)
		restart := time.Now()
		s.start(t)
		var st statusJournal
		s.getJSON(t, "/v1/status", &st)
		if st.Journal.Seq != jc.lastSeq || st.Journal.Digest != jc.digest {
			t.Errorf("round %d: restarted server reports seq %d digest %s; offline replay of the journal it left: seq %d digest %s",
				i, st.Journal.Seq, st.Journal.Digest, jc.lastSeq, jc.digest)
		}
		replies, _, err := readPcapReplies(pcap)
		if err != nil {
			t.Fatal(err)
		}
		ls := s.leases(t, "")
		lost, checked := checkRepliesHeld(t, replies, ls, func(r replyLease) string {
			return "round " + strconv.Itoa(i)
		})
		lostTotal += lost
		foNft(t, tp, tp.srv, "delete table inet tcrash\n")
		t.Logf("round %2d: killed %v after start (%s); verify ok, replay seq %d digest %s (%d records) = status; restart %v; %d replied leases checked, %d lost",
			i, killed.Sub(up).Round(time.Millisecond), killed.Format("15:04:05.000"), jc.lastSeq, jc.digest, jc.records,
			time.Since(restart).Round(time.Millisecond), checked, lost)
		rounds = append(rounds, round{up: up, killed: killed, seq: jc.lastSeq})
		up = time.Now()
		if t.Failed() {
			t.Fatalf("stopping after round %d", i)
		}
	}

	// After the last round: a little more load, then the whole capture
	// against the final server.
	time.Sleep(time.Second)
	_ = perf.stop(syscall.SIGINT, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := td.stop(syscall.SIGINT, 10*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}
	replies, packets, err := readPcapReplies(pcap)
	if err != nil {
		t.Fatal(err)
	}
	// Every round must have served: REPLYs between its start and its kill,
	// and the journal must have grown.
	for i, r := range rounds {
		n := 0
		for _, x := range replies {
			if !x.ts.Before(r.up) && x.ts.Before(r.killed) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("round %d: no lease was replied between its start and its kill: the crash was not under load", i+1)
		}
		if i > 0 && r.seq <= rounds[i-1].seq {
			t.Errorf("round %d: journal at seq %d after the kill, %d after the one before: nothing was written", i+1, r.seq, rounds[i-1].seq)
		}
	}
	ls := s.leases(t, "")
	na, pd := checkActiveLeases(t, s, ls)
	lost, checked := checkRepliesHeld(t, replies, ls, func(replyLease) string { return "final check" })
	lostTotal += lost
	t.Logf("pcap: %d packets, %d leases in REPLYs; final server: %d addresses and %d prefixes active", packets, len(replies), na, pd)
	t.Logf("FIGURE crash: %d rounds of kill -9 under perfdhcp load (-r %d, relayed) in %v, seed %d: %d survived (verify ok, replay digest = status digest), %d distinct replied leases, %d lost",
		len(rounds), rate, time.Since(start).Round(time.Second), seed, len(rounds), checked, lostTotal)
	if lostTotal > 0 {
		t.Errorf("%d replied leases lost over %d crash rounds", lostTotal, len(rounds))
	}
}

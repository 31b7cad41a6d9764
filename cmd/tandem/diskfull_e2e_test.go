package main

// Disk full, end to end: the server's data dir is a small tmpfs the test
// mounts; under perfdhcp load the disk fills (a filler file, as another
// process on the same filesystem would fill it) past the journal's reserve.
// The server must stop granting — no REPLY leaves while it cannot be sure
// the journal can write — say so (log, /v1/status, metrics), stay up, and
// grant again once the filler is removed. What clients were told comes from
// tcpdump on their side of the wire, and every lease they were given must
// be held and in a journal that verifies.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// diskStatus is the part of GET /v1/status this test reads.
type diskStatus struct {
	Journal struct {
		Seq          uint64 `json:"seq"`
		Digest       string `json:"digest"`
		FreeBytes    uint64 `json:"free_bytes"`
		MinFreeBytes uint64 `json:"min_free_bytes"`
		SpaceLow     bool   `json:"space_low"`
		Error        string `json:"error"`
	} `json:"journal"`
	Leases struct {
		NAActive int64 `json:"na_active"`
		PDActive int64 `json:"pd_active"`
	} `json:"leases"`
	Packets map[string]uint64 `json:"packets"`
}

// waitSpace polls /v1/status until journal.space_low is low, and returns
// the status and when it was read.
func waitSpace(t *testing.T, s *tandemServer, low bool, timeout time.Duration) (diskStatus, time.Time) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var st diskStatus
		s.getJSON(t, "/v1/status", &st)
		if st.Journal.SpaceLow == low {
			return st, time.Now()
		}
		if s.p.exited() {
			t.Fatalf("tandem serve exited: %v\n%s", s.p.err, tail(s.p.log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v /v1/status journal %+v, want space_low=%v", timeout, st.Journal, low)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricValue is the value of one series in a /metrics text ("" if absent).
func metricValue(text, series string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimSpace(strings.TrimPrefix(line, series))
		}
	}
	return ""
}

// mountTmpfs mounts a size-limited tmpfs on dir (created) for the test's
// data dir, and unmounts it at cleanup.
func mountTmpfs(t *testing.T, tp *topo, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tp.must("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tandem-diskfull", dir)
	t.Cleanup(func() {
		if out, err := exec.Command(tool("umount"), dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

func TestDiskFull(t *testing.T) {
	requireE2E(t, "perfdhcp", "tcpdump")
	tp := newTopo(t)

	// The data dir is a 200 MiB tmpfs; the journal keeps its default
	// reserve (128 MiB) free.
	const fsSize = 200 << 20
	data := filepath.Join(tp.dir, "data")
	mountTmpfs(t, tp, data, fsSize)
	s := startTandem(t, tp, defaultLifetimes)
	var st0 diskStatus
	s.getJSON(t, "/v1/status", &st0)
	t.Logf("tmpfs %d MiB at %s: %d bytes free, reserve %d", fsSize>>20, data, st0.Journal.FreeBytes, st0.Journal.MinFreeBytes)
	if st0.Journal.SpaceLow || st0.Journal.MinFreeBytes == 0 || st0.Journal.FreeBytes <= st0.Journal.MinFreeBytes {
		t.Fatalf("at the start: %+v, want space above the reserve", st0.Journal)
	}

	pcap := filepath.Join(tp.dir, "diskfull.pcap")
	td := tp.captureDHCP(t, tp.cli, cliIf, pcap, 2*time.Minute)
	const rate = 500
	args := []string{"-6", "-A", "1", "-r", strconv.Itoa(rate), "-p", "20", "-R", "100000",
		"-W", "500000", "-e", "address-and-prefix", "-l", cliIf, srvAddr}
	perf := tp.start(tp.cli, "perfdhcp", time.Minute, "perfdhcp", args...)

	// Phase 1: serving.
	time.Sleep(2 * time.Second)
	var st1 diskStatus
	s.getJSON(t, "/v1/status", &st1)
	if st1.Leases.NAActive == 0 {
		t.Fatalf("no lease granted before the disk filled: %+v", st1)
	}

	// Phase 2: fill the disk to half the reserve.
	filler := filepath.Join(data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(data, &sfs); err != nil {
		t.Fatal(err)
	}
	free := sfs.Bavail * uint64(sfs.Bsize)
	fill := int64(free - st0.Journal.MinFreeBytes/2)
	if err := unix.Fallocate(int(f.Fd()), 0, 0, fill); err != nil {
		t.Fatalf("fallocate %d bytes: %v", fill, err)
	}
	f.Close()
	filled := time.Now()
	stLow, lowAt := waitSpace(t, s, true, 3*time.Second)
	t.Logf("filled %d MiB: space_low %v after the fill; journal %+v", fill>>20, lowAt.Sub(filled).Round(time.Millisecond), stLow.Journal)
	if !strings.Contains(stLow.Journal.Error, "disk nearly full") {
		t.Errorf("/v1/status journal.error %q does not say the disk is nearly full", stLow.Journal.Error)
	}
	// Low for 3 s under load: the server stays up and grants nothing.
	time.Sleep(200 * time.Millisecond)
	var stA diskStatus
	s.getJSON(t, "/v1/status", &stA)
	time.Sleep(3 * time.Second)
	var stB diskStatus
	s.getJSON(t, "/v1/status", &stB)
	lowEnd := time.Now()
	if s.p.exited() {
		t.Fatalf("tandem serve exited with the disk full: %v\n%s", s.p.err, tail(s.p.log(), 40))
	}
	if !stB.Journal.SpaceLow {
		t.Errorf("space_low went false with the disk still full: %+v", stB.Journal)
	}
	refused := stB.Packets["dropped_journal_full"] - stA.Packets["dropped_journal_full"]
	t.Logf("3 s with the disk full: %d requests refused, replied %d, seq %d→%d, leases %d+%d→%d+%d",
		refused, stB.Packets["replied"]-stA.Packets["replied"], stA.Journal.Seq, stB.Journal.Seq,
		stA.Leases.NAActive, stA.Leases.PDActive, stB.Leases.NAActive, stB.Leases.PDActive)
	if refused < rate {
		t.Errorf("only %d requests refused in 3 s of load at %d/s with the disk full", refused, rate)
	}
	if stB.Packets["replied"] != stA.Packets["replied"] {
		t.Errorf("the server replied %d times with the disk full", stB.Packets["replied"]-stA.Packets["replied"])
	}
	if stB.Leases != stA.Leases || stB.Journal.Seq != stA.Journal.Seq {
		t.Errorf("with the disk full the state moved: leases %+v→%+v, seq %d→%d", stA.Leases, stB.Leases, stA.Journal.Seq, stB.Journal.Seq)
	}
	metrics, code, err := s.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	if v := metricValue(string(metrics), "tandem_journal_space_low"); v != "1" {
		t.Errorf("tandem_journal_space_low = %q with the disk full, want 1", v)
	}
	if v := metricValue(string(metrics), `tandem_packets_dropped_total{reason="journal-full"}`); v == "" || v == "0" {
		t.Errorf(`tandem_packets_dropped_total{reason="journal-full"} = %q, want > 0`, v)
	}
	if !strings.Contains(s.p.log(), "journal space low: not granting leases") {
		t.Errorf("the server did not log the full disk:\n%s", tail(s.p.log(), 20))
	}

	// Phase 3: space returns; the server grants again by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	_, okAt := waitSpace(t, s, false, 3*time.Second)
	time.Sleep(2 * time.Second)
	var stC diskStatus
	s.getJSON(t, "/v1/status", &stC)
	t.Logf("filler removed: serving again %v later; in the next 2 s replied %d, leases %d+%d→%d+%d",
		okAt.Sub(freed).Round(time.Millisecond), stC.Packets["replied"]-stB.Packets["replied"],
		stB.Leases.NAActive, stB.Leases.PDActive, stC.Leases.NAActive, stC.Leases.PDActive)
	if stC.Leases.NAActive <= stB.Leases.NAActive || stC.Leases.PDActive <= stB.Leases.PDActive {
		t.Errorf("no new lease granted after space returned")
	}
	if !strings.Contains(s.p.log(), "journal space available again: serving") {
		t.Errorf("the server did not log the recovery")
	}

	_ = perf.stop(syscall.SIGINT, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := td.stop(syscall.SIGINT, 10*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}
	replies, packets, err := readPcapReplies(pcap)
	if err != nil {
		t.Fatal(err)
	}
	// On the wire: no REPLY while the disk was full (a batch stepped just
	// before the check may still be answered: 500 ms of grace), REPLYs
	// before and after.
	var before, during, after int
	for _, r := range replies {
		switch {
		case r.ts.Before(filled):
			before++
		case r.ts.After(lowAt.Add(500*time.Millisecond)) && r.ts.Before(lowEnd):
			during++
			if during <= 5 {
				t.Errorf("REPLY at %s with the disk full (low from %s): %s %s", r.ts.Format("15:04:05.000"), lowAt.Format("15:04:05.000"), r.kind, r.resource)
			}
		case r.ts.After(okAt):
			after++
		}
	}
	t.Logf("pcap: %d packets; leases in REPLYs: %d before the fill, %d while full, %d after the space returned", packets, before, during, after)
	if before == 0 || after == 0 {
		t.Errorf("want REPLYs before the fill and after the space returned")
	}
	ls := s.leases(t, "")
	checkActiveLeases(t, s, ls)
	lost, checked := checkRepliesHeld(t, replies, ls, func(r replyLease) string { return "disk-full run" })
	var stEnd diskStatus
	s.getJSON(t, "/v1/status", &stEnd)
	if err := s.p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("tandem serve did not stop on SIGTERM: %v", err)
	}
	jc := offlineJournal(t, s.dataDir)
	if jc.lastSeq != stEnd.Journal.Seq || jc.digest != stEnd.Journal.Digest {
		t.Errorf("offline replay seq %d digest %s; the server said seq %d digest %s", jc.lastSeq, jc.digest, stEnd.Journal.Seq, stEnd.Journal.Digest)
	}
	t.Logf("FIGURE disk-full: tmpfs %d MiB, reserve %d MiB, perfdhcp -r %d: refused %d requests in 3 s full (0 replies), serving again %v after the filler was removed; %d replied leases checked, %d lost; journal verifies, replay digest = status",
		fsSize>>20, st0.Journal.MinFreeBytes>>20, rate, refused, okAt.Sub(freed).Round(time.Millisecond), checked, lost)
}

// TestDiskFullNoReserve shows why the reserve exists: with it turned off
// (--journal-min-free 1B) the load runs the journal's filesystem out of
// space, Pebble's WAL write fails with ENOSPC and Pebble calls Fatalf
// ("pebble: fatal commit error"), so the server exits. It must not have
// answered with a lease it could not persist: after space returns, the
// journal verifies and the restarted server holds every lease a client saw
// in a REPLY.
func TestDiskFullNoReserve(t *testing.T) {
	requireE2E(t, "perfdhcp", "tcpdump")
	tp := newTopo(t)
	const fsSize = 64 << 20
	data := filepath.Join(tp.dir, "data")
	mountTmpfs(t, tp, data, fsSize)
	s := startTandem(t, tp, defaultLifetimes)
	// 64 MiB is under the default reserve: the server starts refusing.
	waitSpace(t, s, true, 3*time.Second)
	if err := s.p.stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	s.flags = []string{"--journal-min-free", "1B"}
	s.start(t)
	waitSpace(t, s, false, 3*time.Second)

	// Leave 3 MiB: the WAL runs out within seconds at this load.
	filler := filepath.Join(data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(data, &sfs); err != nil {
		t.Fatal(err)
	}
	fill := int64(sfs.Bavail*uint64(sfs.Bsize)) - 3<<20
	if err := unix.Fallocate(int(f.Fd()), 0, 0, fill); err != nil {
		t.Fatalf("fallocate %d bytes: %v", fill, err)
	}
	f.Close()

	pcap := filepath.Join(tp.dir, "enospc.pcap")
	td := tp.captureDHCP(t, tp.cli, cliIf, pcap, 2*time.Minute)
	const rate = 1500
	args := []string{"-6", "-A", "1", "-r", strconv.Itoa(rate), "-p", "40", "-R", "1000000",
		"-W", "500000", "-e", "address-and-prefix", "-l", cliIf, srvAddr}
	loadAt := time.Now()
	perf := tp.start(tp.cli, "perfdhcp", time.Minute, "perfdhcp", args...)
	exitErr, exited := s.p.wait(35 * time.Second)
	if !exited {
		var st diskStatus
		s.getJSON(t, "/v1/status", &st)
		t.Fatalf("35 s of load with 3 MiB free and no reserve: the server is still up (journal %+v)", st.Journal)
	}
	died := time.Since(loadAt)
	_ = perf.stop(syscall.SIGINT, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := td.stop(syscall.SIGINT, 10*time.Second); err != nil {
		t.Logf("tcpdump: %v", err)
	}
	log := s.p.log()
	if exitErr == nil {
		t.Errorf("the server exited 0 on a full disk")
	}
	// Seen: "pebble: fatal commit error: write …/000011.log: no space left
	// on device" (the WAL). A MANIFEST write that fails first is fatal too.
	if !strings.Contains(log, "pebble: fatal") || !strings.Contains(log, "no space left on device") {
		t.Errorf("the server's log does not show Pebble's fatal error on ENOSPC:\n%s", tail(log, 30))
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "pebble: fatal") {
			t.Logf("server died %v into the load (%v): %s", died.Round(time.Millisecond), exitErr, strings.TrimSpace(line))
			break
		}
	}

	// Space returns; what the dead server left must hold every lease a
	// client was told about.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	jc := offlineJournal(t, s.dataDir)
	s.start(t)
	var st diskStatus
	s.getJSON(t, "/v1/status", &st)
	if st.Journal.Seq != jc.lastSeq || st.Journal.Digest != jc.digest {
		t.Errorf("restarted server: seq %d digest %s; offline replay: seq %d digest %s", st.Journal.Seq, st.Journal.Digest, jc.lastSeq, jc.digest)
	}
	replies, packets, err := readPcapReplies(pcap)
	if err != nil {
		t.Fatal(err)
	}
	ls := s.leases(t, "")
	lost, checked := checkRepliesHeld(t, replies, ls, func(replyLease) string { return "before ENOSPC" })
	t.Logf("FIGURE disk-full without reserve: tmpfs %d MiB, 3 MiB left, perfdhcp -r %d: Pebble's WAL hit ENOSPC %v into the load at journal seq %d and the server exited (pebble: fatal); pcap %d packets, %d replied leases, %d lost; journal verifies",
		fsSize>>20, rate, died.Round(time.Millisecond), jc.lastSeq, packets, checked, lost)
	if checked == 0 {
		t.Errorf("no lease was replied before the disk filled")
	}
}

package netio

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The interface table maps interface indexes to names and back. The read path
// needs a name for every link-local source address (it is the Addr's zone)
// and the write path needs an index for every zoned destination, so both
// directions are a lock-free map lookup: the table is copy-on-write behind an
// atomic pointer and rebuilt from one netlink dump (net.Interfaces) when a
// lookup misses. A miss is rare — an interface added since the last dump, or
// one already gone with datagrams still queued from it — so rebuilding the
// whole table, which also picks up renames, costs nothing that matters.
//
// A key the dump does not know is cached too (an index as its decimal name,
// a name as index 0), and looked up again only after retryMissing, so
// traffic still queued from a deleted interface costs neither an allocation
// nor a netlink dump per datagram.
//
// Interface indexes are per network namespace; a process serves from one
// namespace, and the table is filled from the namespace of whichever thread
// misses.
type ifTable struct {
	byIndex map[int]ifEntry
	byName  map[string]int // 0: no such interface (as of built)
	built   time.Time
}

type ifEntry struct {
	name string
	// zoned holds a netip.Addr carrying this name as its zone. netip interns
	// zones with package unique, whose table keeps an entry only while some
	// handle to it is alive; keeping one here means Addr.WithZone(name) on
	// the read path always finds the entry and never allocates.
	zoned   netip.Addr
	missing bool // not an interface as of built; name is the decimal index
}

// retryMissing is how long a key that no interface matched stays cached
// before a lookup of it dumps the interfaces again: long enough that a
// stream of datagrams from a vanished interface does not dump per datagram,
// short enough that an interface created just after a dump is named
// correctly within a second.
const retryMissing = time.Second

var ifCache struct {
	mu  sync.Mutex // serialises rebuilds; lookups never take it
	tab atomic.Pointer[ifTable]
}

func (t *ifTable) stale() bool { return time.Since(t.built) > retryMissing }

// IfName returns the name of the interface with the given index, as the zone
// of link-local addresses is written. Names are cached: after the first
// lookup of an index IfName does not allocate or make a system call. An
// index with no interface yields its decimal form, which is still a valid
// zone, and is looked up again at most once per retryMissing; 0 (no
// interface) yields "".
func IfName(index int) string { return ifByIndex(index).name }

func ifByIndex(index int) ifEntry {
	if index <= 0 {
		return ifEntry{}
	}
	if t := ifCache.tab.Load(); t != nil {
		if e, ok := t.byIndex[index]; ok && (!e.missing || !t.stale()) {
			return e
		}
	}
	return refreshIfTable(index, "").byIndex[index]
}

// ifIndexByZone returns the interface index that a zone names: an interface
// name or a decimal index. 0 means none.
func ifIndexByZone(zone string) int {
	if zone == "" {
		return 0
	}
	if t := ifCache.tab.Load(); t != nil {
		if i, ok := t.byName[zone]; ok && (i != 0 || !t.stale()) {
			return i
		}
	}
	if i, err := strconv.Atoi(zone); err == nil && i > 0 {
		return i
	}
	return refreshIfTable(0, zone).byName[zone]
}

// zoneFor returns a with the name of interface index as its zone.
func zoneFor(a netip.Addr, index uint32) netip.Addr {
	return a.WithZone(ifByIndex(int(index)).name)
}

// refreshIfTable rebuilds the table from the kernel and makes sure it holds
// index (if nonzero) and name (if not empty), as missing entries if need be.
func refreshIfTable(index int, name string) *ifTable {
	ifCache.mu.Lock()
	defer ifCache.mu.Unlock()
	if t := ifCache.tab.Load(); t != nil && !t.stale() {
		// Another goroutine may have rebuilt while we waited.
		_, iok := t.byIndex[index]
		_, nok := t.byName[name]
		if (index == 0 || iok) && (name == "" || nok) {
			return t
		}
	}
	t := &ifTable{
		byIndex: make(map[int]ifEntry),
		byName:  make(map[string]int),
		built:   time.Now(),
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifi := range ifs {
			t.byIndex[ifi.Index] = newIfEntry(ifi.Name, false)
			t.byName[ifi.Name] = ifi.Index
		}
	}
	if _, ok := t.byIndex[index]; !ok && index > 0 {
		t.byIndex[index] = newIfEntry(strconv.Itoa(index), true)
	}
	if _, ok := t.byName[name]; !ok && name != "" {
		t.byName[name] = 0
	}
	ifCache.tab.Store(t)
	return t
}

func newIfEntry(name string, missing bool) ifEntry {
	return ifEntry{
		name:    name,
		zoned:   netip.IPv6LinkLocalAllNodes().WithZone(name),
		missing: missing,
	}
}

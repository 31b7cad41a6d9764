package engine

// expiryHeap orders lease records by when tick must next look at them
// (expiry of an ACTIVE lease, reclamation of an EXPIRED/RELEASED/ABANDONED
// one). A binary heap with back-pointers: renewing a lease is an O(log n)
// fix in place, with no allocation.
type expiryHeap struct {
	items []*Lease
	due   []int64
}

func (h *expiryHeap) len() int { return len(h.items) }

func (h *expiryHeap) peek() (*Lease, int64) { return h.items[0], h.due[0] }

// set queues l at time due, or moves it there.
func (h *expiryHeap) set(l *Lease, due int64) {
	if l.heapIdx < 0 {
		l.heapIdx = int32(len(h.items))
		h.items = append(h.items, l)
		h.due = append(h.due, due)
		h.up(int(l.heapIdx))
		return
	}
	i := int(l.heapIdx)
	old := h.due[i]
	h.due[i] = due
	if due < old {
		h.up(i)
	} else {
		h.down(i)
	}
}

func (h *expiryHeap) remove(l *Lease) {
	i := int(l.heapIdx)
	if i < 0 {
		return
	}
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items, h.due = h.items[:last], h.due[:last]
	l.heapIdx = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

func (h *expiryHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.due[i], h.due[j] = h.due[j], h.due[i]
	h.items[i].heapIdx = int32(i)
	h.items[j].heapIdx = int32(j)
}

func (h *expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.due[p] <= h.due[i] {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *expiryHeap) down(i int) {
	n := len(h.items)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h.due[c+1] < h.due[c] {
			c++
		}
		if h.due[i] <= h.due[c] {
			return
		}
		h.swap(i, c)
		i = c
	}
}

// maxTickWork bounds the records one tick changes, so a mass expiry (a
// restart after a long outage) is spread over several ticks instead of
// stalling client traffic behind one huge journal batch.
const maxTickWork = 4096

// tick expires ACTIVE leases whose valid lifetime has passed and frees
// records whose hold time is over (in a relationship's subnets, an owed
// record only once heldUntil allows).
func (e *Engine) tick() {
	for n := 0; n < maxTickWork && e.exp.len() > 0; n++ {
		l, due := e.exp.peek()
		if due > e.now {
			return
		}
		if owedStatus(l.Status) && e.relOf(l) >= 0 {
			// Queued while its endpoint was in PARTNER-DOWN, which it may
			// have left since: ask again.
			if d := e.due(l); d > e.now {
				e.exp.set(l, d)
				continue
			}
		}
		b := l.Binding
		if l.Status == StatusActive {
			b.Status, b.StartOfState = StatusExpired, e.now
			e.emit(Event{Kind: EventLease, Time: e.now, Why: CauseExpiry, Binding: b})
			continue
		}
		e.emit(Event{Kind: EventFree, Time: e.now, Why: CauseReclaim, Binding: b})
	}
}

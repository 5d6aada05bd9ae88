package lockfree

import (
	"sync/atomic"
	"time"
)

// ring is a bounded lock-free multi-producer multi-consumer queue after
// Dmitry Vyukov's design: each slot carries a sequence number that says
// whether it is free for the push at position pos (seq == 2*pos) or holds
// the value for the pop at position pos (seq == 2*pos+1). Producers claim
// positions by compare-and-swap on tail, consumers on head; neither takes a
// lock, and a pop from the producer side (DropOldest) is just another
// consumer.
//
// Waiting is done without spinning: a goroutine that finds the ring empty
// (or full) registers itself as a sleeper, re-checks, and parks on a
// capacity-1 notification channel. The other side checks the sleeper count
// after each successful operation and only then touches the channel, so the
// fast path is atomics only.
type ring[T any] struct {
	head atomic.Uint64 // next position to pop
	_    [56]byte      // keeps head and tail on different cache lines
	tail atomic.Uint64 // next position to push
	_    [56]byte

	slots    []ringSlot[T]
	notEmpty parker // poppers wait here
	notFull  parker // pushers wait here
}

// ringSlot is one slot of a ring.
//
// Note: Vyukov's original numbers a slot pos (free) and pos+1 (full), which
// cannot tell "full at pos" from "free at pos+1" when the ring has one slot
// (BufferLimit 1 is valid here). Doubling the positions keeps the two states
// apart for every capacity at the cost of a shift.
type ringSlot[T any] struct {
	seq atomic.Uint64
	val T
}

// parker is a wake-up channel with a sleeper count, so that wakers leave the
// channel alone when nobody sleeps.
//
// Note: this is a Dekker-style handshake. A sleeper increments sleepers and
// then re-checks the ring; a waker changes the ring and then loads sleepers.
// Go's atomics are sequentially consistent, so at least one of the two sees
// the other's write: either the sleeper finds the change and does not park,
// or the waker finds the sleeper and sends a token. A token may be stale
// (the sleeper found the change by itself); that costs a spurious wake-up,
// never a lost one.
type parker struct {
	sleepers atomic.Int32
	ch       chan struct{}
}

func (p *parker) wake() {
	if p.sleepers.Load() > 0 {
		select {
		case p.ch <- struct{}{}:
		default: // a token is already pending; one is enough to re-check.
		}
	}
}

// newRing returns an empty ring holding up to capacity values (at least 1).
func newRing[T any](capacity int) *ring[T] {
	q := &ring[T]{
		slots:    make([]ringSlot[T], capacity),
		notEmpty: parker{ch: make(chan struct{}, 1)},
		notFull:  parker{ch: make(chan struct{}, 1)},
	}
	for i := range q.slots {
		q.slots[i].seq.Store(2 * uint64(i))
	}
	return q
}

// tryPush queues v if the ring has room.
func (q *ring[T]) tryPush(v T) bool {
	n := uint64(len(q.slots))
	pos := q.tail.Load()
	for {
		s := &q.slots[pos%n]
		switch dif := int64(s.seq.Load() - 2*pos); {
		case dif == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(2*pos + 1)
				q.notEmpty.wake()
				return true
			}
			pos = q.tail.Load()
		case dif < 0:
			// The slot still holds the value from one lap ago: full.
			return false
		default:
			// Another producer took pos; catch up.
			pos = q.tail.Load()
		}
	}
}

// tryPop takes the oldest value if there is one.
func (q *ring[T]) tryPop() (T, bool) {
	n := uint64(len(q.slots))
	pos := q.head.Load()
	for {
		s := &q.slots[pos%n]
		switch dif := int64(s.seq.Load() - (2*pos + 1)); {
		case dif == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				var zero T
				s.val = zero // drop the reference for the GC
				s.seq.Store(2 * (pos + n))
				q.notFull.wake()
				return v, true
			}
			pos = q.head.Load()
		case dif < 0:
			// Nothing published at pos yet: empty.
			var zero T
			return zero, false
		default:
			pos = q.head.Load()
		}
	}
}

// pushWait queues v, parking while the ring is full, until stop closes or
// expire fires.
func (q *ring[T]) pushWait(v T, stop <-chan struct{}, expire <-chan time.Time) waitResult {
	for {
		if q.tryPush(v) {
			return waitOK
		}
		q.notFull.sleepers.Add(1)
		if q.tryPush(v) {
			q.notFull.sleepers.Add(-1)
			return waitOK
		}
		select {
		case <-q.notFull.ch:
			q.notFull.sleepers.Add(-1)
		case <-stop:
			q.notFull.sleepers.Add(-1)
			return waitStopped
		case <-expire:
			q.notFull.sleepers.Add(-1)
			return waitExpired
		}
	}
}

// pop takes the oldest value, parking while the ring is empty, until stop
// or gone closes.
func (q *ring[T]) pop(stop, gone <-chan struct{}) (T, bool) {
	for {
		if v, ok := q.tryPop(); ok {
			return v, true
		}
		q.notEmpty.sleepers.Add(1)
		if v, ok := q.tryPop(); ok {
			q.notEmpty.sleepers.Add(-1)
			return v, true
		}
		select {
		case <-q.notEmpty.ch:
			q.notEmpty.sleepers.Add(-1)
		case <-stop:
			q.notEmpty.sleepers.Add(-1)
			var zero T
			return zero, false
		case <-gone:
			q.notEmpty.sleepers.Add(-1)
			var zero T
			return zero, false
		}
	}
}

// len is the number of queued values, a snapshot clamped to the capacity.
func (q *ring[T]) len() int {
	head := q.head.Load() // head first: tail only grows, so tail >= head.
	tail := q.tail.Load()
	return int(min(tail-head, uint64(len(q.slots))))
}

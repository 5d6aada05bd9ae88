package lockfree

import (
	"time"

	"github.com/streambench/streambench/impls"
)

// item is what travels through a request's queue: a chunk, or the end
// marker the producer pushes after the provider's last chunk or error.
//
// Note: ending the stream in-band, rather than by closing the queue, keeps
// "everything queued before the end is delivered" an ordering property of
// the queue itself, for both queue kinds.
type item struct {
	chunk impls.Chunk
	end   bool
}

// waitResult is how a blocking push ended.
type waitResult int

const (
	waitOK      waitResult = iota // the value was queued
	waitStopped                   // the stop channel closed first
	waitExpired                   // the expiry channel fired first
)

// queue is the bounded queue between one request's producer and its relay.
// The producer pushes (and, for DropOldest, may pop the oldest item); the
// relay pops.
type queue interface {
	// tryPush queues it if there is room, without waiting.
	tryPush(it item) bool
	// pushWait queues it, waiting for room until stop closes or expire
	// fires (a nil expire never fires).
	pushWait(it item, stop <-chan struct{}, expire <-chan time.Time) waitResult
	// tryPop takes the oldest item if there is one, without waiting.
	tryPop() (item, bool)
	// pop takes the oldest item, waiting until there is one; it returns
	// false if stop or gone closes first.
	pop(stop, gone <-chan struct{}) (item, bool)
	// len is the number of queued items (a snapshot).
	len() int
}

// newQueue returns an empty queue of the given kind holding up to limit
// items.
func newQueue(kind QueueKind, limit int) queue {
	if kind == QueueRing {
		return newRing[item](limit)
	}
	return chanQueue(make(chan item, limit))
}

// chanQueue is a buffered Go channel.
//
// Note: every send and receive on a Go channel takes the channel's runtime
// lock (it is a mutex-protected circular buffer with wait queues), so this
// queue is not lock-free. It is the faithful translation of the source's
// channel, which is not lock-free either.
type chanQueue chan item

func (q chanQueue) tryPush(it item) bool {
	select {
	case q <- it:
		return true
	default:
		return false
	}
}

func (q chanQueue) pushWait(it item, stop <-chan struct{}, expire <-chan time.Time) waitResult {
	select {
	case q <- it:
		return waitOK
	case <-stop:
		return waitStopped
	case <-expire:
		return waitExpired
	}
}

func (q chanQueue) tryPop() (item, bool) {
	select {
	case it := <-q:
		return it, true
	default:
		return item{}, false
	}
}

func (q chanQueue) pop(stop, gone <-chan struct{}) (item, bool) {
	// Note: a non-blocking receive touches one channel; the three-way
	// select below locks all three, so it is kept off the fast path.
	select {
	case it := <-q:
		return it, true
	default:
	}
	select {
	case it := <-q:
		return it, true
	case <-stop:
		return item{}, false
	case <-gone:
		return item{}, false
	}
}

func (q chanQueue) len() int { return len(q) }

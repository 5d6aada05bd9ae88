package mutex

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/internal/backoff"
)

// buffer is the queue between a request's producer goroutine and its relay
// loop: a slice guarded by its own mutex plus a capacity-1 notify channel
// the relay waits on when the slice is empty.
//
// Note: by default it has no limit, on purpose. The legacy design has no
// backpressure, so against a slow client the whole response piles up here;
// QueuePeak measures how far. With BufferBounded it holds at most limit
// chunks and slows the producer from the high-water mark on with the
// redesign's adaptive rule (package backoff), so that bounding the buffer
// is one ladder step that changes exactly that.
type buffer struct {
	mu    sync.Mutex
	items []impls.Chunk
	head  int // items[head:] are queued
	// end is the error that ended the source (io.EOF after the last chunk);
	// pop returns it once items are drained.
	end   error
	ended bool
	peak  int64

	// notify holds one token when something was pushed or the source
	// ended since the relay last looked.
	notify chan struct{}

	// The bounded buffer's state. limit is 0 for an unbounded buffer.
	limit, high int
	adaptive    backoff.Adaptive
	waiting     bool          // the producer waits for space (guarded by mu)
	space       chan struct{} // a token when the relay popped while waiting was set
	abandoned   chan struct{} // closed when the relay left without cancelling
	abandonOnce sync.Once
	timer       *time.Timer // the producer's delay timer

	delays, delayed, late atomic.Int64
}

func newBuffer(o Options) *buffer {
	b := &buffer{notify: make(chan struct{}, 1)}
	if o.Buffer == BufferBounded {
		b.limit, b.high, b.adaptive = o.BufferLimit, o.HighWaterMark, o.Adaptive
		b.space = make(chan struct{}, 1)
		b.abandoned = make(chan struct{})
	}
	return b
}

// push queues c and wakes the relay loop. A bounded buffer first delays
// from the high-water mark on and then waits for room; push returns false
// if stop closed meanwhile. Once the relay has abandoned a bounded buffer,
// push drops c and returns true: the producer goes on pulling the provider
// with nobody reading. An unbounded buffer keeps every chunk, abandoned or
// not, as the legacy design's does (what it holds is part of the flaw).
func (b *buffer) push(c impls.Chunk, stop <-chan struct{}) bool {
	if b.limit > 0 {
		if !b.waitRoom(stop) {
			return false
		}
	}
	b.mu.Lock()
	if b.abandoned != nil && stopped(b.abandoned) {
		b.mu.Unlock()
		return true
	}
	b.items = append(b.items, c)
	if n := int64(len(b.items) - b.head); n > b.peak {
		b.peak = n
	}
	b.mu.Unlock()
	b.wake()
	return true
}

// waitRoom applies the bounded buffer's backpressure before a push.
func (b *buffer) waitRoom(stop <-chan struct{}) bool {
	if n := b.len(); n >= b.high {
		d := b.adaptive.Delay(n, b.limit)
		b.setWaiting(true)
		t0 := time.Now()
		w := backoff.Sleep(d, &b.timer, stop, b.space, func() bool { return b.len() < b.high || stopped(b.abandoned) })
		waited := time.Since(t0)
		b.setWaiting(false)
		b.delays.Add(1)
		b.delayed.Add(int64(waited))
		if w == backoff.Elapsed && waited > d {
			b.late.Add(int64(waited - d))
		}
		if w == backoff.Stopped {
			return false
		}
	}
	for {
		b.mu.Lock()
		if len(b.items)-b.head < b.limit || stopped(b.abandoned) {
			b.mu.Unlock()
			return true
		}
		b.waiting = true
		b.mu.Unlock()
		select {
		case <-b.space:
		case <-b.abandoned:
		case <-stop:
			b.setWaiting(false)
			return false
		}
	}
}

func (b *buffer) setWaiting(w bool) {
	b.mu.Lock()
	b.waiting = w
	b.mu.Unlock()
}

func (b *buffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items) - b.head
}

// abandon tells a producer left running that nobody reads the buffer any
// more, so that a bounded buffer never blocks it for good. An unbounded
// buffer cannot block it and is not abandoned.
func (b *buffer) abandon() {
	if b.abandoned == nil {
		return
	}
	b.abandonOnce.Do(func() {
		b.mu.Lock()
		close(b.abandoned)
		b.mu.Unlock()
	})
}

// close records the error that ended the source and wakes the relay loop.
func (b *buffer) close(err error) {
	b.mu.Lock()
	b.end, b.ended = err, true
	b.mu.Unlock()
	b.wake()
}

func (b *buffer) wake() {
	select {
	case b.notify <- struct{}{}:
	default: // A wake-up is already pending.
	}
}

// pop takes the oldest queued chunk (ok true), or reports the source's end
// error once the queue is drained (ok false, ended true), or that nothing
// is there yet (both false).
func (b *buffer) pop() (c impls.Chunk, ok, ended bool, end error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.head < len(b.items) {
		c = b.items[b.head]
		b.items[b.head] = impls.Chunk{} // Drop the reference to its content.
		b.head++
		if b.head == len(b.items) {
			// Note: the backing array is reused once the queue drains, so
			// a relay that keeps up allocates nothing here per chunk.
			b.items, b.head = b.items[:0], 0
		}
		if b.waiting {
			select {
			case b.space <- struct{}{}:
			default:
			}
		}
		return c, true, false, nil
	}
	return impls.Chunk{}, false, b.ended, b.end
}

// stats returns the chunks still queued and the peak queue length.
func (b *buffer) stats() (queued, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int64(len(b.items) - b.head), b.peak
}

// delayStats returns how many backpressure delays the producer took, how
// long they lasted in all, and by how much those that ran to their end
// overshot what was asked (timer lateness).
func (b *buffer) delayStats() (n int64, total, late time.Duration) {
	return b.delays.Load(), time.Duration(b.delayed.Load()), time.Duration(b.late.Load())
}

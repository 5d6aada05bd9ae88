package mutex

import (
	"sync"

	"github.com/streambench/streambench/impls"
)

// buffer is the unbounded queue between a request's producer goroutine and
// its relay loop: a slice guarded by its own mutex plus a capacity-1 notify
// channel the relay waits on when the slice is empty.
//
// Note: it has no limit on purpose. The legacy design has no backpressure,
// so against a slow client the whole response piles up here; QueuePeak
// measures how far.
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
}

func newBuffer() *buffer {
	return &buffer{notify: make(chan struct{}, 1)}
}

// push queues c and wakes the relay loop.
func (b *buffer) push(c impls.Chunk) {
	b.mu.Lock()
	b.items = append(b.items, c)
	if n := int64(len(b.items) - b.head); n > b.peak {
		b.peak = n
	}
	b.mu.Unlock()
	b.wake()
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

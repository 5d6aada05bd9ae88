package lockfree

import (
	"iter"
	"sync/atomic"
)

// segBlockSize is how many segments one block of an Accumulator holds.
const segBlockSize = 64

// segBlock is one fixed-size block of segment slots. Blocks form a singly
// linked list that only ever grows at its end.
type segBlock struct {
	segs  [segBlockSize][]byte
	next  atomic.Pointer[segBlock]
	index int64 // position of this block in the list, from 0
}

// Accumulator is an append-only, lock-free collection of zero-copy byte
// segments with an atomic total size and an optional cap, the redesign's
// replacement for the legacy design's mutex-guarded growing string.
//
// Append may be called from any number of goroutines at once. The reading
// methods (Segments, AppendTo, Bytes) and Reset may only be called once
// every Append has returned (happens-before, e.g. by the same goroutine or
// after a sync.WaitGroup.Wait); Len and Count may be called at any time.
//
// Note: the cap is enforced by reserving the size with a compare-and-swap
// loop before the segment is stored. The source's load-then-add (check the
// size, push, then add) lets two concurrent appends both pass the check and
// together exceed the cap; with a reservation the total never exceeds it.
//
// An Accumulator must not be copied after first use. Its zero value is an
// empty accumulator without a cap.
type Accumulator struct {
	limit int64
	size  atomic.Int64
	count atomic.Int64
	// tail is a hint: the furthest block any Append has reached (nil means
	// head), so that appends do not walk the list from the start.
	tail atomic.Pointer[segBlock]
	// head is embedded so that short responses need no block allocation.
	head segBlock
}

// NewAccumulator returns an empty accumulator whose total size may not pass
// limit bytes; 0 means no cap.
func NewAccumulator(limit int64) *Accumulator {
	return &Accumulator{limit: limit}
}

// Limit is the cap in bytes, 0 for none.
func (a *Accumulator) Limit() int64 { return a.limit }

// Len is the total size of the accepted segments.
func (a *Accumulator) Len() int64 { return a.size.Load() }

// Count is how many segments were accepted.
func (a *Accumulator) Count() int { return int(a.count.Load()) }

// Append adds seg without copying it, unless that would take the total size
// past the cap, in which case it adds nothing and returns false. The caller
// must not modify seg afterwards.
//
// Append allocates only when it is the first to reach a new block of 64
// segments.
func (a *Accumulator) Append(seg []byte) bool {
	n := int64(len(seg))
	if a.limit == 0 {
		a.size.Add(n)
	} else {
		for {
			cur := a.size.Load()
			if n > a.limit-cur {
				return false
			}
			if a.size.CompareAndSwap(cur, cur+n) {
				break
			}
		}
	}
	i := a.count.Add(1) - 1
	a.block(i / segBlockSize).segs[i%segBlockSize] = seg
	return true
}

// block returns block number bi, linking in new blocks as needed.
func (a *Accumulator) block(bi int64) *segBlock {
	b := a.tail.Load()
	if b == nil || b.index > bi {
		// Note: only an appender that was overtaken by others lands here and
		// walks from the head; the common case starts at the tail hint.
		b = &a.head
	}
	for b.index < bi {
		next := b.next.Load()
		if next == nil {
			fresh := &segBlock{index: b.index + 1}
			if b.next.CompareAndSwap(nil, fresh) {
				next = fresh
			} else {
				next = b.next.Load()
			}
		}
		b = next
	}
	for b.index > 0 {
		t := a.tail.Load()
		if t != nil && t.index >= b.index {
			break
		}
		if a.tail.CompareAndSwap(t, b) {
			break
		}
	}
	return b
}

// Segments yields the first n accepted segments in the order their
// appends claimed a slot (for a single appender, the order of the calls).
// n is clamped to Count.
func (a *Accumulator) Segments(n int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		n = min(n, a.Count())
		for b := &a.head; b != nil && n > 0; b = b.next.Load() {
			for _, seg := range b.segs[:min(n, segBlockSize)] {
				if !yield(seg) {
					return
				}
			}
			n -= segBlockSize
		}
	}
}

// AppendTo appends the first n segments to dst and returns the result.
func (a *Accumulator) AppendTo(dst []byte, n int) []byte {
	for seg := range a.Segments(n) {
		dst = append(dst, seg...)
	}
	return dst
}

// Bytes returns all accepted segments joined into one new slice.
func (a *Accumulator) Bytes() []byte {
	return a.AppendTo(make([]byte, 0, a.Len()), a.Count())
}

// Reset empties a for reuse with a new cap, dropping its references to the
// appended segments but keeping its blocks, so a reused accumulator
// allocates nothing.
func (a *Accumulator) Reset(limit int64) {
	n := a.Count()
	for b := &a.head; b != nil && n > 0; b = b.next.Load() {
		clear(b.segs[:min(n, segBlockSize)])
		n -= segBlockSize
	}
	a.limit = limit
	a.size.Store(0)
	a.count.Store(0)
	a.tail.Store(nil)
}

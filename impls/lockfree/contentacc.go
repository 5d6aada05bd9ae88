package lockfree

import "sync"

// content is what a request accumulates its response into: the lock-free
// Accumulator by default, or a mutex-guarded one that puts the legacy
// design's lock back (Options.Acc) so that the lock's own share of a
// speedup can be measured on this code base.
type content interface {
	// add appends seg unless that would pass the cap (false).
	add(seg []byte) bool
	// appendTo appends the first chunks segments (bytes bytes in all) to dst.
	appendTo(dst []byte, chunks int, bytes int64) []byte
	// limit is the cap in force, 0 for none.
	limit() int64
	// reset empties the content for reuse with a new cap.
	reset(limit int64)
}

// lockFreeContent adapts the Accumulator.
type lockFreeContent struct{ *Accumulator }

func (c lockFreeContent) add(seg []byte) bool { return c.Append(seg) }
func (c lockFreeContent) appendTo(dst []byte, chunks int, _ int64) []byte {
	return c.AppendTo(dst, chunks)
}
func (c lockFreeContent) limit() int64      { return c.Limit() }
func (c lockFreeContent) reset(limit int64) { c.Reset(limit) }

// mutexContent keeps the content behind a mutex, as the legacy design
// does: zero-copy segments (AccMutex) or one growing copy (AccMutexCopy).
// add locks mu around the append; with HoldWrite the relay instead holds
// mu itself across addLocked and the client write.
type mutexContent struct {
	mu   sync.Mutex
	copy bool
	cap  int64
	size int64
	segs [][]byte
	buf  []byte
}

func (c *mutexContent) add(seg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addLocked(seg)
}

// addLocked is add for a caller that holds mu.
func (c *mutexContent) addLocked(seg []byte) bool {
	n := int64(len(seg))
	if c.cap > 0 && c.size+n > c.cap {
		return false
	}
	c.size += n
	if c.copy {
		c.buf = append(c.buf, seg...)
	} else {
		c.segs = append(c.segs, seg)
	}
	return true
}

func (c *mutexContent) appendTo(dst []byte, chunks int, bytes int64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.copy {
		return append(dst, c.buf[:min(int64(len(c.buf)), bytes)]...)
	}
	for _, s := range c.segs[:min(chunks, len(c.segs))] {
		dst = append(dst, s...)
	}
	return dst
}

func (c *mutexContent) limit() int64 { return c.cap }

func (c *mutexContent) reset(limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.segs)
	c.segs, c.buf, c.size, c.cap = c.segs[:0], c.buf[:0], 0, limit
}

// newContent returns empty content of the kind o asks for.
func newContent(o Options, limit int64) content {
	switch o.Acc {
	case AccMutex, AccMutexCopy:
		return &mutexContent{copy: o.Acc == AccMutexCopy, cap: limit}
	default:
		return lockFreeContent{NewAccumulator(limit)}
	}
}

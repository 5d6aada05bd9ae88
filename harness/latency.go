package harness

import (
	"sync"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency kinds the harness records, one histogram each.
const (
	latTTFT = iota
	latITL
	latE2E
	latTTFTIntended
	latE2EIntended
	latRelay
	latCancel
	latProviderLate
	latSlotWait
	numLat
)

// latencies holds the trial's histograms, sharded so that requests running
// at once rarely meet on a lock. A request never records into a shard per
// sample: it fills a batch of its own and flushes it whole (see batch), so
// the harness adds one uncontended lock per request (or per batchSize
// samples, some sixty chunks of a long response, most of whose gaps are
// sampled), not one a chunk, to the mutex wait it measures.
type latencies struct {
	shards [latShards]latShard
}

const (
	latShards = 16
	// latHighest is the largest latency recorded exactly (one hour); larger
	// values are clamped to it.
	latHighest = int64(3600e9)
)

type latShard struct {
	mu sync.Mutex
	h  [numLat]*hdr.Histogram
	_  [64]byte // keep shards on separate cache lines
}

func newLatencies() *latencies {
	l := &latencies{}
	for i := range l.shards {
		for k := range l.shards[i].h {
			l.shards[i].h[k] = hdr.New(1, latHighest, 3)
		}
	}
	return l
}

// batch is one request's unflushed samples.
type batch struct {
	n     int
	kinds [batchSize]uint8
	vals  [batchSize]int64
}

// batchSize is small because every request carries a batch: a request's
// memory is what limits how many streams a trial can hold.
const batchSize = 16

func (b *batch) add(l *latencies, shard int, kind int, v int64) {
	if v < 1 {
		v = 1
	}
	b.kinds[b.n] = uint8(kind)
	b.vals[b.n] = v
	b.n++
	if b.n == batchSize {
		b.flush(l, shard)
	}
}

func (b *batch) flush(l *latencies, shard int) {
	if b.n == 0 {
		return
	}
	s := &l.shards[shard%latShards]
	s.mu.Lock()
	for i := 0; i < b.n; i++ {
		v := b.vals[i]
		if v > latHighest {
			v = latHighest
		}
		_ = s.h[b.kinds[i]].RecordValue(v)
	}
	s.mu.Unlock()
	b.n = 0
}

// merged returns one histogram of kind k over all shards.
func (l *latencies) merged(k int) *hdr.Histogram {
	out := hdr.New(1, latHighest, 3)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		out.Merge(s.h[k])
		s.mu.Unlock()
	}
	return out
}

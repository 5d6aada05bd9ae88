package mutex

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streambench/streambench/impls"
)

const (
	benchChunkSize = 64  // bytes per chunk
	benchStreamLen = 256 // chunks per stream
)

// benchSource hands out n chunks that are sub-slices of one shared slab, so
// it allocates nothing per chunk.
type benchSource struct {
	slab  []byte
	usage *impls.Usage
	n, i  int
}

func (s *benchSource) Next(context.Context) (impls.Chunk, error) {
	if s.i == s.n {
		return impls.Chunk{}, io.EOF
	}
	off := s.i * benchChunkSize
	c := impls.Chunk{Seq: int64(s.i), Content: s.slab[off : off+benchChunkSize : off+benchChunkSize], Tokens: 1}
	s.i++
	if s.i == s.n {
		c.FinishReason, c.Usage = "stop", s.usage
	}
	return c, nil
}

func (*benchSource) Close() error { return nil }

// discardSink is a client that reads instantly and never leaves.
type discardSink struct{}

// neverGone is the Gone channel of a client that never leaves.
var neverGone = make(chan struct{})

func (discardSink) Write(impls.Chunk) error { return nil }
func (discardSink) Gone() <-chan struct{}   { return neverGone }

// benchLedger discards records and marks each charge done on wg, so a
// benchmark can wait for every finalizer before it stops the clock.
type benchLedger struct{ wg *sync.WaitGroup }

func (benchLedger) Persist(context.Context, impls.Record) error { return nil }
func (l benchLedger) Charge(context.Context, string, int64) error {
	l.wg.Done()
	return nil
}

// BenchmarkRelay measures the relay per chunk: b.N chunks of 64 bytes,
// spread over streams of 256 chunks, relayed by 1, 64 or 1024 concurrent
// workers, each relaying one stream after another. The default options come
// first (BenchmarkRelay/streams=64); each knob variant changes one option
// (BenchmarkRelay/lock=global/streams=64).
func BenchmarkRelay(b *testing.B) {
	variants := []struct {
		name string
		set  func(*Options)
	}{
		{"", func(*Options) {}},
		{"lock=global", func(o *Options) { o.Lock = LockGlobal }},
		{"acc=zerocopy", func(o *Options) { o.Accumulation = AccZeroCopy }},
		{"cancel=on", func(o *Options) { o.Cancel = true }},
		{"finalizer=awaited", func(o *Options) { o.Finalizer = FinalizerAwaited }},
	}
	for _, v := range variants {
		opts := DefaultOptions()
		v.set(&opts)
		run := func(b *testing.B) {
			for _, streams := range []int{1, 64, 1024} {
				b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) { benchRelay(b, opts, streams) })
			}
		}
		if v.name == "" {
			run(b)
		} else {
			b.Run(v.name, run)
		}
	}
}

func benchRelay(b *testing.B, opts Options, workers int) {
	slab := make([]byte, benchStreamLen*benchChunkSize)
	for i := range slab {
		slab[i] = 'a' + byte(i%26)
	}
	usage := &impls.Usage{CompletionTokens: benchStreamLen, TotalTokens: benchStreamLen}
	streams := (b.N + benchStreamLen - 1) / benchStreamLen
	var charged sync.WaitGroup
	charged.Add(streams)
	p := New(opts, benchLedger{&charged})
	ctx := context.Background()
	var next atomic.Int64

	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= streams {
					return
				}
				n := min(benchStreamLen, b.N-i*benchStreamLen)
				src := &benchSource{slab: slab, usage: usage, n: n}
				p.Relay(ctx, impls.Request{ID: uint64(i), Account: "bench"}, src, discardSink{})
			}
		})
	}
	wg.Wait()
	// Note: every stream completes, so every finalizer was signalled; wait
	// for them so their work is measured and none outlives the benchmark.
	charged.Wait()

	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/chunk")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/chunk")
}

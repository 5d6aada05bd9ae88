package lockfree

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

// benchStreamLen is how many chunks one benchmark stream has.
const benchStreamLen = 256

// benchSlab backs every benchmark chunk, so the fake provider allocates
// nothing per chunk.
var benchSlab = make([]byte, 64*benchStreamLen)

// slabSource streams n 64-byte sub-slices of benchSlab.
type slabSource struct {
	n, i int
}

func (s *slabSource) Next(context.Context) (impls.Chunk, error) {
	if s.i == s.n {
		return impls.Chunk{}, io.EOF
	}
	i := s.i
	s.i++
	return impls.Chunk{Seq: int64(i), Content: benchSlab[64*i : 64*(i+1)], Tokens: 16}, nil
}

func (*slabSource) Close() error { return nil }

// discardSink accepts everything and never disconnects.
type discardSink struct{}

func (discardSink) Write(impls.Chunk) error { return nil }
func (discardSink) Gone() <-chan struct{}   { return nil }

// nopLedger persists nothing.
type nopLedger struct{}

func (nopLedger) Persist(context.Context, impls.Record) error { return nil }
func (nopLedger) Charge(context.Context, string, int64) error { return nil }

// BenchmarkRelay relays b.N 64-byte chunks, in streams of benchStreamLen,
// through S concurrent workers. One op is one chunk.
func BenchmarkRelay(b *testing.B) {
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		for _, streams := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("queue=%s/streams=%d", q, streams), func(b *testing.B) {
				opts := DefaultOptions()
				opts.Queue = q
				benchRelay(b, New(opts, nopLedger{}), streams)
			})
		}
	}
}

// BenchmarkRelayBlock is BenchmarkRelay with the Block strategy (and a
// timeout that never expires here) instead of Adaptive: equally lossless, but
// it never sleeps, so it measures the pipeline's own cost per chunk.
//
// Note: under the default Adaptive strategy a fast producer reaches the
// high-water mark before the relay goroutine is even scheduled, and then
// sleeps at least InitialDelay*(1+0.75*Multiplier) = 2.5ms; BenchmarkRelay
// with one stream measures mostly that sleep.
func BenchmarkRelayBlock(b *testing.B) {
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		for _, streams := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("queue=%s/streams=%d", q, streams), func(b *testing.B) {
				opts := DefaultOptions()
				opts.Queue, opts.Backpressure, opts.BlockTimeout = q, Block, time.Minute
				benchRelay(b, New(opts, nopLedger{}), streams)
			})
		}
	}
}

func benchRelay(b *testing.B, p *Pipeline, workers int) {
	nStreams := (b.N + benchStreamLen - 1) / benchStreamLen
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				s := int(next.Add(1) - 1)
				if s >= nStreams {
					return
				}
				n := min(benchStreamLen, b.N-s*benchStreamLen)
				out := p.Relay(context.Background(), impls.Request{ID: uint64(s), Account: "bench"}, &slabSource{n: n}, discardSink{})
				if out.Err != nil || out.Delivered != int64(n) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if failed.Load() != 0 {
		b.Fatalf("%d streams failed", failed.Load())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/chunk")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/chunk")
}

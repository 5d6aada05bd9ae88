package conformance

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/streambench/streambench/impls"
)

// BenchStreamLen is how many chunks one benchmark stream has, and
// BenchChunkBytes how large each is.
const (
	BenchStreamLen  = 256
	BenchChunkBytes = 64
)

// benchSlab backs every benchmark chunk, so the fake provider allocates
// nothing per chunk.
var benchSlab = func() []byte {
	b := make([]byte, BenchStreamLen*BenchChunkBytes)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

// Bench is the one benchmark driver of the designs: it relays b.N chunks
// of BenchChunkBytes, in streams of BenchStreamLen, through workers
// concurrent clients of one Pipeline, so that one op is one chunk the
// provider produced. It reports ns/chunk and allocs/chunk as well as the
// usual per-op figures, and for a lossy backpressure strategy lost/chunk,
// the share of chunks it dropped or rejected.
//
// The clock stops only when every stream's charge has reached the ledger
// (for a variant that Persists), so a design that settles in a detached
// goroutine has that work measured too and none of it outlives the
// benchmark.
func Bench(b *testing.B, newPipeline func(impls.Ledger) impls.Pipeline, workers int, tr Traits) {
	streams := (b.N + BenchStreamLen - 1) / BenchStreamLen
	led := &benchLedger{}
	if tr.Persists {
		led.charged.Add(streams)
	}
	p := newPipeline(led)
	usage := &impls.Usage{CompletionTokens: BenchStreamLen, TotalTokens: BenchStreamLen}
	var next, failed, lost atomic.Int64
	lossy := tr.Buffer == Dropping || tr.Buffer == Rejecting

	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= streams {
					return
				}
				n := min(BenchStreamLen, b.N-i*BenchStreamLen)
				u := usage
				if n < BenchStreamLen {
					// The shortened last stream reports its own length.
					u = &impls.Usage{CompletionTokens: int64(n), TotalTokens: int64(n)}
				}
				src := &benchSource{n: n, usage: u}
				out := p.Relay(context.Background(), impls.Request{ID: uint64(i), Account: "bench"}, src, benchSink{})
				// A lossy strategy may drop or reject chunks from a provider
				// this fast; each must still be accounted for.
				got := out.Delivered
				if lossy {
					got += out.Dropped + out.Rejected
					lost.Add(out.Dropped + out.Rejected)
				}
				if out.Err != nil || got != int64(n) || out.Discarded != 0 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	led.charged.Wait()
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if failed.Load() != 0 {
		b.Fatalf("%d of %d streams did not relay (or account for) every chunk", failed.Load(), streams)
	}
	if lossy {
		b.ReportMetric(float64(lost.Load())/float64(b.N), "lost/chunk")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/chunk")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/chunk")
}

// benchSource streams n sub-slices of benchSlab, the last with usage.
type benchSource struct {
	n, i  int
	usage *impls.Usage
}

func (s *benchSource) Next(context.Context) (impls.Chunk, error) {
	if s.i == s.n {
		return impls.Chunk{}, io.EOF
	}
	i := s.i
	s.i++
	c := impls.Chunk{Seq: int64(i), Content: benchSlab[BenchChunkBytes*i : BenchChunkBytes*(i+1)], Tokens: 1}
	if s.i == s.n {
		c.FinishReason, c.Usage = "stop", s.usage
	}
	return c, nil
}

func (*benchSource) Close() error { return nil }

// benchSink accepts everything and never disconnects.
type benchSink struct{}

func (benchSink) Write(impls.Chunk) error { return nil }
func (benchSink) Gone() <-chan struct{}   { return nil }

// benchLedger keeps nothing and counts charges down.
type benchLedger struct{ charged sync.WaitGroup }

func (*benchLedger) Persist(context.Context, impls.Record) error { return nil }
func (l *benchLedger) Charge(context.Context, string, int64) error {
	l.charged.Done()
	return nil
}

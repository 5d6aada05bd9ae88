package lockfree

import (
	"fmt"
	"testing"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
)

// BenchmarkRelay relays b.N 64-byte chunks, in streams of 256, through S
// concurrent workers (conformance.Bench). One op is one chunk.
func BenchmarkRelay(b *testing.B) {
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		for _, streams := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("queue=%s/streams=%d", q, streams), func(b *testing.B) {
				opts := DefaultOptions()
				opts.Queue = q
				conformance.Bench(b, func(l impls.Ledger) impls.Pipeline { return New(opts, l) }, streams, impls.Traits{Persists: true})
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
				conformance.Bench(b, func(l impls.Ledger) impls.Pipeline { return New(opts, l) }, streams, impls.Traits{Persists: true})
			})
		}
	}
}

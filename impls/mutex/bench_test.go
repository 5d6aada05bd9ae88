package mutex

import (
	"fmt"
	"testing"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
)

// BenchmarkRelay measures the relay per chunk: b.N chunks of 64 bytes,
// spread over streams of 256 chunks, relayed by 1, 64 or 1024 concurrent
// workers (conformance.Bench, which also waits for every finalizer's charge
// before it stops the clock). The default options come first
// (BenchmarkRelay/streams=64); each knob variant changes one option
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
		newPipeline := func(l impls.Ledger) impls.Pipeline { return New(opts, l) }
		run := func(b *testing.B) {
			for _, streams := range []int{1, 64, 1024} {
				b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
					conformance.Bench(b, newPipeline, streams, impls.Traits{Persists: true})
				})
			}
		}
		if v.name == "" {
			run(b)
		} else {
			b.Run(v.name, run)
		}
	}
}

package harness

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkTrial runs whole in-process trials of the pass-through variant
// (the harness alone: its provider, client and bookkeeping around a relay
// that only copies) and of the two designs on firehose, and reports the
// records' CPU per chunk. It is the harness's profile target:
//
//	go test -run '^$' -bench 'Trial/passthrough/c=16' -benchtime 3x -cpuprofile cpu.out ./harness
//
// Each iteration is one trial of a 500 ms window after a 100 ms warm-up.
func BenchmarkTrial(b *testing.B) {
	for _, v := range []string{"passthrough", "mutex", "lockfree"} {
		for _, c := range []int{16, 256} {
			b.Run(fmt.Sprintf("%s/c=%d", v, c), func(b *testing.B) {
				spec := quick(v, "firehose")
				spec.Load.Model, spec.Load.Concurrency = "closed", c
				spec.Duration, spec.Warmup = 500*time.Millisecond, 100*time.Millisecond
				var cpu, chunks float64
				for b.Loop() {
					rec, err := RunTrial(context.Background(), spec)
					if err != nil {
						b.Fatal(err)
					}
					if err := AccountingError(rec); err != nil {
						b.Fatal(err)
					}
					cpu += rec.CPUNSPerChunk * rec.ChunksPerS * rec.DurationS
					chunks += rec.ChunksPerS * rec.DurationS
				}
				b.ReportMetric(cpu/chunks, "cpu-ns/chunk")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

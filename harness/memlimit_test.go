package harness

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
)

// hoarder wraps a pipeline and keeps 1 MiB for every request it relays,
// until release: a design whose memory grows without bound.
type hoarder struct {
	impls.Pipeline
	mu   sync.Mutex
	kept [][]byte
}

func (h *hoarder) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	b := make([]byte, 1<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // touch every page, as real content would
	}
	h.mu.Lock()
	h.kept = append(h.kept, b)
	h.mu.Unlock()
	return h.Pipeline.Relay(ctx, req, src, dst)
}

func (h *hoarder) release() {
	h.mu.Lock()
	h.kept = nil
	h.mu.Unlock()
}

// TestMemLimitStopsTheTrial runs a pipeline that grows without bound under
// a memory limit: the trial must stop when the memory it holds crosses the
// limit, well before its window's end, and record the crossing as its
// outcome (with the GC's CPU share in its series), not fail. The same
// trial without a limit runs its whole window.
func TestMemLimitStopsTheTrial(t *testing.T) {
	v, err := variant.Parse("lockfree")
	if err != nil {
		t.Fatal(err)
	}
	run := func(limit, requests int64) (*result.Trial, *hoarder) {
		spec := quick("lockfree", "firehose")
		spec.Load = result.Load{Model: "closed", Concurrency: 4}
		spec.Duration, spec.Warmup = 10*time.Second, 0
		if requests > 0 {
			spec.Duration, spec.Requests = 0, requests
		}
		spec.SampleEvery = 5 * time.Millisecond
		spec.MemLimit = limit
		h := &hoarder{}
		rec, err := runTrial(context.Background(), spec, v, func(l impls.Ledger) impls.Pipeline {
			h.Pipeline = v.New(l)
			return h
		})
		if err != nil {
			t.Fatal(err)
		}
		return rec, h
	}
	const limit = 256 << 20
	rec, h := run(limit, 0)
	h.release()
	if !rec.OutOfMemory || rec.MemLimitBytes != limit {
		t.Fatalf("out_of_memory %v, mem_limit_bytes %d; want true, %d", rec.OutOfMemory, rec.MemLimitBytes, limit)
	}
	if rec.OOMBytes <= limit || rec.OOMHeapBytes == 0 || rec.OOMAtS <= 0 || rec.OOMAtS >= 10 {
		t.Errorf("oom at %.3f s holding %d (heap %d); want within the 10 s window, above %d", rec.OOMAtS, rec.OOMBytes, rec.OOMHeapBytes, limit)
	}
	if rec.DurationS >= 9.9 {
		t.Errorf("the window lasted %.2f s: the trial did not stop at the limit", rec.DurationS)
	}
	if !strings.Contains(strings.Join(rec.Warnings, "\n"), "out of memory at") {
		t.Errorf("no out-of-memory warning in %q", rec.Warnings)
	}
	if err := AccountingError(rec); err != nil {
		t.Errorf("a trial stopped at its memory limit must still account for every chunk: %v", err)
	}
	var gc bool
	for _, s := range rec.HeapSeries {
		gc = gc || s.GCCPUShare > 0
	}
	if !gc {
		t.Errorf("no sample of the series shows GC CPU, though the heap grew past %d MiB", limit>>20)
	}

	// Note: 64 requests without a limit (64 MiB held), not a 2 s window,
	// which would hold gigabytes.
	rec, h = run(0, 64)
	h.release()
	if rec.OutOfMemory || rec.MemLimitBytes != 0 || rec.StreamsCompleted != 64 {
		t.Errorf("without a limit: out_of_memory %v, mem_limit_bytes %d, %d streams completed; want false, 0, 64", rec.OutOfMemory, rec.MemLimitBytes, rec.StreamsCompleted)
	}
}

func TestMemLimitTooSmall(t *testing.T) {
	_, err := Trials(Config{Scenarios: []string{"firehose"}, Variants: []string{"lockfree"}, Trials: 1, MemLimit: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "memory limit must be at least 64 MiB") {
		t.Fatalf("err = %v; want the limit refused", err)
	}
}

package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/streambench/streambench/scenarios"
)

// TestSteadyStateStart: a steady-state start gives the legacy (whose
// finalizer lingers) a population of lingering finalizers proportional to
// its finalizer timeout, counted in its goroutines, outside the trial's
// accounting; the redesign, which does not linger, starts empty.
func TestSteadyStateStart(t *testing.T) {
	run := func(v string, designScale float64) (pop, peak int64, warnings string) {
		spec := quick(v, "testdata/disconnect-short.yaml")
		spec.SteadyState, spec.DesignTimeScale = true, designScale
		rec := mustRun(t, spec)
		if len(rec.Accounting.Violations) > 0 {
			t.Fatalf("%s: violations %q: the steady-state finalizers' records leaked into the trial's accounting", v, rec.Accounting.Violations)
		}
		if !rec.SteadyState || rec.DesignTimeScale != designScale {
			t.Errorf("%s: record says steady_state %v, design_time_scale %g", v, rec.SteadyState, rec.DesignTimeScale)
		}
		return rec.SteadyStateLingering, rec.GoroutinesPeak, strings.Join(rec.Warnings, "\n")
	}
	// The scenario's 200 s finalizer at its 0.01 time scale is 2 s; the
	// design's clock at 0.02 doubles it, and so must the population.
	pop, peak, w := run("mutex", 0.01)
	if pop < 50 || peak < pop || !strings.Contains(w, "steady-state start: ") {
		t.Fatalf("mutex: population %d, goroutine peak %d, warnings %q", pop, peak, w)
	}
	pop2, _, _ := run("mutex", 0.02)
	if d := pop2 - 2*pop; d < -1 || d > 1 {
		t.Errorf("population %d at a 2 s finalizer timeout, %d at 4 s; want twice as many", pop, pop2)
	}
	if pop, _, w := run("lockfree", 0); pop != 0 || strings.Contains(w, "steady-state start") {
		t.Errorf("lockfree: population %d, warnings %q; want none", pop, w)
	}
}

// TestScriptedDuration checks a plan's scripted duration against its
// chunks' gaps and read delays, up to where its client leaves.
func TestScriptedDuration(t *testing.T) {
	sc, err := scenarios.Lookup("testdata/disconnect-short.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var left, whole int
	for i := range uint64(200) {
		p := sc.Request(i)
		end := p.Chunks
		if k := p.DisconnectAfterChunks; k >= 0 && k < end {
			end = k
		}
		var want time.Duration
		for k := range end {
			want += p.Chunk(k).Gap + p.ReadDelay(k)
		}
		d, l := scriptedDuration(&p)
		if d != want || l != (end < p.Chunks) {
			t.Fatalf("request %d: duration %v, left %v; want %v, %v", i, d, l, want, end < p.Chunks)
		}
		if l {
			left++
		} else {
			whole++
		}
		content, chunks, _ := accumulated(&p, false)
		if chunks != int64(end) || (end > 0) != (len(content) > 0) {
			t.Fatalf("request %d: accumulated %d chunks, %d bytes; want %d chunks", i, chunks, len(content), end)
		}
		if content, chunks, _ := accumulated(&p, true); chunks != int64(p.Chunks) || int64(len(content)) != p.Bytes {
			t.Fatalf("request %d read to its end: accumulated %d chunks, %d bytes; want %d, %d", i, chunks, len(content), p.Chunks, p.Bytes)
		}
	}
	if left == 0 || whole == 0 {
		t.Errorf("%d clients left and %d stayed: the sample tests only one kind", left, whole)
	}
}

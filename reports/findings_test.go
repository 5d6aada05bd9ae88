package reports

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/streambench/streambench/result"
)

func TestFindings(t *testing.T) {
	tests := []struct {
		name    string
		specs   []spec
		want    []string // each must appear in some finding
		notWant []string
	}{
		{
			name: "standard",
			want: []string{
				"On chat at 64 streams, lockfree was faster: 3.1x (95% CI 2.99–3.17x, p<0.001 adjusted for 3 comparisons) the chunks/s of mutex — the largest significant ratio.",
				"mutex leaked 312 goroutines per trial (median, on disconnect at 64 streams); lockfree 0.",
				"mutex billed 4.2% more tokens than it delivered on disconnect at 64 streams (median of 8 trials).",
				"On chat at 1 stream, lockfree and mutex showed no significant chunks/s difference",
				"mutex had the provider generate 1.31 tokens per token its clients received on disconnect at 64 streams (median of 8 trials): 24% of the upstream's output, which a real provider bills, reached no client.",
			},
			notWant: []string{"too few", "failed", "lockfree had the provider generate"},
		},
		{
			name: "too few trials",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 64, n: 3, chunks: 10000},
				{scenario: "chat", variant: "lockfree", conc: 64, n: 3, chunks: 30000},
			},
			want: []string{
				"On chat at 64 streams, too few trials to tell lockfree from mutex (2.99x so far): need >= 4 samples to detect a difference at alpha level 0.05.",
				"No variant leaked goroutines.",
				"Every variant billed exactly the tokens it delivered.",
			},
			notWant: []string{"faster", "had the provider generate"},
		},
		{
			name: "no significant difference",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 64, n: 10, chunks: 10000},
				{scenario: "chat", variant: "lockfree", conc: 64, n: 10, chunks: 10000, failed: 1},
			},
			want: []string{
				"On chat at 64 streams, lockfree and mutex showed no significant chunks/s difference (1.01x, p=",
				"1 of 10 lockfree trials failed on chat at 64 streams and are left out of the numbers.",
			},
			notWant: []string{"largest", "too few"},
		},
		{
			name: "capped by the harness",
			specs: []spec{
				{scenario: "firehose", variant: "mutex", conc: 16, n: 8, chunks: 10000},
				{scenario: "firehose", variant: "lockfree", conc: 16, n: 8, chunks: 35000},
				{scenario: "firehose", variant: "passthrough", conc: 16, n: 8, chunks: 40000},
				{scenario: "firehose", variant: "mutex", conc: 256, n: 8, chunks: 10000},
				{scenario: "firehose", variant: "lockfree", conc: 256, n: 8, chunks: 20000},
				{scenario: "firehose", variant: "passthrough", conc: 256, n: 8, chunks: 40000},
			},
			want: []string{
				"On firehose at 16 streams, lockfree was faster: 3.53x (95% CI",
				"the chunks/s of mutex — the largest significant ratio; capped by the harness (ceiling 4.02x: pass-through/mutex; within 20% of it, the design's own ratio may be larger).",
			},
			notWant: []string{"lockfree/mutex (1.9", "lockfree/mutex (2"},
		},
		{
			name: "capped below the best",
			specs: []spec{
				{scenario: "firehose", variant: "mutex", conc: 16, n: 8, chunks: 10000},
				{scenario: "firehose", variant: "lockfree", conc: 16, n: 8, chunks: 50000},
				{scenario: "firehose", variant: "passthrough", conc: 16, n: 8, chunks: 200000},
				{scenario: "firehose", variant: "mutex", conc: 256, n: 8, chunks: 10000},
				{scenario: "firehose", variant: "lockfree", conc: 256, n: 8, chunks: 20000},
				{scenario: "firehose", variant: "passthrough", conc: 256, n: 8, chunks: 22000},
			},
			want: []string{
				"On firehose at 256 streams, lockfree/mutex (1.97x) is capped by the harness (ceiling 2.2x: pass-through/mutex;",
			},
			notWant: []string{"5.05x (95% CI 4.87–5.13x, p<0.001 adjusted for 4 comparisons) the chunks/s of mutex — the largest significant ratio;"},
		},
		{
			name: "collapse",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 100000, n: 8, chunks: 25900, partial: 8},
				{scenario: "chat", variant: "lockfree", conc: 100000, n: 8, chunks: 95500, overran: 8},
			},
			want: []string{
				"On chat at 100000 streams, mutex collapsed: 8 of 8 trials were stopped before their end (stopped at the child process's deadline (1m34.25s after it started), in the measured window, 1m33.9s into the trial) and their records are partial; until then it delivered 25.9k chunks/s with p99 TTFT 112s (medians); lockfree ran to its end (96.3k chunks/s, p99 TTFT 113s).",
				"On chat at 100000 streams, lockfree's timeline overran in 8 of 8 trials (window: it lasted 36s, closing 33s late): its rates are over its window as it ran (duration_s), not as asked.",
				"On chat at 100000 streams, lockfree was faster: 3.",
			},
		},
		{
			name: "every trial failed",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 64, n: 3, chunks: 10000, failed: 3},
				{scenario: "chat", variant: "lockfree", conc: 64, n: 3, chunks: 30000},
			},
			want: []string{
				"On chat at 64 streams, lockfree could not be compared with mutex: no mutex trial measured anything (3 failed).",
				"3 of 3 mutex trials failed on chat at 64 streams and are left out of the numbers.",
			},
			notWant: []string{"No group ran two variants", "collapsed"},
		},
		{
			name: "slower candidate",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 1, n: 8, chunks: 10000},
				{scenario: "chat", variant: "lockfree", conc: 1, n: 8, chunks: 8000},
			},
			want: []string{"On chat at 1 stream, lockfree was slower: 0.81x (95% CI 0.78–0.82x, p<0.001) the chunks/s of mutex."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trials := standardRun()
			if tt.specs != nil {
				trials = makeTrials(tt.specs...)
			}
			all := strings.Join(Findings(trials, DefaultOptions), "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("findings lack %q:\n%s", w, all)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(all, w) {
					t.Errorf("findings contain %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestDriftFindings(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 4, chunks: 1000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 4, chunks: 1000},
	)
	for i, tr := range trials {
		tr.CalibrationNS = 2_000_000 + int64(i)*10_000 // 2.00ms to 2.07ms: within 10%
	}
	for _, f := range Findings(trials, DefaultOptions) {
		if strings.Contains(f, "machine's own speed") {
			t.Fatalf("drift reported for 3.5%%: %q", f)
		}
	}
	trials[3].CalibrationNS = 2_600_000 // one slow reading is set aside
	for _, f := range Findings(trials, DefaultOptions) {
		if strings.Contains(f, "machine's own speed") {
			t.Fatalf("drift reported for one outlier: %q", f)
		}
	}
	for i, tr := range trials {
		tr.CalibrationNS = 2_000_000
		if i >= len(trials)/2 {
			tr.CalibrationNS = 2_600_000 // the second half of the run 30% slower
		}
	}
	var got string
	for _, f := range Findings(trials, DefaultOptions) {
		if strings.Contains(f, "machine's own speed") {
			got = f
		}
	}
	if !strings.Contains(got, "moved by 30%") || !strings.Contains(got, "2ms to 2.6ms") {
		t.Fatalf("drift finding %q", got)
	}
	// A long run with a few interrupted calibrations (as seen on a real
	// run: 96 of 102 within 1%, six 35% slow) is not drift.
	many := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 50, chunks: 1000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 50, chunks: 1000},
	)
	for i, tr := range many {
		tr.CalibrationNS = 573_000
		if i%17 == 0 {
			tr.CalibrationNS = 780_000
		}
	}
	for _, f := range Findings(many, DefaultOptions) {
		if strings.Contains(f, "machine's own speed") {
			t.Fatalf("drift reported for a few outliers: %q", f)
		}
	}
}

// TestOOMFindings: trials that ran out of memory under their limit are
// named, per variant and group, with how many and when; variants that did
// not, and runs without a limit, say nothing.
func TestOOMFindings(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 3, chunks: 1000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 3, chunks: 1000})
	for i, tr := range trials {
		tr.MemLimitBytes = 512 << 20
		if tr.Variant == "mutex" && i != 1 {
			tr.OutOfMemory, tr.OOMAtS = true, 1.5+float64(i)
		}
	}
	where := func(k Key) string { return "on " + k.Scenario + " " + k.DescribeLoad() }
	got := oomFindings(trials, where)
	want := []string{"mutex ran out of memory in 2 of 3 trials on chat at 64 streams (at 1.5–3.5 s into the window, limit 512 MiB): its numbers there run only to that point."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	for _, tr := range trials {
		tr.MemLimitBytes, tr.OutOfMemory = 0, false
	}
	if got := oomFindings(trials, where); len(got) != 0 {
		t.Errorf("without a limit: %q", got)
	}
}

// TestGCSeriesPlot: the GC share series draws from the samples' shares.
func TestGCSeriesPlot(t *testing.T) {
	trials := makeTrials(spec{scenario: "chat", variant: "mutex", conc: 64, n: 1, chunks: 1000})
	trials[0].HeapSeries = []result.Sample{{T: -0.1, HeapBytes: 1 << 20}, {T: 0, HeapBytes: 2 << 20, GCCPUShare: 0.1}, {T: 0.1, HeapBytes: 3 << 20, GCCPUShare: 0.4}}
	p, err := seriesPlot(trials, Analyze(trials, DefaultOptions), seriesGC, "gc")
	if err != nil || p == nil {
		t.Fatalf("plot %v, err %v", p, err)
	}
	if p.Y.Max < 40 || p.Y.Max > 45 {
		t.Errorf("y axis up to %g; want the 40%% peak with a margin", p.Y.Max)
	}
}

// TestGrowthFindings: a soak's window (30 s or longer) reports each
// variant's heap and goroutine growth over its series; a short trial's
// does not.
func TestGrowthFindings(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "disconnect", variant: "mutex", conc: 64, n: 1, chunks: 1e5},
		spec{scenario: "disconnect", variant: "lockfree", conc: 64, n: 1, chunks: 1e5})
	for _, tr := range trials {
		tr.DurationS = 60
		tr.HeapSeries = nil
		for s := range 7 {
			sec := float64(10 * s)
			grow := 0.0
			if tr.Variant == "mutex" {
				grow = 1
			}
			tr.HeapSeries = append(tr.HeapSeries, result.Sample{T: sec, HeapBytes: uint64((64 + grow*sec/2) * (1 << 20)), Goroutines: int64(100 + grow*sec*10)})
		}
	}
	where := func(k Key) string { return "on " + k.Scenario }
	got := growthFindings(Analyze(trials, DefaultOptions), trials, where)
	want := []string{"Over the soak on disconnect, heap and goroutines grew: mutex +0.50 MiB/s and +10.0 goroutines/s; lockfree +0.00 MiB/s and +0.0 goroutines/s (least squares over the window's series, median over trials)."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	for _, tr := range trials {
		tr.DurationS = 2
	}
	if got := growthFindings(Analyze(trials, DefaultOptions), trials, where); len(got) != 0 {
		t.Errorf("a 2 s window: %q", got)
	}
}

// TestOOMOnHeapPlot: the heap plot's legend says when a trial ran out of
// memory.
func TestOOMOnHeapPlot(t *testing.T) {
	trials := makeTrials(spec{scenario: "chat", variant: "mutex", conc: 64, n: 1, chunks: 1000})
	trials[0].MemLimitBytes, trials[0].OutOfMemory, trials[0].OOMAtS = 256<<20, true, 1.5
	p, err := seriesPlot(trials, Analyze(trials, DefaultOptions), seriesHeap, "heap")
	if err != nil || p == nil {
		t.Fatalf("plot %v, err %v", p, err)
	}
	leg := p.Legend
	svg, err := render(p, leg, "svg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "out of memory at 1.5 s") {
		t.Error("the legend does not say when the trial ran out of memory")
	}
}

package reports

import (
	"math/rand/v2"

	"github.com/streambench/streambench/result"
)

// spec describes hand-built trials of one variant in one group.
type spec struct {
	scenario string
	variant  string
	conc     int     // closed-model concurrency; 0 for open
	rate     float64 // open-model rate
	n        int     // trials
	chunks   float64 // median chunks/s
	leaked   int64
	billed   float64 // tokens billed per token delivered
	upstream float64 // tokens generated upstream per token delivered (default 1)
	failed   int     // how many of the n trials failed
	// partial is how many of the n trials (after the failed ones) were
	// stopped at their child's deadline, in the measured window, and have
	// partial records; overran how many (the last ones) had a window that
	// closed 33 s late.
	partial int
	overran int
}

// makeTrials builds deterministic trials from specs: values spread ±2%
// around the spec with a seeded generator, so tests are repeatable.
func makeTrials(specs ...spec) []*result.Trial {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []*result.Trial
	order := 0
	for _, s := range specs {
		for i := range s.n {
			j := 1 + (rng.Float64()-0.5)*0.04
			load := result.Load{Model: "closed", Concurrency: s.conc}
			if s.conc == 0 {
				load = result.Load{Model: "open", Rate: s.rate, Arrival: "poisson"}
			}
			delivered := int64(100000)
			billed := s.billed
			if billed == 0 {
				billed = 1
			}
			upstream := s.upstream
			if upstream == 0 {
				upstream = 1
			}
			generated := int64(float64(delivered) * upstream)
			t := &result.Trial{
				Kind: result.KindTrial, Mode: result.ModeChild,
				Variant: s.variant, Scenario: s.scenario, Load: load,
				GOMAXPROCS: 2, Cores: 2, Trial: i, Seed: uint64(i), Order: order,
				DurationS: 2, WarmupS: 0.5, StreamsDisconnected: disconnects(s.scenario),
				ChunksPerS:  s.chunks * j,
				StreamsPerS: s.chunks * j / 50,
				TTFT:        result.Percentiles{Count: 100, P50: int64(2e6 * j * float64(s.conc+1) / 8), P99: int64(9e6 * j * float64(s.conc+1) / 8)},
				ITL:         result.Percentiles{Count: 1000, P50: int64(1e5 * j), P99: int64(8e5 * j)},
				E2E:         result.Percentiles{Count: 100, P99: int64(5e7 * j)},
				Dist: map[string][]result.Quantile{
					"ttft": {{Q: 0.5, NS: int64(2e6 * j)}, {Q: 0.9, NS: int64(4e6 * j)}, {Q: 0.99, NS: int64(9e6 * j)}, {Q: 0.999, NS: int64(2e7 * j)}},
					"e2e":  {{Q: 0.5, NS: int64(3e7 * j)}, {Q: 0.9, NS: int64(4e7 * j)}, {Q: 0.99, NS: int64(5e7 * j)}, {Q: 0.999, NS: int64(6e7 * j)}},
				},
				HeapPeakBytes: uint64(8e6 * j),
				HeapSeries: []result.Sample{
					{T: 0, HeapBytes: 4e6, Goroutines: 10},
					{T: 1, HeapBytes: uint64(6e6 * j), Goroutines: 10 + s.leaked/2},
					{T: 2, HeapBytes: uint64(8e6 * j), Goroutines: 10 + s.leaked},
				},
				AllocsPerChunk:      3 * j,
				GoroutinesLeaked:    s.leaked,
				MutexWaitNSPerChunk: 40 * j,
				CPUNSPerChunk:       1e9 / s.chunks * j,
				HarnessNSPerChunk:   120,
				Accounting: result.Accounting{
					ChunksProduced: 50000, ChunksDelivered: 50000,
					TokensDelivered: delivered, TokensBilled: int64(float64(delivered) * billed),
					TokensGenerated: generated, TokensWasted: generated - delivered,
					RecordsExpected: 1000, RecordsPersisted: 1000,
				},
			}
			if i < s.failed {
				t.Accounting.Violations = []string{"records persisted 9 != expected 10"}
			}
			if i >= s.failed && i < s.failed+s.partial {
				t.Partial = true
				t.PartialReason = "stopped at the child process's deadline (1m34.25s after it started), in the measured window, 1m33.9s into the trial"
				t.Warnings = append(t.Warnings, "partial record ("+t.PartialReason+"): its numbers cover the trial until then")
			}
			if i >= s.n-s.overran {
				t.DurationS, t.WindowOpenLateS, t.WindowCloseLateS = 36, 0.004, 33.004
				t.Overrun = []string{result.PhaseWindow}
				t.Warnings = append(t.Warnings, "window overran: the 3s measured window opened 4ms and closed 33s after they were due, over 10% of its length: the harness could not keep its timeline at this load (rates are over the window as it ran, duration_s)")
			}
			out = append(out, t)
			order++
		}
	}
	return out
}

// header is the run header the golden tests use.
var testHeader = &result.Header{
	Kind: result.KindHeader, CPUModel: "Test CPU @ 3.0GHz", Cores: 2, GOMAXPROCS: 2,
	GoVersion: "go1.26.8", GOOS: "linux", GOARCH: "amd64", Commit: "abc1234",
	Hostname: "bench1", Command: []string{"bench", "run", "-trials", "8"},
	Scenarios: []string{"chat", "disconnect"}, Variants: []string{"mutex", "lockfree"}, Trials: 8,
}

// standardRun is a run with a significant speedup, a leak and a billing gap.
func standardRun() []*result.Trial {
	return makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 1, n: 8, chunks: 9000},
		spec{scenario: "chat", variant: "lockfree", conc: 1, n: 8, chunks: 9050},
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 8, chunks: 10000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 8, chunks: 31000},
		spec{scenario: "disconnect", variant: "mutex", conc: 64, n: 8, chunks: 5000, leaked: 312, billed: 1.042, upstream: 1.31},
		spec{scenario: "disconnect", variant: "lockfree", conc: 64, n: 8, chunks: 7000},
	)
}

// disconnects returns the disconnected streams per trial of a scenario.
func disconnects(scenario string) int64 {
	if scenario == "disconnect" {
		return 40
	}
	return 0
}

// chatRun is the chat scenario of standardRun alone: a cheaper report to
// render (ten figures) that still has a significant speedup.
func chatRun() []*result.Trial {
	return makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 1, n: 8, chunks: 9000},
		spec{scenario: "chat", variant: "lockfree", conc: 1, n: 8, chunks: 9050},
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 8, chunks: 10000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 8, chunks: 31000},
	)
}

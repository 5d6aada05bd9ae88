// Package harness runs trials: it plays provider and clients from a
// scenario's seeded script, drives one variant's pipeline under a closed or
// open load model, measures what the pipeline costs and how it behaves, and
// checks the accounting of every chunk, token and record.
//
// One trial is one variant × one scenario × one load level × one GOMAXPROCS ×
// one repetition. RunTrial runs it in the calling process (the precise mode
// used by tests); Run runs a whole plan of trials, each in a fresh child
// process (the bench binary re-executing itself, see ChildMain) so that one
// design's leaked goroutines and heap never tax another's measurement, and
// interleaves the variants A B A B so that machine drift hits all alike.
//
// The harness sits above scenarios and impls/variant and below cmd/bench;
// its records are defined in package result. The HTTP end-to-end mode is
// package httpmode and its subpackages, which share the record schema but
// not this package.
package harness

import (
	"fmt"
	"time"

	"github.com/streambench/streambench/result"
)

// TrialSpec says everything one trial needs; it travels to a child process
// as JSON, so it holds names, not objects.
type TrialSpec struct {
	// Variant is a built-in variant name or a spec (see impls/variant).
	Variant string `json:"variant"`
	// Scenario is a built-in scenario name or a scenario file path.
	Scenario string `json:"scenario"`
	// Load overrides the scenario's load model and level. Its OnCap says
	// what an open-model arrival does at the in-flight cap (empty means
	// result.OnCapQueue); the closed model ignores it.
	Load result.Load `json:"load"`
	// Duration or Requests ends the measured part of the trial; exactly one
	// is set (Run fills it from the scenario when the command line did not).
	Duration time.Duration `json:"duration"`
	Requests int64         `json:"requests"`
	// Warmup runs before the measured window and is not measured; a
	// negative value means the scenario's own.
	Warmup time.Duration `json:"warmup"`
	// GOMAXPROCS for the trial; 0 leaves it as it is.
	GOMAXPROCS int `json:"gomaxprocs"`
	// Trial is the repetition index; Order the position in the run.
	Trial int `json:"trial"`
	Order int `json:"order"`
	// Seed overrides the scenario's seed when non-zero.
	Seed uint64 `json:"seed"`
	// Grace is how long the harness waits after the trial's streams have
	// ended before it counts goroutines still alive (leaks).
	Grace time.Duration `json:"grace"`
	// Drain bounds how long the harness waits for streams in flight at the
	// end of the window, and for providers still producing after that,
	// before it stops them.
	Drain time.Duration `json:"drain"`
	// Timeout bounds the measured window of a request-count trial (a
	// duration trial is bounded by its duration): past it the trial stops
	// starting requests, says so, and drains.
	Timeout time.Duration `json:"timeout"`
	// SampleEvery is the period of the heap and goroutine time series.
	SampleEvery time.Duration `json:"sample_every"`
	// MemLimit, when positive, is the trial's memory limit in bytes: the
	// garbage collector's soft limit (as GOMEMLIMIT sets it) and a hard
	// limit on the memory the Go runtime holds from the system, checked at
	// every series sample; a trial that crosses it stops there and its
	// record says it ran out of memory.
	MemLimit int64 `json:"mem_limit,omitempty"`
	// SteadyState starts the trial at the lingering population a design
	// whose finalizer lingers holds in steady state (see startSteady);
	// a design that does not linger starts empty, as always.
	SteadyState bool `json:"steady_state,omitempty"`
	// DesignTimeScale, when positive, scales the durations the design
	// holds (finalizer timeout, backpressure delays) instead of the
	// scenario's time_scale: 1 runs the legacy's 600 s finalizer as
	// written under a scaled provider.
	DesignTimeScale float64 `json:"design_time_scale,omitempty"`
	// SLOTTFT and SLOE2E, when non-zero, override the bounds of the
	// scenario's SLO (written at real scale, like the scenario's), by which
	// the trial's goodput is judged.
	SLOTTFT time.Duration `json:"slo_ttft,omitempty"`
	SLOE2E  time.Duration `json:"slo_e2e,omitempty"`
}

// MinMemLimit is the smallest memory limit a trial accepts: below it the
// harness's own histograms and the runtime leave a design no room.
const MinMemLimit = 64 << 20

// Defaults for a TrialSpec's zero fields.
const (
	DefaultGrace       = 250 * time.Millisecond
	DefaultDrain       = 20 * time.Second
	DefaultSampleEvery = 25 * time.Millisecond
	DefaultTimeout     = 10 * time.Minute
	// maxRequestDigests bounds the per-request digests a record keeps.
	maxRequestDigests = 100_000
	// maxOpenInFlight bounds the open model's requests in flight when the
	// scenario sets no bound; arrivals past it wait or are dropped as the
	// spec's OnCap says, like those past a scenario's own bound.
	maxOpenInFlight = 100_000
	// maxSlots bounds the closed model's counter slots (see trial.run);
	// workers past it share them.
	maxSlots = 1024
)

func (s *TrialSpec) withDefaults() {
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	if s.Drain == 0 {
		s.Drain = DefaultDrain
	}
	if s.SampleEvery == 0 {
		s.SampleEvery = DefaultSampleEvery
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
}

// String names the trial for progress lines and errors.
func (s TrialSpec) String() string {
	lvl := fmt.Sprintf("c=%d", s.Load.Concurrency)
	if s.Load.Model == "open" {
		lvl = fmt.Sprintf("rate=%g/s", s.Load.Rate)
	}
	return fmt.Sprintf("%s %s %s procs=%d #%d", s.Scenario, s.Variant, lvl, s.GOMAXPROCS, s.Trial)
}

package harness

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/internal/runinfo"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// Config is a run: every combination of its lists, repeated Trials times.
type Config struct {
	// Scenarios are built-in names or file paths.
	Scenarios []string
	// Variants are built-in names or specs. The pass-through calibration
	// variant is added to every group when Calibrate is set, in every
	// CalibrateEvery-th repetition (every one when 0 or 1).
	Variants       []string
	Calibrate      bool
	CalibrateEvery int
	// Concurrency and Rates list closed- and open-model load levels; when
	// both are empty each scenario's own load is used.
	Concurrency []int
	Rates       []float64
	// OnCap is what an open-model arrival does when the scenario's
	// in-flight cap is reached: result.OnCapQueue (also when empty) or
	// result.OnCapDrop.
	OnCap string
	// GOMAXPROCS lists the processor counts to run each trial at; empty
	// means the machine's.
	GOMAXPROCS []int
	Trials     int
	// Seed overrides every scenario's seed when non-zero.
	Seed uint64
	// Duration or Requests overrides the scenarios' trial length.
	Duration time.Duration
	Requests int64
	// Warmup overrides the scenarios' warm-up; negative keeps their own.
	Warmup time.Duration
	Grace  time.Duration
	Drain  time.Duration
	// Timeout bounds a request-count trial's measured window.
	Timeout time.Duration
	// InProcess runs trials in this process instead of child processes
	// (for tests; measurements then share one heap and scheduler).
	InProcess bool
	// MemLimit is every trial's memory limit in bytes (see
	// TrialSpec.MemLimit); 0 for none.
	MemLimit int64
	// SteadyState and DesignTimeScale are every trial's (see TrialSpec).
	SteadyState     bool
	DesignTimeScale float64
	// SLOTTFT and SLOE2E override the bounds of every scenario's SLO when
	// non-zero (see TrialSpec).
	SLOTTFT, SLOE2E time.Duration
}

// DefaultConfig is the comparison `bench` runs with no arguments.
//
// Note: seven trials are the fewest for which benchmath gives a ratio a 95%
// interval; short trials buy them within about two minutes on two cores.
var DefaultConfig = Config{
	Scenarios:      []string{"firehose", "chat", "disconnect"},
	Variants:       []string{"mutex", "lockfree"},
	Calibrate:      true,
	CalibrateEvery: 3,
	Concurrency:    []int{16, 256},
	Trials:         7,
	Duration:       600 * time.Millisecond,
	Warmup:         200 * time.Millisecond,
	Grace:          100 * time.Millisecond,
}

// Bounds of a Config that Trials enforces, so that an absurd value is refused
// at once instead of exhausting the machine in a child process.
const (
	// MaxGOMAXPROCS is the largest GOMAXPROCS a trial may ask for: every P
	// holds caches of its own, and a hundred thousand of them take
	// gigabytes before the trial starts.
	MaxGOMAXPROCS = 1024
	// MaxRate is the highest open-model arrival rate per second.
	MaxRate = 1e6
	// MaxTrials bounds the repetitions, and MaxPlannedTrials the trials of
	// a whole run (every one is a child process and a record).
	MaxTrials        = 10_000
	MaxPlannedTrials = 100_000
)

// Trials expands cfg into the run's trials, in the order they run: each
// repetition visits every scenario, load level and GOMAXPROCS in turn and
// runs every variant there once (the pass-through first), so that drift
// over the run hits every variant and every group alike.
func Trials(cfg Config) ([]TrialSpec, error) {
	if cfg.Trials < 1 || cfg.Trials > MaxTrials {
		return nil, fmt.Errorf("trials must be from 1 to %d (got %d)", MaxTrials, cfg.Trials)
	}
	if cfg.Duration < 0 || cfg.Requests < 0 {
		return nil, fmt.Errorf("duration and requests must not be negative")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"grace", cfg.Grace}, {"drain", cfg.Drain}, {"timeout", cfg.Timeout}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s must not be negative (got %v)", d.name, d.v)
		}
	}
	if len(cfg.Scenarios) == 0 {
		return nil, fmt.Errorf("nothing to run: no scenarios given")
	}
	if cfg.DesignTimeScale < 0 || math.IsNaN(cfg.DesignTimeScale) || math.IsInf(cfg.DesignTimeScale, 0) {
		return nil, fmt.Errorf("design time scale must be positive (got %g)", cfg.DesignTimeScale)
	}
	if cfg.MemLimit != 0 && cfg.MemLimit < MinMemLimit {
		return nil, fmt.Errorf("memory limit must be at least %d MiB, room for the harness itself (got %d bytes)", MinMemLimit>>20, cfg.MemLimit)
	}
	if cfg.Duration > 0 && cfg.Requests > 0 {
		return nil, fmt.Errorf("give a duration or a request count, not both")
	}
	if cfg.SLOTTFT < 0 || cfg.SLOE2E < 0 {
		return nil, fmt.Errorf("slo bounds must not be negative")
	}
	vs, err := variant.ParseList(strings.Join(cfg.Variants, ","))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range vs {
		if v.Name != variant.PassThrough {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 && !cfg.Calibrate {
		return nil, fmt.Errorf("nothing to run: %s is the calibration variant, and calibration is off (-no-calibrate)", variant.PassThrough)
	}
	every := max(cfg.CalibrateEvery, 1)
	procs := cfg.GOMAXPROCS
	if len(procs) == 0 {
		procs = []int{runtime.GOMAXPROCS(0)}
	}
	for _, p := range procs {
		if p < 1 || p > MaxGOMAXPROCS {
			return nil, fmt.Errorf("gomaxprocs must be from 1 to %d (got %d)", MaxGOMAXPROCS, p)
		}
	}
	for _, c := range cfg.Concurrency {
		if c < 1 || c > scenarios.MaxConcurrency {
			return nil, fmt.Errorf("concurrency must be from 1 to %d (got %d)", scenarios.MaxConcurrency, c)
		}
	}
	for _, r := range cfg.Rates {
		if !(r > 0) || r > MaxRate {
			return nil, fmt.Errorf("rate must be in (0, %g] requests per second (got %g)", MaxRate, r)
		}
	}
	// The groups (scenario × load × GOMAXPROCS) a repetition walks through.
	type group struct {
		name string
		sc   *scenarios.Scenario
		load result.Load
		p    int
	}
	var groups []group
	scenarioNames := map[string]string{}
	for _, name := range cfg.Scenarios {
		sc, err := scenarios.Lookup(name)
		if err != nil {
			return nil, err
		}
		// Note: two scenarios of one name would pool their trials in every
		// statistic, as if one scenario had run twice as often.
		if first, ok := scenarioNames[sc.Name]; ok {
			if first == name {
				return nil, fmt.Errorf("scenario %q given twice", name)
			}
			return nil, fmt.Errorf("scenarios %q and %q are both named %q: their records could not be told apart", first, name, sc.Name)
		}
		scenarioNames[sc.Name] = name
		var loads []result.Load
		for _, c := range cfg.Concurrency {
			loads = append(loads, result.Load{Model: string(scenarios.Closed), Concurrency: c})
		}
		for _, r := range cfg.Rates {
			loads = append(loads, result.Load{Model: string(scenarios.Open), Rate: r, Arrival: string(sc.Load.Arrival)})
		}
		if len(loads) == 0 {
			loads = []result.Load{{}} // the scenario's own
		}
		for _, load := range loads {
			for _, p := range procs {
				groups = append(groups, group{name, sc, load, p})
			}
		}
	}
	if n := cfg.Trials * len(groups) * (len(names) + 1); n > MaxPlannedTrials {
		return nil, fmt.Errorf("%d trials planned (%d repetitions × %d groups × %d variants and the calibration), more than %d", n, cfg.Trials, len(groups), len(names), MaxPlannedTrials)
	}
	// Note: each repetition visits every group before the next begins, so
	// a group's trials are spread over the whole run and a slow phase of
	// the machine lands on every group a little rather than on one group
	// entirely.
	var specs []TrialSpec
	for rep := 0; rep < cfg.Trials; rep++ {
		for _, g := range groups {
			row := names
			if cfg.Calibrate && rep%every == 0 {
				row = append([]string{variant.PassThrough}, names...)
			}
			for _, v := range row {
				load := g.load
				load.OnCap = cfg.OnCap
				spec := TrialSpec{
					Variant: v, Scenario: g.name, Load: load,
					Duration: cfg.Duration, Requests: cfg.Requests, Warmup: cfg.Warmup,
					GOMAXPROCS: g.p, Trial: rep, Order: len(specs), Seed: cfg.Seed,
					Grace: cfg.Grace, Drain: cfg.Drain, Timeout: cfg.Timeout,
					MemLimit: cfg.MemLimit, SteadyState: cfg.SteadyState, DesignTimeScale: cfg.DesignTimeScale,
					SLOTTFT: cfg.SLOTTFT, SLOE2E: cfg.SLOE2E,
				}
				// Check the spec now, so a bad override fails before the
				// run starts rather than in its tenth minute.
				probe := g.sc.Clone()
				if err := applySpec(probe, &spec); err != nil {
					return nil, fmt.Errorf("scenario %s: %v", g.name, err)
				}
				specs = append(specs, spec)
			}
		}
	}
	return specs, nil
}

// NewHeader describes this machine and command.
func NewHeader(cfg Config, specs []TrialSpec) *result.Header {
	isolation := result.ModeChild
	if cfg.InProcess {
		isolation = result.ModeInProcess
	}
	h := runinfo.Header(isolation)
	h.Scenarios, h.Trials, h.Seed = cfg.Scenarios, cfg.Trials, cfg.Seed
	seen := map[string]bool{}
	for _, s := range specs {
		if !seen[s.Variant] {
			seen[s.Variant] = true
			h.Variants = append(h.Variants, s.Variant)
		}
	}
	return h
}

// Run runs every trial of specs, writing each record to w as soon as it
// ends. Closing stop ends the run after the trial in flight; cancelling ctx
// kills it: a child process is killed, while a trial in process stops and
// its record, marked partial, is written. It returns the records of the
// trials that ran; a trial that crashed is a record with Error set, and a
// child stopped at its deadline a partial record (see ChildConfig.Run).
// The error is non-nil only for a run that could not go on (w failed) or
// was stopped.
func Run(ctx context.Context, cfg Config, specs []TrialSpec, w *result.Writer, stop <-chan struct{}, progress io.Writer) ([]*result.Trial, error) {
	r := newRunner(cfg, w, progress, len(specs))
	for _, spec := range specs {
		if _, err := r.run(ctx, stop, spec, false); err != nil {
			return r.out, err
		}
	}
	return r.out, nil
}

// runner runs trials one at a time, writing each record as it ends: the
// loop of Run and of FindCapacity.
type runner struct {
	cfg      Config
	w        *result.Writer
	progress io.Writer
	calib    map[result.Key]float64
	began    time.Time
	total    int // trials planned; 0 when unknown (a capacity search)
	out      []*result.Trial
}

func newRunner(cfg Config, w *result.Writer, progress io.Writer, total int) *runner {
	return &runner{cfg: cfg, w: w, progress: progress, calib: map[result.Key]float64{}, began: time.Now(), total: total}
}

// run runs one trial and writes its record, marked as a capacity probe
// when probe is set. The error is non-nil only when the run cannot go on:
// stopped (with the partial record of a trial in process that was
// stopped, already written), or the record could not be written.
func (r *runner) run(ctx context.Context, stop <-chan struct{}, spec TrialSpec, probe bool) (*result.Trial, error) {
	select {
	case <-stop:
		return nil, errStopped
	default:
	}
	if ctx.Err() != nil {
		return nil, errStopped
	}
	i := len(r.out)
	if r.progress != nil {
		of, left := "", ""
		if r.total > 0 {
			of, left = fmt.Sprintf("/%d", r.total), eta(r.began, i, r.total)
		}
		fmt.Fprintf(r.progress, "trial %d%s  %-44s  %s elapsed%s\n", i+1, of, spec, time.Since(r.began).Round(time.Second), left)
	}
	var rec *result.Trial
	var err error
	if r.cfg.InProcess {
		rec, err = RunTrial(ctx, spec)
	} else {
		rec, err = runChild(ctx, spec)
	}
	// Note: a trial in process stops when ctx is cancelled and returns its
	// partial record, which is kept; a child is killed and leaves none.
	stopped := ctx.Err() != nil
	if stopped && (err != nil || !rec.Partial) {
		return nil, errStopped
	}
	if err != nil {
		rec = failedRecord(spec, err)
	}
	rec.CapacityProbe = probe
	key := rec.Key()
	if rec.Variant == variant.PassThrough && !rec.Failed() {
		r.calib[key] = rec.CPUNSPerChunk
	}
	rec.HarnessNSPerChunk = r.calib[key]
	if err := r.w.Write(rec); err != nil {
		return nil, fmt.Errorf("writing results: %w", err)
	}
	r.out = append(r.out, rec)
	if r.progress != nil && rec.Failed() {
		fmt.Fprintf(r.progress, "  FAILED: %s\n", failure(rec))
	}
	if r.progress != nil && rec.Partial {
		fmt.Fprintf(r.progress, "  PARTIAL: %s\n", rec.PartialReason)
	}
	if r.progress != nil && rec.Overran() {
		fmt.Fprintf(r.progress, "  OVERRAN: %s (the record's overrun; see its warnings)\n", strings.Join(rec.Overrun, ", "))
	}
	if stopped {
		return rec, errStopped
	}
	return rec, nil
}

func eta(began time.Time, done, total int) string {
	if done == 0 {
		return ""
	}
	per := time.Since(began) / time.Duration(done)
	return fmt.Sprintf(", about %s left", (per * time.Duration(total-done)).Round(time.Second))
}

// failedRecord is the record of a trial that did not produce one.
func failedRecord(spec TrialSpec, err error) *result.Trial {
	return &result.Trial{
		Kind: result.KindTrial, Mode: result.ModeChild, Variant: spec.Variant, Scenario: spec.Scenario,
		Load: spec.Load, GOMAXPROCS: spec.GOMAXPROCS, Trial: spec.Trial, Seed: spec.Seed, Order: spec.Order,
		Error: err.Error(),
	}
}

// failure says why a record failed.
func failure(rec *result.Trial) string {
	if rec.Error != "" {
		return rec.Error
	}
	return AccountingError(rec).Error()
}

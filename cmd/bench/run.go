package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/streambench/streambench/harness"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/reports"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// cmdDefault runs harness.DefaultConfig.
func cmdDefault(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer) error {
	return runConfig(ctx, stop, stdout, stderr, harness.DefaultConfig, "", "table", reportOptions(reports.DefaultMinEffect))
}

// cmdRun runs the trials its flags describe, in child processes (or in
// this process with -inprocess).
func cmdRun(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := harness.DefaultConfig
	var (
		scen     = stringList(slices.Clone(d.Scenarios))
		variants = variantList(slices.Clone(d.Variants))
		conc     positiveInts
		rate     positiveFloats
		procs    positiveInts
	)
	fs.Var(&scen, "scenario", "scenarios: built-in names or YAML files, comma-separated")
	fs.Var(&variants, "variants", "variants: built-in names or specs like lockfree:queue=ring (see bench variants)")
	fs.Var(&conc, "concurrency", "closed-model concurrent streams, comma-separated (a sweep); default: each scenario's own load")
	fs.Var(&rate, "rate", "open-model arrival rates per second, comma-separated (a sweep)")
	fs.Var(&procs, "gomaxprocs", "GOMAXPROCS values, comma-separated; default the machine's")
	var (
		onCap       = fs.String("on-cap", result.OnCapQueue, "open model, at the scenario's in-flight cap: queue (an arrival waits for a slot) or drop (counted in requests_dropped)")
		requests    = fs.Int64("requests", 0, "measured requests per trial instead of a duration; enables the equivalence check")
		trials      = fs.Int("trials", d.Trials, "repetitions of every trial")
		seed        = fs.Uint64("seed", 0, "seed for every scenario (0: each scenario's own)")
		out         = fs.String("out", "", "output folder (default: a fresh folder under bench-results/)")
		format      = fs.String("format", "table", "summary format: table or json")
		grace       = durationVar(fs, "grace", harness.DefaultGrace, "wait after a trial's streams end before counting leaked goroutines")
		timeout     = durationVar(fs, "timeout", harness.DefaultTimeout, "longest a -requests trial may run before it stops and drains")
		inprocess   = fs.Bool("inprocess", false, "run trials in this process, not in child processes (less isolated; for debugging)")
		noCalibrate = fs.Bool("no-calibrate", false, "skip the pass-through calibration trials")
		ladders     = fs.Bool("ladders", false, "add every variant of the two ablation ladders (see bench variants), for the report's attribution")
		steady      = fs.Bool("steady-state", false, "start each trial at the lingering population a design whose finalizer lingers holds in steady state (disconnect rate × finalizer timeout)")
		designScale = fs.Float64("design-time-scale", 0, "scale the designs' own durations (finalizer timeout, backpressure delays) by this instead of the scenario's time_scale; 1 runs them as written")
		soak        = fs.Duration("soak", 0, "a soak run: one trial per variant of this long, without calibration, whose heap and goroutine series show growth over minutes")
		sloTTFT     = durationVar(fs, "slo-ttft", 0, "SLO: time to first chunk from the intended start, at the scenario's real scale (overrides the scenario's slo.ttft); adds goodput to every trial")
		findCap     = fs.Bool("find-capacity", false, "search each variant's capacity: the highest open-model rate at which 99% of requests meet the SLO (needs an SLO; see -capacity-*)")
		capLow      = fs.Float64("capacity-low", harness.DefaultCapacity.Search.Low, "-find-capacity: lowest rate probed, requests/s")
		capHigh     = fs.Float64("capacity-high", harness.DefaultCapacity.Search.High, "-find-capacity: highest rate probed, requests/s")
		capStart    = fs.Float64("capacity-start", 0, "-find-capacity: first rate probed (default: the scenario's own rate when its load is open, else the geometric middle of -capacity-low and -capacity-high)")
		capBudget   = durationVar(fs, "capacity-budget", harness.DefaultCapacity.Budget, "-find-capacity: wall-clock budget of all the searches together; no probe starts that would likely overrun it")
		sloE2E      = durationVar(fs, "slo-e2e", 0, "SLO: end-to-end latency from the intended start, at the scenario's real scale (overrides the scenario's slo.e2e); adds goodput to every trial")
	)
	var duration time.Duration
	warmup := time.Duration(-1)
	fs.Func("duration", "measured time per trial, e.g. 5s (default: each scenario's own; or use -requests)", durationFlag(&duration))
	fs.Func("warmup", "unmeasured warm-up per trial, e.g. 500ms (default: each scenario's own)", durationFlag(&warmup))
	minEffect := minEffectFlag(fs)
	var memLimit int64
	fs.Func("memlimit", "memory limit per trial, e.g. 512MiB or 2GiB: the GC's soft limit (GOMEMLIMIT) and a hard limit at which the trial stops and is recorded as out of memory", func(v string) error {
		n, err := scenarios.ParseSize(v)
		if err != nil {
			return err
		}
		memLimit = n
		return nil
	})
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return err
	}
	cfg := harness.Config{
		MemLimit:        memLimit,
		SteadyState:     *steady,
		DesignTimeScale: *designScale,
		Scenarios:       scen,
		Variants:        withLadders(variants, *ladders),
		Concurrency:     conc,
		Rates:           rate,
		GOMAXPROCS:      procs,
		Calibrate:       !*noCalibrate,
		Trials:          *trials,
		Seed:            *seed,
		Warmup:          warmup,
		Grace:           *grace,
		Timeout:         *timeout,
		InProcess:       *inprocess,
		OnCap:           *onCap,
		SLOTTFT:         *sloTTFT,
		SLOE2E:          *sloE2E,
	}
	if *onCap != result.OnCapQueue && *onCap != result.OnCapDrop {
		return usagef("bench run: -on-cap must be %s or %s (got %q)", result.OnCapQueue, result.OnCapDrop, *onCap)
	}
	if *timeout == 0 {
		return usagef("bench run: -timeout must be positive")
	}
	switch {
	case *requests > 0 && duration > 0:
		return usagef("bench run: give -duration or -requests, not both")
	case *requests < 0:
		return usagef("bench run: -requests must be positive (got %d)", *requests)
	}
	cfg.Requests, cfg.Duration = *requests, duration
	if *soak != 0 {
		if *soak < 0 || duration > 0 || *requests > 0 {
			return usagef("bench run: -soak takes a positive duration, instead of -duration and -requests")
		}
		cfg.Duration, cfg.Calibrate = *soak, false
		if !flagSet(fs, "trials") {
			cfg.Trials = 1
		}
	}
	if *designScale < 0 {
		return usagef("bench run: -design-time-scale must be positive (got %g)", *designScale)
	}
	if *format != "table" && *format != "json" {
		return usagef("bench run: -format must be table or json (got %q)", *format)
	}
	if *findCap {
		if *soak != 0 {
			return usagef("bench run: -find-capacity and -soak do not go together: a soak is one long trial per variant")
		}
		// Note: a probe is one trial unless -trials says otherwise: the
		// search spends its budget on rates rather than on repetitions.
		if !flagSet(fs, "trials") {
			cfg.Trials = 1
		}
		cc := harness.DefaultCapacity
		cc.Search.Low, cc.Search.High, cc.Search.Start, cc.Budget = *capLow, *capHigh, *capStart, *capBudget
		return runCapacity(ctx, stop, stdout, stderr, cfg, cc, *out, *format, reportOptions(*minEffect))
	}
	return runConfig(ctx, stop, stdout, stderr, cfg, *out, *format, reportOptions(*minEffect))
}

// runConfig runs cfg, writing results.jsonl, the summary and the report into
// outDir (a fresh folder when empty), and prints the summary.
func runConfig(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, cfg harness.Config, outDir, format string, opts reports.Options) error {
	specs, err := harness.Trials(cfg)
	if err != nil {
		return usagef("bench run: %v", err)
	}
	out, err := createOutput("bench run", outDir, "")
	if err != nil {
		return err
	}
	defer out.Close()
	hdr := harness.NewHeader(cfg, specs)
	if err := out.Write(hdr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: %d trials on %s (%d cores, GOMAXPROCS %d, %s), isolation: %s; results in %s\n",
		len(specs), hdr.CPUModel, hdr.Cores, hdr.GOMAXPROCS, hdr.GoVersion, hdr.Isolation, out.results)
	trials, runErr := harness.Run(ctx, cfg, specs, out.Writer, stop, stderr)
	runErr = out.sync(runErr)
	if len(trials) > 0 {
		if err := summarize(stdout, stderr, out.dir, out.results, trials, format, opts); err != nil {
			return err
		}
	}
	return out.ended(stderr, "bench", trials, len(specs), runErr)
}

// runCapacity runs cfg's capacity searches (bench run -find-capacity),
// writing their probes' records, the summary and the report into outDir.
func runCapacity(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, cfg harness.Config, cc harness.CapacityConfig, outDir, format string, opts reports.Options) error {
	if err := harness.CheckCapacity(cfg, cc); err != nil {
		return usagef("bench run -find-capacity: %v", err)
	}
	out, err := createOutput("bench run", outDir, "")
	if err != nil {
		return err
	}
	defer out.Close()
	var named []harness.TrialSpec
	for _, v := range cfg.Variants {
		named = append(named, harness.TrialSpec{Variant: v})
	}
	hdr := harness.NewHeader(cfg, named)
	if err := out.Write(hdr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: capacity search within %s on %s (%d cores, GOMAXPROCS %d, %s), isolation: %s; results in %s\n",
		cc.Budget, hdr.CPUModel, hdr.Cores, hdr.GOMAXPROCS, hdr.GoVersion, hdr.Isolation, out.results)
	trials, caps, runErr := harness.FindCapacity(ctx, cfg, cc, out.Writer, stop, stderr)
	runErr = out.sync(runErr)
	for _, c := range caps {
		fmt.Fprintf(stderr, "bench: capacity of %s on %s (GOMAXPROCS %d): %v\n", c.Variant, c.Scenario, c.GOMAXPROCS, c.Result)
	}
	if len(trials) > 0 {
		if err := summarize(stdout, stderr, out.dir, out.results, trials, format, opts); err != nil {
			return err
		}
	}
	return out.ended(stderr, "bench", trials, len(trials), runErr)
}

// summarize prints the summary and writes the report files.
func summarize(stdout, stderr io.Writer, outDir, resultsPath string, trials []*result.Trial, format string, opts reports.Options) error {
	var err error
	if format == "json" {
		err = reports.WriteJSON(stdout, trials, reports.TableOptions{Stats: opts})
	} else {
		err = reports.WriteTable(stdout, trials, reports.TableOptions{Stats: opts})
		var ordinary []*result.Trial
		for _, t := range trials {
			if !t.CapacityProbe { // probes run different rates per variant
				ordinary = append(ordinary, t)
			}
		}
		for _, line := range harness.Equivalence(ordinary) {
			fmt.Fprintf(stdout, "equivalence: %s\n", line)
		}
	}
	if err != nil {
		return err
	}
	warnings, err := reports.Build(outDir, []string{resultsPath}, opts)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "bench: warning: %v\n", w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: report: %v\n", err)
		return errFailed
	}
	fmt.Fprintf(stderr, "bench: report in %s\n", filepath.Join(outDir, "report.html"))
	return nil
}

// withLadders appends the ladders' variants not already in vs, when asked.
func withLadders(vs []string, ladders bool) []string {
	if !ladders {
		return vs
	}
	for _, name := range variant.LadderVariants() {
		if !slices.Contains(vs, name) {
			vs = append(vs, name)
		}
	}
	return vs
}

// flagSet reports whether the command line set the named flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

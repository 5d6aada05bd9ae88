package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streambench/streambench/harness"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/reports"
	"github.com/streambench/streambench/result"
)

// cmdDefault runs harness.DefaultConfig.
func cmdDefault(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer) error {
	return runConfig(ctx, stop, stdout, stderr, harness.DefaultConfig, "", "table", reportOptions(reports.DefaultMinEffect))
}

func cmdRun(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := harness.DefaultConfig
	var (
		scen        = fs.String("scenario", strings.Join(d.Scenarios, ","), "scenarios: built-in names or YAML files, comma-separated")
		variants    = fs.String("variants", strings.Join(d.Variants, ","), "variants: built-in names or specs like lockfree:queue=ring (see bench variants)")
		conc        = fs.String("concurrency", "", "closed-model concurrent streams, comma-separated (a sweep); default: each scenario's own load")
		rate        = fs.String("rate", "", "open-model arrival rates per second, comma-separated (a sweep)")
		onCap       = fs.String("on-cap", result.OnCapQueue, "open model, at the scenario's in-flight cap: queue (an arrival waits for a slot) or drop (counted in requests_dropped)")
		procs       = fs.String("gomaxprocs", "", "GOMAXPROCS values, comma-separated; default the machine's")
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
	)
	var duration time.Duration
	warmup := time.Duration(-1)
	fs.Func("duration", "measured time per trial, e.g. 5s (default: each scenario's own; or use -requests)", durationFlag(&duration))
	fs.Func("warmup", "unmeasured warm-up per trial, e.g. 500ms (default: each scenario's own)", durationFlag(&warmup))
	minEffect := minEffectFlag(fs)
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return err
	}
	cfg := harness.Config{
		Scenarios: splitList(*scen),
		Variants:  withLadders(splitList(*variants), *ladders),
		Calibrate: !*noCalibrate,
		Trials:    *trials,
		Seed:      *seed,
		Warmup:    warmup,
		Grace:     *grace,
		Timeout:   *timeout,
		InProcess: *inprocess,
		OnCap:     *onCap,
	}
	if *onCap != result.OnCapQueue && *onCap != result.OnCapDrop {
		return usagef("bench run: -on-cap must be %s or %s (got %q)", result.OnCapQueue, result.OnCapDrop, *onCap)
	}
	var err error
	if cfg.Concurrency, err = parseInts(fs.Name(), "concurrency", *conc); err != nil {
		return err
	}
	if cfg.Rates, err = parseFloats(fs.Name(), "rate", *rate); err != nil {
		return err
	}
	if cfg.GOMAXPROCS, err = parseInts(fs.Name(), "gomaxprocs", *procs); err != nil {
		return err
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
	if *format != "table" && *format != "json" {
		return usagef("bench run: -format must be table or json (got %q)", *format)
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
	if outDir == "" {
		outDir = filepath.Join("bench-results", time.Now().Format("20060102-150405"))
	}
	resultsPath := filepath.Join(outDir, "results.jsonl")
	f, err := createFresh("bench run", outDir, resultsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	w := result.NewWriter(f)
	hdr := harness.NewHeader(cfg, specs)
	if err := w.Write(hdr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: %d trials on %s (%d cores, GOMAXPROCS %d, %s), isolation: %s; results in %s\n",
		len(specs), hdr.CPUModel, hdr.Cores, hdr.GOMAXPROCS, hdr.GoVersion, hdr.Isolation, resultsPath)
	trials, runErr := harness.Run(ctx, cfg, specs, w, stop, stderr)
	if err := f.Sync(); err != nil && runErr == nil {
		runErr = err
	}
	if len(trials) > 0 {
		if err := summarize(stdout, stderr, outDir, resultsPath, trials, format, opts); err != nil {
			return err
		}
	}
	failed := 0
	for _, t := range trials {
		if t.Failed() {
			failed++
		}
	}
	switch {
	case runErr != nil:
		fmt.Fprintf(stderr, "bench: %v after %d of %d trials; what was measured is in %s\n", runErr, len(trials), len(specs), outDir)
		return errFailed
	case failed > 0:
		fmt.Fprintf(stderr, "bench: %d of %d trials FAILED (see the table's footnotes and %s)\n", failed, len(trials), resultsPath)
		return errFailed
	}
	return nil
}

// summarize prints the summary and writes the report files.
func summarize(stdout, stderr io.Writer, outDir, resultsPath string, trials []*result.Trial, format string, opts reports.Options) error {
	var err error
	if format == "json" {
		err = reports.WriteJSON(stdout, trials, reports.TableOptions{Stats: opts})
	} else {
		err = reports.WriteTable(stdout, trials, reports.TableOptions{Stats: opts})
		for _, line := range harness.Equivalence(trials) {
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

func cmdReport(_ context.Context, _ <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output folder (default: the first folder given, or the folder of the first file)")
	minEffect := minEffectFlag(fs)
	if done, err := parseFlags(fs, args, true); done || err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("bench report: give result files or folders")
	}
	dir := *out
	if dir == "" {
		dir = fs.Arg(0)
		if st, err := os.Stat(dir); err != nil {
			return usagef("bench report: %v", err)
		} else if !st.IsDir() {
			dir = filepath.Dir(dir)
		}
	}
	warnings, err := reports.Build(dir, fs.Args(), reportOptions(*minEffect))
	for _, w := range warnings {
		fmt.Fprintf(stderr, "bench report: warning: %v\n", w)
	}
	if err != nil {
		return usagef("bench report: %v", err)
	}
	fmt.Fprintf(stdout, "report in %s\n", filepath.Join(dir, "report.html"))
	return nil
}

// parseFlags parses args into fs. It reports done for -h (usage printed, the
// command has nothing more to do) and a usage error for bad flags, or for
// positional arguments unless the command takes them.
func parseFlags(fs *flag.FlagSet, args []string, positional bool) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, usagef("%s: %v", fs.Name(), err)
	}
	if !positional && fs.NArg() > 0 {
		return true, usagef("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return false, nil
}

// minEffectFlag defines -min-effect on fs: the practical-significance band
// of the findings, as a fraction (0.02) or a percentage ("2%").
func minEffectFlag(fs *flag.FlagSet) *float64 {
	v := reports.DefaultMinEffect
	fs.Func("min-effect", fmt.Sprintf("smallest difference a finding calls faster or slower, e.g. 2%% or 0.02; 0 for any significant one (default %g%%)", 100*reports.DefaultMinEffect),
		func(s string) error {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number or percentage", s)
			}
			if strings.HasSuffix(s, "%") {
				f /= 100
			}
			if !(f >= 0 && f < 1) {
				return fmt.Errorf("%q must be at least 0 and below 100%%", s)
			}
			v = f
			return nil
		})
	return &v
}

// reportOptions are the report's statistics with the band minEffect and
// the ablation ladders the attribution walks.
func reportOptions(minEffect float64) reports.Options {
	o := reports.DefaultOptions
	o.MinEffect = minEffect
	o.Ladders = variant.Ladders()
	return o
}

// createFresh creates dir if need be and the file path in it, refusing a
// dir that already holds anything: a run writes report.html, summary.md,
// results.bench and plots/ next to its records, and would overwrite
// someone's files of those names.
func createFresh(cmd, dir, path string) (*os.File, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, usagef("%s: -out: %v", cmd, err)
	case len(entries) > 0:
		names := make([]string, 0, 3)
		for _, e := range entries[:min(len(entries), 3)] {
			names = append(names, e.Name())
		}
		if len(entries) > 3 {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-3))
		}
		return nil, usagef("%s: -out folder %s is not empty (it holds %s): choose a fresh -out folder", cmd, dir, strings.Join(names, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, usagef("%s: -out: %v", cmd, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, usagef("%s: %v (choose a fresh -out folder)", cmd, err)
	}
	return f, nil
}

// durationValue is a flag.Value holding a duration that must not be
// negative.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error { return durationFlag(v.d)(s) }

// durationVar defines a non-negative duration flag with default def.
func durationVar(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := new(time.Duration)
	*d = def
	fs.Var(durationValue{d}, name, usage)
	return d
}

// durationFlag parses a non-negative duration into d.
func durationFlag(d *time.Duration) func(string) error {
	return func(s string) error {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("must not be negative")
		}
		*d = v
		return nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseInts parses the comma-separated positive integers of flag -name of
// command cmd.
func parseInts(cmd, name, s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, usagef("%s: -%s: %q is not a positive integer", cmd, name, p)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseFloats parses the comma-separated positive numbers of flag -name
// of command cmd.
func parseFloats(cmd, name, s string) ([]float64, error) {
	var out []float64
	for _, p := range splitList(s) {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, usagef("%s: -%s: %q is not a positive number", cmd, name, p)
		}
		out = append(out, f)
	}
	return out, nil
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

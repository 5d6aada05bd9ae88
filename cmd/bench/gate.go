package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/streambench/streambench/gate"
	"github.com/streambench/streambench/harness"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/reports"
	"github.com/streambench/streambench/result"
)

// The gate's defaults. Note: firehose has no provider delays, so its
// throughput and CPU per chunk are the relay's own cost and move with any
// change to it (paced scenarios hide a regression behind the provider's
// pace); 16 streams keep both cores busy with little scheduling noise; both
// designs are guarded. Short trials buy pairs: the gate's power comes from
// pairing many of them, not from long ones.
const (
	gateScenario    = "firehose"
	gateVariants    = "mutex,lockfree"
	gateConcurrency = 16
	gateDuration    = 400 * time.Millisecond
	gateWarmup      = 150 * time.Millisecond
	gateGrace       = 50 * time.Millisecond
	// gateMaxOtherCPU: on a shared machine another process's burst halves
	// a trial's throughput, and a pair 1 s long does not cancel it.
	gateMaxOtherCPU = 0.25
)

// exitCodeError ends the command with its exit code, its message printed
// already.
type exitCodeError int

func (e exitCodeError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// cmdGate runs `bench gate`: the base and head builds on paired,
// interleaved trials, decided by package gate.
func cmdGate(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		baseRef    = fs.String("base", "", "git ref of the base build (built once into a temporary folder)")
		headRef    = fs.String("head", "", "git ref of the head build (default: the working tree as it is)")
		baseBin    = fs.String("base-bin", "", "a bench binary to use as the base instead of building -base")
		headBin    = fs.String("head-bin", "", "a bench binary to use as the head instead of building -head")
		baseline   = fs.String("baseline", "", "compare the head with the records of an earlier run (a results.jsonl) instead of a base build")
		budget     = fs.Duration("budget", gate.DefaultBudget, "time budget: pairs are added until every metric is decided or this runs out")
		thresholds = fs.String("thresholds", "", "a thresholds YAML file, applied after the defaults")
		inconcl    = fs.String("inconclusive", "", "what an inconclusive gate exits with: pass (0) or fail (1); default 3")
		out        = fs.String("out", "", "output folder (default: a fresh folder under bench-results/)")
		maxPairs   = fs.Int("max-pairs", 0, "stop each group after this many pairs (0: only the budget stops it)")
		grace      = fs.Duration("grace", gateGrace, "wait after a trial's streams end before counting leaked goroutines")
		noReport   = fs.Bool("no-report", false, "skip the HTML reports of the two sides")
		maxOther   = fs.Float64("max-other-cpu", gateMaxOtherCPU, "leave out a pair when other processes took more than this share of the machine during one of its trials (1: keep every pair)")
		normalize  = fs.String("normalize", "none", "with -baseline: none, or calibration (scale the head's CPU per chunk by the machine-speed workload's time, base over head)")
	)
	scens := stringList{gateScenario}
	baseVs := variantList(variant.SplitList(gateVariants))
	var headVs variantList
	concs := positiveInts{gateConcurrency}
	fs.Var(&scens, "scenario", "scenarios: built-in names or YAML files, comma-separated")
	fs.Var(&baseVs, "variants", "variants, run on both sides (the base's, when -head-variants is given)")
	fs.Var(&headVs, "head-variants", "the head's variants, paired one to one with -variants (default: the same)")
	fs.Var(&concs, "concurrency", "closed-model concurrent streams, comma-separated (empty: each scenario's own)")
	duration, warmup := gateDuration, gateWarmup
	fs.Func("duration", "measured time per trial (default 400ms)", durationFlag(&duration))
	fs.Func("warmup", "unmeasured warm-up per trial (default 150ms)", durationFlag(&warmup))
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return err
	}
	switch *inconcl {
	case "", "pass", "fail":
	default:
		return usagef("bench gate: -inconclusive must be pass or fail (got %q)", *inconcl)
	}
	sides := 0
	for _, s := range []string{*baseRef, *baseBin, *baseline} {
		if s != "" {
			sides++
		}
	}
	if sides != 1 {
		return usagef("bench gate: give exactly one of -base, -base-bin and -baseline")
	}
	if *headRef != "" && *headBin != "" {
		return usagef("bench gate: give -head or -head-bin, not both")
	}
	if *budget <= 0 {
		return usagef("bench gate: -budget must be positive")
	}
	switch {
	case *normalize != "none" && *normalize != "calibration":
		return usagef("bench gate: -normalize must be none or calibration (got %q)", *normalize)
	case *normalize != "none" && *baseline == "":
		return usagef("bench gate: -normalize applies to a stored -baseline only (fresh pairs share the machine and need none)")
	}

	// The groups, checked here (with this binary's scenarios and variants)
	// so that a typo fails before anything is built.
	if len(headVs) == 0 {
		headVs = baseVs
	}
	if len(headVs) != len(baseVs) {
		return usagef("bench gate: -head-variants names %d variants, -variants %d: they pair one to one", len(headVs), len(baseVs))
	}
	for _, vs := range [][]string{baseVs, headVs} {
		if _, err := harness.Trials(harness.Config{Scenarios: scens, Variants: vs, Concurrency: concs, Trials: 1, Duration: duration, Warmup: warmup}); err != nil {
			return usageError{err}
		}
	}
	var groups []gate.Group
	for _, sc := range scens {
		loads := concs
		if len(loads) == 0 {
			loads = []int{0}
		}
		for _, c := range loads {
			for i := range baseVs {
				groups = append(groups, gate.Group{Scenario: sc, Concurrency: c, Base: baseVs[i], Head: headVs[i]})
			}
		}
	}
	rules := gate.DefaultThresholds
	if *thresholds != "" {
		more, err := gate.LoadThresholds(*thresholds)
		if err != nil {
			return usageError{err}
		}
		rules = append(rules[:len(rules):len(rules)], more...)
	}

	if *out == "" {
		*out = filepath.Join("bench-results", "gate-"+time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usageError{err}
	}
	if entries, _ := os.ReadDir(*out); len(entries) > 0 {
		return usagef("bench gate: %s is not empty (choose a fresh -out folder)", *out)
	}

	// The two builds.
	var info [2]gate.Build
	bins := [2]string{*baseBin, *headBin}
	info[0] = gate.Build{Ref: *baseRef, Binary: *baseBin, Baseline: *baseline}
	info[1] = gate.Build{Ref: *headRef, Binary: *headBin}
	if (*baseRef != "") || (*headBin == "") {
		tmp, err := os.MkdirTemp("", "bench-gate-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		b := gate.Builder{Repo: ".", Dir: tmp}
		if *baseRef != "" {
			fmt.Fprintf(stderr, "bench gate: building base %s\n", *baseRef)
			if bins[0], info[0].Commit, err = b.BuildRef(ctx, "base", *baseRef); err != nil {
				return usageError{err}
			}
			info[0].Binary = bins[0]
		}
		switch {
		case *headRef != "":
			fmt.Fprintf(stderr, "bench gate: building head %s\n", *headRef)
			bins[1], info[1].Commit, err = b.BuildRef(ctx, "head", *headRef)
		case *headBin == "":
			fmt.Fprintf(stderr, "bench gate: building head from the working tree\n")
			bins[1], info[1].Commit, err = b.BuildWorkingTree(ctx, "head")
			info[1].Ref = "working tree"
		}
		if err != nil {
			return usageError{err}
		}
		info[1].Binary = bins[1]
	}
	var stored []*result.Trial
	if *baseline != "" {
		f, err := os.Open(*baseline)
		if err != nil {
			return usageError{err}
		}
		_, stored, err = result.ReadAll(f, *baseline)
		f.Close()
		if err != nil {
			return usageError{err}
		}
	}

	// The records of each side, with a header each, as `run` writes them.
	var writers [2]*result.Writer
	var paths [2]string
	for i, side := range []gate.Side{gate.Base, gate.Head} {
		if side == gate.Base && stored != nil {
			continue
		}
		dir := filepath.Join(*out, string(side))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		paths[i] = filepath.Join(dir, "results.jsonl")
		f, err := os.Create(paths[i])
		if err != nil {
			return err
		}
		defer f.Close()
		writers[i] = result.NewWriter(f)
		vs := baseVs
		if side == gate.Head {
			vs = headVs
		}
		hdr := harness.NewHeader(harness.Config{Scenarios: scens}, nil)
		hdr.Commit, hdr.Variants = info[i].Commit, vs
		if err := writers[i].Write(hdr); err != nil {
			return err
		}
	}

	order := 0
	var factors []float64 // the calibration factors applied to the head's records
	runTrial := func(ctx context.Context, side gate.Side, gi, rep int) (*result.Trial, error) {
		g := groups[gi]
		i, v := 0, g.Base
		if side == gate.Head {
			i, v = 1, g.Head
		}
		if side == gate.Base && stored != nil {
			return storedTrial(stored, g, rep)
		}
		spec := harness.TrialSpec{Variant: v, Scenario: g.Scenario, Duration: duration, Warmup: warmup, Grace: *grace, Trial: rep, Order: order}
		if g.Concurrency > 0 {
			spec.Load = result.Load{Model: "closed", Concurrency: g.Concurrency}
		}
		order++
		select {
		case <-stop:
			return nil, errors.New("interrupted")
		default:
		}
		rec, err := harness.RunChild(ctx, bins[i], spec)
		var pe *harness.ProtocolError
		switch {
		case errors.As(err, &pe):
			return nil, usagef("bench gate: %s side: %v", side, err)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			rec = &result.Trial{Kind: result.KindTrial, Mode: result.ModeChild, Variant: v, Scenario: g.Scenario, Load: spec.Load, Trial: rep, Order: spec.Order, Error: err.Error()}
		}
		if err := writers[i].Write(rec); err != nil {
			return nil, err
		}
		if side == gate.Head && stored != nil && *normalize == "calibration" {
			base, err := storedTrial(stored, g, rep)
			if err != nil {
				return nil, err
			}
			n, f, ok := normalizeByCalibration(base, rec)
			if !ok {
				return nil, usagef("bench gate: -normalize calibration: a record has no calibration_ns (%s trial %d, or the head's)", g, rep)
			}
			factors = append(factors, f)
			return n, nil
		}
		return rec, nil
	}

	fmt.Fprintf(stderr, "bench gate: %d groups, budget %s; base %s, head %s; output in %s\n", len(groups), *budget, info[0], info[1], *out)
	res, runErr := gate.Run(ctx, gate.Config{Groups: groups, Rules: rules, Budget: *budget, MaxPairs: *maxPairs, MaxOtherCPU: *maxOther, Progress: stderr}, runTrial)
	if runErr != nil && res.Rounds == 0 {
		var ue usageError
		if errors.As(runErr, &ue) {
			return runErr
		}
	}
	res.Base, res.Head = info[0], info[1]
	if stored != nil {
		res.Warnings = append(res.Warnings, "the base is stored records ("+*baseline+"), not a fresh build run next to the head: drift between runs and machines is not cancelled and the pairs are not paired in time, so the interval understates the uncertainty")
	}
	if len(factors) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the head's CPU per chunk is normalized by the machine-speed calibration (base time over head time, %.3f to %.3f over %d trials); its records in head/ are as measured", slices.Min(factors), slices.Max(factors), len(factors)))
	}
	if runErr != nil {
		res.Warnings = append(res.Warnings, "the run stopped early: "+runErr.Error())
	}
	if err := writeGate(*out, res, groups, stdout); err != nil {
		return err
	}
	if !*noReport {
		for i := range paths {
			if paths[i] != "" {
				if _, err := reports.Build(filepath.Dir(paths[i]), []string{paths[i]}, reportOptions(reports.DefaultMinEffect)); err != nil {
					fmt.Fprintf(stderr, "bench gate: report of the %s: %v\n", []string{"base", "head"}[i], err)
				}
			}
		}
	}
	fmt.Fprintf(stderr, "bench gate: %s in %s\n", res.Verdict, *out)
	if runErr != nil {
		var ue usageError
		if errors.As(runErr, &ue) {
			return runErr
		}
		return exitCodeError(1)
	}
	switch res.Verdict {
	case gate.Fail:
		return exitCodeError(1)
	case gate.Inconclusive:
		switch *inconcl {
		case "pass":
			return nil
		case "fail":
			return exitCodeError(1)
		}
		return exitCodeError(3)
	}
	return nil
}

// writeGate writes the table to stdout and gate.json, gate.md, base.bench
// and head.bench into dir.
func writeGate(dir string, res *gate.Result, groups []gate.Group, stdout io.Writer) error {
	if err := gate.WriteTable(stdout, res); err != nil {
		return err
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"gate.json", func(w io.Writer) error { return gate.WriteJSON(w, res) }},
		{"gate.md", func(w io.Writer) error { return gate.WriteMarkdown(w, res) }},
		{"base.bench", func(w io.Writer) error { return gate.WriteBench(w, gate.Base, groups, res.Pairs) }},
		{"head.bench", func(w io.Writer) error { return gate.WriteBench(w, gate.Head, groups, res.Pairs) }},
	}
	for _, f := range files {
		fh, err := os.Create(filepath.Join(dir, f.name))
		if err != nil {
			return err
		}
		err = f.write(fh)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// storedTrial returns the rep-th stored record of g's base variant,
// scenario and load, cycling through them.
func storedTrial(stored []*result.Trial, g gate.Group, rep int) (*result.Trial, error) {
	var match []*result.Trial
	for _, t := range stored {
		if t.Variant == g.Base && t.Scenario == g.Scenario && (g.Concurrency == 0 || t.Load.Concurrency == g.Concurrency) {
			match = append(match, t)
		}
	}
	if len(match) == 0 {
		return nil, usagef("bench gate: the baseline holds no records of %s", g)
	}
	return match[rep%len(match)], nil
}

// normalizeByCalibration returns head with its CPU per chunk scaled by
// base's calibration time over head's, the factor, and false when either
// record lacks the calibration. The calibration (calibration_ns) is the
// best of five timings of a fixed single-threaded workload before each
// trial: it follows the CPU's speed (another runner type, another clock
// frequency), not contention, which best-of-five filters out.
//
// Note: only CPU per chunk is scaled: it is CPU time whatever the
// scenario, while throughput and latency follow the CPU only where the
// scenario paces nothing.
func normalizeByCalibration(base, head *result.Trial) (*result.Trial, float64, bool) {
	if base.CalibrationNS <= 0 || head.CalibrationNS <= 0 {
		return head, 0, false
	}
	f := float64(base.CalibrationNS) / float64(head.CalibrationNS)
	n := *head
	n.CPUNSPerChunk *= f
	return &n, f, true
}

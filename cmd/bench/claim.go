package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/streambench/streambench/harness"
	"github.com/streambench/streambench/reports"
	"github.com/streambench/streambench/result"
)

// claimGroup is one condition of the claim experiment: a scenario under
// one load, at each of procs (the machine's GOMAXPROCS when empty), with
// its variants and the pass-through calibration when calibrate is set.
type claimGroup struct {
	why       string // which claim it tests, for the plan's listing
	scenario  string
	load      result.Load
	procs     []int
	variants  []string
	calibrate bool
	duration  time.Duration
	warmup    time.Duration
	memLimit  int64
	steady    bool // start at the legacy's steady-state lingering population
}

// claimPlan is the designed experiment of `bench claim` on a machine of
// the given cores: each claim's conditions, sized so that the full plan
// runs in about four minutes on two cores (ten at most) and -quick in
// about two.
//
// Note: throughput is tested where the pipeline's own cost is all there
// is (firehose: no pacing, so the ratio is the designs' CPU per chunk),
// at 16 and 256 streams and, in full, at every GOMAXPROCS from 1 to the
// machine's cores, so the verdict can show the trend with cores and never
// extrapolates it; the ablation ladders run at the heaviest firehose
// condition so the verdict can say which flaws carry the difference.
// Memory is tested where the legacy's unbounded buffer grows (slow
// consumers) under a memory limit; cancellation where clients leave
// mid-stream; latency and goodput at equal offered load (the open model,
// the same arrivals for both designs) on the production-like scenario:
// chat traffic, 30% disconnects, a ledger with latency and a pool, a
// memory limit, and the legacy started at its steady-state lingering
// population.
func claimPlan(quick bool, cores int) []claimGroup {
	designs := []string{"mutex", "lockfree"}
	closed := func(c int) result.Load { return result.Load{Model: "closed", Concurrency: c} }
	procs := []int{cores}
	if !quick && cores > 1 {
		procs = nil
		for p := 1; p <= cores; p *= 2 {
			procs = append(procs, p)
		}
		if procs[len(procs)-1] != cores {
			procs = append(procs, cores)
		}
	}
	ms := time.Millisecond
	throughput := claimGroup{why: "throughput", scenario: "firehose", load: closed(256), procs: []int{cores}, variants: designs, calibrate: true, duration: 600 * ms, warmup: 200 * ms}
	if !quick {
		// Note: the ladders' variants include both designs, so the
		// heaviest firehose condition runs them all at once rather than
		// twice over.
		throughput.why, throughput.variants = "throughput, and which flaws carry it", withLadders(nil, true)
	}
	plan := []claimGroup{
		throughput,
		{why: "cancellation", scenario: "disconnect", load: closed(256), variants: designs, duration: 1000 * ms, warmup: 300 * ms},
		{why: "memory", scenario: "slow-consumer", load: closed(1024), variants: designs, duration: 1500 * ms, warmup: 300 * ms, memLimit: 512 << 20},
		{why: "latency and goodput, production-like", scenario: "production", load: result.Load{Model: "open", Rate: 1000, Arrival: "poisson", Concurrency: 4096}, variants: designs, duration: 1500 * ms, warmup: 300 * ms, memLimit: 512 << 20, steady: true},
	}
	if !quick {
		plan = append(plan, claimGroup{why: "throughput at 16 streams", scenario: "firehose", load: closed(16), procs: []int{cores}, variants: designs, calibrate: true, duration: 600 * ms, warmup: 200 * ms})
		if fewer := slices.DeleteFunc(slices.Clone(procs), func(p int) bool { return p == cores }); len(fewer) > 0 {
			plan = append(plan, claimGroup{why: "throughput: the trend with cores", scenario: "firehose", load: closed(256), procs: fewer, variants: designs, calibrate: true, duration: 600 * ms, warmup: 200 * ms})
		}
	}
	return plan
}

// cmdClaim runs `bench claim`: the designed experiment that tests each of
// the source's claims on this machine, then its verdict table.
func cmdClaim(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench claim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		quick  = fs.Bool("quick", false, "the quick experiment: fewer conditions, about two minutes on two cores")
		trials = fs.Int("trials", 7, "repetitions of every condition (7 or more give a ratio's 95% interval)")
		out    = fs.String("out", "", "output folder (default: a fresh folder under bench-results/)")
		budget = fs.Duration("budget", 0, "stop starting trials after this long and judge what ran (default 12m, -quick 3m)")
		plan   = fs.Bool("plan", false, "print the experiment's conditions and exit")
	)
	minEffect := minEffectFlag(fs)
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return err
	}
	if *trials < 2 || *trials > harness.MaxTrials {
		return usagef("bench claim: -trials must be from 2 to %d (got %d)", harness.MaxTrials, *trials)
	}
	if *budget < 0 {
		return usagef("bench claim: -budget must be positive")
	}
	if *budget == 0 {
		*budget = 12 * time.Minute
		if *quick {
			*budget = 3 * time.Minute
		}
	}
	groups := claimPlan(*quick, runtime.NumCPU())
	if *plan {
		for _, g := range groups {
			fmt.Fprintf(stdout, "%-32s %-14s %-22s GOMAXPROCS %v  %s  %d variants, %s window", g.why, g.scenario, reports.Key{Load: g.load}.LoadName(), procsOrMachine(g.procs), map[bool]string{true: "with calibration", false: ""}[g.calibrate], len(g.variants), g.duration)
			if g.memLimit > 0 {
				fmt.Fprintf(stdout, ", memory limit %d MiB", g.memLimit>>20)
			}
			if g.steady {
				fmt.Fprint(stdout, ", steady-state start")
			}
			fmt.Fprintln(stdout)
		}
		return nil
	}
	specs, scens, err := claimSpecs(groups, *trials)
	if err != nil {
		return usagef("bench claim: %v", err)
	}
	o, err := createOutput("bench claim", *out, "claim-")
	if err != nil {
		return err
	}
	defer o.Close()
	hdr := harness.NewHeader(harness.Config{Scenarios: scens, Trials: *trials}, specs)
	hdr.Experiment = reports.ExperimentClaim
	if err := o.Write(hdr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench claim: %d trials on %s (%d cores, %s), budget %s; results in %s\n",
		len(specs), hdr.CPUModel, hdr.Cores, hdr.GoVersion, *budget, o.results)

	// The budget stops the run like a first signal: the trial in flight
	// ends, and the verdict is judged on what ran.
	halt := make(chan struct{})
	timer := time.AfterFunc(*budget, func() { close(halt) })
	defer timer.Stop()
	merged := make(chan struct{})
	go func() {
		select {
		case <-stop:
		case <-halt:
			fmt.Fprintf(stderr, "bench claim: the %s budget ran out; judging what ran\n", *budget)
		case <-ctx.Done():
		}
		close(merged)
	}()
	began := time.Now()
	trialsRun, runErr := harness.Run(ctx, harness.Config{}, specs, o.Writer, merged, stderr)
	select {
	case <-halt:
		runErr = nil // the budget is not a failure: the verdict says what ran
	default:
	}
	runErr = o.sync(runErr)
	if len(trialsRun) > 0 {
		opts := reportOptions(*minEffect)
		fmt.Fprintf(stdout, "Verdict on the source's claims (%d of %d trials, %s, %d cores):\n\n", len(trialsRun), len(specs), time.Since(began).Round(time.Second), hdr.Cores)
		if err := reports.WriteClaims(stdout, reports.ClaimVerdicts(trialsRun, opts)); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		if err := summarize(stdout, stderr, o.dir, o.results, trialsRun, "table", opts); err != nil {
			return err
		}
	}
	return o.ended(stderr, "bench claim", trialsRun, len(specs), runErr)
}

func procsOrMachine(p []int) string {
	if len(p) == 0 {
		return "(the machine's)"
	}
	return fmt.Sprint(p)
}

// claimSpecs expands the plan into trials, each repetition visiting every
// condition before the next begins (as harness.Trials orders a run), and
// returns them with the scenarios they use.
func claimSpecs(groups []claimGroup, trials int) ([]harness.TrialSpec, []string, error) {
	var all []harness.TrialSpec
	var scens []string
	for _, g := range groups {
		cfg := harness.Config{
			Scenarios: []string{g.scenario}, Variants: g.variants, Calibrate: g.calibrate,
			GOMAXPROCS: g.procs, Trials: trials, Duration: g.duration, Warmup: g.warmup,
			Grace: 100 * time.Millisecond, MemLimit: g.memLimit, SteadyState: g.steady,
		}
		switch g.load.Model {
		case "closed":
			cfg.Concurrency = []int{g.load.Concurrency}
		case "open":
			cfg.Rates = []float64{g.load.Rate}
		}
		specs, err := harness.Trials(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("%s on %s: %v", g.why, g.scenario, err)
		}
		all = append(all, specs...)
		if !slices.Contains(scens, g.scenario) {
			scens = append(scens, g.scenario)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Trial < all[j].Trial })
	for i := range all {
		all[i].Order = i
	}
	return all, scens, nil
}

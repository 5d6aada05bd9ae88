package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/streambench/streambench/harness"
	"github.com/streambench/streambench/httpmode/attack"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/internal/runinfo"
	"github.com/streambench/streambench/reports"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// cmdAttack runs the HTTP mode's load generator against a bench serve
// process: the one at -target, or a child it spawns on 127.0.0.1:0.
func cmdAttack(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	// The spawned serve process writes to stderr from another goroutine.
	stderr = &lockedWriter{w: stderr}
	cfg, f, done, err := attackFlags(args, stderr)
	if done || err != nil {
		return err
	}
	cfg.Log, cfg.Stop = stderr, stop
	out, err := createOutput("bench attack", f.out, "http-")
	if err != nil {
		return err
	}
	defer out.Close()
	cfg.Bin = func(name string) (io.WriteCloser, error) {
		return os.Create(filepath.Join(out.dir, name+".bin"))
	}
	if f.cpuProfile {
		stopProfile, err := startCPUProfile(filepath.Join(out.dir, "client.pprof"), "bench attack", stderr)
		if err != nil {
			return fmt.Errorf("bench attack: -cpuprofile: %w", err)
		}
		defer stopProfile()
	}
	if f.target == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		serveArgs := []string{"-scenario", f.scenario, "-variants", f.variants.String()}
		if f.cpuProfile {
			serveArgs = append(serveArgs, "-cpuprofile", filepath.Join(out.dir, "serve.pprof"))
		}
		serve, err := attack.StartServe(ctx, exe, serveArgs, stderr)
		if err != nil {
			return err
		}
		// Note: after a second interrupt (ctx cancelled) the child is
		// killed at once rather than asked to shut down.
		defer serve.Close()
		cfg.Target = serve.URL
	}

	names := make([]string, len(cfg.Variants))
	for i, v := range cfg.Variants {
		names[i] = v.Name
	}
	if err := out.Write(newHTTPHeader(cfg.Scenario, names, cfg.Trials)); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench attack: %s on %s, variants %s at %s/s, %d trials of %v; results in %s\n",
		cfg.Scenario.Name, cfg.Target, strings.Join(names, ","), f.rates.String(), cfg.Trials, cfg.Duration, out.dir)

	// The first interrupt (stop) ends the run after the trial in flight,
	// like bench run; the second (ctx) abandons that trial.
	trials, runErr := attack.Run(ctx, cfg, out.Writer)
	runErr = out.sync(runErr)
	if len(trials) > 0 {
		if err := reports.WriteTable(stdout, trials, reports.DefaultTableOptions); err != nil {
			fmt.Fprintf(stderr, "bench attack: summary table: %v\n", err)
		}
		fmt.Fprintf(stderr, "bench attack: vegeta results in %s/<variant>-rate<rate>-<trial>.bin (vegeta report %s); bench report %s for the full report\n",
			out.dir, filepath.Join(out.dir, attack.BinName(trials[0].Variant, trials[0].Load.Rate, 0)+".bin"), out.dir)
	}
	if runErr != nil && ctx.Err() != nil {
		runErr = errors.New("stopped at once, abandoning the trial in flight,")
	}
	return out.ended(stderr, "bench attack", trials, cfg.Planned(), runErr)
}

// attackFlagValues are the flags of bench attack that are not
// attack.Config's, or that the command passes on as given.
type attackFlagValues struct {
	target, scenario, out string
	variants              variantList
	rates                 positiveFloats
	cpuProfile            bool
}

// attackFlags parses bench attack's args into an attack.Config (its Target
// a placeholder when a serve process is to be spawned) and the flags the
// command itself uses. It reports done for -h.
func attackFlags(args []string, stderr io.Writer) (cfg attack.Config, f attackFlagValues, done bool, err error) {
	fs := flag.NewFlagSet("bench attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.variants = variantList{"mutex", "lockfree"}
	f.rates = positiveFloats{50}
	fs.StringVar(&f.target, "target", "", "base URL of a running bench serve (default: spawn one on 127.0.0.1:0)")
	fs.StringVar(&f.scenario, "scenario", "chat", "scenario: a built-in name or a YAML file (the serve process must replay the same)")
	fs.Var(&f.variants, "variants", "variants to attack, interleaved A B A B")
	fs.Var(&f.rates, "rate", "arrival rates per second, comma-separated (a sweep)")
	fs.StringVar(&f.out, "out", "", "output folder (default: a fresh folder under bench-results/)")
	fs.BoolVar(&f.cpuProfile, "cpuprofile", false, "write CPU profiles into the output folder: client.pprof (this process, the load generator) and, when attack starts the serve process, serve.pprof (its samples labelled role=provider or role=gateway)")
	var (
		arrival   = fs.String("arrival", "", "constant or poisson (default: the scenario's, else constant)")
		trials    = fs.Int("trials", 1, "repetitions of every variant and rate")
		workers   = fs.Uint64("workers", attack.DefaultWorkers, "vegeta's initial workers")
		maxW      = fs.Uint64("max-workers", attack.DefaultMaxWorkers, "most requests in flight; reaching it means the client is saturated")
		late      = durationVar(fs, "late", attack.DefaultLateThreshold, "a request sent this long after its intended start counts as late")
		grace     = durationVar(fs, "grace", attack.DefaultGrace, "wait after a trial before counting the serve process's goroutines")
		maxSettle = durationVar(fs, "max-settle", attack.DefaultMaxSettle, "most time to wait for a detached finalizer's late records")
		timeout   = durationVar(fs, "timeout", attack.DefaultTimeout, "bound on one request, stream included")
		duration  = durationVar(fs, "duration", attack.DefaultDuration, "how long each trial sends requests, e.g. 5s")
		sloTTFT   = durationVar(fs, "slo-ttft", 0, "SLO: time to first event from the intended start, at the scenario's real scale (overrides the scenario's slo.ttft); adds goodput to every trial")
		sloE2E    = durationVar(fs, "slo-e2e", 0, "SLO: end-to-end latency from the intended start, at the scenario's real scale (overrides the scenario's slo.e2e); adds goodput to every trial")
	)
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return cfg, f, done, err
	}
	// Note: attack.Config reads zero as "the default"; on the command
	// line a zero is a mistake, and is refused rather than replaced.
	switch {
	case *trials < 1 || *trials > harness.MaxTrials:
		return cfg, f, true, usagef("bench attack: -trials must be from 1 to %d (got %d)", harness.MaxTrials, *trials)
	case *duration == 0:
		return cfg, f, true, usagef("bench attack: -duration must be positive")
	case *timeout == 0:
		return cfg, f, true, usagef("bench attack: -timeout must be positive")
	case *workers < 1 || *workers > attack.MaxWorkers:
		return cfg, f, true, usagef("bench attack: -workers must be from 1 to %d (got %d)", attack.MaxWorkers, *workers)
	case *maxW < 1 || *maxW > attack.MaxWorkers:
		return cfg, f, true, usagef("bench attack: -max-workers must be from 1 to %d (got %d)", attack.MaxWorkers, *maxW)
	}
	sc, err := scenarios.Lookup(f.scenario)
	if err != nil {
		return cfg, f, true, usagef("bench attack: %v", err)
	}
	if *sloTTFT > 0 {
		sc.SLO.TTFT = *sloTTFT
	}
	if *sloE2E > 0 {
		sc.SLO.E2E = *sloE2E
	}
	if err := sc.Validate(); err != nil {
		return cfg, f, true, usagef("bench attack: scenario %s: %v", sc.Name, err)
	}
	vs, err := variant.ParseSpecs(f.variants)
	if err != nil {
		return cfg, f, true, usagef("bench attack: %v", err)
	}
	cfg = attack.Config{
		Target: f.target, Scenario: sc, Variants: vs, Rates: f.rates,
		Arrival: scenarios.ArrivalProcess(*arrival), Duration: *duration, Trials: *trials,
		Workers: *workers, MaxWorkers: *maxW, LateThreshold: *late, Grace: *grace,
		MaxSettle: *maxSettle, Timeout: *timeout,
	}
	if cfg.Target == "" {
		cfg.Target = "http://127.0.0.1:1" // validated here, replaced by the spawned child's
	}
	if err := cfg.Validate(); err != nil {
		return cfg, f, true, usagef("bench attack: %v", err)
	}
	return cfg, f, false, nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newHTTPHeader describes the machine and the command of an attack run.
func newHTTPHeader(sc *scenarios.Scenario, variants []string, trials int) *result.Header {
	h := runinfo.Header(result.ModeHTTP)
	h.Scenarios, h.Variants, h.Trials, h.Seed = []string{sc.Name}, variants, trials, sc.Seed
	return h
}

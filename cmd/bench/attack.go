package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

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
	fs := flag.NewFlagSet("bench attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		target    = fs.String("target", "", "base URL of a running bench serve (default: spawn one on 127.0.0.1:0)")
		scen      = fs.String("scenario", "chat", "scenario: a built-in name or a YAML file (the serve process must replay the same)")
		variants  = fs.String("variants", "mutex,lockfree", "variants to attack, interleaved A B A B")
		rates     = fs.String("rate", "50", "arrival rates per second, comma-separated (a sweep)")
		arrival   = fs.String("arrival", "", "constant or poisson (default: the scenario's, else constant)")
		trials    = fs.Int("trials", 1, "repetitions of every variant and rate")
		out       = fs.String("out", "", "output folder (default: a fresh folder under bench-results/)")
		workers   = fs.Uint64("workers", attack.DefaultWorkers, "vegeta's initial workers")
		maxW      = fs.Uint64("max-workers", attack.DefaultMaxWorkers, "most requests in flight; reaching it means the client is saturated")
		late      = durationVar(fs, "late", attack.DefaultLateThreshold, "a request sent this long after its intended start counts as late")
		grace     = durationVar(fs, "grace", attack.DefaultGrace, "wait after a trial before counting the serve process's goroutines")
		maxSettle = durationVar(fs, "max-settle", attack.DefaultMaxSettle, "most time to wait for a detached finalizer's late records")
		timeout   = durationVar(fs, "timeout", attack.DefaultTimeout, "bound on one request, stream included")
		duration  = durationVar(fs, "duration", attack.DefaultDuration, "how long each trial sends requests, e.g. 5s")
	)
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return err
	}
	// Note: attack.Config reads zero as "the default"; on the command
	// line a zero is a mistake, and is refused rather than replaced.
	switch {
	case *trials < 1 || *trials > harness.MaxTrials:
		return usagef("bench attack: -trials must be from 1 to %d (got %d)", harness.MaxTrials, *trials)
	case *duration == 0:
		return usagef("bench attack: -duration must be positive")
	case *timeout == 0:
		return usagef("bench attack: -timeout must be positive")
	case *workers < 1 || *workers > attack.MaxWorkers:
		return usagef("bench attack: -workers must be from 1 to %d (got %d)", attack.MaxWorkers, *workers)
	case *maxW < 1 || *maxW > attack.MaxWorkers:
		return usagef("bench attack: -max-workers must be from 1 to %d (got %d)", attack.MaxWorkers, *maxW)
	}
	sc, err := scenarios.Lookup(*scen)
	if err != nil {
		return usagef("bench attack: %v", err)
	}
	vs, err := variant.ParseList(*variants)
	if err != nil {
		return usagef("bench attack: %v", err)
	}
	rs, err := parseFloats(fs.Name(), "rate", *rates)
	if err != nil {
		return err
	}
	cfg := attack.Config{
		Target: *target, Scenario: sc, Variants: vs, Rates: rs,
		Arrival: scenarios.ArrivalProcess(*arrival), Duration: *duration, Trials: *trials,
		Workers: *workers, MaxWorkers: *maxW, LateThreshold: *late, Grace: *grace,
		MaxSettle: *maxSettle, Timeout: *timeout, Log: stderr, Stop: stop,
	}
	if cfg.Target == "" {
		cfg.Target = "http://127.0.0.1:1" // validated below, replaced by the child's
	}
	if err := cfg.Validate(); err != nil {
		return usagef("bench attack: %v", err)
	}

	if *out == "" {
		*out = filepath.Join("bench-results", "http-"+time.Now().Format("20060102-150405"))
	}
	resultsPath := filepath.Join(*out, "results.jsonl")
	f, err := createFresh(fs.Name(), *out, resultsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg.Bin = func(name string) (io.WriteCloser, error) {
		return os.Create(filepath.Join(*out, name+".bin"))
	}

	if *target == "" {
		url, stopChild, err := spawnServe(*scen, *variants, stderr)
		if err != nil {
			return err
		}
		// Note: after a second interrupt (ctx cancelled) the child is
		// killed at once rather than asked to shut down.
		defer func() { stopChild(ctx.Err() != nil) }()
		cfg.Target = url
	}

	w := result.NewWriter(f)
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	if err := w.Write(newHTTPHeader(sc, names, *trials)); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench attack: %s on %s, variants %s at %s/s, %d trials of %v; results in %s\n",
		sc.Name, cfg.Target, strings.Join(names, ","), *rates, *trials, *duration, *out)

	// The first interrupt (stop) ends the run after the trial in flight,
	// like bench run; the second (ctx) abandons that trial.
	trials2, runErr := attack.Run(ctx, cfg, w)
	if err := f.Sync(); err != nil && runErr == nil {
		runErr = err
	}
	if len(trials2) > 0 {
		if err := reports.WriteTable(stdout, trials2, reports.DefaultTableOptions); err != nil {
			fmt.Fprintf(stderr, "bench attack: summary table: %v\n", err)
		}
		fmt.Fprintf(stderr, "bench attack: vegeta results in %s/<variant>-rate<rate>-<trial>.bin (vegeta report %s); bench report %s for the full report\n",
			*out, filepath.Join(*out, attack.BinName(trials2[0].Variant, trials2[0].Load.Rate, 0)+".bin"), *out)
	}
	failed := 0
	for _, t := range trials2 {
		if t.Failed() {
			failed++
		}
	}
	switch {
	case runErr != nil:
		if ctx.Err() != nil {
			runErr = errors.New("stopped at once, abandoning the trial in flight,")
		}
		fmt.Fprintf(stderr, "bench attack: %v after %d trials; what was measured is in %s\n", runErr, len(trials2), *out)
		return errFailed
	case failed > 0:
		fmt.Fprintf(stderr, "bench attack: %d of %d trials FAILED their accounting (see %s)\n", failed, len(trials2), resultsPath)
		return errFailed
	}
	return nil
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

// spawnServe starts `bench serve -addr 127.0.0.1:0` as a child process (this
// same executable) and returns its URL and a function that stops it: at
// once (kill) or by asking it to shut down.
//
// The child is told it was spawned (spawnedEnv): it ignores the terminal's
// Ctrl-C, which reaches the whole process group, leaving the parent to
// decide when it stops; and it exits when its stdin, a pipe this process
// holds, closes, so it never outlives its parent, however the parent ends.
func spawnServe(scenArg, variants string, stderr io.Writer) (string, func(kill bool), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-scenario", scenArg, "-variants", variants)
	cmd.Env = append(os.Environ(), spawnedEnv+"=1")
	cmd.Stderr = stderr
	if _, err := cmd.StdinPipe(); err != nil {
		return "", nil, err
	}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting bench serve: %w", err)
	}
	stopChild := func(kill bool) {
		if kill {
			cmd.Process.Kill()
		} else {
			cmd.Process.Signal(syscall.SIGTERM)
		}
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, pipe)
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	url, err := readServeURL(bufio.NewReader(pipe))
	if err != nil {
		stopChild(true)
		return "", nil, err
	}
	return url, stopChild, nil
}

// newHTTPHeader describes the machine and the command of an attack run.
func newHTTPHeader(sc *scenarios.Scenario, variants []string, trials int) *result.Header {
	h := runinfo.Header(result.ModeHTTP)
	h.Scenarios, h.Variants, h.Trials, h.Seed = []string{sc.Name}, variants, trials, sc.Seed
	return h
}

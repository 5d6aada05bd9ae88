// Package attack is the load generator of the HTTP end-to-end mode: it
// drives the gateways a `bench serve` process (package httpmode's Stack)
// serves, in an open model paced by vegeta, with a streaming-aware client
// (Transport) that parses the SSE events as they arrive, records time to
// first chunk and the gaps between chunks, and disconnects on the
// scenario's schedule. Each trial becomes one result.Trial record (Mode
// "http") built from the client's measurements and the differences of the
// serve process's /metrics before and after, plus vegeta's own result
// encoding.
//
// The cmd/bench "attack" subcommand is a thin adapter over Run.
package attack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// Defaults for Config fields left zero; they double as flag defaults.
const (
	DefaultDuration      = 5 * time.Second
	DefaultWorkers       = 64
	DefaultMaxWorkers    = 10000
	DefaultLateThreshold = 10 * time.Millisecond
	DefaultGrace         = 1500 * time.Millisecond
	DefaultMaxSettle     = 30 * time.Second
	DefaultTimeout       = 2 * time.Minute
	// MaxWorkers bounds Workers and MaxWorkers: each worker is a goroutine
	// and, at most, a connection.
	MaxWorkers = 1_000_000
)

// Config is one run of the load generator: every variant at every rate,
// Trials times, interleaved (A B A B).
type Config struct {
	// Target is the serve process's base URL ("http://127.0.0.1:8080").
	Target   string
	Scenario *scenarios.Scenario
	Variants []variant.Variant
	// Rates are the arrival rates per second to apply, in order.
	Rates []float64
	// Arrival overrides the scenario's arrival process when set.
	Arrival scenarios.ArrivalProcess
	// Duration is how long each trial sends requests; streams started in
	// it run to their end after it.
	Duration time.Duration
	Trials   int
	// Workers is vegeta's initial number of workers; MaxWorkers bounds
	// them, and so the requests in flight: a client that reaches it is
	// saturated.
	Workers, MaxWorkers uint64
	// LateThreshold is how far past its intended start a request may be
	// sent before it counts as late.
	LateThreshold time.Duration
	// Grace is the wait after a trial's streams ended (and, for a detached
	// finalizer, after its timeout) before the serve process's goroutines
	// are counted; it must exceed the serve process's idle-connection
	// timeout (httpmode.DefaultStackIdleConnTimeout).
	Grace time.Duration
	// MaxSettle bounds the wait for the records a detached finalizer
	// writes late.
	MaxSettle time.Duration
	// Timeout bounds one request, headers and stream.
	Timeout time.Duration
	// Bin, if set, opens the file for vegeta's encoding of one trial's
	// results, named by BinName.
	Bin func(name string) (io.WriteCloser, error)
	// Log receives a line as each trial starts and one as it ends; nil
	// discards them.
	Log io.Writer
	// Stop, when closed, ends the run after the trial in flight: that trial
	// finishes and its record is written (cancelling the context instead
	// abandons it).
	Stop <-chan struct{}
}

// BinName names one trial's vegeta results: "<variant>-rate<rate>-<trial>",
// such as "mutex-rate1600-0", so that every trial of a sweep keeps its own.
func BinName(variant string, rate float64, trial int) string {
	return fmt.Sprintf("%s-rate%s-%d", variant, strconv.FormatFloat(rate, 'g', -1, 64), trial)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ErrStopped is Run's error when Config.Stop ended the run early.
var ErrStopped = errors.New("run stopped by a signal")

// fill returns c with defaults in place of zero fields.
func (c Config) fill() Config {
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Trials <= 0 {
		c.Trials = 1
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.LateThreshold <= 0 {
		c.LateThreshold = DefaultLateThreshold
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxSettle <= 0 {
		c.MaxSettle = DefaultMaxSettle
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Arrival == "" && c.Scenario != nil {
		c.Arrival = c.Scenario.Load.Arrival
	}
	if c.Arrival == "" {
		c.Arrival = scenarios.Constant
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("target %q is not an http:// URL", c.Target))
	}
	if c.Scenario == nil {
		errs = append(errs, errors.New("no scenario"))
	}
	if len(c.Variants) == 0 {
		errs = append(errs, errors.New("no variants"))
	}
	if len(c.Rates) == 0 {
		errs = append(errs, errors.New("no rates: the HTTP mode is an open model, give -rate"))
	}
	for _, r := range c.Rates {
		if !(r > 0) || r > 1e6 {
			errs = append(errs, fmt.Errorf("rate %v is not in (0, 1e6]", r))
		}
	}
	if c.Arrival != "" && c.Arrival != scenarios.Constant && c.Arrival != scenarios.Poisson {
		errs = append(errs, fmt.Errorf("arrival %q is not constant or poisson", c.Arrival))
	}
	if c.Workers > 0 && c.MaxWorkers > 0 && c.Workers > c.MaxWorkers {
		errs = append(errs, fmt.Errorf("workers %d > max workers %d", c.Workers, c.MaxWorkers))
	}
	if c.Workers > MaxWorkers || c.MaxWorkers > MaxWorkers {
		errs = append(errs, fmt.Errorf("workers %d and max workers %d must be at most %d", c.Workers, c.MaxWorkers, MaxWorkers))
	}
	if c.Trials < 0 {
		errs = append(errs, fmt.Errorf("trials %d is negative", c.Trials))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"duration", c.Duration}, {"late threshold", c.LateThreshold}, {"grace", c.Grace}, {"max settle", c.MaxSettle}, {"timeout", c.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Planned is the number of trials Run runs: every variant at every rate,
// Trials times (1 when zero).
func (c Config) Planned() int {
	c = c.fill()
	return c.Trials * len(c.Rates) * len(c.Variants)
}

// Run runs every trial of cfg in order, writing each record to w as it
// ends, and returns the records. It stops early, with ctx's error, when ctx
// ends. A trial whose accounting is violated is still a record (with
// Accounting.Violations set); Run does not stop for it.
func Run(ctx context.Context, cfg Config, w *result.Writer) ([]*result.Trial, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.fill()
	cfg.Target = strings.TrimRight(cfg.Target, "/")
	mc := &metricsClient{base: cfg.Target, c: &http.Client{Timeout: 10 * time.Second}}
	defer mc.c.CloseIdleConnections()
	if _, err := mc.get(ctx); err != nil {
		return nil, fmt.Errorf("attack: the serve process at %s does not answer /metrics: %w", cfg.Target, err)
	}
	var out []*result.Trial
	order := 0
	total := cfg.Planned()
	// Note: the pass-through gateway runs first at each rate, so that its
	// serve CPU per chunk, the provider's cost, is known when the designs
	// run (see result.Trial.HarnessNSPerChunk).
	variants := slices.Clone(cfg.Variants)
	slices.SortStableFunc(variants, func(a, b variant.Variant) int {
		return cmp.Compare(b2i(a.Name != variant.PassThrough), b2i(b.Name != variant.PassThrough))
	})
	provider := map[float64]float64{}
	for trial := range cfg.Trials {
		for _, rate := range cfg.Rates {
			for _, v := range variants {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				select {
				case <-cfg.Stop:
					return out, ErrStopped
				default:
				}
				fmt.Fprintf(cfg.Log, "trial %d/%d  %s %s rate=%g/s #%d\n", order+1, total, cfg.Scenario.Name, v.Name, rate, trial)
				rec, err := runTrial(ctx, cfg, mc, v, rate, trial, order)
				if err != nil {
					return out, err
				}
				order++
				if v.Name == variant.PassThrough && !rec.Failed() {
					provider[rate] = rec.CPUNSPerChunk
				}
				rec.HarnessNSPerChunk = rec.ClientNSPerChunk + provider[rate]
				out = append(out, rec)
				if err := w.Write(rec); err != nil {
					return out, err
				}
				fmt.Fprintf(cfg.Log, "%s\n", summaryLine(rec))
			}
		}
	}
	return out, nil
}

// harnessShare is the harness's share (load generator and provider) of
// the CPU a chunk cost, or "?" without a pass-through trial to measure the
// provider by.
func harnessShare(t *result.Trial) string {
	total := t.CPUNSPerChunk + t.ClientNSPerChunk
	if total <= 0 || t.HarnessNSPerChunk <= t.ClientNSPerChunk && t.Variant != variant.PassThrough {
		return "? (add passthrough to -variants)"
	}
	return fmt.Sprintf("%.0f%%", 100*t.HarnessNSPerChunk/total)
}

// summaryLine is one trial's line of progress.
func summaryLine(t *result.Trial) string {
	s := fmt.Sprintf("trial %d %-14s rate %6.1f/s: %5d streams (%d completed, %d disconnected, %d failed), %8.0f chunks/s, ttft p50 %v p99 %v, itl p99 %v, cpu %.0f ns/chunk (serve) + %.0f (client), harness share %s, leaked %d goroutines",
		t.Trial, t.Variant, t.Load.Rate, t.RequestsStarted, t.StreamsCompleted, t.StreamsDisconnected, t.StreamsFailed,
		t.ChunksPerS, time.Duration(t.TTFT.P50), time.Duration(t.TTFT.P99), time.Duration(t.ITL.P99), t.CPUNSPerChunk, t.ClientNSPerChunk,
		harnessShare(t), t.GoroutinesLeaked)
	if n := len(t.Accounting.Violations); n > 0 {
		s += fmt.Sprintf("; %d VIOLATIONS: %s", n, strings.Join(t.Accounting.Violations, "; "))
	}
	for _, w := range t.Warnings {
		s += "\n  warning: " + w
	}
	return s
}

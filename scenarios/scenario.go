// Package scenarios is the scenario format of streambench: what the synthetic
// provider streams, how the synthetic clients read and leave, and what load
// the harness applies, plus the seeded generators that turn a scenario into
// per-request plans.
//
// A Scenario is plain data, loaded strictly from a YAML file (Parse,
// LoadFile) or taken from the built-ins embedded in the package (Builtin,
// Lookup). Every random draw is a pure function of the scenario seed and the
// request (and chunk) index, so every design under test sees exactly the same
// provider output, delays and disconnect points, whatever order or goroutine
// asks for them. Generating a chunk does not allocate: chunk content is a
// window into one shared, immutable text slab.
//
// The harness package sits above this one; this package knows nothing of
// pipelines beyond the impls.Usage and impls.Limits types.
package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/streambench/streambench/impls"
)

// Scenario describes one synthetic workload. Durations are written at real
// scale and multiplied by TimeScale when a plan is drawn; see Scaled.
//
// A Scenario must not be modified while Plans drawn from it are in use.
type Scenario struct {
	// Name identifies the scenario on the command line and in results.
	Name string
	// Description is one line for people.
	Description string
	// Seed is the root of every random draw.
	Seed uint64
	// TimeScale multiplies every provider, client and limit duration, so that
	// a 600 s finalizer timeout and 20 ms token gaps can run in seconds
	// (0.01 makes 600 s into 6 s). Default 1.
	//
	// Note: the load's duration, warm-up and rate are not scaled: they
	// control the run's wall-clock length, which the command line overrides.
	TimeScale float64

	Provider Provider
	Client   Client
	Load     Load
	Limits   Limits
	// Ledger, if set, gives the ledger latency and a connection pool; nil
	// (no ledger section) is a ledger that costs nothing.
	Ledger *Ledger
	// SLO is the latency objective goodput is judged by; the zero SLO
	// judges nothing.
	SLO SLO
}

// SLO is a latency objective for one request, from its intended start
// (the open model's schedule; the actual start in the closed model). A
// request meets it when it completed without error, its first chunk
// arrived within TTFT and its last within E2E; a zero bound is not judged.
// At least one bound is set when the SLO is.
//
// Note: the bounds are written at real scale and scaled by the scenario's
// TimeScale, like the provider's delays they are judged against: a 1 s
// time-to-first-chunk objective on a scenario at 0.01 is judged at 10 ms.
type SLO struct {
	TTFT time.Duration
	E2E  time.Duration
}

// IsZero reports whether the SLO sets no bound.
func (o SLO) IsZero() bool { return o.TTFT == 0 && o.E2E == 0 }

// Provider describes the synthetic upstream provider.
type Provider struct {
	// TTFT is the delay before the first chunk.
	TTFT DurationDist
	// InterChunk is the delay before each later chunk.
	InterChunk DurationDist
	// TokensPerChunk is drawn per chunk (at least 1; the last chunk holds
	// what is left of ResponseTokens). Default const 4.
	TokensPerChunk IntDist
	// BytesPerToken is drawn per chunk (at least 1); a chunk holds
	// tokens × bytes-per-token bytes, at most MaxChunkBytes. Default const 4.
	BytesPerToken IntDist
	// ResponseTokens is the completion length drawn per request (at least
	// 1, at most MaxResponseTokens).
	ResponseTokens IntDist
	// PromptTokens is the prompt length reported in the usage.
	PromptTokens IntDist
	// FailProbability is the chance that a stream fails at a drawn chunk.
	FailProbability float64
	// StallProbability is the chance that a stream pauses once, for a
	// duration drawn from Stall, before a drawn chunk.
	StallProbability float64
	Stall            DurationDist
	// FinishReason is carried by the last chunk. Default "stop".
	FinishReason string
	// MaxConcurrent is how many streams the provider serves at once; 0 is
	// no limit. A stream takes one of these upstream slots before its
	// first chunk and holds it until its response ends or is cancelled;
	// the wait for a slot counts in the time to first chunk.
	//
	// Note: a real provider (or the gateway's contract with it) limits
	// concurrent requests per key; a design that does not cancel a stream
	// whose client left keeps its slot, and later requests wait for it.
	MaxConcurrent int
	// TokensPerS bounds the provider's total output over every stream, in
	// completion tokens per second at real scale (scaled by TimeScale like
	// the durations: at 0.01 the bound is 100 times higher); 0 is no
	// bound. A stream waits before emitting a chunk that would exceed it.
	TokensPerS float64
}

// Client describes the synthetic clients.
type Client struct {
	// ReadDelay is how long a client takes to read each chunk; the zero Dist
	// is a fast client.
	ReadDelay DurationDist
	// DisconnectProbability is the chance that a client leaves mid-stream.
	DisconnectProbability float64
	// DisconnectAfterChunks, if set, is the number of chunks a leaving client
	// reads before it disconnects. At most one of DisconnectAfterChunks and
	// DisconnectAfter is set, and one must be when DisconnectProbability > 0.
	DisconnectAfterChunks *IntDist
	// DisconnectAfter, if set, is how long after its start a leaving client
	// disconnects.
	DisconnectAfter *DurationDist
}

// Model is how load is applied.
type Model string

// The load models.
const (
	// Closed keeps Concurrency streams running: each client starts its next
	// request when its previous one ends.
	Closed Model = "closed"
	// Open starts requests at Rate per second, whether or not earlier ones
	// have ended; latency is measured from each request's intended start.
	Open Model = "open"
)

// ArrivalProcess is how the open model spaces request starts.
type ArrivalProcess string

// The arrival processes.
const (
	// Constant spaces starts exactly 1/Rate apart.
	Constant ArrivalProcess = "constant"
	// Poisson draws exponential gaps of mean 1/Rate: arrivals come in bursts.
	Poisson ArrivalProcess = "poisson"
)

// Load is the load applied in one trial. The command line may override its
// fields; call Validate afterwards.
type Load struct {
	// Model is Closed or Open.
	Model Model
	// Concurrency is the number of concurrent streams (Closed: required, at
	// least 1), or the most requests in flight at once (Open: 0 means
	// unlimited).
	Concurrency int
	// Rate is requests per second (Open only).
	Rate float64
	// Arrival spaces the open model's starts; empty means Constant.
	Arrival ArrivalProcess
	// Duration and Requests end the trial: exactly one is set.
	Duration time.Duration
	Requests int64
	// Warmup is the time at the start of a trial that is not measured.
	Warmup time.Duration
}

// Limits are the per-request bounds handed to the pipeline.
type Limits struct {
	// ContentCap is the most content bytes a pipeline accumulates; 0 is none.
	ContentCap int64
	// FinalizerTimeout is the legacy design's finalizer timeout, before
	// scaling. Default 600 s; 0 leaves it to the design.
	FinalizerTimeout time.Duration
}

// Ledger is the latency of the ledger both designs persist records and
// charge accounts through: every call waits for one of Pool connections,
// then holds it for a duration drawn from Persist or Charge (scaled by the
// time scale), so each design waits exactly where its own code calls the
// ledger (the legacy in its finalizer, the redesign before Relay returns).
//
// Note: a Persist call's duration is drawn from the seed and the record's
// request ID. A Charge names an account, not a request (impls.Ledger), so
// its duration is drawn from the seed and its position among the
// account's charges: every design's n-th charge takes the same time,
// whichever request it bills.
type Ledger struct {
	// Persist and Charge are how long each call holds its connection.
	Persist DurationDist
	Charge  DurationDist
	// Pool is the number of connections, at least 1: calls beyond it wait,
	// first come first served.
	Pool int
}

// MaxLedgerPool is the largest ledger connection pool a scenario may ask
// for.
const MaxLedgerPool = MaxConcurrency

// LedgerPersist returns how long the Persist call of request id holds a
// ledger connection, scaled; 0 without a ledger section. It does not
// allocate.
func (s *Scenario) LedgerPersist(id uint64) time.Duration {
	if s.Ledger == nil {
		return 0
	}
	return s.ledgerDraw(&s.Ledger.Persist, saltLedgerPersist, id)
}

// LedgerCharge returns how long charge n (from 0) of an account holds a
// ledger connection, scaled; 0 without a ledger section. It does not
// allocate.
func (s *Scenario) LedgerCharge(n uint64) time.Duration {
	if s.Ledger == nil {
		return 0
	}
	return s.ledgerDraw(&s.Ledger.Charge, saltLedgerCharge, n)
}

func (s *Scenario) ledgerDraw(d *DurationDist, salt, i uint64) time.Duration {
	if d.Kind == Const {
		return s.Scaled(max(d.Value, 0))
	}
	r := newRNG(s.Seed, salt, i, 0)
	return s.Scaled(d.draw(&r))
}

// Hard limits of the generator.
const (
	// MaxChunkBytes is the largest chunk content; larger draws are clamped.
	MaxChunkBytes = 64 << 10
	// MaxResponseTokens is the longest response; larger draws are clamped.
	MaxResponseTokens = 1 << 20
	// DefaultFinalizerTimeout is the source's 600 s finalizer timeout.
	DefaultFinalizerTimeout = 600 * time.Second
	// MaxConcurrency is the most concurrent streams (closed model) or
	// requests in flight (open model) a load may ask for.
	//
	// Note: every stream holds goroutines and buffers; ten million of them
	// exhaust a machine's memory before a trial can say anything, so the
	// bound refuses them at once.
	MaxConcurrency = 100_000
	// MaxFileBytes is the largest scenario file Parse and LoadFile accept;
	// real scenarios are a few hundred bytes.
	MaxFileBytes = 1 << 20
	// MaxListedErrors is how many problems ErrorList.Error spells out
	// before it says how many more there are.
	MaxListedErrors = 20
)

// Default returns a scenario with every default filled in and no name: the
// starting point of Parse, and of scenarios built in code.
func Default() *Scenario {
	return &Scenario{
		TimeScale: 1,
		Provider: Provider{
			TokensPerChunk: ConstOf[int64](4),
			BytesPerToken:  ConstOf[int64](4),
			ResponseTokens: ConstOf[int64](64),
			FinishReason:   "stop",
		},
		Load:   Load{Model: Closed},
		Limits: Limits{FinalizerTimeout: DefaultFinalizerTimeout},
	}
}

// Clone returns a deep copy of s.
func (s *Scenario) Clone() *Scenario {
	c := *s
	if p := s.Client.DisconnectAfterChunks; p != nil {
		v := *p
		c.Client.DisconnectAfterChunks = &v
	}
	if p := s.Client.DisconnectAfter; p != nil {
		v := *p
		c.Client.DisconnectAfter = &v
	}
	if p := s.Ledger; p != nil {
		v := *p
		c.Ledger = &v
	}
	return &c
}

// Scaled returns d multiplied by the scenario's time scale.
func (s *Scenario) Scaled(d time.Duration) time.Duration {
	if s.TimeScale == 1 || d == 0 {
		return d
	}
	return s.scale(d)
}

// scale is Scaled's arithmetic, apart so that Scaled inlines.
func (s *Scenario) scale(d time.Duration) time.Duration {
	return toInt[time.Duration](float64(d) * s.TimeScale)
}

// RequestLimits returns the limits to put in every impls.Request, with the
// finalizer timeout scaled.
func (s *Scenario) RequestLimits() impls.Limits {
	return impls.Limits{ContentCap: s.Limits.ContentCap, FinalizerTimeout: s.Scaled(s.Limits.FinalizerTimeout)}
}

// ScaledTokensPerS returns the provider's output bound in tokens per
// second of the scaled clock (Provider.TokensPerS divided by the time
// scale), or 0 for none.
func (s *Scenario) ScaledTokensPerS() float64 {
	if s.Provider.TokensPerS <= 0 {
		return 0
	}
	return s.Provider.TokensPerS / s.TimeScale
}

// MaxChunkSize returns the most content bytes one chunk can hold.
func (p *Provider) MaxChunkSize() int64 {
	t, okT := p.TokensPerChunk.Bound()
	b, okB := p.BytesPerToken.Bound()
	if !okT || !okB || t > MaxChunkBytes || b > MaxChunkBytes {
		return MaxChunkBytes
	}
	return min(max(t, 1)*max(b, 1), MaxChunkBytes)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate reports every problem of s at once, as an ErrorList whose Field
// paths use the file format's names (provider.inter_chunk.max). It returns
// nil for a valid scenario. It does not fill in defaults.
func (s *Scenario) Validate() error {
	if errs := s.problems(); len(errs) > 0 {
		return errs
	}
	return nil
}

// problems is Validate's list, without file or line.
func (s *Scenario) problems() ErrorList {
	var v validator
	switch {
	case s.Name == "":
		v.add("name", "required")
	case !nameRE.MatchString(s.Name):
		v.add("name", "must be letters, digits, '.', '_' or '-', starting with a letter or digit (got %q)", s.Name)
	}
	if !(s.TimeScale > 0) || math.IsInf(s.TimeScale, 0) {
		v.add("time_scale", "must be > 0 (got %v)", s.TimeScale)
	}

	p := &s.Provider
	checkDist(&v, "provider.ttft", p.TTFT, 0)
	checkDist(&v, "provider.inter_chunk", p.InterChunk, 0)
	checkDist(&v, "provider.tokens_per_chunk", p.TokensPerChunk, 1)
	checkDist(&v, "provider.bytes_per_token", p.BytesPerToken, 1)
	checkDist(&v, "provider.response_tokens", p.ResponseTokens, 1)
	checkDist(&v, "provider.prompt_tokens", p.PromptTokens, 0)
	if b, ok := p.ResponseTokens.Bound(); ok && b > MaxResponseTokens {
		v.add("provider.response_tokens", "can draw up to %d tokens, more than the maximum %d", b, MaxResponseTokens)
	}
	t, okT := p.TokensPerChunk.Bound()
	b, okB := p.BytesPerToken.Bound()
	if okT && okB && t > 0 && b > 0 && (t > MaxChunkBytes || b > MaxChunkBytes || t*b > MaxChunkBytes) {
		v.add("provider.tokens_per_chunk", "chunks could hold up to %d tokens × %d bytes, more than the maximum %d bytes", t, b, MaxChunkBytes)
	}
	v.probability("provider.fail_probability", p.FailProbability)
	v.probability("provider.stall_probability", p.StallProbability)
	checkDist(&v, "provider.stall", p.Stall, 0)
	if p.StallProbability > 0 && p.Stall.IsZero() {
		v.add("provider.stall", "required when stall_probability > 0")
	}
	if p.FinishReason == "" {
		v.add("provider.finish_reason", "must not be empty")
	}
	if p.MaxConcurrent < 0 || p.MaxConcurrent > MaxConcurrency {
		v.add("provider.max_concurrent", "must be 0 (no limit) or 1 to %d streams (got %d)", MaxConcurrency, p.MaxConcurrent)
	}
	if !(p.TokensPerS >= 0) || math.IsInf(p.TokensPerS, 0) {
		v.add("provider.tokens_per_s", "must be 0 (no bound) or a rate > 0 tokens per second (got %v)", p.TokensPerS)
	}

	c := &s.Client
	checkDist(&v, "client.read_delay", c.ReadDelay, 0)
	v.probability("client.disconnect_probability", c.DisconnectProbability)
	if c.DisconnectAfterChunks != nil {
		checkDist(&v, "client.disconnect_after_chunks", *c.DisconnectAfterChunks, 0)
	}
	if c.DisconnectAfter != nil {
		checkDist(&v, "client.disconnect_after", *c.DisconnectAfter, 0)
	}
	switch {
	case c.DisconnectAfterChunks != nil && c.DisconnectAfter != nil:
		v.add("client.disconnect_after", "set only one of disconnect_after_chunks and disconnect_after")
	case c.DisconnectProbability > 0 && c.DisconnectAfterChunks == nil && c.DisconnectAfter == nil:
		v.add("client.disconnect_probability", "needs disconnect_after_chunks or disconnect_after")
	}

	l := &s.Load
	switch l.Model {
	case Closed:
		if l.Concurrency < 1 {
			v.add("load.concurrency", "must be >= 1 for the closed model (got %d)", l.Concurrency)
		}
		if l.Concurrency > MaxConcurrency {
			v.add("load.concurrency", "must be at most %d (got %d)", MaxConcurrency, l.Concurrency)
		}
		if l.Rate != 0 {
			v.add("load.rate", "applies to the open model only")
		}
		if l.Arrival == Poisson {
			v.add("load.arrival", "applies to the open model only")
		}
	case Open:
		if l.Concurrency < 0 {
			v.add("load.concurrency", "must be >= 0 (got %d)", l.Concurrency)
		}
		if l.Concurrency > MaxConcurrency {
			v.add("load.concurrency", "must be at most %d (got %d)", MaxConcurrency, l.Concurrency)
		}
		if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
			v.add("load.rate", "must be > 0 requests per second (got %v)", l.Rate)
		}
	case "":
		v.add("load.model", "required: closed or open")
	default:
		v.add("load.model", "must be closed or open (got %q)", l.Model)
	}
	switch l.Arrival {
	case "", Constant, Poisson:
	default:
		v.add("load.arrival", "must be constant or poisson (got %q)", l.Arrival)
	}
	if l.Duration < 0 {
		v.add("load.duration", "must be > 0 (got %v)", l.Duration)
	}
	if l.Requests < 0 {
		v.add("load.requests", "must be > 0 (got %d)", l.Requests)
	}
	switch {
	case l.Duration > 0 && l.Requests > 0:
		v.add("load.requests", "set only one of duration and requests")
	case l.Duration == 0 && l.Requests == 0:
		v.add("load.duration", "required: set exactly one of duration and requests")
	}
	if l.Warmup < 0 {
		v.add("load.warmup", "must be >= 0 (got %v)", l.Warmup)
	} else if l.Duration > 0 && l.Warmup >= l.Duration {
		v.add("load.warmup", "must be shorter than duration (got %v >= %v)", l.Warmup, l.Duration)
	}

	if s.Limits.ContentCap < 0 {
		v.add("limits.content_cap", "must be >= 0 (got %d)", s.Limits.ContentCap)
	} else if m := p.MaxChunkSize(); s.Limits.ContentCap > 0 && s.Limits.ContentCap < m {
		v.add("limits.content_cap", "must be 0 or >= one chunk's maximum size (got %d < %d bytes)", s.Limits.ContentCap, m)
	}
	if s.Limits.FinalizerTimeout < 0 {
		v.add("limits.finalizer_timeout", "must be >= 0 (got %v)", s.Limits.FinalizerTimeout)
	}
	if led := s.Ledger; led != nil {
		checkDist(&v, "ledger.persist", led.Persist, 0)
		checkDist(&v, "ledger.charge", led.Charge, 0)
		switch {
		case led.Pool < 1:
			v.add("ledger.pool", "must be >= 1 connection (got %d)", led.Pool)
		case led.Pool > MaxLedgerPool:
			v.add("ledger.pool", "must be at most %d (got %d)", MaxLedgerPool, led.Pool)
		}
	}
	if s.SLO.TTFT < 0 {
		v.add("slo.ttft", "must be >= 0 (got %v)", s.SLO.TTFT)
	}
	if s.SLO.E2E < 0 {
		v.add("slo.e2e", "must be >= 0 (got %v)", s.SLO.E2E)
	}
	if s.SLO.TTFT > 0 && s.SLO.E2E > 0 && s.SLO.TTFT > s.SLO.E2E {
		v.add("slo.ttft", "must not exceed slo.e2e: the first chunk comes before the last (got %v > %v)", s.SLO.TTFT, s.SLO.E2E)
	}
	return v.errs
}

// validator collects problems by field path.
type validator struct{ errs ErrorList }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &Error{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) probability(field string, p float64) {
	if !(p >= 0 && p <= 1) {
		v.add(field, "must be a probability in [0, 1] (got %v)", p)
	}
}

// checkDist reports the impossible parameters of d, whose samples must be at
// least lo.
func checkDist[T ~int64](v *validator, path string, d Dist[T], lo T) {
	f := formatValue[T]
	atLeast := func(field string, x, lo T) {
		if x < lo {
			v.add(field, "must be >= %s (got %s)", f(lo), f(x))
		}
	}
	clamps := func() {
		atLeast(path+".min", d.Min, 0)
		if d.Max != 0 {
			atLeast(path+".max", d.Max, max(lo, 1))
			if d.Max < d.Min {
				v.add(path+".max", "must be >= min (got %s < %s)", f(d.Max), f(d.Min))
			}
		}
	}
	switch d.Kind {
	case Const:
		atLeast(path, d.Value, lo)
	case Uniform:
		atLeast(path+".min", d.Min, lo)
		if d.Max < d.Min {
			v.add(path+".max", "must be >= min (got %s < %s)", f(d.Max), f(d.Min))
		}
	case Normal:
		atLeast(path+".mean", d.Mean, 0)
		atLeast(path+".stddev", d.Stddev, 0)
		clamps()
	case LogNormal:
		atLeast(path+".median", d.Median, max(lo, 1))
		if !(d.Sigma >= 0) || math.IsInf(d.Sigma, 0) {
			v.add(path+".sigma", "must be >= 0 (got %v)", d.Sigma)
		}
		clamps()
	case Exp:
		atLeast(path+".mean", d.Mean, 0)
		clamps()
	default:
		v.add(path, "unknown distribution kind %d", d.Kind)
	}
}

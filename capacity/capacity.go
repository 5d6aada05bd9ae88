// Package capacity searches the open-model arrival rate for the highest at
// which a design still meets its latency objective: its capacity under an
// SLO.
//
// A Search is a deterministic state machine over probes (a rate and what
// its trials measured): it brackets the capacity by stepping the rate
// geometrically up from the highest passing rate or down from the lowest
// failing one, then bisects the bracket geometrically until it is narrow
// enough. Drive runs several searches in lockstep within a time budget.
// FromProbes turns any set of probes (a search's, or a report's records)
// into the same interval, so the run and its report agree.
//
// The harness runs the probes; the reports package reads them back from
// the records. This package knows nothing of either beyond result.
package capacity

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Config bounds one search.
type Config struct {
	// Low and High bound the rates probed, in requests per second.
	Low, High float64
	// Start is the first rate probed; 0 means the geometric middle of Low
	// and High. It is clamped to [Low, High].
	Start float64
	// Target is the share of requests that must meet the SLO for a rate to
	// pass.
	Target float64
	// Resolution ends the search once the lowest failing rate is within a
	// factor 1+Resolution of the highest passing one.
	Resolution float64
	// Step is the factor the rate moves by while the capacity is not yet
	// bracketed.
	Step float64
	// MaxProbes ends the search after that many probes; 0 is no limit.
	MaxProbes int
}

// DefaultConfig is the search bench run -find-capacity starts from; the
// command fills Start from the scenario.
//
// Note: 99% is the share the issue that introduced goodput asked for; a
// 5% resolution takes about five bisection steps once a factor-4 step has
// bracketed the capacity.
var DefaultConfig = Config{Low: 1, High: 100_000, Target: 0.99, Resolution: 0.05, Step: 4}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if !(c.Low > 0) || math.IsInf(c.Low, 0) {
		errs = append(errs, fmt.Errorf("low rate must be > 0 (got %g)", c.Low))
	}
	if !(c.High >= c.Low) || math.IsInf(c.High, 0) {
		errs = append(errs, fmt.Errorf("high rate must be finite and >= the low rate %g (got %g)", c.Low, c.High))
	}
	if c.Start < 0 || math.IsInf(c.Start, 0) || math.IsNaN(c.Start) {
		errs = append(errs, fmt.Errorf("start rate must be >= 0 (got %g)", c.Start))
	}
	if !(c.Target > 0 && c.Target <= 1) {
		errs = append(errs, fmt.Errorf("target attainment must be in (0, 1] (got %g)", c.Target))
	}
	if !(c.Resolution > 0) || math.IsInf(c.Resolution, 0) {
		errs = append(errs, fmt.Errorf("resolution must be > 0 (got %g)", c.Resolution))
	}
	if !(c.Step > 1) || math.IsInf(c.Step, 0) {
		errs = append(errs, fmt.Errorf("step must be > 1 (got %g)", c.Step))
	}
	if c.MaxProbes < 0 {
		errs = append(errs, fmt.Errorf("max probes must be >= 0 (got %d)", c.MaxProbes))
	}
	return joinErrors(errs)
}

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msg := errs[0].Error()
	for _, e := range errs[1:] {
		msg += "; " + e.Error()
	}
	return fmt.Errorf("%s", msg)
}

// Probe is what the trials at one rate measured.
type Probe struct {
	Rate float64
	// Met and Total are the requests that met the SLO and the requests
	// judged (started plus dropped), over the probe's trials.
	Met, Total int64
	// Failed is set when a trial failed (crashed or broke an invariant):
	// the rate does not pass, whatever its attainment.
	Failed bool
}

// Attainment is the share of the probe's requests that met the SLO.
func (p Probe) Attainment() float64 {
	if p.Total == 0 {
		return 0
	}
	return float64(p.Met) / float64(p.Total)
}

// Passed reports whether the probe reached target attainment.
func (p Probe) Passed(target float64) bool {
	return !p.Failed && p.Total > 0 && p.Attainment() >= target
}

// Result is where a search stands: the capacity and its interval.
type Result struct {
	// Capacity is the highest rate that passed below the lowest that
	// failed (Lo); 0 when no rate passed.
	Capacity float64
	// Lo is the highest passing rate (0: none) and Hi the lowest failing
	// rate above it (0: none failed), so the capacity lies in [Lo, Hi).
	Lo, Hi float64
	// Converged is set when Hi is within a factor 1+Resolution of Lo, or
	// the search reached a bound (nothing passed at Low, or everything
	// up to High passed).
	Converged bool
	// Probes are the probes pooled by rate, in increasing rate.
	Probes []Probe
}

// String gives the capacity and its interval, such as "1234/s
// [1234, 1290)".
func (r Result) String() string {
	hi := "∞"
	if r.Hi > 0 {
		hi = fmt.Sprintf("%.4g", r.Hi)
	}
	var s string
	if r.Lo == 0 {
		s = fmt.Sprintf("below %s/s [0, %s)", hi, hi)
	} else {
		s = fmt.Sprintf("%.4g/s [%.4g, %s)", r.Capacity, r.Lo, hi)
	}
	if !r.Converged {
		s += " (not converged)"
	}
	return s
}

// FromProbes computes the interval from any probes: those at one rate are
// pooled; Hi is the lowest failing rate and Lo the highest passing rate
// below it.
//
// Note: a passing rate above a failing one (noise near the knee, or
// probes from two runs) does not raise the capacity: the interval is the
// first failure's, the conservative reading.
func FromProbes(probes []Probe, cfg Config) Result {
	var pooled []Probe
	for _, p := range probes {
		i := slices.IndexFunc(pooled, func(q Probe) bool { return q.Rate == p.Rate })
		if i < 0 {
			pooled = append(pooled, p)
			continue
		}
		q := &pooled[i]
		q.Met += p.Met
		q.Total += p.Total
		q.Failed = q.Failed || p.Failed
	}
	slices.SortFunc(pooled, func(a, b Probe) int {
		switch {
		case a.Rate < b.Rate:
			return -1
		case a.Rate > b.Rate:
			return 1
		}
		return 0
	})
	r := Result{Probes: pooled}
	for _, p := range pooled {
		if !p.Passed(cfg.Target) {
			r.Hi = p.Rate
			break
		}
		r.Lo = p.Rate
	}
	r.Capacity = r.Lo
	switch {
	case r.Lo > 0 && r.Hi > 0:
		r.Converged = r.Hi <= r.Lo*(1+cfg.Resolution)
	case r.Hi > 0:
		r.Converged = r.Hi <= cfg.Low
	case r.Lo > 0:
		r.Converged = r.Lo >= cfg.High
	}
	return r
}

// Search is one capacity search: Next says the rate to probe, Observe
// takes what the probe measured. It is deterministic: the same probes give
// the same rates.
type Search struct {
	cfg    Config
	probes []Probe
}

// NewSearch returns a search within cfg's bounds.
func NewSearch(cfg Config) (*Search, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Search{cfg: cfg}, nil
}

// Next returns the next rate to probe, or false when the search is over:
// converged, at a bound, or out of probes.
func (s *Search) Next() (rate float64, ok bool) {
	c := s.cfg
	if c.MaxProbes > 0 && len(s.probes) >= c.MaxProbes {
		return 0, false
	}
	if len(s.probes) == 0 {
		start := c.Start
		if start == 0 {
			start = math.Sqrt(c.Low * c.High)
		}
		return min(max(start, c.Low), c.High), true
	}
	r := s.Result()
	switch {
	case r.Converged:
		return 0, false
	case r.Lo == 0: // nothing passed yet: step down from the failure
		return max(r.Hi/c.Step, c.Low), true
	case r.Hi == 0: // nothing failed yet: step up from the pass
		return min(r.Lo*c.Step, c.High), true
	}
	mid := math.Sqrt(r.Lo * r.Hi)
	// A rate of three significant digits reads better in progress lines
	// and records, where it does not leave the bracket.
	if m := roundSig(mid, 3); m > r.Lo && m < r.Hi {
		mid = m
	}
	return mid, true
}

// roundSig rounds x > 0 to n significant digits.
func roundSig(x float64, n int) float64 {
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(x)))
	return math.Round(x*p) / p
}

// Observe records a probe's measurement.
func (s *Search) Observe(p Probe) { s.probes = append(s.probes, p) }

// Result returns where the search stands.
func (s *Search) Result() Result { return FromProbes(s.probes, s.cfg) }

// ProbeFunc runs search i's trials at rate and returns what they
// measured. An error ends the whole drive.
type ProbeFunc func(ctx context.Context, i int, rate float64) (Probe, error)

// Drive runs searches in lockstep rounds (each unfinished search probes
// once per round, in order, so machine drift hits every search alike)
// until every search is over or the budget is spent. now is the clock
// (time.Now outside tests). A probe is not started when the time spent
// plus the mean probe so far would pass the budget, so a drive overruns
// its budget by less than one probe's length plus its spread. It returns
// early, with ctx's error, when ctx ends.
func Drive(ctx context.Context, searches []*Search, budget time.Duration, now func() time.Time, probe ProbeFunc) (exhausted bool, err error) {
	began := now()
	probes := 0
	for {
		progressed := false
		for i, s := range searches {
			rate, ok := s.Next()
			if !ok {
				continue
			}
			spent := now().Sub(began)
			if probes > 0 && spent+spent/time.Duration(probes) > budget || spent >= budget {
				return true, nil
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			p, err := probe(ctx, i, rate)
			if err != nil {
				return false, err
			}
			p.Rate = rate
			s.Observe(p)
			probes++
			progressed = true
		}
		if !progressed {
			return false, nil
		}
	}
}

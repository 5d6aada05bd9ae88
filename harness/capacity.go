package harness

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/streambench/streambench/capacity"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// CapacityConfig bounds a run's capacity searches (FindCapacity), beyond
// the run's Config.
type CapacityConfig struct {
	// Search bounds every search. A zero Start starts each scenario's
	// search at its own rate when its load is open, else at the geometric
	// middle of Low and High.
	Search capacity.Config
	// Budget bounds the wall-clock time of all the searches together.
	Budget time.Duration
}

// DefaultCapacity is what bench run -find-capacity searches with.
var DefaultCapacity = CapacityConfig{Search: capacity.DefaultConfig, Budget: 10 * time.Minute}

// Capacity is the outcome of one capacity search: one variant on one
// scenario at one GOMAXPROCS.
type Capacity struct {
	Scenario, Variant string
	GOMAXPROCS        int
	Result            capacity.Result
}

// FindCapacity searches, for every variant × scenario × GOMAXPROCS of cfg,
// the highest open-model rate at which at least cc.Search.Target of the
// requests meet the scenario's SLO. The searches run in lockstep (one
// probe of each in turn, so that drift hits all alike) until each has
// converged or cc.Budget is spent. Each probe is cfg.Trials trials at one
// rate, each in a child process like any trial, written to w as it ends
// with capacity_probe set. The pass-through calibration variant is not
// searched, and no calibration trials are run.
//
// It returns the records and where every search stood; the error is
// non-nil for a plan that cannot run (before anything ran) or a run that
// could not go on.
func FindCapacity(ctx context.Context, cfg Config, cc CapacityConfig, w *result.Writer, stop <-chan struct{}, progress io.Writer) ([]*result.Trial, []Capacity, error) {
	plan, err := capacityPlan(cfg, cc)
	if err != nil {
		return nil, nil, err
	}
	r := newRunner(cfg, w, progress, 0)
	_, err = capacity.Drive(ctx, plan.searches, cc.Budget, time.Now, func(ctx context.Context, i int, rate float64) (capacity.Probe, error) {
		var p capacity.Probe
		for k := range cfg.Trials {
			spec := plan.specs[i]
			spec.Load.Rate, spec.Trial, spec.Order = rate, k, len(r.out)
			rec, err := r.run(ctx, stop, spec, true)
			if err != nil {
				return p, err
			}
			p.Met += rec.RequestsMetSLO
			p.Total += rec.StreamsCompleted + rec.StreamsDisconnected + rec.StreamsFailed + rec.RequestsDropped
			p.Failed = p.Failed || rec.Failed()
		}
		return p, nil
	})
	caps := make([]Capacity, len(plan.searches))
	for i, s := range plan.searches {
		sp := plan.specs[i]
		caps[i] = Capacity{Scenario: plan.names[i], Variant: sp.Variant, GOMAXPROCS: sp.GOMAXPROCS, Result: s.Result()}
	}
	if err == context.Canceled || err == context.DeadlineExceeded {
		err = errStopped
	}
	return r.out, caps, err
}

// capacitySearches are a run's searches and each one's trial template.
type capacitySearches struct {
	searches []*capacity.Search
	specs    []TrialSpec
	names    []string // the scenarios' names, as their records carry them
}

// capacityPlan checks cfg for a capacity search and readies one search per
// variant × scenario × GOMAXPROCS, each scenario's variants side by side.
func capacityPlan(cfg Config, cc CapacityConfig) (*capacitySearches, error) {
	if len(cfg.Concurrency) > 0 {
		return nil, fmt.Errorf("a capacity search runs the open model only: -concurrency (the closed model) does not apply")
	}
	if len(cfg.Rates) > 0 {
		return nil, fmt.Errorf("a capacity search chooses its own rates: bound them with -capacity-low and -capacity-high instead of -rate")
	}
	if cfg.Trials < 1 || cfg.Trials > MaxTrials {
		return nil, fmt.Errorf("trials must be from 1 to %d (got %d)", MaxTrials, cfg.Trials)
	}
	if cc.Budget <= 0 {
		return nil, fmt.Errorf("the capacity budget must be positive (got %v)", cc.Budget)
	}
	if err := cc.Search.Validate(); err != nil {
		return nil, err
	}
	if cc.Search.High > MaxRate {
		return nil, fmt.Errorf("the high rate must be at most %g requests per second (got %g)", MaxRate, cc.Search.High)
	}
	// The specs are checked the way Trials checks them, and carry every
	// other setting of cfg.
	one := cfg
	one.Rates, one.Trials, one.Calibrate = []float64{cc.Search.Low}, 1, false
	specs, err := Trials(one)
	if err != nil {
		return nil, err
	}
	p := &capacitySearches{}
	var noSLO []string
	for _, spec := range specs {
		sc, err := scenarios.Lookup(spec.Scenario)
		if err != nil {
			return nil, err
		}
		start := cc.Search.Start
		if start == 0 && sc.Load.Model == scenarios.Open {
			start = sc.Load.Rate
		}
		probe := sc.Clone()
		if err := applySpec(probe, &spec); err != nil {
			return nil, fmt.Errorf("scenario %s: %v", spec.Scenario, err)
		}
		if probe.SLO.IsZero() {
			if !containsString(noSLO, spec.Scenario) {
				noSLO = append(noSLO, spec.Scenario)
			}
			continue
		}
		scfg := cc.Search
		scfg.Start = start
		s, err := capacity.NewSearch(scfg)
		if err != nil {
			return nil, err
		}
		p.searches = append(p.searches, s)
		p.specs = append(p.specs, spec)
		p.names = append(p.names, sc.Name)
	}
	if len(noSLO) > 0 {
		return nil, fmt.Errorf("a capacity search needs an SLO, and %s has none: give slo {ttft, e2e} in the scenario, or -slo-ttft and -slo-e2e", strings.Join(noSLO, ", "))
	}
	return p, nil
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// CheckCapacity reports whether cfg and cc make a capacity search that can
// run, without running anything: the error FindCapacity would refuse it
// with.
func CheckCapacity(cfg Config, cc CapacityConfig) error {
	_, err := capacityPlan(cfg, cc)
	return err
}

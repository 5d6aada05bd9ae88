// Package backoff is the one adaptive-backpressure delay both designs use
// when their buffer is bounded, so that a ladder step that bounds the
// legacy's buffer changes exactly what the redesign has, not a second copy
// of it that could drift.
//
// It sits below impls/mutex and impls/lockfree and imports nothing of
// theirs.
package backoff

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Formula is how an adaptive delay grows with the queue's fill.
type Formula int

const (
	// Article is the source's code: Duration::from_millis((1.0 * (1.0 +
	// ratio * 2.0)) as u64), that is floor(1 + 2·fill) units of one
	// millisecond (1, 2 or 3 ms), ignoring the strategy's own
	// initial_delay, max_delay and multiplier.
	Article Formula = iota
	// Params is the source's enum: min(initial × (1 + fill × multiplier),
	// max), not truncated.
	Params
)

var formulaNames = [...]string{Article: "article", Params: "params"}

// String returns the name ParseFormula accepts.
func (f Formula) String() string {
	if f >= 0 && int(f) < len(formulaNames) {
		return formulaNames[f]
	}
	return fmt.Sprintf("Formula(%d)", int(f))
}

// ParseFormula parses "article" or "params".
func ParseFormula(s string) (Formula, error) {
	for i, n := range formulaNames {
		if s == n {
			return Formula(i), nil
		}
	}
	return 0, fmt.Errorf("unknown formula %q (allowed: article, params)", s)
}

// Adaptive is the adaptive strategy's delay rule. Its durations are the
// ones in force: a variant scaled by a scenario's time scale carries scaled
// values here.
type Adaptive struct {
	Formula Formula
	// Unit is the article formula's millisecond (1 ms unscaled).
	Unit time.Duration
	// Initial, Max and Multiplier shape the params formula.
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
}

// DefaultAdaptive is the source's code: the article formula in units of
// 1 ms; Initial, Max and Multiplier are the enum's values, used by the
// params formula.
func DefaultAdaptive() Adaptive {
	return Adaptive{Formula: Article, Unit: time.Millisecond, Initial: time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2}
}

// Delay is the pause before a push onto a queue holding queued of limit
// chunks, once the high-water mark is reached.
func (a Adaptive) Delay(queued, limit int) time.Duration {
	fill := float64(queued) / float64(limit)
	if a.Formula == Article {
		return time.Duration(int64(1+fill*2)) * a.Unit
	}
	return min(time.Duration(float64(a.Initial)*(1+fill*a.Multiplier)), a.Max)
}

// Scaled returns a with every duration multiplied by scale.
func (a Adaptive) Scaled(scale float64) Adaptive {
	a.Unit = Scale(a.Unit, scale)
	a.Initial = Scale(a.Initial, scale)
	a.Max = Scale(a.Max, scale)
	return a
}

// Scale multiplies d by scale, keeping a positive duration positive.
func Scale(d time.Duration, scale float64) time.Duration {
	if d <= 0 || scale == 1 {
		return d
	}
	s := time.Duration(float64(d) * scale)
	if s < 1 {
		s = 1
	}
	return s
}

// Wait is how one delay ended.
type Wait int

const (
	// Elapsed: the whole delay passed.
	Elapsed Wait = iota
	// Drained: wake fired and below reported the queue back under its
	// high-water mark before the delay was over.
	Drained
	// Stopped: stop closed first.
	Stopped
)

// Sleep waits for d on *timer (made on first use), returning early when stop
// closes or when wake fires and below() is true: the adaptive strategy stops
// delaying as soon as the consumer has drained the queue under its
// high-water mark, instead of sleeping out a delay computed from a fill that
// no longer holds.
//
// Note: Sleep relies on the runtime's timers, which an idle process wakes
// up to about a millisecond late; below that a scaled delay runs long. The
// caller measures how long it really waited so that the record can say so
// (impls.Outcome.DelayLate) rather than spinning, which would burn the CPU
// being measured and never let a testing/synctest bubble's clock advance.
func Sleep(d time.Duration, timer **time.Timer, stop <-chan struct{}, wake <-chan struct{}, below func() bool) Wait {
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		(*timer).Reset(d) // Since Go 1.23 Reset leaves no stale value in the channel.
	}
	for {
		select {
		case <-(*timer).C:
			return Elapsed
		case <-stop:
			(*timer).Stop()
			return Stopped
		case <-wake:
			if below() {
				(*timer).Stop()
				return Drained
			}
		}
	}
}

// Validate reports every impossible value in a at once, or nil.
func (a Adaptive) Validate() error {
	var errs []error
	if a.Formula < 0 || int(a.Formula) >= len(formulaNames) {
		errs = append(errs, fmt.Errorf("adaptive formula %d unknown (allowed: article, params)", int(a.Formula)))
	}
	if a.Formula == Article && a.Unit <= 0 {
		errs = append(errs, fmt.Errorf("the article formula's unit must be positive, got %v", a.Unit))
	}
	if a.Initial < 0 {
		errs = append(errs, fmt.Errorf("initial delay must not be negative, got %v", a.Initial))
	}
	if a.Max < 0 {
		errs = append(errs, fmt.Errorf("max delay must not be negative, got %v", a.Max))
	} else if a.Max < a.Initial {
		errs = append(errs, fmt.Errorf("max delay (%v) must not be less than initial delay (%v)", a.Max, a.Initial))
	}
	if math.IsNaN(a.Multiplier) || math.IsInf(a.Multiplier, 0) || a.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("multiplier must be a finite number of at least 1, got %v", a.Multiplier))
	}
	return errors.Join(errs...)
}

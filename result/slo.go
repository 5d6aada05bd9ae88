package result

import (
	"math"
	"time"
)

// SLO is the latency objective a trial's goodput was judged by, as given
// (in the scenario or on the command line), at real scale: the harness
// judges each request against the bounds multiplied by TimeScale (see
// Objective). A zero bound is not judged.
type SLO struct {
	TTFTNS int64 `json:"ttft_ns,omitempty"`
	E2ENS  int64 `json:"e2e_ns,omitempty"`
	// TimeScale is the scenario's time scale the bounds were judged at;
	// 0 means 1.
	TimeScale float64 `json:"time_scale,omitempty"`
}

// NewSLO returns the record of an SLO given at real scale and judged at
// timeScale, or nil when neither bound is set.
func NewSLO(ttft, e2e time.Duration, timeScale float64) *SLO {
	if ttft == 0 && e2e == 0 {
		return nil
	}
	return &SLO{TTFTNS: int64(ttft), E2ENS: int64(e2e), TimeScale: timeScale}
}

// SetGoodput fills t's SLO fields from slo and the count of its measured
// requests that met it, with the rates and shares computed from t's own
// window and counts (DurationS, the streams and RequestsDropped), which
// must be final. It does nothing when slo is nil.
func (t *Trial) SetGoodput(slo *SLO, met int64) {
	if slo == nil {
		return
	}
	t.SLO, t.RequestsMetSLO = slo, met
	if t.DurationS > 0 {
		t.GoodputPerS = float64(met) / t.DurationS
	}
	t.SLOAttainment = Attainment(met, t.StreamsCompleted+t.StreamsDisconnected+t.StreamsFailed, t.RequestsDropped)
}

// Objective returns the bounds o judges requests by: the given ones
// multiplied by the time scale.
func (o SLO) Objective() Objective {
	s := o.TimeScale
	if s == 0 {
		s = 1
	}
	scale := func(ns int64) int64 {
		if ns == 0 || s == 1 {
			return ns
		}
		return max(int64(math.Round(float64(ns)*s)), 1)
	}
	return Objective{TTFT: scale(o.TTFTNS), E2E: scale(o.E2ENS)}
}

// Objective is an SLO's bounds as judged, in nanoseconds; a zero bound is
// not judged, and the zero Objective judges nothing.
type Objective struct {
	TTFT, E2E int64
}

// IsZero reports whether o judges nothing.
func (o Objective) IsZero() bool { return o.TTFT == 0 && o.E2E == 0 }

// Met reports whether one request met the objective: it completed without
// error, its first chunk came within TTFT of its intended start (ttft, ns;
// negative when no chunk came) and its last within E2E (e2e, ns).
//
// Note: a request that did not complete is a miss whatever its latency: a
// failed stream or one its client left gave its user no answer. A
// request never started (dropped at the open model's cap, or still
// waiting when the window closed) is a miss too; the caller counts it in
// Attainment's denominator.
func (o Objective) Met(completed bool, ttft, e2e int64) bool {
	if !completed {
		return false
	}
	if o.TTFT > 0 && (ttft < 0 || ttft > o.TTFT) {
		return false
	}
	return o.E2E == 0 || e2e <= o.E2E
}

// Attainment is the share of a trial's measured requests that met the
// SLO: met over the measured requests that started plus those that never
// did (dropped). It is 0 when there were none.
func Attainment(met, started, dropped int64) float64 {
	if n := started + dropped; n > 0 {
		return float64(met) / float64(n)
	}
	return 0
}

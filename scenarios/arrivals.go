package scenarios

import (
	"math"
	"time"
)

// IntendedStart returns when request i of an open-model run should start,
// as an offset from the start of the run: exactly i/Rate for Constant
// arrivals, the sum of i exponential gaps of mean 1/Rate for Poisson. Request
// 0 starts at 0. It returns 0 for the closed model.
//
// For Poisson arrivals IntendedStart takes time proportional to i; a load
// generator walking the requests in order uses Arrivals instead.
func (l Load) IntendedStart(seed, i uint64) time.Duration {
	if l.Model != Open || !(l.Rate > 0) {
		return 0
	}
	if l.Arrival != Poisson {
		return constantStart(l.Rate, i)
	}
	p := l.Arrivals(seed)
	for range i {
		p.Next()
	}
	return p.Next()
}

func constantStart(rate float64, i uint64) time.Duration {
	return toInt[time.Duration](float64(i) * float64(time.Second) / rate)
}

// Arrivals yields the intended starts of an open-model run's requests in
// order, in O(1) each, as offsets from the run's start: it computes a
// schedule and never waits (a load generator waits on it). It is not safe
// for concurrent use.
type Arrivals struct {
	load Load
	rng  rng
	i    uint64
	at   float64 // Poisson: the next start, in seconds.
}

// Arrivals returns l's arrivals drawn from seed.
func (l Load) Arrivals(seed uint64) *Arrivals {
	return &Arrivals{load: l, rng: newRNG(seed, saltArrival, 0, 0)}
}

// Next returns the intended start of the next request, starting with request
// 0; it equals l.IntendedStart(seed, i) for the i-th call (from 0).
func (p *Arrivals) Next() time.Duration {
	i := p.i
	p.i++
	l := &p.load
	if l.Model != Open || !(l.Rate > 0) {
		return 0
	}
	if l.Arrival != Poisson {
		// Note: computed from i, not accumulated, so that it never drifts.
		return constantStart(l.Rate, i)
	}
	at := p.at
	p.at += p.rng.exp() / l.Rate
	return toInt[time.Duration](math.Round(at * float64(time.Second)))
}

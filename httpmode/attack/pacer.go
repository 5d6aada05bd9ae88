package attack

import (
	"math"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/streambench/streambench/scenarios"
)

// schedule is a vegeta.Pacer that also tells each hit's intended start, as
// an offset from the start of the attack, so that latency can be measured
// from it (the open model's rule) and a late send detected.
type schedule interface {
	vegeta.Pacer
	// intended returns when hit i was due.
	intended(i uint64) time.Duration
	// due returns how many hits are due at or before d.
	due(d time.Duration) uint64
}

// newSchedule returns vegeta's own ConstantPacer for constant arrivals, and
// a Poisson pacer drawn from the scenario's seed otherwise: vegeta has none.
func newSchedule(arrival scenarios.ArrivalProcess, rate float64, seed uint64) schedule {
	if arrival == scenarios.Poisson {
		l := scenarios.Load{Model: scenarios.Open, Rate: rate, Arrival: scenarios.Poisson}
		return &poissonPacer{p: l.Arrivals(seed), load: l, seed: seed, rate: rate}
	}
	cp := vegeta.ConstantPacer{Freq: int(rate), Per: time.Second}
	if rate != math.Trunc(rate) || rate < 1 {
		// Note: vegeta's Freq is an integer, so a fractional rate is
		// written per 1000 s; the interval is the same.
		cp = vegeta.ConstantPacer{Freq: int(math.Round(rate * 1000)), Per: 1000 * time.Second}
	}
	return constantSchedule{cp}
}

// constantSchedule is vegeta's ConstantPacer, which sends hit i at
// (i+1)·interval.
type constantSchedule struct{ vegeta.ConstantPacer }

func (c constantSchedule) intended(i uint64) time.Duration {
	interval := c.Per.Nanoseconds() / int64(c.Freq)
	return time.Duration(int64(i+1) * interval)
}

func (c constantSchedule) due(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d.Nanoseconds() / (c.Per.Nanoseconds() / int64(c.Freq)))
}

// poissonPacer implements vegeta.Pacer over the scenario's seeded Poisson
// arrivals: hit i is due at scenarios' IntendedStart(seed, i). vegeta calls
// Pace from one goroutine, once per hit in order; intended is called from
// the workers, so the recent starts are kept in a small ring under a mutex.
type poissonPacer struct {
	p    *scenarios.Arrivals
	load scenarios.Load // with seed, walks the schedule afresh for due
	seed uint64
	rate float64

	mu   sync.Mutex
	next uint64 // hits drawn so far
	ring [ringSize]struct {
		hit uint64
		at  time.Duration
	}
}

// ringSize bounds how far behind the pacer a worker may ask for a hit's
// intended start; a hit that far behind has long been late anyway.
const ringSize = 1 << 14

var _ vegeta.Pacer = (*poissonPacer)(nil)

func (p *poissonPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	p.mu.Lock()
	for p.next <= hits {
		r := &p.ring[p.next%ringSize]
		r.hit, r.at = p.next, p.p.Next()
		p.next++
	}
	at := p.ring[hits%ringSize].at
	p.mu.Unlock()
	return at - elapsed, false
}

func (p *poissonPacer) Rate(time.Duration) float64 { return p.rate }

// due walks a fresh copy of the schedule, so that it may be called at any
// time without disturbing Pace.
func (p *poissonPacer) due(d time.Duration) uint64 {
	fresh := p.load.Arrivals(p.seed)
	n := uint64(0)
	for fresh.Next() <= d {
		n++
	}
	return n
}

func (p *poissonPacer) intended(i uint64) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.ring[i%ringSize]; r.hit == i && i < p.next {
		return r.at
	}
	return -1 // unknown: the caller uses the actual start
}

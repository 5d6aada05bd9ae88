// Package slow injects a known regression into any pipeline: honest busy
// work per chunk on the relay path, so that a regression gate's power can be
// measured against slowdowns of a known size.
//
// Wrap puts the work into the sink the relay writes to: every chunk the
// relay delivers first burns CPU in the relay's own goroutine, exactly where
// a slower relay would spend it. A pipeline that is not wrapped pays
// nothing, so the knob costs the hot path nothing when unset.
//
// The work is a fixed integer loop whose speed is measured once per process
// (Rate), never a wall-clock wait: a spinning goroutine that the scheduler
// pre-empts still does all its work afterwards, so the CPU it adds per chunk
// does not depend on how busy the machine is.
//
// It sits below impls/variant, which exposes it as the knobs slow=PERCENT
// and spin=DURATION on every implementation, and imports only impls and
// internal/procstat.
package slow

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/internal/procstat"
)

// Config is the busy work to add per chunk: a fixed Spin, or Percent of the
// process's own CPU per chunk measured over the first chunks of the trial.
// At most one is set; the zero Config adds nothing.
type Config struct {
	// Percent adds busy work per chunk equal to this share (in percent) of
	// the CPU time per chunk the process spent over its calibration window
	// (the first CalibrationChunks chunks, in the trial's warm-up).
	Percent float64
	// Spin adds this much busy work per chunk.
	Spin time.Duration
}

// CalibrationSettle, CalibrationChunks and CalibrationTime place the
// calibration window of a Percent wrapper (see calibrate): once the
// process has settled, it relays, adding nothing, until it has seen
// CalibrationChunks chunks or CalibrationTime has passed since its first
// chunk (and at least 64 chunks), measuring the process's CPU per chunk. The
// time bound keeps the window inside a short warm-up on a paced scenario.
//
// Note: the process's CPU per chunk is what the harness's cpu_ns_per_chunk
// reports (the variant's own work plus the harness's provider and client),
// so slow=10% raises that metric by about 10%, and lowers CPU-bound
// throughput by about 10/110. Calibrating to the relay's work alone would
// inject an effect of unknown size in the units the gate measures.
const (
	CalibrationSettle = 50 * time.Millisecond
	CalibrationChunks = 20_000
	CalibrationTime   = 50 * time.Millisecond
)

// Zero reports whether c adds nothing.
func (c Config) Zero() bool { return c.Percent == 0 && c.Spin == 0 }

// Validate reports a negative or doubly set Config.
func (c Config) Validate() error {
	switch {
	case c.Percent < 0 || math.IsNaN(c.Percent) || math.IsInf(c.Percent, 0):
		return fmt.Errorf("slow must be a non-negative percentage (got %g)", c.Percent)
	case c.Spin < 0:
		return fmt.Errorf("spin must not be negative (got %s)", c.Spin)
	case c.Percent > 0 && c.Spin > 0:
		return fmt.Errorf("give slow or spin, not both")
	}
	return nil
}

// String renders c as the knobs that set it ("slow=10%", "spin=2µs"), or "".
func (c Config) String() string {
	switch {
	case c.Percent > 0:
		return "slow=" + strconv.FormatFloat(c.Percent, 'g', -1, 64) + "%"
	case c.Spin > 0:
		return "spin=" + c.Spin.String()
	}
	return ""
}

// ParsePercent parses "10%" or "10" as 10.
func ParsePercent(s string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || p < 0 || math.IsInf(p, 0) {
		return 0, fmt.Errorf("bad value %q (want a percentage such as 10%%)", s)
	}
	return p, nil
}

// Wrap returns p with c's busy work added per chunk, or p itself when c is
// zero.
func Wrap(p impls.Pipeline, c Config) impls.Pipeline {
	if c.Zero() {
		return p
	}
	w := &pipeline{inner: p, percent: c.Percent}
	if c.Spin > 0 {
		w.iters.Store(iterationsFor(c.Spin))
	} else {
		w.iters.Store(-1) // calibrating
	}
	return w
}

// pipeline is a wrapped pipeline. It is shared by every request of a trial,
// like the pipeline it wraps.
type pipeline struct {
	inner   impls.Pipeline
	percent float64
	// iters is the loop iterations per chunk: -1 while calibrating.
	iters atomic.Int64
	// The calibration window: the process's CPU at its first chunk and the
	// chunks seen since.
	calib    sync.Once // t0: the first chunk
	settling atomic.Int64
	settled  atomic.Bool
	window   sync.Once // cpu0, t1: the window opens
	cpu0     time.Duration
	t0, t1   time.Time
	chunks   atomic.Int64
	// mu guards slab, the sinks not yet handed out.
	mu   sync.Mutex
	slab []sink
}

func (p *pipeline) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	return p.inner.Relay(ctx, req, src, p.newSink(dst))
}

// slabSize is how many sinks one allocation provides.
const slabSize = 1024

// newSink returns a wrapper of dst for one request.
//
// Note: a wrapper per request would add an allocation per request to the
// variant's allocs/chunk, an injected regression the knob does not mean to
// inject (the gate's +1% allocs/chunk threshold caught it). Sinks come from
// slabs instead, one allocation per slabSize requests. They are never
// reused: a design may still hold the sink after Relay returns (the legacy
// design's disconnect watcher does), so recycling it would be unsafe.
func (p *pipeline) newSink(dst impls.Sink) *sink {
	p.mu.Lock()
	if len(p.slab) == 0 {
		p.slab = make([]sink, slabSize)
	}
	s := &p.slab[0]
	p.slab = p.slab[1:]
	p.mu.Unlock()
	s.Sink, s.p = dst, p
	return s
}

// sink burns the busy work before handing each chunk to the real sink.
type sink struct {
	impls.Sink
	p *pipeline
}

func (s *sink) Write(c impls.Chunk) error {
	if n := s.p.iters.Load(); n >= 0 {
		Burn(n)
	} else {
		s.p.calibrate()
	}
	return s.Sink.Write(c)
}

// calibrate counts one chunk of the calibration window and, at its end,
// sets the work per chunk. The window opens once the process has settled:
// CalibrationSettle after the first chunk, or CalibrationChunks chunks
// later, whichever comes first.
//
// Note: a window from the first chunk measured a process still starting
// (its heap growing from nothing and collected every few milliseconds, its
// streams' goroutines starting): about twice its steady CPU per chunk on
// firehose, so that slow=10% added 22% and slow=20% 39%.
func (p *pipeline) calibrate() {
	p.calib.Do(func() { p.t0 = time.Now() })
	if !p.settled.Load() {
		if n := p.settling.Add(1); n < CalibrationChunks && (n%64 != 0 || time.Since(p.t0) < CalibrationSettle) {
			return
		}
		p.window.Do(func() { p.cpu0, p.t1 = processCPU(), time.Now(); p.settled.Store(true) })
	}
	n := p.chunks.Add(1)
	if n < CalibrationChunks && (n%64 != 0 || time.Since(p.t1) < CalibrationTime) {
		return
	}
	perChunk := float64(processCPU()-p.cpu0) / float64(n)
	// Note: of the goroutines that end the window at once, the first
	// decides; the others' measurements are as good and are dropped.
	p.iters.CompareAndSwap(-1, iterationsFor(time.Duration(perChunk*p.percent/100)))
}

// PerChunk returns the busy work each chunk now gets, and false while the
// calibration window is still open.
func (p *pipeline) PerChunk() (time.Duration, bool) {
	n := p.iters.Load()
	if n < 0 {
		return 0, false
	}
	return time.Duration(float64(n) / Rate()), true
}

// processCPU returns the user plus system CPU time of this process. Where
// the system does not report it (see procstat), the wall time since the
// process started times GOMAXPROCS stands in: an upper bound, so slow then
// adds at least what it says.
func processCPU() time.Duration {
	if cpu, ok := procstat.ProcessCPU(); ok {
		return cpu
	}
	return time.Since(processStart) * time.Duration(runtime.GOMAXPROCS(0))
}

var processStart = time.Now()

// sinkValue keeps Burn's result alive so the compiler cannot drop the loop.
var sinkValue atomic.Uint64

// Burn runs n iterations of the busy loop: a xorshift step each, which the
// compiler can neither vectorise nor remove.
func Burn(n int64) {
	x := uint64(n) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	if x == 0 { // never true; keeps x live
		sinkValue.Add(1)
	}
}

var (
	rateOnce sync.Once
	rate     float64 // iterations per nanosecond
)

// Rate is how many iterations of Burn this machine runs per nanosecond,
// measured once per process: the best of five timed runs of about a
// millisecond each, so a pre-emption in one of them does not skew it.
func Rate() float64 {
	rateOnce.Do(func() {
		const n = 1 << 20
		best := time.Duration(math.MaxInt64)
		for range 5 {
			start := time.Now()
			Burn(n)
			best = min(best, time.Since(start))
		}
		if best < 100*time.Microsecond {
			// Note: 2^20 dependent steps cannot take under 100µs; the
			// clock is a fake one (a testing/synctest bubble, where time
			// stands still while goroutines run). Measure CPU time instead,
			// over a longer run since it is coarser.
			cpu0 := processCPU()
			Burn(16 * n)
			best = (processCPU() - cpu0) / 16
		}
		rate = float64(n) / float64(max(best, time.Microsecond))
	})
	return rate
}

func iterationsFor(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Round(float64(d) * Rate()))
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/streambench/streambench/accounting"
	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/internal/upstream"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// warmBit marks the request IDs of warm-up requests, so that measured
// requests are numbered 0, 1, 2... whatever the warm-up did, and draw the
// same script in every variant's trial.
const warmBit = uint64(1) << 40

// busyMachine is the share of the machine's CPU that other processes may
// take during a trial before the record carries a warning.
const busyMachine = 0.10

// providerLateWarn is the median provider timer lateness past which a
// record carries a warning.
const providerLateWarn = 200 * time.Microsecond

// trial is the state of one running trial.
type trial struct {
	spec    TrialSpec
	sc      *scenarios.Scenario
	v       variant.Variant
	traits  impls.Traits
	joins   bool // the design ends all of a request's work before Relay returns
	pipe    impls.Pipeline
	newPipe func(impls.Ledger) impls.Pipeline
	// calibration is how long the machine-speed workload took before the
	// trial (see cpuCalibration).
	calibration time.Duration
	led         *accounting.Ledger
	lat         *latencies
	limits      impls.Limits
	// upSlots and upBucket are the provider's capacity, shared by every
	// stream of the trial (see scenarios.Provider's MaxConcurrent and
	// TokensPerS); nil when the scenario sets none.
	upSlots  *upstream.Slots
	upBucket *upstream.Bucket

	base time.Time
	kill chan struct{}
	// win is the measured window, which the streams tick (see
	// window.tick); nil until the trial runs.
	win    *window
	killed atomic.Bool
	ctx    context.Context
	// itlEvery is the inter-chunk gap sampling period (see itlEvery).
	itlEvery int64
	// slo is the objective each measured request is judged by (see
	// relay); the zero Objective when the trial has no SLO.
	slo result.Objective

	// slots hold the per-worker counters (see counterSlot): the
	// throughput, and the accounting summed as streams end.
	slots []counterSlot
	// workers counts the closed model's workers that have started: at
	// hundreds of thousands of streams, starting them takes seconds.
	workers   atomic.Int64
	queuePeak atomic.Int64
	late      atomic.Int64

	// Open model: the measured arrivals that came due (arrived), those
	// never started (notStarted, requests_dropped), those that had to wait
	// for a slot (waited) and those the dispatcher itself reached late
	// (behind). openModel makes streams record latency from the intended
	// start too.
	openModel           bool
	arrived, notStarted atomic.Int64
	waited, behind      atomic.Int64
	// oom is set when the trial ran out of memory (see outOfMemory), at
	// oomAt (ns since base) holding oomHeld bytes, oomHeap of them heap;
	// the sampler's goroutine writes them, record reads them after it ended.
	// steady is what a steady-state start put in place (nil: none).
	steady *steadyState

	oom              atomic.Bool
	oomAt            int64
	oomHeld, oomHeap uint64

	mu             sync.Mutex
	violations     []string
	violationsMore int
	digests        []string
}

func (t *trial) now() int64 { return int64(time.Since(t.base)) }

func (t *trial) violate(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.violations) < 20 {
		t.violations = append(t.violations, fmt.Sprintf(format, args...))
	} else {
		t.violationsMore++
	}
}

// recordShared records one sample from a goroutine that owns no batch (a
// provider closing after its client left).
func (t *trial) recordShared(shard int, kind int, v int64) {
	var b batch
	b.add(t.lat, shard, kind, v)
	b.flush(t.lat, shard)
}

// RunTrial runs one trial in this process and returns its record. An error
// is returned for a trial that could not run (bad spec); a trial that ran
// but broke an invariant returns its record with Accounting.Violations set.
//
// RunTrial changes GOMAXPROCS for its duration when the spec asks.
func RunTrial(ctx context.Context, spec TrialSpec) (*result.Trial, error) {
	v, err := variant.Parse(spec.Variant)
	if err != nil {
		return nil, err
	}
	return runTrial(ctx, spec, v, nil)
}

// runTrial runs spec with pipelines from newPipe (v's own when nil), judged
// by v's traits. Tests pass a broken pipeline here to see the accounting
// catch it.
func runTrial(ctx context.Context, spec TrialSpec, v variant.Variant, newPipe func(impls.Ledger) impls.Pipeline) (*result.Trial, error) {
	spec.withDefaults()
	sc, err := scenarios.Lookup(spec.Scenario)
	if err != nil {
		return nil, err
	}
	if err := applySpec(sc, &spec); err != nil {
		return nil, err
	}
	// Every duration the design holds runs on the scenario's clock, like
	// the provider's and the client's; the record's spec shows the values
	// in force.
	designScale := sc.TimeScale
	if spec.DesignTimeScale > 0 {
		designScale = spec.DesignTimeScale
	}
	v = v.Scaled(designScale)
	if newPipe == nil {
		newPipe = v.New
	}
	if spec.GOMAXPROCS > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(spec.GOMAXPROCS))
	}
	tr := &trial{
		newPipe: newPipe,
		spec:    spec,
		sc:      sc,
		v:       v,
		traits:  v.Traits(),
		led:     newLedger(sc),
		lat:     newLatencies(),
		limits:  sc.RequestLimits(),
		kill:    make(chan struct{}),
	}
	tr.upSlots = upstream.NewSlots(sc.Provider.MaxConcurrent)
	tr.upBucket = upstream.NewBucket(sc.ScaledTokensPerS())
	tr.joins = tr.traits.Joins()
	if spec.DesignTimeScale > 0 {
		// The design's finalizer timeout runs on the design's clock.
		tr.limits.FinalizerTimeout = time.Duration(float64(sc.Limits.FinalizerTimeout) * spec.DesignTimeScale)
	}
	tr.itlEvery = itlEvery(sc)
	tr.openModel = sc.Load.Model == scenarios.Open
	if given := sloOf(sc); given != nil {
		tr.slo = given.Objective()
	}
	if spec.Requests > 0 && spec.Requests <= maxRequestDigests {
		tr.digests = make([]string, spec.Requests)
	}
	return tr.run(ctx)
}

// newLedger returns the trial's ledger: with the scenario's ledger
// section, every call waits on a pool of connections and holds one for a
// drawn duration; without it, a ledger that costs nothing.
func newLedger(sc *scenarios.Scenario) *accounting.Ledger {
	return &accounting.Ledger{Pool: accounting.PoolFor(sc)}
}

// applySpec overrides the scenario's load with the spec's and validates.
func applySpec(sc *scenarios.Scenario, spec *TrialSpec) error {
	if spec.Seed != 0 {
		sc.Seed = spec.Seed
	}
	spec.Seed = sc.Seed
	l := &sc.Load
	onCap := spec.Load.OnCap
	switch spec.Load.Model {
	case "":
		spec.Load = result.Load{Model: string(l.Model), Concurrency: l.Concurrency, Rate: l.Rate, Arrival: string(l.Arrival)}
	case string(scenarios.Closed):
		// An open scenario's rate and arrival process do not apply.
		l.Model, l.Concurrency, l.Rate, l.Arrival = scenarios.Closed, spec.Load.Concurrency, 0, ""
	case string(scenarios.Open):
		l.Model, l.Rate = scenarios.Open, spec.Load.Rate
		if spec.Load.Arrival != "" {
			l.Arrival = scenarios.ArrivalProcess(spec.Load.Arrival)
		}
		if spec.Load.Concurrency > 0 {
			l.Concurrency = spec.Load.Concurrency
		}
		spec.Load.Arrival = string(l.Arrival)
		// The record states the cap the trial ran with, the scenario's
		// when the command line gave none.
		spec.Load.Concurrency = l.Concurrency
	default:
		return fmt.Errorf("load model %q: want closed or open", spec.Load.Model)
	}
	switch {
	case l.Model != scenarios.Open:
		spec.Load.OnCap = "" // the closed model has no arrivals to turn away
	case onCap == "" || onCap == result.OnCapQueue:
		spec.Load.OnCap = result.OnCapQueue
	case onCap == result.OnCapDrop:
		spec.Load.OnCap = onCap
	default:
		return fmt.Errorf("on-cap %q: want %s or %s", onCap, result.OnCapQueue, result.OnCapDrop)
	}
	switch {
	case spec.Duration > 0 && spec.Requests > 0:
		return errors.New("give a duration or a request count, not both")
	case spec.Duration > 0:
		l.Duration, l.Requests = spec.Duration, 0
	case spec.Requests > 0:
		l.Duration, l.Requests = 0, spec.Requests
	default:
		spec.Duration, spec.Requests = l.Duration, l.Requests
	}
	if spec.Warmup < 0 {
		spec.Warmup = l.Warmup
	} else {
		l.Warmup = spec.Warmup
	}
	if spec.SLOTTFT > 0 {
		sc.SLO.TTFT = spec.SLOTTFT
	}
	if spec.SLOE2E > 0 {
		sc.SLO.E2E = spec.SLOE2E
	}
	return sc.Validate()
}

// sloOf returns the record of sc's SLO, nil when it has none.
func sloOf(sc *scenarios.Scenario) *result.SLO {
	return result.NewSLO(sc.SLO.TTFT, sc.SLO.E2E, sc.TimeScale)
}

func (t *trial) run(parent context.Context) (*result.Trial, error) {
	spec := t.spec
	// Note: workers share counter slots past maxSlots (each slot is three
	// cache lines): the trial sums them at the window's edges and while it
	// drains, and at a million streams a slot each was 200 MB to walk.
	slots := min(t.sc.Load.Concurrency, maxSlots)
	if t.sc.Load.Model == scenarios.Open {
		slots = 256 // counter and latency shards, not goroutines
	}
	t.slots = make([]counterSlot, slots)
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	t.ctx = ctx

	t.calibration = cpuCalibration()
	if spec.MemLimit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(spec.MemLimit))
	}
	settle()
	goroutinesBefore := runtime.NumGoroutine()
	t.pipe = t.newPipe(t.led)
	if spec.SteadyState {
		t.steady = t.startSteady()
	}
	w := newWindow(t, int64(spec.Warmup), spec.Duration)
	ids := newIDs(t, w.start)
	w.onClose = func() { ids.stop.Store(true) }
	t.win = w
	start := t.dispatch(ctx, w, ids)
	t.base = time.Now()

	// A stop (parent done) ends the trial early from a goroutine of its
	// own, so that it acts even while the timeline goroutine waits for a
	// CPU behind every stream (see window): no request starts after it, the
	// window closes at once and the drain is cut short (see await).
	// The timeline and the drain's end call it too, in case they see
	// parent done before that goroutine has run.
	st := &stopState{stopped: make(chan struct{})}
	stopNow := func() { t.stop(st, parent, w) }
	stopAfter := context.AfterFunc(parent, stopNow)
	defer stopAfter()

	// The sampler runs for the whole trial; the series keeps the measured
	// window and after (drain and grace), where a leak shows.
	sampler := startSampler(t, spec.SampleEvery)
	done := start()
	warnings := t.timeline(parent, w, ids, done, stopNow)
	more, err := t.drain(done, w, st.stopped)
	if err != nil {
		sampler.stop()
		return nil, err
	}
	drained := time.Duration(t.now() - w.end.Load())
	if parent.Err() != nil {
		stopNow()
	}
	st.mu.Lock()
	st.over = true // a stop from here on leaves the record whole
	partial := st.reason
	st.mu.Unlock()
	warnings = append(warnings, more...)
	// Note: a trial that ran out of memory closed its window early, at
	// the crossing; its timeline did not overrun.
	if o := w.overrun(); o != "" && !t.oom.Load() {
		warnings = append(warnings, o)
	}
	tl := w.timeline(drained)
	warnings = append(warnings, tl.warnings...)
	if partial != "" {
		warnings = append(warnings, "partial record ("+partial+"): its numbers cover the trial until then")
	}
	if n := int64(t.sc.Load.Concurrency); t.sc.Load.Model == scenarios.Closed && w.workers < n {
		warnings = append(warnings, fmt.Sprintf("load not reached: %d of %d streams had started when the measured window opened (starting them outlasted the warm-up); lengthen the warm-up", w.workers, n))
	}
	leaked := t.leaks(goroutinesBefore, sampler)
	rec := t.record(w.measurement(sampler, leaked, warnings))
	rec.Partial, rec.PartialReason = partial != "", partial
	rec.WindowOpenLateS, rec.WindowCloseLateS, rec.DrainS = tl.openLate.Seconds(), tl.closeLate.Seconds(), tl.drain.Seconds()
	rec.Overrun = tl.overrun
	return rec, nil
}

// stopDrain is how long a stopped trial waits for its streams to end,
// at each step of the drain, before it stops their providers and clients.
//
// Note: a trial is stopped because it has already run too long, at a load
// where streams may take minutes to end: the drain is cut to this, not
// skipped, so that streams about to end end whole and the accounting of
// the rest is kept.
const stopDrain = time.Second

// stopState is what a trial knows of a stop: its reason and phase, set
// once, and stopped, closed when it came.
type stopState struct {
	mu      sync.Mutex
	over    bool   // the drain has ended: a stop no longer cuts anything
	reason  string // why and in which phase the trial stopped; "" if it did not
	stopped chan struct{}
}

// stop ends the trial early because parent is done, once: no request starts
// after it, and the measured window closes now (closing it stops the
// requests; see run). It records why (parent's cause: an interruption, or
// the parent process's request; see StopRequest) and in which phase the
// stop came.
func (t *trial) stop(st *stopState, parent context.Context, w *window) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.over || st.reason != "" {
		return
	}
	phase := "in the drain"
	switch {
	case !w.opened.Load():
		phase = "before the measured window opened"
	case !w.closed.Load():
		phase = "in the measured window"
	}
	why := "interrupted"
	if cause := context.Cause(parent); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		why = cause.Error()
	}
	st.reason = fmt.Sprintf("%s, %s, %s into the trial", why, phase, time.Duration(t.now()).Round(time.Millisecond))
	w.close()
	close(st.stopped)
}

// window is a trial's measured window: what is read when it opens and
// when it closes. The timeline goroutine opens and closes it on its timers,
// and so does every request that ends past its start or its due end (see
// tick), whichever comes first: open and close run once each, under mu. in
// may be called from any goroutine.
//
// Note: with tens of thousands of runnable streams, a goroutine woken by a
// timer waits behind all of them for a CPU: a 3 s window once lasted 290 s
// at 100,000 streams, its timeline goroutine starved. A request that ends
// reads the clock anyway, so the streams themselves keep the timeline.
type window struct {
	t        *trial
	start    int64        // ns since the trial's base: the warm-up's length
	due      int64        // when a duration trial's window is due to close, ns since base; 0: no duration
	end      atomic.Int64 // set when the window closes
	openedAt int64        // when the window opened, ns since base (under mu)
	workers  int64        // the closed model's workers started when the window opened
	opened   atomic.Bool
	closed   atomic.Bool
	mu       sync.Mutex
	// halt is closed when the window closes, after onClose (if set) ran.
	halt    chan struct{}
	onClose func()

	startSnap, endSnap snapshot
	// startSat and endSat are the ledger pool's saturated time (see
	// accounting.Pool.Saturated) as the window opened and closed.
	startSat, endSat        time.Duration
	startChunks, startBytes int64
	endChunks, endBytes     int64
	startStreams            int64
	endStreams              int64
}

func newWindow(t *trial, start int64, d time.Duration) *window {
	w := &window{t: t, start: start, halt: make(chan struct{})}
	if d > 0 {
		w.due = start + int64(d)
	}
	return w
}

// open opens the window once; later calls do nothing.
func (w *window) open() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.openLocked()
}

func (w *window) openLocked() {
	if w.opened.Load() {
		return
	}
	w.startSnap = takeSnapshot()
	w.startChunks, w.startBytes = w.t.counters()
	w.startStreams = w.t.sum(cStreams)
	w.startSat = w.t.saturated()
	w.openedAt = w.t.now()
	w.workers = w.t.workers.Load()
	w.opened.Store(true)
}

// close closes the window once, opening it first if it never opened;
// later calls do nothing.
func (w *window) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return
	}
	w.openLocked()
	w.endSnap = takeSnapshot()
	w.endChunks, w.endBytes = w.t.counters()
	w.endStreams = w.t.sum(cStreams)
	w.endSat = w.t.saturated()
	w.end.Store(w.t.now())
	w.closed.Store(true)
	if w.onClose != nil {
		w.onClose()
	}
	close(w.halt)
}

// tick opens or closes the window if now (ns since base) is past its start
// or its due end, and reports whether the window is closed. Every stream
// calls it where it reads the clock anyway: as it starts, as it ends, and
// as its provider paces a chunk (at 1,000,000 streams a stream can outlast
// the window, so ends alone come too rarely). It costs two plain loads while
// nothing is due; a nil window never opens.
func (w *window) tick(now int64) (closed bool) {
	if w == nil {
		return false
	}
	if !w.opened.Load() && now >= w.start {
		w.open()
	}
	if w.due > 0 && now >= w.due && !w.closed.Load() {
		w.close()
	}
	return w.closed.Load()
}

// overrun says how far the window strayed from its timeline: opened or
// closed more than a tenth of its length late. It is empty for a window
// that kept it, or that had no duration.
func (w *window) overrun() string {
	if w.due == 0 {
		return ""
	}
	length := w.due - w.start
	late := max(w.openedAt-w.start, w.end.Load()-w.due)
	if late*10 <= length {
		return ""
	}
	return fmt.Sprintf("window overran: the %s measured window opened %s and closed %s after they were due, over 10%% of its length: the harness could not keep its timeline at this load (rates are over the window as it ran, duration_s)",
		time.Duration(length), time.Duration(max(w.openedAt-w.start, 0)).Round(time.Millisecond), time.Duration(max(w.end.Load()-w.due, 0)).Round(time.Millisecond))
}

// saturated is the ledger pool's saturated time so far, 0 without a pool.
func (t *trial) saturated() time.Duration {
	if t.led == nil || t.led.Pool == nil {
		return 0
	}
	return t.led.Pool.Saturated()
}

// timelineReport is how far a trial strayed from its timeline (see
// result.Trial.Overrun).
type timelineReport struct {
	openLate, closeLate, drain time.Duration
	overrun                    []string // the phases that ran over
	warnings                   []string // those the window's overrun does not tell
}

// timeline says how late the window opened and closed, how long the drain
// took (drained: from the window's end to the drain's), and which phases
// ran over what the spec asked by more than result.OverrunShare.
func (w *window) timeline(drained time.Duration) timelineReport {
	spec := w.t.spec
	r := timelineReport{openLate: time.Duration(max(w.openedAt-w.start, 0)), drain: drained}
	if w.due > 0 {
		r.closeLate = time.Duration(max(w.end.Load()-w.due, 0))
	}
	if result.Overruns(r.openLate.Seconds(), spec.Warmup.Seconds()) {
		r.overrun = append(r.overrun, result.PhaseWarmup)
		if w.overrun() == "" {
			r.warnings = append(r.warnings, fmt.Sprintf("warm-up overran: the measured window opened %s after the %s warm-up was due to end, over 10%% of it: the load was not in place when it was due (window_open_late_s)",
				r.openLate.Round(time.Millisecond), spec.Warmup))
		}
	}
	if w.due > 0 && result.Overruns(r.closeLate.Seconds(), time.Duration(w.due-w.start).Seconds()) {
		r.overrun = append(r.overrun, result.PhaseWindow)
	}
	if over := drained - spec.Drain; result.Overruns(over.Seconds(), spec.Drain.Seconds()) {
		r.overrun = append(r.overrun, result.PhaseDrain)
		r.warnings = append(r.warnings, fmt.Sprintf("drain overran: the streams in flight when the window closed, and their providers, took %s to end, over the %s drain bound by more than 10%% (drain_s)",
			drained.Round(time.Millisecond), spec.Drain))
	}
	return r
}

// in reports whether the window is open now.
func (w *window) in() bool { return w.opened.Load() && !w.closed.Load() }

// measurement is what a trial measured, for record.
type measurement struct {
	start, end             snapshot
	chunks, bytes, streams int64
	window                 time.Duration
	saturated              time.Duration // the ledger pool's, over the window
	sampler                *sampler
	leaked                 int64
	warnings               []string
}

func (w *window) measurement(sm *sampler, leaked int64, warnings []string) measurement {
	return measurement{
		start: w.startSnap, end: w.endSnap,
		chunks: w.endChunks - w.startChunks, bytes: w.endBytes - w.startBytes, streams: w.endStreams - w.startStreams,
		window:    time.Duration(w.end.Load() - w.openedAt),
		saturated: w.endSat - w.startSat,
		sampler:   sm, leaked: leaked, warnings: warnings,
	}
}

// ids hands out request IDs: the warm-up's carry warmBit and are numbered
// apart, so that measured requests are 0, 1, 2... in every variant's trial.
//
// Note: next and done are added to by every stream, from every core; the
// fields every stream only reads are kept off their cache lines, so that
// reading them does not wait for a line another core just wrote.
type ids struct {
	t           *trial
	windowStart int64
	requests    int64 // a request-count trial's total, else 0
	stop        atomic.Bool
	// warmOver is set once the warm-up has ended, so that take stops
	// reading the clock.
	warmOver atomic.Bool
	_        [64]byte
	next     atomic.Uint64
	_        [56]byte
	warm     atomic.Uint64
	done     atomic.Int64
	// allDone is closed when a request-count trial's last measured request
	// has ended.
	allDone chan struct{}
}

func newIDs(t *trial, windowStart int64) *ids {
	return &ids{t: t, windowStart: windowStart, requests: t.spec.Requests, allDone: make(chan struct{})}
}

// take hands out the next request ID, or ok false when no more requests
// should start.
func (d *ids) take() (id uint64, measured, ok bool) {
	if d.stop.Load() {
		return 0, false, false
	}
	if !d.warmOver.Load() {
		if d.t.now() < d.windowStart {
			return warmBit | d.warm.Add(1) - 1, false, true
		}
		d.warmOver.Store(true)
	}
	id = d.next.Add(1) - 1
	if d.requests > 0 && int64(id) >= d.requests {
		d.stop.Store(true)
		return 0, false, false
	}
	return id, true, true
}

// ended notes that a measured request ended.
func (d *ids) ended() {
	if d.requests > 0 && d.done.Add(1) == d.requests {
		close(d.allDone)
	}
}

// dispatch readies the load model's requests and returns start, which
// starts them and returns a channel closed when every request it started
// has returned. The trial's clock must be set before start runs.
//
// Note: the closed model's workers are started here, before the clock, and
// wait for start: a goroutine per stream takes about 1.5 µs to start, and
// at 1,000,000 streams a loop starting them among running streams was
// starved of CPU by them (13,000 of 1,000,000 had started when the window
// opened). Waiting on a WaitGroup costs no more than starting; waiting on
// a channel, ten times more. Until every worker has started, a worker
// yields after each request: one whose requests never block (the
// pass-through's) would otherwise keep its processor for a whole time
// slice, and at 100,000 streams fewer than 1,000 had started after a 2 s
// warm-up.
func (t *trial) dispatch(ctx context.Context, w *window, d *ids) (start func() <-chan struct{}) {
	var wg, gate sync.WaitGroup
	gate.Add(1)
	// runOne runs request id on a stream readied from spare (nil for a
	// new one) and returns the stream if the next request may reuse it.
	runOne := func(spare *stream, id uint64, measured bool, slot int, intended int64) *stream {
		s := t.newStream(spare, id, measured, slot, intended)
		w.tick(t.relay(s, w.in))
		if measured {
			d.ended()
		}
		if s.reusable() {
			return s
		}
		return nil
	}
	switch t.sc.Load.Model {
	case scenarios.Closed:
		n := t.sc.Load.Concurrency
		for worker := range n {
			slot := worker % len(t.slots)
			wg.Go(func() {
				gate.Wait()
				t.workers.Add(1)
				var spare *stream
				all := false // every worker has started
				for {
					id, measured, ok := d.take()
					if !ok {
						return
					}
					spare = runOne(spare, id, measured, slot, -1) // starts when intended
					if !all {
						if all = t.workers.Load() == int64(n); !all {
							runtime.Gosched()
						}
					}
				}
			})
		}
	case scenarios.Open:
		wg.Add(1)
		go func() {
			defer wg.Done()
			gate.Wait()
			t.dispatchOpen(ctx, &wg, w.halt, &w.end, w.start, runOne)
		}()
	}
	return func() <-chan struct{} {
		gate.Done()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		return done
	}
}

// timeline runs the trial's warm-up and measured window, then stops
// starting requests and closes the window. It returns the warnings of an
// interruption or a timeout.
//
// A stop (parent done) closes the window from its own goroutine (see
// trial.stop), or from this one through stop, whichever sees it first.
func (t *trial) timeline(parent context.Context, w *window, d *ids, done <-chan struct{}, stop func()) []string {
	spec := t.spec
	var warnings []string
	if spec.Warmup > 0 {
		select {
		case <-time.After(spec.Warmup):
		case <-w.halt:
		case <-parent.Done():
			stop()
		}
	}
	w.open()
	var windowTimer, timeout <-chan time.Time
	if spec.Duration > 0 {
		windowTimer = time.After(time.Duration(w.due - t.now()))
	} else {
		timeout = time.After(spec.Timeout)
	}
	select {
	case <-windowTimer:
	case <-w.halt: // a request ending past the due end closed it
	case <-d.allDone:
	case <-done:
	case <-timeout:
		warnings = append(warnings, fmt.Sprintf("trial timed out: the requests had not finished %s after the window opened", spec.Timeout))
	case <-parent.Done():
		stop()
	}
	d.stop.Store(true)
	w.close()
	return warnings
}

// drain waits for the streams started to end, and for providers a design
// left producing, each within the drain bound, stopping them past it; once
// stopped closes, each wait is cut to stopDrain. It fails the trial only
// when streams never return although their providers and clients were
// stopped.
func (t *trial) drain(done <-chan struct{}, w *window, stopped <-chan struct{}) (warnings []string, err error) {
	spec := t.spec
	var hung bool
	if !await(done, stopped, spec.Drain) {
		hung = !isClosed(stopped) // a stopped trial says so in its own words
		t.stopProviders()
		if !await(done, nil, spec.Drain) {
			return nil, fmt.Errorf("trial %s hung: %d streams never returned %s after the trial ended, although their providers and clients were stopped", spec, t.sum(cOpen), spec.Drain)
		}
	}
	w.close()

	// Providers a design left producing (the legacy's, after a
	// disconnect) run to the end of their response; give them the drain
	// bound, then stop them.
	closed := func() bool { return t.sum(cOpen) == 0 }
	if !waitUntil(closed, stopped, spec.Drain) {
		t.stopProviders()
		if !waitUntil(closed, nil, time.Second) {
			t.violate("%d providers never closed by the pipeline (Source.Close not called)", t.sum(cOpen))
		} else {
			warnings = append(warnings, fmt.Sprintf("providers still producing %s after the relays ended were stopped", spec.Drain))
		}
	}
	if hung {
		warnings = append(warnings, "streams outlived the trial and the drain bound; providers were stopped")
	}
	return warnings, nil
}

// isClosed reports whether c is closed (a nil c never is).
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// await waits for done up to d, or up to stopDrain after stopped closes
// when that comes first, and reports whether done closed.
func await(done, stopped <-chan struct{}, d time.Duration) bool {
	deadline := time.Now().Add(d)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return true
		case <-timer.C:
			return false
		case <-stopped:
			stopped = nil
			if time.Until(deadline) > stopDrain {
				timer.Reset(stopDrain)
			}
		}
	}
}

// leaks counts the goroutines still alive a grace period after every
// stream ended, beyond those alive before the trial, and stops the
// sampler.
func (t *trial) leaks(before int, sm *sampler) int64 {
	time.Sleep(t.spec.Grace)
	sm.stop()
	runtime.GC()
	leaked := max(runtime.NumGoroutine()-before, 0)
	if leaked > 0 && os.Getenv("STREAMBENCH_DEBUG_LEAKS") != "" {
		buf := make([]byte, 1<<20)
		os.Stderr.Write(buf[:runtime.Stack(buf, true)])
	}
	return int64(leaked)
}

// ledgerTotals are the ledger's totals without a steady-state start's
// finalizers, which settle requests of before the trial (to an account of
// their own). A record or charge to any other account, a wrong one
// included, stays in: the checks must see it.
func (t *trial) ledgerTotals() accounting.Totals {
	if t.steady == nil {
		return t.led.Totals()
	}
	// Note: summed over the accounts, not the totals less the steady
	// account's: those finalizers settle while the trial reads, and two
	// reads of counters that move apart would disagree by a record.
	var lt accounting.Totals
	for name, a := range t.led.Accounts() {
		if name != steadyAccount {
			lt.Records += a.Records
			lt.Duplicated += a.Duplicated
			lt.RecordTokens += a.RecordTokens
			lt.Charged += a.Charged
			lt.Charges += a.Charges
		}
	}
	return lt
}

// outOfMemory ends a trial whose memory crossed its limit, holding p: the
// window closes (and with it the starting of requests) and the providers
// and clients are stopped, so the trial drains and reports what it
// measured up to then. Later calls do nothing.
func (t *trial) outOfMemory(p seriesPoint) {
	if !t.oom.CompareAndSwap(false, true) {
		return
	}
	t.oomAt, t.oomHeld, t.oomHeap = t.now(), p.held, p.heap
	if t.win != nil {
		t.win.close()
	}
	t.stopProviders()
}

// stopProviders makes every provider and client of the trial give up: the
// harness's own kill switch, used when a design does not end its streams.
func (t *trial) stopProviders() {
	if t.killed.CompareAndSwap(false, true) {
		close(t.kill)
	}
}

// waitUntil polls cond until it holds, for up to d, or up to stopDrain
// after stopped closes when that comes first, and reports whether it
// held.
func waitUntil(cond func() bool, stopped <-chan struct{}, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-stopped:
			stopped = nil
			if cut := time.Now().Add(stopDrain); cut.Before(deadline) {
				deadline = cut
			}
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// counters sums the per-slot delivered chunks and bytes.
func (t *trial) counters() (chunks, bytes int64) {
	for i := range t.slots {
		chunks += t.slots[i].chunks.Load()
		bytes += t.slots[i].bytes.Load()
	}
	return
}

// sum adds up count k over every slot.
func (t *trial) sum(k int) int64 {
	var n int64
	for i := range t.slots {
		n += t.slots[i].c[k].Load()
	}
	return n
}

// dispatchOpen starts the open model's requests at their intended times,
// from one goroutine. At most the load's Concurrency requests
// (maxOpenInFlight when it is 0) are in flight; an arrival that finds every
// slot taken waits, in arrival order, for a request to end, or is dropped
// (counted in requests_dropped), as the spec's OnCap says. Latency is also
// measured from the intended start, so a wait for a slot or a late
// dispatch is charged to the design, not hidden (no coordinated omission).
//
// Note: the arrivals waiting for a slot are not held anywhere: they are the
// next ones of the schedule, which this loop walks in order, so a queue
// costs no memory and no goroutine however far behind the design falls.
// When the window closes, each arrival already due starts if a slot is free
// at that moment and is counted in requests_dropped otherwise: a measured
// arrival is started or dropped, never lost. The queue is not drained after
// the window: under overload it grows without bound, and draining it would
// stretch the trial as far; its arrivals, those that waited longest, are
// counted as misses instead.
func (t *trial) dispatchOpen(ctx context.Context, wg *sync.WaitGroup, halt <-chan struct{}, windowEnd *atomic.Int64, windowStart int64, runOne func(*stream, uint64, bool, int, int64) *stream) {
	load := t.sc.Load
	limit := load.Concurrency
	if limit <= 0 {
		limit = maxOpenInFlight
	}
	slots := make(chan struct{}, limit) // a send takes a slot
	lateBy := t.lateBy()
	drop := t.spec.Load.OnCap == result.OnCapDrop
	arr := newArrivals(t.sc, t.spec, windowStart)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := func(a arrival) {
		if a.measured && time.Duration(t.now()-a.intended) > lateBy {
			t.late.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			runOne(nil, a.id, a.measured, int(a.id%uint64(len(t.slots))), a.intended)
		}()
	}
	closed := false
	// queuedUntil is when the last wait for a slot ended: an arrival due
	// before it was queued behind that wait, not reached late by the
	// harness.
	queuedUntil := int64(-1)
	for {
		a, ok := arr.next()
		if !ok {
			// Note: the dispatcher lives until the window closes, so that
			// the end of the schedule never ends a duration trial's
			// window early.
			select {
			case <-halt:
			case <-ctx.Done():
			}
			return
		}
		if !closed {
			if wait := time.Duration(a.intended - t.now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-halt:
					closed = true
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-halt:
				closed = true
			default:
			}
		}
		if closed {
			if a.intended >= windowEnd.Load() {
				return // due after the window closed: it never arrived
			}
			if !a.measured {
				continue // a warm-up arrival is not worth starting now
			}
		}
		queued := a.intended < queuedUntil
		if a.measured {
			t.arrived.Add(1)
			switch {
			case queued:
				t.waited.Add(1)
			case !closed && time.Duration(t.now()-a.intended) > lateBy:
				t.behind.Add(1)
			}
		}
		select {
		case slots <- struct{}{}:
			start(a)
			continue
		default:
		}
		if closed || drop {
			if a.measured {
				t.notStarted.Add(1)
			}
			continue
		}
		if a.measured && !queued {
			t.waited.Add(1)
		}
		select {
		case slots <- struct{}{}:
			queuedUntil = t.now()
			start(a)
		case <-halt:
			closed = true
			if a.measured {
				t.notStarted.Add(1) // still waiting when the window closed
			}
		case <-ctx.Done():
			return
		}
	}
}

// lateBy is how far past its intended start an open-model request may
// start before it counts as late: a tenth of the mean arrival gap, at least
// 1 ms.
func (t *trial) lateBy() time.Duration {
	d := time.Millisecond
	if gap := time.Duration(float64(time.Second) / t.sc.Load.Rate); gap/10 > d {
		d = gap / 10
	}
	return d
}

// arrival is one open-model request: its ID, whether it is measured, and
// its intended start in ns since the trial's base.
type arrival struct {
	id       uint64
	measured bool
	intended int64
}

// arrivals walks the open model's schedule in order of intended start: the
// warm-up's arrivals (IDs warmBit|0, 1, ...), then the measured window's
// (IDs 0, 1, ...), up to the spec's request count or the end of its
// duration, so that every variant's trial sees the same arrivals.
type arrivals struct {
	warm, meas   *scenarios.Arrivals
	windowStart  int64
	end          int64  // measured arrivals due at or after end do not come; 0: no end
	limit        uint64 // the most measured arrivals; 0: no limit
	nWarm, nMeas uint64
	warmDone     bool
}

func newArrivals(sc *scenarios.Scenario, spec TrialSpec, windowStart int64) *arrivals {
	a := &arrivals{
		warm:        sc.Load.Arrivals(sc.Seed ^ warmBit),
		meas:        sc.Load.Arrivals(sc.Seed),
		windowStart: windowStart,
		warmDone:    windowStart <= 0,
	}
	if spec.Duration > 0 {
		a.end = windowStart + int64(spec.Duration)
	}
	if spec.Requests > 0 {
		a.limit = uint64(spec.Requests)
	}
	return a
}

// next returns the next arrival, or false when the schedule has ended.
func (a *arrivals) next() (arrival, bool) {
	if !a.warmDone {
		if off := int64(a.warm.Next()); off < a.windowStart {
			id := warmBit | a.nWarm
			a.nWarm++
			return arrival{id: id, intended: off}, true
		}
		a.warmDone = true
	}
	if a.limit > 0 && a.nMeas >= a.limit {
		return arrival{}, false
	}
	at := a.windowStart + int64(a.meas.Next())
	if a.end > 0 && at >= a.end {
		return arrival{}, false
	}
	id := a.nMeas
	a.nMeas++
	return arrival{id: id, measured: true, intended: at}, true
}

// newStream readies the stream of request id: spare, when the caller holds
// a stream whose request is over (see stream.reusable), else a new one.
//
// Note: a stream is some 700 bytes and a channel; allocating them, and
// the garbage collection that follows, was a fifth of the harness's cost
// per chunk on short responses. A reused stream keeps its timers, its
// provider-side batch and its client's channel, which was never closed.
func (t *trial) newStream(spare *stream, id uint64, measured bool, slot int, intended int64) *stream {
	now := t.now()
	t.win.tick(now)
	s := spare
	var gone chan struct{}
	var ptimer, ctimer *time.Timer
	var pbatch *batch
	var usages []impls.Usage
	if s != nil {
		gone, ptimer, ctimer, pbatch, usages = s.gone, s.ptimer, s.ctimer, s.pbatch, s.usages
		*s = stream{}
	} else {
		s = new(stream)
		gone = make(chan struct{})
	}
	s.tr = t
	s.id = id
	s.plan = t.sc.Request(id)
	s.shard = slot
	s.slot = &t.slots[slot]
	s.measured = measured
	s.phase = samplePhase(id)
	s.start = now
	s.intended = intended
	s.lastSeq = -1
	s.due = now
	s.gone, s.ptimer, s.ctimer, s.pbatch, s.usages = gone, ptimer, ctimer, pbatch, usages
	s.hashing = t.digests != nil && id&warmBit == 0
	// Note: a closed-model request passes a negative intended start: it
	// starts when intended. An open-model arrival due at 0 is a real
	// intended start, not a missing one.
	if s.intended < 0 || s.intended > s.start {
		s.intended = s.start
	}
	return s
}

// relay runs one request through the pipeline, records its client-side
// latencies and returns when it ended, ns since the trial's base.
func (t *trial) relay(s *stream, inWindow func() bool) (end int64) {
	c := &s.slot.c
	c[cOpen].Add(1)
	c[cStarted].Add(1)
	if s.plan.DisconnectAfterChunks == 0 {
		s.markGone() // a client that leaves before the first chunk
	}
	if s.plan.DisconnectAfter > 0 {
		s.goneTimer = time.AfterFunc(s.plan.DisconnectAfter, s.markGone)
	}
	req := impls.Request{ID: s.id, Account: trialAccount, Limits: t.limits}
	out := t.pipe.Relay(t.ctx, req, s, s.client())
	if s.goneTimer != nil && !s.goneTimer.Stop() {
		s.goneFired = true // markGone may still be running
	}
	s.outcome = out
	s.publish()
	end = t.now()
	if s.measured {
		if out.Err == nil {
			s.batch.add(t.lat, s.shard, latE2E, end-s.start)
			if t.openModel {
				s.batch.add(t.lat, s.shard, latE2EIntended, end-s.intended)
			}
		}
		if inWindow() {
			c[cStreams].Add(1)
		}
		if !t.slo.IsZero() {
			ttft := int64(-1)
			if s.firstAt > 0 {
				ttft = s.firstAt - s.intended
			}
			if t.slo.Met(out.Err == nil, ttft, end-s.intended) {
				c[cMetSLO].Add(1)
			}
		}
	}
	s.batch.flush(t.lat, s.shard)
	if s.measured {
		switch {
		case out.Err == nil:
			c[cCompleted].Add(1)
		case errors.Is(out.Err, impls.ErrCancelled):
			c[cDisconnected].Add(1)
		default:
			c[cFailed].Add(1)
		}
	}
	if t.joins && s.closes.Load() == 0 {
		t.violate("request %d: %s returned before closing its provider, though it cancels", s.id, t.v.Name)
	}
	s.finishEvent()
	return end
}

// account checks one stream's bookkeeping and adds it to the trial's.
func (t *trial) account(s *stream) {
	out := s.outcome
	produced, delivered := s.produced, s.delivered
	if delivered != out.Delivered {
		t.violate("request %d: the client received %d chunks but the pipeline reports %d delivered", s.id, delivered, out.Delivered)
	}
	if s.nextClosed.Load() {
		t.violate("request %d: Source.Next called after Close", s.id)
	}
	if s.orderErr != "" {
		t.violate("%s", s.orderErr)
	}
	sum := out.Delivered + out.Dropped + out.Rejected + out.Discarded
	leftover := int64(0)
	switch {
	case t.joins && produced != sum:
		t.violate("request %d: produced %d chunks != delivered %d + dropped %d + rejected %d + discarded %d",
			s.id, produced, out.Delivered, out.Dropped, out.Rejected, out.Discarded)
	case produced < sum:
		t.violate("request %d: the pipeline accounts for %d chunks but the provider produced only %d", s.id, sum, produced)
	default:
		// Chunks the design took from the provider after Relay returned,
		// or left in a buffer it abandoned (the legacy design).
		leftover = produced - sum
	}
	if out.Err == nil && out.Dropped+out.Rejected == 0 && delivered != int64(s.plan.Chunks) {
		t.violate("request %d: stream ended without error after %d of %d chunks", s.id, delivered, s.plan.Chunks)
	}
	// The tokens the provider generated and no client received: the
	// client's count and the provider's are kept apart, so each check
	// below can fail.
	wasted := s.generated - s.tokens
	switch {
	case wasted < 0:
		t.violate("request %d: the client received %d tokens but the provider generated only %d", s.id, s.tokens, s.generated)
	case wasted < s.genAfterGone:
		t.violate("request %d: %d tokens wasted, fewer than the %d the provider generated after the client had gone", s.id, wasted, s.genAfterGone)
	case wasted != 0 && produced == delivered:
		t.violate("request %d: every chunk delivered, yet the provider generated %d tokens and the client received %d", s.id, s.generated, s.tokens)
	}
	// Note: a count that is zero is not added: a locked add costs more
	// than the test, and most of a stream's counts are zero.
	c := &s.slot.c
	add := func(k int, v int64) {
		if v != 0 {
			c[k].Add(v)
		}
	}
	add(cProduced, produced)
	add(cDelivered, delivered)
	add(cDropped, out.Dropped)
	add(cRejected, out.Rejected)
	add(cDiscarded, out.Discarded+leftover)
	add(cAfterGone, s.afterGone.Load())
	add(cDelays, out.Delays)
	add(cDelayed, int64(out.Delayed))
	add(cDelayLate, int64(out.DelayLate))
	add(cTokens, s.tokens)
	add(cTokensGenerated, s.generated)
	add(cTokensWasted, wasted)
	for {
		p := t.queuePeak.Load()
		if out.QueuePeak <= p || t.queuePeak.CompareAndSwap(p, out.QueuePeak) {
			break
		}
	}
	if s.hashing && s.id < uint64(len(t.digests)) {
		t.digests[s.id] = s.digest()
	}
	c[cOpen].Add(-1)
}

// record assembles the trial's result record and runs the trial-wide checks.
func (t *trial) record(m measurement) *result.Trial {
	spec := t.spec
	start, end, chunks, bytes, streams := m.start, m.end, m.chunks, m.bytes, m.streams
	sm, leaked, warnings := m.sampler, m.leaked, m.warnings
	secs := m.window.Seconds()
	per := func(v float64) float64 {
		if chunks == 0 {
			return 0
		}
		return v / float64(chunks)
	}
	rec := &result.Trial{
		Mode:        result.ModeInProcess,
		Variant:     t.v.Name,
		VariantSpec: t.v.Spec(),
		Scenario:    t.sc.Name,
		Load:        spec.Load,
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		Cores:       runtime.NumCPU(),
		Trial:       spec.Trial,
		Seed:        t.sc.Seed,
		Order:       spec.Order,
		DurationS:   secs,
		WarmupS:     spec.Warmup.Seconds(),

		RequestsStarted:     t.sum(cStarted),
		RequestsLate:        t.late.Load(),
		RequestsDropped:     t.notStarted.Load(),
		StreamsCompleted:    t.sum(cCompleted),
		StreamsDisconnected: t.sum(cDisconnected),
		StreamsFailed:       t.sum(cFailed),

		HeapPeakBytes:       sm.peak,
		HeapSeries:          sm.series,
		AllocBytesPerChunk:  per(float64(end.uint(mAllocBytes) - start.uint(mAllocBytes))),
		AllocsPerChunk:      per(float64(end.uint(mAllocObjects) - start.uint(mAllocObjects))),
		GCCycles:            int64(end.uint(mGCCycles) - start.uint(mGCCycles)),
		GoroutinesPeak:      sm.peakG,
		GoroutinesLeaked:    leaked,
		MutexWaitNSPerChunk: per((end.float(mMutexWait) - start.float(mMutexWait)) * 1e9),
		CPUNSPerChunk:       per(float64(end.cpu - start.cpu)),
		QueuePeak:           t.queuePeak.Load(),
		BackpressureDelays:  t.sum(cDelays),
		BackpressureDelayNS: t.sum(cDelayed),
		BackpressureLateNS:  t.sum(cDelayLate),
		CalibrationNS:       int64(t.calibration),
		Warnings:            warnings,
	}
	if secs > 0 {
		rec.ChunksPerS = float64(chunks) / secs
		rec.BytesPerS = float64(bytes) / secs
		rec.StreamsPerS = float64(streams) / secs
	}
	if !start.cpuOK || !end.cpuOK {
		rec.CPUNSPerChunk = 0
		rec.Warnings = append(rec.Warnings, "this platform does not tell a process's CPU time: cpu_ns_per_chunk is absent (0)")
	}
	if w := result.DelayWarning(rec.BackpressureDelays, rec.BackpressureDelayNS, rec.BackpressureLateNS); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	if rec.GOMAXPROCS > rec.Cores {
		rec.Warnings = append(rec.Warnings, "GOMAXPROCS exceeds the machine's cores: the extra Ps share the cores, so this trial shows no more parallelism than the cores allow")
	}
	rec.MemLimitBytes = spec.MemLimit
	rec.SteadyState, rec.DesignTimeScale = spec.SteadyState, spec.DesignTimeScale
	if t.steady != nil {
		rec.SteadyStateLingering = int64(t.steady.population)
		rec.Warnings = append(rec.Warnings, t.steady.warning())
	}
	if t.oom.Load() {
		rec.OutOfMemory = true
		rec.OOMAtS = time.Duration(t.oomAt - int64(spec.Warmup)).Seconds()
		rec.OOMBytes, rec.OOMHeapBytes = t.oomHeld, t.oomHeap
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("out of memory at %.2f s: the process held %d MiB (heap %d MiB) against the %d MiB limit (-memlimit); the trial stopped there and its rates are over the window up to then",
			rec.OOMAtS, rec.OOMBytes>>20, rec.OOMHeapBytes>>20, spec.MemLimit>>20))
	}
	rec.OtherCPUShare = otherCPUShare(start, end)
	if rec.OtherCPUShare > busyMachine {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("machine busy: other processes used over %.0f%% of the CPU during the measured window (other_cpu_share)", 100*busyMachine))
	}
	if cpu := end.float(mTotalCPU) - start.float(mTotalCPU); cpu > 0 {
		rec.GCCPUFraction = (end.float(mGCCPU) - start.float(mGCCPU)) / cpu
	}
	rec.TTFT = result.Summarize(t.lat.merged(latTTFT))
	rec.ITL = result.Summarize(t.lat.merged(latITL))
	rec.E2E = result.Summarize(t.lat.merged(latE2E))
	rec.TTFTIntended = result.Summarize(t.lat.merged(latTTFTIntended))
	rec.E2EIntended = result.Summarize(t.lat.merged(latE2EIntended))
	rec.Relay = result.Summarize(t.lat.merged(latRelay))
	rec.ITLSampleEvery, rec.RelaySampleEvery = int(t.itlEvery), relaySample
	rec.Cancel = result.Summarize(t.lat.merged(latCancel))
	rec.ProviderLate = result.Summarize(t.lat.merged(latProviderLate))
	rec.UpstreamSlotWait = result.Summarize(t.lat.merged(latSlotWait))
	rec.UpstreamSlotWaits = t.sum(cSlotWaits)
	rec.UpstreamSlotWaitNS = t.sum(cSlotWaitNS)
	if pl := rec.ProviderLate; pl.Count > 0 && pl.P50 > int64(providerLateWarn) {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("provider timers late: the synthetic provider woke over %s after chunks were due at the median (provider_late_ns), as sub-millisecond timers do in a mostly idle process; chunks keep their scripted timeline, but inter-chunk gaps are burstier than scripted, alike for every variant", providerLateWarn))
	}
	rec.Dist = map[string][]result.Quantile{
		"ttft": result.Distribution(t.lat.merged(latTTFT)),
		"itl":  result.Distribution(t.lat.merged(latITL)),
		"e2e":  result.Distribution(t.lat.merged(latE2E)),
	}
	if t.sc.Load.Model == scenarios.Open {
		rec.Dist["e2e_intended"] = result.Distribution(t.lat.merged(latE2EIntended))
	}

	a := &rec.Accounting
	a.ChunksProduced = t.sum(cProduced)
	a.ChunksDelivered = t.sum(cDelivered)
	a.ChunksDropped = t.sum(cDropped)
	a.ChunksRejected = t.sum(cRejected)
	a.ChunksDiscarded = t.sum(cDiscarded)
	a.ChunksAfterDisconnect = t.sum(cAfterGone)
	a.TokensDelivered = t.sum(cTokens)
	a.TokensGenerated = t.sum(cTokensGenerated)
	a.TokensWasted = t.sum(cTokensWasted)
	a.UpstreamSlotsTaken = t.sum(cSlotsTaken)
	a.UpstreamSlotsReleased = t.sum(cSlotsReleased)
	lt := t.ledgerTotals()
	a.TokensBilled = lt.Charged
	a.RecordsPersisted = lt.Records
	a.RecordsDuplicated = lt.Duplicated
	if p := t.led.Pool; p != nil {
		// Note: read after the ledger's totals (see accounting.Check).
		ps := p.Stats()
		a.LedgerPersists, a.LedgerCharges, a.LedgerInFlight = ps.Persists, ps.Charges, ps.InFlight
		rec.Ledger = &result.LedgerPool{
			Conns: ps.Conns, Calls: ps.Persists + ps.Charges, Queued: ps.Queued,
			WaitTotalNS: ps.WaitedNS, Wait: ps.Wait, HoldTotalNS: ps.HeldNS, InUsePeak: ps.InUsePeak,
		}
		if m.window > 0 {
			rec.Ledger.Saturation = min(float64(m.saturated)/float64(m.window), 1)
		}
	}
	if t.traits.Persists {
		a.RecordsExpected = t.sum(cStarted)
		a.RecordsPending = a.RecordsExpected - a.RecordsPersisted
	}
	if t.openModel {
		rec.Warnings = append(rec.Warnings, t.openWarnings(rec)...)
	}
	rec.SetGoodput(sloOf(t.sc), t.sum(cMetSLO))
	t.checkTrial(a)
	t.mu.Lock()
	a.Violations = append(a.Violations, t.violations...)
	if t.violationsMore > 0 {
		a.Violations = append(a.Violations, fmt.Sprintf("... and %d more violations", t.violationsMore))
	}
	t.mu.Unlock()

	if t.digests != nil {
		h := xxhash.New()
		for _, d := range t.digests {
			h.WriteString(d)
			h.WriteString("\n")
		}
		rec.DeliveredDigest = fmt.Sprintf("%016x", h.Sum64())
		rec.RequestDigests = t.digests
	}
	sort.Strings(rec.Warnings)
	return rec
}

// openWarnings says what the open model's in-flight cap and dispatcher did
// to the measured arrivals, and checks that each was started or dropped.
func (t *trial) openWarnings(rec *result.Trial) []string {
	var ws []string
	arrived, dropped := t.arrived.Load(), rec.RequestsDropped
	if ran := rec.StreamsCompleted + rec.StreamsDisconnected + rec.StreamsFailed; ran+dropped != arrived {
		t.violate("arrivals: %d measured requests came due but %d ran and %d were dropped (= %d)", arrived, ran, dropped, ran+dropped)
	}
	capNote := fmt.Sprintf("the in-flight cap of %d", t.sc.Load.Concurrency)
	if t.sc.Load.Concurrency <= 0 {
		capNote = fmt.Sprintf("the harness's in-flight bound of %d", maxOpenInFlight)
	}
	if n := t.waited.Load(); n > 0 {
		ws = append(ws, fmt.Sprintf("%d of %d arrivals waited for a slot under %s: latency from the intended start (ttft_intended_ns, e2e_intended_ns) includes the wait", n, arrived, capNote))
	}
	if dropped > 0 {
		why := "were still waiting for a slot when the window closed"
		if rec.Load.OnCap == result.OnCapDrop {
			why = "found " + capNote + " reached and were dropped (-on-cap drop), or were due when the window closed and found no slot"
		}
		ws = append(ws, fmt.Sprintf("%d of %d arrivals never started: they %s; they count as misses (requests_dropped)", dropped, arrived, why))
	}
	if n := t.behind.Load(); n > 0 {
		ws = append(ws, fmt.Sprintf("load generator behind: the harness reached %d of %d arrivals over %v after their intended start (those that then started count in requests_late)", n, arrived, t.lateBy()))
	}
	return ws
}

// checkTrial runs the trial-wide invariants: the ones both modes share
// (accounting.Check) and the exact chunk identity only this mode can see.
func (t *trial) checkTrial(a *result.Accounting) {
	sum := a.ChunksDelivered + a.ChunksDropped + a.ChunksRejected + a.ChunksDiscarded
	if a.ChunksProduced != sum {
		t.violate("chunks: produced %d != delivered %d + dropped %d + rejected %d + discarded %d (= %d)",
			a.ChunksProduced, a.ChunksDelivered, a.ChunksDropped, a.ChunksRejected, a.ChunksDiscarded, sum)
	}
	for _, v := range accounting.Check(a, accounting.Facts{Traits: t.traits, Name: t.v.Name,
		RecordTokens: t.ledgerTotals().RecordTokens, ExactBilling: true, Pool: t.led.Pool != nil}) {
		t.violate("%s", v)
	}
	// In process every record is a design's, and both designs charge
	// once per record they persist: once every request is settled, the
	// pool saw as many charges as persists. (A detached finalizer may be
	// between its two calls when the record is written.)
	if t.led.Pool != nil && !t.traits.DetachedFinalizer && a.LedgerCharges != a.LedgerPersists {
		t.violate("ledger: %d charge calls for %d persist calls", a.LedgerCharges, a.LedgerPersists)
	}
}

// AccountingError formats a record's violations as one error, or nil.
func AccountingError(rec *result.Trial) error {
	if len(rec.Accounting.Violations) == 0 {
		return nil
	}
	return fmt.Errorf("accounting violated in %s %s: %s", rec.Scenario, rec.Variant, strings.Join(rec.Accounting.Violations, "; "))
}

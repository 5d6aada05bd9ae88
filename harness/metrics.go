package harness

import (
	"crypto/sha256"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/streambench/streambench/internal/procstat"
)

// runtimeMetricNames are the runtime/metrics samples a trial reads at the start
// and end of its measured window.
var runtimeMetricNames = []string{
	"/sync/mutex/wait/total:seconds",
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/allocs:bytes",
	"/gc/heap/allocs:objects",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/memory/classes/heap/objects:bytes",
	"/sched/goroutines:goroutines",
}

const (
	mMutexWait = iota
	mGCCycles
	mAllocBytes
	mAllocObjects
	mGCCPU
	mTotalCPU
	mHeapObjects
	mGoroutines
)

// snapshot is one reading of the process's counters.
type snapshot struct {
	at      time.Time
	samples []metrics.Sample
	cpu     time.Duration // user + system CPU of this process
	machine time.Duration // busy CPU of the whole machine, all processes
	// cpuOK is false where the platform does not tell this process's CPU
	// time (see procstat): CPU per chunk is then absent, not zero.
	cpuOK bool
}

func takeSnapshot() snapshot {
	s := snapshot{samples: make([]metrics.Sample, len(runtimeMetricNames))}
	for i, n := range runtimeMetricNames {
		s.samples[i].Name = n
	}
	metrics.Read(s.samples)
	s.cpu, s.cpuOK = procstat.ProcessCPU()
	s.machine, _ = procstat.MachineBusy()
	s.at = time.Now()
	return s
}

func (s snapshot) float(i int) float64 {
	v := s.samples[i].Value
	switch v.Kind() {
	case metrics.KindFloat64:
		return v.Float64()
	case metrics.KindUint64:
		return float64(v.Uint64())
	}
	return 0
}

func (s snapshot) uint(i int) uint64 {
	v := s.samples[i].Value
	if v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return uint64(s.float(i))
}

// otherCPUShare is the share of the machine's CPU capacity that other
// processes used between a and b.
func otherCPUShare(a, b snapshot) float64 {
	wall := b.at.Sub(a.at)
	if a.machine == 0 || wall <= 0 {
		return 0
	}
	other := (b.machine - a.machine) - (b.cpu - a.cpu)
	share := float64(other) / (float64(wall) * float64(runtime.NumCPU()))
	return max(share, 0)
}

// seriesReader reads the values of the time series cheaply, reusing its
// samples.
type seriesReader struct {
	samples [6]metrics.Sample
}

func newSeriesReader() *seriesReader {
	r := &seriesReader{}
	for i, n := range []string{
		"/memory/classes/heap/objects:bytes",
		"/sched/goroutines:goroutines",
		"/memory/classes/total:bytes",
		"/memory/classes/heap/released:bytes",
		"/cpu/classes/gc/total:cpu-seconds",
		"/cpu/classes/total:cpu-seconds",
	} {
		r.samples[i].Name = n
	}
	return r
}

// seriesPoint is one reading of a seriesReader.
type seriesPoint struct {
	heap       uint64 // heap objects
	goroutines int64
	// held is the memory the Go runtime holds from the system (all its
	// classes but the heap it released): what a memory limit bounds.
	held         uint64
	gcCPU, total float64 // cumulative CPU seconds, GC and all
}

func (r *seriesReader) read() seriesPoint {
	metrics.Read(r.samples[:])
	v := func(i int) uint64 {
		if r.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0 // not on this Go version: the series shows zero
		}
		return r.samples[i].Value.Uint64()
	}
	f := func(i int) float64 {
		if r.samples[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return r.samples[i].Value.Float64()
	}
	total, released := v(2), v(3)
	return seriesPoint{heap: v(0), goroutines: int64(v(1)), held: total - min(released, total), gcCPU: f(4), total: f(5)}
}

// calibrationBlock is the input of the machine-speed calibration.
var calibrationBlock = make([]byte, 256<<10)

// cpuCalibration times a fixed single-threaded CPU workload (SHA-256 over
// 1 MiB), best of five, so records can show how the machine's own speed
// drifted between trials: a change that moves every variant alike.
func cpuCalibration() time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 5 {
		start := time.Now()
		for range 4 {
			sum := sha256.Sum256(calibrationBlock)
			calibrationBlock[0] = sum[0] // keep the work from being elided
		}
		best = min(best, time.Since(start))
	}
	return best
}

// settle runs the garbage collector so that a trial's heap readings start
// from live data only.
func settle() {
	runtime.GC()
	runtime.GC()
}

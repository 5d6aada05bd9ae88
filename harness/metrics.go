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

// seriesReader reads the two values of the heap and goroutine series
// cheaply, reusing its samples.
type seriesReader struct {
	samples [2]metrics.Sample
}

func newSeriesReader() *seriesReader {
	r := &seriesReader{}
	r.samples[0].Name = "/memory/classes/heap/objects:bytes"
	r.samples[1].Name = "/sched/goroutines:goroutines"
	return r
}

func (r *seriesReader) read() (heap uint64, goroutines int64) {
	metrics.Read(r.samples[:])
	heap = r.samples[0].Value.Uint64()
	goroutines = int64(r.samples[1].Value.Uint64())
	return
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

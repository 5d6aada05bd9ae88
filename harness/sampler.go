package harness

import (
	"time"

	"github.com/streambench/streambench/result"
)

// sampler reads heap in use, live goroutines and the GC's CPU share on a
// period, for the trial's time series and peaks, and stops a trial whose
// memory crossed its limit (see TrialSpec.MemLimit). It owns its goroutine; stop ends it and
// waits, so it is never counted as a leak.
type sampler struct {
	t      *trial
	done   chan struct{}
	exited chan struct{}
	series []result.Sample
	peak   uint64
	peakG  int64
}

// maxSeries bounds the time series; past it, every other sample is dropped
// and the period doubles, so a long trial keeps its whole span.
const maxSeries = 400

func startSampler(t *trial, every time.Duration) *sampler {
	s := &sampler{t: t, done: make(chan struct{}), exited: make(chan struct{})}
	go s.loop(every)
	return s
}

func (s *sampler) loop(every time.Duration) {
	defer close(s.exited)
	r := newSeriesReader()
	tick := time.NewTicker(every)
	defer tick.Stop()
	stride, skip := 1, 0
	var prev seriesPoint // the last sample kept in the series
	kept := false
	for {
		p := r.read()
		if p.heap > s.peak {
			s.peak = p.heap
		}
		if p.goroutines > s.peakG {
			s.peakG = p.goroutines
		}
		if limit := s.t.spec.MemLimit; limit > 0 && p.held > uint64(limit) {
			s.t.outOfMemory(p)
		}
		if skip == 0 {
			smp := result.Sample{
				T:          time.Duration(s.t.now() - int64(s.t.spec.Warmup)).Seconds(),
				HeapBytes:  p.heap,
				Goroutines: p.goroutines,
			}
			if kept && p.total > prev.total {
				smp.GCCPUShare = (p.gcCPU - prev.gcCPU) / (p.total - prev.total)
			}
			prev, kept = p, true
			s.series = append(s.series, smp)
			if len(s.series) == maxSeries {
				for i := 0; i < maxSeries/2; i++ {
					s.series[i] = s.series[2*i]
				}
				s.series = s.series[:maxSeries/2]
				stride *= 2
			}
		}
		skip = (skip + 1) % stride
		select {
		case <-tick.C:
		case <-s.done:
			return
		}
	}
}

func (s *sampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	<-s.exited
}

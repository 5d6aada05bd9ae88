package harness

import (
	"time"

	"github.com/streambench/streambench/result"
)

// sampler reads heap in use and live goroutines on a period, for the
// trial's time series and peaks. It owns its goroutine; stop ends it and
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
	for {
		heap, g := r.read()
		if heap > s.peak {
			s.peak = heap
		}
		if g > s.peakG {
			s.peakG = g
		}
		if skip == 0 {
			s.series = append(s.series, result.Sample{
				T:          time.Duration(s.t.now() - int64(s.t.spec.Warmup)).Seconds(),
				HeapBytes:  heap,
				Goroutines: g,
			})
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

package gate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/streambench/streambench/result"
)

// Metric is one measured quantity the gate can hold a threshold on.
type Metric struct {
	// Name is the record field it comes from, as thresholds files name it.
	Name string
	// Label is its short name in tables; Unit its benchfmt unit.
	Label, Unit string
	// HigherIsBetter says which way a regression goes.
	HigherIsBetter bool
	// Floor is the smallest value taken at face value: values below it
	// count as Floor in ratios, so a metric that is zero on both sides
	// (allocations of the pass-through) is an exact 1x, not 0/0.
	Floor float64
	// Duration says the metric is in nanoseconds, so thresholds files may
	// give absolute bounds as durations.
	Duration bool
	// Value reads the metric from a record.
	Value func(*result.Trial) float64
}

// Metrics are the metrics the gate knows, in table order.
var Metrics = []Metric{
	{Name: "chunks_per_s", Label: "chunks/s", Unit: "chunks/s", HigherIsBetter: true, Floor: 1,
		Value: func(t *result.Trial) float64 { return t.ChunksPerS }},
	{Name: "cpu_ns_per_chunk", Label: "CPU/chunk", Unit: "cpu-ns/chunk", Floor: 1, Duration: true,
		Value: func(t *result.Trial) float64 { return t.CPUNSPerChunk }},
	{Name: "allocs_per_chunk", Label: "allocs/chunk", Unit: "allocs/chunk", Floor: 0.001,
		Value: func(t *result.Trial) float64 { return t.AllocsPerChunk }},
	{Name: "alloc_bytes_per_chunk", Label: "B/chunk", Unit: "B/chunk", Floor: 0.1,
		Value: func(t *result.Trial) float64 { return t.AllocBytesPerChunk }},
	{Name: "ttft_p99_ns", Label: "p99 TTFT", Unit: "ttft-p99-ns", Floor: 1000, Duration: true,
		Value: func(t *result.Trial) float64 { return float64(t.TTFT.P99) }},
	{Name: "e2e_p99_ns", Label: "p99 e2e", Unit: "e2e-p99-ns", Floor: 1000, Duration: true,
		Value: func(t *result.Trial) float64 { return float64(t.E2E.P99) }},
	{Name: "itl_p99_ns", Label: "p99 ITL", Unit: "itl-p99-ns", Floor: 1000, Duration: true,
		Value: func(t *result.Trial) float64 { return float64(t.ITL.P99) }},
	{Name: "heap_peak_bytes", Label: "peak heap", Unit: "heap-peak-B", Floor: 1,
		Value: func(t *result.Trial) float64 { return float64(t.HeapPeakBytes) }},
	{Name: "mutex_wait_ns_per_chunk", Label: "mutex wait/chunk", Unit: "mutex-wait-ns/chunk", Floor: 1, Duration: true,
		Value: func(t *result.Trial) float64 { return t.MutexWaitNSPerChunk }},
}

// LookupMetric finds a metric by name.
func LookupMetric(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

func metricNames() string {
	s := make([]string, len(Metrics))
	for i, m := range Metrics {
		s[i] = m.Name
	}
	return strings.Join(s, ", ")
}

// logRatio is log(head/base), each raised to the metric's floor.
func (m Metric) logRatio(base, head *result.Trial) float64 {
	return math.Log(max(m.Value(head), m.Floor) / max(m.Value(base), m.Floor))
}

// format renders a value of m for people.
func (m Metric) format(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if m.Duration && v >= 1000 {
		return time.Duration(v).Round(roundTo(v)).String()
	}
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case math.Abs(v) >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func roundTo(ns float64) time.Duration {
	switch {
	case ns >= 1e8:
		return time.Millisecond
	case ns >= 1e5:
		return time.Microsecond
	case ns >= 1e4:
		return 100 * time.Nanosecond
	}
	return time.Nanosecond
}

// pct renders a relative change (0.05) as "+5.0%".
func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*x)
}

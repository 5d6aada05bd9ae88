package result

import hdr "github.com/HdrHistogram/hdrhistogram-go"

// DistQuantiles are the points of the percentile distributions a record
// keeps (Trial.Dist), spaced as HdrHistogram's percentile plots space them.
var DistQuantiles = []float64{0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1}

// Summarize reads a latency histogram (nanoseconds) into Percentiles; an
// empty histogram gives the zero value.
func Summarize(h *hdr.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		Count: h.TotalCount(),
		Mean:  h.Mean(),
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}

// Distribution reads a latency histogram at DistQuantiles; nil if empty.
func Distribution(h *hdr.Histogram) []Quantile {
	if h.TotalCount() == 0 {
		return nil
	}
	out := make([]Quantile, len(DistQuantiles))
	for i, q := range DistQuantiles {
		v := h.ValueAtQuantile(q * 100)
		if q == 1 {
			v = h.Max()
		}
		out[i] = Quantile{Q: q, NS: v}
	}
	return out
}

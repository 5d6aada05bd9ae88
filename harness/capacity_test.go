package harness

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/streambench/streambench/capacity"
	"github.com/streambench/streambench/result"
)

// TestFindCapacityOnAFakeClock searches testdata/slo-cap.yaml in process
// on a fake clock, where the cap of 10 requests of exactly 23 ms serves
// 10 / 23 ms = 434.8 a second: below that rate nothing is dropped and every
// request meets the 50 ms objective; above it, evenly spaced arrivals find
// the cap full about once in eleven. The knee is at 434.8 a second.
func TestFindCapacityOnAFakeClock(t *testing.T) {
	cfg := Config{
		Scenarios: []string{"testdata/slo-cap.yaml"}, Variants: []string{"lockfree"},
		Trials: 1, InProcess: true, OnCap: result.OnCapDrop, Warmup: -1,
		Grace: 10 * time.Millisecond, Drain: 5 * time.Second,
	}
	cc := DefaultCapacity
	cc.Budget = time.Hour // on the fake clock
	var buf, progress bytes.Buffer
	var recs []*result.Trial
	var caps []Capacity
	synctest.Test(t, func(t *testing.T) {
		var err error
		recs, caps, err = FindCapacity(context.Background(), cfg, cc, result.NewWriter(&buf), nil, &progress)
		if err != nil {
			t.Fatal(err)
		}
	})
	if len(caps) != 1 {
		t.Fatalf("%d searches, want 1", len(caps))
	}
	c := caps[0]
	r := c.Result
	if c.Scenario != "slo-cap" || c.Variant != "lockfree" || !r.Converged {
		t.Fatalf("search %s %s: %v, want converged", c.Scenario, c.Variant, r)
	}
	const knee = 10 / 0.023
	if !(r.Lo <= knee && knee < r.Hi && r.Hi <= r.Lo*(1+cc.Search.Resolution)) {
		t.Errorf("capacity %v, want an interval within 5%% holding the knee at %.1f/s", r, knee)
	}
	// Every probe is one record, marked, at the rate the search asked for,
	// and the search's probes are the records' measurements.
	if len(recs) != len(r.Probes) {
		t.Errorf("%d records for %d probed rates", len(recs), len(r.Probes))
	}
	var probes []capacity.Probe
	for _, rec := range recs {
		if err := AccountingError(rec); err != nil {
			t.Fatal(err)
		}
		if !rec.CapacityProbe || rec.Load.Model != "open" || rec.SLO == nil {
			t.Errorf("record at %g/s: capacity_probe %v, load %+v, slo %v", rec.Load.Rate, rec.CapacityProbe, rec.Load, rec.SLO)
		}
		probes = append(probes, capacity.Probe{Rate: rec.Load.Rate, Met: rec.RequestsMetSLO,
			Total: rec.StreamsCompleted + rec.StreamsDisconnected + rec.StreamsFailed + rec.RequestsDropped})
	}
	if again := capacity.FromProbes(probes, cc.Search); again.Lo != r.Lo || again.Hi != r.Hi {
		t.Errorf("the records give [%g, %g), the search [%g, %g)", again.Lo, again.Hi, r.Lo, r.Hi)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(recs) {
		t.Errorf("%d lines written for %d records", n, len(recs))
	}
}

func TestFindCapacityRefuses(t *testing.T) {
	base := Config{Scenarios: []string{"testdata/slo-cap.yaml"}, Variants: []string{"lockfree"}, Trials: 1, InProcess: true}
	tests := []struct {
		name string
		edit func(*Config, *CapacityConfig)
		want string
	}{
		{"closed model", func(c *Config, _ *CapacityConfig) { c.Concurrency = []int{4} }, "open model only"},
		{"rates", func(c *Config, _ *CapacityConfig) { c.Rates = []float64{5} }, "chooses its own rates"},
		{"no slo", func(c *Config, _ *CapacityConfig) { c.Scenarios = []string{"testdata/stall-open.yaml"} }, "stall-open.yaml has none"},
		{"no budget", func(_ *Config, cc *CapacityConfig) { cc.Budget = 0 }, "budget must be positive"},
		{"bad bounds", func(_ *Config, cc *CapacityConfig) { cc.Search.Low, cc.Search.High = 10, 5 }, "high rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, cc := base, DefaultCapacity
			tt.edit(&cfg, &cc)
			var buf bytes.Buffer
			recs, _, err := FindCapacity(context.Background(), cfg, cc, result.NewWriter(&buf), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FindCapacity error %v, want one saying %q", err, tt.want)
			}
			if len(recs) > 0 || buf.Len() > 0 {
				t.Errorf("%d trials ran before the refusal", len(recs))
			}
		})
	}
}

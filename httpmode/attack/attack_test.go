package attack

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/accounting"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// TestMain lets the test binary act as a fake bench serve process for
// StartServe's tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeServeEnv); mode != "" {
		fakeServe(mode)
		return
	}
	goleak.VerifyTestMain(m)
}

func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		arrival scenarios.ArrivalProcess
		rate    float64
	}{
		{scenarios.Constant, 20},
		{scenarios.Constant, 2.5},
		{scenarios.Poisson, 50},
	} {
		t.Run(string(tc.arrival), func(t *testing.T) {
			s := newSchedule(tc.arrival, tc.rate, 7)
			l := scenarios.Load{Model: scenarios.Open, Rate: tc.rate, Arrival: tc.arrival}
			interval := time.Duration(float64(time.Second) / tc.rate)
			for i := range uint64(200) {
				wait, stop := s.Pace(0, i)
				if stop {
					t.Fatalf("hit %d: pacer stopped", i)
				}
				got := s.intended(i)
				if wait != got {
					t.Errorf("hit %d: Pace from 0 waits %v, intended start %v", i, wait, got)
				}
				var want time.Duration
				if tc.arrival == scenarios.Poisson {
					want = l.IntendedStart(7, i)
				} else {
					want = time.Duration(i+1) * interval
				}
				if d := got - want; d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("hit %d: intended %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestRunAgainstStack runs the load generator in process against a Stack
// whose clients leave on a timer, and checks the records.
func TestRunAgainstStack(t *testing.T) {
	sc := scenarios.Default()
	sc.Name, sc.Seed, sc.TimeScale = "loadtest", 9, 1
	sc.Provider.TTFT = scenarios.ConstOf(2 * time.Millisecond)
	sc.Provider.InterChunk = scenarios.ConstOf(4 * time.Millisecond)
	sc.Provider.ResponseTokens = scenarios.ConstOf[int64](60)
	after := scenarios.UniformOf(5*time.Millisecond, 30*time.Millisecond)
	sc.Client.DisconnectProbability = 0.4
	sc.Client.DisconnectAfter = &after
	sc.Load = scenarios.Load{Model: scenarios.Open, Rate: 40, Duration: time.Second}
	// An objective every completed stream meets on any machine: the
	// clients that leave are the misses.
	sc.SLO = scenarios.SLO{TTFT: 5 * time.Second, E2E: 10 * time.Second}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	vs := []variant.Variant{}
	for _, name := range []string{"lockfree", "passthrough"} {
		v, err := variant.Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	target := serveStack(t, sc, vs)

	var out bytes.Buffer
	recs, err := Run(t.Context(), Config{
		Target: target, Scenario: sc, Variants: vs, Rates: []float64{40}, Duration: 500 * time.Millisecond,
		Grace: 400 * time.Millisecond,
	}, result.NewWriter(&out))
	if err != nil {
		t.Fatal(err)
	}
	_, trials, err := result.ReadAll(&out, "out")
	if err != nil || len(trials) != 2 || len(recs) != 2 {
		t.Fatalf("%d records written, %d returned, err %v", len(trials), len(recs), err)
	}
	for _, tr := range trials {
		a := tr.Accounting
		if tr.Failed() || tr.StreamsDisconnected == 0 || tr.StreamsCompleted == 0 || tr.StreamsFailed != 0 {
			t.Errorf("%s: %d completed, %d disconnected, %d failed; violations %v, warnings %v",
				tr.Variant, tr.StreamsCompleted, tr.StreamsDisconnected, tr.StreamsFailed, a.Violations, tr.Warnings)
		}
		if tr.Variant == "lockfree" && (a.RecordsPersisted != tr.RequestsStarted || a.TokensBilled < a.TokensDelivered) {
			t.Errorf("lockfree: %d records for %d requests, %d tokens billed for %d delivered", a.RecordsPersisted, tr.RequestsStarted, a.TokensBilled, a.TokensDelivered)
		}
		if tr.Variant == "passthrough" && (a.RecordsPersisted != 0 || a.TokensBilled != 0) {
			t.Errorf("passthrough billed: %+v", a)
		}
	}
	for _, tr := range trials {
		judged := tr.StreamsCompleted + tr.StreamsDisconnected + tr.StreamsFailed + tr.RequestsDropped
		if tr.SLO == nil || tr.RequestsMetSLO != tr.StreamsCompleted || tr.SLOAttainment != float64(tr.StreamsCompleted)/float64(judged) {
			t.Errorf("%s: slo %v, %d met of %d completed, attainment %v; want every completed stream met, over %d judged",
				tr.Variant, tr.SLO, tr.RequestsMetSLO, tr.StreamsCompleted, tr.SLOAttainment, judged)
		}
	}
	for _, tr := range trials {
		// 40 hits a second for 0.5 s: every one due was sent or counted.
		if tr.Load.OnCap != result.OnCapQueue || tr.RequestsStarted+tr.RequestsDropped < 20 {
			t.Errorf("%s: load %+v, %d requests started and %d dropped of 20 due", tr.Variant, tr.Load, tr.RequestsStarted, tr.RequestsDropped)
		}
	}
	// The pass-through gateway runs first at each rate, and its serve CPU
	// per chunk (the provider's cost) joins the load generator's own in
	// every later trial's harness cost.
	pt, lf := trials[0], trials[1]
	if pt.Variant != "passthrough" || lf.Variant != "lockfree" {
		t.Fatalf("trials ran %s, %s; want passthrough first", pt.Variant, lf.Variant)
	}
	if lf.ClientNSPerChunk <= 0 || lf.HarnessNSPerChunk != lf.ClientNSPerChunk+pt.CPUNSPerChunk {
		t.Errorf("lockfree: client %v ns/chunk, harness %v, passthrough's serve cpu %v; want harness = client + passthrough's",
			lf.ClientNSPerChunk, lf.HarnessNSPerChunk, pt.CPUNSPerChunk)
	}
	if trials[0].Accounting.ChunksDelivered != trials[1].Accounting.ChunksDelivered {
		t.Logf("note: timed disconnects make delivered counts differ: %d vs %d", trials[0].Accounting.ChunksDelivered, trials[1].Accounting.ChunksDelivered)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Target: "ftp://x", Rates: []float64{-1}}.Validate()
	if err == nil {
		t.Fatal("a bad config validated")
	}
	for _, want := range []string{"not an http:// URL", "no scenario", "no variants", "rate -1"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestScheduleDue: due counts the hits whose intended start has come, so
// that the hits vegeta never sent can be counted.
func TestScheduleDue(t *testing.T) {
	for _, arrival := range []scenarios.ArrivalProcess{scenarios.Constant, scenarios.Poisson} {
		s := newSchedule(arrival, 50, 7)
		for i := range uint64(300) {
			s.Pace(0, i) // as vegeta draws them
			at := s.intended(i)
			if got := s.due(at); got != i+1 {
				t.Errorf("%s: due(intended(%d) = %v) = %d, want %d", arrival, i, at, got, i+1)
			}
		}
		if got := s.due(-time.Second); got != 0 {
			t.Errorf("%s: due before the start = %d", arrival, got)
		}
	}
}

// TestLedgerRecord: over HTTP a trial's ledger figures are the differences
// of the gateway's pool stats over the trial, the wait given as a mean.
func TestLedgerRecord(t *testing.T) {
	if l := ledgerRecord(nil, nil, time.Second); l != nil {
		t.Errorf("no pool: %+v", l)
	}
	before := &accounting.PoolStats{Conns: 4, Persists: 10, Charges: 10, Queued: 3, WaitedNS: 5e6, HeldNS: 9e6, SaturatedNS: 1e8, InUsePeak: 4}
	after := &accounting.PoolStats{Conns: 4, Persists: 30, Charges: 30, Queued: 8, WaitedNS: 45e6, HeldNS: 49e6, SaturatedNS: 6e8, InUsePeak: 4}
	got := ledgerRecord(before, after, 2*time.Second)
	want := &result.LedgerPool{Conns: 4, Calls: 40, Queued: 5, WaitTotalNS: 40e6, HoldTotalNS: 40e6,
		Wait: result.Percentiles{Count: 40, Mean: 1e6}, Saturation: 0.25}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ledgerRecord mismatch (-want +got):\n%s", diff)
	}
}

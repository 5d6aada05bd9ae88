package harness

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// stallOpen is the open-model scenario of testdata/stall-open.yaml: 100
// arrivals a second for 4 s, at most 10 in flight, one stream in five
// stalling 1 s once after its first chunk. The 10 slots serve about 45
// requests a second, so arrivals pile up at the cap.
func stallOpen(onCap string) TrialSpec {
	spec := quick("lockfree", "testdata/stall-open.yaml")
	spec.Load = result.Load{Model: "open", Rate: 100, OnCap: onCap}
	return spec
}

// stallOpenArrivals is how many measured requests the scenario's schedule
// brings: one every 10 ms for 4 s.
const stallOpenArrivals = 400

// runFake runs spec in a testing/synctest bubble, on a fake clock: the
// provider's delays and the dispatcher's schedule are exact, so the
// numbers below do not depend on the machine.
func runFake(t *testing.T, spec TrialSpec) *result.Trial {
	t.Helper()
	return runFakeThenWait(t, spec, 0)
}

// runFakeThenWait is runFake for a design that leaves work running after
// its trial (the legacy's detached finalizers): the bubble's fake clock
// then runs on for wait, so that the work ends inside the bubble.
func runFakeThenWait(t *testing.T, spec TrialSpec, wait time.Duration) *result.Trial {
	t.Helper()
	var rec *result.Trial
	synctest.Test(t, func(t *testing.T) {
		var err error
		rec, err = RunTrial(context.Background(), spec)
		if err != nil {
			t.Fatalf("RunTrial(%s): %v", spec, err)
		}
		time.Sleep(wait)
	})
	return rec
}

// checkArrivals requires every measured arrival to be counted exactly once:
// run (completed, disconnected or failed) or dropped, and late only if run.
func checkArrivals(t *testing.T, rec *result.Trial, want int64) {
	t.Helper()
	if err := AccountingError(rec); err != nil {
		t.Fatal(err)
	}
	ran := rec.StreamsCompleted + rec.StreamsDisconnected + rec.StreamsFailed
	if ran+rec.RequestsDropped != want {
		t.Errorf("%d requests ran and %d were dropped, want %d arrivals in all", ran, rec.RequestsDropped, want)
	}
	if rec.RequestsLate > ran || rec.RequestsLate+rec.RequestsDropped > want {
		t.Errorf("requests_late %d with %d run and %d dropped of %d: a request counted twice", rec.RequestsLate, ran, rec.RequestsDropped, want)
	}
	if rec.TTFTIntended.Count != rec.TTFT.Count {
		t.Errorf("%d TTFT samples from the intended start, %d from the actual start: every started request has both", rec.TTFTIntended.Count, rec.TTFT.Count)
	}
}

// TestOpenModelQueuesAtCap: with the default policy, arrivals that find the
// cap reached wait for a slot, and the wait shows in the latency from the
// intended start, not in the latency from the actual start.
func TestOpenModelQueuesAtCap(t *testing.T) {
	rec := runFake(t, stallOpen(""))
	if rec.Load.OnCap != result.OnCapQueue || rec.Load.Concurrency != 10 {
		t.Errorf("record load %+v, want the queue policy and the scenario's cap of 10", rec.Load)
	}
	checkArrivals(t, rec, stallOpenArrivals)
	if got := time.Duration(rec.TTFTIntended.P99); got < 500*time.Millisecond {
		t.Errorf("TTFT p99 from the intended start %v, want >= 0.5 s: the wait for a slot is hidden", got)
	}
	if got := time.Duration(rec.TTFT.P99); got > 50*time.Millisecond {
		t.Errorf("TTFT p99 from the actual start %v, want about the scripted 5 ms", got)
	}
	if rec.RequestsLate == 0 {
		t.Errorf("no request started late, though the cap was reached")
	}
	// The requests still waiting when the window closed never started:
	// they are counted, as misses.
	if rec.RequestsDropped == 0 {
		t.Errorf("no arrival left waiting at the close of an overloaded window")
	}
	warn := strings.Join(rec.Warnings, "\n")
	for _, want := range []string{"waited for a slot under the in-flight cap of 10", "still waiting for a slot when the window closed"} {
		if !strings.Contains(warn, want) {
			t.Errorf("warnings %q do not say %q", rec.Warnings, want)
		}
	}
	if strings.Contains(warn, "load generator behind") {
		t.Errorf("on a fake clock the dispatcher is never late, yet: %q", rec.Warnings)
	}
}

// TestOpenModelDropsAtCap: with -on-cap drop, arrivals that find the cap
// reached are dropped and counted apart; the latency of those that ran
// no longer shows the overload, which is why the count must be reported.
func TestOpenModelDropsAtCap(t *testing.T) {
	rec := runFake(t, stallOpen(result.OnCapDrop))
	if rec.Load.OnCap != result.OnCapDrop {
		t.Errorf("record load %+v, want the drop policy", rec.Load)
	}
	checkArrivals(t, rec, stallOpenArrivals)
	if rec.RequestsDropped < stallOpenArrivals/4 {
		t.Errorf("%d of %d arrivals dropped at a cap that serves under half of them", rec.RequestsDropped, stallOpenArrivals)
	}
	if rec.RequestsLate != 0 {
		t.Errorf("%d requests late: on a fake clock a request is started on time or dropped", rec.RequestsLate)
	}
	if got := time.Duration(rec.TTFTIntended.P99); got > 50*time.Millisecond {
		t.Errorf("TTFT p99 from the intended start %v: no request waited", got)
	}
	if !strings.Contains(strings.Join(rec.Warnings, "\n"), "(requests_dropped)") {
		t.Errorf("warnings %q do not name the dropped requests", rec.Warnings)
	}
}

// TestOpenModelRequests: a request-count open-model trial numbers its
// measured requests from 0 whatever the warm-up did, starts exactly that
// many, and the designs receive identical streams.
func TestOpenModelRequests(t *testing.T) {
	spec := stallOpen("")
	spec.Requests = 60
	spec.Warmup = 200 * time.Millisecond
	a := runFake(t, spec)
	checkArrivals(t, a, 60)
	if a.RequestsDropped != 0 {
		t.Errorf("%d requests dropped in a request-count trial, which waits for all of them", a.RequestsDropped)
	}
	for i, d := range a.RequestDigests {
		if d == "" {
			t.Fatalf("request %d has no digest: measured requests are not numbered from 0", i)
		}
	}
	spec.Variant = "mutex"
	m := runFake(t, spec)
	if a.DeliveredDigest == "" || a.DeliveredDigest != m.DeliveredDigest {
		t.Errorf("lockfree delivered %q, mutex %q: the same arrivals should get the same streams", a.DeliveredDigest, m.DeliveredDigest)
	}
}

// TestArrivals pins the schedule dispatchOpen walks: warm-up arrivals
// first, then measured ones numbered from 0 up to the end or the count.
func TestArrivals(t *testing.T) {
	spec := stallOpen("")
	spec.Warmup = 25 * time.Millisecond
	sc := mustScenario(t, &spec)
	type got struct {
		id       uint64
		measured bool
		at       time.Duration
	}
	walk := func(a *arrivals) []got {
		var out []got
		for x, ok := a.next(); ok; x, ok = a.next() {
			out = append(out, got{x.id, x.measured, time.Duration(x.intended)})
		}
		return out
	}
	spec.Duration = 30 * time.Millisecond
	all := walk(newArrivals(sc, spec, int64(spec.Warmup)))
	want := []got{
		{warmBit, false, 0}, {warmBit | 1, false, 10 * time.Millisecond}, {warmBit | 2, false, 20 * time.Millisecond},
		{0, true, 25 * time.Millisecond}, {1, true, 35 * time.Millisecond}, {2, true, 45 * time.Millisecond},
	}
	if len(all) != len(want) {
		t.Fatalf("arrivals %v, want %v", all, want)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Errorf("arrival %d = %+v, want %+v", i, all[i], want[i])
		}
	}
	spec.Duration, spec.Requests = 0, 2
	if n := len(walk(newArrivals(sc, spec, int64(spec.Warmup)))); n != 3+2 {
		t.Errorf("%d arrivals with a count of 2 after 3 warm-up ones", n)
	}
}

// mustScenario loads spec's scenario with spec applied, as a trial does.
func mustScenario(t *testing.T, spec *TrialSpec) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Lookup(spec.Scenario)
	if err != nil {
		t.Fatal(err)
	}
	if err := applySpec(sc, spec); err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestPlanOnCap: the run's cap policy reaches every open-model trial, with
// the cap each ran at, and no closed-model one.
func TestPlanOnCap(t *testing.T) {
	specs, err := Trials(Config{
		Scenarios: []string{"testdata/stall-open.yaml"}, Variants: []string{"lockfree"},
		Concurrency: []int{4}, Rates: []float64{50}, OnCap: result.OnCapDrop, Trials: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []result.Load
	for _, s := range specs {
		got = append(got, s.Load)
	}
	want := []result.Load{
		{Model: "closed", Concurrency: 4},
		{Model: "open", Concurrency: 10, Rate: 50, Arrival: "constant", OnCap: result.OnCapDrop},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	_, err = Trials(Config{Scenarios: []string{"burst"}, Variants: []string{"lockfree"}, OnCap: "block", Trials: 1})
	if err == nil || !strings.Contains(err.Error(), `on-cap "block"`) {
		t.Errorf("Plan with on-cap block: %v", err)
	}
}

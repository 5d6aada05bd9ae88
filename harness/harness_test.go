package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

func TestMain(m *testing.M) {
	// The child-process tests re-execute this test binary as a trial child.
	if IsChild() {
		os.Exit(fakeChild())
	}
	// The legacy design's detached finalizers outlive their trials by
	// design (the flaw under test); they end at their scaled timeout.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/streambench/streambench/impls/mutex.(*Pipeline).finalize"))
}

// quick is a trial spec small enough for a unit test.
func quick(v, scenario string) TrialSpec {
	return TrialSpec{
		Variant:  v,
		Scenario: scenario,
		Grace:    10 * time.Millisecond,
		Drain:    5 * time.Second,
	}
}

func mustRun(t *testing.T, spec TrialSpec) *result.Trial {
	t.Helper()
	rec, err := RunTrial(context.Background(), spec)
	if err != nil {
		t.Fatalf("RunTrial(%s): %v", spec, err)
	}
	return rec
}

// TestAccountingEveryVariant runs every built-in variant through providers
// that fail, clients that leave at random points and clients that read
// slowly, and requires the accounting to close exactly on every trial.
func TestAccountingEveryVariant(t *testing.T) {
	for _, sc := range []string{"testdata/disconnect-short.yaml", "testdata/slow-short.yaml"} {
		for _, v := range variant.Builtin() {
			t.Run(sc+"/"+v.Name, func(t *testing.T) {
				rec := mustRun(t, quick(v.Name, sc))
				a := rec.Accounting
				if len(a.Violations) > 0 {
					t.Fatalf("violations: %q", a.Violations)
				}
				if a.ChunksProduced == 0 || a.ChunksDelivered == 0 {
					t.Fatalf("nothing relayed: %+v", a)
				}
				if got := a.ChunksDelivered + a.ChunksDropped + a.ChunksRejected + a.ChunksDiscarded; got != a.ChunksProduced {
					t.Errorf("buckets sum to %d, produced %d", got, a.ChunksProduced)
				}
				if rec.RequestsStarted != 120 && strings.Contains(sc, "disconnect") {
					t.Errorf("started %d requests, want 120", rec.RequestsStarted)
				}
				tr := v.Traits()
				switch {
				case !tr.Persists:
					if a.RecordsPersisted != 0 || a.TokensBilled != 0 {
						t.Errorf("pass-through reached the ledger: %+v", a)
					}
				case !tr.DetachedFinalizer:
					if a.RecordsPersisted != a.RecordsExpected || a.RecordsPending != 0 {
						t.Errorf("records persisted %d of %d", a.RecordsPersisted, a.RecordsExpected)
					}
					if v.Impl == variant.LockFree && a.TokensBilled != a.TokensDelivered {
						t.Errorf("billed %d, delivered %d", a.TokensBilled, a.TokensDelivered)
					}
				}
				if tr.Cancels && !tr.DetachedFinalizer && rec.GoroutinesLeaked != 0 {
					t.Errorf("%s leaked %d goroutines", v.Name, rec.GoroutinesLeaked)
				}
				if strings.Contains(sc, "slow") && tr.Buffer == impls.BufferBounded && rec.QueuePeak > int64(tr.BufferLimit) {
					t.Errorf("queue peak %d over the limit %d", rec.QueuePeak, tr.BufferLimit)
				}
			})
		}
	}
}

// TestLegacyFlawsShow checks that the harness surfaces what the legacy
// design does wrong on disconnects, and that the redesign does not.
func TestLegacyFlawsShow(t *testing.T) {
	legacy := mustRun(t, quick("mutex", "testdata/disconnect-short.yaml"))
	redesign := mustRun(t, quick("lockfree", "testdata/disconnect-short.yaml"))
	if legacy.StreamsDisconnected == 0 || legacy.StreamsDisconnected != redesign.StreamsDisconnected {
		t.Fatalf("disconnected streams: legacy %d, redesign %d; the scenario should disconnect the same ones", legacy.StreamsDisconnected, redesign.StreamsDisconnected)
	}
	la, ra := legacy.Accounting, redesign.Accounting
	if la.RecordsPending == 0 || legacy.GoroutinesLeaked == 0 {
		t.Errorf("legacy: %d records pending and %d goroutines alive after the run; want both > 0 (the lingering finalizers)", la.RecordsPending, legacy.GoroutinesLeaked)
	}
	if la.ChunksAfterDisconnect <= ra.ChunksAfterDisconnect {
		t.Errorf("chunks produced after disconnect: legacy %d, redesign %d; the legacy provider should keep producing", la.ChunksAfterDisconnect, ra.ChunksAfterDisconnect)
	}
	// The redesign stops each provider within a chunk or two.
	if ra.ChunksAfterDisconnect > 2*redesign.StreamsDisconnected {
		t.Errorf("redesign produced %d chunks after %d disconnects", ra.ChunksAfterDisconnect, redesign.StreamsDisconnected)
	}
	if redesign.Cancel.Count == 0 {
		t.Errorf("no cancel latency recorded for the redesign")
	}
	if la.TokensBilled >= la.TokensDelivered {
		t.Errorf("legacy billed %d of %d delivered tokens by the end of the trial; its pending records should leave it short", la.TokensBilled, la.TokensDelivered)
	}
}

// TestDeterminism runs the same request-count trial twice in this process
// and once in a child process: every request's delivered stream must hash
// the same, and the two designs must deliver identical streams.
func TestDeterminism(t *testing.T) {
	spec := quick("lockfree", "testdata/disconnect-short.yaml")
	a := mustRun(t, spec)
	b := mustRun(t, spec)
	if diff := cmp.Diff(a.RequestDigests, b.RequestDigests); diff != "" || a.DeliveredDigest != b.DeliveredDigest {
		t.Fatalf("same spec, different streams (-first +second):\n%s", diff)
	}
	if len(a.RequestDigests) != 120 {
		t.Fatalf("%d request digests, want 120", len(a.RequestDigests))
	}
	m := mustRun(t, quick("mutex", "testdata/disconnect-short.yaml"))
	if diff := cmp.Diff(a.RequestDigests, m.RequestDigests); diff != "" {
		t.Fatalf("lockfree and mutex delivered different streams (-lockfree +mutex):\n%s", diff)
	}
	c, err := runChild(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if c.DeliveredDigest != a.DeliveredDigest {
		t.Fatalf("child process digest %s, in-process %s", c.DeliveredDigest, a.DeliveredDigest)
	}
	if c.Mode != result.ModeChild {
		t.Errorf("child record mode %q", c.Mode)
	}
	spec.Seed = 99
	d := mustRun(t, spec)
	if d.DeliveredDigest == a.DeliveredDigest {
		t.Errorf("a different seed delivered the same streams")
	}
}

// broken wraps a pipeline and breaks one promise.
type broken struct {
	impls.Pipeline
	ledger impls.Ledger
	mode   string
}

func (b *broken) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	if b.mode == "inflate" {
		dst = inflater{dst}
	}
	out := b.Pipeline.Relay(ctx, req, src, dst)
	switch b.mode {
	case "persist-twice":
		_ = b.ledger.Persist(ctx, impls.Record{RequestID: req.ID})
	case "persist-warmup-twice":
		if req.ID&warmBit != 0 {
			_ = b.ledger.Persist(ctx, impls.Record{RequestID: req.ID})
		}
	case "overclaim":
		out.Delivered++
	case "lose":
		out.Dropped++ // claims a chunk the provider never produced
	case "overbill":
		_ = b.ledger.Charge(ctx, req.Account, 1)
	case "close-twice":
		_ = src.Close()
	}
	return out
}

// inflater is a client side that counts a token more in every chunk than
// the provider generated.
type inflater struct{ impls.Sink }

func (s inflater) Write(ch impls.Chunk) error {
	ch.Tokens++
	return s.Sink.Write(ch)
}

// TestAccountingCatchesBrokenPipelines shows that each check can fail.
func TestAccountingCatchesBrokenPipelines(t *testing.T) {
	v, err := variant.Parse("lockfree")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mode, want string }{
		{"persist-twice", "persisted more than once"},
		{"persist-warmup-twice", "persisted more than once"},
		{"overclaim", "the client received"},
		{"lose", "produced"},
		{"overbill", "billed"},
		{"close-twice", "Close called more than once"},
		{"inflate", "but the provider generated only"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			spec := quick("lockfree", "testdata/disconnect-short.yaml")
			if tc.mode == "persist-warmup-twice" {
				spec.Warmup = 50 * time.Millisecond // the warm-up's IDs carry warmBit, far above the bitmap
			}
			rec, err := runTrial(context.Background(), spec, v,
				func(l impls.Ledger) impls.Pipeline { return &broken{Pipeline: v.New(l), ledger: l, mode: tc.mode} })
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(rec.Accounting.Violations, "\n")
			if !strings.Contains(joined, tc.want) {
				t.Fatalf("violations %q do not mention %q", rec.Accounting.Violations, tc.want)
			}
			if AccountingError(rec) == nil || !rec.Failed() {
				t.Fatalf("a record with violations must be a failed trial")
			}
		})
	}
}

func TestPlanInterleaves(t *testing.T) {
	specs, err := Trials(Config{
		Scenarios: []string{"chat"}, Variants: []string{"mutex", "lockfree:queue=ring,buffer=64"}, Calibrate: true,
		Concurrency: []int{1, 8}, Trials: 2, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Variant)
	}
	v := []string{"passthrough", "mutex", "lockfree:queue=ring,buffer=64"}
	want := append(append(append(append([]string{}, v...), v...), v...), v...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("schedule (-want +got):\n%s", diff)
	}
	// Each repetition visits both load levels before the next one starts.
	var levels []int
	for _, s := range specs {
		levels = append(levels, s.Load.Concurrency)
	}
	if diff := cmp.Diff([]int{1, 1, 1, 8, 8, 8, 1, 1, 1, 8, 8, 8}, levels); diff != "" {
		t.Errorf("load levels (-want +got):\n%s", diff)
	}
	for i, s := range specs {
		if s.Order != i {
			t.Errorf("spec %d has order %d", i, s.Order)
		}
	}
}

func TestPlanRejectsBadConfig(t *testing.T) {
	base := Config{Scenarios: []string{"chat"}, Variants: []string{"mutex"}, Trials: 1, Duration: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no trials", func(c *Config) { c.Trials = 0 }, "trials must be from 1 to 10000 (got 0)"},
		{"absurd trials", func(c *Config) { c.Trials = 1 << 40 }, "trials must be from 1 to 10000"},
		{"too many planned", func(c *Config) {
			c.Trials, c.Concurrency = 10_000, []int{1, 2, 3, 4, 5, 6}
		}, "120000 trials planned (10000 repetitions × 6 groups × 1 variants and the calibration), more than 100000"},
		{"no scenarios", func(c *Config) { c.Scenarios = nil }, "nothing to run: no scenarios given"},
		{"only the calibration, uncalibrated", func(c *Config) { c.Variants = []string{"passthrough"} }, "passthrough is the calibration variant, and calibration is off"},
		{"scenario twice", func(c *Config) { c.Scenarios = []string{"chat", "firehose", "chat"} }, `scenario "chat" given twice`},
		{"one name, two sources", func(c *Config) { c.Scenarios = []string{"chat", "../scenarios/builtin/chat.yaml"} }, `scenarios "chat" and "../scenarios/builtin/chat.yaml" are both named "chat"`},
		{"negative grace", func(c *Config) { c.Grace = -time.Second }, "grace must not be negative (got -1s)"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout must not be negative"},
		{"absurd gomaxprocs", func(c *Config) { c.GOMAXPROCS = []int{100000} }, "gomaxprocs must be from 1 to 1024 (got 100000)"},
		{"absurd concurrency", func(c *Config) { c.Concurrency = []int{10_000_000} }, "concurrency must be from 1 to 100000"},
		{"absurd rate", func(c *Config) { c.Rates = []float64{1e9} }, "rate must be in (0, 1e+06]"},
		{"unknown scenario", func(c *Config) { c.Scenarios = []string{"nope"} }, "nope"},
		{"unknown variant", func(c *Config) { c.Variants = []string{"spinlock"} }, `unknown implementation "spinlock"`},
		{"bad knob", func(c *Config) { c.Variants = []string{"lockfree:queue=deque"} }, "deque"},
		{"zero concurrency", func(c *Config) { c.Concurrency = []int{0} }, "concurrency must be from 1"},
		{"negative rate", func(c *Config) { c.Rates = []float64{-1} }, "rate must be in (0, 1e+06] requests per second (got -1)"},
		{"both lengths", func(c *Config) { c.Requests = 10 }, "not both"},
		{"zero gomaxprocs", func(c *Config) { c.GOMAXPROCS = []int{0} }, "gomaxprocs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			_, err := Trials(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Plan: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOpenModel runs a short open-model trial: requests start on their
// schedule and latency from the intended start is never less than from
// the actual start.
func TestOpenModel(t *testing.T) {
	spec := quick("lockfree", "chat")
	spec.Load = result.Load{Model: "open", Rate: 400, Arrival: "poisson"}
	spec.Duration = 500 * time.Millisecond
	spec.Warmup = 100 * time.Millisecond
	rec := mustRun(t, spec)
	if len(rec.Accounting.Violations) > 0 {
		t.Fatalf("violations: %q", rec.Accounting.Violations)
	}
	if rec.RequestsStarted < 50 {
		t.Fatalf("only %d requests started at 400/s over 0.6 s", rec.RequestsStarted)
	}
	if rec.E2EIntended.Count > 0 && rec.E2EIntended.P50 < rec.E2E.P50 {
		t.Errorf("e2e from intended start p50 %d < from actual start %d", rec.E2EIntended.P50, rec.E2E.P50)
	}
	if rec.Load.Model != "open" || rec.Load.Rate != 400 {
		t.Errorf("record load %+v", rec.Load)
	}
}

// TestRecordFields checks the measurements a duration trial fills in.
func TestRecordFields(t *testing.T) {
	spec := quick("mutex", "firehose")
	spec.Load = result.Load{Model: "closed", Concurrency: 4}
	spec.Duration = 300 * time.Millisecond
	spec.Warmup = 50 * time.Millisecond
	rec := mustRun(t, spec)
	if len(rec.Accounting.Violations) > 0 {
		t.Fatalf("violations: %q", rec.Accounting.Violations)
	}
	checks := map[string]bool{
		"chunks_per_s":         rec.ChunksPerS > 0,
		"bytes_per_s":          rec.BytesPerS > rec.ChunksPerS,
		"streams_per_s":        rec.StreamsPerS > 0,
		"ttft":                 rec.TTFT.Count > 0 && rec.TTFT.P50 <= rec.TTFT.P99 && rec.TTFT.P99 <= rec.TTFT.Max,
		"itl":                  rec.ITL.Count > 0,
		"e2e":                  rec.E2E.Count > 0,
		"relay":                rec.Relay.Count > 0,
		"cpu_ns_per_chunk":     rec.CPUNSPerChunk > 0,
		"allocs_per_chunk":     rec.AllocsPerChunk > 0,
		"heap_series":          len(rec.HeapSeries) > 0,
		"heap_peak_bytes":      rec.HeapPeakBytes > 0,
		"duration_s":           rec.DurationS > 0.2 && rec.DurationS < 5,
		"gomaxprocs":           rec.GOMAXPROCS > 0,
		"variant_spec":         strings.HasPrefix(rec.VariantSpec, "mutex:lock=stream"),
		"no digest (duration)": rec.DeliveredDigest == "",
		"no request digests":   rec.RequestDigests == nil,
		"dist":                 len(rec.Dist["e2e"]) > 0,
		"warmup_s":             rec.WarmupS == 0.05,
		"calibration_ns":       rec.CalibrationNS > 0,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s not filled in: %+v", name, rec)
		}
	}
}

func TestMoreProcsThanCores(t *testing.T) {
	spec := quick("lockfree", "firehose")
	spec.Load = result.Load{Model: "closed", Concurrency: 2}
	spec.Duration, spec.Warmup = 100*time.Millisecond, 0
	spec.GOMAXPROCS = runtime.NumCPU() + 2
	rec := mustRun(t, spec)
	if rec.GOMAXPROCS != spec.GOMAXPROCS || rec.Cores != runtime.NumCPU() {
		t.Fatalf("record says GOMAXPROCS %d on %d cores", rec.GOMAXPROCS, rec.Cores)
	}
	if !strings.Contains(strings.Join(rec.Warnings, ";"), "exceeds the machine's cores") {
		t.Errorf("no warning for GOMAXPROCS %d on %d cores: %q", rec.GOMAXPROCS, rec.Cores, rec.Warnings)
	}
}

func TestEquivalence(t *testing.T) {
	mk := func(v string, digests []string, dropped int64) *result.Trial {
		return &result.Trial{Variant: v, Scenario: "chat", Load: result.Load{Model: "closed", Concurrency: 4},
			RequestDigests: digests, Accounting: result.Accounting{ChunksDropped: dropped}}
	}
	got := Equivalence([]*result.Trial{
		mk("mutex", []string{"a", "b", "c"}, 0),
		mk("lockfree", []string{"a", "b", "c"}, 0),
		mk("lockfree-drop", []string{"a", "x", "c"}, 3),
		mk("broken", []string{"a", "b", "z"}, 0),
		{Variant: "stopped", Scenario: "chat", Load: result.Load{Model: "closed", Concurrency: 4},
			RequestDigests: []string{"a", "", ""}, Partial: true},
	})
	if len(got) != 2 {
		t.Fatalf("got %d lines: %q", len(got), got)
	}
	if !strings.Contains(got[0], "identical streams for [mutex lockfree]") || !strings.Contains(got[0], "undefined for [lockfree-drop]") ||
		!strings.Contains(got[0], "undefined for [stopped] (partial records: mutex or it stopped before its end)") {
		t.Errorf("summary line: %q", got[0])
	}
	if !strings.Contains(got[1], "broken differs from mutex at request 2") {
		t.Errorf("difference line: %q", got[1])
	}
}

func TestTrialInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	spec := quick("lockfree", "chat")
	spec.Duration = time.Hour
	time.AfterFunc(300*time.Millisecond, cancel)
	rec, err := RunTrial(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rec.Warnings, ";"), "interrupted") {
		t.Fatalf("warnings %q do not say the trial was interrupted", rec.Warnings)
	}
	if rec.DurationS > 10 || len(rec.Accounting.Violations) > 0 {
		t.Fatalf("interrupted trial: duration %g, violations %q", rec.DurationS, rec.Accounting.Violations)
	}
	if !rec.Partial || !strings.HasPrefix(rec.PartialReason, "interrupted, ") {
		t.Fatalf("interrupted trial: partial %v, reason %q; want a partial record saying it was interrupted", rec.Partial, rec.PartialReason)
	}
}

// TestAccountingProperty varies the seed, so that disconnects, failures and
// their chunk positions land differently each time, and requires the
// accounting to close for the designs and a lossy backpressure strategy.
func TestAccountingProperty(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		for _, v := range []string{"mutex", "lockfree", "lockfree-drop", "mutex:lock=global,cancel=on"} {
			spec := quick(v, "testdata/disconnect-short.yaml")
			spec.Seed = seed * 7919
			spec.Requests = 40
			rec := mustRun(t, spec)
			if err := AccountingError(rec); err != nil {
				t.Errorf("seed %d: %v", spec.Seed, err)
			}
			a := rec.Accounting
			if a.ChunksDelivered+a.ChunksDropped+a.ChunksRejected+a.ChunksDiscarded != a.ChunksProduced {
				t.Errorf("seed %d %s: buckets do not close: %+v", spec.Seed, v, a)
			}
			if a.ChunksAfterDisconnect > a.ChunksProduced-a.ChunksDelivered {
				t.Errorf("seed %d %s: %d chunks after disconnect but only %d undelivered", spec.Seed, v, a.ChunksAfterDisconnect, a.ChunksProduced-a.ChunksDelivered)
			}
		}
	}
}

// TestHungProvider: providers that stall for an hour do not hang the trial;
// the harness stops them after the drain bound and says so.
func TestHungProvider(t *testing.T) {
	for _, v := range []string{"mutex", "lockfree"} {
		t.Run(v, func(t *testing.T) {
			spec := quick(v, "testdata/hung.yaml")
			spec.Drain = 200 * time.Millisecond
			spec.Timeout = 500 * time.Millisecond
			began := time.Now()
			rec := mustRun(t, spec)
			if d := time.Since(began); d > time.Minute {
				t.Fatalf("trial took %s", d)
			}
			for _, want := range []string{"timed out", "outlived"} {
				if !strings.Contains(strings.Join(rec.Warnings, ";"), want) {
					t.Errorf("warnings %q do not say %q", rec.Warnings, want)
				}
			}
			if rec.StreamsFailed == 0 {
				t.Errorf("no failed streams recorded: %+v", rec)
			}
			if v == "lockfree" {
				if err := AccountingError(rec); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestDesignDurationsFollowTheTimeScale checks that every duration a
// variant holds runs on the scenario's clock and that the record's spec
// says which values were in force.
func TestDesignDurationsFollowTheTimeScale(t *testing.T) {
	sc, err := scenarios.Lookup("testdata/slow-short.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scale := sc.TimeScale
	if scale == 1 {
		t.Fatal("testdata/slow-short.yaml must scale time for this test")
	}
	for _, tt := range []struct{ variant, want string }{
		{"lockfree", "unit=" + time.Duration(float64(time.Millisecond)*scale).String()},
		{"lockfree-block", "block-timeout=" + time.Duration(float64(100*time.Millisecond)*scale).String()},
		{"fix-bounded", "unit=" + time.Duration(float64(time.Millisecond)*scale).String()},
		{"mutex:finalizer-timeout=100s", "finalizer-timeout=" + time.Duration(float64(100*time.Second)*scale).String()},
	} {
		rec := mustRun(t, quick(tt.variant, "testdata/slow-short.yaml"))
		if !strings.Contains(rec.VariantSpec, tt.want) {
			t.Errorf("%s at time scale %g: variant_spec %q, want it to hold %s", tt.variant, scale, rec.VariantSpec, tt.want)
		}
	}
}

// TestWarmupNotMeasured shows by counts that the warm-up's requests are
// outside the measured window: a request-count trial measures exactly its
// requests, while more were started (the warm-up's).
func TestWarmupNotMeasured(t *testing.T) {
	spec := quick("lockfree", "testdata/disconnect-short.yaml")
	spec.Requests, spec.Warmup = 40, 100*time.Millisecond
	rec := mustRun(t, spec)
	if got := rec.StreamsCompleted + rec.StreamsDisconnected + rec.StreamsFailed; got != 40 {
		t.Errorf("measured streams = %d, want exactly the 40 requests", got)
	}
	if rec.RequestsStarted <= 40 {
		t.Errorf("requests started = %d, want more than the 40 measured (the warm-up's)", rec.RequestsStarted)
	}
}

// fakeChild is ChildMain, or, as STREAMBENCH_TEST_CHILD asks, a child of
// another protocol or none: "unversioned" writes its record without a version, as a
// binary built before versioning does; "refuse" refuses its parent as a
// child of version 7 would; "deaf" ignores a stop and writes no record.
func fakeChild() int {
	switch os.Getenv("STREAMBENCH_TEST_CHILD") {
	case "unversioned":
		var out bytes.Buffer
		if code := ChildMain(&out, os.Stderr); code != 0 {
			return code
		}
		_, trials, err := result.ReadAll(&out, "child")
		if err != nil || len(trials) != 1 {
			return 2
		}
		trials[0].Protocol = 0
		_ = result.NewWriter(os.Stdout).Write(trials[0])
		return 0
	case "refuse":
		fmt.Fprintf(os.Stderr, "bench child: the parent speaks trial protocol version %d, this child speaks version 7\n", ProtocolVersion)
		return 2
	case "deaf":
		// A child that never answers a stop, as one stuck past its
		// deadline (or built before stop lines existed) does: it reads
		// its stdin to the end and writes nothing.
		io.Copy(io.Discard, os.Stdin)
		return 3
	}
	return ChildMain(os.Stdout, os.Stderr)
}

// TestProtocolMismatch checks both directions of the version check: a
// parent refuses a child of another version (or none), and a child refuses
// a parent of another version, each naming both versions.
func TestProtocolMismatch(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := quick("passthrough", "testdata/disconnect-short.yaml")
	for _, tc := range []struct {
		child string
		want  int
		msg   string
	}{
		{"unversioned", 0, "speaks trial protocol version none (built before the protocol was versioned), this bench speaks version 1"},
		{"refuse", 7, "speaks trial protocol version 7, this bench speaks version 1"},
	} {
		t.Run(tc.child, func(t *testing.T) {
			t.Setenv("STREAMBENCH_TEST_CHILD", tc.child)
			_, err := RunChild(context.Background(), exe, spec)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("RunChild: %v, want a *ProtocolError", err)
			}
			if pe.Child != tc.want || pe.Parent != ProtocolVersion || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("RunChild: %+v (%v), want child version %d and a message containing %q", pe, err, tc.want, tc.msg)
			}
		})
	}
	t.Run("child refuses parent", func(t *testing.T) {
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(childEnv, string(b))
		t.Setenv(protocolEnv, "5")
		var stdout, stderr bytes.Buffer
		if code := ChildMain(&stdout, &stderr); code != 2 || stdout.Len() != 0 {
			t.Fatalf("ChildMain = %d with stdout %q, want 2 and nothing", code, stdout.String())
		}
		if want := "parent speaks trial protocol version 5, this child speaks version 1"; !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr %q, want it to contain %q", stderr.String(), want)
		}
	})
	t.Run("same version", func(t *testing.T) {
		rec, err := RunChild(context.Background(), exe, spec)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Protocol != ProtocolVersion {
			t.Fatalf("record protocol %d, want %d", rec.Protocol, ProtocolVersion)
		}
	})
}

// cancelOnWrite cancels its context at its first write: Run's progress
// line for a trial, just before the trial starts.
type cancelOnWrite struct{ cancel context.CancelFunc }

func (c cancelOnWrite) Write(p []byte) (int, error) { c.cancel(); return len(p), nil }

// TestRunInProcessStoppedWritesPartial: a run in process that is killed
// (its context cancelled) while a trial runs writes that trial's partial
// record before it stops, rather than losing what it measured.
func TestRunInProcessStoppedWritesPartial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Scenarios: []string{"testdata/disconnect-short.yaml"}, Variants: []string{"lockfree", "mutex"},
		Trials: 1, Duration: time.Hour, Grace: 10 * time.Millisecond, Drain: 5 * time.Second, InProcess: true}
	specs, err := Trials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	out, err := Run(ctx, cfg, specs, result.NewWriter(&buf), nil, cancelOnWrite{cancel})
	if !errors.Is(err, errStopped) {
		t.Fatalf("Run: %v, want it stopped", err)
	}
	_, written, rerr := result.ReadAll(&buf, "results")
	if rerr != nil || len(out) != 1 || len(written) != 1 {
		t.Fatalf("%d records returned, %d written (%v); want the stopped trial's alone", len(out), len(written), rerr)
	}
	if rec := written[0]; !rec.Partial || !strings.HasPrefix(rec.PartialReason, "interrupted, ") || rec.Variant != "lockfree" {
		t.Fatalf("record %s: partial %v, reason %q; want lockfree's, partial, interrupted", rec.Variant, rec.Partial, rec.PartialReason)
	}
}

package gate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/streambench/streambench/result"
)

// trial is a healthy lockfree record with the given chunks/s and CPU per
// chunk.
func trial(chunks, cpu float64) *result.Trial {
	return &result.Trial{
		VariantSpec: "lockfree:queue=chan,bill-unsent=off", ChunksPerS: chunks, CPUNSPerChunk: cpu,
		AllocsPerChunk: 2, AllocBytesPerChunk: 1000, TTFT: result.Percentiles{P99: 50_000},
		Accounting: result.Accounting{TokensBilled: 10, TokensDelivered: 10},
	}
}

// synthetic returns n pairs whose head is the base scaled by effect (on
// chunks/s, and inversely on CPU per chunk), each side with seeded
// multiplicative noise of relative size noise.
func synthetic(n int, effect, noise float64, seed uint64) []Pair {
	r := rand.New(rand.NewPCG(seed, 1))
	jit := func() float64 { return 1 + noise*(2*r.Float64()-1) }
	pairs := make([]Pair, n)
	for i := range pairs {
		b := trial(1e6*jit(), 1000*jit())
		h := trial(1e6*effect*jit(), 1000/effect*jit())
		pairs[i] = Pair{Base: b, Head: h}
	}
	return pairs
}

func decision(rows []Row, metric string) Row {
	for _, r := range rows {
		if r.Metric == metric {
			return r
		}
	}
	return Row{Decision: "missing"}
}

var g = Group{Scenario: "firehose", Concurrency: 16, Base: "lockfree", Head: "lockfree"}

func TestJudgeKnownEffects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		effect float64 // head chunks/s over base
		noise  float64
		want   Decision
	}{
		{"no change, little noise", 20, 1, 0.01, Pass},
		{"an improvement passes", 20, 1.3, 0.02, Pass},
		{"a 20% drop fails", 20, 0.8, 0.02, Fail},
		{"a 10% drop fails", 30, 0.9, 0.02, Fail},
		{"a drop at the threshold is undecided", 30, 0.95, 0.02, Inconclusive},
		{"too noisy to tell", 10, 1, 0.3, Inconclusive},
		{"too few pairs", 5, 0.5, 0, Inconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := Judge(g, synthetic(tc.n, tc.effect, tc.noise, 7), DefaultThresholds)
			for _, m := range []string{"chunks_per_s", "cpu_ns_per_chunk"} {
				if r := decision(rows, m); r.Decision != tc.want {
					t.Errorf("%s: %s (change %s [%s, %s]), want %s", m, r.Decision, pct(r.Change), pct(r.ChangeLo), pct(r.ChangeHi), tc.want)
				}
			}
			// allocs/chunk is the same on both sides: an exact 1x.
			if r := decision(rows, "allocs_per_chunk"); tc.n >= MinPairs && (r.Decision != Pass || r.Change != 0) {
				t.Errorf("allocs/chunk: %s %g, want pass at 0", r.Decision, r.Change)
			}
		})
	}
}

// TestJudgeBoundaries pins the rule at its edges with noiseless pairs,
// whose interval is a single point: just inside the threshold passes, just
// beyond it fails, for a higher-is-better and a lower-is-better metric.
func TestJudgeBoundaries(t *testing.T) {
	for _, tc := range []struct {
		chunks, cpu float64 // head over base
		want        [2]Decision
	}{
		{0.9501, 1.0499, [2]Decision{Pass, Pass}},
		{0.9499, 1.0501, [2]Decision{Fail, Fail}},
		{1.5, 0.5, [2]Decision{Pass, Pass}},
	} {
		var pairs []Pair
		for range 6 {
			pairs = append(pairs, Pair{Base: trial(1e6, 1000), Head: trial(1e6*tc.chunks, 1000*tc.cpu)})
		}
		rows := Judge(g, pairs, DefaultThresholds)
		for i, m := range []string{"chunks_per_s", "cpu_ns_per_chunk"} {
			if r := decision(rows, m); r.Decision != tc.want[i] {
				t.Errorf("chunks x%g, cpu x%g: %s %s, want %s", tc.chunks, tc.cpu, m, r.Decision, tc.want[i])
			}
		}
	}
}

func TestJudgeDetectable(t *testing.T) {
	rows := Judge(g, synthetic(30, 1, 0.05, 3), DefaultThresholds)
	r := decision(rows, "chunks_per_s")
	hw := (math.Log1p(r.ChangeHi) - math.Log1p(r.ChangeLo)) / 2
	if want := 1 - 0.95*math.Exp(-hw); math.Abs(r.Detectable-want) > 1e-9 || r.Detectable <= 0.05 {
		t.Fatalf("detectable %g, want %g (beyond the 5%% threshold)", r.Detectable, want)
	}
}

func TestJudgeInvariants(t *testing.T) {
	pairs := func(mod func(*result.Trial)) []Pair {
		ps := synthetic(6, 1, 0, 1)
		mod(ps[3].Head)
		return ps
	}
	for _, tc := range []struct {
		name   string
		mod    func(*result.Trial)
		metric string
		detail string
	}{
		{"violation", func(t *result.Trial) { t.Accounting.Violations = []string{"chunks do not close"} }, "accounting", "chunks do not close"},
		{"crash", func(t *result.Trial) { t.Error = "child process failed" }, "accounting", "child process failed"},
		{"leak", func(t *result.Trial) { t.GoroutinesLeaked = 3 }, "goroutines_leaked", "leaked 3 goroutines"},
		{"billing", func(t *result.Trial) { t.Accounting.TokensBilled = 12 }, "billing", "billed 12 tokens, delivered 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := Judge(g, pairs(tc.mod), DefaultThresholds)
			r := decision(rows, tc.metric)
			if r.Decision != Fail || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("%s: %s %q, want fail naming %q", tc.metric, r.Decision, r.Detail, tc.detail)
			}
			if Verdict(rows) != Fail {
				t.Fatalf("verdict %s, want fail", Verdict(rows))
			}
		})
	}
	t.Run("the legacy may leak", func(t *testing.T) {
		rows := Judge(g, pairs(func(t *result.Trial) { t.VariantSpec = "mutex:lock=stream"; t.GoroutinesLeaked = 40 }), DefaultThresholds)
		if r := decision(rows, "goroutines_leaked"); r.Decision == Fail {
			t.Fatalf("a legacy leak failed the gate: %+v", r)
		}
	})
	t.Run("a failed base is left out", func(t *testing.T) {
		ps := synthetic(7, 1, 0, 1)
		ps[2].Base.Error = "crashed"
		rows := Judge(g, ps, DefaultThresholds)
		if r := decision(rows, "chunks_per_s"); r.Pairs != 6 || r.Decision != Pass {
			t.Fatalf("chunks/s on %d pairs: %s, want 6 pairs and a pass", r.Pairs, r.Decision)
		}
	})
}

func TestJudgeBound(t *testing.T) {
	rules := []Threshold{{Metric: "ttft_p99_ns", Max: 60_000, Min: math.NaN(), Change: math.NaN(), Source: "t"}}
	ps := synthetic(8, 1, 0, 1)
	if r := decision(Judge(g, ps, rules), "ttft_p99_ns"); r.Decision != Pass || !r.Absolute {
		t.Fatalf("p99 TTFT 50µs under a 60µs bound: %+v", r)
	}
	rules[0].Max = 40_000
	if r := decision(Judge(g, ps, rules), "ttft_p99_ns"); r.Decision != Fail {
		t.Fatalf("p99 TTFT 50µs over a 40µs bound: %+v", r)
	}
}

func TestRules(t *testing.T) {
	rules := append(DefaultThresholds[:len(DefaultThresholds):len(DefaultThresholds)],
		Threshold{Metric: "chunks_per_s", Variant: "lockfree*", Change: 0.02, Max: math.NaN(), Min: math.NaN()},
		Threshold{Metric: "allocs_per_chunk", Scenario: "chat", Skip: true, Change: math.NaN(), Max: math.NaN(), Min: math.NaN()})
	got := map[string]Threshold{}
	for _, r := range Rules(rules, "firehose", "mutex", "lockfree-ring") {
		got[r.Metric] = r
	}
	if got["chunks_per_s"].Change != 0.02 {
		t.Errorf("chunks/s for lockfree-ring: %+v, want the file's 2%%", got["chunks_per_s"])
	}
	if _, ok := got["ttft_p99_ns"]; ok {
		t.Errorf("p99 TTFT is gated on firehose")
	}
	if _, ok := got["allocs_per_chunk"]; !ok {
		t.Errorf("allocs/chunk skipped outside chat")
	}
	got = map[string]Threshold{}
	for _, r := range Rules(rules, "chat", "mutex", "mutex") {
		got[r.Metric] = r
	}
	if _, ok := got["allocs_per_chunk"]; ok || got["chunks_per_s"].Change != 0.05 || got["ttft_p99_ns"].Change != 0.10 {
		t.Errorf("chat, mutex: %+v", got)
	}
}

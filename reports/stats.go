// Package reports turns streambench result records into statistics,
// comparisons, terminal tables, findings, plots, a self-contained HTML
// report, a Markdown summary and Go benchmark format for benchstat.
//
// It sits above package result, whose records it reads, and below
// cmd/bench, which calls it; it never runs a trial itself. Every number it
// prints comes with its confidence interval and every statistical caveat
// (too few trials, a failed trial left out) travels next to the number as
// data, so nothing is silently dropped on the way to a reader.
package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
)

// Key identifies the trials that are comparable with each other; it is the
// record schema's (result.Key), so the harness's calibration and the
// reports group alike.
type Key = result.Key

// compareKeys orders keys by scenario, then load model, level and
// GOMAXPROCS, so tables read from light to heavy load.
func compareKeys(a, b Key) int {
	return cmp.Or(
		cmp.Compare(a.Scenario, b.Scenario),
		cmp.Compare(a.Load.Model, b.Load.Model),
		cmp.Compare(a.Load.Concurrency, b.Load.Concurrency),
		cmp.Compare(a.Load.Rate, b.Load.Rate),
		cmp.Compare(a.Load.Arrival, b.Load.Arrival),
		cmp.Compare(a.GOMAXPROCS, b.GOMAXPROCS),
	)
}

// A Metric is one number measured per trial that the reports summarise.
type Metric struct {
	Name string // snake_case, stable: used in JSON and benchmark units
	Unit string // for labels, e.g. "chunks/s", "ns"
	// HigherIsBetter says which direction is an improvement.
	HigherIsBetter bool
	Value          func(*result.Trial) float64
}

// Names of the headline metrics, in the order tables show them.
const (
	MChunksPerS      = "chunks_per_s"
	MStreamsPerS     = "streams_per_s"
	MTTFTP50         = "ttft_p50_ns"
	MTTFTP99         = "ttft_p99_ns"
	MITLP50          = "itl_p50_ns"
	MITLP99          = "itl_p99_ns"
	ME2EP99          = "e2e_p99_ns"
	MCPUNSPerChunk   = "cpu_ns_per_chunk"
	MHarnessNS       = "harness_ns_per_chunk"
	MAllocsPerChunk  = "allocs_per_chunk"
	MMutexWaitNS     = "mutex_wait_ns_per_chunk"
	MHeapPeak        = "heap_peak_bytes"
	MLeaked          = "goroutines_leaked"
	MBillingDelta    = "billing_delta_tokens"
	MBillingDeltaPct = "billing_delta_pct"
	MWastedChunks    = "chunks_after_disconnect"
	MGoodputPerS     = "goodput_per_s"
	// MUpstreamPerDelivered is the tokens the provider generated per token
	// a client received: 1 when nothing generated was wasted.
	MUpstreamPerDelivered = "upstream_tokens_per_delivered"
)

// Metrics lists the headline metrics, in table order.
var Metrics = []Metric{
	{MChunksPerS, "chunks/s", true, func(t *result.Trial) float64 { return t.ChunksPerS }},
	{MStreamsPerS, "streams/s", true, func(t *result.Trial) float64 { return t.StreamsPerS }},
	{MTTFTP50, "ns", false, func(t *result.Trial) float64 { return float64(t.TTFT.P50) }},
	{MTTFTP99, "ns", false, func(t *result.Trial) float64 { return float64(t.TTFT.P99) }},
	{MITLP50, "ns", false, func(t *result.Trial) float64 { return float64(t.ITL.P50) }},
	{MITLP99, "ns", false, func(t *result.Trial) float64 { return float64(t.ITL.P99) }},
	{ME2EP99, "ns", false, func(t *result.Trial) float64 { return float64(t.E2E.P99) }},
	{MCPUNSPerChunk, "ns/chunk", false, func(t *result.Trial) float64 { return t.CPUNSPerChunk }},
	{MHarnessNS, "ns/chunk", false, func(t *result.Trial) float64 { return t.HarnessNSPerChunk }},
	{MAllocsPerChunk, "allocs/chunk", false, func(t *result.Trial) float64 { return t.AllocsPerChunk }},
	{MMutexWaitNS, "ns/chunk", false, func(t *result.Trial) float64 { return t.MutexWaitNSPerChunk }},
	{MHeapPeak, "B", false, func(t *result.Trial) float64 { return float64(t.HeapPeakBytes) }},
	{MLeaked, "goroutines", false, func(t *result.Trial) float64 { return float64(t.GoroutinesLeaked) }},
	{MGoodputPerS, "requests/s", true, func(t *result.Trial) float64 {
		if t.SLO == nil {
			return math.NaN() // no objective: nothing to judge
		}
		return t.GoodputPerS
	}},
	{MWastedChunks, "chunks", false, func(t *result.Trial) float64 { return float64(t.Accounting.ChunksAfterDisconnect) }},
	{MBillingDelta, "tokens", false, func(t *result.Trial) float64 {
		if !bills(t) {
			return math.NaN()
		}
		return float64(t.Accounting.TokensBilled - t.Accounting.TokensDelivered)
	}},
	{MBillingDeltaPct, "%", false, func(t *result.Trial) float64 {
		a := t.Accounting
		if !bills(t) {
			return math.NaN()
		}
		if a.TokensDelivered == 0 {
			if a.TokensBilled == 0 {
				return 0
			}
			return math.Inf(1)
		}
		return 100 * float64(a.TokensBilled-a.TokensDelivered) / float64(a.TokensDelivered)
	}},
	{MUpstreamPerDelivered, "tokens/token", false, upstreamPerDelivered},
}

// upstreamPerDelivered is the trial's tokens generated upstream per token
// delivered; NaN for a record from before tokens_generated existed, or one
// that delivered nothing.
func upstreamPerDelivered(t *result.Trial) float64 {
	a := t.Accounting
	if a.TokensGenerated == 0 || a.TokensDelivered == 0 {
		return math.NaN()
	}
	return float64(a.TokensGenerated) / float64(a.TokensDelivered)
}

// bills reports whether the trial's variant keeps records and bills at all
// (the pass-through calibration does neither).
func bills(t *result.Trial) bool { return t.Accounting.RecordsExpected > 0 }

// Options configures the statistics.
type Options struct {
	// Confidence is the level of every confidence interval, in (0,1).
	Confidence float64
	// Thresholds holds the significance level of comparisons.
	Thresholds *benchmath.Thresholds
	// MinEffect is the practical-significance band: a ratio whose median
	// lies within 1 ± MinEffect is not called faster or slower, however
	// small its p value. 0 turns the band off.
	MinEffect float64
	// Ladders are the ablation ladders the attribution walks (see
	// Attribute); none, no attribution.
	Ladders []variant.Ladder
}

// DefaultMinEffect is the default practical-significance band, ±2%: on
// a shared machine, run-to-run drift of a percent or two is common, and
// a difference that small is not what anyone chooses a design for.
const DefaultMinEffect = 0.02

// DefaultOptions are 95% confidence intervals and alpha = 0.05, as in
// benchstat, and a ±2% practical-significance band.
var DefaultOptions = Options{Confidence: 0.95, Thresholds: &benchmath.DefaultThresholds, MinEffect: DefaultMinEffect}

func (o Options) orDefault() Options {
	if o.Confidence <= 0 || o.Confidence >= 1 {
		o.Confidence = DefaultOptions.Confidence
	}
	if o.Thresholds == nil {
		o.Thresholds = DefaultOptions.Thresholds
	}
	return o
}

// An Estimate is the median of one metric over the trials of one variant in
// one group, with its confidence interval. Lo and Hi are ±Inf when there
// are too few trials for an interval; Warnings then says how many are
// needed.
type Estimate struct {
	Metric     string
	N          int
	Center     float64
	Lo, Hi     float64
	Confidence float64
	Warnings   []string
}

// A Ratio compares one metric between two variants of a group: the median
// of Num divided by the median of Den, with a confidence interval, and the
// Mann-Whitney U test of whether the two samples differ.
type Ratio struct {
	Metric     string
	Num, Den   string // variant names
	Center     float64
	Lo, Hi     float64
	Confidence float64
	// P is the U test's own p value, as benchstat prints it.
	P     float64
	Alpha float64
	// PAdj is P adjusted by Holm's method for the Family comparisons of
	// this metric the run makes (every variant against its group's
	// baseline, in every group); a ratio outside that family (between two
	// non-baseline variants) has PAdj = P and Family 1.
	PAdj   float64
	Family int
	// MinEffect is the practical-significance band the ratio is judged
	// by (Options.MinEffect).
	MinEffect float64
	Warnings  []string
}

// Significant reports whether the U test rejected "no difference" at
// Alpha after the correction for the run's comparisons (PAdj).
func (r Ratio) Significant() bool { return r.PAdj < r.Alpha }

// RawSignificant reports whether the uncorrected p value is below Alpha.
func (r Ratio) RawSignificant() bool { return r.P < r.Alpha }

// Material reports whether the median ratio lies outside the band
// 1 ± MinEffect.
func (r Ratio) Material() bool { return math.Abs(r.Center-1) > r.MinEffect }

// Excludes1 reports whether r's confidence interval lies wholly above or
// wholly below 1x.
func (r Ratio) Excludes1() bool { return r.Lo > 1 || r.Hi < 1 }

// Direction is +1 when r is a finding that Num is higher than Den, -1
// when it is lower, and 0 when it is not a finding. A finding is
// significant after the correction, lies outside the band, and has a
// confidence interval that excludes 1x.
//
// Note: the last condition keeps a sentence from calling a variant slower
// while quoting an interval that holds "no difference"; the U test and
// the conservative interval of a ratio (see ratio) can disagree near the
// threshold.
func (r Ratio) Direction() int {
	switch {
	case !r.Significant() || !r.Material() || !r.Excludes1() || math.IsNaN(r.Center):
		return 0
	case r.Center > 1:
		return 1
	}
	return -1
}

// Verdict explains why r with a raw p value below Alpha is still not a
// finding: the correction for the run's comparisons, the band, or an
// interval that reaches 1x. It is
// "" for a finding and for a ratio not significant even uncorrected.
func (r Ratio) Verdict() string {
	switch {
	case !r.RawSignificant() || math.IsNaN(r.Center):
		return ""
	case !r.Significant():
		return fmt.Sprintf("%s is below %g uncorrected, but not after Holm's correction for the run's %d %s comparisons (adjusted p=%.3f)",
			fmtP(r.P), r.Alpha, r.Family, r.Metric, r.PAdj)
	case !r.Material():
		return fmt.Sprintf("significant, but within the ±%s practical-significance band (-min-effect)", fmtPct(r.MinEffect))
	case !r.Excludes1():
		return fmt.Sprintf("significant, but its %s interval reaches 1x", confPct(r.Confidence))
	}
	return ""
}

// VariantStats summarises one variant's trials in one group.
type VariantStats struct {
	Variant string
	Trials  int // trials summarised (failed ones are excluded)
	Failed  int // failed trials left out
	// Partial counts the trials summarised whose records are partial: the
	// trial was stopped before its end (a child at its deadline, an
	// interrupted run), and its numbers cover it until then. At a load a
	// design cannot carry, that is its outcome: a collapse. Overran counts
	// those whose timeline ran over what was asked (result.Trial.Overrun).
	Partial int
	Overran int
	// Estimates holds one Estimate per entry of Metrics, in that order.
	Estimates []Estimate
	// Warnings are caveats about the variant as a whole, such as failed
	// trials left out.
	Warnings []string

	samples map[string]*benchmath.Sample
	// trials are the successful trials summarised, for the statistics
	// that pair trials by repetition (the attribution).
	trials []*result.Trial
}

// Estimate returns the estimate of the named metric.
func (v *VariantStats) Estimate(metric string) Estimate {
	for _, e := range v.Estimates {
		if e.Metric == metric {
			return e
		}
	}
	return Estimate{Metric: metric, Center: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
}

// A Group holds the statistics of every variant under one Key and the
// ratios between each pair of its variants.
type Group struct {
	Key Key
	// Variants are in baseline order: see orderVariants.
	Variants []*VariantStats
	// Ratios holds, for each pair i < j of Variants and each metric,
	// Variants[j] / Variants[i].
	Ratios []Ratio
}

// Variant returns the stats of the named variant, or nil.
func (g *Group) Variant(name string) *VariantStats {
	for _, v := range g.Variants {
		if v.Variant == name {
			return v
		}
	}
	return nil
}

// Ratio returns num/den for metric, and whether the group has both.
func (g *Group) Ratio(metric, num, den string) (Ratio, bool) {
	for _, r := range g.Ratios {
		if r.Metric == metric && r.Num == num && r.Den == den {
			return r, true
		}
	}
	return Ratio{}, false
}

// Headline returns the pair of variants a reader compares first in g: the
// faithful designs lockfree over mutex when both ran, otherwise the second
// variant over the first. ok is false with fewer than two variants.
func (g *Group) Headline() (num, den string, ok bool) {
	if g.Variant("mutex") != nil && g.Variant("lockfree") != nil {
		return "lockfree", "mutex", true
	}
	if len(g.Variants) < 2 {
		return "", "", false
	}
	return g.Variants[1].Variant, g.Variants[0].Variant, true
}

// Analyze groups trials by Key and variant and computes every Estimate and
// Ratio. Failed trials are left out of the numbers and counted in
// VariantStats.Failed with a warning; partial records (a trial stopped
// before its end) are results, kept in the numbers and counted in
// VariantStats.Partial, their own warning saying why. Groups are ordered by compareKeys.
func Analyze(trials []*result.Trial, opts Options) []*Group {
	opts = opts.orDefault()
	order := orderVariants(trials)
	type cell struct {
		key     Key
		variant string
	}
	byCell := map[cell][]*result.Trial{}
	keys := map[Key]bool{}
	for _, t := range trials {
		if isProbe(t) {
			continue // see Capacities
		}
		k := t.Key()
		keys[k] = true
		c := cell{k, t.Variant}
		byCell[c] = append(byCell[c], t)
	}
	sorted := make([]Key, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.SortFunc(sorted, compareKeys)

	var groups []*Group
	for _, k := range sorted {
		g := &Group{Key: k}
		for _, v := range order {
			ts, ok := byCell[cell{k, v}]
			if !ok {
				continue
			}
			g.Variants = append(g.Variants, summarise(v, ts, opts))
		}
		for i := range g.Variants {
			for j := i + 1; j < len(g.Variants); j++ {
				for _, m := range Metrics {
					g.Ratios = append(g.Ratios, ratio(m.Name, g.Variants[j], g.Variants[i], opts))
				}
			}
		}
		groups = append(groups, g)
	}
	correct(groups)
	return groups
}

// correct applies Holm's method to each metric's family of comparisons:
// every variant of every group against that group's baseline, the ratios
// the summary table shows.
//
// Note: Holm, not Benjamini-Hochberg. A finding is a sentence a reader
// acts on, so the report bounds the chance of any false "faster" or
// "slower" in a run (the family-wise error), not their expected share.
// Holm holds under any dependence between the tests, and these are
// dependent: every comparison in a group shares its baseline's trials,
// which BH's guarantee does not cover without a further log factor. A run
// compares a dozen or a few dozen pairs, and real differences in a
// benchmark are mostly far from the threshold (p at the U test's floor),
// so the power Holm gives up against BH costs little; where the trials
// are too few for the family, findings say so (familyFloorFinding).
func correct(groups []*Group) {
	type member struct{ g, i int }
	family := map[string][]member{}
	for gi, g := range groups {
		for i := range g.Ratios {
			r := &g.Ratios[i]
			r.PAdj, r.Family = r.P, 1
			if len(g.Variants) == 0 || r.Den != g.Variants[0].Variant || math.IsNaN(r.Center) {
				continue
			}
			family[r.Metric] = append(family[r.Metric], member{gi, i})
		}
	}
	for _, ms := range family {
		ps := make([]float64, len(ms))
		for k, m := range ms {
			ps[k] = groups[m.g].Ratios[m.i].P
		}
		adj := holm(ps)
		for k, m := range ms {
			r := &groups[m.g].Ratios[m.i]
			r.PAdj, r.Family = adj[k], len(ms)
		}
	}
}

// holm returns Holm's step-down adjusted p values of ps, in the order of
// ps: the k-th smallest p times (m-k+1), made monotone and capped at 1. A
// hypothesis is rejected at level α when its adjusted p is below α.
func holm(ps []float64) []float64 {
	m := len(ps)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ps[a], ps[b]) })
	adj := make([]float64, m)
	run := 0.0
	for k, i := range idx {
		run = math.Max(run, math.Min(1, float64(m-k)*ps[i]))
		adj[i] = run
	}
	return adj
}

// orderVariants returns the variant names of trials in baseline order:
// "mutex" first, "lockfree" second, then the others in order of first
// appearance. Note: the faithful legacy design is the baseline every ratio
// is relative to, so "lockfree/mutex" reads as the speedup the source
// claims; ablation variants follow in the order the run scheduled them.
func orderVariants(trials []*result.Trial) []string {
	var names []string
	for _, t := range trials {
		if !slices.Contains(names, t.Variant) {
			names = append(names, t.Variant)
		}
	}
	rank := func(s string) int {
		switch s {
		case "mutex":
			return 0
		case "lockfree":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
	return names
}

// summarise computes the Estimates of one variant's trials.
func summarise(variant string, trials []*result.Trial, opts Options) *VariantStats {
	vs := &VariantStats{Variant: variant, samples: map[string]*benchmath.Sample{}}
	var ok []*result.Trial
	for _, t := range trials {
		if t.Failed() {
			vs.Failed++
			continue
		}
		ok = append(ok, t)
		if t.Partial {
			vs.Partial++
		}
		if t.Overran() {
			vs.Overran++
		}
	}
	vs.Trials = len(ok)
	vs.trials = ok
	if vs.Failed > 0 {
		vs.Warnings = append(vs.Warnings, fmt.Sprintf("%d of %d trials failed and are left out", vs.Failed, len(trials)))
	}
	// The harness's own per-trial warnings (a busy machine, say) qualify
	// these numbers too; identical ones are counted, not repeated.
	var texts []string
	count := map[string]int{}
	for _, t := range ok {
		for _, w := range t.Warnings {
			if count[w] == 0 {
				texts = append(texts, w)
			}
			count[w]++
		}
	}
	for _, w := range texts {
		vs.Warnings = append(vs.Warnings, fmt.Sprintf("%s (%d of %d trials)", w, count[w], len(ok)))
	}
	for _, m := range Metrics {
		// A metric that does not apply to a variant (billing, for one that
		// bills nothing) is NaN and is left out, not counted as zero.
		vals := make([]float64, 0, len(ok))
		for _, t := range ok {
			if v := m.Value(t); !math.IsNaN(v) {
				vals = append(vals, v)
			}
		}
		s := benchmath.NewSample(vals, opts.Thresholds)
		vs.samples[m.Name] = s
		e := estimate(m.Name, s, opts.Confidence)
		if len(vals) == 0 && len(ok) > 0 {
			e.Warnings = nil // not applicable, not missing
		}
		vs.Estimates = append(vs.Estimates, e)
	}
	return vs
}

// estimate summarises s with benchmath.AssumeNothing.
func estimate(metric string, s *benchmath.Sample, confidence float64) Estimate {
	if len(s.Values) == 0 {
		return Estimate{Metric: metric, Center: math.NaN(), Lo: math.NaN(), Hi: math.NaN(),
			Confidence: confidence, Warnings: []string{"no successful trials"}}
	}
	sum := benchmath.AssumeNothing.Summary(s, confidence)
	return Estimate{
		Metric: metric, N: len(s.Values),
		Center: sum.Center, Lo: sum.Lo, Hi: sum.Hi, Confidence: sum.Confidence,
		Warnings: errStrings(sum.Warnings),
	}
}

// ratio computes num/den for one metric.
//
// Note: the interval of the ratio of medians is built from the two medians'
// own distribution-free intervals, each taken at level √c so that, the two
// samples being independent, both cover their true medians with probability
// at least √c·√c = c; whenever both do, the true ratio lies in
// [numLo/denHi, numHi/denLo]. The interval is therefore conservative (its
// coverage is at least c, usually more) and needs no resampling or random
// seed, so the same records always give the same report. A bootstrap would
// be narrower but is unreliable at the five-to-ten trials a benchmark run
// affords. When a median interval is unbounded (too few trials), so is the
// ratio's, and benchmath's warning says how many trials are needed.
func ratio(metric string, num, den *VariantStats, opts Options) Ratio {
	sn, sd := num.samples[metric], den.samples[metric]
	r := Ratio{Metric: metric, Num: num.Variant, Den: den.Variant, Confidence: opts.Confidence,
		Center: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: 1, PAdj: 1, Family: 1,
		Alpha: opts.Thresholds.CompareAlpha, MinEffect: opts.MinEffect}
	if len(sn.Values) == 0 || len(sd.Values) == 0 {
		r.Warnings = []string{"no successful trials to compare"}
		return r
	}
	c := math.Sqrt(opts.Confidence)
	a := benchmath.AssumeNothing.Summary(sn, c)
	b := benchmath.AssumeNothing.Summary(sd, c)
	na := benchmath.AssumeNothing.Summary(sn, 0.5) // Center only; the level does not matter
	nb := benchmath.AssumeNothing.Summary(sd, 0.5)
	r.Center = divide(na.Center, nb.Center)
	r.Lo, r.Hi = ratioBounds(a, b)
	// benchmath words its warning for the level it was asked, √c; say
	// what it means for the ratio instead.
	level := fmt.Sprintf("confidence interval at level %v", c)
	ratioLevel := fmt.Sprintf("the %s interval of a ratio", confPct(opts.Confidence))
	for _, w := range errStrings(append(a.Warnings, b.Warnings...)) {
		w = strings.Replace(w, level, ratioLevel, 1)
		if !slices.Contains(r.Warnings, w) {
			r.Warnings = append(r.Warnings, w)
		}
	}
	if nb.Center == 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s median is 0, so the ratio is undefined", den.Variant))
	}
	cmpr := benchmath.AssumeNothing.Compare(sd, sn)
	r.P, r.Alpha = cmpr.P, cmpr.Alpha
	r.PAdj = r.P
	r.Warnings = append(r.Warnings, errStrings(cmpr.Warnings)...)
	return r
}

// ratioBounds returns [a.Lo/b.Hi, a.Hi/b.Lo] for positive intervals and an
// unbounded interval otherwise (a ratio through zero has no useful bound).
func ratioBounds(a, b benchmath.Summary) (lo, hi float64) {
	if a.Lo < 0 || b.Lo <= 0 || math.IsInf(a.Lo, 0) || math.IsInf(b.Lo, 0) {
		lo, hi = math.Inf(-1), math.Inf(1)
		if a.Lo >= 0 && !math.IsInf(a.Lo, 0) {
			lo = 0
		}
		return lo, hi
	}
	return a.Lo / b.Hi, a.Hi / b.Lo
}

// divide returns a/b, NaN for 0/0.
func divide(a, b float64) float64 {
	if a == 0 && b == 0 {
		return math.NaN()
	}
	return a / b
}

func errStrings(errs []error) []string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return s
}

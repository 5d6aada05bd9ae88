package reports

import (
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/streambench/streambench/impls/variant"
)

// bootstrapReplicates is how many resamples each group's attribution
// draws. Note: 2,000 puts the 2.5th and 97.5th percentiles on 50
// replicates each, steady to the second digit of a ratio, and costs a few
// milliseconds per group.
const bootstrapReplicates = 2000

// minAttributionTrials is the fewest repetitions a group needs for an
// attribution interval; below it the bootstrap has too few distinct
// resamples to mean anything.
const minAttributionTrials = 5

// A Contribution is one step of a ladder, or the ladder's total: the
// median of a metric at this step over the median at the step before,
// with its confidence interval, and its share of the total log-ratio.
type Contribution struct {
	// Variant is the step's variant and From the step before it (for the
	// total, the ladder's last and first).
	Variant, From string
	// Change is the ladder's name for what changed ("acc=zerocopy"), or
	// "crossing".
	Change string
	// Crossing marks the residual: the step where the code base changes.
	Crossing bool
	// Ratio is median(Variant)/median(From); Lo and Hi its interval, ±Inf
	// with too few trials.
	Ratio, Lo, Hi float64
	// Share is log(Ratio) over the total's log-ratio, NaN when the total
	// is too close to 1x for shares to mean anything (see Attribution).
	Share float64
	// Cumulative is median(Variant) over the median of the ladder's first
	// step: where the waterfall's bar ends.
	Cumulative float64
}

// An Attribution splits one group's total log-ratio of one metric, from
// the ladder's first variant (mutex) to its last (lockfree), into the
// contribution of each step. The steps' log-ratios add up to the total's
// exactly; each interval is a paired bootstrap over the group's
// repetitions (see Attribute).
type Attribution struct {
	Key        Key
	Ladder     variant.Ladder
	Metric     string
	Confidence float64
	MinEffect  float64
	// Steps holds one Contribution per ladder step after the first.
	Steps []Contribution
	// Total is the last step's median over the first's.
	Total Contribution
	// Trials is the number of repetitions resampled.
	Trials   int
	Warnings []string

	// boot holds, per bootstrap replicate, each step's log-ratio (NaN
	// where a replicate left a variant without trials), so that two
	// ladders of one group can be compared replicate by replicate.
	boot [][]float64
	// perRep holds each variant's log value in each repetition (the log
	// of the median when a repetition has several trials of it), shared
	// by the ladders of a group.
	perRep map[string]map[int]float64
}

// Largest returns the step whose contribution is largest in size, and
// whether it is a finding: its interval excludes 1x and its ratio lies
// outside the practical-significance band.
func (a *Attribution) Largest() (Contribution, bool) {
	best := a.Steps[0]
	for _, s := range a.Steps[1:] {
		if math.Abs(math.Log(s.Ratio)) > math.Abs(math.Log(best.Ratio)) {
			best = s
		}
	}
	clear := (best.Lo > 1 || best.Hi < 1) && math.Abs(best.Ratio-1) > a.MinEffect
	return best, clear
}

// Residual returns the crossing step, and false if the ladder has none.
func (a *Attribution) Residual() (Contribution, bool) {
	for _, s := range a.Steps {
		if s.Crossing {
			return s, true
		}
	}
	return Contribution{}, false
}

// An Omission is a ladder left out of a group because some of its
// variants did not run there.
type Omission struct {
	Key     Key
	Ladder  string
	Missing []string
}

// An Interaction compares what one change contributed in two ladders of
// the same group. The ladders fix the flaws in different orders, so a
// change that contributes differently in each depends on which other
// flaws are present: the flaws interact, and a single ladder's split is
// one of several.
type Interaction struct {
	Key Key
	// Change is the change compared ("acc=zerocopy", or "crossing" for
	// the residuals).
	Change string
	// A and B are the two ladders' contributions of Change.
	LadderA, LadderB string
	A, B             Contribution
	// Ratio is A.Ratio/B.Ratio, with its paired bootstrap interval.
	Ratio, Lo, Hi float64
	// P is the two-sided p value of "no difference" of Wilcoxon's
	// signed-rank test over the Pairs repetitions that ran every variant
	// involved; PAdj is
	// P adjusted by Holm's method for the Family interactions of the run.
	P, PAdj float64
	Pairs   int
	Family  int
	Alpha   float64
	// Differ is true when PAdj < Alpha, Ratio lies outside the
	// practical-significance band and its interval excludes 1x, the
	// conditions a Ratio meets to be a finding.
	Differ bool
}

// Attributions is everything Attribute found in a run.
type Attributions struct {
	Metric       string
	Ladders      []*Attribution
	Omitted      []Omission
	Interactions []Interaction
}

// Attribute splits, in every group that ran every variant of a ladder,
// the total log-ratio of metric from the ladder's first step to its last
// into each step's log(median of the step / median of the step before).
// A group that ran some of a ladder's intermediate variants but not all
// is reported in Omitted. Where a group holds two ladders, each change
// they share (and the residual) is compared between them.
//
// Note: the intervals come from a bootstrap over repetitions, paired by
// the trial index, with a fixed seed per group; not from benchmath's
// per-sample median intervals as Ratio's do. The harness runs every
// variant of a repetition back to back, so resampling whole repetitions
// keeps a repetition's drift in both numerator and denominator, and it
// gives the joint distribution of every step and of both ladders, which
// the shares and the interval of a cross-ladder comparison need:
// intervals combined from separate samples (as in ratio) can only be
// widened, never differenced. The price is that a bootstrap of a median
// from few trials is approximate (a warning says so below ten), which is
// why whether two ladders differ is decided by a signed-rank test, not by
// the bootstrap (see interactions).
func Attribute(groups []*Group, ladders []variant.Ladder, metric string, opts Options) *Attributions {
	opts = opts.orDefault()
	out := &Attributions{Metric: metric}
	for _, g := range groups {
		var here []*Attribution
		for _, l := range ladders {
			if len(l.Steps) < 2 {
				continue
			}
			var missing []string
			intermediate := false
			for i, s := range l.Steps {
				if g.Variant(s.Variant) == nil {
					missing = append(missing, s.Variant)
				} else if i > 0 && i < len(l.Steps)-1 {
					intermediate = true
				}
			}
			if len(missing) > 0 {
				// A run that never tried the ladder (mutex and lockfree
				// alone) is not missing anything.
				if intermediate {
					out.Omitted = append(out.Omitted, Omission{g.Key, l.Name, missing})
				}
				continue
			}
			here = append(here, &Attribution{Key: g.Key, Ladder: l, Metric: metric,
				Confidence: opts.Confidence, MinEffect: opts.MinEffect})
		}
		if len(here) == 0 {
			continue
		}
		attribute(g, here, metric)
		out.Ladders = append(out.Ladders, here...)
		for i := range here {
			for j := i + 1; j < len(here); j++ {
				out.Interactions = append(out.Interactions, interactions(here[i], here[j], opts)...)
			}
		}
	}
	ps := make([]float64, len(out.Interactions))
	for i, x := range out.Interactions {
		ps[i] = x.P
	}
	for i, p := range holm(ps) {
		x := &out.Interactions[i]
		x.PAdj, x.Family = p, len(ps)
		x.Differ = x.PAdj < x.Alpha && math.Abs(x.Ratio-1) > opts.MinEffect && (x.Lo > 1 || x.Hi < 1)
	}
	return out
}

// attribute fills in the contributions of the ladders of group g, which
// all share one bootstrap: the same resampled repetitions for every
// variant of every ladder.
func attribute(g *Group, ladders []*Attribution, metric string) {
	m := metricByName(metric)
	// Each variant's values by repetition (trial index). A repetition may
	// hold more than one trial of a variant when records of several runs
	// are merged; they are resampled together.
	values := map[string]map[int][]float64{}
	var reps []int
	for _, a := range ladders {
		for _, s := range a.Ladder.Steps {
			if values[s.Variant] != nil {
				continue
			}
			byRep := map[int][]float64{}
			for _, t := range g.Variant(s.Variant).trials {
				if v := m.Value(t); v > 0 && !math.IsInf(v, 0) {
					byRep[t.Trial] = append(byRep[t.Trial], v)
					if !slices.Contains(reps, t.Trial) {
						reps = append(reps, t.Trial)
					}
				}
			}
			values[s.Variant] = byRep
		}
	}
	slices.Sort(reps)
	perRep := map[string]map[int]float64{}
	for v, byRep := range values {
		perRep[v] = map[int]float64{}
		for r, vs := range byRep {
			perRep[v][r] = math.Log(median(slices.Clone(vs)))
		}
	}
	// point is the log median of each variant over all its trials.
	point := map[string]float64{}
	for v, byRep := range values {
		var all []float64
		for _, vs := range byRep {
			all = append(all, vs...)
		}
		point[v] = math.NaN()
		if len(all) > 0 {
			point[v] = math.Log(median(all))
		}
	}
	for _, a := range ladders {
		a.Trials, a.perRep = len(reps), perRep
	}
	// The bootstrap: every replicate draws len(reps) repetitions with
	// replacement, and each variant's median is taken over its trials in
	// the drawn repetitions.
	enough := len(reps) >= minAttributionTrials
	if enough {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%s/%d/%s", g.Key.Scenario, g.Key.LoadName(), g.Key.GOMAXPROCS, metric)
		rng := rand.New(rand.NewPCG(0x5eed, h.Sum64()))
		names := slices.Sorted(maps.Keys(values))
		drawn := make([]int, len(reps))
		var buf []float64
		for range bootstrapReplicates {
			for i := range drawn {
				drawn[i] = reps[rng.IntN(len(reps))]
			}
			lm := map[string]float64{}
			for _, v := range names {
				buf = buf[:0]
				for _, r := range drawn {
					buf = append(buf, values[v][r]...)
				}
				lm[v] = math.NaN()
				if len(buf) > 0 {
					lm[v] = math.Log(median(buf))
				}
			}
			for _, a := range ladders {
				row := make([]float64, len(a.Ladder.Steps)) // the last entry is the total
				for i := 1; i < len(a.Ladder.Steps); i++ {
					row[i-1] = lm[a.Ladder.Steps[i].Variant] - lm[a.Ladder.Steps[i-1].Variant]
				}
				row[len(row)-1] = lm[a.Ladder.Steps[len(a.Ladder.Steps)-1].Variant] - lm[a.Ladder.Steps[0].Variant]
				a.boot = append(a.boot, row)
			}
		}
	}
	for _, a := range ladders {
		steps := a.Ladder.Steps
		first, last := steps[0].Variant, steps[len(steps)-1].Variant
		totalLog := point[last] - point[first]
		a.Total = Contribution{Variant: last, From: first, Change: first + " → " + last,
			Ratio: math.Exp(totalLog), Cumulative: math.Exp(totalLog), Share: 1}
		a.Total.Lo, a.Total.Hi = a.interval(len(steps) - 1)
		for i := 1; i < len(steps); i++ {
			lr := point[steps[i].Variant] - point[steps[i-1].Variant]
			c := Contribution{Variant: steps[i].Variant, From: steps[i-1].Variant,
				Change: steps[i].Change, Crossing: steps[i].Crossing,
				Ratio: math.Exp(lr), Cumulative: math.Exp(point[steps[i].Variant] - point[first])}
			c.Lo, c.Hi = a.interval(i - 1)
			c.Share = math.NaN()
			a.Steps = append(a.Steps, c)
		}
		if !enough {
			a.Warnings = append(a.Warnings, fmt.Sprintf("need >= %d trials of each variant for an attribution interval (%d so far)", minAttributionTrials, len(reps)))
		} else if len(reps) < 10 {
			a.Warnings = append(a.Warnings, fmt.Sprintf("a bootstrap interval of a median from %d trials is approximate (10 or more are better)", len(reps)))
		}
		// Note: a share divides by the total log-ratio; when the total is
		// within the band or its interval holds 1x, that is dividing by
		// noise, so no shares are given.
		if (a.Total.Lo > 1 || a.Total.Hi < 1) && math.Abs(a.Total.Ratio-1) > a.MinEffect {
			for i := range a.Steps {
				a.Steps[i].Share = math.Log(a.Steps[i].Ratio) / totalLog
			}
		} else {
			a.Warnings = append(a.Warnings, fmt.Sprintf("the total is not clearly outside 1x ± %s, so it has no shares to split", fmtPct(a.MinEffect)))
		}
	}
}

// interval returns the percentile interval of column col of a's
// bootstrap, as ratios; ±Inf without a bootstrap.
func (a *Attribution) interval(col int) (lo, hi float64) {
	var vs []float64
	for _, row := range a.boot {
		if !math.IsNaN(row[col]) {
			vs = append(vs, row[col])
		}
	}
	if len(vs) < bootstrapReplicates/2 {
		return math.Inf(-1), math.Inf(1)
	}
	l, h := percentileCI(vs, a.Confidence)
	return math.Exp(l), math.Exp(h)
}

// percentileCI returns the (1-c)/2 and (1+c)/2 quantiles of vs, which it
// sorts.
func percentileCI(vs []float64, c float64) (lo, hi float64) {
	slices.Sort(vs)
	q := func(p float64) float64 {
		i := int(math.Round(p * float64(len(vs)-1)))
		return vs[min(max(i, 0), len(vs)-1)]
	}
	return q((1 - c) / 2), q((1 + c) / 2)
}

// interactions compares the changes that ladders a and b of one group
// share, the residual included. A step both ladders take from the same
// variant to the same variant is one measurement, not two, and is left
// out.
func interactions(a, b *Attribution, opts Options) []Interaction {
	key := func(s Contribution) string {
		if s.Crossing {
			return "crossing"
		}
		return s.Change
	}
	var out []Interaction
	for i, sa := range a.Steps {
		j := slices.IndexFunc(b.Steps, func(sb Contribution) bool { return key(sb) == key(sa) })
		if j < 0 {
			continue
		}
		sb := b.Steps[j]
		if sa.Variant == sb.Variant && sa.From == sb.From {
			continue // the same step on both ladders: one measurement, nothing to compare
		}
		x := Interaction{Key: a.Key, Change: key(sa), LadderA: a.Ladder.Name, LadderB: b.Ladder.Name,
			A: sa, B: sb, Ratio: sa.Ratio / sb.Ratio, Lo: math.Inf(-1), Hi: math.Inf(1), P: 1,
			Alpha: opts.Thresholds.CompareAlpha}
		var ds []float64
		for r := range a.boot {
			if d := a.boot[r][i] - b.boot[r][j]; !math.IsNaN(d) {
				ds = append(ds, d)
			}
		}
		if len(ds) >= bootstrapReplicates/2 {
			l, h := percentileCI(ds, opts.Confidence)
			x.Lo, x.Hi = math.Exp(l), math.Exp(h)
		}
		// Note: the test is Wilcoxon's signed-rank test on each
		// repetition's own contrast, (log step − log step before) in A
		// minus the same in B: exact, free of assumptions about the
		// noise's distribution, and paired, as the repetitions are. The
		// bootstrap that gives the interval estimates the spread of a
		// median from ten trials about a third too narrow, which as a
		// test found an interaction in one run in ten where there was
		// none.
		var cs []float64
		for r, la := range a.perRep[sa.Variant] {
			c := la - a.perRep[sa.From][r] - b.perRep[sb.Variant][r] + b.perRep[sb.From][r]
			if _, ok := a.perRep[sa.From][r]; !ok {
				continue
			}
			if _, ok := b.perRep[sb.Variant][r]; !ok {
				continue
			}
			if _, ok := b.perRep[sb.From][r]; !ok {
				continue
			}
			cs = append(cs, c)
		}
		x.P, x.Pairs = signedRankTest(cs)
		out = append(out, x)
	}
	return out
}

// signedRankTest is Wilcoxon's signed-rank test of "the contrasts cs are
// symmetric about zero", two-sided. It returns the p value and the number
// of non-zero contrasts it used: exact from the distribution of the rank
// sum when there are no ties and at most 30 contrasts, otherwise the
// normal approximation with the tie correction. p is 1 with none.
func signedRankTest(cs []float64) (p float64, n int) {
	var abs []float64
	for _, c := range cs {
		if c != 0 && !math.IsNaN(c) {
			abs = append(abs, c)
		}
	}
	n = len(abs)
	if n == 0 {
		return 1, 0
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpFloat(math.Abs(abs[a]), math.Abs(abs[b])) })
	// Midranks, 1-based; ties get the mean of the ranks they span.
	ranks := make([]float64, n)
	ties := false
	tieTerm := 0.0
	for i := 0; i < n; {
		j := i
		for j+1 < n && math.Abs(abs[idx[j+1]]) == math.Abs(abs[idx[i]]) {
			j++
		}
		for k := i; k <= j; k++ {
			ranks[idx[k]] = float64(i+j)/2 + 1
		}
		if t := float64(j - i + 1); t > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
		i = j + 1
	}
	w := 0.0 // the sum of the ranks of the positive contrasts
	for i, c := range abs {
		if c > 0 {
			w += ranks[i]
		}
	}
	total := float64(n*(n+1)) / 2
	if !ties && n <= 30 {
		// counts[s] is the number of sign assignments with rank sum s.
		counts := make([]float64, int(total)+1)
		counts[0] = 1
		for r := 1; r <= n; r++ {
			for s := int(total); s >= r; s-- {
				counts[s] += counts[s-r]
			}
		}
		lo := min(w, total-w)
		tail := 0.0
		for s := 0; s <= int(lo); s++ {
			tail += counts[s]
		}
		return math.Min(1, 2*tail/math.Pow(2, float64(n))), n
	}
	mean := total / 2
	sd := math.Sqrt(float64(n*(n+1)*(2*n+1))/24 - tieTerm/48)
	z := (math.Abs(w-mean) - 0.5) / sd // with continuity correction
	return math.Min(1, math.Erfc(math.Max(z, 0)/math.Sqrt2)), n
}

// metricByName returns the Metric called name; chunks/s if none is.
func metricByName(name string) Metric {
	for _, m := range Metrics {
		if m.Name == name {
			return m
		}
	}
	return Metrics[0]
}

// metricLabel names a metric in prose: "chunks/s", "CPU ns/chunk".
func metricLabel(name string) string {
	switch name {
	case MChunksPerS:
		return "chunks/s"
	case MCPUNSPerChunk:
		return "CPU ns/chunk"
	}
	return name
}

// attributionFindings names, for every attribution, the step that
// contributed most (or says no step stands out), and says where two
// ladders of a group disagree on a change: the flaws interact.
func attributionFindings(at *Attributions, where func(Key) string) []string {
	var out []string
	label := metricLabel(at.Metric)
	for _, a := range at.Ladders {
		first, last := a.Total.From, a.Total.Variant
		best, clear := a.Largest()
		w := capitalize(where(a.Key))
		if !clear {
			out = append(out, fmt.Sprintf("%s, no step of the %s ladder changed %s beyond ±%s with %s confidence (largest: %s %s; total %s %s over %s).",
				w, a.Ladder.Name, label, fmtPct(a.MinEffect), confPct(a.Confidence),
				stepName(best), fmtContribution(best), last, fmtContribution(a.Total), first))
			continue
		}
		s := fmt.Sprintf("%s, the %s ladder puts the largest part of %s's %s the %s of %s on %s: %s",
			w, a.Ladder.Name, last, fmtXShort(a.Total.Ratio), label, first, stepName(best), fmtContribution(best))
		if !math.IsNaN(best.Share) {
			s += fmt.Sprintf(", %.0f%% of the total log-ratio", 100*best.Share)
		}
		if r, ok := a.Residual(); ok && !best.Crossing {
			s += fmt.Sprintf("; the residual at the crossing is %s", fmtContribution(r))
		}
		out = append(out, s+".")
	}
	for _, o := range at.Omitted {
		out = append(out, fmt.Sprintf("%s, the %s ladder is left out of the attribution: %s did not run there.",
			capitalize(where(o.Key)), o.Ladder, strings.Join(o.Missing, ", ")))
	}
	// Interactions, group by group: each change the ladders disagree on,
	// or one sentence that they agree.
	type pair struct {
		k    Key
		a, b string
	}
	var order []pair
	byPair := map[pair][]Interaction{}
	for _, x := range at.Interactions {
		p := pair{x.Key, x.LadderA, x.LadderB}
		if byPair[p] == nil {
			order = append(order, p)
		}
		byPair[p] = append(byPair[p], x)
	}
	for _, p := range order {
		var differ []string
		for _, x := range byPair[p] {
			if x.Differ {
				differ = append(differ, fmt.Sprintf("%s is %s in %s but %s in %s (%s/%s %s, adjusted %s)",
					x.Change, fmtContribution(x.A), x.LadderA, fmtContribution(x.B), x.LadderB,
					x.LadderA, x.LadderB, fmtCI(x.Ratio, x.Lo, x.Hi), fmtP(x.PAdj)))
			}
		}
		w := capitalize(where(p.k))
		x0 := slices.MaxFunc(byPair[p], func(a, b Interaction) int { return a.Pairs - b.Pairs })
		if floor := 2 / math.Pow(2, float64(x0.Pairs)); len(differ) == 0 && floor >= x0.Alpha/float64(x0.Family) {
			need := x0.Pairs
			for 2/math.Pow(2, float64(need)) >= x0.Alpha/float64(x0.Family) {
				need++
			}
			out = append(out, fmt.Sprintf("%s, %d trials are too few to tell whether the %s and %s ladders disagree: over the run's %d comparisons, the signed-rank test needs %d or more.",
				w, x0.Pairs, p.a, p.b, x0.Family, need))
			continue
		}
		if len(differ) > 0 {
			out = append(out, fmt.Sprintf("%s, the %s and %s ladders disagree, so the flaws interact (a change's effect depends on which flaws are already fixed): %s.",
				w, p.a, p.b, strings.Join(differ, "; ")))
		} else {
			out = append(out, fmt.Sprintf("%s, the %s and %s ladders agree on every change they share, within ±%s or their CIs.",
				w, p.a, p.b, fmtPct(at.minEffect())))
		}
	}
	return out
}

// minEffect is the band the attributions were judged by.
func (at *Attributions) minEffect() float64 {
	if len(at.Ladders) == 0 {
		return DefaultMinEffect
	}
	return at.Ladders[0].MinEffect
}

// stepName names a step in prose: "acc=zerocopy (mutex-zerocopy)" or
// "the crossing to lockfree (the residual)".
func stepName(c Contribution) string {
	if c.Crossing {
		return "the crossing to " + c.Variant + " (the residual)"
	}
	return c.Change + " (" + c.Variant + ")"
}

// fmtContribution formats a step's ratio and interval: "×1.12 [1.05, 1.19]".
func fmtContribution(c Contribution) string { return fmtCI(c.Ratio, c.Lo, c.Hi) }

// fmtCI formats a ratio and its interval: "×1.12 [1.05, 1.19]".
func fmtCI(r, lo, hi float64) string {
	f := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmtSI(v)
		}
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("×%s [%s, %s]", f(r), f(lo), f(hi))
}

// fmtShare formats a share of the total log-ratio: "42%", or "-".
func fmtShare(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	if math.Abs(s) < 0.005 {
		return "0%" // not "-0%"
	}
	return fmt.Sprintf("%.0f%%", 100*s)
}

// writeAttribution writes the attribution section of the terminal
// summary: one row per ladder step, the total after each ladder, then the
// comparisons of the ladders and the ladders left out. It writes nothing
// when no ladder ran.
func writeAttribution(w io.Writer, at *Attributions) error {
	if len(at.Ladders) == 0 && len(at.Omitted) == 0 {
		return nil
	}
	var notes footnotes
	fmt.Fprintf(w, "\nattribution of %s from mutex to lockfree, by ladder step: each step's median over the step before, paired bootstrap %s CI, share of the total log-ratio\n",
		metricLabel(at.Metric), confPct(confidenceOf(at)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tload\tprocs\tladder\tstep\tchange\tratio [CI]\tshare\tcumulative\n")
	for _, a := range at.Ladders {
		k := a.Key
		for _, s := range a.Steps {
			change := s.Change
			if s.Crossing {
				change = "crossing (residual)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Scenario, k.LoadName(), k.GOMAXPROCS,
				a.Ladder.Name, s.Variant, change, fmtContribution(s), fmtShare(s.Share), fmtX(s.Cumulative))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s%s\t%s\t%s\n", k.Scenario, k.LoadName(), k.GOMAXPROCS,
			a.Ladder.Name, "total", a.Total.Change, fmtContribution(a.Total), notes.mark(a.Warnings), "100%", fmtX(a.Total.Ratio))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(at.Interactions) > 0 {
		fmt.Fprintf(w, "\nladders compared, change by change: ratio of the two contributions with its bootstrap CI, Wilcoxon signed-rank p over the repetitions, Holm-adjusted over the run's %d comparisons; differ: adjusted p < alpha, outside ±%s and a CI that excludes 1x\n",
			at.Interactions[0].Family, fmtPct(at.minEffect()))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "scenario\tload\tprocs\tchange\tladder A\tladder B\tA/B [CI]\tp\tadjusted p\tverdict\n")
		for _, x := range at.Interactions {
			verdict := "agree"
			if x.Differ {
				verdict = "differ"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s %s\t%s %s\t%s\t%s\t%s\t%s\n", x.Key.Scenario, x.Key.LoadName(), x.Key.GOMAXPROCS,
				x.Change, x.LadderA, fmtContribution(x.A), x.LadderB, fmtContribution(x.B),
				fmtCI(x.Ratio, x.Lo, x.Hi), fmtP(x.P), fmtP(x.PAdj), verdict)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, o := range at.Omitted {
		fmt.Fprintf(w, "ladder %s left out on %s %s GOMAXPROCS=%d: %s did not run\n",
			o.Ladder, o.Key.Scenario, o.Key.LoadName(), o.Key.GOMAXPROCS, strings.Join(o.Missing, ", "))
	}
	return notes.write(w)
}

// confidenceOf returns the level of at's intervals.
func confidenceOf(at *Attributions) float64 {
	if len(at.Ladders) == 0 {
		return DefaultOptions.Confidence
	}
	return at.Ladders[0].Confidence
}

// writeAttributionMarkdown writes one compact table per ladder, a row per
// group and a column per step, for summary.md.
func writeAttributionMarkdown(b *strings.Builder, at *Attributions) {
	var names []string
	for _, a := range at.Ladders {
		if !slices.Contains(names, a.Ladder.Name) {
			names = append(names, a.Ladder.Name)
		}
	}
	for _, name := range names {
		var rows []*Attribution
		for _, a := range at.Ladders {
			if a.Ladder.Name == name {
				rows = append(rows, a)
			}
		}
		l := rows[0].Ladder
		fmt.Fprintf(b, "\n**Attribution, %s ladder** (%s): %s of each step over the step before, %s CI, share of the total\n\n",
			l.Name, l.Description, metricLabel(at.Metric), confPct(rows[0].Confidence))
		b.WriteString("| scenario | load |")
		sep := "|---|---|"
		for _, s := range l.Steps[1:] {
			c := s.Change
			if s.Crossing {
				c = "crossing (residual)"
			}
			fmt.Fprintf(b, " %s |", c)
			sep += "---|"
		}
		b.WriteString(" total |\n" + sep + "---|\n")
		for _, a := range rows {
			fmt.Fprintf(b, "| %s | %s |", a.Key.Scenario, a.Key.LoadName())
			for _, s := range a.Steps {
				fmt.Fprintf(b, " %s %s |", fmtContribution(s), fmtShare(s.Share))
			}
			fmt.Fprintf(b, " %s |\n", fmtContribution(a.Total))
		}
	}
}

package reports

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
)

// ExperimentClaim marks, in a run header's Experiment, a run of `bench
// claim`: its report opens with the verdict table (see ClaimVerdicts).
const ExperimentClaim = "claim"

// The verdicts of a claim row.
const (
	Reproduced    = "reproduced"
	Partly        = "partly"
	NotReproduced = "not reproduced"
	NotTestable   = "not testable here"
)

// claimTarget is the source's throughput claim: "up to 20x".
const claimTarget = 20

// The designs a claim compares: the redesign against the legacy, each as
// the source describes it.
const (
	claimNew = "lockfree"
	claimOld = "mutex"
)

// A ClaimRow is one measurement of one of the source's claims, with its
// verdict.
type ClaimRow struct {
	// Claim is the source's words; Metric what was measured.
	Claim, Metric string
	// Factor is how many times better the redesign did on Metric
	// (legacy over redesign for a cost, redesign over legacy for a rate),
	// with its interval: above 1 favours the claim. NaN for a row that is
	// not a ratio (see Value).
	Factor, Lo, Hi float64
	// Value is the measurement as printed: the factor and its interval,
	// or counts.
	Value string
	// Conditions say where Value was measured: scenario, load, GOMAXPROCS
	// and the machine's cores.
	Conditions string
	Verdict    string
	// Carried names the ladder steps that carry the difference, from the
	// attribution, or says why there is none.
	Carried string
	// Notes are caveats: a ratio capped by the harness, the trend over
	// GOMAXPROCS, what the machine could not test.
	Notes []string
}

// ClaimVerdicts tests each of the source's claims on trials (a run of
// `bench claim`, or any run holding both designs) and returns a row per
// claim and metric, in the order the table shows them. A claim none of
// whose conditions ran is "not testable here", saying what it needs.
func ClaimVerdicts(trials []*result.Trial, opts Options) []ClaimRow {
	opts = opts.orDefault()
	groups := Analyze(trials, opts)
	cores := 0
	for _, t := range trials {
		cores = max(cores, t.Cores)
	}
	c := claimCtx{groups: groups, trials: trials, opts: opts, cores: cores}
	if len(opts.Ladders) == 0 {
		c.ladders = variant.Ladders()
	} else {
		c.ladders = opts.Ladders
	}
	const (
		throughput   = "throughput up to 20x under concurrency"
		memory       = "memory controlled via backpressure and fixed buffer limits"
		cancellation = "immediate cancellation prevents leaks and wasted work"
		latency      = "latency decreased significantly"
	)
	rows := []ClaimRow{
		c.ratioRow(throughput, MChunksPerS, "chunks/s, redesign over legacy, where the pipeline's cost is all there is", calibrated, claimTarget),
		c.ratioRow(throughput, MGoodputPerS, "goodput (requests meeting the SLO per second) at equal offered load, redesign over legacy", equalLoad, claimTarget),
	}
	rows = append(rows,
		c.ratioRow(memory, MHeapPeak, "peak heap, legacy over redesign", anyCondition, 0),
		c.growthRow(memory),
		c.oomRow(memory),
		c.countRow(cancellation, MLeaked, "goroutines alive after the streams ended (median per trial)", "needs both designs on a scenario where clients disconnect"),
		c.countRow(cancellation, MWastedChunks, "chunks produced after the client left (median per trial)", "needs both designs on a scenario where clients disconnect"),
		c.ratioRow(cancellation, MUpstreamPerDelivered, "upstream tokens generated per token delivered, legacy over redesign", anyCondition, 0),
		c.ratioRow(latency, MTTFTP99, "p99 TTFT at equal offered load, legacy over redesign", equalLoad, 0),
		c.ratioRow(latency, ME2EP99, "p99 end-to-end at equal offered load, legacy over redesign", equalLoad, 0),
	)
	return rows
}

// claimCtx is what the rows of ClaimVerdicts are computed from.
type claimCtx struct {
	groups  []*Group
	trials  []*result.Trial
	opts    Options
	cores   int
	ladders []variant.Ladder
	attr    map[string]*Attributions // by metric, computed once
}

// both returns the groups where both designs ran.
func (c *claimCtx) both() []*Group {
	var out []*Group
	for _, g := range c.groups {
		if g.Variant(claimNew) != nil && g.Variant(claimOld) != nil {
			out = append(out, g)
		}
	}
	return out
}

// A claimScope is which of the groups where both designs ran a ratio row
// is judged over.
type claimScope int

const (
	// anyCondition: every group.
	anyCondition claimScope = iota
	// calibrated: the groups where the pass-through calibration ran too,
	// where the harness measured its own ceiling: the conditions a
	// throughput claim is tested in (in a paced scenario the provider's
	// script, not the pipeline, sets the throughput).
	calibrated
	// equalLoad: the open model's groups, whose arrivals are the same for
	// both designs; every group, with a note, when none ran.
	equalLoad
)

// scoped returns the groups of scope, and a note when it had to fall back.
func (c *claimCtx) scoped(scope claimScope) (gs []*Group, note string) {
	for _, g := range c.both() {
		switch {
		case scope == calibrated && g.Variant(variant.PassThrough) == nil:
		case scope == equalLoad && g.Key.Load.Model != "open":
		default:
			gs = append(gs, g)
		}
	}
	if len(gs) == 0 && scope == equalLoad {
		if gs = c.both(); len(gs) > 0 {
			note = "no open-model condition ran: measured under the closed model, where the designs' loads differ with their speed"
		}
	}
	return gs, note
}

// newClaimRow is a row of claim and metric with no factor yet.
func newClaimRow(claim, metric string) ClaimRow {
	return ClaimRow{Claim: claim, Metric: metric, Factor: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
}

// factor returns the redesign's improvement on metric in g: the ratio
// oriented so that above 1 favours it, its interval, and whether it is a
// finding in either direction (dir +1 better, -1 worse, 0 neither).
func factor(g *Group, metric string) (f, lo, hi float64, dir int, ok bool) {
	r, ok := g.Ratio(metric, claimNew, claimOld)
	if !ok || math.IsNaN(r.Center) {
		return 0, 0, 0, 0, false
	}
	if metricByName(metric).HigherIsBetter {
		return r.Center, r.Lo, r.Hi, r.Direction(), true
	}
	return 1 / r.Center, 1 / r.Hi, 1 / r.Lo, -r.Direction(), true
}

// where describes g's conditions.
func (c *claimCtx) where(g *Group) string {
	return fmt.Sprintf("%s %s, GOMAXPROCS %d of %d cores", g.Key.Scenario, g.Key.LoadName(), g.Key.GOMAXPROCS, c.cores)
}

// ratioRow is the row of a metric compared as a ratio over the groups of
// scope. The best condition is the one where
// the redesign's improvement is largest among the findings (or, with
// none, largest at all). With target > 0 the claim is a size ("up to
// 20x"): reproduced when the best finding reaches it, partly when a
// finding falls short; without, reproduced when the redesign is better in
// some condition and worse in none.
func (c *claimCtx) ratioRow(claim, metric, label string, scope claimScope, target float64) ClaimRow {
	row := newClaimRow(claim, label)
	gs, note := c.scoped(scope)
	if note != "" {
		row.Notes = append(row.Notes, note)
	}
	var best *Group
	bestF, bestFinding := math.Inf(-1), false
	better, worse := 0, 0
	for _, g := range gs {
		f, _, _, dir, ok := factor(g, metric)
		if !ok || math.IsInf(f, 0) {
			continue
		}
		switch dir {
		case 1:
			better++
		case -1:
			worse++
		}
		finding := dir == 1
		if (finding && !bestFinding) || (finding == bestFinding && f > bestF) {
			best, bestF, bestFinding = g, f, finding
		}
	}
	if best == nil {
		row.Verdict, row.Value = NotTestable, "—"
		row.Conditions = "needs both designs on a scenario that measures it"
		return row
	}
	row.Factor, row.Lo, row.Hi, _, _ = factor(best, metric)
	row.Value = fmtCI(row.Factor, row.Lo, row.Hi)
	row.Conditions = c.where(best)
	row.Carried = c.carried(best, metric)
	r, _ := best.Ratio(metric, claimNew, claimOld)
	capped := cappedPhrase(best, r) != ""
	if capped {
		ceil, _ := best.Ceiling(metric, claimOld)
		row.Notes = append(row.Notes, fmt.Sprintf("within 20%% of the harness's ceiling (%s, pass-through over legacy): the design's own ratio may be larger", fmtXShort(ceil)))
	}
	for _, v := range []string{claimOld, claimNew} {
		ts := trialsOf(c.trials, best, v)
		partial, oom := 0, 0
		for _, t := range ts {
			if t.Partial {
				partial++
			}
			if t.OutOfMemory {
				oom++
			}
		}
		// Note: a collapse is the design's outcome at that load: its
		// numbers there run to the collapse and stay in the ratio.
		if partial > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("%s collapsed in %d of %d trials there (partial records: stopped at their deadline)", v, partial, len(ts)))
		}
		if oom > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("%s ran out of memory in %d of %d trials there", v, oom, len(ts)))
		}
	}
	if trend := c.procsTrend(best, metric); trend != "" {
		row.Notes = append(row.Notes, trend)
	}
	if worse > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("the redesign is worse in %d of %d conditions", worse, len(gs)))
	}
	switch {
	case !bestFinding:
		row.Verdict = NotReproduced
	case target > 0 && row.Factor >= target:
		row.Verdict = Reproduced
	case target > 0 && capped:
		row.Verdict = Partly
		ceil, _ := best.Ceiling(metric, claimOld)
		if ceil < target {
			row.Notes = append(row.Notes, fmt.Sprintf("%gx is not testable here: the harness cannot show more than %s on this machine", target, fmtXShort(ceil)))
		}
	case target > 0:
		row.Verdict = Partly
		row.Notes = append(row.Notes, fmt.Sprintf("%s of the claimed %gx", fmtXShort(row.Factor), target))
		if best.Key.GOMAXPROCS >= c.cores {
			row.Notes = append(row.Notes, fmt.Sprintf("a many-core condition (more than %d cores) is not testable here, and is not extrapolated", c.cores))
		}
	case worse > 0:
		row.Verdict = Partly
	default:
		row.Verdict = Reproduced
	}
	return row
}

// procsTrend lists metric's factor at each GOMAXPROCS that ran for g's
// scenario and load, when more than one did: the trend a many-core claim
// is read from, never extrapolated.
func (c *claimCtx) procsTrend(g *Group, metric string) string {
	var parts []string
	for _, h := range c.groups {
		k := h.Key
		if k.Scenario != g.Key.Scenario || k.Load != g.Key.Load {
			continue
		}
		if f, _, _, _, ok := factor(h, metric); ok {
			parts = append(parts, fmt.Sprintf("%d: %s", k.GOMAXPROCS, fmtXShort(f)))
		}
	}
	if len(parts) < 2 {
		return ""
	}
	return "over GOMAXPROCS " + strings.Join(parts, ", ")
}

// carried names the ladder steps that carry metric's difference in g: the
// largest in size on each ladder that ran there, with its factor.
func (c *claimCtx) carried(g *Group, metric string) string {
	if c.attr == nil {
		c.attr = map[string]*Attributions{}
	}
	at, ok := c.attr[metric]
	if !ok {
		at = Attribute(c.groups, c.ladders, metric, c.opts)
		c.attr[metric] = at
	}
	var parts []string
	// Note: the ladders run at one condition of a scenario (bench claim's
	// heaviest firehose one); a row judged at another condition of the
	// same scenario names theirs, saying where they ran.
	at2 := at.Ladders[:0:0]
	for _, a := range at.Ladders {
		if a.Key == g.Key {
			at2 = append(at2, a)
		}
	}
	elsewhere := ""
	if len(at2) == 0 {
		for _, a := range at.Ladders {
			if a.Key.Scenario == g.Key.Scenario && a.Key.Load.Model == g.Key.Load.Model {
				at2 = append(at2, a)
			}
		}
		if len(at2) > 0 {
			elsewhere = fmt.Sprintf(" (at %s, GOMAXPROCS %d)", at2[0].Key.LoadName(), at2[0].Key.GOMAXPROCS)
		}
	}
	for _, a := range at2 {
		if len(a.Steps) == 0 {
			continue
		}
		s, clear := a.Largest()
		p := fmt.Sprintf("%s ladder: %s %s", a.Ladder.Name, stepName(s), fmtContribution(s))
		if !clear {
			p += " (not a finding)"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "ladders not run here (bench claim runs them on its firehose condition)"
	}
	return strings.Join(parts, "; ") + elsewhere
}

// growthRow compares how fast each design's heap grew during the measured
// window (the slope of its heap series, median over trials) where the
// legacy's grew fastest: memory that keeps growing is memory not under
// control, whatever its peak.
func (c *claimCtx) growthRow(claim string) ClaimRow {
	row := newClaimRow(claim, "heap growth during the window (MiB/s), legacy and redesign")
	var best *Group
	var bestOld, bestNew float64
	for _, g := range c.both() {
		// Note: within a window under a second the collector's sawtooth
		// is all a heap series shows.
		if c.medianWindow(g) < growthWindow {
			continue
		}
		o, n := c.medianGrowth(g, claimOld), c.medianGrowth(g, claimNew)
		if math.IsNaN(o) || math.IsNaN(n) {
			continue
		}
		if best == nil || o-n > bestOld-bestNew {
			best, bestOld, bestNew = g, o, n
		}
	}
	if best == nil {
		row.Verdict, row.Value, row.Conditions = NotTestable, "—", fmt.Sprintf("needs heap series of both designs over windows of %gs or more", growthWindow)
		return row
	}
	row.Value = fmt.Sprintf("%s %+.1f, %s %+.1f", claimOld, bestOld, claimNew, bestNew)
	row.Conditions = c.where(best)
	peak := best.Variant(claimNew).Estimate(MHeapPeak).Center / (1 << 20)
	// Note: growth within a tenth of the redesign's peak per second of
	// window is noise from the collector's cycles, not a trend.
	flat := math.Abs(bestNew) <= 0.1*math.Max(peak, 1)
	switch {
	case flat && bestOld > 2*math.Max(bestNew, 0.1*math.Max(peak, 1)):
		row.Verdict = Reproduced
	case flat:
		row.Verdict = Partly
		row.Notes = append(row.Notes, "the redesign's heap is flat, but so is the legacy's here")
	default:
		row.Verdict = NotReproduced
	}
	return row
}

// growthWindow is the shortest measured window, in seconds, whose heap
// growth the claim judges.
const growthWindow = 1.0

// medianWindow is the median measured window of both designs' trials in
// g, in seconds.
func (c *claimCtx) medianWindow(g *Group) float64 {
	return medianWindowS(append(trialsOf(c.trials, g, claimOld), trialsOf(c.trials, g, claimNew)...))
}

// medianWindowS is the median measured window of trials, in seconds; 0
// for none.
func medianWindowS(trials []*result.Trial) float64 {
	var ds []float64
	for _, t := range trials {
		ds = append(ds, t.DurationS)
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// medianGrowth is the median over v's trials in g of the heap series'
// least-squares slope within the measured window, in MiB/s; NaN without
// enough samples.
func (c *claimCtx) medianGrowth(g *Group, v string) float64 {
	return seriesGrowth(trialsOf(c.trials, g, v), false)
}

// seriesGrowth is the median over trials of their series' least-squares
// slope within the measured window: heap in MiB/s, or goroutines per
// second; NaN when no trial has four samples in its window.
func seriesGrowth(trials []*result.Trial, goroutines bool) float64 {
	var slopes []float64
	for _, t := range trials {
		var xs, ys []float64
		for _, s := range t.HeapSeries {
			if s.T >= 0 && s.T <= t.DurationS {
				y := float64(s.HeapBytes) / (1 << 20)
				if goroutines {
					y = float64(s.Goroutines)
				}
				xs, ys = append(xs, s.T), append(ys, y)
			}
		}
		if len(xs) >= 4 {
			slopes = append(slopes, slope(xs, ys))
		}
	}
	if len(slopes) == 0 {
		return math.NaN()
	}
	slices.Sort(slopes)
	return slopes[len(slopes)/2]
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// oomRow counts, where trials ran under a memory limit, how many of each
// design's ran out.
func (c *claimCtx) oomRow(claim string) ClaimRow {
	row := newClaimRow(claim, "trials that ran out of memory under -memlimit")
	type count struct{ oom, all int }
	var old, new count
	var where []string
	for _, g := range c.both() {
		limited := false
		for _, t := range trialsOf(c.trials, g, claimOld) {
			if t.MemLimitBytes > 0 {
				limited = true
				old.all++
				if t.OutOfMemory {
					old.oom++
				}
			}
		}
		for _, t := range trialsOf(c.trials, g, claimNew) {
			if t.MemLimitBytes > 0 {
				limited = true
				new.all++
				if t.OutOfMemory {
					new.oom++
				}
			}
		}
		if limited {
			where = append(where, c.where(g))
		}
	}
	if old.all == 0 || new.all == 0 {
		row.Verdict, row.Value, row.Conditions = NotTestable, "—", "needs trials of both designs under a memory limit (-memlimit)"
		return row
	}
	row.Value = fmt.Sprintf("%s %d of %d, %s %d of %d", claimOld, old.oom, old.all, claimNew, new.oom, new.all)
	row.Conditions = strings.Join(where, "; ")
	switch {
	case new.oom == 0 && old.oom > 0:
		row.Verdict = Reproduced
	case new.oom == 0:
		row.Verdict = Partly
		row.Notes = append(row.Notes, "neither design ran out: the limit did not bind here")
	case float64(new.oom)/float64(new.all) < float64(old.oom)/float64(old.all):
		row.Verdict = Partly
	default:
		row.Verdict = NotReproduced
	}
	return row
}

// countRow compares a count that the legacy's flaws make positive and a
// correct redesign keeps at (or near) zero, such as goroutines left alive
// after the streams ended or chunks produced after the client left: in the
// condition where the legacy's median exceeds the redesign's the most.
// Reproduced when the redesign's is lower there (zero, or a finding) and
// not higher anywhere.
func (c *claimCtx) countRow(claim, metric, label, needs string) ClaimRow {
	row := newClaimRow(claim, label)
	var best *Group
	var bestOld, bestNew float64
	higher := 0
	for _, g := range c.both() {
		o, n := g.Variant(claimOld).Estimate(metric).Center, g.Variant(claimNew).Estimate(metric).Center
		if math.IsNaN(o) || math.IsNaN(n) {
			continue
		}
		if _, _, _, dir, ok := factor(g, metric); (ok && dir == -1) || (o == 0 && n > 0) {
			higher++
		}
		if best == nil || o-n > bestOld-bestNew {
			best, bestOld, bestNew = g, o, n
		}
	}
	if best == nil || (bestOld == 0 && bestNew == 0) {
		row.Verdict, row.Value, row.Conditions = NotTestable, "—", needs
		if best != nil {
			row.Value = "0 for both"
		}
		return row
	}
	row.Value = fmt.Sprintf("%s %s, %s %s", claimOld, fmtSI(bestOld), claimNew, fmtSI(bestNew))
	row.Conditions = c.where(best)
	_, _, _, dir, ok := factor(best, metric)
	lower := bestNew < bestOld && (bestNew == 0 || (ok && dir == 1))
	switch {
	case lower && higher == 0:
		row.Verdict = Reproduced
	case lower || bestNew < bestOld:
		row.Verdict = Partly
		if higher > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("the redesign's is higher in %d conditions", higher))
		} else {
			row.Notes = append(row.Notes, "lower, but not a finding")
		}
	default:
		row.Verdict = NotReproduced
	}
	return row
}

// WriteClaims writes the verdict table as aligned text.
func WriteClaims(w io.Writer, rows []ClaimRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "claim\tmetric\tmeasured\tconditions\tverdict\tcarried by")
	last := ""
	for _, r := range rows {
		claim := r.Claim
		if claim == last {
			claim = `  "`
		}
		last = r.Claim
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", claim, r.Metric, r.Value, r.Conditions, r.Verdict, r.Carried)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		for _, n := range r.Notes {
			if _, err := fmt.Fprintf(w, "  %s (%s): %s\n", r.Claim, r.Metric, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeClaimsMarkdown writes the verdict table in Markdown.
func writeClaimsMarkdown(b *strings.Builder, rows []ClaimRow) {
	b.WriteString("## Verdict on the source's claims\n\n")
	b.WriteString("| claim | metric | measured | conditions | verdict | carried by |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		v := r.Verdict
		if len(r.Notes) > 0 {
			v += " (" + strings.Join(r.Notes, "; ") + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", r.Claim, r.Metric, r.Value, r.Conditions, v, r.Carried)
	}
	b.WriteString("\n")
}

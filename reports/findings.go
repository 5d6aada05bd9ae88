package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
)

// Findings returns plain sentences computed from trials, most important
// first: the largest throughput ratio between the headline variants that
// is significant after Holm's correction for the run's comparisons and
// larger than the practical-significance band (or that there was none,
// or too few trials to tell) and whether the harness capped it (within
// 20% of the pass-through's ratio), any group where the candidate was slower,
// a group where they could not be compared (and why), variants that
// collapsed (partial records: trials stopped before their end) or whose
// timeline overran, what each ablation ladder attributes the difference
// to, goroutine leaks, billing that differs from delivery, upstream tokens
// generated for clients that never received them, failed trials,
// and open-model requests that never started.
func Findings(trials []*result.Trial, opts Options) []string {
	opts = opts.orDefault()
	groups := Analyze(trials, opts)
	multiProcs := false
	for _, g := range groups {
		if g.Key.GOMAXPROCS != groups[0].Key.GOMAXPROCS {
			multiProcs = true
		}
	}
	where := func(k Key) string {
		s := "on " + k.Scenario + " " + k.DescribeLoad()
		if multiProcs {
			s += fmt.Sprintf(" with GOMAXPROCS=%d", k.GOMAXPROCS)
		}
		return s
	}
	var out []string
	out = append(out, throughputFindings(groups, where)...)
	out = append(out, collapseFindings(groups, where)...)
	out = append(out, familyFloorFindings(groups)...)
	out = append(out, attributionFindings(Attribute(groups, opts.Ladders, MChunksPerS, opts), where)...)
	out = append(out, leakFindings(groups, where)...)
	out = append(out, billingFindings(groups, where)...)
	out = append(out, upstreamFindings(groups, where)...)
	out = append(out, failureFindings(groups, where)...)
	out = append(out, droppedFindings(groups, droppedByRow(trials), where)...)
	out = append(out, oomFindings(trials, where)...)
	out = append(out, growthFindings(groups, trials, where)...)
	out = append(out, capacityFindings(trials)...)
	out = append(out, driftFindings(trials)...)
	return out
}

// driftLimit is how far the machine's own speed may move across a run's
// trials before the findings say so.
const driftLimit = 1.10

// driftFindings reports when the machine's single-core speed, timed before
// each trial (calibration_ns), moved by more than driftLimit over the run:
// absolute numbers then drift with it, while the ratios of variants that
// were interleaved hold.
func driftFindings(trials []*result.Trial) []string {
	var vs []float64
	for _, t := range trials {
		if !t.Failed() && t.CalibrationNS > 0 {
			vs = append(vs, float64(t.CalibrationNS))
		}
	}
	if len(vs) < 2 {
		return nil
	}
	slices.Sort(vs)
	// Note: a calibration is a few milliseconds long and now and then one
	// is interrupted. From ten trials the spread is the 10th to the 90th
	// percentile; from five, the extremes are set aside; so a few such
	// readings do not speak for the whole run.
	lo, hi := vs[0], vs[len(vs)-1]
	switch {
	case len(vs) >= 10:
		lo, hi = vs[len(vs)/10], vs[len(vs)-1-len(vs)/10]
	case len(vs) >= 5:
		lo, hi = vs[1], vs[len(vs)-2]
	}
	if hi/lo <= driftLimit {
		return nil
	}
	return []string{fmt.Sprintf("The machine's own speed moved by %.0f%% across the run (a fixed CPU workload timed before each trial took %s to %s in most trials, calibration_ns): absolute throughput drifts with it; the ratios of interleaved variants are the numbers to compare.",
		100*(hi/lo-1), fmtNS(lo), fmtNS(hi))}
}

// throughputFindings compares chunks/s of each group's headline pair. A
// sentence calls a variant faster or slower only for a Ratio with a
// Direction: significant after the correction and outside the band.
func throughputFindings(groups []*Group, where func(Key) string) []string {
	type cand struct {
		g *Group
		r Ratio
	}
	var all, faster, slower []cand
	var blank []string
	for _, g := range groups {
		num, den, ok := g.Headline()
		if !ok {
			continue
		}
		r, _ := g.Ratio(MChunksPerS, num, den)
		if math.IsNaN(r.Center) {
			blank = append(blank, uncomparedFinding(g, num, den, where))
			continue
		}
		c := cand{g, r}
		all = append(all, c)
		switch r.Direction() {
		case 1:
			faster = append(faster, c)
		case -1:
			slower = append(slower, c)
		}
	}
	if len(all) == 0 && len(blank) == 0 {
		return []string{"No group ran two variants, so nothing was compared."}
	}
	out := blank
	if len(faster) > 0 {
		best := slices.MaxFunc(faster, func(a, b cand) int { return cmpFloat(a.r.Center, b.r.Center) })
		s := fmt.Sprintf("%s, %s was faster: %s (%s) the chunks/s of %s",
			capitalize(where(best.g.Key)), best.r.Num, fmtXShort(best.r.Center), ciPhrase(best.r), best.r.Den)
		if len(faster) > 1 {
			s += " — the largest significant ratio"
		}
		if c := cappedPhrase(best.g, best.r); c != "" {
			s += "; " + c
		}
		out = append(out, s+".")
		for _, c := range faster {
			if p := cappedPhrase(c.g, c.r); p != "" && c.g != best.g {
				out = append(out, fmt.Sprintf("%s, %s/%s (%s) is %s.",
					capitalize(where(c.g.Key)), c.r.Num, c.r.Den, fmtXShort(c.r.Center), p))
			}
		}
	}
	for _, c := range slower {
		out = append(out, fmt.Sprintf("%s, %s was slower: %s (%s) the chunks/s of %s.",
			capitalize(where(c.g.Key)), c.r.Num, fmtXShort(c.r.Center), ciPhrase(c.r), c.r.Den))
	}
	for _, c := range all {
		if c.r.Direction() != 0 {
			continue
		}
		r := c.r
		if w := tooFew(r.Warnings); w != "" && !r.RawSignificant() {
			out = append(out, fmt.Sprintf("%s, too few trials to tell %s from %s (%s so far): %s.",
				capitalize(where(c.g.Key)), r.Num, r.Den, fmtXShort(r.Center), w))
			continue
		}
		if len(faster)+len(slower) > 0 && len(all) > 4 {
			continue
		}
		switch {
		case !r.RawSignificant():
			out = append(out, fmt.Sprintf("%s, %s and %s showed no significant chunks/s difference (%s, %s).",
				capitalize(where(c.g.Key)), r.Num, r.Den, fmtXShort(r.Center), fmtP(r.P)))
		case !r.Significant():
			out = append(out, fmt.Sprintf("%s, %s and %s showed no significant chunks/s difference after Holm's correction for the run's %d comparisons (%s, %s, adjusted %s).",
				capitalize(where(c.g.Key)), r.Num, r.Den, r.Family, fmtXShort(r.Center), fmtP(r.P), fmtP(r.PAdj)))
		case !r.Material():
			out = append(out, fmt.Sprintf("%s, %s and %s differed by less than the ±%s practical-significance band (%s, %s): no finding.",
				capitalize(where(c.g.Key)), r.Num, r.Den, fmtPct(r.MinEffect), fmtXShort(r.Center), ciPhrase(r)))
		default:
			out = append(out, fmt.Sprintf("%s, %s and %s may differ, but the interval reaches 1x (%s, %s): no finding; more trials would tell.",
				capitalize(where(c.g.Key)), r.Num, r.Den, fmtXShort(r.Center), ciPhrase(r)))
		}
	}
	return out
}

// uncomparedFinding says why g's headline pair has no chunks/s ratio: a
// side without a trial that measured anything (every one failed), or no
// chunks on either side.
func uncomparedFinding(g *Group, num, den string, where func(Key) string) string {
	var why []string
	for _, name := range []string{den, num} {
		if v := g.Variant(name); v != nil && v.Trials == 0 {
			why = append(why, fmt.Sprintf("no %s trial measured anything (%d failed)", name, v.Failed))
		}
	}
	if len(why) == 0 {
		why = []string{"neither delivered a chunk"}
	}
	return fmt.Sprintf("%s, %s could not be compared with %s: %s.", capitalize(where(g.Key)), num, den, strings.Join(why, "; "))
}

// collapseFindings reports, per group and variant, the trials that were
// stopped before their end (partial records: a collapse, which is the
// outcome at that load, not a gap in it), with what they measured until
// then and whether the other headline variant held; and the trials whose
// timeline ran over what was asked, with the worst lateness.
func collapseFindings(groups []*Group, where func(Key) string) []string {
	var out []string
	for _, g := range groups {
		num, den, headline := g.Headline()
		for _, v := range g.Variants {
			if v.Partial == 0 {
				continue
			}
			var first *result.Trial
			for _, t := range v.trials {
				if t.Partial {
					first = t
					break
				}
			}
			s := fmt.Sprintf("%s, %s collapsed: %d of %d trials were stopped before their end (%s) and their records are partial; until then it delivered %s chunks/s with p99 TTFT %s (medians)",
				capitalize(where(g.Key)), v.Variant, v.Partial, v.Trials, first.PartialReason,
				fmtSI(v.Estimate(MChunksPerS).Center), fmtNS(v.Estimate(MTTFTP99).Center))
			if headline && (v.Variant == num || v.Variant == den) {
				other := g.Variant(num)
				if v.Variant == num {
					other = g.Variant(den)
				}
				if other.Partial == 0 && other.Trials > 0 {
					s += fmt.Sprintf("; %s ran to its end (%s chunks/s, p99 TTFT %s)", other.Variant,
						fmtSI(other.Estimate(MChunksPerS).Center), fmtNS(other.Estimate(MTTFTP99).Center))
				}
			}
			out = append(out, s+".")
		}
		for _, v := range g.Variants {
			if v.Overran == 0 {
				continue
			}
			out = append(out, fmt.Sprintf("%s, %s's timeline overran in %d of %d trials (%s): its rates are over its window as it ran (duration_s), not as asked.",
				capitalize(where(g.Key)), v.Variant, v.Overran, v.Trials, worstOverrun(v.trials)))
		}
	}
	return out
}

// worstOverrun describes the worst lateness of each phase that overran
// among trials: "window: it lasted 36s, closing 33s late; drain: it took
// 41s".
func worstOverrun(trials []*result.Trial) string {
	var warm, win, dr *result.Trial
	for _, t := range trials {
		for _, p := range t.Overrun {
			switch {
			case p == result.PhaseWarmup && (warm == nil || t.WindowOpenLateS > warm.WindowOpenLateS):
				warm = t
			case p == result.PhaseWindow && (win == nil || t.WindowCloseLateS > win.WindowCloseLateS):
				win = t
			case p == result.PhaseDrain && (dr == nil || t.DrainS > dr.DrainS):
				dr = t
			}
		}
	}
	var parts []string
	if warm != nil {
		parts = append(parts, "warm-up: the window opened "+fmtNS(warm.WindowOpenLateS*1e9)+" late")
	}
	if win != nil {
		parts = append(parts, "window: it lasted "+fmtNS(win.DurationS*1e9)+", closing "+fmtNS(win.WindowCloseLateS*1e9)+" late")
	}
	if dr != nil {
		parts = append(parts, "drain: it took "+fmtNS(dr.DrainS*1e9))
	}
	return strings.Join(parts, "; ")
}

// capNear is how close to the harness's ceiling a ratio may come before
// the findings call it capped: within 20%.
const capNear = 0.8

// Ceiling returns the largest ratio of metric over den that g can show: the
// pass-through calibration's (which does no work of its own, so its
// throughput is the harness's) over den's. ok is false when g did not run
// the pass-through, or den is the pass-through.
func (g *Group) Ceiling(metric, den string) (ceiling float64, ok bool) {
	if den == variant.PassThrough {
		return 0, false
	}
	if r, ok := g.Ratio(metric, variant.PassThrough, den); ok && r.Center > 0 {
		return r.Center, true
	}
	if r, ok := g.Ratio(metric, den, variant.PassThrough); ok && r.Center > 0 {
		return 1 / r.Center, true
	}
	return 0, false
}

// cappedPhrase says when r, a ratio above 1x, is within 20% of its group's
// ceiling (see Ceiling), so that nobody reads the harness's limit as the
// design's: "capped by the harness (ceiling 4.1x: pass-through/mutex)".
// It is empty otherwise.
func cappedPhrase(g *Group, r Ratio) string {
	if r.Num == variant.PassThrough || !(r.Center > 1) {
		return ""
	}
	c, ok := g.Ceiling(r.Metric, r.Den)
	if !ok || r.Center < capNear*c {
		return ""
	}
	return fmt.Sprintf("capped by the harness (ceiling %s: pass-through/%s; within 20%% of it, the design's own ratio may be larger)", fmtXShort(c), r.Den)
}

// familyFloorFindings says when a run makes so many comparisons that its
// trials cannot reach Holm's strictest threshold, alpha over the family
// size: with n trials a side, no U test p value is below 2/C(2n, n),
// however large the difference.
func familyFloorFindings(groups []*Group) []string {
	var m, n int
	alpha := 0.0
	for _, g := range groups {
		for _, r := range g.Ratios {
			if r.Metric != MChunksPerS || r.Family < 2 {
				continue
			}
			m, alpha = r.Family, r.Alpha
			nn := min(g.Variant(r.Num).Trials, g.Variant(r.Den).Trials)
			if n == 0 || nn < n {
				n = nn
			}
		}
	}
	if m < 2 || n == 0 || uTestMinP(n) <= alpha/float64(m) {
		return nil
	}
	need := n
	for uTestMinP(need) > alpha/float64(m) {
		need++
	}
	return []string{fmt.Sprintf("This run makes %d chunks/s comparisons, so Holm's correction asks the clearest difference for p < %.2g; with %d trials per variant the U test cannot go below p=%.2g, so no difference can be a finding: run %d or more trials, or fewer variants and loads.",
		m, alpha/float64(m), n, uTestMinP(n), need)}
}

// uTestMinP is the smallest two-sided p value the Mann-Whitney U test can
// give for two samples of n: 2/C(2n, n), the two most extreme of the
// C(2n, n) equally likely orderings.
func uTestMinP(n int) float64 {
	c := 1.0
	for i := 1; i <= n; i++ {
		c = c * float64(n+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// tooFew returns the U test's too-few-samples warning among ws, or "".
func tooFew(ws []string) string {
	for _, w := range ws {
		if strings.Contains(w, "to detect a difference") {
			return w
		}
	}
	return ""
}

// ciPhrase formats "95% CI 2.8–3.4x, p=0.002 adjusted for 12 comparisons".
func ciPhrase(r Ratio) string {
	s := fmt.Sprintf("%s CI %s–%s, %s", confPct(r.Confidence),
		strings.TrimSuffix(fmtXShort(r.Lo), "x"), fmtXShort(r.Hi), fmtP(r.PAdj))
	if r.Family > 1 {
		s += fmt.Sprintf(" adjusted for %d comparisons", r.Family)
	}
	return s
}

// fmtXShort formats a ratio to two decimals below 10 and with two
// significant digits above, trailing zeros dropped: "3.1x", "1.03x", "1x",
// "21x".
func fmtXShort(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmtSI(v)
	}
	if math.Abs(v) >= 10 {
		return fmt.Sprintf("%.2gx", v)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "x"
}

// fmtPct formats a fraction as a percentage: 0.02 is "2%".
func fmtPct(f float64) string { return strconv.FormatFloat(100*f, 'g', 3, 64) + "%" }

// leakFindings reports, per variant, the most goroutines it leaked per
// trial in any group.
func leakFindings(groups []*Group, where func(Key) string) []string {
	worst := map[string]float64{}
	at := map[string]Key{}
	var order []string
	for _, g := range groups {
		for _, v := range g.Variants {
			if !slices.Contains(order, v.Variant) {
				order = append(order, v.Variant)
			}
			if l := v.Estimate(MLeaked).Center; l > worst[v.Variant] {
				worst[v.Variant], at[v.Variant] = l, g.Key
			}
		}
	}
	var leaky, clean []string
	for _, v := range order {
		if worst[v] > 0 {
			leaky = append(leaky, fmt.Sprintf("%s leaked %g goroutines per trial (median, %s)", v, worst[v], where(at[v])))
		} else {
			clean = append(clean, v)
		}
	}
	if len(leaky) == 0 {
		return []string{"No variant leaked goroutines."}
	}
	s := strings.Join(leaky, "; ")
	if len(clean) > 0 {
		s += "; " + strings.Join(clean, ", ") + " 0"
	}
	return []string{s + "."}
}

// billingFindings reports each variant's largest gap between tokens billed
// and tokens delivered.
func billingFindings(groups []*Group, where func(Key) string) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range variantNames(groups) {
		var worst Estimate
		var key Key
		for _, g := range groups {
			if v := g.Variant(name); v != nil {
				e := v.Estimate(MBillingDeltaPct)
				if math.Abs(e.Center) > math.Abs(worst.Center) {
					worst, key = e, g.Key
				}
			}
		}
		if worst.Center == 0 || math.IsNaN(worst.Center) {
			continue
		}
		seen[name] = true
		dir := "more"
		if worst.Center < 0 {
			dir = "fewer"
		}
		out = append(out, fmt.Sprintf("%s billed %.1f%% %s tokens than it delivered %s (median of %d trials).",
			name, math.Abs(worst.Center), dir, where(key), worst.N))
	}
	if len(out) == 0 {
		return []string{"Every variant billed exactly the tokens it delivered."}
	}
	return out
}

// upstreamWasteLimit is how many upstream tokens per delivered token a
// variant may use before the findings name it: 1% wasted.
const upstreamWasteLimit = 1.01

// upstreamFindings reports each variant's largest number of upstream
// tokens generated per token delivered, where it wasted over 1% of what
// the provider generated (the tokens a real upstream bills for clients
// that had left). It says nothing when no variant did, or the records do
// not count generated tokens.
func upstreamFindings(groups []*Group, where func(Key) string) []string {
	var out []string
	for _, name := range variantNames(groups) {
		var worst Estimate
		var key Key
		for _, g := range groups {
			if v := g.Variant(name); v != nil {
				if e := v.Estimate(MUpstreamPerDelivered); e.Center > worst.Center {
					worst, key = e, g.Key
				}
			}
		}
		if !(worst.Center > upstreamWasteLimit) {
			continue
		}
		out = append(out, fmt.Sprintf("%s had the provider generate %.2f tokens per token its clients received %s (median of %d trials): %.0f%% of the upstream's output, which a real provider bills, reached no client.",
			name, worst.Center, where(key), worst.N, 100*(1-1/worst.Center)))
	}
	return out
}

// failureFindings reports failed trials, which the statistics leave out.
func failureFindings(groups []*Group, where func(Key) string) []string {
	var out []string
	for _, g := range groups {
		for _, v := range g.Variants {
			if v.Failed > 0 {
				out = append(out, fmt.Sprintf("%d of %d %s trials failed %s and are left out of the numbers.",
					v.Failed, v.Failed+v.Trials, v.Variant, where(g.Key)))
			}
		}
	}
	return out
}

// variantNames returns every variant in groups in baseline order.
func variantNames(groups []*Group) []string {
	var names []string
	for _, g := range groups {
		for _, v := range g.Variants {
			if !slices.Contains(names, v.Variant) {
				names = append(names, v.Variant)
			}
		}
	}
	return names
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// oomFindings says, per group and variant, how many trials ran out of
// memory under their limit (-memlimit) and when: running out is the
// design's outcome, and its rates there are over the window up to then.
func oomFindings(trials []*result.Trial, where func(Key) string) []string {
	type row struct {
		key     Key
		variant string
	}
	type count struct {
		oom, all int
		at       []float64
		limit    int64
	}
	counts := map[row]*count{}
	var order []row
	for _, t := range trials {
		if t.Failed() || t.MemLimitBytes == 0 {
			continue
		}
		r := row{t.Key(), t.Variant}
		c := counts[r]
		if c == nil {
			c = &count{limit: t.MemLimitBytes}
			counts[r] = c
			order = append(order, r)
		}
		c.all++
		if t.OutOfMemory {
			c.oom++
			c.at = append(c.at, t.OOMAtS)
		}
	}
	var out []string
	for _, r := range order {
		c := counts[r]
		if c.oom == 0 {
			continue
		}
		at := fmt.Sprintf("at %.1f s", c.at[0])
		if lo, hi := slices.Min(c.at), slices.Max(c.at); hi > lo {
			at = fmt.Sprintf("at %.1f–%.1f s", lo, hi)
		}
		out = append(out, fmt.Sprintf("%s ran out of memory in %d of %d trials %s (%s into the window, limit %d MiB): its numbers there run only to that point.",
			r.variant, c.oom, c.all, where(r.key), at, c.limit>>20))
	}
	return out
}

// soakWindow is the shortest measured window (median over a group's
// trials) whose heap and goroutine growth the findings report: a soak.
const soakWindow = 30.0

// growthFindings reports, for groups whose windows lasted a soak's length
// (bench run -soak), how fast each variant's heap and goroutine count grew
// over the window: growth that a short trial hides.
func growthFindings(groups []*Group, trials []*result.Trial, where func(Key) string) []string {
	var out []string
	for _, g := range groups {
		var parts []string
		for _, v := range g.Variants {
			ts := trialsOf(trials, g, v.Variant)
			if len(ts) == 0 || medianWindowS(ts) < soakWindow {
				continue
			}
			h, n := seriesGrowth(ts, false), seriesGrowth(ts, true)
			if math.IsNaN(h) {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %+.2f MiB/s and %+.1f goroutines/s", v.Variant, h, n))
		}
		if len(parts) > 0 {
			out = append(out, fmt.Sprintf("Over the soak %s, heap and goroutines grew: %s (least squares over the window's series, median over trials).", where(g.Key), strings.Join(parts, "; ")))
		}
	}
	return out
}

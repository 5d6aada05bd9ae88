package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/streambench/streambench/result"
)

// TableOptions configures WriteTable and WriteJSON.
type TableOptions struct {
	Stats Options
}

// DefaultTableOptions uses DefaultOptions.
var DefaultTableOptions = TableOptions{Stats: DefaultOptions}

// WriteTable writes a terminal summary of trials to w: one row per variant
// per scenario and load, with the median chunks/s and its confidence
// interval, p99 TTFT, CPU ns/chunk, the harness's own ns/chunk (the
// pass-through calibration included in every CPU figure), leaked
// goroutines, tokens billed minus delivered, upstream tokens generated per
// token delivered, and each later variant's
// chunks/s ratio over the group's baseline with its interval and p value
// ("~" when not a finding: not significant after Holm's correction, or
// within the practical-significance band). When any open-model arrival
// was dropped, a column gives each row's dropped requests (droppedByRow);
// when any trial ran with a scenario's ledger section, one gives each
// row's p99 wait for a ledger connection and how saturated the pool was
// (ledgerByRow).
// Every warning becomes a numbered footnote; so does the reason a ratio
// whose raw p is below alpha is still "~". A variant with partial records
// (trials stopped before their end) or overrun timelines says how many in
// its n column ("7 (1 partial)"), their records' warnings are footnotes,
// and a ratio with a collapsed side says so. An attribution section follows
// when opts.Stats.Ladders ran.
func WriteTable(w io.Writer, trials []*result.Trial, opts TableOptions) error {
	groups := Analyze(trials, opts.Stats)
	if len(groups) == 0 && slices.ContainsFunc(trials, isProbe) {
		// A capacity search's run: its probes have a table of their own.
		return WriteCapacityTable(w, trials)
	}
	dropped := droppedByRow(trials)
	ledger := ledgerByRow(trials)
	var notes footnotes
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pct := confPct(opts.Stats.orDefault().Confidence)
	dropCol := ""
	if dropped != nil {
		dropCol = "\tdropped"
	}
	if ledger != nil {
		dropCol += "\tp99 ledger wait (pool busy)"
	}
	goodput := goodputByRow(trials)
	if goodput != nil {
		dropCol += "\tgoodput (met SLO)"
	}
	fmt.Fprintf(tw, "scenario\tload\tprocs\tvariant\tn\tchunks/s [%s CI]\tp99 TTFT%s\tCPU ns/chunk\tharness ns/chunk\tleaked\tbilled-delivered\tupstream/delivered\tvs baseline\n", pct, dropCol)
	for _, g := range groups {
		for i, v := range g.Variants {
			cps := v.Estimate(MChunksPerS)
			ttft := v.Estimate(MTTFTP99)
			cpu := v.Estimate(MCPUNSPerChunk)
			n := strconv.Itoa(v.Trials)
			if v.Failed > 0 {
				n += "+" + strconv.Itoa(v.Failed) + "failed"
			}
			n += collapseNote(v)
			dropCell := ""
			if dropped != nil {
				dropCell = "\t" + dropped[dropKey{g.Key, v.Variant}].String()
			}
			if ledger != nil {
				dropCell += "\t" + ledger[dropKey{g.Key, v.Variant}].String()
			}
			if goodput != nil {
				cell := "-"
				if c, ok := goodput[dropKey{g.Key, v.Variant}]; ok {
					cell = c.String()
				}
				dropCell += "\t" + cell
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s%s\t%s%s\t%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				g.Key.Scenario, g.Key.LoadName(), g.Key.GOMAXPROCS, v.Variant,
				n, notes.mark(v.Warnings),
				withCI(cps, "", fmtSI), notes.mark(cps.Warnings),
				fmtNS(ttft.Center), dropCell, fmtSI(cpu.Center), fmtSI(v.Estimate(MHarnessNS).Center),
				fmtSI(v.Estimate(MLeaked).Center), fmtBilling(v), fmtUpstream(v),
				ratioCell(g, i, &notes))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := notes.write(w); err != nil {
		return err
	}
	if err := WriteCapacityTable(w, trials); err != nil {
		return err
	}
	return writeAttribution(w, Attribute(groups, opts.Stats.Ladders, MChunksPerS, opts.Stats))
}

// ratioCell returns the chunks/s ratio of g.Variants[i] over the group's
// baseline, or "" for the baseline itself.
func ratioCell(g *Group, i int, notes *footnotes) string {
	num, den, ok := g.Headline()
	v := g.Variants[i].Variant
	if !ok || v == den {
		return ""
	}
	if v != num {
		num, den = v, g.Variants[0].Variant
	}
	r, ok := g.Ratio(MChunksPerS, num, den)
	if !ok {
		return ""
	}
	ws := r.Warnings
	if v := r.Verdict(); v != "" {
		ws = append(slices.Clip(ws), v)
	}
	for _, name := range []string{r.Den, r.Num} {
		if v := g.Variant(name); v != nil && v.Partial > 0 {
			ws = append(slices.Clip(ws), collapsePhrase(v)+": the ratio compares what each measured until it stopped")
		}
	}
	return fmtRatio(r) + notes.mark(ws)
}

// collapseNote returns " (1 partial, 2 overran)" for a variant with
// partial records or overrun timelines among its trials, else "".
func collapseNote(v *VariantStats) string {
	var parts []string
	if v.Partial > 0 {
		parts = append(parts, strconv.Itoa(v.Partial)+" partial")
	}
	if v.Overran > 0 {
		parts = append(parts, strconv.Itoa(v.Overran)+" overran")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// collapsePhrase says how many of v's trials collapsed: "mutex collapsed
// in 1 of 1 trials (partial records, stopped before their end)".
func collapsePhrase(v *VariantStats) string {
	return fmt.Sprintf("%s collapsed in %d of %d trials (partial records, stopped before their end)", v.Variant, v.Partial, v.Trials)
}

// fmtRatio formats r like "3.10x [2.80x 3.40x] p=0.002 vs mutex", or
// "~ 1.01x ... p=0.400" when it is not a finding (not significant after
// the correction for the run's comparisons, or within the band). The p
// value is the U test's own, uncorrected, as benchstat prints it.
func fmtRatio(r Ratio) string {
	sig := ""
	if r.Direction() == 0 {
		sig = "~ "
	}
	return fmt.Sprintf("%s%s [%s %s] %s vs %s", sig, fmtX(r.Center), fmtX(r.Lo), fmtX(r.Hi), fmtP(r.P), r.Den)
}

// fmtP formats a p value as "p=0.032" or "p<0.001".
func fmtP(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}

// fmtBilling formats the median tokens billed minus delivered with its
// percentage of delivered tokens.
func fmtBilling(v *VariantStats) string {
	d := v.Estimate(MBillingDelta).Center
	if math.IsNaN(d) {
		return "n/a"
	}
	if d == 0 {
		return fmtSI(d)
	}
	return fmt.Sprintf("%+g (%+.1f%%)", d, v.Estimate(MBillingDeltaPct).Center)
}

// fmtUpstream formats the median upstream tokens generated per token
// delivered, "1.73", or "n/a" for records that do not count them.
func fmtUpstream(v *VariantStats) string {
	r := v.Estimate(MUpstreamPerDelivered).Center
	if math.IsNaN(r) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", r)
}

// withCI formats an estimate as "12.3k [11.9k 12.8k]".
func withCI(e Estimate, unit string, f func(float64) string) string {
	return fmt.Sprintf("%s%s [%s %s]", f(e.Center), unit, f(e.Lo), f(e.Hi))
}

// footnotes numbers distinct warnings in order of first use.
//
// Note: warnings that differ only in their numbers (the harness words a
// noisy-machine or late-timer warning with each trial's own figures) share
// one footnote that gives each differing number as a range, "54–98%";
// otherwise a sweep's table ends in one footnote per trial.
type footnotes struct{ notes []*footnote }

// A footnote is one warning text with the numbers of every warning merged
// into it.
type footnote struct {
	pattern string    // the text with each number replaced by "#"
	parts   []string  // the text split around its numbers
	lo, hi  []string  // per number, the smallest and largest as written
	loV     []float64 // their values
	hiV     []float64
}

// numberRE matches the numbers footnotes merge.
var numberRE = regexp.MustCompile(`[0-9]+(?:\.[0-9]+)?`)

func newFootnote(w string) *footnote {
	f := &footnote{pattern: numberRE.ReplaceAllString(w, "#"), parts: numberRE.Split(w, -1)}
	for _, num := range numberRE.FindAllString(w, -1) {
		v, _ := strconv.ParseFloat(num, 64)
		f.lo, f.hi = append(f.lo, num), append(f.hi, num)
		f.loV, f.hiV = append(f.loV, v), append(f.hiV, v)
	}
	return f
}

// merge widens f's ranges by the numbers of w, which has f's pattern.
func (f *footnote) merge(w string) {
	for i, num := range numberRE.FindAllString(w, -1) {
		v, _ := strconv.ParseFloat(num, 64)
		if v < f.loV[i] {
			f.lo[i], f.loV[i] = num, v
		}
		if v > f.hiV[i] {
			f.hi[i], f.hiV[i] = num, v
		}
	}
}

// String returns the footnote's text, each number that differed among
// its warnings as "lo–hi".
func (f *footnote) String() string {
	var b strings.Builder
	for i, p := range f.parts {
		b.WriteString(p)
		if i < len(f.lo) {
			b.WriteString(f.lo[i])
			if f.hi[i] != f.lo[i] {
				b.WriteString("–" + f.hi[i])
			}
		}
	}
	return b.String()
}

// mark returns " ¹²" style markers for ws, registering new texts.
func (n *footnotes) mark(ws []string) string {
	var b strings.Builder
	var marked []int
	for _, w := range ws {
		pat := numberRE.ReplaceAllString(w, "#")
		i := slices.IndexFunc(n.notes, func(f *footnote) bool { return f.pattern == pat })
		if i < 0 {
			n.notes = append(n.notes, newFootnote(w))
			i = len(n.notes) - 1
		} else {
			n.notes[i].merge(w)
		}
		if slices.Contains(marked, i) {
			continue
		}
		marked = append(marked, i)
		if b.Len() == 0 {
			b.WriteByte(' ')
		}
		b.WriteString(superscript(i + 1))
	}
	return b.String()
}

// lines returns the footnotes' texts, in number order.
func (n *footnotes) lines() []string {
	var out []string
	for _, f := range n.notes {
		out = append(out, f.String())
	}
	return out
}

func (n *footnotes) write(w io.Writer) error {
	for i, t := range n.lines() {
		if _, err := fmt.Fprintf(w, "%s %s\n", superscript(i+1), t); err != nil {
			return err
		}
	}
	return nil
}

// superscript returns n in superscript digits.
func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	sup := []rune(digits)
	var b strings.Builder
	for _, c := range strconv.Itoa(n) {
		b.WriteRune(sup[c-'0'])
	}
	return b.String()
}

// confPct formats a confidence level as "95%".
func confPct(c float64) string { return strconv.FormatFloat(100*c, 'g', 4, 64) + "%" }

// fmtSI formats v with three significant digits and a k/M/G suffix.
func fmtSI(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	}
	a := math.Abs(v)
	for _, s := range []struct {
		div  float64
		unit string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if a >= s.div {
			return strconv.FormatFloat(v/s.div, 'g', 3, 64) + s.unit
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fmtNS formats nanoseconds as a duration with three significant digits.
func fmtNS(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmtSI(v)
	}
	a := math.Abs(v)
	for _, s := range []struct {
		div  float64
		unit string
	}{{1e9, "s"}, {1e6, "ms"}, {1e3, "µs"}} {
		if a >= s.div {
			return strconv.FormatFloat(v/s.div, 'g', 3, 64) + s.unit
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + "ns"
}

// fmtX formats a ratio as "3.10x".
func fmtX(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmtSI(v)
	}
	if v != 0 && math.Abs(v) < 0.01 {
		return strconv.FormatFloat(v, 'g', 2, 64) + "x"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}

// WriteJSON writes the statistics of trials to w as one indented JSON
// document: every group, every variant's estimates and every ratio, and
// every capacity search with its probed points.
// Unbounded or undefined numbers (an interval from too few trials, a ratio
// over zero) are written as null, with the warning that explains them.
func WriteJSON(w io.Writer, trials []*result.Trial, opts TableOptions) error {
	type jEst struct {
		Metric     string   `json:"metric"`
		N          int      `json:"n"`
		Median     *float64 `json:"median"`
		Lo         *float64 `json:"lo"`
		Hi         *float64 `json:"hi"`
		Confidence float64  `json:"confidence"`
		Warnings   []string `json:"warnings,omitempty"`
	}
	type jVariant struct {
		Variant   string   `json:"variant"`
		Trials    int      `json:"trials"`
		Failed    int      `json:"failed"`
		Partial   int      `json:"partial,omitempty"`
		Overran   int      `json:"overran,omitempty"`
		Warnings  []string `json:"warnings,omitempty"`
		Estimates []jEst   `json:"estimates"`
	}
	type jRatio struct {
		Metric      string   `json:"metric"`
		Num         string   `json:"num"`
		Den         string   `json:"den"`
		Ratio       *float64 `json:"ratio"`
		Lo          *float64 `json:"lo"`
		Hi          *float64 `json:"hi"`
		Confidence  float64  `json:"confidence"`
		P           float64  `json:"p"`
		PAdjusted   float64  `json:"p_adjusted"`
		Comparisons int      `json:"comparisons"`
		MinEffect   float64  `json:"min_effect"`
		Alpha       float64  `json:"alpha"`
		Significant bool     `json:"significant"`
		Finding     int      `json:"finding"`
		Warnings    []string `json:"warnings,omitempty"`
	}
	type jGroup struct {
		Scenario   string      `json:"scenario"`
		Load       result.Load `json:"load"`
		GOMAXPROCS int         `json:"gomaxprocs"`
		Variants   []jVariant  `json:"variants"`
		Ratios     []jRatio    `json:"ratios"`
	}
	type jPoint struct {
		Rate       float64  `json:"rate"`
		Goodput    *float64 `json:"goodput_per_s"`
		Attainment float64  `json:"slo_attainment"`
		Trials     int      `json:"trials"`
		Failed     int      `json:"failed"`
	}
	type jCapacity struct {
		Scenario   string      `json:"scenario"`
		Variant    string      `json:"variant"`
		GOMAXPROCS int         `json:"gomaxprocs"`
		Load       result.Load `json:"load"`
		SLO        *result.SLO `json:"slo"`
		Capacity   float64     `json:"capacity"`
		Lo         float64     `json:"lo"`
		Hi         *float64    `json:"hi"` // null: no rate failed
		Converged  bool        `json:"converged"`
		Points     []jPoint    `json:"points"`
	}
	out := struct {
		Groups     []jGroup    `json:"groups"`
		Capacities []jCapacity `json:"capacities,omitempty"`
	}{Groups: []jGroup{}}
	for _, c := range Capacities(trials) {
		jc := jCapacity{Scenario: c.Scenario, Variant: c.Variant, GOMAXPROCS: c.GOMAXPROCS, Load: c.Load, SLO: c.SLO,
			Capacity: c.Result.Capacity, Lo: c.Result.Lo, Converged: c.Result.Converged}
		if c.Result.Hi > 0 {
			jc.Hi = &c.Result.Hi
		}
		for _, p := range c.Points {
			jc.Points = append(jc.Points, jPoint{p.Rate, finite(p.Goodput), p.Attainment, p.Trials, p.Failed})
		}
		out.Capacities = append(out.Capacities, jc)
	}
	for _, g := range Analyze(trials, opts.Stats) {
		jg := jGroup{Scenario: g.Key.Scenario, Load: g.Key.Load, GOMAXPROCS: g.Key.GOMAXPROCS}
		for _, v := range g.Variants {
			jv := jVariant{Variant: v.Variant, Trials: v.Trials, Failed: v.Failed, Partial: v.Partial, Overran: v.Overran, Warnings: v.Warnings}
			for _, e := range v.Estimates {
				jv.Estimates = append(jv.Estimates, jEst{e.Metric, e.N, finite(e.Center), finite(e.Lo), finite(e.Hi), e.Confidence, e.Warnings})
			}
			jg.Variants = append(jg.Variants, jv)
		}
		for _, r := range g.Ratios {
			jg.Ratios = append(jg.Ratios, jRatio{r.Metric, r.Num, r.Den, finite(r.Center), finite(r.Lo), finite(r.Hi),
				r.Confidence, r.P, r.PAdj, r.Family, r.MinEffect, r.Alpha, r.Significant(), r.Direction(), r.Warnings})
		}
		out.Groups = append(out.Groups, jg)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// finite returns &v, or nil when v is NaN or infinite (JSON has neither).
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

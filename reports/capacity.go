package reports

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/streambench/streambench/capacity"
	"github.com/streambench/streambench/result"
)

// CapacitySearch is one capacity search (bench run -find-capacity) read
// back from its probes' records: one variant on one scenario at one
// GOMAXPROCS, under one arrival process and cap policy.
type CapacitySearch struct {
	Scenario, Variant string
	GOMAXPROCS        int
	// Load is the probes' load with the rate left out.
	Load result.Load
	// SLO is the objective the probes were judged by (the first probe's).
	SLO *result.SLO
	// Result is the interval, as the search computed it (capacity.FromProbes
	// at capacity.DefaultConfig's target).
	Result capacity.Result
	// Points are the probed rates in increasing order, each with the median
	// goodput of its trials.
	Points []GoodputPoint
}

// GoodputPoint is one probed rate of a capacity search.
type GoodputPoint struct {
	Rate       float64
	Goodput    float64 // median goodput_per_s over the rate's trials that did not fail
	Attainment float64 // pooled over the rate's trials
	Trials     int
	Failed     int
}

// isProbe reports whether t was run by a capacity search; such trials are
// left out of the ordinary analysis (Analyze), where each probed rate would
// be a group of one variant, and shown by Capacities instead.
func isProbe(t *result.Trial) bool { return t.CapacityProbe }

// Capacities reads the capacity searches out of trials' probe records, in
// scenario, GOMAXPROCS and variant order.
func Capacities(trials []*result.Trial) []CapacitySearch {
	type key struct {
		scenario, variant string
		procs             int
		load              result.Load
	}
	byKey := map[key][]*result.Trial{}
	var keys []key
	for _, t := range trials {
		if !isProbe(t) {
			continue
		}
		l := t.Load
		l.Rate = 0
		k := key{t.Scenario, t.Variant, t.GOMAXPROCS, l}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], t)
	}
	order := orderVariants(trials)
	slices.SortStableFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.scenario, b.scenario), cmp.Compare(a.procs, b.procs),
			cmp.Compare(slices.Index(order, a.variant), slices.Index(order, b.variant)))
	})
	var out []CapacitySearch
	for _, k := range keys {
		ts := byKey[k]
		s := CapacitySearch{Scenario: k.scenario, Variant: k.variant, GOMAXPROCS: k.procs, Load: k.load}
		var probes []capacity.Probe
		byRate := map[float64][]*result.Trial{}
		for _, t := range ts {
			if s.SLO == nil {
				s.SLO = t.SLO
			}
			probes = append(probes, probeOf(t))
			byRate[t.Load.Rate] = append(byRate[t.Load.Rate], t)
		}
		s.Result = capacity.FromProbes(probes, capacity.DefaultConfig)
		for _, p := range s.Result.Probes {
			pt := GoodputPoint{Rate: p.Rate, Attainment: p.Attainment(), Trials: len(byRate[p.Rate])}
			var gs []float64
			for _, t := range byRate[p.Rate] {
				if t.Failed() {
					pt.Failed++
					continue
				}
				gs = append(gs, t.GoodputPerS)
			}
			pt.Goodput = math.NaN()
			if len(gs) > 0 {
				pt.Goodput = median(gs)
			}
			s.Points = append(s.Points, pt)
		}
		out = append(out, s)
	}
	return out
}

// probeOf is what one probe trial measured, as the search saw it.
func probeOf(t *result.Trial) capacity.Probe {
	return capacity.Probe{
		Rate: t.Load.Rate, Met: t.RequestsMetSLO,
		Total:  t.StreamsCompleted + t.StreamsDisconnected + t.StreamsFailed + t.RequestsDropped,
		Failed: t.Failed(),
	}
}

// fmtInterval gives a search's interval, "[1.2k, 1.26k)", with an open end
// where no rate passed or none failed.
func fmtInterval(r capacity.Result) string {
	hi := "∞"
	if r.Hi > 0 {
		hi = fmtSI(r.Hi)
	}
	return fmt.Sprintf("[%s, %s)", fmtSI(r.Lo), hi)
}

// fmtCapacity gives a search's capacity in requests per second, saying
// when it lies beyond the rates probed.
func fmtCapacity(r capacity.Result) string {
	switch {
	case r.Lo == 0 && r.Hi > 0:
		return "< " + fmtSI(r.Hi) + "/s"
	case r.Hi == 0 && r.Lo > 0:
		return ">= " + fmtSI(r.Lo) + "/s"
	case r.Lo == 0:
		return "-"
	}
	return fmtSI(r.Capacity) + "/s"
}

// fmtSLO gives an SLO as "ttft<=1s e2e<=10s (at 0.01 scale)".
func fmtSLO(o *result.SLO) string {
	if o == nil {
		return "-"
	}
	var parts []string
	if o.TTFTNS > 0 {
		parts = append(parts, "ttft<="+fmtNS(float64(o.TTFTNS)))
	}
	if o.E2ENS > 0 {
		parts = append(parts, "e2e<="+fmtNS(float64(o.E2ENS)))
	}
	s := strings.Join(parts, " ")
	if o.TimeScale != 0 && o.TimeScale != 1 {
		s += fmt.Sprintf(" (×%g)", o.TimeScale)
	}
	return s
}

// WriteCapacityTable writes the capacity searches of trials as a table:
// per scenario, GOMAXPROCS and variant, the highest rate at which 99% of
// requests met the SLO, its interval [last passing, first failing), the
// rates probed and the SLO. It writes nothing when trials hold no probes.
func WriteCapacityTable(w io.Writer, trials []*result.Trial) error {
	cs := Capacities(trials)
	if len(cs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\ncapacity: the highest open-model rate at which %g%% of requests met the SLO from their intended start\n", 100*capacity.DefaultConfig.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tprocs\tvariant\tcapacity\tinterval\tprobes\tgoodput at capacity\tSLO\n")
	var notConverged bool
	for _, c := range cs {
		mark := ""
		if !c.Result.Converged {
			mark, notConverged = "*", true
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s%s\t%s\t%d\t%s\t%s\n", c.Scenario, c.GOMAXPROCS, c.Variant,
			fmtCapacity(c.Result), mark, fmtInterval(c.Result), len(c.Points), fmtGoodputAt(c), fmtSLO(c.SLO))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if notConverged {
		_, err := fmt.Fprintf(w, "* not converged: the interval is wider than %g%% (the budget ran out, or the probes were too few)\n", 100*capacity.DefaultConfig.Resolution)
		return err
	}
	return nil
}

// fmtGoodputAt gives the median goodput at the search's capacity.
func fmtGoodputAt(c CapacitySearch) string {
	for _, p := range c.Points {
		if p.Rate == c.Result.Capacity && !math.IsNaN(p.Goodput) {
			return fmtSI(p.Goodput) + "/s"
		}
	}
	return "-"
}

// capacityFindings says each scenario's capacities side by side.
func capacityFindings(trials []*result.Trial) []string {
	var out []string
	cs := Capacities(trials)
	for i := 0; i < len(cs); {
		j := i
		var parts []string
		for ; j < len(cs) && cs[j].Scenario == cs[i].Scenario && cs[j].GOMAXPROCS == cs[i].GOMAXPROCS; j++ {
			parts = append(parts, fmt.Sprintf("%s %s %s", cs[j].Variant, fmtCapacity(cs[j].Result), fmtInterval(cs[j].Result)))
		}
		out = append(out, fmt.Sprintf("Capacity on %s (GOMAXPROCS=%d; the highest rate at which %g%% of requests met %s): %s.",
			cs[i].Scenario, cs[i].GOMAXPROCS, 100*capacity.DefaultConfig.Target, fmtSLO(cs[i].SLO), strings.Join(parts, "; ")))
		i = j
	}
	return out
}

// capacityPlots draws, per scenario and GOMAXPROCS with capacity probes,
// goodput against offered rate, one line per variant, each knee (the
// capacity) marked with a ring and its rate.
func capacityPlots(trials []*result.Trial) ([]string, []*plot.Plot, error) {
	cs := Capacities(trials)
	procs := map[int]bool{}
	for _, c := range cs {
		procs[c.GOMAXPROCS] = true
	}
	var names []string
	var plots []*plot.Plot
	for i := 0; i < len(cs); {
		j := i
		for j < len(cs) && cs[j].Scenario == cs[i].Scenario && cs[j].GOMAXPROCS == cs[i].GOMAXPROCS {
			j++
		}
		name, title := cs[i].Scenario+"-", cs[i].Scenario
		if len(procs) > 1 {
			name += fmt.Sprintf("p%d-", cs[i].GOMAXPROCS)
			title += fmt.Sprintf(" (GOMAXPROCS=%d)", cs[i].GOMAXPROCS)
		}
		p, err := goodputPlot(cs[i:j], title+": goodput vs offered rate")
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			names, plots = append(names, name+"goodput"), append(plots, p)
		}
		i = j
	}
	return names, plots, nil
}

// goodputCaption says how to read a goodput plot.
const goodputCaption = "Median goodput (requests a second that met the SLO from their intended start) against the offered rate of each capacity probe; the grey dashed line is goodput equal to the offered rate. A ring marks each variant's knee, the highest rate at which 99% of requests met the SLO: past it, goodput falls away from the offered rate."

func goodputPlot(cs []CapacitySearch, title string) (*plot.Plot, error) {
	p := newPlot(title, "offered rate (requests/s)", "goodput (requests/s meeting the SLO)")
	var xs, ys []float64
	var knees plotter.XYLabels
	for _, c := range cs {
		var pts xyErr
		for _, pt := range c.Points {
			if math.IsNaN(pt.Goodput) {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: pt.Rate, Y: pt.Goodput})
			pts.lo, pts.hi = append(pts.lo, math.NaN()), append(pts.hi, math.NaN())
			xs, ys = append(xs, pt.Rate), append(ys, pt.Goodput)
			if pt.Rate == c.Result.Capacity && c.Result.Capacity > 0 {
				knees.XYs = append(knees.XYs, plotter.XY{X: pt.Rate, Y: pt.Goodput})
				knees.Labels = append(knees.Labels, fmt.Sprintf("%s knee %s/s", c.Variant, fmtSI(pt.Rate)))
				ring, err := plotter.NewScatter(plotter.XYs{{X: pt.Rate, Y: pt.Goodput}})
				if err != nil {
					return nil, err
				}
				ring.Shape = draw.RingGlyph{}
				ring.Color = VariantStyle(c.Variant).Color
				ring.Radius = vg.Points(8)
				p.Add(ring)
			}
		}
		if err := addSeries(p, c.Variant, VariantStyle(c.Variant), pts, false); err != nil {
			return nil, err
		}
	}
	if len(xs) == 0 {
		return nil, nil
	}
	// Note: goodput cannot exceed the offered rate, so the line where they
	// are equal is the reference; on log-log axes it stays straight.
	lo, hi := slices.Min(xs), slices.Max(xs)
	var diag plotter.XYs
	for i := range 65 {
		x := lo * math.Pow(hi/lo, float64(i)/64)
		diag = append(diag, plotter.XY{X: x, Y: x})
	}
	offered, err := plotter.NewLine(diag)
	if err != nil {
		return nil, err
	}
	offered.Color = color.Gray{Y: 0x60}
	offered.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(offered)
	p.Legend.Add("offered", offered)
	if len(knees.XYs) > 0 {
		labels, err := plotter.NewLabels(knees)
		if err != nil {
			return nil, err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Font = font.From(sans, 10)
			labels.TextStyle[i].Color = color.Gray{Y: 0x30}
		}
		labels.Offset = vg.Point{X: vg.Points(10), Y: vg.Points(-12)}
		p.Add(unpadded{labels})
	}
	p.X.Min, p.X.Max = lo, hi
	if spansDecade(xs) && slices.Min(ys) > 0 {
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = logTicks{}, logTicks{}
		p.Y.Min, p.Y.Max = math.Min(slices.Min(ys), lo), math.Max(slices.Max(ys), hi)
	} else {
		p.Y.Min, p.Y.Max = 0, math.Max(slices.Max(ys), hi)*1.05
	}
	return p, nil
}

// writeCapacityMarkdown adds the capacity table to a Markdown summary.
func writeCapacityMarkdown(b *strings.Builder, trials []*result.Trial) {
	cs := Capacities(trials)
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n**Capacity** (the highest open-model rate at which %g%% of requests met the SLO)\n\n", 100*capacity.DefaultConfig.Target)
	b.WriteString("| scenario | procs | variant | capacity | interval | probes | SLO |\n|---|--:|---|--:|---|--:|---|\n")
	for _, c := range cs {
		mark := ""
		if !c.Result.Converged {
			mark = " (not converged)"
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s%s | %s | %d | %s |\n", c.Scenario, c.GOMAXPROCS, c.Variant,
			fmtCapacity(c.Result), mark, fmtInterval(c.Result), len(c.Points), fmtSLO(c.SLO))
	}
}

// goodputCell is one summary row's goodput: the median goodput_per_s of
// its trials that did not fail and their pooled SLO attainment.
type goodputCell struct {
	Goodput    float64
	Met, Total int64
}

// String formats c as "1.2k/s (99.5%)".
func (c goodputCell) String() string {
	if c.Total == 0 {
		return fmtSI(c.Goodput) + "/s"
	}
	return fmt.Sprintf("%s/s (%.1f%%)", fmtSI(c.Goodput), 100*float64(c.Met)/float64(c.Total))
}

// goodputByRow gives each summary row's goodput, or nil when no ordinary
// trial was judged against an SLO.
func goodputByRow(trials []*result.Trial) map[dropKey]goodputCell {
	vals := map[dropKey][]float64{}
	out := map[dropKey]goodputCell{}
	for _, t := range trials {
		if t.SLO == nil || t.Failed() || isProbe(t) {
			continue
		}
		k := dropKey{t.Key(), t.Variant}
		vals[k] = append(vals[k], t.GoodputPerS)
		c := out[k]
		p := probeOf(t)
		c.Met, c.Total = c.Met+p.Met, c.Total+p.Total
		out[k] = c
	}
	if len(out) == 0 {
		return nil
	}
	for k, vs := range vals {
		c := out[k]
		c.Goodput = median(vs)
		out[k] = c
	}
	return out
}

package reports

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/streambench/streambench/harness/result"
)

// Plot size of every figure.
const (
	plotW = 7 * vg.Inch
	plotH = 4 * vg.Inch
)

// Style is the colour and marker of one variant, the same in every plot.
type Style struct {
	Color color.RGBA
	Glyph draw.GlyphDrawer
}

// palette holds the colours variants are drawn in (Okabe-Ito, readable by
// colour-blind readers).
var palette = []color.RGBA{
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky
	{0xF0, 0xE4, 0x42, 0xff}, // yellow
	{0x00, 0x00, 0x00, 0xff}, // black
}

var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{},
	draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{},
}

// VariantStyle returns the style of the named variant. Note: the style is
// a function of the name alone (the two faithful designs fixed, others by
// hash), not of the order variants appear in, so a variant looks the same
// in every plot and in every report.
func VariantStyle(name string) Style {
	i := 0
	switch name {
	case "mutex":
		i = 0
	case "lockfree":
		i = 1
	default:
		h := fnv.New32a()
		h.Write([]byte(name))
		i = 2 + int(h.Sum32()%uint32(len(palette)-2))
	}
	return Style{palette[i], glyphs[i]}
}

// A Figure is one rendered plot.
type Figure struct {
	Name    string // file name without extension
	Title   string
	Caption string // how to read it, one line
	PNG     []byte
	SVG     []byte
}

// WritePlots renders every plot trials have data for into dir, as PNG and
// SVG, and returns the paths written. Plots without data are skipped.
func WritePlots(dir string, trials []*result.Trial) ([]string, error) {
	figs, err := Figures(trials)
	if err != nil {
		return nil, err
	}
	return saveFigures(dir, figs)
}

// saveFigures writes each figure as PNG and SVG into dir.
func saveFigures(dir string, figs []Figure) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range figs {
		for _, out := range []struct {
			ext  string
			data []byte
		}{{"png", f.PNG}, {"svg", f.SVG}} {
			p := filepath.Join(dir, f.Name+"."+out.ext)
			if err := os.WriteFile(p, out.data, 0o644); err != nil {
				return paths, err
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// Figures renders every plot trials have data for.
func Figures(trials []*result.Trial) ([]Figure, error) {
	groups := Analyze(trials, DefaultOptions)
	var figs []Figure
	add := func(name, caption string, p *plot.Plot, err error) error {
		if err != nil || p == nil {
			return err
		}
		f := Figure{Name: name, Title: p.Title.Text, Caption: caption}
		for _, ext := range []string{"png", "svg"} {
			wt, err := p.WriterTo(plotW, plotH, ext)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if _, err := wt.WriteTo(&b); err != nil {
				return err
			}
			if ext == "png" {
				f.PNG = b.Bytes()
			} else {
				f.SVG = b.Bytes()
			}
		}
		figs = append(figs, f)
		return nil
	}
	for _, sc := range scenarioProcs(groups) {
		gs := sc.groups
		pre := sc.prefix
		steps := []struct {
			name, caption string
			make          func() (*plot.Plot, error)
		}{
			{"throughput", "Median chunks/s per variant with its 95% CI; higher is better, and lines that fan out with concurrency show a scaling difference.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "closed", []string{MChunksPerS}, sc.title+": throughput vs concurrency", "chunks/s")
				}},
			{"throughput-open", "Median chunks/s against the offered arrival rate; a variant that falls below the others' line has saturated.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "open", []string{MChunksPerS}, sc.title+": throughput vs offered rate", "chunks/s")
				}},
			{"ratio", "Throughput of each variant over the baseline with a conservative 95% CI; 1x means no difference, the 20x line is the source's claim.",
				func() (*plot.Plot, error) { return ratioPlot(gs, sc.title+": throughput ratio vs concurrency") }},
			{"ttft", "Median over trials of each trial's p50 (solid) and p99 (dashed) time to first token; lower is better.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "closed", []string{MTTFTP50, MTTFTP99}, sc.title+": TTFT vs concurrency", "TTFT (ms)")
				}},
			{"itl", "Median over trials of each trial's p50 (solid) and p99 (dashed) inter-token latency; lower is better.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "closed", []string{MITLP50, MITLP99}, sc.title+": ITL vs concurrency", "ITL (ms)")
				}},
			{"cpu", "CPU nanoseconds per delivered chunk, harness cost included; lower is better.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "closed", []string{MCPUNSPerChunk}, sc.title+": CPU per chunk", "CPU (ns/chunk)")
				}},
			{"allocs", "Heap allocations per delivered chunk; lower is better.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "closed", []string{MAllocsPerChunk}, sc.title+": allocations per chunk", "allocs/chunk")
				}},
			{"mutexwait", "Time goroutines spent waiting for locks per delivered chunk; contention shows as growth with concurrency.",
				func() (*plot.Plot, error) {
					return metricPlot(gs, "closed", []string{MMutexWaitNS}, sc.title+": mutex wait per chunk", "mutex wait (ns/chunk)")
				}},
			{"ttft-dist", "TTFT percentile distribution at the highest load; the right of the plot is the tail a few users see.",
				func() (*plot.Plot, error) { return distPlot(trials, gs, "ttft", sc.title+": TTFT percentiles") }},
			{"heap", "Heap in use during the measured window of one trial at the highest load; a rising line is memory held past its use.",
				func() (*plot.Plot, error) { return seriesPlot(trials, gs, false, sc.title+": heap in use over time") }},
			{"goroutines", "Live goroutines during one trial at the highest load; a line that keeps rising is a leak.",
				func() (*plot.Plot, error) {
					return seriesPlot(trials, gs, true, sc.title+": live goroutines over time")
				}},
			{"billing", "Median tokens billed (coloured) and delivered (grey) per trial at the highest load; billed should equal delivered.",
				func() (*plot.Plot, error) { return billingPlot(trials, gs, sc.title+": tokens billed vs delivered") }},
		}
		for _, s := range steps {
			p, err := s.make()
			if err := add(pre+s.name, s.caption, p, err); err != nil {
				return figs, fmt.Errorf("reports: plot %s%s: %w", pre, s.name, err)
			}
		}
	}
	return figs, nil
}

// scenarioPlots is the groups of one scenario at one GOMAXPROCS.
type scenarioPlots struct {
	prefix, title string
	groups        []*Group
}

// scenarioProcs splits groups by scenario and GOMAXPROCS.
func scenarioProcs(groups []*Group) []scenarioPlots {
	procs := map[int]bool{}
	for _, g := range groups {
		procs[g.Key.GOMAXPROCS] = true
	}
	var out []scenarioPlots
	for _, g := range groups {
		pre, title := g.Key.Scenario+"-", g.Key.Scenario
		if len(procs) > 1 {
			pre += fmt.Sprintf("p%d-", g.Key.GOMAXPROCS)
			title += fmt.Sprintf(" (GOMAXPROCS=%d)", g.Key.GOMAXPROCS)
		}
		if n := len(out); n > 0 && out[n-1].prefix == pre {
			out[n-1].groups = append(out[n-1].groups, g)
			continue
		}
		out = append(out, scenarioPlots{pre, title, []*Group{g}})
	}
	return out
}

// xOf returns the x coordinate of a group's load in model, and ok false if
// the group is under another model.
func xOf(k Key, model string) (float64, bool) {
	if k.Load.Model != model {
		return 0, false
	}
	if model == "open" {
		return k.Load.Rate, true
	}
	return float64(k.Load.Concurrency), true
}

// newPlot returns a plot with title and axis labels.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// xyErr is a point with asymmetric y error bars.
type xyErr struct {
	plotter.XYs
	lo, hi []float64
}

func (e xyErr) YError(i int) (float64, float64) { return e.lo[i], e.hi[i] }

// addSeries adds one variant's line, markers and error bars to p. Points
// with unbounded intervals get no bar. dashed draws a dashed line.
func addSeries(p *plot.Plot, label string, style Style, pts xyErr, dashed bool) error {
	if len(pts.XYs) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(pts.XYs)
	if err != nil {
		return err
	}
	l.Color, s.Color, s.Shape = style.Color, style.Color, style.Glyph
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	var bars xyErr
	for i, xy := range pts.XYs {
		if !math.IsInf(pts.lo[i], 0) && !math.IsInf(pts.hi[i], 0) && !math.IsNaN(pts.lo[i]) {
			bars.XYs = append(bars.XYs, xy)
			bars.lo = append(bars.lo, pts.lo[i])
			bars.hi = append(bars.hi, pts.hi[i])
		}
	}
	if len(bars.XYs) > 0 {
		eb, err := plotter.NewYErrorBars(bars)
		if err != nil {
			return err
		}
		eb.Color = style.Color
		p.Add(eb)
	}
	return nil
}

// metricPlot plots metrics (several: solid then dashed) against the load
// level of model, one line per variant; nil when no group is under model.
func metricPlot(groups []*Group, model string, metrics []string, title, ylabel string) (*plot.Plot, error) {
	xlabel := "concurrent streams"
	if model == "open" {
		xlabel = "offered rate (requests/s)"
	}
	scale := 1.0
	if strings.Contains(ylabel, "(ms)") {
		scale = 1e-6
	}
	p := newPlot(title, xlabel, ylabel)
	var xs, ys []float64
	for mi, metric := range metrics {
		for _, name := range variantNames(groups) {
			var pts xyErr
			for _, g := range groups {
				x, ok := xOf(g.Key, model)
				v := g.Variant(name)
				if !ok || v == nil {
					continue
				}
				e := v.Estimate(metric)
				if math.IsNaN(e.Center) {
					continue
				}
				c := e.Center * scale
				pts.XYs = append(pts.XYs, plotter.XY{X: x, Y: c})
				pts.lo = append(pts.lo, c-e.Lo*scale)
				pts.hi = append(pts.hi, e.Hi*scale-c)
				xs, ys = append(xs, x), append(ys, c)
			}
			label := name
			if len(metrics) > 1 {
				label += " " + percentileOf(metric)
			}
			if err := addSeries(p, label, VariantStyle(name), pts, mi > 0); err != nil {
				return nil, err
			}
		}
	}
	if len(xs) == 0 {
		return nil, nil
	}
	logAxes(p, xs, ys)
	return p, nil
}

// percentileOf returns "p50" of "ttft_p50_ns".
func percentileOf(metric string) string {
	for _, part := range strings.Split(metric, "_") {
		if strings.HasPrefix(part, "p") && len(part) > 1 {
			return part
		}
	}
	return metric
}

// logAxes puts an axis on a log scale when its positive values span more
// than a decade. Note: a log axis cannot show zero, so an axis with a zero
// or negative value stays linear.
func logAxes(p *plot.Plot, xs, ys []float64) {
	if spansDecade(xs) {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if spansDecade(ys) {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
}

func spansDecade(vs []float64) bool {
	if len(vs) == 0 || slices.Min(vs) <= 0 {
		return false
	}
	return slices.Max(vs)/slices.Min(vs) >= 10
}

// ratioPlot plots each variant's chunks/s over the baseline against
// concurrency, with reference lines at 1x and 20x.
func ratioPlot(groups []*Group, title string) (*plot.Plot, error) {
	p := newPlot(title, "concurrent streams", "chunks/s ratio over baseline (x)")
	var xs []float64
	series := map[string]*xyErr{}
	var names []string
	for _, g := range groups {
		x, ok := xOf(g.Key, "closed")
		if !ok || len(g.Variants) < 2 {
			continue
		}
		den := g.Variants[0].Variant
		for _, v := range g.Variants[1:] {
			r, _ := g.Ratio(MChunksPerS, v.Variant, den)
			if math.IsNaN(r.Center) || math.IsInf(r.Center, 0) || r.Center <= 0 {
				continue
			}
			label := v.Variant + "/" + den
			s := series[label]
			if s == nil {
				s = &xyErr{}
				series[label] = s
				names = append(names, label)
			}
			s.XYs = append(s.XYs, plotter.XY{X: x, Y: r.Center})
			lo := r.Lo
			if lo <= 0 {
				lo = math.Inf(-1) // no finite lower bound on a log axis
			}
			s.lo = append(s.lo, r.Center-lo)
			s.hi = append(s.hi, r.Hi-r.Center)
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return nil, nil
	}
	for _, n := range names {
		if err := addSeries(p, n, VariantStyle(strings.Split(n, "/")[0]), *series[n], false); err != nil {
			return nil, err
		}
	}
	for _, ref := range []float64{1, 20} {
		f := plotter.NewFunction(func(float64) float64 { return ref })
		f.Color = color.Gray{Y: 0x60}
		f.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(f)
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = math.Min(p.Y.Min, 0.5)
	p.Y.Max = math.Max(p.Y.Max, 30)
	p.X.Min, p.X.Max = slices.Min(xs), slices.Max(xs)
	if spansDecade(xs) {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	return p, nil
}

// heaviest returns the closed-model group with the highest concurrency
// (or, with none, the last group), whose trials the per-trial plots show.
func heaviest(groups []*Group) *Group {
	var best *Group
	for _, g := range groups {
		if best == nil || g.Key.Load.Model == "closed" && (best.Key.Load.Model != "closed" || g.Key.Load.Concurrency > best.Key.Load.Concurrency) {
			best = g
		}
	}
	return best
}

// trialsOf returns the successful trials of variant in group g.
func trialsOf(trials []*result.Trial, g *Group, variant string) []*result.Trial {
	var out []*result.Trial
	for _, t := range trials {
		if keyOf(t) == g.Key && t.Variant == variant && !t.Failed() {
			out = append(out, t)
		}
	}
	return out
}

// distPlot plots the percentile distribution of one latency at the
// heaviest load: x is 1/(1-q) on a log axis labelled by percentile, y the
// median over trials of each quantile.
func distPlot(trials []*result.Trial, groups []*Group, dist, title string) (*plot.Plot, error) {
	g := heaviest(groups)
	p := newPlot(title+" ("+g.Key.LoadName()+")", "percentile", strings.ToUpper(dist)+" latency (ms)")
	var ys []float64
	for _, name := range variantNames([]*Group{g}) {
		byQ := map[float64][]float64{}
		for _, t := range trialsOf(trials, g, name) {
			for _, q := range t.Dist[dist] {
				if q.Q >= 0 && q.Q < 1 {
					byQ[q.Q] = append(byQ[q.Q], float64(q.NS)/1e6)
				}
			}
		}
		var pts xyErr
		qs := make([]float64, 0, len(byQ))
		for q := range byQ {
			qs = append(qs, q)
		}
		slices.Sort(qs)
		for _, q := range qs {
			vs := byQ[q]
			slices.Sort(vs)
			y := vs[len(vs)/2]
			pts.XYs = append(pts.XYs, plotter.XY{X: 1 / (1 - q), Y: y})
			pts.lo, pts.hi = append(pts.lo, math.Inf(1)), append(pts.hi, math.Inf(1))
			ys = append(ys, y)
		}
		if err := addSeries(p, name, VariantStyle(name), pts, false); err != nil {
			return nil, err
		}
	}
	if len(ys) == 0 {
		return nil, nil
	}
	// Pad the x range so the end labels ("99.9%") are not clipped.
	p.X.Min, p.X.Max = p.X.Min/1.3, p.X.Max*1.6
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks{
		{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"},
		{Value: 100, Label: "99%"}, {Value: 1000, Label: "99.9%"}, {Value: 10000, Label: "99.99%"},
	}
	if spansDecade(ys) {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	return p, nil
}

// seriesPlot plots heap in use (or live goroutines) over time in the first
// successful trial of each variant at the heaviest load.
func seriesPlot(trials []*result.Trial, groups []*Group, goroutines bool, title string) (*plot.Plot, error) {
	g := heaviest(groups)
	ylabel := "heap in use (MiB)"
	if goroutines {
		ylabel = "live goroutines"
	}
	p := newPlot(title+" ("+g.Key.LoadName()+")", "time since measurement began (s)", ylabel)
	n := 0
	for _, name := range variantNames([]*Group{g}) {
		ts := trialsOf(trials, g, name)
		if len(ts) == 0 || len(ts[0].HeapSeries) == 0 {
			continue
		}
		var pts plotter.XYs
		for _, s := range ts[0].HeapSeries {
			y := float64(s.HeapBytes) / (1 << 20)
			if goroutines {
				y = float64(s.Goroutines)
			}
			pts = append(pts, plotter.XY{X: s.T, Y: y})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		st := VariantStyle(name)
		l.Color, l.Width = st.Color, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (trial %d)", name, ts[0].Trial), l)
		n++
	}
	if n == 0 {
		return nil, nil
	}
	return p, nil
}

// billingPlot draws, for the heaviest load of a scenario in which clients
// disconnected, the median tokens delivered and billed per variant.
func billingPlot(trials []*result.Trial, groups []*Group, title string) (*plot.Plot, error) {
	g := heaviest(groups)
	disconnects := false
	for _, t := range trials {
		if keyOf(t) == g.Key && t.StreamsDisconnected > 0 {
			disconnects = true
		}
	}
	if !disconnects {
		return nil, nil
	}
	p := newPlot(title+" ("+g.Key.LoadName()+")", "variant", "tokens per trial (median)")
	p.Add(plotter.NewGrid())
	names := variantNames([]*Group{g})
	w := vg.Points(18)
	for i, name := range names {
		var billed, delivered []float64
		for _, t := range trialsOf(trials, g, name) {
			billed = append(billed, float64(t.Accounting.TokensBilled))
			delivered = append(delivered, float64(t.Accounting.TokensDelivered))
		}
		if len(billed) == 0 {
			continue
		}
		for j, bar := range []struct {
			v   []float64
			col color.Color
		}{{delivered, color.Gray{Y: 0xa0}}, {billed, VariantStyle(name).Color}} {
			vals := make(plotter.Values, len(names))
			slices.Sort(bar.v)
			vals[i] = bar.v[len(bar.v)/2]
			b, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return nil, err
			}
			b.Color = bar.col
			b.LineStyle.Width = 0
			b.Offset = vg.Length(2*j-1) * w / 2
			p.Add(b)
			if i == 0 && j == 0 {
				p.Legend.Add("delivered", b)
			}
			if j == 1 {
				p.Legend.Add(name+" billed", b)
			}
		}
	}
	p.NominalX(names...)
	p.Y.Min = 0
	return p, nil
}

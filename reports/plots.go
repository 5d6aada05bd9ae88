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
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/streambench/streambench/result"
)

// Plot size of every figure, and the resolution of its PNG. Note: at 120
// dpi a figure is 960x540 pixels, sharp at the HTML report's width
// without making the self-contained file heavy.
const (
	plotW  = 8 * vg.Inch
	plotH  = 4.5 * vg.Inch
	pngDPI = 120
)

// sans is the typeface of every label: a sans-serif reads better than
// gonum's default serif at the small sizes of tick labels.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

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
func WritePlots(dir string, trials []*result.Trial, opts Options) ([]string, error) {
	figs, err := Figures(trials, opts)
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

// Figures renders every plot trials have data for, and a waterfall of
// every attribution of opts.Ladders.
func Figures(trials []*result.Trial, opts Options) ([]Figure, error) {
	opts = opts.orDefault()
	groups := Analyze(trials, opts)
	attr := Attribute(groups, opts.Ladders, MChunksPerS, opts)
	var figs []Figure
	add := func(name, caption string, p *plot.Plot, err error) (rerr error) {
		if err != nil || p == nil {
			return err
		}
		// Note: gonum/plot panics on data it cannot draw (a zero on a log
		// axis); one bad figure must fail with its name, not crash a run
		// whose results are already on disk.
		defer func() {
			if r := recover(); r != nil {
				rerr = fmt.Errorf("cannot draw: %v", r)
			}
		}()
		f := Figure{Name: name, Title: p.Title.Text, Caption: caption}
		// The legend goes in a strip right of the plot, where it cannot
		// hide a line.
		leg := p.Legend
		p.Legend = plot.NewLegend()
		if f.PNG, err = render(p, leg, "png"); err != nil {
			return err
		}
		if f.SVG, err = render(p, leg, "svg"); err != nil {
			return err
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
			{"latency-dist", "Percentile distribution of time to first token (solid) and whole-stream time (dashed) at the highest load; each step right is a ten times rarer request, so the right edge is the tail a few users see.",
				func() (*plot.Plot, error) { return distPlot(trials, gs, sc.title+": latency percentiles") }},
			{"heap", "Heap in use through one trial per variant at the highest load, warm-up shaded grey and the end of the measured window dashed; heap that stays up after the window ends is memory still held.",
				func() (*plot.Plot, error) {
					return seriesPlot(trials, gs, seriesHeap, sc.title+": heap in use over time")
				}},
			{"goroutines", "Live goroutines through one trial per variant at the highest load, warm-up shaded grey and the end of the measured window dashed; a line that stays up after the window ends is goroutines leaked.",
				func() (*plot.Plot, error) {
					return seriesPlot(trials, gs, seriesGoroutines, sc.title+": live goroutines over time")
				}},
			{"gc", "Share of the process's CPU (GOMAXPROCS × time) the garbage collector used between samples, through one trial per variant at the highest load; a share that climbs as the heap grows is a design paying for its memory, and near a memory limit (-memlimit) the collector runs almost without pause.",
				func() (*plot.Plot, error) {
					return seriesPlot(trials, gs, seriesGC, sc.title+": GC CPU share over time")
				}},
			{"billing", "Median tokens delivered (grey) and billed (coloured) per trial, at each load of a scenario where clients disconnect, labelled with billed minus delivered; a correct design bills exactly what it delivered (=), a negative figure is revenue lost, a positive one a customer overcharged.",
				func() (*plot.Plot, error) { return billingPlot(trials, gs, sc.title+": tokens billed vs delivered") }},
		}
		for _, s := range steps {
			p, err := s.make()
			if err := add(pre+s.name, s.caption, p, err); err != nil {
				return figs, fmt.Errorf("reports: plot %s%s: %w", pre, s.name, err)
			}
		}
		for _, a := range attr.Ladders {
			if !slices.Contains(gs, groupOf(groups, a.Key)) {
				continue
			}
			name := pre + "waterfall-" + a.Ladder.Name + "-" + a.Key.LoadName()
			p, err := waterfallPlot(a, fmt.Sprintf("%s %s: %s, %s ladder", sc.title, a.Key.DescribeLoad(), metricLabel(a.Metric), a.Ladder.Name))
			if err := add(name, waterfallCaption, p, err); err != nil {
				return figs, fmt.Errorf("reports: plot %s: %w", name, err)
			}
		}
	}
	names, plots, err := capacityPlots(trials)
	if err != nil {
		return figs, fmt.Errorf("reports: goodput plot: %w", err)
	}
	for i, p := range plots {
		if err := add(names[i], goodputCaption, p, nil); err != nil {
			return figs, fmt.Errorf("reports: plot %s: %w", names[i], err)
		}
	}
	return figs, nil
}

// groupOf returns the group of groups under k, or nil.
func groupOf(groups []*Group, k Key) *Group {
	for _, g := range groups {
		if g.Key == k {
			return g
		}
	}
	return nil
}

// render draws p with leg in a strip at its right and encodes it as ext,
// "png" or "svg".
func render(p *plot.Plot, leg plot.Legend, ext string) ([]byte, error) {
	var c vg.CanvasWriterTo
	switch ext {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(plotW, plotH), vgimg.UseDPI(pngDPI))}
	case "svg":
		c = vgsvg.New(plotW, plotH)
	default:
		return nil, fmt.Errorf("unknown image format %q", ext)
	}
	dc := draw.New(c)
	var legW vg.Length
	if leg.Rectangle(dc).Size().X > 0 {
		legW = leg.Rectangle(dc).Size().X + vg.Points(12)
	}
	p.Draw(draw.Crop(dc, 0, -legW, 0, 0))
	if legW > 0 {
		leg.Top, leg.Left = true, true
		leg.YOffs = -vg.Points(28) // level with the top of the data area
		leg.Draw(draw.Crop(dc, plotW-legW+vg.Points(6), 0, 0, 0))
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
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
	p.Title.TextStyle.Font = font.From(sans, 14)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 12)
		a.Tick.Label.Font = font.From(sans, 11)
	}
	p.Legend.TextStyle.Font = font.From(sans, 11)
	p.Legend.ThumbnailWidth = vg.Points(24)
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
				// The interval is drawn too, so a lower bound at zero must
				// keep the axis linear.
				if lo := e.Lo * scale; !math.IsInf(lo, 0) && !math.IsNaN(lo) {
					ys = append(ys, lo)
				}
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
// than a decade, and marks the x axis at the load levels of xs. Note: a
// log axis cannot show zero, so an axis with a zero or negative value
// stays linear.
func logAxes(p *plot.Plot, xs, ys []float64) {
	if spansDecade(xs) {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	}
	if m, ok := valueTicks(xs); ok {
		p.X.Tick.Marker = m
	}
	if spansDecade(ys) {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
}

// valueTicks labels an axis at each distinct value of vs, the load levels
// a sweep ran, when there are few enough to read.
func valueTicks(vs []float64) (plot.Ticker, bool) {
	u := slices.Clone(vs)
	slices.Sort(u)
	u = slices.Compact(u)
	if len(u) == 0 || len(u) > 12 {
		return nil, false
	}
	var ts plot.ConstantTicks
	for _, v := range u {
		ts = append(ts, plot.Tick{Value: v, Label: fmtSI(v)})
	}
	return ts, true
}

// logTicks marks a log axis at 1, 2 and 5 times each power of ten, with
// unlabelled ticks between. Note: gonum's plot.LogTicks labels powers of
// ten only, which leaves a range of less than a decade or two with one
// label or none.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	var ts []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, e)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = fmtSI(v)
				labelled++
			}
			ts = append(ts, t)
		}
	}
	if labelled < 3 { // less than about half a decade: label every tick
		for i := range ts {
			ts[i].Label = fmtSI(ts[i].Value)
		}
	}
	return ts
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
	refs := plotter.XYLabels{}
	for _, ref := range []struct {
		y     float64
		label string
	}{{1, "1x: no difference"}, {20, "20x: the source's claim"}} {
		f := plotter.NewFunction(func(float64) float64 { return ref.y })
		f.Color = color.Gray{Y: 0x60}
		f.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(f)
		refs.XYs = append(refs.XYs, plotter.XY{X: slices.Min(xs), Y: ref.y})
		refs.Labels = append(refs.Labels, ref.label)
	}
	labels, err := plotter.NewLabels(refs)
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font = font.From(sans, 10)
		labels.TextStyle[i].Color = color.Gray{Y: 0x40}
	}
	labels.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(3)}
	p.Add(unpadded{labels})
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Y.Min = math.Min(p.Y.Min, 0.5)
	p.Y.Max = math.Max(p.Y.Max, 30)
	p.X.Min, p.X.Max = slices.Min(xs), slices.Max(xs)
	logAxes(p, xs, nil)
	return p, nil
}

// unpadded draws labels without the plot making room for their glyphs,
// which with a label near the top of a log axis shrinks the data area.
type unpadded struct{ labels *plotter.Labels }

// Plot implements plot.Plotter.
func (u unpadded) Plot(c draw.Canvas, p *plot.Plot) { u.labels.Plot(c, p) }

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
		if t.Key() == g.Key && t.Variant == variant && !t.Failed() {
			out = append(out, t)
		}
	}
	return out
}

// distLines are the latencies the percentile plot draws, and how.
var distLines = []struct {
	dist, label string
	dashed      bool
}{{"ttft", "TTFT", false}, {"e2e", "E2E", true}}

// distPlot plots the percentile distributions of time to first token
// (solid) and end-to-end stream time (dashed) at the heaviest load, in the
// style of HdrHistogram's percentile plots: x is 1/(1-q) on a log axis
// labelled by percentile, so each step right is a ten times rarer tail;
// y is the median over trials of each quantile.
func distPlot(trials []*result.Trial, groups []*Group, title string) (*plot.Plot, error) {
	g := heaviest(groups)
	p := newPlot(title+" ("+g.Key.LoadName()+")", "percentile (log scale of 1/(1-q))", "latency (ms)")
	var xs, ys []float64
	for _, d := range distLines {
		for _, name := range variantNames([]*Group{g}) {
			byQ := map[float64][]float64{}
			for _, t := range trialsOf(trials, g, name) {
				for _, q := range t.Dist[d.dist] {
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
				xs, ys = append(xs, 1/(1-q)), append(ys, y)
			}
			if err := addSeries(p, name+" "+d.label, VariantStyle(name), pts, d.dashed); err != nil {
				return nil, err
			}
		}
	}
	if len(ys) == 0 {
		return nil, nil
	}
	// Pad the x range so the end labels ("99.9%") are not clipped. The
	// left edge, q = 0, is the fastest request; it has a tick but no
	// label, which would collide with 50%.
	p.X.Min, p.X.Max = slices.Min(xs)/1.3, slices.Max(xs)*1.6
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for _, t := range []plot.Tick{
		{Value: 1}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"},
		{Value: 100, Label: "99%"}, {Value: 1e3, Label: "99.9%"}, {Value: 1e4, Label: "99.99%"},
		{Value: 1e5, Label: "99.999%"}, {Value: 1e6, Label: "99.9999%"},
	} {
		if t.Value <= p.X.Max {
			ticks = append(ticks, t)
		}
	}
	p.X.Tick.Marker = ticks
	if spansDecade(ys) {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	return p, nil
}

// seriesPlot plots heap in use (or live goroutines) over time in the first
// successful trial of each variant at the heaviest load. The samples taken
// during warm-up have negative times; that stretch is shaded grey, and a
// dashed line marks the end of the measured window, after which the
// harness waits for the pipeline to drain (what is still there is held or
// leaked).
func seriesPlot(trials []*result.Trial, groups []*Group, kind seriesKind, title string) (*plot.Plot, error) {
	g := heaviest(groups)
	ylabel := map[seriesKind]string{seriesHeap: "heap in use (MiB)", seriesGoroutines: "live goroutines", seriesGC: "GC share of CPU (%)"}[kind]
	p := newPlot(title+" ("+g.Key.LoadName()+")",
		"seconds since the measured window began (grey: warm-up; dashed: window end)", ylabel)
	var lines, oomMarks []plot.Plotter
	var xs, ys []float64
	window := 0.0
	for _, name := range variantNames([]*Group{g}) {
		ts := trialsOf(trials, g, name)
		if len(ts) == 0 || len(ts[0].HeapSeries) == 0 {
			continue
		}
		window = math.Max(window, ts[0].DurationS)
		var pts plotter.XYs
		for _, s := range ts[0].HeapSeries {
			var y float64
			switch kind {
			case seriesHeap:
				y = float64(s.HeapBytes) / (1 << 20)
			case seriesGoroutines:
				y = float64(s.Goroutines)
			case seriesGC:
				y = 100 * s.GCCPUShare
			}
			pts = append(pts, plotter.XY{X: s.T, Y: y})
			xs, ys = append(xs, s.T), append(ys, y)
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		st := VariantStyle(name)
		l.Color, l.Width = st.Color, vg.Points(2)
		lines = append(lines, l)
		label := fmt.Sprintf("%s (trial %d)", name, ts[0].Trial)
		if t := ts[0]; t.OutOfMemory {
			// Running out is the design's outcome: the legend says when,
			// and a cross marks it on the line.
			label += fmt.Sprintf(", out of memory at %.1f s", t.OOMAtS)
			at := pts[0]
			for _, q := range pts {
				if q.X <= t.OOMAtS {
					at = q
				}
			}
			mark, err := plotter.NewScatter(plotter.XYs{at})
			if err != nil {
				return nil, err
			}
			mark.GlyphStyle.Shape, mark.GlyphStyle.Color, mark.GlyphStyle.Radius = draw.CrossGlyph{}, st.Color, vg.Points(6)
			oomMarks = append(oomMarks, mark)
		}
		p.Legend.Add(label, l)
	}
	if len(lines) == 0 {
		return nil, nil
	}
	ylo, yhi := 0.0, slices.Max(ys)*1.05
	if kind == seriesHeap {
		ylo = slices.Min(ys) * 0.95
	}
	if yhi == 0 {
		yhi = 1 // a series of zeros (no collection at all) still draws
	}
	if x0 := slices.Min(xs); x0 < 0 {
		warm, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: ylo}, {X: 0, Y: ylo}, {X: 0, Y: yhi}, {X: x0, Y: yhi}})
		if err != nil {
			return nil, err
		}
		warm.Color, warm.LineStyle.Width = color.Gray{Y: 0xe8}, 0
		p.Add(warm)
	}
	if window > 0 {
		end, err := plotter.NewLine(plotter.XYs{{X: window, Y: ylo}, {X: window, Y: yhi}})
		if err != nil {
			return nil, err
		}
		end.Color, end.Dashes = color.Gray{Y: 0x60}, []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(end)
	}
	p.Add(lines...)
	p.Add(oomMarks...)
	p.Y.Min, p.Y.Max = ylo, yhi
	return p, nil
}

// seriesKind is which of a trial's time series seriesPlot draws.
type seriesKind int

const (
	seriesHeap seriesKind = iota
	seriesGoroutines
	seriesGC
)

// billingPlot draws, for a scenario in which clients disconnected, the
// median tokens delivered (grey) and billed (the variant's colour) per
// trial, for each closed-model load level and each variant that bills,
// with the billed bar labelled by its difference from delivery. A variant
// that keeps no records (the pass-through calibration) bills nothing by
// design and is left out, named in the axis label, rather than drawn as
// billing nothing for what it delivered.
func billingPlot(trials []*result.Trial, groups []*Group, title string) (*plot.Plot, error) {
	type bar struct {
		label             string
		variant           string
		delivered, billed float64
		deltaPct          float64
	}
	var bars []bar
	var nonBilling []string
	for _, g := range groups {
		if _, ok := xOf(g.Key, "closed"); !ok && g != heaviest(groups) {
			continue
		}
		disconnects := false
		for _, t := range trials {
			if t.Key() == g.Key && t.StreamsDisconnected > 0 {
				disconnects = true
			}
		}
		if !disconnects {
			continue
		}
		for _, name := range variantNames([]*Group{g}) {
			var billed, delivered []float64
			for _, t := range trialsOf(trials, g, name) {
				if !bills(t) {
					if !slices.Contains(nonBilling, name) {
						nonBilling = append(nonBilling, name)
					}
					continue
				}
				billed = append(billed, float64(t.Accounting.TokensBilled))
				delivered = append(delivered, float64(t.Accounting.TokensDelivered))
			}
			if len(billed) == 0 {
				continue
			}
			// The label is the same statistic the findings quote: the
			// median over trials of each trial's difference.
			delta := g.Variant(name).Estimate(MBillingDeltaPct).Center
			bars = append(bars, bar{name + "\n" + g.Key.DescribeLoad(), name, median(delivered), median(billed), delta})
		}
	}
	if len(bars) == 0 {
		return nil, nil
	}
	xlabel := "variant and load"
	if len(nonBilling) > 0 {
		xlabel += " (" + strings.Join(nonBilling, ", ") + " keeps no records and bills nothing: not shown)"
	}
	p := newPlot(title, xlabel, "tokens per trial (median)")
	w := vg.Points(22)
	delivered := make(plotter.Values, len(bars))
	for i, b := range bars {
		delivered[i] = b.delivered
	}
	db, err := plotter.NewBarChart(delivered, w)
	if err != nil {
		return nil, err
	}
	db.Color, db.LineStyle.Width, db.Offset = color.Gray{Y: 0xa0}, 0, -w/2
	p.Add(db)
	p.Legend.Add("delivered", db)
	var names []string
	for _, b := range bars {
		names = append(names, b.label)
	}
	var deltas plotter.XYLabels
	for _, name := range variantNames(groups) {
		vals := make(plotter.Values, len(bars))
		any := false
		for i, b := range bars {
			if b.variant == name {
				vals[i], any = b.billed, true
				deltas.XYs = append(deltas.XYs, plotter.XY{X: float64(i), Y: b.billed})
				deltas.Labels = append(deltas.Labels, fmtDelta(b.deltaPct))
			}
		}
		if !any {
			continue
		}
		bb, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bb.Color, bb.LineStyle.Width, bb.Offset = VariantStyle(name).Color, 0, w/2
		p.Add(bb)
		p.Legend.Add(name+" billed", bb)
	}
	labels, err := plotter.NewLabels(deltas)
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font = font.From(sans, 10)
		labels.TextStyle[i].XAlign = draw.XCenter
	}
	labels.Offset = vg.Point{X: w / 2, Y: vg.Points(3)}
	p.Add(labels)
	p.NominalX(names...)
	p.X.Tick.Label.Font = font.From(sans, 10)
	p.Y.Min = 0
	p.Y.Max *= 1.12 // room for the labels above the bars
	return p, nil
}

// fmtDelta formats a difference of billed from delivered tokens, in
// percent, as "+4.2%", "-8.6%" or "=" (within 0.05%).
func fmtDelta(pct float64) string {
	switch {
	case math.IsNaN(pct):
		return "?"
	case math.Abs(pct) < 0.05:
		return "="
	}
	return fmt.Sprintf("%+.1f%%", pct)
}

// median returns the median of vs, the mean of the middle two of an even
// count as benchmath computes it; vs is sorted in place.
func median(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[n/2]
}

package reports

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of the waterfall's bars: a step that moved the metric the better
// way, the worse way, the residual, and the total.
var (
	gainColor     = palette[2] // green
	lossColor     = palette[0] // vermillion
	residualColor = color.RGBA{0xa0, 0xa0, 0xa0, 0xff}
	totalColor    = palette[1] // blue
)

// waterfallCaption says how to read a waterfall plot.
const waterfallCaption = "One ablation ladder from mutex (1x) to lockfree: each bar is one step's change of the metric's median, starting where the step before ended, on a log axis, so bar heights add up to the total bar; whiskers are the step's paired bootstrap 95% CI, placed at the bar's end; the grey bar is the crossing, the residual the knobs do not explain."

// waterfallPlot draws a's cumulative ratio over the ladder's first step as
// floating bars, one per step, from 1x at the first step to the total at
// the last, then the total as a bar of its own.
func waterfallPlot(a *Attribution, title string) (*plot.Plot, error) {
	m := metricByName(a.Metric)
	p := newPlot(title, "ladder step (what changed from the step before)",
		metricLabel(a.Metric)+" over "+a.Total.From+" (log scale)")
	const half = 0.35
	names := []string{a.Total.From}
	var ys []float64
	bar := func(x, y0, y1 float64, c color.Color) (*plotter.Polygon, error) {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x - half, Y: y0}, {X: x + half, Y: y0}, {X: x + half, Y: y1}, {X: x - half, Y: y1}})
		if err != nil {
			return nil, err
		}
		poly.Color = c
		poly.LineStyle.Width = vg.Points(0.5)
		poly.LineStyle.Color = color.Gray{Y: 0x40}
		return poly, nil
	}
	var whiskers xyErr
	var labels plotter.XYLabels
	legend := map[string]bool{}
	prev := 1.0
	ys = append(ys, 1)
	// The first step is a level mark at 1x, where every bar starts.
	start, err := plotter.NewLine(plotter.XYs{{X: -half, Y: 1}, {X: half, Y: 1}})
	if err != nil {
		return nil, err
	}
	start.Color, start.Width = VariantStyle(a.Total.From).Color, vg.Points(3)
	p.Add(start)
	// addWhisker draws an interval at x and returns its top, where the
	// bar's label goes.
	addWhisker := func(x, y, lo, hi float64) float64 {
		if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || lo <= 0 {
			return y
		}
		whiskers.XYs = append(whiskers.XYs, plotter.XY{X: x, Y: y})
		whiskers.lo = append(whiskers.lo, y-lo)
		whiskers.hi = append(whiskers.hi, hi-y)
		ys = append(ys, lo, hi)
		return hi
	}
	for i, s := range a.Steps {
		x := float64(i + 1)
		c, kind := gainColor, "better"
		if (s.Ratio > 1) != m.HigherIsBetter {
			c, kind = lossColor, "worse"
		}
		if s.Crossing {
			c, kind = residualColor, "crossing (residual)"
		}
		poly, err := bar(x, prev, s.Cumulative, c)
		if err != nil {
			return nil, err
		}
		p.Add(poly)
		if !legend[kind] {
			legend[kind] = true
			p.Legend.Add(kind, poly)
		}
		// A dashed connector from this bar's end to the next bar's start.
		conn, err := plotter.NewLine(plotter.XYs{{X: x + half, Y: s.Cumulative}, {X: x + 1 - half, Y: s.Cumulative}})
		if err != nil {
			return nil, err
		}
		conn.Color, conn.Dashes = color.Gray{Y: 0x60}, []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(conn)
		top := addWhisker(x, s.Cumulative, prev*s.Lo, prev*s.Hi)
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: math.Max(top, math.Max(prev, s.Cumulative))})
		labels.Labels = append(labels.Labels, fmt.Sprintf("×%.2f", s.Ratio))
		name := s.Change
		if s.Crossing {
			name = "crossing"
		}
		names = append(names, name)
		ys = append(ys, s.Cumulative)
		prev = s.Cumulative
	}
	x := float64(len(a.Steps) + 1)
	poly, err := bar(x, 1, a.Total.Ratio, totalColor)
	if err != nil {
		return nil, err
	}
	p.Add(poly)
	p.Legend.Add("total", poly)
	top := addWhisker(x, a.Total.Ratio, a.Total.Lo, a.Total.Hi)
	labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: math.Max(top, math.Max(1, a.Total.Ratio))})
	labels.Labels = append(labels.Labels, fmtX(a.Total.Ratio))
	names = append(names, "total")
	ys = append(ys, a.Total.Ratio)

	if len(whiskers.XYs) > 0 {
		eb, err := plotter.NewYErrorBars(whiskers)
		if err != nil {
			return nil, err
		}
		eb.Color, eb.Width = color.Black, vg.Points(1.2)
		p.Add(eb)
	}
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.Color, one.Dashes = color.Gray{Y: 0x60}, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	lab, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Font = font.From(sans, 10)
		lab.TextStyle[i].XAlign = draw.XCenter
	}
	lab.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(unpadded{lab})

	p.NominalX(names...)
	p.X.Tick.Label.Font = font.From(sans, 10)
	p.X.Min, p.X.Max = -0.6, x+0.6
	lo, hi := ys[0], ys[0]
	for _, y := range ys {
		lo, hi = math.Min(lo, y), math.Max(hi, y)
	}
	p.Y.Min, p.Y.Max = lo/1.04, hi*1.08 // room for the labels above the bars
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ratioTicks{}
	return p, nil
}

// ratioTicks labels a ratio axis at round values, "1.1x", four to ten of
// them whatever the range. Note: logTicks marks only 1, 2 and 5 times a
// power of ten, which leaves a waterfall spanning 0.9x to 1.6x with one
// label.
type ratioTicks struct{}

// Ticks implements plot.Ticker.
func (ratioTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || lo <= 0 {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	var step float64
	for _, s := range []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100} {
		step = s
		if (hi-lo)/s <= 10 {
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var ts []plot.Tick
	for k := math.Ceil(lo / step); k*step <= hi*(1+1e-9); k++ {
		v := k * step
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64) + "x"})
	}
	if len(ts) < 2 {
		return logTicks{}.Ticks(lo, hi)
	}
	return ts
}

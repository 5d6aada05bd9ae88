package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

// TestVariantStyleByName: a variant is drawn in the same colour and glyph
// whatever the order its trials come in and whatever other variants share
// the report. Two reports of the same scenario list their variants in
// different orders and with different companions, so that styles handed
// out by position (in order of appearance, or sorted) would differ for
// some variant; the styles are read back from the legends of the SVGs the
// reports draw.
func TestVariantStyleByName(t *testing.T) {
	t.Parallel()
	run := func(variants ...string) map[string]map[string]string {
		var specs []spec
		for i, v := range variants {
			specs = append(specs,
				spec{scenario: "chat", variant: v, conc: 1, n: 3, chunks: 9000 + 100*float64(i)},
				spec{scenario: "chat", variant: v, conc: 64, n: 3, chunks: 10000 + 3000*float64(i)})
		}
		trials := makeTrials(specs...)
		groups := Analyze(trials, DefaultOptions)
		// Note: the figures with a line per variant are drawn as Figures
		// draws them, in SVG only: the PNGs would make this test ten
		// times slower under the race detector.
		styles := map[string]map[string]string{}
		for name, draw := range map[string]func() (*plot.Plot, error){
			"throughput": func() (*plot.Plot, error) {
				return metricPlot(groups, "closed", []string{MChunksPerS}, "throughput", "chunks/s")
			},
			"ttft": func() (*plot.Plot, error) {
				return metricPlot(groups, "closed", []string{MTTFTP50, MTTFTP99}, "TTFT", "TTFT (ms)")
			},
			"ratio":        func() (*plot.Plot, error) { return ratioPlot(groups, "ratio") },
			"latency-dist": func() (*plot.Plot, error) { return distPlot(trials, groups, "latency") },
			"heap":         func() (*plot.Plot, error) { return seriesPlot(trials, groups, seriesHeap, "heap") },
		} {
			p, err := draw()
			if err != nil || p == nil {
				t.Fatalf("%s: %v, %v", name, p, err)
			}
			leg := p.Legend
			p.Legend = plot.NewLegend()
			svg, err := render(p, leg, "svg")
			if err != nil {
				t.Fatal(err)
			}
			styles[name] = legendStyles(t, svg)
		}
		return styles
	}
	a := run("mutex", "lockfree", "alpha-x", "zeta-y")
	b := run("zeta-y", "lockfree", "beta-z", "alpha-x")
	compared := map[string]int{}
	for fig, la := range a {
		for label, sa := range la {
			sb, ok := b[fig][label]
			if !ok {
				continue
			}
			compared[strings.FieldsFunc(label, func(r rune) bool { return r == ' ' || r == '/' })[0]]++
			if sa != sb {
				t.Errorf("%s: %q drawn as %s in one report, %s in the other", fig, label, sa, sb)
			}
		}
	}
	// The comparison must have had something to compare: every variant
	// the two reports share, in several figures.
	for _, v := range []string{"lockfree", "alpha-x", "zeta-y"} {
		if compared[v] < 5 {
			t.Errorf("%s compared in %d legend entries; want several (figures %d and %d)", v, compared[v], len(a), len(b))
		}
	}
	if m, l := a["throughput"]["mutex"], a["throughput"]["lockfree"]; m == "" || colourOf(m) == colourOf(l) {
		t.Errorf("mutex drawn as %q, lockfree as %q; want two colours", m, l)
	}
}

// colourOf returns the colour of a legendStyles style.
func colourOf(style string) string { c, _, _ := strings.Cut(style, " "); return c }

// legendStyles reads the legend of an SVG figure: for each entry's label,
// its line's colour and its marker's shape, as "#RRGGBB shape". gonum/plot
// draws an entry as its thumbnails, the line then the marker if any,
// followed by the label's text; the shape is the marker's path
// with coordinates made relative to its first point, so that it does not
// depend on where the legend sits.
func legendStyles(t *testing.T, svg []byte) map[string]string {
	t.Helper()
	type path struct{ d, style string }
	var paths []path
	styles := map[string]string{}
	inText := false
	svgTokens(t, svg, func(tok xml.Token) {
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
			if tok.Name.Local == "path" {
				var p path
				for _, a := range tok.Attr {
					switch a.Name.Local {
					case "d":
						p.d = a.Value
					case "style":
						p.style = a.Value
					}
				}
				paths = append(paths, p)
			}
		case xml.CharData:
			if !inText {
				return
			}
			label := strings.TrimSpace(string(tok))
			// The thumbnails are the paths since the last line (of width
			// 1.5, or 2 in the plots over time) before this text.
			line := -1
			for i := len(paths) - 1; i >= 0; i-- {
				if w := styleValue(paths[i].style, "stroke-width"); w == "1.5" || w == "2" {
					line = i
					break
				}
			}
			if line < 0 || line < len(paths)-3 {
				paths = paths[:0]
				return // not a legend entry: an axis label, a tick
			}
			stroke := styleValue(paths[line].style, "stroke")
			var shape []string
			for _, p := range paths[line+1:] {
				shape = append(shape, relativePath(p.d)+"{"+p.style+"}")
			}
			styles[label] = stroke + " " + strings.Join(shape, "+")
			paths = paths[:0]
		}
	})
	return styles
}

// styleValue returns the value of property name in an SVG style
// attribute.
func styleValue(style, name string) string {
	for _, kv := range strings.Split(style, ";") {
		if k, v, ok := strings.Cut(kv, ":"); ok && k == name {
			return v
		}
	}
	return ""
}

// relativePath rewrites an SVG path's coordinates relative to its first
// point, rounded to a tenth. Note: only M, L and the end point of A carry
// coordinates in gonum's paths; an arc's radii, rotation and flags are
// kept as they are.
func relativePath(d string) string {
	var out strings.Builder
	var x0, y0 float64
	first := true
	num := regexp.MustCompile(`[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?`)
	for _, cmd := range regexp.MustCompile(`[A-Za-z][^A-Za-z]*`).FindAllString(d, -1) {
		out.WriteByte(cmd[0])
		vs := num.FindAllString(cmd[1:], -1)
		for i, v := range vs {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				out.WriteString(v)
				continue
			}
			// The coordinates are the last two numbers of each command.
			if i >= len(vs)-2 {
				if first && i == len(vs)-2 {
					x0 = f
				} else if first {
					y0, first = f, false
				}
				if i == len(vs)-2 {
					f -= x0
				} else {
					f -= y0
				}
			}
			fmt.Fprintf(&out, "%.1f,", f)
		}
	}
	return out.String()
}

func TestWritePlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	paths, err := WritePlots(dir, standardRun(), DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	for _, want := range []string{
		"chat-throughput.png", "chat-ratio.svg", "chat-ttft.png", "chat-itl.png", "chat-cpu.png",
		"chat-allocs.png", "chat-mutexwait.png", "chat-latency-dist.png", "chat-heap.png",
		"chat-goroutines.png", "disconnect-billing.png", "disconnect-billing.svg",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s among %v", want, names)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "waterfall") {
			t.Errorf("a waterfall without ladders: %s", n)
		}
	}
	for _, skipped := range []string{"chat-throughput-open.png", "chat-billing.png"} {
		if slices.Contains(names, skipped) {
			t.Errorf("%s written without data", skipped)
		}
	}
	for _, tt := range []struct {
		name     string
		variants []string
	}{
		{"chat-throughput.png", []string{"mutex", "lockfree"}},
		{"chat-ratio.png", []string{"lockfree"}}, // lockfree/mutex only
		{"chat-latency-dist.png", []string{"mutex", "lockfree"}},
		{"disconnect-billing.png", []string{"mutex", "lockfree"}},
		{"chat-heap.png", []string{"mutex", "lockfree"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkPNG(t, filepath.Join(dir, tt.name), tt.variants...)
		})
	}
	t.Run("svg", func(t *testing.T) {
		checkSVG(t, filepath.Join(dir, "chat-throughput.svg"), "throughput vs concurrency")
	})
}

func TestWritePlotsOpenLoad(t *testing.T) {
	dir := t.TempDir()
	trials := makeTrials(
		spec{scenario: "burst", variant: "mutex", rate: 100, n: 2, chunks: 900},
		spec{scenario: "burst", variant: "lockfree", rate: 100, n: 2, chunks: 1000},
		spec{scenario: "burst", variant: "mutex", rate: 2000, n: 2, chunks: 10000},
		spec{scenario: "burst", variant: "lockfree", rate: 2000, n: 2, chunks: 20000},
	)
	paths, err := WritePlots(dir, trials, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "burst-throughput-open.png")
	if !slices.Contains(paths, p) {
		t.Fatalf("no open-load throughput plot among %v", paths)
	}
	checkPNG(t, p, "mutex", "lockfree")
}

// checkPNG decodes a PNG and checks its size, that it is not blank and
// that each variant's colour appears in it.
func checkPNG(t *testing.T, path string, variants ...string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("%s is %dx%d, want at least 400x200", path, b.Dx(), b.Dy())
	}
	seen := colours(img)
	if len(seen) < 4 {
		t.Errorf("%s has %d distinct colours; looks blank", path, len(seen))
	}
	for _, v := range variants {
		c := VariantStyle(v).Color
		if !seen[color.RGBA{c.R, c.G, c.B, 0xff}] {
			t.Errorf("%s lacks %s's colour %v", path, v, c)
		}
	}
}

func colours(img image.Image) map[color.RGBA]bool {
	seen := map[color.RGBA]bool{}
	if rgba, ok := img.(*image.RGBA); ok { // fast path: vgimg renders RGBA
		for i := 0; i+3 < len(rgba.Pix); i += 4 {
			seen[color.RGBA{rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2], rgba.Pix[i+3]}] = true
		}
		return seen
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	return seen
}

// checkSVG checks an SVG parses as XML and holds text including want.
func checkSVG(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if text := svgText(t, data); !strings.Contains(text, want) {
		t.Errorf("%s text %q lacks %q", path, text, want)
	}
}

// svgText returns the text of an SVG's <text> elements, space-separated;
// it fails the test if the SVG is not XML.
func svgText(t *testing.T, data []byte) string {
	t.Helper()
	var text strings.Builder
	inText := false
	svgTokens(t, data, func(tok xml.Token) {
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
		case xml.CharData:
			if inText {
				text.Write(tok)
				text.WriteByte(' ')
			}
		}
	})
	return text.String()
}

// svgTokens calls f with each token of an SVG in document order; it fails
// the test if the SVG is not XML.
func svgTokens(t *testing.T, data []byte, f func(xml.Token)) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
		f(tok)
	}
}

// TestFiguresWithZeros: a metric that is zero in some trials (no mutex wait
// at all, say) spans decades with its interval reaching zero; the plot must
// stay drawable (gonum/plot panics on a zero on a log axis), and a figure
// that still cannot be drawn fails with its name instead of a panic.
func TestFiguresWithZeros(t *testing.T) {
	trials := standardRun()
	for i, tr := range trials {
		switch {
		case tr.Variant == "mutex":
			tr.MutexWaitNSPerChunk = 500000 // decades above the other
		case i%2 == 0:
			tr.MutexWaitNSPerChunk = 0
		default:
			tr.MutexWaitNSPerChunk = 5000
		}
	}
	figs, err := Figures(trials, DefaultOptions)
	if err != nil {
		t.Fatalf("Figures: %v", err)
	}
	found := false
	for _, f := range figs {
		found = found || strings.HasSuffix(f.Name, "mutexwait")
	}
	if !found {
		t.Errorf("no mutex-wait figure among %d", len(figs))
	}
}

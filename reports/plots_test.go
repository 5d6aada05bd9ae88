package reports

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestVariantStyleStable(t *testing.T) {
	if VariantStyle("mutex").Color == VariantStyle("lockfree").Color {
		t.Error("mutex and lockfree share a colour")
	}
	if VariantStyle("lockfree-global-lock") != VariantStyle("lockfree-global-lock") {
		t.Error("style of a name changed between calls")
	}
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
	d := xml.NewDecoder(bytes.NewReader(data))
	var text strings.Builder
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
		case xml.CharData:
			if inText {
				text.Write(tok)
				text.WriteByte(' ')
			}
		}
	}
	return text.String()
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

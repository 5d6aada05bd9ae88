package reports

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
)

// testLadders are two ladders shaped like the built-in ones: "fix" fixes
// the legacy design's flaws one at a time and crosses to lockfree last;
// "break" crosses first, to a lockfree with every flaw put back, and then
// fixes them in the same order.
var testLadders = []variant.Ladder{
	{Name: "fix", Description: "mutex, fixing one flaw per step", Steps: []variant.LadderStep{
		{Variant: "mutex"},
		{Variant: "mutex-zerocopy", Change: "acc=zerocopy"},
		{Variant: "mutex-cancel", Change: "cancel=on"},
		{Variant: "mutex-awaited", Change: "finalizer=awaited"},
		{Variant: "lockfree", Change: "crossing", Crossing: true},
	}},
	{Name: "break", Description: "lockfree, putting one flaw back per step, walked backwards", Steps: []variant.LadderStep{
		{Variant: "mutex"},
		{Variant: "lockfree-flawed", Change: "crossing", Crossing: true},
		{Variant: "lockfree-copy", Change: "acc=zerocopy"},
		{Variant: "lockfree-detached", Change: "cancel=on"},
		{Variant: "lockfree", Change: "finalizer=awaited"},
	}},
}

// additive are true medians over mutex's when the flaws do not interact:
// zero-copy 1.10x, cancellation 1.00x, the awaited finalizer 1.30x, and
// the code base itself (the crossing) 1.05x, in whichever order.
var additive = map[string]float64{
	"mutex": 1, "mutex-zerocopy": 1.10, "mutex-cancel": 1.10, "mutex-awaited": 1.43, "lockfree": 1.5015,
	"lockfree-flawed": 1.05, "lockfree-copy": 1.155, "lockfree-detached": 1.155,
}

// interacting are true medians where zero-copy is worth 1.10x on the
// legacy code base but nothing on the redesign's (whose accumulator does
// not copy anyway), so the break ladder's finalizer step carries it.
var interacting = map[string]float64{
	"mutex": 1, "mutex-zerocopy": 1.10, "mutex-cancel": 1.10, "mutex-awaited": 1.43, "lockfree": 1.5015,
	"lockfree-flawed": 1.05, "lockfree-copy": 1.05, "lockfree-detached": 1.05,
}

// ladderRun builds n repetitions of every variant of truth in each
// group, chunks/s spread around truth × base with the noise of
// noisyRun (2% per trial, 2% per repetition), and CPU per chunk its
// inverse.
func ladderRun(seed uint64, n int, truth map[string]float64, groups ...int) []*result.Trial {
	rng := rand.New(rand.NewPCG(seed, 0x1add))
	names := slices.Sorted(maps.Keys(truth))
	var out []*result.Trial
	for _, conc := range groups {
		for rep := range n {
			drift := math.Exp(0.02 * rng.NormFloat64())
			for _, v := range names {
				x := 50e3 * truth[v] * drift * math.Exp(0.02*rng.NormFloat64())
				t := makeTrials(spec{scenario: "firehose", variant: v, conc: conc, n: 1, chunks: x})[0]
				t.Trial, t.Order = rep, len(out)
				t.CPUNSPerChunk = 1e9 / x
				out = append(out, t)
			}
		}
	}
	return out
}

func ladderOpts() Options {
	o := DefaultOptions
	o.Ladders = testLadders
	return o
}

func TestAttribute(t *testing.T) {
	tests := []struct {
		name      string
		truth     map[string]float64
		drop      string // a variant left out of the run
		ladders   []string
		omitted   string
		interact  []string // changes the ladders must disagree on
		largest   map[string]string
		sentences []string
	}{
		{
			name: "additive", truth: additive, ladders: []string{"fix", "break"},
			largest: map[string]string{"fix": "finalizer=awaited", "break": "finalizer=awaited"},
			sentences: []string{
				"On firehose at 64 streams, the fix ladder puts the largest part of lockfree's 1.51x the chunks/s of mutex on finalizer=awaited (mutex-awaited): ×1.31 [",
				"the residual at the crossing is ×1.0",
				"On firehose at 64 streams, the fix and break ladders agree on every change they share",
			},
		},
		{
			name: "interacting", truth: interacting, ladders: []string{"fix", "break"},
			interact: []string{"acc=zerocopy", "finalizer=awaited"},
			sentences: []string{
				"the fix and break ladders disagree, so the flaws interact",
				"acc=zerocopy is ×1.09 [1.07, 1.11] in fix but ×1.00 [0.97, 1.02] in break",
			},
		},
		{
			name: "a missing variant", truth: additive, drop: "mutex-cancel", ladders: []string{"break"}, omitted: "fix",
			sentences: []string{"On firehose at 64 streams, the fix ladder is left out of the attribution: mutex-cancel did not run there."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trials := ladderRun(3, 12, tt.truth, 64)
			if tt.drop != "" {
				trials = slices.DeleteFunc(trials, func(tr *result.Trial) bool { return tr.Variant == tt.drop })
			}
			at := Attribute(Analyze(trials, DefaultOptions), testLadders, MChunksPerS, DefaultOptions)
			var got []string
			for _, a := range at.Ladders {
				got = append(got, a.Ladder.Name)
				// The steps' log-ratios add up to the total's.
				sum := 0.0
				for _, s := range a.Steps {
					sum += math.Log(s.Ratio)
					if !(s.Lo <= s.Ratio && s.Ratio <= s.Hi) {
						t.Errorf("%s %s: ratio %v outside its interval [%v, %v]", a.Ladder.Name, s.Variant, s.Ratio, s.Lo, s.Hi)
					}
					// Each true step effect lies within the step's interval.
					want := tt.truth[s.Variant] / tt.truth[s.From]
					if want < s.Lo || want > s.Hi {
						t.Errorf("%s %s: true ratio %.3f outside [%.3f, %.3f]", a.Ladder.Name, s.Change, want, s.Lo, s.Hi)
					}
				}
				if d := sum - math.Log(a.Total.Ratio); math.Abs(d) > 1e-9 {
					t.Errorf("%s: step log-ratios sum to %v, total %v", a.Ladder.Name, sum, math.Log(a.Total.Ratio))
				}
				shares := 0.0
				for _, s := range a.Steps {
					shares += s.Share
				}
				if math.Abs(shares-1) > 1e-9 {
					t.Errorf("%s: shares sum to %v", a.Ladder.Name, shares)
				}
				if c := a.Steps[len(a.Steps)-1].Cumulative; math.Abs(c-a.Total.Ratio) > 1e-9 {
					t.Errorf("%s: the last step ends at %v, the total is %v", a.Ladder.Name, c, a.Total.Ratio)
				}
				if want, ok := tt.largest[a.Ladder.Name]; ok {
					if best, clear := a.Largest(); best.Change != want || !clear {
						t.Errorf("%s: largest contributor %q (clear %v), want %q", a.Ladder.Name, best.Change, clear, want)
					}
				}
			}
			if !slices.Equal(got, tt.ladders) {
				t.Errorf("ladders %v, want %v", got, tt.ladders)
			}
			if tt.omitted != "" && (len(at.Omitted) != 1 || at.Omitted[0].Ladder != tt.omitted) {
				t.Errorf("omitted %+v, want %s", at.Omitted, tt.omitted)
			}
			var differ []string
			for _, x := range at.Interactions {
				if x.Differ {
					differ = append(differ, x.Change)
				}
			}
			if !slices.Equal(differ, tt.interact) {
				t.Errorf("ladders differ on %v, want %v", differ, tt.interact)
			}
			all := strings.Join(Findings(trials, ladderOpts()), "\n")
			for _, s := range tt.sentences {
				if !strings.Contains(all, s) {
					t.Errorf("findings lack %q:\n%s", s, all)
				}
			}
			if len(tt.interact) == 0 && strings.Contains(all, "interact") {
				t.Errorf("an interaction finding where the ladders agree:\n%s", all)
			}
		})
	}
}

// TestAttributionCoverage checks the paired bootstrap's intervals over
// many seeded runs: the true step ratio lies within the 95% interval in
// most of them (the bootstrap of a median from ten trials runs a little
// narrow, so the bar is 85%), and no interaction is found where there is
// none in more than a few.
func TestAttributionCoverage(t *testing.T) {
	const runs = 40
	covered, total, false_ := 0, 0, 0
	for seed := range uint64(runs) {
		at := Attribute(Analyze(ladderRun(100+seed, 10, additive, 64), DefaultOptions), testLadders, MChunksPerS, DefaultOptions)
		for _, a := range at.Ladders {
			for _, s := range a.Steps {
				want := additive[s.Variant] / additive[s.From]
				total++
				if s.Lo <= want && want <= s.Hi {
					covered++
				}
			}
		}
		for _, x := range at.Interactions {
			if x.Differ {
				false_++
			}
		}
	}
	t.Logf("%d of %d step intervals cover the truth; %d false interactions in %d runs", covered, total, false_, runs)
	if covered < total*85/100 {
		t.Errorf("%d of %d intervals cover the true step ratio, want 85%% or more", covered, total)
	}
	if false_ > runs*5/100 {
		t.Errorf("%d false interactions in %d runs", false_, runs)
	}
}

func TestAttributionMetricAndEdges(t *testing.T) {
	groups := Analyze(ladderRun(5, 10, additive, 64), DefaultOptions)
	cpu := Attribute(groups, testLadders, MCPUNSPerChunk, DefaultOptions)
	if len(cpu.Ladders) != 2 {
		t.Fatalf("%d CPU attributions, want 2", len(cpu.Ladders))
	}
	if r := cpu.Ladders[0].Total.Ratio; math.Abs(r*1.5015-1) > 0.05 {
		t.Errorf("CPU per chunk total %v, want about 1/1.5", r)
	}
	// Without ladders, or with mutex and lockfree alone, nothing is
	// attributed and nothing is said to be missing.
	if at := Attribute(groups, nil, MChunksPerS, DefaultOptions); len(at.Ladders)+len(at.Omitted) != 0 {
		t.Errorf("attributions without ladders: %+v", at)
	}
	pair := Analyze(makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 8, chunks: 1000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 8, chunks: 2000},
	), DefaultOptions)
	if at := Attribute(pair, testLadders, MChunksPerS, DefaultOptions); len(at.Ladders)+len(at.Omitted) != 0 {
		t.Errorf("attributions from mutex and lockfree alone: %+v", at)
	}
	// Too few trials: contributions without intervals, and a warning.
	few := Attribute(Analyze(ladderRun(5, 3, additive, 64), DefaultOptions), testLadders, MChunksPerS, DefaultOptions)
	a := few.Ladders[0]
	if !math.IsInf(a.Steps[0].Lo, -1) || !strings.Contains(strings.Join(a.Warnings, ";"), "need >= 5 trials") {
		t.Errorf("3 trials: interval [%v, %v], warnings %q", a.Steps[0].Lo, a.Steps[0].Hi, a.Warnings)
	}
	all := strings.Join(Findings(ladderRun(5, 3, additive, 64), ladderOpts()), "\n")
	if strings.Contains(all, "largest part") || strings.Contains(all, "interact") {
		t.Errorf("an attribution finding from 3 trials:\n%s", all)
	}
	// Ladders that share their first steps compare only the steps they
	// take differently.
	shared := []variant.Ladder{testLadders[0], {Name: "late", Steps: []variant.LadderStep{
		{Variant: "mutex"},
		{Variant: "mutex-zerocopy", Change: "acc=zerocopy"},
		{Variant: "lockfree-detached", Change: "crossing", Crossing: true},
		{Variant: "lockfree", Change: "finalizer=awaited"},
	}}}
	sh := Attribute(groups, shared, MChunksPerS, DefaultOptions)
	var changes []string
	for _, x := range sh.Interactions {
		changes = append(changes, x.Change)
	}
	if !slices.Equal(changes, []string{"finalizer=awaited", "crossing"}) {
		t.Errorf("shared ladders compare %v, want the steps they take differently", changes)
	}
	// Seven trials cannot reach Holm's threshold for four interactions
	// with the signed-rank test, and the findings say so rather than
	// that the ladders agree.
	seven := strings.Join(Findings(ladderRun(5, 7, interacting, 64), ladderOpts()), "\n")
	if !strings.Contains(seven, "7 trials are too few to tell whether the fix and break ladders disagree: over the run's 4 comparisons, the signed-rank test needs 8 or more.") ||
		strings.Contains(seven, "agree on every change") {
		t.Errorf("7 trials:\n%s", seven)
	}
	// The same records give the same intervals.
	again := Attribute(Analyze(ladderRun(5, 10, additive, 64), DefaultOptions), testLadders, MCPUNSPerChunk, DefaultOptions)
	if again.Ladders[1].Steps[2] != cpu.Ladders[1].Steps[2] {
		t.Errorf("attribution not deterministic: %+v then %+v", cpu.Ladders[1].Steps[2], again.Ladders[1].Steps[2])
	}
}

func TestWriteTableAttribution(t *testing.T) {
	trials := ladderRun(3, 12, interacting, 64)
	var b bytes.Buffer
	if err := WriteTable(&b, trials, TableOptions{Stats: ladderOpts()}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"attribution of chunks/s from mutex to lockfree, by ladder step",
		"crossing (residual)", "mutex → lockfree", "differ", "agree",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	golden(t, "attribution.txt", b.Bytes()[strings.Index(s, "\nattribution"):])

	var md bytes.Buffer
	if err := WriteMarkdown(&md, testHeader, trials, ladderOpts()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**Attribution, fix ladder**") || !strings.Contains(md.String(), "| crossing (residual) | total |") {
		t.Errorf("markdown lacks the attribution table:\n%s", md.String())
	}
}

func TestWaterfallPlot(t *testing.T) {
	t.Parallel()
	trials := ladderRun(3, 12, additive, 64)
	at := Attribute(Analyze(trials, DefaultOptions), testLadders, MChunksPerS, DefaultOptions)
	dir := t.TempDir()
	for _, a := range at.Ladders {
		p, err := waterfallPlot(a, "firehose at 64 streams: chunks/s, "+a.Ladder.Name+" ladder")
		if err != nil {
			t.Fatal(err)
		}
		leg := p.Legend
		p.Legend = plot.NewLegend()
		for _, ext := range []string{"png", "svg"} {
			data, err := render(p, leg, ext)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, a.Ladder.Name+"."+ext), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join(dir, "fix.png")
	checkPNG(t, p)
	seen := colours(mustPNG(t, p))
	for name, c := range map[string]color.RGBA{"gain": gainColor, "residual": residualColor, "total": totalColor} {
		if !seen[c] {
			t.Errorf("waterfall lacks the %s colour %v", name, c)
		}
	}
	checkSVG(t, filepath.Join(dir, "fix.svg"), "finalizer=awaited")
	checkSVG(t, filepath.Join(dir, "fix.svg"), "1.3x") // a round tick on the ratio axis
	checkSVG(t, filepath.Join(dir, "break.svg"), "crossing")

	// Figures draws one waterfall per ladder and group. (A short ladder:
	// rendering every other plot of eight variants is slow under -race.)
	short := []variant.Ladder{{Name: "short", Steps: []variant.LadderStep{
		{Variant: "mutex"}, {Variant: "mutex-zerocopy", Change: "acc=zerocopy"}, {Variant: "lockfree", Change: "crossing", Crossing: true},
	}}}
	few := slices.DeleteFunc(trials, func(tr *result.Trial) bool {
		return !slices.Contains([]string{"mutex", "mutex-zerocopy", "lockfree"}, tr.Variant)
	})
	opts := DefaultOptions
	opts.Ladders = short
	figs, err := Figures(few, opts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "firehose-waterfall-short-closed-64") {
		t.Errorf("no waterfall among %v", names)
	}
}

// mustPNG decodes the PNG at path.
func mustPNG(t *testing.T, path string) image.Image {
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
	return img
}

func TestSignedRankTest(t *testing.T) {
	for _, tt := range []struct {
		name string
		cs   []float64
		p    float64
		n    int
	}{
		{"none", nil, 1, 0},
		{"zeros dropped", []float64{0, 0}, 1, 0},
		// All five positive: 1 of 32 sign patterns, twice for two sides.
		{"five positive", []float64{1, 2, 3, 4, 5}, 2.0 / 32, 5},
		{"five negative", []float64{-0.1, -0.2, -0.3, -0.4, -0.5}, 2.0 / 32, 5},
		// W+ = 1+2+3+4 = 10 of 15; P(W <= 5) = 10/32 (subsets of 1..5
		// summing to 0,1,2,3,3,4,4,5,5,5), so p = 20/32.
		{"mixed", []float64{1, 2, 3, 4, -5}, 20.0 / 32, 5},
		// W+ = 2+5 = 7, next to the mean 7.5: p = 1.
		{"balanced", []float64{-1, -2, -3, 4, 1.5}, 1, 5},
		{"ten positive", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 2.0 / 1024, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, n := signedRankTest(tt.cs)
			if n != tt.n || math.Abs(p-tt.p) > 1e-12 {
				t.Errorf("signedRankTest(%v) = %v, %d; want %v, %d", tt.cs, p, n, tt.p, tt.n)
			}
		})
	}
	// Ties take the normal approximation; it stays close to exact.
	exact, _ := signedRankTest([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -13, 14, 15})
	tied, _ := signedRankTest([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -13, 14, 14})
	if math.Abs(exact-tied) > 0.01 {
		t.Errorf("exact p %v, with a tie %v", exact, tied)
	}
}

// TestAttributeBuiltinLadders walks the built-in ladders, which share
// their first four steps and cross at different places.
func TestAttributeBuiltinLadders(t *testing.T) {
	truth := map[string]float64{}
	for i, v := range variant.LadderVariants() {
		truth[v] = 1 + 0.04*float64(i)
	}
	trials := ladderRun(9, 10, truth, 64)
	opts := DefaultOptions
	opts.Ladders = variant.Ladders()
	at := Attribute(Analyze(trials, opts), opts.Ladders, MChunksPerS, opts)
	if len(at.Ladders) != 2 || len(at.Omitted) != 0 {
		t.Fatalf("%d ladders, omitted %+v", len(at.Ladders), at.Omitted)
	}
	for _, a := range at.Ladders {
		sum := 0.0
		for _, s := range a.Steps {
			sum += math.Log(s.Ratio)
		}
		if math.Abs(sum-math.Log(a.Total.Ratio)) > 1e-9 {
			t.Errorf("%s: steps sum to %v, total %v", a.Ladder.Name, sum, math.Log(a.Total.Ratio))
		}
	}
	var changes []string
	for _, x := range at.Interactions {
		changes = append(changes, x.Change)
	}
	slices.Sort(changes)
	if want := []string{"acc=lockfree", "bill-unsent=off", "crossing"}; !slices.Equal(changes, want) {
		t.Errorf("compared %v, want %v (the steps the ladders take differently)", changes, want)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, trials, TableOptions{Stats: opts}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "lockfree-mutexacc") || !strings.Contains(b.String(), "break-copy") {
		t.Errorf("attribution table lacks the ladder steps:\n%s", b.String())
	}
}

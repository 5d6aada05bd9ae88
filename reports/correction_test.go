package reports

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/streambench/streambench/result"
)

func TestHolm(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ps     []float64
		want   []float64
		reject int // how many are below 0.05 after adjustment
	}{
		{"one test is itself", []float64{0.03}, []float64{0.03}, 1},
		// Sorted: 0.005·4=0.02, 0.01·3=0.03, 0.03·2=0.06, then 0.04·1
		// held up to 0.06 by monotonicity.
		{"step-down", []float64{0.01, 0.04, 0.03, 0.005}, []float64{0.03, 0.06, 0.06, 0.02}, 2},
		{"capped at one", []float64{0.5, 0.6}, []float64{1, 1}, 0},
		// The run: 12 comparisons, the smallest p 0.033.
		{"twelve near misses", []float64{0.038, 0.033, 0.2, 0.5, 0.7, 0.9, 0.3, 0.4, 0.6, 0.8, 0.1, 0.15},
			nil, 0},
		{"ties", []float64{0.01, 0.01}, []float64{0.02, 0.02}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := holm(tt.ps)
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
					t.Errorf("holm(%v) (-want +got):\n%s", tt.ps, diff)
				}
			}
			n := 0
			for i, p := range got {
				if p < tt.ps[i] {
					t.Errorf("adjusted p %v below raw %v", p, tt.ps[i])
				}
				if p < 0.05 {
					n++
				}
			}
			if n != tt.reject {
				t.Errorf("%d rejections, want %d (adjusted %v)", n, tt.reject, got)
			}
		})
	}
}

func TestRatioDirection(t *testing.T) {
	base := Ratio{Metric: MChunksPerS, Center: 0.99, Lo: 0.97, Hi: 0.995, Confidence: 0.95, P: 0.038, PAdj: 0.038, Family: 1, Alpha: 0.05, MinEffect: 0.02}
	for _, tt := range []struct {
		name    string
		edit    func(*Ratio)
		dir     int
		verdict string
	}{
		{"the issue's 0.99x: inside the band", func(*Ratio) {}, 0, "within the ±2% practical-significance band"},
		{"the same, no band", func(r *Ratio) { r.MinEffect = 0 }, -1, ""},
		{"corrected away", func(r *Ratio) { r.Center, r.PAdj, r.Family = 0.9, 0.45, 12 }, 0,
			"p=0.038 is below 0.05 uncorrected, but not after Holm's correction for the run's 12 chunks_per_s comparisons (adjusted p=0.450)"},
		{"faster", func(r *Ratio) { r.Center, r.Lo, r.Hi, r.P, r.PAdj = 1.1, 1.05, 1.15, 0.001, 0.004 }, 1, ""},
		// The sentence quoted "95% CI 0.97–1x" with p=0.038.
		{"interval reaches 1x", func(r *Ratio) { r.Center, r.Hi, r.MinEffect = 0.95, 1, 0 }, 0, "significant, but its 95% interval reaches 1x"},
		{"not significant at all", func(r *Ratio) { r.Center, r.P, r.PAdj = 1.1, 0.2, 0.2 }, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			if got := r.Direction(); got != tt.dir {
				t.Errorf("Direction = %d, want %d", got, tt.dir)
			}
			if got := r.Verdict(); tt.verdict == "" && got != "" || !strings.Contains(got, tt.verdict) {
				t.Errorf("Verdict = %q, want %q", got, tt.verdict)
			}
		})
	}
}

// aaGroups are the scenarios and loads of the A/A runs, like the default
// run's.
var aaGroups = []struct {
	scenario string
	conc     int
	chunks   float64
}{
	{"firehose", 16, 400e3}, {"firehose", 256, 380e3},
	{"chat", 16, 9e3}, {"chat", 256, 120e3},
	{"disconnect", 16, 7e3}, {"disconnect", 256, 90e3},
}

// noisyRun builds trials of variants in every aaGroups group with the
// noise of a shared two-core machine, from seed: per trial a lognormal
// 3% spread, per repetition a drift of about 2% common to every variant
// of that repetition (they run back to back), and one trial in ten slowed
// 5-20% by a neighbour. effect multiplies a variant's true chunks/s.
func noisyRun(seed uint64, trials int, variants []string, effect map[string]float64) []*result.Trial {
	rng := rand.New(rand.NewPCG(seed, 0xaa))
	var out []*result.Trial
	for _, g := range aaGroups {
		for rep := range trials {
			drift := math.Exp(0.02 * rng.NormFloat64())
			for _, v := range variants {
				x := g.chunks * drift * math.Exp(0.03*rng.NormFloat64())
				if rng.Float64() < 0.1 {
					x *= 1 - 0.05 - 0.15*rng.Float64()
				}
				if e, ok := effect[v]; ok {
					x *= e
				}
				t := makeTrials(spec{scenario: g.scenario, variant: v, conc: g.conc, n: 1, chunks: x})[0]
				t.Trial, t.Order = rep, len(out)
				out = append(out, t)
			}
		}
	}
	return out
}

// differenceClaimed returns the findings that call a variant faster or
// slower.
func differenceClaimed(findings []string) []string {
	var out []string
	for _, f := range findings {
		if strings.Contains(f, "faster") || strings.Contains(f, "slower") {
			out = append(out, f)
		}
	}
	return out
}

// TestAATest runs one variant against itself under two spellings (the
// name and a spec naming its default knob) over six scenarios and loads.
// No finding may call either faster or slower. Across many seeded runs,
// the share of runs with any such claim must stay within the family-wise
// bound Holm's method promises (alpha), while uncorrected p values, as
// the report printed them before, flag a difference in a large share of
// the same runs: so this test fails if the correction or the band is
// taken away.
func TestAATest(t *testing.T) {
	aa := []string{"lockfree", "lockfree:queue=chan"}
	t.Run("one run", func(t *testing.T) {
		f := Findings(noisyRun(1, 7, aa, nil), DefaultOptions)
		if claims := differenceClaimed(f); len(claims) > 0 {
			t.Errorf("an A/A run claims a difference:\n%s", strings.Join(claims, "\n"))
		}
		if !strings.Contains(strings.Join(f, "\n"), "showed no significant chunks/s difference") {
			t.Errorf("findings do not say there was no difference:\n%s", strings.Join(f, "\n"))
		}
	})
	const runs = 200
	var claimed, holmFlagged, rawFlagged, marked int
	for seed := range uint64(runs) {
		trials := noisyRun(100+seed, 7, aa, nil)
		if len(differenceClaimed(Findings(trials, DefaultOptions))) > 0 {
			claimed++
		}
		raw, corrected := false, false
		for _, g := range Analyze(trials, DefaultOptions) {
			r, _ := g.Ratio(MChunksPerS, aa[1], aa[0])
			if r.Family != len(aaGroups) {
				t.Fatalf("family of %d comparisons, want %d", r.Family, len(aaGroups))
			}
			raw = raw || r.RawSignificant()
			corrected = corrected || r.Significant()
		}
		if corrected {
			holmFlagged++
		}
		if !raw {
			continue
		}
		rawFlagged++
		// The table keeps the raw p value, marks the ratio "~" and says
		// in a footnote why it is not a finding.
		if marked == 0 {
			var b bytes.Buffer
			if err := WriteTable(&b, trials, DefaultTableOptions); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "uncorrected, but not after Holm's correction for the run's 6 chunks_per_s comparisons") &&
				!strings.Contains(b.String(), "practical-significance band") {
				t.Errorf("a raw p below 0.05 has no footnote saying why it is not a finding:\n%s", b.String())
			}
			marked++
		}
	}
	t.Logf("%d A/A runs: %d with a raw p < 0.05, %d with a Holm-adjusted one, %d with a claimed difference", runs, rawFlagged, holmFlagged, claimed)
	if holmFlagged > runs*5/100 {
		t.Errorf("%d of %d A/A runs have an adjusted p < 0.05; Holm's method bounds it at 5%%", holmFlagged, runs)
	}
	if claimed > holmFlagged {
		t.Errorf("%d A/A runs claim a difference, more than the %d with an adjusted p < 0.05", claimed, holmFlagged)
	}
	if claimed > runs/100 {
		t.Errorf("%d of %d A/A runs claim a difference", claimed, runs)
	}
	if rawFlagged < runs/10 {
		t.Errorf("only %d of %d A/A runs have a raw p < 0.05: the noise is too tame for this test to mean anything", rawFlagged, runs)
	}
}

// TestPositiveControl: a real 10% difference in every group, with enough
// trials, is a finding under the same noise and the same correction; a
// 1% one is not, however many trials.
func TestPositiveControl(t *testing.T) {
	vs := []string{"mutex", "lockfree"}
	f := Findings(noisyRun(7, 20, vs, map[string]float64{"lockfree": 1.10}), DefaultOptions)
	all := strings.Join(f, "\n")
	if n := strings.Count(all, "lockfree was faster"); n != 1 {
		t.Errorf("a 10%% speedup in every group gives %d faster findings, want 1 (the largest):\n%s", n, all)
	}
	if !strings.Contains(all, "adjusted for 6 comparisons") {
		t.Errorf("the finding does not say it was corrected:\n%s", all)
	}
	for _, g := range Analyze(noisyRun(7, 20, vs, map[string]float64{"lockfree": 1.10}), DefaultOptions) {
		if r, _ := g.Ratio(MChunksPerS, "lockfree", "mutex"); r.Direction() != 1 {
			t.Errorf("%s %s: 10%% speedup not a finding: %+v", g.Key.Scenario, g.Key.LoadName(), r)
		}
	}
	// A real 3% difference measured precisely (±2% noise, 60 trials) is
	// a finding with the default band, and with a 5% band only named as
	// inside it.
	small := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 60, chunks: 10000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 60, chunks: 10300},
	)
	if claims := differenceClaimed(Findings(small, DefaultOptions)); len(claims) != 1 {
		t.Errorf("a significant 3%% difference gives %d findings, want 1", len(claims))
	}
	wide := DefaultOptions
	wide.MinEffect = 0.05
	all = strings.Join(Findings(small, wide), "\n")
	if !strings.Contains(all, "differed by less than the ±5% practical-significance band") || len(differenceClaimed(Findings(small, wide))) > 0 {
		t.Errorf("a significant 3%% difference is not named as inside a 5%% band:\n%s", all)
	}
	opts := DefaultOptions
	opts.MinEffect = 0.15
	if claims := differenceClaimed(Findings(noisyRun(7, 12, vs, map[string]float64{"lockfree": 1.10}), opts)); len(claims) > 0 {
		t.Errorf("a 10%% difference is a finding with -min-effect 15%%:\n%s", strings.Join(claims, "\n"))
	}
}

// TestFamilyFloor: a sweep so large that seven trials cannot reach Holm's
// strictest threshold says so instead of silently finding nothing.
func TestFamilyFloor(t *testing.T) {
	var specs []spec
	for c := 1; c <= 100; c++ {
		specs = append(specs,
			spec{scenario: "chat", variant: "mutex", conc: c, n: 7, chunks: 1000},
			spec{scenario: "chat", variant: "lockfree", conc: c, n: 7, chunks: 3000})
	}
	all := strings.Join(Findings(makeTrials(specs...), DefaultOptions), "\n")
	if !strings.Contains(all, "makes 100 chunks/s comparisons") || !strings.Contains(all, "run 8 or more trials") {
		t.Errorf("no family-size finding:\n%s", all)
	}
	if strings.Contains(all, "faster") {
		t.Errorf("a finding beyond the U test's reach:\n%s", all)
	}
	few := strings.Join(Findings(makeTrials(specs[:20]...), DefaultOptions), "\n")
	if strings.Contains(few, "comparisons, so Holm") {
		t.Errorf("a family-size finding for 10 comparisons:\n%s", few)
	}
}

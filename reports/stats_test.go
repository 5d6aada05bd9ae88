package reports

import (
	"math"
	"strings"
	"testing"
)

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name        string
		specs       []spec
		wantGroups  int
		ratioLo     float64 // bounds the true ratio must lie within
		ratioHi     float64
		significant bool
		warnSubstr  string // expected in the chunks/s ratio warnings; "" for none
	}{
		{
			name: "significant speedup",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 64, n: 8, chunks: 10000},
				{scenario: "chat", variant: "lockfree", conc: 64, n: 8, chunks: 30000},
			},
			wantGroups: 1, ratioLo: 2.7, ratioHi: 3.3, significant: true,
		},
		{
			name: "too few trials",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 64, n: 3, chunks: 10000},
				{scenario: "chat", variant: "lockfree", conc: 64, n: 3, chunks: 30000},
			},
			wantGroups: 1, ratioLo: 2.7, ratioHi: 3.3, significant: false,
			warnSubstr: "need >= 4 samples to detect a difference",
		},
		{
			name: "no difference",
			specs: []spec{
				{scenario: "chat", variant: "mutex", conc: 64, n: 10, chunks: 10000},
				{scenario: "chat", variant: "lockfree", conc: 64, n: 10, chunks: 10000},
			},
			wantGroups: 1, ratioLo: 0.97, ratioHi: 1.03, significant: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups := Analyze(makeTrials(tt.specs...), DefaultOptions)
			if len(groups) != tt.wantGroups {
				t.Fatalf("got %d groups, want %d", len(groups), tt.wantGroups)
			}
			g := groups[0]
			if got := []string{g.Variants[0].Variant, g.Variants[1].Variant}; got[0] != "mutex" || got[1] != "lockfree" {
				t.Errorf("variant order %v, want mutex first", got)
			}
			r, ok := g.Ratio(MChunksPerS, "lockfree", "mutex")
			if !ok {
				t.Fatal("no lockfree/mutex chunks/s ratio")
			}
			if r.Center < tt.ratioLo || r.Center > tt.ratioHi {
				t.Errorf("ratio %v outside [%v, %v]", r.Center, tt.ratioLo, tt.ratioHi)
			}
			if !(r.Lo <= r.Center && r.Center <= r.Hi) {
				t.Errorf("ratio CI [%v, %v] does not contain %v", r.Lo, r.Hi, r.Center)
			}
			if r.Significant() != tt.significant {
				t.Errorf("significant = %v (p=%v), want %v", r.Significant(), r.P, tt.significant)
			}
			joined := strings.Join(r.Warnings, "; ")
			if tt.warnSubstr != "" && !strings.Contains(joined, tt.warnSubstr) {
				t.Errorf("warnings %q lack %q", joined, tt.warnSubstr)
			}
			if tt.warnSubstr == "" && strings.Contains(joined, "need") {
				t.Errorf("unexpected warnings %q", joined)
			}
		})
	}
}

func TestAnalyzeTooFewForInterval(t *testing.T) {
	groups := Analyze(makeTrials(spec{scenario: "chat", variant: "mutex", conc: 8, n: 3, chunks: 1000}), DefaultOptions)
	e := groups[0].Variants[0].Estimate(MChunksPerS)
	if !math.IsInf(e.Lo, -1) || !math.IsInf(e.Hi, 1) {
		t.Errorf("CI of 3 trials = [%v, %v], want unbounded", e.Lo, e.Hi)
	}
	if len(e.Warnings) == 0 || !strings.Contains(e.Warnings[0], "need >= 6 samples") {
		t.Errorf("warnings = %q, want benchmath's too-few-samples warning", e.Warnings)
	}
	if e.N != 3 || math.Abs(e.Center-1000) > 30 {
		t.Errorf("N=%d center=%v, want 3 and ~1000", e.N, e.Center)
	}
}

func TestAnalyzeFailedTrialsExcluded(t *testing.T) {
	groups := Analyze(makeTrials(spec{scenario: "chat", variant: "mutex", conc: 8, n: 8, chunks: 1000, failed: 2}), DefaultOptions)
	v := groups[0].Variants[0]
	if v.Trials != 6 || v.Failed != 2 {
		t.Errorf("trials=%d failed=%d, want 6 and 2", v.Trials, v.Failed)
	}
	if len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "2 of 8 trials failed") {
		t.Errorf("warnings = %q", v.Warnings)
	}
}

func TestAnalyzeGrouping(t *testing.T) {
	groups := Analyze(standardRun(), DefaultOptions)
	var got []string
	for _, g := range groups {
		got = append(got, g.Key.Scenario+"/"+g.Key.LoadName())
	}
	want := "chat/closed-1 chat/closed-64 disconnect/closed-64"
	if strings.Join(got, " ") != want {
		t.Errorf("groups %q, want %q", got, want)
	}
	v := groups[2].Variant("mutex")
	if d := v.Estimate(MBillingDeltaPct).Center; math.Abs(d-4.2) > 0.01 {
		t.Errorf("billing delta = %v%%, want 4.2%%", d)
	}
	if l := v.Estimate(MLeaked).Center; l != 312 {
		t.Errorf("leaked = %v, want 312", l)
	}
	if r, _ := groups[2].Ratio(MLeaked, "lockfree", "mutex"); r.Center != 0 {
		t.Errorf("leak ratio = %v, want 0", r.Center)
	}
}

func TestAnalyzeTrialWarningsCarried(t *testing.T) {
	trials := makeTrials(spec{scenario: "chat", variant: "mutex", conc: 8, n: 4, chunks: 1000})
	trials[0].Warnings = []string{"other processes used 40% of the CPU"}
	trials[2].Warnings = []string{"other processes used 40% of the CPU"}
	v := Analyze(trials, DefaultOptions)[0].Variants[0]
	want := "other processes used 40% of the CPU (2 of 4 trials)"
	if len(v.Warnings) != 1 || v.Warnings[0] != want {
		t.Errorf("warnings = %q, want [%q]", v.Warnings, want)
	}
}

package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/streambench/streambench/result"
)

// probeTrials builds the probe records of a capacity search of variant on
// a step: every request meets the SLO up to knee, one in ten misses above.
func probeTrials(variant string, knee float64, rates ...float64) []*result.Trial {
	var out []*result.Trial
	for i, r := range rates {
		total := int64(r * 2) // 2 s windows
		met := total
		if r > knee {
			met = total * 9 / 10
		}
		out = append(out, &result.Trial{
			Kind: result.KindTrial, Mode: result.ModeChild, Variant: variant, Scenario: "chat",
			Load: result.Load{Model: "open", Rate: r, Arrival: "constant", OnCap: result.OnCapQueue}, GOMAXPROCS: 2,
			Order: i, DurationS: 2, StreamsCompleted: met + (total-met)/2, RequestsDropped: (total - met) - (total-met)/2,
			SLO: &result.SLO{E2ENS: 1e9, TimeScale: 0.01}, RequestsMetSLO: met, GoodputPerS: float64(met) / 2,
			SLOAttainment: float64(met) / float64(total), CapacityProbe: true, ChunksPerS: 1000,
		})
	}
	return out
}

func TestCapacitiesFromProbeRecords(t *testing.T) {
	trials := append(probeTrials("mutex", 500, 100, 400, 1600, 800, 565, 475, 518, 496),
		probeTrials("lockfree", 1000, 100, 400, 1600, 800, 1131, 951, 1037, 993)...)
	cs := Capacities(trials)
	if len(cs) != 2 || cs[0].Variant != "mutex" || cs[1].Variant != "lockfree" {
		t.Fatalf("Capacities gave %d searches (%+v), want mutex then lockfree", len(cs), cs)
	}
	for _, tt := range []struct {
		i      int
		lo, hi float64
	}{{0, 496, 518}, {1, 993, 1037}} {
		r := cs[tt.i].Result
		if r.Lo != tt.lo || r.Hi != tt.hi || r.Capacity != tt.lo || !r.Converged {
			t.Errorf("%s: %v, want [%g, %g) converged", cs[tt.i].Variant, r, tt.lo, tt.hi)
		}
		if n := len(cs[tt.i].Points); n != 8 {
			t.Errorf("%s: %d points, want 8", cs[tt.i].Variant, n)
		}
	}
	if gs := Analyze(trials, Options{}); len(gs) != 0 {
		t.Errorf("Analyze made %d groups of capacity probes, want them left to Capacities", len(gs))
	}

	var table bytes.Buffer
	if err := WriteTable(&table, trials, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"capacity", "mutex", "496/s", "[496, 518)", "lockfree", "993/s", "[993, 1.04k)", "e2e<=1s (×0.01)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "chunks/s") {
		t.Errorf("a capacity run's table shows the throughput table of its probes:\n%s", table.String())
	}
	fs := Findings(trials, Options{})
	if !strings.Contains(strings.Join(fs, "\n"), "Capacity on chat") {
		t.Errorf("findings %q say nothing of the capacity", fs)
	}

	figs, err := Figures(trials, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		if f.Name == "chat-goodput" && (len(f.PNG) == 0 || !bytes.Contains(f.SVG, []byte("mutex knee 496/s"))) {
			t.Errorf("goodput plot has no PNG or its SVG marks no knee for mutex")
		}
	}
	if len(names) != 1 || names[0] != "chat-goodput" {
		t.Errorf("figures %v, want only chat-goodput", names)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, trials, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"capacity": 993`) || !strings.Contains(js.String(), `"hi": 1037`) {
		t.Errorf("JSON lacks lockfree's capacity and interval:\n%s", js.String())
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, nil, trials, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| chat | 2 | lockfree | 993/s | [993, 1.04k) |") {
		t.Errorf("markdown lacks the capacity row:\n%s", md.String())
	}
}

func TestCapacityAtTheBounds(t *testing.T) {
	trials := append(probeTrials("mutex", 0, 1), probeTrials("lockfree", 1e9, 100000)...)
	cs := Capacities(trials)
	if got := fmtCapacity(cs[0].Result); got != "< 1/s" {
		t.Errorf("nothing passed: capacity %q, want < 1/s", got)
	}
	if got := fmtCapacity(cs[1].Result); got != ">= 100k/s" {
		t.Errorf("everything passed: capacity %q, want >= 100k/s", got)
	}
}

func TestTableGoodputColumn(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "burst", variant: "mutex", rate: 500, n: 3, chunks: 1000},
		spec{scenario: "burst", variant: "lockfree", rate: 500, n: 3, chunks: 1000},
	)
	var plain bytes.Buffer
	if err := WriteTable(&plain, trials, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "goodput") {
		t.Errorf("a table without an SLO has a goodput column:\n%s", plain.String())
	}
	for i, tr := range trials {
		met := int64(990)
		if tr.Variant == "mutex" {
			met = 900
		}
		tr.SLO = &result.SLO{E2ENS: 1e9}
		tr.StreamsCompleted, tr.StreamsDisconnected, tr.RequestsDropped = 1000, 0, 0
		tr.RequestsMetSLO, tr.GoodputPerS = met, float64(met)/2+float64(i%3)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, trials, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"goodput (met SLO)", "451/s (90.0%)", "496/s (99.0%)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

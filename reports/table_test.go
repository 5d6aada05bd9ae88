package reports

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name   string
		specs  []spec
		golden string
		want   []string // substrings the table must hold
	}{
		{"standard", nil, "table_standard.txt", []string{"3.10x [2.99x 3.17x] p<0.001 vs mutex", "~ 1.01x", "+4200 (+4.2%)"}},
		{"too few trials", []spec{
			{scenario: "chat", variant: "mutex", conc: 64, n: 3, chunks: 10000},
			{scenario: "chat", variant: "lockfree", conc: 64, n: 3, chunks: 30000},
		}, "table_few.txt", []string{"~ 2.99x", "need >= 6 samples", "need >= 4 samples to detect"}},
		{"failed trials", []spec{
			{scenario: "chat", variant: "mutex", conc: 64, n: 8, chunks: 10000, failed: 2},
			{scenario: "chat", variant: "lockfree", conc: 64, n: 8, chunks: 10000},
		}, "table_failed.txt", []string{"6+2failed", "2 of 8 trials failed", "~ 1."}},
		{"collapsed trials", []spec{
			{scenario: "chat", variant: "mutex", conc: 100000, n: 8, chunks: 25900, partial: 8},
			{scenario: "chat", variant: "lockfree", conc: 100000, n: 8, chunks: 95500, overran: 8},
		}, "table_collapsed.txt", []string{"8 (8 partial)", "8 (8 overran)",
			"partial record (stopped at the child process's deadline (1m34.25s after it started), in the measured window, 1m33.9s into the trial): its numbers cover the trial until then (8 of 8 trials)",
			"mutex collapsed in 8 of 8 trials (partial records, stopped before their end): the ratio compares what each measured until it stopped",
			"window overran: the 3s measured window"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trials := standardRun()
			if tt.specs != nil {
				trials = makeTrials(tt.specs...)
			}
			var b bytes.Buffer
			if err := WriteTable(&b, trials, DefaultTableOptions); err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.want {
				if !strings.Contains(b.String(), s) {
					t.Errorf("table lacks %q:\n%s", s, b.String())
				}
			}
			golden(t, tt.golden, b.Bytes())
		})
	}
}

func TestWriteJSON(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 64, n: 3, chunks: 10000},
		spec{scenario: "chat", variant: "lockfree", conc: 64, n: 3, chunks: 30000},
	)
	var b bytes.Buffer
	if err := WriteJSON(&b, trials, DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Scenario string
			Variants []struct {
				Variant   string
				Estimates []struct {
					Metric   string
					Median   *float64
					Lo       *float64
					Warnings []string
				}
			}
			Ratios []struct {
				Metric, Num, Den string
				Ratio            *float64
				Significant      bool
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(doc.Groups) != 1 || len(doc.Groups[0].Variants) != 2 {
		t.Fatalf("got %+v", doc)
	}
	e := doc.Groups[0].Variants[0].Estimates[0]
	if e.Metric != MChunksPerS || e.Median == nil || e.Lo != nil || len(e.Warnings) == 0 {
		t.Errorf("chunks/s estimate of 3 trials = %+v, want a median, a null bound and a warning", e)
	}
	r := doc.Groups[0].Ratios[0]
	if r.Num != "lockfree" || r.Den != "mutex" || r.Ratio == nil || *r.Ratio < 2.5 || r.Significant {
		t.Errorf("ratio = %+v", r)
	}
}

func TestFootnotesMergeNumbers(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cells [][]string
		marks []string
		lines []string
	}{
		{"same text", [][]string{{"a 1"}, {"a 1"}}, []string{" ¹", " ¹"}, []string{"a 1"}},
		{"numbers differ", [][]string{{"used 91% (1 of 2 trials)"}, {"used 54% (2 of 2 trials)"}, {"used 97% (1 of 2 trials)"}},
			[]string{" ¹", " ¹", " ¹"}, []string{"used 54–97% (1–2 of 2 trials)"}},
		{"words differ", [][]string{{"need >= 6 samples"}, {"need >= 7 trials"}}, []string{" ¹", " ²"},
			[]string{"need >= 6 samples", "need >= 7 trials"}},
		{"one mark per cell", [][]string{{"late 1.5ms", "late 2.5ms"}}, []string{" ¹"}, []string{"late 1.5–2.5ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n footnotes
			var marks []string
			for _, c := range tt.cells {
				marks = append(marks, n.mark(c))
			}
			if diff := cmp.Diff(tt.marks, marks); diff != "" {
				t.Errorf("marks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.lines, n.lines()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriteJSONCollapse: the JSON summary counts each variant's partial
// records and overrun timelines.
func TestWriteJSONCollapse(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 100000, n: 3, chunks: 25900, partial: 2},
		spec{scenario: "chat", variant: "lockfree", conc: 100000, n: 3, chunks: 95500, overran: 1},
	)
	var b bytes.Buffer
	if err := WriteJSON(&b, trials, DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Variants []struct {
				Variant          string
				Trials           int
				Partial, Overran int
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	got := doc.Groups[0].Variants
	if len(got) != 2 || got[0].Variant != "mutex" || got[0].Partial != 2 || got[0].Overran != 0 || got[1].Partial != 0 || got[1].Overran != 1 {
		t.Errorf("variants = %+v, want mutex 2 partial, lockfree 1 overran", got)
	}
}

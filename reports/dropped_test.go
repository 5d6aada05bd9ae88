package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/streambench/streambench/result"
)

// droppedRun is an open-model run in which mutex dropped arrivals at the
// in-flight cap and lockfree dropped none; one failed mutex trial's drops
// are left out with the trial.
func droppedRun() []*result.Trial {
	trials := makeTrials(
		spec{scenario: "burst", variant: "mutex", rate: 200, n: 6, chunks: 9000, failed: 1},
		spec{scenario: "burst", variant: "lockfree", rate: 200, n: 6, chunks: 9100},
	)
	for _, t := range trials {
		t.Load.Concurrency, t.Load.OnCap = 10, result.OnCapDrop
		t.StreamsCompleted = 380
		if t.Variant == "mutex" {
			t.StreamsCompleted, t.RequestsDropped = 360, 40
		}
	}
	return trials
}

// TestTableShowsDropped: the summary gives each row's dropped arrivals
// (summed over the trials it summarises, with their share of arrivals)
// when there were any, and keeps its usual columns otherwise.
func TestTableShowsDropped(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, droppedRun(), DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], "p99 TTFT  dropped") {
		t.Errorf("header lacks a dropped column: %q", lines[0])
	}
	// Five mutex trials ran: 200 of 2000 arrivals dropped.
	for _, want := range []string{"200 (10.0%)", "lockfree"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	golden(t, "table_dropped.txt", b.Bytes())

	var m bytes.Buffer
	if err := WriteMarkdown(&m, testHeader, droppedRun(), DefaultOptions); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| p99 TTFT | dropped | leaked |", "| 200 (10.0%) |", "| 0 |"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, m.String())
		}
	}

	b.Reset()
	if err := WriteTable(&b, standardRun(), DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "dropped") {
		t.Errorf("a run without drops has a dropped column:\n%s", b.String())
	}
}

// TestFindingsNameDropped: a group with dropped arrivals gets a finding
// that gives each variant's count; a run without drops gets none.
func TestFindingsNameDropped(t *testing.T) {
	got := strings.Join(Findings(droppedRun(), DefaultOptions), "\n")
	want := "On burst at 200 req/s, requests never started (dropped at the in-flight cap (-on-cap drop) or left waiting at the window's close): mutex 200 of 2000 (10.0%), lockfree none; they count as misses"
	if !strings.Contains(got, want) {
		t.Errorf("findings lack %q:\n%s", want, got)
	}
	if got := strings.Join(Findings(standardRun(), DefaultOptions), "\n"); strings.Contains(got, "never started") {
		t.Errorf("findings of a run without drops mention them:\n%s", got)
	}
}

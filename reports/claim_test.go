package reports

import (
	"bytes"
	"strings"
	"testing"
)

// claimRow returns the row of rows whose metric starts with prefix.
func claimRow(t *testing.T, rows []ClaimRow, prefix string) ClaimRow {
	t.Helper()
	for _, r := range rows {
		if strings.HasPrefix(r.Metric, prefix) {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", prefix, rows)
	return ClaimRow{}
}

// TestClaimThroughputVerdicts: the throughput claim ("up to 20x") is
// reproduced when the redesign's best finding reaches 20x, partly when it
// falls short, not reproduced without a finding, partly and "not testable
// here" when the harness's ceiling caps it below 20x, and not testable at
// all where the pass-through calibration did not run (paced scenarios).
func TestClaimThroughputVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		mutex, lockfree, through float64 // chunks/s; through 0: no calibration
		want                     string
		note                     string
	}{
		{"reaches 20x", 1e5, 2.5e6, 1e7, Reproduced, ""},
		{"falls short", 1e5, 3e5, 1e7, Partly, "of the claimed 20x"},
		{"no difference", 1e5, 1e5, 1e7, NotReproduced, ""},
		{"capped below 20x", 1e5, 1e6, 1.1e6, Partly, "not testable here"},
		{"no calibration", 1e5, 3e6, 0, NotTestable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs := []spec{
				{scenario: "firehose", variant: "mutex", conc: 256, n: 7, chunks: tc.mutex},
				{scenario: "firehose", variant: "lockfree", conc: 256, n: 7, chunks: tc.lockfree},
			}
			if tc.through > 0 {
				specs = append(specs, spec{scenario: "firehose", variant: "passthrough", conc: 256, n: 7, chunks: tc.through})
			}
			r := claimRow(t, ClaimVerdicts(makeTrials(specs...), DefaultOptions), "chunks/s")
			if r.Verdict != tc.want {
				t.Fatalf("verdict %q (%s, notes %q); want %q", r.Verdict, r.Value, r.Notes, tc.want)
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("notes %q do not say %q", r.Notes, tc.note)
			}
			if tc.want != NotTestable && (r.Factor < tc.lockfree/tc.mutex*0.9 || r.Factor > tc.lockfree/tc.mutex*1.1 || !(r.Lo <= r.Factor && r.Factor <= r.Hi)) {
				t.Errorf("factor %g [%g, %g]; want about %g inside its interval", r.Factor, r.Lo, r.Hi, tc.lockfree/tc.mutex)
			}
		})
	}
}

// TestClaimCountVerdicts: leaks are reproduced when the legacy leaves
// goroutines and the redesign none, and not reproduced when the redesign
// leaves as many; a run where neither leaves any cannot test the claim.
func TestClaimCountVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name                string
		mutexLeak, freeLeak int64
		want                string
	}{
		{"legacy leaks", 160, 0, Reproduced},
		{"both leak alike", 160, 160, NotReproduced},
		{"neither leaks", 0, 0, NotTestable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trials := makeTrials(
				spec{scenario: "disconnect", variant: "mutex", conc: 64, n: 7, chunks: 1e5, leaked: tc.mutexLeak},
				spec{scenario: "disconnect", variant: "lockfree", conc: 64, n: 7, chunks: 1e5, leaked: tc.freeLeak})
			r := claimRow(t, ClaimVerdicts(trials, DefaultOptions), "goroutines alive")
			if r.Verdict != tc.want {
				t.Fatalf("verdict %q (%s); want %q", r.Verdict, r.Value, tc.want)
			}
		})
	}
}

// TestClaimMemoryLimitVerdicts: surviving a memory limit the legacy
// crosses reproduces the claim; a limit neither crosses is only partly
// telling; no limited trial cannot test it.
func TestClaimMemoryLimitVerdicts(t *testing.T) {
	run := func(limit int64, mutexOOM, freeOOM int) ClaimRow {
		trials := makeTrials(
			spec{scenario: "disconnect", variant: "mutex", conc: 64, n: 7, chunks: 1e5},
			spec{scenario: "disconnect", variant: "lockfree", conc: 64, n: 7, chunks: 1e5})
		oom := map[string]int{"mutex": mutexOOM, "lockfree": freeOOM}
		for _, tr := range trials {
			tr.MemLimitBytes = limit
			if oom[tr.Variant] > 0 {
				tr.OutOfMemory, tr.OOMAtS = true, 0.5
				oom[tr.Variant]--
			}
		}
		return claimRow(t, ClaimVerdicts(trials, DefaultOptions), "trials that ran out")
	}
	if r := run(256<<20, 5, 0); r.Verdict != Reproduced || r.Value != "mutex 5 of 7, lockfree 0 of 7" {
		t.Errorf("legacy runs out: %q %q", r.Verdict, r.Value)
	}
	if r := run(256<<20, 0, 0); r.Verdict != Partly {
		t.Errorf("neither runs out: %q", r.Verdict)
	}
	if r := run(256<<20, 3, 3); r.Verdict != NotReproduced {
		t.Errorf("both run out alike: %q", r.Verdict)
	}
	if r := run(0, 0, 0); r.Verdict != NotTestable {
		t.Errorf("no limit: %q", r.Verdict)
	}
}

// TestClaimsInReport: a claim run's summary.md opens with the verdict
// table, and the text table carries every row and its notes.
func TestClaimsInReport(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "firehose", variant: "mutex", conc: 256, n: 7, chunks: 1e5},
		spec{scenario: "firehose", variant: "lockfree", conc: 256, n: 7, chunks: 3e5},
		spec{scenario: "firehose", variant: "passthrough", conc: 256, n: 7, chunks: 1e7})
	hdr := *testHeader
	hdr.Experiment = ExperimentClaim
	var md bytes.Buffer
	if err := WriteMarkdown(&md, &hdr, trials, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	verdict := strings.Index(md.String(), "## Verdict on the source's claims")
	findings := strings.Index(md.String(), "\n- ")
	if verdict < 0 || findings < 0 || verdict > findings {
		t.Fatalf("the verdict is not at the top of summary.md:\n%s", md.String())
	}
	var plain bytes.Buffer
	if err := WriteMarkdown(&plain, testHeader, trials, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "Verdict on") {
		t.Error("a plain run's summary carries a verdict")
	}
	var txt bytes.Buffer
	rows := ClaimVerdicts(trials, DefaultOptions)
	if err := WriteClaims(&txt, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"throughput up to 20x under concurrency", "partly", "of the claimed 20x", "latency decreased significantly", "not testable here"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("verdict table lacks %q:\n%s", want, txt.String())
		}
	}
}

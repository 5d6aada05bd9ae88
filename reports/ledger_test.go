package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/streambench/streambench/result"
)

// ledgerRun is a run on a scenario with a slow ledger of 4 connections:
// the redesign's calls wait (it settles before Relay returns and its
// streams queue for the pool), the legacy's wait longer still, queued
// behind its finalizers; one legacy trial failed, with a wait that must
// not count.
func ledgerRun() []*result.Trial {
	trials := makeTrials(
		spec{scenario: "ledger", variant: "mutex", conc: 16, n: 5, chunks: 9000, failed: 1},
		spec{scenario: "ledger", variant: "lockfree", conc: 16, n: 5, chunks: 4000},
	)
	for i, t := range trials {
		wait, sat := int64(20e6+int64(i)*1e6), 0.5+0.01*float64(i)
		if t.Variant == "mutex" {
			wait, sat = 900e6+int64(i)*1e6, 0.99
		}
		if t.Failed() {
			wait = 9e12
		}
		t.Ledger = &result.LedgerPool{Conns: 4, Calls: 2000, Wait: result.Percentiles{Count: 2000, P99: wait}, Saturation: sat}
	}
	return trials
}

// TestTableShowsLedgerWait: a run whose scenario had a ledger section
// gets a column of each row's median p99 ledger wait and pool saturation,
// over the trials that did not fail; a run without one gets none.
func TestTableShowsLedgerWait(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, ledgerRun(), DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"p99 ledger wait (pool busy)", "902ms (99% of 4 busy)", "27ms (57% of 4 busy)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	golden(t, "table_ledger.txt", b.Bytes())

	var m bytes.Buffer
	if err := WriteMarkdown(&m, testHeader, ledgerRun(), DefaultOptions); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| p99 TTFT | p99 ledger wait (pool busy) | leaked |", "| 902ms (99% of 4 busy) |"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, m.String())
		}
	}

	// Over HTTP a record has only the mean wait, and the cell says so.
	http := ledgerRun()
	for _, t := range http {
		t.Mode = result.ModeHTTP
		t.Ledger.Wait.Mean = float64(t.Ledger.Wait.P99) / 10
		t.Ledger.Wait.P99 = 0
	}
	b.Reset()
	if err := WriteTable(&b, http, DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "2.7ms mean (57% of 4 busy)") {
		t.Errorf("HTTP table lacks the mean ledger wait:\n%s", b.String())
	}

	b.Reset()
	if err := WriteTable(&b, standardRun(), DefaultTableOptions); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "ledger") {
		t.Errorf("a run without a ledger section has a ledger column:\n%s", b.String())
	}
}

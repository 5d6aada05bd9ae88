package harness

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
)

// ledgerHold is what testdata/ledger-slow.yaml's ledger holds its one
// connection for, per call; the scenario's requests stream for 8 ms.
const (
	ledgerHold     = 100 * time.Millisecond
	ledgerRequests = 12
)

// TestSlowLedgerWaitsWhereTheCodeWaits runs the legacy design and the
// redesign against a ledger of one connection whose calls take 100 ms,
// on a fake clock. The redesign settles before Relay returns, so every
// request's latency includes its two ledger calls and the closed model's
// streams wait for the ledger; the legacy settles in a detached
// finalizer, so its relays end at the provider's pace and its records
// queue for the ledger after them, still pending when the trial ends.
func TestSlowLedgerWaitsWhereTheCodeWaits(t *testing.T) {
	redesign := runFake(t, quick("lockfree", "testdata/ledger-slow.yaml"))
	legacy := runFakeThenWait(t, quick("mutex", "testdata/ledger-slow.yaml"), time.Minute)
	for name, err := range map[string]error{"lockfree": AccountingError(redesign), "mutex": AccountingError(legacy)} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The redesign: every record persisted and charged before its relay
	// returned, each relay at least as long as its two calls, and the
	// window as long as the ledger's calls end to end.
	ra, rl := redesign.Accounting, redesign.Ledger
	if rl == nil {
		t.Fatal("lockfree: no ledger in the record of a scenario with a ledger section")
	}
	if redesign.StreamsCompleted != ledgerRequests || ra.RecordsPersisted != ledgerRequests ||
		ra.LedgerPersists != ledgerRequests || ra.LedgerCharges != ledgerRequests || ra.LedgerInFlight != 0 || rl.Calls != 2*ledgerRequests {
		t.Errorf("lockfree: %d completed, accounting %+v, ledger %+v; want %d requests each persisted and charged by the end", redesign.StreamsCompleted, ra, *rl, ledgerRequests)
	}
	if e2eMin := time.Duration(redesign.Dist["e2e"][0].NS); e2eMin < 2*ledgerHold {
		t.Errorf("lockfree: shortest request %v, want >= %v: Relay returns only after its persist and charge", e2eMin, 2*ledgerHold)
	}
	if w := time.Duration(redesign.DurationS * float64(time.Second)); w < 2*ledgerRequests*ledgerHold {
		t.Errorf("lockfree: window %v, want >= %v: the streams wait for every call on the one connection", w, 2*ledgerRequests*ledgerHold)
	}
	if rl.Queued == 0 || time.Duration(rl.Wait.Max) < ledgerHold || rl.InUsePeak != 1 || rl.Conns != 1 || rl.Saturation < 0.9 {
		t.Errorf("lockfree: ledger %+v; want calls queued behind a saturated connection", *rl)
	}

	// The legacy: its relays ended at the provider's pace, before any of
	// its finalizers' calls was over; the records wait in the ledger's
	// queue when the trial ends.
	la, ll := legacy.Accounting, legacy.Ledger
	if ll == nil {
		t.Fatal("mutex: no ledger in the record of a scenario with a ledger section")
	}
	if legacy.StreamsCompleted != ledgerRequests {
		t.Errorf("mutex: %d of %d requests completed", legacy.StreamsCompleted, ledgerRequests)
	}
	if e2eMax := time.Duration(legacy.E2E.Max); e2eMax >= ledgerHold {
		t.Errorf("mutex: longest request %v, want < %v: the detached finalizer calls the ledger after Relay returned", e2eMax, ledgerHold)
	}
	if la.RecordsPersisted != 0 || la.RecordsPending != ledgerRequests || la.LedgerInFlight != ledgerRequests || ll.Calls != 0 || ll.Queued != ledgerRequests-1 {
		t.Errorf("mutex: accounting %+v, ledger %+v; want all %d records queued for the ledger when the trial ended", la, *ll, ledgerRequests)
	}
}

// TestNoLedgerSectionNoLedgerRecord: a scenario without a ledger section
// costs nothing and its record carries no ledger.
func TestNoLedgerSectionNoLedgerRecord(t *testing.T) {
	rec := runFake(t, quick("lockfree", "testdata/disconnect-short.yaml"))
	if rec.Ledger != nil || rec.Accounting.LedgerPersists != 0 {
		t.Errorf("ledger %+v, persists %d; want none without a ledger section", rec.Ledger, rec.Accounting.LedgerPersists)
	}
	if err := AccountingError(rec); err != nil {
		t.Error(err)
	}
}

// TestLedgerInvariantCatchesExtraCharge: with a ledger section, a design
// that charges more often than it persists breaks the pool's invariant
// (on top of the billing checks).
func TestLedgerInvariantCatchesExtraCharge(t *testing.T) {
	v, err := variant.Parse("lockfree")
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		rec, err := runTrial(context.Background(), quick("lockfree", "testdata/ledger-slow.yaml"), v,
			func(l impls.Ledger) impls.Pipeline { return &broken{Pipeline: v.New(l), ledger: l, mode: "overbill"} })
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("ledger: %d charge calls for %d persist calls", 2*ledgerRequests, ledgerRequests)
		if !slices.Contains(rec.Accounting.Violations, want) {
			t.Errorf("violations %q lack %q", rec.Accounting.Violations, want)
		}
	})
}

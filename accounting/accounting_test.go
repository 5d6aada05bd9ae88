package accounting

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/result"
)

func TestLedgerDuplicates(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		byAccount bool
		wantDup   int64
	}{{"by id", false, 3}, {"by account", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Ledger{ByAccount: tc.byAccount}
			for _, rec := range []impls.Record{
				{RequestID: 1, Account: "a", Tokens: 5},
				{RequestID: 1, Account: "a", Tokens: 5},       // a duplicate either way
				{RequestID: 1, Account: "b", Tokens: 5},       // a duplicate by id only
				{RequestID: 1 << 40, Account: "a", Tokens: 1}, // above the bitmap
				{RequestID: 1 << 40, Account: "a", Tokens: 1}, // ... still checked
			} {
				_ = l.Persist(ctx, rec)
			}
			_ = l.Charge(ctx, "a", 7)
			got := l.Totals()
			if got.Duplicated != tc.wantDup || got.Records != 5-tc.wantDup || got.RecordTokens != 17 || got.Charged != 7 || got.Charges != 1 {
				t.Errorf("totals %+v, want %d duplicates", got, tc.wantDup)
			}
			if a := l.Account("a"); a.Charged != 7 || a.RecordTokens != 12 {
				t.Errorf("account a %+v", a)
			}
			if len(l.Accounts()) != 2 {
				t.Errorf("accounts %v", l.Accounts())
			}
		})
	}
}

func TestLedgerConcurrent(t *testing.T) {
	l := &Ledger{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				_ = l.Persist(context.Background(), impls.Record{RequestID: uint64(i), Account: "x", Tokens: int64(w)})
			}
		})
	}
	wg.Wait()
	if got := l.Totals(); got.Records != 1000 || got.Duplicated != 7000 {
		t.Errorf("totals %+v, want 1000 records and 7000 duplicates", got)
	}
}

// TestCheck shows each invariant firing, and a clean record passing.
func TestCheck(t *testing.T) {
	persists := impls.Traits{Persists: true, Cancels: true}
	clean := result.Accounting{TokensDelivered: 100, TokensBilled: 100, RecordsExpected: 4, RecordsPersisted: 4,
		TokensGenerated: 130, TokensWasted: 30, UpstreamSlotsTaken: 4, UpstreamSlotsReleased: 4}
	for _, tc := range []struct {
		name string
		edit func(*result.Accounting, *Facts)
		want string
	}{
		{"clean", func(*result.Accounting, *Facts) {}, ""},
		{"duplicate", func(a *result.Accounting, _ *Facts) { a.RecordsDuplicated = 1 }, "persisted more than once"},
		{"too many", func(a *result.Accounting, _ *Facts) { a.RecordsPersisted = 5 }, "persisted for 4 requests"},
		{"pending", func(a *result.Accounting, _ *Facts) { a.RecordsPending = 1 }, "were not persisted"},
		{"pending detached", func(a *result.Accounting, f *Facts) { a.RecordsPending, f.Traits.DetachedFinalizer = 1, true }, ""},
		{"underbilled", func(a *result.Accounting, _ *Facts) { a.TokensBilled, a.TokensDelivered = 90, 100 }, "billed < 100"},
		{"overbilled exact", func(a *result.Accounting, _ *Facts) { a.TokensBilled = 110 }, "billed != 100"},
		{"overbilled not exact", func(a *result.Accounting, f *Facts) { a.TokensBilled, f.ExactBilling, f.RecordTokens = 110, false, 110 }, ""},
		{"records and charges", func(_ *result.Accounting, f *Facts) { f.RecordTokens = 99 }, "records say 99"},
		{"persists nothing", func(a *result.Accounting, f *Facts) { f.Traits = impls.Traits{} }, "persists nothing"},
		{"tokens unaccounted", func(a *result.Accounting, _ *Facts) { a.TokensWasted = 20 }, "generated 130 != delivered 100 + wasted 20"},
		{"tokens delivered never generated", func(a *result.Accounting, _ *Facts) { a.TokensGenerated, a.TokensWasted = 90, -10 }, "more than the 90 the provider generated"},
		{"slot never released", func(a *result.Accounting, _ *Facts) { a.UpstreamSlotsReleased = 3 }, "3 released != 4 taken"},
		{"slot released twice", func(a *result.Accounting, _ *Facts) { a.UpstreamSlotsReleased = 5 }, "5 released != 4 taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, f := clean, Facts{Traits: persists, Name: "v", RecordTokens: 100, ExactBilling: true}
			tc.edit(&a, &f)
			got := strings.Join(Check(&a, f), "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("Check = %q, want %q", got, tc.want)
			}
		})
	}
}

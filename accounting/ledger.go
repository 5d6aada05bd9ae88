// Package accounting is the one copy of what both measuring modes keep and
// check about money and records: an in-memory impls.Ledger that notices a
// request persisted twice, and the invariants every trial's accounting
// must satisfy (Check). The in-process harness (package harness) and the
// HTTP mode's gateways and load generator (packages httpmode and
// httpmode/attack) use it alike; each adds only the checks its own
// vantage point allows.
package accounting

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/streambench/streambench/impls"
)

// Ledger is an in-memory impls.Ledger: it keeps no records, only the
// totals the accounting needs, per account and overall, and which request
// IDs each account has persisted. It is safe for concurrent use and takes
// no lock per call that a design's finalizers would contend on; with a
// Pool, its calls wait for a connection, as a real ledger's would.
//
// Note: with ByAccount, IDs are kept per account because a load generator
// reuses request indices across trials and tells its trials apart by
// account; records a legacy finalizer writes late, during a later trial,
// then count for the trial they belong to.
type Ledger struct {
	// ByAccount keys the duplicate check by account and request ID, for a
	// ledger that serves several trials (HTTP mode); otherwise a request
	// ID is persisted once, whatever the account.
	ByAccount bool
	// Pool, if set, is the connection pool every call waits on and holds
	// a connection of (see NewPool); nil is a ledger that costs nothing.
	// A call counts once it returns.
	Pool *Pool

	total    account  // every account's
	accounts sync.Map // account name -> *account
}

var _ impls.Ledger = (*Ledger)(nil)

// Totals are what a Ledger (or one of its accounts) has seen.
type Totals struct {
	Records      int64 `json:"records"`            // distinct requests persisted
	Duplicated   int64 `json:"records_duplicated"` // persists of a request already persisted
	RecordTokens int64 `json:"record_tokens"`      // tokens the records say
	Charged      int64 `json:"charged_tokens"`     // tokens charged
	Charges      int64 `json:"charges"`            // Charge calls
}

// account is one account's share of a Ledger.
type account struct {
	ids                                                 idSet
	records, duplicated, recordTokens, charged, charges atomic.Int64
	// chargeSeq numbers the account's charges as they reach a Pool.
	chargeSeq atomic.Uint64
}

func (l *Ledger) account(name string) *account {
	if a, ok := l.accounts.Load(name); ok {
		return a.(*account)
	}
	a, _ := l.accounts.LoadOrStore(name, new(account))
	return a.(*account)
}

// Persist counts rec, once per account and request ID, after its call
// on the Pool (if any) is over. It returns the context's error, and
// counts nothing, if ctx ends first.
func (l *Ledger) Persist(ctx context.Context, rec impls.Record) error {
	if l.Pool != nil {
		if err := l.Pool.persist(ctx, rec.RequestID); err != nil {
			return err
		}
	}
	a, all := l.account(rec.Account), &l.total
	ids := &all.ids
	if l.ByAccount {
		ids = &a.ids
	}
	if ids.add(rec.RequestID) {
		a.records.Add(1)
		all.records.Add(1)
	} else {
		a.duplicated.Add(1)
		all.duplicated.Add(1)
	}
	a.recordTokens.Add(rec.Tokens)
	all.recordTokens.Add(rec.Tokens)
	return nil
}

// Charge counts the tokens charged to account, after its call on the
// Pool (if any) is over. It returns the context's error, and counts
// nothing, if ctx ends first.
func (l *Ledger) Charge(ctx context.Context, name string, tokens int64) error {
	a, all := l.account(name), &l.total
	if l.Pool != nil {
		if err := l.Pool.charge(ctx, name, a.chargeSeq.Add(1)-1); err != nil {
			return err
		}
	}
	a.charged.Add(tokens)
	a.charges.Add(1)
	all.charged.Add(tokens)
	all.charges.Add(1)
	return nil
}

// Totals returns the ledger-wide totals.
func (l *Ledger) Totals() Totals { return l.total.totals() }

// Account returns one account's totals.
func (l *Ledger) Account(name string) Totals { return l.account(name).totals() }

// Accounts returns every account's totals, by name.
func (l *Ledger) Accounts() map[string]Totals {
	out := map[string]Totals{}
	l.accounts.Range(func(k, v any) bool {
		out[k.(string)] = v.(*account).totals()
		return true
	})
	return out
}

func (a *account) totals() Totals {
	return Totals{Records: a.records.Load(), Duplicated: a.duplicated.Load(), RecordTokens: a.recordTokens.Load(),
		Charged: a.charged.Load(), Charges: a.charges.Load()}
}

// idSet is a grow-only set of request IDs: below 1<<30 a two-level bitmap
// whose leaves are allocated on first use and set with atomic OR, and a
// sync.Map for the rest (the in-process warm-up's IDs carry a high bit),
// so that no ID escapes the duplicate check.
type idSet struct {
	leaves [idLeaves]atomic.Pointer[[idLeafWords]atomic.Uint64]
	high   sync.Map
}

const (
	idLeafWords = 1 << 10 // 64 Ki IDs a leaf
	idLeaves    = 1 << 14
	idLimit     = idLeaves * idLeafWords * 64
)

// add inserts id and reports whether it was new.
func (s *idSet) add(id uint64) bool {
	if id >= idLimit {
		_, seen := s.high.LoadOrStore(id, struct{}{})
		return !seen
	}
	word := id / 64
	leaf := s.leaves[word/idLeafWords].Load()
	if leaf == nil {
		fresh := new([idLeafWords]atomic.Uint64)
		if s.leaves[word/idLeafWords].CompareAndSwap(nil, fresh) {
			leaf = fresh
		} else {
			leaf = s.leaves[word/idLeafWords].Load()
		}
	}
	bit := uint64(1) << (id % 64)
	return leaf[word%idLeafWords].Or(bit)&bit == 0
}

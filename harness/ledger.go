package harness

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/streambench/streambench/impls"
)

// ledger is the harness's in-memory impls.Ledger. It keeps no records, only
// what the accounting needs: which request IDs were persisted (a lock-free
// bitmap, so the ledger adds no lock a design would be charged for), how many
// were persisted twice, and the tokens charged and recorded.
type ledger struct {
	ids          idSet
	persisted    atomic.Int64
	duplicated   atomic.Int64
	tokensBilled atomic.Int64
	recordTokens atomic.Int64
	charges      atomic.Int64
}

var _ impls.Ledger = (*ledger)(nil)

func (l *ledger) Persist(_ context.Context, rec impls.Record) error {
	if l.ids.add(rec.RequestID) {
		l.persisted.Add(1)
	} else {
		l.duplicated.Add(1)
	}
	l.recordTokens.Add(rec.Tokens)
	return nil
}

func (l *ledger) Charge(_ context.Context, _ string, tokens int64) error {
	l.tokensBilled.Add(tokens)
	l.charges.Add(1)
	return nil
}

// idSet is a grow-only set of request IDs: below 1<<30 a two-level bitmap
// whose leaves are allocated on first use and set with atomic OR, and a
// sync.Map for the rest (the warm-up's IDs carry a high bit), so that no ID
// escapes the duplicate check.
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

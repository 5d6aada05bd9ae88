package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/impls"
)

// The reference pipelines below are small, obviously correct (or obviously
// flawed on purpose) designs that exercise every branch of the suite, so the
// suite is proven to pass a correct design of each kind and, with a fault
// switched on, to fail it.

// faults are deliberate bugs a syncRef can be built with.
type faults struct {
	loseChunk   bool // skips writing chunk 3 but counts it delivered
	billTwice   bool // charges every request twice
	recordTwice bool // persists every request twice
	noClose     bool // never closes the Source
	leak        bool // leaves a goroutine sleeping for an hour
	ignoreCap   bool // does not enforce Limits.ContentCap
	uncounted   bool // does not count the chunk in hand when a write fails
	overbill    bool // accumulates a chunk before writing it
	reorder     bool // writes chunk 3 before chunk 2
	billUsage   bool // bills the provider's usage while its traits say it bills chunks
}

// syncRef is a correct persisting relay without a queue: it reads the
// provider in the caller's goroutine, accumulates what the client accepted,
// and persists and charges before returning (Traits{Persists, Cancels, None}).
type syncRef struct {
	ledger impls.Ledger
	f      faults
}

func (p *syncRef) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	start := time.Now()
	var out impls.Outcome
	acc := accumulator{rec: impls.Record{RequestID: req.ID, Account: req.Account}}
	var held *impls.Chunk // reorder: chunk 2, written after chunk 3
	for {
		c, err := src.Next(ctx)
		if err != nil {
			out.Err = endErr(ctx, err)
			break
		}
		if acc.rec.Chunks == 0 {
			acc.rec.FirstChunk = time.Since(start)
		}
		if !p.f.ignoreCap && acc.exceeds(req.Limits.ContentCap, c) {
			out.Discarded++
			out.Err = impls.ErrContentTooLarge
			break
		}
		if p.f.loseChunk && c.Seq == 3 {
			out.Delivered++
			acc.add(c)
			continue
		}
		if p.f.overbill {
			acc.add(c)
		}
		if p.f.reorder && c.Seq == 2 {
			held = &c
			continue
		}
		if err := dst.Write(c); err != nil {
			if !p.f.uncounted {
				out.Discarded++
			}
			out.Err = fmt.Errorf("%w: %w", impls.ErrCancelled, err)
			break
		}
		out.Delivered++
		if !p.f.overbill {
			acc.add(c)
		}
		if held != nil {
			if dst.Write(*held) == nil {
				out.Delivered++
				acc.add(*held)
			} else {
				out.Discarded++
			}
			held = nil
		}
	}
	if held != nil {
		out.Discarded++
	}
	if p.f.billUsage && out.Err == nil && acc.rec.Usage != nil {
		acc.rec.Tokens = acc.rec.Usage.CompletionTokens
	}
	if !p.f.noClose {
		_ = src.Close()
	}
	if p.f.leak {
		go time.Sleep(time.Hour)
	}
	settle(p.ledger, acc.rec, out.Err, 1+b2i(p.f.recordTwice), 1+b2i(p.f.billTwice))
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// accumulator builds a Record from chunks.
type accumulator struct{ rec impls.Record }

func (a *accumulator) exceeds(limit int64, c impls.Chunk) bool {
	return limit > 0 && int64(len(a.rec.Content)+len(c.Content)) > limit
}

func (a *accumulator) add(c impls.Chunk) {
	a.rec.Content = append(a.rec.Content, c.Content...)
	a.rec.Chunks++
	a.rec.Tokens += c.Tokens
	if c.FinishReason != "" {
		a.rec.FinishReason = c.FinishReason
	}
	if c.Usage != nil {
		a.rec.Usage = c.Usage
	}
}

// settle persists rec and charges its tokens, records and charges times.
func settle(l impls.Ledger, rec impls.Record, err error, records, charges int) {
	rec.Partial = err != nil
	if err != nil {
		rec.Err = err.Error()
	}
	ctx := context.Background()
	for range records {
		_ = l.Persist(ctx, rec)
	}
	for range charges {
		_ = l.Charge(ctx, rec.Account, rec.Tokens)
	}
}

func endErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", impls.ErrCancelled, err)
	default:
		return fmt.Errorf("%w: %w", impls.ErrProviderFailed, err)
	}
}

// chanRef is a correct persisting relay with a producer goroutine and a
// bounded channel that either blocks the provider (Bounded) or drops the
// oldest chunk (Dropping); a client disconnect cancels the provider and the
// producer is joined before Relay returns (Traits{Persists, Cancels}).
type chanRef struct {
	ledger impls.Ledger
	limit  int
	drop   bool
}

func (p *chanRef) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := make(chan impls.Chunk, p.limit)
	var dropped, discarded, peak atomic.Int64
	var srcErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(q)
		for {
			c, err := src.Next(ctx)
			if err != nil {
				srcErr = err
				return
			}
			if !p.send(ctx, q, c, &dropped) {
				discarded.Add(1)
				return
			}
			if n := int64(len(q)); n > peak.Load() {
				peak.Store(n)
			}
		}
	})
	var out impls.Outcome
	acc := accumulator{rec: impls.Record{RequestID: req.ID, Account: req.Account}}
	for c := range q {
		if acc.rec.Chunks == 0 {
			acc.rec.FirstChunk = time.Since(start)
		}
		if acc.exceeds(req.Limits.ContentCap, c) {
			out.Discarded++
			out.Err = impls.ErrContentTooLarge
			break
		}
		if err := dst.Write(c); err != nil {
			out.Discarded++
			out.Err = fmt.Errorf("%w: %w", impls.ErrCancelled, err)
			break
		}
		out.Delivered++
		acc.add(c)
	}
	cancel()
	for range q {
		out.Discarded++
	}
	wg.Wait()
	_ = src.Close()
	if out.Err == nil && !errors.Is(srcErr, io.EOF) {
		out.Err = fmt.Errorf("%w: %w", impls.ErrProviderFailed, srcErr)
	}
	out.Dropped, out.QueuePeak = dropped.Load(), peak.Load()
	out.Discarded += discarded.Load()
	settle(p.ledger, acc.rec, out.Err, 1, 1)
	return out
}

// send puts c on q: it waits for room (or the end of ctx, reporting false),
// or, when the queue drops, makes room by dropping the oldest chunk.
func (p *chanRef) send(ctx context.Context, q chan impls.Chunk, c impls.Chunk, dropped *atomic.Int64) bool {
	if !p.drop {
		select {
		case q <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case q <- c:
			return true
		default:
		}
		select {
		case <-q:
			dropped.Add(1)
		default:
		}
	}
}

// legacyRef reproduces the legacy design's flaws in miniature: an unbounded
// queue fed by a producer that is never cancelled, accumulation before the
// write, and a detached finalizer that settles the request when the relay
// signals completion or, after a disconnect (no signal), at its timeout
// (Traits{Persists, DetachedFinalizer, OverbillsOnDisconnect, Unbounded}).
type legacyRef struct{ ledger impls.Ledger }

func (p *legacyRef) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	start := time.Now()
	var mu sync.Mutex
	acc := accumulator{rec: impls.Record{RequestID: req.ID, Account: req.Account}}
	var endErr error
	done := make(chan struct{})
	go func() {
		t := time.NewTimer(req.Limits.FinalizerTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
		mu.Lock()
		rec, err := acc.rec, endErr
		rec.Content = slices.Clone(rec.Content)
		mu.Unlock()
		settle(p.ledger, rec, err, 1, 1)
	}()
	q := &unboundedQueue{ready: make(chan struct{}, 1)}
	go func() {
		defer src.Close()
		for {
			c, err := src.Next(context.Background())
			q.push(queued{c, err})
			if err != nil {
				return
			}
		}
	}()
	var out impls.Outcome
	for {
		it := q.pop()
		mu.Lock()
		switch {
		case errors.Is(it.err, io.EOF):
		case it.err != nil:
			out.Err = fmt.Errorf("%w: %w", impls.ErrProviderFailed, it.err)
		case acc.exceeds(req.Limits.ContentCap, it.c):
			out.Discarded++
			out.Err = impls.ErrContentTooLarge
		}
		if it.err != nil || out.Err != nil {
			endErr = out.Err
			mu.Unlock()
			close(done)
			out.QueuePeak = q.peakLen()
			return out
		}
		if acc.rec.Chunks == 0 {
			acc.rec.FirstChunk = time.Since(start)
		}
		acc.add(it.c)
		mu.Unlock()
		if err := dst.Write(it.c); err != nil {
			out.Discarded++
			out.Err = fmt.Errorf("%w: %w", impls.ErrCancelled, err)
			mu.Lock()
			endErr = out.Err
			mu.Unlock()
			out.QueuePeak = q.peakLen()
			return out
		}
		out.Delivered++
	}
}

type queued struct {
	c   impls.Chunk
	err error
}

// unboundedQueue is a FIFO with no limit that records its high-water mark.
type unboundedQueue struct {
	mu    sync.Mutex
	items []queued
	peak  int64
	ready chan struct{}
}

func (q *unboundedQueue) push(it queued) {
	q.mu.Lock()
	q.items = append(q.items, it)
	if it.err == nil {
		q.peak = max(q.peak, int64(len(q.items)))
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *unboundedQueue) pop() queued {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items = q.items[1:]
			q.mu.Unlock()
			return it
		}
		q.mu.Unlock()
		<-q.ready
	}
}

func (q *unboundedQueue) peakLen() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.peak
}

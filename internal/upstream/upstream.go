// Package upstream is the synthetic provider's capacity, the one copy
// both measuring modes use: a fixed number of concurrent streams (Slots)
// and a bound on the provider's total output (Bucket), as a scenario's
// provider.max_concurrent and provider.tokens_per_s ask.
//
// The in-process harness (package harness) and the HTTP mode's provider
// server (package httpmode) sit above it: each provider, in process or
// behind one server, has one Slots and one Bucket shared by all its
// streams. Both types are nil when the scenario sets no limit, and every
// method of a nil one does nothing, so that a provider without limits
// pays one nil check per stream (Slots) or per chunk (Bucket).
package upstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStopped is what Acquire returns when its stop channel closes first.
var ErrStopped = errors.New("upstream: stopped while waiting for a slot")

// Slots are a provider's concurrent-stream slots. A stream takes one before
// its first chunk (Acquire) and gives it back once when its response ends
// or is cancelled (Release). Waiters are served in the order they came
// (a channel's senders queue in order).
type Slots struct {
	ch      chan struct{} // a send takes a slot
	waiting atomic.Int64  // callers of Acquire blocked now
}

// NewSlots returns n slots, or nil (no limit) when n <= 0.
func NewSlots(n int) *Slots {
	if n <= 0 {
		return nil
	}
	return &Slots{ch: make(chan struct{}, n)}
}

// TryAcquire takes a slot if one is free at once and reports whether it
// did, so that a caller can read its clock only when it must wait. A nil
// Slots takes nothing and returns true.
func (s *Slots) TryAcquire() bool {
	if s == nil {
		return true
	}
	select {
	case s.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Acquire takes a slot, waiting for one if all are taken, and returns
// nil; or ctx's error if ctx ends first, or ErrStopped if stop closes
// first, having taken nothing. A nil Slots takes nothing and returns nil.
func (s *Slots) Acquire(ctx context.Context, stop <-chan struct{}) error {
	if s == nil {
		return nil
	}
	select {
	case s.ch <- struct{}{}:
		return nil
	default:
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrStopped
	}
}

// Release gives back a slot taken by Acquire. It reports false, and
// gives back nothing, if no slot was taken: the caller released more
// than it took.
func (s *Slots) Release() bool {
	if s == nil {
		return true
	}
	select {
	case <-s.ch:
		return true
	default:
		return false
	}
}

// InUse returns how many slots are taken now.
func (s *Slots) InUse() int {
	if s == nil {
		return 0
	}
	return len(s.ch)
}

// Waiting returns how many callers of Acquire are waiting for a slot now.
func (s *Slots) Waiting() int64 {
	if s == nil {
		return 0
	}
	return s.waiting.Load()
}

// Cap returns the number of slots, 0 for no limit.
func (s *Slots) Cap() int {
	if s == nil {
		return 0
	}
	return cap(s.ch)
}

// Bucket bounds a provider's total output to a rate in tokens per second,
// over every stream: a stream reserves a chunk's tokens (Take) and waits
// the time it is given before emitting the chunk.
//
// Note: the bucket holds one chunk (a GCRA without burst): a chunk may be
// emitted once the tokens reserved before it have been paid for at the
// rate, so over any interval the provider emits at most the rate's tokens
// plus one chunk, and a provider that was idle emits its next chunk at
// once. Reservations are served in the order they were taken, which is
// what a provider's queue of generation requests does.
type Bucket struct {
	nsPerToken float64
	base       time.Time
	mu         sync.Mutex
	tat        int64 // when the reservations so far are paid for, ns since base
}

// NewBucket returns a bucket of tokensPerS, or nil (no bound) when it is
// not positive.
func NewBucket(tokensPerS float64) *Bucket {
	if !(tokensPerS > 0) {
		return nil
	}
	return &Bucket{nsPerToken: 1e9 / tokensPerS, base: time.Now()}
}

// Reservation is one Take, for Refund.
type Reservation struct {
	cost, end int64
}

// Take reserves n tokens and returns how long to wait before emitting
// them (0: at once) and the reservation, for Refund. A nil Bucket reserves
// nothing and returns 0.
func (b *Bucket) Take(n int64) (wait time.Duration, r Reservation) {
	if b == nil || n <= 0 {
		return 0, Reservation{}
	}
	cost := int64(float64(n)*b.nsPerToken + 0.5)
	now := int64(time.Since(b.base))
	b.mu.Lock()
	start := max(b.tat, now)
	b.tat = start + cost
	b.mu.Unlock()
	return time.Duration(start - now), Reservation{cost: cost, end: start + cost}
}

// Refund gives back a reservation whose chunk was never emitted (its
// wait was cancelled), if no reservation was taken after it; otherwise
// the later ones keep their place and the tokens stay spent, which
// errs on the side of a slower provider.
func (b *Bucket) Refund(r Reservation) {
	if b == nil || r.cost == 0 {
		return
	}
	b.mu.Lock()
	if b.tat == r.end {
		b.tat -= r.cost
	}
	b.mu.Unlock()
}

// Wait reserves n tokens and waits until they may be emitted, on timer
// (which it resets; nil makes one), or until ctx ends or stop closes: then
// it refunds the reservation and returns ctx's error or ErrStopped.
func (b *Bucket) Wait(ctx context.Context, stop <-chan struct{}, timer **time.Timer, n int64) error {
	wait, r := b.Take(n)
	if wait <= 0 {
		return nil
	}
	if *timer == nil {
		*timer = time.NewTimer(wait)
	} else {
		(*timer).Reset(wait)
	}
	select {
	case <-(*timer).C:
		return nil
	case <-ctx.Done():
		(*timer).Stop()
		b.Refund(r)
		return ctx.Err()
	case <-stop:
		(*timer).Stop()
		b.Refund(r)
		return ErrStopped
	}
}

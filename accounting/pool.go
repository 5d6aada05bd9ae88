package accounting

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// PoolConfig configures NewPool.
type PoolConfig struct {
	// Conns is the number of connections; NewPool raises it to 1.
	Conns int
	// Persist returns how long the Persist call of request id holds its
	// connection, and Charge how long charge n (from 0) of an account
	// holds its connection; nil holds it for no time. The scenario's
	// ledger section draws them (scenarios.Scenario.LedgerPersist and
	// LedgerCharge).
	Persist func(id uint64) time.Duration
	Charge  func(n uint64) time.Duration
}

// Pool is a Ledger's connection pool: a call waits for one of Conns
// connections, first come first served, then holds it for the duration
// its PoolConfig draws, so that whoever calls the ledger waits where its
// own code calls it. It keeps what the calls waited and how long every
// connection was busy. It is safe for concurrent use.
type Pool struct {
	cfg PoolConfig
	// conns holds a token per connection in use: a send takes one, and
	// waits, in the order the callers came, while every one is taken.
	conns chan struct{}
	// book guards the fields below it.
	//
	// Note: a channel, not a sync.Mutex: a goroutine waiting for it (or
	// for a connection) is parked on a channel, which the runtime's
	// /sync/mutex/wait metric does not count, so the pool's bookkeeping
	// stays out of the mutex wait the records charge to the design under
	// test (mutex_wait_ns_per_chunk) but for the channel's own brief
	// internal lock.
	book              chan struct{}
	inUse, peak       int
	persists, charges int64
	queued, aborted   int64
	waited, held      time.Duration
	saturated         time.Duration // while every connection was busy, up to satSince
	satSince          time.Time     // when every connection last became busy
	wait              *hdr.Histogram

	// inFlight counts the calls waiting for or holding a connection.
	inFlight atomic.Int64
}

// poolWaitHighest is the longest wait the pool's histogram records
// exactly (one hour); longer ones are clamped to it.
const poolWaitHighest = int64(3600e9)

// NewPool returns a pool of cfg.Conns connections (at least one).
func NewPool(cfg PoolConfig) *Pool {
	cfg.Conns = max(cfg.Conns, 1)
	return &Pool{
		cfg:   cfg,
		conns: make(chan struct{}, cfg.Conns),
		book:  make(chan struct{}, 1),
		wait:  hdr.New(1, poolWaitHighest, 3),
	}
}

// PoolFor returns the pool sc's ledger section describes, its durations
// drawn from sc, or nil for a scenario without one (a ledger that costs
// nothing). Both measuring modes build their ledgers' pools with it.
func PoolFor(sc *scenarios.Scenario) *Pool {
	l := sc.Ledger
	if l == nil {
		return nil
	}
	return NewPool(PoolConfig{Conns: l.Pool, Persist: sc.LedgerPersist, Charge: sc.LedgerCharge})
}

func (p *Pool) lock()   { p.book <- struct{}{} }
func (p *Pool) unlock() { <-p.book }

// persist runs the Persist call of request id.
func (p *Pool) persist(ctx context.Context, id uint64) error {
	var d time.Duration
	if p.cfg.Persist != nil {
		d = p.cfg.Persist(id)
	}
	if err := p.call(ctx, d, &p.persists); err != nil {
		return fmt.Errorf("ledger: persist record %d: %w", id, err)
	}
	return nil
}

// charge runs charge n of an account.
func (p *Pool) charge(ctx context.Context, account string, n uint64) error {
	var d time.Duration
	if p.cfg.Charge != nil {
		d = p.cfg.Charge(n)
	}
	if err := p.call(ctx, d, &p.charges); err != nil {
		return fmt.Errorf("ledger: charge %d of account %q: %w", n, account, err)
	}
	return nil
}

// call waits for a connection, holds it for d and counts the call in
// *done (under book) if ctx did not end first.
func (p *Pool) call(ctx context.Context, d time.Duration, done *int64) error {
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	start := time.Now()
	select {
	case p.conns <- struct{}{}:
	default:
		p.lock()
		p.queued++
		p.unlock()
		select {
		case p.conns <- struct{}{}:
		case <-ctx.Done():
			p.lock()
			p.aborted++
			p.unlock()
			return ctx.Err()
		}
	}
	got := time.Now()
	waited := got.Sub(start)
	p.lock()
	p.inUse++
	p.peak = max(p.peak, p.inUse)
	if p.inUse == p.cfg.Conns {
		p.satSince = got
	}
	p.waited += waited
	_ = p.wait.RecordValue(min(int64(waited), poolWaitHighest))
	p.unlock()

	var err error
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
		}
	}

	end := time.Now()
	p.lock()
	if p.inUse == p.cfg.Conns {
		p.saturated += end.Sub(p.satSince)
	}
	p.inUse--
	p.held += end.Sub(got)
	if err == nil {
		*done++
	} else {
		p.aborted++
	}
	p.unlock()
	<-p.conns // Note: released after the bookkeeping, so inUse never passes Conns.
	return err
}

// Saturated returns how long every connection has been busy at once, in
// all, up to now: read at both ends of a window, it gives the share of
// the window the pool was saturated.
func (p *Pool) Saturated() time.Duration {
	p.lock()
	defer p.unlock()
	return p.saturatedLocked(time.Now())
}

func (p *Pool) saturatedLocked(now time.Time) time.Duration {
	s := p.saturated
	if p.inUse == p.cfg.Conns {
		s += now.Sub(p.satSince)
	}
	return s
}

// PoolStats are what a Pool's calls did so far.
type PoolStats struct {
	// Conns is the pool's size.
	Conns int `json:"conns"`
	// Persists and Charges count the calls that ran to their end.
	Persists int64 `json:"persists"`
	Charges  int64 `json:"charges"`
	// Queued counts the calls that found every connection busy and
	// waited (or wait still); Aborted those whose context ended before
	// they were done.
	Queued  int64 `json:"queued"`
	Aborted int64 `json:"aborted"`
	// InFlight counts the calls waiting for or holding a connection now.
	InFlight int64 `json:"in_flight"`
	// WaitedNS is the calls' time waiting for a connection, in all, and
	// Wait its distribution per call that got one (zero waits included);
	// HeldNS is the time connections were held, in all.
	WaitedNS int64              `json:"waited_ns"`
	Wait     result.Percentiles `json:"wait_ns"`
	HeldNS   int64              `json:"held_ns"`
	// InUsePeak is the most connections in use at once.
	InUsePeak int `json:"in_use_peak"`
	// SaturatedNS is how long every connection was busy at once, in all.
	SaturatedNS int64 `json:"saturated_ns"`
}

// Stats returns what the pool's calls did so far.
func (p *Pool) Stats() PoolStats {
	p.lock()
	defer p.unlock()
	return PoolStats{
		Conns:       p.cfg.Conns,
		Persists:    p.persists,
		Charges:     p.charges,
		Queued:      p.queued,
		Aborted:     p.aborted,
		InFlight:    p.inFlight.Load(),
		WaitedNS:    int64(p.waited),
		Wait:        result.Summarize(p.wait),
		HeldNS:      int64(p.held),
		InUsePeak:   p.peak,
		SaturatedNS: int64(p.saturatedLocked(time.Now())),
	}
}

package accounting

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/scenarios"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// callAt starts call on a goroutine and waits until it has blocked (on a
// connection or on its hold), so that calls reach the pool in the order
// they are started. It returns a channel that yields when the call
// returned, on the bubble's fake clock, and its error.
func callAt(t0 time.Time, call func() error) <-chan ended {
	out := make(chan ended, 1)
	go func() {
		err := call()
		out <- ended{time.Since(t0), err}
	}()
	synctest.Wait()
	return out
}

type ended struct {
	at  time.Duration
	err error
}

// TestPoolQueues: with N connections the first N calls start at once and
// the rest wait, first come first served; the waits, the holds, the peak
// and the time every connection was busy are what the schedule says.
func TestPoolQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hold = 10 * time.Millisecond
		p := NewPool(PoolConfig{Conns: 2, Persist: func(uint64) time.Duration { return hold }})
		l := &Ledger{Pool: p}
		t0 := time.Now()
		var calls []<-chan ended
		for i := range 5 {
			calls = append(calls, callAt(t0, func() error {
				return l.Persist(context.Background(), impls.Record{RequestID: uint64(i), Account: "a", Tokens: 1})
			}))
		}
		if s := p.Stats(); s.InFlight != 5 || s.Queued != 3 || s.Persists != 0 {
			t.Errorf("before any hold ended: %+v, want 5 in flight, 3 of them queued, nothing done", s)
		}
		// Calls 0 and 1 hold from 0 to 10 ms, 2 and 3 from 10 to 20,
		// 4 from 20 to 30.
		want := []time.Duration{hold, hold, 2 * hold, 2 * hold, 3 * hold}
		for i, c := range calls {
			if e := <-c; e.err != nil || e.at != want[i] {
				t.Errorf("call %d returned at %v (err %v), want %v", i, e.at, e.err, want[i])
			}
		}
		s := p.Stats()
		want2 := PoolStats{Conns: 2, Persists: 5, Queued: 3, WaitedNS: int64(4 * hold), HeldNS: int64(5 * hold),
			InUsePeak: 2, SaturatedNS: int64(2 * hold)}
		wait := s.Wait
		s.Wait = want2.Wait
		if s != want2 {
			t.Errorf("stats %+v, want %+v", s, want2)
		}
		// The histogram keeps three significant digits.
		near := func(got int64, want time.Duration) bool { return got >= int64(want) && got <= int64(want)*1001/1000 }
		if wait.Count != 5 || !near(wait.Max, 2*hold) || !near(wait.P50, hold) {
			t.Errorf("wait distribution %+v, want 5 calls, median 10ms, max 20ms", wait)
		}
		if got := l.Totals(); got.Records != s.Persists {
			t.Errorf("ledger records %d, pool persists %d: a call counted once it returns", got.Records, s.Persists)
		}
	})
}

// TestPoolSaturatedMidway: Saturated counts a busy spell still going on.
func TestPoolSaturatedMidway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPool(PoolConfig{Conns: 1, Charge: func(uint64) time.Duration { return time.Second }})
		l := &Ledger{Pool: p}
		done := callAt(time.Now(), func() error { return l.Charge(context.Background(), "a", 1) })
		time.Sleep(300 * time.Millisecond)
		if got := p.Saturated(); got != 300*time.Millisecond {
			t.Errorf("Saturated mid-call = %v, want 300ms", got)
		}
		<-done
		time.Sleep(time.Second)
		if got := p.Saturated(); got != time.Second {
			t.Errorf("Saturated after the call = %v, want 1s", got)
		}
	})
}

// TestPoolDrawsPerCall: a Persist holds for its request's duration and a
// Charge for its place among its account's charges, whatever order the
// accounts' charges interleave in.
func TestPoolDrawsPerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var persisted, charged []uint64
		p := NewPool(PoolConfig{
			Conns: 4,
			Persist: func(id uint64) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				persisted = append(persisted, id)
				return time.Duration(id) * time.Millisecond
			},
			Charge: func(n uint64) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				charged = append(charged, n)
				return time.Duration(n+1) * time.Second
			},
		})
		l := &Ledger{Pool: p}
		ctx := context.Background()
		for _, id := range []uint64{7, 3} {
			t0 := time.Now()
			if err := l.Persist(ctx, impls.Record{RequestID: id, Account: "a"}); err != nil || time.Since(t0) != time.Duration(id)*time.Millisecond {
				t.Errorf("persist %d took %v (err %v), want %d ms", id, time.Since(t0), err, id)
			}
		}
		for i, acct := range []string{"a", "b", "a", "b", "b"} {
			t0 := time.Now()
			want := []time.Duration{1, 1, 2, 2, 3}[i] * time.Second
			if err := l.Charge(ctx, acct, 1); err != nil || time.Since(t0) != want {
				t.Errorf("charge %d (account %s) took %v (err %v), want %v", i, acct, time.Since(t0), err, want)
			}
		}
		if !slices.Equal(persisted, []uint64{7, 3}) || !slices.Equal(charged, []uint64{0, 0, 1, 1, 2}) {
			t.Errorf("draw keys: persists %v, charges %v", persisted, charged)
		}
		if s := p.Stats(); s.Queued != 0 || s.WaitedNS != 0 || s.SaturatedNS != 0 || s.InUsePeak != 1 {
			t.Errorf("one call at a time on 4 connections: %+v", s)
		}
	})
}

// TestPoolContextEnds: a call whose context ends while it waits for a
// connection, or while it holds one, returns the context's error and
// counts no record, and the connection is free again.
func TestPoolContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPool(PoolConfig{Conns: 1, Persist: func(uint64) time.Duration { return time.Second }})
		l := &Ledger{Pool: p}
		t0 := time.Now()
		holder := callAt(t0, func() error { return l.Persist(context.Background(), impls.Record{RequestID: 1}) })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		waiter := callAt(t0, func() error { return l.Persist(ctx, impls.Record{RequestID: 2}) })
		if e := <-waiter; !errors.Is(e.err, context.DeadlineExceeded) || e.at != 100*time.Millisecond {
			t.Errorf("queued call ended at %v with %v, want the deadline at 100ms", e.at, e.err)
		}
		<-holder
		ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel2()
		if err := l.Persist(ctx2, impls.Record{RequestID: 3}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("held call: %v, want the deadline", err)
		}
		if got := l.Totals(); got.Records != 1 {
			t.Errorf("records %d, want 1: an aborted call persists nothing", got.Records)
		}
		if s := p.Stats(); s.Persists != 1 || s.Aborted != 2 || s.InFlight != 0 {
			t.Errorf("stats %+v, want 1 persist, 2 aborted, none in flight", s)
		}
		// The connection is free: a call now waits for nothing.
		t1 := time.Now()
		_ = l.Persist(context.Background(), impls.Record{RequestID: 4})
		if d := time.Since(t1); d != time.Second {
			t.Errorf("a call on the freed connection took %v, want its 1s hold", d)
		}
	})
}

// TestLedgerWithoutPoolCostsNothing: the ledger of a scenario without a
// ledger section takes no time and allocates nothing per call.
func TestLedgerWithoutPoolCostsNothing(t *testing.T) {
	l := &Ledger{}
	rec := impls.Record{RequestID: 5, Account: "a", Tokens: 3}
	ctx := context.Background()
	_ = l.Persist(ctx, rec)
	_ = l.Charge(ctx, "a", 3)
	if n := testing.AllocsPerRun(100, func() {
		_ = l.Persist(ctx, rec)
		_ = l.Charge(ctx, "a", 3)
	}); n != 0 {
		t.Errorf("a call allocates %v times", n)
	}
}

// TestPoolFor: a scenario's ledger section gives a pool of its size whose
// calls hold the scenario's draws; no section, no pool.
func TestPoolFor(t *testing.T) {
	sc := scenarios.Default()
	if p := PoolFor(sc); p != nil {
		t.Fatalf("no ledger section: pool %v", p)
	}
	sc.Seed, sc.TimeScale = 3, 0.1
	sc.Ledger = &scenarios.Ledger{Persist: scenarios.UniformOf(time.Second, 2*time.Second), Charge: scenarios.ConstOf(time.Second), Pool: 2}
	synctest.Test(t, func(t *testing.T) {
		l := &Ledger{Pool: PoolFor(sc)}
		t0 := time.Now()
		_ = l.Persist(context.Background(), impls.Record{RequestID: 42})
		if got, want := time.Since(t0), sc.LedgerPersist(42); got != want || want < 100*time.Millisecond {
			t.Errorf("persist of request 42 held %v, want the scenario's scaled draw %v", got, want)
		}
		t0 = time.Now()
		_ = l.Charge(context.Background(), "a", 1)
		if got := time.Since(t0); got != 100*time.Millisecond {
			t.Errorf("charge held %v, want 1s scaled by 0.1", got)
		}
		if s := l.Pool.Stats(); s.Conns != 2 {
			t.Errorf("pool of %d connections, want 2", s.Conns)
		}
	})
}

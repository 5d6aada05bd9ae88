package upstream

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSlotsBound: on a fake clock, streams that each hold a slot for
// 10 ms never exceed the slots, wait in the order they came, and every
// slot taken is given back.
func TestSlotsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewSlots(2)
		var mu sync.Mutex
		inUse, peak := 0, 0
		got := make([]time.Duration, 6) // when each stream got its slot
		begin := time.Now()
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if err := s.Acquire(context.Background(), nil); err != nil {
					t.Errorf("stream %d: %v", i, err)
					return
				}
				mu.Lock()
				inUse++
				peak = max(peak, inUse)
				got[i] = time.Since(begin)
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
				mu.Lock()
				inUse--
				mu.Unlock()
				if !s.Release() {
					t.Errorf("stream %d: Release found no slot taken", i)
				}
			})
			synctest.Wait() // stream i is running or queued before i+1 comes
		}
		if s.InUse() != 2 || s.Waiting() != 4 {
			t.Errorf("six streams on two slots: %d in use, %d waiting; want 2 and 4", s.InUse(), s.Waiting())
		}
		start := time.Now()
		wg.Wait()
		if peak != 2 {
			t.Errorf("%d streams held a slot at once, want 2", peak)
		}
		// Streams 0 and 1 run at once; 2 and 3 after 10 ms, 4 and 5 after 20.
		if got := time.Since(start); got != 30*time.Millisecond {
			t.Errorf("six 10 ms streams on two slots took %v, want 30ms", got)
		}
		// Note: the order is checked by when each stream got its slot,
		// not by the order streams that got theirs at the same instant
		// took a lock afterwards (which is the scheduler's).
		for i, d := range got {
			if want := time.Duration(i/2) * 10 * time.Millisecond; d != want {
				t.Errorf("stream %d got its slot at %v, want %v (arrival order, two at a time)", i, d, want)
			}
		}
		if s.InUse() != 0 || s.Cap() != 2 || s.Waiting() != 0 {
			t.Errorf("InUse %d, Cap %d, Waiting %d after every stream ended, want 0, 2 and 0", s.InUse(), s.Cap(), s.Waiting())
		}
	})
}

// TestSlotsGiveUp: a wait for a slot ends with the context or the stop
// channel, and takes nothing.
func TestSlotsGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewSlots(1)
		if err := s.Acquire(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if err := s.Acquire(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Acquire with every slot taken and a 5 ms deadline: %v, want the deadline", err)
		}
		stop := make(chan struct{})
		time.AfterFunc(time.Millisecond, func() { close(stop) })
		if err := s.Acquire(context.Background(), stop); err != ErrStopped {
			t.Errorf("Acquire stopped: %v, want ErrStopped", err)
		}
		if s.InUse() != 1 || s.Waiting() != 0 {
			t.Errorf("%d slots taken and %d waiting, want 1 and 0: a wait given up took one or still counts", s.InUse(), s.Waiting())
		}
		if s.TryAcquire() {
			t.Errorf("TryAcquire took a slot though every one was taken")
		}
		if !s.Release() || s.Release() {
			t.Errorf("Release: want true for the slot taken, then false")
		}
		if !s.TryAcquire() || s.InUse() != 1 {
			t.Errorf("TryAcquire did not take the free slot")
		}
	})
}

// TestNilLimitsAreFree: a scenario without limits gets nil Slots and a
// nil Bucket, which take and wait for nothing.
func TestNilLimitsAreFree(t *testing.T) {
	s, b := NewSlots(0), NewBucket(0)
	if s != nil || b != nil {
		t.Fatalf("NewSlots(0), NewBucket(0) = %v, %v; want nil", s, b)
	}
	if err := s.Acquire(context.Background(), nil); err != nil || !s.TryAcquire() || !s.Release() || s.InUse() != 0 || s.Cap() != 0 || s.Waiting() != 0 {
		t.Errorf("nil Slots is not a no-op")
	}
	var timer *time.Timer
	if err := b.Wait(context.Background(), nil, &timer, 100); err != nil || timer != nil {
		t.Errorf("nil Bucket waited: %v", err)
	}
}

// TestBucketRate: on a fake clock, four streams emitting 4-token chunks
// through a 100 token/s bucket emit one chunk every 40 ms between them,
// the first at once.
func TestBucketRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBucket(100)
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				var timer *time.Timer
				for range 10 {
					if err := b.Wait(context.Background(), nil, &timer, 4); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					at = append(at, time.Since(start))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		sort.Slice(at, func(i, j int) bool { return at[i] < at[j] })
		for i, d := range at {
			if want := time.Duration(i) * 40 * time.Millisecond; d != want {
				t.Fatalf("chunk %d emitted at %v, want %v (4 tokens at 100/s each)", i, d, want)
			}
		}
		// Idle for a while: the next chunk goes at once, and only one
		// chunk's worth is free (the bucket holds one chunk).
		time.Sleep(time.Second)
		if w, _ := b.Take(4); w != 0 {
			t.Errorf("after an idle second a chunk waits %v, want 0", w)
		}
		if w, _ := b.Take(4); w != 40*time.Millisecond {
			t.Errorf("the second chunk after idling waits %v, want 40ms", w)
		}
	})
}

// TestBucketRefund: a chunk whose wait is cancelled gives its tokens back
// when it was the last reservation, so a cancelled stream does not slow
// the others.
func TestBucketRefund(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBucket(1000) // 1 ms a token
		b.Take(10)           // at once; paid for at 10 ms
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(2*time.Millisecond, cancel)
		var timer *time.Timer
		if err := b.Wait(ctx, nil, &timer, 10); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait cancelled: %v", err)
		}
		// 2 ms in, the first reservation is paid for at 10 ms: the next
		// waits 8 ms, not 18.
		if w, _ := b.Take(1); w != 8*time.Millisecond {
			t.Errorf("after a refund the next chunk waits %v, want 8ms", w)
		}
		// A refund behind a later reservation gives nothing back.
		_, r := b.Take(5)
		b.Take(5)
		b.Refund(r)
		if w, _ := b.Take(1); w != 19*time.Millisecond {
			t.Errorf("after a refund behind a later reservation the next waits %v, want 19ms", w)
		}
	})
}

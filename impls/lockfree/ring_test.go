package lockfree

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestRingSequential(t *testing.T) {
	for _, capacity := range []int{1, 3, 8} {
		q := newRing[int](capacity)
		for lap := range 3 {
			for i := range capacity {
				if !q.tryPush(lap*100 + i) {
					t.Fatalf("cap %d: push %d refused", capacity, i)
				}
			}
			if q.tryPush(-1) || q.len() != capacity {
				t.Fatalf("cap %d: full ring accepted a push or has len %d", capacity, q.len())
			}
			for i := range capacity {
				if v, ok := q.tryPop(); !ok || v != lap*100+i {
					t.Fatalf("cap %d: pop = %d, %v; want %d", capacity, v, ok, lap*100+i)
				}
			}
			if _, ok := q.tryPop(); ok || q.len() != 0 {
				t.Fatalf("cap %d: empty ring popped or has len %d", capacity, q.len())
			}
		}
	}
}

// TestRingMPMC checks that every item pushed by many producers comes out
// exactly once across many consumers, with a ring small enough that both
// sides park constantly. It runs in a synctest bubble, so a lost wake-up
// (everyone parked with items or room available) fails as a deadlock
// instead of hanging.
func TestRingMPMC(t *testing.T) {
	for _, capacity := range []int{1, 2, 7} {
		t.Run("", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const producers, consumers, each = 4, 4, 2000
				q := newRing[int](capacity)
				seen := make([]atomic.Int32, producers*each)
				var taken atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for p := range producers {
					wg.Go(func() {
						for i := range each {
							if q.pushWait(p*each+i, nil, nil) != waitOK {
								t.Error("pushWait failed without stop or expiry")
							}
						}
					})
				}
				for range consumers {
					wg.Go(func() {
						last := make([]int, producers) // per-producer order must hold.
						for i := range last {
							last[i] = -1
						}
						for {
							v, ok := q.pop(stop, nil)
							if !ok {
								return
							}
							seen[v].Add(1)
							if p, i := v/each, v%each; i <= last[p] {
								t.Errorf("item %d of producer %d after item %d", i, p, last[p])
							} else {
								last[p] = i
							}
							if taken.Add(1) == producers*each {
								close(stop)
							}
						}
					})
				}
				wg.Wait()
				for v := range seen {
					if n := seen[v].Load(); n != 1 {
						t.Fatalf("item %d came out %d times", v, n)
					}
				}
			})
		})
	}
}

// TestRingDropOldest pushes from one side while both the pusher (dropping
// the oldest when full, as DropOldest does) and a consumer pop: every item
// is either consumed or dropped, exactly once.
func TestRingDropOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const total = 20000
		q := newRing[int](4)
		seen := make([]atomic.Int32, total)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				v, ok := q.pop(stop, nil)
				if !ok {
					return
				}
				seen[v].Add(1)
			}
		})
		for i := range total {
			for !q.tryPush(i) {
				if v, ok := q.tryPop(); ok {
					seen[v].Add(1)
				}
			}
		}
		for q.len() > 0 {
			if v, ok := q.tryPop(); ok {
				seen[v].Add(1)
			}
		}
		close(stop)
		wg.Wait()
		for v := range seen {
			if n := seen[v].Load(); n != 1 {
				t.Fatalf("item %d seen %d times", v, n)
			}
		}
	})
}

func TestRingWaitsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newRing[int](1)
		q.tryPush(1)
		stop := make(chan struct{})
		expire := make(chan time.Time)
		results := make(chan waitResult, 2)
		go func() { results <- q.pushWait(2, stop, nil) }()
		go func() { results <- q.pushWait(3, nil, expire) }()
		synctest.Wait()
		close(stop)
		if r := <-results; r != waitStopped {
			t.Errorf("pushWait = %v after stop", r)
		}
		close(expire)
		if r := <-results; r != waitExpired {
			t.Errorf("pushWait = %v after expiry", r)
		}
		gone := make(chan struct{})
		q.tryPop()
		go func() { close(gone) }()
		if _, ok := q.pop(nil, gone); ok {
			t.Error("pop from an empty ring returned a value after gone")
		}
	})
}

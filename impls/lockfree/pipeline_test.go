package lockfree

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/internal/backoff"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testReq = impls.Request{ID: 42, Account: "acct-1"}

// eachVariant runs f for every queue kind and strategy, on options derived
// from DefaultOptions by tweak.
func eachVariant(t *testing.T, tweak func(*Options), f func(t *testing.T, opts Options)) {
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		for _, s := range []Strategy{Adaptive, DropOldest, Reject, Block} {
			opts := DefaultOptions()
			opts.Queue, opts.Backpressure = q, s
			if tweak != nil {
				tweak(&opts)
			}
			if err := opts.Validate(); err != nil {
				t.Fatal(err)
			}
			t.Run("queue="+q.String()+"/backpressure="+s.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { f(t, opts) })
			})
		}
	}
}

func relay(opts Options, req impls.Request, src *fakeSource, dst *fakeSink) (impls.Outcome, *fakeLedger) {
	l := newLedger()
	return New(opts, l).Relay(context.Background(), req, src, dst), l
}

func TestRelayInOrder(t *testing.T) {
	const n = 50 // below BufferLimit, so no strategy may lose a chunk.
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src, dst := newSource(n), newSink()
		out, l := relay(opts, testReq, src, dst)
		if out.Err != nil {
			t.Fatalf("Err = %v", out.Err)
		}
		want := make([]impls.Chunk, n)
		ref := newSource(n)
		for i := range want {
			want[i], _ = ref.Next(context.Background())
		}
		if diff := cmp.Diff(want, dst.got); diff != "" {
			t.Errorf("client received (-want +got):\n%s", diff)
		}
		rec := checkAccounting(t, testReq, out, src, dst, l)
		if rec.FinishReason != "stop" || rec.Usage == nil || rec.Usage.CompletionTokens != rec.Tokens {
			t.Errorf("record finish %q usage %+v tokens %d", rec.FinishReason, rec.Usage, rec.Tokens)
		}
		if out.Dropped+out.Rejected+out.Discarded != 0 || out.QueuePeak > int64(opts.BufferLimit) {
			t.Errorf("outcome %+v", out)
		}
	})
}

func TestFirstChunk(t *testing.T) {
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src, dst := newSource(3), newSink()
		src.delay = 7 * time.Millisecond
		out, l := relay(opts, testReq, src, dst)
		rec := checkAccounting(t, testReq, out, src, dst, l)
		if rec.FirstChunk != src.delay {
			t.Errorf("FirstChunk = %v, want %v", rec.FirstChunk, src.delay)
		}
	})
}

func TestDisconnect(t *testing.T) {
	const after = 10
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src, dst := newSource(-1), newSink()
		src.delay = time.Millisecond
		dst.goneAfter = after
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) {
			t.Errorf("Err = %v, want ErrCancelled", out.Err)
		}
		if len(dst.got) != after {
			t.Errorf("client got %d chunks, want %d", len(dst.got), after)
		}
		// The provider was told at once: its Next returned the context
		// error at the very instant the client left, having produced at
		// most a queue's worth beyond what was delivered.
		if src.ctxErrors != 1 || !src.stoppedAt.Equal(dst.goneAt) {
			t.Errorf("provider saw %d context errors, stopped at %v, client left at %v",
				src.ctxErrors, src.stoppedAt, dst.goneAt)
		}
		if extra := src.produced - after; extra > 2 {
			t.Errorf("provider produced %d chunks past the disconnect", extra)
		}
		rec := checkAccounting(t, testReq, out, src, dst, l)
		if !rec.Partial || rec.FinishReason != "" {
			t.Errorf("record partial %v finish %q", rec.Partial, rec.FinishReason)
		}
	})
}

func TestDisconnectWithFullQueue(t *testing.T) {
	// A fast provider and a slow client: the queue is full when the
	// client leaves, and all of it is discarded, not delivered or billed.
	const after = 5
	eachVariant(t, func(o *Options) { o.BufferLimit, o.HighWaterMark = 8, 8 }, func(t *testing.T, opts Options) {
		src, dst := newSource(-1), newSink()
		// Note: an endless provider needs some delay, or under drop-oldest
		// and reject it never blocks and the fake clock never advances.
		src.delay = 100 * time.Microsecond
		dst.delay = 10 * time.Millisecond
		dst.goneAfter = after
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) || len(dst.got) != after {
			t.Errorf("Err = %v, client got %d chunks", out.Err, len(dst.got))
		}
		if out.QueuePeak > int64(opts.BufferLimit) {
			t.Errorf("QueuePeak %d > BufferLimit %d", out.QueuePeak, opts.BufferLimit)
		}
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestCallerCancel(t *testing.T) {
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src, dst := newSource(-1), newSink()
		src.delay = time.Millisecond
		dst.onWrite = func(n int) {
			if n == 5 {
				cancel()
			}
		}
		l := newLedger()
		out := New(opts, l).Relay(ctx, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) || !errors.Is(out.Err, context.Canceled) {
			t.Errorf("Err = %v, want ErrCancelled and context.Canceled", out.Err)
		}
		if len(dst.got) != 5 {
			t.Errorf("client got %d chunks, want 5", len(dst.got))
		}
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestSlowClient(t *testing.T) {
	const n = 300
	small := func(o *Options) {
		o.BufferLimit, o.HighWaterMark = 16, 12
		o.BlockTimeout = time.Second // far longer than one write: never expires.
	}
	eachVariant(t, small, func(t *testing.T, opts Options) {
		src, dst := newSource(n), newSink()
		dst.delay = time.Millisecond
		out, l := relay(opts, testReq, src, dst)
		if out.Err != nil {
			t.Fatalf("Err = %v", out.Err)
		}
		rec := checkAccounting(t, testReq, out, src, dst, l)
		if out.QueuePeak > int64(opts.BufferLimit) {
			t.Errorf("QueuePeak %d > BufferLimit %d", out.QueuePeak, opts.BufferLimit)
		}
		switch opts.Backpressure {
		case Adaptive, Block:
			if out.Delivered != n || out.Dropped+out.Rejected+out.Discarded != 0 {
				t.Errorf("lossless strategy lost chunks: %+v", out)
			}
		case DropOldest:
			if out.Dropped == 0 || out.Rejected != 0 || out.Delivered+out.Dropped != n {
				t.Errorf("drop-oldest: %+v", out)
			}
			// The newest chunk always survives, the finish reason with it.
			if rec.FinishReason != "stop" {
				t.Errorf("finish reason %q", rec.FinishReason)
			}
		case Reject:
			if out.Rejected == 0 || out.Dropped != 0 || out.Delivered+out.Rejected != n {
				t.Errorf("reject: %+v", out)
			}
			// The oldest chunks always survive.
			if dst.got[0].Seq != 0 {
				t.Errorf("first delivered chunk is %d", dst.got[0].Seq)
			}
		}
		if opts.Backpressure != Adaptive && out.QueuePeak != int64(opts.BufferLimit) {
			t.Errorf("QueuePeak %d, want the full buffer %d", out.QueuePeak, opts.BufferLimit)
		}
	})
}

func TestAdaptiveSlowsProducer(t *testing.T) {
	// With a client slower than the provider, the adaptive delay holds the
	// queue at the high-water mark plus the one chunk pushed after each
	// delay, well below the buffer limit that the other strategies fill.
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		t.Run("queue="+q.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := DefaultOptions()
				opts.Queue, opts.BufferLimit, opts.HighWaterMark = q, 16, 4
				opts.Formula, opts.InitialDelay, opts.MaxDelay = backoff.Params, 10*time.Millisecond, 10*time.Millisecond
				src, dst := newSource(100), newSink()
				dst.delay = 5 * time.Millisecond
				out, l := relay(opts, testReq, src, dst)
				checkAccounting(t, testReq, out, src, dst, l)
				if out.Err != nil || out.Delivered != 100 {
					t.Fatalf("outcome %+v", out)
				}
				if out.QueuePeak > int64(opts.HighWaterMark)+1 {
					t.Errorf("QueuePeak %d, want at most %d", out.QueuePeak, opts.HighWaterMark+1)
				}
			})
		})
	}
}

func TestBlockTimeout(t *testing.T) {
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		t.Run("queue="+q.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := DefaultOptions()
				opts.Queue, opts.Backpressure = q, Block
				opts.BufferLimit, opts.HighWaterMark, opts.BlockTimeout = 4, 4, 10*time.Millisecond
				src, dst := newSource(100), newSink()
				dst.delay = 50 * time.Millisecond
				out, l := relay(opts, testReq, src, dst)
				if !errors.Is(out.Err, impls.ErrRejected) || errors.Is(out.Err, impls.ErrCancelled) {
					t.Errorf("Err = %v, want ErrRejected only", out.Err)
				}
				// The first chunk was in the client's hands when the sixth
				// timed out; the four queued ones are discarded.
				want := impls.Outcome{Err: out.Err, Delivered: 1, Rejected: 1, Discarded: 4, QueuePeak: 4}
				if out != want {
					t.Errorf("outcome %+v, want %+v", out, want)
				}
				if rec := checkAccounting(t, testReq, out, src, dst, l); !rec.Partial {
					t.Error("record not partial")
				}
			})
		})
	}
}

func TestProviderError(t *testing.T) {
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src, dst := newSource(20), newSink()
		src.failAt = 6
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrProviderFailed) || !errors.Is(out.Err, errProvider) {
			t.Errorf("Err = %v, want ErrProviderFailed wrapping the provider's error", out.Err)
		}
		if len(dst.got) != 6 {
			t.Errorf("client got %d chunks, want the 6 before the failure", len(dst.got))
		}
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestWriteError(t *testing.T) {
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src, dst := newSource(20), newSink()
		dst.failAt = 3
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) || !errors.Is(out.Err, errWrite) {
			t.Errorf("Err = %v", out.Err)
		}
		// The failed chunk was accumulated but not delivered: it is in
		// neither the record nor the bill (checkAccounting).
		if len(dst.got) != 3 || out.Discarded == 0 {
			t.Errorf("client got %d, discarded %d", len(dst.got), out.Discarded)
		}
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestContentCap(t *testing.T) {
	// Every chunk is 5 bytes ("c000|").
	tests := []struct {
		name             string
		optCap, reqCap   int64
		chunks, wantSent int
		wantErr          bool
	}{
		{"options cap", 17, 0, 10, 3, true},
		{"request cap", 0, 12, 10, 2, true},
		{"smaller of both", 30, 11, 10, 2, true},
		{"smaller of both, options", 11, 30, 10, 2, true},
		{"exact fit", 50, 0, 10, 10, false},
		{"no cap", 0, 0, 10, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachVariant(t, func(o *Options) { o.ContentCap = tt.optCap }, func(t *testing.T, opts Options) {
				req := testReq
				req.Limits.ContentCap = tt.reqCap
				src, dst := newSource(tt.chunks), newSink()
				out, l := relay(opts, req, src, dst)
				if got := errors.Is(out.Err, impls.ErrContentTooLarge); got != tt.wantErr {
					t.Errorf("Err = %v, want ErrContentTooLarge: %v", out.Err, tt.wantErr)
				}
				if len(dst.got) != tt.wantSent {
					t.Errorf("client got %d chunks, want %d", len(dst.got), tt.wantSent)
				}
				if tt.wantErr && out.Discarded == 0 {
					t.Error("the refused chunk was not counted Discarded")
				}
				checkAccounting(t, req, out, src, dst, l)
			})
		})
	}
}

func TestConcurrentRelays(t *testing.T) {
	// One Pipeline shared by many requests: each gets its own record.
	for _, q := range []QueueKind{QueueChan, QueueRing} {
		t.Run("queue="+q.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := DefaultOptions()
				opts.Queue = q
				l := newLedger()
				p := New(opts, l)
				const streams, n = 16, 200
				done := make(chan impls.Outcome, streams)
				for i := range streams {
					go func() {
						req := impls.Request{ID: uint64(i), Account: "shared"}
						done <- p.Relay(context.Background(), req, newSource(n), newSink())
					}()
				}
				for range streams {
					if out := <-done; out.Err != nil || out.Delivered != n {
						t.Errorf("outcome %+v", out)
					}
				}
				seen := map[uint64]bool{}
				for _, rec := range l.records {
					if seen[rec.RequestID] || len(rec.Content) != 5*n {
						t.Errorf("record %d twice or with %d bytes", rec.RequestID, len(rec.Content))
					}
					seen[rec.RequestID] = true
				}
				if len(seen) != streams || l.charges["shared"] != streams*n*2 {
					t.Errorf("%d records, %d tokens charged", len(seen), l.charges["shared"])
				}
			})
		})
	}
}

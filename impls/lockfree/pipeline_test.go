package lockfree

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
	"github.com/streambench/streambench/impls/internal/backoff"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testReq = impls.Request{ID: 42, Account: "acct-1"}

// chunkBytes is the size of every chunk of the tests' responses.
const chunkBytes = 5

// endless is the length of a response that no test here relays to its end:
// the client or the caller leaves long before. A test that uses it checks
// that the provider never reported io.EOF.
const endless = 10_000

// response is the tests' n-chunk response, of chunkBytes bytes per chunk.
func response(n int) []impls.Chunk { return conformance.Response(1, n, chunkBytes) }

// source is a provider that plays response(n), configured by opts.
//
// Note: a context that ends when a chunk is due wins over the chunk
// (CancelWins), so that TestDisconnect can count the context errors exactly.
func source(n int, opts ...conformance.SourceOption) *conformance.Source {
	return conformance.NewSource(response(n), append(opts, conformance.CancelWins())...)
}

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

func relay(opts Options, req impls.Request, src *conformance.Source, dst *conformance.Sink) (impls.Outcome, *conformance.Ledger) {
	l := conformance.NewLedger()
	return New(opts, l).Relay(context.Background(), req, src, dst), l
}

// checkAccounting asserts what must hold after every Relay: one record and
// one charge, written with a live context; the record and the bill match
// exactly what the client received; every chunk produced is accounted for;
// the source was closed once and not used after.
func checkAccounting(t *testing.T, req impls.Request, out impls.Outcome, src *conformance.Source, dst *conformance.Sink, l *conformance.Ledger) impls.Record {
	t.Helper()
	if recs, charges := l.Counts(); recs != 1 || charges != 1 {
		t.Fatalf("ledger has %d records and %d charges, want 1 and 1", recs, charges)
	}
	if n := l.Cancelled(); n != 0 {
		t.Errorf("%d ledger calls had a cancelled context", n)
	}
	recs := l.Records(req.ID)
	if len(recs) != 1 {
		t.Fatalf("the ledger's record is not for request %d", req.ID)
	}
	rec := recs[0]
	if rec.Account != req.Account {
		t.Errorf("record is for %d/%q, want %d/%q", rec.RequestID, rec.Account, req.ID, req.Account)
	}
	got := dst.Received()
	want, tokens := conformance.Content(got), conformance.Tokens(got)
	if !bytes.Equal(rec.Content, want) {
		t.Errorf("record content %q, want what was delivered %q", rec.Content, want)
	}
	if out.Delivered != int64(len(got)) || rec.Chunks != out.Delivered {
		t.Errorf("Outcome.Delivered %d, record.Chunks %d, client got %d", out.Delivered, rec.Chunks, len(got))
	}
	if billed := l.Billed(req.Account); rec.Tokens != tokens || billed != tokens {
		t.Errorf("record tokens %d, charged %d, delivered %d", rec.Tokens, billed, tokens)
	}
	if rec.Partial != (out.Err != nil) {
		t.Errorf("record.Partial %v with Outcome.Err %v", rec.Partial, out.Err)
	}
	if (rec.Err == "") != (out.Err == nil) {
		t.Errorf("record.Err %q with Outcome.Err %v", rec.Err, out.Err)
	}
	if sum := out.Delivered + out.Dropped + out.Rejected + out.Discarded; sum != src.Produced() {
		t.Errorf("delivered %d + dropped %d + rejected %d + discarded %d = %d, produced %d",
			out.Delivered, out.Dropped, out.Rejected, out.Discarded, sum, src.Produced())
	}
	if n := src.Closes(); n != 1 {
		t.Errorf("Source.Close called %d times, want 1", n)
	}
	if n := src.NextAfterClose(); n != 0 {
		t.Errorf("Source.Next called %d times after Close", n)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Errorf("client received chunk %d after chunk %d", got[i].Seq, got[i-1].Seq)
		}
	}
	return rec
}

// checkNotEnded fails t if src, an endless response, reported io.EOF.
func checkNotEnded(t *testing.T, src *conformance.Source) {
	t.Helper()
	if src.EOFs() != 0 {
		t.Errorf("the provider's %d-chunk response ran to its end; the test wants one that does not end first", src.Len())
	}
}

func TestRelayInOrder(t *testing.T) {
	const n = 50 // below BufferLimit, so no strategy may lose a chunk.
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		want := response(n)
		src, dst := source(n), conformance.NewSink()
		out, l := relay(opts, testReq, src, dst)
		if out.Err != nil {
			t.Fatalf("Err = %v", out.Err)
		}
		if diff := cmp.Diff(want, dst.Received()); diff != "" {
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
		const gap = 7 * time.Millisecond
		src, dst := source(3, conformance.Gap(gap)), conformance.NewSink()
		out, l := relay(opts, testReq, src, dst)
		rec := checkAccounting(t, testReq, out, src, dst, l)
		if rec.FirstChunk != gap {
			t.Errorf("FirstChunk = %v, want %v", rec.FirstChunk, gap)
		}
	})
}

func TestDisconnect(t *testing.T) {
	const after = 10
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src := source(endless, conformance.Gap(time.Millisecond))
		dst := conformance.NewSink(conformance.DisconnectAfter(after))
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) {
			t.Errorf("Err = %v, want ErrCancelled", out.Err)
		}
		if got := dst.Delivered(); got != after {
			t.Errorf("client got %d chunks, want %d", got, after)
		}
		// The provider was told at once: its Next returned the context
		// error at the very instant the client left, having produced at
		// most a queue's worth beyond what was delivered.
		if src.CtxErrors() != 1 || !src.LastCtxError().Equal(dst.GoneAt()) {
			t.Errorf("provider saw %d context errors, stopped at %v, client left at %v",
				src.CtxErrors(), src.LastCtxError(), dst.GoneAt())
		}
		if extra := src.Produced() - after; extra > 2 {
			t.Errorf("provider produced %d chunks past the disconnect", extra)
		}
		checkNotEnded(t, src)
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
		// Note: an endless provider needs some gap, or under drop-oldest
		// and reject it never blocks and the fake clock never advances.
		src := source(endless, conformance.Gap(100*time.Microsecond))
		dst := conformance.NewSink(conformance.ReadDelay(10*time.Millisecond), conformance.DisconnectAfter(after))
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) || dst.Delivered() != after {
			t.Errorf("Err = %v, client got %d chunks", out.Err, dst.Delivered())
		}
		if out.QueuePeak > int64(opts.BufferLimit) {
			t.Errorf("QueuePeak %d > BufferLimit %d", out.QueuePeak, opts.BufferLimit)
		}
		checkNotEnded(t, src)
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestCallerCancel(t *testing.T) {
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := source(endless, conformance.Gap(time.Millisecond))
		dst := conformance.NewSink(conformance.AfterWrite(func(n int) {
			if n == 5 {
				cancel()
			}
		}))
		l := conformance.NewLedger()
		out := New(opts, l).Relay(ctx, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) || !errors.Is(out.Err, context.Canceled) {
			t.Errorf("Err = %v, want ErrCancelled and context.Canceled", out.Err)
		}
		if got := dst.Delivered(); got != 5 {
			t.Errorf("client got %d chunks, want 5", got)
		}
		checkNotEnded(t, src)
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
		src := source(n)
		dst := conformance.NewSink(conformance.ReadDelay(time.Millisecond))
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
			if got := dst.Received(); got[0].Seq != 0 {
				t.Errorf("first delivered chunk is %d", got[0].Seq)
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
				src := source(100)
				dst := conformance.NewSink(conformance.ReadDelay(5 * time.Millisecond))
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
				src := source(100)
				dst := conformance.NewSink(conformance.ReadDelay(50 * time.Millisecond))
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
		src, dst := source(20, conformance.FailAt(6)), conformance.NewSink()
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrProviderFailed) || !errors.Is(out.Err, conformance.ErrProvider) {
			t.Errorf("Err = %v, want ErrProviderFailed wrapping the provider's error", out.Err)
		}
		if got := dst.Delivered(); got != 6 {
			t.Errorf("client got %d chunks, want the 6 before the failure", got)
		}
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestWriteError(t *testing.T) {
	errWrite := errors.New("broken pipe")
	eachVariant(t, nil, func(t *testing.T, opts Options) {
		src, dst := source(20), conformance.NewSink(conformance.WriteError(3, errWrite))
		out, l := relay(opts, testReq, src, dst)
		if !errors.Is(out.Err, impls.ErrCancelled) || !errors.Is(out.Err, errWrite) {
			t.Errorf("Err = %v", out.Err)
		}
		// The failed chunk was accumulated but not delivered: it is in
		// neither the record nor the bill (checkAccounting).
		if dst.Delivered() != 3 || out.Discarded == 0 {
			t.Errorf("client got %d, discarded %d", dst.Delivered(), out.Discarded)
		}
		checkAccounting(t, testReq, out, src, dst, l)
	})
}

func TestContentCap(t *testing.T) {
	// Every chunk is chunkBytes (5) bytes.
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
				src, dst := source(tt.chunks), conformance.NewSink()
				out, l := relay(opts, req, src, dst)
				if got := errors.Is(out.Err, impls.ErrContentTooLarge); got != tt.wantErr {
					t.Errorf("Err = %v, want ErrContentTooLarge: %v", out.Err, tt.wantErr)
				}
				if got := dst.Delivered(); got != int64(tt.wantSent) {
					t.Errorf("client got %d chunks, want %d", got, tt.wantSent)
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
				l := conformance.NewLedger()
				p := New(opts, l)
				const streams, n = 16, 200
				done := make(chan impls.Outcome, streams)
				for i := range streams {
					go func() {
						req := impls.Request{ID: uint64(i), Account: "shared"}
						done <- p.Relay(context.Background(), req, source(n), conformance.NewSink())
					}()
				}
				for range streams {
					if out := <-done; out.Err != nil || out.Delivered != n {
						t.Errorf("outcome %+v", out)
					}
				}
				for i := range uint64(streams) {
					recs := l.Records(i)
					if len(recs) != 1 || len(recs[0].Content) != chunkBytes*n {
						t.Errorf("request %d: %d records, want 1 with %d bytes", i, len(recs), chunkBytes*n)
					}
				}
				recs, _ := l.Counts()
				if want := streams * conformance.Tokens(response(n)); recs != streams || l.Billed("shared") != want {
					t.Errorf("%d records, %d tokens charged; want %d and %d", recs, l.Billed("shared"), streams, want)
				}
			})
		})
	}
}

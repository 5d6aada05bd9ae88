package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
)

func TestResponse(t *testing.T) {
	a, b := conformance.Response(9, 5, 4), conformance.Response(9, 5, 4)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different responses (-a +b):\n%s", diff)
	}
	if c := conformance.Response(10, 5, 4); cmp.Equal(a, c) {
		t.Errorf("seeds 9 and 10 gave the same response")
	}
	for i, c := range a {
		if c.Seq != int64(i) || len(c.Content) != 4 || cap(c.Content) != 4 || c.Tokens < 1 {
			t.Errorf("chunk %d = %+v (cap %d)", i, c, cap(c.Content))
		}
		if (c.FinishReason != "") != (i == len(a)-1) || (c.Usage != nil) != (i == len(a)-1) {
			t.Errorf("chunk %d: FinishReason %q, Usage %v: want them on the last chunk only", i, c.FinishReason, c.Usage)
		}
	}
	last := a[len(a)-1]
	if u := *last.Usage; u.CompletionTokens != conformance.Tokens(a) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("Usage %+v does not add up to %d completion tokens", u, conformance.Tokens(a))
	}
}

func TestSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chunks := conformance.Response(1, 4, 8)
		sink := conformance.NewSink(conformance.DisconnectAfter(1))
		src := conformance.NewSource(chunks, conformance.Gap(time.Second), conformance.FailAt(3),
			conformance.WatchClient(sink.Gone()))
		ctx := context.Background()
		start := time.Now()
		for i := range 3 {
			c, err := src.Next(ctx)
			if err != nil || c.Seq != int64(i) {
				t.Fatalf("Next %d = %+v, %v", i, c, err)
			}
			if i == 0 {
				_ = sink.Write(c) // the client leaves after this one
			}
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("3 chunks took %v of fake time, want 3s", got)
		}
		if _, err := src.Next(ctx); !errors.Is(err, conformance.ErrProvider) {
			t.Errorf("Next at the failure point: %v, want ErrProvider", err)
		}
		if src.Produced() != 3 || src.ProducedAfterGone() != 2 {
			t.Errorf("Produced %d, after gone %d; want 3 and 2", src.Produced(), src.ProducedAfterGone())
		}
		_ = src.Close()
		_ = src.Close()
		if _, err := src.Next(ctx); err == nil {
			t.Errorf("Next after Close succeeded")
		}
		if src.Closes() != 2 || src.NextAfterClose() != 1 {
			t.Errorf("Closes %d, NextAfterClose %d; want 2 and 1", src.Closes(), src.NextAfterClose())
		}
	})
}

func TestSourceEndsAndCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := conformance.NewSource(conformance.Response(1, 1, 8), conformance.Gap(time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		time.AfterFunc(time.Minute, cancel)
		if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Next cancelled in its gap: %v, want context.Canceled", err)
		}
		if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Next with an ended context: %v, want context.Canceled", err)
		}
		if _, err := src.Next(context.Background()); err != nil {
			t.Errorf("Next: %v", err)
		}
		if _, err := src.Next(context.Background()); err != io.EOF {
			t.Errorf("Next after the last chunk: %v, want io.EOF", err)
		}
		if src.CtxErrors() != 2 || !src.LastCtxError().Equal(start.Add(time.Minute)) {
			t.Errorf("CtxErrors %d, LastCtxError %v; want 2 and %v", src.CtxErrors(), src.LastCtxError(), start.Add(time.Minute))
		}
		if src.EOFs() != 1 || src.CancellableNext() != 2 {
			t.Errorf("EOFs %d, CancellableNext %d; want 1 and 2", src.EOFs(), src.CancellableNext())
		}
	})
}

func TestSourceStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := conformance.NewSource(conformance.Response(1, 1, 8), conformance.Stall())
		if !src.LastCtxError().IsZero() {
			t.Errorf("LastCtxError %v before any context ended, want the zero Time", src.LastCtxError())
		}
		if _, err := src.Next(context.Background()); err != nil {
			t.Fatalf("Next: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start := time.Now()
		if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Hour {
			t.Errorf("Next after the last chunk returned %v after %v, want DeadlineExceeded after 1h", err, time.Since(start))
		}
		time.AfterFunc(time.Minute, func() { _ = src.Close() })
		if _, err := src.Next(context.Background()); err == nil || err == io.EOF {
			t.Errorf("stalled Next released by Close: %v, want the closed error", err)
		}
		if src.EOFs() != 0 || src.CtxErrors() != 1 {
			t.Errorf("EOFs %d, CtxErrors %d; want 0 and 1", src.EOFs(), src.CtxErrors())
		}
	})
}

// endedCtx is a context whose end only Err reports (Done is nil), so that a
// Next waiting out a gap cannot see it end before the gap is over: the tie
// CancelWins settles, made deterministic.
type endedCtx struct {
	context.Context
	ended atomic.Bool
}

func (c *endedCtx) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

func TestSourceCancelWins(t *testing.T) {
	for _, wins := range []bool{false, true} {
		t.Run(fmt.Sprintf("CancelWins=%t", wins), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := []conformance.SourceOption{conformance.Gap(time.Second)}
				if wins {
					opts = append(opts, conformance.CancelWins())
				}
				src := conformance.NewSource(conformance.Response(1, 2, 8), opts...)
				ctx := &endedCtx{Context: context.Background()}
				time.AfterFunc(time.Second/2, func() { ctx.ended.Store(true) })
				_, err := src.Next(ctx)
				if got := errors.Is(err, context.Canceled); got != wins {
					t.Errorf("Next whose context ended during the gap: %v; context error %t, want %t", err, got, wins)
				}
				produced, ctxErrors := int64(1), int64(0)
				if wins {
					produced, ctxErrors = 0, 1
				}
				if src.Produced() != produced || src.CtxErrors() != ctxErrors {
					t.Errorf("Produced %d, CtxErrors %d; want %d and %d", src.Produced(), src.CtxErrors(), produced, ctxErrors)
				}
			})
		})
	}
}

func TestSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chunks := conformance.Response(2, 3, 8)
		sink := conformance.NewSink(conformance.ReadDelay(time.Millisecond), conformance.DisconnectAfter(2))
		start := time.Now()
		for i, c := range chunks {
			err := sink.Write(c)
			if want := i >= 2; (err != nil) != want || (err != nil && !errors.Is(err, impls.ErrClientGone)) {
				t.Errorf("Write %d: %v", i, err)
			}
		}
		select {
		case <-sink.Gone():
		default:
			t.Errorf("Gone not closed after the second Write")
		}
		if got := time.Since(start); got != 2*time.Millisecond {
			t.Errorf("two reads took %v, want 2ms", got)
		}
		if diff := cmp.Diff(chunks[:2], sink.Received()); diff != "" || sink.Refused() != 1 {
			t.Errorf("received (-want +got):\n%s\nrefused %d, want 1", diff, sink.Refused())
		}
		if want := start.Add(2 * time.Millisecond); !sink.GoneAt().Equal(want) {
			t.Errorf("GoneAt %v, want %v (the second read's end)", sink.GoneAt(), want)
		}
	})
}

func TestSinkWriteErrorAndAfterWrite(t *testing.T) {
	errPipe := errors.New("broken pipe")
	var seen []int
	sink := conformance.NewSink(conformance.WriteError(2, errPipe),
		conformance.AfterWrite(func(n int) { seen = append(seen, n) }))
	chunks := conformance.Response(3, 4, 8)
	for i, c := range chunks {
		if err := sink.Write(c); (i < 2) != (err == nil) || (err != nil && !errors.Is(err, errPipe)) {
			t.Errorf("Write %d: %v, want nil before write 3 and the write error from it on", i, err)
		}
	}
	select {
	case <-sink.Gone():
		t.Errorf("Gone closed by a write error")
	default:
	}
	if !sink.GoneAt().IsZero() || sink.Delivered() != 2 || sink.Refused() != 0 {
		t.Errorf("GoneAt %v, Delivered %d, Refused %d; want zero, 2, 0", sink.GoneAt(), sink.Delivered(), sink.Refused())
	}
	if diff := cmp.Diff([]int{1, 2}, seen); diff != "" {
		t.Errorf("AfterWrite calls (-want +got):\n%s", diff)
	}
}

func TestLedger(t *testing.T) {
	l := conformance.NewLedger()
	ctx := context.Background()
	content := []byte("abc")
	_ = l.Persist(ctx, impls.Record{RequestID: 1, Content: content})
	content[0] = 'x'
	_ = l.Persist(ctx, impls.Record{RequestID: 1})
	_ = l.Persist(ctx, impls.Record{RequestID: 2})
	_ = l.Charge(ctx, conformance.AccountFor(2), 3)
	_ = l.Charge(ctx, conformance.AccountFor(2), 4)
	if got := string(l.Records(1)[0].Content); got != "abc" {
		t.Errorf("the Ledger kept the caller's Content: %q", got)
	}
	recs, charges := l.Duplicates()
	if diff := cmp.Diff([]uint64{1}, recs); diff != "" {
		t.Errorf("duplicate records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{conformance.AccountFor(2)}, charges); diff != "" {
		t.Errorf("duplicate charges (-want +got):\n%s", diff)
	}
	if got := l.Billed(conformance.AccountFor(2)); got != 7 {
		t.Errorf("Billed = %d, want 7", got)
	}
	if n := l.Cancelled(); n != 0 {
		t.Errorf("Cancelled = %d with live contexts, want 0", n)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	_ = l.Persist(ended, impls.Record{RequestID: 3})
	_ = l.Charge(ended, conformance.AccountFor(3), 1)
	if n := l.Cancelled(); n != 2 {
		t.Errorf("Cancelled = %d after a Persist and a Charge with an ended context, want 2", n)
	}
	if recs, charges := l.Counts(); recs != 4 || charges != 3 {
		t.Errorf("Counts = %d records, %d charges; want 4 and 3 (calls with an ended context kept too)", recs, charges)
	}
}

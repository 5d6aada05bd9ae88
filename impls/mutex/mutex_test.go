package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allOptions is every combination of the knobs.
func allOptions() []Options {
	var all []Options
	for _, lock := range []LockScope{LockStream, LockGlobal} {
		for _, acc := range []Accumulation{AccCopy, AccZeroCopy} {
			for _, cancel := range []bool{false, true} {
				for _, fin := range []FinalizerMode{FinalizerDetached, FinalizerAwaited} {
					all = append(all, Options{Lock: lock, Accumulation: acc, Cancel: cancel, Finalizer: fin})
				}
			}
		}
	}
	return all
}

func (o Options) name() string {
	return fmt.Sprintf("lock=%v,acc=%v,cancel=%t,finalizer=%v", o.Lock, o.Accumulation, o.Cancel, o.Finalizer)
}

// goroutines counts the goroutines whose stack mentions fn.
//
// Note: it reads stacks rather than runtime.NumGoroutine, which also counts
// goroutines of the testing package that come and go between tests.
func goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// oneRecord fails t unless ledger holds exactly one record, for request id,
// and one charge, to account of the record's tokens, and returns the record.
func oneRecord(t *testing.T, ledger *conformance.Ledger, id uint64, account string) impls.Record {
	t.Helper()
	if recs, charges := ledger.Counts(); recs != 1 || charges != 1 {
		t.Fatalf("ledger has %d records and %d charges, want 1 and 1", recs, charges)
	}
	recs := ledger.Records(id)
	if len(recs) != 1 {
		t.Fatalf("ledger has no record for request %d", id)
	}
	if got, want := ledger.Charges(account), []int64{recs[0].Tokens}; !slices.Equal(got, want) {
		t.Errorf("charges to %q = %v, want %v (the record's tokens)", account, got, want)
	}
	return recs[0]
}

func TestRelayDeliversEveryChunk(t *testing.T) {
	const n, gap = 50, time.Millisecond
	for _, opts := range allOptions() {
		for _, noUsage := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/noUsage=%t", opts.name(), noUsage), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					chunks := conformance.Response(1, n, 16)
					if noUsage {
						chunks[n-1].Usage = nil
					}
					ledger := conformance.NewLedger()
					src, dst := conformance.NewSource(chunks, conformance.Gap(gap)), conformance.NewSink()
					req := impls.Request{ID: 1, Account: "acct"}

					out := New(opts, ledger).Relay(t.Context(), req, src, dst)
					synctest.Wait() // A detached finalizer was signalled; let it run.

					if out.Err != nil || out.Delivered != n || out.Discarded != 0 {
						t.Errorf("outcome = %+v, want %d delivered, no error", out, n)
					}
					if diff := cmp.Diff(chunks, dst.Received()); diff != "" {
						t.Errorf("client received (-want +got):\n%s", diff)
					}
					if eofs, closed := src.EOFs(), src.Closes(); eofs == 0 || closed != 1 {
						t.Errorf("source returned io.EOF %d times, closed %d times; want some and 1", eofs, closed)
					}
					rec := oneRecord(t, ledger, 1, "acct")
					want := impls.Record{
						RequestID:    1,
						Account:      "acct",
						Content:      conformance.Content(chunks),
						FinishReason: "stop",
						Usage:        chunks[n-1].Usage,
						Chunks:       n,
						Tokens:       conformance.Tokens(chunks),
						FirstChunk:   gap,
					}
					if diff := cmp.Diff(want, rec); diff != "" {
						t.Errorf("record (-want +got):\n%s", diff)
					}
				})
			})
		}
	}
}

func TestUsageIsBilledWhenItArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		chunks := conformance.Response(1, 10, 8)
		chunks[9].Usage = &impls.Usage{CompletionTokens: 999}
		ledger := conformance.NewLedger()
		New(DefaultOptions(), ledger).Relay(t.Context(), impls.Request{ID: 1, Account: "a"}, conformance.NewSource(chunks), conformance.NewSink())
		synctest.Wait()
		if rec := oneRecord(t, ledger, 1, "a"); rec.Tokens != 999 {
			t.Errorf("billed %d tokens, want the usage's 999 (chunks sum to %d)", rec.Tokens, conformance.Tokens(chunks))
		}
	})
}

// TestLegacyDisconnect asserts the legacy design's flaws on a client that
// leaves after delivered chunks: the provider runs to its end, the finalizer
// lingers and bills nothing until its timeout, then bills one chunk more
// than was delivered.
func TestLegacyDisconnect(t *testing.T) {
	const n, delivered, gap = 40, 5, 10 * time.Millisecond
	tests := []struct {
		name  string
		opts  Options
		limit time.Duration // req.Limits.FinalizerTimeout
		want  time.Duration // when billing happens
	}{
		{"default", DefaultOptions(), 0, 600 * time.Second},
		{"zero options", Options{}, 0, DefaultFinalizerTimeout},
		{"options timeout", Options{FinalizerTimeout: 30 * time.Second}, 0, 30 * time.Second},
		{"request timeout wins", Options{FinalizerTimeout: 30 * time.Second}, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chunks := conformance.Response(1, n, 16)
				ledger := conformance.NewLedger()
				src := conformance.NewSource(chunks, conformance.Gap(gap))
				dst := conformance.NewSink(conformance.BreakOnWrite(delivered))
				req := impls.Request{ID: 1, Account: "acct", Limits: impls.Limits{FinalizerTimeout: tt.limit}}
				start := time.Now()

				out := New(tt.opts, ledger).Relay(t.Context(), req, src, dst)

				if !errors.Is(out.Err, impls.ErrCancelled) || out.Delivered != delivered || out.Discarded != 1 {
					t.Errorf("outcome = %+v, want ErrCancelled, %d delivered, 1 discarded", out, delivered)
				}
				if diff := cmp.Diff(chunks[:delivered], dst.Received()); diff != "" {
					t.Errorf("client received (-want +got):\n%s", diff)
				}
				if next, closed := src.Produced(), src.Closes(); next == n || closed != 0 {
					t.Errorf("when Relay returned the source had given %d of %d chunks and was closed %d times; want it still running", next, n, closed)
				}

				// The provider is not cancelled: it streams to its end.
				time.Sleep(n * gap)
				synctest.Wait()
				if next, eofs, closed := src.Produced(), src.EOFs(), src.Closes(); next != n || eofs == 0 || closed != 1 {
					t.Errorf("source gave %d of %d chunks, io.EOF %d times, closed %d times; want all, some, 1", next, n, eofs, closed)
				}
				if src.CancellableNext() != 0 {
					t.Error("the producer's context can end; the legacy producer's never does")
				}
				// The finalizer is alive and has billed nothing.
				if fin, prod := goroutines("(*Pipeline).finalize("), goroutines("mutex.produce("); fin != 1 || prod != 0 {
					t.Errorf("after the provider ended: %d finalizer and %d producer goroutines, want 1 (lingering) and 0", fin, prod)
				}
				time.Sleep(time.Until(start.Add(tt.want)) - 1)
				synctest.Wait()
				if recs, charges := ledger.Counts(); recs+charges != 0 {
					t.Fatalf("ledger written before the finalizer timeout: %d records, %d charges", recs, charges)
				}

				// At the timeout it bills what accumulated, the undelivered
				// chunk included.
				time.Sleep(time.Nanosecond) // the last nanosecond before the timeout, in fake time
				synctest.Wait()
				rec := oneRecord(t, ledger, 1, "acct")
				if want := conformance.Tokens(chunks[:delivered+1]); rec.Tokens != want {
					t.Errorf("billed %d tokens, want %d (%d delivered chunks' tokens plus the undelivered one's)", rec.Tokens, want, conformance.Tokens(chunks[:delivered]))
				}
				if !rec.Partial || rec.Chunks != delivered+1 || !bytes.Equal(rec.Content, conformance.Content(chunks[:delivered+1])) {
					t.Errorf("record = %+v, want partial with %d chunks", rec, delivered+1)
				}
				if !strings.Contains(rec.Err, impls.ErrCancelled.Error()) {
					t.Errorf("record Err = %q, want it to name the disconnect", rec.Err)
				}
				if fin := goroutines("(*Pipeline).finalize("); fin != 0 {
					t.Errorf("%d finalizer goroutines after the timeout, want 0", fin)
				}
			})
		})
	}
}

func TestUnboundedBufferAgainstSlowClient(t *testing.T) {
	const n = 500
	synctest.Test(t, func(t *testing.T) {
		chunks := conformance.Response(1, n, 16)
		dst := conformance.NewSink(conformance.ReadDelay(time.Millisecond))
		out := New(DefaultOptions(), conformance.NewLedger()).Relay(t.Context(), impls.Request{ID: 1}, conformance.NewSource(chunks), dst)
		if out.Delivered != n {
			t.Errorf("delivered %d, want %d", out.Delivered, n)
		}
		if out.QueuePeak < n-2 {
			t.Errorf("QueuePeak = %d, want about the response length %d: the legacy buffer has no bound", out.QueuePeak, n)
		}
		synctest.Wait()
	})
}

func TestFinalizerTimeoutMidStream(t *testing.T) {
	const n, gap = 30, 10 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		chunks := conformance.Response(1, n, 16)
		ledger := conformance.NewLedger()
		req := impls.Request{ID: 1, Account: "a", Limits: impls.Limits{FinalizerTimeout: 100 * time.Millisecond}}
		out := New(DefaultOptions(), ledger).Relay(t.Context(), req, conformance.NewSource(chunks, conformance.Gap(gap)), conformance.NewSink())
		synctest.Wait()
		if out.Err != nil || out.Delivered != n {
			t.Errorf("outcome = %+v, want all %d delivered", out, n)
		}
		// The finalizer fired at 100 ms and billed a partial response; the
		// rest of the stream is never billed, and nothing is billed twice.
		rec := oneRecord(t, ledger, 1, "a")
		if !rec.Partial || rec.Chunks == 0 || rec.Chunks >= n || rec.Tokens != conformance.Tokens(chunks[:rec.Chunks]) {
			t.Errorf("record = %+v, want a partial record of the first ~10 chunks", rec)
		}
		if !strings.Contains(rec.Err, "timed out") {
			t.Errorf("record Err = %q, want a timeout", rec.Err)
		}
	})
}

func TestLockScopesUnderConcurrency(t *testing.T) {
	const streams, n = 16, 40
	for _, lock := range []LockScope{LockStream, LockGlobal} {
		t.Run(lock.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ledger := conformance.NewLedger()
				p := New(Options{Lock: lock}, ledger)
				want := make(map[uint64][]byte)
				var wg sync.WaitGroup
				for id := range uint64(streams) {
					chunks := conformance.Response(id, n, 16)
					want[id] = conformance.Content(chunks)
					wg.Go(func() {
						src := conformance.NewSource(chunks, conformance.Gap(time.Millisecond))
						out := p.Relay(t.Context(), impls.Request{ID: id, Account: fmt.Sprint(id)}, src, conformance.NewSink())
						if out.Err != nil || out.Delivered != n {
							t.Errorf("request %d: outcome = %+v", id, out)
						}
					})
				}
				wg.Wait()
				synctest.Wait()
				if recs, charges := ledger.Counts(); recs != streams || charges != streams {
					t.Fatalf("ledger has %d records and %d charges, want %d each", recs, charges, streams)
				}
				for id, content := range want {
					recs := ledger.Records(id)
					if len(recs) != 1 {
						t.Errorf("request %d: %d records, want 1", id, len(recs))
					}
					for _, rec := range recs {
						if !bytes.Equal(rec.Content, content) || rec.Partial {
							t.Errorf("request %d: record content %q partial=%t, want %q", id, rec.Content, rec.Partial, content)
						}
					}
				}
				p.mu.Lock()
				defer p.mu.Unlock()
				if len(p.states) != 0 {
					t.Errorf("%d states left in the global map after every finalizer ran", len(p.states))
				}
			})
		})
	}
}

func TestFinalizerModes(t *testing.T) {
	tests := []struct {
		mode      FinalizerMode
		failAfter int  // -1: no disconnect; else the write after failAfter breaks
		wantBill  bool // billed by the time Relay returns
	}{
		{FinalizerDetached, 5, false},
		{FinalizerAwaited, 5, true},
		{FinalizerAwaited, -1, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/failAfter=%d", tt.mode, tt.failAfter), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chunks := conformance.Response(1, 20, 16)
				ledger := conformance.NewLedger()
				src := conformance.NewSource(chunks, conformance.Gap(time.Millisecond))
				dst := conformance.NewSink(conformance.BreakOnWrite(tt.failAfter))
				New(Options{Finalizer: tt.mode}, ledger).Relay(t.Context(), impls.Request{ID: 1, Account: "a"}, src, dst)
				if recs, _ := ledger.Counts(); (recs == 1) != tt.wantBill {
					t.Errorf("persisted before Relay returned = %t, want %t", recs == 1, tt.wantBill)
				}
				// Let the detached finalizer and producer finish inside the bubble.
				time.Sleep(DefaultFinalizerTimeout)
				synctest.Wait()
				rec := oneRecord(t, ledger, 1, "a")
				if tt.failAfter >= 0 && rec.Tokens != conformance.Tokens(chunks[:tt.failAfter+1]) {
					t.Errorf("billed %d tokens, want %d: the undelivered chunk is still billed (cancel is a separate knob)", rec.Tokens, conformance.Tokens(chunks[:tt.failAfter+1]))
				}
			})
		})
	}
}

func TestCancelStopsProvider(t *testing.T) {
	const n, delivered, bound = 1000, 5, 3
	for _, acc := range []Accumulation{AccCopy, AccZeroCopy} {
		t.Run(acc.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chunks := conformance.Response(1, n, 16)
				src := conformance.NewSource(chunks, conformance.Gap(time.Millisecond))
				dst := conformance.NewSink(conformance.BreakOnWrite(delivered))
				out := New(Options{Cancel: true, Accumulation: acc}, conformance.NewLedger()).Relay(t.Context(), impls.Request{ID: 1}, src, dst)

				next, eofs, closed, cancelled := src.Produced(), src.EOFs(), src.Closes(), src.CtxErrors()
				if closed != 1 || eofs != 0 || cancelled == 0 {
					t.Errorf("when Relay returned: source closed %d times, io.EOF %d times, context errors %d; want 1, 0, some", closed, eofs, cancelled)
				}
				if next > delivered+1+bound {
					t.Errorf("provider gave %d chunks, want at most %d after a disconnect at %d", next, delivered+1+bound, delivered)
				}
				if got := out.Delivered + out.Discarded; got != next {
					t.Errorf("delivered %d + discarded %d = %d, want the %d chunks produced", out.Delivered, out.Discarded, got, next)
				}
				if !errors.Is(out.Err, impls.ErrCancelled) {
					t.Errorf("Err = %v, want ErrCancelled", out.Err)
				}
				time.Sleep(DefaultFinalizerTimeout)
				synctest.Wait()
			})
		})
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	const after = 5 * time.Millisecond
	tests := []struct {
		name  string
		leave func(cancel context.CancelFunc, dst *conformance.Sink)
	}{
		{"client gone", func(_ context.CancelFunc, dst *conformance.Sink) { dst.Disconnect() }},
		{"caller context", func(cancel context.CancelFunc, _ *conformance.Sink) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chunks := conformance.Response(1, 3, 16)
				src := conformance.NewSource(chunks, conformance.Stall()) // Three chunks, then nothing until cancelled.
				dst := conformance.NewSink()
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				time.AfterFunc(after, func() { tt.leave(cancel, dst) })
				start := time.Now()

				out := New(Options{Cancel: true}, conformance.NewLedger()).Relay(ctx, impls.Request{ID: 1}, src, dst)

				if time.Since(start) != after {
					t.Errorf("Relay returned after %v, want %v (when the client left)", time.Since(start), after)
				}
				if !errors.Is(out.Err, impls.ErrCancelled) || out.Delivered != 3 || out.Discarded != 0 {
					t.Errorf("outcome = %+v, want ErrCancelled with 3 delivered", out)
				}
				if closed := src.Closes(); closed != 1 {
					t.Errorf("source closed %d times, want 1", closed)
				}
				time.Sleep(DefaultFinalizerTimeout)
				synctest.Wait()
			})
		})
	}
}

func TestProviderFailure(t *testing.T) {
	const failAt = 3
	for _, opts := range []Options{DefaultOptions(), {Finalizer: FinalizerAwaited, Cancel: true}} {
		t.Run(opts.name(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chunks := conformance.Response(1, 10, 16)
				src := conformance.NewSource(chunks, conformance.Gap(time.Millisecond), conformance.FailAt(failAt))
				ledger := conformance.NewLedger()
				out := New(opts, ledger).Relay(t.Context(), impls.Request{ID: 1, Account: "a"}, src, conformance.NewSink())
				synctest.Wait() // The finalizer was signalled; no timeout needed.

				if !errors.Is(out.Err, impls.ErrProviderFailed) || !errors.Is(out.Err, conformance.ErrProvider) || out.Delivered != failAt {
					t.Errorf("outcome = %+v, want ErrProviderFailed wrapping the provider's error, %d delivered", out, failAt)
				}
				if closed := src.Closes(); closed != 1 {
					t.Errorf("source closed %d times, want 1", closed)
				}
				rec := oneRecord(t, ledger, 1, "a")
				if !rec.Partial || rec.Chunks != failAt || rec.Tokens != conformance.Tokens(chunks[:failAt]) || !strings.Contains(rec.Err, conformance.ErrProvider.Error()) {
					t.Errorf("record = %+v, want partial with %d chunks and the provider's error", rec, failAt)
				}
			})
		})
	}
}

func TestContentCap(t *testing.T) {
	const n, size = 10, 10
	tests := []struct {
		cap           int64
		wantDelivered int
	}{
		{0, n},
		{25, 2},
		{30, 3}, // A chunk that reaches the cap exactly is kept.
		{n * size, n},
	}
	for _, acc := range []Accumulation{AccCopy, AccZeroCopy} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/cap=%d", acc, tt.cap), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					chunks := conformance.Response(1, n, size)
					ledger := conformance.NewLedger()
					req := impls.Request{ID: 1, Account: "a", Limits: impls.Limits{ContentCap: tt.cap}}
					dst := conformance.NewSink()
					out := New(Options{Accumulation: acc}, ledger).Relay(t.Context(), req, conformance.NewSource(chunks), dst)
					synctest.Wait()

					capped := tt.wantDelivered < n
					if errors.Is(out.Err, impls.ErrContentTooLarge) != capped || out.Delivered != int64(tt.wantDelivered) {
						t.Errorf("outcome = %+v, want %d delivered, capped=%t", out, tt.wantDelivered, capped)
					}
					if capped && out.Discarded != 1 {
						t.Errorf("discarded %d, want the refused chunk", out.Discarded)
					}
					if got := len(dst.Received()); got != tt.wantDelivered {
						t.Errorf("client received %d chunks, want %d", got, tt.wantDelivered)
					}
					rec := oneRecord(t, ledger, 1, "a")
					kept := chunks[:tt.wantDelivered]
					if !bytes.Equal(rec.Content, conformance.Content(kept)) || rec.Partial != capped || rec.Tokens != conformance.Tokens(kept) {
						t.Errorf("record = %+v, want the %d kept chunks, partial=%t", rec, len(kept), capped)
					}
				})
			})
		}
	}
}

func TestAccumulationCopiesOrAliases(t *testing.T) {
	for _, tt := range []struct {
		acc       Accumulation
		wantAlias bool
	}{{AccCopy, false}, {AccZeroCopy, true}} {
		t.Run(tt.acc.String(), func(t *testing.T) {
			p := New(Options{Accumulation: tt.acc}, conformance.NewLedger())
			c := impls.Chunk{Content: []byte("hello"), Tokens: 1}
			st := &state{}
			if werr, err := p.deliver(impls.Request{ID: 1}, st, c, time.Now(), conformance.NewSink()); err != nil || werr != nil {
				t.Fatal(err, werr)
			}
			kept := st.content
			if tt.acc == AccZeroCopy {
				kept = st.segments[0]
			}
			if alias := &kept[0] == &c.Content[0]; alias != tt.wantAlias {
				t.Errorf("accumulated bytes alias the chunk's = %t, want %t", alias, tt.wantAlias)
			}
		})
	}
}

// TestLinger: a lingering finalizer started by Linger holds its content
// until its time is up, then settles as a disconnected request's timed-out
// finalizer does (a partial record of what it held, billed its tokens);
// a design whose finalizer does not detach starts none.
func TestLinger(t *testing.T) {
	for _, acc := range []Accumulation{AccCopy, AccZeroCopy} {
		synctest.Test(t, func(t *testing.T) {
			ledger := conformance.NewLedger()
			opts := DefaultOptions()
			opts.Accumulation = acc
			p := New(opts, ledger)
			content := []byte("twelve bytes")
			p.Linger(impls.Request{ID: 7, Account: "a"}, content, 3, 5, 30*time.Second)
			time.Sleep(29 * time.Second)
			synctest.Wait()
			if r, c := ledger.Counts(); r != 0 || c != 0 {
				t.Fatalf("%v: %d records, %d charges before the finalizer's time", acc, r, c)
			}
			time.Sleep(2 * time.Second)
			synctest.Wait()
			rec := oneRecord(t, ledger, 7, "a")
			if string(rec.Content) != "twelve bytes" || rec.Chunks != 3 || rec.Tokens != 5 || !rec.Partial || !strings.Contains(rec.Err, "finalizer timed out") {
				t.Errorf("%v: record %+v", acc, rec)
			}
		})
	}
	synctest.Test(t, func(t *testing.T) {
		ledger := conformance.NewLedger()
		opts := DefaultOptions()
		opts.Finalizer = FinalizerAwaited
		New(opts, ledger).Linger(impls.Request{ID: 7, Account: "a"}, []byte("x"), 1, 1, time.Second)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if r, _ := ledger.Counts(); r != 0 {
			t.Errorf("an awaited finalizer lingered: %d records", r)
		}
	})
}

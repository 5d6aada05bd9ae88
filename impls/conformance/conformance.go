// Package conformance is the one test suite every variant of the streaming
// relay must pass, and the deterministic in-memory fakes it is built from: a
// provider (Source), a client (Sink) and a Ledger that other packages' tests
// may reuse.
//
// A variant's own test calls Run with a constructor and the Traits the
// variant promises; the suite then checks what every variant must do (relay
// in order, stop at the content cap, report provider failures, never persist
// a request twice, account for every chunk) and, for the legacy design, that
// its flaws are there and measurable: a finalizer that lingers until its
// timeout, late billing, overbilling, a provider that keeps producing after
// the client left, and an unbounded queue. Traits are derived from a
// variant's knobs by the caller (impls/variant); this package imports no
// design.
//
// Every sub-test runs inside a testing/synctest bubble, so gaps, read delays
// and the finalizer's ten-minute timeout pass in fake time and the whole suite
// takes well under a second per variant.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/streambench/streambench/impls"
)

// Traits and BufferKind are the contract's (package impls); the suite
// checks exactly what a variant's Traits promise. The names below keep the
// suite's own code short.
type (
	Traits     = impls.Traits
	BufferKind = impls.BufferKind
)

// The buffer kinds, as the suite names them.
const (
	None      = impls.BufferNone
	Unbounded = impls.BufferUnbounded
	Bounded   = impls.BufferBounded
	Dropping  = impls.BufferDropping
	Rejecting = impls.BufferRejecting
)

// FinalizerTimeout is the Limits.FinalizerTimeout of every request the suite
// makes. It is fake time, so its length costs nothing; it only has to be far
// longer than any response in the suite takes to play.
const FinalizerTimeout = 10 * time.Minute

// horizon is longer than any response in the suite takes to play.
const horizon = 10 * time.Second

// Run runs the suite against the Pipelines newPipeline builds (one per
// sub-test, given the sub-test's Ledger), as a sub-test of t called name.
//
// Every request the suite makes has its own account (AccountFor its ID) and
// a Limits.FinalizerTimeout of FinalizerTimeout. The content-cap sub-test is
// skipped for a variant that does not persist: it accumulates nothing, so it
// has nothing to cap.
//
// A variant that leaves a goroutine blocked for good fails the sub-test with
// the goroutine's traceback; testing/synctest then panics as the bubble ends,
// which stops the test binary.
func Run(t *testing.T, name string, newPipeline func(impls.Ledger) impls.Pipeline, tr Traits) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"in-order", testInOrder},
		{"in-order-concurrent", testConcurrent},
		{"disconnect", testDisconnect},
		{"content-cap", testContentCap},
		{"slow-client", testSlowClient},
		{"provider-failure", testProviderFailure},
		{"usage-billing", testUsageBilling},
		{"content-cap-exact", testContentCapExact},
		{"caller-cancel", testCallerCancel},
		{"write-fails", testWriteFails},
		{"block-timeout", testBlockTimeout},
	}
	t.Run(name, func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ledger := NewLedger()
					e := &env{tr: tr, ledger: ledger, p: newPipeline(ledger), baseline: bubbleGoroutines()}
					tc.run(t, e)
					e.finish(t)
				})
			})
		}
	})
}

// env is one sub-test's world: the Pipeline, its Ledger and every stream
// relayed through it.
type env struct {
	tr       Traits
	ledger   *Ledger
	p        impls.Pipeline
	baseline map[string]string // the bubble's goroutines before the sub-test, by ID

	mu       sync.Mutex
	streams  []*stream
	finished bool
}

// stream is one request: what the provider will send, the fakes, and the
// Outcome once Relay returned.
type stream struct {
	req    impls.Request
	chunks []impls.Chunk
	src    *Source
	sink   *Sink
	out    impls.Outcome
}

func (e *env) newStream(id uint64, chunks []impls.Chunk, src []SourceOption, sink []SinkOption) *stream {
	s := &stream{
		req: impls.Request{
			ID:      id,
			Account: AccountFor(id),
			Limits:  impls.Limits{FinalizerTimeout: FinalizerTimeout},
		},
		chunks: chunks,
		sink:   NewSink(sink...),
	}
	s.src = NewSource(chunks, append(slices.Clone(src), WatchClient(s.sink.Gone()))...)
	e.mu.Lock()
	e.streams = append(e.streams, s)
	e.mu.Unlock()
	return s
}

// joined reports whether Relay has stopped using the Source by the time it
// returns, which is when the accounting identity must hold at return.
func (e *env) joined() bool { return e.tr.Joins() }

// lossless reports whether the queue never loses a chunk, so what the client
// gets is a prefix of the response.
func (e *env) lossless() bool {
	return e.tr.Buffer == None || e.tr.Buffer == Unbounded || e.tr.Buffer == Bounded
}

// relay runs one request through the Pipeline and checks what must hold the
// moment Relay returns. It is safe to call from several goroutines.
func (e *env) relay(t *testing.T, ctx context.Context, s *stream) {
	s.out = e.p.Relay(ctx, s.req, s.src, s.sink)
	o := s.out
	id := s.req.ID
	got := s.sink.Received()
	if o.Delivered != int64(len(got)) {
		t.Errorf("request %d: Outcome.Delivered = %d, but the client got %d chunks", id, o.Delivered, len(got))
	}
	if o.Delivered < 0 || o.Dropped < 0 || o.Rejected < 0 || o.Discarded < 0 || o.QueuePeak < 0 {
		t.Errorf("request %d: negative count in %+v", id, o)
	}
	checkSubsequence(t, id, s.chunks, got)
	if e.lossless() {
		if diff := diffChunks(s.chunks[:min(len(got), len(s.chunks))], got); diff != "" {
			t.Errorf("request %d: the %v queue lost or reordered chunks: the client's chunks are not a prefix of the response (-want +got):\n%s", id, e.tr.Buffer, diff)
		}
		// Note: a block timeout ends the stream by rejecting the one chunk
		// that found no room; nothing before it is lost.
		if blockEnd := e.tr.BlockTimeout > 0 && o.Rejected == 1 && errors.Is(o.Err, impls.ErrRejected); o.Dropped != 0 || (o.Rejected != 0 && !blockEnd) {
			t.Errorf("request %d: a %v queue dropped %d and rejected %d chunks", id, e.tr.Buffer, o.Dropped, o.Rejected)
		}
	}
	switch e.tr.Buffer {
	case None:
		if o.QueuePeak != 0 {
			t.Errorf("request %d: QueuePeak = %d without a queue", id, o.QueuePeak)
		}
	case Bounded, Dropping, Rejecting:
		if o.QueuePeak > int64(e.tr.BufferLimit) {
			t.Errorf("request %d: QueuePeak = %d exceeds the %v queue's limit %d", id, o.QueuePeak, e.tr.Buffer, e.tr.BufferLimit)
		}
	}
	if e.joined() {
		produced := s.src.Produced()
		if sum := o.Delivered + o.Dropped + o.Rejected + o.Discarded; sum != produced {
			t.Errorf("request %d: accounting: delivered %d + dropped %d + rejected %d + discarded %d = %d, but the provider produced %d",
				id, o.Delivered, o.Dropped, o.Rejected, o.Discarded, sum, produced)
		}
		if n := s.src.Closes(); n != 1 {
			t.Errorf("request %d: Source.Close called %d times by the time Relay returned, want 1", id, n)
		}
	}
	if e.tr.Persists && !e.tr.DetachedFinalizer {
		if n := len(e.ledger.Records(id)); n != 1 {
			t.Errorf("request %d: %d records when Relay returned, want 1 (the finalizer is awaited)", id, n)
		}
	}
}

// checkSubsequence checks that got holds chunks of the response, unchanged
// and in order, each at most once.
func checkSubsequence(t *testing.T, id uint64, chunks, got []impls.Chunk) {
	t.Helper()
	last := int64(-1)
	for i, c := range got {
		if c.Seq <= last || c.Seq >= int64(len(chunks)) {
			t.Errorf("request %d: client chunk %d has Seq %d after Seq %d (response has %d chunks): lost order or duplicated", id, i, c.Seq, last, len(chunks))
			return
		}
		if !sameChunk(chunks[c.Seq], c) {
			t.Errorf("request %d: client chunk %d differs from what the provider sent (-want +got):\n%s", id, i, cmp.Diff(chunks[c.Seq], c))
			return
		}
		last = c.Seq
	}
}

// sameChunk reports whether a and b are equal, as cmp.Diff would, without
// its cost (the race detector makes cmp slow on thousands of chunks).
func sameChunk(a, b impls.Chunk) bool {
	return a.Seq == b.Seq && bytes.Equal(a.Content, b.Content) && a.Tokens == b.Tokens &&
		a.FinishReason == b.FinishReason && (a.Usage == nil) == (b.Usage == nil) &&
		(a.Usage == nil || *a.Usage == *b.Usage)
}

// diffChunks returns cmp.Diff(want, got), or "" quickly when they are equal.
func diffChunks(want, got []impls.Chunk) string {
	if slices.EqualFunc(want, got, sameChunk) {
		return ""
	}
	return cmp.Diff(want, got)
}

// sameRecord reports whether a and b are equal but for FirstChunk and Err.
func sameRecord(a, b impls.Record) bool {
	return a.RequestID == b.RequestID && a.Account == b.Account && bytes.Equal(a.Content, b.Content) &&
		a.FinishReason == b.FinishReason && (a.Usage == nil) == (b.Usage == nil) &&
		(a.Usage == nil || *a.Usage == *b.Usage) &&
		a.Chunks == b.Chunks && a.Tokens == b.Tokens && a.Partial == b.Partial
}

// checkRecord checks the one record of s against the chunks the pipeline
// should have accumulated, and the bill against the record.
func (e *env) checkRecord(t *testing.T, s *stream, accumulated []impls.Chunk, when string) {
	t.Helper()
	if !e.tr.Persists {
		return
	}
	id := s.req.ID
	recs := e.ledger.Records(id)
	if len(recs) != 1 {
		t.Errorf("request %d %s: %d records, want 1", id, when, len(recs))
		return
	}
	want := impls.Record{
		RequestID: id,
		Account:   s.req.Account,
		Content:   Content(accumulated),
		Chunks:    int64(len(accumulated)),
		Tokens:    Tokens(accumulated),
		Partial:   s.out.Err != nil,
	}
	for _, c := range accumulated {
		if c.FinishReason != "" {
			want.FinishReason = c.FinishReason
		}
		if c.Usage != nil {
			want.Usage = c.Usage
		}
	}
	// A variant that bills usage bills the provider's count for a response
	// that reached the client whole.
	if e.tr.BillsUsage && s.out.Err == nil && want.Usage != nil && s.out.Dropped+s.out.Rejected == 0 {
		want.Tokens = want.Usage.CompletionTokens
	}
	got := recs[0]
	if !sameRecord(want, got) {
		diff := cmp.Diff(want, got, cmpopts.IgnoreFields(impls.Record{}, "FirstChunk", "Err"), cmpopts.EquateEmpty())
		t.Errorf("request %d %s: record (-want +got):\n%s", id, when, diff)
	}
	if (s.out.Err != nil) != (got.Err != "") {
		t.Errorf("request %d %s: record Err = %q, but Relay returned %v", id, when, got.Err, s.out.Err)
	}
	if billed := e.ledger.Billed(s.req.Account); billed != want.Tokens {
		t.Errorf("request %d %s: billed %d tokens, want %d (charges %v)", id, when, billed, want.Tokens, e.ledger.Charges(s.req.Account))
	}
}

// noneLeft waits until the bubble is idle and checks that only the goroutines
// the sub-test started with are left.
//
// Note: "nothing left running when Relay returns" is checked after
// synctest.Wait, without letting fake time pass: a goroutine that is still
// exiting (it closed a channel Relay waited on, then returns) is not a leak,
// but any goroutine still blocked on a timer, a channel or a lock is.
func (e *env) noneLeft(t *testing.T, when string) {
	t.Helper()
	if extra := e.extra(); len(extra) > 0 {
		t.Errorf("%s: %d goroutines of the request still alive:\n%s", when, len(extra), strings.Join(extra, "\n\n"))
	}
}

// extra waits until the bubble is idle and returns the tracebacks of the
// goroutines that were not there when the sub-test started.
func (e *env) extra() []string {
	synctest.Wait()
	var out []string
	for id, g := range bubbleGoroutines() {
		if _, ok := e.baseline[id]; !ok {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// lingering counts the goroutines beyond the baseline once the bubble is idle.
func (e *env) lingering() int { return len(e.extra()) }

// finish lets fake time run past every timeout, then checks what must hold in
// the end for every variant: nothing running, each Source closed exactly once
// and never read after that, and exactly one record and at most one charge
// per request (none without Persists).
func (e *env) finish(t *testing.T) {
	t.Helper()
	if e.finished {
		return
	}
	e.finished = true
	time.Sleep(FinalizerTimeout + horizon)
	e.noneLeft(t, "after the finalizer timeout")
	for _, s := range e.streams {
		id := s.req.ID
		if n := s.src.Closes(); n != 1 {
			t.Errorf("request %d: Source.Close called %d times, want exactly 1", id, n)
		}
		if n := s.src.NextAfterClose(); n != 0 {
			t.Errorf("request %d: Source.Next called %d times after Close", id, n)
		}
		if n := s.src.ConcurrentNext(); n != 0 {
			t.Errorf("request %d: Source.Next called concurrently %d times", id, n)
		}
		recs, charges := e.ledger.Records(id), e.ledger.Charges(s.req.Account)
		switch {
		case !e.tr.Persists && (len(recs) != 0 || len(charges) != 0):
			t.Errorf("request %d: %d records and charges %v from a variant that does not persist", id, len(recs), charges)
		case e.tr.Persists && len(recs) != 1:
			t.Errorf("request %d: %d records in the end, want exactly 1", id, len(recs))
		case e.tr.Persists && len(charges) > 1:
			t.Errorf("request %d: charged %d times %v, want at most once", id, len(charges), charges)
		}
	}
	if dupRecs, dupCharges := e.ledger.Duplicates(); len(dupRecs) != 0 || len(dupCharges) != 0 {
		t.Errorf("ledger: requests with several records %v, accounts charged several times %v", dupRecs, dupCharges)
	}
	if recs, _ := e.ledger.Counts(); e.tr.Persists && recs != len(e.streams) {
		t.Errorf("ledger: %d records for %d requests", recs, len(e.streams))
	}
}

// testInOrder relays one response to a fast client: every chunk arrives in
// order, unchanged, and the record holds all of it.
func testInOrder(t *testing.T, e *env) {
	const n, ttfc = 24, 50 * time.Millisecond
	chunks := Response(1, n, 16)
	gaps := make([]time.Duration, n)
	for i := range gaps {
		gaps[i] = 5 * time.Millisecond
	}
	gaps[0] = ttfc
	s := e.newStream(1, chunks, []SourceOption{Gaps(gaps)}, nil)
	e.relay(t, t.Context(), s)
	if s.out.Err != nil {
		t.Errorf("Relay: %v, want nil", s.out.Err)
	}
	if diff := diffChunks(chunks, s.sink.Received()); diff != "" {
		t.Errorf("client got (-want +got):\n%s", diff)
	}
	if s.out.Delivered != n || s.out.Dropped != 0 || s.out.Rejected != 0 || s.out.Discarded != 0 {
		t.Errorf("Outcome %+v, want all %d chunks delivered and nothing lost", s.out, n)
	}
	e.noneLeft(t, "after a complete stream")
	e.checkRecord(t, s, chunks, "after a complete stream")
	if recs := e.ledger.Records(1); e.tr.Persists && len(recs) == 1 && recs[0].FirstChunk != ttfc {
		t.Errorf("record FirstChunk = %v, want %v (the provider's time to first chunk, in fake time)", recs[0].FirstChunk, ttfc)
	}
}

// testConcurrent relays 50 responses of different lengths and pacing through
// one Pipeline at once: none lost, none mixed up, none recorded twice.
func testConcurrent(t *testing.T, e *env) {
	const requests = 50
	rng := rand.New(rand.NewPCG(2, 2))
	var wg sync.WaitGroup
	for id := uint64(1); id <= requests; id++ {
		n, size := 1+rng.IntN(40), 8+rng.IntN(33)
		gaps := make([]time.Duration, n)
		for i := range gaps {
			// Note: every gap is at least 1ms so that even a small dropping
			// queue drains between chunks and the stream is lossless.
			gaps[i] = time.Duration(1+rng.IntN(4)) * time.Millisecond
		}
		s := e.newStream(id, Response(id, n, size), []SourceOption{Gaps(gaps)}, nil)
		wg.Go(func() { e.relay(t, t.Context(), s) })
	}
	wg.Wait()
	e.noneLeft(t, "after all streams completed")
	for _, s := range e.streams {
		if s.out.Err != nil {
			t.Errorf("request %d: Relay: %v, want nil", s.req.ID, s.out.Err)
		}
		if diff := diffChunks(s.chunks, s.sink.Received()); diff != "" {
			t.Errorf("request %d: client got (-want +got):\n%s", s.req.ID, diff)
		}
		e.checkRecord(t, s, s.chunks, "after a complete stream")
	}
}

// testDisconnect has the client leave after a few chunks of a long response.
// A cancelling variant stops the provider and settles the request before
// Relay returns; the legacy variant's flaws are asserted instead.
func testDisconnect(t *testing.T, e *env) {
	const n, leave = 40, 5
	chunks := Response(3, n, 16)
	s := e.newStream(1, chunks,
		[]SourceOption{Gap(time.Millisecond)},
		[]SinkOption{ReadDelay(2 * time.Millisecond), DisconnectAfter(leave)})
	e.relay(t, t.Context(), s)
	got := s.sink.Received()
	if len(got) != leave {
		t.Errorf("client got %d chunks, want %d (it left after %d)", len(got), leave, leave)
	}
	if !errors.Is(s.out.Err, impls.ErrCancelled) {
		t.Errorf("Relay: %v, want errors.Is(err, impls.ErrCancelled)", s.out.Err)
	}
	// accumulated is what the record and the bill must cover: what the client
	// got, plus, for a variant that accumulates before writing, the chunk
	// whose write failed.
	accumulated := got
	if e.tr.OverbillsOnDisconnect && !e.tr.WatchesClient {
		next := int64(0)
		if len(got) > 0 {
			next = got[len(got)-1].Seq + 1
		}
		accumulated = append(slices.Clone(got), chunks[next])
	}
	limit := int64(e.tr.BufferLimit)
	if e.tr.Cancels {
		// A cancelling variant stops its provider promptly. An unbounded
		// buffer lets the provider run ahead of the client before the
		// disconnect, so only what it produced after is bounded there.
		o := s.out
		if p, bound := s.src.Produced(), int64(leave)+o.Dropped+o.Rejected+limit+2; e.tr.Buffer != Unbounded && p > bound {
			t.Errorf("provider produced %d chunks, want at most %d (the client left after %d; buffer %d)", p, bound, leave, limit)
		}
		if after := s.src.ProducedAfterGone(); after > limit+2 {
			t.Errorf("provider produced %d chunks after the client left, want at most %d", after, limit+2)
		}
	}
	switch {
	case e.tr.Cancels && !e.tr.DetachedFinalizer:
		e.checkRecord(t, s, accumulated, "when Relay returned")
		e.noneLeft(t, "when Relay returned after a disconnect")
	case e.tr.DetachedFinalizer && e.tr.SenderDropped:
		// Relay dropped the completion signal's sender when it returned, so
		// the finalizer settles without waiting for its timeout.
		synctest.Wait()
		e.checkRecord(t, s, accumulated, "once Relay returned (sender dropped)")
	case e.tr.DetachedFinalizer:
		// The flaws: nothing is settled when Relay returns and a goroutine
		// holds the request until the timeout; without cancellation the
		// provider is not stopped either.
		if recs, charges := e.ledger.Records(1), e.ledger.Charges(s.req.Account); len(recs) != 0 || len(charges) != 0 {
			t.Errorf("detached finalizer: %d records and charges %v right after Relay returned, want none before the timeout", len(recs), charges)
		}
		if n := e.lingering(); n < 1 {
			t.Errorf("detached finalizer: no goroutine lingers after Relay returned")
		}
		time.Sleep(horizon)
		synctest.Wait()
		if !e.tr.Cancels {
			if p := s.src.Produced(); p != n {
				t.Errorf("provider produced %d of %d chunks after the disconnect, want all: the legacy design cannot cancel it", p, n)
			}
			if s.src.ProducedAfterGone() == 0 {
				t.Errorf("provider produced nothing after the client left; the legacy design should keep it running")
			}
		}
		if recs, charges := e.ledger.Records(1), e.ledger.Charges(s.req.Account); len(recs) != 0 || len(charges) != 0 {
			t.Errorf("detached finalizer: %d records and charges %v before the %v timeout, want none", len(recs), charges, FinalizerTimeout)
		}
		if n := e.lingering(); n < 1 {
			t.Errorf("detached finalizer: no goroutine lingers before the timeout")
		}
	}
	e.finish(t)
	e.checkRecord(t, s, accumulated, "after the finalizer timeout")
}

// testContentCap gives a response larger than the cap: the stream ends with
// ErrContentTooLarge after the chunks that fit, and the record holds them.
// A variant that accumulates nothing has no cap to enforce.
func testContentCap(t *testing.T, e *env) {
	if !e.tr.Persists {
		t.Skip("the variant accumulates nothing, so it enforces no content cap")
	}
	const n, size, fit = 20, 16, 10
	chunks := Response(4, n, size)
	s := e.newStream(1, chunks, []SourceOption{Gap(time.Millisecond)}, nil)
	s.req.Limits.ContentCap = fit*size + size/2
	e.relay(t, t.Context(), s)
	if !errors.Is(s.out.Err, impls.ErrContentTooLarge) {
		t.Errorf("Relay: %v, want errors.Is(err, impls.ErrContentTooLarge)", s.out.Err)
	}
	if diff := diffChunks(chunks[:fit], s.sink.Received()); diff != "" {
		t.Errorf("client got (-want +got) with a cap of %d bytes:\n%s", s.req.Limits.ContentCap, diff)
	}
	e.finish(t)
	e.checkRecord(t, s, chunks[:fit], "after a capped stream")
}

// testSlowClient pairs a provider with no gaps and a client that takes 1ms
// per chunk, so the queue fills: what happens then is the BufferKind.
func testSlowClient(t *testing.T, e *env) {
	const n = 64
	chunks := Response(5, n, 16)
	s := e.newStream(1, chunks, nil, []SinkOption{ReadDelay(time.Millisecond)})
	e.relay(t, t.Context(), s)
	o := s.out
	got := s.sink.Received()
	switch e.tr.Buffer {
	case None, Bounded:
		if o.Err != nil {
			t.Errorf("Relay: %v, want nil", o.Err)
		}
		if diff := diffChunks(chunks, got); diff != "" {
			t.Errorf("a %v queue must deliver everything to a slow client (-want +got):\n%s", e.tr.Buffer, diff)
		}
	case Unbounded:
		if diff := diffChunks(chunks, got); diff != "" {
			t.Errorf("an unbounded queue must deliver everything (-want +got):\n%s", diff)
		}
		if o.QueuePeak < n-4 {
			t.Errorf("unbounded queue: QueuePeak = %d, want nearly the whole response (%d): the legacy design has no backpressure", o.QueuePeak, n)
		}
	case Dropping, Rejecting:
		if o.Err != nil {
			t.Errorf("Relay: %v, want nil (a %v queue loses chunks, not the stream)", o.Err, e.tr.Buffer)
		}
		missed := int64(n - len(got))
		if lost := o.Dropped + o.Rejected; lost != missed {
			t.Errorf("dropped %d + rejected %d = %d, but the client missed %d of %d chunks", o.Dropped, o.Rejected, lost, missed, n)
		}
		if e.tr.BufferLimit < n-2 && o.Dropped+o.Rejected == 0 {
			t.Errorf("a %v queue of %d lost nothing to a client 1ms per chunk behind a provider with no gaps", e.tr.Buffer, e.tr.BufferLimit)
		}
	}
	e.finish(t)
	if p := s.src.Produced(); p != n {
		t.Errorf("provider produced %d of %d chunks", p, n)
	} else if sum := o.Delivered + o.Dropped + o.Rejected + o.Discarded; sum != p {
		t.Errorf("accounting: delivered %d + dropped %d + rejected %d + discarded %d = %d, but the provider produced %d",
			o.Delivered, o.Dropped, o.Rejected, o.Discarded, sum, p)
	}
	e.checkRecord(t, s, got, "after a slow client")
}

// testProviderFailure has the provider fail after 7 of 20 chunks: the client
// keeps those 7, Relay reports ErrProviderFailed, and a partial record holds
// them.
func testProviderFailure(t *testing.T, e *env) {
	const n, failAt = 20, 7
	chunks := Response(6, n, 16)
	s := e.newStream(1, chunks, []SourceOption{Gap(time.Millisecond), FailAt(failAt)}, nil)
	e.relay(t, t.Context(), s)
	if !errors.Is(s.out.Err, impls.ErrProviderFailed) {
		t.Errorf("Relay: %v, want errors.Is(err, impls.ErrProviderFailed)", s.out.Err)
	}
	if diff := diffChunks(chunks[:failAt], s.sink.Received()); diff != "" {
		t.Errorf("client got (-want +got):\n%s", diff)
	}
	if !e.tr.DetachedFinalizer {
		e.noneLeft(t, "after a provider failure")
	}
	e.finish(t)
	e.checkRecord(t, s, chunks[:failAt], "after a provider failure")
}

// testUsageBilling gives a response whose reported usage differs from the
// sum of its chunks' tokens (as a real provider's may: its tokenizer, not
// the gateway's, counts): a variant that bills usage must bill the
// provider's count, any other the chunks'. checkRecord knows which.
func testUsageBilling(t *testing.T, e *env) {
	const n = 12
	chunks := Response(8, n, 16)
	last := &chunks[n-1]
	u := *last.Usage
	u.CompletionTokens += 7
	u.TotalTokens += 7
	last.Usage = &u
	s := e.newStream(1, chunks, []SourceOption{Gap(time.Millisecond)}, nil)
	e.relay(t, t.Context(), s)
	if s.out.Err != nil {
		t.Fatalf("Relay: %v, want nil", s.out.Err)
	}
	e.finish(t)
	e.checkRecord(t, s, chunks, "with usage unlike the chunks' sum")
}

// testContentCapExact puts the cap exactly at the response's size (all of
// it fits) and one byte below (the last chunk does not).
func testContentCapExact(t *testing.T, e *env) {
	if !e.tr.Persists {
		t.Skip("the variant accumulates nothing, so it enforces no content cap")
	}
	const n, size = 10, 16
	chunks := Response(9, n, size)
	exact := e.newStream(1, chunks, []SourceOption{Gap(time.Millisecond)}, nil)
	exact.req.Limits.ContentCap = n * size
	e.relay(t, t.Context(), exact)
	if exact.out.Err != nil {
		t.Errorf("cap of exactly %d bytes for a %d-byte response: Relay: %v, want nil", n*size, n*size, exact.out.Err)
	}
	over := e.newStream(2, chunks, []SourceOption{Gap(time.Millisecond)}, nil)
	over.req.Limits.ContentCap = n*size - 1
	e.relay(t, t.Context(), over)
	if !errors.Is(over.out.Err, impls.ErrContentTooLarge) {
		t.Errorf("cap one byte short of the response: Relay: %v, want ErrContentTooLarge", over.out.Err)
	}
	if diff := diffChunks(chunks[:n-1], over.sink.Received()); diff != "" {
		t.Errorf("cap one byte short: client got (-want +got):\n%s", diff)
	}
	e.finish(t)
	e.checkRecord(t, exact, chunks, "at a cap of exactly the response's size")
	e.checkRecord(t, over, chunks[:n-1], "at a cap one byte short")
}

// testCallerCancel cancels the caller's context (the server shutting down,
// say) after a few chunks. A variant that watches for cancellation ends the
// stream with ErrCancelled and settles what was delivered; one that does
// not (the legacy design) relays to the end. Either way every chunk and
// token is accounted for.
func testCallerCancel(t *testing.T, e *env) {
	const n, after = 30, 4
	chunks := Response(10, n, 16)
	s := e.newStream(1, chunks, []SourceOption{Gap(time.Millisecond)}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(after*time.Millisecond+time.Millisecond/2, cancel)
	e.relay(t, ctx, s)
	cancel()
	got := s.sink.Received()
	if e.tr.WatchesClient {
		if !errors.Is(s.out.Err, impls.ErrCancelled) {
			t.Errorf("Relay after the caller cancelled: %v, want errors.Is(err, impls.ErrCancelled)", s.out.Err)
		}
		if len(got) >= n {
			t.Errorf("client got all %d chunks although the caller cancelled after about %d", len(got), after)
		}
	}
	e.finish(t)
	if p := s.src.Produced(); p < int64(len(got)) {
		t.Errorf("provider produced %d chunks, client got %d", p, len(got))
	}
	if e.joined() {
		o := s.out
		if sum := o.Delivered + o.Dropped + o.Rejected + o.Discarded; sum != s.src.Produced() {
			t.Errorf("accounting after a caller cancel: delivered %d + dropped %d + rejected %d + discarded %d = %d, provider produced %d",
				o.Delivered, o.Dropped, o.Rejected, o.Discarded, sum, s.src.Produced())
		}
	}
	e.checkRecord(t, s, got, "after a caller cancel")
}

// testWriteFails has the client's connection break during a write, so no
// design can see the disconnect before it writes: the chunk in hand is
// discarded, and billed only by a variant that accumulates before writing
// and keeps what it accumulated (OverbillsOnDisconnect).
func testWriteFails(t *testing.T, e *env) {
	const n, breakAt = 20, 6
	chunks := Response(11, n, 16)
	s := e.newStream(1, chunks, []SourceOption{Gap(time.Millisecond)}, []SinkOption{BreakOnWrite(breakAt)})
	e.relay(t, t.Context(), s)
	got := s.sink.Received()
	if len(got) != breakAt {
		t.Errorf("client got %d chunks, want the %d before its connection broke", len(got), breakAt)
	}
	if !errors.Is(s.out.Err, impls.ErrCancelled) {
		t.Errorf("Relay: %v, want errors.Is(err, impls.ErrCancelled)", s.out.Err)
	}
	accumulated := got
	if e.tr.OverbillsOnDisconnect {
		accumulated = chunks[:breakAt+1]
	}
	e.finish(t)
	e.checkRecord(t, s, accumulated, "after a write failed")
}

// testBlockTimeout (Block strategy only) pairs a provider with no gaps and
// a client far slower than the block timeout: the first chunk that finds
// no room for that long is rejected and the stream ends with ErrRejected,
// after delivering what was queued before it.
func testBlockTimeout(t *testing.T, e *env) {
	if e.tr.BlockTimeout == 0 {
		t.Skip("the variant has no block timeout")
	}
	n := e.tr.BufferLimit + 20
	chunks := Response(12, n, 16)
	s := e.newStream(1, chunks, nil, []SinkOption{ReadDelay(4 * e.tr.BlockTimeout)})
	e.relay(t, t.Context(), s)
	o := s.out
	if !errors.Is(o.Err, impls.ErrRejected) {
		t.Errorf("Relay: %v, want errors.Is(err, impls.ErrRejected)", o.Err)
	}
	if o.Rejected < 1 {
		t.Errorf("Rejected = %d, want the chunk that timed out", o.Rejected)
	}
	got := s.sink.Received()
	if len(got) == 0 || len(got) >= n {
		t.Errorf("client got %d of %d chunks, want some but not all", len(got), n)
	}
	e.finish(t)
	if sum := o.Delivered + o.Dropped + o.Rejected + o.Discarded; sum != s.src.Produced() {
		t.Errorf("accounting: delivered %d + rejected %d + discarded %d = %d, provider produced %d",
			o.Delivered, o.Rejected, o.Discarded, sum, s.src.Produced())
	}
	e.checkRecord(t, s, got, "after a block timeout")
}

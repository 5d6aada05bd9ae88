package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/impls"
)

// PromptTokens is the prompt size every Response reports in its Usage.
const PromptTokens = 12

// Response returns a deterministic provider response of n chunks (n >= 1)
// of chunkBytes bytes each, built from seed.
//
// Every chunk's Content is a sub-slice of one slab of printable bytes, capped
// at its own length (slab[lo:hi:hi]) so that a design which wrongly appends
// to a chunk copies instead of overwriting its neighbour. Chunk i has Seq i
// and 1 to 4 tokens; the last chunk carries FinishReason "stop" and a Usage
// whose CompletionTokens is the sum of all chunks' Tokens.
func Response(seed uint64, n, chunkBytes int) []impls.Chunk {
	if n < 1 {
		panic("conformance: Response needs at least one chunk")
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	slab := make([]byte, n*chunkBytes)
	for i := range slab {
		slab[i] = byte('a' + rng.IntN(26))
	}
	chunks := make([]impls.Chunk, n)
	var total int64
	for i := range chunks {
		lo, hi := i*chunkBytes, (i+1)*chunkBytes
		tokens := 1 + rng.Int64N(4)
		total += tokens
		chunks[i] = impls.Chunk{Seq: int64(i), Content: slab[lo:hi:hi], Tokens: tokens}
	}
	last := &chunks[n-1]
	last.FinishReason = "stop"
	last.Usage = &impls.Usage{PromptTokens: PromptTokens, CompletionTokens: total, TotalTokens: PromptTokens + total}
	return chunks
}

// Content returns the concatenated content of chunks.
func Content(chunks []impls.Chunk) []byte {
	var b []byte
	for _, c := range chunks {
		b = append(b, c.Content...)
	}
	return b
}

// Tokens returns the sum of the chunks' Tokens.
func Tokens(chunks []impls.Chunk) int64 {
	var n int64
	for _, c := range chunks {
		n += c.Tokens
	}
	return n
}

// ErrProvider is the error a Source configured with FailAt returns from Next.
var ErrProvider = errors.New("conformance: provider failed")

// errClosed is what a Source's Next returns once Close was called.
var errClosed = errors.New("conformance: source closed")

// SourceOption configures a Source.
type SourceOption func(*Source)

// Gap makes the Source wait d before producing each chunk, the first one
// included (so d is also the time to first chunk).
//
// Note: the wait is a real timer. Use it inside a testing/synctest bubble,
// where time is fake and a wait costs nothing; outside one it sleeps.
func Gap(d time.Duration) SourceOption {
	return func(s *Source) { s.gap = d }
}

// Gaps makes the Source wait gaps[i] before producing chunk i; chunks beyond
// len(gaps) use the Gap value (zero unless set).
func Gaps(gaps []time.Duration) SourceOption {
	return func(s *Source) { s.gaps = slices.Clone(gaps) }
}

// FailAt makes Next return ErrProvider when chunk k is due (after its gap),
// and again on every later call: the provider failed mid-stream after
// producing k chunks.
func FailAt(k int) SourceOption {
	return func(s *Source) { s.failAt = k }
}

// WatchClient gives the Source the client's Gone channel, so that it can
// count the chunks it produced after the client left.
func WatchClient(gone <-chan struct{}) SourceOption {
	return func(s *Source) { s.gone = gone }
}

// Stall makes the Source hold the stream open after its last chunk: instead
// of returning io.EOF, Next waits until ctx ends or the Source is closed, as
// a provider that stops sending without ending its response does.
func Stall() SourceOption {
	return func(s *Source) { s.stall = true }
}

// CancelWins makes a context that has ended by the time a chunk's gap is
// over win over the chunk: Next returns ctx.Err() instead.
//
// Note: without it, when the context ends at the very instant the chunk is
// due (a tie that fake time makes common), Next picks one of the two at
// random. A test that counts the context errors Next returns needs
// CancelWins to be deterministic.
func CancelWins() SourceOption {
	return func(s *Source) { s.cancelWins = true }
}

// Source is a deterministic in-memory provider that plays a fixed list of
// chunks and counts what happens to it. Next and Close follow the
// impls.Source contract; every counter is safe to read from any goroutine
// while a design is still using the Source.
//
// Closing the Source unblocks a Next waiting out a gap, as closing an HTTP
// response body does.
type Source struct {
	chunks     []impls.Chunk
	gap        time.Duration
	gaps       []time.Duration
	failAt     int
	gone       <-chan struct{}
	stall      bool
	cancelWins bool

	closeOnce sync.Once
	closedCh  chan struct{}

	next           atomic.Int64 // index of the next chunk to produce
	produced       atomic.Int64
	producedAfter  atomic.Int64
	closes         atomic.Int64
	nextAfterClose atomic.Int64
	concurrentNext atomic.Int64
	inNext         atomic.Int32
	eofs           atomic.Int64
	ctxErrors      atomic.Int64
	lastCtxError   atomic.Int64 // time.Now().UnixNano() of the latest ctx error
	cancellable    atomic.Int64
}

var _ impls.Source = (*Source)(nil)

// NewSource returns a Source that plays chunks, then reports io.EOF.
func NewSource(chunks []impls.Chunk, opts ...SourceOption) *Source {
	s := &Source{chunks: chunks, failAt: -1, closedCh: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Next waits out the chunk's gap, then returns the next chunk; it returns
// io.EOF after the last one (or, with Stall, waits), ctx.Err() if ctx ends
// first, ErrProvider at the configured failure point, and an error if the
// Source was closed.
func (s *Source) Next(ctx context.Context) (impls.Chunk, error) {
	if s.inNext.Add(1) > 1 {
		s.concurrentNext.Add(1)
	}
	defer s.inNext.Add(-1)
	if ctx.Done() != nil {
		s.cancellable.Add(1)
	}
	if s.closed() {
		s.nextAfterClose.Add(1)
		return impls.Chunk{}, errClosed
	}
	if err := ctx.Err(); err != nil {
		return impls.Chunk{}, s.ctxError(err)
	}
	i := int(s.next.Load())
	if i >= len(s.chunks) {
		if !s.stall {
			s.eofs.Add(1)
			return impls.Chunk{}, io.EOF
		}
		return impls.Chunk{}, s.wait(ctx, nil)
	}
	if d := s.gapFor(i); d > 0 {
		t := time.NewTimer(d)
		err := s.wait(ctx, t.C)
		t.Stop()
		if err == nil && s.cancelWins {
			if cerr := ctx.Err(); cerr != nil {
				err = s.ctxError(cerr)
			}
		}
		if err != nil {
			return impls.Chunk{}, err
		}
	}
	if i == s.failAt {
		return impls.Chunk{}, fmt.Errorf("%w at chunk %d", ErrProvider, i)
	}
	s.next.Store(int64(i + 1))
	s.produced.Add(1)
	if s.gone != nil {
		select {
		case <-s.gone:
			s.producedAfter.Add(1)
		default:
		}
	}
	return s.chunks[i], nil
}

// wait returns nil when timer fires (never, if it is nil), ctx's error if
// ctx ends first, and errClosed if the Source is closed first.
func (s *Source) wait(ctx context.Context, timer <-chan time.Time) error {
	select {
	case <-timer:
		return nil
	case <-ctx.Done():
		return s.ctxError(ctx.Err())
	case <-s.closedCh:
		return errClosed
	}
}

// ctxError counts err, a context's error that Next is about to return.
func (s *Source) ctxError(err error) error {
	s.ctxErrors.Add(1)
	s.lastCtxError.Store(time.Now().UnixNano())
	return err
}

func (s *Source) gapFor(i int) time.Duration {
	if i < len(s.gaps) {
		return s.gaps[i]
	}
	return s.gap
}

// Close records the call and releases a Next waiting out a gap.
func (s *Source) Close() error {
	s.closes.Add(1)
	s.closeOnce.Do(func() { close(s.closedCh) })
	return nil
}

func (s *Source) closed() bool {
	select {
	case <-s.closedCh:
		return true
	default:
		return false
	}
}

// Produced counts the chunks Next has returned.
func (s *Source) Produced() int64 { return s.produced.Load() }

// ProducedAfterGone counts the chunks Next returned after the watched
// client's Gone channel closed (see WatchClient).
func (s *Source) ProducedAfterGone() int64 { return s.producedAfter.Load() }

// Closes counts the calls to Close.
func (s *Source) Closes() int64 { return s.closes.Load() }

// NextAfterClose counts the calls to Next that began after Close.
func (s *Source) NextAfterClose() int64 { return s.nextAfterClose.Load() }

// ConcurrentNext counts the calls to Next that began while another was in
// progress (a contract violation: a Source is read by one goroutine at a time).
func (s *Source) ConcurrentNext() int64 { return s.concurrentNext.Load() }

// EOFs counts the calls to Next that returned io.EOF: the stream ran to its
// end.
func (s *Source) EOFs() int64 { return s.eofs.Load() }

// CtxErrors counts the calls to Next that returned their context's error.
func (s *Source) CtxErrors() int64 { return s.ctxErrors.Load() }

// LastCtxError is when (by time.Now, fake inside a synctest bubble) Next
// last returned its context's error, or the zero Time if it never did.
func (s *Source) LastCtxError() time.Time {
	if ns := s.lastCtxError.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// CancellableNext counts the calls to Next whose context can end (its Done
// channel is not nil). A design that never cancels its provider passes
// only contexts that cannot.
func (s *Source) CancellableNext() int64 { return s.cancellable.Load() }

// Len is the number of chunks in the Source's full response.
func (s *Source) Len() int { return len(s.chunks) }

// SinkOption configures a Sink.
type SinkOption func(*Sink)

// ReadDelay makes the client take d to read each chunk: Write waits d before
// accepting it. Like Gap, it is meant for synctest bubbles.
func ReadDelay(d time.Duration) SinkOption {
	return func(s *Sink) { s.delay = d }
}

// DisconnectAfter makes the client leave after n successful Writes: Gone is
// closed right after the nth, and every later Write returns
// impls.ErrClientGone. With n == 0 the client is gone from the start.
func DisconnectAfter(n int) SinkOption {
	return func(s *Sink) { s.leaveAfter = n }
}

// BreakOnWrite makes the client's connection break during its write number
// n+1: that write fails with impls.ErrClientGone and the client is gone from
// then on, so no design can see the disconnect before it writes.
func BreakOnWrite(n int) SinkOption {
	return func(s *Sink) { s.breakAt = n }
}

// WriteError makes the client's write number n+1, and every later one, fail
// with err while the client stays connected (Gone stays open): a failure
// that is not a disconnect, which a design learns of only from Write.
func WriteError(n int, err error) SinkOption {
	return func(s *Sink) { s.failAt, s.failErr = n, err }
}

// AfterWrite makes the Sink call f after every Write it accepts, with the
// number of chunks accepted so far, on the writer's goroutine and after a
// DisconnectAfter disconnect. A test uses it to act at an exact point of the
// stream, such as cancelling the caller's context after the nth chunk.
func AfterWrite(f func(n int)) SinkOption {
	return func(s *Sink) { s.afterWrite = f }
}

// Sink is a deterministic in-memory client that records every chunk it
// accepted. It is safe for concurrent use, so a test may inspect it while a
// design is still writing.
type Sink struct {
	delay      time.Duration
	leaveAfter int // -1: never
	breakAt    int // -1: never
	failAt     int // -1: never
	failErr    error
	afterWrite func(n int)

	mu       sync.Mutex
	got      []impls.Chunk
	refused  int64
	goneAt   time.Time
	goneOnce sync.Once
	gone     chan struct{}
}

var _ impls.Sink = (*Sink)(nil)

// NewSink returns a Sink that accepts every chunk unless told otherwise.
func NewSink(opts ...SinkOption) *Sink {
	s := &Sink{leaveAfter: -1, breakAt: -1, failAt: -1, gone: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.leaveAfter == 0 {
		s.Disconnect()
	}
	return s
}

// Write waits out the read delay, then accepts c, unless the client is gone.
func (s *Sink) Write(c impls.Chunk) error {
	if s.isGone() {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		return impls.ErrClientGone
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	if len(s.got) == s.breakAt {
		s.refused++
		s.mu.Unlock()
		s.Disconnect()
		return impls.ErrClientGone
	}
	if s.failAt >= 0 && len(s.got) >= s.failAt {
		s.mu.Unlock()
		return s.failErr
	}
	s.got = append(s.got, c)
	n := len(s.got)
	s.mu.Unlock()
	if n == s.leaveAfter {
		s.Disconnect()
	}
	if s.afterWrite != nil {
		s.afterWrite(n)
	}
	return nil
}

// Gone is closed when the client disconnects.
func (s *Sink) Gone() <-chan struct{} { return s.gone }

// Disconnect makes the client leave now; it is idempotent.
func (s *Sink) Disconnect() {
	s.goneOnce.Do(func() {
		s.mu.Lock()
		s.goneAt = time.Now()
		s.mu.Unlock()
		close(s.gone)
	})
}

// GoneAt is when (by time.Now, fake inside a synctest bubble) the client
// disconnected, or the zero Time while it is connected.
func (s *Sink) GoneAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.goneAt
}

func (s *Sink) isGone() bool {
	select {
	case <-s.gone:
		return true
	default:
		return false
	}
}

// Received returns a copy of the chunks the Sink accepted, in order.
func (s *Sink) Received() []impls.Chunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// Delivered counts the chunks the Sink accepted.
func (s *Sink) Delivered() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.got))
}

// Refused counts the Writes that returned impls.ErrClientGone.
func (s *Sink) Refused() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// AccountFor is the account the suite charges for request id. The Ledger
// interface charges accounts, not requests, so giving every request its own
// account is what lets a Ledger attribute each charge to one request.
func AccountFor(id uint64) string { return fmt.Sprintf("acct-%d", id) }

// Ledger is an in-memory impls.Ledger that keeps every record and charge, so
// a test can see a second record or a second charge for one request. It is
// safe for concurrent use.
type Ledger struct {
	mu        sync.Mutex
	records   map[uint64][]impls.Record
	charges   map[string][]int64
	cancelled int
}

var _ impls.Ledger = (*Ledger)(nil)

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger {
	return &Ledger{records: make(map[uint64][]impls.Record), charges: make(map[string][]int64)}
}

// Persist stores a copy of rec (the contract forbids keeping rec.Content).
func (l *Ledger) Persist(ctx context.Context, rec impls.Record) error {
	rec.Content = slices.Clone(rec.Content)
	if rec.Usage != nil {
		u := *rec.Usage
		rec.Usage = &u
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteCancelled(ctx)
	l.records[rec.RequestID] = append(l.records[rec.RequestID], rec)
	return nil
}

// Charge records one charge of tokens to account.
func (l *Ledger) Charge(ctx context.Context, account string, tokens int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteCancelled(ctx)
	l.charges[account] = append(l.charges[account], tokens)
	return nil
}

// noteCancelled counts a call made with a context that had already ended;
// l.mu is held.
func (l *Ledger) noteCancelled(ctx context.Context) {
	if ctx.Err() != nil {
		l.cancelled++
	}
}

// Cancelled counts the calls to Persist and Charge made with a context that
// had already ended.
//
// Note: the Ledger still keeps what such a call brings, so the other
// accessors stay exact; a real store would likely refuse it, which is why a
// design must settle a request with a context that outlives the client and
// the caller.
func (l *Ledger) Cancelled() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cancelled
}

// Records returns every record persisted for request id, in order.
func (l *Ledger) Records(id uint64) []impls.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records[id])
}

// Charges returns every charge made to account, in order.
func (l *Ledger) Charges(account string) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.charges[account])
}

// Billed is the total charged to account.
func (l *Ledger) Billed(account string) int64 {
	var n int64
	for _, c := range l.Charges(account) {
		n += c
	}
	return n
}

// Duplicates lists, sorted, the request IDs with more than one record and
// the accounts with more than one charge.
func (l *Ledger) Duplicates() (records []uint64, charges []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, rs := range l.records {
		if len(rs) > 1 {
			records = append(records, id)
		}
	}
	for acct, cs := range l.charges {
		if len(cs) > 1 {
			charges = append(charges, acct)
		}
	}
	slices.Sort(records)
	slices.Sort(charges)
	return records, charges
}

// Counts returns how many records and charges the Ledger holds in all.
func (l *Ledger) Counts() (records, charges int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rs := range l.records {
		records += len(rs)
	}
	for _, cs := range l.charges {
		charges += len(cs)
	}
	return records, charges
}

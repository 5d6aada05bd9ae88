package lockfree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/internal/backoff"
)

// Pipeline is the redesigned relay. One Pipeline serves any number of
// concurrent requests; each Relay owns its queue, accumulator, producer
// goroutine and context, and releases all of them before it returns.
type Pipeline struct {
	opts   Options
	ledger impls.Ledger
	// accs recycles accumulators (with their segment blocks) between
	// requests; buffers recycles the joined record content, which the
	// Ledger may not retain after Persist returns. Both only with Pool.
	//
	// Note: only plain memory is pooled. Channels and timers are made per
	// request, because pooled ones would cross testing/synctest bubbles.
	accs    sync.Pool
	buffers sync.Pool
}

var _ impls.Pipeline = (*Pipeline)(nil)

// New returns a Pipeline with the given options that persists records and
// charges accounts through ledger.
//
// New assumes opts are valid: call Options.Validate first (a variant
// builder does). With invalid options Relay's behaviour is undefined.
func New(opts Options, ledger impls.Ledger) *Pipeline {
	return &Pipeline{opts: opts, ledger: ledger}
}

// Options returns the options p was built with.
func (p *Pipeline) Options() Options { return p.opts }

// errRelayOver is the cancellation cause Relay gives the request context
// when the consumer has finished, whatever the reason.
var errRelayOver = errors.New("lockfree: relay over")

// request is the state of one Relay.
type request struct {
	opts   Options
	cancel context.CancelCauseFunc
	q      queue
	acc    content
	wg     sync.WaitGroup

	// sleeping is set while Adaptive's producer delays; the relay then
	// sends on wake when it drains the queue under the high-water mark.
	sleeping atomic.Bool
	wake     chan struct{}
	delays   atomic.Int64
	delayed  atomic.Int64
	late     atomic.Int64

	// Counters are atomic so that they may be read while the request runs
	// (the producer and consumer each own the ones they write).
	produced  atomic.Int64
	delivered atomic.Int64
	bytes     atomic.Int64
	tokens    atomic.Int64
	dropped   atomic.Int64
	rejected  atomic.Int64
	discarded atomic.Int64
	peak      atomic.Int64

	// firstSeen guards firstChunk so that the clock is read once per request.
	firstSeen  atomic.Bool
	firstChunk atomic.Int64

	// prodErr is why the producer stopped. The producer writes it; the
	// relay reads it after wg.Wait.
	prodErr error
	// finish and usage come from the last delivered chunk that carried
	// them; the relay goroutine owns them.
	finish string
	usage  *impls.Usage
	// unsent is the chunk whose client write failed, with BillUnsent: it
	// is recorded and billed too. The relay goroutine owns it.
	unsent *impls.Chunk
}

// Relay relays src to dst for req. See the package documentation for the
// flow; Outcome.Err wraps impls.ErrCancelled, ErrProviderFailed,
// ErrContentTooLarge or ErrRejected when the stream ended early, and a
// ledger error if the record or charge could not be written.
func (p *Pipeline) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	r := &request{
		opts:   p.opts,
		cancel: cancel,
		q:      newQueue(p.opts.Queue, p.opts.BufferLimit),
		acc:    p.getContent(p.opts.contentCap(req.Limits.ContentCap)),
	}
	if p.opts.Backpressure == Adaptive {
		r.wake = make(chan struct{}, 1)
	}
	r.wg.Go(func() { r.produce(ctx, src) })

	err := r.consume(ctx, dst, start)

	// Stop the producer (a no-op after a normal end), wait until it has
	// let go of src and the queue, then count what it left behind.
	cancel(errRelayOver)
	r.wg.Wait()
	for {
		it, ok := r.q.tryPop()
		if !ok {
			break
		}
		if !it.end {
			r.discarded.Add(1)
		}
	}
	_ = src.Close() // Note: the provider is done with either way; a close error changes no record.
	if err == nil {
		err = r.producerEnd(ctx)
	}

	out := impls.Outcome{
		Err:       err,
		Delivered: r.delivered.Load(),
		Dropped:   r.dropped.Load(),
		Rejected:  r.rejected.Load(),
		Discarded: r.discarded.Load(),
		QueuePeak: r.peak.Load(),
		Delays:    r.delays.Load(),
		Delayed:   time.Duration(r.delayed.Load()),
		DelayLate: time.Duration(r.late.Load()),
	}
	if lerr := p.settle(ctx, req, r, err); lerr != nil {
		out.Err = errors.Join(err, lerr)
	}
	p.putContent(r.acc)
	return out
}

// settle persists the request's one record and charges the delivered
// tokens, synchronously and immune to the request's cancellation.
func (p *Pipeline) settle(ctx context.Context, req impls.Request, r *request, err error) error {
	ctx = context.WithoutCancel(ctx)
	chunks, size, tokens := r.delivered.Load(), r.bytes.Load(), r.tokens.Load()
	finish, usage := r.finish, r.usage
	if c := r.unsent; c != nil {
		// Note: BillUnsent puts the legacy's flaw back: the chunk whose
		// write failed is in the accumulator, so it is recorded and billed.
		chunks, size, tokens = chunks+1, size+int64(len(c.Content)), tokens+c.Tokens
		if c.FinishReason != "" {
			finish = c.FinishReason
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	// Note: usage is the provider's count of the whole response, so it is
	// billed only when the whole response reached the client.
	if p.opts.Bill == BillUsage && err == nil && usage != nil && r.dropped.Load()+r.rejected.Load() == 0 {
		tokens = usage.CompletionTokens
	}
	buf := p.getBuffer()
	content := r.acc.appendTo(slices.Grow((*buf)[:0], int(size)), int(chunks), size)
	rec := impls.Record{
		RequestID:    req.ID,
		Account:      req.Account,
		Content:      content,
		FinishReason: finish,
		Usage:        usage,
		Chunks:       chunks,
		Tokens:       tokens,
		FirstChunk:   time.Duration(r.firstChunk.Load()),
		Partial:      err != nil,
	}
	if err != nil {
		rec.Err = err.Error()
	}
	perr := p.ledger.Persist(ctx, rec)
	if p.opts.Pool {
		*buf = content // the Ledger does not retain Content after Persist.
		p.buffers.Put(buf)
	}
	if perr != nil {
		perr = fmt.Errorf("lockfree: persist record %d: %w", req.ID, perr)
	}
	cerr := p.ledger.Charge(ctx, req.Account, rec.Tokens)
	if cerr != nil {
		cerr = fmt.Errorf("lockfree: charge %d tokens to %q: %w", rec.Tokens, req.Account, cerr)
	}
	return errors.Join(perr, cerr)
}

// produce is the request's producer goroutine: it pulls chunks from src and
// pushes them under the backpressure strategy until the provider ends, fails
// or the request context is cancelled.
func (r *request) produce(ctx context.Context, src impls.Source) {
	done := ctx.Done()
	var timer *time.Timer // made on the first wait only
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var peak int64
	defer func() { r.peak.Store(peak) }()
	for {
		// Note: a Source should return promptly once ctx is cancelled; this
		// check (one atomic load on the fast path) bounds the chunks pulled
		// after a cancellation even for one that does not.
		select {
		case <-done:
			r.prodErr = context.Cause(ctx)
			return
		default:
		}
		c, err := src.Next(ctx)
		if err != nil {
			r.prodErr = err
			// The end marker is queued whatever the strategy: it is never
			// dropped nor rejected, so the relay delivers everything before
			// it. If the request is cancelled meanwhile, the relay is
			// already on its way out.
			r.q.pushWait(item{end: true}, done, nil)
			return
		}
		r.produced.Add(1)
		if !r.push(ctx, c, &timer) {
			return
		}
		if n := int64(r.q.len()); n > peak {
			peak = n
		}
	}
}

// push queues c under the backpressure strategy. It returns false when the
// producer must stop (request cancelled, or Block timed out).
func (r *request) push(ctx context.Context, c impls.Chunk, timer **time.Timer) bool {
	it := item{chunk: c}
	done := ctx.Done()
	switch r.opts.Backpressure {
	case Adaptive:
		if d := r.opts.adaptiveDelay(r.q.len()); d > 0 && !r.delay(d, timer, done) {
			r.discarded.Add(1) // taken from the provider, never queued.
			r.prodErr = context.Cause(ctx)
			return false
		}
		if r.q.tryPush(it) {
			return true
		}
		// Full even after the delay: wait for room, so the buffer stays
		// bounded and nothing is lost.
		if r.q.pushWait(it, done, nil) != waitOK {
			r.discarded.Add(1)
			r.prodErr = context.Cause(ctx)
			return false
		}
	case DropOldest:
		for !r.q.tryPush(it) {
			if old, ok := r.q.tryPop(); ok && !old.end {
				r.dropped.Add(1)
			}
		}
	case Reject:
		if !r.q.tryPush(it) {
			r.rejected.Add(1)
		}
	case Block:
		if r.q.tryPush(it) {
			return true
		}
		t := resetTimer(timer, r.opts.BlockTimeout)
		switch r.q.pushWait(it, done, t.C) {
		case waitStopped:
			r.discarded.Add(1)
			r.prodErr = context.Cause(ctx)
			return false
		case waitExpired:
			r.rejected.Add(1)
			r.prodErr = fmt.Errorf("lockfree: block backpressure: chunk %d found no room in %v: %w",
				c.Seq, r.opts.BlockTimeout, impls.ErrRejected)
			r.cancel(r.prodErr) // ends the stream now; the relay reads the cause.
			return false
		}
	}
	return true
}

// delay is Adaptive's pause of d before a push. It ends early when the
// relay drains the queue under the high-water mark, and returns false if
// the request was cancelled meanwhile.
func (r *request) delay(d time.Duration, timer **time.Timer, done <-chan struct{}) bool {
	below := func() bool { return r.q.len() < r.opts.HighWaterMark }
	r.sleeping.Store(true)
	defer r.sleeping.Store(false)
	if below() {
		return true // the relay drained the queue before it could see sleeping.
	}
	t0 := time.Now()
	w := backoff.Sleep(d, timer, done, r.wake, below)
	waited := time.Since(t0)
	r.delays.Add(1)
	r.delayed.Add(int64(waited))
	if w == backoff.Elapsed && waited > d {
		r.late.Add(int64(waited - d))
	}
	return w != backoff.Stopped
}

// resetTimer arms *timer for d, making it on first use.
func resetTimer(timer **time.Timer, d time.Duration) *time.Timer {
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		// Since Go 1.23 Reset leaves no stale value in the channel.
		(*timer).Reset(d)
	}
	return *timer
}

// consume is the relay loop, run on the Relay goroutine. It returns nil at
// the producer's end marker, else why it stopped early.
func (r *request) consume(ctx context.Context, dst impls.Sink, start time.Time) error {
	done, gone := ctx.Done(), dst.Gone()
	var held *mutexContent // the accumulator whose lock is held across the write
	if m, ok := r.acc.(*mutexContent); ok && r.opts.Hold == HoldWrite {
		held = m
	}
	for {
		it, ok := r.q.pop(done, gone)
		if !ok {
			return stopReason(ctx, gone)
		}
		if r.wake != nil && r.sleeping.Load() && r.q.len() < r.opts.HighWaterMark {
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
		if it.end {
			return nil
		}
		if !r.firstSeen.Load() && r.firstSeen.CompareAndSwap(false, true) {
			r.firstChunk.Store(int64(time.Since(start)))
		}
		// A cancellation or disconnect that raced with the pop wins, so the
		// stream ends at the first chunk after it whichever queue is used.
		if stopped(done) || stopped(gone) {
			r.discarded.Add(1)
			return stopReason(ctx, gone)
		}
		c := it.chunk
		var added bool
		if held != nil {
			held.mu.Lock()
			added = held.addLocked(c.Content)
		} else {
			added = r.acc.add(c.Content)
		}
		if !added {
			if held != nil {
				held.mu.Unlock()
			}
			r.discarded.Add(1)
			return fmt.Errorf("lockfree: chunk %d (%d bytes) would pass the content cap of %d bytes: %w",
				c.Seq, len(c.Content), r.acc.limit(), impls.ErrContentTooLarge)
		}
		err := dst.Write(c)
		if held != nil {
			held.mu.Unlock()
		}
		if err != nil {
			// The chunk is in the accumulator but not delivered; the record
			// takes only the first Delivered segments, unless BillUnsent.
			r.discarded.Add(1)
			if r.opts.BillUnsent {
				unsent := c // a copy, so that c itself does not escape per chunk.
				r.unsent = &unsent
			}
			return fmt.Errorf("lockfree: write chunk %d: %w: %w", c.Seq, impls.ErrCancelled, err)
		}
		r.delivered.Add(1)
		r.bytes.Add(int64(len(c.Content)))
		r.tokens.Add(c.Tokens)
		if c.FinishReason != "" {
			r.finish = c.FinishReason
		}
		if c.Usage != nil {
			r.usage = c.Usage
		}
	}
}

// stopped reports whether ch is closed, without blocking.
func stopped(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stopReason says why the relay stopped waiting: the client left, the
// producer's Block strategy rejected a chunk, or the caller cancelled.
func stopReason(ctx context.Context, gone <-chan struct{}) error {
	if stopped(gone) {
		return fmt.Errorf("lockfree: client disconnected: %w", impls.ErrCancelled)
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, impls.ErrRejected) {
		return cause
	}
	return fmt.Errorf("lockfree: %w: %w", impls.ErrCancelled, cause)
}

// producerEnd turns the producer's reason to stop into the Outcome error
// after a relay that reached the end marker.
func (r *request) producerEnd(ctx context.Context) error {
	switch err := r.prodErr; {
	case err == nil || errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, impls.ErrRejected):
		return err
	case (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && context.Cause(ctx) != errRelayOver:
		// The caller's context ended while the producer waited on the
		// provider, and the end marker reached the relay before it saw
		// the cancellation itself: a cancellation, not a provider failure.
		return fmt.Errorf("lockfree: %w: %w", impls.ErrCancelled, err)
	default:
		return fmt.Errorf("lockfree: %w: %w", impls.ErrProviderFailed, err)
	}
}

func (p *Pipeline) getContent(limit int64) content {
	if p.opts.Pool {
		if c, _ := p.accs.Get().(content); c != nil {
			c.reset(limit)
			return c
		}
	}
	return newContent(p.opts, limit)
}

func (p *Pipeline) putContent(c content) {
	if p.opts.Pool {
		c.reset(0) // drop references to the request's chunks now, not at reuse.
		p.accs.Put(c)
	}
}

func (p *Pipeline) getBuffer() *[]byte {
	if p.opts.Pool {
		if b, _ := p.buffers.Get().(*[]byte); b != nil {
			return b
		}
	}
	return new([]byte)
}

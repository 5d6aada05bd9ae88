// Package mutex is the legacy design of the streaming relay, flaws included,
// because the flaws are what streambench measures.
//
// Per request, a producer goroutine pulls chunks from the provider into an
// unbounded buffer (no backpressure); the relay loop, in the caller's
// goroutine, locks the shared response state for every chunk, appends the
// content by copying it into a growing buffer, unlocks and writes the chunk
// to the client. A finalizer goroutine, spawned per request and never
// awaited, waits for the completion signal or a 600 s timeout, then persists
// the record and charges the account with whatever accumulated.
//
// On a client disconnect the relay returns without signalling, so the
// finalizer and the state it holds linger until the timeout and the bill is
// late (or never written, if the process stops first); the provider is not
// cancelled and keeps producing into the buffer until its response is
// complete; and the chunk whose write failed was already accumulated, so it
// is billed although it was never delivered.
//
// Options turns each flaw off one at a time (copying, the unbounded buffer,
// cancellation, the detached finalizer, billing the unsent chunk), or makes
// the lock worse (one lock for all streams, held across the client write);
// DefaultOptions is the faithful legacy design. The variant list in
// impls/variant builds Pipelines from these options; the harness drives
// them.
package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/streambench/streambench/impls"
)

// Pipeline is the legacy relay. It is safe for concurrent use: one Pipeline
// serves every request of a run.
type Pipeline struct {
	opts   Options
	ledger impls.Ledger

	// mu and states exist for LockGlobal only: mu guards states and every
	// state in it.
	mu     sync.Mutex
	states map[uint64]*state

	// bufs recycles content buffers (Pool only).
	bufs sync.Pool
}

var _ impls.Pipeline = (*Pipeline)(nil)

// New returns a Pipeline that persists and charges through ledger. It panics
// if opts is invalid; call opts.Validate first for options a person wrote.
func New(opts Options, ledger impls.Ledger) *Pipeline {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	p := &Pipeline{opts: opts, ledger: ledger}
	if opts.Lock == LockGlobal {
		p.states = make(map[uint64]*state)
	}
	return p
}

// state is the shared per-response state: what the Rust source keeps in
// Arc<Mutex<(String, Option<String>, Option<Value>)>>, plus the tokens
// accumulated and the first-chunk time. Its guard is state.mu (LockStream)
// or Pipeline.mu (LockGlobal).
type state struct {
	mu sync.Mutex

	content  []byte   // AccCopy
	segments [][]byte // AccZeroCopy
	size     int64    // content bytes accumulated, for the cap

	finishReason string
	usage        *impls.Usage
	chunks       int64
	tokens       int64

	started    bool
	firstChunk time.Duration

	// complete is set when the source reached io.EOF and every chunk was
	// relayed; err holds the error that ended the stream early, if any.
	complete bool
	err      string
	// finalized is set by the finalizer; the relay stops accumulating then,
	// since nothing will read the state again.
	finalized bool
}

// lock locks the state of request id and returns it, or nil once its
// finalizer has run; either way the caller must call p.unlock(own).
func (p *Pipeline) lock(id uint64, own *state) *state {
	if p.opts.Lock == LockGlobal {
		p.mu.Lock()
		return p.states[id] // Note: the map lookup per chunk is part of the measured cost.
	}
	own.mu.Lock()
	if own.finalized {
		return nil
	}
	return own
}

func (p *Pipeline) unlock(own *state) {
	if p.opts.Lock == LockGlobal {
		p.mu.Unlock()
		return
	}
	own.mu.Unlock()
}

// finalizerTimeout is the request's limit, else the Options', else the
// default.
func (p *Pipeline) finalizerTimeout(req impls.Request) time.Duration {
	switch {
	case req.Limits.FinalizerTimeout > 0:
		return req.Limits.FinalizerTimeout
	case p.opts.FinalizerTimeout > 0:
		return p.opts.FinalizerTimeout
	default:
		return DefaultFinalizerTimeout
	}
}

// Relay relays src to dst for one request and returns when the relay to the
// client is over. With the default options it leaves the producer running
// until the provider's response is complete, and the finalizer running until
// it is signalled or times out; see the package comment.
func (p *Pipeline) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	start := time.Now()
	own := &state{}
	if p.opts.Pool && p.opts.Accumulation == AccCopy {
		own.content = p.getBuf()
	}
	if p.opts.Lock == LockGlobal {
		p.mu.Lock()
		p.states[req.ID] = own
		p.mu.Unlock()
	}

	// senderGone closes when the relay, which holds the completion signal's
	// sender, returns. Only LingerSenderDropped listens to it.
	// Note: made only when something listens, so that the faithful design
	// allocates nothing the source does not.
	var senderGone chan struct{}
	if p.opts.Linger == LingerSenderDropped {
		senderGone = make(chan struct{})
	}
	done := make(chan struct{}) // closed to signal completion to the finalizer
	var finalized chan struct{}
	if p.opts.Finalizer == FinalizerAwaited {
		finalized = make(chan struct{})
	}
	if p.opts.Finalizer != FinalizerInline {
		// Note: in detached mode nothing keeps a handle on this goroutine and
		// nothing can cancel it; that is the legacy design's leak.
		go p.finalize(req, own, done, senderGone, finalized, p.finalizerTimeout(req))
	}

	var out impls.Outcome
	var signal bool
	if p.opts.Producer == ProducerInline {
		out, signal = p.relayInline(ctx, req, own, start, src, dst)
	} else {
		out, signal = p.relayBuffered(ctx, req, own, start, src, dst)
	}
	if senderGone != nil {
		close(senderGone)
	}

	switch p.opts.Finalizer {
	case FinalizerInline:
		p.settle(req, own, p.finalizerTimeout(req))
	case FinalizerAwaited:
		close(done)
		<-finalized
	default:
		if signal {
			close(done)
		}
	}
	return out
}

// relayBuffered runs the relay against a producer goroutine filling a
// buffer. Without Cancel the producer is left running when it returns.
func (p *Pipeline) relayBuffered(ctx context.Context, req impls.Request, own *state, start time.Time, src impls.Source, dst impls.Sink) (impls.Outcome, bool) {
	buf := newBuffer(p.opts)
	var exited chan struct{} // made only for Cancel, which waits on it
	if p.opts.Cancel {
		exited = make(chan struct{})
	}
	// Note: the legacy producer's context is never cancelled, not even by
	// the caller, so a provider keeps streaming after a disconnect.
	pctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if p.opts.Cancel {
		pctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	go produce(pctx, src, buf, exited)

	// Note: the legacy loop watches neither the client nor the caller's
	// context; both channels stay nil (never ready) unless Cancel is set.
	var gone, cancelled <-chan struct{}
	if p.opts.Cancel {
		gone, cancelled = dst.Gone(), ctx.Done()
	}
	pull := func() (impls.Chunk, error) {
		for {
			c, ok, ended, end := buf.pop()
			switch {
			case ok:
				return c, nil
			case ended:
				return impls.Chunk{}, end
			}
			select {
			case <-buf.notify:
			case <-gone:
				return impls.Chunk{}, errGone
			case <-cancelled:
				return impls.Chunk{}, context.Cause(ctx)
			}
		}
	}
	out, signal := p.relay(ctx, req, own, start, pull, dst)

	if p.opts.Cancel {
		cancel()
		<-exited // Wait for src.Close, so the leftovers below are final.
		queued, _ := buf.stats()
		out.Discarded += queued
	} else {
		// Note: without Cancel, chunks still in the buffer, or pushed after
		// Relay returns, are not counted in the Outcome: the producer is
		// still running, so no count taken here would be final. The harness
		// counts them from the Source side (produced after disconnect). A
		// bounded buffer nobody reads any more must not block it for good.
		buf.abandon()
	}
	_, out.QueuePeak = buf.stats()
	out.Delays, out.Delayed, out.DelayLate = buf.delayStats()
	return out, signal
}

// relayInline runs the relay loop reading the provider itself. The
// provider is closed when the loop ends, whatever Cancel says; Cancel
// decides whether a disconnect also interrupts a wait for the next chunk.
func (p *Pipeline) relayInline(ctx context.Context, req impls.Request, own *state, start time.Time, src impls.Source, dst impls.Sink) (impls.Outcome, bool) {
	nctx := context.WithoutCancel(ctx)
	if p.opts.Cancel {
		var cancel context.CancelCauseFunc
		nctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		watch := make(chan struct{})
		defer close(watch)
		go func() {
			select {
			case <-dst.Gone():
				cancel(errGone)
			case <-watch:
			}
		}()
	}
	pull := func() (impls.Chunk, error) {
		c, err := src.Next(nctx)
		if err != nil && nctx.Err() != nil && errors.Is(context.Cause(nctx), errGone) {
			return c, errGone
		}
		return c, err
	}
	out, signal := p.relay(ctx, req, own, start, pull, dst)
	_ = src.Close() // Note: the legacy design ignores the provider's close error.
	return out, signal
}

// errGone is what pull returns when the client left while it waited.
var errGone = errors.New("mutex: client gone while waiting for a chunk")

// relay is the relay loop over pull, which returns the next chunk, io.EOF
// after the last, errGone or the context's cause when Cancel noticed a stop
// while it waited, or the provider's error. It reports whether the loop
// ended in a way the legacy design signals to the finalizer (end of stream,
// provider error, content cap) as opposed to a disconnect, which it does
// not.
func (p *Pipeline) relay(ctx context.Context, req impls.Request, own *state, start time.Time, pull func() (impls.Chunk, error), dst impls.Sink) (out impls.Outcome, signal bool) {
	cancelled := func(cause error) (impls.Outcome, bool) {
		out.Err = fmt.Errorf("mutex: request %d: %w: %w", req.ID, impls.ErrCancelled, cause)
		p.end(req.ID, own, false, out.Err)
		return out, false
	}
	var gone <-chan struct{}
	if p.opts.Cancel {
		gone = dst.Gone()
	}
	for {
		c, err := pull()
		switch {
		case err == nil:
		case err == io.EOF:
			p.end(req.ID, own, true, nil)
			return out, true
		case errors.Is(err, errGone):
			return cancelled(impls.ErrClientGone)
		case ctx.Err() != nil && (errors.Is(err, ctx.Err()) || err == context.Cause(ctx)):
			// Only reachable with Cancel: the producer's context is
			// the caller's, which ended.
			return cancelled(err)
		default:
			out.Err = fmt.Errorf("mutex: request %d: %w: %w", req.ID, impls.ErrProviderFailed, err)
			p.end(req.ID, own, false, out.Err)
			return out, true
		}
		// With Cancel, a disconnect or cancellation that raced with the pop
		// wins, so the stream ends at the first chunk after it.
		if p.opts.Cancel {
			if stopped(gone) {
				out.Discarded++
				return cancelled(impls.ErrClientGone)
			}
			if ctx.Err() != nil {
				out.Discarded++
				return cancelled(context.Cause(ctx))
			}
		}

		werr, err := p.deliver(req, own, c, start, dst)
		if err != nil {
			out.Discarded++
			out.Err = err
			return out, true
		}
		if werr != nil {
			out.Discarded++
			out.Err = fmt.Errorf("mutex: request %d: write chunk %d: %w: %w", req.ID, c.Seq, impls.ErrCancelled, werr)
			p.end(req.ID, own, false, out.Err)
			return out, false
		}
		out.Delivered++
	}
}

// stopped reports whether ch is closed, without blocking; a nil ch never is.
func stopped(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// deliver accumulates c under the request's lock and writes it to the
// client, with the lock held across the write for HoldWrite. err is
// ErrContentTooLarge if c would pass the content cap (nothing written);
// werr is the client write's error. With ForgetUnsent, a chunk whose write
// failed is taken back out of the state.
func (p *Pipeline) deliver(req impls.Request, own *state, c impls.Chunk, start time.Time, dst impls.Sink) (werr, err error) {
	st := p.lock(req.ID, own)
	locked := true
	defer func() {
		if locked {
			p.unlock(own)
		}
	}()
	if st == nil {
		// The finalizer timed out and already wrote the record.
		p.unlock(own)
		locked = false
		return dst.Write(c), nil
	}
	if !st.started {
		st.started, st.firstChunk = true, time.Since(start)
	}
	n := int64(len(c.Content))
	if limit := req.Limits.ContentCap; limit > 0 && st.size+n > limit {
		err := fmt.Errorf("mutex: request %d: chunk %d: %w: %d+%d bytes > cap %d",
			req.ID, c.Seq, impls.ErrContentTooLarge, st.size, n, limit)
		st.err = err.Error()
		return nil, err
	}
	prevFinish, prevUsage := st.finishReason, st.usage
	if p.opts.Accumulation == AccZeroCopy {
		st.segments = append(st.segments, c.Content)
	} else {
		st.content = append(st.content, c.Content...)
	}
	st.size += n
	st.chunks++
	st.tokens += c.Tokens
	if c.FinishReason != "" {
		st.finishReason = c.FinishReason
	}
	if c.Usage != nil {
		st.usage = c.Usage
	}
	if p.opts.Hold == HoldAppend {
		p.unlock(own)
		locked = false
	}
	werr = dst.Write(c)
	if werr == nil || !p.opts.ForgetUnsent {
		// Note: without ForgetUnsent the chunk is already accumulated, so
		// the finalizer will bill it although the client never got it.
		return werr, nil
	}
	if !locked {
		if st = p.lock(req.ID, own); st == nil {
			p.unlock(own)
			return werr, nil
		}
		locked = true
	}
	if p.opts.Accumulation == AccZeroCopy {
		st.segments = st.segments[:len(st.segments)-1]
	} else {
		st.content = st.content[:len(st.content)-int(n)]
	}
	st.size -= n
	st.chunks--
	st.tokens -= c.Tokens
	st.finishReason, st.usage = prevFinish, prevUsage
	return werr, nil
}

// end records how the stream ended in the request's state.
func (p *Pipeline) end(id uint64, own *state, complete bool, err error) {
	st := p.lock(id, own)
	defer p.unlock(own)
	if st == nil {
		return
	}
	st.complete = complete
	if err != nil && st.err == "" {
		st.err = err.Error()
	}
}

// produce is the producer goroutine: it moves chunks from src into buf until
// src ends or fails, then closes src and, if it is not nil, exited.
func produce(ctx context.Context, src impls.Source, buf *buffer, exited chan<- struct{}) {
	for {
		c, err := src.Next(ctx)
		if err != nil {
			buf.close(err)
			break
		}
		if !buf.push(c, ctx.Done()) {
			buf.close(context.Cause(ctx))
			break
		}
	}
	_ = src.Close() // Note: the legacy design ignores the provider's close error.
	if exited != nil {
		close(exited)
	}
}

// finalize is the per-request finalizer goroutine: it waits for done, the
// timeout or (LingerSenderDropped) the relay's return, then
// persists the record and charges the account with whatever accumulated,
// and closes finalized if it is not nil.
// Linger starts a detached finalizer for req as a disconnected request's
// would be (see impls.Lingerer): its state holds content, accumulated as
// the options say, and the chunks and tokens counted; no completion
// signal will come, so it settles when after has passed. It does nothing
// unless the finalizer is detached.
func (p *Pipeline) Linger(req impls.Request, content []byte, chunks, tokens int64, after time.Duration) {
	if p.opts.Finalizer != FinalizerDetached {
		return
	}
	own := &state{size: int64(len(content)), chunks: chunks, tokens: tokens, started: true}
	if p.opts.Accumulation == AccZeroCopy {
		own.segments = [][]byte{content}
	} else {
		own.content = append([]byte(nil), content...)
	}
	if p.opts.Lock == LockGlobal {
		p.mu.Lock()
		p.states[req.ID] = own
		p.mu.Unlock()
	}
	go p.finalize(req, own, nil, nil, nil, after)
}

var _ impls.Lingerer = (*Pipeline)(nil)

func (p *Pipeline) finalize(req impls.Request, own *state, done, senderGone <-chan struct{}, finalized chan<- struct{}, timeout time.Duration) {
	t := time.NewTimer(timeout)
	select {
	case <-done:
	case <-senderGone:
	case <-t.C:
	}
	t.Stop()
	p.settle(req, own, timeout)
	if finalized != nil {
		close(finalized)
	}
}

// settle builds the request's record, persists it and charges the account.
func (p *Pipeline) settle(req impls.Request, own *state, timeout time.Duration) {
	rec := p.record(req, own, timeout)
	// Note: the ledger's errors are dropped, as in the source: a detached
	// finalizer has nobody to report them to.
	_ = p.ledger.Persist(context.Background(), rec)
	_ = p.ledger.Charge(context.Background(), req.Account, rec.Tokens)
	if p.opts.Pool {
		// The Ledger does not retain Content after Persist, and the state
		// is finalized, so nothing reads these buffers any more.
		p.putBuf(rec.Content)
	}
}

// record takes the request's state under its lock, marks it finalized (and
// removes it from the global map) and builds its record.
//
// Note: the record is built under the lock but the ledger is called after
// unlocking, so that with LockGlobal the ledger's latency does not add to
// every other request's lock wait. The record's Content can alias the copy
// buffer because the relay accumulates nothing once the state is finalized.
func (p *Pipeline) record(req impls.Request, own *state, timeout time.Duration) impls.Record {
	st := p.lock(req.ID, own)
	defer p.unlock(own)
	if p.opts.Lock == LockGlobal {
		delete(p.states, req.ID)
	}
	st.finalized = true

	content := st.content
	if p.opts.Accumulation == AccZeroCopy {
		var buf []byte
		if p.opts.Pool {
			buf = p.getBuf()
		}
		content = joinInto(buf, st.segments, st.size)
	}
	tokens := st.tokens
	if p.opts.Bill == BillUsage && st.complete && st.usage != nil {
		tokens = st.usage.CompletionTokens
	}
	errText := st.err
	if !st.complete && errText == "" {
		errText = fmt.Sprintf("mutex: request %d: finalizer timed out after %v", req.ID, timeout)
	}
	return impls.Record{
		RequestID:    req.ID,
		Account:      req.Account,
		Content:      content,
		FinishReason: st.finishReason,
		Usage:        st.usage,
		Chunks:       st.chunks,
		Tokens:       tokens,
		FirstChunk:   st.firstChunk,
		Partial:      !st.complete,
		Err:          errText,
	}
}

// joinInto joins segs (size bytes in all) onto dst[:0].
func joinInto(dst []byte, segs [][]byte, size int64) []byte {
	if dst == nil {
		return bytes.Join(segs, nil)
	}
	dst = slices.Grow(dst[:0], int(size))
	for _, s := range segs {
		dst = append(dst, s...)
	}
	return dst
}

// getBuf takes an empty content buffer from the pool (Pool only).
func (p *Pipeline) getBuf() []byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// putBuf returns a content buffer to the pool (Pool only).
func (p *Pipeline) putBuf(b []byte) {
	if cap(b) == 0 {
		return
	}
	b = b[:0]
	p.bufs.Put(&b)
}

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
// Options turns each flaw off one at a time (lock scope, copying, cancel,
// awaited finalizer); DefaultOptions is the faithful legacy design. The
// variant list in impls/variant builds Pipelines from these options; the
// harness drives them.
package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	if p.opts.Lock == LockGlobal {
		p.mu.Lock()
		p.states[req.ID] = own
		p.mu.Unlock()
	}

	done := make(chan struct{}) // closed to signal completion to the finalizer
	var finalized chan struct{}
	if p.opts.Finalizer == FinalizerAwaited {
		finalized = make(chan struct{})
	}
	// Note: in detached mode nothing keeps a handle on this goroutine and
	// nothing can cancel it; that is the legacy design's leak.
	go p.finalize(req, own, done, finalized, p.finalizerTimeout(req))

	buf := newBuffer()
	// Note: the legacy producer's context is never cancelled, not even by
	// the caller, so a provider keeps streaming after a disconnect.
	pctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	var produced chan struct{}
	if p.opts.Cancel {
		pctx, cancel = context.WithCancel(ctx)
		produced = make(chan struct{})
	}
	defer cancel()
	go produce(pctx, src, buf, produced)

	out, signal := p.relay(ctx, req, own, start, buf, dst)

	if p.opts.Cancel {
		cancel()
		<-produced // Wait for src.Close, so the leftovers below are final.
		queued, _ := buf.stats()
		out.Discarded += queued
	}
	// Note: without Cancel, chunks still in the buffer, or pushed into it
	// after Relay returns, are not counted in the Outcome: the producer is
	// still running, so no count taken here would be final. The harness
	// counts them from the Source side (produced after disconnect).
	_, out.QueuePeak = buf.stats()

	if signal || p.opts.Finalizer == FinalizerAwaited {
		close(done)
	}
	if finalized != nil {
		<-finalized
	}
	return out
}

// relay is the relay loop. It reports whether the loop ended in a way the
// legacy design signals to the finalizer (end of stream, provider error,
// content cap) as opposed to a disconnect, which it does not.
func (p *Pipeline) relay(ctx context.Context, req impls.Request, own *state, start time.Time, buf *buffer, dst impls.Sink) (out impls.Outcome, signal bool) {
	// Note: the legacy loop watches neither the client nor the caller's
	// context; both channels stay nil (never ready) unless Cancel is set.
	var gone, cancelled <-chan struct{}
	if p.opts.Cancel {
		gone, cancelled = dst.Gone(), ctx.Done()
	}
	for {
		c, ok, ended, end := buf.pop()
		if !ok {
			if !ended {
				select {
				case <-buf.notify:
				case <-gone:
					out.Err = fmt.Errorf("mutex: request %d: %w: %w", req.ID, impls.ErrCancelled, impls.ErrClientGone)
					p.end(req.ID, own, false, out.Err)
					return out, false
				case <-cancelled:
					out.Err = fmt.Errorf("mutex: request %d: %w: %w", req.ID, impls.ErrCancelled, context.Cause(ctx))
					p.end(req.ID, own, false, out.Err)
					return out, false
				}
				continue
			}
			switch {
			case end == io.EOF:
				p.end(req.ID, own, true, nil)
				return out, true
			case ctx.Err() != nil && errors.Is(end, ctx.Err()):
				// Only reachable with Cancel: the producer's context is
				// the caller's, which ended.
				out.Err = fmt.Errorf("mutex: request %d: %w: %w", req.ID, impls.ErrCancelled, end)
				p.end(req.ID, own, false, out.Err)
				return out, false
			default:
				out.Err = fmt.Errorf("mutex: request %d: %w: %w", req.ID, impls.ErrProviderFailed, end)
				p.end(req.ID, own, false, out.Err)
				return out, true
			}
		}

		if err := p.accumulate(req, own, c, start); err != nil {
			out.Discarded++
			out.Err = err
			return out, true
		}
		if err := dst.Write(c); err != nil {
			// Note: the chunk is already accumulated, so the finalizer will
			// bill it although the client never got it.
			out.Discarded++
			out.Err = fmt.Errorf("mutex: request %d: write chunk %d: %w: %w", req.ID, c.Seq, impls.ErrCancelled, err)
			p.end(req.ID, own, false, out.Err)
			return out, false
		}
		out.Delivered++
	}
}

// accumulate adds c to the request's state under its lock, or refuses it
// with ErrContentTooLarge if it would pass the content cap.
func (p *Pipeline) accumulate(req impls.Request, own *state, c impls.Chunk, start time.Time) error {
	st := p.lock(req.ID, own)
	defer p.unlock(own)
	if st == nil {
		return nil // The finalizer timed out and already wrote the record.
	}
	if !st.started {
		st.started, st.firstChunk = true, time.Since(start)
	}
	n := int64(len(c.Content))
	if limit := req.Limits.ContentCap; limit > 0 && st.size+n > limit {
		err := fmt.Errorf("mutex: request %d: chunk %d: %w: %d+%d bytes > cap %d",
			req.ID, c.Seq, impls.ErrContentTooLarge, st.size, n, limit)
		st.err = err.Error()
		return err
	}
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
	return nil
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
// src ends or fails, then closes src and, if exited is not nil, closes it.
func produce(ctx context.Context, src impls.Source, buf *buffer, exited chan<- struct{}) {
	for {
		c, err := src.Next(ctx)
		if err != nil {
			buf.close(err)
			break
		}
		buf.push(c)
	}
	_ = src.Close() // Note: the legacy design ignores the provider's close error.
	if exited != nil {
		close(exited)
	}
}

// finalize is the per-request finalizer goroutine: it waits for done or the
// timeout, then persists the record and charges the account with whatever
// accumulated, and closes finalized if it is not nil.
func (p *Pipeline) finalize(req impls.Request, own *state, done <-chan struct{}, finalized chan<- struct{}, timeout time.Duration) {
	t := time.NewTimer(timeout)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()

	rec := p.record(req, own, timeout)
	// Note: the ledger's errors are dropped, as in the source: a detached
	// finalizer has nobody to report them to.
	_ = p.ledger.Persist(context.Background(), rec)
	_ = p.ledger.Charge(context.Background(), req.Account, rec.Tokens)
	if finalized != nil {
		close(finalized)
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
		content = bytes.Join(st.segments, nil)
	}
	tokens := st.tokens
	if st.usage != nil {
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

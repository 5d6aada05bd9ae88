// Package impls is the contract every streaming-relay design implements: the
// chunk, the request, the provider side (Source), the client side (Sink), the
// ledger, and the Outcome of one relay.
//
// It holds types and named errors only. The designs live in the packages
// below it (impls/mutex, impls/lockfree, impls/passthrough); the list of
// named variants built from them lives in impls/variant; the conformance suite
// every variant must pass lives in impls/conformance. The harness package
// sits above all of them and drives a Pipeline with instrumented Sources and
// Sinks.
package impls

import (
	"context"
	"errors"
	"time"
)

// Chunk is one piece of a streamed completion as the provider sent it.
//
// Content is shared, not copied: the provider must not modify it after
// handing it out, and a pipeline may keep references to it (zero-copy
// accumulation) for as long as the request lives.
type Chunk struct {
	// Seq numbers the chunks of one response from 0.
	Seq int64
	// Content is the chunk's text, as bytes.
	Content []byte
	// Tokens is how many completion tokens Content holds; billing sums it.
	Tokens int64
	// FinishReason is set on the last chunk only ("stop", "length", ...).
	FinishReason string
	// Usage is set on the last chunk only.
	Usage *Usage
}

// Usage is the token usage a provider reports at the end of a response.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// Request identifies one relay and carries its limits.
type Request struct {
	// ID is unique within a run; records are keyed by it.
	ID uint64
	// Account is who is charged.
	Account string
	Limits  Limits
}

// Limits are the per-request bounds a pipeline enforces.
type Limits struct {
	// ContentCap is the most content bytes a pipeline accumulates for the
	// record; a chunk that would exceed it ends the stream with
	// ErrContentTooLarge. Zero means no cap.
	ContentCap int64
	// FinalizerTimeout is how long the legacy design's detached finalizer
	// waits for the completion signal (600 s in the source, scaled by a
	// scenario's time scale). Zero means the design's default.
	FinalizerTimeout time.Duration
}

// Source is the provider side of one request.
type Source interface {
	// Next blocks until the provider produces its next chunk. It returns
	// io.EOF after the last chunk, ctx.Err() if ctx ends first, and any
	// other error for a provider that failed mid-stream.
	Next(ctx context.Context) (Chunk, error)
	// Close releases the provider: for an HTTP provider it closes the
	// response body, which is how the provider learns it was cancelled.
	// A pipeline calls Close exactly once, when it will call Next no more.
	Close() error
}

// Sink is the client side of one request.
//
// A pipeline must not call a request's Next, Close or Write once Relay has
// returned and Close was called: the harness then reuses the Source and
// Sink for a later request, whose accounting would show the stray call.
// (Gone may still be read: a reused Sink keeps its channel, which was never
// closed.)
type Sink interface {
	// Write delivers one chunk to the client, blocking while the client
	// reads. It returns ErrClientGone once the client has disconnected.
	Write(Chunk) error
	// Gone is closed when the client disconnects.
	Gone() <-chan struct{}
}

// Lingerer is implemented by a design whose finalizer lingers after a
// client disconnects (Traits.DetachedFinalizer). Linger starts one such
// finalizer for req, as a disconnected request's would be: holding content
// as the design accumulated it, with the chunks and tokens it counted,
// waiting for a completion signal that never comes until after has passed,
// then persisting and charging as the design does. The harness uses it to
// start a trial at the design's steady-state lingering population
// (bench run -steady-state) instead of an empty one.
type Lingerer interface {
	Linger(req Request, content []byte, chunks, tokens int64, after time.Duration)
}

// Ledger persists records and charges accounts. It must be safe for
// concurrent use; it must not retain Record.Content after Persist returns.
type Ledger interface {
	Persist(ctx context.Context, rec Record) error
	Charge(ctx context.Context, account string, tokens int64) error
}

// Record is what a pipeline persists for one request.
type Record struct {
	RequestID uint64
	Account   string
	// Content is the accumulated response (what the client was sent, for a
	// correct design).
	Content      []byte
	FinishReason string
	Usage        *Usage
	// Chunks and Tokens are what the record says was delivered; Tokens is
	// also what was charged.
	Chunks int64
	Tokens int64
	// FirstChunk is the time from the start of the relay to the first chunk
	// the relay took for delivery (popped from its buffer, or read from the
	// provider where there is no buffer); zero if none arrived.
	FirstChunk time.Duration
	// Partial is true when the stream did not run to its last chunk.
	Partial bool
	// Err is the error that ended the stream, if any.
	Err string
}

// Outcome is the result of one Relay, as the pipeline saw it when Relay
// returned. Work a design leaves running after it returns (the legacy
// design's detached producer and finalizer) is not in it; the harness
// observes that through the Source and the Ledger.
type Outcome struct {
	// Err is nil for a stream relayed to its end, else one of the errors
	// below, possibly wrapped.
	Err error
	// Delivered counts chunks the Sink accepted.
	Delivered int64
	// Dropped and Rejected count chunks lost to backpressure.
	Dropped  int64
	Rejected int64
	// Discarded counts chunks taken from the Source that were neither
	// delivered, dropped nor rejected before Relay returned: in the queue
	// when the client left, refused by the content cap, or in hand when a
	// write failed.
	Discarded int64
	// QueuePeak is the most chunks buffered between provider and client at
	// once (the high-water mark actually reached).
	QueuePeak int64
	// Delays counts the backpressure delays the producer took, Delayed is
	// how long they lasted in all, and DelayLate how much those that ran to
	// their end overshot the delay asked for: the runtime's timers cannot
	// honour sub-millisecond durations, so a time-scaled delay can run long.
	// A design without delays leaves them zero.
	Delays    int64
	Delayed   time.Duration
	DelayLate time.Duration
}

// Pipeline is one design of the streaming relay. A Pipeline is shared by all
// concurrent requests; Relay is called once per request, from the request's
// own goroutine, and returns when the relay to the client is over.
type Pipeline interface {
	Relay(ctx context.Context, req Request, src Source, dst Sink) Outcome
}

// The errors that end a stream early. Designs wrap them with detail; test
// with errors.Is.
var (
	// ErrContentTooLarge: accumulating the next chunk would pass the cap.
	ErrContentTooLarge = errors.New("content too large")
	// ErrRejected: backpressure refused a chunk and ended the stream
	// (the block strategy's timeout).
	ErrRejected = errors.New("chunk rejected by backpressure")
	// ErrCancelled: the client disconnected (or the caller's context ended).
	ErrCancelled = errors.New("cancelled by client")
	// ErrProviderFailed: the provider returned an error mid-stream.
	ErrProviderFailed = errors.New("provider failed mid-stream")
	// ErrClientGone is what a Sink returns from Write after a disconnect.
	ErrClientGone = errors.New("client gone")
)

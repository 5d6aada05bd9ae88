package mutex

import (
	"errors"
	"fmt"
	"time"

	"github.com/streambench/streambench/impls/internal/backoff"
)

// DefaultFinalizerTimeout is how long the detached finalizer waits for the
// completion signal when neither the request nor the Options say otherwise:
// the 600 s of the source.
const DefaultFinalizerTimeout = 600 * time.Second

// LockScope says which mutex guards a request's accumulated state.
type LockScope int

const (
	// LockStream gives every request its own mutex (the legacy design).
	LockStream LockScope = iota
	// LockGlobal guards the state of every request of a Pipeline with one
	// mutex over a map keyed by request ID: inserted when the relay starts,
	// looked up for every chunk, deleted when the finalizer has run.
	LockGlobal
)

// Accumulation says how the content of a response is kept for its record.
type Accumulation int

const (
	// AccCopy appends every chunk's bytes to one growing buffer, copying
	// them (the legacy design, like Rust's String::push_str).
	AccCopy Accumulation = iota
	// AccZeroCopy keeps a reference to every chunk's bytes and joins them
	// only once, when the record is built.
	AccZeroCopy
)

// FinalizerMode says how a request's record is persisted and charged.
type FinalizerMode int

const (
	// FinalizerDetached spawns the finalizer and keeps no handle on it; a
	// disconnect returns without signalling it, so it waits out its timeout
	// (the legacy design).
	FinalizerDetached FinalizerMode = iota
	// FinalizerAwaited signals completion on every exit, disconnects
	// included, and returns only after the finalizer goroutine has persisted
	// the record and charged the account.
	FinalizerAwaited
	// FinalizerInline spawns nothing: Relay persists and charges itself
	// before it returns (the redesign's settle).
	FinalizerInline
)

// HoldScope says how long the relay holds the state's lock per chunk.
type HoldScope int

const (
	// HoldAppend locks around the append only and writes to the client
	// unlocked.
	HoldAppend HoldScope = iota
	// HoldWrite keeps the lock across the client write as well: the
	// article's first lesson, a synchronous lock held across an await.
	HoldWrite
)

// ProducerMode says who reads the provider.
type ProducerMode int

const (
	// ProducerGoroutine reads the provider on a goroutine of its own into
	// the buffer between it and the relay (the legacy design).
	ProducerGoroutine ProducerMode = iota
	// ProducerInline has the relay loop read the provider itself, the
	// article's literal `while let Some(chunk) = stream.next().await`: no
	// buffer, no producer goroutine, and the provider is released when the
	// loop ends.
	ProducerInline
)

// BufferMode says whether the buffer between producer and relay is bounded.
type BufferMode int

const (
	// BufferUnbounded never makes the producer wait (the legacy design).
	BufferUnbounded BufferMode = iota
	// BufferBounded holds at most BufferLimit chunks and slows the producer
	// with the redesign's adaptive backpressure from HighWaterMark on.
	BufferBounded
)

// Linger says when a detached finalizer stops waiting after a disconnect.
type Linger int

const (
	// LingerTimeout waits out the whole timeout.
	LingerTimeout Linger = iota
	// LingerSenderDropped stops waiting as soon as the relay, which holds
	// the completion signal's sender, returns: Rust's rx.recv() returns None
	// once every sender is dropped, so a disconnect that drops the handler
	// lets the finalizer run at once (without awaiting it).
	LingerSenderDropped
)

// Billing says what a record's tokens, and so the charge, are taken from.
type Billing int

const (
	// BillUsage bills the provider's reported usage (completion tokens) when
	// the stream reached its end, else the tokens of the chunks accumulated.
	BillUsage Billing = iota
	// BillDelivered always bills the tokens of the chunks accumulated.
	BillDelivered
)

var (
	lockScopeNames     = []string{LockStream: "stream", LockGlobal: "global"}
	accumulationNames  = []string{AccCopy: "copy", AccZeroCopy: "zerocopy"}
	finalizerModeNames = []string{FinalizerDetached: "detached", FinalizerAwaited: "awaited", FinalizerInline: "inline"}
	holdScopeNames     = []string{HoldAppend: "append", HoldWrite: "write"}
	producerModeNames  = []string{ProducerGoroutine: "goroutine", ProducerInline: "inline"}
	bufferModeNames    = []string{BufferUnbounded: "unbounded", BufferBounded: "bounded"}
	lingerNames        = []string{LingerTimeout: "timeout", LingerSenderDropped: "sender-dropped"}
	billingNames       = []string{BillUsage: "usage", BillDelivered: "delivered"}
)

// String returns the name ParseLockScope accepts.
func (s LockScope) String() string { return enumString(lockScopeNames, int(s), "LockScope") }

// String returns the name ParseAccumulation accepts.
func (a Accumulation) String() string { return enumString(accumulationNames, int(a), "Accumulation") }

// String returns the name ParseFinalizerMode accepts.
func (m FinalizerMode) String() string {
	return enumString(finalizerModeNames, int(m), "FinalizerMode")
}

// String returns the name ParseHoldScope accepts.
func (h HoldScope) String() string { return enumString(holdScopeNames, int(h), "HoldScope") }

// String returns the name ParseProducerMode accepts.
func (m ProducerMode) String() string { return enumString(producerModeNames, int(m), "ProducerMode") }

// String returns the name ParseBufferMode accepts.
func (m BufferMode) String() string { return enumString(bufferModeNames, int(m), "BufferMode") }

// String returns the name ParseLinger accepts.
func (l Linger) String() string { return enumString(lingerNames, int(l), "Linger") }

// String returns the name ParseBilling accepts.
func (b Billing) String() string { return enumString(billingNames, int(b), "Billing") }

// ParseLockScope parses "stream" or "global".
func ParseLockScope(s string) (LockScope, error) {
	i, err := enumParse(lockScopeNames, s, "lock scope")
	return LockScope(i), err
}

// ParseAccumulation parses "copy" or "zerocopy".
func ParseAccumulation(s string) (Accumulation, error) {
	i, err := enumParse(accumulationNames, s, "accumulation")
	return Accumulation(i), err
}

// ParseFinalizerMode parses "detached", "awaited" or "inline".
func ParseFinalizerMode(s string) (FinalizerMode, error) {
	i, err := enumParse(finalizerModeNames, s, "finalizer mode")
	return FinalizerMode(i), err
}

// ParseHoldScope parses "append" or "write".
func ParseHoldScope(s string) (HoldScope, error) {
	i, err := enumParse(holdScopeNames, s, "hold scope")
	return HoldScope(i), err
}

// ParseProducerMode parses "goroutine" or "inline".
func ParseProducerMode(s string) (ProducerMode, error) {
	i, err := enumParse(producerModeNames, s, "producer mode")
	return ProducerMode(i), err
}

// ParseBufferMode parses "unbounded" or "bounded".
func ParseBufferMode(s string) (BufferMode, error) {
	i, err := enumParse(bufferModeNames, s, "buffer mode")
	return BufferMode(i), err
}

// ParseLinger parses "timeout" or "sender-dropped".
func ParseLinger(s string) (Linger, error) {
	i, err := enumParse(lingerNames, s, "linger mode")
	return Linger(i), err
}

// ParseBilling parses "usage" or "delivered".
func ParseBilling(s string) (Billing, error) {
	i, err := enumParse(billingNames, s, "billing")
	return Billing(i), err
}

func enumString(names []string, i int, typ string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s(%d)", typ, i)
}

func enumParse(names []string, s, what string) (int, error) {
	for i, n := range names {
		if s == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("mutex: unknown %s %q (want %s)", what, s, quoteList(names))
}

func quoteList(names []string) string {
	out := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			out += " or "
		default:
			out += ", "
		}
		out += fmt.Sprintf("%q", n)
	}
	return out
}

// Options are the ablation knobs of the legacy design. DefaultOptions is
// the faithful legacy design; each field fixes (or, for Lock and Hold,
// worsens) one behaviour when changed, and nothing else.
type Options struct {
	// Lock is the scope of the mutex guarding accumulated state.
	Lock LockScope
	// Hold is how long the relay holds that mutex per chunk.
	Hold HoldScope
	// Accumulation is how content is kept for the record.
	Accumulation Accumulation
	// Producer is who reads the provider.
	Producer ProducerMode
	// Buffer bounds the buffer between producer and relay; BufferLimit,
	// HighWaterMark and Adaptive shape a bounded one.
	Buffer        BufferMode
	BufferLimit   int
	HighWaterMark int
	Adaptive      backoff.Adaptive
	// Cancel, when true, gives the request a cancellation tree: a client
	// disconnect or the caller's context cancels the provider, the relay
	// notices it while it waits for a chunk and after every pop, and Relay
	// joins the producer before it returns, so that chunks left in the
	// buffer are counted as Discarded. The legacy design has none (false).
	Cancel bool
	// Finalizer is how the record is persisted and charged.
	Finalizer FinalizerMode
	// Linger is when a detached finalizer stops waiting after a disconnect.
	Linger Linger
	// FinalizerTimeout is how long the finalizer waits for the completion
	// signal when the request's Limits.FinalizerTimeout is zero. Zero means
	// DefaultFinalizerTimeout.
	FinalizerTimeout time.Duration
	// Bill is what the record's tokens are taken from.
	Bill Billing
	// ForgetUnsent, when true, takes the chunk whose client write failed
	// back out of the accumulated state, so that it is neither recorded nor
	// billed. The legacy design accumulates before it writes and keeps the
	// chunk (false): it bills what it never delivered.
	ForgetUnsent bool
	// Pool recycles content buffers between requests through a sync.Pool.
	// Off on both designs by default, so that pooling is a step of its own.
	Pool bool
}

// Buffer defaults of a bounded buffer, the redesign's.
const (
	DefaultBufferLimit   = 128
	DefaultHighWaterMark = 96
)

// DefaultOptions returns the faithful legacy design, every field spelled
// out.
func DefaultOptions() Options {
	return Options{
		Lock:             LockStream,
		Hold:             HoldAppend,
		Accumulation:     AccCopy,
		Producer:         ProducerGoroutine,
		Buffer:           BufferUnbounded,
		BufferLimit:      DefaultBufferLimit,
		HighWaterMark:    DefaultHighWaterMark,
		Adaptive:         backoff.DefaultAdaptive(),
		Cancel:           false,
		Finalizer:        FinalizerDetached,
		Linger:           LingerTimeout,
		FinalizerTimeout: DefaultFinalizerTimeout,
		Bill:             BillUsage,
		ForgetUnsent:     false,
		Pool:             false,
	}
}

// Scaled returns o with every duration it holds multiplied by scale (a
// scenario's time scale), so that the design's own waits run on the same
// clock as the provider and the client.
func (o Options) Scaled(scale float64) Options {
	o.FinalizerTimeout = backoff.Scale(o.FinalizerTimeout, scale)
	o.Adaptive = o.Adaptive.Scaled(scale)
	return o
}

// Validate reports every invalid field at once, joined, or nil.
func (o Options) Validate() error {
	var errs []error
	enum := func(v int, names []string, what string) {
		if v < 0 || v >= len(names) {
			errs = append(errs, fmt.Errorf("mutex: invalid %s %d (want %s)", what, v, quoteList(names)))
		}
	}
	enum(int(o.Lock), lockScopeNames, "lock scope")
	enum(int(o.Hold), holdScopeNames, "hold scope")
	enum(int(o.Accumulation), accumulationNames, "accumulation")
	enum(int(o.Producer), producerModeNames, "producer mode")
	enum(int(o.Buffer), bufferModeNames, "buffer mode")
	enum(int(o.Finalizer), finalizerModeNames, "finalizer mode")
	enum(int(o.Linger), lingerNames, "linger mode")
	enum(int(o.Bill), billingNames, "billing")
	if o.FinalizerTimeout < 0 {
		errs = append(errs, fmt.Errorf("mutex: negative finalizer timeout %v", o.FinalizerTimeout))
	}
	if o.Buffer == BufferBounded {
		if o.Producer == ProducerInline {
			errs = append(errs, errors.New("mutex: a bounded buffer needs producer=goroutine (an inline producer has no buffer)"))
		}
		if o.BufferLimit < 1 {
			errs = append(errs, fmt.Errorf("mutex: buffer limit must be at least 1, got %d", o.BufferLimit))
		}
		if o.HighWaterMark < 1 || o.HighWaterMark > o.BufferLimit {
			errs = append(errs, fmt.Errorf("mutex: high-water mark must be between 1 and the buffer limit (%d), got %d", o.BufferLimit, o.HighWaterMark))
		}
		if err := o.Adaptive.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("mutex: %w", err))
		}
	}
	return errors.Join(errs...)
}

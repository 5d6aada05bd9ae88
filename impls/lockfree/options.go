package lockfree

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/streambench/streambench/impls/internal/backoff"
)

// QueueKind selects the bounded queue between the producer and the relay.
type QueueKind int

const (
	// QueueChan is a buffered Go channel. It is not lock-free: the runtime
	// takes the channel's lock on every send and receive (as the Rust
	// source's channel does).
	QueueChan QueueKind = iota
	// QueueRing is a bounded lock-free MPMC ring (Vyukov's design, one
	// sequence number per slot) that parks on a notification channel only
	// when it has to wait.
	QueueRing
)

var queueKindNames = [...]string{QueueChan: "chan", QueueRing: "ring"}

// String returns the name ParseQueueKind accepts ("chan" or "ring").
func (k QueueKind) String() string {
	if k >= 0 && int(k) < len(queueKindNames) {
		return queueKindNames[k]
	}
	return fmt.Sprintf("QueueKind(%d)", int(k))
}

// ParseQueueKind is the inverse of QueueKind.String. Its error lists the
// allowed values.
func ParseQueueKind(s string) (QueueKind, error) {
	for k, name := range queueKindNames {
		if s == name {
			return QueueKind(k), nil
		}
	}
	return 0, fmt.Errorf("lockfree: unknown queue kind %q (allowed: chan, ring)", s)
}

// Strategy is what the producer does when the queue is filling up.
type Strategy int

const (
	// Adaptive sleeps before each push once the queue holds at least
	// HighWaterMark chunks, for a delay that grows with the fill (Formula),
	// cut short as soon as the relay drains the queue back under the mark,
	// and waits for space when the queue is full, so nothing is lost and the
	// buffer stays bounded.
	Adaptive Strategy = iota
	// DropOldest removes the oldest queued chunk (counted Dropped) to make
	// room for the new one when the queue is full.
	DropOldest
	// Reject refuses the new chunk (counted Rejected) when the queue is
	// full, and goes on with the next one.
	Reject
	// Block waits up to BlockTimeout for space; on timeout the chunk is
	// counted Rejected and the stream ends with impls.ErrRejected.
	Block
)

var strategyNames = [...]string{Adaptive: "adaptive", DropOldest: "drop-oldest", Reject: "reject", Block: "block"}

// String returns the name ParseStrategy accepts.
func (s Strategy) String() string {
	if s >= 0 && int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ParseStrategy is the inverse of Strategy.String. Its error lists the
// allowed values.
func ParseStrategy(s string) (Strategy, error) {
	for k, name := range strategyNames {
		if s == name {
			return Strategy(k), nil
		}
	}
	return 0, fmt.Errorf("lockfree: unknown backpressure strategy %q (allowed: adaptive, drop-oldest, reject, block)", s)
}

// Options are the knobs of the redesign. The zero value is not valid; start
// from DefaultOptions and change one field at a time.
type Options struct {
	// Queue is the kind of bounded queue between producer and relay.
	Queue QueueKind
	// Backpressure is what the producer does when the queue fills up.
	Backpressure Strategy
	// BufferLimit is the queue's capacity in chunks (at least 1).
	BufferLimit int
	// HighWaterMark is the queue length at which Adaptive starts to delay
	// the producer (1..BufferLimit). Other strategies ignore it.
	HighWaterMark int
	// Formula is how Adaptive's delay grows with the fill (fill =
	// queued/BufferLimit): backoff.Article, the source's code, is
	// floor(1+2·fill) × Unit; backoff.Params, the source's enum, is
	// min(InitialDelay*(1+fill*Multiplier), MaxDelay).
	Formula      backoff.Formula
	Unit         time.Duration
	InitialDelay time.Duration
	MaxDelay     time.Duration
	Multiplier   float64
	// BlockTimeout is how long Block waits for space before it rejects the
	// chunk and ends the stream. It must be positive when Backpressure is
	// Block.
	BlockTimeout time.Duration
	// ContentCap caps the accumulated content in bytes. The cap in force is
	// the smaller of ContentCap and the request's Limits.ContentCap, where 0
	// means no cap.
	ContentCap int64
	// Acc is what accumulates the content: the lock-free segment queue, or
	// (to put the legacy's lock back) segments or a copying buffer behind a
	// per-request mutex.
	Acc AccKind
	// Hold is how long a mutex accumulator's lock is held per chunk: the
	// append only, or across the client write too. AccLockFree ignores it.
	Hold HoldScope
	// Bill is what the record's tokens, and so the charge, are taken from.
	Bill Billing
	// BillUnsent puts the legacy's overbilling back: the chunk whose client
	// write failed is recorded and billed although it was not delivered.
	BillUnsent bool
	// Pool recycles accumulators and record buffers between requests
	// through sync.Pools. Off by default, as on the legacy design, so that
	// pooling is a step of its own.
	Pool bool
}

// AccKind is what accumulates a response's content.
type AccKind int

const (
	// AccLockFree is the Accumulator: zero-copy segments, a CAS-enforced cap.
	AccLockFree AccKind = iota
	// AccMutex keeps zero-copy segments in a slice behind a mutex.
	AccMutex
	// AccMutexCopy copies every chunk into a growing buffer behind a mutex,
	// as the legacy design does.
	AccMutexCopy
)

// HoldScope says how long a mutex accumulator's lock is held per chunk.
type HoldScope int

const (
	// HoldAppend locks around the append only.
	HoldAppend HoldScope = iota
	// HoldWrite keeps the lock across the client write (a synchronous lock
	// held across an await).
	HoldWrite
)

// Billing says what a record's tokens are taken from.
type Billing int

const (
	// BillUsage bills the provider's reported usage (completion tokens) when
	// the whole response reached the client, else the delivered chunks'
	// tokens.
	BillUsage Billing = iota
	// BillDelivered always bills the delivered chunks' tokens.
	BillDelivered
)

var (
	accKindNames   = [...]string{AccLockFree: "lockfree", AccMutex: "mutex", AccMutexCopy: "mutex-copy"}
	holdScopeNames = [...]string{HoldAppend: "append", HoldWrite: "write"}
	billingNames   = [...]string{BillUsage: "usage", BillDelivered: "delivered"}
)

// String returns the name ParseAccKind accepts.
func (k AccKind) String() string { return enumName(accKindNames[:], int(k), "AccKind") }

// String returns the name ParseHoldScope accepts.
func (h HoldScope) String() string { return enumName(holdScopeNames[:], int(h), "HoldScope") }

// String returns the name ParseBilling accepts.
func (b Billing) String() string { return enumName(billingNames[:], int(b), "Billing") }

// ParseAccKind parses "lockfree", "mutex" or "mutex-copy".
func ParseAccKind(s string) (AccKind, error) {
	i, err := enumValue(accKindNames[:], s, "accumulator")
	return AccKind(i), err
}

// ParseHoldScope parses "append" or "write".
func ParseHoldScope(s string) (HoldScope, error) {
	i, err := enumValue(holdScopeNames[:], s, "hold scope")
	return HoldScope(i), err
}

// ParseBilling parses "usage" or "delivered".
func ParseBilling(s string) (Billing, error) {
	i, err := enumValue(billingNames[:], s, "billing")
	return Billing(i), err
}

func enumName(names []string, i int, typ string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s(%d)", typ, i)
}

func enumValue(names []string, s, what string) (int, error) {
	for i, n := range names {
		if s == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("lockfree: unknown %s %q (allowed: %s)", what, s, joinNames(names))
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// DefaultOptions returns the faithful redesign: a channel queue of 128
// chunks, adaptive backpressure from a high-water mark of 96 with the
// source's code for the delay (floor(1+2·fill) ms; the enum's parameters
// are 1ms, 50ms and 2), the lock-free accumulator, billing from the
// provider's usage like the legacy design, no pooling, and the request's
// own content cap.
func DefaultOptions() Options {
	a := backoff.DefaultAdaptive()
	return Options{
		Queue:         QueueChan,
		Backpressure:  Adaptive,
		BufferLimit:   128,
		HighWaterMark: 96,
		Formula:       a.Formula,
		Unit:          a.Unit,
		InitialDelay:  a.Initial,
		MaxDelay:      a.Max,
		Multiplier:    a.Multiplier,
		BlockTimeout:  100 * time.Millisecond,
		ContentCap:    0,
		Acc:           AccLockFree,
		Hold:          HoldAppend,
		Bill:          BillUsage,
		BillUnsent:    false,
		Pool:          false,
	}
}

// Scaled returns o with every duration it holds multiplied by scale (a
// scenario's time scale), so that the design's own waits run on the same
// clock as the provider and the client.
func (o Options) Scaled(scale float64) Options {
	a := o.adaptive().Scaled(scale)
	o.Unit, o.InitialDelay, o.MaxDelay = a.Unit, a.Initial, a.Max
	o.BlockTimeout = backoff.Scale(o.BlockTimeout, scale)
	return o
}

// adaptive is Adaptive's delay rule.
func (o Options) adaptive() backoff.Adaptive {
	return backoff.Adaptive{Formula: o.Formula, Unit: o.Unit, Initial: o.InitialDelay, Max: o.MaxDelay, Multiplier: o.Multiplier}
}

// MaxBufferLimit is the largest BufferLimit Validate accepts.
//
// Note: the queue's storage is allocated whole when a request starts, so a
// limit of billions of chunks exhausts memory at the first request, before
// anything can be measured.
const MaxBufferLimit = 1 << 20

// Validate reports every impossible value in o at once (joined with
// errors.Join); each error names the knob.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("lockfree: "+format, args...))
	}
	if o.Queue < 0 || int(o.Queue) >= len(queueKindNames) {
		bad("Queue: unknown queue kind %d (allowed: chan, ring)", int(o.Queue))
	}
	if o.Backpressure < 0 || int(o.Backpressure) >= len(strategyNames) {
		bad("Backpressure: unknown strategy %d (allowed: adaptive, drop-oldest, reject, block)", int(o.Backpressure))
	}
	if o.BufferLimit < 1 || o.BufferLimit > MaxBufferLimit {
		bad("BufferLimit must be from 1 to %d, got %d", MaxBufferLimit, o.BufferLimit)
	}
	if o.HighWaterMark < 1 || o.HighWaterMark > o.BufferLimit {
		bad("HighWaterMark must be between 1 and BufferLimit (%d), got %d", o.BufferLimit, o.HighWaterMark)
	}
	if o.InitialDelay < 0 {
		bad("InitialDelay must not be negative, got %v", o.InitialDelay)
	}
	if o.MaxDelay < 0 {
		bad("MaxDelay must not be negative, got %v", o.MaxDelay)
	} else if o.MaxDelay < o.InitialDelay {
		bad("MaxDelay (%v) must not be less than InitialDelay (%v)", o.MaxDelay, o.InitialDelay)
	}
	if math.IsNaN(o.Multiplier) || math.IsInf(o.Multiplier, 0) || o.Multiplier < 1 {
		bad("Multiplier must be a finite number of at least 1, got %v", o.Multiplier)
	}
	if o.BlockTimeout < 0 {
		bad("BlockTimeout must not be negative, got %v", o.BlockTimeout)
	} else if o.Backpressure == Block && o.BlockTimeout == 0 {
		bad("BlockTimeout must be positive with the block strategy")
	}
	if o.ContentCap < 0 {
		bad("ContentCap must not be negative (0 means the request's cap), got %d", o.ContentCap)
	}
	if o.Formula < 0 || int(o.Formula) > int(backoff.Params) {
		bad("Formula: unknown formula %d (allowed: article, params)", int(o.Formula))
	} else if o.Formula == backoff.Article && o.Unit <= 0 {
		bad("Unit must be positive with the article formula, got %v", o.Unit)
	}
	if o.Acc < 0 || int(o.Acc) >= len(accKindNames) {
		bad("Acc: unknown accumulator %d (allowed: %s)", int(o.Acc), joinNames(accKindNames[:]))
	}
	if o.Hold < 0 || int(o.Hold) >= len(holdScopeNames) {
		bad("Hold: unknown hold scope %d (allowed: %s)", int(o.Hold), joinNames(holdScopeNames[:]))
	} else if o.Hold == HoldWrite && o.Acc == AccLockFree {
		bad("Hold: write needs a mutex accumulator (the lock-free one holds no lock)")
	}
	if o.Bill < 0 || int(o.Bill) >= len(billingNames) {
		bad("Bill: unknown billing %d (allowed: %s)", int(o.Bill), joinNames(billingNames[:]))
	}
	return errors.Join(errs...)
}

// adaptiveDelay is Adaptive's pause before pushing onto a queue holding
// queued chunks: zero below the high-water mark, else the Formula's.
func (o Options) adaptiveDelay(queued int) time.Duration {
	if queued < o.HighWaterMark {
		return 0
	}
	return o.adaptive().Delay(queued, o.BufferLimit)
}

// contentCap is the cap in force for a request: the smaller non-zero of the
// pipeline's and the request's, 0 for none.
func (o Options) contentCap(reqCap int64) int64 {
	switch {
	case o.ContentCap == 0:
		return reqCap
	case reqCap == 0:
		return o.ContentCap
	default:
		return min(o.ContentCap, reqCap)
	}
}

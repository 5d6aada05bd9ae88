package lockfree

import (
	"errors"
	"fmt"
	"math"
	"time"
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
	// HighWaterMark chunks, for InitialDelay*(1+fill*Multiplier) capped at
	// MaxDelay (fill = queued/BufferLimit), and waits for space when the
	// queue is full, so nothing is lost and the buffer stays bounded.
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
	// InitialDelay, MaxDelay and Multiplier shape Adaptive's delay:
	// min(InitialDelay*(1+fill*Multiplier), MaxDelay).
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
}

// DefaultOptions returns the faithful redesign: a channel queue of 128
// chunks, adaptive backpressure from a high-water mark of 96 with the
// source's delay of 1ms*(1+fill*2) capped at 50ms, and the request's own
// content cap.
func DefaultOptions() Options {
	return Options{
		Queue:         QueueChan,
		Backpressure:  Adaptive,
		BufferLimit:   128,
		HighWaterMark: 96,
		InitialDelay:  time.Millisecond,
		MaxDelay:      50 * time.Millisecond,
		Multiplier:    2,
		BlockTimeout:  100 * time.Millisecond,
		ContentCap:    0,
	}
}

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
	if o.BufferLimit < 1 {
		bad("BufferLimit must be at least 1, got %d", o.BufferLimit)
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
	return errors.Join(errs...)
}

// adaptiveDelay is Adaptive's pause before pushing onto a queue holding
// queued chunks: zero below the high-water mark, else
// InitialDelay*(1+fill*Multiplier) capped at MaxDelay.
func (o Options) adaptiveDelay(queued int) time.Duration {
	if queued < o.HighWaterMark {
		return 0
	}
	fill := float64(queued) / float64(o.BufferLimit)
	d := time.Duration(float64(o.InitialDelay) * (1 + fill*o.Multiplier))
	return min(d, o.MaxDelay)
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

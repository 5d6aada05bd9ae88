package impls

import (
	"fmt"
	"time"
)

// BufferKind says what sits between the provider and the client.
type BufferKind int

const (
	// BufferNone: no queue; the relay reads the provider in the client's goroutine
	// (the pass-through). QueuePeak must stay 0.
	BufferNone BufferKind = iota
	// BufferUnbounded: a queue with no limit (the legacy design). The
	// conformance suite asserts the flaw: QueuePeak grows to nearly the whole response.
	BufferUnbounded
	// BufferBounded: a limited queue that slows the provider (Adaptive, Block).
	// QueuePeak <= BufferLimit and a slow client still gets everything.
	BufferBounded
	// BufferDropping: a limited queue that drops the oldest chunk when full.
	BufferDropping
	// BufferRejecting: a limited queue that refuses a chunk when full.
	BufferRejecting
)

var bufferKindNames = [...]string{BufferNone: "none", BufferUnbounded: "unbounded", BufferBounded: "bounded", BufferDropping: "dropping", BufferRejecting: "rejecting"}

// String returns the kind's lower-case name.
func (k BufferKind) String() string {
	if k >= 0 && int(k) < len(bufferKindNames) {
		return bufferKindNames[k]
	}
	return fmt.Sprintf("BufferKind(%d)", int(k))
}

// Traits declares what a variant of a design promises. The variant list
// (impls/variant) derives them from a variant's knobs; the harness's
// accounting and the conformance suite (impls/conformance) check exactly
// what they promise.
type Traits struct {
	// Persists: the variant writes a record and charges the account (false
	// for the pass-through).
	Persists bool
	// Cancels: a client disconnect stops the provider promptly. Unless the
	// finalizer is detached, Relay then returns with nothing of the request
	// left running and, if Persists, the partial record and bill written.
	Cancels bool
	// DetachedFinalizer (legacy): after a disconnect the finalizer lingers
	// until Limits.FinalizerTimeout and only then persists and charges.
	DetachedFinalizer bool
	// SenderDropped (a detached finalizer with linger=sender-dropped): after
	// a disconnect the finalizer stops waiting as soon as Relay returns, not
	// at the timeout, though nothing awaits it.
	SenderDropped bool
	// WatchesClient: the relay checks for a disconnect before it writes each
	// chunk, so a client that left is not written to (and, for a design that
	// accumulates before writing, not billed for that chunk).
	WatchesClient bool
	// OverbillsOnDisconnect (legacy): the chunk whose write failed was
	// accumulated first, so it is recorded and billed although the client
	// never got it.
	OverbillsOnDisconnect bool
	// BillsUsage: a response that reached the client whole is billed the
	// provider's usage (completion tokens), not the sum of its chunks'
	// tokens; anything less is billed by its chunks.
	BillsUsage bool
	// Buffer is the kind of queue between provider and client.
	Buffer BufferKind
	// BufferLimit is the queue's capacity in chunks (Bounded, Dropping,
	// Rejecting).
	BufferLimit int
	// BlockTimeout is set for a Bounded queue that rejects a chunk and ends
	// the stream with impls.ErrRejected when it found no room for that long.
	BlockTimeout time.Duration
}

// Joins reports whether the design has stopped all of a request's work,
// the provider included, by the time Relay returns: it cancels and joins
// its producer, or it has none. Only then must the accounting identity
// (produced = delivered + dropped + rejected + discarded) hold at return.
func (t Traits) Joins() bool { return t.Cancels || t.Buffer == BufferNone }

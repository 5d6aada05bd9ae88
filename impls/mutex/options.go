package mutex

import (
	"errors"
	"fmt"
	"time"
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

// FinalizerMode says whether Relay waits for the request's finalizer.
type FinalizerMode int

const (
	// FinalizerDetached spawns the finalizer and keeps no handle on it; a
	// disconnect returns without signalling it, so it waits out its timeout
	// (the legacy design).
	FinalizerDetached FinalizerMode = iota
	// FinalizerAwaited signals completion on every exit, disconnects
	// included, and returns only after the finalizer has persisted the
	// record and charged the account.
	FinalizerAwaited
)

var (
	lockScopeNames     = []string{LockStream: "stream", LockGlobal: "global"}
	accumulationNames  = []string{AccCopy: "copy", AccZeroCopy: "zerocopy"}
	finalizerModeNames = []string{FinalizerDetached: "detached", FinalizerAwaited: "awaited"}
)

// String returns the name ParseLockScope accepts.
func (s LockScope) String() string { return enumString(lockScopeNames, int(s), "LockScope") }

// String returns the name ParseAccumulation accepts.
func (a Accumulation) String() string { return enumString(accumulationNames, int(a), "Accumulation") }

// String returns the name ParseFinalizerMode accepts.
func (m FinalizerMode) String() string {
	return enumString(finalizerModeNames, int(m), "FinalizerMode")
}

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

// ParseFinalizerMode parses "detached" or "awaited".
func ParseFinalizerMode(s string) (FinalizerMode, error) {
	i, err := enumParse(finalizerModeNames, s, "finalizer mode")
	return FinalizerMode(i), err
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

// Options are the ablation knobs of the legacy design. The zero value and
// DefaultOptions are both the faithful legacy design; each field fixes one
// of its flaws when changed.
type Options struct {
	// Lock is the scope of the mutex guarding accumulated state.
	Lock LockScope
	// Accumulation is how content is kept for the record.
	Accumulation Accumulation
	// Cancel, when true, cancels the provider when the relay ends, makes the
	// relay watch the client's disconnect and the caller's context while it
	// waits for a chunk, and has Relay wait for the provider to stop so that
	// chunks left in the buffer are counted as Discarded. The legacy design
	// has no cancellation (false).
	Cancel bool
	// Finalizer is whether Relay waits for the finalizer.
	Finalizer FinalizerMode
	// FinalizerTimeout is how long the finalizer waits for the completion
	// signal when the request's Limits.FinalizerTimeout is zero. Zero means
	// DefaultFinalizerTimeout.
	FinalizerTimeout time.Duration
}

// DefaultOptions returns the faithful legacy design, every field spelled
// out.
func DefaultOptions() Options {
	return Options{
		Lock:             LockStream,
		Accumulation:     AccCopy,
		Cancel:           false,
		Finalizer:        FinalizerDetached,
		FinalizerTimeout: DefaultFinalizerTimeout,
	}
}

// Validate reports every invalid field at once, joined, or nil.
func (o Options) Validate() error {
	var errs []error
	if o.Lock < 0 || int(o.Lock) >= len(lockScopeNames) {
		errs = append(errs, fmt.Errorf("mutex: invalid lock scope %v (want %s)", o.Lock, quoteList(lockScopeNames)))
	}
	if o.Accumulation < 0 || int(o.Accumulation) >= len(accumulationNames) {
		errs = append(errs, fmt.Errorf("mutex: invalid accumulation %v (want %s)", o.Accumulation, quoteList(accumulationNames)))
	}
	if o.Finalizer < 0 || int(o.Finalizer) >= len(finalizerModeNames) {
		errs = append(errs, fmt.Errorf("mutex: invalid finalizer mode %v (want %s)", o.Finalizer, quoteList(finalizerModeNames)))
	}
	if o.FinalizerTimeout < 0 {
		errs = append(errs, fmt.Errorf("mutex: negative finalizer timeout %v", o.FinalizerTimeout))
	}
	return errors.Join(errs...)
}

// Package variant names the pipelines a run can compare: an implementation
// plus values for its knobs, parsed from a short spec string such as
//
//	mutex
//	mutex:lock=global,acc=zerocopy
//	lockfree:queue=ring,backpressure=reject,buffer=64
//
// The built-in variants are written out in one list, Builtin; nothing
// registers itself. The harness builds a fresh Pipeline from a Variant for
// every trial. Traits says what a variant promises, so the conformance suite
// and the harness's accounting know what to expect of it.
package variant

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
	"github.com/streambench/streambench/impls/lockfree"
	"github.com/streambench/streambench/impls/mutex"
	"github.com/streambench/streambench/impls/passthrough"
)

// Implementation names.
const (
	Mutex       = "mutex"
	LockFree    = "lockfree"
	PassThrough = "passthrough"
)

// Variant is one implementation with its knob values.
type Variant struct {
	// Name is how the variant was asked for (a built-in name or a spec).
	Name string
	// Impl is the implementation: Mutex, LockFree or PassThrough.
	Impl string
	// Description says in one line what the variant is for.
	Description string

	Mutex    mutex.Options
	LockFree lockfree.Options
}

// builtin is the one list of named variants. The first two are the faithful
// designs; the mutex-* steps walk from the legacy design to the redesign one
// knob at a time, so a speedup can be attributed to each step.
var builtin = []struct{ name, spec, desc string }{
	{"mutex", "mutex", "the faithful legacy design: per-stream mutex, copying buffer, no cancellation, detached finalizer, unbounded buffer"},
	{"lockfree", "lockfree", "the faithful redesign: bounded channel, lock-free accumulator, adaptive backpressure, cancellation"},
	{"passthrough", "passthrough", "calibration: relays without accumulating, billing or metrics; measures the harness's own cost"},
	{"mutex-global", "mutex:lock=global", "legacy with one lock shared by all streams (worst-case contention)"},
	{"mutex-zerocopy", "mutex:acc=zerocopy", "legacy with zero-copy accumulation"},
	{"mutex-cancel", "mutex:acc=zerocopy,cancel=on", "legacy with zero-copy accumulation and cancellation"},
	{"mutex-awaited", "mutex:acc=zerocopy,cancel=on,finalizer=awaited", "legacy with every flaw fixed but the mutex and the unbounded buffer"},
	{"lockfree-ring", "lockfree:queue=ring", "redesign with a lock-free ring instead of a Go channel"},
	{"lockfree-drop", "lockfree:backpressure=drop-oldest", "redesign dropping the oldest chunk when the buffer is full"},
	{"lockfree-reject", "lockfree:backpressure=reject", "redesign rejecting new chunks when the buffer is full"},
	{"lockfree-block", "lockfree:backpressure=block", "redesign blocking the provider while the buffer is full"},
}

// Builtin returns the built-in variants, in the order of the list above.
func Builtin() []Variant {
	out := make([]Variant, 0, len(builtin))
	for _, b := range builtin {
		v, err := parseSpec(b.spec)
		if err != nil {
			panic("variant: bad built-in " + b.name + ": " + err.Error())
		}
		v.Name, v.Description = b.name, b.desc
		out = append(out, v)
	}
	return out
}

// Parse resolves a built-in name or a spec string "impl:knob=value,...".
func Parse(s string) (Variant, error) {
	s = strings.TrimSpace(s)
	for _, b := range builtin {
		if b.name == s {
			v, err := parseSpec(b.spec)
			v.Name, v.Description = b.name, b.desc
			return v, err
		}
	}
	v, err := parseSpec(s)
	if err != nil {
		return Variant{}, err
	}
	v.Name = s
	return v, nil
}

// ParseList parses a comma-separated list of variants. Specs contain
// commas too, so a piece with '=' but no ':' continues the spec before it:
// "mutex,lockfree:queue=ring,backpressure=reject" is two variants.
func ParseList(s string) ([]Variant, error) {
	var specs []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.Contains(p, "=") && !strings.Contains(p, ":") && len(specs) > 0 {
			specs[len(specs)-1] += "," + p
			continue
		}
		specs = append(specs, p)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no variants given (built-in: %s)", strings.Join(Names(), ", "))
	}
	var out []Variant
	seen := map[string]bool{}
	for _, f := range specs {
		v, err := Parse(f)
		if err != nil {
			return nil, err
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("variant %q given twice", v.Name)
		}
		seen[v.Name] = true
		out = append(out, v)
	}
	return out, nil
}

func parseSpec(spec string) (Variant, error) {
	impl, knobs, _ := strings.Cut(spec, ":")
	v := Variant{Impl: impl}
	var table map[string]knob
	switch impl {
	case Mutex:
		v.Mutex = mutex.DefaultOptions()
		table = mutexKnobs
	case LockFree:
		v.LockFree = lockfree.DefaultOptions()
		table = lockfreeKnobs
	case PassThrough:
		table = map[string]knob{}
	default:
		return Variant{}, fmt.Errorf("variant %q: unknown implementation %q (allowed: %s, %s, %s; built-in names: %s)",
			spec, impl, Mutex, LockFree, PassThrough, strings.Join(Names(), ", "))
	}
	if knobs != "" {
		seen := map[string]bool{}
		for _, kv := range strings.Split(knobs, ",") {
			k, val, ok := strings.Cut(kv, "=")
			k, val = strings.TrimSpace(k), strings.TrimSpace(val)
			kn, known := table[k]
			if !known {
				return Variant{}, fmt.Errorf("variant %q: unknown knob %q for %s (allowed: %s)", spec, k, impl, knobNames(table))
			}
			if !ok || val == "" {
				return Variant{}, fmt.Errorf("variant %q: knob %q needs a value (%s)", spec, k, kn.help)
			}
			if seen[k] {
				return Variant{}, fmt.Errorf("variant %q: knob %q given twice", spec, k)
			}
			seen[k] = true
			if err := kn.set(&v, val); err != nil {
				return Variant{}, fmt.Errorf("variant %q: knob %s: %v (%s)", spec, k, err, kn.help)
			}
		}
	}
	if impl == LockFree && strings.Contains(knobs, "buffer=") && !strings.Contains(knobs, "high-water=") {
		// Note: the high-water mark follows a buffer limit given without
		// one, at the default's 3/4, rather than failing validation.
		v.LockFree.HighWaterMark = max(1, v.LockFree.BufferLimit*3/4)
	}
	var err error
	switch impl {
	case Mutex:
		err = v.Mutex.Validate()
	case LockFree:
		err = v.LockFree.Validate()
	}
	if err != nil {
		return Variant{}, fmt.Errorf("variant %q: %v", spec, err)
	}
	return v, nil
}

// Names lists the built-in variant names.
func Names() []string {
	out := make([]string, len(builtin))
	for i, b := range builtin {
		out[i] = b.name
	}
	return out
}

// Knobs describes the knobs of impl, one "name=allowed" string each, sorted.
func Knobs(impl string) []string {
	var table map[string]knob
	switch impl {
	case Mutex:
		table = mutexKnobs
	case LockFree:
		table = lockfreeKnobs
	}
	var out []string
	for name, k := range table {
		out = append(out, name+"="+k.help)
	}
	sort.Strings(out)
	return out
}

// Spec returns the canonical spec of v: every knob spelled out, so a record
// says exactly what ran.
func (v Variant) Spec() string {
	switch v.Impl {
	case Mutex:
		o := v.Mutex
		return fmt.Sprintf("mutex:lock=%s,acc=%s,cancel=%s,finalizer=%s,finalizer-timeout=%s",
			o.Lock, o.Accumulation, onOff(o.Cancel), o.Finalizer, o.FinalizerTimeout)
	case LockFree:
		o := v.LockFree
		return fmt.Sprintf("lockfree:queue=%s,backpressure=%s,buffer=%d,high-water=%d,initial-delay=%s,max-delay=%s,multiplier=%g,block-timeout=%s,cap=%d",
			o.Queue, o.Backpressure, o.BufferLimit, o.HighWaterMark, o.InitialDelay, o.MaxDelay, o.Multiplier, o.BlockTimeout, o.ContentCap)
	}
	return v.Impl
}

// New builds a fresh pipeline of this variant writing to ledger.
func (v Variant) New(ledger impls.Ledger) impls.Pipeline {
	switch v.Impl {
	case Mutex:
		return mutex.New(v.Mutex, ledger)
	case LockFree:
		return lockfree.New(v.LockFree, ledger)
	default:
		return passthrough.New()
	}
}

// Traits says what the variant promises, derived from its knobs.
func (v Variant) Traits() conformance.Traits {
	switch v.Impl {
	case Mutex:
		o := v.Mutex
		return conformance.Traits{
			Persists:              true,
			Cancels:               o.Cancel,
			DetachedFinalizer:     o.Finalizer == mutex.FinalizerDetached,
			OverbillsOnDisconnect: true,
			Buffer:                conformance.Unbounded,
		}
	case LockFree:
		o := v.LockFree
		tr := conformance.Traits{Persists: true, Cancels: true, BufferLimit: o.BufferLimit, Buffer: conformance.Bounded}
		switch o.Backpressure {
		case lockfree.DropOldest:
			tr.Buffer = conformance.Dropping
		case lockfree.Reject:
			tr.Buffer = conformance.Rejecting
		}
		return tr
	}
	return conformance.Traits{Buffer: conformance.None}
}

// knob is one settable option of an implementation.
type knob struct {
	help string
	set  func(v *Variant, val string) error
}

func knobNames(t map[string]knob) string {
	var names []string
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

var mutexKnobs = map[string]knob{
	"lock": {"stream|global", func(v *Variant, s string) (err error) {
		v.Mutex.Lock, err = mutex.ParseLockScope(s)
		return err
	}},
	"acc": {"copy|zerocopy", func(v *Variant, s string) (err error) {
		v.Mutex.Accumulation, err = mutex.ParseAccumulation(s)
		return err
	}},
	"cancel": {"off|on", func(v *Variant, s string) (err error) {
		v.Mutex.Cancel, err = parseOnOff(s)
		return err
	}},
	"finalizer": {"detached|awaited", func(v *Variant, s string) (err error) {
		v.Mutex.Finalizer, err = mutex.ParseFinalizerMode(s)
		return err
	}},
	"finalizer-timeout": {"a duration, e.g. 600s", func(v *Variant, s string) (err error) {
		v.Mutex.FinalizerTimeout, err = parseDuration(s)
		return err
	}},
}

var lockfreeKnobs = map[string]knob{
	"queue": {"chan|ring", func(v *Variant, s string) (err error) {
		v.LockFree.Queue, err = lockfree.ParseQueueKind(s)
		return err
	}},
	"backpressure": {"adaptive|drop-oldest|reject|block", func(v *Variant, s string) (err error) {
		v.LockFree.Backpressure, err = lockfree.ParseStrategy(s)
		return err
	}},
	"buffer": {"chunks, an integer >= 1", func(v *Variant, s string) (err error) {
		v.LockFree.BufferLimit, err = parseInt(s)
		return err
	}},
	"high-water": {"chunks, an integer from 1 to buffer (default 3/4 of buffer)", func(v *Variant, s string) (err error) {
		v.LockFree.HighWaterMark, err = parseInt(s)
		return err
	}},
	"initial-delay": {"a duration", func(v *Variant, s string) (err error) {
		v.LockFree.InitialDelay, err = parseDuration(s)
		return err
	}},
	"max-delay": {"a duration", func(v *Variant, s string) (err error) {
		v.LockFree.MaxDelay, err = parseDuration(s)
		return err
	}},
	"multiplier": {"a number >= 1", func(v *Variant, s string) (err error) {
		v.LockFree.Multiplier, err = strconv.ParseFloat(s, 64)
		return err
	}},
	"block-timeout": {"a duration", func(v *Variant, s string) (err error) {
		v.LockFree.BlockTimeout, err = parseDuration(s)
		return err
	}},
	"cap": {"content cap in bytes, 0 = the request's", func(v *Variant, s string) (err error) {
		n, err := parseInt(s)
		v.LockFree.ContentCap = int64(n)
		return err
	}},
}

func parseOnOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("bad value %q", s)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return n, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return d, nil
}

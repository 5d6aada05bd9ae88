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
	"github.com/streambench/streambench/impls/internal/backoff"
	"github.com/streambench/streambench/impls/internal/slow"
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
	// Slow is the injected regression (the slow and spin knobs, on every
	// implementation): busy work per chunk on the relay path, for measuring
	// a regression gate's power. Zero, the default, adds nothing.
	Slow slow.Config
}

// builtin is the one list of named variants. The first two are the faithful
// designs; the fix-*, lockfree-mutexacc and break-* variants are the rungs
// of the two ablation ladders (see Ladders), each named by the one knob it
// changes from the rung before; the rest show single knobs.
var builtin = []struct{ name, spec, desc string }{
	{"mutex", "mutex", "the faithful legacy design: per-stream mutex, copying buffer, unbounded buffer, no cancellation, detached finalizer, bills the unsent chunk"},
	{"lockfree", "lockfree", "the faithful redesign: bounded channel, lock-free accumulator, adaptive backpressure, cancellation, inline settle"},
	{"passthrough", "passthrough", "calibration: relays without accumulating, billing or metrics; measures the harness's own cost"},

	{"fix-awaited", "mutex:finalizer=awaited", "fix ladder 1: legacy whose relay signals and awaits its finalizer"},
	{"fix-cancel", "mutex:finalizer=awaited,cancel=on", "fix ladder 2: ... and cancels the provider on disconnect"},
	{"fix-inline", "mutex:finalizer=inline,cancel=on", "fix ladder 3: ... and settles inline, without a finalizer goroutine"},
	{"fix-bounded", "mutex:finalizer=inline,cancel=on,buffer=bounded", "fix ladder 4: ... and bounds its buffer with adaptive backpressure (the break ladder's crossing)"},
	{"fix-zerocopy", "mutex:finalizer=inline,cancel=on,buffer=bounded,acc=zerocopy", "fix ladder 5: ... and keeps zero-copy segments"},
	{"fix-unsent", "mutex:finalizer=inline,cancel=on,buffer=bounded,acc=zerocopy,bill-unsent=off", "fix ladder 6: the legacy with every flaw but its mutex fixed (the fix ladder's crossing)"},
	{"lockfree-mutexacc", "lockfree:acc=mutex", "the redesign with a mutex-guarded accumulator: fix-unsent's twin on the other code base"},
	{"break-unsent", "lockfree:bill-unsent=on", "break ladder 1: the redesign billing the chunk whose write failed"},
	{"break-mutexacc", "lockfree:bill-unsent=on,acc=mutex", "break ladder 2: ... with a mutex-guarded accumulator"},
	{"break-copy", "lockfree:bill-unsent=on,acc=mutex-copy", "break ladder 3: ... copying into a mutex-guarded buffer (fix-bounded's twin)"},

	{"mutex-global", "mutex:lock=global", "legacy with one lock shared by all streams (worst-case contention)"},
	{"mutex-holdwrite", "mutex:hold=write", "legacy holding its lock across the client write (a lock held across an await)"},
	{"mutex-global-write", "mutex:lock=global,hold=write", "legacy with one lock for all streams, held across every client write"},
	{"mutex-inline", "mutex:producer=inline", "legacy reading the provider in the relay loop, as the article's snippet does"},
	{"mutex-sender", "mutex:linger=sender-dropped", "legacy whose finalizer stops waiting when the producer drops the signal's sender"},
	{"lockfree-ring", "lockfree:queue=ring", "redesign with a lock-free ring instead of a Go channel"},
	{"lockfree-params", "lockfree:formula=params", "redesign with the adaptive delay from the article's enum parameters instead of its code"},
	{"lockfree-pool", "lockfree:pool=on", "redesign recycling accumulators and record buffers through sync.Pools"},
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

// SplitList splits a comma-separated list of variants into its names and
// specs, without parsing them. Specs contain commas too, so a piece with
// '=' but no ':' continues the spec before it:
// "mutex,lockfree:queue=ring,backpressure=reject" is two variants. Empty
// pieces are dropped.
func SplitList(s string) []string {
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
	return specs
}

// ParseList parses a comma-separated list of variants, split as SplitList
// does, refusing a name given twice.
func ParseList(s string) ([]Variant, error) {
	return ParseSpecs(SplitList(s))
}

// ParseSpecs parses variant names and specs, refusing a name given twice.
func ParseSpecs(specs []string) ([]Variant, error) {
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
		table = nil
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
				kn, known = slowKnobs[k]
			}
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
	if impl == LockFree && !strings.Contains(knobs, "formula=") &&
		(strings.Contains(knobs, "initial-delay=") || strings.Contains(knobs, "max-delay=") || strings.Contains(knobs, "multiplier=")) {
		// Note: the article's formula ignores these three, so giving one
		// asks for the formula that uses them.
		v.LockFree.Formula = backoff.Params
	}
	err := v.Slow.Validate()
	switch {
	case err != nil:
	case impl == Mutex:
		err = v.Mutex.Validate()
	case impl == LockFree:
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
	for name, k := range slowKnobs {
		out = append(out, name+"="+k.help)
	}
	sort.Strings(out)
	return out
}

// Spec returns the canonical spec of v: every knob spelled out, so a record
// says exactly what ran. The slow and spin knobs appear only when set, so a
// variant without them keeps the spec it always had.
func (v Variant) Spec() string {
	s := v.spec()
	if k := v.Slow.String(); k != "" {
		sep := ","
		if !strings.Contains(s, ":") {
			sep = ":"
		}
		s += sep + k
	}
	return s
}

func (v Variant) spec() string {
	switch v.Impl {
	case Mutex:
		o := v.Mutex
		return fmt.Sprintf("mutex:lock=%s,hold=%s,acc=%s,producer=%s,buffer=%s,unit=%s,cancel=%s,finalizer=%s,linger=%s,finalizer-timeout=%s,bill=%s,bill-unsent=%s,pool=%s",
			o.Lock, o.Hold, o.Accumulation, o.Producer, o.Buffer, o.Adaptive.Unit, onOff(o.Cancel), o.Finalizer, o.Linger, o.FinalizerTimeout,
			o.Bill, onOff(!o.ForgetUnsent), onOff(o.Pool))
	case LockFree:
		o := v.LockFree
		return fmt.Sprintf("lockfree:queue=%s,backpressure=%s,buffer=%d,high-water=%d,formula=%s,unit=%s,initial-delay=%s,max-delay=%s,multiplier=%g,block-timeout=%s,cap=%d,acc=%s,hold=%s,bill=%s,bill-unsent=%s,pool=%s",
			o.Queue, o.Backpressure, o.BufferLimit, o.HighWaterMark, o.Formula, o.Unit, o.InitialDelay, o.MaxDelay, o.Multiplier, o.BlockTimeout, o.ContentCap,
			o.Acc, o.Hold, o.Bill, onOff(o.BillUnsent), onOff(o.Pool))
	}
	return v.Impl
}

// Scaled returns v with every duration its knobs hold (finalizer timeout,
// backpressure delays and unit, block timeout) multiplied by scale, a
// scenario's time scale, so that a design's own waits run on the same clock
// as the provider and the client. Spec then shows the values in force.
func (v Variant) Scaled(scale float64) Variant {
	switch v.Impl {
	case Mutex:
		v.Mutex = v.Mutex.Scaled(scale)
	case LockFree:
		v.LockFree = v.LockFree.Scaled(scale)
	}
	return v
}

// New builds a fresh pipeline of this variant writing to ledger.
//
// Note: the slow and spin knobs wrap the pipeline rather than living in each
// design, so they are the same busy work on every implementation and a
// variant without them runs exactly the design's code.
func (v Variant) New(ledger impls.Ledger) impls.Pipeline {
	var p impls.Pipeline
	switch v.Impl {
	case Mutex:
		p = mutex.New(v.Mutex, ledger)
	case LockFree:
		p = lockfree.New(v.LockFree, ledger)
	default:
		p = passthrough.New()
	}
	return slow.Wrap(p, v.Slow)
}

// Traits says what the variant promises, derived from its knobs.
func (v Variant) Traits() impls.Traits {
	switch v.Impl {
	case Mutex:
		o := v.Mutex
		tr := impls.Traits{
			Persists:              true,
			Cancels:               o.Cancel,
			DetachedFinalizer:     o.Finalizer == mutex.FinalizerDetached,
			SenderDropped:         o.Linger == mutex.LingerSenderDropped,
			WatchesClient:         o.Cancel,
			OverbillsOnDisconnect: !o.ForgetUnsent,
			BillsUsage:            o.Bill == mutex.BillUsage,
			Buffer:                impls.BufferUnbounded,
		}
		switch {
		case o.Producer == mutex.ProducerInline:
			// Note: the inline loop releases the provider when it ends, so
			// a disconnect stops it at the next write even without Cancel.
			tr.Buffer, tr.Cancels = impls.BufferNone, true
		case o.Buffer == mutex.BufferBounded:
			tr.Buffer, tr.BufferLimit = impls.BufferBounded, o.BufferLimit
		}
		return tr
	case LockFree:
		o := v.LockFree
		tr := impls.Traits{Persists: true, Cancels: true, WatchesClient: true, BufferLimit: o.BufferLimit, Buffer: impls.BufferBounded,
			OverbillsOnDisconnect: o.BillUnsent, BillsUsage: o.Bill == lockfree.BillUsage}
		switch o.Backpressure {
		case lockfree.Block:
			tr.BlockTimeout = o.BlockTimeout
		case lockfree.DropOldest:
			tr.Buffer = impls.BufferDropping
		case lockfree.Reject:
			tr.Buffer = impls.BufferRejecting
		}
		return tr
	}
	return impls.Traits{Buffer: impls.BufferNone}
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
	for n := range slowKnobs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// slowKnobs inject a known regression and are understood by every
// implementation (see impls/internal/slow).
var slowKnobs = map[string]knob{
	"slow": {"a percentage, e.g. 10%: busy work per chunk worth that share of the process's CPU per chunk (calibrated in the warm-up)", func(v *Variant, s string) (err error) {
		v.Slow.Percent, err = slow.ParsePercent(s)
		return err
	}},
	"spin": {"a duration, e.g. 500ns: fixed busy work per chunk", func(v *Variant, s string) (err error) {
		v.Slow.Spin, err = parseDuration(s)
		return err
	}},
}

var mutexKnobs = map[string]knob{
	"lock": {"stream|global", func(v *Variant, s string) (err error) {
		v.Mutex.Lock, err = mutex.ParseLockScope(s)
		return err
	}},
	"hold": {"append|write", func(v *Variant, s string) (err error) {
		v.Mutex.Hold, err = mutex.ParseHoldScope(s)
		return err
	}},
	"producer": {"goroutine|inline", func(v *Variant, s string) (err error) {
		v.Mutex.Producer, err = mutex.ParseProducerMode(s)
		return err
	}},
	"buffer": {"unbounded|bounded", func(v *Variant, s string) (err error) {
		v.Mutex.Buffer, err = mutex.ParseBufferMode(s)
		return err
	}},
	"unit": {"a duration: the bounded buffer's backpressure unit (the article's 1ms)", func(v *Variant, s string) (err error) {
		v.Mutex.Adaptive.Unit, err = parseDuration(s)
		return err
	}},
	"linger": {"timeout|sender-dropped", func(v *Variant, s string) (err error) {
		v.Mutex.Linger, err = mutex.ParseLinger(s)
		return err
	}},
	"bill": {"usage|delivered", func(v *Variant, s string) (err error) {
		v.Mutex.Bill, err = mutex.ParseBilling(s)
		return err
	}},
	"bill-unsent": {"on|off", func(v *Variant, s string) (err error) {
		on, err := parseOnOff(s)
		v.Mutex.ForgetUnsent = !on
		return err
	}},
	"pool": {"off|on", func(v *Variant, s string) (err error) {
		v.Mutex.Pool, err = parseOnOff(s)
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
	"finalizer": {"detached|awaited|inline", func(v *Variant, s string) (err error) {
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
	"buffer": {"chunks, an integer from 1 to 1048576", func(v *Variant, s string) (err error) {
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
	"formula": {"article|params", func(v *Variant, s string) (err error) {
		v.LockFree.Formula, err = backoff.ParseFormula(s)
		return err
	}},
	"unit": {"a duration: the article formula's unit (1ms)", func(v *Variant, s string) (err error) {
		v.LockFree.Unit, err = parseDuration(s)
		return err
	}},
	"acc": {"lockfree|mutex|mutex-copy", func(v *Variant, s string) (err error) {
		v.LockFree.Acc, err = lockfree.ParseAccKind(s)
		return err
	}},
	"hold": {"append|write", func(v *Variant, s string) (err error) {
		v.LockFree.Hold, err = lockfree.ParseHoldScope(s)
		return err
	}},
	"bill": {"usage|delivered", func(v *Variant, s string) (err error) {
		v.LockFree.Bill, err = lockfree.ParseBilling(s)
		return err
	}},
	"bill-unsent": {"off|on", func(v *Variant, s string) (err error) {
		v.LockFree.BillUnsent, err = parseOnOff(s)
		return err
	}},
	"pool": {"off|on", func(v *Variant, s string) (err error) {
		v.LockFree.Pool, err = parseOnOff(s)
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

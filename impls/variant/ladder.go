package variant

import (
	"fmt"

	"github.com/streambench/streambench/impls/internal/backoff"
	"github.com/streambench/streambench/impls/lockfree"
	"github.com/streambench/streambench/impls/mutex"
)

// Ladder is one walk from the legacy design to the redesign, written as
// the variants it visits. Consecutive steps differ in exactly one knob,
// except at the one crossing step, where the code base changes (mutex to
// lockfree or back) and every behaviour stays the same: what the crossing
// measures is the residual, the implementations' own difference.
//
// Both ladders are written from mutex to lockfree, so that each step's
// log-ratio is a share of the same total, log(lockfree/mutex); the ladder
// built from the lockfree end ("break") is walked backwards.
type Ladder struct {
	// Name is short and stable ("fix", "break"); reports key on it.
	Name string
	// Description says in one line how the ladder was built.
	Description string
	// Steps are the variants in order, Steps[0] being mutex and the last
	// lockfree.
	Steps []LadderStep
}

// LadderStep is one variant of a ladder and what changed to reach it.
type LadderStep struct {
	// Variant is a built-in variant name.
	Variant string
	// Change names the one knob that differs from the step before
	// ("acc=zerocopy"), or says "crossing" at the crossing; empty on the
	// first step.
	Change string
	// Crossing marks the step where the code base changes.
	Crossing bool
}

// structural is the start both ladders share: the legacy design and its
// structural flaws fixed one per step in its own code base.
func structural() []LadderStep {
	return []LadderStep{
		{Variant: "mutex"},
		{Variant: "fix-awaited", Change: "finalizer=awaited"},
		{Variant: "fix-cancel", Change: "cancel=on"},
		{Variant: "fix-inline", Change: "finalizer=inline"},
		{Variant: "fix-bounded", Change: "buffer=bounded"},
	}
}

// ladders are the two built-in walks, each from mutex to lockfree.
//
// Note: the structural flaws (the detached finalizer, no cancellation, the
// unbounded buffer) are fixed in the legacy code base on both ladders,
// because the redesign has no such mechanisms to put back without building
// the legacy's own; the ladders differ in where they cross, so the
// accumulation, the billing of the unsent chunk and the lock itself are each
// measured in two contexts: with the other flaws present (break) and absent
// (fix).
var ladders = []Ladder{
	{
		Name:        "fix",
		Description: "from mutex, fixing one flaw per step in the legacy code base, then crossing to the redesign with a mutex-guarded accumulator and removing the lock",
		Steps: append(structural(),
			LadderStep{Variant: "fix-zerocopy", Change: "acc=zerocopy"},
			LadderStep{Variant: "fix-unsent", Change: "bill-unsent=off"},
			LadderStep{Variant: "lockfree-mutexacc", Change: "crossing", Crossing: true},
			LadderStep{Variant: "lockfree", Change: "acc=lockfree"},
		),
	},
	{
		Name:        "break",
		Description: "from lockfree, putting one flaw back per step in the redesign's code base, then crossing to the legacy; walked here from mutex",
		Steps: append(structural(),
			LadderStep{Variant: "break-copy", Change: "crossing", Crossing: true},
			LadderStep{Variant: "break-mutexacc", Change: "acc=mutex"},
			LadderStep{Variant: "break-unsent", Change: "acc=lockfree"},
			LadderStep{Variant: "lockfree", Change: "bill-unsent=off"},
		),
	},
}

// Ladders returns the built-in ladders (see Ladder), fix first.
func Ladders() []Ladder {
	out := make([]Ladder, len(ladders))
	for i, l := range ladders {
		out[i] = l
		out[i].Steps = append([]LadderStep(nil), l.Steps...)
	}
	return out
}

// LadderVariants returns every variant the built-in ladders visit, each
// once, in ladder order: the list `bench run -ladders` runs.
func LadderVariants() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range ladders {
		for _, s := range l.Steps {
			if !seen[s.Variant] {
				seen[s.Variant] = true
				out = append(out, s.Variant)
			}
		}
	}
	return out
}

// Behaviour describes what v does in terms both implementations share, one
// entry per behaviour: two variants with equal Behaviours differ only by
// implementation detail, which is what a ladder's crossing requires.
func (v Variant) Behaviour() map[string]string {
	switch v.Impl {
	case Mutex:
		o := v.Mutex
		b := map[string]string{
			"lock":     "mutex/" + o.Lock.String(),
			"hold":     o.Hold.String(),
			"acc":      map[bool]string{true: "zerocopy", false: "copy"}[o.Accumulation == mutex.AccZeroCopy],
			"producer": o.Producer.String(),
			"buffer":   o.Buffer.String(),
			"cancel":   onOff(o.Cancel),
			"settle":   o.Finalizer.String(),
			"bill":     o.Bill.String(),
			"unsent":   onOff(!o.ForgetUnsent),
			"pool":     onOff(o.Pool),
		}
		if o.Buffer == mutex.BufferBounded {
			b["buffer"] = fmt.Sprintf("bounded/%d/%d/adaptive/%s/%s", o.BufferLimit, o.HighWaterMark, o.Adaptive.Formula, o.Adaptive.Unit)
		}
		if o.Finalizer == mutex.FinalizerDetached {
			b["settle"] += "/" + o.Linger.String()
		}
		return b
	case LockFree:
		o := v.LockFree
		b := map[string]string{
			"lock":     "none",
			"hold":     o.Hold.String(),
			"acc":      "zerocopy",
			"producer": "goroutine",
			"buffer":   fmt.Sprintf("bounded/%d/%d/%s", o.BufferLimit, o.HighWaterMark, o.Backpressure),
			"cancel":   "on",
			"settle":   "inline",
			"bill":     o.Bill.String(),
			"unsent":   onOff(o.BillUnsent),
			"pool":     onOff(o.Pool),
		}
		if o.Acc != lockfree.AccLockFree {
			b["lock"] = "mutex/stream"
		}
		if o.Acc == lockfree.AccMutexCopy {
			b["acc"] = "copy"
		}
		if o.Backpressure == lockfree.Adaptive {
			unit := o.Unit.String()
			if o.Formula == backoff.Params {
				unit = fmt.Sprintf("%s-%s-%g", o.InitialDelay, o.MaxDelay, o.Multiplier)
			}
			b["buffer"] += fmt.Sprintf("/%s/%s", o.Formula, unit)
		}
		return b
	}
	return map[string]string{"impl": v.Impl}
}

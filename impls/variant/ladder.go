package variant

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

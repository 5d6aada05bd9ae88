package variant

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// knobValues splits a canonical spec into its knob values.
func knobValues(spec string) (impl string, knobs map[string]string) {
	impl, rest, _ := strings.Cut(spec, ":")
	knobs = map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		knobs[k] = v
	}
	return impl, knobs
}

func TestLaddersChangeOneKnobPerStep(t *testing.T) {
	ls := Ladders()
	if len(ls) != 2 || ls[0].Name != "fix" || ls[1].Name != "break" {
		t.Fatalf("Ladders() = %d ladders, want fix and break", len(ls))
	}
	for _, l := range ls {
		t.Run(l.Name, func(t *testing.T) {
			if first, last := l.Steps[0].Variant, l.Steps[len(l.Steps)-1].Variant; first != Mutex || last != LockFree {
				t.Fatalf("ladder runs from %s to %s, want mutex to lockfree", first, last)
			}
			crossings := 0
			for i := 1; i < len(l.Steps); i++ {
				prev, err := Parse(l.Steps[i-1].Variant)
				if err != nil {
					t.Fatal(err)
				}
				cur, err := Parse(l.Steps[i].Variant)
				if err != nil {
					t.Fatal(err)
				}
				step := l.Steps[i]
				if step.Crossing {
					crossings++
					if prev.Impl == cur.Impl {
						t.Errorf("step %d (%s): a crossing must change the code base, both are %s", i, step.Variant, cur.Impl)
					}
					if diff := cmp.Diff(prev.Behaviour(), cur.Behaviour()); diff != "" {
						t.Errorf("crossing %s -> %s changes behaviour, not only the implementation (-prev +cur):\n%s", prev.Name, cur.Name, diff)
					}
					continue
				}
				pi, pk := knobValues(prev.Spec())
				ci, ck := knobValues(cur.Spec())
				if pi != ci {
					t.Errorf("step %d (%s) changes the code base without being marked a crossing", i, step.Variant)
					continue
				}
				var changed []string
				for k := range ck {
					if pk[k] != ck[k] {
						changed = append(changed, k+"="+ck[k])
					}
				}
				if len(changed) != 1 {
					t.Errorf("step %d %s -> %s changes %d knobs %v, want exactly one", i, prev.Name, cur.Name, len(changed), changed)
				} else if changed[0] != step.Change {
					t.Errorf("step %d %s -> %s changes %s, but the ladder says %q", i, prev.Name, cur.Name, changed[0], step.Change)
				}
			}
			if crossings != 1 {
				t.Errorf("%d crossings, want exactly one", crossings)
			}
		})
	}
}

// TestCrossingPairs pins the crossing the issue names: the legacy with
// every flaw but its mutex fixed against the redesign with a mutex-guarded
// accumulator, and says that the ladder from the lockfree end ends, before
// its crossing, at the redesign with every flaw it can express put back.
func TestCrossingPairs(t *testing.T) {
	for _, tt := range []struct{ ladder, before, after string }{
		{"fix", "fix-unsent", "lockfree-mutexacc"},
		{"break", "fix-bounded", "break-copy"},
	} {
		for _, l := range Ladders() {
			if l.Name != tt.ladder {
				continue
			}
			for i, s := range l.Steps {
				if s.Crossing && (l.Steps[i-1].Variant != tt.before || s.Variant != tt.after) {
					t.Errorf("%s ladder crosses %s -> %s, want %s -> %s", l.Name, l.Steps[i-1].Variant, s.Variant, tt.before, tt.after)
				}
			}
		}
	}
	// The faithful designs differ in every behaviour the ladders walk.
	m, _ := Parse(Mutex)
	lf, _ := Parse(LockFree)
	mb, lb := m.Behaviour(), lf.Behaviour()
	for _, k := range []string{"lock", "acc", "buffer", "cancel", "settle", "unsent"} {
		if mb[k] == lb[k] {
			t.Errorf("mutex and lockfree agree on %s (%s): the ladders walk a behaviour that does not differ", k, mb[k])
		}
	}
	for _, k := range []string{"bill", "pool", "hold", "producer"} {
		if mb[k] != lb[k] {
			t.Errorf("mutex and lockfree differ in %s (%s vs %s) by default, but no ladder step changes it", k, mb[k], lb[k])
		}
	}
}

func TestLadderVariantsAreBuiltin(t *testing.T) {
	names := map[string]bool{}
	for _, n := range Names() {
		names[n] = true
	}
	vs := LadderVariants()
	for _, v := range vs {
		if !names[v] {
			t.Errorf("ladder variant %s is not built in", v)
		}
	}
	if len(vs) != 12 {
		t.Errorf("LadderVariants() has %d variants, want 12: %v", len(vs), vs)
	}
}

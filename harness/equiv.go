package harness

import (
	"fmt"
	"sort"

	"github.com/google/go-cmp/cmp"

	"github.com/streambench/streambench/result"
)

// Equivalence compares, for each scenario and load, what every variant's
// clients received, request by request, and returns one sentence each. It
// needs request-count runs (duration runs start different requests in
// each trial); where a trial dropped or rejected chunks, or was stopped
// before its end (a partial record), the comparison is undefined and the
// sentence says so.
func Equivalence(trials []*result.Trial) []string {
	type group struct {
		key   string
		first map[string]*result.Trial
		order []string
	}
	groups := map[string]*group{}
	var keys []string
	for _, t := range trials {
		if t.Failed() || t.Trial != 0 {
			continue
		}
		k := fmt.Sprintf("%s %s", t.Scenario, loadName(t.Load))
		g := groups[k]
		if g == nil {
			g = &group{key: k, first: map[string]*result.Trial{}}
			groups[k] = g
			keys = append(keys, k)
		}
		if g.first[t.Variant] == nil {
			g.first[t.Variant] = t
			g.order = append(g.order, t.Variant)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		g := groups[k]
		if len(g.order) < 2 {
			continue
		}
		ref := g.first[g.order[0]]
		if ref.RequestDigests == nil {
			out = append(out, fmt.Sprintf("%s: equivalence not checked (needs --requests, not --duration)", k))
			continue
		}
		same, undefined, partial := []string{g.order[0]}, []string{}, []string{}
		var diffs []string
		for _, name := range g.order[1:] {
			t := g.first[name]
			switch {
			case t.Partial || ref.Partial:
				partial = append(partial, name)
			case t.Accounting.ChunksDropped+t.Accounting.ChunksRejected > 0 || ref.Accounting.ChunksDropped+ref.Accounting.ChunksRejected > 0:
				undefined = append(undefined, name)
			case cmp.Equal(ref.RequestDigests, t.RequestDigests):
				same = append(same, name)
			default:
				diffs = append(diffs, fmt.Sprintf("%s differs from %s at request %d (-%s +%s):\n%s",
					name, g.order[0], firstDiff(ref.RequestDigests, t.RequestDigests), g.order[0], name,
					cmp.Diff(ref.RequestDigests, t.RequestDigests)))
			}
		}
		line := fmt.Sprintf("%s: identical streams for %v", k, same)
		if len(undefined) > 0 {
			line += fmt.Sprintf("; undefined for %v (chunks dropped or rejected by backpressure)", undefined)
		}
		if len(partial) > 0 {
			line += fmt.Sprintf("; undefined for %v (partial records: %s or it stopped before its end)", partial, g.order[0])
		}
		out = append(out, line)
		out = append(out, diffs...)
	}
	return out
}

func firstDiff(a, b []string) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

func loadName(l result.Load) string {
	if l.Model == "open" {
		return fmt.Sprintf("open %g/s %s", l.Rate, l.Arrival)
	}
	return fmt.Sprintf("closed c=%d", l.Concurrency)
}

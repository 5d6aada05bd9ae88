package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/streambench/streambench/result"
)

// Build says what one side of the comparison ran.
type Build struct {
	// Ref is the git ref it was built from, or "" for a given binary.
	Ref string `json:"ref,omitempty"`
	// Binary is the bench binary its trials ran in.
	Binary string `json:"binary,omitempty"`
	// Commit is the revision its records name.
	Commit string `json:"commit,omitempty"`
	// Baseline is the stored results file used instead of fresh trials.
	Baseline string `json:"baseline,omitempty"`
}

func (b Build) String() string {
	switch {
	case b.Baseline != "":
		return "stored " + b.Baseline
	case b.Ref != "" && b.Commit != "":
		return b.Ref + " (" + b.Commit + ")"
	case b.Ref != "":
		return b.Ref
	}
	return b.Binary
}

// Summary is the verdict in one line, as the table and gate.md open.
func (r *Result) Summary() string {
	var fails, open []string
	for _, row := range r.Rows {
		switch row.Decision {
		case Fail:
			fails = append(fails, row.Label)
		case Inconclusive:
			open = append(open, row.Label)
		}
	}
	pairs := 0
	for _, p := range r.Pairs {
		pairs += len(p)
	}
	s := fmt.Sprintf("%s: %d pairs in %s (stopped: %s)", strings.ToUpper(string(r.Verdict)), pairs, r.Elapsed.Round(1e9), r.Stopped)
	switch r.Verdict {
	case Fail:
		s += "; regression in " + strings.Join(dedupe(fails), ", ")
	case Inconclusive:
		s += "; undecided: " + strings.Join(dedupe(open), ", ")
	}
	return s
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// cells renders a row's columns: base, head, change [interval], threshold,
// decision, detectable.
func (row Row) cells() []string {
	m, ok := LookupMetric(row.Metric)
	f := func(v float64) string {
		if !ok {
			if math.IsNaN(v) {
				return "-"
			}
			return fmt.Sprintf("%g", v)
		}
		return m.format(v)
	}
	change := "-"
	switch {
	case row.Invariant:
		change = row.Detail
		if change == "" {
			change = "held on every head trial"
		}
	case row.Absolute:
		change = fmt.Sprintf("median %s [%s, %s]", f(row.Change), f(row.ChangeLo), f(row.ChangeHi))
	case !math.IsNaN(row.ChangeLo):
		change = fmt.Sprintf("%s [%s, %s]", pct(row.Change), pct(row.ChangeLo), pct(row.ChangeHi))
	case !math.IsNaN(row.Change):
		change = pct(row.Change) + " (no interval: " + row.Detail + ")"
	}
	det := "-"
	if !math.IsNaN(row.Detectable) && row.Detectable != 0 {
		sign := "+"
		if m.HigherIsBetter {
			sign = "-"
		}
		det = sign + fmt.Sprintf("%.1f%%", 100*math.Abs(row.Detectable))
	}
	return []string{row.Group, row.Label, f(row.Base), f(row.Head), change, row.Threshold, string(row.Decision), det}
}

var header = []string{"group", "metric", "base", "head", "change [95% interval]", "threshold", "decision", "detectable"}

// WriteTable writes the verdict, then a table of every decision.
func WriteTable(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "gate %s\n", r.Summary())
	fmt.Fprintf(w, "base: %s\nhead: %s\n\n", r.Base, r.Head)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range r.Rows {
		fmt.Fprintln(tw, strings.Join(row.cells(), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w, r, "")
}

func writeNotes(w io.Writer, r *Result, bullet string) error {
	fmt.Fprintf(w, "\n%sdetectable: the smallest regression these pairs could have failed (threshold plus the interval's half-width).\n", bullet)
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "%swarning: %s\n", bullet, s)
	}
	return nil
}

// WriteMarkdown writes gate.md, for a pull-request comment or a CI job
// summary: the verdict, then a row per metric.
func WriteMarkdown(w io.Writer, r *Result) error {
	icon := map[Decision]string{Pass: "✅", Fail: "❌", Inconclusive: "⚠️"}
	fmt.Fprintf(w, "## Performance gate: %s %s\n\n", icon[r.Verdict], r.Summary())
	fmt.Fprintf(w, "Base: `%s`  \nHead: `%s`\n\n", r.Base, r.Head)
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat(" --- |", len(header)))
	for _, row := range r.Rows {
		c := row.cells()
		c[6] = icon[row.Decision] + " " + c[6]
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		fmt.Fprintln(w, "| "+strings.Join(c, " | ")+" |")
	}
	return writeNotes(w, r, "- ")
}

// WriteJSON writes gate.json: the Result, with NaN (no value) as null.
func WriteJSON(w io.Writer, r *Result) error {
	type row Row
	type jrow struct {
		row
		Base       *float64 `json:"base"`
		Head       *float64 `json:"head"`
		Change     *float64 `json:"change"`
		ChangeLo   *float64 `json:"change_lo"`
		ChangeHi   *float64 `json:"change_hi"`
		Detectable *float64 `json:"detectable"`
	}
	num := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	type jresult Result
	out := struct {
		*jresult
		Rows  []jrow `json:"rows"`
		Pairs []int  `json:"pairs"`
	}{jresult: (*jresult)(r)}
	for _, x := range r.Rows {
		out.Rows = append(out.Rows, jrow{row(x), num(x.Base), num(x.Head), num(x.Change), num(x.ChangeLo), num(x.ChangeHi), num(x.Detectable)})
	}
	for _, p := range r.Pairs {
		out.Pairs = append(out.Pairs, len(p))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteBench writes one side's trials in Go benchmark format, one line per
// trial named after the group with the base's variant name on both sides,
// so that `benchstat base.bench head.bench` pairs them and reports the
// change in the same direction as the gate.
func WriteBench(w io.Writer, side Side, groups []Group, pairs [][]Pair) error {
	fmt.Fprintf(w, "side: %s\n", side)
	for gi, g := range groups {
		name := "BenchmarkGate/scenario=" + g.Scenario
		if g.Concurrency > 0 {
			name += fmt.Sprintf("/c=%d", g.Concurrency)
		}
		name += "/variant=" + strings.NewReplacer(" ", "_", "/", "_").Replace(g.Base)
		for _, p := range pairs[gi] {
			t := p.Base
			if side == Head {
				t = p.Head
			}
			if t == nil || t.Failed() {
				continue
			}
			fmt.Fprintf(w, "%s 1", name)
			for _, m := range Metrics[:5] {
				fmt.Fprintf(w, " %g %s", m.Value(t), m.Unit)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// Trials returns one side's records of every group, in the order they ran.
func Trials(side Side, pairs [][]Pair) []*result.Trial {
	var out []*result.Trial
	for _, ps := range pairs {
		for _, p := range ps {
			if side == Base {
				out = append(out, p.Base)
			} else {
				out = append(out, p.Head)
			}
		}
	}
	return out
}

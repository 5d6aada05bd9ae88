package gate

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/streambench/streambench/result"
)

// Decision is what the gate says of one metric, or of the whole run.
type Decision string

// The three decisions.
const (
	Pass         Decision = "pass"
	Fail         Decision = "fail"
	Inconclusive Decision = "inconclusive"
)

// Confidence is the confidence of every interval the gate decides on.
const Confidence = 0.95

// Group is one comparison the gate makes: a scenario at one load, the
// base's variant against the head's.
type Group struct {
	Scenario string `json:"scenario"`
	// Concurrency is the closed-model load; 0 means the scenario's own.
	Concurrency int    `json:"concurrency,omitempty"`
	Base        string `json:"base_variant"`
	Head        string `json:"head_variant"`
}

// String names the group: "firehose c=16 lockfree", or with two variants
// "firehose c=16 lockfree -> lockfree:slow=10%".
func (g Group) String() string {
	s := g.Scenario
	if g.Concurrency > 0 {
		s += fmt.Sprintf(" c=%d", g.Concurrency)
	}
	if g.Base == g.Head {
		return s + " " + g.Base
	}
	return s + " " + g.Base + " -> " + g.Head
}

// Pair is one base trial and the head trial that ran next to it.
type Pair struct {
	Base, Head *result.Trial
	// Disturbed marks a pair during one of whose trials other processes
	// took more of the machine than Config.MaxOtherCPU allows; it is kept
	// in the records and left out of every decision but the invariants.
	Disturbed bool
}

// Row is one decision: a metric (or an invariant) of one group.
type Row struct {
	Group  string `json:"group"`
	Metric string `json:"metric"`
	Label  string `json:"label"`
	// Pairs is how many pairs the decision rests on.
	Pairs int `json:"pairs"`
	// Base and Head are the medians of the two sides.
	Base float64 `json:"base"`
	Head float64 `json:"head"`
	// Change is the Hodges–Lehmann estimate of head/base - 1 over the
	// pairs, ChangeLo and ChangeHi its interval at Confidence (NaN, written
	// as null, when there are too few pairs). For an absolute bound they
	// are the head's median and its interval instead.
	Change     float64 `json:"change"`
	ChangeLo   float64 `json:"change_lo"`
	ChangeHi   float64 `json:"change_hi"`
	Confidence float64 `json:"confidence"`
	// Threshold is the limit in force and Source where it was set.
	Threshold string   `json:"threshold"`
	Source    string   `json:"threshold_source"`
	Decision  Decision `json:"decision"`
	// Detectable is the smallest regression (a relative change in the bad
	// direction) this many pairs could have failed: the threshold plus the
	// interval's half-width. NaN for invariants and absolute bounds.
	Detectable float64 `json:"detectable"`
	// Absolute marks a row that bounds the head's median rather than its
	// change; Invariant a row that must hold on every head trial.
	Absolute  bool   `json:"absolute,omitempty"`
	Invariant bool   `json:"invariant,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// Judge decides every rule of rules (see Rules) and every invariant for one
// group from its pairs. Pairs whose base trial failed are left out (the
// base is not what is judged), and so are disturbed pairs; a failed head
// trial fails the accounting invariant.
func Judge(g Group, pairs []Pair, rules []Threshold) []Row {
	var ok []Pair
	for _, p := range pairs {
		if !p.Base.Failed() && !p.Head.Failed() && !p.Disturbed {
			ok = append(ok, p)
		}
	}
	rows := invariants(g, pairs)
	for _, r := range Rules(rules, g.Scenario, g.Base, g.Head) {
		m, _ := LookupMetric(r.Metric)
		if !math.IsNaN(r.Change) {
			rows = append(rows, judgeChange(g, m, r, ok))
		}
		if !math.IsNaN(r.Max) || !math.IsNaN(r.Min) {
			rows = append(rows, judgeBound(g, m, r, ok))
		}
	}
	return rows
}

// judgeChange decides a relative threshold on the paired log-ratios.
func judgeChange(g Group, m Metric, r Threshold, pairs []Pair) Row {
	row := newRow(g, m, pairs)
	row.Threshold, row.Source = r.String(), r.Source
	d := make([]float64, len(pairs))
	for i, p := range pairs {
		d[i] = m.logRatio(p.Base, p.Head)
	}
	iv := SignedRank(d, Confidence)
	row.Change, row.Confidence = math.Expm1(iv.Est), iv.Confidence
	row.ChangeLo, row.ChangeHi = math.Expm1(iv.Lo), math.Expm1(iv.Hi)
	row.Decision = Inconclusive
	if !iv.Valid() {
		row.Detail = fmt.Sprintf("%d pairs: too few for a %.0f%% interval (6 needed)", len(pairs), 100*Confidence)
		return row
	}
	h := iv.HalfWidth()
	if m.HigherIsBetter {
		limit := math.Log1p(-r.Change)
		switch {
		case iv.Hi < limit:
			row.Decision = Fail
		case iv.Lo >= limit:
			row.Decision = Pass
		}
		row.Detectable = -math.Expm1(limit - h)
	} else {
		limit := math.Log1p(r.Change)
		switch {
		case iv.Lo > limit:
			row.Decision = Fail
		case iv.Hi <= limit:
			row.Decision = Pass
		}
		row.Detectable = math.Expm1(limit + h)
	}
	return row
}

// judgeBound decides an absolute bound on the head's median, with the
// median's distribution-free interval.
func judgeBound(g Group, m Metric, r Threshold, pairs []Pair) Row {
	row := newRow(g, m, pairs)
	row.Threshold, row.Source, row.Absolute = r.String(), r.Source, true
	row.Detectable = math.NaN()
	var head []float64
	for _, p := range pairs {
		head = append(head, m.Value(p.Head))
	}
	row.Decision = Inconclusive
	row.Change, row.ChangeLo, row.ChangeHi = math.NaN(), math.NaN(), math.NaN()
	if len(head) == 0 {
		row.Detail = "no pairs"
		return row
	}
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(head, &benchmath.DefaultThresholds), Confidence)
	row.Change, row.ChangeLo, row.ChangeHi, row.Confidence = s.Center, s.Lo, s.Hi, s.Confidence
	if s.Confidence < Confidence {
		row.Detail = fmt.Sprintf("%d pairs: too few for a %.0f%% interval of the median", len(head), 100*Confidence)
		return row
	}
	failed := (!math.IsNaN(r.Max) && s.Lo > r.Max) || (!math.IsNaN(r.Min) && s.Hi < r.Min)
	passed := (math.IsNaN(r.Max) || s.Hi <= r.Max) && (math.IsNaN(r.Min) || s.Lo >= r.Min)
	switch {
	case failed:
		row.Decision = Fail
	case passed:
		row.Decision = Pass
	}
	return row
}

func newRow(g Group, m Metric, pairs []Pair) Row {
	row := Row{Group: g.String(), Metric: m.Name, Label: m.Label, Pairs: len(pairs)}
	var b, h []float64
	for _, p := range pairs {
		b, h = append(b, m.Value(p.Base)), append(h, m.Value(p.Head))
	}
	row.Base, row.Head = median(b), median(h)
	return row
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// invariants are the rules every head trial must keep, whatever the
// thresholds: its accounting closes (no violation, no crash); and for the
// redesign (a lockfree variant) it leaks no goroutine and, unless it is
// configured to bill the unsent chunk, bills exactly what it delivered.
func invariants(g Group, pairs []Pair) []Row {
	acct := Row{Group: g.String(), Metric: "accounting", Label: "accounting", Pairs: len(pairs), Invariant: true,
		Threshold: "no violation", Source: "invariant", Decision: Pass}
	leak := Row{Group: g.String(), Metric: "goroutines_leaked", Label: "leaked goroutines", Pairs: len(pairs), Invariant: true,
		Threshold: "0 (redesign)", Source: "invariant", Decision: Pass}
	bill := Row{Group: g.String(), Metric: "billing", Label: "billing", Pairs: len(pairs), Invariant: true,
		Threshold: "billed = delivered (redesign)", Source: "invariant", Decision: Pass}
	redesign := false
	for _, p := range pairs {
		h := p.Head
		if h.Failed() && acct.Decision == Pass {
			acct.Decision = Fail
			acct.Detail = fmt.Sprintf("head trial #%d failed: %s", h.Trial, failure(h))
		}
		if !strings.HasPrefix(h.VariantSpec, "lockfree:") {
			continue
		}
		redesign = true
		leak.Head = max(leak.Head, float64(h.GoroutinesLeaked))
		if h.GoroutinesLeaked > 0 && leak.Decision == Pass {
			leak.Decision = Fail
			leak.Detail = fmt.Sprintf("head trial #%d leaked %d goroutines", h.Trial, h.GoroutinesLeaked)
		}
		a := h.Accounting
		if !strings.Contains(h.VariantSpec, "bill-unsent=on") && a.TokensBilled != a.TokensDelivered && bill.Decision == Pass {
			bill.Decision = Fail
			bill.Detail = fmt.Sprintf("head trial #%d billed %d tokens, delivered %d", h.Trial, a.TokensBilled, a.TokensDelivered)
		}
	}
	for _, r := range []*Row{&acct, &leak, &bill} {
		r.Change, r.ChangeLo, r.ChangeHi, r.Detectable, r.Base = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		if r != &leak {
			r.Head = math.NaN()
		}
	}
	if len(pairs) == 0 {
		acct.Decision = Inconclusive
	}
	if !redesign {
		return []Row{acct}
	}
	return []Row{acct, leak, bill}
}

func failure(t *result.Trial) string {
	if t.Error != "" {
		return t.Error
	}
	return strings.Join(t.Accounting.Violations, "; ")
}

// Verdict combines decisions: fail if any failed, else inconclusive if any
// is, else pass.
func Verdict(rows []Row) Decision {
	v := Pass
	for _, r := range rows {
		switch r.Decision {
		case Fail:
			return Fail
		case Inconclusive:
			v = Inconclusive
		}
	}
	return v
}

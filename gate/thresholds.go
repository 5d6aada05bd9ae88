package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/streambench/streambench/scenarios"
)

// Threshold is one rule: for the metric, in the scenarios and variants its
// selectors match, the change the head may show against the base, or an
// absolute bound on the head.
type Threshold struct {
	// Metric is a Metrics name.
	Metric string
	// Scenario and Variant select where the rule applies: a name or a
	// path.Match pattern ("*" or empty: everywhere). Variant matches the
	// base's or the head's variant name.
	Scenario, Variant string
	// Change is the allowed relative change in the metric's bad direction
	// (0.05: a 5% drop of chunks/s, or a 5% rise of CPU/chunk); NaN when
	// the rule sets no relative limit.
	Change float64
	// Max and Min bound the head's median; NaN when unset.
	Max, Min float64
	// Skip leaves the metric ungated where the rule applies.
	Skip bool
	// Source is where the rule came from ("file:line", or "default").
	Source string
}

func rel(metric string, change float64) Threshold {
	return Threshold{Metric: metric, Change: change, Max: math.NaN(), Min: math.NaN(), Source: "default"}
}

// DefaultThresholds are the gate's rules when no file is given; a file's
// rules are added after them.
//
// Note: p99 TTFT is not gated on firehose: with no provider delay its time
// to first chunk is a few tens of microseconds of scheduling, and 28 A/A
// pairs on two cores left its interval at about ±25%, far wider than any
// useful threshold. It is gated on every other scenario.
var DefaultThresholds = []Threshold{
	rel("chunks_per_s", 0.05),
	rel("cpu_ns_per_chunk", 0.05),
	rel("allocs_per_chunk", 0.01),
	rel("alloc_bytes_per_chunk", 0.05),
	rel("ttft_p99_ns", 0.10),
	{Metric: "ttft_p99_ns", Scenario: "firehose", Skip: true, Change: math.NaN(), Max: math.NaN(), Min: math.NaN(), Source: "default"},
}

// String renders the limit a rule sets for metric m ("-5%", "<= 5ms").
func (t Threshold) String() string {
	m, _ := LookupMetric(t.Metric)
	var parts []string
	if !math.IsNaN(t.Change) {
		sign := "+"
		if m.HigherIsBetter {
			sign = "-"
		}
		parts = append(parts, sign+strconv.FormatFloat(100*t.Change, 'g', -1, 64)+"%")
	}
	if !math.IsNaN(t.Max) {
		parts = append(parts, "<= "+m.format(t.Max))
	}
	if !math.IsNaN(t.Min) {
		parts = append(parts, ">= "+m.format(t.Min))
	}
	if t.Skip {
		return "skip"
	}
	return strings.Join(parts, ", ")
}

// Rules resolves, for each metric, the rule in force for one scenario and
// pair of variants: the last rule in rules that names the metric and whose
// selectors match. Metrics without a rule (or skipped) are left out.
func Rules(rules []Threshold, scenario, baseVariant, headVariant string) []Threshold {
	var out []Threshold
	for _, m := range Metrics {
		var in *Threshold
		for i := range rules {
			r := &rules[i]
			if r.Metric == m.Name && match(r.Scenario, scenario) && (match(r.Variant, baseVariant) || match(r.Variant, headVariant)) {
				in = r
			}
		}
		if in != nil && !in.Skip {
			out = append(out, *in)
		}
	}
	return out
}

func match(pattern, name string) bool {
	if pattern == "" || pattern == "*" || pattern == name {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// Error is one problem in a thresholds file and ErrorList every problem
// of one file: the scenario format's types, so that both files a person
// writes report problems alike ("file:line: field: msg", the first
// scenarios.MaxListedErrors of them, then how many more).
type (
	Error     = scenarios.Error
	ErrorList = scenarios.ErrorList
)

// LoadThresholds reads a thresholds file (see ParseThresholds).
func LoadThresholds(file string) ([]Threshold, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseThresholds(file, data)
}

// ParseThresholds decodes a thresholds file strictly, in the manner of the
// scenario files: unknown fields, wrong types and impossible values are
// errors, and every problem is reported at once as an ErrorList naming file,
// line and field.
//
//	thresholds:
//	  - metric: chunks_per_s
//	    change: 5%          # a drop of up to 5% passes
//	  - metric: ttft_p99_ns
//	    scenario: chat
//	    variant: lockfree*
//	    max: 50ms           # an absolute bound on the head's median
//	  - metric: heap_peak_bytes
//	    skip: true
func ParseThresholds(file string, data []byte) (out []Threshold, err error) {
	var errs ErrorList
	fail := func(n *yaml.Node, field, format string, args ...any) {
		line := 0
		if n != nil {
			line = n.Line
		}
		errs = append(errs, &Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	defer func() {
		// Note: the YAML decoder is fed untrusted bytes; a panic in it is
		// a bad file, not a crash.
		if r := recover(); r != nil {
			out, err = nil, ErrorList{{File: file, Msg: fmt.Sprintf("invalid YAML (%v)", r)}}
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrorList{{File: file, Msg: "empty file: want a mapping with a thresholds list"}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{File: file, Msg: "empty file: want a mapping with a thresholds list"}}
		}
		return nil, ErrorList{{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, ErrorList{{File: file, Line: next.Line, Msg: "more than one YAML document"}}
	}
	if len(doc.Content) != 1 {
		return nil, ErrorList{{File: file, Msg: "empty file: want a mapping with a thresholds list"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: file, Line: root.Line, Msg: "want a mapping with a thresholds list"}}
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "thresholds":
			list = v
		default:
			fail(k, k.Value, "unknown field (allowed: thresholds)")
		}
	}
	switch {
	case list == nil:
		fail(root, "thresholds", "missing")
	case list.Kind != yaml.SequenceNode:
		fail(list, "thresholds", "want a list of rules")
	default:
		for i, item := range list.Content {
			where := fmt.Sprintf("thresholds[%d]", i)
			if item.Kind != yaml.MappingNode {
				fail(item, where, "want a mapping (metric, scenario, variant, change, max, min, skip)")
				continue
			}
			t := Threshold{Change: math.NaN(), Max: math.NaN(), Min: math.NaN(), Source: fmt.Sprintf("%s:%d", file, item.Line)}
			var m Metric
			var known bool
			var changeNode, maxNode, minNode *yaml.Node
			seen := map[string]bool{}
			for j := 0; j+1 < len(item.Content); j += 2 {
				k, v := item.Content[j], item.Content[j+1]
				field := where + "." + k.Value
				if seen[k.Value] {
					fail(k, field, "given twice")
					continue
				}
				seen[k.Value] = true
				if v.Kind != yaml.ScalarNode {
					fail(v, field, "want a single value")
					continue
				}
				switch k.Value {
				case "metric":
					t.Metric = v.Value
					if m, known = LookupMetric(v.Value); !known {
						fail(v, field, "unknown metric %q (known: %s)", v.Value, metricNames())
					}
				case "scenario":
					t.Scenario = v.Value
				case "variant":
					t.Variant = v.Value
				case "change":
					changeNode = v
				case "max":
					maxNode = v
				case "min":
					minNode = v
				case "skip":
					b, err := strconv.ParseBool(v.Value)
					if err != nil {
						fail(v, field, "want true or false, got %q", v.Value)
					}
					t.Skip = b
				default:
					fail(k, field, "unknown field (allowed: metric, scenario, variant, change, max, min, skip)")
				}
			}
			for _, p := range []struct{ name, pat string }{{"scenario", t.Scenario}, {"variant", t.Variant}} {
				if _, err := path.Match(p.pat, ""); err != nil {
					fail(item, where+"."+p.name, "bad pattern %q", p.pat)
				}
			}
			if !seen["metric"] {
				fail(item, where, "metric missing")
				continue
			}
			if !known {
				continue
			}
			if changeNode != nil {
				t.Change = parseChange(changeNode, m, where+".change", fail)
			}
			if maxNode != nil {
				t.Max = parseBound(maxNode, m, where+".max", fail)
			}
			if minNode != nil {
				t.Min = parseBound(minNode, m, where+".min", fail)
			}
			if !math.IsNaN(t.Max) && !math.IsNaN(t.Min) && t.Min > t.Max {
				fail(item, where, "min is above max")
			}
			if changeNode == nil && maxNode == nil && minNode == nil && !t.Skip {
				fail(item, where, "give change, max or min (or skip: true)")
			}
			out = append(out, t)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return out, nil
}

// parseChange reads an allowed change: "5%", or "-5%" / "+5%" with the
// sign of the metric's bad direction.
func parseChange(n *yaml.Node, m Metric, field string, fail func(*yaml.Node, string, string, ...any)) float64 {
	s := strings.TrimSpace(n.Value)
	if !strings.HasSuffix(s, "%") {
		fail(n, field, "want a percentage such as 5%%, got %q", n.Value)
		return math.NaN()
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		fail(n, field, "want a percentage such as 5%%, got %q", n.Value)
		return math.NaN()
	}
	bad := "+"
	if m.HigherIsBetter {
		bad = "-"
	}
	switch {
	case strings.HasPrefix(s, "+") && m.HigherIsBetter, strings.HasPrefix(s, "-") && !m.HigherIsBetter:
		way := "rises"
		if m.HigherIsBetter {
			way = "falls"
		}
		fail(n, field, "%s regresses when it %s: write %s%g%% or %g%%", m.Name, way, bad, math.Abs(v), math.Abs(v))
		return math.NaN()
	case v == 0:
		fail(n, field, "a change of 0%% can never pass (the interval always has some width); use max or min for an exact bound")
		return math.NaN()
	case m.HigherIsBetter && math.Abs(v) >= 100:
		fail(n, field, "a drop of %g%% or more is no limit", math.Abs(v))
		return math.NaN()
	}
	return math.Abs(v) / 100
}

// parseBound reads an absolute bound: a number, or a duration for a metric
// in nanoseconds.
func parseBound(n *yaml.Node, m Metric, field string, fail func(*yaml.Node, string, string, ...any)) float64 {
	if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		return v
	}
	if m.Duration {
		if d, err := time.ParseDuration(n.Value); err == nil {
			return float64(d)
		}
		fail(n, field, "want a number of nanoseconds or a duration such as 5ms, got %q", n.Value)
		return math.NaN()
	}
	fail(n, field, "want a number, got %q", n.Value)
	return math.NaN()
}

package gate

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseThresholdsGood(t *testing.T) {
	rules, err := LoadThresholds("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 5 {
		t.Fatalf("%d rules, want 5", len(rules))
	}
	want := []struct {
		metric, scenario, variant string
		change, max, min          float64
		skip                      bool
		str                       string
	}{
		{"chunks_per_s", "", "lockfree*", 0.02, math.NaN(), math.NaN(), false, "-2%"},
		{"cpu_ns_per_chunk", "", "", 0.03, math.NaN(), math.NaN(), false, "+3%"},
		{"ttft_p99_ns", "chat", "", math.NaN(), float64(8 * time.Millisecond), math.NaN(), false, "<= 8ms"},
		{"heap_peak_bytes", "", "", math.NaN(), 5e8, 1000, false, "<= 500.00M, >= 1000"},
		{"alloc_bytes_per_chunk", "", "", math.NaN(), math.NaN(), math.NaN(), true, "skip"},
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for i, w := range want {
		r := rules[i]
		if r.Metric != w.metric || r.Scenario != w.scenario || r.Variant != w.variant || !same(r.Change, w.change) ||
			!same(r.Max, w.max) || !same(r.Min, w.min) || r.Skip != w.skip || r.String() != w.str {
			t.Errorf("rule %d: %+v (%q), want %+v", i, r, r.String(), w)
		}
	}
	if rules[0].Source != "testdata/good.yaml:3" {
		t.Errorf("source %q", rules[0].Source)
	}
}

func TestParseThresholdsBad(t *testing.T) {
	_, err := LoadThresholds("testdata/bad.yaml")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v, want an ErrorList", err)
	}
	want := []string{
		`testdata/bad.yaml:2: thresholds[0].metric: unknown metric "chunks_per_sec"`,
		`testdata/bad.yaml:5: thresholds[1].change: chunks_per_s regresses when it falls: write -5% or 5%`,
		`testdata/bad.yaml:7: thresholds[2].change: want a percentage such as 5%, got "5"`,
		`testdata/bad.yaml:8: thresholds[2].colour: unknown field`,
		`testdata/bad.yaml:10: thresholds[3].max: want a number of nanoseconds or a duration`,
		`testdata/bad.yaml:11: thresholds[4]: metric missing`,
		`testdata/bad.yaml:12: thresholds[5]: min is above max`,
		`testdata/bad.yaml:15: thresholds[6]: give change, max or min`,
		`testdata/bad.yaml:16: extra: unknown field (allowed: thresholds)`,
	}
	if len(list) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, list[i], w)
		}
	}
}

func TestParseThresholdsWhole(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "empty file",
		"- a\n- b\n":         "want a mapping",
		"thresholds: 3\n":    "want a list of rules",
		"thresholds: [\n":    "invalid YAML",
		"a: 1\n---\nb: 2\n":  "more than one YAML document",
		"thresholds:\n- 3\n": "want a mapping (metric",
		"other: x\n":         "thresholds: missing",
		"thresholds:\n- metric: chunks_per_s\n  change: 0%\n": "can never pass",
	} {
		_, err := ParseThresholds("t.yaml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "t.yaml") {
			t.Errorf("ParseThresholds(%q) = %v, want an error naming t.yaml and containing %q", in, err, want)
		}
	}
}

func FuzzParseThresholds(f *testing.F) {
	f.Add([]byte("thresholds:\n- metric: chunks_per_s\n  change: 5%\n"))
	f.Add([]byte("thresholds:\n- {metric: ttft_p99_ns, max: 5ms, scenario: '['}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseThresholds("f.yaml", data)
		if err == nil {
			for _, r := range rules {
				if _, ok := LookupMetric(r.Metric); !ok {
					t.Fatalf("accepted unknown metric %q", r.Metric)
				}
			}
		}
	})
}

package result

import (
	"bytes"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	h := &Header{Time: time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC), CPUModel: "cpu", Cores: 2, GOMAXPROCS: 2,
		GoVersion: "go1.26", Commit: "abc", Command: []string{"bench"}, Scenarios: []string{"chat"}, Variants: []string{"mutex"}, Trials: 7}
	tr := &Trial{Mode: ModeChild, Variant: "mutex", Scenario: "chat", Load: Load{Model: "closed", Concurrency: 64},
		TTFT: Percentiles{Count: 3, P50: 10, P99: 30, Max: 40}, ChunksPerS: 12.5,
		Accounting: Accounting{ChunksProduced: 10, ChunksDelivered: 9, ChunksDiscarded: 1, Violations: []string{"x"}},
		Dist:       map[string][]Quantile{"ttft": {{Q: 0.5, NS: 10}}}, RequestDigests: []string{"a", "b"},
		Partial: true, PartialReason: "stopped", WindowOpenLateS: 1, WindowCloseLateS: 33, DrainS: 2, Overrun: []string{PhaseWindow}}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, rec := range []any{h, tr} {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(struct{}{}); err == nil {
		t.Error("writing a foreign type succeeded")
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines, want 2", n)
	}
	hs, ts, err := ReadAll(&buf, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*Header{h}, hs); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*Trial{tr}, ts); diff != "" {
		t.Errorf("trial (-want +got):\n%s", diff)
	}
	if !ts[0].Failed() {
		t.Error("a trial with violations is not Failed")
	}
	if !ts[0].Overran() {
		t.Error("a trial whose window overran does not say so")
	}
}

// TestOverruns: a phase overruns past a tenth of what was asked, and past
// the floor whatever was asked.
func TestOverruns(t *testing.T) {
	for _, tt := range []struct {
		late, asked float64
		want        bool
	}{
		{0.1, 1, false}, {0.11, 1, true}, {0.005, 0, false}, {0.02, 0, true}, {33, 3, true}, {0, 3, false},
	} {
		if got := Overruns(tt.late, tt.asked); got != tt.want {
			t.Errorf("Overruns(%g late, %g asked) = %v, want %v", tt.late, tt.asked, got, tt.want)
		}
	}
}

// TestReaderKeepsGoing: like benchstat, the Reader skips the lines it
// cannot use, with a warning naming file, line and reason, and reads every
// record around them; ReadAll, which must see whole input, fails on the
// first of them.
func TestReaderKeepsGoing(t *testing.T) {
	const good = `{"kind":"trial","variant":"mutex","scenario":"chat","load":{"model":"closed"}}`
	for _, tc := range []struct {
		name, in string
		trials   int
		warnings []string
	}{
		{"clean", good + "\n" + good + "\n", 2, nil},
		{"cut last line", good + "\n" + good + "\n" + good[:30], 2,
			[]string{"f.jsonl:3: the last line is cut short (a run interrupted while writing it?): not a result record: unexpected end of JSON input; line skipped"}},
		{"garbage in the middle", good + "\nnot json\n" + good + "\n", 2,
			[]string{"f.jsonl:2: not a result record: invalid character 'o' in literal null (expecting 'u'); line skipped"}},
		{"unknown kind", "\n\n" + `{"kind":"banana"}` + "\n" + good, 1, []string{`f.jsonl:3: unknown record kind "banana"; line skipped`}},
		{"wrong type", `{"kind":"trial","variant":"m","scenario":"c","load":{"model":"closed"},"chunks_per_s":"fast"}` + "\n" + good, 1,
			[]string{"f.jsonl:1: trial record: json: cannot unmarshal string into Go struct field Trial.chunks_per_s of type float64; line skipped"}},
		{"newer schema", `{"kind":"trial","schema_version":99,"name":"mutex","scen":"chat","load":{"model":"closed"}}` + "\n" + good, 1,
			[]string{"f.jsonl:1: schema_version 99: this bench reads versions up to 1; line skipped"}},
		{"renamed fields", `{"kind":"trial","schema_version":1,"name":"mutex","scen":"chat"}` + "\n" + good, 1,
			[]string{"f.jsonl:1: trial record without variant, scenario, load.model; line skipped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), "f.jsonl")
			n := 0
			for r.Scan() {
				if _, ok := r.Record().(*Trial); ok {
					n++
				}
			}
			if r.Err() != nil {
				t.Fatalf("Err() = %v", r.Err())
			}
			if n != tc.trials {
				t.Errorf("%d trials read, want %d", n, tc.trials)
			}
			var got []string
			for _, w := range r.Warnings() {
				got = append(got, w.Error())
			}
			if diff := cmp.Diff(tc.warnings, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			_, _, err := ReadAll(strings.NewReader(tc.in), "f.jsonl")
			if (err != nil) != (len(tc.warnings) > 0) || (err != nil && err.Error() != tc.warnings[0]) {
				t.Errorf("ReadAll error %v, want the first warning", err)
			}
		})
	}
}

// TestWriterStampsRun: a header gets a fresh run ID and the schema version,
// and the trials written after it carry both.
func TestWriterStampsRun(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	h, tr := &Header{}, &Trial{Variant: "v", Scenario: "s", Load: Load{Model: "closed"}}
	if err := w.Write(h); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(tr); err != nil {
		t.Fatal(err)
	}
	if len(h.RunID) != 16 || tr.RunID != h.RunID || h.SchemaVersion != SchemaVersion || tr.SchemaVersion != SchemaVersion {
		t.Errorf("header run %q v%d, trial run %q v%d", h.RunID, h.SchemaVersion, tr.RunID, tr.SchemaVersion)
	}
	h2 := &Header{}
	if err := NewWriter(&buf).Write(h2); err != nil || h2.RunID == h.RunID {
		t.Errorf("two runs share the ID %q (%v)", h2.RunID, err)
	}
	if !strings.Contains(buf.String(), `"schema_version":1,"run_id":"`+h.RunID+`"`) {
		t.Errorf("records lack schema_version and run_id:\n%s", buf.String())
	}
}

func TestSummarize(t *testing.T) {
	h := hdr.New(1, 1e9, 3)
	if got := Summarize(h); got != (Percentiles{}) || Distribution(h) != nil {
		t.Fatalf("empty histogram: %+v", got)
	}
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v * 1000)
	}
	p := Summarize(h)
	if p.Count != 1000 || p.P50 < 495000 || p.P50 > 505000 || p.Max < 999000 || !(p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.P999 && p.P999 <= p.Max) {
		t.Errorf("percentiles %+v", p)
	}
	d := Distribution(h)
	if len(d) != len(DistQuantiles) || d[len(d)-1].NS != h.Max() {
		t.Errorf("distribution %+v", d)
	}
	for i := 1; i < len(d); i++ {
		if d[i].NS < d[i-1].NS {
			t.Errorf("distribution not monotone at %d: %+v", i, d)
		}
	}
}

// FuzzReader: any input reads without panicking, and whatever it reads
// writes back and reads again the same.
func FuzzReader(f *testing.F) {
	f.Add(`{"kind":"header","cores":2}` + "\n" + `{"kind":"trial","variant":"mutex"}`)
	f.Add(`{"kind":"trial","accounting":{"violations":["a"]}}`)
	f.Add("\x00\xff{")
	f.Fuzz(func(t *testing.T, in string) {
		hs, ts, err := ReadAll(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, h := range hs {
			if err := w.Write(h); err != nil {
				t.Fatal(err)
			}
		}
		for _, tr := range ts {
			if err := w.Write(tr); err != nil {
				t.Fatal(err)
			}
		}
		hs2, ts2, err := ReadAll(&buf, "again")
		if err != nil {
			t.Fatalf("re-reading what was written: %v", err)
		}
		if len(hs2) != len(hs) || len(ts2) != len(ts) {
			t.Fatalf("%d/%d records, then %d/%d", len(hs), len(ts), len(hs2), len(ts2))
		}
	})
}

// TestOpenLoadFields pins the names of the open model's cap policy and
// dropped-arrival count, and that a closed-model record carries no policy.
func TestOpenLoadFields(t *testing.T) {
	open := &Trial{Variant: "v", Scenario: "s", Load: Load{Model: "open", Rate: 100, Concurrency: 10, OnCap: OnCapDrop}, RequestsLate: 3, RequestsDropped: 7}
	closed := &Trial{Variant: "v", Scenario: "s", Load: Load{Model: "closed", Concurrency: 10}}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, rec := range []*Trial{open, closed} {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, want := range []string{`"on_cap":"drop"`, `"requests_dropped":7`, `"requests_late":3`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("open record %s lacks %s", lines[0], want)
		}
	}
	if strings.Contains(lines[1], "on_cap") {
		t.Errorf("closed record names a cap policy: %s", lines[1])
	}
	_, ts, err := ReadAll(&buf, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*Trial{open, closed}, ts); diff != "" {
		t.Errorf("trials (-want +got):\n%s", diff)
	}
}

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
		Dist:       map[string][]Quantile{"ttft": {{Q: 0.5, NS: 10}}}, RequestDigests: []string{"a", "b"}}
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
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"kind":"trial"}` + "\n" + `not json`, "f.jsonl:2: not a result record"},
		{"\n\n" + `{"kind":"banana"}`, `f.jsonl:3: unknown record kind "banana"`},
		{`{"kind":"trial","chunks_per_s":"fast"}`, "f.jsonl:1:"},
	} {
		_, _, err := ReadAll(strings.NewReader(tc.in), "f.jsonl")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadAll(%q) = %v, want %q", tc.in, err, tc.want)
		}
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
	open := &Trial{Load: Load{Model: "open", Rate: 100, Concurrency: 10, OnCap: OnCapDrop}, RequestsLate: 3, RequestsDropped: 7}
	closed := &Trial{Load: Load{Model: "closed", Concurrency: 10}}
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

package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/streambench/streambench/result"
)

// fake is a RunFunc over synthetic trials on a fake clock: every trial
// takes a second, the head's chunks/s is the base's times effect, and each
// side has seeded noise.
type fake struct {
	effect, noise float64
	r             *rand.Rand
	now           time.Time
	calls         []string // "g:side" in the order run
	disturb       func(call int) bool
}

func newFake(effect, noise float64) *fake {
	return &fake{effect: effect, noise: noise, r: rand.New(rand.NewPCG(1, 2)), now: time.Unix(0, 0)}
}

func (f *fake) run(_ context.Context, side Side, g, rep int) (*result.Trial, error) {
	f.now = f.now.Add(time.Second)
	f.calls = append(f.calls, string(side[0])+string(rune('0'+g)))
	jit := 1 + f.noise*(2*f.r.Float64()-1)
	t := trial(1e6*jit, 1000*jit)
	if side == Head {
		t = trial(1e6*f.effect*jit, 1000/f.effect*jit)
	}
	t.Trial = rep
	if f.disturb != nil && f.disturb(len(f.calls)) {
		t.OtherCPUShare = 0.6
	}
	return t, nil
}

func config(f *fake, groups int) Config {
	cfg := Config{Rules: DefaultThresholds, Budget: time.Hour, Now: func() time.Time { return f.now }}
	for i := range groups {
		cfg.Groups = append(cfg.Groups, Group{Scenario: "firehose", Base: "v" + string(rune('0'+i)), Head: "v" + string(rune('0'+i))})
	}
	return cfg
}

func TestRunABBA(t *testing.T) {
	f := newFake(1, 0.01)
	res, err := Run(context.Background(), config(f, 2), f.run)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Pass || res.Stopped != "decided" {
		t.Fatalf("A/A with 1%% noise: %s, stopped %s", res.Verdict, res.Stopped)
	}
	// Six rounds, each group once per round; base first in even rounds.
	want := strings.Repeat("b0 h0 b1 h1 h0 b0 h1 b1 ", 3)
	if got := strings.Join(f.calls, " ") + " "; got != want {
		t.Fatalf("order\n got %s\nwant %s", got, want)
	}
	if res.Rounds != MinPairs || len(res.Pairs[0]) != MinPairs {
		t.Fatalf("%d rounds, %d pairs; want %d", res.Rounds, len(res.Pairs[0]), MinPairs)
	}
}

func TestRunStopsAtFailure(t *testing.T) {
	f := newFake(0.7, 0.02)
	res, err := Run(context.Background(), config(f, 1), f.run)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Fail || res.Stopped != "failed" || res.Rounds != MinPairs {
		t.Fatalf("30%% drop: %s, stopped %s after %d rounds; want a fail at the first look", res.Verdict, res.Stopped, res.Rounds)
	}
	if !strings.Contains(res.Summary(), "regression in chunks/s, CPU/chunk") {
		t.Fatalf("summary %q", res.Summary())
	}
}

func TestRunBudget(t *testing.T) {
	f := newFake(1, 0.5) // too noisy to decide
	cfg := config(f, 1)
	cfg.Budget = 30 * time.Second
	res, err := Run(context.Background(), cfg, f.run)
	if err != nil {
		t.Fatal(err)
	}
	// Each round takes 2 s; the 15th would end past 30 s.
	if res.Verdict != Inconclusive || res.Stopped != "budget" || res.Rounds != 15 {
		t.Fatalf("%s, stopped %s after %d rounds; want inconclusive on the budget after 15", res.Verdict, res.Stopped, res.Rounds)
	}
	if res.Elapsed != 30*time.Second {
		t.Fatalf("elapsed %s, want 30s", res.Elapsed)
	}
}

func TestRunLeavesOutDisturbedPairs(t *testing.T) {
	f := newFake(1, 0.01)
	f.disturb = func(call int) bool { return call%4 == 1 } // every other pair's base
	cfg := config(f, 1)
	cfg.MaxOtherCPU = 0.25
	res, err := Run(context.Background(), cfg, f.run)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Pass || res.Rounds != 2*MinPairs {
		t.Fatalf("%s after %d rounds, want a pass after %d (half the pairs left out)", res.Verdict, res.Rounds, 2*MinPairs)
	}
	if r := decision(res.Rows, "chunks_per_s"); r.Pairs != MinPairs {
		t.Fatalf("decided on %d pairs, want %d", r.Pairs, MinPairs)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "6 of 12 pairs were left out") {
		t.Fatalf("warnings %q", res.Warnings)
	}
}

func TestRunError(t *testing.T) {
	boom := errors.New("protocol")
	calls := 0
	res, err := Run(context.Background(), config(newFake(1, 0), 1), func(context.Context, Side, int, int) (*result.Trial, error) {
		calls++
		return nil, boom
	})
	if !errors.Is(err, boom) || calls != 1 || res.Stopped != "interrupted" {
		t.Fatalf("err %v after %d calls, stopped %q", err, calls, res.Stopped)
	}
}

func TestLooks(t *testing.T) {
	var got []int
	for n := range 40 {
		if looks(n) {
			got = append(got, n)
		}
	}
	want := []int{6, 8, 11, 15, 20, 26, 34}
	if len(got) != len(want) {
		t.Fatalf("looks at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("looks at %v, want %v", got, want)
		}
	}
}

func TestOutputs(t *testing.T) {
	f := newFake(0.7, 0.02)
	cfg := config(f, 1)
	res, err := Run(context.Background(), cfg, f.run)
	if err != nil {
		t.Fatal(err)
	}
	res.Base, res.Head = Build{Ref: "main", Commit: "abc"}, Build{Binary: "/tmp/head"}

	var table bytes.Buffer
	if err := WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(table.String(), "gate FAIL:") || !strings.Contains(table.String(), "base: main (abc)") {
		t.Fatalf("table does not open with the verdict:\n%s", table.String())
	}

	var md bytes.Buffer
	if err := WriteMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(md.String(), "## Performance gate: ❌ FAIL") || !strings.Contains(md.String(), "| firehose v0 | chunks/s |") {
		t.Fatalf("gate.md:\n%s", md.String())
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Verdict string
		Rows    []map[string]any
		Pairs   []int
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("gate.json does not decode: %v\n%s", err, js.String())
	}
	if back.Verdict != "fail" || len(back.Pairs) != 1 || back.Pairs[0] != MinPairs || back.Rows[0]["change"] != nil {
		t.Fatalf("gate.json: verdict %q, pairs %v, first row %v", back.Verdict, back.Pairs, back.Rows[0])
	}

	// benchstat's reader sees one benchmark in both files, and the head's
	// chunks/s is lower, as the gate says.
	mean := func(side Side) float64 {
		var b bytes.Buffer
		if err := WriteBench(&b, side, cfg.Groups, res.Pairs); err != nil {
			t.Fatal(err)
		}
		r := benchfmt.NewReader(&b, string(side)+".bench")
		sum, n := 0.0, 0
		for r.Scan() {
			rec, ok := r.Result().(*benchfmt.Result)
			if !ok {
				t.Fatalf("%s.bench: %v", side, r.Result())
			}
			if string(rec.Name) != "Gate/scenario=firehose/variant=v0" {
				t.Fatalf("benchmark name %q", rec.Name)
			}
			v, _ := rec.Value("chunks/s")
			sum, n = sum+v, n+1
		}
		if n != MinPairs {
			t.Fatalf("%s.bench holds %d results, want %d", side, n, MinPairs)
		}
		return sum / float64(n)
	}
	if b, h := mean(Base), mean(Head); !(h < b) {
		t.Fatalf("benchfmt chunks/s: head %g, base %g; want head lower", h, b)
	}
}

func TestRunMaxPairs(t *testing.T) {
	f := newFake(1, 0.5)
	cfg := config(f, 1)
	cfg.MaxPairs = 8
	res, err := Run(context.Background(), cfg, f.run)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Inconclusive || res.Stopped != "max-pairs" || res.Rounds != 8 {
		t.Fatalf("%s, stopped %s after %d rounds; want inconclusive at max-pairs after 8", res.Verdict, res.Stopped, res.Rounds)
	}
}

package scenarios

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// drawn is everything a plan yields, flattened for comparison.
type drawn struct {
	Plan    Plan
	Content [][]byte
	Tokens  []int64
	Gaps    []time.Duration
	Reads   []time.Duration
}

func draw(s *Scenario, i uint64) drawn {
	p := s.Request(i)
	d := drawn{Plan: p}
	d.Plan.s = nil // Compare what was drawn, not which copy drew it.
	for k := range p.Chunks {
		c := p.Chunk(k)
		d.Content = append(d.Content, c.Content)
		d.Tokens = append(d.Tokens, c.Tokens)
		d.Gaps = append(d.Gaps, c.Gap)
		d.Reads = append(d.Reads, p.ReadDelay(k))
	}
	return d
}

var ignorePlanScenario = cmpopts.IgnoreUnexported(Plan{})

func TestRequestDeterministic(t *testing.T) {
	for _, name := range []string{"chat", "disconnect", "stall", "slow-consumer"} {
		t.Run(name, func(t *testing.T) {
			a, _ := Lookup(name)
			b, _ := Lookup(name) // A separate copy: nothing is cached.
			for i := range uint64(50) {
				if da, db := draw(a, i), draw(b, i); !reflect.DeepEqual(da, db) {
					t.Fatalf("request %d differs between two draws (-a +b):\n%s", i, cmp.Diff(da, db, ignorePlanScenario))
				}
			}
			// Chunks drawn out of order are the same chunks.
			p := a.Request(7)
			want := draw(a, 7)
			for k := p.Chunks - 1; k >= 0; k-- {
				if c := p.Chunk(k); !bytes.Equal(c.Content, want.Content[k]) || c.Gap != want.Gaps[k] {
					t.Fatalf("chunk %d drawn in reverse differs", k)
				}
			}
			// A different index draws a different request.
			if reflect.DeepEqual(draw(a, 1), draw(a, 2)) {
				t.Error("requests 1 and 2 are identical")
			}
			// A different seed draws a different run.
			c := a.Clone()
			c.Seed++
			if reflect.DeepEqual(draw(a, 1), draw(c, 1)) {
				t.Error("seeds n and n+1 draw identical requests")
			}
		})
	}
}

// TestRequestIndependentStreams checks that a knob of one aspect does not
// move the draws of another.
func TestRequestIndependentStreams(t *testing.T) {
	a, _ := Lookup("disconnect")
	b := a.Clone()
	b.Provider.FailProbability = 0.5
	for i := range uint64(100) {
		pa, pb := a.Request(i), b.Request(i)
		if pa.DisconnectAfterChunks != pb.DisconnectAfterChunks || pa.Tokens != pb.Tokens {
			t.Fatalf("request %d: changing fail_probability moved the disconnect point or length", i)
		}
	}
}

func TestPlanInvariants(t *testing.T) {
	for _, s := range Builtin() {
		t.Run(s.Name, func(t *testing.T) {
			for i := range uint64(300) {
				p := s.Request(i)
				var tokens, size int64
				for k := range p.Chunks {
					c := p.Chunk(k)
					if c.Seq != k || c.Last != (k == p.Chunks-1) || c.Tokens < 1 || len(c.Content) == 0 || cap(c.Content) != len(c.Content) {
						t.Fatalf("request %d chunk %d: bad chunk %+v", i, k, c)
					}
					if c.Gap < 0 || p.ReadDelay(k) < 0 {
						t.Fatalf("request %d chunk %d: negative delay", i, k)
					}
					tokens += c.Tokens
					size += int64(len(c.Content))
				}
				if tokens != p.Tokens || p.Usage.CompletionTokens != tokens || p.Usage.TotalTokens != p.Usage.PromptTokens+tokens || size != p.Bytes {
					t.Fatalf("request %d: chunks hold %d tokens and %d bytes, plan says %+v", i, tokens, size, p)
				}
				if p.FailAtChunk >= p.Chunks || p.StallAtChunk >= p.Chunks || p.DisconnectAfterChunks >= p.Chunks {
					t.Fatalf("request %d: event beyond the last chunk: %+v", i, p)
				}
				if p.FinishReason != "stop" {
					t.Fatalf("request %d: finish reason %q", i, p.FinishReason)
				}
			}
		})
	}
}

func TestScaled(t *testing.T) {
	s, _ := Lookup("chat")
	if got := s.Scaled(600 * time.Second); got != 6*time.Second {
		t.Errorf("Scaled(600s) at 0.01 = %v, want 6s", got)
	}
	if got := s.RequestLimits().FinalizerTimeout; got != 6*time.Second {
		t.Errorf("RequestLimits().FinalizerTimeout = %v, want 6s", got)
	}
	// The TTFT of a plan is its unscaled draw times the scale: compare with
	// a copy at scale 1.
	one := s.Clone()
	one.TimeScale = 1
	for i := range uint64(20) {
		if got, want := s.Request(i).TTFT, one.Scaled(one.Request(i).TTFT)/100; (got - want).Abs() > 1 {
			t.Fatalf("request %d: TTFT %v at 0.01, want %v", i, got, want)
		}
	}
}

func TestChunkDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"chat", "slow-consumer", "stall"} {
		s, _ := Lookup(name)
		p := s.Request(3)
		p.Chunk(0) // Build the slab outside the measurement.
		var sink int64
		allocs := testing.AllocsPerRun(100, func() {
			for k := range p.Chunks {
				c := p.Chunk(k)
				sink += c.Tokens + int64(c.Gap) + int64(p.ReadDelay(k))
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per response, want 0", name, allocs)
		}
		_ = sink
	}
}

func TestDistSampleStatistics(t *testing.T) {
	const n = 20000
	tests := []struct {
		d        DurationDist
		mean     float64 // Expected mean, in ms.
		lo, hi   time.Duration
		tolerant float64
	}{
		{ConstOf(20 * time.Millisecond), 20, 20 * time.Millisecond, 20 * time.Millisecond, 0},
		{UniformOf(10*time.Millisecond, 40*time.Millisecond), 25, 10 * time.Millisecond, 40 * time.Millisecond, 0.02},
		{NormalOf(30*time.Millisecond, 5*time.Millisecond), 30, 0, time.Hour, 0.02},
		{LogNormalOf(400*time.Millisecond, 0.5), 400 * math.Exp(0.125), 0, time.Hour, 0.03},
		{ExpOf(5 * time.Millisecond), 5, 0, time.Hour, 0.03},
		{DurationDist{Kind: Exp, Mean: 5 * time.Millisecond, Max: 6 * time.Millisecond}, -1, 0, 6 * time.Millisecond, 0},
		{DurationDist{Kind: Normal, Mean: 0, Stddev: time.Millisecond}, -1, 0, time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			r := newRNG(1, 2, 3, 4)
			var sum float64
			for range n {
				v := tt.d.sample(&r)
				if v < tt.lo || v > tt.hi {
					t.Fatalf("sample %v outside [%v, %v]", v, tt.lo, tt.hi)
				}
				sum += float64(v) / float64(time.Millisecond)
			}
			if tt.mean >= 0 {
				if got := sum / n; math.Abs(got-tt.mean) > tt.tolerant*tt.mean+1e-9 {
					t.Errorf("mean %.3fms, want %.3fms ± %.0f%%", got, tt.mean, 100*tt.tolerant)
				}
			}
		})
	}
}

func TestIntendedStartConstantExact(t *testing.T) {
	l := Load{Model: Open, Rate: 3, Arrival: Constant}
	p := l.Arrivals(9)
	for i := range uint64(10000) {
		want := time.Duration(math.Round(float64(i) * 1e9 / 3))
		if got := p.Next(); got != want {
			t.Fatalf("Arrivals.Next #%d = %v, want %v", i, got, want)
		}
		if got := l.IntendedStart(9, i); got != want {
			t.Fatalf("IntendedStart(%d) = %v, want %v", i, got, want)
		}
	}
	if got := (Load{Model: Closed, Concurrency: 4}).IntendedStart(1, 5); got != 0 {
		t.Errorf("closed IntendedStart = %v, want 0", got)
	}
}

func TestIntendedStartPoisson(t *testing.T) {
	const n, rate = 100000, 2000.0
	l := Load{Model: Open, Rate: rate, Arrival: Poisson}
	p := l.Arrivals(5)
	var last time.Duration
	var gaps []float64
	for i := range n {
		at := p.Next()
		if at < last {
			t.Fatalf("arrival %d at %v, before the previous at %v", i, at, last)
		}
		if i > 0 {
			gaps = append(gaps, (at - last).Seconds())
		}
		last = at
	}
	// The rate over the run, and the exponential's coefficient of variation
	// of 1 (a constant process has 0).
	if got := float64(n-1) / last.Seconds(); math.Abs(got-rate)/rate > 0.02 {
		t.Errorf("measured rate %.1f/s, want %v/s ± 2%%", got, rate)
	}
	var mean, sq float64
	for _, g := range gaps {
		mean += g
	}
	mean /= float64(len(gaps))
	for _, g := range gaps {
		sq += (g - mean) * (g - mean)
	}
	if cv := math.Sqrt(sq/float64(len(gaps))) / mean; math.Abs(cv-1) > 0.03 {
		t.Errorf("gap coefficient of variation %.3f, want 1 ± 0.03", cv)
	}
	// The pure function agrees with the pacer, and the seed matters.
	q := l.Arrivals(5)
	for i := range uint64(100) {
		if want, got := q.Next(), l.IntendedStart(5, i); got != want {
			t.Fatalf("IntendedStart(5, %d) = %v, Arrivals say %v", i, got, want)
		}
	}
	if l.IntendedStart(5, 10) == l.IntendedStart(6, 10) {
		t.Error("seeds 5 and 6 give the same arrivals")
	}
}

func ExampleScenario_Request() {
	s, err := Parse("example.yaml", []byte(`
name: example
seed: 7
time_scale: 0.1
provider:
  ttft: 200ms
  inter_chunk: {uniform: [10ms, 30ms]}
  tokens_per_chunk: 4
  bytes_per_token: 4
  response_tokens: 10
load:
  model: closed
  concurrency: 8
  duration: 5s
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := s.Request(0)
	for k := range p.Chunks {
		c := p.Chunk(k)
		fmt.Printf("chunk %d after %v: %d tokens, %d bytes, last=%v\n", k, c.Gap, c.Tokens, len(c.Content), c.Last)
	}
	fmt.Println(p.FinishReason, p.Usage.CompletionTokens)
	// Output:
	// chunk 0 after 20ms: 4 tokens, 16 bytes, last=false
	// chunk 1 after 2.557614ms: 4 tokens, 16 bytes, last=false
	// chunk 2 after 2.758168ms: 2 tokens, 8 bytes, last=true
	// stop 10
}

func ExampleParse_errors() {
	_, err := Parse("chat.yaml", []byte(`name: chat
provider:
  inter_chunk: {uniform: [10ms, 5ms]}
  response_tokens: 100
load:
  model: closed
  concurrency: 0
  duration: 5s
`))
	fmt.Println(err)
	// Output:
	// chat.yaml:3: provider.inter_chunk.max: must be >= min (got 5ms < 10ms)
	// chat.yaml:7: load.concurrency: must be >= 1 for the closed model (got 0)
}

func BenchmarkChunk(b *testing.B) {
	for _, name := range []string{"firehose", "chat"} {
		b.Run(name, func(b *testing.B) {
			s, _ := Lookup(name)
			p := s.Request(1)
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				_ = p.Chunk(k)
				if k++; k == p.Chunks {
					k = 0
				}
			}
		})
	}
}

func BenchmarkRequest(b *testing.B) {
	s, _ := Lookup("chat")
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		_ = s.Request(i)
		i++
	}
}

// TestDrawsPinned pins every draw of the built-in scenarios' first 200
// requests (plans, chunks, read delays) to digests taken before the draw
// sites were cached in the plan: a change that moves a draw changes what
// every variant's provider sends, and must be deliberate.
func TestDrawsPinned(t *testing.T) {
	want := map[string]string{
		"burst":         "68e29c70ee29d60c",
		"chat":          "68059683d3501be9",
		"disconnect":    "0c02545d5df77a2b",
		"firehose":      "9cb0de74db5857ed",
		"large":         "3ccabe55f6f79c33",
		"production":    "3d5bb84bcb3d5aa2",
		"slow-consumer": "5d518a655cab4bb8",
		"stall":         "7b89bbdfffdadc7f",
	}
	for _, s := range Builtin() {
		h := xxhash.New()
		for i := uint64(0); i < 200; i++ {
			p := s.Request(i)
			fmt.Fprintf(h, "%d %d %d %d %d %d %v|", p.Chunks, p.Tokens, p.Bytes, p.FailAtChunk, p.StallAtChunk, p.DisconnectAfterChunks, p.TTFT)
			for k := 0; k < p.Chunks; k++ {
				c := p.Chunk(k)
				fmt.Fprintf(h, "%s %d %v %v %v,", c.Content, c.Tokens, c.Gap, c.Last, p.ReadDelay(k))
			}
		}
		if got := fmt.Sprintf("%016x", h.Sum64()); got != want[s.Name] {
			t.Errorf("%s: draws digest %s, want %s", s.Name, got, want[s.Name])
		}
	}
}

// TestLedgerDraws: ledger durations are a pure function of the seed, the
// call and its key, scaled by the time scale, and independent of the
// provider's and client's draws.
func TestLedgerDraws(t *testing.T) {
	s := Default()
	s.Name, s.Seed, s.TimeScale = "l", 7, 0.5
	s.Ledger = &Ledger{Persist: UniformOf(10*time.Millisecond, 20*time.Millisecond), Charge: ExpOf(4 * time.Millisecond), Pool: 1}
	var persists, charges []time.Duration
	for i := range uint64(64) {
		p, c := s.LedgerPersist(i), s.LedgerCharge(i)
		if p < 5*time.Millisecond || p > 10*time.Millisecond {
			t.Fatalf("persist %d drew %v, want within [10ms, 20ms] × 0.5", i, p)
		}
		persists, charges = append(persists, p), append(charges, c)
	}
	again := s.Clone()
	again.Provider.FailProbability = 0.5 // another draw site moves nothing here
	for i := range uint64(64) {
		if p, c := again.LedgerPersist(i), again.LedgerCharge(i); p != persists[i] || c != charges[i] {
			t.Fatalf("draw %d: %v, %v then %v, %v: not deterministic", i, persists[i], charges[i], p, c)
		}
	}
	if slicesAllEqual(persists) || slicesAllEqual(charges) {
		t.Errorf("every request drew the same duration: persists %v, charges %v", persists[:4], charges[:4])
	}
	unscaled := s.Clone()
	unscaled.TimeScale = 1
	unscaled.Ledger.Persist = ConstOf(8 * time.Millisecond)
	if got := unscaled.LedgerPersist(3); got != 8*time.Millisecond {
		t.Errorf("const persist at scale 1: %v, want 8ms", got)
	}
	if got := s.LedgerPersist(3); got == unscaled.LedgerPersist(3) {
		t.Errorf("scale 0.5 drew %v, the same as unscaled", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = s.LedgerPersist(9) + s.LedgerCharge(9) }); n != 0 {
		t.Errorf("a ledger draw allocates %v times", n)
	}
}

func slicesAllEqual(ds []time.Duration) bool {
	for _, d := range ds {
		if d != ds[0] {
			return false
		}
	}
	return true
}

// TestChunkBytesClamp checks chunkBytes against the division it avoids,
// at the edges of the clamp and at values whose product overflows.
func TestChunkBytesClamp(t *testing.T) {
	want := func(tokens, bpt int64) int64 {
		bpt = max(bpt, 1)
		if tokens > MaxChunkBytes/bpt {
			return MaxChunkBytes
		}
		return max(tokens*bpt, 1)
	}
	vals := []int64{-5, 0, 1, 2, 3, 4, 255, 256, 257, MaxChunkBytes / 4, MaxChunkBytes/3 + 1, MaxChunkBytes - 1, MaxChunkBytes, MaxChunkBytes + 1, 1 << 31, 1<<62 + 7, math.MaxInt64}
	for _, tk := range vals {
		for _, b := range vals {
			if got, w := chunkBytes(tk, b), want(tk, b); got != w {
				t.Errorf("chunkBytes(%d, %d) = %d, want %d", tk, b, got, w)
			}
		}
	}
}

package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// upstreamScenario writes a closed-model scenario file of n requests from
// clients concurrent clients over a provider of the given knobs, every
// response 10 chunks of 4 tokens, 10 ms apart after a 10 ms TTFT, and
// returns its path.
func upstreamScenario(t *testing.T, clients, n, maxConcurrent int, tokensPerS float64, interChunk string) string {
	t.Helper()
	path := t.TempDir() + "/upstream.yaml"
	body := fmt.Sprintf(`name: upstream-knob
seed: 1
provider:
  ttft: {const: 10ms}
  inter_chunk: {const: %s}
  tokens_per_chunk: 4
  response_tokens: 40
  max_concurrent: %d
  tokens_per_s: %v
load:
  model: closed
  concurrency: %d
  requests: %d
limits:
  finalizer_timeout: 1s
`, interChunk, maxConcurrent, tokensPerS, clients, n)
	if _, err := scenarios.Parse(path, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMaxConcurrent: on a fake clock, four clients over two upstream
// slots: every stream takes a slot and gives it back, the streams wait in
// turn, and the wait shows in the time to first chunk.
func TestMaxConcurrent(t *testing.T) {
	const stream = 100 * time.Millisecond // 10 ms TTFT + 9 gaps of 10 ms
	rec := runFake(t, quick("lockfree", upstreamScenario(t, 4, 40, 2, 0, "10ms")))
	if err := AccountingError(rec); err != nil {
		t.Fatal(err)
	}
	a := rec.Accounting
	if a.UpstreamSlotsTaken != 40 || a.UpstreamSlotsReleased != 40 {
		t.Errorf("slots taken %d, released %d; want 40 each (one per request)", a.UpstreamSlotsTaken, a.UpstreamSlotsReleased)
	}
	// Two of the four clients hold the slots while the other two wait a
	// whole stream, so 38 of the 40 requests wait (all but the first two),
	// each for a whole stream, and the 40 requests take 20 streams' time.
	if rec.UpstreamSlotWaits != 38 {
		t.Errorf("%d requests waited for a slot, want 38", rec.UpstreamSlotWaits)
	}
	if got, want := time.Duration(rec.UpstreamSlotWait.P50), stream; !near(got, want) {
		t.Errorf("slot wait p50 %v, want about %v", got, want)
	}
	if got, want := time.Duration(rec.TTFT.P50), stream+10*time.Millisecond; !near(got, want) {
		t.Errorf("TTFT p50 %v, want about %v: the slot wait counts in it", got, want)
	}
	if got, want := time.Duration(rec.DurationS*float64(time.Second)), 20*stream; !near(got, want) {
		t.Errorf("40 streams over 2 slots took %v, want about %v", got, want)
	}

	// Without the knob nobody waits and nothing is counted.
	free := runFake(t, quick("lockfree", upstreamScenario(t, 4, 40, 0, 0, "10ms")))
	if free.Accounting.UpstreamSlotsTaken != 0 || free.UpstreamSlotWait.Count != 0 || free.UpstreamSlotWaits != 0 {
		t.Errorf("no limit, yet slots %d taken and %d waits", free.Accounting.UpstreamSlotsTaken, free.UpstreamSlotWaits)
	}
	if got, want := time.Duration(free.TTFT.P50), 10*time.Millisecond; !near(got, want) {
		t.Errorf("TTFT p50 without a slot limit %v, want about %v", got, want)
	}
}

// near reports whether got is within 2% of want (the histograms keep
// three significant digits; the fake clock is exact).
func near(got, want time.Duration) bool {
	d := got - want
	return d > -want/50 && d < want/50
}

// TestTokensPerS: on a fake clock, a provider bounded to 2,000 tokens a
// second delivers 4 streams' 20 responses of 40 tokens (800 tokens) in
// about 0.4 s, though unbounded it would take 0.1 s; every token
// generated is delivered.
func TestTokensPerS(t *testing.T) {
	rec := runFake(t, quick("lockfree", upstreamScenario(t, 4, 20, 0, 2000, "0")))
	if err := AccountingError(rec); err != nil {
		t.Fatal(err)
	}
	a := rec.Accounting
	if a.TokensGenerated != 800 || a.TokensDelivered != 800 || a.TokensWasted != 0 {
		t.Errorf("tokens generated %d, delivered %d, wasted %d; want 800, 800, 0", a.TokensGenerated, a.TokensDelivered, a.TokensWasted)
	}
	// After the 10 ms TTFT the first chunk goes at once; the other 199
	// are each paid for at 2 ms (4 tokens at 2,000/s) before they may go.
	if got, want := time.Duration(rec.DurationS*float64(time.Second)), 408*time.Millisecond; !near(got, want) {
		t.Errorf("800 tokens at 2,000 tokens/s took %v, want about %v", got, want)
	}
	free := runFake(t, quick("lockfree", upstreamScenario(t, 4, 20, 0, 0, "0")))
	if got := time.Duration(free.DurationS * float64(time.Second)); got > 60*time.Millisecond {
		t.Errorf("unbounded, 5 rounds of 10 ms TTFT took %v, want about 50ms", got)
	}
}

// TestUpstreamBites is the mechanism the legacy's missing cancellation
// loses by: with fewer upstream slots than clients and half the clients
// leaving after two chunks, a design that does not cancel keeps its
// provider generating, and its slot taken, for clients that left, so the
// next requests wait for slots held for nobody; the redesign cancels,
// gives the slot back and wastes a chunk or so per client that left.
func TestUpstreamBites(t *testing.T) {
	legacy := runFakeThenWait(t, quick("mutex", "testdata/upstream-bite.yaml"), 2*time.Second)
	redesign := runFake(t, quick("lockfree", "testdata/upstream-bite.yaml"))
	for _, rec := range []*result.Trial{legacy, redesign} {
		a := rec.Accounting
		for _, v := range a.Violations {
			// The legacy's detached finalizers bill late: that is not
			// this test's subject.
			if !strings.HasPrefix(v, "records:") && !strings.HasPrefix(v, "billing:") {
				t.Errorf("%s: %s", rec.Variant, v)
			}
		}
		if a.UpstreamSlotsTaken != 64 || a.UpstreamSlotsReleased != 64 {
			t.Errorf("%s: slots taken %d, released %d; want 64 each", rec.Variant, a.UpstreamSlotsTaken, a.UpstreamSlotsReleased)
		}
	}
	if legacy.StreamsDisconnected == 0 || legacy.StreamsDisconnected != redesign.StreamsDisconnected {
		t.Fatalf("disconnected streams: legacy %d, redesign %d; the scenario should disconnect the same ones", legacy.StreamsDisconnected, redesign.StreamsDisconnected)
	}
	ratio := func(rec *result.Trial) float64 {
		return float64(rec.Accounting.TokensGenerated) / float64(rec.Accounting.TokensDelivered)
	}
	lr, rr := ratio(legacy), ratio(redesign)
	// A client that left read 8 of 80 tokens: the legacy generates all 80
	// (10 upstream tokens per delivered one), the redesign a chunk or two
	// past the 8.
	disc := float64(legacy.StreamsDisconnected)
	done := float64(legacy.StreamsCompleted)
	if want := (disc*80 + done*80) / (disc*8 + done*80); lr < want*0.98 {
		t.Errorf("legacy: %.3f upstream tokens per delivered token, want about %.3f (every response generated whole)", lr, want)
	}
	if max := (disc*16 + done*80) / (disc*8 + done*80); rr > max {
		t.Errorf("redesign: %.3f upstream tokens per delivered token, want at most %.3f (two chunks past a disconnect)", rr, max)
	}
	// On a fake clock the cancellation reaches a provider waiting out its
	// gap, so the redesign may waste nothing at all.
	if redesign.Accounting.TokensWasted > int64(disc)*8 {
		t.Errorf("redesign wasted %d tokens for %v clients that left, want at most 2 chunks each", redesign.Accounting.TokensWasted, disc)
	}
	if want := int64(disc) * 72; legacy.Accounting.TokensWasted != want {
		t.Errorf("legacy wasted %d tokens for %v clients that left, want %d (72 of 80 each)", legacy.Accounting.TokensWasted, disc, want)
	}
	// Starvation: the legacy's later requests wait for slots held by
	// providers nobody reads; the redesign's wait only for streams in use.
	lw, rw := legacy.UpstreamSlotWait, redesign.UpstreamSlotWait
	if lw.Count != 64 || rw.Count != 64 {
		t.Fatalf("slot waits measured: legacy %d, redesign %d; want 64 each", lw.Count, rw.Count)
	}
	if lw.Mean < 1.5*rw.Mean {
		t.Errorf("mean slot wait: legacy %v, redesign %v; want the legacy's at least 1.5 times the redesign's", time.Duration(lw.Mean), time.Duration(rw.Mean))
	}
	if legacy.DurationS < 1.3*redesign.DurationS {
		t.Errorf("64 requests took %.3fs (legacy) and %.3fs (redesign) of the fake clock; want the legacy's at least 1.3 times longer", legacy.DurationS, redesign.DurationS)
	}
	t.Logf("upstream tokens per delivered token: legacy %.2f, redesign %.2f; mean slot wait %v and %v; %.3fs and %.3fs",
		lr, rr, time.Duration(lw.Mean), time.Duration(rw.Mean), legacy.DurationS, redesign.DurationS)
}

// TestSlotsReleasedEveryWay runs every built-in variant over a provider of
// three slots and a token bound, with streams that complete, fail
// mid-stream and lose their client before or during the stream: each
// slot taken must be released once and every token generated must be
// delivered or wasted.
func TestSlotsReleasedEveryWay(t *testing.T) {
	for _, v := range variant.Builtin() {
		t.Run(v.Name, func(t *testing.T) {
			rec := mustRun(t, quick(v.Name, "testdata/upstream-short.yaml"))
			a := rec.Accounting
			for _, msg := range a.Violations {
				if strings.Contains(msg, "slot") || strings.Contains(msg, "tokens") || strings.Contains(msg, "chunks") {
					t.Error(msg)
				}
			}
			if a.UpstreamSlotsTaken == 0 || a.UpstreamSlotsTaken != a.UpstreamSlotsReleased {
				t.Errorf("slots taken %d, released %d", a.UpstreamSlotsTaken, a.UpstreamSlotsReleased)
			}
			if rec.StreamsFailed == 0 || rec.StreamsDisconnected == 0 {
				t.Errorf("%d failed and %d disconnected streams: the scenario should end streams every way", rec.StreamsFailed, rec.StreamsDisconnected)
			}
			if a.TokensGenerated != a.TokensDelivered+a.TokensWasted {
				t.Errorf("tokens generated %d != delivered %d + wasted %d", a.TokensGenerated, a.TokensDelivered, a.TokensWasted)
			}
		})
	}
}

// TestHungProviderReleasesSlots: when the harness kills a trial whose
// providers hang, the streams holding slots and those still waiting for
// one end, and every slot taken is released.
func TestHungProviderReleasesSlots(t *testing.T) {
	for _, v := range []string{"mutex", "lockfree"} {
		t.Run(v, func(t *testing.T) {
			spec := quick(v, "testdata/hung-slots.yaml")
			spec.Drain = 200 * time.Millisecond
			spec.Timeout = 500 * time.Millisecond
			rec := mustRun(t, spec)
			a := rec.Accounting
			if a.UpstreamSlotsTaken == 0 || a.UpstreamSlotsTaken != a.UpstreamSlotsReleased {
				t.Errorf("slots taken %d, released %d", a.UpstreamSlotsTaken, a.UpstreamSlotsReleased)
			}
			if a.UpstreamSlotsTaken > 4 {
				t.Errorf("%d slots taken: only the first two streams and, once they were killed, the next two should have had one", a.UpstreamSlotsTaken)
			}
			for _, msg := range a.Violations {
				if strings.Contains(msg, "slot") {
					t.Error(msg)
				}
			}
		})
	}
}

// TestKeepingASlotIsCaught: a design that abandons its provider mid-stream
// without closing it keeps its slot, and the accounting says so.
func TestKeepingASlotIsCaught(t *testing.T) {
	v, err := variant.Parse("lockfree")
	if err != nil {
		t.Fatal(err)
	}
	spec := quick("lockfree", upstreamScenario(t, 2, 4, 2, 0, "0"))
	spec.Drain = 100 * time.Millisecond
	spec.Timeout = 300 * time.Millisecond // the later requests wait for a slot until the trial is killed
	rec, err := runTrial(context.Background(), spec, v, func(l impls.Ledger) impls.Pipeline { return abandoner{} })
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(rec.Accounting.Violations, "\n")
	if !strings.Contains(joined, "upstream slots: 0 released != 2 taken") {
		t.Errorf("violations %q do not name the slots never released", rec.Accounting.Violations)
	}
}

// abandoner takes one chunk from the provider and returns without
// closing it or cancelling it: a design that loses track of its upstream.
type abandoner struct{}

func (abandoner) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	if _, err := src.Next(ctx); err != nil {
		return impls.Outcome{Err: err}
	}
	return impls.Outcome{Err: impls.ErrCancelled, Discarded: 1}
}

package harness

import (
	"math"
	"sort"
	"testing"

	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// TestSampledCounts checks that a trial measures exactly the chunks its
// sampling picks: the time to first chunk and the end-to-end latency of
// every request, the inter-chunk gap of one delivered chunk in itlSampleFast and
// the relay latency of one produced chunk in relaySample, each by position
// plus the request's phase.
func TestSampledCounts(t *testing.T) {
	const requests = 300
	spec := quick("passthrough", "firehose")
	spec.Load = result.Load{Model: "closed", Concurrency: 4}
	spec.Requests = requests
	rec := mustRun(t, spec)
	if len(rec.Accounting.Violations) > 0 {
		t.Fatalf("violations: %q", rec.Accounting.Violations)
	}
	sc, err := scenarios.Lookup("firehose")
	if err != nil {
		t.Fatal(err)
	}
	var itl, relay, chunks int64
	for i := range uint64(requests) {
		p := sc.Request(i)
		ph := samplePhase(i)
		for k := range int64(p.Chunks) {
			chunks++
			if k > 0 && sampled(k, ph, itlSampleFast) {
				itl++
			}
			if sampled(k, ph, relaySample) {
				relay++
			}
		}
	}
	if rec.TTFT.Count != requests || rec.E2E.Count != requests {
		t.Errorf("ttft %d, e2e %d samples; want %d each (every request)", rec.TTFT.Count, rec.E2E.Count, requests)
	}
	if rec.ITL.Count != itl {
		t.Errorf("itl: %d samples, want %d (one gap in %d of %d chunks)", rec.ITL.Count, itl, itlSampleFast, chunks)
	}
	// Note: the pass-through hands each chunk over before it asks for the
	// next, so no sampled chunk outlives its relay slot.
	if rec.Relay.Count != relay {
		t.Errorf("relay: %d samples, want %d (one chunk in %d of %d)", rec.Relay.Count, relay, relaySample, chunks)
	}
	if rec.ITLSampleEvery != itlSampleFast || rec.RelaySampleEvery != relaySample {
		t.Errorf("record says itl every %d, relay every %d; want %d, %d", rec.ITLSampleEvery, rec.RelaySampleEvery, itlSampleFast, relaySample)
	}
}

// TestPacedTrialMeasuresEveryGap checks that a trial whose script paces
// its chunks measures the gap before every chunk but the first, and says
// so in its record.
func TestPacedTrialMeasuresEveryGap(t *testing.T) {
	const requests = 40
	spec := quick("passthrough", "chat")
	spec.Load = result.Load{Model: "closed", Concurrency: 8}
	spec.Requests = requests
	rec := mustRun(t, spec)
	if len(rec.Accounting.Violations) > 0 {
		t.Fatalf("violations: %q", rec.Accounting.Violations)
	}
	gaps := rec.Accounting.ChunksDelivered - requests
	if rec.ITL.Count != gaps || rec.ITLSampleEvery != 1 {
		t.Errorf("itl: %d samples, every %d; want %d (every gap), every 1", rec.ITL.Count, rec.ITLSampleEvery, gaps)
	}
}

// TestITLEvery checks which scenarios are sampled: those whose script
// paces no chunk, provider or client.
func TestITLEvery(t *testing.T) {
	for name, want := range map[string]int64{"firehose": itlSampleFast, "chat": 1, "testdata/slow-short.yaml": 1} {
		sc, err := scenarios.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := itlEvery(sc); got != want {
			t.Errorf("%s: itlEvery %d, want %d", name, got, want)
		}
	}
}

// TestSamplePhaseSpread checks that the phases of consecutive request IDs
// cover every residue of the sampling period alike, so that every position
// of a response is sampled equally often across requests.
func TestSamplePhaseSpread(t *testing.T) {
	const n = 8000
	var seen [itlSampleFast]int
	for id := range uint64(n) {
		seen[samplePhase(id)&(itlSampleFast-1)]++
	}
	for r, c := range seen {
		if c < n/itlSampleFast*9/10 || c > n/itlSampleFast*11/10 {
			t.Errorf("residue %d: %d of %d requests, want %d ± 10%%", r, c, n, n/itlSampleFast)
		}
	}
}

// sampleBound is the documented error of a sampled percentile: with m
// samples, the sampled p-th percentile lies within sampleSigmas standard
// errors of rank, sqrt(p(1-p)/m), of p in the full distribution.
const sampleSigmas = 3

// TestSampledPercentilesAgree checks the documented bound on the gap
// distributions the client is scripted to see in scenarios with long-tailed
// gaps (chat: log-normal; stall: log-normal with rare long stalls): the
// inter-chunk gaps of 5,000 requests, every one and those the sampling
// picks, compared at p50, p90, p99 and p99.9.
func TestSampledPercentilesAgree(t *testing.T) {
	for _, name := range []string{"chat", "stall"} {
		t.Run(name, func(t *testing.T) {
			sc, err := scenarios.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			var full, part []int64
			for i := range uint64(5000) {
				p := sc.Request(i)
				ph := samplePhase(i)
				for k := 1; k < p.Chunks; k++ {
					g := int64(p.Chunk(k).Gap)
					full = append(full, g)
					if sampled(int64(k), ph, itlSampleFast) {
						part = append(part, g)
					}
				}
			}
			if rate := float64(len(part)) / float64(len(full)); math.Abs(rate*itlSampleFast-1) > 0.02 {
				t.Errorf("sampled %d of %d gaps (1 in %.2f), want 1 in %d ± 2%%", len(part), len(full), 1/rate, itlSampleFast)
			}
			sort.Slice(full, func(i, j int) bool { return full[i] < full[j] })
			sort.Slice(part, func(i, j int) bool { return part[i] < part[j] })
			m := float64(len(part))
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				got := part[int(q*m)]
				d := sampleSigmas * math.Sqrt(q*(1-q)/m)
				lo := full[int(math.Max(q-d, 0)*float64(len(full)))]
				hi := full[min(int((q+d)*float64(len(full))), len(full)-1)]
				if got < lo || got > hi {
					t.Errorf("p%g: sampled %d, want within the full distribution's p%.4g..p%.4g = [%d, %d]", 100*q, got, 100*(q-d), 100*(q+d), lo, hi)
				}
			}
		})
	}
}

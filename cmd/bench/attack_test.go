package main

import (
	"os"
	"path/filepath"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/result"
)

// TestAttackServeEndToEnd runs bench attack against a bench serve child
// process (this test binary, acting as bench) at 20 requests/s for 1 s and
// checks the records and the accounting.
func TestAttackServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a serve process and runs two trials")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("STREAMBENCH_TEST_MAIN", "1") // the spawned child runs main
	out := filepath.Join(t.TempDir(), "http")
	stdout, stderr, code := runCmd(t, "attack", "-scenario", "testdata/http-short.yaml", "-variants", "mutex,lockfree",
		"-rate", "20", "-duration", "1s", "-trials", "1", "-grace", "1200ms", "-out", out, "-cpuprofile")
	if code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// Both processes' profiles, the serve child's written as it shuts down.
	for _, name := range []string{"client.pprof", "serve.pprof"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("-cpuprofile: %s: %v", name, err)
		}
	}
	f, err := os.Open(filepath.Join(out, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hs, trials, err := result.ReadAll(f, "results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Isolation != result.ModeHTTP || len(trials) != 2 {
		t.Fatalf("%d headers (isolation %v), %d trials; want 1 http header and 2 trials", len(hs), hs, len(trials))
	}
	var afterGone [2]int64
	for i, tr := range trials {
		want := []string{"mutex", "lockfree"}[i]
		a := tr.Accounting
		if tr.Mode != result.ModeHTTP || tr.Variant != want || tr.Order != i || tr.Load.Model != "open" || tr.Load.Rate != 20 || tr.Scenario != "http-short" {
			t.Errorf("trial %d: mode %q variant %q order %d load %+v scenario %q", i, tr.Mode, tr.Variant, tr.Order, tr.Load, tr.Scenario)
		}
		if tr.Failed() {
			t.Errorf("%s failed: %s %v", tr.Variant, tr.Error, a.Violations)
		}
		if tr.RequestsStarted < 15 || tr.StreamsCompleted+tr.StreamsDisconnected+tr.StreamsFailed != tr.RequestsStarted {
			t.Errorf("%s: %d started, %d completed + %d disconnected + %d failed", tr.Variant, tr.RequestsStarted, tr.StreamsCompleted, tr.StreamsDisconnected, tr.StreamsFailed)
		}
		if tr.StreamsDisconnected == 0 || tr.StreamsCompleted == 0 {
			t.Errorf("%s: %d disconnected, %d completed; the scenario has both", tr.Variant, tr.StreamsDisconnected, tr.StreamsCompleted)
		}
		if sum := a.ChunksDelivered + a.ChunksDropped + a.ChunksRejected + a.ChunksDiscarded + a.ChunksAfterDisconnect; sum != a.ChunksProduced || a.ChunksDelivered == 0 {
			t.Errorf("%s: produced %d, accounted %d: %+v", tr.Variant, a.ChunksProduced, sum, a)
		}
		if a.RecordsExpected != tr.RequestsStarted || a.RecordsPersisted != a.RecordsExpected || a.TokensBilled < a.TokensDelivered || a.TokensDelivered == 0 {
			t.Errorf("%s: records and billing %+v for %d requests", tr.Variant, a, tr.RequestsStarted)
		}
		if tr.TTFT.Count < tr.StreamsCompleted || tr.TTFT.Count > tr.RequestsStarted || tr.E2E.Count != tr.StreamsCompleted || tr.ITL.Count == 0 || tr.CPUNSPerChunk <= 0 {
			t.Errorf("%s: ttft %+v e2e %+v itl count %d cpu/chunk %v", tr.Variant, tr.TTFT, tr.E2E, tr.ITL.Count, tr.CPUNSPerChunk)
		}
		afterGone[i] = a.ChunksAfterDisconnect

		bf, err := os.Open(filepath.Join(out, want+"-rate20-0.bin"))
		if err != nil {
			t.Fatal(err)
		}
		dec := vegeta.NewDecoder(bf)
		n := int64(0)
		for {
			var r vegeta.Result
			if dec.Decode(&r) != nil {
				break
			}
			n++
		}
		bf.Close()
		if n != tr.RequestsStarted {
			t.Errorf("%s: %d vegeta results, %d requests", want, n, tr.RequestsStarted)
		}
	}
	// The same clients left at the same points: the legacy provider ran on
	// after them, the redesign's stopped.
	if trials[0].Accounting.ChunksDelivered != trials[1].Accounting.ChunksDelivered {
		t.Errorf("clients received %d chunks from mutex, %d from lockfree; the scripts are the same", trials[0].Accounting.ChunksDelivered, trials[1].Accounting.ChunksDelivered)
	}
	if afterGone[0] <= afterGone[1] {
		t.Errorf("chunks produced after a disconnect: mutex %d, lockfree %d; want the legacy design to waste more", afterGone[0], afterGone[1])
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streambench/streambench/result"
)

func TestGateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gate"}, "give exactly one of -base, -base-bin and -baseline"},
		{[]string{"gate", "-base", "HEAD", "-base-bin", "x"}, "give exactly one of"},
		{[]string{"gate", "-base-bin", "x", "-head", "HEAD", "-head-bin", "y"}, "-head or -head-bin, not both"},
		{[]string{"gate", "-base-bin", "x", "-inconclusive", "maybe"}, "-inconclusive must be pass or fail"},
		{[]string{"gate", "-base-bin", "x", "-head-bin", "x", "-variants", "mutex,lockfree", "-head-variants", "lockfree"}, "pair one to one"},
		{[]string{"gate", "-base-bin", "x", "-head-bin", "x", "-head-variants", "mutex:slow=fast,lockfree"}, `bad value "fast"`},
		{[]string{"gate", "-base-bin", "x", "-head-bin", "x", "-scenario", "nope"}, `unknown scenario "nope"`},
		{[]string{"gate", "-base-bin", "x", "-head-bin", "x", "-thresholds", "../../gate/testdata/bad.yaml"}, "bad.yaml:2: thresholds[0].metric"},
		{[]string{"gate", "-base-bin", "x", "-head-bin", "x", "-budget", "0s"}, "-budget must be positive"},
		{[]string{"gate", "-base-bin", "x", "-normalize", "calibration"}, "-normalize applies to a stored -baseline only"},
		{[]string{"gate", "-baseline", "x.jsonl", "-normalize", "speed"}, `-normalize must be none or calibration (got "speed")`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := runCmd(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit code %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestGateEndToEnd runs short gates through real child processes of one
// build of the command (acting as both builds): an A/A gate, which must not
// report a regression, one against a large injected slowdown, which must,
// and the exit codes of an inconclusive gate.
func TestGateEndToEnd(t *testing.T) {
	// Note: the children run a plain build of the command, not this test
	// binary: under the race detector a child relays a hundred times
	// slower, and on a busy machine some of its windows hold no chunk.
	exe := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gate := func(t *testing.T, extra ...string) (stdout, stderr string, code int, dir string) {
		dir = filepath.Join(t.TempDir(), "out")
		args := append([]string{"gate", "-base-bin", exe, "-head-bin", exe, "-variants", "lockfree", "-concurrency", "4",
			"-duration", "200ms", "-warmup", "100ms", "-grace", "10ms", "-max-pairs", "8",
			"-budget", "5m", "-no-report", "-out", dir}, extra...)
		stdout, stderr, code = runCmd(t, args...)
		return stdout, stderr, code, dir
	}

	t.Run("A/A", func(t *testing.T) {
		// Note: the default -max-other-cpu leaves out pairs disturbed by
		// other processes, so a busy machine makes this gate inconclusive
		// (exit 3), never a false regression.
		stdout, stderr, code, dir := gate(t)
		if code != 0 && code != 3 {
			t.Fatalf("A/A gate exit code %d, want 0 or 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.HasPrefix(stdout, "gate PASS") && !strings.HasPrefix(stdout, "gate INCONCLUSIVE") {
			t.Fatalf("the table does not open with the verdict:\n%s", stdout)
		}
		for _, name := range []string{"gate.json", "gate.md", "base.bench", "head.bench", "base/results.jsonl", "head/results.jsonl"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("missing output: %v", err)
			}
		}
		for _, side := range []string{"base", "head"} {
			f, err := os.Open(filepath.Join(dir, side, "results.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			hs, ts, err := result.ReadAll(f, side)
			f.Close()
			if err != nil || len(hs) != 1 || len(ts) != 8 {
				t.Fatalf("%s records: %d headers, %d trials, %v; want 1 and 8", side, len(hs), len(ts), err)
			}
			for _, tr := range ts {
				if tr.Protocol == 0 || tr.Failed() {
					t.Fatalf("%s trial #%d: protocol %d, error %q", side, tr.Trial, tr.Protocol, tr.Error)
				}
			}
		}
	})

	// A budget too short for a second round leaves one pair: inconclusive,
	// whose exit code -inconclusive chooses.
	for flag, want := range map[string]int{"": 3, "pass": 0, "fail": 1} {
		t.Run("inconclusive="+flag, func(t *testing.T) {
			stdout, stderr, code, _ := gate(t, "-budget", "1ns", "-inconclusive", flag)
			if code != want || !strings.HasPrefix(stdout, "gate INCONCLUSIVE: 1 pairs") {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
			}
		})
	}

	t.Run("injected regression", func(t *testing.T) {
		// Note: every pair counts here, disturbed or not: a fourfold CPU
		// cost per chunk shows through any load on the machine.
		stdout, stderr, code, _ := gate(t, "-head-variants", "lockfree:slow=300%", "-max-other-cpu", "1")
		if code != 1 {
			t.Fatalf("exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.HasPrefix(stdout, "gate FAIL") || !(strings.Contains(stdout, "regression in chunks/s") || strings.Contains(stdout, "regression in CPU/chunk") || strings.Contains(stdout, ", CPU/chunk")) {
			t.Fatalf("the verdict does not name chunks/s or CPU/chunk:\n%s", stdout)
		}
	})
}

// TestNormalizeByCalibration checks that only CPU per chunk is scaled, by
// the base's calibration time over the head's, and that a record without a
// calibration is refused.
func TestNormalizeByCalibration(t *testing.T) {
	base := &result.Trial{CalibrationNS: 1000, CPUNSPerChunk: 500, ChunksPerS: 1e6}
	head := &result.Trial{CalibrationNS: 1250, CPUNSPerChunk: 600, ChunksPerS: 8e5, AllocsPerChunk: 2}
	n, f, ok := normalizeByCalibration(base, head)
	if !ok || f != 0.8 || n.CPUNSPerChunk != 480 {
		t.Fatalf("got factor %v, CPU %v, ok %v; want 0.8, 480, true", f, n.CPUNSPerChunk, ok)
	}
	if n.ChunksPerS != head.ChunksPerS || n.AllocsPerChunk != head.AllocsPerChunk || head.CPUNSPerChunk != 600 {
		t.Errorf("other fields or the original changed: %+v, original %+v", n, head)
	}
	if _, _, ok := normalizeByCalibration(&result.Trial{CPUNSPerChunk: 1}, head); ok {
		t.Error("a base without calibration_ns was normalized")
	}
}

// TestGateWorkflowKeepsExitCodes: the CI recipe runs a built binary, since
// `go run` reports every nonzero exit as 1 and would turn an inconclusive
// gate (3) into a regression; and it lets 3 through as a warning.
func TestGateWorkflowKeepsExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../.github/workflows/bench-gate.yml")
	if err != nil {
		t.Fatal(err)
	}
	wf := string(b)
	for _, line := range strings.Split(wf, "\n") {
		if l := strings.TrimSpace(line); strings.Contains(l, " gate ") && !strings.HasPrefix(l, "#") && strings.Contains(l, "go run") {
			t.Errorf("the workflow runs the gate under go run, which turns exit 3 into 1: %s", l)
		}
	}
	for _, want := range []string{"go build -o \"$RUNNER_TEMP/bench\" ./cmd/bench", "\"$RUNNER_TEMP/bench\" gate -base", "3) echo \"::warning::"} {
		if !strings.Contains(wf, want) {
			t.Errorf("the workflow lacks %q", want)
		}
	}
}

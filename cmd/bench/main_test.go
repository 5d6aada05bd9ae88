package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streambench/streambench/harness"
	"github.com/streambench/streambench/harness/result"
)

// TestMain lets the test binary act as the bench command (for the
// signal tests) and as a trial child (for every run that spawns one).
func TestMain(m *testing.M) {
	if harness.IsChild() || os.Getenv("STREAMBENCH_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	err := run(context.Background(), make(chan struct{}), &o, &e, args)
	code = exitCode(&e, err)
	return o.String(), e.String(), code
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "-scenario", "nope"}, `unknown scenario "nope"`},
		{[]string{"run", "-variants", "mutex:lock=table"}, `"table"`},
		{[]string{"run", "-concurrency", "0"}, `-concurrency: "0" is not a positive integer`},
		{[]string{"run", "-rate", "fast"}, `-rate: "fast" is not a positive number`},
		{[]string{"run", "-requests", "5", "-duration", "1s"}, "not both"},
		{[]string{"run", "-trials", "0"}, "trials must be at least 1"},
		{[]string{"run", "-format", "xml"}, "-format must be table or json"},
		{[]string{"run", "-on-cap", "block"}, `-on-cap must be queue or drop (got "block")`},
		{[]string{"run", "-bogus"}, "flag provided but not defined"},
		{[]string{"run", "-scenario", "testdata/bad.yaml"}, "testdata/bad.yaml:5: provider.inter_chunk"},
		{[]string{"report"}, "give result files or folders"},
		{[]string{"report", "testdata/no-such-dir"}, "no-such-dir"},
		{[]string{"run", "-min-effect", "150%"}, `-min-effect: "150%" must be at least 0 and below 100%`},
		{[]string{"report", "-min-effect", "lots", "testdata"}, `-min-effect: "lots" is not a number or percentage`},
		{[]string{"scenarios", "extra"}, "takes no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := runCmd(t, tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
		})
	}
}

func TestListings(t *testing.T) {
	out, _, code := runCmd(t, "scenarios")
	for _, name := range []string{"firehose", "chat", "disconnect", "slow-consumer", "burst", "large", "stall"} {
		if !strings.Contains(out, name) {
			t.Errorf("bench scenarios does not list %s:\n%s", name, out)
		}
	}
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
	out, _, _ = runCmd(t, "variants")
	for _, s := range []string{"mutex", "lockfree", "passthrough", "lock=stream|global", "queue=chan|ring"} {
		if !strings.Contains(out, s) {
			t.Errorf("bench variants does not show %q:\n%s", s, out)
		}
	}
}

// TestRunWritesRecordsAndTable runs a tiny comparison in process and checks
// the records, the summary table and the report files.
func TestRunWritesRecordsAndTable(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runCmd(t, "run", "-inprocess", "-scenario", "chat", "-variants", "mutex,lockfree",
		"-concurrency", "4", "-requests", "40", "-warmup", "0s", "-trials", "1", "-grace", "10ms", "-out", dir)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
	}
	for _, s := range []string{"chunks/s", "mutex", "lockfree", "equivalence: chat closed c=4: identical streams for [passthrough mutex lockfree]"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("summary does not contain %q:\n%s", s, stdout)
		}
	}
	if !strings.Contains(stderr, "trial 3/3") {
		t.Errorf("no progress lines on stderr:\n%s", stderr)
	}
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hs, ts, err := result.ReadAll(f, "results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || len(ts) != 3 {
		t.Fatalf("%d headers and %d trials, want 1 and 3", len(hs), len(ts))
	}
	if hs[0].Cores == 0 || hs[0].GoVersion == "" || hs[0].CPUModel == "" {
		t.Errorf("header lacks the machine: %+v", hs[0])
	}
	for _, name := range []string{"report.html", "summary.md", "results.bench"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	// A fresh folder is required: the same -out again is refused.
	_, stderr, code = runCmd(t, "run", "-inprocess", "-scenario", "chat", "-requests", "4", "-out", dir)
	if code != 2 || !strings.Contains(stderr, "fresh -out folder") {
		t.Errorf("re-using -out: exit %d, stderr %q", code, stderr)
	}
}

// startBench starts the test binary as the bench command and returns it
// with a scanner over its stderr.
func startBench(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "STREAMBENCH_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = new(bytes.Buffer)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(stderr)
}

func waitFor(t *testing.T, sc *bufio.Scanner, prefix string) {
	t.Helper()
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return
		}
	}
	t.Fatalf("stderr ended before a line starting %q", prefix)
}

func readTrials(t *testing.T, path string) []*result.Trial {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, ts, err := result.ReadAll(f, path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestInterrupt: the first Ctrl-C lets the trial in flight finish and keeps
// every finished trial; the run exits 1.
func TestInterrupt(t *testing.T) {
	dir := t.TempDir()
	cmd, sc := startBench(t, "run", "-scenario", "chat", "-variants", "mutex,lockfree", "-concurrency", "4",
		"-duration", "400ms", "-warmup", "0s", "-trials", "5", "-no-calibrate", "-out", dir)
	waitFor(t, sc, "trial 2/10")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1; stderr:\n%s", err, rest.String())
	}
	if !strings.Contains(rest.String(), "stopping after the trial in flight") {
		t.Errorf("stderr does not say it stops after the trial in flight:\n%s", rest.String())
	}
	ts := readTrials(t, filepath.Join(dir, "results.jsonl"))
	if len(ts) != 2 {
		t.Fatalf("%d trials kept, want 2 (the one before the interrupt and the one in flight)", len(ts))
	}
	for _, tr := range ts {
		if tr.Failed() {
			t.Errorf("trial %s failed: %s %v", tr.Variant, tr.Error, tr.Accounting.Violations)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Errorf("no report for the interrupted run: %v", err)
	}
}

// TestSecondInterrupt: a second Ctrl-C stops at once, killing the trial in
// flight, and keeps what had finished.
func TestSecondInterrupt(t *testing.T) {
	dir := t.TempDir()
	cmd, sc := startBench(t, "run", "-scenario", "chat", "-variants", "mutex", "-concurrency", "4",
		"-duration", "1h", "-warmup", "0s", "-trials", "1", "-no-calibrate", "-out", dir)
	waitFor(t, sc, "trial 1/1")
	_ = cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, sc, "interrupt: stopping after")
	began := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1", err)
	}
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("took %s to stop after the second interrupt", d)
	}
	if ts := readTrials(t, filepath.Join(dir, "results.jsonl")); len(ts) != 0 {
		t.Errorf("%d trials recorded from a killed hour-long trial", len(ts))
	}
}

// TestReportMinEffect: -min-effect reaches the findings. A 3% speedup,
// measured precisely, is a finding with the default band and not with a
// 5% one.
func TestReportMinEffect(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	w := result.NewWriter(f)
	if err := w.Write(&result.Header{Kind: result.KindHeader, Cores: 2, GOMAXPROCS: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		for _, v := range []struct {
			name string
			cps  float64
		}{{"mutex", 10000}, {"lockfree", 10300}} {
			tr := &result.Trial{Kind: result.KindTrial, Variant: v.name, Scenario: "chat", Trial: i, GOMAXPROCS: 2,
				Load: result.Load{Model: "closed", Concurrency: 8}, ChunksPerS: v.cps * (1 + float64(i%5-2)/1000)}
			if err := w.Write(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flag, want string
	}{
		{"2%", "lockfree was faster: 1.03x"},
		{"0.05", "lockfree and mutex differed by less than the ±5% practical-significance band"},
	} {
		out := filepath.Join(t.TempDir(), "report")
		if _, stderr, code := runCmd(t, "report", "-min-effect", tc.flag, "-out", out, dir); code != 0 {
			t.Fatalf("-min-effect %s: exit %d: %s", tc.flag, code, stderr)
		}
		md, err := os.ReadFile(filepath.Join(out, "summary.md"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(md), tc.want) {
			t.Errorf("-min-effect %s: summary lacks %q:\n%s", tc.flag, tc.want, md)
		}
	}
}

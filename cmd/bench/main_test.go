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
	"github.com/streambench/streambench/result"
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
		{[]string{"run", "-trials", "0"}, "bench run: trials must be from 1 to 10000 (got 0)"},
		// Absurd sizes are refused before any child process starts.
		{[]string{"run", "-gomaxprocs", "100000"}, "bench run: gomaxprocs must be from 1 to 1024 (got 100000)"},
		{[]string{"run", "-gomaxprocs", "99999999999"}, "bench run: gomaxprocs must be from 1 to 1024"},
		{[]string{"run", "-concurrency", "10000000"}, "bench run: concurrency must be from 1 to 100000"},
		{[]string{"run", "-variants", "lockfree:buffer=99999999999"}, "BufferLimit must be from 1 to 1048576"},
		{[]string{"run", "-rate", "1e300"}, "bench run: rate must be in (0, 1e+06]"},
		{[]string{"run", "-rate", "+Inf"}, `bench run: invalid value "+Inf" for flag -rate: "+Inf" is not a positive number`},
		// Negative durations are refused by every flag.
		{[]string{"run", "-requests", "5", "-timeout", "-1s"}, `invalid value "-1s" for flag -timeout: must not be negative`},
		{[]string{"run", "-requests", "5", "-timeout", "0s"}, "bench run: -timeout must be positive"},
		{[]string{"run", "-grace", "-1s"}, `bench run: invalid value "-1s" for flag -grace: must not be negative`},
		{[]string{"run", "-duration", "-1s"}, `invalid value "-1s" for flag -duration: must not be negative`},
		{[]string{"run", "-warmup", "-1s"}, `invalid value "-1s" for flag -warmup: must not be negative`},
		{[]string{"attack", "-grace", "-1s"}, `bench attack: invalid value "-1s" for flag -grace: must not be negative`},
		{[]string{"attack", "-late", "-1ms"}, `invalid value "-1ms" for flag -late: must not be negative`},
		{[]string{"attack", "-max-settle", "-1s"}, `invalid value "-1s" for flag -max-settle: must not be negative`},
		{[]string{"attack", "-timeout", "-1s"}, `invalid value "-1s" for flag -timeout: must not be negative`},
		{[]string{"attack", "-duration", "-1s"}, `invalid value "-1s" for flag -duration: must not be negative`},
		// Zeros that attack.Config would replace by defaults are refused
		// on the command line, each under its own command's name.
		{[]string{"attack", "-trials", "0"}, "bench attack: -trials must be from 1 to 10000 (got 0)"},
		{[]string{"attack", "-duration", "0s"}, "bench attack: -duration must be positive"},
		{[]string{"attack", "-timeout", "0s"}, "bench attack: -timeout must be positive"},
		{[]string{"attack", "-workers", "0"}, "bench attack: -workers must be from 1 to 1000000 (got 0)"},
		{[]string{"attack", "-max-workers", "0"}, "bench attack: -max-workers must be from 1 to 1000000 (got 0)"},
		{[]string{"attack", "-rate", "0"}, `bench attack: invalid value "0" for flag -rate: "0" is not a positive number`},
		{[]string{"attack", "-rate", "2e6"}, "bench attack: rate 2e+06 is not in (0, 1e6]"},
		{[]string{"attack", "-scenario", "nope"}, `bench attack: unknown scenario "nope"`},
		// The right cause, and duplicates refused like variants.
		{[]string{"run", "-variants", "passthrough", "-no-calibrate"}, "bench run: nothing to run: passthrough is the calibration variant, and calibration is off (-no-calibrate)"},
		{[]string{"run", "-scenario", "chat,chat"}, `bench run: scenario "chat" given twice`},
		// A capacity search: the open model, an SLO, sane bounds.
		{[]string{"run", "-find-capacity", "-scenario", "chat", "-slo-e2e", "1s", "-concurrency", "4"}, "bench run -find-capacity: a capacity search runs the open model only"},
		{[]string{"run", "-find-capacity", "-scenario", "chat"}, "bench run -find-capacity: a capacity search needs an SLO, and chat has none"},
		{[]string{"run", "-find-capacity", "-scenario", "chat", "-slo-e2e", "1s", "-capacity-low", "50", "-capacity-high", "10"}, "high rate must be finite and >= the low rate 50 (got 10)"},
		{[]string{"run", "-find-capacity", "-scenario", "chat", "-slo-e2e", "1s", "-capacity-budget", "0s"}, "the capacity budget must be positive"},
		{[]string{"run", "-slo-ttft", "-1s"}, `invalid value "-1s" for flag -slo-ttft: must not be negative`},
		{[]string{"run", "-scenario", "chat", "-slo-ttft", "2s", "-slo-e2e", "1s"}, "slo.ttft: must not exceed slo.e2e"},
		{[]string{"run", "-variants", "mutex,mutex"}, `bench run: variant "mutex" given twice`},
		{[]string{"run", "-scenario", "testdata/concurrency.yaml"}, "testdata/concurrency.yaml:5: load.concurrency: must be at most 100000 (got 10000000)"},
		{[]string{"run", "-format", "xml"}, "-format must be table or json"},
		{[]string{"run", "-on-cap", "block"}, `-on-cap must be queue or drop (got "block")`},
		{[]string{"run", "-bogus"}, "flag provided but not defined"},
		{[]string{"run", "-scenario", "testdata/bad.yaml"}, "testdata/bad.yaml:5: provider.inter_chunk"},
		{[]string{"report"}, "give result files or folders"},
		{[]string{"report", "testdata/no-such-dir"}, "no-such-dir"},
		{[]string{"run", "-min-effect", "150%"}, `-min-effect: "150%" must be at least 0 and below 100%`},
		{[]string{"report", "-min-effect", "lots", "testdata"}, `-min-effect: "lots" is not a number or percentage`},
		{[]string{"scenarios", "extra"}, "bench scenarios: takes no arguments"},
		{[]string{"serve", "-addr", "127.0.0.1:0", "-cpuprofile", "no-such-dir/cpu.pprof"}, "bench serve: -cpuprofile: open no-such-dir/cpu.pprof: no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// Note: every case runs in an empty working folder, so one that
			// wrongly got as far as a run would leave bench-results/ here.
			t.Chdir(chdirTemp(t))
			_, stderr, code := runCmd(t, tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
			if entries, _ := os.ReadDir("."); len(entries) != 1 {
				t.Errorf("a refused command left %d entries behind", len(entries)-1)
			}
		})
	}
}

// chdirTemp returns a fresh folder holding a copy of testdata, for tests
// that change into it.
func chdirTemp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "testdata"), os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHugeScenarioFile: a scenario file over the size limit is refused at
// once, in one line.
func TestHugeScenarioFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	line := []byte("unknown_key_of_a_hostile_file: 1\n")
	if err := os.WriteFile(path, bytes.Repeat(line, (50<<20)/len(line)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(t, "run", "-scenario", path)
	if code != 2 || !strings.Contains(stderr, path+": larger than 1048576 bytes") || strings.Count(stderr, "\n") > 2 {
		t.Errorf("exit %d, stderr %.300q; want 2 and one line naming the size limit", code, stderr)
	}
}

// TestOutMustBeEmpty: -out refuses a folder that holds anything, and the
// files in it are left alone.
func TestOutMustBeEmpty(t *testing.T) {
	for _, cmd := range []string{"run", "attack"} {
		dir := t.TempDir()
		keep := filepath.Join(dir, "report.html")
		if err := os.WriteFile(keep, []byte("someone's report"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runCmd(t, cmd, "-out", dir)
		if code != 2 || !strings.Contains(stderr, "bench "+cmd+": -out folder "+dir+" is not empty (it holds report.html)") {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, stderr)
		}
		if b, _ := os.ReadFile(keep); string(b) != "someone's report" {
			t.Errorf("%s overwrote report.html", cmd)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s wrote into a refused folder: %d entries", cmd, len(entries))
		}
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

	// bench report on the file an interrupted run leaves (its last line
	// cut) reports the complete records and warns about the cut line.
	data, err := os.ReadFile(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	cut := t.TempDir()
	if err := os.WriteFile(filepath.Join(cut, "results.jsonl"), data[:len(data)-700], 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCmd(t, "report", cut)
	if code != 0 || !strings.Contains(stderr, "bench report: warning: "+filepath.Join(cut, "results.jsonl")+":4: the last line is cut short") {
		t.Errorf("report on a cut file: exit %d, stderr %q", code, stderr)
	}
	// The same records given three ways are counted once.
	_, stderr, code = runCmd(t, "report", "-out", t.TempDir(), dir, filepath.Join(dir, "results.jsonl"), dir+"/.")
	if code != 0 || strings.Count(stderr, "the same file as") != 2 {
		t.Errorf("report on one file given three times: exit %d, stderr %q", code, stderr)
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

// TestInterrupt: the first Ctrl-C (or SIGTERM) lets the trial in flight
// finish and keeps every finished trial; the run exits 1.
func TestInterrupt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd, sc := startBench(t, "run", "-scenario", "chat", "-variants", "mutex,lockfree", "-concurrency", "4",
				"-duration", "400ms", "-warmup", "0s", "-trials", "5", "-no-calibrate", "-out", dir)
			waitFor(t, sc, "trial 2/10")
			if err := cmd.Process.Signal(sig); err != nil {
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
				t.Fatalf("%d trials kept, want 2 (the one before the signal and the one in flight)", len(ts))
			}
			for _, tr := range ts {
				if tr.Failed() {
					t.Errorf("trial %s failed: %s %v", tr.Variant, tr.Error, tr.Accounting.Violations)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
				t.Errorf("no report for the interrupted run: %v", err)
			}
		})
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
	waitFor(t, sc, "interrupt: stopping after the trial in flight (a second signal stops at once)")
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

// TestRunFindCapacity runs a tiny capacity search in process and checks
// that its probes are marked in the records, the summary is the capacity
// table and the report holds the goodput plot. The rates it finds depend
// on the machine; the search's own correctness is harness's and
// capacity's tests.
func TestRunFindCapacity(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runCmd(t, "run", "-inprocess", "-find-capacity", "-scenario", "../../harness/testdata/slo-cap.yaml",
		"-variants", "lockfree", "-duration", "200ms", "-warmup", "0s", "-grace", "10ms",
		"-capacity-low", "50", "-capacity-high", "2000", "-capacity-budget", "2s", "-out", dir)
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
	}
	for _, s := range []string{"capacity", "slo-cap", "lockfree", "e2e<=50ms"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("summary does not contain %q:\n%s", s, stdout)
		}
	}
	if !strings.Contains(stderr, "bench: capacity of lockfree on slo-cap") {
		t.Errorf("stderr does not give the capacity:\n%s", stderr)
	}
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, ts, err := result.ReadAll(f, "results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 {
		t.Fatal("no probe records")
	}
	for _, tr := range ts {
		if !tr.CapacityProbe || tr.Load.Model != "open" || tr.SLO == nil || tr.Trial != 0 {
			t.Errorf("record %s at %g/s: capacity_probe %v, model %s, slo %v, trial %d; want marked open-model probes of one trial each",
				tr.Variant, tr.Load.Rate, tr.CapacityProbe, tr.Load.Model, tr.SLO, tr.Trial)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "plots", "slo-cap-goodput.png")); err != nil || st.Size() == 0 {
		t.Errorf("goodput plot not written: %v", err)
	}
}

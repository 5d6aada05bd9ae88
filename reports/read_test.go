package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streambench/streambench/result"
)

// writeRun writes a header and trials as a results file at path, the way
// a run does, and returns its bytes.
func writeRun(t *testing.T, path string, trials []*result.Trial) []byte {
	t.Helper()
	var b bytes.Buffer
	w := result.NewWriter(&b)
	if err := w.Write(&result.Header{Time: time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC), Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range trials {
		if err := w.Write(tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func warningText(ws []error) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.Error())
	}
	return strings.Join(s, "\n")
}

// TestReadResultsOnce: a file named three ways is read once, and the
// records of a copied file are counted once, each with a warning; records
// of another run with the same trial numbers are kept.
func TestReadResultsOnce(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "int1")
	file := filepath.Join(run, "results.jsonl")
	data := writeRun(t, file, makeTrials(spec{scenario: "chat", variant: "mutex", conc: 4, n: 2, chunks: 100}))
	copyPath := filepath.Join(dir, "copy", "results.jsonl")
	if err := os.MkdirAll(filepath.Dir(copyPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other", "results.jsonl")
	writeRun(t, other, makeTrials(spec{scenario: "chat", variant: "mutex", conc: 4, n: 2, chunks: 100}))

	_, trials, ws, err := ReadResults([]string{run, file, run + "/.", copyPath, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 4 {
		t.Errorf("%d trials, want 4 (2 of int1, 2 of the other run)", len(trials))
	}
	got := warningText(ws)
	for _, want := range []string{
		file + ": the same file as " + file + "; read once",
		filepath.Join(run, ".", "results.jsonl") + ": the same file as " + file + "; read once",
		"2 duplicate trial records dropped (the same run and trial read twice; the first: " + copyPath + ":2 is " + file + ":2's mutex trial 0 again)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if n := len(ws); n != 3 {
		t.Errorf("%d warnings, want 3:\n%s", n, got)
	}
}

// TestReadResultsLegacyRecords: records written before run_id existed are
// told apart by their file's header.
func TestReadResultsLegacyRecords(t *testing.T) {
	dir := t.TempDir()
	line := func(hdrTime string, trial int) string {
		return `{"kind":"header","time":"` + hdrTime + `","hostname":"h"}` + "\n" +
			`{"kind":"trial","variant":"mutex","scenario":"chat","load":{"model":"closed","concurrency":4},"trial":` + string(rune('0'+trial)) + `}` + "\n"
	}
	a, b, c := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl"), filepath.Join(dir, "c.jsonl")
	for path, data := range map[string]string{a: line("2026-11-01T00:00:00Z", 0), b: line("2026-11-01T00:00:00Z", 0), c: line("2026-11-02T00:00:00Z", 0)} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, trials, ws, err := ReadResults([]string{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 2 || len(ws) != 1 || !strings.Contains(ws[0].Error(), "1 duplicate trial records dropped") {
		t.Errorf("%d trials, warnings %v; want 2 trials (a's and c's) and b's dropped", len(trials), ws)
	}
}

// TestReadResultsCutLine: a file whose last line was cut (an interrupted
// run) gives its complete records and a warning.
func TestReadResultsCutLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	data := writeRun(t, path, makeTrials(spec{scenario: "chat", variant: "mutex", conc: 4, n: 5, chunks: 100},
		spec{scenario: "chat", variant: "lockfree", conc: 4, n: 1, chunks: 100}))
	if err := os.WriteFile(path, data[:len(data)-700], 0o644); err != nil {
		t.Fatal(err)
	}
	_, trials, ws, err := ReadResults([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 5 || len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), path+":7: the last line is cut short") {
		t.Errorf("%d trials, warnings %v; want the 5 complete ones and the cut line named", len(trials), ws)
	}
}

// TestWriteBenchLegacyFirst: results.bench lists the legacy design's lines
// first, so that benchstat -col /variant compares every design against it,
// not against the calibration that runs first in each group.
func TestWriteBenchLegacyFirst(t *testing.T) {
	trials := makeTrials(
		spec{scenario: "chat", variant: "passthrough", conc: 4, n: 2, chunks: 100},
		spec{scenario: "chat", variant: "lockfree", conc: 4, n: 2, chunks: 100},
		spec{scenario: "chat", variant: "mutex", conc: 4, n: 2, chunks: 100},
	)
	var b bytes.Buffer
	if err := WriteBench(&b, nil, trials); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(b.String(), "\n") {
		if _, rest, ok := strings.Cut(line, "/variant="); ok {
			name, _, _ := strings.Cut(rest, " ")
			name, _, _ = strings.Cut(name, "\t")
			order = append(order, strings.TrimSuffix(name, "-2"))
		}
	}
	want := []string{"mutex", "mutex", "lockfree", "lockfree", "passthrough", "passthrough"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("variants in results.bench: %v, want %v", order, want)
	}
}

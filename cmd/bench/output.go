package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/streambench/streambench/result"
)

// output is the folder a run (bench run, bench attack) writes into, with
// its results file open.
type output struct {
	dir     string
	results string // results.jsonl in dir
	file    *os.File
	*result.Writer
}

// createOutput makes dir the output folder of command cmd ("bench run"),
// or, when dir is empty, a fresh folder under bench-results/ named prefix
// and the time; and it creates results.jsonl there. It refuses a dir that
// already holds anything: a run writes report.html, summary.md,
// results.bench and plots/ next to its records, and would overwrite
// someone's files of those names.
func createOutput(cmd, dir, prefix string) (*output, error) {
	if dir == "" {
		dir = filepath.Join("bench-results", prefix+time.Now().Format("20060102-150405"))
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, usagef("%s: -out: %v", cmd, err)
	case len(entries) > 0:
		names := make([]string, 0, 3)
		for _, e := range entries[:min(len(entries), 3)] {
			names = append(names, e.Name())
		}
		if len(entries) > 3 {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-3))
		}
		return nil, usagef("%s: -out folder %s is not empty (it holds %s): choose a fresh -out folder", cmd, dir, strings.Join(names, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, usagef("%s: -out: %v", cmd, err)
	}
	path := filepath.Join(dir, "results.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, usagef("%s: %v (choose a fresh -out folder)", cmd, err)
	}
	return &output{dir: dir, results: path, file: f, Writer: result.NewWriter(f)}, nil
}

// Close closes the results file.
func (o *output) Close() error { return o.file.Close() }

// sync flushes the results file to disk and returns runErr, or the sync's
// error when the run had none.
func (o *output) sync(runErr error) error {
	if err := o.file.Sync(); err != nil && runErr == nil {
		return err
	}
	return runErr
}

// ended says how a run that wrote trials of the planned number into o
// ended, under the name cmd ("bench"), and returns its error: errFailed
// when it stopped early (runErr) or a trial failed, nil otherwise.
func (o *output) ended(stderr io.Writer, cmd string, trials []*result.Trial, planned int, runErr error) error {
	failed, partial := 0, 0
	for _, t := range trials {
		if t.Failed() {
			failed++
		}
		if t.Partial {
			partial++
		}
	}
	if partial > 0 {
		// Note: a partial record is a result (a trial stopped at its
		// deadline, at a load its design could not carry), not a failure:
		// it is said, and the exit code stays.
		fmt.Fprintf(stderr, "%s: %d of %d trials were stopped before their end and their records are partial (see the findings and the table's footnotes)\n", cmd, partial, len(trials))
	}
	switch {
	case runErr != nil:
		fmt.Fprintf(stderr, "%s: %v after %d of %d trials; what was measured is in %s\n", cmd, runErr, len(trials), planned, o.dir)
		return errFailed
	case failed > 0:
		fmt.Fprintf(stderr, "%s: %d of %d trials FAILED (see the table's footnotes and %s)\n", cmd, failed, len(trials), o.results)
		return errFailed
	}
	return nil
}

// startCPUProfile starts the process's CPU profile into path, which must
// not exist yet (a profile is a measurement: never overwrite one). The
// returned stop ends it, closes the file and says on stderr, as cmd, where
// the profile is or what went wrong.
func startCPUProfile(path, cmd string, stderr io.Writer) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "%s: -cpuprofile: %v\n", cmd, err)
			return
		}
		fmt.Fprintf(stderr, "%s: CPU profile in %s\n", cmd, path)
	}, nil
}

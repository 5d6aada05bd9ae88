package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/reports"
)

// cmdReport rebuilds the tables, plots and report of the result files and
// folders given, as a run writes them.
func cmdReport(_ context.Context, _ <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output folder (default: the first folder given, or the folder of the first file)")
	minEffect := minEffectFlag(fs)
	if done, err := parseFlags(fs, args, true); done || err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("bench report: give result files or folders")
	}
	dir := *out
	if dir == "" {
		dir = fs.Arg(0)
		if st, err := os.Stat(dir); err != nil {
			return usagef("bench report: %v", err)
		} else if !st.IsDir() {
			dir = filepath.Dir(dir)
		}
	}
	warnings, err := reports.Build(dir, fs.Args(), reportOptions(*minEffect))
	for _, w := range warnings {
		fmt.Fprintf(stderr, "bench report: warning: %v\n", w)
	}
	if err != nil {
		return usagef("bench report: %v", err)
	}
	fmt.Fprintf(stdout, "report in %s\n", filepath.Join(dir, "report.html"))
	return nil
}

// reportOptions are the report's statistics with the band minEffect and
// the ablation ladders the attribution walks.
func reportOptions(minEffect float64) reports.Options {
	o := reports.DefaultOptions
	o.MinEffect = minEffect
	o.Ladders = variant.Ladders()
	return o
}

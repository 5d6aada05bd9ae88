package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/scenarios"
)

func cmdScenarios(_ context.Context, _ <-chan struct{}, stdout, _ io.Writer, args []string) error {
	if len(args) > 0 {
		return usagef("bench scenarios: takes no arguments")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLOAD\tDESCRIPTION")
	for _, s := range scenarios.Builtin() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, describeLoad(s.Load), s.Description)
	}
	return tw.Flush()
}

func describeLoad(l scenarios.Load) string {
	var b strings.Builder
	if l.Model == scenarios.Open {
		fmt.Fprintf(&b, "open %g/s %s", l.Rate, l.Arrival)
	} else {
		fmt.Fprintf(&b, "closed c=%d", l.Concurrency)
	}
	if l.Requests > 0 {
		fmt.Fprintf(&b, ", %d requests", l.Requests)
	} else {
		fmt.Fprintf(&b, ", %s", l.Duration)
	}
	return b.String()
}

func cmdVariants(_ context.Context, _ <-chan struct{}, stdout, _ io.Writer, args []string) error {
	if len(args) > 0 {
		return usagef("bench variants: takes no arguments")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSPEC\tDESCRIPTION")
	for _, v := range variant.Builtin() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.Spec(), v.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nA spec is impl:knob=value,...; knobs:")
	for _, impl := range []string{variant.Mutex, variant.LockFree} {
		fmt.Fprintf(stdout, "  %s: %s\n", impl, strings.Join(variant.Knobs(impl), "  "))
	}
	fmt.Fprintln(stdout, "\nAblation ladders (bench run -ladders runs every rung):")
	for _, l := range variant.Ladders() {
		var steps []string
		for _, st := range l.Steps {
			if st.Change == "" {
				steps = append(steps, st.Variant)
			} else {
				steps = append(steps, fmt.Sprintf("[%s] %s", st.Change, st.Variant))
			}
		}
		fmt.Fprintf(stdout, "  %s: %s\n    %s\n", l.Name, l.Description, strings.Join(steps, " -> "))
	}
	return nil
}

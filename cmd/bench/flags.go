package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/reports"
)

// parseFlags parses args into fs. It reports done for -h (usage printed, the
// command has nothing more to do) and a usage error for bad flags, or for
// positional arguments unless the command takes them.
func parseFlags(fs *flag.FlagSet, args []string, positional bool) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, usagef("%s: %v", fs.Name(), err)
	}
	if !positional && fs.NArg() > 0 {
		return true, usagef("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return false, nil
}

// The list flags are flag.Values, parsed once by the flag package: a bad
// piece is refused as an invalid value of its flag, naming the piece. Each
// Set replaces the list (the last of a repeated flag wins), and empty
// pieces are dropped, so an empty value is the empty list.

// stringList is a comma-separated list of names (-scenario).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = splitList(s)
	return nil
}

// variantList is a comma-separated list of variant names and specs
// (-variants). Specs hold commas too ("lockfree:queue=ring,buffer=64"), so
// it splits as variant.SplitList does; the variants are parsed by whoever
// runs them, which names the problem in its own words.
type variantList []string

func (l *variantList) String() string { return strings.Join(*l, ",") }

func (l *variantList) Set(s string) error {
	*l = variant.SplitList(s)
	return nil
}

// positiveInts is a comma-separated list of positive integers
// (-concurrency, -gomaxprocs).
type positiveInts []int

func (l *positiveInts) String() string {
	ps := make([]string, len(*l))
	for i, n := range *l {
		ps[i] = strconv.Itoa(n)
	}
	return strings.Join(ps, ",")
}

func (l *positiveInts) Set(s string) error {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", p)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// positiveFloats is a comma-separated list of positive finite numbers
// (-rate).
type positiveFloats []float64

func (l *positiveFloats) String() string {
	ps := make([]string, len(*l))
	for i, f := range *l {
		ps[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(ps, ",")
}

func (l *positiveFloats) Set(s string) error {
	var out []float64
	for _, p := range splitList(s) {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a positive number", p)
		}
		out = append(out, f)
	}
	*l = out
	return nil
}

// splitList splits a comma-separated list, trimming its pieces and
// dropping empty ones.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// minEffectFlag defines -min-effect on fs: the practical-significance band
// of the findings, as a fraction (0.02) or a percentage ("2%").
func minEffectFlag(fs *flag.FlagSet) *float64 {
	v := reports.DefaultMinEffect
	fs.Func("min-effect", fmt.Sprintf("smallest difference a finding calls faster or slower, e.g. 2%% or 0.02; 0 for any significant one (default %g%%)", 100*reports.DefaultMinEffect),
		func(s string) error {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number or percentage", s)
			}
			if strings.HasSuffix(s, "%") {
				f /= 100
			}
			if !(f >= 0 && f < 1) {
				return fmt.Errorf("%q must be at least 0 and below 100%%", s)
			}
			v = f
			return nil
		})
	return &v
}

// durationValue is a flag.Value holding a duration that must not be
// negative.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error { return durationFlag(v.d)(s) }

// durationVar defines a non-negative duration flag with default def.
func durationVar(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := new(time.Duration)
	*d = def
	fs.Var(durationValue{d}, name, usage)
	return d
}

// durationFlag parses a non-negative duration into d.
func durationFlag(d *time.Duration) func(string) error {
	return func(s string) error {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("must not be negative")
		}
		*d = v
		return nil
	}
}

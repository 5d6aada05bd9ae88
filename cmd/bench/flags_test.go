package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestListFlags: the list flags are parsed once by the flag package: a
// bad piece is refused naming its flag and the piece, -variants keeps the
// commas of a spec, the last of a repeated flag wins, and a value prints
// back as it parses.
func TestListFlags(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		scen  = stringList{"chat"}
		vs    variantList
		conc  positiveInts
		rates positiveFloats
	)
	fs.Var(&scen, "scenario", "")
	fs.Var(&vs, "variants", "")
	fs.Var(&conc, "concurrency", "")
	fs.Var(&rates, "rate", "")
	err := fs.Parse([]string{"-scenario", " a, ,b", "-variants", "mutex,lockfree:queue=ring,buffer=64,mutex-global",
		"-concurrency", "1", "-concurrency", "4,16", "-rate", "0.5,2e3"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scen, []string{"a", "b"}) || !slices.Equal(conc, []int{4, 16}) || !slices.Equal(rates, []float64{0.5, 2000}) {
		t.Errorf("scenario %q, concurrency %v, rate %v", scen, conc, rates)
	}
	if want := []string{"mutex", "lockfree:queue=ring,buffer=64", "mutex-global"}; !slices.Equal(vs, want) {
		t.Errorf("variants %q, want %q", vs, want)
	}
	for _, v := range []flag.Value{&scen, &vs, &conc, &rates} {
		s := v.String()
		if err := v.Set(s); err != nil || v.String() != s {
			t.Errorf("%q set again: %v, prints %q", s, err, v.String())
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"-concurrency 4,x,8", `invalid value "4,x,8" for flag -concurrency: "x" is not a positive integer`},
		{"-concurrency -2", `"-2" is not a positive integer`},
		{"-rate 1,NaN", `invalid value "1,NaN" for flag -rate: "NaN" is not a positive number`},
		{"-rate -Inf", `"-Inf" is not a positive number`},
	} {
		if err := fs.Parse(strings.Fields(tc.args)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.args, err, tc.want)
		}
	}
}

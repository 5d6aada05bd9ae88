package mutex

import (
	"strings"
	"testing"

	"github.com/streambench/streambench/impls/conformance"
)

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []LockScope{LockStream, LockGlobal} {
		if got, err := ParseLockScope(s.String()); err != nil || got != s {
			t.Errorf("ParseLockScope(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	for _, a := range []Accumulation{AccCopy, AccZeroCopy} {
		if got, err := ParseAccumulation(a.String()); err != nil || got != a {
			t.Errorf("ParseAccumulation(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
	for _, m := range []FinalizerMode{FinalizerDetached, FinalizerAwaited} {
		if got, err := ParseFinalizerMode(m.String()); err != nil || got != m {
			t.Errorf("ParseFinalizerMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
}

func TestParseErrorsListAllowedValues(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) error
		want  string
	}{
		{"lock", func(s string) error { _, err := ParseLockScope(s); return err }, `"stream" or "global"`},
		{"acc", func(s string) error { _, err := ParseAccumulation(s); return err }, `"copy" or "zerocopy"`},
		{"finalizer", func(s string) error { _, err := ParseFinalizerMode(s); return err }, `"detached", "awaited" or "inline"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, bad := range []string{"", "Stream", "bogus"} {
				err := tt.parse(bad)
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"`+bad+`"`) {
					t.Errorf("parse(%q) error = %v, want it to quote the input and list %s", bad, err, tt.want)
				}
			}
		})
	}
}

func TestStringOfInvalidValue(t *testing.T) {
	if got, want := LockScope(7).String(), "LockScope(7)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("DefaultOptions().Validate() = %v", err)
	}
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("Options{}.Validate() = %v", err)
	}
	bad := Options{Lock: 2, Accumulation: -1, Finalizer: 9, FinalizerTimeout: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted invalid options")
	}
	for _, want := range []string{"lock scope", "accumulation", "finalizer mode", "finalizer timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want every problem reported, including %q", err, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted invalid options")
		}
	}()
	New(bad, conformance.NewLedger())
}

package harness

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHeadTailBuffer: a crashed child's stderr keeps its first lines (the
// cause) and its last ones, and says how much it left out between them.
func TestHeadTailBuffer(t *testing.T) {
	b := &headTailBuffer{head: 64, tail: 128}
	fmt.Fprintln(b, "fatal error: runtime: out of memory")
	fmt.Fprintln(b, "")
	written := 0
	for i := range 10000 {
		n, _ := fmt.Fprintf(b, "goroutine %d [running]:\n\tmain.f()\n", i)
		written += n
	}
	fmt.Fprint(b, "exit status 2")
	s := b.String()
	for _, want := range []string{"fatal error: runtime: out of memory", "bytes left out", "exit status 2"} {
		if !strings.Contains(s, want) {
			t.Errorf("kept stderr lacks %q:\n%s", want, s)
		}
	}
	if len(b.h) != 64 || len(b.t) != 128 {
		t.Errorf("kept %d head and %d tail bytes, want 64 and 128", len(b.h), len(b.t))
	}
	if total := int64(len(b.h)+len(b.t)) + b.dropped; total != int64(written+len("fatal error: runtime: out of memory\n\n")+len("exit status 2")) {
		t.Errorf("head + tail + left out = %d bytes, not what was written", total)
	}

	short := &headTailBuffer{head: 64, tail: 128}
	fmt.Fprint(short, "  one line  ")
	if got := short.String(); got != "one line" {
		t.Errorf("short stderr = %q", got)
	}
	if got := (&headTailBuffer{head: 1, tail: 1}).String(); got != "(nothing)" {
		t.Errorf("empty stderr = %q", got)
	}
}

// TestChildStoppedAtDeadline: a child still running at its deadline (its
// providers stall for an hour, its request-count window waits for them) is
// asked to stop, and returns what it measured: a partial record with the
// reason, not an error.
func TestChildStoppedAtDeadline(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"mutex", "lockfree"} {
		t.Run(v, func(t *testing.T) {
			spec := quick(v, "testdata/hung.yaml")
			spec.Timeout = time.Hour
			spec.Drain = 200 * time.Millisecond
			c := ChildConfig{Deadline: 2 * time.Second, StopWait: time.Minute}
			rec, err := c.Run(context.Background(), exe, spec)
			if err != nil {
				t.Fatalf("child asked to stop: %v, want its partial record", err)
			}
			if !rec.Partial || !strings.HasPrefix(rec.PartialReason, "stopped at the child process's deadline (2s after it started), ") {
				t.Fatalf("partial %v, reason %q; want a partial record naming the deadline", rec.Partial, rec.PartialReason)
			}
			if !slices.ContainsFunc(rec.Warnings, func(w string) bool { return strings.HasPrefix(w, "partial record (stopped at the child") }) {
				t.Errorf("warnings %q do not say the record is partial", rec.Warnings)
			}
			if rec.Failed() && v == "lockfree" {
				t.Errorf("the redesign's partial record failed: %q %q", rec.Error, rec.Accounting.Violations)
			}
			if rec.RequestsStarted == 0 || rec.Accounting.ChunksProduced == 0 {
				t.Errorf("the partial record lost what the child measured: %d requests started, %d chunks produced", rec.RequestsStarted, rec.Accounting.ChunksProduced)
			}
		})
	}
}

// TestChildIgnoringStopIsKilled: a child that does not answer the stop is
// killed once its parent's wait is over, and the error says so.
func TestChildIgnoringStopIsKilled(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STREAMBENCH_TEST_CHILD", "deaf")
	spec := quick("lockfree", "testdata/disconnect-short.yaml")
	spec.Drain, spec.Grace = 10*time.Millisecond, 10*time.Millisecond
	c := ChildConfig{Deadline: 100 * time.Millisecond, StopWait: 100 * time.Millisecond}
	rec, err := c.Run(context.Background(), exe, spec)
	if err == nil {
		t.Fatalf("a child that ignored its stop returned a record: %+v", rec)
	}
	if want := "child process timed out after 100ms; asked to stop then, it wrote no record within"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
}

// TestChildDeadlines: the child's deadline is its trial's timeline and the
// slack, or the configured deadline; the kill comes StopWait later, plus
// what a stopped trial may still take.
func TestChildDeadlines(t *testing.T) {
	spec := TrialSpec{Warmup: time.Second, Duration: 3 * time.Second}
	spec.withDefaults()
	ask, kill := DefaultChildConfig.deadlines(spec)
	if want := time.Second + 3*time.Second + 3*DefaultDrain + DefaultGrace + DefaultChildConfig.Slack; ask != want {
		t.Errorf("ask = %s, want %s", ask, want)
	}
	if want := ask + DefaultChildConfig.StopWait + 3*stopDrain + DefaultDrain + DefaultGrace; kill != want {
		t.Errorf("kill = %s, want %s", kill, want)
	}
	if ask, _ := (ChildConfig{Deadline: time.Second}).deadlines(spec); ask != time.Second {
		t.Errorf("ask = %s with a 1s deadline", ask)
	}
}

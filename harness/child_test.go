package harness

import (
	"fmt"
	"strings"
	"testing"
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

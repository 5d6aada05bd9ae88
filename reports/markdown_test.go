package reports

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, testHeader, standardRun(), DefaultOptions); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"Test CPU @ 3.0GHz (2 cores) · GOMAXPROCS=2 · go1.26.8 linux/amd64 · commit abc1234",
		"- On chat at 64 streams, lockfree was faster: 3.1x",
		"| chat | closed-64 | lockfree | 8 | 31.1k |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if n := strings.Count(s, "\n"); n > 40 {
		t.Errorf("markdown has %d lines, too long for a PR comment", n)
	}
	golden(t, "summary.md", b.Bytes())
}

// TestWriteMarkdownCollapse: the pull-request summary keeps a collapsed
// variant's row, says how many of its records are partial, and footnotes
// why.
func TestWriteMarkdownCollapse(t *testing.T) {
	var b bytes.Buffer
	trials := makeTrials(
		spec{scenario: "chat", variant: "mutex", conc: 100000, n: 8, chunks: 25900, partial: 8},
		spec{scenario: "chat", variant: "lockfree", conc: 100000, n: 8, chunks: 95500, overran: 2},
	)
	if err := WriteMarkdown(&b, testHeader, trials, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"- On chat at 100000 streams, mutex collapsed: 8 of 8 trials were stopped before their end",
		"| chat | closed-100000 | mutex | 8 (8 partial) | 25.9k ¹ |",
		"| chat | closed-100000 | lockfree | 8 (2 overran) |",
		"¹ partial record (stopped at the child process's deadline",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q:\n%s", want, s)
		}
	}
}

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

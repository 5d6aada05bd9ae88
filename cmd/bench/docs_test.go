package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsStandAlone: the README and docs are read by people who cloned
// the repository, and must not send them to files outside it.
func TestDocsStandAlone(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "../shared") || strings.Contains(line, "shared/DESIGN") || strings.Contains(line, "shared/STYLE") {
				t.Errorf("%s:%d points outside the repository: %s", f, i+1, line)
			}
		}
	}
}

package runinfo

import (
	"runtime"
	"testing"

	"github.com/streambench/streambench/result"
)

func TestHeader(t *testing.T) {
	h := Header(result.ModeHTTP)
	if h.Isolation != result.ModeHTTP || h.Cores != runtime.NumCPU() || h.GoVersion != runtime.Version() || h.CPUModel == "" {
		t.Errorf("header %+v", h)
	}
	// The tests run inside the repository's git checkout (or a copy of
	// it), where a commit is always known, by build info or by git.
	if h.Commit == "" {
		t.Errorf("no commit in %+v", h)
	}
}

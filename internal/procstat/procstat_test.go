package procstat

import (
	"runtime"
	"testing"
)

func TestProcessCPUGrows(t *testing.T) {
	a, ok := ProcessCPU()
	if !ok {
		t.Skipf("no process CPU time on %s", runtime.GOOS)
	}
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	b, _ := ProcessCPU()
	if b <= a {
		t.Errorf("process CPU did not grow over a busy loop: %v then %v (%d)", a, b, x)
	}
}

func TestMachineBusy(t *testing.T) {
	busy, ok := MachineBusy()
	if runtime.GOOS == "linux" && (!ok || busy <= 0) {
		t.Errorf("MachineBusy() = %v, %t on Linux, want a positive time", busy, ok)
	}
}

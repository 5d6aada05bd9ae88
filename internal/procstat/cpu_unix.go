//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user plus system CPU time this process has used,
// from getrusage(RUSAGE_SELF); ok is false if it cannot be read.
func ProcessCPU() (cpu time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

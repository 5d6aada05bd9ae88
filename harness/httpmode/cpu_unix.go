//go:build unix

package httpmode

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user plus system CPU time this process has used,
// from getrusage(RUSAGE_SELF); zero if it cannot be read.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

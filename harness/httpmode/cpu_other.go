//go:build !unix

package httpmode

import "time"

// ProcessCPU returns zero: process CPU time is read only on Unix.
func ProcessCPU() time.Duration { return 0 }

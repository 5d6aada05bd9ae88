//go:build !unix

package procstat

import "time"

// ProcessCPU reports that this platform's process CPU time is not read
// (ok false): CPU per chunk is then absent from the records.
func ProcessCPU() (cpu time.Duration, ok bool) { return 0, false }

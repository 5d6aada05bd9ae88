// Package procstat reads what the operating system knows of this process's
// and the machine's CPU use: the one copy both measuring modes use. Where a
// platform cannot tell, the functions say so (ok false) rather than return
// a made-up zero.
package procstat

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// MachineBusy returns the CPU time the whole machine has spent busy (not
// idle or waiting for I/O) since boot, from /proc/stat; ok is false where
// there is no /proc.
func MachineBusy() (busy time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	// Note: /proc/stat counts in USER_HZ ticks, 100 a second on Linux.
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

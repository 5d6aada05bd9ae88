package conformance

import (
	"bytes"
	"regexp"
	"runtime"
)

// bubbleRE finds the bubble a goroutine belongs to in its traceback header
// ("goroutine 7 [sleep, synctest bubble 3]:"), as printed since Go 1.25.
var bubbleRE = regexp.MustCompile(`synctest bubble (\d+)`)

// goroutineIDRE finds a goroutine's ID in its traceback header.
var goroutineIDRE = regexp.MustCompile(`^goroutine (\d+) `)

// bubbleGoroutines returns the traceback of every goroutine in the calling
// goroutine's synctest bubble, the caller included, keyed by goroutine ID.
//
// Note: counting only the bubble's goroutines, instead of
// runtime.NumGoroutine or goleak.Find, keeps the count exact when other tests
// run in parallel, and goleak's retries would sleep in fake time, which lets
// a detached finalizer's timeout fire and hide the very goroutine being
// counted. If the runtime stops printing bubble IDs, every goroutine in the
// process is counted, which is still exact for a test running alone.
func bubbleGoroutines() map[string]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	self := make([]byte, 1<<10)
	self = self[:runtime.Stack(self, false)]
	var mine []byte
	if m := bubbleRE.FindSubmatch(firstLine(self)); m != nil {
		mine = m[1]
	}
	out := make(map[string]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if len(bytes.TrimSpace(g)) == 0 {
			continue
		}
		if mine != nil {
			m := bubbleRE.FindSubmatch(firstLine(g))
			if m == nil || !bytes.Equal(m[1], mine) {
				continue
			}
		}
		if m := goroutineIDRE.FindSubmatch(g); m != nil {
			out[string(m[1])] = string(g)
		}
	}
	return out
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

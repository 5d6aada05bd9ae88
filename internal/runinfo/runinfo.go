// Package runinfo describes the machine and the build a run measures on:
// the one builder of a run's header for every mode, so that each record
// file says the same things the same way (CPU model, cores, GOMAXPROCS, Go
// version, commit, command).
package runinfo

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/streambench/streambench/result"
)

// Header returns a header describing this machine, this build and this
// command, with the given isolation (result.ModeChild, ModeInProcess or
// ModeHTTP). The caller fills in the plan: scenarios, variants, trials and
// seed.
func Header(isolation string) *result.Header {
	h := &result.Header{
		Time:       time.Now().UTC(),
		CPUModel:   CPUModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		Commit:     Commit(),
		Command:    os.Args,
		Isolation:  isolation,
	}
	h.Hostname, _ = os.Hostname()
	return h
}

// CPUModel returns the CPU's model name from /proc/cpuinfo, or GOARCH where
// there is none.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// Commit returns the build's VCS revision (12 hex digits), with "+dirty"
// for a modified tree, or "unknown".
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			return rev[:min(len(rev), 12)] + dirty
		}
	}
	// Note: a binary built with -buildvcs=false (or by go run in some
	// setups) carries no revision; ask git about the working directory.
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += "+dirty"
	}
	return rev
}

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streambench/streambench/httpmode/attack"
)

// childrenOf returns the PIDs of the processes whose parent is pid, from
// /proc; the test is skipped where there is none.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to find child processes in")
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Note: the command name in parentheses may hold spaces; the
		// fields after its closing parenthesis are state, then ppid.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// running reports whether pid is a live process (not gone, not a zombie
// waiting for a parent that does not reap it).
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// awaitGone waits for pid to end, failing the test after a bound far
// beyond what ending takes.
func awaitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) outlived its parent", what, pid)
		}
		time.Sleep(20 * time.Millisecond) // Note: polling /proc; nothing to wait on.
	}
}

// oneChild waits for the process pid to have a child and returns it.
func oneChild(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if cs := childrenOf(t, pid); len(cs) == 1 {
			return cs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has no child", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChildrenDieWithParent: a trial's child process and bench attack's
// serve process end when their parent is killed outright (SIGKILL, which
// no handler sees).
func TestChildrenDieWithParent(t *testing.T) {
	t.Run("run", func(t *testing.T) {
		cmd, sc := startBench(t, "run", "-scenario", "chat", "-variants", "mutex", "-concurrency", "4",
			"-duration", "1h", "-warmup", "0s", "-trials", "1", "-no-calibrate", "-out", t.TempDir())
		waitFor(t, sc, "trial 1/1")
		child := oneChild(t, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		awaitGone(t, child, "the trial's child process")
	})
	t.Run("attack", func(t *testing.T) {
		cmd, sc := startBench(t, "attack", "-scenario", "testdata/slow.yaml", "-variants", "mutex", "-rate", "5",
			"-duration", "1h", "-out", t.TempDir())
		waitFor(t, sc, "trial 1/1")
		child := oneChild(t, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		awaitGone(t, child, "the serve process")
	})
}

// TestAttackSignals: bench attack's first signal finishes the trial in
// flight and keeps its record, and its serve child is not stopped by the
// terminal's Ctrl-C (sent here to the whole process group); a second signal
// stops at once. Neither leaves the serve process running.
func TestAttackSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns bench attack and its serve process")
	}
	t.Run("first finishes the trial", func(t *testing.T) {
		dir := t.TempDir()
		cmd, sc := startBenchGroup(t, "attack", "-scenario", "testdata/http-short.yaml", "-variants", "mutex,lockfree",
			"-rate", "20", "-duration", "1s", "-trials", "3", "-grace", "1200ms", "-out", dir)
		waitFor(t, sc, "trial 1/6")
		serve := oneChild(t, cmd.Process.Pid)
		// As a Ctrl-C at the terminal does, signal the whole group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		rest := drain(sc)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want code 1; stderr:\n%s", err, rest)
		}
		ts := readTrials(t, filepath.Join(dir, "results.jsonl"))
		if len(ts) != 1 || ts[0].Failed() || ts[0].Variant != "mutex" {
			t.Fatalf("%d records (%+v); want the trial in flight's, whole; stderr:\n%s", len(ts), ts, rest)
		}
		if !strings.Contains(rest, "run stopped by a signal after 1 of 6 trials") {
			t.Errorf("stderr does not say the run stopped after the trial in flight:\n%s", rest)
		}
		if running(serve) {
			t.Errorf("the serve process (pid %d) outlived bench attack", serve)
		}
	})
	t.Run("second stops at once", func(t *testing.T) {
		dir := t.TempDir()
		cmd, sc := startBench(t, "attack", "-scenario", "testdata/slow.yaml", "-variants", "mutex",
			"-rate", "5", "-duration", "1h", "-out", dir)
		waitFor(t, sc, "trial 1/1")
		serve := oneChild(t, cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		waitFor(t, sc, "SIGTERM: stopping after the trial in flight")
		cmd.Process.Signal(syscall.SIGTERM)
		rest := drain(sc)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(rest, "SIGTERM: stopping now") {
			t.Fatalf("exit: %v, want code 1 and 'stopping now'; stderr:\n%s", err, rest)
		}
		if running(serve) {
			t.Errorf("the serve process (pid %d) outlived bench attack", serve)
		}
	})
}

// TestServeShutdown: bench serve's first signal cancels the streams in
// flight, including the legacy design's provider stream that runs on after
// its client has gone, so shutdown does not wait out its bound; it says
// what it does in serve's own words, and still writes its CPU profile.
func TestServeShutdown(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	cmd := exec.Command(os.Args[0], "serve", "-addr", "127.0.0.1:0", "-scenario", "testdata/slow.yaml", "-variants", "mutex,lockfree", "-cpuprofile", prof)
	cmd.Env = append(os.Environ(), "STREAMBENCH_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url, err := attack.ReadServeURL(bufio.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	// A client reads the first event of a ten-second stream and leaves.
	req, _ := http.NewRequest("POST", url+"/mutex/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	req.Header.Set("X-Streambench-Request", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
	}
	got := stderr.String()
	if !strings.Contains(got, "interrupt: shutting down (a second signal stops at once)") || strings.Contains(got, "trial in flight") {
		t.Errorf("serve's signal message is not its own:\n%s", got)
	}
	// Note: whether the legacy gateway has noticed its client leave yet
	// is a race; its provider stream runs on either way.
	if !strings.Contains(got, "bench serve: shutting down; cancelling the streams in flight") || !strings.Contains(got, ", 1 from the provider)") {
		t.Errorf("serve does not say it cancels the stream the legacy gateway still reads:\n%s", got)
	}
	if strings.Contains(got, "were cut") {
		t.Errorf("shutdown waited out its bound instead of cancelling the provider stream:\n%s", got)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 || !strings.Contains(got, "CPU profile in "+prof) {
		t.Errorf("no CPU profile after a signal (%v):\n%s", err, got)
	}
}

// startBenchGroup is startBench with the command in a process group of its
// own, so that the test can signal the group as a terminal does.
func startBenchGroup(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "STREAMBENCH_TEST_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = new(bytes.Buffer)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return cmd, bufio.NewScanner(stderr)
}

func drain(sc *bufio.Scanner) string {
	var b strings.Builder
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

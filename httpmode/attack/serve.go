package attack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// SpawnedEnv is set in the environment of the serve process StartServe
// spawns. The bench command reads it: a process so marked ignores the
// terminal's Ctrl-C and exits when its stdin closes.
const SpawnedEnv = "STREAMBENCH_SPAWNED"

// ListeningPrefix starts the line `bench serve` prints on its stdout once
// it listens, followed by its URL; StartServe waits for it.
const ListeningPrefix = "listening on "

// ServeStopTimeout bounds Close's wait for a serve process asked to shut
// down before it is killed.
const ServeStopTimeout = 10 * time.Second

// Serve is a `bench serve` process that StartServe spawned.
type Serve struct {
	// URL is the base URL the process serves at, from its listening line.
	URL string

	ctx    context.Context
	cmd    *exec.Cmd
	stdout io.Reader
}

// StartServe runs `binary serve -addr 127.0.0.1:0 args...` (binary being
// the bench command; args are further serve flags), its stderr going to
// stderr, and returns once it listens. Close stops it.
//
// The child is told it was spawned (SpawnedEnv): it ignores the terminal's
// Ctrl-C, which reaches the whole process group, leaving this process to
// decide when it stops; and it exits when its stdin, a pipe this process
// holds, closes, so it never outlives its parent, however the parent ends.
//
// Note: ctx does not stop the child; it tells Close how to: once ctx is
// done (the user asked to stop at once), Close kills the child rather than
// asking it to shut down.
func StartServe(ctx context.Context, binary string, args []string, stderr io.Writer) (*Serve, error) {
	cmd := exec.Command(binary, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), SpawnedEnv+"=1")
	cmd.Stderr = stderr
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, err
	}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting bench serve: %w", err)
	}
	s := &Serve{ctx: ctx, cmd: cmd, stdout: pipe}
	if s.URL, err = ReadServeURL(bufio.NewReader(pipe)); err != nil {
		s.stop(true)
		return nil, err
	}
	return s, nil
}

// Close stops the serve process, asking it to shut down (SIGTERM), or at
// once when StartServe's ctx is done, and waits for it to end; one that
// has not ended after ServeStopTimeout is killed.
func (s *Serve) Close() error {
	return s.stop(s.ctx.Err() != nil)
}

func (s *Serve) stop(kill bool) error {
	if kill {
		s.cmd.Process.Kill()
	} else {
		s.cmd.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan error, 1)
	go func() {
		io.Copy(io.Discard, s.stdout)
		done <- s.cmd.Wait()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(ServeStopTimeout):
		s.cmd.Process.Kill()
		return <-done
	}
}

// ReadServeURL reads a bench serve process's stdout until its listening
// line and returns the URL on it.
func ReadServeURL(r *bufio.Reader) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), ListeningPrefix); ok {
			return s, nil
		}
		if err != nil {
			return "", fmt.Errorf("bench serve exited before it listened: %w", err)
		}
	}
}

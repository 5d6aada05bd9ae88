package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streambench/streambench/result"
)

// childEnv carries a TrialSpec, as JSON, to a child process.
const childEnv = "STREAMBENCH_TRIAL"

// protocolEnv carries the parent's ProtocolVersion to a child process.
const protocolEnv = "STREAMBENCH_PROTOCOL"

// ProtocolVersion is the version of the parent–child protocol: the trial
// spec in the environment and the one record on stdout. A child refuses a
// parent of another version, and the parent refuses a record of another
// version, each naming both versions.
//
// Note: the protocol matters once two builds meet (bench gate runs the
// child binaries of two commits). A binary built before the protocol was
// versioned writes records without a version; the parent names it
// "none". Raise ProtocolVersion when a TrialSpec field changes meaning or
// the child's output changes shape.
const ProtocolVersion = 1

// ProtocolError is a child that speaks another protocol version than its
// parent.
type ProtocolError struct {
	// Exe is the child binary.
	Exe string
	// Parent and Child are the two versions; 0 means unversioned.
	Parent, Child int
}

func (e *ProtocolError) Error() string {
	child := strconv.Itoa(e.Child)
	if e.Child == 0 {
		child = "none (built before the protocol was versioned)"
	}
	return fmt.Sprintf("child binary %s speaks trial protocol version %s, this bench speaks version %d: rebuild it from a commit whose protocol matches", e.Exe, child, e.Parent)
}

// IsChild reports whether this process was started by Run to run one trial.
// A command's main calls it first and, if true, hands over to ChildMain.
func IsChild() bool { return os.Getenv(childEnv) != "" }

// stopLine starts the line a parent writes on a child's stdin to ask it to
// stop its trial early; the rest of the line is the reason, which the
// child's record states (result.Trial.PartialReason).
//
// Note: a line on stdin rather than a signal: the child ignores SIGINT and
// SIGTERM (see ChildMain), and a pipe works alike on every platform. A
// child built before this line existed reads it and discards it, as it
// discards all its input, and is killed at the parent's second deadline as
// before; so the protocol version did not change.
const stopLine = "stop "

// StopRequest is the cause of a child's stop: its parent asked it to stop
// for Reason.
type StopRequest struct{ Reason string }

func (e *StopRequest) Error() string { return e.Reason }

// ChildMain runs the trial named in the environment and writes its record
// as one JSON line on stdout. It returns the process exit code: 0 when a
// record was written (even one with violations, which the parent judges),
// 2 when the spec could not run.
//
// The child ignores SIGINT and SIGTERM: a Ctrl-C at the terminal (or a
// SIGTERM to the process group) reaches the whole group, and the parent
// decides whether the trial in flight finishes (first signal) or is killed
// (second). The child exits when its stdin, a pipe the parent holds,
// closes: it never outlives its parent, however the parent ends. A stop
// line on stdin (see stopLine) stops the trial early, as an interruption
// stops RunTrial: the child writes what it measured, a partial record.
func ChildMain(stdout, stderr io.Writer) int {
	// Note: a parent of another version is refused before anything else,
	// so the refusal is the child's only output.
	if v := os.Getenv(protocolEnv); v != "" && v != strconv.Itoa(ProtocolVersion) {
		fmt.Fprintf(stderr, "bench child: the parent speaks trial protocol version %s, this child speaks version %d\n", v, ProtocolVersion)
		return 2
	}
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if reason, ok := strings.CutPrefix(sc.Text(), stopLine); ok {
				stop(&StopRequest{Reason: reason})
			}
		}
		fmt.Fprintln(stderr, "bench child: the parent process is gone; exiting")
		os.Exit(3)
	}()
	var spec TrialSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &spec); err != nil {
		fmt.Fprintf(stderr, "bench child: bad trial spec: %v\n", err)
		return 2
	}
	rec, err := RunTrial(ctx, spec)
	if err != nil {
		fmt.Fprintf(stderr, "bench child: %v\n", err)
		return 2
	}
	rec.Mode = result.ModeChild
	rec.Protocol = ProtocolVersion
	if err := result.NewWriter(stdout).Write(rec); err != nil {
		fmt.Fprintf(stderr, "bench child: %v\n", err)
		return 2
	}
	return 0
}

// runChild runs spec in a fresh child process of the running binary.
func runChild(ctx context.Context, spec TrialSpec) (*result.Trial, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return RunChild(ctx, exe, spec)
}

// ChildConfig bounds a trial's child process: when the parent asks it to
// stop, and how long it then waits for its record before it kills it.
type ChildConfig struct {
	// Slack is added to the trial's own timeline (warm-up, duration, three
	// drain bounds, grace, and the timeout of a request-count trial) to
	// give the child's deadline, when the parent asks it to stop.
	Slack time.Duration
	// Deadline, when positive, is the child's deadline itself, whatever
	// the trial's timeline.
	Deadline time.Duration
	// StopWait is how long past its deadline a child that was asked to
	// stop has to write its record (beyond its drain and grace, which the
	// parent adds) before the parent kills it.
	StopWait time.Duration
}

// DefaultChildConfig is what RunChild uses.
//
// Note: at 100,000 streams a child's 3 s window once lasted 36 s and
// another's ran past its 94 s deadline; a stopped child needs time to
// stop its streams and collect their accounting, and at that load its
// goroutines wait seconds for a CPU.
var DefaultChildConfig = ChildConfig{Slack: 30 * time.Second, StopWait: 30 * time.Second}

// deadlines returns when a child running spec is asked to stop, and when
// it is killed if it has written no record by then.
func (c ChildConfig) deadlines(spec TrialSpec) (ask, kill time.Duration) {
	ask = spec.Warmup + spec.Duration + 3*spec.Drain + spec.Grace + c.Slack
	if spec.Requests > 0 {
		ask += spec.Timeout
	}
	if c.Deadline > 0 {
		ask = c.Deadline
	}
	// Note: a stopped trial waits stopDrain at each of the drain's steps,
	// its providers' stop up to a drain bound, then its grace.
	return ask, ask + c.StopWait + 3*stopDrain + spec.Drain + spec.Grace
}

// RunChild runs spec in a fresh child process of the bench binary exe (the
// running one, or another build of it) with DefaultChildConfig; see
// ChildConfig.Run.
func RunChild(ctx context.Context, exe string, spec TrialSpec) (*result.Trial, error) {
	return DefaultChildConfig.Run(ctx, exe, spec)
}

// Run runs spec in a fresh child process of the bench binary exe: exe
// executed with the spec and the protocol version in its environment and
// GOMAXPROCS set before the runtime starts. Killing ctx kills the child. A
// child of another protocol version is a *ProtocolError.
//
// A child still running at its deadline (see ChildConfig) is asked to stop
// and returns what it measured, a record marked partial with the reason; one
// that writes no record within StopWait after that is killed, and the
// error says so.
func (c ChildConfig) Run(ctx context.Context, exe string, spec TrialSpec) (*result.Trial, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	spec.withDefaults()
	timeout, killAt := c.deadlines(spec)
	ctx, cancel := context.WithTimeout(ctx, killAt)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(b), protocolEnv+"="+strconv.Itoa(ProtocolVersion))
	if spec.GOMAXPROCS > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(spec.GOMAXPROCS))
	}
	var stdout bytes.Buffer
	stderr := &headTailBuffer{head: 2 << 10, tail: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	// Note: the child watches this pipe and exits when it closes, which
	// happens when this process ends, even by SIGKILL; a line on it asks
	// the child to stop (see stopLine).
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var asked sync.WaitGroup
	asked.Add(1)
	ask := time.AfterFunc(timeout, func() {
		defer asked.Done()
		// Note: a child that already ended has closed its end; the write
		// then fails, and the record (or its absence) speaks.
		fmt.Fprintf(stdin, "%sstopped at the child process's deadline (%s after it started)\n", stopLine, timeout)
	})
	err = cmd.Wait()
	if ask.Stop() {
		asked.Done()
	}
	asked.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("trial %s: child process timed out after %s; asked to stop then, it wrote no record within %s; its stderr: %s", spec, timeout, killAt-timeout, stderr)
	}
	if err != nil {
		if v, ok := refusedVersion(stderr.String()); ok {
			return nil, &ProtocolError{Exe: exe, Parent: ProtocolVersion, Child: v}
		}
		return nil, fmt.Errorf("trial %s: child process failed (%v); its stderr: %s", spec, err, stderr)
	}
	_, trials, err := result.ReadAll(&stdout, "child stdout")
	if err != nil {
		return nil, fmt.Errorf("trial %s: %v", spec, err)
	}
	if len(trials) != 1 {
		return nil, fmt.Errorf("trial %s: child wrote %d records, want 1", spec, len(trials))
	}
	if v := trials[0].Protocol; v != ProtocolVersion {
		return nil, &ProtocolError{Exe: exe, Parent: ProtocolVersion, Child: v}
	}
	return trials[0], nil
}

// refusedVersion finds the version a child named when it refused its
// parent's protocol.
func refusedVersion(stderr string) (int, bool) {
	_, after, ok := strings.Cut(stderr, "this child speaks version ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.Fields(after + " ")[0]))
	return n, err == nil
}

// headTailBuffer keeps the first head and the last tail bytes written to
// it, and counts what it left out between them.
//
// Note: a Go program that crashes writes its cause first ("fatal error:
// runtime: out of memory") and then a goroutine dump that can run to
// megabytes; the tail alone would keep the dump and lose the cause.
type headTailBuffer struct {
	head, tail int
	h, t       []byte
	dropped    int64
}

func (b *headTailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.head - len(b.h); room > 0 {
		k := min(room, len(p))
		b.h = append(b.h, p[:k]...)
		p = p[k:]
	}
	b.t = append(b.t, p...)
	if over := len(b.t) - b.tail; over > 0 {
		b.dropped += int64(over)
		b.t = append(b.t[:0], b.t[over:]...)
	}
	return n, nil
}

func (b *headTailBuffer) String() string {
	var s string
	if b.dropped > 0 {
		s = fmt.Sprintf("%s\n... (%d bytes left out) ...\n%s", b.h, b.dropped, b.t)
	} else {
		s = string(b.h) + string(b.t)
	}
	if s = strings.TrimSpace(s); s == "" {
		return "(nothing)"
	}
	return s
}

var errStopped = errors.New("run stopped by a signal")

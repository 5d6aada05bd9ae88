// Command bench runs the streambench comparison: the legacy mutex design and
// the lock-free redesign of an LLM streaming relay, side by side, on seeded
// synthetic scenarios, in fresh child processes, with every chunk, token and
// record accounted for.
//
//	bench                       the default comparison (about two minutes)
//	bench run [flags]           a run or a sweep of your choosing
//	bench report FILE|DIR...    rebuild the report from result records
//	bench scenarios             list the built-in scenarios
//	bench variants              list the built-in variants and knobs
//
// Exit codes: 0 success, 1 a failed run (an accounting violation, a trial
// that crashed, an interrupted run), 2 bad usage or input.
//
// The command is a thin adapter: the work is in packages harness, reports,
// scenarios and impls/variant.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/streambench/streambench/harness"
)

func main() {
	if harness.IsChild() {
		os.Exit(harness.ChildMain(os.Stdout, os.Stderr))
	}
	args := os.Args[1:]
	// The first SIGINT or SIGTERM asks the command to stop gracefully; the
	// second stops it at once.
	signals := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if os.Getenv(spawnedEnv) != "" {
		// Note: a Ctrl-C at the terminal reaches the whole process group;
		// the parent that spawned this process decides when it stops (with
		// SIGTERM), and its end closes our stdin.
		signal.Ignore(os.Interrupt)
		signals = signals[1:]
		go exitWhenClosed(os.Stdin, os.Stderr)
	}
	ctx, kill := context.WithCancel(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, signals...)
	first := "stopping after the trial in flight"
	if len(args) > 0 && args[0] == "serve" {
		first = "shutting down"
	}
	go func() {
		fmt.Fprintf(os.Stderr, "\n%s: %s (a second signal stops at once)\n", signalName(<-sigs), first)
		close(stop)
		fmt.Fprintf(os.Stderr, "\n%s: stopping now\n", signalName(<-sigs))
		kill()
	}()
	err := run(ctx, stop, os.Stdout, os.Stderr, args)
	os.Exit(exitCode(os.Stderr, err))
}

// signalName names s as people say it.
func signalName(s os.Signal) string {
	if s == os.Interrupt {
		return "interrupt"
	}
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return s.String()
}

// spawnedEnv marks a process that another bench process spawned (bench
// attack's serve child): it must not outlive its parent.
const spawnedEnv = "STREAMBENCH_SPAWNED"

// exitWhenClosed exits the process when r, a pipe held by the parent,
// reaches its end: the parent has gone, however it ended.
func exitWhenClosed(r io.Reader, stderr io.Writer) {
	io.Copy(io.Discard, r)
	fmt.Fprintln(stderr, "bench: the parent process is gone; exiting")
	os.Exit(1)
}

// usageError is bad usage or input: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errFailed marks a run that ran but failed: exit code 1. Its message has
// been printed already.
var errFailed = errors.New("run failed")

func exitCode(stderr io.Writer, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		// Note: a message that names its command ("bench run: ...") is
		// printed as it is; others get the program's name.
		if msg := err.Error(); strings.HasPrefix(msg, "bench ") {
			fmt.Fprintln(stderr, msg)
		} else {
			fmt.Fprintf(stderr, "bench: %s\n", msg)
		}
		return 2
	case errors.Is(err, errFailed):
		return 1
	default:
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
}

// commands are the subcommands, one small function each.
var commands = map[string]func(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error{
	"run":       cmdRun,
	"report":    cmdReport,
	"scenarios": cmdScenarios,
	"variants":  cmdVariants,
	"serve":     cmdServe,
	"attack":    cmdAttack,
}

func run(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return cmdDefault(ctx, stop, stdout, stderr)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return usagef("unknown command %q\n%s", args[0], usage)
	}
	return cmd(ctx, stop, stdout, stderr, args[1:])
}

const usage = `usage:
  bench                       run the default comparison of mutex and lockfree
  bench run [flags]           run trials (bench run -h for flags)
  bench report FILE|DIR...    rebuild tables, plots and reports from result files
  bench scenarios             list the built-in scenarios
  bench variants              list the built-in variants and their knobs
  bench serve [flags]         serve the synthetic provider and a gateway per variant over HTTP
  bench attack [flags]        drive those gateways with vegeta (HTTP mode; bench attack -h)
`

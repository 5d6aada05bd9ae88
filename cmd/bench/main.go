// Command bench runs the streambench comparison: the legacy mutex design and
// the lock-free redesign of an LLM streaming relay, side by side, on seeded
// synthetic scenarios, with every chunk, token and record accounted for. It
// measures in two modes: in process, each trial in a fresh child process
// (run), and end to end over HTTP (serve and attack).
//
//	bench                       the default comparison (about two minutes)
//	bench run [flags]           a run or a sweep of your choosing, in process
//	bench report FILE|DIR...    rebuild the report from result records
//	bench scenarios             list the built-in scenarios
//	bench variants              list the built-in variants and knobs
//	bench serve [flags]         serve the synthetic provider and a gateway per
//	                            variant over HTTP, until SIGINT or SIGTERM
//	bench attack [flags]        drive those gateways with vegeta: a serve
//	                            process at -target, or one it spawns
//	bench gate [flags]          a regression gate between two builds
//	bench claim [-quick]        the source's claims tested on this machine,
//	                            with a verdict table
//
// Exit codes: 0 success, 1 a failed run (an accounting violation, a trial
// that crashed, an interrupted run), 2 bad usage or input; bench gate: 0
// pass, 1 regression, 3 inconclusive.
//
// Each subcommand is one file (run.go, report.go, list.go, serve.go,
// attack.go, gate.go, claim.go) that parses its flags (flags.go), checks them and calls the
// packages that do the work: harness (in-process trials), httpmode and
// httpmode/attack (HTTP mode), reports, scenarios and impls/variant. What
// the command itself owns is its flags, the output folder and the exit
// code (output.go), and its signals: the first SIGINT or SIGTERM stops a
// run after the trial in flight, the second at once.
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
	"github.com/streambench/streambench/httpmode/attack"
)

func main() {
	if harness.IsChild() {
		os.Exit(harness.ChildMain(os.Stdout, os.Stderr))
	}
	ctx, stop := handleSignals(os.Args[1:])
	os.Exit(exitCode(os.Stderr, run(ctx, stop, os.Stdout, os.Stderr, os.Args[1:])))
}

// handleSignals turns the first SIGINT or SIGTERM into stop, which asks
// the command (args) to end gracefully, and the second into cancelling
// ctx, which stops it at once.
func handleSignals(args []string) (ctx context.Context, stop <-chan struct{}) {
	signals := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if os.Getenv(attack.SpawnedEnv) != "" {
		// Note: a Ctrl-C at the terminal reaches the whole process group;
		// the parent that spawned this process decides when it stops (with
		// SIGTERM), and its end closes our stdin.
		signal.Ignore(os.Interrupt)
		signals = signals[1:]
		go exitWhenClosed(os.Stdin, os.Stderr)
	}
	ctx, kill := context.WithCancel(context.Background())
	stopc := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, signals...)
	first := "stopping after the trial in flight"
	if len(args) > 0 && args[0] == "serve" {
		first = "shutting down"
	}
	go func() {
		fmt.Fprintf(os.Stderr, "\n%s: %s (a second signal stops at once)\n", signalName(<-sigs), first)
		close(stopc)
		fmt.Fprintf(os.Stderr, "\n%s: stopping now\n", signalName(<-sigs))
		kill()
	}()
	return ctx, stopc
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
	var ec exitCodeError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
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

// command is a subcommand: args are those after its name; stop asks it to
// end gracefully (the first signal), ctx is cancelled at the second.
type command func(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error

// commands are the subcommands, each in a file of its name. A new one is
// a file and a line here (and in usage).
var commands = map[string]command{
	"run":       cmdRun,
	"report":    cmdReport,
	"scenarios": cmdScenarios,
	"variants":  cmdVariants,
	"serve":     cmdServe,
	"attack":    cmdAttack,
	"gate":      cmdGate,
	"claim":     cmdClaim,
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
  bench gate [flags]          a regression gate: base and head builds on paired trials (bench gate -h)
  bench claim [-quick]        test the source's claims on this machine: a designed experiment and its verdict
`

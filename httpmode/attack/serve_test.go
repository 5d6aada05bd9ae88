package attack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// fakeServeEnv makes the test binary a fake bench serve (TestMain): its
// value is the fake's behaviour.
const fakeServeEnv = "STREAMBENCH_ATTACK_FAKE_SERVE"

// fakeServe acts as bench serve would for StartServe: it reports its
// arguments and SpawnedEnv on stderr, then, as mode says, exits before
// listening ("die"), or prints its listening line and exits when asked to
// shut down ("serve").
func fakeServe(mode string) {
	fmt.Fprintf(os.Stderr, "args %q spawned %q\n", os.Args[1:], os.Getenv(SpawnedEnv))
	if mode == "die" {
		os.Exit(3)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("starting\n%shttp://127.0.0.1:9\n", ListeningPrefix)
	<-term
	os.Exit(0)
}

// TestStartServe: the child gets serve's arguments and the spawned mark,
// its URL is read from its listening line, and Close asks it to shut down,
// or kills it once the context is done.
func TestStartServe(t *testing.T) {
	t.Setenv(fakeServeEnv, "serve")
	for _, cancelled := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancelled=%v", cancelled), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var stderr bytes.Buffer
			s, err := StartServe(ctx, os.Args[0], []string{"-scenario", "chat"}, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if s.URL != "http://127.0.0.1:9" {
				t.Errorf("URL %q, want http://127.0.0.1:9", s.URL)
			}
			if cancelled {
				cancel()
			}
			err = s.Close()
			if want := `args ["serve" "-addr" "127.0.0.1:0" "-scenario" "chat"] spawned "1"`; !strings.Contains(stderr.String(), want) {
				t.Errorf("child's stderr %q lacks %q", stderr.String(), want)
			}
			switch {
			case !cancelled && err != nil:
				t.Errorf("Close = %v; want the child to shut down cleanly on SIGTERM", err)
			case cancelled && (err == nil || !strings.Contains(err.Error(), "killed")):
				t.Errorf("Close after cancel = %v; want the child killed", err)
			}
		})
	}
}

// TestStartServeDies: a child that ends before it listens is an error
// that says so.
func TestStartServeDies(t *testing.T) {
	t.Setenv(fakeServeEnv, "die")
	var stderr bytes.Buffer
	s, err := StartServe(t.Context(), os.Args[0], nil, &stderr)
	if err == nil || !strings.Contains(err.Error(), "bench serve exited before it listened") {
		t.Fatalf("StartServe = %v, %v; want an error naming the early exit", s, err)
	}
}

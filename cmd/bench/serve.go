package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/streambench/streambench/httpmode"
	"github.com/streambench/streambench/httpmode/attack"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/scenarios"
)

// DefaultServeAddr is where bench serve listens unless told otherwise.
const DefaultServeAddr = "127.0.0.1:8080"

// cmdServe runs the provider and one gateway per variant in one server
// until SIGINT or SIGTERM.
func cmdServe(ctx context.Context, stop <-chan struct{}, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr     = fs.String("addr", DefaultServeAddr, "listen address; port 0 picks a free port (printed on stdout)")
		scen     = fs.String("scenario", "chat", "the scenario the provider replays: a built-in name or a YAML file")
		variants = variantList(variant.Names())
		remote   = fs.Bool("allow-remote", false, "allow a non-loopback -addr (the servers have no authentication)")
		omitExt  = fs.Bool("plain", false, "leave the streambench seq/tokens extension out of the chunks (plain OpenAI)")
		cpuProf  = fs.String("cpuprofile", "", "write a CPU profile of the server to this file, its samples labelled role=provider or role=gateway (and variant)")
	)
	fs.Var(&variants, "variants", "variants to serve, one gateway each at /<variant>/v1/chat/completions")
	if done, err := parseFlags(fs, args, false); done || err != nil {
		return err
	}
	sc, err := scenarios.Lookup(*scen)
	if err != nil {
		return usagef("bench serve: %v", err)
	}
	vs, err := variant.ParseSpecs(variants)
	if err != nil {
		return usagef("bench serve: %v", err)
	}

	if *cpuProf != "" {
		stopProfile, err := startCPUProfile(*cpuProf, "bench serve", stderr)
		if err != nil {
			return usagef("bench serve: -cpuprofile: %v", err)
		}
		defer stopProfile()
	}

	// The listener first: the gateways' provider URL is the server's own.
	started := time.Now()
	ln, err := httpmode.Listen(*addr, *remote)
	if err != nil {
		return usagef("bench serve: %v", err)
	}
	stack, err := httpmode.NewStack(httpmode.BaseURL(ln), sc, vs, httpmode.StackOptions{
		Gateway:       httpmode.GatewayOptions{OmitExtensions: *omitExt},
		Provider:      httpmode.ProviderOptions{OmitExtensions: *omitExt},
		ProfileLabels: *cpuProf != "",
	})
	if err != nil {
		ln.Close()
		return usagef("bench serve: %v", err)
	}
	defer stack.CloseIdleConnections()

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "%s%s\n", attack.ListeningPrefix, url)
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	fmt.Fprintf(stderr, "bench serve: scenario %s; provider at %s%s\n", sc.Name, url, httpmode.ProviderPath)
	for _, v := range vs {
		fmt.Fprintf(stderr, "bench serve: gateway %-16s at %s/%s%s\n", v.Name, url, v.Name, httpmode.GatewayPath)
	}
	fmt.Fprintf(stderr, "bench serve: %s/healthz, %s/metrics; SIGINT or SIGTERM stops\n", url, url)

	// Note: every request's context descends from streams, which shutdown
	// cancels: a provider stream whose gateway no longer reads it (the
	// legacy design's producer runs on after its client has gone) would
	// otherwise hold Shutdown for its whole bound.
	streams, cancelStreams := context.WithCancel(context.Background())
	defer cancelStreams()
	srv := httpmode.NewServer(stack.Handler(), httpmode.ServerOptions{
		Metrics: func() any { return stack.Metrics(started) },
	})
	srv.BaseContext = func(net.Listener) context.Context { return streams }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-stop:
	case <-ctx.Done():
	}
	fmt.Fprintf(stderr, "bench serve: shutting down; cancelling the streams in flight (%d through gateways, %d from the provider)\n",
		stack.InFlight(), stack.Provider.InFlight())
	cancelStreams()
	// A second signal (ctx) ends the wait at once.
	sctx, cancel := context.WithTimeout(ctx, serveShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "bench serve: connections still open after shutdown began were cut (%v)\n", err)
		srv.Close()
	}
	<-errc
	return nil
}

// serveShutdownTimeout bounds a shutdown's wait for handlers to return
// once their streams are cancelled.
const serveShutdownTimeout = 5 * time.Second

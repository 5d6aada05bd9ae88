package httpmode

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/streambench/streambench/accounting"
)

// Defaults for ServerOptions fields left zero.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultBodyReadTimeout   = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

// InFlightCounter reports streams running now; Provider and Gateway
// implement it.
type InFlightCounter interface {
	InFlight() int64
}

// LedgerTotals reports what a ledger has recorded so far
// (accounting.Ledger does).
type LedgerTotals interface {
	Totals() accounting.Totals
}

// ServerOptions configures NewServer. The zero value is usable.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers (slow-header
	// clients are dropped); zero means DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds reading a request's body; zero means
	// DefaultBodyReadTimeout.
	//
	// Note: this is a read deadline lifted once the body is read, not
	// http.Server.ReadTimeout: that one stays armed while the response
	// streams, and when it fires net/http cancels the request context as if
	// the client had left.
	BodyReadTimeout time.Duration
	// IdleTimeout closes idle kept-alive connections; zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers; zero means
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// InFlight and Ledger feed /metrics; either may be nil.
	InFlight InFlightCounter
	Ledger   LedgerTotals
	// Metrics, if set, produces the /metrics document in place of the
	// Metrics built from InFlight and Ledger (a Stack serves its own).
	Metrics func() any
	// ErrorLog is the server's error log; nil means the log package's.
	ErrorLog *log.Logger
}

// Metrics is the JSON document served at /metrics.
type Metrics struct {
	InFlightStreams int64 `json:"in_flight_streams"`
	Goroutines      int64 `json:"goroutines"`
	// HeapInUseBytes is the heap's in-use spans (objects and the free space
	// in their spans), as runtime.MemStats.HeapInuse.
	HeapInUseBytes uint64 `json:"heap_in_use_bytes"`
	LedgerRecords  int64  `json:"ledger_records"`
	LedgerTokens   int64  `json:"ledger_charged_tokens"`
}

// ReadMetrics samples the current Metrics. It reads runtime/metrics, which
// does not stop the world.
func ReadMetrics(inFlight InFlightCounter, ledger LedgerTotals) Metrics {
	samples := []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	metrics.Read(samples)
	var m Metrics
	for i, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			continue
		}
		switch i {
		case 0:
			m.Goroutines = int64(s.Value.Uint64())
		default:
			m.HeapInUseBytes += s.Value.Uint64()
		}
	}
	if inFlight != nil {
		m.InFlightStreams = inFlight.InFlight()
	}
	if ledger != nil {
		t := ledger.Totals()
		m.LedgerRecords, m.LedgerTokens = t.Records, t.Charged
	}
	return m
}

// Listen listens on addr, which must be a loopback address
// ("127.0.0.1:8080", "[::1]:0", "localhost:0") unless allowRemote is set:
// the servers have no authentication. Port 0 picks a free port, which the
// listener's address tells.
//
// Note: listening is a step of its own, before the server and its handler
// are built, as with httptest.NewUnstartedServer and Start: a Stack's
// gateways need the address their provider is served at (BaseURL), so the
// address must exist before the handler does.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	if err := checkAddr(addr, allowRemote); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// BaseURL returns the URL at which this process reaches its own listener
// ln, "http://127.0.0.1:PORT": the loopback address when ln listens on
// every interface.
func BaseURL(ln net.Listener) string {
	a, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !a.IP.IsUnspecified() {
		return "http://" + ln.Addr().String()
	}
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
}

// NewServer returns an *http.Server serving h, hardened for streaming:
// header read timeout and size bound, a body size bound and body read
// deadline on every request, an idle timeout, and no server-wide write
// timeout (the Gateway sets per-write deadlines). It adds GET /healthz and
// GET /metrics (JSON Metrics) in front of h.
//
// The caller serves it on a listener from Listen (srv.Serve(ln)) and shuts
// it down.
func NewServer(h http.Handler, opts ServerOptions) *http.Server {
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if opts.Metrics != nil {
			json.NewEncoder(w).Encode(opts.Metrics())
			return
		}
		json.NewEncoder(w).Encode(ReadMetrics(opts.InFlight, opts.Ledger))
	})
	mux.Handle("/", h)
	return &http.Server{
		Handler:           limitBody(mux, opts.MaxBodyBytes, opts.BodyReadTimeout),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          opts.ErrorLog,
	}
}

// checkAddr refuses a non-loopback listen address unless allowRemote.
func checkAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("httpmode: bad listen address %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("httpmode: refusing to listen on %q: not a loopback address, and these servers have no authentication; "+
		"use 127.0.0.1:PORT, or set allowRemote (bench serve -allow-remote) to expose them", addr)
}

// limitBody bounds every request body in size and in reading time.
func limitBody(h http.Handler, maxBytes int64, readTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(readTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline once the body has been
// read to its end, so that it cannot fire while the response streams.
//
// Note: only the end of the body lifts it. After any other error, a timeout
// above all, the deadline stays: net/http discards the unread rest of a
// body before it answers, and with the deadline lifted that discard would
// wait on a stalled client for ever, holding the connection and the
// handler's response.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

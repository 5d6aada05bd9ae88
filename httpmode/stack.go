package httpmode

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/accounting"
	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/internal/procstat"
	"github.com/streambench/streambench/scenarios"
)

// LedgerStats are a gateway ledger's totals, overall and by account, and
// its connection pool's (with a scenario's ledger section), as /metrics
// reports them.
type LedgerStats struct {
	accounting.Totals
	Accounts map[string]accounting.Totals `json:"accounts,omitempty"`
	Pool     *accounting.PoolStats        `json:"pool,omitempty"`
}

// newLedger returns a gateway's ledger: the shared accounting.Ledger,
// keyed by account, since one serve process serves many trials and tells
// them apart by account, with the connection pool of sc's ledger section
// (if any), one per gateway, as each variant has its own ledger in
// process.
func newLedger(sc *scenarios.Scenario) *accounting.Ledger {
	return &accounting.Ledger{ByAccount: true, Pool: accounting.PoolFor(sc)}
}

// ledgerStats reads l's totals.
func ledgerStats(l *accounting.Ledger) LedgerStats {
	s := LedgerStats{Totals: l.Totals(), Accounts: l.Accounts()}
	if l.Pool != nil {
		ps := l.Pool.Stats()
		s.Pool = &ps
	}
	return s
}

// OutcomeStats sum the Outcomes of a pipeline's relays, as each returned.
type OutcomeStats struct {
	Relays    int64 `json:"relays"`
	Delivered int64 `json:"delivered"` // chunks the gateway's Sink accepted
	Dropped   int64 `json:"dropped"`
	Rejected  int64 `json:"rejected"`
	Discarded int64 `json:"discarded"`
	Cancelled int64 `json:"cancelled"` // relays that ended with ErrCancelled
	Errors    int64 `json:"errors"`    // relays that ended with another error
	QueuePeak int64 `json:"queue_peak"`
	// Delays, DelayedNS and DelayLateNS sum the relays' backpressure
	// delays (see impls.Outcome).
	Delays      int64 `json:"delays"`
	DelayedNS   int64 `json:"delayed_ns"`
	DelayLateNS int64 `json:"delay_late_ns"`
}

// countingPipeline adds a relay's Outcome to running totals. It costs a few
// atomic adds per request, not per chunk.
type countingPipeline struct {
	impls.Pipeline
	relays, delivered, dropped, rejected, discarded, cancelled, errs, queuePeak atomic.Int64
	delays, delayed, delayLate                                                  atomic.Int64
}

func (p *countingPipeline) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	out := p.Pipeline.Relay(ctx, req, src, dst)
	p.relays.Add(1)
	p.delivered.Add(out.Delivered)
	p.delays.Add(out.Delays)
	p.delayed.Add(int64(out.Delayed))
	p.delayLate.Add(int64(out.DelayLate))
	p.dropped.Add(out.Dropped)
	p.rejected.Add(out.Rejected)
	p.discarded.Add(out.Discarded)
	switch {
	case out.Err == nil:
	case isCancel(out.Err):
		p.cancelled.Add(1)
	default:
		p.errs.Add(1)
	}
	for {
		old := p.queuePeak.Load()
		if out.QueuePeak <= old || p.queuePeak.CompareAndSwap(old, out.QueuePeak) {
			break
		}
	}
	return out
}

func (p *countingPipeline) stats() OutcomeStats {
	return OutcomeStats{Relays: p.relays.Load(), Delivered: p.delivered.Load(), Dropped: p.dropped.Load(),
		Rejected: p.rejected.Load(), Discarded: p.discarded.Load(), Cancelled: p.cancelled.Load(),
		Errors: p.errs.Load(), QueuePeak: p.queuePeak.Load(),
		Delays: p.delays.Load(), DelayedNS: p.delayed.Load(), DelayLateNS: p.delayLate.Load()}
}

// StackOptions configures NewStack.
type StackOptions struct {
	// Gateway is the template of every gateway's options; Ledger and
	// Limits are set per gateway by NewStack.
	Gateway GatewayOptions
	// Provider configures the provider.
	Provider ProviderOptions
	// IdleConnTimeout closes the gateways' idle connections to the
	// provider; zero means DefaultStackIdleConnTimeout.
	//
	// Note: it is short so that, between a load generator's trials, idle
	// connections (and the goroutines serving them) go away and are not
	// counted as leaked.
	IdleConnTimeout time.Duration
	// ProfileLabels labels the goroutines serving the provider and each
	// gateway (pprof label "role": "provider" or "gateway", and
	// "variant"), so that a CPU profile of the server splits its time
	// between the harness's provider and the gateways under test. Off,
	// requests pay nothing for it.
	ProfileLabels bool
}

// DefaultStackIdleConnTimeout is StackOptions.IdleConnTimeout's default.
const DefaultStackIdleConnTimeout = time.Second

// Stack is what `bench serve` runs in one server: a Provider replaying a
// scenario at ProviderPath, and one Gateway per variant at
// /<variant>/v1/chat/completions, each with its own Ledger.
type Stack struct {
	Scenario *scenarios.Scenario
	Provider *Provider
	// Variants are the gateways' variants, in the order given.
	Variants []variant.Variant
	gateways map[string]*stackGateway
	client   *http.Client
	mux      *http.ServeMux
}

type stackGateway struct {
	gw     *Gateway
	ledger *accounting.Ledger
	pipe   *countingPipeline
}

// NewStack builds the provider and the gateways. baseURL is where the
// server that will serve the Stack's Handler is reached
// ("http://127.0.0.1:8080"): the gateways call the provider there. Variant
// names must be distinct and usable as a path segment.
func NewStack(baseURL string, sc *scenarios.Scenario, variants []variant.Variant, opts StackOptions) (*Stack, error) {
	if opts.IdleConnTimeout <= 0 {
		opts.IdleConnTimeout = DefaultStackIdleConnTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = 4096
	tr.IdleConnTimeout = opts.IdleConnTimeout
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.DisableCompression = true
	// Every duration a variant holds runs on the scenario's clock, as in
	// process (see variant.Variant.Scaled).
	variants = slices.Clone(variants)
	for i := range variants {
		variants[i] = variants[i].Scaled(sc.TimeScale)
	}
	s := &Stack{
		Scenario: sc,
		Provider: NewProvider(NewScenarioSource(sc), providerOptions(sc, opts.Provider)),
		Variants: variants,
		gateways: make(map[string]*stackGateway, len(variants)),
		client:   &http.Client{Transport: tr},
		mux:      http.NewServeMux(),
	}
	s.mux.Handle(ProviderPath, labelled(opts.ProfileLabels, s.Provider, "role", "provider"))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, len(variants))
		for i, v := range variants {
			names[i] = v.Name
		}
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error",
			Message: fmt.Sprintf("no route for %s: the provider is at %s, the gateways at /<variant>%s for %s",
				r.URL.Path, ProviderPath, GatewayPath, strings.Join(names, ", "))})
	})
	for _, v := range variants {
		if v.Name == "" || v.Name == "provider" || !pathSafe(v.Name) {
			return nil, fmt.Errorf("httpmode: variant name %q cannot be a path prefix (use a built-in name, or a spec without '/')", v.Name)
		}
		if _, dup := s.gateways[v.Name]; dup {
			return nil, fmt.Errorf("httpmode: variant %q given twice", v.Name)
		}
		l := newLedger(sc)
		p := &countingPipeline{Pipeline: v.New(l)}
		gopts := opts.Gateway
		gopts.Ledger, gopts.Limits = l, sc.RequestLimits()
		if !v.Traits().Persists {
			// A variant that bills nothing gets no gateway-written
			// records either (for requests the provider refused).
			gopts.Ledger = nil
		}
		g := NewGateway(p, baseURL+ProviderPath, s.client, gopts)
		s.gateways[v.Name] = &stackGateway{gw: g, ledger: l, pipe: p}
		s.mux.Handle("/"+v.Name+"/", labelled(opts.ProfileLabels, http.StripPrefix("/"+v.Name, g), "role", "gateway", "variant", v.Name))
	}
	return s, nil
}

// labelled returns h, or, when on, h run under the pprof labels kv (its
// request's context carries them). They also mark every goroutine h
// starts, such as a relay's producer, so their CPU samples carry them too.
// The transport's connections to the provider are shared by the gateways:
// their goroutines carry the role of the gateway that dialled them, not
// always its variant.
func labelled(on bool, h http.Handler, kv ...string) http.Handler {
	if !on {
		return h
	}
	labels := pprof.Labels(kv...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), labels, func(ctx context.Context) { h.ServeHTTP(w, r.WithContext(ctx)) })
	})
}

// providerOptions fills in the upstream capacity the scenario gives where
// opts gives none: one set of slots and one bucket for the Provider that
// every gateway calls, as one upstream serves a whole gateway fleet.
func providerOptions(sc *scenarios.Scenario, opts ProviderOptions) ProviderOptions {
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = sc.Provider.MaxConcurrent
	}
	if opts.TokensPerS == 0 {
		opts.TokensPerS = sc.ScaledTokensPerS()
	}
	return opts
}

func isCancel(err error) bool {
	return errors.Is(err, impls.ErrCancelled) || errors.Is(err, impls.ErrClientGone)
}

// pathSafe reports whether name can be one path segment as written.
func pathSafe(name string) bool {
	for _, r := range name {
		if r == '/' || r == '?' || r == '#' || r == '%' || r <= ' ' {
			return false
		}
	}
	return true
}

// Handler serves the provider and every gateway.
func (s *Stack) Handler() http.Handler { return s.mux }

// Ledger returns the ledger of the named variant's gateway, or nil.
func (s *Stack) Ledger(name string) *accounting.Ledger {
	if g := s.gateways[name]; g != nil {
		return g.ledger
	}
	return nil
}

// Gateway returns the named variant's gateway, or nil.
func (s *Stack) Gateway(name string) *Gateway {
	if g := s.gateways[name]; g != nil {
		return g.gw
	}
	return nil
}

// InFlight returns the relays running now in every gateway.
func (s *Stack) InFlight() int64 {
	var n int64
	for _, g := range s.gateways {
		n += g.gw.InFlight()
	}
	return n
}

// CloseIdleConnections closes the gateways' idle connections to the
// provider.
func (s *Stack) CloseIdleConnections() { s.client.CloseIdleConnections() }

// GatewayMetrics is one gateway's part of StackMetrics.
type GatewayMetrics struct {
	Spec     string       `json:"spec"`
	Gateway  GatewayStats `json:"gateway"`
	Ledger   LedgerStats  `json:"ledger"`
	Outcomes OutcomeStats `json:"outcomes"`
}

// StackMetrics is the JSON document a Stack's server serves at /metrics:
// the process's state and CPU time, the provider's totals, and each
// gateway's totals, ledger and relay outcomes. A load generator reads it
// before and after a trial and takes differences.
type StackMetrics struct {
	Metrics
	// CPUNS is the user and system CPU time this process has used
	// (getrusage), so that a client can compute CPU per chunk.
	CPUNS int64 `json:"cpu_ns"`
	// AllocBytes, AllocObjects, GCCycles and MutexWaitNS are the
	// runtime's cumulative totals, for per-chunk differences.
	AllocBytes   uint64                    `json:"alloc_bytes"`
	AllocObjects uint64                    `json:"alloc_objects"`
	GCCycles     uint64                    `json:"gc_cycles"`
	MutexWaitNS  int64                     `json:"mutex_wait_ns"`
	UptimeNS     int64                     `json:"uptime_ns"`
	Scenario     string                    `json:"scenario"`
	Provider     ProviderStats             `json:"provider"`
	Gateways     map[string]GatewayMetrics `json:"gateways"`
}

// Metrics samples the Stack's metrics. started is when the process began,
// for UptimeNS.
func (s *Stack) Metrics(started time.Time) StackMetrics {
	m := StackMetrics{
		Metrics:  ReadMetrics(s, nil),
		CPUNS:    processCPUNS(),
		UptimeNS: time.Since(started).Nanoseconds(),
		Scenario: s.Scenario.Name,
		Provider: s.Provider.Stats(),
		Gateways: make(map[string]GatewayMetrics, len(s.gateways)),
	}
	rt := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sync/mutex/wait/total:seconds"},
	}
	metrics.Read(rt)
	u := func(i int) uint64 {
		if rt[i].Value.Kind() == metrics.KindUint64 {
			return rt[i].Value.Uint64()
		}
		return 0
	}
	m.AllocBytes, m.AllocObjects, m.GCCycles = u(0), u(1), u(2)
	if rt[3].Value.Kind() == metrics.KindFloat64 {
		m.MutexWaitNS = int64(rt[3].Value.Float64() * 1e9)
	}
	for _, v := range s.Variants {
		g := s.gateways[v.Name]
		ls := ledgerStats(g.ledger)
		m.LedgerRecords += ls.Records
		m.LedgerTokens += ls.Charged
		m.Gateways[v.Name] = GatewayMetrics{Spec: v.Spec(), Gateway: g.gw.Stats(), Ledger: ls, Outcomes: g.pipe.stats()}
	}
	return m
}

// processCPUNS is this process's CPU time in nanoseconds, 0 where the
// platform does not tell it.
func processCPUNS() int64 {
	cpu, _ := procstat.ProcessCPU()
	return cpu.Nanoseconds()
}

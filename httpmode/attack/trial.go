package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/streambench/streambench/accounting"
	"github.com/streambench/streambench/httpmode"
	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/internal/procstat"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// runID names this load-generator process in the accounts it charges.
var runID = func() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}()

// metricsClient reads the serve process's /metrics.
type metricsClient struct {
	base string
	c    *http.Client
}

func (m *metricsClient) get(ctx context.Context) (httpmode.StackMetrics, error) {
	var sm httpmode.StackMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/metrics", nil)
	if err != nil {
		return sm, err
	}
	resp, err := m.c.Do(req)
	if err != nil {
		return sm, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sm, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&sm)
	if err == nil && sm.Gateways == nil {
		err = fmt.Errorf("/metrics of %s has no gateways: is it a `bench serve` process?", m.base)
	}
	return sm, err
}

// sampler polls /metrics during a trial for the heap and goroutine series.
type sampler struct {
	series []result.Sample
	peakH  uint64
	peakG  int64
}

// sampleEvery is the period of the in-trial /metrics polls: often enough
// for a peak, rare enough to cost the serve process nothing measurable.
const sampleEvery = 200 * time.Millisecond

// maxSeries bounds the heap series kept in a record.
const maxSeries = 600

func (s *sampler) run(ctx context.Context, mc *metricsClient, began time.Time) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, err := mc.get(ctx)
		if err != nil {
			continue
		}
		s.add(m, time.Since(began))
	}
}

func (s *sampler) add(m httpmode.StackMetrics, at time.Duration) {
	s.peakH = max(s.peakH, m.HeapInUseBytes)
	s.peakG = max(s.peakG, m.Goroutines)
	if len(s.series) < maxSeries {
		s.series = append(s.series, result.Sample{T: at.Seconds(), HeapBytes: m.HeapInUseBytes, Goroutines: m.Goroutines})
	}
}

// runTrial runs one variant at one rate and builds its record.
func runTrial(ctx context.Context, cfg Config, mc *metricsClient, v variant.Variant, rate float64, trial, order int) (*result.Trial, error) {
	sc := cfg.Scenario
	before, err := mc.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("attack: reading /metrics before trial %d: %w", order, err)
	}
	if _, ok := before.Gateways[v.Name]; !ok {
		return nil, fmt.Errorf("attack: the serve process at %s has no gateway %q (it serves %s)", cfg.Target, v.Name, gatewayNames(before))
	}
	if before.Scenario != sc.Name {
		return nil, fmt.Errorf("attack: the serve process replays scenario %q, not %q: its streams would not match the client's schedule", before.Scenario, sc.Name)
	}

	sched := newSchedule(cfg.Arrival, rate, sc.Seed)
	slo := result.NewSLO(sc.SLO.TTFT, sc.SLO.E2E, sc.TimeScale)
	var obj result.Objective
	if slo != nil {
		obj = slo.Objective()
	}
	col := newCollector(sched, cfg.LateThreshold, obj)
	base := &http.Transport{
		MaxIdleConnsPerHost: int(min(cfg.MaxWorkers, 1<<16)),
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: &Transport{base: base, sc: sc, c: col, abort: ctx}, Timeout: cfg.Timeout}
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.MaxBody(0),
		vegeta.Workers(cfg.Workers),
		vegeta.MaxWorkers(cfg.MaxWorkers),
		vegeta.Redirects(vegeta.NoFollow),
	)
	// Note: the account names this load generator and the trial, so that
	// the gateway's ledger tells apart trials (which reuse request
	// indices) and load machines sharing one serve process.
	account := runID + "-t" + strconv.Itoa(order)
	url := cfg.Target + "/" + v.Name + httpmode.GatewayPath
	body := []byte(`{"model":"streambench","messages":[{"role":"user","content":"Tell me a story."}],"stream":true,"stream_options":{"include_usage":true}}`)
	var next atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		t.Method, t.URL, t.Body = http.MethodPost, url, body
		t.Header = http.Header{
			"Content-Type":         {"application/json"},
			httpmode.HeaderRequest: {strconv.FormatUint(i, 10)},
			httpmode.HeaderAccount: {account},
		}
		return nil
	}

	var enc vegeta.Encoder
	var bin io.WriteCloser
	if cfg.Bin != nil {
		if bin, err = cfg.Bin(BinName(v.Name, rate, trial)); err != nil {
			return nil, err
		}
		defer bin.Close()
		enc = vegeta.NewEncoder(bin)
	}

	sctx, stopSampler := context.WithCancel(ctx)
	smp := &sampler{}
	smp.add(before, 0)
	var swg sync.WaitGroup
	began := time.Now()
	col.began = began
	swg.Go(func() { smp.run(sctx, mc, began) })
	cpu0 := processCPU()
	// Note: the vegeta attack's own start is a moment after began; the
	// schedule's offsets are from began, so that moment counts as lateness
	// of the first hits, which is the truth from the client's side.
	results := atk.Attack(vegeta.Targeter(targeter), sched, cfg.Duration, BinName(v.Name, rate, trial))
	// Note: an abandoned trial (ctx ended) stops sending at once and its
	// streams in flight are cancelled by the Transport, so that the
	// results channel closes without waiting for them to end.
	stopAttack := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stopAttack()
	var encErr error
	stopped := false
	sendFor := cfg.Duration // how long the attack was meant to send hits
	hits := uint64(0)
	for res := range results {
		hits++
		if ctx.Err() != nil && !stopped {
			atk.Stop()
			stopped = true
			sendFor = min(sendFor, time.Since(began))
		}
		if n, ok := col.wireBySeq.LoadAndDelete(res.Seq); ok {
			res.BytesIn = uint64(n.(int64))
		}
		if enc != nil && encErr == nil {
			encErr = enc.Encode(res)
		}
	}
	elapsed := time.Since(began)
	clientCPU := processCPU() - cpu0
	base.CloseIdleConnections()
	if encErr != nil {
		stopSampler()
		swg.Wait()
		return nil, fmt.Errorf("attack: writing vegeta results: %w", encErr)
	}

	after, settleWarn, err := settle(ctx, cfg, mc, v, before, col, account)
	stopSampler()
	swg.Wait()
	if err != nil {
		return nil, fmt.Errorf("attack: reading /metrics after trial %d: %w", order, err)
	}
	smp.add(after, time.Since(began))

	rec := buildRecord(cfg, v, rate, trial, order, elapsed, before, after, col, smp, account)
	// Note: vegeta queues a hit when all -max-workers are busy (its pacer
	// blocks until one is free, and the hit goes out late, which
	// requests_late and the intended-start latencies show), but when the
	// attack's duration is over it stops, and the hits due by then but
	// still queued are never sent: they are counted as dropped.
	if due := sched.due(sendFor); due > hits {
		rec.RequestsDropped = int64(due - hits)
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("%d of %d requests due within the attack were never sent: they were still queued for one of the %d workers when it ended; they count as misses (requests_dropped)",
			rec.RequestsDropped, due, cfg.MaxWorkers))
	}
	rec.SetGoodput(slo, col.met.Load())
	if settleWarn != "" {
		rec.Warnings = append(rec.Warnings, settleWarn)
	}
	if rec.Accounting.ChunksDelivered > 0 {
		rec.ClientNSPerChunk = float64(clientCPU.Nanoseconds()) / float64(rec.Accounting.ChunksDelivered)
	}
	if share := clientCPU.Seconds() / elapsed.Seconds(); share > 0.8*float64(runtime.NumCPU()) {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("the load generator used %.0f%% of the machine's %d cores: it may have been the bottleneck", 100*share/float64(runtime.NumCPU()), runtime.NumCPU()))
	}
	sort.Strings(rec.Warnings)
	return rec, nil
}

// settle waits after the streams ended until the serve process is quiet:
// no stream in flight in the gateway or the provider and every expected
// record persisted, or, for a detached finalizer, its timeout passed. Then
// it waits Grace more, so that idle connections and finished goroutines are
// gone, and reads the metrics.
func settle(ctx context.Context, cfg Config, mc *metricsClient, v variant.Variant, before httpmode.StackMetrics, col *collector, account string) (httpmode.StackMetrics, string, error) {
	limit := cfg.Grace
	tr := v.Traits()
	if tr.DetachedFinalizer && col.disconnected.Load()+col.failed.Load() > 0 {
		limit += cfg.Scenario.RequestLimits().FinalizerTimeout
	}
	limit = min(limit, cfg.MaxSettle)
	deadline := time.Now().Add(limit)
	warn := ""
	for {
		m, err := mc.get(ctx)
		if err != nil {
			return m, "", err
		}
		g, g0 := m.Gateways[v.Name], before.Gateways[v.Name]
		expected := (g.Gateway.Requests - g0.Gateway.Requests) - (g.Gateway.Rejected - g0.Gateway.Rejected)
		quiet := g.Gateway.InFlight == 0 && m.Provider.InFlight == 0 &&
			(!tr.Persists || g.Ledger.Accounts[account].Records >= expected)
		if quiet {
			break
		}
		if time.Now().After(deadline) {
			if tr.DetachedFinalizer {
				warn = fmt.Sprintf("stopped waiting for late records after %v (the finalizer timeout is %v; -max-settle bounds the wait)", limit, cfg.Scenario.RequestLimits().FinalizerTimeout)
			} else {
				warn = fmt.Sprintf("the serve process was not quiet %v after the trial: streams still in flight or records missing", limit)
			}
			break
		}
		select {
		case <-ctx.Done():
			return m, "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
		return httpmode.StackMetrics{}, "", ctx.Err()
	case <-time.After(cfg.Grace):
	}
	m, err := mc.get(ctx)
	return m, warn, err
}

func gatewayNames(m httpmode.StackMetrics) string {
	var names []string
	for n := range m.Gateways {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// buildRecord turns the client's measurements and the serve process's
// metric differences into the trial's record, and checks its accounting.
func buildRecord(cfg Config, v variant.Variant, rate float64, trial, order int, elapsed time.Duration,
	before, after httpmode.StackMetrics, col *collector, smp *sampler, account string) *result.Trial {
	sc := cfg.Scenario
	g, g0 := after.Gateways[v.Name], before.Gateways[v.Name]
	chunks := col.chunks.Load()
	per := func(x float64) float64 {
		if chunks == 0 {
			return 0
		}
		return x / float64(chunks)
	}
	secs := elapsed.Seconds()
	rec := &result.Trial{
		Mode:        result.ModeHTTP,
		Variant:     v.Name,
		VariantSpec: v.Scaled(sc.TimeScale).Spec(),
		Scenario:    sc.Name,
		Load:        result.Load{Model: string(scenarios.Open), Rate: rate, Arrival: string(cfg.Arrival), OnCap: result.OnCapQueue},
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		Cores:       runtime.NumCPU(),
		Trial:       trial,
		Seed:        sc.Seed,
		Order:       order,
		DurationS:   secs,

		RequestsStarted:     col.started.Load(),
		RequestsLate:        col.lateN.Load(),
		StreamsCompleted:    col.completed.Load(),
		StreamsDisconnected: col.disconnected.Load(),
		StreamsFailed:       col.failed.Load(),

		HeapPeakBytes:       smp.peakH,
		HeapSeries:          smp.series,
		AllocBytesPerChunk:  per(float64(after.AllocBytes - before.AllocBytes)),
		AllocsPerChunk:      per(float64(after.AllocObjects - before.AllocObjects)),
		GCCycles:            int64(after.GCCycles - before.GCCycles),
		GoroutinesPeak:      smp.peakG,
		GoroutinesLeaked:    max(after.Goroutines-before.Goroutines, 0),
		MutexWaitNSPerChunk: per(float64(after.MutexWaitNS - before.MutexWaitNS)),
		CPUNSPerChunk:       per(float64(after.CPUNS - before.CPUNS)),
		QueuePeak:           g.Outcomes.QueuePeak,
		BackpressureDelays:  g.Outcomes.Delays - g0.Outcomes.Delays,
		BackpressureDelayNS: g.Outcomes.DelayedNS - g0.Outcomes.DelayedNS,
		BackpressureLateNS:  g.Outcomes.DelayLateNS - g0.Outcomes.DelayLateNS,
	}
	if after.Goroutines < before.Goroutines {
		// Note: the serve process is shared by every variant's trials, so
		// goroutines an earlier trial left behind (the legacy design's
		// detached finalizers) can end during this one.
		rec.Warnings = append(rec.Warnings, "goroutines left by an earlier trial in the shared serve process ended during this one; leaks are counted as 0 here")
	}
	if w := result.DelayWarning(rec.BackpressureDelays, rec.BackpressureDelayNS, rec.BackpressureLateNS); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	if secs > 0 {
		rec.ChunksPerS = float64(chunks) / secs
		rec.BytesPerS = float64(col.content.Load()) / secs
		rec.StreamsPerS = float64(col.completed.Load()+col.disconnected.Load()+col.failed.Load()) / secs
	}
	col.mu.Lock()
	rec.TTFT = result.Summarize(col.hist[latTTFT])
	rec.ITL = result.Summarize(col.hist[latITL])
	rec.E2E = result.Summarize(col.hist[latE2E])
	rec.TTFTIntended = result.Summarize(col.hist[latTTFTIntended])
	rec.E2EIntended = result.Summarize(col.hist[latE2EIntended])
	rec.Dist = map[string][]result.Quantile{
		"ttft":         result.Distribution(col.hist[latTTFT]),
		"itl":          result.Distribution(col.hist[latITL]),
		"e2e":          result.Distribution(col.hist[latE2E]),
		"e2e_intended": result.Distribution(col.hist[latE2EIntended]),
	}
	for reason, n := range col.errs {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("%d streams failed: %s", n, reason))
	}
	col.mu.Unlock()

	if rec.RequestsLate > 0 {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("%d of %d requests were sent more than %v after their intended start: the load generator fell behind its schedule, and latencies from the actual start understate queueing (see ttft_intended_ns, e2e_intended_ns)",
			rec.RequestsLate, rec.RequestsStarted, cfg.LateThreshold))
	}
	if peak := col.peak.Load(); uint64(peak) >= cfg.MaxWorkers {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("the client was saturated: all %d workers were busy at once (raise -max-workers, or run the load from more machines)", cfg.MaxWorkers))
	}

	a := &rec.Accounting
	a.ChunksProduced = after.Provider.Chunks - before.Provider.Chunks
	a.ChunksDelivered = chunks
	a.ChunksDropped = g.Outcomes.Dropped - g0.Outcomes.Dropped
	a.ChunksRejected = g.Outcomes.Rejected - g0.Outcomes.Rejected
	a.ChunksDiscarded = g.Outcomes.Discarded - g0.Outcomes.Discarded
	// Note: over HTTP, what the provider produced beyond what the client
	// received and the pipeline accounted for when its relay returned was
	// produced for a client that had gone: written into a socket the
	// client no longer read, read by a legacy relay's detached producer
	// after the relay returned, or lost in the provider connection when
	// the gateway closed it.
	a.ChunksAfterDisconnect = a.ChunksProduced - a.ChunksDelivered - a.ChunksDropped - a.ChunksRejected - a.ChunksDiscarded
	// Note: records and charges are this trial's account's (see
	// accounting.Ledger's ByAccount), not the ledger's differences over the trial,
	// which hold the late records of earlier trials and would hide this
	// trial's pending ones.
	acct := g.Ledger.Accounts[account]
	a.TokensDelivered = col.tokens.Load()
	// Note: over HTTP the tokens the provider generated and the clients
	// did not receive are known only as the difference; the shared check
	// still fails a trial whose clients received more than was generated.
	a.TokensGenerated = after.Provider.Tokens - before.Provider.Tokens
	a.TokensWasted = a.TokensGenerated - a.TokensDelivered
	a.UpstreamSlotsTaken = after.Provider.SlotsTaken - before.Provider.SlotsTaken
	a.UpstreamSlotsReleased = after.Provider.SlotsReleased - before.Provider.SlotsReleased
	rec.UpstreamSlotWaits = after.Provider.SlotWaits - before.Provider.SlotWaits
	rec.UpstreamSlotWaitNS = after.Provider.SlotWaitNS - before.Provider.SlotWaitNS
	a.TokensBilled = acct.Charged
	a.RecordsPersisted = acct.Records
	a.RecordsDuplicated = g.Ledger.Duplicated - g0.Ledger.Duplicated
	tr := v.Traits()
	if tr.Persists {
		a.RecordsExpected = (g.Gateway.Requests - g0.Gateway.Requests) - (g.Gateway.Rejected - g0.Gateway.Rejected)
		a.RecordsPending = a.RecordsExpected - a.RecordsPersisted
	}
	rec.Ledger = ledgerRecord(g0.Ledger.Pool, g.Ledger.Pool, elapsed)
	recordTokens := acct.RecordTokens
	a.Violations = check(a, tr, v.Name, rec, recordTokens,
		g.Outcomes.Delivered-g0.Outcomes.Delivered, after.Provider.Streams-before.Provider.Streams)
	return rec
}

// ledgerRecord is what a gateway's ledger pool did over a trial, from its
// stats before and after, or nil without a pool. The serve process's pool
// serves every trial, so only its sums can be told apart per trial: the
// wait per call is given as a count and a mean, and the peak in use is
// left out.
func ledgerRecord(before, after *accounting.PoolStats, elapsed time.Duration) *result.LedgerPool {
	if before == nil || after == nil {
		return nil
	}
	calls := after.Persists + after.Charges - before.Persists - before.Charges
	l := &result.LedgerPool{
		Conns:       after.Conns,
		Calls:       calls,
		Queued:      after.Queued - before.Queued,
		WaitTotalNS: after.WaitedNS - before.WaitedNS,
		HoldTotalNS: after.HeldNS - before.HeldNS,
	}
	if calls > 0 {
		l.Wait = result.Percentiles{Count: calls, Mean: float64(l.WaitTotalNS) / float64(calls)}
	}
	if elapsed > 0 {
		l.Saturation = min(float64(after.SaturatedNS-before.SaturatedNS)/float64(elapsed), 1)
	}
	return l
}

// check runs the HTTP mode's invariants: the ones both modes share
// (accounting.Check) and the chunk checks a socket allows. They are weaker
// than the in-process ones where sockets blur the count: chunks a gateway
// wrote into a connection its client had stopped reading were delivered by
// the pipeline but never received, so billing is exact only when no client
// left early.
func check(a *result.Accounting, tr impls.Traits, name string, rec *result.Trial,
	recordTokens, gwDelivered, providerStreams int64) []string {
	var v []string
	violate := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	clean := rec.StreamsDisconnected == 0 && rec.StreamsFailed == 0
	if a.ChunksAfterDisconnect < 0 {
		violate("chunks: the client received %d, backpressure dropped %d and rejected %d and the pipeline discarded %d (= %d), more than the provider's %d",
			a.ChunksDelivered, a.ChunksDropped, a.ChunksRejected, a.ChunksDiscarded,
			a.ChunksDelivered+a.ChunksDropped+a.ChunksRejected+a.ChunksDiscarded, a.ChunksProduced)
	}
	if gwDelivered < a.ChunksDelivered {
		violate("chunks: the client received %d but the gateway's pipeline delivered only %d", a.ChunksDelivered, gwDelivered)
	}
	if clean && gwDelivered != a.ChunksDelivered {
		violate("chunks: no client left early, yet the gateway delivered %d and the clients received %d", gwDelivered, a.ChunksDelivered)
	}
	if clean && a.ChunksAfterDisconnect != 0 {
		violate("chunks: no client left early, yet %d produced chunks are unaccounted for", a.ChunksAfterDisconnect)
	}
	if providerStreams > rec.RequestsStarted {
		violate("streams: the provider served %d streams for %d requests", providerStreams, rec.RequestsStarted)
	}
	return append(v, accounting.Check(a, accounting.Facts{Traits: tr, Name: name, RecordTokens: recordTokens, ExactBilling: clean})...)
}

// processCPU is this process's CPU time, for the load generator's own
// share.
func processCPU() time.Duration {
	cpu, _ := procstat.ProcessCPU()
	return cpu
}

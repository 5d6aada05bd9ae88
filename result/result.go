// Package result defines the result records a streambench run writes, one
// JSON object per line, and their encoder and decoder.
//
// The field names are a stable contract (snake_case): the reports package,
// regression CI and people's scripts read them. Add fields; do not rename or
// remove them. A run file starts with one Header record and continues with
// one Trial record per finished trial, written as each trial ends, so an
// interrupted run keeps every trial it finished.
//
// The harness package writes these records; the reports package reads them.
package result

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// SchemaVersion is the version of the record schema this package writes,
// in every record's "schema_version" field. It grows when the meaning of a
// field changes; added fields do not change it. A reader skips records of a
// newer version (with a warning) rather than misread them; records without
// the field predate it and are read as version 1.
const SchemaVersion = 1

// Kinds of record, in the "kind" field.
const (
	KindHeader = "header"
	KindTrial  = "trial"
)

// Modes of measurement, in the "mode" field of a Trial.
const (
	ModeInProcess = "inprocess" // trial ran in the parent process (tests)
	ModeChild     = "child"     // trial ran in a fresh child process
	ModeHTTP      = "http"      // trial ran through the HTTP gateways
)

// Header describes the machine and the command of a run.
type Header struct {
	Kind          string `json:"kind"` // KindHeader
	SchemaVersion int    `json:"schema_version"`
	// RunID names the run: the header's and its trials'. Writer fills it in.
	RunID      string    `json:"run_id,omitempty"`
	Time       time.Time `json:"time"`
	CPUModel   string    `json:"cpu_model"`
	Cores      int       `json:"cores"`      // runtime.NumCPU of the parent
	GOMAXPROCS int       `json:"gomaxprocs"` // of the parent; each trial says its own
	GoVersion  string    `json:"go_version"`
	GOOS       string    `json:"goos"`
	GOARCH     string    `json:"goarch"`
	Commit     string    `json:"commit"` // vcs revision, "+dirty" when modified
	Hostname   string    `json:"hostname"`
	Command    []string  `json:"command"` // os.Args of the parent
	// Plan is what the run was asked to do, for the report header.
	Scenarios []string `json:"scenarios"`
	Variants  []string `json:"variants"`
	Trials    int      `json:"trials"`
	Seed      uint64   `json:"seed"`
	Isolation string   `json:"isolation"` // ModeChild or ModeInProcess
	// Experiment names a designed experiment the run was, such as
	// "claim" (bench claim, whose report opens with its verdict); empty
	// for a plain run.
	Experiment string `json:"experiment,omitempty"`
}

// Load is the load model of one trial.
type Load struct {
	Model string `json:"model"` // "closed" or "open"
	// Concurrency is the number of streams in flight (closed), or the
	// most requests in flight at once (open; 0 means no cap).
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`    // open: arrivals per second
	Arrival     string  `json:"arrival,omitempty"` // open: "constant" or "poisson"
	// OnCap is what an open-model arrival does when the in-flight cap is
	// reached: OnCapQueue or OnCapDrop. Empty for the closed model, and in
	// records written before the field existed (which dropped such
	// arrivals without counting them apart).
	OnCap string `json:"on_cap,omitempty"`
}

// What an open-model arrival does when the in-flight cap is reached, in
// Load.OnCap.
const (
	// OnCapQueue makes it wait, in arrival order, for a request in flight
	// to end, as a gateway's admission queue would; its latency from the
	// intended start includes the wait.
	OnCapQueue = "queue"
	// OnCapDrop drops it, counted in Trial.RequestsDropped.
	OnCapDrop = "drop"
)

// Percentiles summarises one latency histogram, in nanoseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

// Quantile is one point of a latency distribution: the value (ns) at or
// below which fraction Q of the samples lie.
type Quantile struct {
	Q  float64 `json:"q"`
	NS int64   `json:"ns"`
}

// Sample is one point of a trial's time series.
type Sample struct {
	T          float64 `json:"t_s"` // seconds since the measured window began
	HeapBytes  uint64  `json:"heap_bytes"`
	Goroutines int64   `json:"goroutines"`
	// GCCPUShare is the share of the process's CPU the garbage collector
	// used since the sample before (the runtime's estimate,
	// /cpu/classes/gc/total over /cpu/classes/total); absent in the first.
	GCCPUShare float64 `json:"gc_cpu_share,omitempty"`
}

// Accounting is the per-trial bookkeeping the harness checks. Every chunk
// the provider produced is delivered, dropped, rejected or discarded;
// ChunksAfterDisconnect counts those of them the provider produced after its
// client had gone (wasted provider work), so it overlaps the last three.
type Accounting struct {
	ChunksProduced        int64 `json:"chunks_produced"`
	ChunksDelivered       int64 `json:"chunks_delivered"`
	ChunksDropped         int64 `json:"chunks_dropped"`
	ChunksRejected        int64 `json:"chunks_rejected"`
	ChunksDiscarded       int64 `json:"chunks_discarded"`
	ChunksAfterDisconnect int64 `json:"chunks_after_disconnect"`
	TokensDelivered       int64 `json:"tokens_delivered"`
	TokensBilled          int64 `json:"tokens_billed"`
	// TokensGenerated is the completion tokens of every chunk the provider
	// produced: what the upstream generated and would bill the gateway.
	// TokensWasted is the part no client received (TokensGenerated =
	// TokensDelivered + TokensWasted): the tokens of chunks dropped,
	// rejected or discarded, above all those a design kept reading after
	// its client had gone. Both are 0 in records from before they existed.
	TokensGenerated int64 `json:"tokens_generated"`
	TokensWasted    int64 `json:"tokens_wasted"`
	// UpstreamSlotsTaken and UpstreamSlotsReleased count the provider's
	// concurrent-stream slots (the scenario's provider.max_concurrent)
	// taken and given back; every slot taken must be released by the end
	// of the trial. Both are 0 when the scenario sets no limit.
	UpstreamSlotsTaken    int64 `json:"upstream_slots_taken,omitempty"`
	UpstreamSlotsReleased int64 `json:"upstream_slots_released,omitempty"`
	RecordsExpected       int64 `json:"records_expected"`
	RecordsPersisted      int64 `json:"records_persisted"`
	RecordsPending        int64 `json:"records_pending"` // expected, not persisted when the trial ended
	RecordsDuplicated     int64 `json:"records_duplicated"`
	// LedgerPersists and LedgerCharges count the ledger calls that
	// returned, as the ledger's connection pool counted them, and
	// LedgerInFlight the calls still waiting for or holding a connection
	// when the record was written (a detached finalizer's). Only in trials
	// whose scenario has a ledger section: every persist call that
	// returned is a record persisted or a duplicate.
	LedgerPersists int64 `json:"ledger_persists,omitempty"`
	LedgerCharges  int64 `json:"ledger_charges,omitempty"`
	LedgerInFlight int64 `json:"ledger_in_flight,omitempty"`
	// Violations names each broken invariant with its numbers; a trial with
	// any is a failed trial.
	Violations []string `json:"violations,omitempty"`
}

// Trial is the measurement of one trial: one variant, one scenario, one
// load level, one GOMAXPROCS, one repetition.
type Trial struct {
	Kind          string `json:"kind"` // KindTrial
	SchemaVersion int    `json:"schema_version"`
	// RunID is the run's (the header's RunID); with Order it identifies the
	// trial, so that a record read twice is counted once.
	RunID       string `json:"run_id,omitempty"`
	Mode        string `json:"mode"`
	Variant     string `json:"variant"`      // as named on the command line
	VariantSpec string `json:"variant_spec"` // canonical, every knob spelled out
	Scenario    string `json:"scenario"`
	Load        Load   `json:"load"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	Cores       int    `json:"cores"`
	Trial       int    `json:"trial"` // repetition index from 0
	Seed        uint64 `json:"seed"`
	Order       int    `json:"order"` // position in the run's interleaved schedule
	// Protocol is the parent–child protocol version of the child process
	// that measured the trial (harness.ProtocolVersion); 0 for trials run
	// in process or over HTTP, and in records from before it existed.
	Protocol  int     `json:"protocol,omitempty"`
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	// Partial is set on the record of a trial that was stopped before it
	// ended: its child process was asked to stop at its deadline, or the
	// run was interrupted. Its numbers cover what it measured until then
	// (the measured window closed when the stop came); PartialReason says
	// why and in which phase it stopped. A partial record is a result, not
	// a failure: at a load the design cannot carry, it is the outcome.
	Partial       bool   `json:"partial,omitempty"`
	PartialReason string `json:"partial_reason,omitempty"`
	// WindowOpenLateS is how long after the warm-up's end the measured
	// window opened, and WindowCloseLateS how long after its due end it
	// closed (a duration trial's); DrainS is how long the streams in
	// flight at the window's end took to end, providers included (the
	// drain, bounded by the spec's drain). Overrun names each phase of the
	// trial's timeline that ran over what was asked by more than
	// OverrunShare (and OverrunMinS): "warmup" (the window opened over a
	// tenth of the warm-up late), "window" (it closed over a tenth of its
	// length late) or "drain" (the drain took over its bound and a tenth).
	// The rates are over the window as it ran (DurationS) either way.
	WindowOpenLateS  float64  `json:"window_open_late_s,omitempty"`
	WindowCloseLateS float64  `json:"window_close_late_s,omitempty"`
	DrainS           float64  `json:"drain_s,omitempty"`
	Overrun          []string `json:"overrun,omitempty"`

	RequestsStarted int64 `json:"requests_started"`
	// RequestsLate counts the open model's measured requests that started
	// past a threshold after their intended start (in process, a tenth of
	// the mean arrival gap and at least 1 ms; over HTTP, -late), whether
	// the load generator fell behind or the request waited for a slot.
	RequestsLate int64 `json:"requests_late"`
	// RequestsDropped counts the open model's measured arrivals that never
	// started: turned away at the in-flight cap (Load.OnCap "drop"), or
	// still waiting for a slot when the measured window closed (over
	// HTTP, vegeta's hits due within the attack that it never sent). Each
	// is a miss wherever goodput or a latency objective is judged; a request is
	// counted in at most one of RequestsLate and RequestsDropped.
	RequestsDropped     int64 `json:"requests_dropped"`
	StreamsCompleted    int64 `json:"streams_completed"`
	StreamsDisconnected int64 `json:"streams_disconnected"`
	StreamsFailed       int64 `json:"streams_failed"`

	ChunksPerS  float64 `json:"chunks_per_s"`
	BytesPerS   float64 `json:"bytes_per_s"`
	StreamsPerS float64 `json:"streams_per_s"`

	// SLO is the latency objective the trial was judged by, nil when none
	// was given; the three fields after it are then 0, not a measurement.
	SLO *SLO `json:"slo,omitempty"`
	// RequestsMetSLO counts the measured requests that met the SLO
	// (Objective.Met), wherever they ended; GoodputPerS is that count over
	// the measured window (DurationS), and SLOAttainment that count over
	// the measured requests that started plus RequestsDropped (Attainment).
	//
	// Note: they are written even when zero, so that a trial whose every
	// request missed says so rather than leaving the fields out.
	RequestsMetSLO int64   `json:"requests_met_slo"`
	GoodputPerS    float64 `json:"goodput_per_s"`
	SLOAttainment  float64 `json:"slo_attainment"`
	// CapacityProbe marks a trial run by a capacity search (bench run
	// -find-capacity) at the open-model rate in Load.Rate.
	CapacityProbe bool `json:"capacity_probe,omitempty"`

	// Client-side latencies from each request's actual start; in the open
	// model the *_intended_ns ones are from its intended start.
	TTFT         Percentiles `json:"ttft_ns"`
	ITL          Percentiles `json:"itl_ns"`
	E2E          Percentiles `json:"e2e_ns"`
	TTFTIntended Percentiles `json:"ttft_intended_ns"`
	E2EIntended  Percentiles `json:"e2e_intended_ns"`
	// Relay is provider-produced to client-received, per chunk.
	Relay Percentiles `json:"relay_ns"`
	// ITLSampleEvery and RelaySampleEvery say which share of the chunks
	// ITL and Relay (and Dist["itl"]) measure: one chunk in that many, by
	// its position in the response plus a phase drawn per request, so
	// every position is sampled alike; 1 means every chunk. TTFT, E2E and
	// the counts are measured for every request and chunk. Zero means the
	// record does not say: HTTP mode measures every gap; older in-process
	// records measured every gap and one chunk in 8 for Relay.
	ITLSampleEvery   int `json:"itl_sample_every,omitempty"`
	RelaySampleEvery int `json:"relay_sample_every,omitempty"`
	// Cancel is client-gone to provider-closed, per disconnected stream.
	Cancel Percentiles `json:"cancel_ns"`
	// ProviderLate is how far past its scripted delay the synthetic
	// provider's timer woke: harness error, the same for every variant.
	ProviderLate Percentiles `json:"provider_late_ns"`
	// UpstreamSlotWait is how long each measured stream waited for one of
	// the provider's concurrent-stream slots (provider.max_concurrent),
	// part of its time to first chunk; empty (Count 0) when the scenario
	// sets no limit. UpstreamSlotWaits counts the streams that waited at
	// all and UpstreamSlotWaitNS their waits in all, over the whole trial
	// (warm-up included). In HTTP mode the waits are the provider
	// server's, over the trial.
	UpstreamSlotWait   Percentiles `json:"upstream_slot_wait_ns"`
	UpstreamSlotWaits  int64       `json:"upstream_slot_waits,omitempty"`
	UpstreamSlotWaitNS int64       `json:"upstream_slot_wait_total_ns,omitempty"`
	// Dist holds fuller percentile distributions ("ttft", "itl", "e2e")
	// for percentile plots.
	Dist map[string][]Quantile `json:"dist,omitempty"`

	HeapPeakBytes       uint64   `json:"heap_peak_bytes"`
	HeapSeries          []Sample `json:"heap_series,omitempty"`
	AllocBytesPerChunk  float64  `json:"alloc_bytes_per_chunk"`
	AllocsPerChunk      float64  `json:"allocs_per_chunk"`
	GCCycles            int64    `json:"gc_cycles"`
	GCCPUFraction       float64  `json:"gc_cpu_fraction"`
	GoroutinesPeak      int64    `json:"goroutines_peak"`
	GoroutinesLeaked    int64    `json:"goroutines_leaked"`
	MutexWaitNSPerChunk float64  `json:"mutex_wait_ns_per_chunk"`
	CPUNSPerChunk       float64  `json:"cpu_ns_per_chunk"`
	// HarnessNSPerChunk is the pass-through variant's CPU per chunk on the
	// same scenario and load: the harness's own cost, included in every
	// variant's CPUNSPerChunk.
	//
	// In HTTP mode CPUNSPerChunk is the serve process's (provider and
	// gateways) and HarnessNSPerChunk is the harness's share of the whole
	// cost: the load generator's CPU per chunk (ClientNSPerChunk) plus the
	// provider's, measured as the pass-through gateway's serve CPU per
	// chunk at the same rate when the run includes it.
	HarnessNSPerChunk float64 `json:"harness_ns_per_chunk"`
	// ClientNSPerChunk is the HTTP load generator's own CPU per chunk
	// (HTTP mode only).
	ClientNSPerChunk float64 `json:"client_ns_per_chunk,omitempty"`
	QueuePeak        int64   `json:"queue_peak"`
	// BackpressureDelays counts the adaptive backpressure delays producers
	// took in the trial (warm-up included), BackpressureDelayNS how long
	// they lasted in all, and BackpressureLateNS how much those that ran to
	// their end overshot the delay asked for (timer lateness). The delays
	// asked for are the variant's, scaled by the scenario's time scale (see
	// VariantSpec).
	BackpressureDelays  int64 `json:"backpressure_delays,omitempty"`
	BackpressureDelayNS int64 `json:"backpressure_delay_ns,omitempty"`
	BackpressureLateNS  int64 `json:"backpressure_late_ns,omitempty"`
	// CalibrationNS is how long a fixed single-threaded CPU workload took
	// just before the trial: across a run it shows how much the machine's
	// own speed drifted, which moves every variant alike.
	CalibrationNS int64 `json:"calibration_ns,omitempty"`
	// MemLimitBytes is the trial's memory limit (-memlimit), 0 for none:
	// the garbage collector's soft limit (GOMEMLIMIT) and a hard limit on
	// the memory the Go runtime holds from the system, checked on every
	// series sample. OutOfMemory says the trial crossed it: it stopped
	// there, OOMAtS seconds after its window began, holding OOMBytes
	// (heap OOMHeapBytes), and its rates are over the window up to then.
	// Running out is the design's measured outcome, not a harness failure.
	MemLimitBytes int64   `json:"mem_limit_bytes,omitempty"`
	OutOfMemory   bool    `json:"out_of_memory,omitempty"`
	OOMAtS        float64 `json:"oom_at_s,omitempty"`
	OOMBytes      uint64  `json:"oom_bytes,omitempty"`
	OOMHeapBytes  uint64  `json:"oom_heap_bytes,omitempty"`
	// SteadyState says the trial started at the steady-state lingering
	// population of a design whose finalizer lingers (-steady-state), and
	// SteadyStateLingering how many finalizers that was (0 for a design
	// that does not linger). Those finalizers settle requests of before
	// the trial, to an account of their own outside its accounting.
	SteadyState          bool  `json:"steady_state,omitempty"`
	SteadyStateLingering int64 `json:"steady_state_lingering,omitempty"`
	// DesignTimeScale is the time scale the design's own durations ran on
	// when it differed from the scenario's (-design-time-scale).
	DesignTimeScale float64 `json:"design_time_scale,omitempty"`
	// OtherCPUShare is the share of the machine's CPU that other processes
	// used during the measured window (from /proc/stat): a busy machine is
	// a noisy measurement, and the harness warns about it.
	OtherCPUShare float64 `json:"other_cpu_share"`

	Accounting Accounting `json:"accounting"`
	// Ledger is what the ledger's connection pool did, in trials whose
	// scenario has a ledger section; nil otherwise.
	Ledger *LedgerPool `json:"ledger,omitempty"`

	// DeliveredDigest hashes every request's delivered stream in request
	// order and RequestDigests holds the per-request hashes, so a mismatch
	// can name the first differing request. Both are empty in duration
	// runs, whose request sets differ from trial to trial; the harness then
	// skips the hashing, keeping it out of the measured cost.
	DeliveredDigest string   `json:"delivered_digest"`
	RequestDigests  []string `json:"request_digests,omitempty"`

	// Error is set when the trial failed (crash, accounting violation).
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// LedgerPool is what a trial's ledger connection pool did: every persist
// and charge call waits for one of Conns connections, then holds it for a
// duration the scenario draws. Counts and times cover the whole trial,
// warm-up included, like the backpressure fields; Saturation covers the
// measured window. Over HTTP the serve process's pool serves every trial,
// so only its sums are told apart per trial: Wait has only Count and
// Mean, InUsePeak is 0, and Saturation covers the attack.
type LedgerPool struct {
	// Conns is the pool's size (the scenario's ledger.pool).
	Conns int `json:"pool"`
	// Calls counts the persist and charge calls that returned; Queued
	// the calls that found every connection busy and had to wait (those
	// still waiting when the record was written included).
	Calls  int64 `json:"calls"`
	Queued int64 `json:"queued"`
	// WaitTotalNS is the calls' time waiting for a connection, in all,
	// and Wait its distribution per call (zero waits included).
	WaitTotalNS int64       `json:"wait_total_ns"`
	Wait        Percentiles `json:"wait_ns"`
	// HoldTotalNS is the time connections were held, in all.
	HoldTotalNS int64 `json:"hold_total_ns"`
	// InUsePeak is the most connections in use at once.
	InUsePeak int `json:"in_use_peak"`
	// Saturation is the share of the measured window during which all
	// Conns connections were busy at once (0 to 1): near 1, calls queue
	// and the ledger, not the relay, sets the pace of whoever waits on it.
	Saturation float64 `json:"saturation"`
}

// Failed reports whether the trial failed.
func (t *Trial) Failed() bool { return t.Error != "" || len(t.Accounting.Violations) > 0 }

// Overran reports whether any phase of the trial's timeline ran over what
// was asked (see Trial.Overrun).
func (t *Trial) Overran() bool { return len(t.Overrun) > 0 }

// Phases of a trial's timeline, in Trial.Overrun.
const (
	PhaseWarmup = "warmup"
	PhaseWindow = "window"
	PhaseDrain  = "drain"
)

// OverrunShare and OverrunMinS bound a phase that keeps its timeline: it
// may run over what was asked by OverrunShare of it, and by OverrunMinS
// seconds whatever was asked.
//
// Note: the floor keeps a warm-up of zero, or a drain that ended at once,
// from overrunning by a timer's lateness.
const (
	OverrunShare = 0.10
	OverrunMinS  = 0.010
)

// Overruns reports whether a phase asked to take asked seconds and late
// seconds over it ran over (see OverrunShare).
func Overruns(late, asked float64) bool {
	return late > OverrunMinS && late > OverrunShare*asked
}

// Writer writes records as JSON lines.
type Writer struct {
	w     io.Writer
	runID string
}

// NewWriter returns a Writer on w. Each Write is one line and one call to
// w.Write, so a file written through it holds whole records only.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write encodes one *Header or *Trial as a line, stamping its kind and
// schema version. A header without a RunID gets a fresh one; the trials
// written after a header get its RunID unless they carry their own.
func (w *Writer) Write(rec any) error {
	switch r := rec.(type) {
	case *Header:
		r.Kind, r.SchemaVersion = KindHeader, SchemaVersion
		if r.RunID == "" {
			r.RunID = newRunID()
		}
		w.runID = r.RunID
	case *Trial:
		r.Kind, r.SchemaVersion = KindTrial, SchemaVersion
		if r.RunID == "" {
			r.RunID = w.runID
		}
	default:
		return fmt.Errorf("result: cannot write %T", rec)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = w.w.Write(append(b, '\n'))
	return err
}

// newRunID returns 16 random hex digits.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // Note: crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// Reader reads records written by Writer, like bufio.Scanner:
//
//	for r.Scan() { switch rec := r.Record().(type) { ... } }
//	for _, w := range r.Warnings() { ... }
//	if err := r.Err(); err != nil { ... }
//
// Blank lines are skipped; unknown fields are ignored so that older readers
// can read newer files. Like benchstat, the Reader keeps going past a line
// it cannot use: a line that is not a record (such as the last line of a
// run killed mid-write), a record of a newer schema version, or one that
// lacks a required field is skipped, with a warning naming the file and
// line. Only a failure to read stops the scan (Err).
type Reader struct {
	name     string
	s        *bufio.Scanner
	line     int
	rec      any
	err      error
	warnings []error
	// unterminated is set when the input ended without a newline.
	unterminated bool
}

// NewReader reads records from r; name is used in errors and warnings.
func NewReader(r io.Reader, name string) *Reader {
	rd := &Reader{name: name}
	rd.s = bufio.NewScanner(r)
	rd.s.Buffer(make([]byte, 0, 64<<10), 64<<20)
	rd.s.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := bufio.ScanLines(data, atEOF)
		if atEOF && adv == len(data) && len(data) > 0 && data[len(data)-1] != '\n' {
			rd.unterminated = true
		}
		return adv, tok, err
	})
	return rd
}

// Scan advances to the next record.
func (r *Reader) Scan() bool {
	if r.err != nil {
		return false
	}
	for r.s.Scan() {
		r.line++
		line := bytes.TrimSpace(r.s.Bytes())
		if len(line) == 0 {
			continue
		}
		rec, err := decode(line)
		if err != nil {
			if r.unterminated && !json.Valid(line) {
				err = fmt.Errorf("the last line is cut short (a run interrupted while writing it?): %v", err)
			}
			r.warnf("%v; line skipped", err)
			continue
		}
		r.rec = rec
		return true
	}
	if err := r.s.Err(); err != nil {
		r.err = fmt.Errorf("%s: %v", r.name, err)
	}
	return false
}

func (r *Reader) warnf(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Errorf("%s:%d: "+format, append([]any{r.name, r.line}, args...)...))
}

// decode decodes one line into a *Header or *Trial, or says why it is not
// a record this package can read.
func decode(line []byte) (any, error) {
	var probe struct {
		Kind          string `json:"kind"`
		SchemaVersion int    `json:"schema_version"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return nil, fmt.Errorf("not a result record: %v", err)
	}
	if probe.SchemaVersion > SchemaVersion || probe.SchemaVersion < 0 {
		return nil, fmt.Errorf("schema_version %d: this bench reads versions up to %d", probe.SchemaVersion, SchemaVersion)
	}
	var missing []string
	var rec any
	switch probe.Kind {
	case KindHeader:
		h := new(Header)
		if err := json.Unmarshal(line, h); err != nil {
			return nil, fmt.Errorf("header record: %v", err)
		}
		rec = h
	case KindTrial:
		t := new(Trial)
		if err := json.Unmarshal(line, t); err != nil {
			return nil, fmt.Errorf("trial record: %v", err)
		}
		for _, f := range []struct{ name, v string }{{"variant", t.Variant}, {"scenario", t.Scenario}, {"load.model", t.Load.Model}} {
			if f.v == "" {
				missing = append(missing, f.name)
			}
		}
		rec = t
	default:
		return nil, fmt.Errorf("unknown record kind %q", probe.Kind)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("trial record without %s", strings.Join(missing, ", "))
	}
	return rec, nil
}

// Record returns the record Scan read: a *Header or a *Trial.
func (r *Reader) Record() any { return r.rec }

// Line returns the line number of the record Scan read, from 1.
func (r *Reader) Line() int { return r.line }

// Warnings returns the lines Scan skipped so far, each naming its file,
// line and reason.
func (r *Reader) Warnings() []error { return r.warnings }

// Err returns the read error that stopped Scan, if any.
func (r *Reader) Err() error { return r.err }

// ReadAll reads every record of r, splitting headers from trials. It is
// strict: a line Reader would skip is an error (the first one), for input
// that must be whole, such as a child process's record.
func ReadAll(rd io.Reader, name string) ([]*Header, []*Trial, error) {
	r := NewReader(rd, name)
	var hs []*Header
	var ts []*Trial
	for r.Scan() {
		switch rec := r.Record().(type) {
		case *Header:
			hs = append(hs, rec)
		case *Trial:
			ts = append(ts, rec)
		}
	}
	if err := r.Err(); err != nil {
		return hs, ts, err
	}
	if ws := r.Warnings(); len(ws) > 0 {
		return hs, ts, ws[0]
	}
	return hs, ts, nil
}

// lateDelayShare is the share of a trial's backpressure delay time that
// timer lateness may take before the record says the scale distorts the
// design.
const lateDelayShare = 0.25

// DelayWarning returns the warning a record carries when the runtime's
// timers stretched a design's backpressure delays, or "".
func DelayWarning(delays, delayedNS, lateNS int64) string {
	if delays == 0 || float64(lateNS) <= lateDelayShare*float64(delayedNS) {
		return ""
	}
	return fmt.Sprintf("backpressure delays ran late: timers overshot the design's scaled delays by %.0f%% of the time spent delaying (backpressure_late_ns), as sub-millisecond timers do; the time scale distorts this design's backpressure", 100*float64(lateNS)/float64(delayedNS))
}

// Key identifies the trials that measure the same thing: the same
// scenario, load (model, level, arrival process, policy at the in-flight
// cap) and GOMAXPROCS. Within a Key, trials differ only in variant and
// repetition. The harness keys its calibration by it; the reports group by
// it.
type Key struct {
	Scenario   string
	Load       Load
	GOMAXPROCS int
}

// Key returns the Key of t.
func (t *Trial) Key() Key {
	return Key{Scenario: t.Scenario, Load: t.Load, GOMAXPROCS: t.GOMAXPROCS}
}

// LoadName returns a short name of k's load usable in benchmark names and
// file names, such as "closed-64" or "open-200rps-poisson".
func (k Key) LoadName() string {
	switch k.Load.Model {
	case "open":
		s := fmt.Sprintf("open-%grps", k.Load.Rate)
		if k.Load.Arrival != "" {
			s += "-" + k.Load.Arrival
		}
		return s
	case "closed":
		return fmt.Sprintf("closed-%d", k.Load.Concurrency)
	}
	return k.Load.Model
}

// DescribeLoad returns k's load as prose: "at 64 streams", "at 200 req/s".
func (k Key) DescribeLoad() string {
	switch k.Load.Model {
	case "open":
		return fmt.Sprintf("at %g req/s", k.Load.Rate)
	case "closed":
		if k.Load.Concurrency == 1 {
			return "at 1 stream"
		}
		return fmt.Sprintf("at %d streams", k.Load.Concurrency)
	}
	return "under " + k.Load.Model + " load"
}

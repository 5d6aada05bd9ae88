package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/internal/upstream"
	"github.com/streambench/streambench/scenarios"
)

// errTrialOver is what a harness provider returns when the trial ends
// while it is still producing (a stuck or lingering provider).
var errTrialOver = errors.New("provider stopped: trial over")

// Per-chunk latencies are sampled where reading the clock would be a
// noticeable share of what the harness does for a chunk (about 40 ns on a
// virtual machine's clock, against some 100 for everything else): the
// inter-chunk gap of one delivered chunk in the trial's itlEvery, and the
// relay latency of one produced chunk in relaySample. A trial whose script
// paces chunks (an inter-chunk delay or a client read delay) measures every
// gap, itlEvery 1: it waits on a timer per chunk, which costs far more than
// the clock; one that does not samples one gap in itlSampleFast. Time to
// first chunk, end-to-end latency and every count stay measured for every
// request.
//
// Note: which chunks are sampled is decided by the chunk's position plus a
// phase drawn from the request ID (samplePhase), not by the position
// alone: every position of a response is then sampled equally often across
// requests, so neither the first gaps nor the last ones are favoured.
// Sampling is systematic, not random, so it costs no draw.
//
// A sampled chunk's production instant is kept in one of relaySlots slots;
// a sampled chunk delivered more than relaySample*relaySlots chunks after
// it was produced is not measured.
const (
	itlSampleFast = 16 // a power of two, at most 64
	relaySample   = 16 // a power of two, at most 64
	relaySlots    = 16
)

// itlEvery is the inter-chunk gap sampling period of a trial of sc (see
// itlSampleFast).
func itlEvery(sc *scenarios.Scenario) int64 {
	paced := func(max time.Duration, bounded bool) bool { return !bounded || max > 0 }
	if paced(sc.Provider.InterChunk.Bound()) || paced(sc.Client.ReadDelay.Bound()) {
		return 1
	}
	return itlSampleFast
}

// samplePhase is request id's sampling phase, in [0, 64): the top bits of
// a Fibonacci hash, so that consecutive IDs get spread phases.
func samplePhase(id uint64) int64 { return int64((id * 0x9e3779b97f4a7c15) >> 58) }

// sampled reports whether position k of a request of the given phase is
// sampled at one in every (a power of two).
func sampled(k, phase, every int64) bool { return (k+phase)&(every-1) == 0 }

// stream is one request as the harness sees it: its provider (Source), its
// client (Sink) and its bookkeeping. The provider side is used by whichever
// goroutine the design runs its producer in; the client side by the
// goroutine that writes to the client. Fields each side shares with the
// other while the stream runs are atomic.
//
// Note: the per-chunk counts (produced, delivered, tokens) are plain
// fields owned by their side, like the rest of its state: a design calls
// Next, and Write, one call at a time, and the accounting reads the counts
// only after both sides ended (finishEvent orders it after them). An
// atomic add costs a locked instruction per chunk, which was a tenth of
// the harness's whole cost.
type stream struct {
	tr    *trial
	id    uint64
	plan  scenarios.Plan
	shard int
	slot  *counterSlot

	measured bool  // started inside the measured window
	phase    int64 // the sampling phase (see samplePhase)
	start    int64 // actual start, ns since trial base
	intended int64 // intended start (open model; the start otherwise), ns since trial base

	// Provider side.
	produced int64
	// generated is the completion tokens of the chunks produced, and
	// genAfterGone those of the chunks produced after the client had
	// gone (wasted for certain).
	generated    int64
	genAfterGone int64
	// slotTaken is set once the stream took its upstream slot (see
	// takeSlot), slotHeld while it holds it: releaseSlot clears it once,
	// whichever of the provider's end and Close comes first.
	slotTaken  bool
	slotHeld   atomic.Bool
	afterGone  atomic.Int64
	closes     atomic.Int32
	nextClosed atomic.Bool // Next was called after Close
	// prodAt holds sampled chunks' production instants (see relayStamp).
	prodAt [relaySlots]atomic.Int64
	ptimer *time.Timer
	due    int64 // when the next chunk is due by the script, ns since base
	// pbatch holds the provider side's samples, flushed at Close; it is
	// made at the first one (a provider without delays has none).
	pbatch *batch
	// usages are the fresh Usages left in the block newUsage cuts from.
	usages []impls.Usage

	// Client side.
	goneAt    atomic.Int64 // ns since base; 0 while connected
	gone      chan struct{}
	goneOnce  sync.Once
	goneTimer *time.Timer
	goneFired bool // goneTimer fired (read by the relay's goroutine only)
	delivered int64
	tokens    int64
	// published is how many of the delivered chunks the slot's throughput
	// counters hold, and unpublished the bytes of the others (see publish).
	published   int64
	unpublished int64
	lastSeq     int64
	lastAt      int64 // when the chunk before a sampled gap arrived
	firstAt     int64 // when the first chunk arrived (measured requests), ns since base; 0: none yet
	// hash and bytes digest the delivered stream (request-count trials only).
	hash     uint64
	bytes    int64
	hashing  bool
	orderErr string
	batch    batch
	ctimer   *time.Timer

	// Outcome and finalisation: the later of Relay returning and the
	// provider closing does the accounting.
	outcome impls.Outcome
	events  atomic.Int32 // see finishEvent
}

var (
	_ impls.Source = (*stream)(nil)
)

// Next plays the provider.
func (s *stream) Next(ctx context.Context) (impls.Chunk, error) {
	if s.closes.Load() != 0 {
		s.nextClosed.Store(true)
		return impls.Chunk{}, io.ErrClosedPipe
	}
	k := int(s.produced)
	if k >= s.plan.Chunks {
		return impls.Chunk{}, io.EOF
	}
	if k == 0 && s.tr.upSlots != nil && !s.slotTaken {
		if err := s.takeSlot(ctx); err != nil {
			return impls.Chunk{}, err
		}
	}
	var c impls.Chunk
	var usage *impls.Usage
	if k == s.plan.Chunks-1 {
		usage = s.newUsage()
	}
	gap, _, scripted := s.plan.EmitInto(&c, usage, k, 0, 0)
	if err := s.pace(ctx, gap); err != nil {
		s.releaseSlot() // the request was cancelled, or the trial is over
		return impls.Chunk{}, err
	}
	if scripted != nil {
		s.releaseSlot() // the response ended in a failure
		return impls.Chunk{}, scripted
	}
	if s.tr.upBucket != nil {
		if err := s.throttle(ctx, c.Tokens); err != nil {
			s.releaseSlot()
			return impls.Chunk{}, err
		}
	}
	if s.measured && sampled(int64(k), s.phase, relaySample) {
		slot, stamp := relayStamp(int64(k), s.phase)
		s.prodAt[slot].Store(s.tr.now()<<16 | stamp)
	}
	s.produced++
	s.generated += c.Tokens
	if s.goneAt.Load() != 0 {
		s.afterGone.Add(1)
		s.genAfterGone += c.Tokens
	}
	if k == s.plan.Chunks-1 {
		s.releaseSlot() // the response is complete
	}
	return c, nil
}

// takeSlot takes one of the provider's upstream slots before the first
// chunk, waiting for one if every slot is taken, and returns ctx's error
// or errTrialOver if the wait ends first.
//
// Note: the wait counts in the time to first chunk, which the client
// measures from the stream's start, read before it. The provider starts
// on the request when it has a slot, so the script's timeline (the TTFT,
// then the gaps) starts then.
func (s *stream) takeSlot(ctx context.Context) error {
	t := s.tr
	c := &s.slot.c
	var wait int64 // the clock is read only when the stream must wait
	if !t.upSlots.TryAcquire() {
		before := t.now()
		if err := t.upSlots.Acquire(ctx, t.kill); err != nil {
			if errors.Is(err, upstream.ErrStopped) {
				return errTrialOver
			}
			return err
		}
		now := t.now()
		wait = now - before
		c[cSlotWaits].Add(1)
		c[cSlotWaitNS].Add(wait)
		s.due = max(s.due, now)
	}
	s.slotTaken = true
	s.slotHeld.Store(true)
	c[cSlotsTaken].Add(1)
	if s.closes.Load() != 0 {
		s.releaseSlot() // Close came while the stream waited: it released nothing
	}
	if s.measured {
		s.providerSample(latSlotWait, wait)
	}
	return nil
}

// releaseSlot gives the stream's upstream slot back, if it holds one: the
// first of the provider's end (last chunk, scripted failure, cancelled
// wait, trial over) and Close does; later calls do nothing.
//
// Note: without slots it returns before the compare-and-swap, which is a
// locked instruction even when it fails.
func (s *stream) releaseSlot() {
	if s.tr.upSlots == nil || !s.slotHeld.CompareAndSwap(true, false) {
		return
	}
	if !s.tr.upSlots.Release() {
		s.tr.violate("request %d: released an upstream slot but none was taken", s.id)
	}
	s.slot.c[cSlotsReleased].Add(1)
}

// throttle waits until the provider's token bucket lets it emit a chunk of
// tokens; a cancelled wait gives the tokens back.
//
// Note: a chunk the bucket held back moves the stream's timeline: the
// next chunk's scripted gap counts from its emission, as a model that
// generated slower would.
func (s *stream) throttle(ctx context.Context, tokens int64) error {
	wait, r := s.tr.upBucket.Take(tokens)
	if wait <= 0 {
		return nil
	}
	if err := s.wait(ctx, wait); err != nil {
		s.tr.upBucket.Refund(r)
		return err
	}
	s.due = max(s.due, s.tr.now())
	return nil
}

// newUsage returns a fresh Usage for the final chunk, from a block of
// usageBlock that the stream keeps across requests.
//
// Note: a pipeline may keep the final chunk's usage after the request (the
// legacy design bills from it in a detached finalizer), so a Usage is
// never reused; cutting them from blocks saves an allocation per request.
func (s *stream) newUsage() *impls.Usage {
	if len(s.usages) == 0 {
		s.usages = make([]impls.Usage, usageBlock)
	}
	u := &s.usages[0]
	s.usages = s.usages[1:]
	return u
}

// usageBlock is how many Usages newUsage allocates at once.
const usageBlock = 8

// pace holds the next chunk, scripted gap after the one before, until it
// is due; it returns ctx's error if ctx ends first (or had ended, for a
// chunk due at once).
//
// Note: the provider keeps to its script's timeline: chunk k is due at the
// stream's start plus the gaps before it, however long the pipeline took to
// ask for it, as a model generating tokens at its own pace would. A timer
// that wakes late therefore delays one chunk, not every chunk after it. A
// chunk without a gap is due at once, so the clock is read only for chunks
// with one.
func (s *stream) pace(ctx context.Context, gap time.Duration) error {
	s.due += int64(gap)
	if gap > 0 {
		now := s.tr.now()
		s.tr.win.tick(now)
		if wait := s.due - now; wait > 0 {
			if err := s.wait(ctx, time.Duration(wait)); err != nil {
				return err
			}
			// How far past the chunk's due time the timer woke: the
			// harness's error, the same for every variant.
			if s.measured {
				s.providerSample(latProviderLate, s.tr.now()-s.due)
			}
			return nil
		}
	}
	return ctx.Err()
}

// providerSample records one provider-side latency sample in the stream's
// provider batch, made at the first (a provider that never waits has none)
// and flushed at Close.
func (s *stream) providerSample(kind int, v int64) {
	if s.pbatch == nil {
		s.pbatch = new(batch)
	}
	s.pbatch.add(s.tr.lat, s.shard, kind, v)
}

// wait sleeps d, or less if ctx ends or the trial is killed.
func (s *stream) wait(ctx context.Context, d time.Duration) error {
	if s.ptimer == nil {
		s.ptimer = time.NewTimer(d)
	} else {
		s.ptimer.Reset(d)
	}
	select {
	case <-s.ptimer.C:
		return nil
	case <-ctx.Done():
		s.ptimer.Stop()
		return ctx.Err()
	case <-s.tr.kill:
		s.ptimer.Stop()
		return errTrialOver
	}
}

// Close records when the provider was released.
func (s *stream) Close() error {
	if n := s.closes.Add(1); n != 1 {
		if n == 2 { // say it once per request, not once per extra call
			s.tr.violate("request %d: Source.Close called more than once", s.id)
		}
		return nil
	}
	s.releaseSlot()
	if s.pbatch != nil {
		s.pbatch.flush(s.tr.lat, s.shard)
	}
	if g := s.goneAt.Load(); g != 0 && s.measured {
		s.tr.recordShared(s.shard, latCancel, s.tr.now()-g)
	}
	s.finishEvent()
	return nil
}

// sink is the client side of a stream.
type sink stream

var _ impls.Sink = (*sink)(nil)

func (s *stream) client() *sink { return (*sink)(s) }

// Write plays the client reading one chunk.
func (c *sink) Write(ch impls.Chunk) error {
	s := (*stream)(c)
	if s.goneAt.Load() != 0 {
		return impls.ErrClientGone
	}
	if s.tr.killed.Load() {
		s.markGone()
		return impls.ErrClientGone
	}
	n := s.delivered // chunks delivered before this one
	if d := s.plan.ReadDelay(int(n)); d > 0 {
		if s.ctimer == nil {
			s.ctimer = time.NewTimer(d)
		} else {
			s.ctimer.Reset(d)
		}
		select {
		case <-s.ctimer.C:
		case <-s.gone:
			s.ctimer.Stop()
			return impls.ErrClientGone
		}
	}
	if ch.Seq <= s.lastSeq && s.orderErr == "" {
		s.orderErr = fmt.Sprintf("request %d: chunk %d delivered after chunk %d", s.id, ch.Seq, s.lastSeq)
	}
	s.lastSeq = ch.Seq
	if s.measured {
		s.measure(n, ch.Seq)
	}
	if s.hashing {
		// Each chunk's hash is mixed in with its boundary, so a design
		// that merges or splits chunks delivers a different digest.
		s.hash = (s.hash^xxhash.Sum64(ch.Content))*0x9e3779b97f4a7c15 + uint64(len(ch.Content))
		s.bytes += int64(len(ch.Content))
	}
	s.tokens += ch.Tokens
	s.delivered++
	s.unpublished += int64(len(ch.Content))
	if s.delivered&(publishEvery-1) == 0 {
		s.publish()
	}
	if int(n+1) == s.plan.DisconnectAfterChunks {
		s.markGone()
	}
	return nil
}

// measure records the client-side latencies of the request's n-th
// delivered chunk (from 0), of sequence number seq: the time to first chunk
// for the first, and the sampled inter-chunk gaps and relay latencies. It
// reads the clock only for the chunks it needs: the first, each sampled
// one, and each one just before a sampled gap.
func (s *stream) measure(n, seq int64) {
	every := s.tr.itlEvery
	gap := n > 0 && sampled(n, s.phase, every)
	before := sampled(n+1, s.phase, every) // the next chunk's gap is sampled
	relay := sampled(seq, s.phase, relaySample)
	if n > 0 && !gap && !before && !relay {
		return
	}
	now := s.tr.now()
	switch {
	case n == 0:
		s.firstAt = now
		s.batch.add(s.tr.lat, s.shard, latTTFT, now-s.start)
		if s.tr.openModel {
			s.batch.add(s.tr.lat, s.shard, latTTFTIntended, now-s.intended)
		}
	case gap:
		// Note: the chunk before this one was read too: it was the
		// first, or before was true for it.
		s.batch.add(s.tr.lat, s.shard, latITL, now-s.lastAt)
	}
	if relay {
		slot, stamp := relayStamp(seq, s.phase)
		if v := s.prodAt[slot].Load(); v != 0 && v&0xffff == stamp {
			s.batch.add(s.tr.lat, s.shard, latRelay, now-v>>16)
		}
	}
	s.lastAt = now
}

// relayStamp returns the slot of sampled chunk seq and the stamp that tells
// it from the other chunks that use the slot. A slot holds the chunk's
// production instant (ns since the trial's base, below 2^47: 39 hours)
// shifted left 16 bits, or'ed with the stamp, in one word, so that it is
// written and read atomically; zero is an empty slot.
//
// Note: the stamp is the slot's round plus one, modulo 2^16, so a chunk is
// mistaken only for one 2^16 rounds (some 8 million chunks) later, a lag no
// design has.
func relayStamp(seq, phase int64) (slot int, stamp int64) {
	i := (seq + phase) / relaySample
	return int(i % relaySlots), (i/relaySlots + 1) & 0xffff
}

// publish adds the chunks delivered since the last call, and their bytes,
// to the slot's throughput counters. The client side calls it every
// publishEvery chunks, and the relay's goroutine when Relay has returned.
//
// Note: two locked adds per chunk were a twentieth of the harness's cost.
// Publishing in steps moves chunks across a window edge by fewer than
// publishEvery per stream in flight there, alike at both edges, so the
// window's count is off by a zero-mean error of some sqrt(streams) *
// publishEvery / 2 chunks (a few hundred at 100,000 streams, against
// millions counted); a request-count window, which closes after its last
// stream, counts exactly.
func (s *stream) publish() {
	if n := s.delivered - s.published; n > 0 {
		s.slot.chunks.Add(n)
		s.slot.bytes.Add(s.unpublished)
		s.published, s.unpublished = s.delivered, 0
	}
}

// publishEvery is how many delivered chunks a stream holds before it
// publishes them (a power of two).
const publishEvery = 8

// Gone is closed when the client leaves.
func (c *sink) Gone() <-chan struct{} { return c.gone }

func (s *stream) markGone() {
	s.goneOnce.Do(func() {
		s.goneAt.Store(s.tr.now())
		close(s.gone)
	})
}

// digest is the request's delivered-stream hash: the chunks' xxhash mixed
// in order, the bytes and the chunk count.
func (s *stream) digest() string {
	return fmt.Sprintf("%016x-%x-%x", s.hash, s.bytes, s.delivered)
}

// finishEvent counts one of the two events that end a stream's life (Relay
// returned; provider closed) and runs the accounting after the second;
// the count is then accounted.
func (s *stream) finishEvent() {
	if s.events.Add(1) == 2 {
		s.tr.account(s)
		s.events.Store(accounted)
	}
}

// accounted is a stream's event count once its accounting is done.
const accounted = 3

// reusable reports whether the stream may carry another request: its relay
// has returned (the caller's), its provider is closed and its accounting
// done, and its client never left (its channel is open and no timer may
// still close it). Called by the goroutine that ran the relay.
//
// Note: a design must not touch a request's Source or Sink after both
// Relay returned and Close was called; one that did would now reach
// another request's stream, whose accounting would catch it (a chunk
// produced or delivered that its own relay does not account for).
func (s *stream) reusable() bool {
	return s.events.Load() == accounted && s.goneAt.Load() == 0 && !s.goneFired
}

// counterSlot holds one worker's counters (in the open model, one shard's):
// the delivered chunks and bytes the throughput is read from, written per
// chunk, and the counts of c, written per stream and summed over the slots
// when the trial reads them. Slots share no cache line.
//
// Note: the counts were once fields of the trial, shared by every stream:
// with two cores adding to the same lines at every stream's start and end,
// the line's moves between the cores cost more than the rest of a stream's
// bookkeeping.
type counterSlot struct {
	chunks atomic.Int64
	bytes  atomic.Int64
	_      [48]byte
	c      [numCounts]atomic.Int64
	_      [(64 - numCounts*8%64) % 64]byte // to a whole number of lines
}

// The counts of a counterSlot.
const (
	cOpen         = iota // streams started and not yet accounted
	cStarted             // streams started
	cStreams             // measured streams that ended inside the window
	cCompleted           // measured streams that ended without error
	cDisconnected        // ... that ended cancelled by their client
	cFailed              // ... that ended in any other error
	cProduced
	cDelivered
	cDropped
	cRejected
	cDiscarded
	cAfterGone
	cTokens
	cDelays
	cDelayed
	cDelayLate
	cMetSLO          // measured streams that met the trial's SLO
	cTokensGenerated // tokens of the chunks the provider produced
	cTokensWasted    // ... that no client received
	cSlotsTaken      // upstream slots taken (see stream.takeSlot)
	cSlotsReleased   // ... and given back
	cSlotWaits       // streams that waited for an upstream slot
	cSlotWaitNS      // ... and how long, in all
	numCounts        // 23: three cache lines with the padding
)

package attack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/streambench/streambench/httpmode"
	"github.com/streambench/streambench/httpmode/sse"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// HeaderDisconnected marks the synthetic response the Transport returns
// when the scenario's client left before the response headers arrived.
const HeaderDisconnected = "X-Streambench-Disconnected"

// Latency histograms of a trial, in nanoseconds.
const (
	latTTFT = iota
	latITL
	latE2E
	latTTFTIntended
	latE2EIntended
	numLat
)

// collector gathers one trial's client-side measurements. Counters are
// atomic; the histograms share one mutex, taken once per event.
type collector struct {
	began    time.Time // the attack's start, for intended starts
	sched    schedule
	late     time.Duration
	started  atomic.Int64
	lateN    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64

	completed, disconnected, failed atomic.Int64
	// slo judges each completed stream; met counts those that met it.
	slo                           result.Objective
	met                           atomic.Int64
	chunks, tokens, content, wire atomic.Int64

	// wireBySeq holds each finished request's bytes read, keyed by
	// vegeta's sequence number, until the result loop copies it into the
	// vegeta Result (whose BytesIn is zero when bodies are not kept).
	wireBySeq sync.Map

	mu   sync.Mutex
	hist [numLat]*hdrhistogram.Histogram
	errs map[string]int64 // failure reasons, a few at most
}

func newCollector(sched schedule, late time.Duration, slo result.Objective) *collector {
	c := &collector{sched: sched, late: late, slo: slo, errs: map[string]int64{}}
	for i := range c.hist {
		c.hist[i] = hdrhistogram.New(1, int64(time.Hour), 3)
	}
	return c
}

func (c *collector) record(kind int, d time.Duration) {
	c.mu.Lock()
	c.hist[kind].RecordValue(max(int64(d), 1))
	c.mu.Unlock()
}

func (c *collector) fail(reason string) {
	c.failed.Add(1)
	c.mu.Lock()
	if len(c.errs) < 8 {
		c.errs[reason]++
	} else {
		c.errs["other errors"]++
	}
	c.mu.Unlock()
}

// Transport is the streaming-aware http.RoundTripper the load generator
// gives vegeta. For each request it reads the index from
// httpmode.HeaderRequest, draws the scenario's plan for it, and wraps the
// response body so that, as vegeta reads (and discards) it, the SSE events
// are parsed as they arrive: time to first chunk and the gaps between
// chunks go into the trial's histograms, and the client leaves on the
// plan's schedule (after DisconnectAfterChunks chunks, or DisconnectAfter
// from its start) by closing the body.
type Transport struct {
	base http.RoundTripper
	sc   *scenarios.Scenario
	c    *collector
	// abort, when it ends, cancels every request in flight (vegeta's
	// requests carry no context of their own).
	abort context.Context
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip sends req and returns the wrapped streaming response.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	c := t.c
	c.started.Add(1)
	n := c.inFlight.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	idx, err := strconv.ParseUint(req.Header.Get(httpmode.HeaderRequest), 10, 64)
	if err != nil {
		c.inFlight.Add(-1)
		c.fail("request without an index")
		return nil, fmt.Errorf("attack: request without a valid %s header", httpmode.HeaderRequest)
	}
	seq, _ := strconv.ParseUint(req.Header.Get("X-Vegeta-Seq"), 10, 64)
	intended := start
	if at := c.sched.intended(idx); at >= 0 {
		intended = c.began.Add(at)
		if start.Sub(intended) > c.late {
			c.lateN.Add(1)
		}
	}
	s := &stream{c: c, seq: seq, start: start, intended: intended, plan: t.sc.Request(idx)}
	ctx, cancel := context.WithCancel(req.Context())
	s.cancel = cancel
	if t.abort != nil {
		stop := context.AfterFunc(t.abort, cancel)
		s.cancel = func() { stop(); cancel() }
	}
	if d := s.plan.DisconnectAfter; d > 0 {
		s.timer = time.AfterFunc(d, func() {
			s.timeUp.Store(true)
			cancel()
		})
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		if s.timeUp.Load() {
			// The client left before the headers came: not an error.
			s.finish(outDisconnected, nil)
			return &http.Response{
				Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{HeaderDisconnected: {"true"}}, Body: http.NoBody, ContentLength: 0, Request: req,
			}, nil
		}
		s.finish(outFailed, err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		s.finish(outFailed, errors.New("HTTP "+resp.Status))
		return resp, nil
	}
	b := &streamBody{s: s, rc: resp.Body}
	b.dec = sse.NewDecoder(readerFunc(b.readWire), 0)
	resp.Body = b
	return resp, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// Stream outcomes.
const (
	outCompleted = iota
	outDisconnected
	outFailed
)

// stream is one request's client-side state.
type stream struct {
	c               *collector
	seq             uint64
	start, intended time.Time
	plan            scenarios.Plan
	cancel          context.CancelFunc
	timer           *time.Timer
	timeUp          atomic.Bool

	chunks int
	first  time.Time // when the first chunk came
	last   time.Time
	wire   int64
	done   bool
}

// chunk records one content chunk received at now.
func (s *stream) chunk(now time.Time, p *sse.ParsedChunk) {
	c := s.c
	if s.chunks == 0 {
		s.first = now
		c.record(latTTFT, now.Sub(s.start))
		if !s.intended.Equal(s.start) {
			c.record(latTTFTIntended, now.Sub(s.intended))
		}
	} else {
		c.record(latITL, now.Sub(s.last))
	}
	s.last = now
	s.chunks++
	c.chunks.Add(1)
	c.content.Add(int64(len(p.Content)))
	switch {
	case p.HasExt:
		c.tokens.Add(p.Tokens)
	case len(p.Content) > 0:
		c.tokens.Add(1)
	}
}

// finish ends the stream once, counting its outcome.
func (s *stream) finish(out int, err error) {
	if s.done {
		return
	}
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.cancel()
	c := s.c
	c.inFlight.Add(-1)
	c.wire.Add(s.wire)
	c.wireBySeq.Store(s.seq, s.wire)
	switch out {
	case outCompleted:
		now := time.Now()
		c.completed.Add(1)
		c.record(latE2E, now.Sub(s.start))
		if !s.intended.Equal(s.start) {
			c.record(latE2EIntended, now.Sub(s.intended))
		}
		if !c.slo.IsZero() {
			ttft := int64(-1)
			if !s.first.IsZero() {
				ttft = int64(s.first.Sub(s.intended))
			}
			if c.slo.Met(true, ttft, int64(now.Sub(s.intended))) {
				c.met.Add(1)
			}
		}
	case outDisconnected:
		c.disconnected.Add(1)
	default:
		reason := "stream failed"
		if err != nil {
			reason = err.Error()
			if len(reason) > 120 {
				reason = reason[:120]
			}
		}
		c.fail(reason)
	}
}

// streamBody is the response body vegeta reads. Each Read hands over bytes
// already read from the connection; when there are none it lets the SSE
// decoder read more and handles the event it yields, so events are parsed
// as they arrive whatever the caller's buffer size.
//
// Note: vegeta reads the body from one goroutine and closes it after, so
// streamBody needs no lock; the DisconnectAfter timer only cancels the
// request context, which makes the pending read fail.
type streamBody struct {
	s       *stream
	rc      io.ReadCloser
	dec     *sse.Decoder
	pending []byte
	off     int
	// parsed is reused for every chunk of the stream (sse.ParseChunkInto).
	parsed sse.ParsedChunk
	end    error // what Read returns once pending is drained
}

// readWire reads from the connection for the decoder, keeping a copy of
// what it read for Read to hand out.
func (b *streamBody) readWire(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.s.wire += int64(n)
	b.pending = append(b.pending, p[:n]...)
	return n, err
}

func (b *streamBody) Read(p []byte) (int, error) {
	for b.off == len(b.pending) {
		b.pending, b.off = b.pending[:0], 0
		if b.end != nil {
			return 0, b.end
		}
		b.step()
	}
	n := copy(p, b.pending[b.off:])
	b.off += n
	return n, nil
}

// step takes one event from the decoder and acts on it.
func (b *streamBody) step() {
	s := b.s
	if s.chunks == s.plan.DisconnectAfterChunks {
		b.leave()
		return
	}
	ev, err := b.dec.Next()
	now := time.Now()
	if err != nil {
		if s.timeUp.Load() {
			b.leave()
			return
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errors.New("stream ended without [DONE]")
		}
		b.stop(outFailed, err)
		return
	}
	if ev.Event != "" && ev.Event != "message" {
		return
	}
	if sse.IsDone(ev.Data) {
		b.stop(outCompleted, nil)
		return
	}
	p := &b.parsed
	if err := sse.ParseChunkInto(ev.Data, p); err != nil {
		b.stop(outFailed, err)
		return
	}
	if p.Content == nil && p.FinishReason == "" && p.Role == "" {
		return // the usage chunk
	}
	s.chunk(now, p)
}

// leave disconnects on the plan's schedule: the connection is closed and
// the caller sees a clean end of body.
func (b *streamBody) leave() {
	b.rc.Close()
	b.stop(outDisconnected, nil)
}

func (b *streamBody) stop(out int, err error) {
	b.s.finish(out, err)
	if err != nil {
		b.end = err
	} else {
		b.end = io.EOF
	}
}

// Close closes the connection's body; a stream closed before its end
// counts as failed.
func (b *streamBody) Close() error {
	if b.end == nil {
		b.stop(outFailed, errors.New("body closed before the stream ended"))
	}
	return b.rc.Close()
}

package httpmode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/httpmode/sse"
	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/internal/upstream"
)

// StreamSource produces the synthetic response for one request. The
// scenario generator implements it; it must be safe for concurrent use and
// deterministic: the same index yields the same chunks and the same gaps.
type StreamSource interface {
	// Stream returns the response for request index, limited to maxTokens
	// completion tokens (0 means the source's own length).
	Stream(index uint64, maxTokens int) ChunkIter
}

// ChunkIter yields one response's chunks in order.
type ChunkIter interface {
	// Next returns the next chunk and the gap to wait before sending it
	// (the time to first chunk, for the first). It returns io.EOF after the
	// last chunk; any other error is a mid-stream provider failure, which
	// the Provider reports by aborting the connection.
	Next() (c impls.Chunk, gap time.Duration, err error)
}

// ProviderOptions configures a Provider. The zero value is usable.
type ProviderOptions struct {
	// Model is echoed in every chunk; empty means the request's model.
	Model string
	// Created is the "created" time of every chunk, in Unix seconds; zero
	// means the wall clock at the start of each stream.
	Created int64
	// MaxBodyBytes bounds the request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// OmitExtensions leaves out the "streambench" seq/tokens object, making
	// the stream plain OpenAI. The Gateway then bills one token per content
	// chunk.
	OmitExtensions bool
	// OnStreamEnd, if set, is called once per stream as it ends, from the
	// stream's handler goroutine.
	OnStreamEnd func(StreamEnd)
	// MaxConcurrent is how many streams the Provider serves at once; 0 is
	// no limit. A stream takes a slot after its response headers, before
	// its first chunk, and holds it until its handler returns (the
	// response ended, failed or its client left), so the wait counts in
	// the client's time to first chunk. One set of slots is shared by
	// every stream the Provider serves (see scenarios.Provider).
	MaxConcurrent int
	// TokensPerS bounds the Provider's total output in completion tokens
	// per second, over every stream (already scaled: see
	// scenarios.Scenario.ScaledTokensPerS); 0 is no bound.
	TokensPerS float64
}

// StreamEnd describes how one provider stream ended.
type StreamEnd struct {
	Index uint64
	// Produced counts the chunks the stream produced: taken from the
	// ChunkIter after their gap elapsed.
	Produced int64
	// Written counts the chunks written and flushed to the client.
	Written int64
	// AfterGone counts chunks produced after the client had gone: when the
	// request context was already done, or the write failed.
	AfterGone int64
	// Cancelled is true when the client went away before the stream ended.
	Cancelled bool
	// Err is the ChunkIter's mid-stream error, if it failed.
	Err error
}

// ProviderStats are a Provider's running totals.
type ProviderStats struct {
	Streams   int64 `json:"streams"`   // streams started
	InFlight  int64 `json:"in_flight"` // streams running now
	Completed int64 `json:"completed"` // streams that sent [DONE]
	Cancelled int64 `json:"cancelled"` // streams the client left
	Failed    int64 `json:"failed"`    // streams aborted by a ChunkIter error
	Chunks    int64 `json:"chunks"`    // chunks produced
	AfterGone int64 `json:"chunks_after_gone"`
	Rejected  int64 `json:"rejected"` // requests refused with a 4xx
	// Tokens is the completion tokens of the chunks produced: what the
	// upstream generated and would bill.
	Tokens int64 `json:"tokens"`
	// SlotsTaken and SlotsReleased count the streams that took one of the
	// MaxConcurrent slots and gave it back; SlotWaits the streams that
	// waited for one, and SlotWaitNS their waits in all. SlotWaiting is a
	// gauge: the streams waiting for a slot now.
	SlotsTaken    int64 `json:"slots_taken"`
	SlotsReleased int64 `json:"slots_released"`
	SlotWaits     int64 `json:"slot_waits"`
	SlotWaitNS    int64 `json:"slot_wait_ns"`
	SlotWaiting   int64 `json:"slot_waiting"`
}

// Provider is a synthetic OpenAI-compatible streaming provider serving
// POST ProviderPath. It is safe for concurrent use.
type Provider struct {
	streams StreamSource
	opts    ProviderOptions

	streamsN, inFlight, completed, cancelled, failed atomic.Int64
	chunks, afterGone, rejected, tokens              atomic.Int64
	slotsTaken, slotsReleased, slotWaits, slotWaitNS atomic.Int64
	// slots and bucket are the upstream capacity (MaxConcurrent,
	// TokensPerS), nil without limits.
	slots  *upstream.Slots
	bucket *upstream.Bucket
	// nextID numbers the requests that carry no identity, from 1<<63 up
	// (the Gateway's convention), far from the indices a load generator
	// sends.
	nextID atomic.Uint64
}

var _ http.Handler = (*Provider)(nil)

// NewProvider returns a Provider streaming the responses of streams.
func NewProvider(streams StreamSource, opts ProviderOptions) *Provider {
	p := &Provider{streams: streams, opts: opts,
		slots: upstream.NewSlots(opts.MaxConcurrent), bucket: upstream.NewBucket(opts.TokensPerS)}
	p.nextID.Store(1 << 63)
	return p
}

// Stats returns the Provider's totals so far.
func (p *Provider) Stats() ProviderStats {
	return ProviderStats{
		Streams: p.streamsN.Load(), InFlight: p.inFlight.Load(),
		Completed: p.completed.Load(), Cancelled: p.cancelled.Load(), Failed: p.failed.Load(),
		Chunks: p.chunks.Load(), AfterGone: p.afterGone.Load(), Rejected: p.rejected.Load(),
		Tokens: p.tokens.Load(), SlotsTaken: p.slotsTaken.Load(), SlotsReleased: p.slotsReleased.Load(),
		SlotWaits: p.slotWaits.Load(), SlotWaitNS: p.slotWaitNS.Load(), SlotWaiting: p.slots.Waiting(),
	}
}

// InFlight returns how many streams are running now.
func (p *Provider) InFlight() int64 { return p.inFlight.Load() }

// ServeHTTP serves one streaming request.
//
// The request's identity, HeaderRequest or a numeric "user" field, selects
// the scripted stream, so that a load generator can replay a scenario
// exactly; a request without one (any OpenAI client) gets the next stream
// of its own numbering. The Provider sends the response headers at once, then for each
// chunk sleeps its gap (ended early by the request context, so a client
// hang-up stops the stream), writes it as an SSE event and flushes. After
// the last chunk it sends the usage chunk when the request asked for it,
// then [DONE]. A ChunkIter failure aborts the connection mid-stream.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ProviderPath {
		p.rejected.Add(1)
		writeError(w, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("no route for %s", r.URL.Path), Type: "invalid_request_error"})
		return
	}
	if r.Method != http.MethodPost {
		p.rejected.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Message: "method must be POST", Type: "invalid_request_error"})
		return
	}
	req, aerr := readChatRequest(w, r, p.opts.MaxBodyBytes)
	if aerr == nil {
		var idx uint64
		var ok bool
		idx, ok, aerr = requestIndex(r, &req)
		if aerr == nil && !ok {
			idx = p.nextID.Add(1)
		}
		if aerr == nil {
			p.stream(w, r, &req, idx)
			return
		}
	}
	p.rejected.Add(1)
	writeError(w, aerr)
}

func (p *Provider) stream(w http.ResponseWriter, r *http.Request, req *ChatRequest, idx uint64) {
	p.streamsN.Add(1)
	p.inFlight.Add(1)
	end := StreamEnd{Index: idx}
	defer func() {
		p.inFlight.Add(-1)
		switch {
		case end.Err != nil:
			p.failed.Add(1)
		case end.Cancelled:
			p.cancelled.Add(1)
		default:
			p.completed.Add(1)
		}
		if p.opts.OnStreamEnd != nil {
			p.opts.OnStreamEnd(end)
		}
		if end.Err != nil {
			// Note: aborting the handler is how net/http breaks a response
			// mid-body; the client reads an unexpected EOF.
			panic(http.ErrAbortHandler)
		}
	}()

	info := sse.StreamInfo{ID: fmt.Sprintf("chatcmpl-%d", idx), Created: p.opts.Created, Model: p.opts.Model, Extensions: !p.opts.OmitExtensions}
	if info.Created == 0 {
		info.Created = time.Now().Unix()
	}
	if info.Model == "" {
		info.Model = req.Model
	}
	it := p.streams.Stream(idx, int(min(req.maxTokens(), 1<<31-1)))
	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		end.Cancelled = true
		return
	}
	if p.slots != nil {
		if !p.takeSlot(ctx) {
			end.Cancelled = true
			return
		}
		defer p.releaseSlot()
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var btimer *time.Timer // the token bucket's, made at its first wait
	buf := make([]byte, 0, 512)
	var usage *impls.Usage
	// Note: the prompt's size follows the request's messages when it has
	// any (an approximation, see promptTokens), not the scenario's draw.
	prompt := req.promptTokens()
	for {
		c, gap, err := it.Next()
		if err == io.EOF {
			buf = buf[:0]
			if usage != nil && req.includeUsage() {
				buf = sse.AppendUsage(buf, &info, usage)
			}
			buf = sse.AppendDone(buf)
			// A failed [DONE] write after every chunk was sent is not a
			// cancellation: the client got the whole response, so the
			// errors are not kept.
			if _, werr := w.Write(buf); werr == nil {
				_ = rc.Flush()
			}
			return
		}
		if err != nil {
			end.Err = err
			return
		}
		if gap > 0 {
			timer.Reset(gap)
			select {
			case <-timer.C:
			case <-ctx.Done():
				end.Cancelled = true
				return
			}
		}
		if p.bucket != nil {
			if err := p.bucket.Wait(ctx, nil, &btimer, c.Tokens); err != nil {
				end.Cancelled = true
				return
			}
		}
		end.Produced++
		p.chunks.Add(1)
		p.tokens.Add(c.Tokens)
		if ctx.Err() != nil {
			end.AfterGone++
			p.afterGone.Add(1)
			end.Cancelled = true
			return
		}
		if c.Usage != nil {
			u := *c.Usage
			if prompt > 0 {
				u.PromptTokens, u.TotalTokens = prompt, prompt+u.CompletionTokens
			}
			usage, c.Usage = &u, &u
		}
		buf = sse.AppendChunk(buf[:0], &info, &c)
		_, err = w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			end.AfterGone++
			p.afterGone.Add(1)
			end.Cancelled = true
			return
		}
		end.Written++
	}
}

// takeSlot takes one of the Provider's upstream slots for a stream,
// waiting for one while ctx lasts, and reports whether it did.
func (p *Provider) takeSlot(ctx context.Context) bool {
	if !p.slots.TryAcquire() {
		start := time.Now()
		if err := p.slots.Acquire(ctx, nil); err != nil {
			return false
		}
		p.slotWaits.Add(1)
		p.slotWaitNS.Add(int64(time.Since(start)))
	}
	p.slotsTaken.Add(1)
	return true
}

// releaseSlot gives a stream's slot back as its handler returns.
func (p *Provider) releaseSlot() {
	if p.slots.Release() {
		p.slotsReleased.Add(1)
	}
}

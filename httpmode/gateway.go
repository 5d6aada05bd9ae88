package httpmode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streambench/streambench/httpmode/sse"
	"github.com/streambench/streambench/impls"
)

// Defaults for GatewayOptions fields left zero.
const (
	DefaultMaxTokens    = 4096
	DefaultWriteTimeout = 30 * time.Second
)

// GatewayOptions configures a Gateway. The zero value is usable.
type GatewayOptions struct {
	// Ledger, if set, receives a failed Record (nothing charged) for each
	// request that never reached the pipeline because the provider call
	// failed, so that every accepted request has exactly one record. The
	// pipeline persists the records of requests it relays.
	Ledger impls.Ledger
	// Limits are passed to the pipeline with every request.
	Limits impls.Limits
	// MaxTokens is the most completion tokens a request may ask for; larger
	// requests are clamped, and requests without max_tokens get it. Zero
	// means DefaultMaxTokens.
	MaxTokens int64
	// MaxBodyBytes bounds the request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxEvent bounds one SSE event from the provider; zero means
	// sse.DefaultMaxEvent.
	MaxEvent int
	// WriteTimeout is the deadline of each write to the client, renewed
	// per chunk; a client that does not take a chunk in time is treated as
	// gone. Zero means DefaultWriteTimeout.
	//
	// Note: a per-write deadline suits long streams; a server-wide
	// http.Server.WriteTimeout would cut every stream at a fixed length.
	WriteTimeout time.Duration
	// OmitExtensions leaves the "streambench" seq/tokens object out of the
	// chunks sent to the client.
	OmitExtensions bool
}

// GatewayStats are a Gateway's running totals.
type GatewayStats struct {
	Requests       int64 `json:"requests"`        // requests received
	Rejected       int64 `json:"rejected"`        // refused with a 4xx
	ProviderErrors int64 `json:"provider_errors"` // provider call failed before relaying
	InFlight       int64 `json:"in_flight"`       // relays running now
	Completed      int64 `json:"completed"`       // relays that ended with [DONE]
	Failed         int64 `json:"failed"`          // relays that ended with an error
}

// Gateway serves POST GatewayPath by relaying the provider's stream through
// one Pipeline. Mount it under a per-variant prefix with http.StripPrefix.
// It is safe for concurrent use.
type Gateway struct {
	p           impls.Pipeline
	providerURL string
	client      *http.Client
	opts        GatewayOptions

	nextID                           atomic.Uint64
	requests, rejected, providerErrs atomic.Int64
	inFlight, completed, failed      atomic.Int64
}

var _ http.Handler = (*Gateway)(nil)

// NewGateway returns a Gateway relaying through p from the provider endpoint
// providerURL (a full URL, e.g. "http://127.0.0.1:8080"+ProviderPath),
// called with client.
//
// Note: client should set Transport.ResponseHeaderTimeout rather than
// Client.Timeout, which would also cut off long streams. Give its transport
// enough idle connections per host (MaxIdleConnsPerHost) for the load, or
// every request dials anew.
func NewGateway(p impls.Pipeline, providerURL string, client *http.Client, opts GatewayOptions) *Gateway {
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = DefaultMaxTokens
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	g := &Gateway{p: p, providerURL: providerURL, client: client, opts: opts}
	// Note: requests without an identity get IDs from the top half of the
	// range, so they cannot collide with the harness's request indices.
	g.nextID.Store(1 << 63)
	return g
}

// Stats returns the Gateway's totals so far.
func (g *Gateway) Stats() GatewayStats {
	return GatewayStats{
		Requests: g.requests.Load(), Rejected: g.rejected.Load(), ProviderErrors: g.providerErrs.Load(),
		InFlight: g.inFlight.Load(), Completed: g.completed.Load(), Failed: g.failed.Load(),
	}
}

// InFlight returns how many relays are running now.
func (g *Gateway) InFlight() int64 { return g.inFlight.Load() }

// ServeHTTP validates the request, opens the provider stream and relays it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	if r.URL.Path != GatewayPath {
		g.reject(w, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("no route for %s", r.URL.Path), Type: "invalid_request_error"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		g.reject(w, &apiError{Status: http.StatusMethodNotAllowed, Message: "method must be POST", Type: "invalid_request_error"})
		return
	}
	req, aerr := readChatRequest(w, r, g.opts.MaxBodyBytes)
	if aerr != nil {
		g.reject(w, aerr)
		return
	}
	idx, ok, aerr := requestIndex(r, &req)
	if aerr != nil {
		g.reject(w, aerr)
		return
	}
	if !ok {
		idx = g.nextID.Add(1)
	}
	account := r.Header.Get(HeaderAccount)
	if account == "" {
		account = req.User
	}
	if account == "" {
		account = "anonymous"
	}
	maxTokens := req.maxTokens()
	if maxTokens == 0 || maxTokens > g.opts.MaxTokens {
		maxTokens = g.opts.MaxTokens
	}
	ireq := impls.Request{ID: idx, Account: account, Limits: g.opts.Limits}

	src, aerr := g.openProvider(r.Context(), &req, idx, maxTokens)
	if aerr != nil {
		g.providerErrs.Add(1)
		if g.opts.Ledger != nil {
			rec := impls.Record{RequestID: idx, Account: account, Partial: true, Err: aerr.Message}
			g.opts.Ledger.Persist(context.WithoutCancel(r.Context()), rec)
		}
		writeError(w, aerr)
		return
	}

	g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	info := sse.StreamInfo{
		ID: "chatcmpl-" + strconv.FormatUint(idx, 10), Created: time.Now().Unix(),
		Model: req.Model, Extensions: !g.opts.OmitExtensions,
	}
	sink := newSink(w, r, info, req.includeUsage(), g.opts.WriteTimeout)
	out := g.p.Relay(r.Context(), ireq, src, sink)
	if sink.finish(out.Err) {
		g.completed.Add(1)
	} else {
		g.failed.Add(1)
	}
}

func (g *Gateway) reject(w http.ResponseWriter, e *apiError) {
	g.rejected.Add(1)
	writeError(w, e)
}

// providerRequest is the body the Gateway sends to the provider. It always
// asks for the usage chunk: the record needs it whatever the client wants.
type providerRequest struct {
	Model         string        `json:"model"`
	Messages      []ChatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	MaxTokens     int64         `json:"max_tokens"`
	StreamOptions StreamOptions `json:"stream_options"`
	User          string        `json:"user,omitempty"`
}

// openProvider calls the provider and returns its stream as a Source.
//
// Note: the provider call does not inherit the client request's
// cancellation (context.WithoutCancel). The provider learns of a disconnect
// only when the pipeline closes the Source, or ends the context it passes to
// Source.Next, so a design without cancellation keeps the provider busy,
// which is what the harness measures.
func (g *Gateway) openProvider(ctx context.Context, req *ChatRequest, idx uint64, maxTokens int64) (*httpSource, *apiError) {
	body, err := json.Marshal(providerRequest{
		Model: req.Model, Messages: req.Messages, Stream: true, MaxTokens: maxTokens,
		StreamOptions: StreamOptions{IncludeUsage: true}, User: req.User,
	})
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Message: "encoding provider request: " + err.Error(), Type: "server_error"}
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	preq, err := http.NewRequestWithContext(pctx, http.MethodPost, g.providerURL, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, &apiError{Status: http.StatusInternalServerError, Message: "building provider request: " + err.Error(), Type: "server_error"}
	}
	preq.Header.Set("Content-Type", "application/json")
	preq.Header.Set("Accept", "text/event-stream")
	preq.Header.Set(HeaderRequest, strconv.FormatUint(idx, 10))
	resp, err := g.client.Do(preq)
	if err != nil {
		cancel()
		return nil, &apiError{Status: http.StatusBadGateway, Message: "provider unavailable: " + err.Error(), Type: "server_error"}
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, &apiError{Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider answered %s: %s", resp.Status, bytes.TrimSpace(msg)), Type: "server_error"}
	}
	return newHTTPSource(resp.Body, cancel, g.opts.MaxEvent), nil
}

// httpSource is the impls.Source reading a provider's SSE response body.
type httpSource struct {
	body   io.ReadCloser
	cancel context.CancelFunc // ends the provider request
	dec    *sse.Decoder

	watched   context.Context // the context whose end cancels the provider
	stopWatch func() bool

	seq     int64
	ahead   *impls.Chunk // a finish chunk held while reading its usage
	err     error        // sticky: io.EOF after [DONE], or the failure
	closeMu sync.Mutex
	closed  bool
}

var _ impls.Source = (*httpSource)(nil)

func newHTTPSource(body io.ReadCloser, cancel context.CancelFunc, maxEvent int) *httpSource {
	return &httpSource{body: body, cancel: cancel, dec: sse.NewDecoder(body, maxEvent)}
}

// Next returns the provider's next chunk. Seq and Tokens come from the
// "streambench" extension when the provider sends it; otherwise chunks are
// numbered here and each content chunk counts one token. The usage chunk
// that follows the finish chunk is merged into it.
//
// Note: Next honours ctx by cancelling the provider request when ctx ends,
// which interrupts a blocked read and tells the provider; the watch is
// registered once per distinct ctx, not per call.
func (s *httpSource) Next(ctx context.Context) (impls.Chunk, error) {
	if err := ctx.Err(); err != nil {
		return impls.Chunk{}, err
	}
	if ctx != s.watched && ctx.Done() != nil {
		s.watch(ctx)
	}
	c, err := s.next()
	if err != nil && err != io.EOF && ctx.Err() != nil {
		return impls.Chunk{}, ctx.Err()
	}
	return c, err
}

// watch makes the end of ctx cancel the provider request, in place of the
// previously watched context. It holds closeMu because Close may run on
// another goroutine.
func (s *httpSource) watch(ctx context.Context) {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.watched, s.stopWatch = ctx, context.AfterFunc(ctx, s.cancel)
}

func (s *httpSource) next() (impls.Chunk, error) {
	if c := s.ahead; c != nil {
		s.ahead = nil
		return *c, nil
	}
	if s.err != nil {
		return impls.Chunk{}, s.err
	}
	for {
		p, done, err := s.event()
		if err != nil {
			s.err = err
			return impls.Chunk{}, err
		}
		if done {
			s.err = io.EOF
			return impls.Chunk{}, io.EOF
		}
		if p.Usage != nil && p.Content == nil && p.FinishReason == "" {
			continue // a usage chunk without a finish chunk before it
		}
		c := impls.Chunk{Seq: s.seq, Content: p.Content, FinishReason: p.FinishReason, Usage: p.Usage}
		if p.HasExt {
			c.Seq, c.Tokens = p.Seq, p.Tokens
		} else if len(p.Content) > 0 {
			c.Tokens = 1
		}
		s.seq = c.Seq + 1
		if c.FinishReason == "" || c.Usage != nil {
			return c, nil
		}
		// Read ahead for the usage chunk OpenAI sends after the finish
		// chunk; a failure there is reported on the following call.
		p, done, err = s.event()
		switch {
		case err != nil:
			s.err = err
		case done:
			s.err = io.EOF
		case p.Usage != nil:
			c.Usage = p.Usage
		default:
			pc := impls.Chunk{Seq: s.seq, Content: p.Content, FinishReason: p.FinishReason}
			s.ahead = &pc
		}
		return c, nil
	}
}

// event reads and parses the next data event.
func (s *httpSource) event() (sse.ParsedChunk, bool, error) {
	for {
		ev, err := s.dec.Next()
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = errors.New("provider stream ended without [DONE]")
			}
			return sse.ParsedChunk{}, false, fmt.Errorf("%w: %w", impls.ErrProviderFailed, err)
		}
		if ev.Event != "" && ev.Event != "message" {
			continue
		}
		if sse.IsDone(ev.Data) {
			return sse.ParsedChunk{}, true, nil
		}
		p, err := sse.ParseChunk(ev.Data)
		if err != nil {
			return p, false, fmt.Errorf("%w: %w", impls.ErrProviderFailed, err)
		}
		return p, false, nil
	}
}

// Close closes the provider response body and ends the provider request,
// which is how the provider learns the stream was abandoned. It is
// idempotent and safe to call from any goroutine.
func (s *httpSource) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stopWatch != nil {
		s.stopWatch()
	}
	err := s.body.Close()
	s.cancel()
	return err
}

// httpSink is the impls.Sink writing OpenAI SSE events to the client.
//
// Note: a mutex guards the ResponseWriter because a design may still hold
// the Sink after Relay returns (the legacy design's detached work); once the
// handler is done, Write refuses instead of touching a dead ResponseWriter.
// It is uncontended in a correct design.
type httpSink struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	gone         <-chan struct{}
	info         sse.StreamInfo
	includeUsage bool
	timeout      time.Duration

	mu      sync.Mutex
	buf     []byte
	started bool // response headers sent
	failed  bool // a write failed
	closed  bool // the handler is done
}

var _ impls.Sink = (*httpSink)(nil)

func newSink(w http.ResponseWriter, r *http.Request, info sse.StreamInfo, includeUsage bool, timeout time.Duration) *httpSink {
	return &httpSink{
		w: w, rc: http.NewResponseController(w), gone: r.Context().Done(),
		info: info, includeUsage: includeUsage, timeout: timeout,
		buf: make([]byte, 0, 512),
	}
}

// Gone is closed when the client disconnects.
func (s *httpSink) Gone() <-chan struct{} { return s.gone }

// Write sends one chunk (and the usage chunk after the last one, when the
// client asked for it) and flushes.
func (s *httpSink) Write(c impls.Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.failed {
		return impls.ErrClientGone
	}
	select {
	case <-s.gone:
		return impls.ErrClientGone
	default:
	}
	s.buf = sse.AppendChunk(s.buf[:0], &s.info, &c)
	if c.Usage != nil && s.includeUsage {
		s.buf = sse.AppendUsage(s.buf, &s.info, c.Usage)
	}
	if err := s.send(); err != nil {
		return fmt.Errorf("%w: %w", impls.ErrClientGone, err)
	}
	return nil
}

// send writes s.buf under a fresh write deadline and flushes it.
func (s *httpSink) send() error {
	if !s.started {
		s.started = true
		h := s.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		s.w.WriteHeader(http.StatusOK)
	}
	// ErrNotSupported (a ResponseWriter without a connection) is ignored.
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.w.Write(s.buf)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		s.failed = true
	}
	return err
}

// finish ends the response after Relay returned with relayErr, and closes
// the Sink. It reports whether the stream completed.
//
// A completed stream gets [DONE]. A failed one gets a JSON error response
// if nothing was sent yet, else an in-stream error event and no [DONE], so
// that clients see it was cut short. A departed client gets nothing.
func (s *httpSink) finish(relayErr error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		s.closed = true
		if s.started {
			// Clear the deadline so it cannot fire on the next request
			// of a kept-alive connection.
			s.rc.SetWriteDeadline(time.Time{})
		}
	}()
	gone := s.failed
	select {
	case <-s.gone:
		gone = true
	default:
	}
	switch {
	case relayErr == nil && !gone:
		s.buf = sse.AppendDone(s.buf[:0])
		return s.send() == nil
	case relayErr == nil || gone || errors.Is(relayErr, impls.ErrCancelled) || errors.Is(relayErr, impls.ErrClientGone):
		return false
	case !s.started:
		writeError(s.w, &apiError{Status: http.StatusBadGateway, Message: relayErr.Error(), Type: "server_error"})
		s.started = true
		return false
	default:
		s.buf = sse.AppendError(s.buf[:0], relayErr.Error(), "server_error")
		s.send()
		return false
	}
}

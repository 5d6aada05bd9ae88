package httpmode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/streambench/streambench/accounting"
	"github.com/streambench/streambench/httpmode/sse"
	"github.com/streambench/streambench/impls"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bound is how long a test waits for something that must happen promptly
// before declaring it never will. It guards against hangs; no test asserts
// how fast anything is.
const bound = 10 * time.Second

// toySource is a deterministic StreamSource: request idx yields n chunks
// whose text depends on idx, with a fixed gap. n < 0 streams until
// cancelled; failAt >= 0 fails the stream instead of producing that chunk.
type toySource struct {
	n      int
	gap    time.Duration
	failAt int

	mu        sync.Mutex
	maxTokens map[uint64]int
}

func newToySource(n int, gap time.Duration, failAt int) *toySource {
	return &toySource{n: n, gap: gap, failAt: failAt, maxTokens: map[uint64]int{}}
}

func (s *toySource) Stream(idx uint64, maxTokens int) ChunkIter {
	s.mu.Lock()
	s.maxTokens[idx] = maxTokens
	s.mu.Unlock()
	return &toyIter{s: s, idx: idx}
}

func (s *toySource) gotMaxTokens(idx uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxTokens[idx]
}

// chunks returns what the stream of idx holds (for a finite source).
func (s *toySource) chunks(idx uint64) []impls.Chunk {
	var out []impls.Chunk
	it := s.Stream(idx, 0)
	for {
		c, _, err := it.Next()
		if err != nil {
			return out
		}
		out = append(out, c)
	}
}

type toyIter struct {
	s      *toySource
	idx    uint64
	seq    int
	tokens int64
}

var errToy = errors.New("toy provider exploded")

func (it *toyIter) Next() (impls.Chunk, time.Duration, error) {
	if it.seq == it.s.failAt {
		return impls.Chunk{}, 0, errToy
	}
	if it.s.n >= 0 && it.seq >= it.s.n {
		return impls.Chunk{}, 0, io.EOF
	}
	c := impls.Chunk{
		Seq:     int64(it.seq),
		Content: fmt.Appendf(nil, "r%d-c%d \"q\"\n", it.idx, it.seq),
		Tokens:  int64(1 + it.seq%3),
	}
	it.tokens += c.Tokens
	if it.seq == it.s.n-1 {
		c.FinishReason = "stop"
		c.Usage = &impls.Usage{PromptTokens: 7, CompletionTokens: it.tokens, TotalTokens: 7 + it.tokens}
	}
	it.seq++
	return c, it.s.gap, nil
}

// passPipeline is a toy pass-through Pipeline that reports every relay's
// chunks and outcome.
type passPipeline struct {
	relays chan relayed
}

type relayed struct {
	req    impls.Request
	chunks []impls.Chunk
	out    impls.Outcome
}

func (p *passPipeline) Relay(ctx context.Context, req impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	defer src.Close()
	r := relayed{req: req}
	defer func() { p.relays <- r }()
	for {
		c, err := src.Next(ctx)
		switch {
		case err == io.EOF:
			return r.out
		case err != nil && ctx.Err() != nil:
			r.out.Err = fmt.Errorf("%w: %w", impls.ErrCancelled, err)
			return r.out
		case err != nil:
			r.out.Err = fmt.Errorf("%w: %w", impls.ErrProviderFailed, err)
			return r.out
		}
		r.chunks = append(r.chunks, c)
		if err := dst.Write(c); err != nil {
			r.out.Discarded++
			r.out.Err = fmt.Errorf("%w: %w", impls.ErrCancelled, err)
			return r.out
		}
		r.out.Delivered++
	}
}

// recLedger records what the gateway persists itself.
type recLedger struct {
	mu   sync.Mutex
	recs []impls.Record
}

func (l *recLedger) Persist(_ context.Context, rec impls.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
	return nil
}

func (l *recLedger) Charge(context.Context, string, int64) error { return nil }

// env is a provider and a gateway (mounted at /toy/) on loopback servers
// built by NewServer.
type env struct {
	src    *toySource
	prov   *Provider
	pipe   *passPipeline
	ledger *recLedger
	ends   chan StreamEnd
	provTS *httptest.Server
	gwTS   *httptest.Server
	gwURL  string
}

func newEnv(t *testing.T, src *toySource, gopts GatewayOptions, sopts ServerOptions) *env {
	t.Helper()
	e := &env{src: src, pipe: &passPipeline{relays: make(chan relayed, 16)}, ledger: &recLedger{}, ends: make(chan StreamEnd, 16)}
	e.prov = NewProvider(src, ProviderOptions{Created: 1700000000, OnStreamEnd: func(se StreamEnd) { e.ends <- se }})
	e.provTS = startServer(t, e.prov, ServerOptions{InFlight: e.prov})
	gopts.Ledger = e.ledger
	gw := NewGateway(e.pipe, e.provTS.URL+ProviderPath, e.provTS.Client(), gopts)
	mux := http.NewServeMux()
	mux.Handle("/toy/", http.StripPrefix("/toy", gw))
	sopts.InFlight = gw
	e.gwTS = startServer(t, mux, sopts)
	e.gwURL = e.gwTS.URL + "/toy" + GatewayPath
	t.Cleanup(func() {
		e.gwTS.Close()
		e.provTS.Close()
	})
	return e
}

// startServer runs the *http.Server NewServer builds on an httptest
// listener (127.0.0.1:0).
func startServer(t *testing.T, h http.Handler, opts ServerOptions) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = NewServer(h, opts)
	ts.Start()
	return ts
}

func chatBody(extra string) string {
	return `{"model":"toy-1","messages":[{"role":"user","content":"hi"}],"stream":true` + extra + `}`
}

// chatPrompt is chatBody's prompt size in tokens: "hi" (1) and one message (4).
const chatPrompt = 5

// withPrompt returns chunks with the usage of the last one reporting
// chatPrompt prompt tokens, as the provider does for chatBody's messages.
func withPrompt(chunks []impls.Chunk) []impls.Chunk {
	if n := len(chunks); n > 0 && chunks[n-1].Usage != nil {
		u := *chunks[n-1].Usage
		u.PromptTokens, u.TotalTokens = chatPrompt, chatPrompt+u.CompletionTokens
		chunks[n-1].Usage = &u
	}
	return chunks
}

func post(t *testing.T, ctx context.Context, c *http.Client, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		t.Fatalf("no %s within %v", what, bound)
		panic("unreachable")
	}
}

// received is what a client read from a gateway stream.
type received struct {
	content      []byte
	chunks       []sse.ParsedChunk
	usage        *impls.Usage
	done         bool
	streamErr    *sse.APIError
	decodeErrEnd error
}

func readStream(t *testing.T, body io.Reader) received {
	t.Helper()
	var r received
	d := sse.NewDecoder(body, 0)
	for {
		ev, err := d.Next()
		if err != nil {
			r.decodeErrEnd = err
			return r
		}
		if r.done {
			t.Errorf("event after [DONE]: %s", ev.Data)
		}
		if sse.IsDone(ev.Data) {
			r.done = true
			continue
		}
		p, err := sse.ParseChunk(ev.Data)
		if api, ok := errors.AsType[*sse.APIError](err); ok {
			r.streamErr = api
			continue
		}
		if err != nil {
			t.Fatalf("bad chunk %s: %v", ev.Data, err)
		}
		if p.Usage != nil {
			r.usage = p.Usage
			continue
		}
		r.content = append(r.content, p.Content...)
		r.chunks = append(r.chunks, p)
	}
}

func TestRelay(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		extra     string
		hdr       map[string]string
		idx       uint64
		wantUsage bool
		wantExt   bool
	}{
		{name: "header identity", n: 5, hdr: map[string]string{HeaderRequest: "42"}, idx: 42, wantExt: true},
		{name: "user identity and usage", n: 8, extra: `,"user":"9","stream_options":{"include_usage":true}`, idx: 9, wantUsage: true, wantExt: true},
		{name: "single chunk", n: 1, hdr: map[string]string{HeaderRequest: "3"}, extra: `,"stream_options":{"include_usage":true}`, idx: 3, wantUsage: true, wantExt: true},
	}
	e := newEnv(t, newToySource(-1, 0, -1), GatewayOptions{}, ServerOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.src.n = tt.n // Note: set between requests only; the servers are idle here.
			want := withPrompt(e.src.chunks(tt.idx))
			resp := post(t, t.Context(), e.gwTS.Client(), e.gwURL, chatBody(tt.extra), tt.hdr)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %s, content type %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			got := readStream(t, resp.Body)
			var wantContent []byte
			for _, c := range want {
				wantContent = append(wantContent, c.Content...)
			}
			if !bytes.Equal(got.content, wantContent) {
				t.Errorf("content relayed:\n%q\nwant\n%q", got.content, wantContent)
			}
			if !got.done || got.decodeErrEnd != io.EOF {
				t.Errorf("[DONE] received = %v, stream end %v; want [DONE] then EOF", got.done, got.decodeErrEnd)
			}
			if (got.usage != nil) != tt.wantUsage {
				t.Errorf("usage chunk = %+v, want one: %v", got.usage, tt.wantUsage)
			}
			if got.usage != nil && *got.usage != *want[len(want)-1].Usage {
				t.Errorf("usage = %+v, want %+v", *got.usage, *want[len(want)-1].Usage)
			}
			for i, p := range got.chunks {
				if p.HasExt != tt.wantExt || p.HasExt && (p.Seq != want[i].Seq || p.Tokens != want[i].Tokens) {
					t.Errorf("chunk %d extension = %v seq %d tokens %d, want %v seq %d tokens %d", i, p.HasExt, p.Seq, p.Tokens, tt.wantExt, want[i].Seq, want[i].Tokens)
				}
			}
			if last := got.chunks[len(got.chunks)-1]; last.FinishReason != "stop" {
				t.Errorf("last finish reason = %q, want stop", last.FinishReason)
			}

			// The pipeline saw the provider's chunks exactly, with usage
			// merged into the last.
			r := recv(t, e.pipe.relays, "relay outcome")
			if r.req.ID != tt.idx || r.out.Err != nil || r.out.Delivered != int64(tt.n) {
				t.Errorf("relay: id %d err %v delivered %d; want id %d, no error, %d delivered", r.req.ID, r.out.Err, r.out.Delivered, tt.idx, tt.n)
			}
			if diff := cmp.Diff(want, r.chunks, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("chunks the pipeline got (-provider +pipeline):\n%s", diff)
			}
			end := recv(t, e.ends, "provider stream end")
			if end.Cancelled || end.Err != nil || end.Produced != int64(tt.n) || end.Written != int64(tt.n) || end.AfterGone != 0 {
				t.Errorf("provider stream end = %+v, want %d produced and written", end, tt.n)
			}
		})
	}
}

// TestCurlStyle reads the gateway's stream as `curl -N` would: plain lines.
func TestCurlStyle(t *testing.T) {
	e := newEnv(t, newToySource(3, 0, -1), GatewayOptions{OmitExtensions: true}, ServerOptions{})
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post(e.gwURL, "application/x-www-form-urlencoded", strings.NewReader(chatBody(`,"user":"5"`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 8 {
		t.Fatalf("got %d lines, want 3 chunks and [DONE], each with a blank line:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		switch {
		case i%2 == 1 && l != "":
			t.Errorf("line %d = %q, want blank", i, l)
		case i%2 == 0 && !strings.HasPrefix(l, "data: "):
			t.Errorf("line %d = %q, want a data line", i, l)
		case i%2 == 0 && i < 6 && strings.Contains(l, `"streambench"`):
			t.Errorf("line %d carries the extension though it was omitted: %s", i, l)
		}
	}
	if lines[6] != "data: [DONE]" {
		t.Errorf("last event = %q, want data: [DONE]", lines[6])
	}
	recv(t, e.pipe.relays, "relay outcome")
	recv(t, e.ends, "provider stream end")
}

// TestDisconnectPropagates checks that a client hang-up reaches the
// pipeline as a cancellation, and that closing the Source stops the
// provider.
func TestDisconnectPropagates(t *testing.T) {
	e := newEnv(t, newToySource(-1, time.Millisecond, -1), GatewayOptions{}, ServerOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := post(t, ctx, e.gwTS.Client(), e.gwURL, chatBody(""), map[string]string{HeaderRequest: "1"})
	d := sse.NewDecoder(resp.Body, 0)
	for i := range 3 {
		if _, err := d.Next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	cancel()
	resp.Body.Close()

	r := recv(t, e.pipe.relays, "relay outcome after the disconnect")
	if !errors.Is(r.out.Err, impls.ErrCancelled) {
		t.Errorf("relay error = %v, want ErrCancelled", r.out.Err)
	}
	end := recv(t, e.ends, "provider stream end after the disconnect")
	if !end.Cancelled || end.Err != nil {
		t.Errorf("provider stream end = %+v, want cancelled", end)
	}
	if end.Produced < 3 || end.Written > end.Produced || end.AfterGone > 1 {
		t.Errorf("provider stream end = %+v: want at least 3 produced, written <= produced, at most 1 after gone", end)
	}
	if s := e.prov.Stats(); s.InFlight != 0 || s.Cancelled != 1 {
		t.Errorf("provider stats = %+v, want none in flight, one cancelled", s)
	}
}

// TestSourceCloseStopsProvider checks the provider side alone: closing the
// Source (what a pipeline does when it gives up) cancels the provider's
// handler even while it sleeps a long gap.
func TestSourceCloseStopsProvider(t *testing.T) {
	e := newEnv(t, newToySource(-1, time.Hour, -1), GatewayOptions{}, ServerOptions{})
	g := NewGateway(e.pipe, e.provTS.URL+ProviderPath, e.provTS.Client(), GatewayOptions{})
	req := ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "user"}}}
	src, aerr := g.openProvider(t.Context(), &req, 11, 10)
	if aerr != nil {
		t.Fatal(aerr)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := src.Next(ctx)
		errc <- err
	}()
	cancel() // ends the blocked Next
	if err := recv(t, errc, "Next's return after its context ended"); !errors.Is(err, context.Canceled) {
		t.Errorf("Next error = %v, want context.Canceled", err)
	}
	src.Close()
	end := recv(t, e.ends, "provider stream end after Close")
	if !end.Cancelled || end.Produced != 0 {
		t.Errorf("provider stream end = %+v, want cancelled during the first gap", end)
	}
}

func TestProviderFailure(t *testing.T) {
	tests := []struct {
		name       string
		failAt     int
		wantStatus int
	}{
		{"before the first chunk", 0, http.StatusBadGateway},
		{"mid-stream", 2, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, newToySource(5, 0, tt.failAt), GatewayOptions{}, ServerOptions{})
			resp := post(t, t.Context(), e.gwTS.Client(), e.gwURL, chatBody(""), map[string]string{HeaderRequest: "2"})
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.StatusCode == http.StatusOK {
				got := readStream(t, resp.Body)
				if got.done || got.streamErr == nil || len(got.chunks) != tt.failAt {
					t.Errorf("stream: [DONE] %v, error event %v, %d chunks; want no [DONE], an error event, %d chunks", got.done, got.streamErr, len(got.chunks), tt.failAt)
				}
			} else {
				checkJSONError(t, resp, "server_error")
			}
			r := recv(t, e.pipe.relays, "relay outcome")
			if !errors.Is(r.out.Err, impls.ErrProviderFailed) {
				t.Errorf("relay error = %v, want ErrProviderFailed", r.out.Err)
			}
			if end := recv(t, e.ends, "provider stream end"); !errors.Is(end.Err, errToy) {
				t.Errorf("provider stream end error = %v, want %v", end.Err, errToy)
			}
		})
	}
}

func TestProviderUnavailable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + ProviderPath
	dead.Close()
	ledger := &recLedger{}
	gw := NewGateway(&passPipeline{}, deadURL, &http.Client{Transport: &http.Transport{}}, GatewayOptions{Ledger: ledger})
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, GatewayPath, strings.NewReader(chatBody(`,"user":"77"`))))
	if rec.Code != http.StatusBadGateway {
		t.Errorf("status = %d, want 502", rec.Code)
	}
	if len(ledger.recs) != 1 || ledger.recs[0].RequestID != 77 || ledger.recs[0].Err == "" || ledger.recs[0].Tokens != 0 {
		t.Errorf("ledger records = %+v, want one failed record for request 77", ledger.recs)
	}
	if s := gw.Stats(); s.ProviderErrors != 1 || s.InFlight != 0 {
		t.Errorf("gateway stats = %+v, want one provider error", s)
	}
}

func checkJSONError(t *testing.T, resp *http.Response, wantType string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type = %q, want application/json", ct)
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if body.Error.Message == "" || body.Error.Type != wantType {
		t.Errorf("error = %+v, want a message and type %q", body.Error, wantType)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, newToySource(2, 0, -1), GatewayOptions{}, ServerOptions{MaxBodyBytes: 4096})
	tests := []struct {
		name       string
		method     string
		target     string // "gw" or "prov", or a path on the gateway server
		body       string
		hdr        map[string]string
		wantStatus int
	}{
		{"malformed JSON", "POST", "gw", `{"model":`, nil, 400},
		{"not an object", "POST", "gw", `[1,2]`, nil, 400},
		{"empty body", "POST", "gw", ``, nil, 400},
		{"missing messages", "POST", "gw", `{"model":"m","stream":true}`, nil, 400},
		{"empty messages", "POST", "gw", `{"model":"m","messages":[],"stream":true}`, nil, 400},
		{"message without role", "POST", "gw", `{"model":"m","messages":[{"content":"x"}],"stream":true}`, nil, 400},
		{"stream missing", "POST", "gw", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil, 400},
		{"stream false", "POST", "gw", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":false}`, nil, 400},
		{"negative max_tokens", "POST", "gw", chatBody(`,"max_tokens":-1`), nil, 400},
		{"zero max_tokens", "POST", "gw", chatBody(`,"max_tokens":0`), nil, 400},
		{"zero max_completion_tokens", "POST", "gw", chatBody(`,"max_completion_tokens":0`), nil, 400},
		{"five choices", "POST", "gw", chatBody(`,"n":5`), nil, 400},
		{"provider zero max_tokens", "POST", "prov", chatBody(`,"max_tokens":0`), nil, 400},
		{"provider five choices", "POST", "prov", chatBody(`,"n":5`), nil, 400},
		{"bad identity header", "POST", "gw", chatBody(""), map[string]string{HeaderRequest: "abc"}, 400},
		{"body too large", "POST", "gw", chatBody(`,"pad":"` + strings.Repeat("x", 5000) + `"`), nil, 413},
		{"wrong method", "GET", "gw", "", nil, 405},
		{"wrong path", "POST", "/toy/v1/completions", chatBody(""), nil, 404},
		{"provider malformed", "POST", "prov", `{`, map[string]string{HeaderRequest: "1"}, 400},
		{"provider wrong method", "GET", "prov", "", nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := e.gwTS.URL + tt.target
			c := e.gwTS.Client()
			switch tt.target {
			case "gw":
				url = e.gwURL
			case "prov":
				url, c = e.provTS.URL+ProviderPath, e.provTS.Client()
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			checkJSONError(t, resp, "invalid_request_error")
		})
	}
	if s := e.prov.Stats(); s.Streams != 0 {
		t.Errorf("provider started %d streams for bad requests", s.Streams)
	}
}

func TestMaxTokensClamped(t *testing.T) {
	e := newEnv(t, newToySource(1, 0, -1), GatewayOptions{MaxTokens: 100}, ServerOptions{})
	tests := []struct {
		name  string
		extra string
		want  int
	}{
		{"absent gets the bound", "", 100},
		{"within the bound", `,"max_tokens":40`, 40},
		{"above the bound", `,"max_tokens":1000000`, 100},
		{"max_completion_tokens wins", `,"max_tokens":10,"max_completion_tokens":20`, 20},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := uint64(100 + i)
			resp := post(t, t.Context(), e.gwTS.Client(), e.gwURL, chatBody(tt.extra), map[string]string{HeaderRequest: fmt.Sprint(idx)})
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			recv(t, e.pipe.relays, "relay outcome")
			recv(t, e.ends, "provider stream end")
			if got := e.src.gotMaxTokens(idx); got != tt.want {
				t.Errorf("provider got max_tokens %d, want %d", got, tt.want)
			}
		})
	}
}

// TestSlowHeaderDropped sends half a request header over a raw connection
// and expects ReadHeaderTimeout to close it.
func TestSlowHeaderDropped(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), ServerOptions{ReadHeaderTimeout: 200 * time.Millisecond})
	ln := serveRaw(t, srv)

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: "); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(bound))
	n, err := conn.Read(make([]byte, 1024))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", bound)
	}
	if err == nil {
		// net/http may answer 408 before closing; the next read must end.
		_, err = io.Copy(io.Discard, conn)
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("read = %d, %v; want the server to close the connection", n, err)
	}
}

// TestListenAddr: only loopback addresses are accepted unless remote
// clients are allowed. (The address check is tested apart from listening,
// which would take ports others may hold.)
func TestListenAddr(t *testing.T) {
	tests := []struct {
		addr        string
		allowRemote bool
		wantErr     bool
	}{
		{"127.0.0.1:0", false, false},
		{"127.0.0.2:8080", false, false},
		{"[::1]:0", false, false},
		{"localhost:0", false, false},
		{":8080", false, true},
		{"0.0.0.0:8080", false, true},
		{"10.1.2.3:80", false, true},
		{"example.com:80", false, true},
		{":8080", true, false},
		{"no-port", false, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/remote=%v", tt.addr, tt.allowRemote), func(t *testing.T) {
			err := checkAddr(tt.addr, tt.allowRemote)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
	// Listen refuses before it binds, and binds what it accepts; BaseURL
	// dials the loopback address for a listener on every interface.
	if ln, err := Listen("0.0.0.0:0", false); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("Listen(0.0.0.0:0) = %v, %v; want refused", ln, err)
		if ln != nil {
			ln.Close()
		}
	}
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got, want := BaseURL(ln), "http://"+ln.Addr().String(); got != want {
		t.Errorf("BaseURL = %q, want %q", got, want)
	}
	all, err := Listen("0.0.0.0:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if got, want := BaseURL(all), fmt.Sprintf("http://127.0.0.1:%d", all.Addr().(*net.TCPAddr).Port); got != want {
		t.Errorf("BaseURL of 0.0.0.0 = %q, want %q", got, want)
	}
}

type fixedCounts struct{ inFlight, records, tokens int64 }

func (f fixedCounts) InFlight() int64 { return f.inFlight }
func (f fixedCounts) Totals() accounting.Totals {
	return accounting.Totals{Records: f.records, Charged: f.tokens}
}

func TestHealthAndMetrics(t *testing.T) {
	f := fixedCounts{inFlight: 3, records: 10, tokens: 250}
	ts := startServer(t, http.NotFoundHandler(), ServerOptions{InFlight: f, Ledger: f})
	defer ts.Close()
	c := ts.Client()

	resp, err := c.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}

	resp, err = c.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m Metrics
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.InFlightStreams != 3 || m.LedgerRecords != 10 || m.LedgerTokens != 250 || m.Goroutines <= 0 || m.HeapInUseBytes == 0 {
		t.Errorf("/metrics = %+v", m)
	}
}

// TestHTTPSource drives the Source adapter over canned provider bodies.
func TestHTTPSource(t *testing.T) {
	info := &sse.StreamInfo{ID: "x", Model: "m", Extensions: true}
	plain := &sse.StreamInfo{ID: "x", Model: "m"}
	usage := &impls.Usage{PromptTokens: 1, CompletionTokens: 3, TotalTokens: 4}
	var full, plainBody, truncated, errorEvent, finishThenCut []byte
	full = sse.AppendChunk(full, info, &impls.Chunk{Seq: 0, Content: []byte("a"), Tokens: 2})
	full = sse.AppendChunk(full, info, &impls.Chunk{Seq: 1, Content: []byte("b"), Tokens: 1, FinishReason: "stop"})
	full = sse.AppendUsage(full, info, usage)
	full = sse.AppendDone(full)
	plainBody = sse.AppendChunk(plainBody, plain, &impls.Chunk{Seq: 0, Content: []byte("a")})
	plainBody = sse.AppendChunk(plainBody, plain, &impls.Chunk{Seq: 1, FinishReason: "stop"})
	plainBody = sse.AppendDone(plainBody)
	truncated = sse.AppendChunk(truncated, info, &impls.Chunk{Seq: 0, Content: []byte("a"), Tokens: 1})
	truncated = append(truncated, "data: {\"id\""...)
	errorEvent = sse.AppendError(sse.AppendChunk(errorEvent, info, &impls.Chunk{Seq: 0, Content: []byte("a"), Tokens: 1}), "overloaded", "server_error")
	finishThenCut = sse.AppendChunk(finishThenCut, info, &impls.Chunk{Seq: 0, Content: []byte("a"), Tokens: 1, FinishReason: "length"})

	tests := []struct {
		name    string
		body    []byte
		want    []impls.Chunk
		wantErr error
	}{
		{"usage merged into the finish chunk", full, []impls.Chunk{
			{Seq: 0, Content: []byte("a"), Tokens: 2},
			{Seq: 1, Content: []byte("b"), Tokens: 1, FinishReason: "stop", Usage: usage},
		}, io.EOF},
		{"plain OpenAI counts a token per content chunk", plainBody, []impls.Chunk{
			{Seq: 0, Content: []byte("a"), Tokens: 1},
			{Seq: 1, FinishReason: "stop"},
		}, io.EOF},
		{"truncated stream fails", truncated, []impls.Chunk{{Seq: 0, Content: []byte("a"), Tokens: 1}}, impls.ErrProviderFailed},
		{"error event fails", errorEvent, []impls.Chunk{{Seq: 0, Content: []byte("a"), Tokens: 1}}, impls.ErrProviderFailed},
		{"finish chunk kept when the stream is cut after it", finishThenCut, []impls.Chunk{{Seq: 0, Content: []byte("a"), Tokens: 1, FinishReason: "length"}}, impls.ErrProviderFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cancelled := false
			src := newHTTPSource(io.NopCloser(bytes.NewReader(tt.body)), func() { cancelled = true }, 0)
			var got []impls.Chunk
			var err error
			for {
				var c impls.Chunk
				if c, err = src.Next(t.Context()); err != nil {
					break
				}
				got = append(got, c)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("final error = %v, want %v", err, tt.wantErr)
			}
			if _, again := src.Next(t.Context()); !errors.Is(again, tt.wantErr) {
				t.Errorf("error not sticky: then %v", again)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			src.Close()
			src.Close()
			if !cancelled {
				t.Error("Close did not end the provider request")
			}
		})
	}
}

// BenchmarkRelay measures the HTTP mode's own cost per chunk (provider,
// gateway with a pass-through pipeline, client decode), all on loopback.
func BenchmarkRelay(b *testing.B) {
	const n = 1000
	src := newToySource(n, 0, -1)
	pipe := &passPipeline{relays: make(chan relayed, 1)}
	prov := NewProvider(src, ProviderOptions{Created: 1})
	provTS := httptest.NewServer(prov)
	defer provTS.Close()
	gw := NewGateway(pipe, provTS.URL+ProviderPath, provTS.Client(), GatewayOptions{})
	gwTS := httptest.NewServer(gw)
	defer gwTS.Close()
	body := chatBody(`,"user":"1"`)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := gwTS.Client().Post(gwTS.URL+GatewayPath, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		d := sse.NewDecoder(resp.Body, 0)
		events := 0
		for {
			if _, err := d.Next(); err != nil {
				break
			}
			events++
		}
		resp.Body.Close()
		if r := <-pipe.relays; r.out.Err != nil || events != n+1 {
			b.Fatalf("relay error %v, %d events", r.out.Err, events)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/chunk")
}

// serveRaw serves srv on a fresh loopback listener for the rest of the
// test, returning the listener (whose address raw-connection tests dial),
// and checks at cleanup that Serve ended only because srv was closed.
func serveRaw(t *testing.T, srv *http.Server) net.Listener {
	t.Helper()
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("Serve = %v", err)
		}
	})
	return ln
}

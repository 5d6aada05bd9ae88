package httpmode

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streambench/streambench/httpmode/sse"
	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/scenarios"
)

// stackScenario is small and quick: 30 chunks 5 ms apart, no random
// failures or disconnects (the tests disconnect on purpose), and a
// finalizer timeout of 1.5 s so the legacy design's late record can be
// awaited.
func stackScenario() *scenarios.Scenario {
	sc := scenarios.Default()
	sc.Name, sc.Seed, sc.TimeScale = "stacktest", 11, 1
	sc.Provider.TTFT = scenarios.ConstOf(2 * time.Millisecond)
	sc.Provider.InterChunk = scenarios.ConstOf(5 * time.Millisecond)
	sc.Provider.TokensPerChunk = scenarios.UniformOf[int64](2, 4)
	sc.Provider.ResponseTokens = scenarios.ConstOf[int64](90)
	sc.Limits.FinalizerTimeout = 1500 * time.Millisecond
	return sc
}

// stackEnv is a Stack of every built-in variant on a loopback server built
// by NewServer, with each provider stream's end reported by index.
type stackEnv struct {
	sc    *scenarios.Scenario
	stack *Stack
	ts    *httptest.Server
	mu    sync.Mutex
	ends  map[uint64]chan StreamEnd
}

func newStackEnv(t *testing.T, sopts ServerOptions) *stackEnv {
	t.Helper()
	e := &stackEnv{sc: stackScenario(), ends: map[uint64]chan StreamEnd{}}
	// The listener first, the Stack with its address, then the server.
	e.ts = httptest.NewUnstartedServer(nil)
	s, err := NewStack(BaseURL(e.ts.Listener), e.sc, variant.Builtin(), StackOptions{
		Provider: ProviderOptions{OnStreamEnd: func(se StreamEnd) { e.endCh(se.Index) <- se }},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.stack = s
	e.ts.Config = NewServer(s.Handler(), sopts)
	e.ts.Start()
	t.Cleanup(func() {
		e.ts.Close()
		s.CloseIdleConnections()
	})
	return e
}

func (e *stackEnv) endCh(idx uint64) chan StreamEnd {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.ends[idx]
	if !ok {
		ch = make(chan StreamEnd, 1)
		e.ends[idx] = ch
	}
	return ch
}

func (e *stackEnv) post(t *testing.T, name string, idx uint64) *http.Response {
	t.Helper()
	return post(t, t.Context(), e.ts.Client(), e.ts.URL+"/"+name+GatewayPath,
		chatBody(`,"stream_options":{"include_usage":true}`), map[string]string{HeaderRequest: strconv.FormatUint(idx, 10)})
}

// eventually polls cond until it holds or bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStackEveryVariant(t *testing.T) {
	e := newStackEnv(t, ServerOptions{})
	for vi, v := range variant.Builtin() {
		tr := v.Traits()
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			led := e.stack.Ledger(v.Name)
			base := uint64(vi * 10)

			// A whole stream is relayed chunk for chunk, and billed in full.
			full := base + 1
			plan := e.sc.Request(full)
			resp := e.post(t, v.Name, full)
			got := readStream(t, resp.Body)
			resp.Body.Close()
			var want []byte
			for k := range plan.Chunks {
				want = append(want, plan.Chunk(k).Content...)
			}
			if !bytes.Equal(got.content, want) || len(got.chunks) != plan.Chunks || !got.done {
				t.Fatalf("relayed %d chunks %q (done %v), want %d chunks %q", len(got.chunks), got.content, got.done, plan.Chunks, want)
			}
			wantUsage := plan.Usage
			wantUsage.PromptTokens, wantUsage.TotalTokens = chatPrompt, chatPrompt+plan.Usage.CompletionTokens
			if got.usage == nil || *got.usage != wantUsage {
				t.Errorf("usage %+v, want %+v", got.usage, wantUsage)
			}
			se := recv(t, e.endCh(full), "provider stream end")
			if se.Cancelled || se.Produced != int64(plan.Chunks) {
				t.Errorf("complete stream: provider end %+v, want %d produced, not cancelled", se, plan.Chunks)
			}
			if tr.Persists {
				eventually(t, "record of the complete stream", func() bool { r := led.Totals().Records; return r == 1 })
				if s := led.Totals(); s.Charged != plan.Tokens || s.RecordTokens != plan.Tokens {
					t.Errorf("billed %d tokens (records say %d), want %d", s.Charged, s.RecordTokens, plan.Tokens)
				}
			}

			// A client that leaves after 3 chunks.
			left := base + 2
			lplan := e.sc.Request(left)
			resp = e.post(t, v.Name, left)
			dec := sse.NewDecoder(resp.Body, 0)
			var tokens int64
			for range 3 {
				ev, err := dec.Next()
				if err != nil {
					t.Fatal(err)
				}
				p, err := sse.ParseChunk(ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				tokens += p.Tokens
			}
			resp.Body.Close()
			se = recv(t, e.endCh(left), "provider stream end after a disconnect")
			if tr.Cancels {
				if !se.Cancelled || se.Produced >= int64(lplan.Chunks) {
					t.Errorf("%s cancels, yet the provider %+v ran on (plan has %d chunks)", v.Name, se, lplan.Chunks)
				}
			} else if tr.DetachedFinalizer && (se.Cancelled || se.Produced != int64(lplan.Chunks)) {
				// Note: the legacy design without cancellation keeps
				// reading; the pass-through (no cancellation either)
				// stops at its failed write, so it has no check here.
				t.Errorf("%s does not cancel, yet the provider stopped: %+v (plan has %d chunks)", v.Name, se, lplan.Chunks)
			}
			eventually(t, "gateway idle", func() bool { return e.stack.Gateway(v.Name).InFlight() == 0 })
			switch {
			case !tr.Persists:
				if lt := led.Totals(); lt.Records != 0 || lt.Charged != 0 {
					t.Errorf("%s persists nothing, yet the ledger has %d records, %d tokens", v.Name, lt.Records, lt.Charged)
				}
			case tr.DetachedFinalizer && !tr.SenderDropped:
				// Note: the provider ran to its end (~150 ms); the
				// finalizer waits 1.5 s from the relay's start.
				if r := led.Totals().Records; r != 1 {
					t.Errorf("detached finalizer: %d records before its timeout, want 1 (the complete stream's)", r)
				}
				eventually(t, "the detached finalizer's late record", func() bool { r := led.Totals().Records; return r == 2 })
			default:
				eventually(t, "the partial record", func() bool { r := led.Totals().Records; return r == 2 })
				billed := led.Totals().Charged - plan.Tokens
				if billed < tokens || (!tr.OverbillsOnDisconnect && billed >= lplan.Tokens) {
					t.Errorf("partial stream billed %d tokens; the client read %d of %d", billed, tokens, lplan.Tokens)
				}
			}
			if s := led.Totals(); s.Duplicated != 0 {
				t.Errorf("%d duplicate records", s.Duplicated)
			}
		})
	}
}

func TestStackBadRequests(t *testing.T) {
	e := newStackEnv(t, ServerOptions{MaxBodyBytes: 4096})
	url := e.ts.URL + "/lockfree" + GatewayPath
	for _, tc := range []struct {
		name, method, url, body string
		want                    int
	}{
		{"GET", http.MethodGet, url, "", http.StatusMethodNotAllowed},
		{"malformed JSON", http.MethodPost, url, `{"model":`, http.StatusBadRequest},
		{"not streaming", http.MethodPost, url, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, http.StatusBadRequest},
		{"no messages", http.MethodPost, url, `{"model":"m","stream":true}`, http.StatusBadRequest},
		{"negative max_tokens", http.MethodPost, url, chatBody(`,"max_tokens":-1`), http.StatusBadRequest},
		{"body too large", http.MethodPost, url, chatBody(`,"pad":"` + strings.Repeat("x", 8192) + `"`), http.StatusRequestEntityTooLarge},
		{"zero max_tokens", http.MethodPost, url, chatBody(`,"max_tokens":0`), http.StatusBadRequest},
		{"two choices", http.MethodPost, url, chatBody(`,"n":2`), http.StatusBadRequest},
		{"unknown variant", http.MethodPost, e.ts.URL + "/nosuch" + GatewayPath, chatBody(""), http.StatusNotFound},
		{"no route at all", http.MethodGet, e.ts.URL + "/", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, tc.url, strings.NewReader(tc.body))
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				t.Errorf("status %d (%s), want %d", resp.StatusCode, b, tc.want)
			}
			checkJSONError(t, resp, "invalid_request_error")
		})
	}
}

func TestStackSlowHeaderDropped(t *testing.T) {
	e := newStackEnv(t, ServerOptions{ReadHeaderTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /lockfree/v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
	c.SetReadDeadline(time.Now().Add(bound))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a slow-header connection open for %v", bound)
	}
	if len(b) > 0 && !bytes.Contains(b, []byte("408")) {
		t.Errorf("slow-header client got %q, want the connection closed (or a 408)", b)
	}
}

func TestStackMetrics(t *testing.T) {
	e := newStackEnv(t, ServerOptions{})
	resp := e.post(t, "lockfree", 5)
	readStream(t, resp.Body)
	resp.Body.Close()
	eventually(t, "record", func() bool { return e.stack.Ledger("lockfree").Totals().Records == 1 })
	m := e.stack.Metrics(time.Now())
	plan := e.sc.Request(5)
	g := m.Gateways["lockfree"]
	if m.Scenario != "stacktest" || m.Provider.Chunks != int64(plan.Chunks) || g.Outcomes.Delivered != int64(plan.Chunks) ||
		g.Ledger.Charged != plan.Tokens || g.Gateway.Completed != 1 || len(m.Gateways) != len(variant.Builtin()) || m.CPUNS <= 0 {
		b, _ := json.Marshal(m)
		t.Errorf("metrics after one %d-chunk stream: %s", plan.Chunks, b)
	}
}

func TestScenarioSourceMaxTokens(t *testing.T) {
	sc := stackScenario()
	plan := sc.Request(3)
	it := NewScenarioSource(sc).Stream(3, 10)
	var tokens, n int64
	var last string
	for {
		c, _, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		tokens += c.Tokens
		last = c.FinishReason
		if c.Usage != nil && c.Usage.CompletionTokens != tokens {
			t.Errorf("usage says %d completion tokens, %d were sent", c.Usage.CompletionTokens, tokens)
		}
	}
	if tokens != 10 || last != "length" {
		t.Errorf("max_tokens 10: sent %d tokens in %d chunks ending %q; plan has %d", tokens, n, last, plan.Tokens)
	}
}

// TestScenarioSourceNeverExceedsMaxTokens: for every bound, exactly
// min(bound, the plan's tokens) are sent (the chunk that would pass the
// bound is cut, its content in proportion), and the finish reason is
// "length" only when the bound cut the response.
func TestScenarioSourceNeverExceedsMaxTokens(t *testing.T) {
	sc := stackScenario()
	src := NewScenarioSource(sc)
	for idx := uint64(0); idx < 5; idx++ {
		plan := sc.Request(idx)
		for limit := int64(1); limit <= plan.Tokens+2; limit++ {
			it := src.Stream(idx, int(limit))
			var tokens, bytes int64
			var last impls.Chunk
			for {
				c, _, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				tokens += c.Tokens
				bytes += int64(len(c.Content))
				last = c
			}
			want, reason := min(limit, plan.Tokens), "stop"
			if limit < plan.Tokens {
				reason = "length"
			}
			if tokens != want || bytes != 4*want || last.FinishReason != reason || last.Usage == nil || last.Usage.CompletionTokens != want {
				t.Fatalf("request %d, max_tokens %d: sent %d tokens (%d bytes), finish %q, usage %+v; want %d tokens, finish %q",
					idx, limit, tokens, bytes, last.FinishReason, last.Usage, want, reason)
			}
		}
	}
}

// TestStackServesAnyOpenAIClient: a request with no streambench identity
// (what any OpenAI client sends) is served by the provider and by a
// gateway, each request with a stream of its own, and the usage's prompt
// follows the request's messages.
func TestStackServesAnyOpenAIClient(t *testing.T) {
	e := newStackEnv(t, ServerOptions{})
	for _, path := range []string{ProviderPath, "/lockfree" + GatewayPath, "/mutex" + GatewayPath} {
		ids := map[string]bool{}
		for range 2 {
			resp := post(t, t.Context(), e.ts.Client(), e.ts.URL+path, chatBody(`,"stream_options":{"include_usage":true}`), nil)
			got := readStream(t, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !got.done || len(got.chunks) == 0 {
				t.Fatalf("%s without identity: status %d, %d chunks, done %v", path, resp.StatusCode, len(got.chunks), got.done)
			}
			if got.usage == nil || got.usage.PromptTokens != chatPrompt {
				t.Errorf("%s: usage %+v, want %d prompt tokens (from the messages)", path, got.usage, chatPrompt)
			}
			id := got.chunks[0].ID
			ids[id] = true
			idx, err := strconv.ParseUint(strings.TrimPrefix(id, "chatcmpl-"), 10, 64)
			if err != nil {
				t.Fatalf("stream id %q", id)
			}
			recv(t, e.endCh(idx), "provider stream end")
		}
		if len(ids) != 2 {
			t.Errorf("%s: two identity-less requests got stream ids %v, want two distinct", path, ids)
		}
	}
}

// TestStackLedgerPool: with a scenario's ledger section every gateway's
// ledger has a connection pool of its own, as every in-process trial
// does, and /metrics reports it; without one, none.
func TestStackLedgerPool(t *testing.T) {
	sc := stackScenario()
	sc.Ledger = &scenarios.Ledger{Persist: scenarios.ConstOf(time.Millisecond), Pool: 3}
	s, err := NewStack("http://127.0.0.1:1", sc, variant.Builtin(), StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[any]string{}
	for _, v := range variant.Builtin() {
		p := s.Ledger(v.Name).Pool
		if p == nil {
			t.Fatalf("%s: no ledger pool", v.Name)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("%s and %s share a ledger pool", v.Name, other)
		}
		seen[p] = v.Name
	}
	g := s.Metrics(time.Now()).Gateways["lockfree"]
	if g.Ledger.Pool == nil || g.Ledger.Pool.Conns != 3 {
		t.Errorf("metrics ledger pool %+v, want 3 connections", g.Ledger.Pool)
	}
	plain, err := NewStack("http://127.0.0.1:1", stackScenario(), variant.Builtin(), StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := plain.Ledger("mutex").Pool; p != nil || plain.Metrics(time.Now()).Gateways["mutex"].Ledger.Pool != nil {
		t.Errorf("a scenario without a ledger section got a pool")
	}
}

// TestLabelled: with profile labels on, a handler (and so every goroutine it
// starts) runs under its role's labels; off, it runs as it is.
func TestLabelled(t *testing.T) {
	var role, name string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, _ = pprof.Label(r.Context(), "role")
		name, _ = pprof.Label(r.Context(), "variant")
	})
	for _, tc := range []struct {
		on                 bool
		wantRole, wantName string
	}{{true, "gateway", "lockfree"}, {false, "", ""}} {
		role, name = "", ""
		labelled(tc.on, h, "role", "gateway", "variant", "lockfree").ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
		if role != tc.wantRole || name != tc.wantName {
			t.Errorf("on=%v: labels role=%q variant=%q, want %q and %q", tc.on, role, name, tc.wantRole, tc.wantName)
		}
	}
}

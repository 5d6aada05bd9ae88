package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// minimal is the smallest valid scenario file; tests append to it.
const minimal = `name: t
provider:
  response_tokens: 10
load:
  model: closed
  concurrency: 2
  duration: 1s
`

func TestParseMinimalDefaults(t *testing.T) {
	s, err := Parse("t.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "t"
	want.Provider.ResponseTokens = ConstOf[int64](10)
	want.Load = Load{Model: Closed, Concurrency: 2, Duration: time.Second}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Parse(minimal) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseFull(t *testing.T) {
	const file = `name: full
description: every field
seed: 42
time_scale: 0.5
provider:
  ttft: {normal: {mean: 30ms, stddev: 10ms, max: 100ms}}
  inter_chunk: {uniform: [10ms, 40ms]}
  tokens_per_chunk: {const: 3}
  bytes_per_token: {uniform: [2, 6]}
  response_tokens: {lognormal: {median: 400, sigma: 0.5, min: 1, max: 5000}}
  prompt_tokens: {exp: {mean: 100}}
  fail_probability: 0.25
  stall_probability: 1
  stall: 2s
  finish_reason: length
  max_concurrent: 8
  tokens_per_s: 2500.5
client:
  read_delay: {exp: {mean: 5ms}}
  disconnect_probability: 0.5
  disconnect_after: {uniform: [1s, 2s]}
load:
  model: open
  rate: 12.5
  arrival: poisson
  requests: 1000
  warmup: 0
limits:
  content_cap: 64KiB
  finalizer_timeout: 10m
slo:
  ttft: 500ms
  e2e: 5s
`
	s, err := Parse("full.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	after := UniformOf(time.Second, 2*time.Second)
	want := &Scenario{
		Name: "full", Description: "every field", Seed: 42, TimeScale: 0.5,
		Provider: Provider{
			TTFT:             DurationDist{Kind: Normal, Mean: 30 * time.Millisecond, Stddev: 10 * time.Millisecond, Max: 100 * time.Millisecond},
			InterChunk:       UniformOf(10*time.Millisecond, 40*time.Millisecond),
			TokensPerChunk:   ConstOf[int64](3),
			BytesPerToken:    UniformOf[int64](2, 6),
			ResponseTokens:   IntDist{Kind: LogNormal, Median: 400, Sigma: 0.5, Min: 1, Max: 5000},
			PromptTokens:     ExpOf[int64](100),
			FailProbability:  0.25,
			StallProbability: 1,
			Stall:            ConstOf(2 * time.Second),
			FinishReason:     "length",
			MaxConcurrent:    8,
			TokensPerS:       2500.5,
		},
		Client: Client{ReadDelay: ExpOf(5 * time.Millisecond), DisconnectProbability: 0.5, DisconnectAfter: &after},
		Load:   Load{Model: Open, Rate: 12.5, Arrival: Poisson, Requests: 1000},
		Limits: Limits{ContentCap: 64 << 10, FinalizerTimeout: 10 * time.Minute},
		SLO:    SLO{TTFT: 500 * time.Millisecond, E2E: 5 * time.Second},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

// TestParseLedger: the ledger section is optional (nil without it); with
// it, persist and charge are distributions (default zero) and pool is
// required.
func TestParseLedger(t *testing.T) {
	s, err := Parse("l.yaml", []byte(minimal+"ledger: {persist: {uniform: [5ms, 15ms]}, charge: 2ms, pool: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Ledger{Persist: UniformOf(5*time.Millisecond, 15*time.Millisecond), Charge: ConstOf(2 * time.Millisecond), Pool: 3}
	if diff := cmp.Diff(want, s.Ledger); diff != "" {
		t.Errorf("ledger mismatch (-want +got):\n%s", diff)
	}
	if c := s.Clone(); c.Ledger == s.Ledger || *c.Ledger != *s.Ledger {
		t.Errorf("Clone shares or changes the ledger section: %p %p", c.Ledger, s.Ledger)
	}
	s, err = Parse("l.yaml", []byte(minimal))
	if err != nil || s.Ledger != nil {
		t.Fatalf("no ledger section: ledger %+v, err %v; want nil", s.Ledger, err)
	}
	if d := s.LedgerPersist(3) + s.LedgerCharge(3); d != 0 {
		t.Errorf("no ledger section: draws %v, want 0", d)
	}
}

// TestParseBadFiles checks that each bad file is refused with exactly the
// expected problems, each with its line and field.
func TestParseBadFiles(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"unknown top-level field", minimal + "colour: red\n",
			[]string{"bad.yaml:8: colour: unknown field (want one of name, description, seed, time_scale, provider, client, load, limits, ledger, slo)"}},
		{"unknown nested field", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  temperature: 1\n", 1),
			[]string{"bad.yaml:4: provider.temperature: unknown field (want one of ttft, inter_chunk, tokens_per_chunk, bytes_per_token, response_tokens, prompt_tokens, fail_probability, stall_probability, stall, finish_reason, max_concurrent, tokens_per_s)"}},
		{"duplicate field", minimal + "seed: 1\nseed: 2\n",
			[]string{"bad.yaml:9: seed: duplicate field"}},
		{"missing name", strings.Replace(minimal, "name: t\n", "", 1),
			[]string{"bad.yaml:1: name: required"}},
		{"bad name", strings.Replace(minimal, "name: t", "name: my scenario", 1),
			[]string{`bad.yaml:1: name: must be letters, digits, '.', '_' or '-', starting with a letter or digit (got "my scenario")`}},
		{"name not a string", strings.Replace(minimal, "name: t", "name: [a]", 1),
			[]string{"bad.yaml:1: name: must be a string, got a list"}},
		{"seed negative", minimal + "seed: -1\n",
			[]string{"bad.yaml:8: seed: must be a non-negative integer, got -1"}},
		{"time scale zero", minimal + "time_scale: 0\n",
			[]string{"bad.yaml:8: time_scale: must be > 0 (got 0)"}},
		{"time scale word", minimal + "time_scale: fast\n",
			[]string{`bad.yaml:8: time_scale: must be a number, got "fast"`}},
		{"negative delay", minimal + "client:\n  read_delay: -5ms\n",
			[]string{"bad.yaml:9: client.read_delay: must be >= 0s (got -5ms)"}},
		{"duration without unit", minimal + "client:\n  read_delay: 20\n",
			[]string{`bad.yaml:9: client.read_delay: must be a duration such as "20ms" or "1.5s", got 20`}},
		{"uniform max below min", minimal + "client:\n  read_delay: {uniform: [10ms, 5ms]}\n",
			[]string{"bad.yaml:9: client.read_delay.max: must be >= min (got 5ms < 10ms)"}},
		{"uniform not a pair", minimal + "client:\n  read_delay: {uniform: [10ms]}\n",
			[]string{"bad.yaml:9: client.read_delay: uniform must be [lo, hi], got a list"}},
		{"unknown distribution", minimal + "client:\n  read_delay: {gamma: 3}\n",
			[]string{`bad.yaml:9: client.read_delay: unknown distribution "gamma" (want const, uniform, normal, lognormal or exp)`}},
		{"two distributions", minimal + "client:\n  read_delay: {const: 1ms, exp: {mean: 1ms}}\n",
			[]string{"bad.yaml:9: client.read_delay: must be a value or one of {const: v}, {uniform: [lo, hi]}, {normal: {mean, stddev}}, {lognormal: {median, sigma}}, {exp: {mean}}"}},
		{"normal missing stddev", minimal + "client:\n  read_delay: {normal: {mean: 3ms}}\n",
			[]string{"bad.yaml:9: client.read_delay.stddev: required"}},
		{"lognormal negative sigma", minimal + "client:\n  read_delay: {lognormal: {median: 3ms, sigma: -1}}\n",
			[]string{"bad.yaml:9: client.read_delay.sigma: must be >= 0 (got -1)"}},
		{"clamp max below min", minimal + "client:\n  read_delay:\n    exp:\n      mean: 3ms\n      min: 2ms\n      max: 1ms\n",
			[]string{"bad.yaml:13: client.read_delay.max: must be >= min (got 1ms < 2ms)"}},
		{"zero tokens per chunk", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  tokens_per_chunk: {uniform: [0, 4]}\n", 1),
			[]string{"bad.yaml:4: provider.tokens_per_chunk.min: must be >= 1 (got 0)"}},
		{"int distribution given a float", strings.Replace(minimal, "response_tokens: 10", "response_tokens: 10.5", 1),
			[]string{"bad.yaml:3: provider.response_tokens: must be an integer, got 10.5"}},
		{"probability above one", minimal + "provider_extra: 1\n",
			[]string{"bad.yaml:8: provider_extra: unknown field (want one of name, description, seed, time_scale, provider, client, load, limits, ledger, slo)"}},
		{"fail probability out of range", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  fail_probability: 1.5\n", 1),
			[]string{"bad.yaml:4: provider.fail_probability: must be a probability in [0, 1] (got 1.5)"}},
		{"negative max concurrent", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  max_concurrent: -1\n", 1),
			[]string{"bad.yaml:4: provider.max_concurrent: must be 0 (no limit) or 1 to 100000 streams (got -1)"}},
		{"max concurrent not an integer", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  max_concurrent: 2.5\n", 1),
			[]string{"bad.yaml:4: provider.max_concurrent: must be an integer, got 2.5"}},
		{"negative tokens per second", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  tokens_per_s: -100\n", 1),
			[]string{"bad.yaml:4: provider.tokens_per_s: must be 0 (no bound) or a rate > 0 tokens per second (got -100)"}},
		{"tokens per second a word", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  tokens_per_s: fast\n", 1),
			[]string{`bad.yaml:4: provider.tokens_per_s: must be a number, got "fast"`}},
		{"stall probability without stall", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  stall_probability: 0.5\n", 1),
			[]string{"bad.yaml:2: provider.stall: required when stall_probability > 0"}},
		{"disconnect without point", minimal + "client:\n  disconnect_probability: 0.3\n",
			[]string{"bad.yaml:9: client.disconnect_probability: needs disconnect_after_chunks or disconnect_after"}},
		{"disconnect both points", minimal + "client:\n  disconnect_probability: 0.3\n  disconnect_after_chunks: 3\n  disconnect_after: 1s\n",
			[]string{"bad.yaml:11: client.disconnect_after: set only one of disconnect_after_chunks and disconnect_after"}},
		{"zero concurrency", strings.Replace(minimal, "concurrency: 2", "concurrency: 0", 1),
			[]string{"bad.yaml:6: load.concurrency: must be >= 1 for the closed model (got 0)"}},
		{"concurrency past the bound", strings.Replace(minimal, "concurrency: 2", "concurrency: 10000000", 1),
			[]string{"bad.yaml:6: load.concurrency: must be at most 100000 (got 10000000)"}},
		{"open concurrency past the bound", strings.Replace(minimal, "model: closed\n  concurrency: 2", "model: open\n  rate: 5\n  concurrency: 100001", 1),
			[]string{"bad.yaml:7: load.concurrency: must be at most 100000 (got 100001)"}},
		{"unknown model", strings.Replace(minimal, "model: closed", "model: ajar", 1),
			[]string{`bad.yaml:5: load.model: must be closed or open (got "ajar")`}},
		{"open without rate", strings.Replace(minimal, "model: closed", "model: open", 1),
			[]string{"bad.yaml:4: load.rate: must be > 0 requests per second (got 0)"}},
		{"open negative rate", strings.Replace(minimal, "model: closed", "model: open\n  rate: -3", 1),
			[]string{"bad.yaml:6: load.rate: must be > 0 requests per second (got -3)"}},
		{"rate on closed model", minimal + "  rate: 5\n",
			[]string{"bad.yaml:8: load.rate: applies to the open model only"}},
		{"unknown arrival", strings.Replace(minimal, "model: closed", "model: open\n  rate: 3\n  arrival: bursty", 1),
			[]string{`bad.yaml:7: load.arrival: must be constant or poisson (got "bursty")`}},
		{"neither duration nor requests", strings.Replace(minimal, "  duration: 1s\n", "", 1),
			[]string{"bad.yaml:4: load.duration: required: set exactly one of duration and requests"}},
		{"both duration and requests", minimal + "  requests: 10\n",
			[]string{"bad.yaml:8: load.requests: set only one of duration and requests"}},
		{"warmup too long", minimal + "  warmup: 2s\n",
			[]string{"bad.yaml:8: load.warmup: must be shorter than duration (got 2s >= 1s)"}},
		{"missing load", "name: t\nprovider:\n  response_tokens: 3\n",
			[]string{"bad.yaml:1: load: required"}},
		{"content cap below a chunk", minimal + "limits:\n  content_cap: 8\n",
			[]string{"bad.yaml:9: limits.content_cap: must be 0 or >= one chunk's maximum size (got 8 < 16 bytes)"}},
		{"content cap unbounded chunk", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  tokens_per_chunk: {exp: {mean: 4}}\n", 1) + "limits:\n  content_cap: 1KiB\n",
			[]string{"bad.yaml:10: limits.content_cap: must be 0 or >= one chunk's maximum size (got 1024 < 65536 bytes)"}},
		{"content cap bad unit", minimal + "limits:\n  content_cap: 3 parsecs\n",
			[]string{`bad.yaml:9: limits.content_cap: must be a byte count such as 65536 or "64KiB" (B, KiB, MiB, GiB, TiB), got "3 parsecs"`}},
		{"chunk too large", strings.Replace(minimal, "  response_tokens: 10\n", "  response_tokens: 10\n  tokens_per_chunk: 1000\n  bytes_per_token: 100\n", 1),
			[]string{"bad.yaml:4: provider.tokens_per_chunk: chunks could hold up to 1000 tokens × 100 bytes, more than the maximum 65536 bytes"}},
		{"alias", minimal + "client:\n  read_delay: &d 3ms\n  disconnect_after: *d\n",
			[]string{"bad.yaml:10: client.disconnect_after: YAML aliases are not supported"}},
		{"ledger without pool", minimal + "ledger:\n  persist: 5ms\n",
			[]string{"bad.yaml:8: ledger.pool: required"}},
		{"ledger pool zero", minimal + "ledger:\n  persist: 5ms\n  pool: 0\n",
			[]string{"bad.yaml:10: ledger.pool: must be >= 1 connection (got 0)"}},
		{"ledger pool past the bound", minimal + "ledger:\n  pool: 100001\n",
			[]string{"bad.yaml:9: ledger.pool: must be at most 100000 (got 100001)"}},
		{"ledger negative charge", minimal + "ledger:\n  charge: -1ms\n  pool: 2\n",
			[]string{"bad.yaml:9: ledger.charge: must be >= 0s (got -1ms)"}},
		{"ledger unknown field", minimal + "ledger:\n  pool: 2\n  retries: 3\n",
			[]string{"bad.yaml:10: ledger.retries: unknown field (want one of persist, charge, pool)"}},
		{"slo without a bound", minimal + "slo: {}\n",
			[]string{"bad.yaml:8: slo: sets no bound: give ttft, e2e or both"}},
		{"slo unknown bound", minimal + "slo:\n  itl: 5ms\n",
			[]string{"bad.yaml:9: slo.itl: unknown field (want one of ttft, e2e)"}},
		{"slo negative", minimal + "slo:\n  ttft: -5ms\n",
			[]string{"bad.yaml:9: slo.ttft: must be >= 0 (got -5ms)"}},
		{"slo ttft past e2e", minimal + "slo:\n  ttft: 2s\n  e2e: 1s\n",
			[]string{"bad.yaml:9: slo.ttft: must not exceed slo.e2e: the first chunk comes before the last (got 2s > 1s)"}},
		{"section not a mapping", strings.Replace(minimal, "load:\n  model: closed\n  concurrency: 2\n  duration: 1s\n", "load: fast\n", 1),
			[]string{`bad.yaml:4: load: must be a mapping, got "fast"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("bad.yaml", []byte(tt.file))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want errors", s)
			}
			var got []string
			for _, e := range err.(ErrorList) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	const file = `name: chat
provider:
  ttft: -1ms
  inter_chunk: {uniform: [10ms, 5ms]}
  response_tokens: 100
  fail_probability: 2
  mood: grumpy
client:
  read_delay: fast
load:
  model: closed
  concurrency: 0
limits:
  content_cap: -1
`
	_, err := Parse("chat.yaml", []byte(file))
	want := `chat.yaml:3: provider.ttft: must be >= 0s (got -1ms)
chat.yaml:4: provider.inter_chunk.max: must be >= min (got 5ms < 10ms)
chat.yaml:6: provider.fail_probability: must be a probability in [0, 1] (got 2)
chat.yaml:7: provider.mood: unknown field (want one of ttft, inter_chunk, tokens_per_chunk, bytes_per_token, response_tokens, prompt_tokens, fail_probability, stall_probability, stall, finish_reason, max_concurrent, tokens_per_s)
chat.yaml:9: client.read_delay: must be a duration such as "20ms" or "1.5s", got "fast"
chat.yaml:10: load.duration: required: set exactly one of duration and requests
chat.yaml:12: load.concurrency: must be >= 1 for the closed model (got 0)
chat.yaml:14: limits.content_cap: must be >= 0 (got -1)`
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "chat.yaml" || e.Line != 3 || e.Field != "provider.ttft" {
		t.Errorf("errors.As(err, *Error) = %+v, want the first problem", e)
	}
}

// TestParseNotAScenario checks that input that is not a scenario at all gets
// one clear error.
func TestParseNotAScenario(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "junk.yaml: empty file: not a scenario"},
		{"blank", "  \n\n", "junk.yaml: empty file: not a scenario"},
		{"comment only", "# nothing\n", "junk.yaml: empty file: not a scenario"},
		{"null", "~\n", "junk.yaml:1: not a scenario: want a mapping of fields (name, provider, client, load, limits), got null"},
		{"list", "- name: chat\n", "junk.yaml:1: not a scenario: want a mapping of fields (name, provider, client, load, limits), got a list"},
		{"scalar", "hello\n", `junk.yaml:1: not a scenario: want a mapping of fields (name, provider, client, load, limits), got "hello"`},
		{"binary", "\x00\x01\x02\xff\xfe", "junk.yaml: invalid YAML: control characters are not allowed"},
		{"bad syntax", "name: [unclosed\n", "junk.yaml:1: invalid YAML: did not find expected ',' or ']'"},
		{"two documents", minimal + "---\nname: u\n", "junk.yaml:8: more than one YAML document: a file holds one scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("junk.yaml", []byte(tt.data))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if l, ok := err.(ErrorList); !ok || len(l) != 1 {
				t.Errorf("Parse error = %#v, want an ErrorList of one", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateInCode(t *testing.T) {
	s := Default()
	s.Name = "code"
	s.Load.Duration = time.Second
	if err := s.Validate(); err == nil || err.Error() != "load.concurrency: must be >= 1 for the closed model (got 0)" {
		t.Fatalf("Validate(default without concurrency) = %v, want the concurrency problem", err)
	}
	s.Load.Concurrency = 1
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate(default with name and duration) = %v", err)
	}
	s.Provider.InterChunk = UniformOf(10*time.Millisecond, 5*time.Millisecond)
	s.Client.DisconnectProbability = -0.1
	want := "provider.inter_chunk.max: must be >= min (got 5ms < 10ms)\nclient.disconnect_probability: must be a probability in [0, 1] (got -0.1)"
	if err := s.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}

func TestBuiltins(t *testing.T) {
	want := []string{"burst", "chat", "disconnect", "firehose", "large", "production", "slow-consumer", "stall"}
	if diff := cmp.Diff(want, Names()); diff != "" {
		t.Fatalf("Names mismatch (-want +got):\n%s", diff)
	}
	for _, s := range Builtin() {
		t.Run(s.Name, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if s.Description == "" || strings.Contains(s.Description, "\n") {
				t.Errorf("description %q, want one line", s.Description)
			}
			if d := s.Load.Duration; d < time.Second || d > 30*time.Second {
				t.Errorf("default duration %v, want a few seconds", d)
			}
			// Chunks of about 4 tokens × 4 bytes.
			if m := s.Provider.MaxChunkSize(); m < 16 || m > 64 {
				t.Errorf("max chunk size %d bytes, want 16-64", m)
			}
		})
	}
	a, b := Builtin(), Builtin()
	a[0].Load.Concurrency = 999
	if b[0].Load.Concurrency == 999 {
		t.Error("Builtin returned shared scenarios, want fresh copies")
	}
}

// TestBuiltinBehaviour checks that each built-in does what its name says,
// over many drawn requests.
func TestBuiltinBehaviour(t *testing.T) {
	const n = 2000
	stats := func(name string) (disconnects, fails, stalls, overCap int, readDelay, gap time.Duration) {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint64(n) {
			p := s.Request(i)
			if p.DisconnectAfterChunks >= 0 || p.DisconnectAfter > 0 {
				disconnects++
			}
			if p.FailAtChunk >= 0 {
				fails++
			}
			if p.StallAtChunk >= 0 {
				stalls++
			}
			if s.Limits.ContentCap > 0 && p.Bytes > s.Limits.ContentCap {
				overCap++
			}
			if p.Chunks > 1 {
				readDelay += p.ReadDelay(1)
				gap += p.Chunk(1).Gap
			}
		}
		return
	}
	if d, _, _, _, _, _ := stats("disconnect"); d < n*20/100 || d > n*30/100 {
		t.Errorf("disconnect: %d of %d clients leave mid-stream, want 20-30%%", d, n)
	}
	if _, f, s, _, _, _ := stats("stall"); f < n*8/100 || f > n*12/100 || s < n*17/100 || s > n*23/100 {
		t.Errorf("stall: %d fail and %d stall of %d, want ~10%% and ~20%%", f, s, n)
	}
	if _, _, _, o, _, _ := stats("large"); o < n*30/100 || o > n*70/100 {
		t.Errorf("large: %d of %d beyond the content cap, want about half", o, n)
	}
	if _, _, _, _, r, g := stats("slow-consumer"); r <= g {
		t.Errorf("slow-consumer: total read delay %v <= total gap %v, want clients slower", r, g)
	}
	if d, f, s, o, r, g := stats("firehose"); d+f+s+o != 0 || r != 0 || g != 0 {
		t.Errorf("firehose: want no delays or events, got %d %d %d %d %v %v", d, f, s, o, r, g)
	}
}

func TestLookup(t *testing.T) {
	s, err := Lookup("chat")
	if err != nil || s.Name != "chat" {
		t.Fatalf("Lookup(chat) = %v, %v", s, err)
	}
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := Lookup(path); err != nil || s.Name != "t" {
		t.Errorf("Lookup(file) = %v, %v", s, err)
	}
	if err := os.WriteFile(path, []byte(minimal+"bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup(path); err == nil || !strings.HasPrefix(err.Error(), path+":8: bogus: unknown field") {
		t.Errorf("Lookup(bad file) error = %v, want the file's problem", err)
	}
	_, err = Lookup("chatty")
	want := `unknown scenario "chatty": not a built-in (burst, chat, disconnect, firehose, large, production, slow-consumer, stall) nor a readable file`
	if err == nil || err.Error() != want {
		t.Errorf("Lookup(chatty) error = %v, want %q", err, want)
	}
}

// TestHugeFiles: a file over MaxFileBytes is refused at once, and a file
// with many problems lists MaxListedErrors of them and counts the rest.
func TestHugeFiles(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimal)
	for i := 0; b.Len() <= MaxFileBytes; i++ {
		fmt.Fprintf(&b, "unknown_%d: 1\n", i)
	}
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	want := path + ": larger than 1048576 bytes: not a scenario (a scenario file is a few hundred bytes)"
	if _, err := LoadFile(path); err == nil || err.Error() != want {
		t.Errorf("LoadFile(huge) = %v, want %q", err, want)
	}
	if _, err := Parse("huge.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Parse(huge) = %v, want it refused by size", err)
	}

	b.Reset()
	b.WriteString(minimal)
	for i := range 50 {
		fmt.Fprintf(&b, "unknown_%d: 1\n", i)
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("Parse accepted 50 unknown fields")
	}
	if n := len(err.(ErrorList)); n != 50 {
		t.Errorf("%d problems kept, want all 50 (only the message is capped)", n)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxListedErrors+1 || lines[MaxListedErrors] != "... and 30 more problems" {
		t.Errorf("message has %d lines ending %q, want %d problems and \"... and 30 more problems\"", len(lines), lines[len(lines)-1], MaxListedErrors)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(""))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("name: x\nprovider: {ttft: {normal: {mean: 1ms, stddev: 2ms}}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	for _, name := range []string{"chat", "stall", "burst"} {
		data, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			l, ok := err.(ErrorList)
			if !ok || len(l) == 0 {
				t.Fatalf("Parse error %#v, want a non-empty ErrorList", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario that does not validate: %v", err)
		}
		p := s.Request(0)
		for k := range min(p.Chunks, 8) {
			_ = p.Chunk(k)
		}
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "64KiB": 64 << 10, "512 MiB": 512 << 20, "2GiB": 2 << 30, "1TiB": 1 << 40, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2GB", "-1", "1.5GiB", "9999999999TiB", "lots"} {
		if v, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, v)
		}
	}
}

package sse

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/streambench/streambench/impls"
)

// chunkEvents returns the data of events AppendChunk and AppendUsage write
// for a seeded variety of chunks: first chunks (with the role), finish
// reasons, empty content, escapes, non-ASCII, with and without the
// extension.
func chunkEvents() [][]byte {
	rng := rand.New(rand.NewPCG(4, 5))
	contents := []string{"hello", "", "a \"quoted\" word", "tab\there", "naïve ☃", "back\\slash", "<b>&amp;</b>", "\u2028x", strings.Repeat("z", 300)}
	var out [][]byte
	for i := range 200 {
		info := StreamInfo{ID: fmt.Sprintf("chatcmpl-%d", rng.IntN(5)), Created: rng.Int64N(2e9), Model: []string{"m", "gpt-4o", "mo\"del"}[rng.IntN(3)], Extensions: i%2 == 0}
		c := impls.Chunk{Seq: int64(rng.IntN(3)), Content: []byte(contents[rng.IntN(len(contents))]), Tokens: rng.Int64N(9)}
		switch rng.IntN(4) {
		case 0:
			c.FinishReason = "stop"
		case 1:
			c.FinishReason = "length"
		}
		ev := AppendChunk(nil, &info, &c)
		if i%17 == 0 {
			ev = AppendUsage(nil, &info, &impls.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7})
		}
		out = append(out, []byte(strings.TrimSuffix(strings.TrimPrefix(string(ev), "data: "), "\n\n")))
	}
	return out
}

// checkSame fails unless ParseChunkInto, on a reused ParsedChunk, gives
// what ParseChunk gives.
func checkSame(t *testing.T, p *ParsedChunk, data []byte) {
	t.Helper()
	want, wantErr := ParseChunk(data)
	err := ParseChunkInto(data, p)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: ParseChunkInto error %v, ParseChunk error %v", data, err, wantErr)
	}
	if err != nil {
		return
	}
	if diff := cmp.Diff(want, *p, cmpopts.IgnoreUnexported(ParsedChunk{})); diff != "" {
		t.Fatalf("%s: ParseChunkInto differs from ParseChunk (-want +got):\n%s", data, diff)
	}
}

func TestParseChunkIntoMatchesParseChunk(t *testing.T) {
	var p ParsedChunk
	fast := 0
	for _, data := range chunkEvents() {
		checkSame(t, &p, data)
		var q ParsedChunk
		if fastChunk(data, &q) {
			fast++
		}
	}
	// Most events take the fast path (no escapes, not a usage chunk);
	// the rest take encoding/json.
	if fast < 50 {
		t.Errorf("only %d of 200 events took the fast path", fast)
	}
	for _, bad := range []string{
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant",},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":01,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}x`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"streambench":{"seq":1,"tokens":2}}`,
		`{"error":{"message":"boom","type":"server_error"}}`,
	} {
		checkSame(t, &p, []byte(bad))
	}
}

func FuzzParseChunkInto(f *testing.F) {
	for _, data := range chunkEvents()[:40] {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p ParsedChunk
		checkSame(t, &p, data)
	})
}

// BenchmarkParseChunkInto compares encoding/json with the fast path on a
// typical content chunk.
func BenchmarkParseChunkInto(b *testing.B) {
	info := StreamInfo{ID: "chatcmpl-42", Created: 1796025938, Model: "streambench", Extensions: true}
	c := impls.Chunk{Seq: 7, Content: []byte("te i wstw ocde h"), Tokens: 4}
	data := []byte(strings.TrimSuffix(strings.TrimPrefix(string(AppendChunk(nil, &info, &c)), "data: "), "\n\n"))
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseChunk(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("into", func(b *testing.B) {
		b.ReportAllocs()
		var p ParsedChunk
		for b.Loop() {
			if err := ParseChunkInto(data, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/streambench/streambench/impls"
)

// TestOpenAIRoundTrip encodes a stream, decodes it with the Decoder and
// ParseChunk, and checks that every field survives.
func TestOpenAIRoundTrip(t *testing.T) {
	usage := &impls.Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17}
	tests := []struct {
		name   string
		info   StreamInfo
		chunks []impls.Chunk
	}{
		{
			name: "plain",
			info: StreamInfo{ID: "chatcmpl-1", Created: 1700000000, Model: "gpt-x"},
			chunks: []impls.Chunk{
				{Seq: 0, Content: []byte("Hello"), Tokens: 1},
				{Seq: 1, Content: []byte(", world"), Tokens: 2},
				{Seq: 2, FinishReason: "stop", Usage: usage},
			},
		},
		{
			name: "extensions and awkward text",
			info: StreamInfo{ID: "id \"q\"", Created: 1, Model: "m\\n", Extensions: true},
			chunks: []impls.Chunk{
				{Seq: 0, Content: []byte("line1\nline2\r\n\ttab \x00\x1f <b>&amp;</b>"), Tokens: 3},
				{Seq: 1, Content: []byte("日本語 \u2028 \u2029 😀"), Tokens: 4},
				{Seq: 2, Content: []byte("data: [DONE]\n\n"), Tokens: 1, FinishReason: "length", Usage: usage},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf []byte
			for i := range tt.chunks {
				buf = AppendChunk(buf, &tt.info, &tt.chunks[i])
				if u := tt.chunks[i].Usage; u != nil {
					buf = AppendUsage(buf, &tt.info, u)
				}
			}
			buf = AppendDone(buf)

			d := NewDecoder(bytes.NewReader(buf), 0)
			var got []impls.Chunk
			var gotUsage *impls.Usage
			for {
				ev, err := d.Next()
				if err != nil {
					t.Fatalf("stream ended before [DONE]: %v", err)
				}
				if IsDone(ev.Data) {
					break
				}
				p, err := ParseChunk(ev.Data)
				if err != nil {
					t.Fatalf("ParseChunk(%s): %v", ev.Data, err)
				}
				if p.ID != tt.info.ID || p.Model != tt.info.Model || p.Created != tt.info.Created {
					t.Errorf("header = %q %q %d, want %q %q %d", p.ID, p.Model, p.Created, tt.info.ID, tt.info.Model, tt.info.Created)
				}
				if p.Usage != nil {
					gotUsage = p.Usage
					got[len(got)-1].Usage = p.Usage
					continue
				}
				if wantRole := map[bool]string{true: "assistant"}[len(got) == 0]; p.Role != wantRole {
					t.Errorf("chunk %d role = %q, want %q", len(got), p.Role, wantRole)
				}
				if p.HasExt != tt.info.Extensions {
					t.Errorf("HasExt = %v, want %v", p.HasExt, tt.info.Extensions)
				}
				c := impls.Chunk{Seq: int64(len(got)), Content: p.Content, FinishReason: p.FinishReason}
				if p.HasExt {
					c.Seq, c.Tokens = p.Seq, p.Tokens
				} else {
					c.Tokens = tt.chunks[len(got)].Tokens // not on the wire
				}
				got = append(got, c)
			}
			if _, err := d.Next(); err != io.EOF {
				t.Errorf("after [DONE]: err = %v, want io.EOF", err)
			}
			if diff := cmp.Diff(tt.chunks, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("chunks (-sent +received):\n%s", diff)
			}
			if gotUsage == nil {
				t.Error("usage chunk not received")
			}
		})
	}
}

// TestAppendChunkShape pins the exact bytes of the OpenAI wire format.
func TestAppendChunkShape(t *testing.T) {
	info := &StreamInfo{ID: "chatcmpl-9", Created: 42, Model: "m"}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"first", AppendChunk(nil, info, &impls.Chunk{Seq: 0, Content: []byte("Hi")}),
			`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":42,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}` + "\n\n"},
		{"middle", AppendChunk(nil, info, &impls.Chunk{Seq: 3, Content: []byte("x")}),
			`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":42,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}` + "\n\n"},
		{"final empty", AppendChunk(nil, info, &impls.Chunk{Seq: 4, FinishReason: "stop"}),
			`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":42,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"},
		{"usage", AppendUsage(nil, info, &impls.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}),
			`data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":42,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}` + "\n\n"},
		{"done", AppendDone(nil), "data: [DONE]\n\n"},
		{"error", AppendError(nil, `bad "x"`, "server_error"), `data: {"error":{"message":"bad \"x\"","type":"server_error"}}` + "\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
			if data, ok := strings.CutPrefix(string(tt.got), "data: "); ok && data != "[DONE]\n\n" && !json.Valid([]byte(data)) {
				t.Errorf("not valid JSON: %s", data)
			}
		})
	}
}

func TestParseChunkErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantAPI bool
	}{
		{"not json", `{"id":`, false},
		{"wrong object", `{"object":"chat.completion","choices":[]}`, false},
		{"error object", `{"error":{"message":"overloaded","type":"server_error"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChunk([]byte(tt.data))
			if err == nil {
				t.Fatal("ParseChunk succeeded, want an error")
			}
			var api *APIError
			if errors.As(err, &api) != tt.wantAPI {
				t.Errorf("err = %v; APIError = %v, want %v", err, !tt.wantAPI, tt.wantAPI)
			}
		})
	}
}

// FuzzAppendJSONString checks the hand-written string encoder against
// encoding/json: both must decode to the same string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\/\b\f\n\r\t\x00\x7f", "é日本😀", "\xff\xfe", "a\u2028b\u2029", "<>&", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendJSONString(nil, s)
		if !json.Valid(enc) {
			t.Fatalf("AppendJSONString(%q) = %s, not valid JSON", s, enc)
		}
		var got, want string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("AppendJSONString(%q) decodes to %q, encoding/json to %q", s, got, want)
		}
		if utf8.ValidString(s) && got != s {
			t.Errorf("valid UTF-8 %q did not round-trip: %q", s, got)
		}
		if bs := AppendJSONString(nil, []byte(s)); !bytes.Equal(bs, enc) {
			t.Errorf("[]byte and string encodings differ: %s vs %s", bs, enc)
		}
	})
}

func BenchmarkAppendChunk(b *testing.B) {
	info := &StreamInfo{ID: "chatcmpl-123456", Created: 1700000000, Model: "gpt-4o-mini", Extensions: true}
	c := &impls.Chunk{Seq: 7, Content: []byte(" the quick brown"), Tokens: 3}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendChunk(buf[:0], info, c)
	}
}

func BenchmarkParseChunk(b *testing.B) {
	info := &StreamInfo{ID: "chatcmpl-123456", Created: 1700000000, Model: "gpt-4o-mini", Extensions: true}
	ev := AppendChunk(nil, info, &impls.Chunk{Seq: 7, Content: []byte(" the quick brown"), Tokens: 3})
	data := ev[len("data: ") : len(ev)-2]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseChunk(data); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleDecoder() {
	info := &StreamInfo{ID: "chatcmpl-1", Created: 1, Model: "m"}
	var stream []byte
	stream = AppendChunk(stream, info, &impls.Chunk{Seq: 0, Content: []byte("Hel")})
	stream = AppendChunk(stream, info, &impls.Chunk{Seq: 1, Content: []byte("lo"), FinishReason: "stop"})
	stream = AppendDone(stream)

	d := NewDecoder(bytes.NewReader(stream), 0)
	for {
		ev, err := d.Next()
		if err != nil || IsDone(ev.Data) {
			break
		}
		c, err := ParseChunk(ev.Data)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q %q\n", c.Content, c.FinishReason)
	}
	// Output:
	// "Hel" ""
	// "lo" "stop"
}

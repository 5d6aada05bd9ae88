package sse

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/streambench/streambench/impls"
)

// DoneData is the data of the event that ends an OpenAI stream.
const DoneData = "[DONE]"

// ObjectChunk is the "object" of every streamed chat-completions chunk.
const ObjectChunk = "chat.completion.chunk"

// StreamInfo is what every chunk of one streamed response repeats.
type StreamInfo struct {
	// ID is the response id ("chatcmpl-...").
	ID string
	// Created is the response's creation time, in Unix seconds.
	Created int64
	// Model is the model name echoed to the client.
	Model string
	// Extensions adds a non-standard top-level object,
	// "streambench":{"seq":S,"tokens":T}, to content chunks, so that the
	// harness can bill and check order exactly. OpenAI clients ignore unknown
	// fields.
	Extensions bool
}

// AppendChunk appends to dst the SSE event ("data: {...}\n\n") for one chunk:
// its content as the delta (with "role":"assistant" on chunk 0), and its
// finish reason, or null when it has none. Usage is not written here; see
// AppendUsage. Content that is not valid UTF-8 has its invalid bytes replaced
// by U+FFFD, as encoding/json does.
func AppendChunk(dst []byte, s *StreamInfo, c *impls.Chunk) []byte {
	dst = appendHead(dst, s)
	dst = append(dst, `"choices":[{"index":0,"delta":{`...)
	sep := false
	if c.Seq == 0 {
		dst = append(dst, `"role":"assistant"`...)
		sep = true
	}
	if len(c.Content) > 0 || c.FinishReason == "" {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"content":`...)
		dst = AppendJSONString(dst, c.Content)
	}
	dst = append(dst, `},"finish_reason":`...)
	if c.FinishReason == "" {
		dst = append(dst, "null"...)
	} else {
		dst = AppendJSONString(dst, c.FinishReason)
	}
	dst = append(dst, "}]"...)
	if s.Extensions {
		dst = append(dst, `,"streambench":{"seq":`...)
		dst = strconv.AppendInt(dst, c.Seq, 10)
		dst = append(dst, `,"tokens":`...)
		dst = strconv.AppendInt(dst, c.Tokens, 10)
		dst = append(dst, '}')
	}
	return append(dst, "}\n\n"...)
}

// AppendUsage appends the usage event OpenAI sends after the last chunk when
// the request asked for "stream_options":{"include_usage":true}: empty
// choices and the usage object.
func AppendUsage(dst []byte, s *StreamInfo, u *impls.Usage) []byte {
	dst = appendHead(dst, s)
	dst = append(dst, `"choices":[],"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, u.PromptTokens, 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, u.CompletionTokens, 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.TotalTokens, 10)
	return append(dst, "}}\n\n"...)
}

// AppendDone appends the "data: [DONE]" event that ends a stream.
func AppendDone(dst []byte) []byte {
	return append(dst, "data: [DONE]\n\n"...)
}

// AppendError appends an in-stream error event,
// {"error":{"message":...,"type":...}}, the way OpenAI-compatible servers
// report a failure after the response headers were sent.
func AppendError(dst []byte, message, typ string) []byte {
	dst = append(dst, `data: {"error":{"message":`...)
	dst = AppendJSONString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = AppendJSONString(dst, typ)
	return append(dst, "}}\n\n"...)
}

func appendHead(dst []byte, s *StreamInfo) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = AppendJSONString(dst, s.ID)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, s.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = AppendJSONString(dst, s.Model)
	return append(dst, ',')
}

// AppendJSONString appends s as a JSON string literal. It escapes what JSON
// requires (quote, backslash, control characters), U+2028 and U+2029, and
// replaces invalid UTF-8 with U+FFFD; unlike encoding/json it leaves <, > and
// & alone, which is equally valid JSON.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ParsedChunk is one streamed chunk object as read back by ParseChunk.
type ParsedChunk struct {
	ID      string
	Model   string
	Created int64
	// Role is the delta's role, set on the first chunk only.
	Role string
	// Content is the delta's content of choice 0; nil when there is none.
	// It is a fresh slice the caller owns.
	Content      []byte
	FinishReason string
	// Usage is set on the usage chunk only.
	Usage *impls.Usage
	// Seq and Tokens are the "streambench" extension; HasExt reports
	// whether the chunk carried it.
	Seq, Tokens int64
	HasExt      bool
}

// APIError is an error object a server sent in the stream
// ({"error":{"message":...,"type":...}}).
type APIError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("sse: upstream error (%s): %s", e.Type, e.Message)
}

// IsDone reports whether data is the "[DONE]" sentinel that ends a stream.
func IsDone(data []byte) bool { return string(data) == DoneData }

// wireChunk mirrors the chunk JSON for encoding/json.
type wireChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage       *impls.Usage `json:"usage"`
	Streambench *struct {
		Seq    int64 `json:"seq"`
		Tokens int64 `json:"tokens"`
	} `json:"streambench"`
	Error *APIError `json:"error"`
}

// ParseChunk parses the data of one chunk event. An {"error":...} object is
// returned as an *APIError; data that is not a chunk object is an error.
func ParseChunk(data []byte) (ParsedChunk, error) {
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return ParsedChunk{}, fmt.Errorf("sse: bad chunk: %w", err)
	}
	if w.Error != nil {
		return ParsedChunk{}, w.Error
	}
	if w.Object != ObjectChunk {
		return ParsedChunk{}, fmt.Errorf("sse: bad chunk: object is %q, want %q", w.Object, ObjectChunk)
	}
	p := ParsedChunk{ID: w.ID, Model: w.Model, Created: w.Created, Usage: w.Usage}
	for i := range w.Choices {
		c := &w.Choices[i]
		if c.Index != 0 {
			continue
		}
		p.Role = c.Delta.Role
		if c.Delta.Content != nil && *c.Delta.Content != "" {
			p.Content = []byte(*c.Delta.Content)
		}
		if c.FinishReason != nil {
			p.FinishReason = *c.FinishReason
		}
	}
	if w.Streambench != nil {
		p.Seq, p.Tokens, p.HasExt = w.Streambench.Seq, w.Streambench.Tokens, true
	}
	return p, nil
}

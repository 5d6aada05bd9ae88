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

	// buf holds Content for ParseChunkInto, across calls.
	buf []byte
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

// ParseChunkInto is ParseChunk into p, reusing p's memory: the ID, Model
// and FinishReason strings when they repeat, and the Content buffer, which
// is only valid until the next call. It reads the layout AppendChunk writes
// without encoding/json, and falls back to ParseChunk for anything else (a
// usage chunk, escaped strings, other servers' field orders), with the same
// result.
//
// Note: a load generator parses every chunk of every stream it reads; over
// HTTP that parsing competes for the machine with the gateway under test,
// so the common case must be cheap.
func ParseChunkInto(data []byte, p *ParsedChunk) error {
	buf := p.buf
	if fastChunk(data, p) {
		return nil
	}
	q, err := ParseChunk(data)
	if err != nil {
		return err
	}
	*p = q
	p.buf = buf
	return nil
}

// fastChunk parses data if it has exactly AppendChunk's layout with no
// escaped strings, and reports whether it did; when it did not, p is left
// in an unspecified state.
func fastChunk(d []byte, p *ParsedChunk) bool {
	lit := func(s string) bool {
		if len(d) < len(s) || string(d[:len(s)]) != s {
			return false
		}
		d = d[len(s):]
		return true
	}
	str := func() ([]byte, bool) {
		if len(d) == 0 || d[0] != '"' {
			return nil, false
		}
		ascii := true
		for i := 1; i < len(d); i++ {
			switch c := d[i]; {
			case c == '"':
				s := d[1:i]
				// Note: encoding/json replaces invalid UTF-8 with U+FFFD;
				// such a string is left to it.
				if !ascii && !utf8.Valid(s) {
					return nil, false
				}
				d = d[i+1:]
				return s, true
			case c == '\\' || c < 0x20:
				return nil, false
			case c >= utf8.RuneSelf:
				ascii = false
			}
		}
		return nil, false
	}
	num := func() (int64, bool) {
		i := 0
		if i < len(d) && d[i] == '-' {
			i++
		}
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' && i-start < 18 {
			i++
		}
		if i == start || (i < len(d) && d[i] >= '0' && d[i] <= '9') || (d[start] == '0' && i-start > 1) {
			return 0, false
		}
		n, err := strconv.ParseInt(string(d[:i]), 10, 64)
		d = d[i:]
		return n, err == nil
	}
	if !lit(`{"id":`) {
		return false
	}
	id, ok := str()
	if !ok || !lit(`,"object":"chat.completion.chunk","created":`) {
		return false
	}
	created, ok := num()
	if !ok || !lit(`,"model":`) {
		return false
	}
	model, ok := str()
	if !ok || !lit(`,"choices":[{"index":0,"delta":{`) {
		return false
	}
	var role, content, finish []byte
	hasContent := false
	if lit(`"role":`) {
		if role, ok = str(); !ok {
			return false
		}
		if lit(",") {
			if len(d) == 0 || d[0] != '"' {
				return false // {"role":...,} or another field: not ours
			}
		} else if len(d) == 0 || d[0] != '}' {
			return false
		}
	}
	if lit(`"content":`) {
		if content, ok = str(); !ok {
			return false
		}
		hasContent = true
	}
	if !lit(`},"finish_reason":`) {
		return false
	}
	if !lit("null") {
		if finish, ok = str(); !ok {
			return false
		}
	}
	if !lit("}]") {
		return false
	}
	var seq, tokens int64
	hasExt := false
	if lit(`,"streambench":{"seq":`) {
		if seq, ok = num(); !ok || !lit(`,"tokens":`) {
			return false
		}
		if tokens, ok = num(); !ok || !lit("}") {
			return false
		}
		hasExt = true
	}
	if !lit("}") || len(d) != 0 {
		return false
	}
	// Note: string(b) == s compares without allocating, so a repeated ID or
	// model costs nothing.
	if string(id) != p.ID {
		p.ID = string(id)
	}
	if string(model) != p.Model {
		p.Model = string(model)
	}
	p.Created = created
	p.Role = internString(role, "assistant")
	p.FinishReason = internString(finish, "stop", "length")
	p.Content = nil
	if hasContent && len(content) > 0 {
		p.buf = append(p.buf[:0], content...)
		p.Content = p.buf
	}
	p.Usage = nil
	p.Seq, p.Tokens, p.HasExt = seq, tokens, hasExt
	return true
}

// internString returns b as a string, one of common when it equals it (no
// allocation), "" when b is empty.
func internString(b []byte, common ...string) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range common {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// Package httpmode is the HTTP end-to-end mode of the harness: a synthetic
// OpenAI-compatible streaming provider (Provider), a gateway that relays one
// impls.Pipeline over HTTP (Gateway), and a hardened *http.Server around
// either (NewServer).
//
// The wire format comes from package httpmode/sse. NewStack mounts the
// provider, replaying a scenario (ScenarioSource), and one Gateway per
// variant on one handler. A server starts in three steps, as `bench serve`
// takes them: Listen, so that the address is known; NewStack with the
// listener's BaseURL; NewServer around the Stack's handler, and Serve. The
// load generator that drives them is package httpmode/attack. This package
// knows nothing of the in-process harness (package harness), nor it of
// this.
package httpmode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

// Headers and paths shared by the provider, the gateway and their clients.
const (
	// HeaderRequest carries the request index that selects the provider's
	// stream: the same index always yields the same chunks and delays.
	HeaderRequest = "X-Streambench-Request"
	// HeaderAccount names the account the gateway charges.
	HeaderAccount = "X-Streambench-Account"
	// ProviderPath is where a Provider serves its one endpoint.
	ProviderPath = "/provider/v1/chat/completions"
	// GatewayPath is where a Gateway serves, below the prefix it is
	// mounted at.
	GatewayPath = "/v1/chat/completions"
)

// DefaultMaxBodyBytes bounds a request body when an option leaves it zero.
const DefaultMaxBodyBytes = 1 << 20

// ChatRequest is the part of an OpenAI chat-completions request this mode
// reads; other fields are accepted and ignored.
type ChatRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`
	// Stream is a pointer so that a missing field can be told from false.
	Stream              *bool          `json:"stream,omitempty"`
	MaxTokens           *int64         `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64         `json:"max_completion_tokens,omitempty"`
	StreamOptions       *StreamOptions `json:"stream_options,omitempty"`
	User                string         `json:"user,omitempty"`
	// N is the number of choices; only 1 is served.
	N *int64 `json:"n,omitempty"`
}

// ChatMessage is one input message; Content is kept raw because it may be a
// string or an array of parts.
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content,omitempty"`
}

// StreamOptions is the request's "stream_options" object.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// includeUsage reports whether the client asked for the usage chunk.
func (r *ChatRequest) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// maxTokens returns the requested completion bound, or 0 if none was given.
func (r *ChatRequest) maxTokens() int64 {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens
	}
	return 0
}

// apiError is a request refused before any streaming, answered as
// {"error":{"message":...,"type":...}} with Status.
type apiError struct {
	Status  int
	Message string
	Type    string
}

func (e *apiError) Error() string { return e.Message }

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error"}
}

// writeError writes an OpenAI-style JSON error response.
func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}{Error: struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}{e.Message, e.Type}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	w.Write(append(body, '\n'))
}

// readChatRequest reads and validates a streaming chat request.
//
// Note: the body is read to its end (not just decoded) because net/http only
// starts watching the connection for a client hang-up, which cancels the
// request context, once the body has been consumed.
func readChatRequest(w http.ResponseWriter, r *http.Request, maxBody int64) (ChatRequest, *apiError) {
	var req ChatRequest
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, &apiError{Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("request body larger than %d bytes", maxBody), Type: "invalid_request_error"}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Note: the connection's read deadline has passed; it cannot
			// carry another request, so the response says it closes.
			w.Header().Set("Connection", "close")
			return req, &apiError{Status: http.StatusRequestTimeout,
				Message: "request body not received in time", Type: "invalid_request_error"}
		}
		return req, badRequest("reading request body: %v", err)
	}
	if len(body) == 0 {
		return req, badRequest("empty request body: expected a JSON chat-completions request")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, badRequest("malformed JSON in request body: %v", err)
	}
	if len(req.Messages) == 0 {
		return req, badRequest("'messages' is required and must be a non-empty array")
	}
	for i, m := range req.Messages {
		if m.Role == "" {
			return req, badRequest("'messages[%d].role' is required", i)
		}
	}
	if req.Stream == nil || !*req.Stream {
		return req, badRequest("'stream' must be true: this endpoint only serves streaming responses")
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if f.v != nil && *f.v < 1 {
			return req, badRequest("'%s' must be at least 1, got %d", f.name, *f.v)
		}
	}
	if req.N != nil && *req.N != 1 {
		return req, badRequest("'n' must be 1: this server streams one choice per request, got %d", *req.N)
	}
	return req, nil
}

// promptTokens approximates the prompt's length in tokens from its
// messages, as the usage chunk reports it: a token per four bytes of
// content (rounded up) plus four per message for its role and framing,
// the rule of thumb OpenAI documents for English text. It returns 0 when
// there are no messages.
func (r *ChatRequest) promptTokens() int64 {
	var n int64
	for _, m := range r.Messages {
		content := m.Content
		var s string
		if json.Unmarshal(content, &s) == nil {
			n += (int64(len(s)) + 3) / 4
		} else {
			// Note: an array of parts is counted by its JSON length, an
			// overestimate; the approximation does not parse parts.
			n += (int64(len(content)) + 3) / 4
		}
		n += 4
	}
	return n
}

// requestIndex returns the request identity: the HeaderRequest header, else
// the "user" field, as a decimal integer.
func requestIndex(r *http.Request, req *ChatRequest) (uint64, bool, *apiError) {
	if h := r.Header.Get(HeaderRequest); h != "" {
		n, err := strconv.ParseUint(h, 10, 64)
		if err != nil {
			return 0, false, badRequest("header %s: %q is not a request index", HeaderRequest, h)
		}
		return n, true, nil
	}
	if req.User != "" {
		if n, err := strconv.ParseUint(req.User, 10, 64); err == nil {
			return n, true, nil
		}
	}
	return 0, false, nil
}

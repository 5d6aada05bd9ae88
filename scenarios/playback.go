package scenarios

import (
	"errors"
	"fmt"
	"time"

	"github.com/streambench/streambench/impls"
)

// ErrScripted is the mid-stream failure a scenario scripts (a plan's
// FailAtChunk).
var ErrScripted = errors.New("scripted provider failure")

// Emit is chunk k of the plan as the provider sends it, the one copy of
// the playback both measuring modes replay: the in-process harness's
// provider and the HTTP mode's. gap is the wait before it. sent is the
// completion tokens already sent, and maxTokens (0 for none) the
// request's max_tokens: the chunk that would pass it is cut to fit, in
// proportion, and ends the response with finish reason "length" and the
// usage of what was sent, as a real provider does. last says the response
// ends with this chunk. At the plan's scripted failure Emit returns an
// error wrapping ErrScripted, with the gap before it, instead of a chunk.
//
// Emit allocates nothing but the last chunk's usage: content is a window
// into the scenario's shared text.
func (p *Plan) Emit(k int, sent, maxTokens int64) (c impls.Chunk, gap time.Duration, last bool, err error) {
	gap, last, err = p.EmitInto(&c, nil, k, sent, maxTokens)
	return c, gap, last, err
}

// EmitInto is Emit writing the chunk into *c (which it overwrites), for
// the in-process provider's hot path. The usage a final chunk carries is
// written to *usage, which the chunk then points to, or to a new Usage when
// usage is nil; the caller must not reuse *usage (a pipeline may keep it).
//
// Note: Emit's results do not fit in registers, so a caller that keeps the
// chunk across a call copies it from the result area with wide loads of
// the narrow stores just made there: a store-forwarding stall on every
// chunk. Writing into the caller's variable avoids the copy; for the same
// reason the chunk's fields come from ChunkFields, not Chunk.
func (p *Plan) EmitInto(c *impls.Chunk, usage *impls.Usage, k int, sent, maxTokens int64) (gap time.Duration, last bool, err error) {
	content, tokens, gap, lastChunk := p.ChunkFields(k)
	if k == p.FailAtChunk {
		*c = impls.Chunk{}
		return gap, true, fmt.Errorf("%w at chunk %d of request %d", ErrScripted, k, p.Index)
	}
	// Field by field: a composite literal is built on the stack and copied.
	c.Seq, c.Content, c.Tokens, c.FinishReason, c.Usage = int64(k), content, tokens, "", nil
	sent += c.Tokens
	truncated := false
	if over := sent - maxTokens; maxTokens > 0 && over > 0 {
		// Note: a real API never sends more than max_tokens.
		keep := c.Tokens - over
		c.Content = c.Content[:int64(len(c.Content))*keep/c.Tokens]
		c.Tokens, sent, truncated = keep, maxTokens, true
	}
	switch {
	case lastChunk && !truncated:
		c.FinishReason, c.Usage = p.FinishReason, newUsage(usage, p.Usage)
		last = true
	case maxTokens > 0 && sent >= maxTokens:
		c.FinishReason = "length"
		c.Usage = newUsage(usage, impls.Usage{PromptTokens: p.Usage.PromptTokens, CompletionTokens: sent, TotalTokens: p.Usage.PromptTokens + sent})
		last = true
	}
	return gap, last, nil
}

// newUsage stores u in *dst, or in a new Usage when dst is nil, and
// returns where.
func newUsage(dst *impls.Usage, u impls.Usage) *impls.Usage {
	if dst == nil {
		dst = new(impls.Usage)
	}
	*dst = u
	return dst
}

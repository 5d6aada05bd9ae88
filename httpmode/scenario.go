package httpmode

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/scenarios"
)

// ErrScripted is the mid-stream failure a scenario scripts (its
// FailAtChunk): the Provider aborts the connection when it meets it.
var ErrScripted = errors.New("scripted provider failure")

// ScenarioSource is the StreamSource that replays a scenario: request index
// i streams exactly the chunks and gaps of sc.Request(i), the same plan the
// in-process harness draws, so both modes and every variant see the same
// provider output.
type ScenarioSource struct {
	sc *scenarios.Scenario
}

var _ StreamSource = (*ScenarioSource)(nil)

// NewScenarioSource returns a ScenarioSource for sc, which must not be
// modified while the source is in use.
func NewScenarioSource(sc *scenarios.Scenario) *ScenarioSource {
	return &ScenarioSource{sc: sc}
}

// Stream returns request index's script. A maxTokens below the plan's length
// cuts the response at the chunk that reaches it (that chunk cut to fit, so
// exactly maxTokens are sent), with finish reason "length" and the usage of
// what was sent, as a real provider does.
func (s *ScenarioSource) Stream(index uint64, maxTokens int) ChunkIter {
	return &scenarioIter{plan: s.sc.Request(index), maxTokens: int64(maxTokens)}
}

// scenarioIter walks one plan. It does not allocate per chunk beyond the
// usage of the last one: chunk content is a window into the scenario's slab.
type scenarioIter struct {
	plan      scenarios.Plan
	maxTokens int64
	k         int
	tokens    int64
	done      bool
}

func (it *scenarioIter) Next() (impls.Chunk, time.Duration, error) {
	p := &it.plan
	if it.done || it.k >= p.Chunks {
		return impls.Chunk{}, 0, io.EOF
	}
	sc := p.Chunk(it.k)
	if it.k == p.FailAtChunk {
		it.done = true
		return impls.Chunk{}, sc.Gap, fmt.Errorf("%w at chunk %d of request %d", ErrScripted, it.k, p.Index)
	}
	it.k++
	it.tokens += sc.Tokens
	c := impls.Chunk{Seq: int64(sc.Seq), Content: sc.Content, Tokens: sc.Tokens}
	truncated := false
	if over := it.tokens - it.maxTokens; it.maxTokens > 0 && over > 0 {
		// Note: a real API never sends more than max_tokens; the chunk
		// that would pass it is cut to fit, its content in proportion.
		keep := c.Tokens - over
		c.Content = c.Content[:int64(len(c.Content))*keep/c.Tokens]
		c.Tokens, it.tokens, truncated = keep, it.maxTokens, true
	}
	switch {
	case sc.Last && !truncated:
		it.done = true
		u := p.Usage
		c.FinishReason, c.Usage = p.FinishReason, &u
	case it.maxTokens > 0 && it.tokens >= it.maxTokens:
		it.done = true
		c.FinishReason = "length"
		c.Usage = &impls.Usage{PromptTokens: p.Usage.PromptTokens, CompletionTokens: it.tokens,
			TotalTokens: p.Usage.PromptTokens + it.tokens}
	}
	return c, sc.Gap, nil
}

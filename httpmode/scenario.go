package httpmode

import (
	"io"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/scenarios"
)

// ErrScripted is the mid-stream failure a scenario scripts (its
// FailAtChunk): the Provider aborts the connection when it meets it.
var ErrScripted = scenarios.ErrScripted

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

// scenarioIter walks one plan with scenarios.Plan.Emit, the playback the
// in-process harness uses too.
type scenarioIter struct {
	plan      scenarios.Plan
	maxTokens int64
	k         int
	tokens    int64
	done      bool
}

func (it *scenarioIter) Next() (impls.Chunk, time.Duration, error) {
	if it.done || it.k >= it.plan.Chunks {
		return impls.Chunk{}, 0, io.EOF
	}
	c, gap, last, err := it.plan.Emit(it.k, it.tokens, it.maxTokens)
	it.k++
	it.tokens += c.Tokens
	it.done = last
	return c, gap, err
}

package mutex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/streambench/streambench/impls"
)

// errBoom is the mid-stream failure of a fakeSource.
var errBoom = errors.New("boom")

// makeChunks builds an n-chunk response whose chunk i holds size bytes
// naming its request and index and 1+i%3 tokens; the last chunk carries the
// finish reason and, unless noUsage, a usage whose CompletionTokens is the
// sum of the chunks' tokens.
func makeChunks(id uint64, n, size int, noUsage bool) []impls.Chunk {
	chunks := make([]impls.Chunk, n)
	var sum int64
	for i := range chunks {
		text := fmt.Sprintf("r%d-c%d|", id, i)
		for len(text) < size {
			text += "."
		}
		chunks[i] = impls.Chunk{Seq: int64(i), Content: []byte(text[:size]), Tokens: 1 + int64(i%3)}
		sum += chunks[i].Tokens
	}
	chunks[n-1].FinishReason = "stop"
	if !noUsage {
		chunks[n-1].Usage = &impls.Usage{PromptTokens: 7, CompletionTokens: sum, TotalTokens: 7 + sum}
	}
	return chunks
}

// contentOf is the concatenated content of chunks.
func contentOf(chunks []impls.Chunk) []byte {
	var b bytes.Buffer
	for _, c := range chunks {
		b.Write(c.Content)
	}
	return b.Bytes()
}

// tokensOf is the sum of the chunks' tokens.
func tokensOf(chunks []impls.Chunk) int64 {
	var n int64
	for _, c := range chunks {
		n += c.Tokens
	}
	return n
}

// fakeSource is a provider that hands out chunks, waiting gap (fake time
// under synctest) before each, honouring ctx while it waits.
type fakeSource struct {
	chunks []impls.Chunk
	gap    time.Duration
	// failAt, when >= 0, makes Next fail with errBoom instead of handing
	// out chunk failAt.
	failAt int
	// stall makes Next block until ctx ends instead of returning io.EOF.
	stall bool

	mu          sync.Mutex
	next        int  // chunks handed out
	eof         bool // io.EOF was returned
	closed      int  // Close calls
	cancellable bool // some ctx passed to Next could end
	cancelled   bool // Next returned because its ctx ended
}

// closedTime is a ready channel, the wait of a source without gaps.
var closedTime = func() <-chan time.Time {
	ch := make(chan time.Time)
	close(ch)
	return ch
}()

func newSource(chunks []impls.Chunk, gap time.Duration) *fakeSource {
	return &fakeSource{chunks: chunks, gap: gap, failAt: -1}
}

func (s *fakeSource) Next(ctx context.Context) (impls.Chunk, error) {
	s.mu.Lock()
	if ctx.Done() != nil {
		s.cancellable = true
	}
	stall := s.stall && s.next == len(s.chunks)
	s.mu.Unlock()

	var wait <-chan time.Time // nil when stalled: only ctx ends the wait
	switch {
	case s.gap > 0 && !stall:
		wait = time.After(s.gap)
	case !stall:
		wait = closedTime
	}
	select {
	case <-wait:
	case <-ctx.Done():
		s.mu.Lock()
		s.cancelled = true
		s.mu.Unlock()
		return impls.Chunk{}, ctx.Err()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.next == s.failAt:
		return impls.Chunk{}, errBoom
	case s.next == len(s.chunks):
		s.eof = true
		return impls.Chunk{}, io.EOF
	}
	c := s.chunks[s.next]
	s.next++
	return c, nil
}

func (s *fakeSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

// snapshot returns chunks handed out, whether io.EOF was returned and the
// Close calls so far.
func (s *fakeSource) snapshot() (next int, eof bool, closed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.eof, s.closed
}

// fakeSink is a client that takes delay (fake time) per chunk and, when
// failAfter >= 0, disconnects when chunk number failAfter+1 arrives.
type fakeSink struct {
	failAfter int
	delay     time.Duration

	mu   sync.Mutex
	got  []impls.Chunk
	gone chan struct{}
	once sync.Once
}

func newSink(failAfter int) *fakeSink {
	return &fakeSink{failAfter: failAfter, gone: make(chan struct{})}
}

func (s *fakeSink) Write(c impls.Chunk) error {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.gone:
		return impls.ErrClientGone
	default:
	}
	if s.failAfter >= 0 && len(s.got) == s.failAfter {
		s.disconnect()
		return impls.ErrClientGone
	}
	s.got = append(s.got, c)
	return nil
}

func (s *fakeSink) Gone() <-chan struct{} { return s.gone }

func (s *fakeSink) disconnect() { s.once.Do(func() { close(s.gone) }) }

func (s *fakeSink) received() []impls.Chunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]impls.Chunk(nil), s.got...)
}

// charge is one Ledger.Charge call.
type charge struct {
	Account string
	Tokens  int64
}

// fakeLedger keeps what it was given, copying record content as the
// Ledger contract requires.
type fakeLedger struct {
	mu      sync.Mutex
	records []impls.Record
	charges []charge
}

func (l *fakeLedger) Persist(_ context.Context, rec impls.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec.Content = bytes.Clone(rec.Content)
	l.records = append(l.records, rec)
	return nil
}

func (l *fakeLedger) Charge(_ context.Context, account string, tokens int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.charges = append(l.charges, charge{account, tokens})
	return nil
}

func (l *fakeLedger) snapshot() ([]impls.Record, []charge) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]impls.Record(nil), l.records...), append([]charge(nil), l.charges...)
}

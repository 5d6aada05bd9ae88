package lockfree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streambench/streambench/impls"
)

// fakeSource produces a scripted stream: n chunks (n < 0 for endless) of
// "c%03d|" content and 2 tokens each, the last with finish reason "stop" and
// usage, an optional per-chunk delay and an optional failure.
type fakeSource struct {
	n      int
	delay  time.Duration
	failAt int // Next returns errProvider instead of chunk failAt; -1 never.

	produced  int // chunks returned; owned by the producer until Relay returns.
	ctxErrors int // Next calls that returned a context error.
	stoppedAt time.Time
	closes    atomic.Int32
	nextAfter atomic.Int32 // Next calls after Close, a contract violation.
}

var errProvider = errors.New("upstream 502")

func newSource(n int) *fakeSource { return &fakeSource{n: n, failAt: -1} }

func chunkContent(seq int) []byte { return fmt.Appendf(nil, "c%03d|", seq) }

func (s *fakeSource) Next(ctx context.Context) (impls.Chunk, error) {
	if s.closes.Load() > 0 {
		s.nextAfter.Add(1)
	}
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		s.ctxErrors++
		s.stoppedAt = time.Now()
		return impls.Chunk{}, err
	}
	if s.produced == s.failAt {
		return impls.Chunk{}, errProvider
	}
	if s.n >= 0 && s.produced >= s.n {
		return impls.Chunk{}, io.EOF
	}
	seq := s.produced
	s.produced++
	c := impls.Chunk{Seq: int64(seq), Content: chunkContent(seq), Tokens: 2}
	if seq == s.n-1 {
		c.FinishReason = "stop"
		c.Usage = &impls.Usage{PromptTokens: 7, CompletionTokens: int64(2 * s.n), TotalTokens: int64(7 + 2*s.n)}
	}
	return c, nil
}

func (s *fakeSource) Close() error {
	s.closes.Add(1)
	return nil
}

// fakeSink records what it was sent. It can be slow (delay per write),
// disconnect after goneAfter writes (0: never), or fail write failAt with a
// non-disconnect error (-1: never). onWrite, if set, runs after each
// successful write with the number of chunks written so far.
type fakeSink struct {
	delay     time.Duration
	goneAfter int
	failAt    int
	onWrite   func(n int)

	got    []impls.Chunk
	goneAt time.Time
	gone   chan struct{}
}

var errWrite = errors.New("broken pipe")

func newSink() *fakeSink { return &fakeSink{failAt: -1, gone: make(chan struct{})} }

func (s *fakeSink) Write(c impls.Chunk) error {
	select {
	case <-s.gone:
		return impls.ErrClientGone
	default:
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if len(s.got) == s.failAt {
		return errWrite
	}
	s.got = append(s.got, c)
	if len(s.got) == s.goneAfter {
		s.goneAt = time.Now()
		close(s.gone)
	}
	if s.onWrite != nil {
		s.onWrite(len(s.got))
	}
	return nil
}

func (s *fakeSink) Gone() <-chan struct{} { return s.gone }

// fakeLedger keeps copies of records and the charges, and notes any call
// made with an already cancelled context.
type fakeLedger struct {
	mu        sync.Mutex
	records   []impls.Record
	charges   map[string]int64
	nCharges  int
	cancelled int
}

func newLedger() *fakeLedger { return &fakeLedger{charges: map[string]int64{}} }

func (l *fakeLedger) Persist(ctx context.Context, rec impls.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ctx.Err() != nil {
		l.cancelled++
	}
	rec.Content = bytes.Clone(rec.Content) // the pipeline may reuse the buffer.
	l.records = append(l.records, rec)
	return nil
}

func (l *fakeLedger) Charge(ctx context.Context, account string, tokens int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ctx.Err() != nil {
		l.cancelled++
	}
	l.charges[account] += tokens
	l.nCharges++
	return nil
}

// checkAccounting asserts what must hold after every Relay: one record and
// one charge, written with a live context; the record and the bill match
// exactly what the client received; every chunk produced is accounted for;
// the source was closed once and not used after.
func checkAccounting(t *testing.T, req impls.Request, out impls.Outcome, src *fakeSource, dst *fakeSink, l *fakeLedger) impls.Record {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.records) != 1 || l.nCharges != 1 {
		t.Fatalf("ledger has %d records and %d charges, want 1 and 1", len(l.records), l.nCharges)
	}
	if l.cancelled != 0 {
		t.Errorf("%d ledger calls had a cancelled context", l.cancelled)
	}
	rec := l.records[0]
	if rec.RequestID != req.ID || rec.Account != req.Account {
		t.Errorf("record is for %d/%q, want %d/%q", rec.RequestID, rec.Account, req.ID, req.Account)
	}
	var want []byte
	var tokens int64
	for _, c := range dst.got {
		want = append(want, c.Content...)
		tokens += c.Tokens
	}
	if !bytes.Equal(rec.Content, want) {
		t.Errorf("record content %q, want what was delivered %q", rec.Content, want)
	}
	if out.Delivered != int64(len(dst.got)) || rec.Chunks != out.Delivered {
		t.Errorf("Outcome.Delivered %d, record.Chunks %d, client got %d", out.Delivered, rec.Chunks, len(dst.got))
	}
	if rec.Tokens != tokens || l.charges[req.Account] != tokens {
		t.Errorf("record tokens %d, charged %d, delivered %d", rec.Tokens, l.charges[req.Account], tokens)
	}
	if rec.Partial != (out.Err != nil) {
		t.Errorf("record.Partial %v with Outcome.Err %v", rec.Partial, out.Err)
	}
	if (rec.Err == "") != (out.Err == nil) {
		t.Errorf("record.Err %q with Outcome.Err %v", rec.Err, out.Err)
	}
	if sum := out.Delivered + out.Dropped + out.Rejected + out.Discarded; sum != int64(src.produced) {
		t.Errorf("delivered %d + dropped %d + rejected %d + discarded %d = %d, produced %d",
			out.Delivered, out.Dropped, out.Rejected, out.Discarded, sum, src.produced)
	}
	if n := src.closes.Load(); n != 1 {
		t.Errorf("Source.Close called %d times, want 1", n)
	}
	if n := src.nextAfter.Load(); n != 0 {
		t.Errorf("Source.Next called %d times after Close", n)
	}
	for i := 1; i < len(dst.got); i++ {
		if dst.got[i].Seq <= dst.got[i-1].Seq {
			t.Errorf("client received chunk %d after chunk %d", dst.got[i].Seq, dst.got[i-1].Seq)
		}
	}
	return rec
}

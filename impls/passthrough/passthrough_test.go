package passthrough_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
	"github.com/streambench/streambench/impls/passthrough"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRelay covers the ways a pass-through relay ends. The conformance suite
// (run in impls/conformance) covers the rest.
func TestRelay(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		src       []conformance.SourceOption
		sink      []conformance.SinkOption
		wantErr   []error
		delivered int64
		discarded int64
		produced  int64
	}{
		{name: "complete", ctx: context.Background(), delivered: 10, produced: 10},
		{
			name: "client leaves", ctx: context.Background(),
			sink:    []conformance.SinkOption{conformance.DisconnectAfter(3)},
			wantErr: []error{impls.ErrCancelled, impls.ErrClientGone},
			// The fourth chunk was in hand when its write failed.
			delivered: 3, discarded: 1, produced: 4,
		},
		{
			name: "provider fails", ctx: context.Background(),
			src:       []conformance.SourceOption{conformance.FailAt(2)},
			wantErr:   []error{impls.ErrProviderFailed, conformance.ErrProvider},
			delivered: 2, produced: 2,
		},
		{
			name: "caller cancelled", ctx: cancelled,
			wantErr: []error{impls.ErrCancelled, context.Canceled},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks := conformance.Response(7, 10, 8)
			src := conformance.NewSource(chunks, tc.src...)
			sink := conformance.NewSink(tc.sink...)
			out := passthrough.New().Relay(tc.ctx, impls.Request{ID: 1}, src, sink)
			for _, want := range tc.wantErr {
				if !errors.Is(out.Err, want) {
					t.Errorf("Err = %v, want errors.Is(err, %v)", out.Err, want)
				}
			}
			if tc.wantErr == nil && out.Err != nil {
				t.Errorf("Err = %v, want nil", out.Err)
			}
			want := impls.Outcome{Err: out.Err, Delivered: tc.delivered, Discarded: tc.discarded}
			if out != want {
				t.Errorf("Outcome = %+v, want %+v", out, want)
			}
			if got := sink.Delivered(); got != tc.delivered {
				t.Errorf("client got %d chunks, want %d", got, tc.delivered)
			}
			if got := src.Produced(); got != tc.produced {
				t.Errorf("provider produced %d chunks, want %d", got, tc.produced)
			}
			if got := src.Closes(); got != 1 {
				t.Errorf("Close called %d times, want 1", got)
			}
		})
	}
}

// TestRelayAllocs pins the calibration variant's promise: relaying a stream
// allocates nothing.
func TestRelayAllocs(t *testing.T) {
	p := passthrough.New()
	src := newMemSource()
	allocs := testing.AllocsPerRun(100, func() {
		src.reset(streamChunks)
		if out := p.Relay(context.Background(), impls.Request{}, src, discard{}); out.Delivered != streamChunks {
			t.Fatalf("Delivered = %d, want %d", out.Delivered, streamChunks)
		}
	})
	if allocs != 0 {
		t.Errorf("Relay of %d chunks allocates %v times, want 0", streamChunks, allocs)
	}
}

const (
	// chunkBytes and streamChunks shape the benchmark's streams.
	chunkBytes   = 64
	streamChunks = 256
)

// slab is the content of every benchmark stream; chunks are sub-slices of
// it, so producing a chunk copies and allocates nothing.
var slab = func() []byte {
	b := make([]byte, chunkBytes*streamChunks)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// memSource is an allocation-free in-memory provider for benchmarks: it
// returns sub-slices of slab, then io.EOF.
type memSource struct {
	n, i  int
	usage impls.Usage
}

func newMemSource() *memSource { return &memSource{} }

func (s *memSource) reset(n int) {
	s.n, s.i = n, 0
	s.usage = impls.Usage{PromptTokens: 1, CompletionTokens: int64(n), TotalTokens: int64(n) + 1}
}

func (s *memSource) Next(context.Context) (impls.Chunk, error) {
	if s.i >= s.n {
		return impls.Chunk{}, io.EOF
	}
	lo, hi := s.i*chunkBytes, (s.i+1)*chunkBytes
	c := impls.Chunk{Seq: int64(s.i), Content: slab[lo:hi:hi], Tokens: 1}
	s.i++
	if s.i == s.n {
		c.FinishReason, c.Usage = "stop", &s.usage
	}
	return c, nil
}

func (s *memSource) Close() error { return nil }

// discard is a client that accepts everything at once.
type discard struct{}

func (discard) Write(impls.Chunk) error { return nil }
func (discard) Gone() <-chan struct{}   { return nil }

// BenchmarkRelay measures the pass-through's cost per chunk with the same
// driver as the designs (conformance.Bench): one b.N op is one 64-byte chunk,
// relayed by S concurrent workers (streams=S).
func BenchmarkRelay(b *testing.B) {
	for _, workers := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("streams=%d", workers), func(b *testing.B) {
			conformance.Bench(b, func(impls.Ledger) impls.Pipeline { return passthrough.New() }, workers, impls.Traits{})
		})
	}
}

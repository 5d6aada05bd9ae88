package slow

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/passthrough"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource hands out n chunks.
type fakeSource struct{ i, n int64 }

func (s *fakeSource) Next(context.Context) (impls.Chunk, error) {
	if s.i == s.n {
		return impls.Chunk{}, io.EOF
	}
	s.i++
	return impls.Chunk{Seq: s.i - 1, Content: []byte("x"), Tokens: 1}, nil
}
func (s *fakeSource) Close() error { return nil }

// fakeSink counts what it receives.
type fakeSink struct{ got int64 }

func (s *fakeSink) Write(impls.Chunk) error { s.got++; return nil }
func (s *fakeSink) Gone() <-chan struct{}   { return nil }

func relay(p impls.Pipeline, n int64) (impls.Outcome, int64) {
	dst := &fakeSink{}
	out := p.Relay(context.Background(), impls.Request{ID: 1}, &fakeSource{n: n}, dst)
	return out, dst.got
}

func TestZeroIsUnwrapped(t *testing.T) {
	p := passthrough.New()
	if got := Wrap(p, Config{}); got != impls.Pipeline(p) {
		t.Fatalf("Wrap with a zero Config returned %T, want the pipeline itself", got)
	}
}

func TestSpinDeliversEverything(t *testing.T) {
	w := Wrap(passthrough.New(), Config{Spin: 300 * time.Nanosecond}).(*pipeline)
	if d, ok := w.PerChunk(); !ok || d <= 0 {
		t.Fatalf("PerChunk() = %s, %v; want a positive spin from the start", d, ok)
	}
	out, got := relay(w, 1000)
	if out.Err != nil || out.Delivered != 1000 || got != 1000 {
		t.Fatalf("relay: %+v, sink got %d; want 1000 delivered", out, got)
	}
}

// TestPercentCalibrates checks that the calibration window opens after
// CalibrationChunks settling chunks at the latest, closes CalibrationChunks
// later at the latest, and then sets a work per chunk.
func TestPercentCalibrates(t *testing.T) {
	w := Wrap(passthrough.New(), Config{Percent: 50}).(*pipeline)
	if _, ok := w.PerChunk(); ok {
		t.Fatal("PerChunk reports a value before any chunk")
	}
	const n = 2*CalibrationChunks + 10
	out, got := relay(w, n)
	if out.Delivered != n || got != out.Delivered {
		t.Fatalf("relay: %+v, sink got %d", out, got)
	}
	if _, ok := w.PerChunk(); !ok {
		t.Fatalf("still calibrating after %d chunks", n)
	}
	if n := w.chunks.Load(); n > CalibrationChunks {
		t.Fatalf("calibration counted %d chunks, want at most %d", n, CalibrationChunks)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		s    string
		fail bool
	}{
		{Config{}, "", false},
		{Config{Percent: 10}, "slow=10%", false},
		{Config{Percent: 2.5}, "slow=2.5%", false},
		{Config{Spin: time.Microsecond}, "spin=1µs", false},
		{Config{Percent: 10, Spin: time.Microsecond}, "", true},
		{Config{Spin: -1}, "", true},
	} {
		err := tc.c.Validate()
		if (err != nil) != tc.fail {
			t.Errorf("%+v.Validate() = %v, want failure %v", tc.c, err, tc.fail)
		}
		if !tc.fail && tc.c.String() != tc.s {
			t.Errorf("%+v.String() = %q, want %q", tc.c, tc.c.String(), tc.s)
		}
	}
	for in, want := range map[string]float64{"10%": 10, "10": 10, " 0.5% ": 0.5} {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5%", "x%", "Inf"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) succeeded, want an error", in)
		}
	}
}

func TestRate(t *testing.T) {
	if r := Rate(); !(r > 0) {
		t.Fatalf("Rate() = %g, want positive", r)
	}
	if n := iterationsFor(0); n != 0 {
		t.Fatalf("iterationsFor(0) = %d", n)
	}
}

// TestNoAllocationPerRequest checks that the wrapper adds no allocation per
// request beyond one slab per slabSize requests.
func TestNoAllocationPerRequest(t *testing.T) {
	src, dst := &fakeSource{}, &fakeSink{}
	perRequest := func(p impls.Pipeline) float64 {
		return testing.AllocsPerRun(500, func() {
			src.i, src.n = 0, 4
			p.Relay(context.Background(), impls.Request{ID: 1}, src, dst)
		})
	}
	bare := perRequest(passthrough.New())
	w := Wrap(passthrough.New(), Config{Spin: 1}).(*pipeline)
	w.newSink(dst) // the first slab
	if got := perRequest(w); got > bare+0.01 {
		t.Fatalf("%g allocations per request wrapped, %g bare; want no more than a slab per %d", got, bare, slabSize)
	}
}

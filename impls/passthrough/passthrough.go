// Package passthrough is the calibration variant of the streaming relay: it
// moves chunks from the provider to the client in the calling goroutine and
// does nothing else — no accumulation, no record, no billing, no metrics, no
// goroutines and no allocation per chunk.
//
// It exists so the harness can measure its own cost per chunk (instrumented
// Sources and Sinks, load generation, bookkeeping) and report it next to every
// real design, so nobody mistakes harness overhead for pipeline cost. It is
// not a design under comparison; it implements impls.Pipeline only so the
// harness can drive it exactly like the designs.
package passthrough

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/streambench/streambench/impls"
)

// Pipeline is the pass-through relay. The zero value is ready to use and it
// holds no state, so one Pipeline serves any number of concurrent requests.
type Pipeline struct{}

var _ impls.Pipeline = (*Pipeline)(nil)

// New returns a pass-through Pipeline.
func New() *Pipeline { return &Pipeline{} }

// Relay copies src to dst until the provider ends the stream, the provider
// fails, the caller's context ends, or dst refuses a chunk. It closes src
// exactly once before returning.
//
// Note: the Outcome counters are plain locals because nothing but this
// goroutine ever touches them; the pass-through has no queue, so Dropped,
// Rejected and QueuePeak are always zero and a chunk is Discarded only when
// it was in hand as the write failed. Req is ignored: there is nothing to
// cap, record or charge.
func (*Pipeline) Relay(ctx context.Context, _ impls.Request, src impls.Source, dst impls.Sink) impls.Outcome {
	var out impls.Outcome
	for {
		c, err := src.Next(ctx)
		if err != nil {
			out.Err = endErr(ctx, err)
			break
		}
		if err := dst.Write(c); err != nil {
			out.Discarded++
			out.Err = fmt.Errorf("%w: write chunk %d: %w", impls.ErrCancelled, c.Seq, err)
			break
		}
		out.Delivered++
	}
	// Note: the Close error is deliberately not reported: the relay's result
	// is already decided, and a provider that fails to release is the
	// harness's concern (it observes Close through its instrumented Source).
	_ = src.Close()
	return out
}

// endErr maps the error that ended src.Next to the Outcome's error: nil at the
// end of the stream, ErrCancelled when the caller's context ended, and
// ErrProviderFailed for anything else.
func endErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return fmt.Errorf("%w: %w", impls.ErrCancelled, err)
	default:
		return fmt.Errorf("%w: %w", impls.ErrProviderFailed, err)
	}
}

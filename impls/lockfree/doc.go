// Package lockfree is the redesigned streaming relay: provider → bounded
// queue → lock-free accumulator → client, with a cancellation tree per
// request, configurable backpressure and race-free metrics.
//
// Per request, Relay starts one producer goroutine that pulls chunks from the
// impls.Source and pushes them into a bounded queue under the configured
// backpressure Strategy; the Relay goroutine itself is the consumer: it pops
// chunks, appends their bytes to an Accumulator (zero-copy segments, size cap
// enforced with compare-and-swap), writes them to the impls.Sink and counts
// what it delivered. A client disconnect, the caller's context, the content
// cap or a backpressure timeout cancels the request's context, which stops
// the producer; Relay then waits for it, counts what was left in the queue,
// closes the Source, persists exactly one record (partial when the stream
// ended early) and charges only the tokens the client was actually sent,
// before it returns. Nothing of the request outlives Relay.
//
// Every choice is a knob in Options, so a benchmark can move from the legacy
// design in impls/mutex to this one a step at a time. DefaultOptions is the
// faithful redesign of the source article.
//
// Note: the default queue (QueueChan) is a buffered Go channel. A Go channel
// takes a runtime lock on every send and receive, so the default pipeline is
// not lock-free end to end — and neither is the Rust source's flume channel.
// QueueRing swaps in a bounded lock-free ring so the difference can be
// measured rather than assumed.
package lockfree

package httpmode

import (
	"context"
	"testing"
	"time"

	"github.com/streambench/streambench/httpmode/sse"
)

// TestProviderSlots: a provider of one upstream slot serves one stream at
// a time; a second stream gets its headers, waits for the slot without a
// chunk, and starts once the first client leaves. Every slot taken is
// released and every token produced is counted.
func TestProviderSlots(t *testing.T) {
	src := newToySource(-1, time.Millisecond, -1)
	prov := NewProvider(src, ProviderOptions{MaxConcurrent: 1})
	ts := startServer(t, prov, ServerOptions{InFlight: prov})
	defer ts.Close()
	url := ts.URL + ProviderPath

	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	a := post(t, ctxA, ts.Client(), url, chatBody(""), map[string]string{HeaderRequest: "1"})
	da := sse.NewDecoder(a.Body, 0)
	for i := range 2 {
		if _, err := da.Next(); err != nil {
			t.Fatalf("stream A event %d: %v", i, err)
		}
	}

	ctxB, cancelB := context.WithCancel(t.Context())
	defer cancelB()
	b := post(t, ctxB, ts.Client(), url, chatBody(""), map[string]string{HeaderRequest: "2"})
	events := make(chan error, 1)
	go func() {
		_, err := sse.NewDecoder(b.Body, 0).Next()
		events <- err
	}()
	// B's handler is in flight, its headers sent, and it waits for the
	// slot (not merely on its way to asking for one: A must leave only
	// once B waits, or B would take the free slot without a wait).
	waitFor(t, "stream B waiting for the slot", func() bool {
		s := prov.Stats()
		return s.InFlight == 2 && s.SlotsTaken == 1 && s.SlotWaiting == 1
	})
	select {
	case err := <-events:
		t.Fatalf("stream B got an event (err %v) while stream A held the only slot", err)
	default:
	}

	cancelA()
	a.Body.Close()
	if err := recv(t, events, "stream B's first event after A left"); err != nil {
		t.Fatalf("stream B: %v", err)
	}
	cancelB()
	b.Body.Close()
	waitFor(t, "both streams to end", func() bool { return prov.Stats().InFlight == 0 })
	s := prov.Stats()
	if s.SlotsTaken != 2 || s.SlotsReleased != 2 || s.SlotWaits != 1 || s.SlotWaitNS <= 0 || s.SlotWaiting != 0 {
		t.Errorf("stats %+v: want 2 slots taken and released, one wait", s)
	}
	if s.Tokens < s.Chunks || s.Chunks < 3 {
		t.Errorf("stats %+v: want every produced chunk's tokens (1 to 3 each) counted", s)
	}
}

// TestProviderTokenBound: a bounded provider still streams every chunk
// and counts its tokens (the bound's timing is tested on a fake clock in
// internal/upstream, which the provider shares with the harness).
func TestProviderTokenBound(t *testing.T) {
	src := newToySource(6, 0, -1)
	prov := NewProvider(src, ProviderOptions{TokensPerS: 1e6})
	ts := startServer(t, prov, ServerOptions{InFlight: prov})
	defer ts.Close()
	resp := post(t, t.Context(), ts.Client(), ts.URL+ProviderPath, chatBody(""), map[string]string{HeaderRequest: "4"})
	r := readStream(t, resp.Body)
	resp.Body.Close()
	if !r.done || len(r.chunks) != 6 {
		t.Fatalf("got %d chunks, done %v; want 6 and [DONE]", len(r.chunks), r.done)
	}
	waitFor(t, "the stream to end", func() bool { return prov.Stats().InFlight == 0 })
	var want int64
	for _, c := range src.chunks(4) {
		want += c.Tokens
	}
	if s := prov.Stats(); s.Tokens != want || s.SlotsTaken != 0 {
		t.Errorf("stats %+v: want %d tokens and no slots (no limit)", s, want)
	}
}

// waitFor polls cond until it holds, failing the test after bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, bound)
		}
		time.Sleep(time.Millisecond)
	}
}

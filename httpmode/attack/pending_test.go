package attack

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streambench/streambench/httpmode"
	"github.com/streambench/streambench/impls/variant"
	"github.com/streambench/streambench/result"
	"github.com/streambench/streambench/scenarios"
)

// serveStack serves a Stack of vs for sc on a loopback server until the
// test ends, and returns its URL.
func serveStack(t *testing.T, sc *scenarios.Scenario, vs []variant.Variant) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	s, err := httpmode.NewStack(httpmode.BaseURL(ts.Listener), sc, vs, httpmode.StackOptions{IdleConnTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config = httpmode.NewServer(s.Handler(), httpmode.ServerOptions{Metrics: func() any { return s.Metrics(time.Now()) }})
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		s.CloseIdleConnections()
	})
	return ts.URL
}

// TestLegacyPendingRecords: the legacy design's detached finalizers still
// hold records when a trial ends (the settle wait is shorter than their
// timeout); those records are counted as pending, as in process, not as a
// violation, and when they land during the next trial they are counted
// for their own trial, not the next one's. (The first trial, at a higher
// rate, leaves more late records than the second has requests pending.)
func TestLegacyPendingRecords(t *testing.T) {
	sc := scenarios.Default()
	sc.Name, sc.Seed, sc.TimeScale = "pending", 3, 1
	sc.Provider.TTFT = scenarios.ConstOf(2 * time.Millisecond)
	sc.Provider.InterChunk = scenarios.ConstOf(4 * time.Millisecond)
	sc.Provider.ResponseTokens = scenarios.ConstOf[int64](40)
	afterChunks := scenarios.ConstOf[int64](2)
	sc.Client.DisconnectProbability = 0.5
	sc.Client.DisconnectAfterChunks = &afterChunks
	sc.Limits.FinalizerTimeout = 700 * time.Millisecond
	sc.Load = scenarios.Load{Model: scenarios.Open, Rate: 40, Duration: time.Second}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	v, err := variant.Parse("mutex")
	if err != nil {
		t.Fatal(err)
	}
	url := serveStack(t, sc, []variant.Variant{v})

	var out bytes.Buffer
	bins := map[string]*bytes.Buffer{}
	recs, err := Run(t.Context(), Config{
		Target: url, Scenario: sc, Variants: []variant.Variant{v}, Rates: []float64{80, 10}, Duration: time.Second,
		Grace: 300 * time.Millisecond, MaxSettle: 50 * time.Millisecond,
		Bin: func(name string) (io.WriteCloser, error) {
			b := new(bytes.Buffer)
			bins[name] = b
			return nopCloser{b}, nil
		},
	}, result.NewWriter(&out))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	// Each trial of the sweep keeps its own vegeta results.
	if len(bins) != 2 || bins["mutex-rate80-0"] == nil || bins["mutex-rate10-0"] == nil || bins["mutex-rate10-0"].Len() == 0 {
		t.Errorf("vegeta result files %v, want mutex-rate80-0 and mutex-rate10-0", keys(bins))
	}
	for i, tr := range recs {
		a := tr.Accounting
		if tr.Failed() {
			t.Errorf("trial %d: violations %v", i, a.Violations)
		}
		if tr.StreamsDisconnected == 0 || a.RecordsPending <= 0 {
			t.Errorf("trial %d: %d disconnected, records %d persisted + %d pending of %d expected; want some pending",
				i, tr.StreamsDisconnected, a.RecordsPersisted, a.RecordsPending, a.RecordsExpected)
		}
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

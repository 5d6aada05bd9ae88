package capacity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// step is a fake probe whose attainment steps from 100% to 50% just above
// capacity, for a search with nothing random in it.
func step(capacity float64) func(rate float64) Probe {
	return func(rate float64) Probe {
		if rate <= capacity {
			return Probe{Met: 1000, Total: 1000}
		}
		return Probe{Met: 500, Total: 1000}
	}
}

// fakeClock advances by per at every probe.
type fakeClock struct {
	t   time.Time
	per time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }

func drive(t *testing.T, cfg Config, budget, per time.Duration, curves ...func(float64) Probe) ([]*Search, [][]float64, bool) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(0, 0), per: per}
	searches := make([]*Search, len(curves))
	for i := range curves {
		s, err := NewSearch(cfg)
		if err != nil {
			t.Fatal(err)
		}
		searches[i] = s
	}
	rates := make([][]float64, len(curves))
	exhausted, err := Drive(context.Background(), searches, budget, clock.now, func(_ context.Context, i int, rate float64) (Probe, error) {
		rates[i] = append(rates[i], rate)
		clock.t = clock.t.Add(clock.per)
		return curves[i](rate), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return searches, rates, exhausted
}

func TestSearchConvergesOnAStep(t *testing.T) {
	cfg := DefaultConfig
	cfg.Start = 100
	for _, c := range []float64{1234, 37.5, 99_000} {
		searches, rates, exhausted := drive(t, cfg, time.Hour, 10*time.Second, step(c))
		r := searches[0].Result()
		if exhausted || !r.Converged {
			t.Fatalf("capacity %g: exhausted %v, converged %v after %d probes (%v)", c, exhausted, r.Converged, len(rates[0]), rates[0])
		}
		if !(r.Lo <= c && c < r.Hi && r.Hi <= r.Lo*(1+cfg.Resolution)) {
			t.Errorf("capacity %g: interval [%g, %g), want it to hold the step and be within %g%%", c, r.Lo, r.Hi, 100*cfg.Resolution)
		}
		if r.Capacity != r.Lo {
			t.Errorf("capacity %g: Capacity %g, want the interval's low end %g", c, r.Capacity, r.Lo)
		}
		// Bracketing from 100 takes at most log4(100000/100) + 1 = 6
		// probes, bisecting a factor 4 to 5% another log2(ln 4 / ln 1.05)
		// = 5.
		if n := len(rates[0]); n > 11 {
			t.Errorf("capacity %g: %d probes (%v), want at most 11", c, n, rates[0])
		}
	}
}

func TestSearchIsDeterministic(t *testing.T) {
	_, a, _ := drive(t, DefaultConfig, time.Hour, time.Second, step(777))
	_, b, _ := drive(t, DefaultConfig, time.Hour, time.Second, step(777))
	if !slices.Equal(a[0], b[0]) {
		t.Errorf("two searches of one curve probed %v and %v", a[0], b[0])
	}
}

func TestSearchStopsWithinBudget(t *testing.T) {
	// Each probe takes 10 s; a 35 s budget allows three: after them, 30 s
	// plus the mean probe passes the budget.
	searches, rates, exhausted := drive(t, DefaultConfig, 35*time.Second, 10*time.Second, step(1234))
	if !exhausted {
		t.Fatal("the drive says the budget was not exhausted")
	}
	if n := len(rates[0]); n != 3 {
		t.Errorf("%d probes in a 35 s budget of 10 s probes, want 3", n)
	}
	r := searches[0].Result()
	if r.Converged {
		t.Errorf("converged after 3 probes: %v", r)
	}
	if r.Lo > 1234 || (r.Hi != 0 && r.Hi <= 1234) {
		t.Errorf("interval [%g, %g) excludes the capacity 1234", r.Lo, r.Hi)
	}
}

func TestSearchAtTheBounds(t *testing.T) {
	cfg := Config{Low: 10, High: 1000, Target: 0.99, Resolution: 0.05, Step: 4}
	never := func(float64) Probe { return Probe{Met: 0, Total: 10} }
	always := func(float64) Probe { return Probe{Met: 10, Total: 10} }
	searches, rates, _ := drive(t, cfg, time.Hour, time.Second, never, always)
	if r := searches[0].Result(); !r.Converged || r.Lo != 0 || r.Hi != cfg.Low || r.Capacity != 0 {
		t.Errorf("nothing passes: %+v after %v, want capacity below the low bound", r, rates[0])
	}
	if r := searches[1].Result(); !r.Converged || r.Lo != cfg.High || r.Hi != 0 {
		t.Errorf("everything passes: %+v after %v, want capacity at or above the high bound", r, rates[1])
	}
	for i, rs := range rates {
		for _, r := range rs {
			if r < cfg.Low || r > cfg.High {
				t.Errorf("search %d probed %g, outside [%g, %g]", i, r, cfg.Low, cfg.High)
			}
		}
	}
}

func TestDriveInterleaves(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var order []int
	var searches []*Search
	for range 2 {
		s, _ := NewSearch(DefaultConfig)
		searches = append(searches, s)
	}
	curves := []func(float64) Probe{step(50), step(5000)}
	_, err := Drive(context.Background(), searches, time.Hour, clock.now, func(_ context.Context, i int, rate float64) (Probe, error) {
		order = append(order, i)
		return curves[i](rate), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(order) < 4 || order[0] != 0 || order[1] != 1 || order[2] != 0 || order[3] != 1 {
		t.Errorf("probe order %v, want the searches in turn", order)
	}
}

func TestDriveStopsOnError(t *testing.T) {
	s, _ := NewSearch(DefaultConfig)
	boom := errors.New("boom")
	_, err := Drive(context.Background(), []*Search{s}, time.Hour, time.Now, func(context.Context, int, float64) (Probe, error) { return Probe{}, boom })
	if !errors.Is(err, boom) {
		t.Errorf("Drive error %v, want the probe's", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ = NewSearch(DefaultConfig)
	if _, err := Drive(ctx, []*Search{s}, time.Hour, time.Now, func(context.Context, int, float64) (Probe, error) {
		t.Error("probed after the context ended")
		return Probe{}, nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("Drive error %v, want context.Canceled", err)
	}
}

func TestFromProbesPoolsAndFails(t *testing.T) {
	cfg := DefaultConfig
	probes := []Probe{
		{Rate: 100, Met: 100, Total: 100},
		{Rate: 200, Met: 99, Total: 100}, // pooled with the next: 198/200 = 99%
		{Rate: 200, Met: 99, Total: 100},
		{Rate: 400, Met: 100, Total: 100, Failed: true}, // a failed trial fails the rate
		{Rate: 800, Met: 100, Total: 100},               // above a failure: not the capacity
	}
	r := FromProbes(probes, cfg)
	if r.Lo != 200 || r.Hi != 400 || r.Capacity != 200 || r.Converged {
		t.Errorf("FromProbes = %v (lo %g, hi %g), want [200, 400) not converged", r, r.Lo, r.Hi)
	}
	if len(r.Probes) != 4 || r.Probes[1].Total != 200 {
		t.Errorf("pooled probes %+v, want 4 rates with 200 requests at 200/s", r.Probes)
	}
	if got := (Probe{Rate: 1, Met: 98, Total: 100}).Passed(0.99); got {
		t.Error("98% passed a 99% target")
	}
	if got := (Probe{Rate: 1}).Passed(0.99); got {
		t.Error("a probe without requests passed")
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Low: 0, High: -1, Target: 2, Resolution: 0, Step: 1, MaxProbes: -1}.Validate()
	if err == nil {
		t.Fatal("a config wrong in every field validated")
	}
	for _, want := range []string{"low rate", "high rate", "target", "resolution", "step", "max probes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to name the %s", err, want)
		}
	}
	if err := DefaultConfig.Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
}

package harness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streambench/streambench/result"
)

// TestWindowTick checks that requests ending past the window's start and
// due end open and close it, once each, without the timeline goroutine,
// and that a window that closed over a tenth of its length late says so.
func TestWindowTick(t *testing.T) {
	tr := &trial{base: time.Now(), slots: make([]counterSlot, 1)}
	w := newWindow(tr, int64(time.Hour), time.Hour)
	if w.tick(int64(time.Hour)-1) || w.opened.Load() {
		t.Fatal("window opened before its start")
	}
	if w.tick(int64(time.Hour)) || !w.opened.Load() {
		t.Fatal("window not opened at its start, or closed")
	}
	opened := w.openedAt
	if w.tick(2*int64(time.Hour)-1) || w.closed.Load() {
		t.Fatal("window closed before its due end")
	}
	if !w.tick(2 * int64(time.Hour)) {
		t.Fatal("window not closed at its due end")
	}
	select {
	case <-w.halt:
	default:
		t.Fatal("halt not closed with the window")
	}
	end := w.end.Load()
	w.open()
	w.close()
	if w.openedAt != opened || w.end.Load() != end {
		t.Error("a second open or close moved the window")
	}
	// The clock is far from the due instants (the trial began a moment
	// ago), so by the real clock the window opened and closed early: no
	// overrun.
	if o := w.overrun(); o != "" {
		t.Errorf("overrun on a window that kept its timeline: %s", o)
	}

	late := &trial{base: time.Now().Add(-10 * time.Second), slots: make([]counterSlot, 1)}
	w = newWindow(late, 0, 3*time.Second)
	w.tick(late.now())
	if o := w.overrun(); !strings.Contains(o, "window overran: the 3s measured window opened 10s and closed 7s after they were due") {
		t.Errorf("overrun = %q, want it opened 10 s and closed 7 s late", o)
	}
}

// TestWindowTimeline: a window forced late (its trial began ten seconds
// ago, its timeline asked for a 1 s warm-up and a 3 s window, and its drain
// took 5 s of a 1 s bound) names every phase that overran, with how late;
// one that kept its timeline names none.
func TestWindowTimeline(t *testing.T) {
	late := &trial{base: time.Now().Add(-10 * time.Second), slots: make([]counterSlot, 1),
		spec: TrialSpec{Warmup: time.Second, Duration: 3 * time.Second, Drain: time.Second}}
	w := newWindow(late, int64(time.Second), 3*time.Second)
	w.tick(late.now()) // opens 9 s late and closes 6 s late, at once
	r := w.timeline(5 * time.Second)
	if !slices.Equal(r.overrun, []string{result.PhaseWarmup, result.PhaseWindow, result.PhaseDrain}) {
		t.Errorf("overrun = %q, want warm-up, window and drain", r.overrun)
	}
	// Note: the window opened, and then closed, when tick read the clock,
	// a moment past ten seconds.
	if r.openLate < 9*time.Second || r.closeLate < r.openLate-3*time.Second || r.closeLate > 6*time.Second+time.Minute || r.drain != 5*time.Second {
		t.Errorf("open late %s, close late %s, drain %s; want about 9 s, 6 s and 5 s", r.openLate, r.closeLate, r.drain)
	}
	if len(r.warnings) != 1 || !strings.HasPrefix(r.warnings[0], "drain overran: the streams in flight when the window closed, and their providers, took 5s to end, over the 1s drain bound") {
		t.Errorf("warnings = %q, want the drain's alone (the window's own warning tells the rest)", r.warnings)
	}

	// A warm-up overrun that the window's warning does not tell (under a
	// tenth of the window's length) gets a warning of its own.
	warm := &trial{base: time.Now().Add(-1500 * time.Millisecond), slots: make([]counterSlot, 1),
		spec: TrialSpec{Warmup: time.Second, Duration: time.Hour, Drain: time.Second}}
	w = newWindow(warm, int64(time.Second), time.Hour)
	w.tick(warm.now())
	r = w.timeline(0)
	if !slices.Equal(r.overrun, []string{result.PhaseWarmup}) || len(r.warnings) != 1 || !strings.HasPrefix(r.warnings[0], "warm-up overran: the measured window opened ") {
		t.Errorf("overrun %q, warnings %q; want the warm-up's alone", r.overrun, r.warnings)
	}

	kept := &trial{base: time.Now(), slots: make([]counterSlot, 1),
		spec: TrialSpec{Warmup: time.Hour, Duration: time.Hour, Drain: time.Second}}
	w = newWindow(kept, int64(time.Hour), time.Hour)
	w.open()
	w.close() // early, by the real clock
	if r := w.timeline(time.Second); len(r.overrun) != 0 || len(r.warnings) != 0 || r.openLate != 0 || r.closeLate != 0 {
		t.Errorf("a window that kept its timeline: %+v", r)
	}
}

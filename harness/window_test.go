package harness

import (
	"strings"
	"testing"
	"time"
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

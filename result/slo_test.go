package result

import (
	"testing"
	"time"
)

func TestObjectiveMet(t *testing.T) {
	ms := int64(time.Millisecond)
	o := Objective{TTFT: 10 * ms, E2E: 100 * ms}
	tests := []struct {
		name      string
		o         Objective
		completed bool
		ttft, e2e int64
		want      bool
	}{
		{"within both", o, true, 5 * ms, 50 * ms, true},
		{"on both bounds", o, true, 10 * ms, 100 * ms, true},
		{"ttft over", o, true, 10*ms + 1, 50 * ms, false},
		{"e2e over", o, true, 5 * ms, 100*ms + 1, false},
		{"not completed", o, false, 1, 2, false},
		{"no first chunk", o, true, -1, 50 * ms, false},
		{"ttft only: e2e not judged", Objective{TTFT: 10 * ms}, true, 5 * ms, time.Hour.Nanoseconds(), true},
		{"e2e only: no first chunk not judged", Objective{E2E: 100 * ms}, true, -1, 50 * ms, true},
		{"e2e only, over", Objective{E2E: 100 * ms}, true, 1, 101 * ms, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.Met(tt.completed, tt.ttft, tt.e2e); got != tt.want {
				t.Errorf("Met(%v, %d, %d) = %v, want %v", tt.completed, tt.ttft, tt.e2e, got, tt.want)
			}
		})
	}
}

func TestSLOObjectiveScales(t *testing.T) {
	s := SLO{TTFTNS: int64(time.Second), E2ENS: int64(10 * time.Second), TimeScale: 0.01}
	if got, want := s.Objective(), (Objective{TTFT: int64(10 * time.Millisecond), E2E: int64(100 * time.Millisecond)}); got != want {
		t.Errorf("Objective() = %+v, want %+v", got, want)
	}
	if got, want := (SLO{E2ENS: 7}).Objective(), (Objective{E2E: 7}); got != want {
		t.Errorf("unscaled Objective() = %+v, want %+v", got, want)
	}
}

func TestAttainment(t *testing.T) {
	tests := []struct {
		met, started, dropped int64
		want                  float64
	}{
		{99, 100, 0, 0.99},
		{99, 90, 10, 0.99}, // a dropped request is a miss
		{0, 0, 0, 0},
		{0, 0, 5, 0},
	}
	for _, tt := range tests {
		if got := Attainment(tt.met, tt.started, tt.dropped); got != tt.want {
			t.Errorf("Attainment(%d, %d, %d) = %v, want %v", tt.met, tt.started, tt.dropped, got, tt.want)
		}
	}
}

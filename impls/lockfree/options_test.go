package lockfree

import (
	"github.com/streambench/streambench/impls/internal/backoff"

	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultOptionsValid(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Queue != QueueChan || o.Backpressure != Adaptive || o.BufferLimit != 128 || o.HighWaterMark != 96 ||
		o.InitialDelay != time.Millisecond || o.MaxDelay != 50*time.Millisecond || o.Multiplier != 2 || o.ContentCap != 0 {
		t.Errorf("DefaultOptions() = %+v, not the faithful redesign", o)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Options)
		knobs []string // each must be named in the error
	}{
		{"buffer limit zero", func(o *Options) { o.BufferLimit, o.HighWaterMark = 0, 0 }, []string{"BufferLimit", "HighWaterMark"}},
		{"buffer limit past the bound", func(o *Options) { o.BufferLimit = 99999999999 }, []string{"BufferLimit must be from 1 to 1048576"}},
		{"high-water mark above limit", func(o *Options) { o.HighWaterMark = 129 }, []string{"HighWaterMark"}},
		{"high-water mark zero", func(o *Options) { o.HighWaterMark = 0 }, []string{"HighWaterMark"}},
		{"negative initial delay", func(o *Options) { o.InitialDelay = -1 }, []string{"InitialDelay"}},
		{"negative max delay", func(o *Options) { o.MaxDelay = -1 }, []string{"MaxDelay"}},
		{"max below initial", func(o *Options) { o.MaxDelay = time.Microsecond }, []string{"MaxDelay"}},
		{"multiplier below one", func(o *Options) { o.Multiplier = 0.5 }, []string{"Multiplier"}},
		{"multiplier NaN", func(o *Options) { o.Multiplier = math.NaN() }, []string{"Multiplier"}},
		{"negative block timeout", func(o *Options) { o.BlockTimeout = -1 }, []string{"BlockTimeout"}},
		{"block without timeout", func(o *Options) { o.Backpressure, o.BlockTimeout = Block, 0 }, []string{"BlockTimeout"}},
		{"negative content cap", func(o *Options) { o.ContentCap = -1 }, []string{"ContentCap"}},
		{"unknown queue", func(o *Options) { o.Queue = 7 }, []string{"Queue", "chan, ring"}},
		{"unknown strategy", func(o *Options) { o.Backpressure = -1 }, []string{"Backpressure", "drop-oldest"}},
		{"all at once", func(o *Options) { o.BufferLimit, o.Multiplier, o.ContentCap = 0, 0, -5 },
			[]string{"BufferLimit", "HighWaterMark", "Multiplier", "ContentCap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.tweak(&o)
			err := o.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, knob := range tt.knobs {
				if !strings.Contains(err.Error(), knob) {
					t.Errorf("error %q does not name %s", err, knob)
				}
			}
		})
	}
	// Zero timeout is fine when the block strategy is not used.
	o := DefaultOptions()
	o.BlockTimeout = 0
	if err := o.Validate(); err != nil {
		t.Errorf("BlockTimeout 0 with adaptive: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, k := range []QueueKind{QueueChan, QueueRing} {
		if got, err := ParseQueueKind(k.String()); err != nil || got != k {
			t.Errorf("ParseQueueKind(%q) = %v, %v", k, got, err)
		}
	}
	for _, s := range []Strategy{Adaptive, DropOldest, Reject, Block} {
		if got, err := ParseStrategy(s.String()); err != nil || got != s {
			t.Errorf("ParseStrategy(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseQueueKind("mutex"); err == nil || !strings.Contains(err.Error(), "chan, ring") {
		t.Errorf("ParseQueueKind(mutex) error %v does not list the allowed values", err)
	}
	if _, err := ParseStrategy("Adaptive"); err == nil || !strings.Contains(err.Error(), "adaptive, drop-oldest, reject, block") {
		t.Errorf("ParseStrategy(Adaptive) error %v does not list the allowed values", err)
	}
	if got := QueueKind(9).String(); got != "QueueKind(9)" {
		t.Errorf("QueueKind(9).String() = %q", got)
	}
	if got := Strategy(-1).String(); got != "Strategy(-1)" {
		t.Errorf("Strategy(-1).String() = %q", got)
	}
}

func TestAdaptiveDelay(t *testing.T) {
	o := DefaultOptions()
	// The article's code truncates to whole units: floor(1 + 2·fill) ms.
	for _, tt := range []struct {
		queued int
		want   time.Duration
	}{{0, 0}, {95, 0}, {96, 2 * time.Millisecond}, {127, 2 * time.Millisecond}, {128, 3 * time.Millisecond}} {
		if got := o.adaptiveDelay(tt.queued); got != tt.want {
			t.Errorf("article formula: adaptiveDelay(%d) = %v, want %v", tt.queued, got, tt.want)
		}
	}
	if got := o.Scaled(0.01).adaptiveDelay(128); got != 30*time.Microsecond {
		t.Errorf("article formula scaled by 0.01: adaptiveDelay(128) = %v, want 30µs", got)
	}
	o.Formula = backoff.Params // 1ms*(1+fill*2) from 96 of 128, at most 50ms.
	tests := []struct {
		queued int
		max    time.Duration
		want   time.Duration
	}{
		{0, 50 * time.Millisecond, 0},
		{95, 50 * time.Millisecond, 0},
		{96, 50 * time.Millisecond, 2500 * time.Microsecond},
		{128, 50 * time.Millisecond, 3 * time.Millisecond},
		{128, 2 * time.Millisecond, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		o.MaxDelay = tt.max
		if got := o.adaptiveDelay(tt.queued); got != tt.want {
			t.Errorf("adaptiveDelay(%d) with MaxDelay %v = %v, want %v", tt.queued, tt.max, got, tt.want)
		}
	}
}

func TestContentCapInForce(t *testing.T) {
	tests := []struct{ opt, req, want int64 }{
		{0, 0, 0}, {10, 0, 10}, {0, 10, 10}, {5, 10, 5}, {10, 5, 5},
	}
	for _, tt := range tests {
		o := Options{ContentCap: tt.opt}
		if got := o.contentCap(tt.req); got != tt.want {
			t.Errorf("contentCap(opt %d, req %d) = %d, want %d", tt.opt, tt.req, got, tt.want)
		}
	}
}

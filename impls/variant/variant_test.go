package variant

import (
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the one conformance suite over every built-in
// variant and a few knob combinations the list does not name, each judged
// by the traits its knobs imply.
func TestConformance(t *testing.T) {
	vs := Builtin()
	for _, spec := range []string{
		"mutex:lock=global,acc=zerocopy,cancel=on,finalizer=awaited",
		"mutex:finalizer=awaited",
		"lockfree:queue=ring,backpressure=drop-oldest,buffer=8",
		"lockfree:queue=ring,backpressure=reject,buffer=8",
		"lockfree:queue=ring,backpressure=block,block-timeout=10s",
		"lockfree:buffer=4,high-water=1",
		"lockfree:acc=mutex-copy,hold=write,pool=on,bill=delivered",
		"mutex:lock=global,hold=write,producer=inline,cancel=on,finalizer=inline,pool=on",
		"mutex:buffer=bounded,acc=zerocopy,pool=on,bill=delivered,bill-unsent=off",
		"mutex:producer=inline",
		"mutex:spin=200ns",
		"lockfree:spin=100ns",
		"passthrough:spin=100ns",
	} {
		v, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	for _, v := range vs {
		conformance.Run(t, v.Name, v.New, v.Traits())
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, spec, err string
	}{
		{in: "mutex", spec: "mutex:lock=stream,hold=append,acc=copy,producer=goroutine,buffer=unbounded,unit=1ms,cancel=off,finalizer=detached,linger=timeout,finalizer-timeout=10m0s,bill=usage,bill-unsent=on,pool=off"},
		{in: "mutex-global", spec: "mutex:lock=global,hold=append,acc=copy,producer=goroutine,buffer=unbounded,unit=1ms,cancel=off,finalizer=detached,linger=timeout,finalizer-timeout=10m0s,bill=usage,bill-unsent=on,pool=off"},
		{in: "mutex:lock=global,cancel=on", spec: "mutex:lock=global,hold=append,acc=copy,producer=goroutine,buffer=unbounded,unit=1ms,cancel=on,finalizer=detached,linger=timeout,finalizer-timeout=10m0s,bill=usage,bill-unsent=on,pool=off"},
		{in: "lockfree:queue=ring,backpressure=reject,buffer=64", spec: "lockfree:queue=ring,backpressure=reject,buffer=64,high-water=48,formula=article,unit=1ms,initial-delay=1ms,max-delay=50ms,multiplier=2,block-timeout=100ms,cap=0,acc=lockfree,hold=append,bill=usage,bill-unsent=off,pool=off"},
		{in: "lockfree:initial-delay=2ms", spec: "lockfree:queue=chan,backpressure=adaptive,buffer=128,high-water=96,formula=params,unit=1ms,initial-delay=2ms,max-delay=50ms,multiplier=2,block-timeout=100ms,cap=0,acc=lockfree,hold=append,bill=usage,bill-unsent=off,pool=off"},
		{in: "lockfree:hold=write", err: "write needs a mutex accumulator"},
		{in: "mutex:producer=inline,buffer=bounded", err: "a bounded buffer needs producer=goroutine"},
		{in: "passthrough", spec: "passthrough"},
		{in: "spinlock", err: `unknown implementation "spinlock" (allowed: mutex, lockfree, passthrough`},
		{in: "mutex:lock=table", err: `"table" (want "stream" or "global")`},
		{in: "mutex:locks=global", err: `unknown knob "locks" for mutex (allowed: acc, bill, bill-unsent, buffer, cancel, finalizer, finalizer-timeout, hold, linger, lock, pool, producer, slow, spin, unit)`},
		{in: "mutex:lock", err: `knob "lock" needs a value (stream|global)`},
		{in: "mutex:lock=global,lock=stream", err: `knob "lock" given twice`},
		{in: "lockfree:buffer=0", err: "BufferLimit"},
		{in: "lockfree:buffer=x", err: `bad value "x"`},
		{in: "lockfree:buffer=8,high-water=9", err: "HighWaterMark"},
		{in: "lockfree:multiplier=0.5", err: "Multiplier"},
		{in: "lockfree:initial-delay=-1s", err: "InitialDelay"},
		{in: "passthrough:queue=ring", err: `unknown knob "queue" for passthrough (allowed: slow, spin)`},
		{in: "passthrough:slow=10%", spec: "passthrough:slow=10%"},
		{in: "lockfree:spin=2us", spec: "lockfree:queue=chan,backpressure=adaptive,buffer=128,high-water=96,formula=article,unit=1ms,initial-delay=1ms,max-delay=50ms,multiplier=2,block-timeout=100ms,cap=0,acc=lockfree,hold=append,bill=usage,bill-unsent=off,pool=off,spin=2µs"},
		{in: "mutex:slow=5", spec: "mutex:lock=stream,hold=append,acc=copy,producer=goroutine,buffer=unbounded,unit=1ms,cancel=off,finalizer=detached,linger=timeout,finalizer-timeout=10m0s,bill=usage,bill-unsent=on,pool=off,slow=5%"},
		{in: "mutex:slow=5%,spin=1us", err: "give slow or spin, not both"},
		{in: "lockfree:slow=-3%", err: "bad value"},
		{in: "lockfree:spin=fast", err: "bad value"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Spec(); got != tc.spec {
				t.Fatalf("Spec() = %q, want %q", got, tc.spec)
			}
			// The canonical spec parses back to the same variant.
			again, err := Parse(v.Spec())
			if err != nil || again.Spec() != v.Spec() {
				t.Fatalf("round trip: %v, %q", err, again.Spec())
			}
		})
	}
}

func TestParseList(t *testing.T) {
	vs, err := ParseList("mutex, lockfree:queue=ring,backpressure=reject,buffer=8 ,mutex-global")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	if got, want := strings.Join(names, " | "), "mutex | lockfree:queue=ring,backpressure=reject,buffer=8 | mutex-global"; got != want {
		t.Fatalf("names %q, want %q", got, want)
	}
	for _, bad := range []string{"", "mutex,mutex", "mutex,bogus"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) accepted", bad)
		}
	}
}

// TestSplitList: specs keep their commas, and a list split, joined with
// commas and split again is the same list (the command passes -variants on
// to a serve process that way).
func TestSplitList(t *testing.T) {
	in := " mutex,,lockfree:queue=ring,backpressure=reject, buffer=8,mutex-global,"
	want := []string{"mutex", "lockfree:queue=ring,backpressure=reject,buffer=8", "mutex-global"}
	got := SplitList(in)
	if !slices.Equal(got, want) {
		t.Fatalf("SplitList = %q, want %q", got, want)
	}
	if again := SplitList(strings.Join(got, ",")); !slices.Equal(again, want) {
		t.Errorf("split again: %q, want %q", again, want)
	}
	if got := SplitList(" , "); got != nil {
		t.Errorf("SplitList of nothing = %q, want nil", got)
	}
}

// TestBuiltinTraits pins what each built-in promises, so a knob change
// that alters a promise is a visible change.
func TestBuiltinTraits(t *testing.T) {
	want := map[string]impls.Traits{
		"mutex":       {Persists: true, DetachedFinalizer: true, OverbillsOnDisconnect: true, BillsUsage: true, Buffer: impls.BufferUnbounded},
		"lockfree":    {Persists: true, Cancels: true, WatchesClient: true, BillsUsage: true, Buffer: impls.BufferBounded, BufferLimit: 128},
		"passthrough": {Buffer: impls.BufferNone},
	}
	for name, tr := range want {
		v, err := Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Traits(); got != tr {
			t.Errorf("%s traits %+v, want %+v", name, got, tr)
		}
	}
	var _ impls.Pipeline = Builtin()[0].New(conformance.NewLedger())
}

package conformance_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/impls/conformance"
	"github.com/streambench/streambench/impls/passthrough"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestConformance runs the suite against the pass-through and against the
// reference pipelines of each kind: all must pass.
func TestConformance(t *testing.T) {
	for _, v := range correct {
		conformance.Run(t, v.name, v.newPipeline, v.traits)
	}
}

type variant struct {
	name        string
	newPipeline func(impls.Ledger) impls.Pipeline
	traits      conformance.Traits
}

var correct = []variant{
	{
		name:        "passthrough",
		newPipeline: func(impls.Ledger) impls.Pipeline { return passthrough.New() },
		traits:      conformance.Traits{Buffer: conformance.None},
	},
	{
		name:        "ref-sync",
		newPipeline: func(l impls.Ledger) impls.Pipeline { return &syncRef{ledger: l} },
		traits:      conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.None},
	},
	{
		name:        "ref-bounded",
		newPipeline: func(l impls.Ledger) impls.Pipeline { return &chanRef{ledger: l, limit: 4} },
		traits:      conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.Bounded, BufferLimit: 4},
	},
	{
		name:        "ref-dropping",
		newPipeline: func(l impls.Ledger) impls.Pipeline { return &chanRef{ledger: l, limit: 4, drop: true} },
		traits:      conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.Dropping, BufferLimit: 4},
	},
	{
		name:        "ref-legacy",
		newPipeline: func(l impls.Ledger) impls.Pipeline { return &legacyRef{ledger: l} },
		traits: conformance.Traits{Persists: true, DetachedFinalizer: true, OverbillsOnDisconnect: true,
			Buffer: conformance.Unbounded},
	},
}

// broken pairs a faulty pipeline (or a correct one with traits it does not
// have) with the sub-tests the suite must fail it on.
var broken = []struct {
	variant
	wantFail []string
}{
	{variant{"lose-chunk", withFaults(faults{loseChunk: true}), syncTraits}, []string{"in-order", "in-order-concurrent"}},
	{variant{"bill-twice", withFaults(faults{billTwice: true}), syncTraits}, []string{"in-order", "disconnect", "provider-failure"}},
	{variant{"record-twice", withFaults(faults{recordTwice: true}), syncTraits}, []string{"in-order", "in-order-concurrent"}},
	{variant{"no-close", withFaults(faults{noClose: true}), syncTraits}, []string{"in-order", "disconnect"}},
	// Note: a leaked goroutine makes synctest panic when the sub-test ends,
	// which ends the child process, so only the first sub-test is observed.
	{variant{"leak", withFaults(faults{leak: true}), syncTraits}, []string{"in-order"}},
	{variant{"ignore-cap", withFaults(faults{ignoreCap: true}), syncTraits}, []string{"content-cap"}},
	{variant{"uncounted-discard", withFaults(faults{uncounted: true}), syncTraits}, []string{"disconnect"}},
	{variant{"overbill", withFaults(faults{overbill: true}), syncTraits}, []string{"disconnect", "write-fails"}},
	{variant{"reorder", withFaults(faults{reorder: true}), syncTraits}, []string{"in-order", "in-order-concurrent"}},
	{variant{"bills-usage-claims-chunks", withFaults(faults{billUsage: true}), syncTraits}, []string{"usage-billing"}},
	{
		variant{"bills-chunks-claims-usage", withFaults(faults{}),
			conformance.Traits{Persists: true, Cancels: true, BillsUsage: true, Buffer: conformance.None}},
		[]string{"usage-billing"},
	},
	{
		variant{"legacy-claims-cancel", func(l impls.Ledger) impls.Pipeline { return &legacyRef{ledger: l} },
			conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.Unbounded}},
		[]string{"disconnect"},
	},
	{
		variant{"legacy-claims-exact-bill", func(l impls.Ledger) impls.Pipeline { return &legacyRef{ledger: l} },
			conformance.Traits{Persists: true, DetachedFinalizer: true, Buffer: conformance.Unbounded}},
		[]string{"disconnect"},
	},
	{
		variant{"cancelling-claims-legacy", func(l impls.Ledger) impls.Pipeline { return &chanRef{ledger: l, limit: 4} },
			conformance.Traits{Persists: true, DetachedFinalizer: true, Buffer: conformance.Bounded, BufferLimit: 4}},
		[]string{"disconnect"},
	},
	{
		variant{"bounded-claims-unbounded", func(l impls.Ledger) impls.Pipeline { return &chanRef{ledger: l, limit: 4} },
			conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.Unbounded}},
		[]string{"slow-client"},
	},
	{
		variant{"queue-over-limit", func(l impls.Ledger) impls.Pipeline { return &chanRef{ledger: l, limit: 8} },
			conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.Bounded, BufferLimit: 4}},
		[]string{"slow-client"},
	},
	{
		variant{"dropping-claims-bounded", func(l impls.Ledger) impls.Pipeline { return &chanRef{ledger: l, limit: 4, drop: true} },
			conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.Bounded, BufferLimit: 4}},
		[]string{"slow-client"},
	},
	{
		variant{"passthrough-claims-persist", func(impls.Ledger) impls.Pipeline { return passthrough.New() },
			conformance.Traits{Persists: true, Buffer: conformance.None}},
		[]string{"in-order", "disconnect", "provider-failure"},
	},
}

var syncTraits = conformance.Traits{Persists: true, Cancels: true, Buffer: conformance.None}

func withFaults(f faults) func(impls.Ledger) impls.Pipeline {
	return func(l impls.Ledger) impls.Pipeline { return &syncRef{ledger: l, f: f} }
}

// brokenEnv, when set, makes TestBroken run the suite against the broken
// pipelines; it is set only in the child process TestSuiteFails starts.
const brokenEnv = "CONFORMANCE_RUN_BROKEN"

// TestBroken runs the suite against every broken pipeline. It is expected to
// fail, so it runs only in a child process of TestSuiteFails.
func TestBroken(t *testing.T) {
	if os.Getenv(brokenEnv) == "" {
		t.Skip("runs only as the child process of TestSuiteFails")
	}
	for _, b := range broken {
		conformance.Run(t, b.name, b.newPipeline, b.traits)
	}
}

// TestSuiteFails proves the suite can fail: for every broken pipeline it runs
// TestBroken in a child process (so the failures are observed, not
// propagated, and a leaked goroutine's synctest panic ends only that child)
// and checks that the pipeline failed the sub-tests it must fail.
func TestSuiteFails(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("already the child process")
	}
	re := regexp.MustCompile(`--- FAIL: TestBroken/(\S+)`)
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBroken$/^"+regexp.QuoteMeta(b.name)+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed %s:\n%s", b.name, out)
			}
			failed := map[string]bool{}
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if m := re.FindSubmatch(sc.Bytes()); m != nil {
					failed[string(m[1])] = true
				}
			}
			for _, sub := range b.wantFail {
				if !failed[b.name+"/"+sub] {
					t.Errorf("sub-test %s passed %s; it failed %v", sub, b.name, keysWithPrefix(failed, b.name+"/"))
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}

func keysWithPrefix(m map[string]bool, prefix string) []string {
	var ks []string
	for k := range m {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			ks = append(ks, k[len(prefix):])
		}
	}
	slices.Sort(ks)
	return ks
}

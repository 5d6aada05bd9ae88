package main

import (
	"strings"
	"testing"

	"github.com/streambench/streambench/result"
)

// TestClaimPlan: the experiment's trials are valid specs, interleaved by
// repetition, each condition's variants run once per repetition (the
// ladders' variants share the heaviest firehose condition with the
// designs instead of running them twice), and the full plan walks
// GOMAXPROCS from 1 to the machine's cores.
func TestClaimPlan(t *testing.T) {
	for _, tc := range []struct {
		quick bool
		cores int
		procs []int // the firehose closed-256 GOMAXPROCS values
	}{
		{true, 2, []int{2}},
		{false, 2, []int{1, 2}},
		{false, 6, []int{1, 2, 4, 6}},
	} {
		specs, _, err := claimSpecs(claimPlan(tc.quick, tc.cores), 3)
		if err != nil {
			t.Fatalf("quick %v, %d cores: %v", tc.quick, tc.cores, err)
		}
		type key struct {
			scenario string
			load     result.Load
			procs    int
			variant  string
			trial    int
		}
		seen := map[key]bool{}
		procs := map[int]bool{}
		last := 0
		for i, s := range specs {
			if s.Order != i || s.Trial < last {
				t.Fatalf("spec %d: order %d, trial %d after %d: not interleaved by repetition", i, s.Order, s.Trial, last)
			}
			last = s.Trial
			k := key{s.Scenario, s.Load, s.GOMAXPROCS, s.Variant, s.Trial}
			if seen[k] {
				t.Fatalf("%+v runs twice in one repetition", k)
			}
			seen[k] = true
			if s.Scenario == "firehose" && s.Load.Concurrency == 256 && s.Variant == "mutex" {
				procs[s.GOMAXPROCS] = true
			}
		}
		for _, p := range tc.procs {
			if !procs[p] || len(procs) != len(tc.procs) {
				t.Errorf("quick %v, %d cores: firehose at GOMAXPROCS %v; want %v", tc.quick, tc.cores, procs, tc.procs)
				break
			}
		}
	}
}

func TestClaimUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"claim", "-trials", "1"}, "-trials must be from 2"},
		{[]string{"claim", "-budget", "-1s"}, "-budget must be positive"},
	} {
		_, stderr, code := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	stdout, _, code := runCmd(t, "claim", "-quick", "-plan")
	if code != 0 || !strings.Contains(stdout, "firehose") || !strings.Contains(stdout, "memory limit") {
		t.Errorf("claim -plan: exit %d, %q", code, stdout)
	}
}

// Package gate is a performance regression gate: it compares a head build
// with a base build on paired, interleaved trials and decides, per metric,
// whether the head passes, fails or cannot yet be told apart from its
// threshold.
//
// The decision rule is in Judge: per metric, the paired log-ratios
// head/base, their Hodges–Lehmann estimate and Wilcoxon signed-rank 95%
// interval (SignedRank); a metric fails when its interval lies wholly beyond
// its threshold, passes when it lies wholly inside, and is otherwise
// inconclusive. Run adds pairs, in ABBA order, until every metric is
// decided or the budget is spent. Thresholds are data (ParseThresholds).
//
// The package runs no processes itself: Run is handed a RunFunc that runs
// one trial of one side (cmd/bench runs each in a child process of that
// side's binary), so the rule and the schedule are testable alone. It reads
// the records of harness/result and sits below cmd/bench.
package gate

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/streambench/streambench/result"
)

// Side is the base or the head.
type Side string

// The two sides.
const (
	Base Side = "base"
	Head Side = "head"
)

// RunFunc runs repetition rep of group g (an index into Config.Groups) on
// one side. A trial that ran and failed (a crash, a violation) is a record
// with Error or Violations set; an error stops the gate.
type RunFunc func(ctx context.Context, side Side, g, rep int) (*result.Trial, error)

// Config is one gate run.
type Config struct {
	// Groups are the comparisons, each run on both sides.
	Groups []Group
	// Rules are the thresholds in force (DefaultThresholds and a file's).
	Rules []Threshold
	// Budget bounds the run: no round starts that would end past it.
	Budget time.Duration
	// MaxPairs stops a group after this many pairs; 0 means no limit.
	MaxPairs int
	// MaxOtherCPU is the largest share of the machine other processes may
	// take during a trial (its record's other_cpu_share) for its pair to
	// count; 0 or 1 counts every pair.
	MaxOtherCPU float64
	// Progress, when set, gets a line per look at the data.
	Progress io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultBudget is the gate's default time budget.
const DefaultBudget = 3 * time.Minute

// MinPairs is the fewest pairs that give a signed-rank 95% interval.
const MinPairs = 6

// Result is what a gate run decided.
type Result struct {
	Verdict Decision `json:"verdict"`
	// Base and Head say what was compared; the caller fills them in.
	Base Build `json:"base"`
	Head Build `json:"head"`
	// Budget is the run's budget.
	Budget time.Duration `json:"budget_ns"`
	// Rows are the decisions, group by group, invariants first.
	Rows []Row `json:"rows"`
	// Pairs holds each group's pairs, in the order they ran.
	Pairs [][]Pair `json:"-"`
	// Rounds is how many rounds ran; Elapsed how long the run took.
	Rounds  int           `json:"rounds"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Stopped says why the run ended: "decided", "budget", "failed" (a
	// metric or invariant failed: the verdict can no longer change),
	// "max-pairs" or "interrupted".
	Stopped  string   `json:"stopped"`
	Warnings []string `json:"warnings,omitempty"`
}

// looks reports whether a group with n pairs is judged now. Looking after
// every pair would spend the interval's 5% error rate many times over, so
// the gate looks at MinPairs and then each time the pairs have grown by
// about 30% (6, 8, 11, 15, 20, 26, ...).
func looks(n int) bool {
	for k := MinPairs; k <= n; k = int(math.Ceil(float64(k) * 1.3)) {
		if k == n {
			return true
		}
	}
	return false
}

// decided reports whether rows leave nothing inconclusive.
func decided(rows []Row) bool { return Verdict(rows) != Inconclusive }

// Run runs the gate: rounds of one pair per undecided group, base and head
// alternating in ABBA order (base first in even rounds, head first in odd
// ones) so that drift and any first-or-second effect fall on both sides
// alike, until every group is decided, a metric fails, or the budget would
// be overrun. It returns the decisions so far with the error that stopped
// it, if any.
func Run(ctx context.Context, cfg Config, run RunFunc) (*Result, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	res := &Result{Pairs: make([][]Pair, len(cfg.Groups)), Budget: cfg.Budget}
	rows := make([][]Row, len(cfg.Groups))
	done := make([]bool, len(cfg.Groups))
	var trialTime time.Duration // mean wall time of one trial so far
	trials, disturbed, empty := 0, 0, 0
	finish := func(stopped string, err error) (*Result, error) {
		res.Stopped, res.Elapsed = stopped, now().Sub(start)
		res.Rows = nil
		for gi, g := range cfg.Groups {
			if !done[gi] || rows[gi] == nil {
				rows[gi] = Judge(g, res.Pairs[gi], cfg.Rules)
			}
			res.Rows = append(res.Rows, rows[gi]...)
		}
		res.Verdict = Verdict(res.Rows)
		total := 0
		for _, ps := range res.Pairs {
			total += len(ps)
		}
		if empty > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d pairs were left out: one of their trials delivered no chunk inside its measured window", empty, total))
		}
		if disturbed > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d pairs were left out: other processes took more than %.0f%% of the machine during one of their trials (other_cpu_share)", disturbed, total, 100*cfg.MaxOtherCPU))
		}
		if stopped == "budget" && res.Verdict == Inconclusive {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the budget (%s) ran out before every metric was decided; a longer -budget buys more pairs", cfg.Budget))
		}
		return res, err
	}
	for {
		var open []int
		for gi := range cfg.Groups {
			if !done[gi] {
				open = append(open, gi)
			}
		}
		if len(open) == 0 {
			if Verdict(flatten(rows)) == Inconclusive {
				return finish("max-pairs", nil)
			}
			return finish("decided", nil)
		}
		if cfg.Budget > 0 && trials > 0 {
			next := time.Duration(2*len(open)) * trialTime
			if now().Sub(start)+next > cfg.Budget {
				return finish("budget", nil)
			}
		}
		for _, gi := range open {
			order := []Side{Base, Head}
			if res.Rounds%2 == 1 {
				order = []Side{Head, Base}
			}
			var p Pair
			for _, side := range order {
				if err := ctx.Err(); err != nil {
					return finish("interrupted", err)
				}
				t0 := now()
				rec, err := run(ctx, side, gi, res.Rounds)
				if err != nil {
					return finish("interrupted", err)
				}
				trials++
				trialTime += (now().Sub(t0) - trialTime) / time.Duration(trials)
				if side == Base {
					p.Base = rec
				} else {
					p.Head = rec
				}
			}
			switch {
			case p.Base.Failed() || p.Head.Failed():
			case p.Base.ChunksPerS == 0 || p.Head.ChunksPerS == 0:
				// Note: a starved child can deliver nothing inside its
				// window; its per-chunk metrics are then 0/0, not data.
				p.Disturbed = true
				empty++
			case cfg.MaxOtherCPU > 0 && cfg.MaxOtherCPU < 1 && max(p.Base.OtherCPUShare, p.Head.OtherCPUShare) > cfg.MaxOtherCPU:
				p.Disturbed = true
				disturbed++
			}
			if p.Base.Failed() {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: base trial #%d failed and its pair is left out: %s", cfg.Groups[gi], p.Base.Trial, failure(p.Base)))
			}
			res.Pairs[gi] = append(res.Pairs[gi], p)
		}
		res.Rounds++
		failed := false
		for _, gi := range open {
			all := len(res.Pairs[gi])
			last := res.Pairs[gi][all-1]
			n := usable(res.Pairs[gi])
			fresh := !last.Disturbed && !last.Base.Failed()
			if !last.Head.Failed() && !(fresh && looks(n)) && (cfg.MaxPairs == 0 || all < cfg.MaxPairs) {
				continue
			}
			rows[gi] = Judge(cfg.Groups[gi], res.Pairs[gi], cfg.Rules)
			done[gi] = decided(rows[gi]) || (cfg.MaxPairs > 0 && all >= cfg.MaxPairs)
			if Verdict(rows[gi]) == Fail {
				failed = true
			}
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "gate: %s after %d pairs (%s): %s\n", cfg.Groups[gi], n, now().Sub(start).Round(time.Second), Verdict(rows[gi]))
			}
		}
		if failed {
			return finish("failed", nil)
		}
	}
}

// usable counts the pairs a decision can rest on.
func usable(pairs []Pair) int {
	n := 0
	for _, p := range pairs {
		if !p.Disturbed && !p.Base.Failed() && !p.Head.Failed() {
			n++
		}
	}
	return n
}

func flatten(rows [][]Row) []Row {
	var out []Row
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

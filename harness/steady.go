package harness

import (
	"fmt"
	"math"
	"time"

	"github.com/streambench/streambench/impls"
	"github.com/streambench/streambench/scenarios"
)

// steadyBit marks the request IDs of a steady-state start's lingering
// finalizers, apart from the trial's own (measured, and warmBit's).
const steadyBit = uint64(1) << 41

// trialAccount is the account every request of a trial charges;
// steadyAccount the one a steady-state start's finalizers charge, which
// the trial's accounting leaves out (they belong to requests of before).
const (
	trialAccount  = "acct"
	steadyAccount = "steady-state"
)

// maxSteady bounds a steady-state start's population: a script that does
// not pace its streams gives no duration to estimate the disconnect rate
// from, and a million lingering finalizers is already far past any
// gateway's.
const maxSteady = 1_000_000

// steadyPlanSample is how many plans the disconnect rate is estimated from.
const steadyPlanSample = 4000

// steadyState is what a steady-state start put in place.
type steadyState struct {
	population int           // lingering finalizers started
	rate       float64       // disconnects per second estimated
	timeout    time.Duration // the finalizer timeout they wait out
	bytes      int64         // content they hold
	capped     bool          // the population hit maxSteady
}

// startSteady starts the lingering population a design whose finalizer
// lingers after a disconnect holds in steady state (Little's law: the
// disconnect rate times the finalizer timeout), before the warm-up, with
// residual times spread evenly over the timeout as a steady population's
// are, each holding what a disconnected request of the scenario would have
// accumulated. It returns nil for a design that does not linger.
//
// Note: the disconnect rate is estimated from the script, not measured:
// requests per second (the open model's rate; for the closed model the
// concurrency over the mean scripted duration of a request, its gaps and
// read delays up to where it ends or its client leaves) times the share of
// requests whose client leaves. The scripted duration is a lower bound on
// the real one (the design adds its own time), so the population is an
// upper bound where the design is slow.
func (t *trial) startSteady() *steadyState {
	l, ok := t.pipe.(impls.Lingerer)
	if !ok || !t.traits.DetachedFinalizer || t.traits.SenderDropped {
		return nil
	}
	timeout := t.limits.FinalizerTimeout
	if timeout <= 0 {
		return nil
	}
	sc := t.sc
	var leave, total int
	var dur time.Duration
	var plans []scenarios.Plan // disconnecting plans, to draw content from
	for i := range uint64(steadyPlanSample) {
		p := sc.Request(steadyBit | i)
		d, left := scriptedDuration(&p)
		dur += d
		total++
		if left {
			leave++
			plans = append(plans, p)
		}
	}
	st := &steadyState{timeout: timeout}
	if leave == 0 {
		return st
	}
	perSecond := sc.Load.Rate
	if sc.Load.Model == scenarios.Closed {
		mean := dur.Seconds() / float64(total)
		perSecond = math.Inf(1)
		if mean > 0 {
			perSecond = float64(sc.Load.Concurrency) / mean
		}
	}
	st.rate = perSecond * float64(leave) / float64(total)
	n := st.rate * timeout.Seconds()
	if n > maxSteady || math.IsInf(n, 1) {
		n, st.capped = maxSteady, true
	}
	st.population = int(n)
	// Note: a design that does not cancel keeps reading its provider
	// after the client left, accumulating the whole response: that is what
	// its lingering finalizer holds (a first steady-state start that gave
	// it only the chunks delivered held 15% less heap than a soak).
	whole := !t.traits.Cancels
	for i := range st.population {
		p := &plans[i%len(plans)]
		content, chunks, tokens := accumulated(p, whole)
		st.bytes += int64(len(content))
		req := impls.Request{ID: steadyBit | uint64(i), Account: steadyAccount, Limits: t.limits}
		// Residual times of a steady population are uniform over the
		// timeout; stratified, so that the population drains evenly.
		after := time.Duration(float64(timeout) * (float64(i) + 0.5) / float64(st.population))
		l.Linger(req, content, chunks, tokens, after)
	}
	return st
}

// scriptedDuration is how long plan p's request lasts by its script: the
// provider's gaps and the client's read delays up to its last chunk, or up
// to where its client leaves; left says the client leaves before the end.
func scriptedDuration(p *scenarios.Plan) (d time.Duration, left bool) {
	end := p.Chunks
	if k := p.DisconnectAfterChunks; k >= 0 && k < end {
		end, left = k, true
	}
	for k := range end {
		d += p.Chunk(k).Gap + p.ReadDelay(k)
	}
	if p.DisconnectAfter > 0 && p.DisconnectAfter < d {
		d, left = p.DisconnectAfter, true
	}
	return d, left
}

// accumulated is what a design holds for plan p's request once its
// client left: the content of the chunks delivered before, their count and
// tokens; or, for a design that reads on (whole), the whole response's.
func accumulated(p *scenarios.Plan, whole bool) (content []byte, chunks, tokens int64) {
	end := p.Chunks
	if k := p.DisconnectAfterChunks; k >= 0 && k < end && !whole {
		end = k
	}
	for k := range end {
		c := p.Chunk(k)
		content = append(content, c.Content...)
		tokens += c.Tokens
	}
	return content, int64(end), tokens
}

// steadyWarning says what a steady-state start did, for the record.
func (st *steadyState) warning() string {
	s := fmt.Sprintf("steady-state start: %d lingering finalizers (%.0f disconnects/s estimated from the script × the %s finalizer timeout) holding %.1f MiB were started before the warm-up",
		st.population, st.rate, st.timeout, float64(st.bytes)/(1<<20))
	if st.capped {
		s += fmt.Sprintf("; capped at %d (the script does not pace its streams enough to estimate the rate)", maxSteady)
	}
	return s
}

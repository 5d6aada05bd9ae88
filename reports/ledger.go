package reports

import (
	"fmt"
	"slices"

	"github.com/streambench/streambench/result"
)

// ledgerCell is one row's ledger figures: the medians, over the row's
// trials that did not fail, of the ledger calls' p99 wait for a
// connection (their mean wait over HTTP, whose records have no
// percentiles of it) and of the share of the window the ledger's pool was
// saturated, and the pool's size.
type ledgerCell struct {
	Wait       float64 // ns
	Saturation float64 // 0 to 1
	Conns      int
	mean       bool // Wait is a mean, not a p99
	ok         bool
}

// String formats c as "12.3ms (87% of 4 busy)" (or "1.2ms mean (...)"), or
// "-" for a row whose trials had no ledger section.
func (c ledgerCell) String() string {
	if !c.ok {
		return "-"
	}
	mean := ""
	if c.mean {
		mean = " mean"
	}
	return fmt.Sprintf("%s%s (%.0f%% of %d busy)", fmtNS(c.Wait), mean, 100*c.Saturation, c.Conns)
}

// ledgerByRow gives each row whose trials ran with a scenario's ledger
// section its ledger figures, or returns nil when no trial had one: a
// slow ledger is where a design's code waits on it (the redesign before
// Relay returns, the legacy in its finalizer), so its wait is read next
// to the row's latency.
func ledgerByRow(trials []*result.Trial) map[dropKey]ledgerCell {
	if !slices.ContainsFunc(trials, func(t *result.Trial) bool { return t.Ledger != nil && !t.Failed() }) {
		return nil
	}
	waits, means, sats := map[dropKey][]float64{}, map[dropKey][]float64{}, map[dropKey][]float64{}
	out := map[dropKey]ledgerCell{}
	for _, t := range trials {
		if t.Failed() || t.Ledger == nil {
			continue
		}
		k := dropKey{t.Key(), t.Variant}
		c := out[k]
		c.Conns, c.ok = t.Ledger.Conns, true
		c.mean = c.mean || t.Mode == result.ModeHTTP
		out[k] = c
		waits[k] = append(waits[k], float64(t.Ledger.Wait.P99))
		means[k] = append(means[k], t.Ledger.Wait.Mean)
		sats[k] = append(sats[k], t.Ledger.Saturation)
	}
	for k, c := range out {
		w := waits[k]
		if c.mean {
			w = means[k]
		}
		c.Wait, c.Saturation = median(w), median(sats[k])
		out[k] = c
	}
	return out
}

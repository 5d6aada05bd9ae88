package reports

import (
	"fmt"
	"slices"

	"github.com/streambench/streambench/result"
)

// ledgerCell is one row's ledger figures: the medians, over the row's
// trials that did not fail, of the ledger calls' p99 wait for a
// connection and of the share of the window the ledger's pool was
// saturated, and the pool's size.
type ledgerCell struct {
	WaitP99    float64 // ns
	Saturation float64 // 0 to 1
	Conns      int
	ok         bool
}

// String formats c as "12.3ms (87% of 4 busy)", or "-" for a row whose trials
// had no ledger section.
func (c ledgerCell) String() string {
	if !c.ok {
		return "-"
	}
	return fmt.Sprintf("%s (%.0f%% of %d busy)", fmtNS(c.WaitP99), 100*c.Saturation, c.Conns)
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
	waits, sats := map[dropKey][]float64{}, map[dropKey][]float64{}
	out := map[dropKey]ledgerCell{}
	for _, t := range trials {
		if t.Failed() || t.Ledger == nil {
			continue
		}
		k := dropKey{t.Key(), t.Variant}
		waits[k] = append(waits[k], float64(t.Ledger.Wait.P99))
		sats[k] = append(sats[k], t.Ledger.Saturation)
		out[k] = ledgerCell{Conns: t.Ledger.Conns, ok: true}
	}
	for k, c := range out {
		c.WaitP99, c.Saturation = median(waits[k]), median(sats[k])
		out[k] = c
	}
	return out
}

package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/streambench/streambench/result"
)

// dropKey names one row of a summary: a group and a variant.
type dropKey struct {
	Key     Key
	Variant string
}

// dropCount is the open-model arrivals of one row's trials that never
// started (requests_dropped), out of all its measured arrivals.
type dropCount struct {
	Dropped, Arrivals int64
}

// String formats c as "37 (9.2%)", or "0".
func (c dropCount) String() string {
	if c.Dropped == 0 || c.Arrivals == 0 {
		return fmtSI(float64(c.Dropped))
	}
	return fmt.Sprintf("%s (%.1f%%)", fmtSI(float64(c.Dropped)), 100*float64(c.Dropped)/float64(c.Arrivals))
}

// droppedByRow sums each row's dropped open-model arrivals over its
// trials that did not fail (the ones its other figures summarise), or
// returns nil when no trial dropped any. A dropped arrival is a miss: its
// latency is in no percentile, so a row's p99 is read next to this count.
func droppedByRow(trials []*result.Trial) map[dropKey]dropCount {
	if !slices.ContainsFunc(trials, func(t *result.Trial) bool { return t.RequestsDropped > 0 && !t.Failed() }) {
		return nil
	}
	out := map[dropKey]dropCount{}
	for _, t := range trials {
		if t.Failed() {
			continue
		}
		k := dropKey{t.Key(), t.Variant}
		c := out[k]
		c.Dropped += t.RequestsDropped
		c.Arrivals += t.StreamsCompleted + t.StreamsDisconnected + t.StreamsFailed + t.RequestsDropped
		out[k] = c
	}
	return out
}

// droppedFindings says, for each group where an open-model arrival was
// dropped, how many each variant dropped: requests that never started are
// in no latency percentile, so a p99 without this count flatters the design
// that turned the most away.
func droppedFindings(groups []*Group, rows map[dropKey]dropCount, where func(Key) string) []string {
	var out []string
	for _, g := range groups {
		var parts []string
		some := false
		for _, v := range g.Variants {
			c := rows[dropKey{g.Key, v.Variant}]
			if c.Dropped == 0 {
				parts = append(parts, v.Variant+" none")
				continue
			}
			some = true
			parts = append(parts, fmt.Sprintf("%s %d of %d (%.1f%%)", v.Variant, c.Dropped, c.Arrivals, 100*float64(c.Dropped)/float64(c.Arrivals)))
		}
		if !some {
			continue
		}
		policy := "still waiting for a slot when the window closed"
		if g.Key.Load.OnCap == result.OnCapDrop {
			policy = "dropped at the in-flight cap (-on-cap drop) or left waiting at the window's close"
		}
		out = append(out, fmt.Sprintf("%s, requests never started (%s): %s; they count as misses and are in no latency percentile.",
			capitalize(where(g.Key)), policy, strings.Join(parts, ", ")))
	}
	return out
}

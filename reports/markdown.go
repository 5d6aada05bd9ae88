package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/streambench/streambench/result"
)

// WriteMarkdown writes a summary short enough for a pull-request comment:
// one header line describing the machine and build from hdr (which may be
// nil), the findings, and a compact table of median chunks/s, p99 TTFT,
// dropped open-model requests (when there were any), the p99 ledger wait
// (when a scenario had a ledger section), leaks, upstream tokens generated
// per token delivered and the ratio
// over each group's baseline, then the attribution of each ladder in
// opts.Ladders that ran.
func WriteMarkdown(w io.Writer, hdr *result.Header, trials []*result.Trial, opts Options) error {
	opts = opts.orDefault()
	var b strings.Builder
	b.WriteString("**streambench** — " + headerLine(hdr) + "\n\n")
	if hdr != nil && hdr.Experiment == ExperimentClaim {
		writeClaimsMarkdown(&b, ClaimVerdicts(trials, opts))
	}
	for _, f := range Findings(trials, opts) {
		b.WriteString("- " + f + "\n")
	}
	dropped := droppedByRow(trials)
	dropCol, dropAlign := "", ""
	if dropped != nil {
		dropCol, dropAlign = " dropped |", "--:|"
	}
	ledger := ledgerByRow(trials)
	if ledger != nil {
		dropCol, dropAlign = dropCol+" p99 ledger wait (pool busy) |", dropAlign+"--:|"
	}
	b.WriteString("\n| scenario | load | variant | n | chunks/s | p99 TTFT |" + dropCol + " leaked | upstream/delivered | vs baseline |\n")
	b.WriteString("|---|---|---|--:|--:|--:|" + dropAlign + "--:|--:|---|\n")
	var notes footnotes
	groups := Analyze(trials, opts)
	for _, g := range groups {
		for i, v := range g.Variants {
			cps := v.Estimate(MChunksPerS)
			dropCell := ""
			if dropped != nil {
				dropCell = " " + dropped[dropKey{g.Key, v.Variant}].String() + " |"
			}
			if ledger != nil {
				dropCell += " " + ledger[dropKey{g.Key, v.Variant}].String() + " |"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d%s | %s%s | %s |%s %s | %s | %s |\n",
				g.Key.Scenario, g.Key.LoadName(), v.Variant, v.Trials, collapseNote(v),
				fmtSI(cps.Center), notes.mark(append(cps.Warnings, v.Warnings...)),
				fmtNS(v.Estimate(MTTFTP99).Center), dropCell, fmtSI(v.Estimate(MLeaked).Center),
				fmtUpstream(v), ratioCell(g, i, &notes))
		}
	}
	if lines := notes.lines(); len(lines) > 0 {
		b.WriteString("\n")
		for i, t := range lines {
			fmt.Fprintf(&b, "%s %s  \n", superscript(i+1), t)
		}
	}
	writeCapacityMarkdown(&b, trials)
	writeAttributionMarkdown(&b, Attribute(groups, opts.Ladders, MChunksPerS, opts))
	_, err := io.WriteString(w, b.String())
	return err
}

// headerLine describes the run: "Test CPU (2 cores) · GOMAXPROCS=2 ·
// go1.26.8 linux/amd64 · commit abc1234".
func headerLine(hdr *result.Header) string {
	if hdr == nil {
		return "no run header"
	}
	return fmt.Sprintf("%s (%d cores) · GOMAXPROCS=%d · %s %s/%s · commit %s",
		orDash(hdr.CPUModel), hdr.Cores, hdr.GOMAXPROCS, orDash(hdr.GoVersion), hdr.GOOS, hdr.GOARCH, orDash(hdr.Commit))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package reports

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/streambench/streambench/result"
)

// htmlPage is the report template. Note: everything is inline (style,
// images as data: URIs) so the file can be mailed, attached to CI or
// opened offline and shows the same thing; nothing is fetched.
var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>streambench report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}
dt{font-weight:bold;float:left;width:9em}dd{margin-left:10em}
figure{margin:2em 0}figcaption{color:#555;font-size:90%}img{max-width:100%}
</style></head><body>
<h1>streambench report</h1>
{{if .Claims}}<h2>Verdict on the source's claims</h2>
<p>Each row tests one of the source's claims on this machine: the redesign's best factor over the legacy (above 1x favours the claim) with its interval, where it was measured, the verdict, and the ablation ladder step that carries it. Notes follow the table.</p>
<pre>{{.Claims}}</pre>{{end}}
{{with .Header}}<dl>
<dt>Machine</dt><dd>{{.CPUModel}} · {{.Hostname}} · {{.GOOS}}/{{.GOARCH}}</dd>
<dt>Cores</dt><dd>{{.Cores}}</dd>
<dt>GOMAXPROCS</dt><dd>{{.GOMAXPROCS}} (each trial records its own)</dd>
<dt>Go</dt><dd>{{.GoVersion}}</dd>
<dt>Commit</dt><dd>{{.Commit}}</dd>
<dt>Command</dt><dd><code>{{range $i, $a := .Command}}{{if $i}} {{end}}{{$a}}{{end}}</code></dd>
<dt>Plan</dt><dd>{{.Trials}} trials of {{range $i, $v := .Variants}}{{if $i}}, {{end}}{{$v}}{{end}} on {{range $i, $s := .Scenarios}}{{if $i}}, {{end}}{{$s}}{{end}}; isolation {{.Isolation}}, seed {{.Seed}}</dd>
</dl>{{else}}<p>No run header was found.</p>{{end}}
<h2>Findings</h2>
<ul>{{range .Findings}}<li>{{.}}</li>{{end}}</ul>
<h2>Summary</h2>
<p>Medians over trials with {{.Confidence}} confidence intervals; p values are the Mann-Whitney U test's own; "~" marks a ratio that is not a finding, either not significant after Holm's correction for the run's comparisons or within the ±{{.MinEffect}} practical-significance band, and a footnote says which; footnotes carry every caveat.</p>
<pre>{{.Table}}</pre>
{{if .Attribution}}<h2>Attribution</h2>
<p>Each ablation ladder walks from mutex to lockfree one change at a time; a step's ratio is its median over the step before's, with a paired bootstrap confidence interval, and its share of the total log-ratio. The crossing step, where the code base changes, is the residual. The waterfall plots below draw the same numbers.</p>
<pre>{{.Attribution}}</pre>{{end}}
<h2>Plots</h2>
{{range .Figures}}<figure id="{{.Name}}"><img alt="{{.Title}}" src="{{.Src}}"><figcaption><b>{{.Title}}.</b> {{.Caption}}</figcaption></figure>
{{end}}
</body></html>
`))

// WriteHTML writes one self-contained HTML report of trials to w: the run
// header from hdr (which may be nil), findings, the summary table and
// every plot with a one-line caption on how to read it, and the
// attribution of each ladder in opts.Ladders that ran.
func WriteHTML(w io.Writer, hdr *result.Header, trials []*result.Trial, opts Options) error {
	figs, err := Figures(trials, opts)
	if err != nil {
		return err
	}
	return writeHTML(w, hdr, trials, figs, opts)
}

// writeHTML is WriteHTML with the figures already rendered.
func writeHTML(w io.Writer, hdr *result.Header, trials []*result.Trial, figs []Figure, opts Options) error {
	opts = opts.orDefault()
	// The summary table and the attribution get a section each.
	summary := opts
	summary.Ladders = nil
	var table, attribution bytes.Buffer
	if err := WriteTable(&table, trials, TableOptions{Stats: summary}); err != nil {
		return err
	}
	if err := writeAttribution(&attribution, Attribute(Analyze(trials, opts), opts.Ladders, MChunksPerS, opts)); err != nil {
		return err
	}
	type fig struct {
		Name, Title, Caption string
		Src                  template.URL
	}
	var claims bytes.Buffer
	if hdr != nil && hdr.Experiment == ExperimentClaim {
		if err := WriteClaims(&claims, ClaimVerdicts(trials, opts)); err != nil {
			return err
		}
	}
	data := struct {
		Claims      string
		Header      *result.Header
		Findings    []string
		Confidence  string
		Table       string
		Attribution string
		MinEffect   string
		Figures     []fig
	}{claims.String(), hdr, Findings(trials, opts), confPct(opts.Confidence), table.String(), strings.TrimLeft(attribution.String(), "\n"), fmtPct(opts.MinEffect), nil}
	if hdr != nil && len(hdr.Command) > 0 {
		// Under `go run` the program is a long path in the build cache;
		// its base name is the command a reader would type.
		h := *hdr
		h.Command = append([]string{filepath.Base(hdr.Command[0])}, hdr.Command[1:]...)
		data.Header = &h
	}
	for _, f := range figs {
		// The data: URI is built here from PNG bytes we rendered, so
		// marking it safe cannot inject anything.
		src := template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG))
		data.Figures = append(data.Figures, fig{f.Name, f.Title, f.Caption, src})
	}
	return htmlPage.Execute(w, data)
}

// Build reads result files, and *.jsonl files in directories, from files
// and writes into outDir: report.html, summary.md, results.bench (Go
// benchmark format for benchstat) and plots/. With several headers, the
// first describes the run. opts configures the statistics, the findings
// and the attribution. The warnings name what was read but not used:
// lines that are not usable records, files given twice and duplicate
// records (see ReadResults).
func Build(outDir string, files []string, opts Options) (warnings []error, err error) {
	hdr, trials, warnings, err := ReadResults(files)
	if err != nil {
		return warnings, err
	}
	if len(trials) == 0 {
		msg := "reports: no trial records in " + strings.Join(files, ", ")
		if len(warnings) > 0 {
			msg += fmt.Sprintf(" (%d lines skipped, the first: %v)", len(warnings), warnings[0])
		}
		return warnings, errors.New(msg)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return warnings, err
	}
	// Note: rendering dominates the cost of a report, so the figures are
	// rendered once and both saved and embedded.
	figs, err := Figures(trials, opts)
	if err != nil {
		return warnings, err
	}
	if _, err := saveFigures(filepath.Join(outDir, "plots"), figs); err != nil {
		return warnings, err
	}
	outputs := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"report.html", func(w io.Writer) error { return writeHTML(w, hdr, trials, figs, opts) }},
		{"summary.md", func(w io.Writer) error { return WriteMarkdown(w, hdr, trials, opts) }},
		{"results.bench", func(w io.Writer) error { return WriteBench(w, hdr, trials) }},
	}
	for _, o := range outputs {
		var b bytes.Buffer
		if err := o.write(&b); err != nil {
			return warnings, fmt.Errorf("reports: %s: %w", o.name, err)
		}
		if err := os.WriteFile(filepath.Join(outDir, o.name), b.Bytes(), 0o644); err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// ReadResults reads every record of files; a directory contributes its
// *.jsonl files. It keeps going past what it cannot use, returning a
// warning for each: a line that is not a usable record (result.Reader), a
// file given more than once (by another path, or inside a folder also
// given), and a trial record read before (the same run and position in
// it, say from a copy of a file), which would otherwise count twice in
// every statistic. A file or folder that cannot be read is an error.
func ReadResults(files []string) (hdr *result.Header, trials []*result.Trial, warnings []error, err error) {
	var seenFiles []struct {
		path string
		st   os.FileInfo
	}
	seenTrials := map[string]string{}
	dups := 0
	var firstDup error
	for _, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			return nil, nil, warnings, err
		}
		paths := []string{name}
		if st.IsDir() {
			// Note: filepath.Glob would swallow a permission error and
			// report an unreadable folder as an empty one.
			entries, err := os.ReadDir(name)
			if err != nil {
				return nil, nil, warnings, err
			}
			paths = paths[:0]
			for _, e := range entries {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".jsonl") {
					paths = append(paths, filepath.Join(name, e.Name()))
				}
			}
		}
	paths:
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, nil, warnings, err
			}
			for _, seen := range seenFiles {
				if os.SameFile(st, seen.st) {
					warnings = append(warnings, fmt.Errorf("%s: the same file as %s; read once", p, seen.path))
					continue paths
				}
			}
			seenFiles = append(seenFiles, struct {
				path string
				st   os.FileInfo
			}{p, st})
			f, err := os.Open(p)
			if err != nil {
				return nil, nil, warnings, err
			}
			r := result.NewReader(f, p)
			// fileRun names the run of records that predate run_id: the
			// file's header, else the file.
			fileRun := p
			for r.Scan() {
				switch rec := r.Record().(type) {
				case *result.Header:
					if hdr == nil {
						hdr = rec
					}
					if fileRun == p && rec.RunID == "" {
						fileRun = rec.Time.String() + "|" + rec.Hostname
					}
				case *result.Trial:
					run := rec.RunID
					if run == "" {
						run = fileRun
					}
					key := fmt.Sprintf("%s|%d|%s|%d|%s", run, rec.Order, rec.Variant, rec.Trial, groupKeyOf(rec))
					at := fmt.Sprintf("%s:%d", p, r.Line())
					if prev, ok := seenTrials[key]; ok {
						dups++
						if firstDup == nil {
							firstDup = fmt.Errorf("%s is %s's %s trial %d again", at, prev, rec.Variant, rec.Trial)
						}
						continue
					}
					seenTrials[key] = at
					trials = append(trials, rec)
				}
			}
			f.Close()
			warnings = append(warnings, r.Warnings()...)
			if err := r.Err(); err != nil {
				return nil, nil, warnings, err
			}
		}
	}
	if dups > 0 {
		warnings = append(warnings, fmt.Errorf("%d duplicate trial records dropped (the same run and trial read twice; the first: %v)", dups, firstDup))
	}
	return hdr, trials, warnings, nil
}

// groupKeyOf names what a trial measured: scenario, load and GOMAXPROCS.
func groupKeyOf(t *result.Trial) string {
	return fmt.Sprintf("%s|%s|%d|%g|%s|%d", t.Scenario, t.Load.Model, t.Load.Concurrency, t.Load.Rate, t.Load.Arrival, t.GOMAXPROCS)
}

// WriteBench writes trials in Go benchmark format, one line per successful
// trial, named like BenchmarkStream/scenario=chat/load=closed-64/variant=mutex-2
// (the -2 is GOMAXPROCS), so that
//
//	benchstat -col /variant results.bench
//
// compares variants. Failed trials are left out, as in the statistics.
//
// Note: benchstat takes the first column it meets as the base of every
// comparison, so the lines are written variant by variant in the report's
// order (the legacy mutex first, the baseline every ratio uses; the
// pass-through calibration, which runs first in each group, does not lead).
func WriteBench(w io.Writer, hdr *result.Header, trials []*result.Trial) error {
	rank := map[string]int{}
	for i, name := range orderVariants(trials) {
		rank[name] = i
	}
	trials = slices.Clone(trials)
	slices.SortStableFunc(trials, func(a, b *result.Trial) int { return rank[a.Variant] - rank[b.Variant] })
	bw := benchfmt.NewWriter(w)
	var cfg []benchfmt.Config
	if hdr != nil {
		for _, kv := range [][2]string{{"goos", hdr.GOOS}, {"goarch", hdr.GOARCH}, {"cpu", hdr.CPUModel}, {"commit", hdr.Commit}, {"go", hdr.GoVersion}} {
			if kv[1] != "" {
				cfg = append(cfg, benchfmt.Config{Key: kv[0], Value: []byte(kv[1]), File: true})
			}
		}
	}
	for _, t := range trials {
		if t.Failed() {
			continue
		}
		k := t.Key()
		name := fmt.Sprintf("Stream/scenario=%s/load=%s/variant=%s", t.Scenario, k.LoadName(), t.Variant)
		if t.GOMAXPROCS > 1 {
			name += fmt.Sprintf("-%d", t.GOMAXPROCS)
		}
		iters := int(t.Accounting.ChunksDelivered)
		if iters <= 0 {
			iters = 1
		}
		res := &benchfmt.Result{
			Config: cfg,
			Name:   benchfmt.Name(name),
			Iters:  iters,
			Values: []benchfmt.Value{
				{Value: t.ChunksPerS, Unit: "chunks/s"},
				{Value: t.CPUNSPerChunk, Unit: "ns/chunk"},
				{Value: t.AllocsPerChunk, Unit: "allocs/chunk"},
				{Value: float64(t.TTFT.P99), Unit: "ttft-p99-ns"},
				{Value: float64(t.GoroutinesLeaked), Unit: "leaked-goroutines"},
			},
		}
		if err := bw.Write(res); err != nil {
			return err
		}
	}
	return nil
}

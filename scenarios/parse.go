package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a scenario: where it is and what is wrong.
type Error struct {
	// File is the file name as given to Parse; empty for Validate.
	File string
	// Line is the 1-based line of the offending value; 0 if unknown.
	Line int
	// Field is the dotted path of the field (provider.inter_chunk.max);
	// empty for a problem with the whole file.
	Field string
	Msg   string
}

// Error formats e as "file:line: field: msg", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one scenario, in file order.
type ErrorList []*Error

// Error formats the list one problem per line, the first MaxListedErrors
// of them, then how many more there are.
func (l ErrorList) Error() string {
	n := min(len(l), MaxListedErrors)
	s := make([]string, n, n+1)
	for i, e := range l[:n] {
		s[i] = e.Error()
	}
	if more := len(l) - n; more > 0 {
		s = append(s, fmt.Sprintf("... and %d more problems", more))
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the problems, for errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// LoadFile reads and parses the scenario file at path. A file larger than
// MaxFileBytes is refused without being read whole.
func LoadFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// tooLarge is the problem of a file over MaxFileBytes.
func tooLarge(file string) ErrorList {
	return ErrorList{{File: file, Msg: fmt.Sprintf("larger than %d bytes: not a scenario (a scenario file is a few hundred bytes)", MaxFileBytes)}}
}

// Parse decodes a scenario from YAML, strictly: unknown fields, wrong types
// and impossible values are errors. On failure the error is an ErrorList with
// every problem at once, each naming file (as given), line and field. On
// success the scenario is valid and defaults are filled in (see Default).
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileBytes {
		return nil, tooLarge(file)
	}
	d := &decoder{file: file, lines: map[string]int{}, bad: map[string]bool{}}
	root, err := decodeYAML(data)
	if err != nil {
		return nil, ErrorList{d.fileError(err)}
	}
	s := Default()
	d.scenario(root, s)
	for _, e := range s.problems() {
		if d.failed(e.Field) {
			continue // Already reported as a decoding problem.
		}
		e.File, e.Line = file, d.line(e.Field)
		d.errs = append(d.errs, e)
	}
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, d.errs
	}
	return s, nil
}

// decodeYAML returns the mapping node at the root of data's only document.
func decodeYAML(data []byte) (root *yaml.Node, err error) {
	// Note: the decoder is a large hand-written state machine fed untrusted
	// bytes; a panic in it is reported as a bad file, not a crash.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML (%v)", r)
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file: not a scenario")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty file: not a scenario")
		}
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		return nil, &Error{Line: next.Line, Msg: "more than one YAML document: a file holds one scenario"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("empty file: not a scenario")
	}
	n := doc.Content[0]
	if n.Kind != yaml.MappingNode {
		return nil, &Error{Line: n.Line, Msg: "not a scenario: want a mapping of fields (name, provider, client, load, limits), got " + describe(n)}
	}
	return n, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:invalid YAML: )?line (\d+): `)

// fileError turns a whole-file error into an Error, lifting a line number
// out of the YAML library's message.
func (d *decoder) fileError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		e.File = d.file
		return e
	}
	msg, line := err.Error(), 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = "invalid YAML: " + msg[len(m[0]):]
	}
	return &Error{File: d.file, Line: line, Msg: msg}
}

// decoder walks the YAML tree into a Scenario, collecting every problem.
type decoder struct {
	file string
	errs ErrorList
	// lines maps each field path seen to its line, so that problems found
	// by Validate on the decoded struct can be placed in the file.
	lines map[string]int
	// bad holds the paths that failed to decode; Validate's complaints about
	// them (now holding defaults) would be noise.
	bad map[string]bool
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of path, or of its closest recorded parent.
func (d *decoder) line(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return d.lines[""]
		}
		path = path[:i]
	}
}

// failed reports whether path or one of its parents failed to decode.
func (d *decoder) failed(path string) bool {
	for {
		if d.bad[path] {
			return true
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return false
		}
		path = path[:i]
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// field is one key of a YAML mapping and how to decode its value.
type field struct {
	name   string
	decode func(n *yaml.Node, path string)
}

// object decodes the mapping n at path field by field, reporting unknown,
// duplicate and missing required keys. It reports whether n was a mapping.
func (d *decoder) object(n *yaml.Node, path string, fields []field, required ...string) bool {
	if n.Kind != yaml.MappingNode {
		what := "a mapping"
		if path == "" {
			what = "a mapping of scenario fields"
		}
		d.errorf(n, path, "must be %s, got %s", what, describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, p, "duplicate field")
			continue
		}
		seen[k.Value] = true
		j := slices.IndexFunc(fields, func(f field) bool { return f.name == k.Value })
		if j < 0 {
			names := make([]string, len(fields))
			for i, f := range fields {
				names[i] = f.name
			}
			d.errorf(k, p, "unknown field (want one of %s)", strings.Join(names, ", "))
			continue
		}
		d.lines[p] = k.Line
		if val.Kind == yaml.AliasNode {
			d.errorf(val, p, "YAML aliases are not supported")
			continue
		}
		fields[j].decode(val, p)
	}
	for _, r := range required {
		if !seen[r] {
			// Point at the parent's key, not at its first child.
			at := &yaml.Node{Line: n.Line}
			if l, ok := d.lines[path]; ok && path != "" {
				at.Line = l
			}
			d.errorf(at, join(path, r), "required")
		}
	}
	return true
}

func (d *decoder) scenario(n *yaml.Node, s *Scenario) {
	d.lines[""] = n.Line
	d.object(n, "", []field{
		{"name", d.str(&s.Name)},
		{"description", d.str(&s.Description)},
		{"seed", d.uint(&s.Seed)},
		{"time_scale", d.float(&s.TimeScale)},
		{"provider", func(n *yaml.Node, path string) { d.provider(n, path, &s.Provider) }},
		{"client", func(n *yaml.Node, path string) { d.client(n, path, &s.Client) }},
		{"load", func(n *yaml.Node, path string) { d.load(n, path, &s.Load) }},
		{"limits", func(n *yaml.Node, path string) { d.limits(n, path, &s.Limits) }},
		{"ledger", func(n *yaml.Node, path string) {
			s.Ledger = new(Ledger)
			d.ledger(n, path, s.Ledger)
		}},
		{"slo", func(n *yaml.Node, path string) { d.slo(n, path, &s.SLO) }},
	}, "name", "load")
}

// slo decodes the latency objective; a mapping without either bound is
// refused, since it would judge nothing.
func (d *decoder) slo(n *yaml.Node, path string, o *SLO) {
	if !d.object(n, path, []field{
		{"ttft", d.duration(&o.TTFT)},
		{"e2e", d.duration(&o.E2E)},
	}) {
		return
	}
	if len(n.Content) == 0 {
		d.errorf(n, path, "sets no bound: give ttft, e2e or both")
	}
}

func (d *decoder) provider(n *yaml.Node, path string, p *Provider) {
	d.object(n, path, []field{
		{"ttft", durationDist(d, &p.TTFT)},
		{"inter_chunk", durationDist(d, &p.InterChunk)},
		{"tokens_per_chunk", intDist(d, &p.TokensPerChunk)},
		{"bytes_per_token", intDist(d, &p.BytesPerToken)},
		{"response_tokens", intDist(d, &p.ResponseTokens)},
		{"prompt_tokens", intDist(d, &p.PromptTokens)},
		{"fail_probability", d.float(&p.FailProbability)},
		{"stall_probability", d.float(&p.StallProbability)},
		{"stall", durationDist(d, &p.Stall)},
		{"finish_reason", d.str(&p.FinishReason)},
		{"max_concurrent", func(n *yaml.Node, path string) {
			if v, ok := d.integer(n, path); ok {
				if v != int64(int(v)) {
					d.errorf(n, path, "out of range (got %d)", v)
				}
				p.MaxConcurrent = int(v)
			}
		}},
		{"tokens_per_s", d.float(&p.TokensPerS)},
	}, "response_tokens")
}

func (d *decoder) client(n *yaml.Node, path string, c *Client) {
	d.object(n, path, []field{
		{"read_delay", durationDist(d, &c.ReadDelay)},
		{"disconnect_probability", d.float(&c.DisconnectProbability)},
		{"disconnect_after_chunks", func(n *yaml.Node, path string) {
			c.DisconnectAfterChunks = new(IntDist)
			intDist(d, c.DisconnectAfterChunks)(n, path)
		}},
		{"disconnect_after", func(n *yaml.Node, path string) {
			c.DisconnectAfter = new(DurationDist)
			durationDist(d, c.DisconnectAfter)(n, path)
		}},
	})
}

func (d *decoder) load(n *yaml.Node, path string, l *Load) {
	d.object(n, path, []field{
		{"model", d.str((*string)(&l.Model))},
		{"concurrency", func(n *yaml.Node, path string) {
			if v, ok := d.integer(n, path); ok {
				if v != int64(int(v)) {
					d.errorf(n, path, "out of range (got %d)", v)
				}
				l.Concurrency = int(v)
			}
		}},
		{"rate", d.float(&l.Rate)},
		{"arrival", d.str((*string)(&l.Arrival))},
		{"duration", d.duration(&l.Duration)},
		{"requests", d.int(&l.Requests)},
		{"warmup", d.duration(&l.Warmup)},
	}, "model")
}

func (d *decoder) limits(n *yaml.Node, path string, l *Limits) {
	d.object(n, path, []field{
		{"content_cap", d.size(&l.ContentCap)},
		{"finalizer_timeout", d.duration(&l.FinalizerTimeout)},
	})
}

func (d *decoder) ledger(n *yaml.Node, path string, l *Ledger) {
	d.object(n, path, []field{
		{"persist", durationDist(d, &l.Persist)},
		{"charge", durationDist(d, &l.Charge)},
		{"pool", func(n *yaml.Node, path string) {
			if v, ok := d.integer(n, path); ok {
				if v != int64(int(v)) {
					d.errorf(n, path, "out of range (got %d)", v)
				}
				l.Pool = int(v)
			}
		}},
	}, "pool")
}

// scalar reports whether n is a scalar, complaining if not.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.errorf(n, path, "must be %s, got %s", want, describe(n))
	return false
}

func (d *decoder) str(out *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if !d.scalar(n, path, "a string") {
			return
		}
		if n.ShortTag() != "!!str" {
			d.errorf(n, path, "must be a string, got %s", describe(n))
			return
		}
		*out = n.Value
	}
}

func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	if !d.scalar(n, path, "an integer") {
		return 0, false
	}
	var v int64
	if n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.errorf(n, path, "must be an integer, got %s", describe(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) int(out *int64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if v, ok := d.integer(n, path); ok {
			*out = v
		}
	}
}

func (d *decoder) uint(out *uint64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if !d.scalar(n, path, "a non-negative integer") {
			return
		}
		var v uint64
		if n.ShortTag() != "!!int" || n.Decode(&v) != nil {
			d.errorf(n, path, "must be a non-negative integer, got %s", describe(n))
			return
		}
		*out = v
	}
}

func (d *decoder) float(out *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if !d.scalar(n, path, "a number") {
			return
		}
		var v float64
		if t := n.ShortTag(); (t != "!!int" && t != "!!float") || n.Decode(&v) != nil {
			d.errorf(n, path, "must be a number, got %s", describe(n))
			return
		}
		*out = v
	}
}

func (d *decoder) parseDuration(n *yaml.Node, path string) (time.Duration, bool) {
	if !d.scalar(n, path, `a duration such as "20ms"`) {
		return 0, false
	}
	if n.ShortTag() == "!!int" && n.Value == "0" {
		return 0, true
	}
	v, err := time.ParseDuration(n.Value)
	if n.ShortTag() != "!!str" || err != nil {
		d.errorf(n, path, `must be a duration such as "20ms" or "1.5s", got %s`, describe(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) duration(out *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if v, ok := d.parseDuration(n, path); ok {
			*out = v
		}
	}
}

var sizeRE = regexp.MustCompile(`^(\d+)\s*(B|KiB|MiB|GiB|TiB)?$`)

// ParseSize parses a byte count: an integer, or one with a binary unit
// such as "64KiB", "512MiB" or "2GiB".
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf(`must be a byte count such as 65536 or "64KiB" (B, KiB, MiB, GiB, TiB), got %q`, s)
	}
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || v > (1<<63-1)>>shift {
		return 0, fmt.Errorf("out of range (got %q)", s)
	}
	return v << shift, nil
}

// size decodes a byte count: an integer, or a string such as "64KiB".
func (d *decoder) size(out *int64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if !d.scalar(n, path, "a size") {
			return
		}
		if n.ShortTag() == "!!int" {
			if v, ok := d.integer(n, path); ok {
				*out = v
			}
			return
		}
		if n.ShortTag() != "!!str" {
			d.errorf(n, path, `must be a byte count such as 65536 or "64KiB", got %s`, describe(n))
			return
		}
		v, err := ParseSize(n.Value)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		*out = v
	}
}

// distKinds are the distribution families by their names in a file.
var distKinds = map[string]Kind{"const": Const, "uniform": Uniform, "normal": Normal, "lognormal": LogNormal, "exp": Exp}

func durationDist(d *decoder, out *DurationDist) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) { decodeDist(d, n, path, out, d.parseDuration) }
}

func intDist(d *decoder, out *IntDist) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) { decodeDist(d, n, path, out, d.integer) }
}

// decodeDist decodes a distribution: a bare scalar (a constant) or a mapping
// with exactly one family key, e.g. {uniform: [10ms, 40ms]}.
func decodeDist[T ~int64](d *decoder, n *yaml.Node, path string, out *Dist[T], parse func(*yaml.Node, string) (T, bool)) {
	const want = "a value or one of {const: v}, {uniform: [lo, hi]}, {normal: {mean, stddev}}, {lognormal: {median, sigma}}, {exp: {mean}}"
	if n.Kind == yaml.ScalarNode {
		if v, ok := parse(n, path); ok {
			*out = Dist[T]{Kind: Const, Value: v}
		}
		return
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 || n.Content[0].Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be %s", want)
		return
	}
	k, val := n.Content[0], n.Content[1]
	kind, ok := distKinds[k.Value]
	if !ok {
		d.errorf(k, path, "unknown distribution %q (want const, uniform, normal, lognormal or exp)", k.Value)
		return
	}
	if val.Kind == yaml.AliasNode {
		d.errorf(val, path, "YAML aliases are not supported")
		return
	}
	dist := Dist[T]{Kind: kind}
	param := func(out *T) func(*yaml.Node, string) {
		return func(n *yaml.Node, path string) {
			if v, ok := parse(n, path); ok {
				*out = v
			}
		}
	}
	minmax := []field{{"min", param(&dist.Min)}, {"max", param(&dist.Max)}}
	switch kind {
	case Const:
		d.lines[path] = val.Line
		if v, ok := parse(val, path); ok {
			dist.Value = v
		}
	case Uniform:
		if val.Kind != yaml.SequenceNode || len(val.Content) != 2 {
			d.errorf(val, path, "uniform must be [lo, hi], got %s", describe(val))
			return
		}
		for i, p := range []*T{&dist.Min, &dist.Max} {
			name := join(path, []string{"min", "max"}[i])
			d.lines[name] = val.Content[i].Line
			if val.Content[i].Kind == yaml.AliasNode {
				d.errorf(val.Content[i], name, "YAML aliases are not supported")
				continue
			}
			param(p)(val.Content[i], name)
		}
	case Normal:
		d.object(val, path, append([]field{{"mean", param(&dist.Mean)}, {"stddev", param(&dist.Stddev)}}, minmax...), "mean", "stddev")
	case LogNormal:
		d.object(val, path, append([]field{{"median", param(&dist.Median)}, {"sigma", d.float(&dist.Sigma)}}, minmax...), "median", "sigma")
	case Exp:
		d.object(val, path, append([]field{{"mean", param(&dist.Mean)}}, minmax...), "mean")
	}
	*out = dist
}

// describe names what n is, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return strconv.Quote(truncate(n.Value))
		default:
			return truncate(n.Value)
		}
	}
	return "nothing"
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

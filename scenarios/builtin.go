package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// builtinFS holds the built-in scenario files, one scenario per file named
// after it.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin returns fresh copies of the built-in scenarios, sorted by name.
// The caller may modify them (for example to override the load).
func Builtin() []*Scenario {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		panic("scenarios: reading embedded built-ins: " + err.Error())
	}
	var out []*Scenario
	for _, e := range entries {
		out = append(out, mustParseBuiltin(e.Name()))
	}
	slices.SortFunc(out, func(a, b *Scenario) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// mustParseBuiltin parses an embedded file; the package's tests guarantee
// every one is valid, so a failure is a build defect.
func mustParseBuiltin(file string) *Scenario {
	data, err := builtinFS.ReadFile(path.Join("builtin", file))
	if err != nil {
		panic("scenarios: reading embedded built-in: " + err.Error())
	}
	s, err := Parse(file, data)
	if err != nil {
		panic("scenarios: invalid built-in:\n" + err.Error())
	}
	return s
}

// Names returns the names of the built-in scenarios, sorted.
func Names() []string {
	var names []string
	for _, s := range Builtin() {
		names = append(names, s.Name)
	}
	return names
}

// Lookup returns a fresh copy of the built-in scenario called nameOrPath, or
// else the scenario in the file at that path. A name that is neither is an
// error listing the built-ins.
func Lookup(nameOrPath string) (*Scenario, error) {
	for _, s := range Builtin() {
		if s.Name == nameOrPath {
			return s, nil
		}
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("unknown scenario %q: not a built-in (%s) nor a readable file", nameOrPath, strings.Join(Names(), ", "))
	}
	return LoadFile(nameOrPath)
}

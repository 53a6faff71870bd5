package config

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
)

// maxConfigBytes bounds a configuration file read by LoadFile.
const maxConfigBytes = 32 << 20

// Options changes how Load reads a configuration.
type Options struct {
	// LookupEnv resolves ${VAR} references and tenant env keys; nil means
	// os.LookupEnv.
	LookupEnv func(name string) (value string, ok bool)
}

// Load decodes, completes and validates a YAML configuration, reading the
// environment with os.LookupEnv. See LoadWith.
func Load(data []byte) (*Config, error) {
	return LoadWith(data, Options{})
}

// LoadFile reads a configuration file and loads it like Load. Relative
// paths inside it (api_key_file) are relative to the working directory, as
// for the TLS files the server reads.
func LoadFile(name string) (*Config, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("load config: %s is larger than %d bytes", name, maxConfigBytes)
	}
	return Load(data)
}

// LoadWith decodes, completes and validates a YAML configuration:
//
//  1. The YAML is parsed strictly: an unknown key, a duplicate key or a
//     value of the wrong type is a problem at its path.
//  2. ${VAR} and ${VAR:-default} (default used when VAR is unset or
//     empty) are expanded in scalar values after parsing, so an
//     environment value can never add YAML structure; "$${" stands for a
//     literal "${". An unset variable without a default is a problem.
//  3. Absent values take their defaults (see defaults.go).
//  4. Provider api_key_file is read into APIKey and tenant env keys are
//     hashed (see Tenant.KeyDigests); clear tenant keys are not kept.
//  5. Every rule is checked.
//
// Any problem makes LoadWith return a *ValidationError listing all of them
// in document order, each with its path and line.
func LoadWith(data []byte, opts Options) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	root, syntax := parseYAML(data)
	if syntax != nil {
		return nil, &ValidationError{Problems: []Problem{*syntax}}
	}
	d := newDecoder(lookup)
	c := &Config{}
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
	}
	problems := d.problems
	if d.exhausted {
		return nil, &ValidationError{Problems: problems}
	}
	applyDefaults(c, func(p string) bool { return d.present[p] })
	for _, p := range append(resolve(c, lookup), check(c)...) {
		if !d.failedAt(p.Path) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		// Sort by where each problem is in the file; a missing key sorts
		// at its enclosing value.
		at := make([]position, len(problems))
		for i := range problems {
			at[i] = d.positionOf(problems[i].Path)
			if problems[i].Line == 0 {
				problems[i].Line = at[i].line
			} else if at[i].line != problems[i].Line {
				at[i] = position{problems[i].Line, 0}
			}
		}
		idx := make([]int, len(problems))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool {
			pa, pb := at[idx[a]], at[idx[b]]
			return pa.line < pb.line || pa.line == pb.line && pa.col < pb.col
		})
		sorted := make([]Problem, len(problems))
		for i, j := range idx {
			sorted[i] = problems[j]
		}
		return nil, &ValidationError{Problems: sorted}
	}
	return c, nil
}

// failedAt reports whether p, a path enclosing it or a path inside it
// failed to decode. A check there judges a value that is partly missing
// (the zero left by the failure) and would only add a second, confusing
// problem, such as "needs at least one key" when the keys had a typo.
func (d *decoder) failedAt(p string) bool {
	for q := range d.failed {
		if strings.HasPrefix(q, p) && (p == "" || len(q) > len(p) && (q[len(p)] == '.' || q[len(p)] == '[')) {
			return true
		}
	}
	for {
		if d.failed[p] {
			return true
		}
		parent, ok := parentPath(p)
		if !ok {
			return false
		}
		p = parent
	}
}

// positionOf returns where p is or, when p is not in the file (a missing
// key), where its nearest enclosing value is.
func (d *decoder) positionOf(p string) position {
	for {
		if pos, ok := d.pos[p]; ok {
			return pos
		}
		parent, ok := parentPath(p)
		if !ok {
			return position{}
		}
		p = parent
	}
}

// parentPath strips the last element of a path: "a.b[2]" → "a.b" → "a" → "".
func parentPath(p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if strings.HasSuffix(p, "]") {
		// Find the '[' opening the last element, skipping a quoted key.
		if strings.HasSuffix(p, `"]`) {
			if i := strings.LastIndex(p, `["`); i >= 0 {
				return p[:i], true
			}
		}
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i], true
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i], true
	}
	return "", true
}

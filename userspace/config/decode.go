package config

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxAliasValues bounds the values decoded through aliases, so a document
// whose aliases multiply ("billion laughs") fails fast instead of
// exhausting memory or time. Values written out in the file do not count:
// their number is bounded by the file's size.
const maxAliasValues = 1 << 17

// maxMergeDepth bounds nested "<<" merge keys (a merge may refer to itself).
const maxMergeDepth = 32

// decoder turns a YAML node tree into a Config by reflection, driven by the
// Go types: every unknown key, type mismatch and environment reference error
// is collected with its path and line instead of stopping at the first.
//
// yaml.v3's own strict decoding reports only the first problem and names a
// line but not a path, which is why weir walks the tree itself.
type decoder struct {
	lookup func(string) (string, bool)
	// pos maps a path to where it was written.
	pos map[string]position
	// present holds the paths that were given a non-null value; defaults use
	// it where zero is a meaningful explicit value (target weight).
	present map[string]bool
	// failed holds the paths whose value could not be decoded; validation
	// problems at or below them are dropped as consequences.
	failed   map[string]bool
	problems []Problem
	// aliasDepth > 0 while decoding through an alias; aliasValues counts
	// the values decoded so.
	aliasDepth  int
	aliasValues int
	exhausted   bool
}

func newDecoder(lookup func(string) (string, bool)) *decoder {
	return &decoder{
		lookup:  lookup,
		pos:     map[string]position{},
		present: map[string]bool{},
		failed:  map[string]bool{},
	}
}

// position is a place in the YAML text; problems sort by it.
type position struct{ line, col int }

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.failed[path] = true
	// A value that failed to decode counts as absent, so its default fills
	// it rather than a zero that would cause a second problem.
	delete(d.present, path)
	d.problems = append(d.problems, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

var (
	durationType        = reflect.TypeFor[Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decode stores n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.exhausted {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(path, n.Line, "unresolved alias")
			return
		}
		d.aliasDepth++
		defer func() { d.aliasDepth-- }()
		n = n.Alias
	}
	if d.aliasDepth > 0 {
		d.aliasValues++
		if d.aliasValues > maxAliasValues {
			d.exhausted = true
			d.fail(path, n.Line, "document too large: aliases expand to more than %d values", maxAliasValues)
			return
		}
	}
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = position{n.Line, n.Column}
	}
	if isNull(n) {
		return
	}
	d.present[path] = true

	t := v.Type()
	switch {
	case t == durationType:
		raw, s, ok := d.scalar(n, path, "a duration")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, n.Line, "invalid duration %s (write a number with a unit, e.g. \"30s\", \"250ms\", \"10m\")", shown(raw, s))
			return
		}
		v.SetInt(int64(dur))
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		raw, s, ok := d.scalar(n, path, "a string")
		if !ok {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, n.Line, "invalid value %s", shown(raw, s))
		}
		return
	}

	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n.Line, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if _, s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		raw, s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		switch {
		case strings.EqualFold(s, "true"):
			v.SetBool(true)
		case strings.EqualFold(s, "false"):
			v.SetBool(false)
		default:
			d.fail(path, n.Line, "expected true or false, got %s", shown(raw, s))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		raw, s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 0, t.Bits())
		if err != nil {
			d.fail(path, n.Line, "expected an integer, got %s", shown(raw, s))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		raw, s, ok := d.scalar(n, path, "a non-negative integer")
		if !ok {
			return
		}
		u, err := strconv.ParseUint(s, 0, t.Bits())
		if err != nil {
			d.fail(path, n.Line, "expected a non-negative integer, got %s", shown(raw, s))
			return
		}
		v.SetUint(u)
	default:
		// Unreachable for the schema in types.go; a new field type must be
		// taught to the decoder rather than silently skipped.
		d.fail(path, n.Line, "internal error: cannot decode into %s", t)
	}
}

// scalar expands a scalar node. It returns the raw text (safe to show: it
// is what the file says) and the expanded value (not safe to show when it
// came from the environment).
func (d *decoder) scalar(n *yaml.Node, path, want string) (raw, val string, ok bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "expected %s, got %s", want, describe(n))
		return "", "", false
	}
	s, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.fail(path, n.Line, "%s", err.Error())
		return "", "", false
	}
	return n.Value, s, true
}

// shown quotes a rejected value for a message. When the value came from an
// environment variable only the reference is shown: it may be a secret
// written into the wrong variable.
func shown(raw, val string) string {
	if raw != val {
		return fmt.Sprintf("%s (from %q; value not shown)", "a value", truncate(raw, 60))
	}
	return strconv.Quote(truncate(raw, 60))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 &&
		n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "the value " + strconv.Quote(truncate(n.Value, 60))
	case yaml.DocumentNode:
		return "a document"
	}
	return "an unknown node"
}

type pair struct {
	key, value *yaml.Node
}

// pairs returns the key/value pairs of a mapping with "<<" merge keys
// resolved: explicit keys win over merged ones, earlier merges over later.
// Duplicate explicit keys are reported.
//
// stack holds the mappings being merged into, to reject a mapping that
// merges itself; merged pairs count against maxAliasValues because a chain
// of merges can multiply like aliases do.
func (d *decoder) pairs(n *yaml.Node, path string, stack []*yaml.Node) []pair {
	if d.exhausted {
		return nil
	}
	if len(stack) > maxMergeDepth {
		d.fail(path, n.Line, "merge keys (<<) nested more than %d deep", maxMergeDepth)
		return nil
	}
	if slices.Contains(stack, n) {
		d.fail(path, n.Line, "merge key (<<) refers to the mapping it is in")
		return nil
	}
	var out []pair
	var merges []*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "mapping keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(keyPath(path, k.Value), k.Line, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, val})
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		var sources []*yaml.Node
		switch m.Kind {
		case yaml.MappingNode:
			sources = []*yaml.Node{m}
		case yaml.SequenceNode:
			sources = m.Content
		default:
			d.fail(path, m.Line, "merge key (<<) needs a mapping or a list of mappings, got %s", describe(m))
			continue
		}
		for _, src := range sources {
			if src.Kind == yaml.AliasNode && src.Alias != nil {
				src = src.Alias
			}
			if src.Kind != yaml.MappingNode {
				d.fail(path, src.Line, "merge key (<<) needs a mapping or a list of mappings, got %s", describe(src))
				continue
			}
			for _, p := range d.pairs(src, path, append(stack, n)) {
				if d.exhausted {
					return nil
				}
				if d.aliasValues++; d.aliasValues > maxAliasValues {
					d.exhausted = true
					d.fail(path, n.Line, "document too large: aliases expand to more than %d values", maxAliasValues)
					return nil
				}
				if _, dup := seen[p.key.Value]; dup {
					continue
				}
				seen[p.key.Value] = p.key.Line
				out = append(out, p)
			}
		}
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range d.pairs(n, path, nil) {
		name := p.key.Value
		fp := keyPath(path, name)
		idx, ok := fields.index[name]
		if !ok {
			msg := "unknown key"
			if s := closest(name, fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.pos[fp] = position{p.key.Line, p.key.Column}
			d.problems = append(d.problems, Problem{Path: fp, Line: p.key.Line, Message: msg})
			continue
		}
		d.pos[fp] = position{p.key.Line, p.key.Column}
		d.decode(p.value, v.Field(idx), fp)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(path, n.Line, "internal error: cannot decode map key %s", t.Key())
		return
	}
	m := reflect.MakeMap(t)
	for _, p := range d.pairs(n, path, nil) {
		kp := keyPath(path, p.key.Value)
		d.pos[kp] = position{p.key.Line, p.key.Column}
		elem := reflect.New(t.Elem()).Elem()
		d.decode(p.value, elem, kp)
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), elem)
	}
	v.Set(m)
}

type structFields struct {
	index map[string]int
	names []string
}

var fieldCache sync.Map // reflect.Type → *structFields

// fieldsOf maps the yaml names of t's exported fields to their index.
// Fields tagged yaml:"-" and unexported fields cannot be set from YAML.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	fieldCache.Store(t, f)
	return f
}

// plainKey reports whether a key can follow a "." in a path unquoted.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c == '-' || c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return k != ""
}

// keyPath appends a mapping key to a path: ".name" for identifier-like keys,
// `["gpt-4o*"]` for anything else so the path stays unambiguous.
func keyPath(path, key string) string {
	if !plainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the candidate nearest to s by edit distance, or "" when
// none is near enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD > 2 && bestD > len(s)/3 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parseYAML parses one YAML document into a node tree. A syntax error comes
// back as a Problem with its line.
func parseYAML(data []byte) (root *yaml.Node, p *Problem) {
	defer func() {
		// The parser is third-party code fed untrusted input: a panic in it
		// must become an error, not take the process down on a reload.
		if r := recover(); r != nil {
			root, p = nil, &Problem{Message: fmt.Sprintf("invalid YAML: parser failure: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty document
		}
		return nil, syntaxProblem(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Problem{Line: extra.Line, Message: "invalid YAML: more than one document (remove the \"---\" separator)"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(err)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxProblem(err error) *Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if isParserError(m[2]) {
			// yaml.v3 reports parser (not scanner) errors with a 0-based
			// line; make it 1-based like every other line weir reports.
			line++
		}
		return &Problem{Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &Problem{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// isParserError reports whether a yaml.v3 message comes from its parser
// (parserc.go) rather than its scanner.
func isParserError(msg string) bool {
	for _, p := range []string{
		"did not find expected <", "did not find expected node content",
		"did not find expected '-' indicator", "did not find expected key",
		"did not find expected ',' or ", "found duplicate %TAG directive",
		"found incompatible YAML document", "found undefined tag handle",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Package route resolves the model name a client sends to an ordered list of
// upstream targets: priority groups first, weighted order inside a group.
package route

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/weir-gateway/weir/userspace/config"
)

// Target is one provider and upstream model to try.
type Target struct {
	Provider string
	// Model is the upstream model name sent to the provider.
	Model    string
	Priority int
	Weight   int
}

// Match is the result of resolving a model name.
type Match struct {
	// Name is the configured entry that matched (the alias or glob); it is
	// the bounded value used as a metrics label.
	Name string
	// Targets are in the order they should be tried.
	Targets []Target
}

// Table is an immutable, compiled set of model routes, safe for concurrent use.
type Table struct {
	entries []entry
}

type entry struct {
	name    string
	glob    bool
	headers map[string]string // canonical header name → value
	// groups holds targets by ascending priority.
	groups [][]Target
}

// New compiles model routes. The config is assumed validated; New still
// rejects what it cannot compile.
func New(models []config.Model) (*Table, error) {
	t := &Table{}
	for i, m := range models {
		if _, err := path.Match(m.Name, ""); err != nil {
			return nil, fmt.Errorf("models[%d].name: invalid glob %q: %w", i, m.Name, err)
		}
		e := entry{name: m.Name, glob: strings.ContainsAny(m.Name, "*?["), headers: map[string]string{}}
		for k, v := range m.MatchHeaders {
			e.headers[http.CanonicalHeaderKey(k)] = v
		}
		byPrio := map[int][]Target{}
		for _, tg := range m.Targets {
			model := tg.Model
			byPrio[tg.Priority] = append(byPrio[tg.Priority], Target{Provider: tg.Provider, Model: model, Priority: tg.Priority, Weight: tg.Weight})
		}
		prios := make([]int, 0, len(byPrio))
		for p := range byPrio {
			prios = append(prios, p)
		}
		sort.Ints(prios)
		for _, p := range prios {
			e.groups = append(e.groups, byPrio[p])
		}
		t.entries = append(t.entries, e)
	}
	// Most specific first: exact names before globs, header-matching entries
	// before unconditional ones, longer globs before shorter; config order breaks ties.
	sort.SliceStable(t.entries, func(i, j int) bool {
		a, b := t.entries[i], t.entries[j]
		if a.glob != b.glob {
			return !a.glob
		}
		if len(a.headers) != len(b.headers) {
			return len(a.headers) > len(b.headers)
		}
		if a.glob && literalLen(a.name) != literalLen(b.name) {
			return literalLen(a.name) > literalLen(b.name)
		}
		return false
	})
	return t, nil
}

func literalLen(glob string) int {
	n := 0
	for _, r := range glob {
		if r != '*' && r != '?' {
			n++
		}
	}
	return n
}

// Resolve finds the route for model and returns its targets in try order.
// Targets with an empty upstream model take the client's model. rnd may be
// nil (a per-call source is used).
func (t *Table) Resolve(model string, h http.Header, rnd *rand.Rand) (Match, bool) {
	for i := range t.entries {
		e := &t.entries[i]
		if !e.matches(model, h) {
			continue
		}
		var out []Target
		for _, g := range e.groups {
			out = append(out, weightedOrder(g, rnd)...)
		}
		for j := range out {
			if out[j].Model == "" {
				out[j].Model = model
			}
		}
		return Match{Name: e.name, Targets: out}, true
	}
	return Match{}, false
}

func (e *entry) matches(model string, h http.Header) bool {
	if e.glob {
		if ok, _ := path.Match(e.name, model); !ok {
			return false
		}
	} else if e.name != model {
		return false
	}
	for k, v := range e.headers {
		if h.Get(k) != v {
			return false
		}
	}
	return true
}

// weightedOrder returns the group in a random order where each position is
// drawn with probability proportional to weight among those left. Zero-weight
// targets come last, in config order: they are only used when the others fail.
func weightedOrder(g []Target, rnd *rand.Rand) []Target {
	if len(g) == 1 {
		return []Target{g[0]}
	}
	left := make([]Target, 0, len(g))
	var zero []Target
	total := 0
	for _, t := range g {
		if t.Weight <= 0 {
			zero = append(zero, t)
			continue
		}
		left = append(left, t)
		total += t.Weight
	}
	out := make([]Target, 0, len(g))
	for len(left) > 0 {
		var n int
		if rnd != nil {
			n = rnd.IntN(total)
		} else {
			n = rand.IntN(total)
		}
		for i, t := range left {
			if n < t.Weight {
				out = append(out, t)
				total -= t.Weight
				left = append(left[:i], left[i+1:]...)
				break
			}
			n -= t.Weight
		}
	}
	return append(out, zero...)
}

// Names lists the exact (non-glob) model names for which allow returns true,
// sorted; these are what GET /v1/models shows.
func (t *Table) Names(allow func(string) bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range t.entries {
		if e.glob || seen[e.name] || (allow != nil && !allow(e.name)) {
			continue
		}
		seen[e.name] = true
		out = append(out, e.name)
	}
	sort.Strings(out)
	return out
}

// Package auth identifies the tenant of a request from its API key and says
// which models the tenant may use and which limits apply.
//
// Keys are known only as SHA-256 digests. The presented key is hashed and
// compared in constant time against every digest of every tenant, with no
// early exit, so the time taken says nothing about which digest (or how much
// of one) matched. The key itself is never stored, logged or put in an
// error; the proxy strips it from the request before any translator sees it.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/weir-gateway/weir/userspace/ratelimit"
)

// Errors of Authenticate; they never contain the key.
var (
	ErrMissingKey = errors.New("missing API key")
	ErrInvalidKey = errors.New("invalid API key")
)

// credentialHeaders carry a client's key, in the order they are read.
var credentialHeaders = []string{"Authorization", "X-Api-Key", "Api-Key"}

// Spec is one tenant as the configuration describes it, with its keys
// already resolved to SHA-256 digests.
type Spec struct {
	Name    string
	Digests [][32]byte
	// Models is an allow-list of model names or path.Match globs; empty allows all.
	Models []string
	Limits ratelimit.Limits
	// ModelLimits are extra limits per model glob.
	ModelLimits map[string]ratelimit.Limits
}

// Tenant is an authenticated tenant. It is immutable.
type Tenant struct {
	// Name is the configured tenant name; empty for the anonymous tenant of
	// unauthenticated mode.
	Name        string
	models      []string
	limits      ratelimit.Limits
	modelLimits []modelLimit
}

type modelLimit struct {
	pattern string
	limits  ratelimit.Limits
}

// anonymous is the tenant of every request when no tenant is configured: it
// may use every model and has no limits.
var anonymous = &Tenant{}

// Allows reports whether the tenant may use model: the allow-list is empty,
// or model equals or path.Match-es one of its entries.
func (t *Tenant) Allows(model string) bool {
	if len(t.models) == 0 {
		return true
	}
	for _, p := range t.models {
		if p == model {
			return true
		}
		if ok, _ := path.Match(p, model); ok {
			return true
		}
	}
	return false
}

// Limits returns the tenant's own limits.
func (t *Tenant) Limits() ratelimit.Limits { return t.limits }

// ModelLimits returns the model_limits entry that applies to model: an exact
// name first, then the glob with the most literal characters (ties by
// name). pattern is the budget key (every model matching one pattern shares
// its budget).
func (t *Tenant) ModelLimits(model string) (pattern string, limits ratelimit.Limits, ok bool) {
	for _, ml := range t.modelLimits {
		if ml.pattern == model {
			return ml.pattern, ml.limits, true
		}
		if m, _ := path.Match(ml.pattern, model); m {
			return ml.pattern, ml.limits, true
		}
	}
	return "", ratelimit.Limits{}, false
}

// RateRequest builds the limiter request of this tenant for model with a
// token estimate.
func (t *Tenant) RateRequest(model string, tokens int64) ratelimit.Request {
	r := ratelimit.Request{Tenant: t.Name, Model: model, Limits: t.limits, Tokens: tokens}
	if p, l, ok := t.ModelLimits(model); ok {
		r.Model, r.ModelLimits = p, &l
	}
	return r
}

// LogValue implements slog.LogValuer: a tenant logs as its name only.
func (t *Tenant) LogValue() slog.Value { return slog.StringValue(t.Name) }

// Authenticator maps API keys to tenants. It is built once per configuration
// snapshot, is immutable and safe for concurrent use.
type Authenticator struct {
	tenants []*Tenant
	byName  map[string]*Tenant
	// digests of all tenants' keys; owner[i] indexes tenants.
	digests [][32]byte
	owner   []int
}

// New compiles the tenants. No tenants gives an Authenticator that is not
// Enabled (unauthenticated mode).
func New(specs []Spec) (*Authenticator, error) {
	a := &Authenticator{byName: make(map[string]*Tenant, len(specs))}
	seen := make(map[[32]byte]int)
	var errs []error
	for i, s := range specs {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("tenants[%d]: empty name", i))
			continue
		}
		if _, dup := a.byName[s.Name]; dup {
			errs = append(errs, fmt.Errorf("tenants[%d]: duplicate tenant name %q", i, s.Name))
			continue
		}
		t := &Tenant{Name: s.Name, models: append([]string(nil), s.Models...), limits: s.Limits}
		for j, p := range s.Models {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("tenant %q: models[%d]: invalid glob %q: %w", s.Name, j, p, err))
			}
		}
		if err := checkLimits(s.Limits); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: limits: %w", s.Name, err))
		}
		for p, l := range s.ModelLimits {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("tenant %q: model_limits: invalid glob %q: %w", s.Name, p, err))
			}
			if err := checkLimits(l); err != nil {
				errs = append(errs, fmt.Errorf("tenant %q: model_limits[%q]: %w", s.Name, p, err))
			}
			t.modelLimits = append(t.modelLimits, modelLimit{pattern: p, limits: l})
		}
		sortBySpecificity(t.modelLimits)
		idx := len(a.tenants)
		for j, d := range s.Digests {
			if other, dup := seen[d]; dup {
				// The digest stays out of the message: it identifies a key.
				if other == idx {
					errs = append(errs, fmt.Errorf("tenant %q: keys[%d] repeats another key of the tenant", s.Name, j))
				} else {
					errs = append(errs, fmt.Errorf("tenant %q: keys[%d] is also a key of tenant %q", s.Name, j, a.tenants[other].Name))
				}
				continue
			}
			seen[d] = idx
			a.digests = append(a.digests, d)
			a.owner = append(a.owner, idx)
		}
		a.tenants = append(a.tenants, t)
		a.byName[t.Name] = t
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return a, nil
}

func checkLimits(l ratelimit.Limits) error {
	if l.RequestsPerMinute < 0 || l.TokensPerMinute < 0 || l.TokensPerDay < 0 || l.ConcurrentRequests < 0 {
		return errors.New("negative limit")
	}
	return nil
}

// sortBySpecificity orders model limits as route orders models: exact names
// first, then globs with more literal characters; names break ties.
func sortBySpecificity(ms []modelLimit) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i].pattern, ms[j].pattern
		ga, gb := isGlob(a), isGlob(b)
		if ga != gb {
			return !ga
		}
		if la, lb := literalLen(a), literalLen(b); la != lb {
			return la > lb
		}
		return a < b
	})
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

func literalLen(glob string) int {
	n := 0
	for _, r := range glob {
		if r != '*' && r != '?' {
			n++
		}
	}
	return n
}

// Enabled reports whether tenants are configured, i.e. whether every AI
// request must carry a key.
func (a *Authenticator) Enabled() bool { return a != nil && len(a.tenants) > 0 }

// Tenants returns the configured tenants in configuration order.
func (a *Authenticator) Tenants() []*Tenant {
	if a == nil {
		return nil
	}
	return append([]*Tenant(nil), a.tenants...)
}

// Tenant returns the tenant called name, or nil.
func (a *Authenticator) Tenant(name string) *Tenant {
	if a == nil {
		return nil
	}
	return a.byName[name]
}

// Authenticate returns the tenant whose key the request carries: the first
// of "Authorization: Bearer <key>", "x-api-key" and "api-key" that is
// present and not empty is the presented key (an Authorization header with
// another scheme is skipped). When not Enabled it returns the anonymous
// tenant (empty Name, every model allowed, no limits) and no error.
func (a *Authenticator) Authenticate(h http.Header) (*Tenant, error) {
	if !a.Enabled() {
		return anonymous, nil
	}
	key, ok := presentedKey(h)
	if !ok {
		return nil, ErrMissingKey
	}
	sum := sha256.Sum256([]byte(key))
	found, idx := 0, 0
	for i := range a.digests {
		eq := subtle.ConstantTimeCompare(sum[:], a.digests[i][:])
		idx = subtle.ConstantTimeSelect(eq, a.owner[i], idx)
		found |= eq
	}
	if found == 0 {
		return nil, ErrInvalidKey
	}
	return a.tenants[idx], nil
}

func presentedKey(h http.Header) (string, bool) {
	if v := h.Get("Authorization"); len(v) > len("Bearer ") && strings.EqualFold(v[:len("Bearer ")], "Bearer ") {
		if k := strings.TrimSpace(v[len("Bearer "):]); k != "" {
			return k, true
		}
	}
	for _, name := range credentialHeaders[1:] {
		if k := strings.TrimSpace(h.Get(name)); k != "" {
			return k, true
		}
	}
	return "", false
}

// Digest is the SHA-256 digest of a key, as Spec.Digests holds it.
func Digest(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// ParseDigest decodes a hex SHA-256 digest (a config keys[].sha256 value).
func ParseDigest(s string) ([32]byte, error) {
	var d [32]byte
	if len(s) != hex.EncodedLen(len(d)) {
		return d, fmt.Errorf("sha256 digest must be %d hex characters, got %d", hex.EncodedLen(len(d)), len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("sha256 digest is not hex: %w", err)
	}
	return d, nil
}

// Package httproute serves weir's plain (non-AI) HTTP routes, the
// config.Route values that weirctl import-ingress writes from Kubernetes
// Ingress objects: host and path matching with ingress-nginx's precedence,
// redirects, rewrites, CORS, body limits, source ranges, canaries and
// upstream pools (round robin, EWMA, consistent hash, cookie affinity)
// behind net/http/httputil.ReverseProxy, which also passes WebSocket
// upgrades and gRPC (h2c or TLS) through.
//
// Lifecycle: New builds a complete Table without side effects (no
// connection is opened until a request needs one); Match is safe for
// concurrent use; Close releases idle upstream connections once a newer
// Table has replaced this one.
//
// Differences from ingress-nginx, on purpose or not yet done:
//   - The client address is the TCP peer (r.RemoteAddr); X-Forwarded-For
//     is not trusted, as ingress-nginx without use-forwarded-headers.
//   - A request is "https" when it arrived over TLS (r.TLS).
//   - Paths are matched as received (r.URL.Path), without nginx's merging
//     of slashes.
//   - ingress-nginx's global defaults (1m body size, 60s timeouts, retry
//     on "error timeout") apply only where the route sets them.
package httproute

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/weir-gateway/weir/userspace/config"
)

// Table matches requests to routes. Build it with New.
type Table struct {
	exact    map[string]*server
	wildcard map[string]*server // by suffix, ".example.com"
	any      *server            // routes without a host
	closers  []func()
}

// server is the set of routes of one host, as an nginx server block.
type server struct {
	suffix string // for wildcards: ".example.com"
	exact  map[string]*Route
	regex  []*Route // longest pattern first, then config order
	prefix []*Route // longest path first
}

// Options tune New; the zero value is what weir uses.
type Options struct {
	// Rand, when set, replaces the random source of canary weights and
	// EWMA picks (tests pass a seeded one). It must be safe for concurrent
	// use or used by one goroutine at a time.
	Rand *rand.Rand
}

// New compiles routes into a Table. The routes are expected to have passed
// config validation; New still returns an error, never panics, on values
// it cannot use.
func New(routes []config.Route) (*Table, error) {
	return NewWith(routes, Options{})
}

// NewWith is New with options.
func NewWith(routes []config.Route, opt Options) (*Table, error) {
	rnd := newLockedRand(opt.Rand)
	t := &Table{exact: map[string]*server{}, wildcard: map[string]*server{}}
	for i := range routes {
		rc := routes[i]
		r, err := compileRoute(rc, rnd)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("httproute: routes[%d] %q: %w", i, rc.Name, err)
		}
		t.closers = append(t.closers, r.closers()...)
		host := strings.ToLower(strings.TrimSuffix(rc.Host, "."))
		var s *server
		switch {
		case host == "":
			if t.any == nil {
				t.any = newServer("")
			}
			s = t.any
		case strings.HasPrefix(host, "*."):
			if s = t.wildcard[host[1:]]; s == nil {
				s = newServer(host[1:])
				t.wildcard[host[1:]] = s
			}
		default:
			if s = t.exact[host]; s == nil {
				s = newServer("")
				t.exact[host] = s
			}
		}
		if err := s.add(r); err != nil {
			t.Close()
			return nil, fmt.Errorf("httproute: routes[%d] %q: %w", i, rc.Name, err)
		}
	}
	for _, s := range t.servers() {
		slices.SortStableFunc(s.regex, func(a, b *Route) int { return len(b.cfg.Path) - len(a.cfg.Path) })
		slices.SortStableFunc(s.prefix, func(a, b *Route) int { return len(b.cfg.Path) - len(a.cfg.Path) })
	}
	return t, nil
}

func newServer(suffix string) *server {
	return &server{suffix: suffix, exact: map[string]*Route{}}
}

func (t *Table) servers() []*server {
	out := slices.Collect(maps.Values(t.exact))
	out = append(out, slices.Collect(maps.Values(t.wildcard))...)
	if t.any != nil {
		out = append(out, t.any)
	}
	return out
}

func (s *server) add(r *Route) error {
	switch cmp.Or(r.cfg.PathType, config.PathPrefix) {
	case config.PathExact:
		if _, dup := s.exact[r.cfg.Path]; dup {
			return fmt.Errorf("exact path %q is already routed for this host", r.cfg.Path)
		}
		s.exact[r.cfg.Path] = r
	case config.PathRegex:
		s.regex = append(s.regex, r)
	default:
		s.prefix = append(s.prefix, r)
	}
	return nil
}

// Match returns the route serving r, or false when no route claims it. The
// host picks the routes first (an exact host, then the longest wildcard,
// then the routes without a host); a host with routes whose paths all miss
// is not matched, so other handlers (the AI API) can serve that host too.
// Inside a host: an exact path, then regular expressions (longest first,
// first match), then the longest prefix, as nginx locations.
func (t *Table) Match(r *http.Request) (http.Handler, bool) {
	if t == nil {
		return nil, false
	}
	s := t.server(requestHost(r))
	if s == nil {
		return nil, false
	}
	if rt := s.match(r.URL.Path); rt != nil {
		return rt, true
	}
	return nil, false
}

// Handler serves the requests a route claims and passes the others to next.
func (t *Table) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := t.Match(r); ok {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close releases the idle upstream (and auth service) connections. Requests in
// flight finish; call it after a new Table has replaced this one.
func (t *Table) Close() {
	if t == nil {
		return
	}
	for _, c := range t.closers {
		c()
	}
}

func (t *Table) server(host string) *server {
	if s, ok := t.exact[host]; ok {
		return s
	}
	if s, ok := longestWildcard(t.wildcard, host); ok {
		return s
	}
	return t.any
}

// longestWildcard looks host up in m, keyed by wildcard suffix
// (".example.com"), longest suffix first; each suffix starts at a dot
// with at least one character before it, as nginx's "*.example.com".
func longestWildcard[T any](m map[string]T, host string) (T, bool) {
	for i := strings.IndexByte(host, '.'); i > 0; {
		if v, ok := m[host[i:]]; ok {
			return v, true
		}
		j := strings.IndexByte(host[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	var zero T
	return zero, false
}

func (s *server) match(p string) *Route {
	if r, ok := s.exact[p]; ok {
		return r
	}
	for _, r := range s.regex {
		if r.re.MatchString(p) {
			return r
		}
	}
	for _, r := range s.prefix {
		if r.matchPrefix(p) {
			return r
		}
	}
	return nil
}

// requestHost is the request's host without port, lower-cased.
func requestHost(r *http.Request) string {
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// lockedRand serializes a rand.Rand, which is not safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(r *rand.Rand) *lockedRand {
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &lockedRand{r: r}
}

// IntN returns a number in [0, n).
func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// compilePath compiles a regex route path.
func compilePath(p string) (*regexp.Regexp, error) {
	return config.CompileRoutePath(p)
}

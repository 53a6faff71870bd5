// Package snapshot compiles a validated configuration into the immutable
// runtime a request uses from start to end, and holds the current one behind
// an atomic pointer so a reload never disturbs requests in flight.
package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-gateway/weir/userspace/auth"
	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/h1client"
	"github.com/weir-gateway/weir/userspace/provider"
	"github.com/weir-gateway/weir/userspace/ratelimit"
	"github.com/weir-gateway/weir/userspace/route"
	"github.com/weir-gateway/weir/userspace/sockio"
)

// Snapshot is one compiled configuration. Nothing in it changes after Compile.
type Snapshot struct {
	Config    *config.Config
	Routes    *route.Table
	Upstreams map[string]*Upstream
	// Auth is the compiled tenant table; with no tenants configured it is
	// disabled and requests are served unauthenticated.
	Auth *auth.Authenticator
	// Generation counts successful loads, starting at 1.
	Generation uint64
	LoadedAt   time.Time
}

// Kind is one provider type: how to build its translators and, for the
// in-process offline model, the transport that answers instead of a network.
type Kind struct {
	New       func(client provider.API) (provider.Translator, error)
	Transport http.RoundTripper
}

// Upstream is a compiled provider.
type Upstream struct {
	Name     string
	Type     string
	base     *url.URL
	kind     Kind
	rt       http.RoundTripper
	header   http.Header // credential and extra headers, sent on every request
	query    string      // e.g. api-version=...
	Timeouts config.Timeouts
}

// NewTranslator creates the translator for one attempt from client to this upstream.
func (u *Upstream) NewTranslator(client provider.API) (provider.Translator, error) {
	return u.kind.New(client)
}

// Do sends one attempt's request. It calls the transport directly, not
// through an http.Client: weir never follows an upstream's redirects
// (the answer goes back as it is) and has no overall timeout here (the
// attempt loop bounds each phase), so the client's header copy for
// redirects is pure cost. Errors read as http.Client's do.
func (u *Upstream) Do(req *http.Request) (*http.Response, error) {
	resp, err := u.rt.RoundTrip(req)
	if err != nil {
		op := req.Method
		if op != "" {
			op = op[:1] + strings.ToLower(op[1:])
		}
		return nil, &url.Error{Op: op, URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// NewRequest builds the HTTP request of one attempt.
func (u *Upstream) NewRequest(ctx context.Context, up *provider.Upstream) (*http.Request, error) {
	target := *u.base
	target.Path = strings.TrimSuffix(u.base.Path, "/") + up.Path
	target.RawPath = ""
	q := up.Query
	if u.query != "" {
		if q != "" {
			q += "&"
		}
		q += u.query
	}
	target.RawQuery = q
	method := up.Method
	if method == "" {
		method = http.MethodPost
	}
	var body *bytes.Reader
	if up.Body != nil {
		body = bytes.NewReader(up.Body)
	}
	// The URL is set as built, not printed and parsed back.
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, "", body)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, "", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	*req.URL = target // the URL NewRequest parsed from "" is filled, not replaced
	req.Host = target.Host
	for k, v := range up.Header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" && up.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range u.header {
		req.Header[k] = v
	}
	return req, nil
}

// Transports keeps one connection pool per provider across reloads, so a
// reload does not throw away warm keep-alive connections.
type Transports struct {
	mu sync.Mutex
	m  map[string]pool
}

// pool is a transport with a connection pool.
type pool interface {
	http.RoundTripper
	CloseIdleConnections()
}

// NewTransports returns an empty pool set.
func NewTransports() *Transports { return &Transports{m: map[string]pool{}} }

// get returns the pool of provider p: h1client for cleartext http:// base
// URLs that no proxy variable diverts (in-cluster model servers; no
// goroutines per connection), net/http's Transport otherwise (TLS,
// HTTP/2, proxies).
func (t *Transports) get(p config.Provider) pool {
	key := poolKey(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.m[key]; ok {
		return tr
	}
	if u, err := url.Parse(p.BaseURL); err == nil && u.Scheme == "http" {
		if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && proxy == nil {
			tr := h1client.New(h1client.Options{ConnectTimeout: p.Timeouts.Connect.D(), MaxIdlePerHost: 256})
			t.m[key] = tr
			return tr
		}
	}
	d := &net.Dialer{Timeout: p.Timeouts.Connect.D(), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// TLS and HTTP/2 run over raw socket reads and writes, as h1client's
		// connections do (see package sockio).
		DialContext:           sockio.Dial(d),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   p.Timeouts.Connect.D(),
		ExpectContinueTimeout: time.Second,
		// Compression would make SSE chunks wait for a compressor flush.
		DisableCompression: true,
	}
	t.m[key] = tr
	return tr
}

// poolKey names the pool of provider p: a pool is kept across reloads
// while the provider keeps its name, base URL and connect timeout.
func poolKey(p config.Provider) string {
	return p.Name + "|" + p.BaseURL + "|" + p.Timeouts.Connect.String()
}

// Retain forgets the pools no provider of c uses any more (a reload changed
// or removed them) and closes their idle connections. Requests still in
// flight on such a pool finish; their connections are closed rather than
// kept when they come back.
func (t *Transports) Retain(c *config.Config) {
	keep := make(map[string]bool, len(c.Providers))
	for _, p := range c.Providers {
		keep[poolKey(p)] = true
	}
	t.mu.Lock()
	var gone []pool
	for key, tr := range t.m {
		if !keep[key] {
			gone = append(gone, tr)
			delete(t.m, key)
		}
	}
	t.mu.Unlock()
	for _, tr := range gone {
		if c, ok := tr.(interface{ Close() }); ok {
			c.Close()
			continue
		}
		tr.CloseIdleConnections() // net/http: returning connections expire after IdleConnTimeout
	}
}

// CloseIdle closes idle connections of every pool (used at shutdown).
func (t *Transports) CloseIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.m {
		tr.CloseIdleConnections()
	}
}

// Deps are the process-lifetime parts a snapshot is compiled against.
type Deps struct {
	Kinds      map[string]Kind
	Transports *Transports
}

// Compile builds a snapshot from a validated config.
func Compile(c *config.Config, deps Deps, generation uint64) (*Snapshot, error) {
	routes, err := route.New(c.Models)
	if err != nil {
		return nil, fmt.Errorf("compile routes: %w", err)
	}
	s := &Snapshot{Config: c, Routes: routes, Upstreams: map[string]*Upstream{}, Generation: generation, LoadedAt: time.Now()}
	if s.Auth, err = compileTenants(c.Tenants); err != nil {
		return nil, err
	}
	for i, p := range c.Providers {
		kind, ok := deps.Kinds[p.Type]
		if !ok {
			return nil, fmt.Errorf("providers[%d].type: provider type %q is not built in", i, p.Type)
		}
		u := &Upstream{Name: p.Name, Type: p.Type, kind: kind, header: http.Header{}, Timeouts: p.Timeouts}
		base := p.BaseURL
		if base == "" {
			base = "http://" + p.Type + ".invalid"
		}
		u.base, err = url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("providers[%d].base_url: %w", i, err)
		}
		if kind.Transport != nil {
			u.rt = kind.Transport
		} else {
			u.rt = deps.Transports.get(p)
		}
		for k, v := range p.Headers {
			u.header.Set(k, v.Value())
		}
		if key := p.APIKey.Value(); key != "" {
			switch strings.ToLower(p.AuthHeader) {
			case "", "authorization":
				u.header.Set("Authorization", "Bearer "+key)
			default:
				u.header.Set(p.AuthHeader, key)
			}
		}
		if p.APIVersion != "" {
			if p.Type == "anthropic" {
				u.header.Set("Anthropic-Version", p.APIVersion)
			} else {
				u.query = "api-version=" + url.QueryEscape(p.APIVersion)
			}
		}
		s.Upstreams[p.Name] = u
	}
	return s, nil
}

// Store holds the current snapshot.
type Store struct {
	p atomic.Pointer[Snapshot]
}

// Load returns the current snapshot; a request calls it once and keeps the result.
func (s *Store) Load() *Snapshot { return s.p.Load() }

// Swap installs next and returns the previous snapshot.
func (s *Store) Swap(next *Snapshot) *Snapshot { return s.p.Swap(next) }

// compileTenants builds the authenticator from the configured tenants.
func compileTenants(ts []config.Tenant) (*auth.Authenticator, error) {
	specs := make([]auth.Spec, 0, len(ts))
	for i, t := range ts {
		digests, err := t.KeyDigests()
		if err != nil {
			return nil, fmt.Errorf("tenants[%d].keys: %w", i, err)
		}
		sp := auth.Spec{Name: t.Name, Digests: digests, Models: t.Models, Limits: ratelimit.Limits(t.Limits)}
		if len(t.ModelLimits) > 0 {
			sp.ModelLimits = map[string]ratelimit.Limits{}
			for k, v := range t.ModelLimits {
				sp.ModelLimits[k] = ratelimit.Limits(v)
			}
		}
		specs = append(specs, sp)
	}
	a, err := auth.New(specs)
	if err != nil {
		return nil, fmt.Errorf("compile tenants: %w", err)
	}
	return a, nil
}

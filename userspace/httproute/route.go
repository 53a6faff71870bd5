package httproute

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
)

// Route is one compiled route; it is the http.Handler Match returns.
type Route struct {
	cfg      config.Route
	re       *regexp.Regexp // regex paths
	prefix   string         // prefix paths without a trailing slash
	rewrite  string         // regexp.Expand template
	allow    []netip.Prefix
	deny     []netip.Prefix
	cors     *corsPolicy
	main     *pool
	canary   *canary
	proxy    *httputil.ReverseProxy
	redirect int
	limiter  *limiter
	auth     *authCheck
	errors   *errorPages
}

// Name is the route's configured name, for access logs and metrics.
func (rt *Route) Name() string { return rt.cfg.Name }

var _ http.Handler = (*Route)(nil)

func compileRoute(c config.Route, rnd *lockedRand) (*Route, error) {
	c.Path = cmp.Or(c.Path, "/")
	rt := &Route{cfg: c}
	switch c.PathType {
	case config.PathRegex:
		re, err := compilePath(c.Path)
		if err != nil {
			return nil, err
		}
		rt.re = re
	case config.PathPrefix, "":
		rt.prefix = strings.TrimSuffix(c.Path, "/")
	}
	if c.Rewrite != "" {
		rt.rewrite = dollarDigits.ReplaceAllString(c.Rewrite, "$${$1}")
	}
	for _, s := range c.AllowSources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("allow_sources: %w", err)
		}
		rt.allow = append(rt.allow, p)
	}
	for _, s := range c.DenySources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("deny_sources: %w", err)
		}
		rt.deny = append(rt.deny, p)
	}
	if c.CORS != nil {
		rt.cors = newCORS(*c.CORS)
	}
	if c.Limits != nil {
		lim, err := newLimiter(*c.Limits)
		if err != nil {
			return nil, err
		}
		rt.limiter = lim
	}
	if c.Auth != nil {
		rt.auth = newAuth(*c.Auth)
	}
	if c.Redirect != nil {
		rt.redirect = cmp.Or(c.Redirect.Code, http.StatusFound)
		return rt, nil // a redirect route never proxies
	}
	var err error
	if rt.main, err = newPool(c.Upstream, c.Path, rnd); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if cc := c.Canary; cc != nil {
		if rt.canary, err = newCanary(*cc, c.Path, rnd); err != nil {
			rt.main.close()
			return nil, fmt.Errorf("canary: %w", err)
		}
	}
	if e := c.ErrorPages; e != nil {
		if rt.errors, err = newErrorPages(*e, c.Name, c.Path, rnd); err != nil {
			return nil, fmt.Errorf("error_pages: %w", err)
		}
	}
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:        rt.rewriteRequest,
		Transport:      attemptTransport{},
		ModifyResponse: rt.modifyResponse,
		ErrorHandler:   rt.proxyError,
		BufferPool:     buffers,
	}
	return rt, nil
}

// acmeChallenge paths are never redirected to https, so certificates can
// be issued over http (ingress-nginx's no-tls-redirect-locations default).
const acmeChallenge = "/.well-known/acme-challenge/"

// buffers recycles the proxy's copy buffers across all routes.
var buffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// dollarDigits finds nginx's $1..$9 so they can become regexp's ${1}.
var dollarDigits = regexp.MustCompile(`\$([0-9])`)

// closers release the route's idle connections.
func (rt *Route) closers() []func() {
	var out []func()
	if rt.main != nil {
		out = append(out, rt.main.close)
	}
	if rt.canary != nil {
		out = append(out, rt.canary.pool.close)
	}
	if rt.errors != nil {
		out = append(out, rt.errors.pool.close)
	}
	if rt.auth != nil {
		out = append(out, rt.auth.close)
	}
	return out
}

func (rt *Route) matchPrefix(p string) bool {
	if rt.cfg.PathType == config.PathStringPrefix {
		return strings.HasPrefix(p, rt.cfg.Path)
	}
	// Kubernetes Prefix: whole path elements.
	return rt.prefix == "" || p == rt.prefix || strings.HasPrefix(p, rt.prefix) && p[len(rt.prefix)] == '/'
}

// ServeHTTP runs the route's steps in nginx's phase order: redirects
// (rewrite phase) first, then the CORS preflight, then the per-client
// limits (preaccess), then the source ranges and external auth (access),
// then the body limit and the proxy.
func (rt *Route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &rt.cfg
	if c.HTTPSRedirect && r.TLS == nil && !strings.HasPrefix(r.URL.Path, acmeChallenge) {
		host := requestHost(r)
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
		return
	}
	if rt.redirect != 0 {
		loc := c.Redirect.URL
		if strings.HasPrefix(loc, "//") {
			loc = scheme(r) + ":" + loc
		}
		if c.Redirect.AppendURI {
			loc = strings.TrimSuffix(loc, "/") + r.URL.RequestURI()
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(rt.redirect)
		return
	}
	if c.AppRoot != "" && r.URL.Path == "/" {
		http.Redirect(w, r, scheme(r)+"://"+r.Host+c.AppRoot, http.StatusFound)
		return
	}
	if rt.cors != nil && rt.cors.handle(w, r) {
		return
	}
	if rt.limiter != nil {
		ip, _ := clientAddr(r)
		release, ok := rt.limiter.acquire(ip)
		if !ok {
			http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
			return
		}
		defer release()
	}
	if !rt.admit(r) {
		http.Error(w, "403 Forbidden", http.StatusForbidden)
		return
	}
	if rt.auth != nil && !rt.auth.check(w, r) {
		return
	}
	if max := c.MaxBodyBytes; max > 0 {
		if r.ContentLength > max {
			http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
	}
	if rt.rewrite != "" {
		target := rt.rewritePath(r.URL.Path)
		if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
			// nginx answers a rewrite to an absolute URL with a redirect.
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
	}
	p := rt.main
	if rt.canary != nil && rt.canary.use(r) {
		p = rt.canary.pool
	}
	a := p.start(r)
	a.in = r
	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), attemptKey{}, a))
	defer cancel(nil)
	a.cancel = cancel
	rt.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// admit applies the deny list, then the allow list, as nginx's deny and
// allow rules in that order.
func (rt *Route) admit(r *http.Request) bool {
	if len(rt.allow) == 0 && len(rt.deny) == 0 {
		return true
	}
	ip, ok := clientAddr(r)
	if !ok {
		return false
	}
	for _, p := range rt.deny {
		if p.Contains(ip) {
			return false
		}
	}
	if len(rt.allow) == 0 {
		return true
	}
	for _, p := range rt.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func clientAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(r.RemoteAddr)
		return a.Unmap(), err == nil
	}
	return ap.Addr().Unmap(), true
}

// rewritePath computes nginx's rewrite: the whole path is replaced by the
// target, with $N taken from the route's regular expression.
func (rt *Route) rewritePath(p string) string {
	if rt.re == nil {
		return rt.cfg.Rewrite
	}
	m := rt.re.FindStringSubmatchIndex(p)
	if m == nil {
		return rt.cfg.Rewrite
	}
	return string(rt.re.ExpandString(nil, rt.rewrite, p, m))
}

func (rt *Route) rewriteRequest(pr *httputil.ProxyRequest) {
	a := pr.In.Context().Value(attemptKey{}).(*attempt)
	pr.Out.URL.Scheme = a.pool.scheme
	pr.Out.URL.Host = a.pool.servers[a.first].addr
	if rt.rewrite != "" {
		target := rt.rewritePath(pr.In.URL.Path)
		path, query, hasQuery := strings.Cut(target, "?")
		pr.Out.URL.Path, pr.Out.URL.RawPath = path, ""
		if hasQuery {
			// nginx appends the original arguments after the new ones.
			pr.Out.URL.RawQuery = strings.TrimSuffix(query+"&"+pr.In.URL.RawQuery, "&")
		}
	}
	pr.Out.Host = cmp.Or(a.pool.hostHeader, pr.In.Host)
	pr.SetXForwarded()
	if rt.cfg.ForwardedPrefix != "" {
		pr.Out.Header.Set("X-Forwarded-Prefix", rt.cfg.ForwardedPrefix)
	}
	if ip, ok := clientAddr(pr.In); ok {
		pr.Out.Header.Set("X-Real-IP", ip.String())
	}
}

func (rt *Route) modifyResponse(resp *http.Response) error {
	a, _ := resp.Request.Context().Value(attemptKey{}).(*attempt)
	if a != nil {
		a.pool.setAffinity(resp, a)
	}
	if rt.errors.handles(resp.StatusCode) && a != nil {
		rt.errors.replace(a.in, resp)
	}
	if rt.cors != nil {
		rt.cors.decorate(resp.Header, resp.Request.Header.Get("Origin"))
	}
	if a != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = newIdleBody(resp.Body, a.pool.readTimeout, a.cancel)
	}
	return nil
}

// proxyError answers a failed upstream exchange as nginx would: 413 for a
// body over the limit, 504 for a timeout, 502 otherwise.
func (rt *Route) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		w.WriteHeader(499)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		if !rt.errors.handles(http.StatusGatewayTimeout) || !rt.errors.serve(w, r, http.StatusGatewayTimeout) {
			http.Error(w, "504 Gateway Timeout", http.StatusGatewayTimeout)
		}
	default:
		if !rt.errors.handles(http.StatusBadGateway) || !rt.errors.serve(w, r, http.StatusBadGateway) {
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		}
	}
}

// canary is a route's alternative upstream and how requests choose it.
type canary struct {
	cfg     config.RouteCanary
	pattern *regexp.Regexp
	total   int
	rnd     *lockedRand
	pool    *pool
}

func newCanary(c config.RouteCanary, path string, rnd *lockedRand) (*canary, error) {
	cn := &canary{cfg: c, total: cmp.Or(c.WeightTotal, 100), rnd: rnd}
	if c.HeaderPattern != "" && c.HeaderValue == "" {
		re, err := regexp.Compile(c.HeaderPattern)
		if err != nil {
			return nil, fmt.Errorf("header_pattern: %w", err)
		}
		cn.pattern = re
	}
	var err error
	if cn.pool, err = newPool(c.Upstream, path, rnd); err != nil {
		return nil, err
	}
	return cn, nil
}

// use decides as ingress-nginx does: the header, then the cookie, then
// the weight; a header or cookie with another value does not decide.
func (c *canary) use(r *http.Request) bool {
	if c.cfg.Header != "" {
		if v := r.Header.Get(c.cfg.Header); v != "" {
			switch {
			case c.cfg.HeaderValue != "":
				if v == c.cfg.HeaderValue {
					return true
				}
			case c.pattern != nil:
				if c.pattern.MatchString(v) {
					return true
				}
			case v == "always":
				return true
			case v == "never":
				return false
			}
		}
	}
	if c.cfg.Cookie != "" {
		if ck, err := r.Cookie(c.cfg.Cookie); err == nil {
			switch ck.Value {
			case "always":
				return true
			case "never":
				return false
			}
		}
	}
	return c.cfg.Weight > 0 && c.rnd.IntN(c.total) < c.cfg.Weight
}

// corsPolicy is a route's CORS answer, with ingress-nginx's defaults.
type corsPolicy struct {
	origins     []string
	any         bool
	methods     string
	headers     string
	expose      string
	credentials bool
	maxAge      string
}

const (
	defaultCORSMethods = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
	defaultCORSHeaders = "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"
	defaultCORSMaxAge  = 1728000 * time.Second
)

func newCORS(c config.RouteCORS) *corsPolicy {
	p := &corsPolicy{
		origins:     c.AllowOrigins,
		methods:     cmp.Or(c.AllowMethods, defaultCORSMethods),
		headers:     cmp.Or(c.AllowHeaders, defaultCORSHeaders),
		expose:      c.ExposeHeaders,
		credentials: c.AllowCredentials,
		maxAge:      strconv.FormatInt(int64(cmp.Or(c.MaxAge.D(), defaultCORSMaxAge)/time.Second), 10),
	}
	if len(p.origins) == 0 {
		p.any = true
	}
	for _, o := range p.origins {
		if o == "*" {
			p.any = true
		}
	}
	return p
}

// allowOrigin is the Access-Control-Allow-Origin value for a request
// Origin, or "" when the origin is not allowed.
func (p *corsPolicy) allowOrigin(origin string) string {
	if p.any {
		return "*"
	}
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil {
		return ""
	}
	for _, o := range p.origins {
		if strings.EqualFold(o, origin) {
			return origin
		}
		// "https://*.example.com" allows any subdomain, as ingress-nginx.
		if scheme, host, ok := strings.Cut(o, "://*."); ok && strings.EqualFold(u.Scheme, scheme) &&
			strings.HasSuffix(strings.ToLower(u.Host), "."+strings.ToLower(host)) {
			return origin
		}
	}
	return ""
}

func (p *corsPolicy) decorate(h http.Header, origin string) {
	allow := p.allowOrigin(origin)
	if allow == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if allow != "*" {
		h.Add("Vary", "Origin")
	}
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", p.methods)
	h.Set("Access-Control-Allow-Headers", p.headers)
	if p.expose != "" {
		h.Set("Access-Control-Expose-Headers", p.expose)
	}
}

// handle answers a preflight (any OPTIONS request from an allowed origin,
// as ingress-nginx) with 204 and reports whether it did.
func (p *corsPolicy) handle(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || p.allowOrigin(r.Header.Get("Origin")) == "" {
		return false
	}
	h := w.Header()
	p.decorate(h, r.Header.Get("Origin"))
	h.Set("Access-Control-Max-Age", p.maxAge)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

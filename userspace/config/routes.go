package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Route is one plain (non-AI) HTTP route: requests whose host and path
// match are proxied to an upstream pool. weirctl import-ingress writes
// these from Kubernetes Ingress objects; package httproute serves them.
// Matching follows ingress-nginx: the host picks a server first (exact,
// then the longest wildcard, then routes without a host), then inside it
// an exact path, then regex paths (longest pattern first, first match),
// then the longest prefix. Empty values take the defaults documented on
// each field.
type Route struct {
	// Name labels the route in logs and metrics; unique.
	Name string `yaml:"name" json:"name"`
	// Host is an exact name ("shop.example.com"), a wildcard
	// ("*.example.com": any name ending in ".example.com", as nginx's
	// server_name matches) or empty: every host no other route names.
	Host string `yaml:"host" json:"host,omitempty"`
	// Path is what the request path is matched against; default "/".
	Path string `yaml:"path" json:"path,omitempty"`
	// PathType is exact, prefix (the default: whole path segments, as
	// Kubernetes Prefix), string_prefix (plain string prefix, as nginx
	// locations and Ingress ImplementationSpecific without use-regex) or
	// regex (case-insensitive, anchored at the start only, as nginx "~*").
	PathType string `yaml:"path_type" json:"path_type,omitempty"`
	// Upstream is where matching requests go; required unless Redirect is set.
	Upstream RouteUpstream `yaml:"upstream" json:"upstream,omitzero"`
	// Rewrite replaces the whole request path before proxying (nginx
	// rewrite-target): with a regex path, $1..$9 are its capture groups;
	// the query string is kept.
	Rewrite string `yaml:"rewrite" json:"rewrite,omitempty"`
	// ForwardedPrefix is sent upstream as X-Forwarded-Prefix (nginx
	// x-forwarded-prefix), usually the part of the path a rewrite removed.
	ForwardedPrefix string `yaml:"forwarded_prefix" json:"forwarded_prefix,omitempty"`
	// AppRoot redirects a request for "/" there with 302 (nginx app-root).
	AppRoot string `yaml:"app_root" json:"app_root,omitempty"`
	// Redirect answers every request with a redirect instead of proxying.
	Redirect *RouteRedirect `yaml:"redirect" json:"redirect,omitempty"`
	// HTTPSRedirect sends plain-HTTP requests to the same URL on https
	// with 308 (nginx ssl-redirect / force-ssl-redirect).
	HTTPSRedirect bool `yaml:"https_redirect" json:"https_redirect,omitempty"`
	// CORS answers preflights and adds CORS headers (nginx enable-cors).
	CORS *RouteCORS `yaml:"cors" json:"cors,omitempty"`
	// MaxBodyBytes rejects larger request bodies with 413; 0 sets no limit
	// on the route.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
	// AllowSources, when set, admits only clients in these CIDRs (403 otherwise).
	AllowSources []string `yaml:"allow_sources" json:"allow_sources,omitempty"`
	// DenySources rejects clients in these CIDRs with 403. Both are
	// enforced in Go; on a serve: [routes] listener the kernel guard also
	// drops sources that every route on the port refuses.
	DenySources []string `yaml:"deny_sources" json:"deny_sources,omitempty"`
	// Canary sends part of the traffic to another upstream.
	Canary *RouteCanary `yaml:"canary" json:"canary,omitempty"`
	// Limits bound each client address (nginx limit-rps, limit-rpm,
	// limit-connections); enforced in Go, per weir node, and on a
	// serve: [routes] listener also bounded in the kernel guard (see
	// docs/operations.md, "Source ranges and per-client limits").
	Limits *RouteLimits `yaml:"limits" json:"limits,omitempty"`
	// Auth asks an external service whether to let each request through
	// (nginx auth-url).
	Auth *RouteAuth `yaml:"auth" json:"auth,omitempty"`
	// ErrorPages answers some statuses from another upstream (nginx
	// custom-http-errors with default-backend).
	ErrorPages *RouteErrorPages `yaml:"error_pages" json:"error_pages,omitempty"`
}

// RouteErrorPages replaces an upstream answer whose status is in Codes,
// and a failure to reach the upstream when 502 or 504 is in Codes, by the
// answer of Upstream to a GET of the same URI carrying X-Code, X-Format
// (the client's Accept), X-Original-URI and X-Route, as ingress-nginx asks
// its error backend.
type RouteErrorPages struct {
	Codes    []int         `yaml:"codes" json:"codes"`
	Upstream RouteUpstream `yaml:"upstream" json:"upstream"`
}

// RouteLimits are per-client-address limits; a request over them gets 503,
// as ingress-nginx answers by default.
type RouteLimits struct {
	// RequestsPerSecond and RequestsPerMinute refill a token bucket per
	// client; 0 is no limit.
	RequestsPerSecond int `yaml:"requests_per_second" json:"requests_per_second,omitempty"`
	RequestsPerMinute int `yaml:"requests_per_minute" json:"requests_per_minute,omitempty"`
	// BurstMultiplier sizes each bucket as rate × multiplier; default 5.
	BurstMultiplier int `yaml:"burst_multiplier" json:"burst_multiplier,omitempty"`
	// Connections bounds a client's requests in flight; 0 is no limit.
	Connections int `yaml:"connections" json:"connections,omitempty"`
	// Exempt CIDRs are not limited.
	Exempt []string `yaml:"exempt" json:"exempt,omitempty"`
}

// RouteAuth is external authentication: a subrequest to URL decides. A
// 2xx answer lets the request through (with ResponseHeaders copied to it),
// 401 and 403 are returned to the client (401 becomes a redirect to SignIn
// when set), anything else is 500.
type RouteAuth struct {
	// URL is called for every request, with the client's headers and
	// X-Original-URL, X-Original-Method; $host, $scheme, $request_uri and
	// $escaped_request_uri are replaced.
	URL string `yaml:"url" json:"url"`
	// Method is GET (the default) or another method without a body.
	Method string `yaml:"method" json:"method,omitempty"`
	// SignIn is where a 401 redirects; "rd=" with the original URL is
	// added unless it has one.
	SignIn string `yaml:"signin" json:"signin,omitempty"`
	// ResponseHeaders are copied from the auth answer to the upstream request.
	ResponseHeaders []string `yaml:"response_headers" json:"response_headers,omitempty"`
	// RequestRedirect is sent to the auth service as X-Auth-Request-Redirect
	// (nginx auth-request-redirect; oauth2-proxy returns the user there
	// after sign-in), with the same variables as URL; default the request
	// URI.
	RequestRedirect string `yaml:"request_redirect" json:"request_redirect,omitempty"`
	// Timeout bounds the subrequest; default 5s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// RouteUpstream is a pool of servers and how to talk to them.
type RouteUpstream struct {
	// Servers are host:port addresses (IPs or DNS names).
	Servers []string `yaml:"servers" json:"servers,omitempty"`
	// Protocol is http (the default), https, h2c (cleartext HTTP/2, gRPC
	// without TLS) or h2 (HTTP/2 over TLS, gRPC with TLS).
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// Balance is round_robin (the default), ewma (the server with the
	// lowest decayed latency × load among two random picks) or hash
	// (consistent hashing of HashBy).
	Balance string `yaml:"balance" json:"balance,omitempty"`
	// HashBy is the key for balance hash, written with nginx variables:
	// $remote_addr, $host, $uri, $request_uri, $http_NAME, $cookie_NAME,
	// $arg_NAME and literal text.
	HashBy string `yaml:"hash_by" json:"hash_by,omitempty"`
	// Affinity pins a client to a server with a cookie; it takes
	// precedence over Balance for clients that carry the cookie.
	Affinity *RouteAffinity `yaml:"affinity" json:"affinity,omitempty"`
	// HostHeader replaces the Host header sent upstream (nginx
	// upstream-vhost); default: the client's Host.
	HostHeader string `yaml:"host_header" json:"host_header,omitempty"`
	// KeepAlive is how many idle connections are kept per server; default 32.
	KeepAlive int `yaml:"keepalive" json:"keepalive,omitempty"`
	// ConnectTimeout bounds dialing (and the TLS handshake); default 5s.
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout,omitempty"`
	// ReadTimeout bounds the wait for the response headers, then each wait
	// for more of the body (a stalled response is cut); default 60s.
	ReadTimeout Duration `yaml:"read_timeout" json:"read_timeout,omitempty"`
	// SendTimeout bounds each write of the request to the upstream (nginx
	// proxy_send_timeout: the time between two successive writes); an
	// upstream that stops reading the body for longer is cut with 504.
	// 0 sets no bound.
	SendTimeout Duration `yaml:"send_timeout" json:"send_timeout,omitempty"`
	// Retry tries the next server after a failure.
	Retry RouteRetry `yaml:"retry" json:"retry,omitzero"`
	// TLS configures https and h2 upstreams.
	TLS RouteUpstreamTLS `yaml:"tls" json:"tls,omitzero"`
}

// RouteRetry is nginx's proxy_next_upstream for requests without a body.
type RouteRetry struct {
	// On lists when to try the next server: error (connect or transport
	// failure), timeout, or a status code (502, 503, 504, ...). Empty: never.
	On []string `yaml:"on" json:"on,omitempty"`
	// Tries bounds the attempts, the first included; 0 means one per server.
	Tries int `yaml:"tries" json:"tries,omitempty"`
	// Timeout bounds the time from the first attempt during which another
	// server may still be tried (nginx proxy_next_upstream_timeout); an
	// attempt already under way is not cut. 0 sets no bound.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// RouteUpstreamTLS is how weir talks TLS to an https or h2 upstream: how
// it checks the upstream's certificate, the client certificate it
// presents (mutual TLS), and the versions and cipher suites it offers.
// Files are for hand-written configs (a mounted Secret); the *_pem fields
// carry the same inline, as the Kubernetes provider fills them from a
// Secret. A file and its inline twin are exclusive.
type RouteUpstreamTLS struct {
	// Verify checks the certificate against CAFile (or CAPEM), else the
	// system roots; off by default, as in nginx (proxy-ssl-verify off).
	Verify bool `yaml:"verify" json:"verify,omitempty"`
	// ServerName is sent as SNI and verified; default the server's host.
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`
	// CAFile is a PEM bundle of the CA certificates that verify the
	// upstream instead of the system roots (nginx
	// proxy_ssl_trusted_certificate); needs verify.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// CAPEM is CAFile's content inline (a Secret's ca.crt).
	CAPEM string `yaml:"ca_pem" json:"ca_pem,omitempty"`
	// CertFile is the PEM client certificate (with its chain) weir
	// presents to the upstream (nginx proxy_ssl_certificate); needs KeyFile.
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	// KeyFile is CertFile's PEM private key (nginx proxy_ssl_certificate_key).
	KeyFile string `yaml:"key_file" json:"key_file,omitempty"`
	// CertPEM is CertFile's content inline (a Secret's tls.crt); needs KeyPEM.
	CertPEM string `yaml:"cert_pem" json:"cert_pem,omitempty"`
	// KeyPEM is KeyFile's content inline (a Secret's tls.key); it is
	// redacted wherever the configuration is printed.
	KeyPEM Secret `yaml:"key_pem" json:"key_pem,omitempty"`
	// MinVersion is the lowest TLS version offered: "1.2" (the default) or
	// "1.3". weir never speaks TLS 1.0, 1.1 or SSL to an upstream.
	MinVersion string `yaml:"min_version" json:"min_version,omitempty"`
	// MaxVersion is the highest TLS version offered: "1.2" or "1.3" (the
	// default).
	MaxVersion string `yaml:"max_version" json:"max_version,omitempty"`
	// CipherSuites are the TLS 1.2 cipher suites offered, by IANA name
	// (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); default Go's. Go picks the
	// order itself, and TLS 1.3 suites are not configurable in Go.
	CipherSuites []string `yaml:"cipher_suites" json:"cipher_suites,omitempty"`
	// VerifyDepth bounds the intermediate CA certificates between the
	// upstream's certificate and the trusted CA, as OpenSSL counts nginx's
	// proxy_ssl_verify_depth (1: at most one intermediate); 0 sets no
	// bound. Needs verify.
	VerifyDepth int `yaml:"verify_depth" json:"verify_depth,omitempty"`
}

// TLS versions of RouteUpstreamTLS.MinVersion and MaxVersion.
const (
	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
)

// TLSVersion maps a RouteUpstreamTLS version ("1.2", "1.3") to its
// crypto/tls constant; "" and unknown values give 0.
func TLSVersion(v string) uint16 {
	switch v {
	case TLSVersion12:
		return tls.VersionTLS12
	case TLSVersion13:
		return tls.VersionTLS13
	}
	return 0
}

// CipherSuiteID maps the IANA name of a TLS 1.2 cipher suite Go offers
// and considers secure to its ID.
func CipherSuiteID(name string) (uint16, bool) {
	for _, c := range tls.CipherSuites() {
		if c.Name == name && !slices.Contains(c.SupportedVersions, tls.VersionTLS13) {
			return c.ID, true
		}
	}
	return 0, false
}

// tls13Suite reports whether name is a TLS 1.3 suite (not configurable in Go).
func tls13Suite(name string) bool {
	for _, c := range tls.CipherSuites() {
		if c.Name == name && slices.Contains(c.SupportedVersions, tls.VersionTLS13) {
			return true
		}
	}
	return false
}

// RouteAffinity is cookie-based session stickiness.
type RouteAffinity struct {
	// Cookie is the cookie's name; default "INGRESSCOOKIE".
	Cookie string `yaml:"cookie" json:"cookie,omitempty"`
	// Path is the cookie's path; default the route's path (or "/" for regex routes).
	Path string `yaml:"path" json:"path,omitempty"`
	// MaxAge is the cookie's lifetime; 0 makes it a session cookie.
	MaxAge Duration `yaml:"max_age" json:"max_age,omitempty"`
	// SameSite is "", lax, strict or none.
	SameSite string `yaml:"samesite" json:"samesite,omitempty"`
	// Secure marks the cookie Secure.
	Secure bool `yaml:"secure" json:"secure,omitempty"`
}

// RouteRedirect answers with a fixed redirect.
type RouteRedirect struct {
	// URL is the Location, sent as is; one starting with "//" takes the
	// request's scheme.
	URL string `yaml:"url" json:"url"`
	// Code is 301, 302, 303, 307 or 308; default 302.
	Code int `yaml:"code" json:"code,omitempty"`
	// AppendURI appends the request's path and query to URL (nginx
	// from-to-www-redirect); without it the URL is sent as is.
	AppendURI bool `yaml:"append_uri" json:"append_uri,omitempty"`
}

// RouteCORS configures CORS as nginx's enable-cors does; empty fields take
// ingress-nginx's defaults.
type RouteCORS struct {
	// AllowOrigins are allowed origins; default ["*"]. A listed origin is
	// echoed back when the request's Origin equals it.
	AllowOrigins []string `yaml:"allow_origins" json:"allow_origins,omitempty"`
	// AllowMethods default "GET, PUT, POST, DELETE, PATCH, OPTIONS".
	AllowMethods string `yaml:"allow_methods" json:"allow_methods,omitempty"`
	// AllowHeaders default "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization".
	AllowHeaders string `yaml:"allow_headers" json:"allow_headers,omitempty"`
	// ExposeHeaders is sent when set.
	ExposeHeaders string `yaml:"expose_headers" json:"expose_headers,omitempty"`
	// AllowCredentials sends Access-Control-Allow-Credentials: true.
	AllowCredentials bool `yaml:"allow_credentials" json:"allow_credentials,omitempty"`
	// MaxAge is the preflight cache time; default 1728000s (20 days).
	MaxAge Duration `yaml:"max_age" json:"max_age,omitempty"`
}

// RouteCanary diverts part of a route's traffic to another upstream. The
// header decides first, then the cookie, then the weight (ingress-nginx's
// order).
type RouteCanary struct {
	// Header names a request header: "always" sends to the canary, "never"
	// to the main upstream, anything else falls through to the cookie.
	Header string `yaml:"header" json:"header,omitempty"`
	// HeaderValue, when set, replaces "always": only this value selects the canary.
	HeaderValue string `yaml:"header_value" json:"header_value,omitempty"`
	// HeaderPattern, when set (and HeaderValue is not), is a regular
	// expression the header's value must match to select the canary.
	HeaderPattern string `yaml:"header_pattern" json:"header_pattern,omitempty"`
	// Cookie names a cookie: "always" sends to the canary, "never" to the main upstream.
	Cookie string `yaml:"cookie" json:"cookie,omitempty"`
	// Weight out of WeightTotal requests go to the canary when neither the
	// header nor the cookie decided.
	Weight int `yaml:"weight" json:"weight,omitempty"`
	// WeightTotal default 100.
	WeightTotal int           `yaml:"weight_total" json:"weight_total,omitempty"`
	Upstream    RouteUpstream `yaml:"upstream" json:"upstream"`
}

// Route path types.
const (
	PathExact        = "exact"
	PathPrefix       = "prefix"
	PathStringPrefix = "string_prefix"
	PathRegex        = "regex"
)

// Upstream protocols and balancers.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	ProtocolH2C   = "h2c"
	ProtocolH2    = "h2"

	BalanceRoundRobin = "round_robin"
	BalanceEWMA       = "ewma"
	BalanceHash       = "hash"
)

var (
	pathTypes = []string{PathExact, PathPrefix, PathStringPrefix, PathRegex}
	protocols = []string{ProtocolHTTP, ProtocolHTTPS, ProtocolH2C, ProtocolH2}
	balances  = []string{BalanceRoundRobin, BalanceEWMA, BalanceHash}
	// HashVar matches one nginx variable that RouteUpstream.HashBy may use.
	HashVar = regexp.MustCompile(`\$(remote_addr|host|uri|request_uri|(?:http|cookie|arg)_[A-Za-z0-9_]+)`)
)

// CompileRoutePath compiles a regex route path the way nginx's "~*"
// location does: case-insensitive and anchored at the start only.
func CompileRoutePath(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("(?i)^(?:" + p + ")")
	if err != nil {
		return nil, fmt.Errorf("compile path %q: %w", p, err)
	}
	return re, nil
}

// HashByVars reports whether s is made only of the nginx variables HashBy
// understands and literal text.
func HashByVars(s string) bool {
	return !strings.Contains(HashVar.ReplaceAllString(s, ""), "$")
}

// ValidateRoutes checks routes that did not come from a file (the
// Kubernetes provider) with the rules Load applies; problem paths start
// with "routes[i]".
func ValidateRoutes(rs []Route) []Problem {
	var k checker
	k.routes(rs)
	return k.problems
}

func (k *checker) routes(rs []Route) {
	names := map[string]int{}
	type match struct{ host, path, pathType string }
	matches := map[match]int{}
	for i, r := range rs {
		p := at("routes", i)
		k.uniqueName(names, "routes", "route", i, r.Name)
		m := match{strings.ToLower(strings.TrimSuffix(r.Host, ".")), cmp.Or(r.Path, "/"), cmp.Or(r.PathType, PathPrefix)}
		if j, dup := matches[m]; dup {
			k.add(field(p, "path"), "host %q path %q (%s) is already routed by routes[%d]", r.Host, m.path, m.pathType, j)
		} else {
			matches[m] = i
		}
		if h := strings.TrimPrefix(r.Host, "*."); r.Host != "" && !validHost(h) {
			k.add(field(p, "host"), "%q is not a host name or *.wildcard", r.Host)
		}
		if r.PathType != "" && !slices.Contains(pathTypes, r.PathType) {
			k.add(field(p, "path_type"), "%q is not one of %s", r.PathType, oneOf(pathTypes...))
		}
		switch {
		case r.PathType == PathRegex:
			if _, err := CompileRoutePath(r.Path); err != nil {
				k.add(field(p, "path"), "%q is not a valid regular expression", r.Path)
			}
		case r.Path != "" && !strings.HasPrefix(r.Path, "/"):
			k.add(field(p, "path"), "%q must start with /", r.Path)
		}
		if r.Rewrite != "" && !strings.HasPrefix(r.Rewrite, "/") && !isAbsURL(r.Rewrite) {
			k.add(field(p, "rewrite"), "%q must start with / or be an absolute URL", r.Rewrite)
		}
		if r.ForwardedPrefix != "" && (!strings.HasPrefix(r.ForwardedPrefix, "/") || hasControl(r.ForwardedPrefix)) {
			k.add(field(p, "forwarded_prefix"), "%q must start with / and contain no control characters", r.ForwardedPrefix)
		}
		if r.AppRoot != "" && !strings.HasPrefix(r.AppRoot, "/") {
			k.add(field(p, "app_root"), "%q must start with /", r.AppRoot)
		}
		if rd := r.Redirect; rd != nil {
			rp := field(p, "redirect")
			if rd.URL == "" || hasControl(rd.URL) {
				k.add(field(rp, "url"), "is required (a URL without line breaks)")
			}
			if rd.Code != 0 && !slices.Contains([]int{301, 302, 303, 307, 308}, rd.Code) {
				k.add(field(rp, "code"), "%d is not one of 301, 302, 303, 307, 308", rd.Code)
			}
		} else {
			k.upstream(field(p, "upstream"), r.Upstream)
		}
		if c := r.CORS; c != nil {
			if c.MaxAge < 0 {
				k.add(field(field(p, "cors"), "max_age"), "must be 0 or more, got %s", c.MaxAge)
			}
			for j, o := range c.AllowOrigins {
				if o != "*" && !isAbsURL(o) {
					k.add(at(field(field(p, "cors"), "allow_origins"), j), "%q is not \"*\" or an origin such as \"https://example.com\"", o)
				}
			}
		}
		if r.MaxBodyBytes < 0 {
			k.add(field(p, "max_body_bytes"), "must be 0 (no limit) or more, got %d", r.MaxBodyBytes)
		}
		for j, s := range r.AllowSources {
			k.cidr(at(field(p, "allow_sources"), j), s)
		}
		for j, s := range r.DenySources {
			k.cidr(at(field(p, "deny_sources"), j), s)
		}
		if e := r.ErrorPages; e != nil {
			ep := field(p, "error_pages")
			if len(e.Codes) == 0 {
				k.add(field(ep, "codes"), "at least one status code is required")
			}
			for j, c := range e.Codes {
				if c < 300 || c > 599 {
					k.add(at(field(ep, "codes"), j), "%d is not a status code from 300 to 599", c)
				}
			}
			k.upstream(field(ep, "upstream"), e.Upstream)
		}
		k.routeLimits(field(p, "limits"), r.Limits)
		k.routeAuth(field(p, "auth"), r.Auth)
		if c := r.Canary; c != nil {
			cp := field(p, "canary")
			total := c.WeightTotal
			if total == 0 {
				total = 100
			}
			if c.Weight < 0 || c.WeightTotal < 0 || c.Weight > total {
				k.add(field(cp, "weight"), "must be from 0 to weight_total (default 100), got %d of %d", c.Weight, c.WeightTotal)
			}
			if c.HeaderPattern != "" {
				if _, err := regexp.Compile(c.HeaderPattern); err != nil {
					k.add(field(cp, "header_pattern"), "%q is not a valid regular expression", c.HeaderPattern)
				}
			}
			if c.Header != "" && !validHeaderName(c.Header) {
				k.add(field(cp, "header"), "%q is not a valid header name", c.Header)
			}
			k.upstream(field(cp, "upstream"), c.Upstream)
		}
	}
}

func (k *checker) upstream(p string, u RouteUpstream) {
	if len(u.Servers) == 0 {
		k.add(field(p, "servers"), "at least one server (host:port) is required")
	}
	for j, s := range u.Servers {
		if msg := hostPortProblem(s); msg != "" {
			k.add(at(field(p, "servers"), j), "%s", msg)
		}
	}
	if u.Protocol != "" && !slices.Contains(protocols, u.Protocol) {
		k.add(field(p, "protocol"), "%q is not one of %s", u.Protocol, oneOf(protocols...))
	}
	if u.Balance != "" && !slices.Contains(balances, u.Balance) {
		k.add(field(p, "balance"), "%q is not one of %s", u.Balance, oneOf(balances...))
	}
	switch {
	case u.Balance == BalanceHash && u.HashBy == "":
		k.add(field(p, "hash_by"), "is required with balance hash")
	case u.HashBy != "" && u.Balance != BalanceHash:
		k.add(field(p, "hash_by"), "needs balance: hash")
	case u.HashBy != "" && !HashByVars(u.HashBy):
		k.add(field(p, "hash_by"), "%q uses a variable weir does not know (use $remote_addr, $host, $uri, $request_uri, $http_NAME, $cookie_NAME, $arg_NAME)", u.HashBy)
	}
	if a := u.Affinity; a != nil {
		if a.Cookie != "" && !validHeaderName(a.Cookie) {
			k.add(field(field(p, "affinity"), "cookie"), "%q is not a valid cookie name", a.Cookie)
		}
		if !slices.Contains([]string{"", "lax", "strict", "none"}, a.SameSite) {
			k.add(field(field(p, "affinity"), "samesite"), "%q is not one of %s", a.SameSite, oneOf("lax", "strict", "none"))
		}
	}
	if hasControl(u.HostHeader) || strings.ContainsAny(u.HostHeader, " /") {
		k.add(field(p, "host_header"), "%q is not a host", u.HostHeader)
	}
	if u.KeepAlive < 0 {
		k.add(field(p, "keepalive"), "must be 0 or more, got %d", u.KeepAlive)
	}
	if u.ConnectTimeout < 0 {
		k.add(field(p, "connect_timeout"), "must be 0 (default) or more, got %s", u.ConnectTimeout)
	}
	if u.ReadTimeout < 0 {
		k.add(field(p, "read_timeout"), "must be 0 (default) or more, got %s", u.ReadTimeout)
	}
	if u.SendTimeout < 0 {
		k.add(field(p, "send_timeout"), "must be 0 (no bound) or more, got %s", u.SendTimeout)
	}
	if u.Retry.Timeout < 0 {
		k.add(field(field(p, "retry"), "timeout"), "must be 0 (no bound) or more, got %s", u.Retry.Timeout)
	}
	k.upstreamTLS(field(p, "tls"), u.TLS)
	for j, on := range u.Retry.On {
		if !retryCondition(on) {
			k.add(at(field(field(p, "retry"), "on"), j), "%q is not error, timeout or a status code from 500 to 599 (or 403, 404, 429)", on)
		}
	}
	if u.Retry.Tries < 0 {
		k.add(field(field(p, "retry"), "tries"), "must be 0 or more, got %d", u.Retry.Tries)
	}
}

func (k *checker) upstreamTLS(p string, t RouteUpstreamTLS) {
	exclusive := func(file, inline, fileVal, inlineVal string) {
		if fileVal != "" && inlineVal != "" {
			k.add(field(p, inline), "set %s or %s, not both", file, inline)
		}
	}
	exclusive("ca_file", "ca_pem", t.CAFile, t.CAPEM)
	exclusive("cert_file", "cert_pem", t.CertFile, t.CertPEM)
	exclusive("key_file", "key_pem", t.KeyFile, t.KeyPEM.Value())
	if (t.CAFile != "" || t.CAPEM != "") && !t.Verify {
		k.add(field(p, "verify"), "must be true with a CA (ca_file or ca_pem): without it the upstream's certificate is not checked")
	}
	if t.VerifyDepth != 0 && !t.Verify {
		k.add(field(p, "verify_depth"), "needs verify: true")
	}
	if t.VerifyDepth < 0 {
		k.add(field(p, "verify_depth"), "must be 0 (no bound) or more, got %d", t.VerifyDepth)
	}
	if t.CAPEM != "" {
		if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM([]byte(t.CAPEM)) {
			k.add(field(p, "ca_pem"), "holds no PEM certificate")
		}
	}
	hasCert, hasKey := t.CertFile != "" || t.CertPEM != "", t.KeyFile != "" || t.KeyPEM != ""
	switch {
	case hasCert && !hasKey:
		k.add(field(p, "key_file"), "is required with a client certificate (key_file or key_pem)")
	case hasKey && !hasCert:
		k.add(field(p, "cert_file"), "is required with a client key (cert_file or cert_pem)")
	case t.CertPEM != "" && t.KeyPEM != "":
		// The error names no key material.
		if _, err := tls.X509KeyPair([]byte(t.CertPEM), []byte(t.KeyPEM.Value())); err != nil {
			k.add(field(p, "cert_pem"), "with key_pem is not a usable certificate and key: %v", err)
		}
	}
	versions := []string{TLSVersion12, TLSVersion13}
	for _, v := range []struct{ name, val string }{{"min_version", t.MinVersion}, {"max_version", t.MaxVersion}} {
		if v.val != "" && !slices.Contains(versions, v.val) {
			k.add(field(p, v.name), "%q is not one of %s (weir does not speak TLS 1.0, 1.1 or SSL to upstreams)", v.val, oneOf(versions...))
		}
	}
	if lo, hi := TLSVersion(t.MinVersion), TLSVersion(t.MaxVersion); lo != 0 && hi != 0 && lo > hi {
		k.add(field(p, "max_version"), "%s is below min_version %s", t.MaxVersion, t.MinVersion)
	}
	for j, c := range t.CipherSuites {
		_, ok := CipherSuiteID(c)
		switch {
		case ok:
		case tls13Suite(c):
			k.add(at(field(p, "cipher_suites"), j), "%q is a TLS 1.3 suite; Go does not let them be configured (leave it out)", c)
		default:
			k.add(at(field(p, "cipher_suites"), j), "%q is not a TLS 1.2 cipher suite Go offers (IANA names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", c)
		}
	}
	if len(t.CipherSuites) > 0 && t.MinVersion == TLSVersion13 {
		k.add(field(p, "cipher_suites"), "has no effect with min_version 1.3")
	}
}

func (k *checker) routeLimits(p string, l *RouteLimits) {
	if l == nil {
		return
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"requests_per_second", l.RequestsPerSecond}, {"requests_per_minute", l.RequestsPerMinute}, {"burst_multiplier", l.BurstMultiplier}, {"connections", l.Connections}} {
		if f.v < 0 {
			k.add(field(p, f.name), "must be 0 or more, got %d", f.v)
		}
	}
	for j, s := range l.Exempt {
		k.cidr(at(field(p, "exempt"), j), s)
	}
}

func (k *checker) routeAuth(p string, a *RouteAuth) {
	if a == nil {
		return
	}
	if !isAbsURL(strings.Replace(a.URL, "$scheme", "https", 1)) || hasControl(a.URL) {
		k.add(field(p, "url"), "%q is not an http or https URL", a.URL)
	}
	if a.SignIn != "" && (!isAbsURL(strings.Replace(a.SignIn, "$scheme", "https", 1)) && !strings.HasPrefix(a.SignIn, "/") || hasControl(a.SignIn)) {
		k.add(field(p, "signin"), "%q is not a URL or a path", a.SignIn)
	}
	if a.Method != "" && !slices.Contains([]string{"GET", "HEAD", "POST", "OPTIONS"}, a.Method) {
		k.add(field(p, "method"), "%q is not one of %s", a.Method, oneOf("GET", "HEAD", "POST", "OPTIONS"))
	}
	for j, h := range a.ResponseHeaders {
		if !validHeaderName(h) {
			k.add(at(field(p, "response_headers"), j), "%q is not a valid header name", h)
		}
	}
	if a.Timeout < 0 {
		k.add(field(p, "timeout"), "must be 0 (default) or more, got %s", a.Timeout)
	}
	if hasControl(a.RequestRedirect) {
		k.add(field(p, "request_redirect"), "%q has control characters", a.RequestRedirect)
	}
}

// retryCondition reports whether s is a RouteRetry.On entry.
func retryCondition(s string) bool {
	switch s {
	case "error", "timeout", "403", "404", "429":
		return true
	}
	return len(s) == 3 && s[0] == '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

func isAbsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Package ingress imports Kubernetes Ingress objects (networking.k8s.io/v1)
// carrying ingress-nginx annotations into weir routes.
//
// It works in two steps, as converters that must be honest about loss do:
// ParseAnnotations reads the nginx.ingress.kubernetes.io/* annotations into
// a neutral model (Annotations) without knowing anything about weir, and
// Import translates the model and the Ingress rules into config.Route
// values. Every annotation ends up in the Report with one Status: carried,
// carried with a difference (explained), not supported, or ignored (it had
// no effect in ingress-nginx either). Nothing is dropped silently.
//
// Differences from ingress-nginx that apply to every route are listed at
// the end of every report (Notes).
package ingress

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Prefix is the annotation prefix of ingress-nginx.
const Prefix = "nginx.ingress.kubernetes.io/"

// Annotations is the neutral model of one Ingress's ingress-nginx
// annotations. Pointers and empty strings mean "not set"; the model keeps
// what was written, not what weir makes of it.
type Annotations struct {
	RewriteTarget    *string
	UseRegex         bool
	AppRoot          string
	SSLRedirect      *bool
	ForceSSLRedirect bool

	PermanentRedirect     string
	PermanentRedirectCode int
	TemporalRedirect      string
	TemporalRedirectCode  int

	BackendProtocol string // upper case: HTTP, HTTPS, GRPC, GRPCS, AUTO_HTTP, FCGI
	UpstreamVhost   string
	ProxyBodySize   *int64 // bytes; 0 means unlimited

	ProxyConnectTimeout *time.Duration
	ProxyReadTimeout    *time.Duration
	ProxySendTimeout    *time.Duration

	ProxyNextUpstream        []string // nginx tokens: error timeout http_502 ...
	ProxyNextUpstreamTries   *int
	ProxyNextUpstreamTimeout *time.Duration

	EnableCORS           bool
	CORSAllowOrigin      []string
	CORSAllowMethods     string
	CORSAllowHeaders     string
	CORSExposeHeaders    string
	CORSAllowCredentials *bool
	CORSMaxAge           *time.Duration

	Canary                bool
	CanaryByHeader        string
	CanaryByHeaderValue   string
	CanaryByHeaderPattern string
	CanaryByCookie        string
	CanaryWeight          *int
	CanaryWeightTotal     *int

	Affinity              string
	AffinityMode          string
	SessionCookieName     string
	SessionCookiePath     string
	SessionCookieMaxAge   *time.Duration
	SessionCookieExpires  *time.Duration
	SessionCookieSameSite string
	SessionCookieSecure   *bool

	UpstreamHashBy string
	LoadBalance    string

	AllowSourceRange []netip.Prefix
	DenySourceRange  []netip.Prefix

	LimitRPS             *int
	LimitRPM             *int
	LimitConnections     *int
	LimitBurstMultiplier *int
	LimitAllowlist       []netip.Prefix

	AuthURL             string
	AuthSignin          string
	AuthMethod          string
	AuthResponseHeaders []string
	AuthRequestRedirect string

	FromToWWWRedirect bool
	CustomHTTPErrors  []int
	DefaultBackend    string

	ServerAlias      []string
	XForwardedPrefix string
	ServiceUpstream  bool
	ProxyHTTPVersion string
	EnableAccessLog  *bool

	ProxySSLVerify     *bool
	ProxySSLName       string
	ProxySSLServerName *bool
	// ProxySSLSecret is the "namespace/name" of a Secret with ca.crt,
	// tls.crt and tls.key.
	ProxySSLSecret      string
	ProxySSLProtocols   []string // nginx names: SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3
	ProxySSLCiphers     []string // OpenSSL cipher list elements, as written
	ProxySSLVerifyDepth *int

	// Set holds every ingress-nginx annotation found, by its short name
	// (without Prefix), with its raw value; Invalid the ones whose value
	// could not be parsed, with why.
	Set     map[string]string
	Invalid map[string]error
}

// spec parses one annotation's value into the model.
type spec func(a *Annotations, v string) error

// specs is every annotation ParseAnnotations understands. An annotation not
// in this table is still recorded in Annotations.Set and reported as not
// supported by the translation.
var specs = map[string]spec{
	"rewrite-target": func(a *Annotations, v string) error { a.RewriteTarget = &v; return nil },
	"use-regex":      boolInto(func(a *Annotations) *bool { return &a.UseRegex }),
	"app-root": func(a *Annotations, v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%q must start with /", v)
		}
		a.AppRoot = v
		return nil
	},
	"ssl-redirect":       boolPtr(func(a *Annotations) **bool { return &a.SSLRedirect }),
	"force-ssl-redirect": boolInto(func(a *Annotations) *bool { return &a.ForceSSLRedirect }),
	"permanent-redirect": urlInto(func(a *Annotations) *string { return &a.PermanentRedirect }),
	"permanent-redirect-code": func(a *Annotations, v string) error {
		return redirectCode(v, &a.PermanentRedirectCode)
	},
	"temporal-redirect": urlInto(func(a *Annotations) *string { return &a.TemporalRedirect }),
	"temporal-redirect-code": func(a *Annotations, v string) error {
		return redirectCode(v, &a.TemporalRedirectCode)
	},
	"backend-protocol": func(a *Annotations, v string) error {
		u := strings.ToUpper(strings.TrimSpace(v))
		if !slices.Contains([]string{"HTTP", "HTTPS", "GRPC", "GRPCS", "AUTO_HTTP", "FCGI"}, u) {
			return fmt.Errorf("%q is not HTTP, HTTPS, GRPC, GRPCS, AUTO_HTTP or FCGI", v)
		}
		a.BackendProtocol = u
		return nil
	},
	"upstream-vhost": func(a *Annotations, v string) error {
		if v == "" || strings.ContainsAny(v, " \t\r\n/$") {
			return fmt.Errorf("%q is not a host name", v)
		}
		a.UpstreamVhost = v
		return nil
	},
	"proxy-body-size": func(a *Annotations, v string) error {
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		a.ProxyBodySize = &n
		return nil
	},
	"proxy-connect-timeout":       secondsInto(func(a *Annotations) **time.Duration { return &a.ProxyConnectTimeout }),
	"proxy-read-timeout":          secondsInto(func(a *Annotations) **time.Duration { return &a.ProxyReadTimeout }),
	"proxy-send-timeout":          secondsInto(func(a *Annotations) **time.Duration { return &a.ProxySendTimeout }),
	"proxy-next-upstream":         wordsInto(nextUpstreamTokens, func(a *Annotations) *[]string { return &a.ProxyNextUpstream }),
	"proxy-next-upstream-tries":   intPtr(0, 100, func(a *Annotations) **int { return &a.ProxyNextUpstreamTries }),
	"proxy-next-upstream-timeout": secondsInto(func(a *Annotations) **time.Duration { return &a.ProxyNextUpstreamTimeout }),
	"enable-cors":                 boolInto(func(a *Annotations) *bool { return &a.EnableCORS }),
	"cors-allow-origin":           parseCORSOrigins,
	"cors-allow-methods":          headerList(func(a *Annotations) *string { return &a.CORSAllowMethods }),
	"cors-allow-headers":          headerList(func(a *Annotations) *string { return &a.CORSAllowHeaders }),
	"cors-expose-headers":         headerList(func(a *Annotations) *string { return &a.CORSExposeHeaders }),
	"cors-allow-credentials":      boolPtr(func(a *Annotations) **bool { return &a.CORSAllowCredentials }),
	"cors-max-age":                secondsInto(func(a *Annotations) **time.Duration { return &a.CORSMaxAge }),
	"canary":                      boolInto(func(a *Annotations) *bool { return &a.Canary }),
	"canary-by-header":            tokenInto(func(a *Annotations) *string { return &a.CanaryByHeader }),
	"canary-by-header-value":      func(a *Annotations, v string) error { a.CanaryByHeaderValue = v; return nil },
	"canary-by-header-pattern":    parseCanaryPattern,
	"canary-by-cookie":            tokenInto(func(a *Annotations) *string { return &a.CanaryByCookie }),
	"canary-weight":               intPtr(0, 1<<30, func(a *Annotations) **int { return &a.CanaryWeight }),
	"canary-weight-total":         intPtr(1, 1<<30, func(a *Annotations) **int { return &a.CanaryWeightTotal }),
	"affinity":                    oneOf([]string{"cookie"}, func(a *Annotations) *string { return &a.Affinity }),
	"affinity-mode":               oneOf([]string{"balanced", "persistent"}, func(a *Annotations) *string { return &a.AffinityMode }),
	"session-cookie-name":         tokenInto(func(a *Annotations) *string { return &a.SessionCookieName }),
	"session-cookie-path":         pathInto(func(a *Annotations) *string { return &a.SessionCookiePath }),
	"session-cookie-max-age":      secondsInto(func(a *Annotations) **time.Duration { return &a.SessionCookieMaxAge }),
	"session-cookie-expires":      secondsInto(func(a *Annotations) **time.Duration { return &a.SessionCookieExpires }),
	"session-cookie-samesite":     oneOf([]string{"None", "Lax", "Strict"}, func(a *Annotations) *string { return &a.SessionCookieSameSite }),
	"session-cookie-secure":       boolPtr(func(a *Annotations) **bool { return &a.SessionCookieSecure }),
	"upstream-hash-by":            func(a *Annotations, v string) error { a.UpstreamHashBy = strings.TrimSpace(v); return nonEmpty(v) },
	"load-balance":                oneOf([]string{"round_robin", "ewma"}, func(a *Annotations) *string { return &a.LoadBalance }),
	"whitelist-source-range":      cidrsInto(func(a *Annotations) *[]netip.Prefix { return &a.AllowSourceRange }),
	"allowlist-source-range":      cidrsInto(func(a *Annotations) *[]netip.Prefix { return &a.AllowSourceRange }),
	"denylist-source-range":       cidrsInto(func(a *Annotations) *[]netip.Prefix { return &a.DenySourceRange }),
	"limit-rps":                   intPtr(0, 1<<30, func(a *Annotations) **int { return &a.LimitRPS }),
	"limit-rpm":                   intPtr(0, 1<<30, func(a *Annotations) **int { return &a.LimitRPM }),
	"limit-connections":           intPtr(0, 1<<30, func(a *Annotations) **int { return &a.LimitConnections }),
	"limit-burst-multiplier":      intPtr(1, 1<<20, func(a *Annotations) **int { return &a.LimitBurstMultiplier }),
	"limit-whitelist":             cidrsInto(func(a *Annotations) *[]netip.Prefix { return &a.LimitAllowlist }),
	"limit-allowlist":             cidrsInto(func(a *Annotations) *[]netip.Prefix { return &a.LimitAllowlist }),
	"auth-url":                    authURLInto(func(a *Annotations) *string { return &a.AuthURL }),
	"auth-signin":                 authURLInto(func(a *Annotations) *string { return &a.AuthSignin }),
	"auth-method":                 oneOf([]string{"GET", "HEAD", "POST", "OPTIONS"}, func(a *Annotations) *string { return &a.AuthMethod }),
	"auth-response-headers":       parseAuthResponseHeaders,
	"auth-request-redirect": func(a *Annotations, v string) error {
		v = strings.TrimSpace(v)
		if strings.Contains(authVars.ReplaceAllString(v, ""), "$") {
			return fmt.Errorf("%q uses an nginx variable weir does not expand (it expands $host, $scheme, $request_uri, $escaped_request_uri)", v)
		}
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("%q is not a header value", v)
		}
		a.AuthRequestRedirect = v
		return nil
	},
	"server-alias":         parseServerAlias,
	"custom-http-errors":   parseHTTPErrors,
	"from-to-www-redirect": boolInto(func(a *Annotations) *bool { return &a.FromToWWWRedirect }),
	"default-backend": func(a *Annotations, v string) error {
		v = strings.TrimSpace(v)
		if pathProblem(v, "/") != "" || strings.Contains(v, ".") {
			return fmt.Errorf("%q is not a Service name", v)
		}
		a.DefaultBackend = v
		return nil
	},
	"x-forwarded-prefix":       pathInto(func(a *Annotations) *string { return &a.XForwardedPrefix }),
	"service-upstream":         boolInto(func(a *Annotations) *bool { return &a.ServiceUpstream }),
	"proxy-http-version":       oneOf([]string{"1.0", "1.1"}, func(a *Annotations) *string { return &a.ProxyHTTPVersion }),
	"enable-access-log":        boolPtr(func(a *Annotations) **bool { return &a.EnableAccessLog }),
	"proxy-buffering":          oneOf([]string{"on", "off"}, func(*Annotations) *string { return new(string) }),
	"proxy-request-buffering":  oneOf([]string{"on", "off"}, func(*Annotations) *string { return new(string) }),
	"proxy-buffer-size":        sizeOnly,
	"proxy-buffers-number":     intPtr(1, 1<<20, func(*Annotations) **int { return new(*int) }),
	"proxy-busy-buffers-size":  sizeOnly,
	"client-body-buffer-size":  sizeOnly,
	"proxy-max-temp-file-size": sizeOnly,
	"proxy-ssl-verify":         onOff(func(a *Annotations) **bool { return &a.ProxySSLVerify }),
	"proxy-ssl-name":           func(a *Annotations, v string) error { a.ProxySSLName = v; return nonEmpty(v) },
	"proxy-ssl-server-name":    onOff(func(a *Annotations) **bool { return &a.ProxySSLServerName }),
	"proxy-ssl-secret":         parseSecretRef,
	"proxy-ssl-protocols":      wordsInto(sslProtocols, func(a *Annotations) *[]string { return &a.ProxySSLProtocols }),
	"proxy-ssl-ciphers":        parseSSLCiphers,
	"proxy-ssl-verify-depth":   intPtr(0, 100, func(a *Annotations) **int { return &a.ProxySSLVerifyDepth }),
}

// ParseAnnotations reads the ingress-nginx annotations of one Ingress into
// the neutral model. It never fails: a value it cannot parse is recorded
// in Invalid (and so reported), as ingress-nginx also ignores it.
// Annotations without Prefix are not looked at.
func ParseAnnotations(annotations map[string]string) *Annotations {
	a := &Annotations{Set: map[string]string{}, Invalid: map[string]error{}}
	// Sorted, so that when two spellings set one field (whitelist- and
	// allowlist-source-range) the result does not depend on map order.
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if name, ok := strings.CutPrefix(k, Prefix); ok {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	for _, name := range keys {
		v := annotations[Prefix+name]
		a.Set[name] = v
		if s, ok := specs[name]; ok {
			if hasControl(v) {
				a.Invalid[name] = fmt.Errorf("%q contains a control character", v)
			} else if err := s(a, v); err != nil {
				a.Invalid[name] = err
			}
		}
	}
	return a
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 || !utf8.ValidString(s)
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("is empty")
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

func boolInto(f func(*Annotations) *bool) spec {
	return func(a *Annotations, v string) error {
		b, err := parseBool(v)
		if err == nil {
			*f(a) = b
		}
		return err
	}
}

func boolPtr(f func(*Annotations) **bool) spec {
	return func(a *Annotations, v string) error {
		b, err := parseBool(v)
		if err == nil {
			*f(a) = &b
		}
		return err
	}
}

func onOff(f func(*Annotations) **bool) spec {
	return func(a *Annotations, v string) error {
		var b bool
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "on":
			b = true
		case "off":
		default:
			return fmt.Errorf("%q is not on or off", v)
		}
		*f(a) = &b
		return nil
	}
}

func urlInto(f func(*Annotations) *string) spec {
	return func(a *Annotations, v string) error {
		if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") || strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("%q is not an http or https URL", v)
		}
		*f(a) = v
		return nil
	}
}

func parseAuthResponseHeaders(a *Annotations, v string) error {
	for h := range strings.SplitSeq(v, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !token.MatchString(h) {
			return fmt.Errorf("%q is not a comma-separated list of header names", v)
		}
		a.AuthResponseHeaders = append(a.AuthResponseHeaders, h)
	}
	if len(a.AuthResponseHeaders) == 0 {
		return fmt.Errorf("is empty")
	}
	return nil
}

func parseHTTPErrors(a *Annotations, v string) error {
	for c := range strings.SplitSeq(v, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil || n < 300 || n > 599 {
			return fmt.Errorf("%q is not a list of status codes from 300 to 599", v)
		}
		a.CustomHTTPErrors = append(a.CustomHTTPErrors, n)
	}
	if len(a.CustomHTTPErrors) == 0 {
		return fmt.Errorf("is empty")
	}
	return nil
}

// sizeOnly checks an nginx size whose value weir has no use for.
func sizeOnly(_ *Annotations, v string) error {
	_, err := ParseSize(v)
	return err
}

func parseServerAlias(a *Annotations, v string) error {
	for h := range strings.SplitSeq(v, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if pathProblem(h, "/") != "" {
			return fmt.Errorf("%q is not a list of host names", v)
		}
		a.ServerAlias = append(a.ServerAlias, h)
	}
	if len(a.ServerAlias) == 0 {
		return fmt.Errorf("is empty")
	}
	return nil
}

// authVars are the nginx variables weir expands in auth-url and auth-signin.
var authVars = regexp.MustCompile(`\$(escaped_request_uri|request_uri|scheme|host)`)

func authURLInto(f func(*Annotations) *string) spec {
	return func(a *Annotations, v string) error {
		v = strings.TrimSpace(v)
		if strings.Contains(authVars.ReplaceAllString(v, ""), "$") {
			return fmt.Errorf("%q uses an nginx variable weir does not expand (it expands $host, $scheme, $request_uri, $escaped_request_uri)", v)
		}
		u, err := url.Parse(strings.NewReplacer("$host", "host.invalid", "$scheme", "https").Replace(v))
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.ContainsAny(v, " \t") {
			return fmt.Errorf("%q is not an http or https URL", v)
		}
		*f(a) = v
		return nil
	}
}

func redirectCode(v string, into *int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || !slices.Contains([]int{301, 302, 303, 307, 308}, n) {
		return fmt.Errorf("%q is not 301, 302, 303, 307 or 308", v)
	}
	*into = n
	return nil
}

// secondsInto parses nginx's time values as the annotations use them:
// a number of seconds, or a number with an s, m or h suffix.
func secondsInto(f func(*Annotations) **time.Duration) spec {
	return func(a *Annotations, v string) error {
		d, err := parseSeconds(v)
		if err == nil {
			*f(a) = &d
		}
		return err
	}
}

func parseSeconds(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	unit := time.Second
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 's':
			s = s[:n-1]
		case 'm':
			s, unit = s[:n-1], time.Minute
		case 'h':
			s, unit = s[:n-1], time.Hour
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > int64(365*24*time.Hour/unit) {
		return 0, fmt.Errorf("%q is not a number of seconds", v)
	}
	return time.Duration(n) * unit, nil
}

// ParseSize parses an nginx size ("8m", "512k", "1g", "1024"); "0" means
// unlimited.
func ParseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k':
			s, mult = s[:n-1], 1<<10
		case 'm':
			s, mult = s[:n-1], 1<<20
		case 'g':
			s, mult = s[:n-1], 1<<30
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 8m, 512k or 0", v)
	}
	return n * mult, nil
}

func intPtr(lo, hi int, f func(*Annotations) **int) spec {
	return func(a *Annotations, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
		}
		*f(a) = &n
		return nil
	}
}

func oneOf(values []string, f func(*Annotations) *string) spec {
	return func(a *Annotations, v string) error {
		for _, want := range values {
			if strings.EqualFold(strings.TrimSpace(v), want) {
				*f(a) = want
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
	}
}

var token = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+$`)

func tokenInto(f func(*Annotations) *string) spec {
	return func(a *Annotations, v string) error {
		v = strings.TrimSpace(v)
		if !token.MatchString(v) {
			return fmt.Errorf("%q is not a valid header or cookie name", v)
		}
		*f(a) = v
		return nil
	}
}

func pathInto(f func(*Annotations) *string) spec {
	return func(a *Annotations, v string) error {
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n;") {
			return fmt.Errorf("%q is not a path", v)
		}
		*f(a) = v
		return nil
	}
}

// headerList accepts a comma-separated list of tokens, as the cors-*
// annotations take (ingress-nginx validates them the same way).
func headerList(f func(*Annotations) *string) spec {
	return func(a *Annotations, v string) error {
		var parts []string
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !token.MatchString(p) {
				return fmt.Errorf("%q is not a comma-separated list of names", v)
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			return fmt.Errorf("is empty")
		}
		*f(a) = strings.Join(parts, ", ")
		return nil
	}
}

func parseCORSOrigins(a *Annotations, v string) error {
	var out []string
	for o := range strings.SplitSeq(v, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" && !isOrigin(o) {
			return fmt.Errorf("%q is not \"*\" or a list of origins such as https://example.com", v)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return fmt.Errorf("is empty")
	}
	a.CORSAllowOrigin = out
	return nil
}

// isOrigin reports whether s is scheme://host[:port], the host possibly
// starting with "*." as ingress-nginx allows.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil && !u.ForceQuery
}

func parseCanaryPattern(a *Annotations, v string) error {
	if _, err := regexp.Compile(v); err != nil || v == "" {
		return fmt.Errorf("%q is not a regular expression", v)
	}
	a.CanaryByHeaderPattern = v
	return nil
}

func cidrsInto(f func(*Annotations) *[]netip.Prefix) spec {
	return func(a *Annotations, v string) error {
		var out []netip.Prefix
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				addr, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("%q is not an address or CIDR", s)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			out = append(out, p.Masked())
		}
		if len(out) == 0 {
			return fmt.Errorf("is empty")
		}
		*f(a) = append(*f(a), out...)
		return nil
	}
}

// nextUpstreamTokens are the proxy_next_upstream conditions nginx knows.
var nextUpstreamTokens = []string{"error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404", "http_429", "non_idempotent", "off"}

// wordsInto reads a space-separated list of words from a fixed set.
func wordsInto(words []string, f func(*Annotations) *[]string) spec {
	return func(a *Annotations, v string) error {
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return fmt.Errorf("is empty")
		}
		for _, w := range fields {
			if !slices.Contains(words, w) {
				return fmt.Errorf("%q is not one of %s", w, strings.Join(words, " "))
			}
		}
		*f(a) = fields
		return nil
	}
}

// parseSecretRef reads "namespace/name", as ingress-nginx requires for
// proxy-ssl-secret.
func parseSecretRef(a *Annotations, v string) error {
	v = strings.TrimSpace(v)
	ns, name, ok := strings.Cut(v, "/")
	if !ok || !dnsLabel.MatchString(ns) || !dnsSubdomain.MatchString(name) {
		return fmt.Errorf("%q is not namespace/name", v)
	}
	a.ProxySSLSecret = v
	return nil
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	cipherElem   = regexp.MustCompile(`^[!+\-@=.A-Za-z0-9_]+$`)
)

// sslProtocols are the names nginx's proxy_ssl_protocols takes.
var sslProtocols = []string{"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}

// parseSSLCiphers splits an OpenSSL cipher list (elements separated by
// colons, commas or spaces); which elements weir can carry is decided by
// the translation.
func parseSSLCiphers(a *Annotations, v string) error {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	if len(fields) == 0 {
		return fmt.Errorf("is empty")
	}
	for _, f := range fields {
		if !cipherElem.MatchString(f) {
			return fmt.Errorf("%q is not an OpenSSL cipher list", v)
		}
	}
	a.ProxySSLCiphers = fields
	return nil
}

package ingress

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/weir-gateway/weir/userspace/config"
)

// canaryInherited are the annotations ingress-nginx applies on a canary
// Ingress; every other non-canary annotation there is ignored.
var canaryInherited = []string{"load-balance", "upstream-hash-by", "affinity", "affinity-mode",
	"session-cookie-name", "session-cookie-path", "session-cookie-max-age", "session-cookie-expires",
	"session-cookie-samesite", "session-cookie-secure"}

// notSupported explains annotations weir knows but cannot serve yet.
var notSupported = map[string]string{
	"auth-type":                        "basic and digest authentication are not implemented yet, so the paths are left out",
	"auth-secret":                      "basic and digest authentication are not implemented yet",
	"auth-realm":                       "basic and digest authentication are not implemented yet",
	"session-cookie-change-on-failure": "weir keeps a pinned client on its server while it is in the pool",
}

// authNotCarried are the auth-url companions weir does not carry: the
// external authentication itself is served (httproute's auth check).
var authNotCarried = map[string]struct {
	status Status
	why    string
}{
	"auth-cache-key": {Differs, "auth answers are not cached: weir asks the auth service for every request " +
		"(more load on it; a revoked session is refused at once)"},
	"auth-cache-duration": {Differs, "auth answers are not cached: weir asks the auth service for every request " +
		"(more load on it; a revoked session is refused at once)"},
	"auth-proxy-set-headers": {Unsupported, "the headers of that ConfigMap are not sent to the auth service (weir reads no ConfigMaps); " +
		"the subrequest carries the client's headers, X-Original-URL, X-Original-Method, X-Auth-Request-Redirect, X-Real-IP and X-Forwarded-For"},
}

// judgeAll reports every annotation of one selected Ingress.
func (im *importer) judgeAll(st *ingressState) {
	a := st.a
	for _, key := range slices.Sorted(maps.Keys(st.ing.Annotations)) {
		v := st.ing.Annotations[key]
		name, nginx := strings.CutPrefix(key, Prefix)
		switch {
		case key == classAnnotation:
			continue // reported by selectClass
		case !nginx:
			st.rep.add(key, v, Ignored, "not an ingress-nginx annotation")
			continue
		}
		if err := a.Invalid[name]; err != nil {
			st.rep.add(key, v, Unsupported, "invalid value, not carried: "+err.Error())
			continue
		}
		s, why := im.judge(st, name)
		st.rep.add(key, v, s, why)
	}
}

// judge says what became of one ingress-nginx annotation (valid value).
func (im *importer) judge(st *ingressState, name string) (Status, string) {
	a := st.a
	isCanaryAnn := name == "canary" || strings.HasPrefix(name, "canary-")
	switch {
	case strings.HasSuffix(name, "-snippet") || name == "configuration-snippet":
		return Unsupported, "nginx configuration snippets cannot be carried over; express them as weir route settings"
	case a.Canary && st.merged == 0 && (isCanaryAnn || slices.Contains(canaryInherited, name)):
		return Ignored, "the canary matched no main route"
	case a.Canary && !isCanaryAnn && !slices.Contains(canaryInherited, name):
		return Ignored, "ingress-nginx ignores this annotation on a canary Ingress (the main Ingress's value applies)"
	case !a.Canary && isCanaryAnn && name != "canary":
		return Ignored, "has no effect without canary: \"true\" (as in ingress-nginx)"
	}
	if j, ok := authNotCarried[name]; ok {
		if a.AuthURL == "" {
			return Ignored, "has no effect without auth-url"
		}
		return j.status, j.why
	}
	if why, ok := notSupported[name]; ok {
		return Unsupported, why
	}
	if _, ok := specs[name]; !ok {
		return Unsupported, notImplemented
	}
	balancing := func(what string) (Status, string) {
		if im.servedByService(st) {
			return Differs, what + "; the servers are Service names, so with a ClusterIP Service kube-proxy picks the pod (use a headless Service, or the Kubernetes provider with endpoints)"
		}
		return Carried, what
	}
	switch name {
	case "canary":
		if !a.Canary {
			return Carried, "not a canary"
		}
		return Carried, "merged into the main Ingress's routes"
	case "canary-by-header", "canary-by-cookie", "canary-weight", "canary-weight-total", "canary-by-header-value":
		return Carried, ""
	case "canary-by-header-pattern":
		if a.CanaryByHeaderValue != "" {
			return Ignored, "canary-by-header-value takes precedence (as in ingress-nginx)"
		}
		return Carried, "Go regular expression syntax (RE2)"
	case "rewrite-target":
		if a.RewriteTarget == nil || !validRewrite(*a.RewriteTarget) {
			return Unsupported, "weir needs a rewrite target that starts with / or is an absolute URL"
		}
		return Carried, "the path becomes a regular expression; $1..$9 are its groups"
	case "use-regex":
		if !a.UseRegex {
			return Carried, ""
		}
		return Carried, "Go regular expression syntax (RE2: no lookaround or backreferences), case-insensitive, anchored at the start"
	case "app-root", "ssl-redirect", "force-ssl-redirect", "upstream-vhost", "proxy-body-size", "proxy-connect-timeout", "enable-cors", "temporal-redirect", "temporal-redirect-code", "proxy-ssl-name":
		return Carried, ""
	case "permanent-redirect":
		if a.TemporalRedirect != "" {
			return Ignored, "temporal-redirect takes precedence (as in ingress-nginx)"
		}
		return Carried, ""
	case "permanent-redirect-code":
		if a.PermanentRedirect == "" || a.TemporalRedirect != "" {
			return Ignored, "no permanent redirect uses it"
		}
		return Carried, ""
	case "backend-protocol":
		switch a.BackendProtocol {
		case "FCGI":
			return Unsupported, "FastCGI upstreams are not supported; the route would speak HTTP to them"
		case "AUTO_HTTP":
			return Differs, "weir speaks HTTP/1.1 to the upstream (no HTTP/2 negotiation)"
		case "GRPC":
			return Carried, "cleartext HTTP/2 (h2c)"
		case "GRPCS":
			return Carried, "HTTP/2 over TLS"
		}
		return Carried, ""
	case "proxy-read-timeout":
		return Carried, "bounds the wait for the response headers and every later wait for the body (not WebSocket after the upgrade)"
	case "proxy-send-timeout":
		if d := a.ProxySendTimeout; d != nil && *d == 0 {
			return Differs, "0 sets no bound in weir"
		}
		return Carried, "bounds each write of the request to the upstream; one that waits longer is cut with 504"
	case "proxy-next-upstream", "proxy-next-upstream-tries", "proxy-next-upstream-timeout":
		why := "weir retries only requests without a body"
		if slices.Contains(a.ProxyNextUpstream, "invalid_header") || slices.Contains(a.ProxyNextUpstream, "non_idempotent") {
			why += "; invalid_header and non_idempotent are not carried"
		}
		if a.ProxyNextUpstream == nil {
			why += "; retries on nginx's default \"error timeout\""
		}
		if name == "proxy-next-upstream-timeout" {
			if slices.Contains(a.ProxyNextUpstream, "off") {
				return Ignored, "has no effect: proxy-next-upstream is off (as in ingress-nginx)"
			}
			why = "no other server is tried once this long has passed since the first attempt, which is not cut (as in nginx); " + why
		}
		return Differs, why
	case "cors-allow-origin", "cors-allow-methods", "cors-allow-headers", "cors-expose-headers", "cors-allow-credentials", "cors-max-age":
		if !a.EnableCORS {
			return Ignored, "has no effect without enable-cors: \"true\" (as in ingress-nginx)"
		}
		return Carried, ""
	case "affinity":
		return balancing("cookie affinity")
	case "affinity-mode":
		if a.Affinity == "" {
			return Ignored, "has no effect without affinity"
		}
		if a.AffinityMode == "balanced" {
			return Differs, "weir keeps a pinned client on its server while it is in the pool (persistent); it does not rebalance on scale-up"
		}
		return Carried, ""
	case "session-cookie-name", "session-cookie-path", "session-cookie-max-age", "session-cookie-samesite", "session-cookie-secure", "session-cookie-expires":
		if a.Affinity == "" {
			return Ignored, "has no effect without affinity: cookie"
		}
		if name == "session-cookie-expires" {
			if a.SessionCookieMaxAge != nil {
				return Ignored, "session-cookie-max-age is used; weir sets Max-Age only"
			}
			return Differs, "sent as Max-Age, not Expires"
		}
		return Carried, ""
	case "upstream-hash-by":
		if a.Affinity != "" {
			return Ignored, "affinity takes precedence (as in ingress-nginx)"
		}
		if !config.HashByVars(a.UpstreamHashBy) {
			return Unsupported, "uses an nginx variable weir does not know (it knows $remote_addr, $host, $uri, $request_uri, $http_NAME, $cookie_NAME, $arg_NAME)"
		}
		return balancing("consistent hashing")
	case "load-balance":
		if a.Affinity != "" || a.UpstreamHashBy != "" {
			return Ignored, "affinity and upstream-hash-by take precedence (as in ingress-nginx)"
		}
		return balancing(a.LoadBalance)
	case "limit-rps", "limit-rpm":
		return Carried, "enforced in Go per client address on each weir node, answered with 503 (ingress-nginx: per controller pod); on a listener with serve: [routes] whose routes all set a rate, the kernel guard also bounds each source's new TCP connections to the port (the routes' rates added up, see docs/operations.md)"
	case "limit-connections":
		return Carried, "enforced in Go per client address on each weir node (requests in flight), answered with 503 (ingress-nginx: per controller pod); not enforced in the kernel"
	case "limit-burst-multiplier", "limit-whitelist", "limit-allowlist":
		if a.LimitRPS == nil && a.LimitRPM == nil && a.LimitConnections == nil {
			return Ignored, "has no effect without limit-rps, limit-rpm or limit-connections"
		}
		return Carried, ""
	case "auth-url":
		return Carried, "the subrequest carries the client's headers, X-Original-URL and X-Original-Method; 2xx passes, 401/403 are returned, other answers are 500"
	case "auth-signin", "auth-response-headers", "auth-method", "auth-request-redirect":
		if a.AuthURL == "" {
			return Ignored, "has no effect without auth-url"
		}
		return Carried, ""
	case "proxy-buffering", "proxy-request-buffering", "proxy-buffer-size", "proxy-buffers-number", "proxy-busy-buffers-size", "client-body-buffer-size", "proxy-max-temp-file-size":
		return Differs, "weir streams request and response bodies; nginx's buffer settings have no equivalent"
	case "custom-http-errors":
		if a.DefaultBackend == "" {
			return Unsupported, "the controller's global default backend is not known: name one with nginx.ingress.kubernetes.io/default-backend"
		}
		return Carried, "answered by the default-backend Service with X-Code, X-Format, X-Original-URI"
	case "default-backend":
		if len(a.CustomHTTPErrors) == 0 {
			return Differs, "used when the upstream cannot be reached (502) or answers 503; ingress-nginx uses it when the Service has no endpoints"
		}
		return Carried, ""
	case "from-to-www-redirect":
		return Carried, "the other name of each host redirects with 308, path and query kept"
	case "server-alias":
		return Carried, "the paths are also routed for these hosts"
	case "x-forwarded-prefix":
		return Carried, "sent upstream as X-Forwarded-Prefix"
	case "service-upstream":
		return Carried, "the Service's cluster address is used rather than its endpoints"
	case "proxy-http-version":
		if a.ProxyHTTPVersion == "1.0" {
			return Differs, "weir speaks HTTP/1.1 to upstreams"
		}
		return Carried, ""
	case "enable-access-log":
		if a.EnableAccessLog != nil && !*a.EnableAccessLog {
			return Differs, "weir logs every request on its access log"
		}
		return Carried, ""
	case "whitelist-source-range", "allowlist-source-range", "denylist-source-range":
		return Carried, "enforced in Go on this route (403); on a listener with serve: [routes], sources that every route on that port refuses are also dropped by the kernel guard (see docs/operations.md)"
	case "proxy-ssl-verify", "proxy-ssl-secret", "proxy-ssl-protocols", "proxy-ssl-ciphers", "proxy-ssl-verify-depth":
		return judgeSSL(st, name)
	case "proxy-ssl-server-name":
		if a.ProxySSLServerName != nil && !*a.ProxySSLServerName {
			return Differs, "weir always sends SNI to TLS upstreams"
		}
		return Carried, ""
	}
	return Unsupported, notImplemented
}

const notImplemented = "weir does not implement this annotation"

// judgeSSL says what became of the proxy-ssl-* annotations that depend on
// proxy-ssl-secret (ingress-nginx applies them only with it).
func judgeSSL(st *ingressState, name string) (Status, string) {
	a := st.a
	verify := a.ProxySSLVerify != nil && *a.ProxySSLVerify
	withSecret := a.ProxySSLSecret != "" && a.Invalid["proxy-ssl-secret"] == nil
	switch {
	case name == "proxy-ssl-verify" && !verify:
		return Carried, ""
	case name == "proxy-ssl-verify" && !withSecret:
		return Differs, "verified against the system roots (ingress-nginx verifies only with proxy-ssl-secret)"
	case !tlsBackend(a):
		return Ignored, "has no effect: backend-protocol is not HTTPS or GRPCS"
	case !withSecret:
		return Ignored, "has no effect without proxy-ssl-secret (as in ingress-nginx)"
	case st.tlsErr != nil:
		return Unsupported, "the Ingress's paths are not imported: " + st.tlsErr.Error()
	}
	t := st.tls
	switch name {
	case "proxy-ssl-secret":
		if st.secret == nil {
			dir := path.Dir(t.CertFile)
			return Differs, fmt.Sprintf("mount Secret %s at %s (tls.crt, tls.key%s): weir reads the files when it loads the config; without a client certificate in the Secret, remove cert_file and key_file",
				a.ProxySSLSecret, dir, map[bool]string{true: ", ca.crt"}[verify])
		}
		var uses []string
		if t.CertPEM != "" {
			uses = append(uses, "client certificate from tls.crt and tls.key")
		}
		if t.CAPEM != "" {
			uses = append(uses, "ca.crt verifies the upstream")
		}
		if len(uses) == 0 {
			return Ignored, "the Secret has only ca.crt, which is used with proxy-ssl-verify: on only"
		}
		return Carried, strings.Join(uses, "; ")
	case "proxy-ssl-verify":
		if st.secret != nil && t.CAPEM == "" {
			return Differs, "the Secret has no ca.crt: verified against the system roots (ingress-nginx does not verify then)"
		}
		return Carried, "against the Secret's ca.crt"
	case "proxy-ssl-protocols":
		lo, _, dropped := sslVersions(a.ProxySSLProtocols)
		switch {
		case lo == "":
			return Unsupported, "weir does not speak SSL, TLS 1.0 or 1.1 to upstreams; the route offers TLS 1.2 and 1.3"
		case len(dropped) > 0:
			return Differs, strings.Join(dropped, ", ") + " not offered: weir speaks TLS 1.2 at least to upstreams"
		}
		return Carried, ""
	case "proxy-ssl-ciphers":
		if t.MinVersion == config.TLSVersion13 {
			return Differs, "has no effect: the route speaks TLS 1.3 only, whose suites Go does not let be configured"
		}
		suites, tls13, lost := mapCiphers(a.ProxySSLCiphers)
		var why []string
		if len(suites) == 0 {
			why = append(why, "Go's default suites are offered")
		}
		if len(lost) > 0 {
			why = append(why, "not carried: "+strings.Join(lost, ", ")+" (weir takes suite names Go offers; keywords and exclusions have no equivalent)")
		}
		if len(tls13) > 0 {
			why = append(why, "TLS 1.3 suites ("+strings.Join(tls13, ", ")+") are not configurable in Go")
		}
		if len(why) > 0 {
			return Differs, strings.Join(why, "; ")
		}
		return Carried, "TLS 1.2 suites by IANA name in cipher_suites; Go picks their order and the TLS 1.3 suites"
	case "proxy-ssl-verify-depth":
		switch {
		case !verify:
			return Ignored, "has no effect without proxy-ssl-verify: on (as in ingress-nginx)"
		case t.VerifyDepth == 0:
			return Ignored, "the Secret has no ca.crt, so nothing is verified against it"
		}
		return Carried, fmt.Sprintf("at most %d intermediate CA certificates between the upstream's certificate and ca.crt (OpenSSL's count)", t.VerifyDepth)
	}
	return Unsupported, notImplemented
}

// servedByService reports whether any route of the Ingress proxies to a
// Service name rather than to endpoint addresses.
func (im *importer) servedByService(st *ingressState) bool {
	for _, o := range im.byKey {
		for _, r := range st.routes {
			if o.route == r && o.serviceIP {
				return true
			}
		}
	}
	return st.a.Canary
}

// String implements fmt.Stringer.
func (s Status) String() string {
	switch s {
	case Carried:
		return "carried"
	case Differs:
		return "differs"
	case Unsupported:
		return "unsupported"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

package ingress

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-gateway/weir/userspace/config"
)

// Options select and resolve what Import reads.
type Options struct {
	// IngressClass is the class served; default "nginx".
	IngressClass string
	// Controller is the IngressClass spec.controller that counts as
	// ingress-nginx; default "k8s.io/ingress-nginx".
	Controller string
	// WatchWithoutClass also imports Ingresses without any class, as
	// ingress-nginx's --watch-ingress-without-class does.
	WatchWithoutClass bool
	// ClusterDomain completes Service names; default "cluster.local".
	ClusterDomain string
	// Endpoints, when set, resolves a Service backend to the addresses
	// (host:port) of its ready endpoints; ok false or no address falls
	// back to the Service's DNS name. The Kubernetes provider sets it.
	Endpoints func(namespace, service string, port networkingv1.ServiceBackendPort) (servers []string, ok bool)
	// UpstreamTLS, when set, reads the Secret a proxy-ssl-secret annotation
	// names, and the routes carry its certificates inline; an error leaves
	// the Ingress's paths out with the reason (ingress-nginx denies them
	// too). The Kubernetes provider sets it. When nil, the routes name the
	// files of the Secret mounted under UpstreamTLSDir, and the report
	// says to mount it there.
	UpstreamTLS func(namespace, name string) (TLSSecret, error)
	// UpstreamTLSDir holds one directory per proxy-ssl-secret Secret,
	// NAMESPACE/NAME, with its keys as files (ca.crt, tls.crt, tls.key);
	// default /etc/weir/upstream-tls.
	UpstreamTLSDir string
}

// TLSSecret is what weir uses of a proxy-ssl-secret Secret: the PEM
// values of its ca.crt, tls.crt and tls.key keys, each possibly empty.
type TLSSecret struct {
	CA, Cert string
	Key      config.Secret
}

// DefaultUpstreamTLSDir is the default of Options.UpstreamTLSDir.
const DefaultUpstreamTLSDir = "/etc/weir/upstream-tls"

const (
	classAnnotation        = "kubernetes.io/ingress.class"
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

func (o *Options) defaults() {
	if o.IngressClass == "" {
		o.IngressClass = "nginx"
	}
	if o.Controller == "" {
		o.Controller = "k8s.io/ingress-nginx"
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if o.UpstreamTLSDir == "" {
		o.UpstreamTLSDir = DefaultUpstreamTLSDir
	}
}

// ingressState is one selected Ingress during translation.
type ingressState struct {
	ing    *networkingv1.Ingress
	a      *Annotations
	rep    *IngressReport
	routes []*config.Route
	// merged counts the paths a canary Ingress added to main routes.
	merged int
	// tls is the upstream TLS of the Ingress's routes; tlsErr why its
	// proxy-ssl-secret could not be read; secret what was read (nil when
	// the routes name files).
	tls    config.RouteUpstreamTLS
	tlsErr error
	secret *TLSSecret
}

// pathKey identifies a location as ingress-nginx does: host and path.
type pathKey struct{ host, path string }

// importer holds the state of one Import.
type importer struct {
	opt      Options
	objs     *Objects
	routes   []*config.Route
	byKey    map[pathKey]*routeOwner
	tlsHosts []string
	// regexHosts maps a host to the Ingress that makes its paths regular
	// expressions.
	regexHosts map[string]string
	names      map[string]bool
}

type routeOwner struct {
	route     *config.Route
	owner     string // namespace/name
	canaryBy  string
	serviceIP bool // servers are Service names, not endpoints
}

// Import selects the Ingresses of the configured class and translates
// them into routes, reporting what each annotation became. Ingresses are
// handled oldest first (then by namespace/name), so that when two claim
// the same host and path the older one wins, as in ingress-nginx.
func Import(objs *Objects, opt Options) ([]config.Route, *Report) {
	opt.defaults()
	im := &importer{opt: opt, objs: objs, byKey: map[pathKey]*routeOwner{}, regexHosts: map[string]string{}, names: map[string]bool{}}
	rep := &Report{Class: opt.IngressClass, Skipped: objs.Skipped}

	order := make([]*networkingv1.Ingress, len(objs.Ingresses))
	for i := range objs.Ingresses {
		order[i] = &objs.Ingresses[i]
	}
	slices.SortStableFunc(order, func(x, y *networkingv1.Ingress) int {
		if c := x.CreationTimestamp.Compare(y.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(x.Namespace, y.Namespace), strings.Compare(x.Name, y.Name))
	})

	var mains, canaries []*ingressState
	for _, ing := range order {
		ir := &IngressReport{Namespace: ing.Namespace, Name: ing.Name}
		rep.Ingresses = append(rep.Ingresses, ir)
		why, selected := im.selectClass(ing, ir)
		if !selected {
			ir.Skipped = why
			continue
		}
		st := &ingressState{ing: ing, a: ParseAnnotations(ing.Annotations), rep: ir}
		if st.a.Canary {
			canaries = append(canaries, st)
		} else {
			mains = append(mains, st)
		}
		for _, t := range ing.Spec.TLS {
			im.tlsHosts = append(im.tlsHosts, t.Hosts...)
		}
		if st.a.UseRegex || st.a.RewriteTarget != nil && *st.a.RewriteTarget != "" {
			for _, r := range ing.Spec.Rules {
				if _, ok := im.regexHosts[r.Host]; !ok {
					im.regexHosts[r.Host] = ing.Namespace + "/" + ing.Name
				}
			}
		}
	}
	for _, st := range mains {
		im.translateMain(st)
	}
	for _, st := range canaries {
		im.translateCanary(st)
	}
	for _, st := range append(mains, canaries...) {
		im.judgeAll(st)
		for _, r := range st.routes {
			st.rep.Routes = append(st.rep.Routes, r.Name)
		}
	}
	out := make([]config.Route, len(im.routes))
	for i, r := range im.routes {
		out[i] = *r
	}
	return out, rep
}

// selectClass decides whether ingress-nginx with this class would serve
// ing: the legacy annotation first, then spec.ingressClassName, then the
// default IngressClass.
func (im *importer) selectClass(ing *networkingv1.Ingress, ir *IngressReport) (string, bool) {
	want := im.opt.IngressClass
	if ann, ok := ing.Annotations[classAnnotation]; ok && ann != "" {
		if ann != want {
			return fmt.Sprintf("annotation %s is %q, not %q", classAnnotation, ann, want), false
		}
		reason := "selects this Ingress"
		if n := ing.Spec.IngressClassName; n != nil && *n != want {
			reason += fmt.Sprintf(" (it takes precedence over ingressClassName %q, as in ingress-nginx)", *n)
		}
		ir.add(classAnnotation, ann, Carried, reason)
		return "", true
	}
	if n := ing.Spec.IngressClassName; n != nil && *n != "" {
		if *n == want {
			return "", true
		}
		for _, c := range im.objs.Classes {
			if c.Name == *n && c.Spec.Controller == im.opt.Controller {
				return "", true
			}
		}
		return fmt.Sprintf("ingressClassName %q is not %q (and no IngressClass %q with controller %s was given)", *n, want, *n, im.opt.Controller), false
	}
	if im.opt.WatchWithoutClass {
		return "", true
	}
	for _, c := range im.objs.Classes {
		if c.Spec.Controller == im.opt.Controller && c.Annotations[defaultClassAnnotation] == "true" {
			return "", true
		}
	}
	return "no ingress class (ingress-nginx ignores it unless a default IngressClass or --watch-ingress-without-class; use --watch-without-class)", false
}

// gating are the annotations that restrict who may use a route. When one
// cannot be carried, the Ingress's routes are left out: serving them open
// would be worse than not serving them.
var gating = []string{"auth-url", "auth-type", "auth-secret", "auth-tls-verify-client", "auth-tls-secret",
	"whitelist-source-range", "allowlist-source-range", "denylist-source-range"}

// gateLost names a gating annotation that is set but not carried.
func gateLost(a *Annotations) string {
	for _, name := range gating {
		if _, set := a.Set[name]; !set {
			continue
		}
		if _, ok := specs[name]; !ok || a.Invalid[name] != nil {
			return name
		}
	}
	return ""
}

// translateMain turns every path of a non-canary Ingress into a route.
func (im *importer) translateMain(st *ingressState) {
	ing := st.ing
	if name := gateLost(st.a); name != "" {
		skipPaths(st, fmt.Sprintf("not imported: access control %s is not carried, and weir would serve the path open", Prefix+name))
		return
	}
	if st.tls, st.tlsErr = im.upstreamTLS(st); st.tlsErr != nil {
		skipPaths(st, fmt.Sprintf("not imported: %sproxy-ssl-secret: %v (ingress-nginx denies the path too)", Prefix, st.tlsErr))
		return
	}
	for i, t := range ing.Spec.TLS {
		key := fmt.Sprintf("spec.tls[%d]", i)
		st.rep.add(key, t.SecretName, Unsupported, fmt.Sprintf(
			"weir does not read TLS Secrets yet: serve the certificate of Secret %s/%s from a listener (tls.cert_file, tls.key_file); https_redirect is still derived from hosts %s",
			ing.Namespace, t.SecretName, strings.Join(t.Hosts, ", ")))
	}
	for ri, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for pi, p := range rule.HTTP.Paths {
			key := fmt.Sprintf("spec.rules[%d].http.paths[%d]", ri, pi)
			im.addPath(st, key, rule.Host, p.Path, p.PathType, p.Backend)
			if rule.Host == "" {
				continue // ingress-nginx adds aliases to named servers only
			}
			for _, alias := range st.a.ServerAlias {
				im.addPath(st, key+" (server-alias)", alias, p.Path, p.PathType, p.Backend)
			}
		}
	}
	if st.a.FromToWWWRedirect {
		im.wwwRedirects(st)
	}
	if b := ing.Spec.DefaultBackend; b != nil {
		hosts := []string{""}
		if len(ing.Spec.Rules) > 0 {
			hosts = hosts[:0]
			for _, r := range ing.Spec.Rules {
				if !slices.Contains(hosts, r.Host) {
					hosts = append(hosts, r.Host)
				}
			}
		}
		for _, h := range hosts {
			if _, taken := im.byKey[pathKey{h, "/"}]; taken {
				continue
			}
			im.addPath(st, "spec.defaultBackend", h, "/", nil, *b)
		}
	}
}

// skipPaths reports every path of the Ingress as not imported, with why.
func skipPaths(st *ingressState, why string) {
	for ri, rule := range st.ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for pi, p := range rule.HTTP.Paths {
			st.rep.add(fmt.Sprintf("spec.rules[%d].http.paths[%d]", ri, pi), hostPath(rule.Host, cmp.Or(p.Path, "/")), Unsupported, why)
		}
	}
}

func (im *importer) addPath(st *ingressState, key, host, path string, pt *networkingv1.PathType, b networkingv1.IngressBackend) {
	ing := st.ing
	self := ing.Namespace + "/" + ing.Name
	if path == "" {
		path = "/"
	}
	pk := pathKey{host, path}
	if prev, taken := im.byKey[pk]; taken {
		st.rep.add(key, hostPath(host, path), Ignored, fmt.Sprintf("already served by Ingress %s, which is older (ingress-nginx also keeps the first)", prev.owner))
		return
	}
	if why := pathProblem(host, path); why != "" {
		st.rep.add(key, hostPath(host, path), Unsupported, why)
		return
	}
	servers, isService, err := im.server(ing.Namespace, b, st.a.ServiceUpstream)
	if err != nil {
		st.rep.add(key, hostPath(host, path), Unsupported, err.Error())
		return
	}
	r := &config.Route{
		Name:     im.routeName(ing.Namespace, ing.Name),
		Host:     host,
		Path:     path,
		PathType: pathType(pt),
	}
	if by, ok := im.regexHosts[host]; ok {
		r.PathType = config.PathRegex
		if by != self {
			st.rep.add(key, hostPath(host, path), Carried, fmt.Sprintf("matched as a regular expression because Ingress %s sets use-regex or rewrite-target on this host (ingress-nginx applies it to the whole host)", by))
		}
	}
	if r.PathType == config.PathRegex {
		if _, err := config.CompileRoutePath(path); err != nil {
			st.rep.add(key, hostPath(host, path), Unsupported, "the path is not a regular expression Go accepts (RE2: no lookaround or backreferences)")
			return
		}
	}
	a := st.a
	r.Upstream = im.upstream(a, servers)
	r.Upstream.TLS = st.tls
	if a.RewriteTarget != nil && a.Invalid["rewrite-target"] == nil && validRewrite(*a.RewriteTarget) {
		r.Rewrite = *a.RewriteTarget
	}
	r.AppRoot = a.AppRoot
	r.ForwardedPrefix = a.XForwardedPrefix
	switch {
	case a.TemporalRedirect != "":
		r.Redirect = &config.RouteRedirect{URL: a.TemporalRedirect, Code: cmp.Or(a.TemporalRedirectCode, 302)}
	case a.PermanentRedirect != "":
		r.Redirect = &config.RouteRedirect{URL: a.PermanentRedirect, Code: cmp.Or(a.PermanentRedirectCode, 301)}
	}
	r.HTTPSRedirect = a.ForceSSLRedirect || im.hasTLS(host) && (a.SSLRedirect == nil || *a.SSLRedirect)
	if a.EnableCORS {
		c := &config.RouteCORS{
			AllowOrigins:     a.CORSAllowOrigin,
			AllowMethods:     a.CORSAllowMethods,
			AllowHeaders:     a.CORSAllowHeaders,
			ExposeHeaders:    a.CORSExposeHeaders,
			AllowCredentials: a.CORSAllowCredentials == nil || *a.CORSAllowCredentials,
		}
		if a.CORSMaxAge != nil {
			c.MaxAge = config.Duration(*a.CORSMaxAge)
		}
		r.CORS = c
	}
	if a.ProxyBodySize != nil {
		r.MaxBodyBytes = *a.ProxyBodySize
	}
	for _, p := range a.AllowSourceRange {
		r.AllowSources = append(r.AllowSources, p.String())
	}
	for _, p := range a.DenySourceRange {
		r.DenySources = append(r.DenySources, p.String())
	}
	r.Limits = limitsOf(a)
	if a.DefaultBackend != "" {
		if eps, _, err := im.server(ing.Namespace, im.defaultBackend(ing.Namespace, a.DefaultBackend), a.ServiceUpstream); err == nil {
			codes := a.CustomHTTPErrors
			if len(codes) == 0 {
				codes = []int{502, 503}
			}
			r.ErrorPages = &config.RouteErrorPages{Codes: codes, Upstream: config.RouteUpstream{Servers: eps}}
		}
	}
	if a.AuthURL != "" {
		r.Auth = &config.RouteAuth{URL: a.AuthURL, Method: a.AuthMethod, SignIn: a.AuthSignin, ResponseHeaders: a.AuthResponseHeaders, RequestRedirect: a.AuthRequestRedirect}
	}
	im.byKey[pk] = &routeOwner{route: r, owner: self, serviceIP: isService}
	im.routes = append(im.routes, r)
	st.routes = append(st.routes, r)
}

// upstream builds the pool of one backend with the balancing, timeout and
// TLS annotations. Precedence as in ingress-nginx: affinity, then
// upstream-hash-by, then load-balance.
func (im *importer) upstream(a *Annotations, servers []string) config.RouteUpstream {
	u := config.RouteUpstream{Servers: servers}
	switch a.BackendProtocol {
	case "HTTPS":
		u.Protocol = config.ProtocolHTTPS
	case "GRPC":
		u.Protocol = config.ProtocolH2C
	case "GRPCS":
		u.Protocol = config.ProtocolH2
	}
	switch {
	case a.Affinity == "cookie":
		af := &config.RouteAffinity{Cookie: a.SessionCookieName, Path: a.SessionCookiePath, SameSite: strings.ToLower(a.SessionCookieSameSite)}
		switch {
		case a.SessionCookieMaxAge != nil:
			af.MaxAge = config.Duration(*a.SessionCookieMaxAge)
		case a.SessionCookieExpires != nil:
			af.MaxAge = config.Duration(*a.SessionCookieExpires)
		}
		af.Secure = a.SessionCookieSecure != nil && *a.SessionCookieSecure
		u.Affinity = af
	case a.UpstreamHashBy != "" && config.HashByVars(a.UpstreamHashBy):
		u.Balance, u.HashBy = config.BalanceHash, a.UpstreamHashBy
	case a.LoadBalance == "ewma":
		u.Balance = config.BalanceEWMA
	}
	u.HostHeader = a.UpstreamVhost
	if a.ProxyConnectTimeout != nil && *a.ProxyConnectTimeout > 0 {
		u.ConnectTimeout = config.Duration(*a.ProxyConnectTimeout)
	}
	if a.ProxyReadTimeout != nil && *a.ProxyReadTimeout > 0 {
		u.ReadTimeout = config.Duration(*a.ProxyReadTimeout)
	}
	if a.ProxySendTimeout != nil && *a.ProxySendTimeout > 0 {
		u.SendTimeout = config.Duration(*a.ProxySendTimeout)
	}
	if a.ProxyNextUpstream != nil || a.ProxyNextUpstreamTries != nil || a.ProxyNextUpstreamTimeout != nil {
		u.Retry = retryOf(a)
	}
	return u
}

// tlsBackend reports whether the backend protocol is spoken over TLS,
// the only case where the proxy-ssl-* annotations matter.
func tlsBackend(a *Annotations) bool {
	return a.BackendProtocol == "HTTPS" || a.BackendProtocol == "GRPCS"
}

// upstreamTLS builds the TLS settings of an Ingress's upstreams. As in
// ingress-nginx, the certificates, versions, ciphers and depth come only
// with proxy-ssl-secret; verify and the name are carried without it.
func (im *importer) upstreamTLS(st *ingressState) (config.RouteUpstreamTLS, error) {
	a := st.a
	var t config.RouteUpstreamTLS
	if a.ProxySSLVerify != nil {
		t.Verify = *a.ProxySSLVerify
	}
	t.ServerName = a.ProxySSLName
	if a.ProxySSLSecret == "" || !tlsBackend(a) {
		return t, nil
	}
	ns, name, _ := strings.Cut(a.ProxySSLSecret, "/")
	if im.opt.UpstreamTLS == nil {
		dir := path.Join(im.opt.UpstreamTLSDir, ns, name)
		t.CertFile, t.KeyFile = path.Join(dir, "tls.crt"), path.Join(dir, "tls.key")
		if t.Verify {
			t.CAFile = path.Join(dir, "ca.crt")
		}
	} else {
		sec, err := im.opt.UpstreamTLS(ns, name)
		switch {
		case err != nil:
			return t, err
		case sec.CA == "" && sec.Cert == "" && sec.Key == "":
			return t, fmt.Errorf("Secret %s has none of ca.crt, tls.crt and tls.key", a.ProxySSLSecret)
		case sec.Cert != "" && sec.Key == "":
			return t, fmt.Errorf("Secret %s has tls.crt but no tls.key", a.ProxySSLSecret)
		case sec.Cert == "" && sec.Key != "":
			return t, fmt.Errorf("Secret %s has tls.key but no tls.crt", a.ProxySSLSecret)
		}
		st.secret = &sec
		t.CertPEM, t.KeyPEM = sec.Cert, sec.Key
		if t.Verify {
			t.CAPEM = sec.CA
		}
	}
	if t.CAFile != "" || t.CAPEM != "" {
		t.VerifyDepth = 1 // ingress-nginx's default
		if d := a.ProxySSLVerifyDepth; d != nil && *d > 0 {
			t.VerifyDepth = *d
		}
	}
	lo, hi, _ := sslVersions(a.ProxySSLProtocols)
	if lo == config.TLSVersion13 {
		t.MinVersion = lo
	}
	if hi == config.TLSVersion12 {
		t.MaxVersion = hi
	}
	if suites, _, _ := mapCiphers(a.ProxySSLCiphers); t.MinVersion != config.TLSVersion13 {
		t.CipherSuites = suites
	}
	return t, nil
}

// sslVersions maps nginx protocol names to the lowest and highest
// version weir offers ("" when none of them is TLS 1.2 or 1.3) and the
// names it leaves out.
func sslVersions(names []string) (lo, hi string, dropped []string) {
	for _, n := range names {
		var v string
		switch n {
		case "TLSv1.2":
			v = config.TLSVersion12
		case "TLSv1.3":
			v = config.TLSVersion13
		default:
			dropped = append(dropped, n)
			continue
		}
		if lo == "" || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi, dropped
}

// opensslSuites maps OpenSSL names of the TLS 1.2 suites Go offers to
// their IANA names.
var opensslSuites = map[string]string{
	"ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256":   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-RSA-CHACHA20-POLY1305":   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	"ECDHE-RSA-AES128-SHA":          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	"ECDHE-ECDSA-AES256-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-AES256-SHA":          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	"AES128-GCM-SHA256":             "TLS_RSA_WITH_AES_128_GCM_SHA256",
	"AES256-GCM-SHA384":             "TLS_RSA_WITH_AES_256_GCM_SHA384",
	"AES128-SHA":                    "TLS_RSA_WITH_AES_128_CBC_SHA",
	"AES256-SHA":                    "TLS_RSA_WITH_AES_256_CBC_SHA",
}

// tls13Suites are OpenSSL's (and IANA's) TLS 1.3 suite names.
var tls13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// mapCiphers maps an OpenSSL cipher list to IANA names of TLS 1.2 suites
// Go offers (OpenSSL or IANA names are accepted), in order without
// repeats, and lists the TLS 1.3 suites (Go does not let them be
// configured) and the elements weir cannot carry (keywords such as HIGH,
// exclusions, suites Go lacks or deems insecure).
func mapCiphers(elems []string) (suites, tls13, lost []string) {
	for _, e := range elems {
		name, ok := opensslSuites[e]
		if !ok {
			name = e
		}
		switch _, known := config.CipherSuiteID(name); {
		case known:
			if !slices.Contains(suites, name) {
				suites = append(suites, name)
			}
		case slices.Contains(tls13Suites, e):
			tls13 = append(tls13, e)
		default:
			lost = append(lost, e)
		}
	}
	return suites, tls13, lost
}

// limitsOf maps the limit-* annotations; nil when none limits anything.
func limitsOf(a *Annotations) *config.RouteLimits {
	l := &config.RouteLimits{}
	if a.LimitRPS != nil {
		l.RequestsPerSecond = *a.LimitRPS
	}
	if a.LimitRPM != nil {
		l.RequestsPerMinute = *a.LimitRPM
	}
	if a.LimitConnections != nil {
		l.Connections = *a.LimitConnections
	}
	if l.RequestsPerSecond == 0 && l.RequestsPerMinute == 0 && l.Connections == 0 {
		return nil
	}
	if a.LimitBurstMultiplier != nil {
		l.BurstMultiplier = *a.LimitBurstMultiplier
	}
	for _, p := range a.LimitAllowlist {
		l.Exempt = append(l.Exempt, p.String())
	}
	return l
}

// retryOf maps proxy-next-upstream; nginx's default is "error timeout".
func retryOf(a *Annotations) config.RouteRetry {
	tokens := a.ProxyNextUpstream
	if tokens == nil {
		tokens = []string{"error", "timeout"}
	}
	var r config.RouteRetry
	if slices.Contains(tokens, "off") {
		return r
	}
	for _, t := range tokens {
		switch {
		case t == "error" || t == "timeout":
			r.On = append(r.On, t)
		case strings.HasPrefix(t, "http_"):
			r.On = append(r.On, strings.TrimPrefix(t, "http_"))
		}
	}
	if a.ProxyNextUpstreamTries != nil {
		r.Tries = *a.ProxyNextUpstreamTries
	}
	if a.ProxyNextUpstreamTimeout != nil {
		r.Timeout = config.Duration(*a.ProxyNextUpstreamTimeout)
	}
	return r
}

// translateCanary attaches a canary Ingress's backends to the main routes
// with the same host and path.
func (im *importer) translateCanary(st *ingressState) {
	ing := st.ing
	self := ing.Namespace + "/" + ing.Name
	a := st.a
	for ri, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for pi, p := range rule.HTTP.Paths {
			key := fmt.Sprintf("spec.rules[%d].http.paths[%d]", ri, pi)
			path := cmp.Or(p.Path, "/")
			owner, ok := im.byKey[pathKey{rule.Host, path}]
			switch {
			case !ok:
				st.rep.add(key, hostPath(rule.Host, path), Ignored, "no main Ingress serves this host and path, so the canary has nothing to split (ingress-nginx ignores it too)")
				continue
			case owner.canaryBy != "":
				st.rep.add(key, hostPath(rule.Host, path), Ignored, fmt.Sprintf("Ingress %s is already the canary of this host and path (ingress-nginx takes one canary per path)", owner.canaryBy))
				continue
			}
			servers, _, err := im.server(ing.Namespace, p.Backend, a.ServiceUpstream)
			if err != nil {
				st.rep.add(key, hostPath(rule.Host, path), Unsupported, err.Error())
				continue
			}
			c := &config.RouteCanary{
				Header:      a.CanaryByHeader,
				HeaderValue: a.CanaryByHeaderValue,
				Cookie:      a.CanaryByCookie,
				Upstream:    im.canaryUpstream(a, owner.route.Upstream, servers),
			}
			if c.HeaderValue == "" {
				c.HeaderPattern = a.CanaryByHeaderPattern
			}
			if a.CanaryWeight != nil {
				c.Weight = *a.CanaryWeight
			}
			if a.CanaryWeightTotal != nil {
				c.WeightTotal = *a.CanaryWeightTotal
			}
			owner.route.Canary = c
			owner.canaryBy = self
			st.merged++
			st.rep.add(key, hostPath(rule.Host, path), Carried, "canary of route "+owner.route.Name)
		}
	}
}

// canaryUpstream keeps the main upstream's settings (ingress-nginx
// inherits them) except the balancing annotations, which a canary may set.
func (im *importer) canaryUpstream(a *Annotations, main config.RouteUpstream, servers []string) config.RouteUpstream {
	own := im.upstream(a, servers)
	u := main
	u.Servers = own.Servers
	u.Affinity, u.Balance, u.HashBy = own.Affinity, own.Balance, own.HashBy
	return u
}

// server resolves a backend to host:port servers: the endpoints when
// Options.Endpoints knows them, else the Service's DNS name (so with a
// ClusterIP Service kube-proxy picks the pod), or an ExternalName's name.
// The bool says the result is a Service name rather than endpoints.
func (im *importer) server(ns string, b networkingv1.IngressBackend, serviceUpstream bool) ([]string, bool, error) {
	if b.Service == nil {
		return nil, false, fmt.Errorf("resource backends are not supported (only Service backends)")
	}
	name := b.Service.Name
	if im.opt.Endpoints != nil && !serviceUpstream {
		if eps, ok := im.opt.Endpoints(ns, name, b.Service.Port); ok && len(eps) > 0 {
			return eps, false, nil
		}
	}
	port := b.Service.Port.Number
	var svcType string
	var external string
	for _, s := range im.objs.Services {
		if s.Namespace != ns || s.Name != name {
			continue
		}
		svcType, external = string(s.Spec.Type), s.Spec.ExternalName
		if port == 0 {
			for _, sp := range s.Spec.Ports {
				if sp.Name == b.Service.Port.Name {
					port = sp.Port
				}
			}
		}
	}
	if port == 0 {
		return nil, false, fmt.Errorf("Service %s/%s port %q: a named port needs the Service object in the input (or use its number)", ns, name, b.Service.Port.Name)
	}
	if svcType == "ExternalName" && external != "" {
		return []string{net.JoinHostPort(external, strconv.Itoa(int(port)))}, false, nil
	}
	return []string{fmt.Sprintf("%s.%s.svc.%s:%d", name, ns, im.opt.ClusterDomain, port)}, true, nil
}

// wwwRedirects adds, for each host of the Ingress, a route for its www
// (or non-www) twin that redirects there, unless the twin is routed.
func (im *importer) wwwRedirects(st *ingressState) {
	ing := st.ing
	for _, rule := range ing.Spec.Rules {
		if rule.Host == "" || strings.HasPrefix(rule.Host, "*.") {
			continue
		}
		twin, ok := strings.CutPrefix(rule.Host, "www.")
		if !ok {
			twin = "www." + rule.Host
		}
		pk := pathKey{twin, "/"}
		if _, taken := im.byKey[pk]; taken || slices.ContainsFunc(ing.Spec.Rules, func(r networkingv1.IngressRule) bool { return r.Host == twin }) {
			continue
		}
		r := &config.Route{
			Name: im.routeName(ing.Namespace, ing.Name), Host: twin, Path: "/",
			Redirect: &config.RouteRedirect{URL: "//" + rule.Host, Code: 308, AppendURI: true},
		}
		im.byKey[pk] = &routeOwner{route: r, owner: ing.Namespace + "/" + ing.Name}
		im.routes = append(im.routes, r)
		st.routes = append(st.routes, r)
	}
}

// defaultBackend names the default-backend annotation's Service with its
// first port (80 when the Service is not in the input).
func (im *importer) defaultBackend(ns, name string) networkingv1.IngressBackend {
	port := networkingv1.ServiceBackendPort{Number: 80}
	for _, s := range im.objs.Services {
		if s.Namespace == ns && s.Name == name && len(s.Spec.Ports) > 0 {
			port = networkingv1.ServiceBackendPort{Number: s.Spec.Ports[0].Port}
		}
	}
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: port}}
}

func (im *importer) hasTLS(host string) bool {
	for _, h := range im.tlsHosts {
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// routeName makes a unique config name from the Ingress, host and path.
func (im *importer) routeName(ns, name string) string {
	base := ns + "." + name
	if len(base) > 48 {
		h := fnv.New32a()
		h.Write([]byte(base))
		base = fmt.Sprintf("%s-%08x", base[:39], h.Sum32())
	}
	for i := 0; ; i++ {
		n := fmt.Sprintf("%s-%d", base, i)
		if !im.names[n] {
			im.names[n] = true
			return n
		}
	}
}

func pathType(pt *networkingv1.PathType) string {
	if pt == nil {
		return config.PathStringPrefix
	}
	switch *pt {
	case networkingv1.PathTypeExact:
		return config.PathExact
	case networkingv1.PathTypePrefix:
		return config.PathPrefix
	}
	return config.PathStringPrefix
}

// pathProblem says why weir cannot take a rule's host or path (the API
// server would have refused most of these; files are not checked by it).
func pathProblem(host, path string) string {
	h := strings.TrimPrefix(host, "*.")
	switch {
	case !strings.HasPrefix(path, "/") || hasControl(path):
		return "the path must start with / and contain no control characters"
	case host != "" && (h == "" || strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" || strings.Contains(h, "..") || h[0] == '.' || h[len(h)-1] == '.' || len(h) > 253):
		return "the host is not a lower-case DNS name"
	}
	return ""
}

func validRewrite(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func hostPath(host, path string) string {
	if host == "" {
		host = "*"
	}
	return host + path
}

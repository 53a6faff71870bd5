package config

import (
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// checker collects problems; it never stops at the first.
type checker struct {
	problems []Problem
}

func (c *checker) add(p, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: p, Message: fmt.Sprintf(format, args...)})
}

func at(p string, i int) string     { return fmt.Sprintf("%s[%d]", p, i) }
func field(p, name string) string   { return keyPath(p, name) }
func oneOf(values ...string) string { return `"` + strings.Join(values, `", "`) + `"` }

// check validates a configuration whose defaults are applied and whose
// load-time references (key files, key variables) are resolved. It only
// reads c, so running it again on an accepted config finds nothing.
func check(c *Config) []Problem {
	var k checker
	switch c.Version {
	case 1:
	case 0:
		k.add("version", "is required and must be 1")
	default:
		k.add("version", "unsupported version %d (must be 1)", c.Version)
	}
	k.listeners(c)
	if msg := hostPortProblem(c.Admin.Address); msg != "" {
		k.add("admin.address", "%s", msg)
	}
	k.server(c.Server)
	k.log(c.Log)
	k.retry(c.Retry)
	providers := k.providers(c.Providers)
	k.models(c.Models, providers)
	k.tenants(c.Tenants)
	k.rateLimit(c.RateLimit)
	k.dataplane(c.Dataplane)
	k.steer(c)
	k.routes(c.Routes)
	k.kubernetes(c.Kubernetes)
	return k.problems
}

// checkName enforces one rule for every name that ends up in metric
// labels, log fields and Redis keys: short, printable, no spaces.
func (k *checker) checkName(p, name string) bool {
	switch {
	case name == "":
		k.add(p, "is required")
	case len(name) > 64:
		k.add(p, "is longer than 64 characters")
	case strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0:
		k.add(p, "%q may only contain letters, digits, '-', '_' and '.'", name)
	default:
		return true
	}
	return false
}

// uniqueName checks list[i].name (kind is "listener", "provider", ...) and
// records it in seen; it returns whether the name is valid.
func (k *checker) uniqueName(seen map[string]int, list, kind string, i int, name string) bool {
	np := field(at(list, i), "name")
	if !k.checkName(np, name) {
		return false
	}
	if j, dup := seen[name]; dup {
		k.add(np, "duplicate %s name %q (also %s[%d])", kind, name, list, j)
	} else {
		seen[name] = i
	}
	return true
}

func (k *checker) listeners(c *Config) {
	names := map[string]int{}
	addrs := map[string]string{}
	if port := portOf(c.Admin.Address); port != "" && port != "0" {
		addrs[c.Admin.Address] = "admin.address"
	}
	for i, l := range c.Listeners {
		p := at("listeners", i)
		k.uniqueName(names, "listeners", "listener", i, l.Name)
		if msg := hostPortProblem(l.Address); msg != "" {
			k.add(field(p, "address"), "%s", msg)
		} else if port := portOf(l.Address); port != "0" {
			if other, dup := addrs[l.Address]; dup {
				k.add(field(p, "address"), "%q is also used by %s", l.Address, other)
			} else {
				addrs[l.Address] = field(p, "address")
			}
		}
		if t := l.TLS; t != nil {
			tp := field(p, "tls")
			files := t.CertFile != "" || t.KeyFile != ""
			switch {
			case files && t.SelfSigned:
				k.add(tp, "set either cert_file and key_file or self_signed, not both")
			case t.SelfSigned:
			case t.CertFile == "" && t.KeyFile == "":
				k.add(tp, "needs cert_file and key_file, or self_signed: true")
			case t.CertFile == "":
				k.add(field(tp, "cert_file"), "is required with key_file")
			case t.KeyFile == "":
				k.add(field(tp, "key_file"), "is required with cert_file")
			}
		}
		if l.HTTP3Workers < 0 || l.HTTP3Workers > 64 {
			k.add(field(p, "http3_workers"), "must be between 0 (GOMAXPROCS) and 64, got %d", l.HTTP3Workers)
		}
		if l.HTTP3 && l.TLS == nil {
			k.add(field(p, "http3"), "needs tls (HTTP/3 is always encrypted)")
		}
		if l.Serve != nil && len(l.Serve) == 0 {
			k.add(field(p, "serve"), "is empty: list %q and/or %q, or leave it out for both", ServeAPI, ServeRoutes)
		}
		seen := map[string]int{}
		for j, s := range l.Serve {
			sp := at(field(p, "serve"), j)
			switch s {
			case ServeAPI, ServeRoutes:
			default:
				k.add(sp, "unknown value %q (want %q or %q)", s, ServeAPI, ServeRoutes)
				continue
			}
			if other, dup := seen[s]; dup {
				k.add(sp, "%q is listed twice (also %s)", s, at(field(p, "serve"), other))
			}
			seen[s] = j
		}
	}
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// hostPortProblem says what is wrong with a "host:port" listen or dial
// address, or returns "".
func hostPortProblem(addr string) string {
	if addr == "" {
		return "is required (host:port, e.g. \":8080\")"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. \":8080\", \"127.0.0.1:8080\", \"[::1]:8080\")", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && port[0] == '0') || n > 65535 {
		return fmt.Sprintf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && !validHost(host) {
		return fmt.Sprintf("%q: %q is not an IP address or host name", addr, host)
	}
	return ""
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func (k *checker) positive(p string, d Duration) {
	if d <= 0 {
		k.add(p, "must be positive, got %s", d)
	}
}

func (k *checker) server(s Server) {
	if s.MaxBodyBytes <= 0 {
		k.add("server.max_body_bytes", "must be positive, got %d", s.MaxBodyBytes)
	}
	k.positive("server.read_header_timeout", s.ReadHeaderTimeout)
	k.positive("server.idle_timeout", s.IdleTimeout)
	k.positive("server.keepalive_interval", s.KeepAliveInterval)
	k.positive("server.shutdown_timeout", s.ShutdownTimeout)
}

func (k *checker) log(l Log) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		k.add("log.level", "%q is not one of %s", l.Level, oneOf("debug", "info", "warn", "error"))
	}
	if strings.TrimSpace(l.Access) == "" {
		k.add("log.access", "is required (\"stdout\", \"stderr\", \"off\" or a file path)")
	}
}

func (k *checker) retry(r Retry) {
	if r.MaxAttempts < 1 {
		k.add("retry.max_attempts", "must be at least 1, got %d", r.MaxAttempts)
	}
	k.positive("retry.backoff", r.Backoff)
	k.positive("retry.max_backoff", r.MaxBackoff)
	if r.Backoff > 0 && r.MaxBackoff > 0 && r.MaxBackoff < r.Backoff {
		k.add("retry.max_backoff", "%s is less than retry.backoff %s", r.MaxBackoff, r.Backoff)
	}
	k.positive("retry.deadline", r.Deadline)
	if r.FailureThreshold < 1 {
		k.add("retry.failure_threshold", "must be at least 1, got %d", r.FailureThreshold)
	}
	k.positive("retry.open_for", r.OpenFor)
}

var authHeaders = []string{"authorization", "api-key", "x-api-key", "x-goog-api-key"}

// providers checks providers and returns the set of valid names.
func (k *checker) providers(ps []Provider) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i, p := range ps {
		pp := at("providers", i)
		if k.uniqueName(first, "providers", "provider", i, p.Name) {
			names[p.Name] = true
		}
		if _, ok := providerDefaults[p.Type]; !ok {
			if p.Type == "" {
				k.add(field(pp, "type"), "is required (one of %s)", oneOf(typeOpenAI, typeAnthropic, typeGemini, typeOffline))
			} else {
				k.add(field(pp, "type"), "unknown provider type %q (one of %s)", p.Type, oneOf(typeOpenAI, typeAnthropic, typeGemini, typeOffline))
			}
		}
		if p.Type != typeOffline {
			if msg := baseURLProblem(p.BaseURL); msg != "" {
				k.add(field(pp, "base_url"), "%s", msg)
			}
		}
		if p.AuthHeader != "" && !slices.Contains(authHeaders, p.AuthHeader) {
			k.add(field(pp, "auth_header"), "%q is not one of %s", p.AuthHeader, oneOf(authHeaders...))
		}
		if hasControl(p.APIKey.Value()) {
			k.add(field(pp, "api_key"), "contains a line break or control character")
		}
		for _, name := range slices.Sorted(maps.Keys(p.Headers)) {
			hp := field(field(pp, "headers"), name)
			if !validHeaderName(name) {
				k.add(hp, "%q is not a valid header name", name)
			}
			if hasControl(p.Headers[name].Value()) {
				k.add(hp, "value contains a line break or control character")
			}
		}
		tp := field(pp, "timeouts")
		k.positive(field(tp, "connect"), p.Timeouts.Connect)
		k.positive(field(tp, "first_byte"), p.Timeouts.FirstByte)
		k.positive(field(tp, "idle"), p.Timeouts.Idle)
	}
	return names
}

func baseURLProblem(s string) string {
	if s == "" {
		return "is required (e.g. \"https://api.openai.com/v1\", \"http://127.0.0.1:11434/v1\")"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with http:// or https://", s)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", s)
	case u.User != nil:
		// Credentials in a URL would be shown by /config and logs.
		return "must not contain a user or password (use api_key or headers)"
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Sprintf("%q must not contain a query or fragment (use api_version for ?api-version=)", s)
	}
	return ""
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) >= 0
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func (k *checker) glob(p, pattern string) bool {
	if pattern == "" {
		k.add(p, "is required")
		return false
	}
	if _, err := path.Match(pattern, ""); err != nil {
		k.add(p, "%q is not a valid pattern (use *, ? and [a-z] as in path.Match)", pattern)
		return false
	}
	return true
}

func (k *checker) models(ms []Model, providers map[string]bool) {
	type routeKey struct{ name, headers string }
	seen := map[routeKey]int{}
	for i, m := range ms {
		mp := at("models", i)
		if k.glob(field(mp, "name"), m.Name) {
			rk := routeKey{m.Name, canonicalHeaders(m.MatchHeaders)}
			if j, dup := seen[rk]; dup {
				k.add(field(mp, "name"), "duplicate model %q with the same match_headers as models[%d]", m.Name, j)
			} else {
				seen[rk] = i
			}
		}
		for _, name := range slices.Sorted(maps.Keys(m.MatchHeaders)) {
			if !validHeaderName(name) {
				k.add(field(field(mp, "match_headers"), name), "%q is not a valid header name", name)
			}
		}
		tsp := field(mp, "targets")
		if len(m.Targets) == 0 {
			k.add(tsp, "at least one target is required")
			continue
		}
		groupWeight := map[int]int{}
		negative := map[int]bool{} // already reported; the group sum says nothing more
		for j, t := range m.Targets {
			tp := at(tsp, j)
			switch {
			case t.Provider == "":
				k.add(field(tp, "provider"), "is required")
			case !providers[t.Provider]:
				k.add(field(tp, "provider"), "unknown provider %q", t.Provider)
			}
			if t.Weight < 0 {
				k.add(field(tp, "weight"), "must be 0 or more, got %d", t.Weight)
				negative[t.Priority] = true
			}
			if t.Priority < 0 {
				k.add(field(tp, "priority"), "must be 0 or more, got %d", t.Priority)
			}
			if _, ok := groupWeight[t.Priority]; !ok {
				groupWeight[t.Priority] = 0
			}
			if t.Weight > 0 {
				groupWeight[t.Priority] += t.Weight
			}
		}
		for _, prio := range slices.Sorted(maps.Keys(groupWeight)) {
			if groupWeight[prio] == 0 && !negative[prio] {
				k.add(tsp, "priority %d has no target with weight > 0", prio)
			}
		}
	}
}

// canonicalHeaders renders match_headers so that maps differing only in
// header-name case compare equal.
func canonicalHeaders(h map[string]string) string {
	keys := make([]string, 0, len(h))
	lower := make(map[string]string, len(h))
	for name, v := range h {
		l := strings.ToLower(name)
		keys = append(keys, l)
		lower[l] = v
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, name := range keys {
		b.WriteString(strconv.Quote(name))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(lower[name]))
		b.WriteByte(';')
	}
	return b.String()
}

func (k *checker) limits(p string, l Limits) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"requests_per_minute", l.RequestsPerMinute},
		{"tokens_per_minute", l.TokensPerMinute},
		{"tokens_per_day", l.TokensPerDay},
		{"concurrent_requests", l.ConcurrentRequests},
	} {
		if f.v < 0 {
			k.add(field(p, f.name), "must be 0 (unlimited) or more, got %d", f.v)
		}
	}
}

// cidr checks one CIDR and returns it in canonical form.
func (k *checker) cidr(p, s string) (netip.Prefix, bool) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			k.add(p, "%q is an address, not a CIDR (did you mean %q?)", s, netip.PrefixFrom(a, a.BitLen()).String())
		} else {
			k.add(p, "%q is not a CIDR (e.g. \"10.0.0.0/8\", \"fd00::/8\")", s)
		}
		return netip.Prefix{}, false
	}
	if pfx.Masked() != pfx {
		k.add(p, "%q has bits set past the prefix length (did you mean %q?)", s, pfx.Masked().String())
		return netip.Prefix{}, false
	}
	return pfx, true
}

func (k *checker) tenants(ts []Tenant) {
	names := map[string]int{}
	sources := map[netip.Prefix]string{}
	keys := map[[32]byte]string{}
	for i, t := range ts {
		tp := at("tenants", i)
		k.uniqueName(names, "tenants", "tenant", i, t.Name)
		if len(t.Keys) == 0 && len(t.Sources) == 0 {
			k.add(tp, "needs at least one key or source")
		}
		for j, key := range t.Keys {
			kp := at(field(tp, "keys"), j)
			switch {
			case key.SHA256 != "" && key.Env != "":
				k.add(kp, "set either sha256 or env, not both")
			case key.SHA256 != "":
				if !validDigest(key.SHA256) {
					k.add(field(kp, "sha256"), "must be 64 hex characters (the SHA-256 of the key, e.g. from `printf %%s KEY | sha256sum`)")
				}
			case key.Env != "":
				if !validEnvName(key.Env) {
					k.add(field(kp, "env"), "%q is not an environment variable name", key.Env)
				}
			default:
				k.add(kp, "needs sha256 or env")
			}
			if d, ok := key.digest(); ok {
				if other, dup := keys[d]; dup {
					k.add(kp, "is the same key as %s", other)
				} else {
					keys[d] = kp
				}
			}
		}
		for j, m := range t.Models {
			k.glob(at(field(tp, "models"), j), m)
		}
		k.limits(field(tp, "limits"), t.Limits)
		for _, g := range slices.Sorted(maps.Keys(t.ModelLimits)) {
			gp := field(field(tp, "model_limits"), g)
			k.glob(gp, g)
			k.limits(gp, t.ModelLimits[g])
		}
		for j, s := range t.Sources {
			sp := at(field(tp, "sources"), j)
			if pfx, ok := k.cidr(sp, s); ok {
				if other, dup := sources[pfx]; dup {
					k.add(sp, "%s is also claimed by %s", pfx, other)
				} else {
					sources[pfx] = sp
				}
			}
		}
	}
}

func validDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (k *checker) rateLimit(r RateLimit) {
	switch r.Backend {
	case "local":
	case "redis":
		if msg := hostPortProblem(r.Redis.Address); msg != "" {
			k.add("ratelimit.redis.address", "%s", msg)
		}
	default:
		k.add("ratelimit.backend", "%q is not one of %s", r.Backend, oneOf("local", "redis"))
	}
	if r.OnRedisError != "allow" && r.OnRedisError != "deny" {
		k.add("ratelimit.on_redis_error", "%q is not one of %s", r.OnRedisError, oneOf("allow", "deny"))
	}
	if r.Redis.DB < 0 {
		k.add("ratelimit.redis.db", "must be 0 or more, got %d", r.Redis.DB)
	}
	if hasControl(r.Redis.Password.Value()) {
		k.add("ratelimit.redis.password", "contains a line break or control character")
	}
	k.positive("ratelimit.redis.timeout", r.Redis.Timeout)
	if r.KernelBlockAfter < 0 {
		k.add("ratelimit.kernel_block_after", "must be 0 (off) or more, got %d", r.KernelBlockAfter)
	}
	k.positive("ratelimit.kernel_block_for", r.KernelBlockFor)
}

func (k *checker) dataplane(d Dataplane) {
	if !slices.Contains([]string{"auto", "on", "off"}, d.Mode) {
		k.add("dataplane.mode", "%q is not one of %s", d.Mode, oneOf("auto", "on", "off"))
	}
	if d.Guard.Hook != "tc" && d.Guard.Hook != "xdp" {
		k.add("dataplane.guard.hook", "%q is not one of %s", d.Guard.Hook, oneOf("tc", "xdp"))
	}
	seen := map[string]int{}
	for i, name := range d.Guard.Interfaces {
		ip := at("dataplane.guard.interfaces", i)
		switch {
		case name == "":
			k.add(ip, "is empty")
		case len(name) > 15:
			// IFNAMSIZ is 16 including the terminating NUL.
			k.add(ip, "%q is longer than 15 characters, the Linux limit", name)
		case strings.ContainsAny(name, "/: \t\n") || name == "." || name == "..":
			k.add(ip, "%q is not a valid interface name", name)
		default:
			if j, dup := seen[name]; dup {
				k.add(ip, "duplicate interface %q (also dataplane.guard.interfaces[%d])", name, j)
			} else {
				seen[name] = i
			}
		}
	}
	for i, s := range d.Guard.Deny {
		k.cidr(at("dataplane.guard.deny", i), s)
	}
}

func (k *checker) kubernetes(c Kubernetes) {
	ing := c.Ingress
	if !ing.Enabled {
		return
	}
	if ing.Class == "" || hasControl(ing.Class) || strings.ContainsAny(ing.Class, " /") {
		k.add("kubernetes.ingress.class", "%q is not an ingress class name", ing.Class)
	}
	if hasControl(ing.Kubeconfig) {
		k.add("kubernetes.ingress.kubeconfig", "contains a control character")
	}
	if a := ing.StatusAddress; a != "" && !validHost(a) {
		k.add("kubernetes.ingress.status_address", "%q is not an IP address or host name", a)
	}
}

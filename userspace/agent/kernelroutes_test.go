package agent

import (
	"fmt"
	"github.com/weir-gateway/weir/dataplane/dataplanetest"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/dataplane"
	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
)

func route(name string, mod func(*config.Route)) config.Route {
	r := config.Route{Name: name, Path: "/" + name, Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:9"}}}
	if mod != nil {
		mod(&r)
	}
	return r
}

func allow(cidrs ...string) func(*config.Route) {
	return func(r *config.Route) { r.AllowSources = cidrs }
}

func limits(l config.RouteLimits) func(*config.Route) {
	return func(r *config.Route) { r.Limits = &l }
}

// ruleText renders port rules compactly for table tests.
func ruleText(rs []dataplane.PortRule) string {
	var parts []string
	for _, r := range rs {
		s := fmt.Sprintf("%v/%d", r.Proto, r.Port)
		if len(r.Drop) > 0 {
			s += fmt.Sprintf(" drop %v", r.Drop)
		}
		if r.SourceConnections.PerSecond > 0 {
			s += fmt.Sprintf(" conns %d/%d", r.SourceConnections.PerSecond, r.SourceConnections.Burst)
			if len(r.Exempt) > 0 {
				s += fmt.Sprintf(" exempt %v", r.Exempt)
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func TestPortRules(t *testing.T) {
	routesOnly := []config.Listener{{Name: "web", Address: ":8080", Serve: []string{config.ServeRoutes}}}
	tests := []struct {
		name      string
		listeners []config.Listener
		routes    []config.Route
		want      string
	}{
		{"allow list", routesOnly, []config.Route{route("a", allow("10.0.0.0/8"))},
			"tcp/8080 drop [0.0.0.0/5 8.0.0.0/7 11.0.0.0/8 12.0.0.0/6 16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/1 ::/0]"},
		{"deny list", routesOnly, []config.Route{route("a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"} })},
			"tcp/8080 drop [192.0.2.0/24]"},
		{"intersection of refusals", routesOnly, []config.Route{
			route("a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24", "198.51.100.0/24"} }),
			route("b", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/25"} }),
		}, "tcp/8080 drop [192.0.2.0/25]"},
		{"deny inside allow, and a second route's allow", routesOnly, []config.Route{
			route("a", func(r *config.Route) {
				r.AllowSources = []string{"10.0.0.0/8"}
				r.DenySources = []string{"10.1.0.0/16"}
			}),
			route("b", allow("10.1.0.0/16", "::/0")),
		}, "tcp/8080 drop [0.0.0.0/5 8.0.0.0/7 11.0.0.0/8 12.0.0.0/6 16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/1]"},
		{"one route open to all", routesOnly, []config.Route{route("a", allow("10.0.0.0/8")), route("b", nil)}, ""},
		{"the api on the port admits everyone", []config.Listener{{Name: "both", Address: ":8080"}}, []config.Route{route("a", allow("10.0.0.0/8"))}, ""},
		{"api-only listener", []config.Listener{{Name: "api", Address: ":8080", Serve: []string{config.ServeAPI}}}, []config.Route{route("a", allow("10.0.0.0/8"))}, ""},
		{"api on another address, same port", []config.Listener{
			{Name: "web", Address: "10.0.0.1:8080", Serve: []string{config.ServeRoutes}},
			{Name: "api", Address: "127.0.0.1:8080", Serve: []string{config.ServeAPI}},
		}, []config.Route{route("a", allow("10.0.0.0/8"))}, ""},
		{"port 0 is not known ahead", []config.Listener{{Name: "web", Address: "127.0.0.1:0", Serve: []string{config.ServeRoutes}}}, []config.Route{route("a", allow("10.0.0.0/8"))}, ""},
		{"no routes: no rule", routesOnly, nil, ""},
		{"redirect route refuses no one", routesOnly, []config.Route{route("a", allow("10.0.0.0/8")), route("r", func(r *config.Route) {
			r.AllowSources = []string{"10.0.0.0/8"}
			r.Redirect = &config.RouteRedirect{URL: "https://example.com"}
		})}, ""},
		{"https_redirect on plain http refuses no one", routesOnly, []config.Route{route("a", func(r *config.Route) {
			r.DenySources = []string{"192.0.2.0/24"}
			r.HTTPSRedirect = true
		})}, ""},
		{"https_redirect on tls, with http3", []config.Listener{{Name: "web", Address: ":8443", TLS: &config.TLS{SelfSigned: true}, HTTP3: true, Serve: []string{config.ServeRoutes}}},
			[]config.Route{route("a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"}; r.HTTPSRedirect = true })},
			"tcp/8443 drop [192.0.2.0/24]; udp/8443 drop [192.0.2.0/24]"},
		{"cors and app_root answer first", routesOnly, []config.Route{
			route("a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"}; r.CORS = &config.RouteCORS{} }),
			route("b", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"}; r.AppRoot = "/app" }),
		}, ""},
		{"rps bound, default burst", routesOnly, []config.Route{route("a", limits(config.RouteLimits{RequestsPerSecond: 10}))}, "tcp/8080 conns 10/50"},
		{"routes add up", routesOnly, []config.Route{
			route("a", limits(config.RouteLimits{RequestsPerSecond: 10, BurstMultiplier: 2})),
			route("b", limits(config.RouteLimits{RequestsPerSecond: 4, BurstMultiplier: 10})),
		}, "tcp/8080 conns 14/60"},
		{"rpm rounds up, tighter bucket per route", routesOnly, []config.Route{
			route("a", limits(config.RouteLimits{RequestsPerMinute: 90})),
			route("b", limits(config.RouteLimits{RequestsPerSecond: 100, RequestsPerMinute: 60, BurstMultiplier: 1})),
		}, "tcp/8080 conns 3/510"},
		{"a route without limits: no bound", routesOnly, []config.Route{route("a", limits(config.RouteLimits{RequestsPerSecond: 10})), route("b", nil)}, ""},
		{"connections only: no bound", routesOnly, []config.Route{route("a", limits(config.RouteLimits{Connections: 3}))}, ""},
		{"exempt of any route", routesOnly, []config.Route{
			route("a", limits(config.RouteLimits{RequestsPerSecond: 1, Exempt: []string{"10.0.0.0/9"}})),
			route("b", limits(config.RouteLimits{RequestsPerSecond: 1, Exempt: []string{"10.128.0.0/9"}})),
		}, "tcp/8080 conns 2/10 exempt [10.0.0.0/8]"},
		{"no bound on udp", []config.Listener{{Name: "web", Address: ":8443", TLS: &config.TLS{SelfSigned: true}, HTTP3: true, Serve: []string{config.ServeRoutes}}},
			[]config.Route{route("a", limits(config.RouteLimits{RequestsPerSecond: 1}))}, "tcp/8443 conns 1/5"},
		{"drop and bound together", routesOnly, []config.Route{route("a", func(r *config.Route) {
			r.DenySources = []string{"192.0.2.0/24"}
			r.Limits = &config.RouteLimits{RequestsPerSecond: 3}
		})}, "tcp/8080 drop [192.0.2.0/24] conns 3/15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Config{Listeners: tt.listeners, Routes: tt.routes}
			if got := ruleText(portRules(c, tt.routes)); got != tt.want {
				t.Errorf("port rules\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestPortRulesSteering: a listener that steering sends a port's
// connections to counts as serving that port.
func TestPortRulesSteering(t *testing.T) {
	c := &config.Config{
		Listeners: []config.Listener{
			{Name: "web", Address: ":8080", Serve: []string{config.ServeRoutes}},
			{Name: "web2", Address: ":8081", Serve: []string{config.ServeRoutes}},
			{Name: "api", Address: ":9090", Serve: []string{config.ServeAPI}},
		},
		Routes: []config.Route{route("a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"} })},
	}
	c.Dataplane.Steer = config.Steer{Rules: []config.SteerRule{{Listener: "api", Ports: []string{"8000-8080"}}}}
	if got := ruleText(portRules(c, c.Routes)); got != "tcp/8081 drop [192.0.2.0/24]" {
		t.Errorf("port rules %q, want only 8081's (8080 may reach the API)", got)
	}
}

func TestDesiredFromConfigPortRules(t *testing.T) {
	c := &config.Config{
		Listeners: []config.Listener{{Name: "web", Address: ":8080", Serve: []string{config.ServeRoutes}}},
		Routes:    []config.Route{route("a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"} })},
	}
	if got := ruleText(desiredFromConfig(c).Ports); got != "tcp/8080 drop [192.0.2.0/24]" {
		t.Errorf("ports %q", got)
	}
	c.Kubernetes.Ingress.Enabled = true
	if got := ruleText(desiredFromConfig(c).Ports); got != "tcp/8080 drop [192.0.2.0/24]" {
		t.Errorf("with kubernetes enabled and no Ingress routes yet, ports %q", got)
	}
}

// TestSyncKernelFollowsKubernetesRoutes: the port rules are compiled from
// the file routes and the Kubernetes routes in force, and follow an
// installed Ingress update.
func TestSyncKernelFollowsKubernetesRoutes(t *testing.T) {
	fake := dataplanetest.New()
	a := &Agent{plain: &plainRoutes{}, datapath: fake}
	t.Cleanup(func() { _ = a.plain.close() })
	c := &config.Config{Listeners: []config.Listener{{Name: "web", Address: ":8080", Serve: []string{config.ServeRoutes}}}}
	c.Kubernetes.Ingress.Enabled = true
	last := func() string {
		t.Helper()
		if err := a.syncKernel(c); err != nil {
			t.Fatal(err)
		}
		d, ok := fake.Last()
		if !ok {
			t.Fatal("no sync")
		}
		return ruleText(d.Ports)
	}
	if got := last(); got != "" {
		t.Fatalf("no routes yet, ports %q", got)
	}
	kube := []config.Route{route("ingress-a", func(r *config.Route) { r.DenySources = []string{"192.0.2.0/24"} })}
	if err := a.plain.installMerged(kube); err != nil {
		t.Fatal(err)
	}
	if got := last(); got != "tcp/8080 drop [192.0.2.0/24]" {
		t.Fatalf("after the Ingress update, ports %q", got)
	}
	// A file route that admits everyone opens the port again.
	c.Routes = []config.Route{route("file", func(r *config.Route) { r.Host = "file.example" })}
	if got := last(); got != "" {
		t.Fatalf("with an open file route, ports %q", got)
	}
}

// TestRefusedAgreesWithHTTPRoute serves requests through package httproute
// from each probe source: where refused says "every request is refused" the
// route answers 403 to every request shape tried, and where a route answers
// first (redirects, CORS, app_root), some request from a refused source is
// not a 403.
func TestRefusedAgreesWithHTTPRoute(t *testing.T) {
	deny := func(r *config.Route) {
		r.AllowSources = []string{"10.0.0.0/8"}
		r.DenySources = []string{"10.1.0.0/16"}
	}
	routes := []config.Route{
		route("plain", deny),
		route("redirect", func(r *config.Route) { deny(r); r.Redirect = &config.RouteRedirect{URL: "https://example.com/"} }),
		route("https", func(r *config.Route) { deny(r); r.HTTPSRedirect = true }),
		route("cors", func(r *config.Route) { deny(r); r.CORS = &config.RouteCORS{} }),
		route("approot", func(r *config.Route) { deny(r); r.Path = "/"; r.AppRoot = "/app" }),
		route("limited", func(r *config.Route) { deny(r); r.Limits = &config.RouteLimits{RequestsPerSecond: 1000} }),
	}
	table, err := httproute.New(routes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(table.Close)
	shapes := func(rt config.Route) []*http.Request {
		p := rt.Path
		get := httptest.NewRequest(http.MethodGet, "http://shop.example"+p, nil)
		pre := httptest.NewRequest(http.MethodOptions, "http://shop.example"+p, nil)
		pre.Header.Set("Origin", "https://other.example")
		pre.Header.Set("Access-Control-Request-Method", "POST")
		return []*http.Request{get, pre}
	}
	for _, rt := range routes {
		for _, src := range []string{"10.2.3.4", "10.1.2.3", "192.0.2.1", "2001:db8::1"} {
			t.Run(rt.Name+"/"+src, func(t *testing.T) {
				a := netip.MustParseAddr(src)
				refusedAll := refused(rt, true).Contains(a)
				any403, anyOther := false, false
				for _, req := range shapes(rt) {
					req.RemoteAddr = netip.AddrPortFrom(a, 40000).String()
					h, ok := table.Match(req)
					if !ok {
						t.Fatalf("no route for %s %s", req.Method, req.URL)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code == http.StatusForbidden {
						any403 = true
					} else {
						anyOther = true
					}
				}
				if refusedAll && anyOther {
					t.Errorf("refused says every request from %s is refused, but httproute answered one with another status", src)
				}
				if !refusedAll && any403 && !anyOther {
					t.Errorf("httproute refuses every request from %s, refused() misses it (looser than needed)", src)
				}
			})
		}
	}
}

// FuzzPortRules checks the compiled drop set and connection bound against
// a brute-force per-address evaluation of the routes' rules (netip.Prefix
// Contains, as package httproute admits), at every address where any rule
// can change.
func FuzzPortRules(f *testing.F) {
	f.Add([]byte{0, 1, 10, 8, 1, 2, 10, 16, 2, 0, 192, 24, 3, 3, 10, 12})
	f.Add([]byte{0, 0, 0, 0, 4, 1, 128, 1, 5, 2, 7, 30, 6, 3, 200, 20})
	f.Add([]byte{0x80, 1, 0x20, 32, 0x81, 2, 0x20, 48, 1, 0, 10, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		const n = 3
		routes := make([]config.Route, n)
		for i := range routes {
			routes[i] = route(fmt.Sprintf("r%d", i), nil)
		}
		var probes []netip.Addr
		for i := 0; i+4 <= len(data) && i < 4*24; i += 4 {
			ri := int(data[i]&0x7f) % n
			var p netip.Prefix
			if data[i]&0x80 != 0 {
				p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, data[i+2]}), 24+int(data[i+3])%41)
			} else {
				p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, data[i+2], 0, 0}), 8+int(data[i+3])%17)
			}
			p = p.Masked()
			rt := &routes[ri]
			switch data[i+1] % 4 {
			case 0:
				rt.AllowSources = append(rt.AllowSources, p.String())
			case 1:
				rt.DenySources = append(rt.DenySources, p.String())
			case 2:
				if rt.Limits == nil {
					rt.Limits = &config.RouteLimits{RequestsPerSecond: int(data[i+3]%7) + 1, BurstMultiplier: int(data[i+2] % 4)}
				}
				rt.Limits.Exempt = append(rt.Limits.Exempt, p.String())
			case 3:
				rt.HTTPSRedirect = !rt.HTTPSRedirect
			}
			probes = append(probes, p.Addr(), lastOf(p))
			if a := p.Addr().Prev(); a.IsValid() {
				probes = append(probes, a)
			}
			if a := lastOf(p).Next(); a.IsValid() {
				probes = append(probes, a)
			}
		}
		probes = append(probes, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"), netip.MustParseAddr("255.255.255.255"))
		c := &config.Config{Listeners: []config.Listener{{Name: "web", Address: ":8080", Serve: []string{config.ServeRoutes}}}, Routes: routes}
		rules := portRules(c, routes)
		var rule dataplane.PortRule
		if len(rules) > 0 {
			rule = rules[0]
		}
		in := func(ss []string, a netip.Addr) bool {
			for _, s := range ss {
				if netip.MustParsePrefix(s).Contains(a) {
					return true
				}
			}
			return false
		}
		allLimited := true
		for _, rt := range routes {
			allLimited = allLimited && rt.Limits != nil && !rt.HTTPSRedirect
		}
		for _, a := range probes {
			wantDrop := true
			exempt := false
			for _, rt := range routes {
				refuses := !rt.HTTPSRedirect && (in(rt.DenySources, a) || len(rt.AllowSources) > 0 && !in(rt.AllowSources, a))
				wantDrop = wantDrop && refuses
				exempt = exempt || rt.Limits != nil && in(rt.Limits.Exempt, a)
			}
			if got := prefixesContain(rule.Drop, a); got != wantDrop {
				t.Fatalf("%s: dropped %t, want %t (routes %+v, rules %+v)", a, got, wantDrop, routes, rules)
			}
			wantBound := allLimited && !exempt
			gotBound := rule.SourceConnections.PerSecond > 0 && !prefixesContain(rule.Exempt, a)
			if gotBound != wantBound {
				t.Fatalf("%s: bound %t, want %t (routes %+v, rules %+v)", a, gotBound, wantBound, routes, rules)
			}
		}
		// The bound admits at least what the routes admit together.
		if rule.SourceConnections.PerSecond > 0 {
			var rate, burst uint64
			for _, rt := range routes {
				mult := uint64(rt.Limits.BurstMultiplier)
				if mult == 0 {
					mult = defaultBurstMultiplier
				}
				rate += uint64(rt.Limits.RequestsPerSecond)
				burst += uint64(rt.Limits.RequestsPerSecond) * mult
			}
			if got := rule.SourceConnections; got.PerSecond < rate || got.Burst < burst {
				t.Fatalf("bound %+v below the routes' %d/s burst %d together", got, rate, burst)
			}
		}
	})
}

func prefixesContain(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

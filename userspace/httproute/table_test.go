package httproute

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

// loadRoutes loads a weir config holding only routes, as weir would.
func loadRoutes(t *testing.T, yamlRoutes string) []config.Route {
	t.Helper()
	c, err := config.Load([]byte("version: 1\nroutes:\n" + yamlRoutes))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c.Routes
}

func TestMatch(t *testing.T) {
	routes := loadRoutes(t, `
  - {name: exact-host-root, host: app.example.com, path: /, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: exact-host-api, host: app.example.com, path: /api, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: exact-host-api-exact, host: app.example.com, path: /api/health, path_type: exact, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: string-prefix, host: app.example.com, path: /str, path_type: string_prefix, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: wild, host: "*.example.com", path: /, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: wild-longer, host: "*.eu.example.com", path: /, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: any-host, path: /public, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: regex-short, host: re.example.com, path: "/v[0-9]", path_type: regex, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: regex-long, host: re.example.com, path: "/v[0-9]/users/[0-9]+", path_type: regex, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: re-prefix, host: re.example.com, path: /v1/users/static, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: re-exact, host: re.example.com, path: /v1/users/42, path_type: exact, upstream: {servers: ["127.0.0.1:1"]}}
  - {name: ai-host, host: ai.example.com, path: /docs, upstream: {servers: ["127.0.0.1:1"]}}
`)
	tab, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	tests := []struct {
		host, path, want string // want "" = no match
	}{
		{"app.example.com", "/", "exact-host-root"},
		{"APP.example.com:8080", "/x", "exact-host-root"},
		{"app.example.com.", "/x", "exact-host-root"},
		{"app.example.com", "/api", "exact-host-api"},
		{"app.example.com", "/api/", "exact-host-api"},
		{"app.example.com", "/api/v1", "exact-host-api"},
		{"app.example.com", "/apix", "exact-host-root"}, // Prefix matches whole path elements
		{"app.example.com", "/api/health", "exact-host-api-exact"},
		{"app.example.com", "/api/health/x", "exact-host-api"},
		{"app.example.com", "/strx", "string-prefix"}, // string prefix does not care about elements
		{"www.example.com", "/", "wild"},
		{"a.b.example.com", "/", "wild"}, // nginx wildcards span labels
		{"x.eu.example.com", "/", "wild-longer"},
		{"example.com", "/public", "any-host"}, // the wildcard needs a label before the suffix
		{"other.test", "/public/x", "any-host"},
		{"other.test", "/private", ""},
		{"app.example.com", "/public", "exact-host-root"},     // a host's routes hide the host-less ones
		{"re.example.com", "/v1/users/7", "regex-long"},       // regexes longest first
		{"re.example.com", "/V2/x", "regex-short"},            // case-insensitive
		{"re.example.com", "/v1/users/static", "regex-short"}, // a matching regex beats the longest prefix, as in nginx
		{"re.example.com", "/v1/users/42", "re-exact"},        // exact beats regex
		{"re.example.com", "/x/v1", ""},                       // regex anchored at the start
		{"ai.example.com", "/v1/chat/completions", ""},        // a shared host leaves other paths to the AI API
		{"ai.example.com", "/docs/a", "ai-host"},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://x"+tt.path, nil)
			r.Host = tt.host
			h, ok := tab.Match(r)
			got := ""
			if ok {
				got = h.(*Route).Name()
			}
			if got != tt.want {
				t.Errorf("Match(%s%s) = %q, want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		routes []config.Route
		want   string
	}{
		{"duplicate exact", []config.Route{
			{Name: "a", Path: "/x", PathType: "exact", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}},
			{Name: "b", Path: "/x", PathType: "exact", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}},
		}, `routes[1] "b": exact path "/x" is already routed`},
		{"bad regex", []config.Route{{Name: "a", Path: "(", PathType: "regex", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}}}, `routes[0] "a": compile path`},
		{"no servers", []config.Route{{Name: "a"}}, "upstream: no servers"},
		{"bad server", []config.Route{{Name: "a", Upstream: config.RouteUpstream{Servers: []string{"nope"}}}}, `server "nope"`},
		{"bad hash", []config.Route{{Name: "a", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}, Balance: "hash", HashBy: "$nope"}}}, "hash_by"},
		{"bad protocol", []config.Route{{Name: "a", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}, Protocol: "ftp"}}}, "unknown protocol"},
		{"bad cidr", []config.Route{{Name: "a", AllowSources: []string{"x"}, Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}}}, "allow_sources"},
		{"bad canary", []config.Route{{Name: "a", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}, Canary: &config.RouteCanary{}}}, "canary: no servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.routes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNilTable(t *testing.T) {
	var tab *Table
	if _, ok := tab.Match(httptest.NewRequest("GET", "/", nil)); ok {
		t.Error("a nil table matched")
	}
	tab.Close()
}

// FuzzMatch: any host and path are answered without a panic, and a route
// that claims a request is one whose host and path rules accept it.
func FuzzMatch(f *testing.F) {
	routes := []config.Route{
		{Name: "exact", Host: "a.test", Path: "/x", PathType: config.PathExact},
		{Name: "prefix", Host: "a.test", Path: "/api/"},
		{Name: "string", Host: "a.test", Path: "/s", PathType: config.PathStringPrefix},
		{Name: "regex", Host: "a.test", Path: "/r/([0-9]+)", PathType: config.PathRegex},
		{Name: "wild", Host: "*.b.test", Path: "/"},
		{Name: "any", Path: "/public"},
	}
	for i := range routes {
		routes[i].Upstream = config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}
	}
	tab, err := New(routes)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(tab.Close)
	for _, s := range [][2]string{{"a.test", "/api"}, {"x.b.test:80", "/"}, {"A.TEST.", "/R/12"}, {"[::1]:8080", "/public/x"}, {".b.test", "/"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, path string) {
		r := &http.Request{Host: host, URL: &url.URL{Path: path}}
		h, ok := tab.Match(r)
		if !ok {
			return
		}
		rt := h.(*Route)
		hn := requestHost(r)
		switch rt.cfg.Name {
		case "exact", "prefix", "string", "regex":
			if hn != "a.test" {
				t.Fatalf("%s claimed host %q", rt.cfg.Name, host)
			}
		case "wild":
			if !strings.HasSuffix(hn, ".b.test") || hn == ".b.test" {
				t.Fatalf("wildcard claimed host %q", host)
			}
		}
		if rt.cfg.Name == "exact" && path != "/x" || rt.cfg.Name == "string" && !strings.HasPrefix(path, "/s") ||
			rt.cfg.Name == "prefix" && path != "/api" && !strings.HasPrefix(path, "/api/") ||
			rt.cfg.Name == "any" && path != "/public" && !strings.HasPrefix(path, "/public/") {
			t.Fatalf("%s claimed path %q", rt.cfg.Name, path)
		}
	})
}

package httproute

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
)

// benchRoutes makes n hosts with five paths each (prefix, exact, regex)
// plus wildcards, a table the size of a busy cluster's Ingresses.
func benchRoutes(n int) []config.Route {
	var rs []config.Route
	up := config.RouteUpstream{Servers: []string{"127.0.0.1:1"}}
	for i := range n {
		host := fmt.Sprintf("app%d.example.com", i)
		rs = append(rs,
			config.Route{Name: fmt.Sprintf("r%d-root", i), Host: host, Path: "/", Upstream: up},
			config.Route{Name: fmt.Sprintf("r%d-api", i), Host: host, Path: "/api", Upstream: up},
			config.Route{Name: fmt.Sprintf("r%d-api-v1", i), Host: host, Path: "/api/v1", Upstream: up},
			config.Route{Name: fmt.Sprintf("r%d-health", i), Host: host, Path: "/healthz", PathType: config.PathExact, Upstream: up},
			config.Route{Name: fmt.Sprintf("r%d-users", i), Host: host, Path: "/users/[0-9]+", PathType: config.PathRegex, Upstream: up},
			config.Route{Name: fmt.Sprintf("r%d-wild", i), Host: fmt.Sprintf("*.t%d.example.com", i), Path: "/", Upstream: up},
		)
	}
	return rs
}

func BenchmarkMatch(b *testing.B) {
	tab, err := New(benchRoutes(1000))
	if err != nil {
		b.Fatal(err)
	}
	defer tab.Close()
	for _, c := range []struct{ name, host, path string }{
		{"prefix", "app500.example.com", "/api/v1/orders/7"},
		{"exact", "app500.example.com", "/healthz"},
		{"regex", "app500.example.com", "/users/42"},
		{"wildcard", "x.t500.example.com", "/"},
		{"miss", "unknown.test", "/"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://x"+c.path, nil)
			r.Host = c.host
			b.ReportAllocs()
			for b.Loop() {
				tab.Match(r)
			}
		})
	}
}

// BenchmarkProxy is one GET through a route to a loopback upstream,
// client and server included: compare it with a direct request to see
// what the route costs.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	tab, err := New([]config.Route{{Name: "r", Host: "b.test", Path: "/", Rewrite: "/x",
		Upstream: config.RouteUpstream{Servers: []string{strings.TrimPrefix(up.URL, "http://")}}}})
	if err != nil {
		b.Fatal(err)
	}
	defer tab.Close()
	f := httptest.NewServer(tab.Handler(http.NotFoundHandler()))
	defer f.Close()
	for _, c := range []struct{ name, url, host string }{{"direct", up.URL, ""}, {"routed", f.URL, "b.test"}} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", c.url+"/a", nil)
			req.Host = c.host
			b.ReportAllocs()
			for b.Loop() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

package ingress

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
)

// TestServeImported imports golden cases and serves the routes with
// httproute, every Service replaced by a test upstream that answers with
// its Service name and the request URI it saw: what ingress-nginx would
// have done with the Ingress must be what weir does.
func TestServeImported(t *testing.T) {
	upstreams := map[string]string{} // Service host → test server address
	serve := func(name string) string {
		if a, ok := upstreams[name]; ok {
			return a
		}
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", name, r.RequestURI)
		}))
		t.Cleanup(s.Close)
		upstreams[name] = strings.TrimPrefix(s.URL, "http://")
		return upstreams[name]
	}
	retarget := func(u *config.RouteUpstream) {
		for i, s := range u.Servers {
			u.Servers[i] = serve(strings.SplitN(s, ".", 2)[0])
		}
	}
	front := func(t *testing.T, cases ...string) *httptest.Server {
		t.Helper()
		var routes []config.Route
		for _, c := range cases {
			objs, err := ReadPath(filepath.Join("testdata", c, "in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			rs, _ := Import(objs, Options{})
			routes = append(routes, rs...)
		}
		for i := range routes {
			retarget(&routes[i].Upstream)
			if c := routes[i].Canary; c != nil {
				retarget(&c.Upstream)
			}
		}
		tab, err := httproute.NewWith(routes, httproute.Options{Rand: rand.New(rand.NewPCG(7, 8))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tab.Close)
		f := httptest.NewServer(tab.Handler(http.NotFoundHandler()))
		t.Cleanup(f.Close)
		return f
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, f *httptest.Server, host, path string, hdr ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.URL+path, nil)
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}

	tests := []struct {
		cases      []string
		host, path string
		hdr        []string
		code       int
		body       string // upstream answer, or Location for redirects
	}{
		{[]string{"rewrite-target"}, "app.example.com", "/api/users?id=1", nil, 200, "api /users?id=1"},
		{[]string{"rewrite-target"}, "app.example.com", "/API", nil, 200, "api /"},
		{[]string{"rewrite-target-plain"}, "app.example.com", "/app/x/y", nil, 200, "app /"},
		{[]string{"app-root"}, "app.example.com", "/", nil, 302, "http://app.example.com/app1"},
		{[]string{"permanent-redirect"}, "app.example.com", "/x", nil, 308, "https://new.example.com/"},
		{[]string{"precedence-temporal-over-permanent"}, "app.example.com", "/x", nil, 302, "https://t.example.com/"},
		{[]string{"force-ssl-redirect"}, "app.example.com", "/x?y=1", nil, 308, "https://app.example.com/x?y=1"},
		{[]string{"ssl-redirect-false"}, "app.example.com", "/x", nil, 200, "app /x"},
		{[]string{"precedence-tls-other-ingress"}, "app.example.com", "/b", nil, 308, "https://app.example.com/b"},
		{[]string{"whitelist-source-range"}, "app.example.com", "/", nil, 403, ""},
		{[]string{"precedence-oldest-wins"}, "app.example.com", "/", nil, 200, "old /"},
		{[]string{"precedence-regex-whole-host"}, "app.example.com", "/API/V2/x", nil, 200, "api /API/V2/x"},
		{[]string{"precedence-regex-whole-host"}, "app.example.com", "/staticfile", nil, 200, "static /staticfile"},
		{[]string{"canary-header"}, "app.example.com", "/", []string{"X-Canary", "yes"}, 200, "next /"},
		{[]string{"canary-header"}, "app.example.com", "/", []string{"X-Canary", "always"}, 200, "stable /"},
		{[]string{"canary-header"}, "app.example.com", "/", []string{"Cookie", "canary=always"}, 200, "next /"},
		{[]string{"default-backend"}, "app.example.com", "/other", nil, 200, "web /other"},
		{[]string{"default-backend"}, "unknown.example.com", "/x", nil, 200, "fallback /x"},
		{[]string{"basic"}, "shop.example.com", "/exact/more", nil, 200, "web /exact/more"},
		{[]string{"basic"}, "shop.example.com", "/legacyx", nil, 200, "old /legacyx"},
		{[]string{"from-to-www-redirect"}, "example.com", "/x?y=1", nil, 308, "http://www.example.com/x?y=1"},
		{[]string{"from-to-www-redirect"}, "www.example.com", "/x", nil, 200, "app /x"},
		{[]string{"server-alias"}, "app.example.org", "/x", nil, 200, "app /x"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cases, "+")+tt.path, func(t *testing.T) {
			f := front(t, tt.cases...)
			code, body, h := get(t, f, tt.host, tt.path, tt.hdr...)
			if loc := h.Get("Location"); loc != "" {
				body = loc
			}
			if code != tt.code || tt.body != "" && body != tt.body {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}

	t.Run("canary-weight", func(t *testing.T) {
		f := front(t, "canary-weight")
		got := 0
		const n = 1000
		for range n {
			if _, body, _ := get(t, f, "app.example.com", "/"); strings.HasPrefix(body, "next ") {
				got++
			}
		}
		// weight 20 of 200: mean 100, standard deviation about 9.5.
		if got < 55 || got > 145 {
			t.Errorf("%d of %d to the canary, want about 100", got, n)
		}
	})
}

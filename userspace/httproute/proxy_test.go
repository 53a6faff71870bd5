package httproute

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seen is what an upstream saw, returned as its JSON body.
type seen struct {
	Server  string `json:"server"`
	Method  string `json:"method"`
	URI     string `json:"uri"`
	Host    string `json:"host"`
	XFF     string `json:"xff"`
	RealIP  string `json:"real_ip"`
	Proto   string `json:"proto"`
	BodyLen int    `json:"body_len"`
	User    string `json:"user"`
	Prefix  string `json:"prefix"`
}

// upstream starts an echo server named name; status, when not 0, is
// answered instead of 200.
func upstream(t *testing.T, name string, status int) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if status != 0 {
			w.WriteHeader(status)
		}
		json.NewEncoder(w).Encode(seen{Server: name, Method: r.Method, URI: r.RequestURI, Host: r.Host,
			XFF: r.Header.Get("X-Forwarded-For"), RealIP: r.Header.Get("X-Real-IP"), Proto: r.Proto, BodyLen: len(b), User: r.Header.Get("X-User"), Prefix: r.Header.Get("X-Forwarded-Prefix")})
	}))
	t.Cleanup(s.Close)
	return s
}

func addr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// front serves routes through a real listener; requests that no route
// claims get 404 "no route".
func front(t *testing.T, routes string, opt Options) *httptest.Server {
	t.Helper()
	tab, err := NewWith(loadRoutes(t, routes), opt)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(tab.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no route", http.StatusNotFound)
	})))
	t.Cleanup(s.Close)
	t.Cleanup(tab.Close)
	return s
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type reply struct {
	code   int
	header http.Header
	seen   seen
	body   string
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.seen); err != nil {
			t.Fatalf("upstream reply %q: %v", b, err)
		}
	}
	return r
}

func get(t *testing.T, f *httptest.Server, host, path string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", f.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func TestProxyRewrite(t *testing.T) {
	up := upstream(t, "api", 0)
	f := front(t, fmt.Sprintf(`
  - {name: groups, host: a.test, path: "/api(/|$)(.*)", path_type: regex, rewrite: "/$2", forwarded_prefix: /api, upstream: {servers: [%[1]q]}}
  - {name: whole, host: b.test, path: /app, rewrite: /, upstream: {servers: [%[1]q]}}
  - {name: query, host: c.test, path: "/item/([0-9]+)", path_type: regex, rewrite: "/items?id=$1", upstream: {servers: [%[1]q]}}
  - {name: absolute, host: d.test, path: "/old/(.*)", path_type: regex, rewrite: "https://new.test/$1", upstream: {servers: [%[1]q]}}
  - {name: vhost, host: e.test, path: /, upstream: {servers: [%[1]q], host_header: internal.svc}}
  - {name: plain, host: f.test, path: /, upstream: {servers: [%[1]q]}}
`, addr(up)), Options{})
	tests := []struct {
		host, path string
		code       int
		uri, hostH string
		location   string
	}{
		{"a.test", "/api/users/7?x=1", 200, "/users/7?x=1", "a.test", ""},
		{"a.test", "/api", 200, "/", "a.test", ""},
		{"b.test", "/app/deep/path?q=2", 200, "/?q=2", "b.test", ""}, // nginx replaces the whole path
		{"c.test", "/item/42?page=3", 200, "/items?id=42&page=3", "c.test", ""},
		{"d.test", "/old/page", 302, "", "", "https://new.test/page"},
		{"e.test", "/x", 200, "/x", "internal.svc", ""},
		{"f.test", "/a%2Fb?c=d", 200, "/a%2Fb?c=d", "f.test", ""}, // the path is passed as received
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			r := get(t, f, tt.host, tt.path)
			if r.code != tt.code {
				t.Fatalf("status %d, want %d (%s)", r.code, tt.code, r.body)
			}
			if tt.location != "" {
				if got := r.header.Get("Location"); got != tt.location {
					t.Errorf("Location %q, want %q", got, tt.location)
				}
				return
			}
			if r.seen.URI != tt.uri || r.seen.Host != tt.hostH {
				t.Errorf("upstream saw %s with Host %s, want %s with Host %s", r.seen.URI, r.seen.Host, tt.uri, tt.hostH)
			}
			if wantPrefix := map[bool]string{true: "/api"}[tt.host == "a.test"]; r.seen.Prefix != wantPrefix {
				t.Errorf("X-Forwarded-Prefix %q, want %q", r.seen.Prefix, wantPrefix)
			}
			if r.seen.XFF != "127.0.0.1" || r.seen.RealIP != "127.0.0.1" {
				t.Errorf("X-Forwarded-For %q, X-Real-IP %q", r.seen.XFF, r.seen.RealIP)
			}
		})
	}
}

func TestProxyRedirects(t *testing.T) {
	up := upstream(t, "web", 0)
	f := front(t, fmt.Sprintf(`
  - {name: https, host: s.test, path: /, https_redirect: true, upstream: {servers: [%[1]q]}}
  - {name: https-any-host, path: /, https_redirect: true, upstream: {servers: [%[1]q]}}
  - {name: moved, host: m.test, path: /, redirect: {url: "https://new.test/", code: 301}}
  - {name: temp, host: t.test, path: /, redirect: {url: "https://maint.test/"}}
  - {name: root, host: r.test, path: /, app_root: /app1, upstream: {servers: [%[1]q]}}
  - {name: www, host: w.test, path: /, redirect: {url: "//www.w.test", code: 308, append_uri: true}}
`, addr(up)), Options{})
	tests := []struct {
		host, path string
		code       int
		location   string
	}{
		{"s.test:8080", "/a?b=c", 308, "https://s.test/a?b=c"},
		{"[::1]:8080", "/a", 308, "https://[::1]/a"},
		{"s.test", "/.well-known/acme-challenge/token", 200, ""},
		{"m.test", "/anything", 301, "https://new.test/"},
		{"t.test", "/", 302, "https://maint.test/"},
		{"r.test", "/", 302, "http://r.test/app1"},
		{"r.test", "/app1", 200, ""},
		{"w.test", "/p?q=1", 308, "http://www.w.test/p?q=1"},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			r := get(t, f, tt.host, tt.path)
			if r.code != tt.code || r.header.Get("Location") != tt.location {
				t.Errorf("got %d Location %q, want %d %q", r.code, r.header.Get("Location"), tt.code, tt.location)
			}
		})
	}
}

func TestProxyCORS(t *testing.T) {
	up := upstream(t, "web", 0)
	f := front(t, fmt.Sprintf(`
  - {name: list, host: c.test, path: /, cors: {allow_origins: ["https://a.test", "https://*.b.test"], allow_credentials: true, expose_headers: X-Id, max_age: 10m}, upstream: {servers: [%[1]q]}}
  - {name: star, host: star.test, path: /, cors: {}, upstream: {servers: [%[1]q]}}
`, addr(up)), Options{})
	preflight := func(host, origin string) reply {
		req, _ := http.NewRequest("OPTIONS", f.URL+"/x", nil)
		req.Host = host
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		return do(t, req)
	}
	t.Run("preflight allowed", func(t *testing.T) {
		r := preflight("c.test", "https://a.test")
		h := r.header
		if r.code != 204 || h.Get("Access-Control-Allow-Origin") != "https://a.test" || h.Get("Access-Control-Allow-Credentials") != "true" ||
			h.Get("Access-Control-Max-Age") != "600" || h.Get("Access-Control-Allow-Methods") != defaultCORSMethods || h.Get("Vary") != "Origin" {
			t.Errorf("preflight: %d %v", r.code, h)
		}
	})
	t.Run("preflight wildcard subdomain", func(t *testing.T) {
		if r := preflight("c.test", "https://x.b.test"); r.code != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://x.b.test" {
			t.Errorf("preflight: %d %v", r.code, r.header)
		}
	})
	t.Run("preflight from another origin reaches the upstream", func(t *testing.T) {
		r := preflight("c.test", "https://evil.test")
		if r.code != 200 || r.seen.Method != "OPTIONS" || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight: %d %v", r.code, r.header)
		}
	})
	t.Run("simple request", func(t *testing.T) {
		r := get(t, f, "c.test", "/x", "Origin", "https://a.test")
		if r.code != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://a.test" || r.header.Get("Access-Control-Expose-Headers") != "X-Id" {
			t.Errorf("got %d %v", r.code, r.header)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		r := preflight("star.test", "https://any.test")
		h := r.header
		if r.code != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Headers") != defaultCORSHeaders ||
			h.Get("Access-Control-Max-Age") != "1728000" || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight: %d %v", r.code, h)
		}
	})
}

func TestProxyBodyLimit(t *testing.T) {
	up := upstream(t, "web", 0)
	f := front(t, fmt.Sprintf(`
  - {name: small, host: l.test, path: /, max_body_bytes: 1024, upstream: {servers: [%[1]q]}}
`, addr(up)), Options{})
	post := func(body io.Reader, length int64) reply {
		req, _ := http.NewRequest("POST", f.URL+"/", body)
		req.Host = "l.test"
		req.ContentLength = length
		return do(t, req)
	}
	if r := post(strings.NewReader(strings.Repeat("a", 1024)), 1024); r.code != 200 || r.seen.BodyLen != 1024 {
		t.Errorf("at the limit: %d, upstream read %d", r.code, r.seen.BodyLen)
	}
	if r := post(strings.NewReader(strings.Repeat("a", 1025)), 1025); r.code != 413 {
		t.Errorf("declared over the limit: %d", r.code)
	}
	// Chunked: the limit trips while the proxy streams the body.
	if r := post(io.MultiReader(strings.NewReader(strings.Repeat("a", 4096))), -1); r.code != 413 {
		t.Errorf("chunked over the limit: %d %s", r.code, r.body)
	}
}

func TestProxyTimeouts(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	closed := httptest.NewServer(http.NotFoundHandler())
	dead := addr(closed)
	closed.Close()
	f := front(t, fmt.Sprintf(`
  - {name: slow, host: slow.test, path: /, upstream: {servers: [%q], read_timeout: 100ms}}
  - {name: dead, host: dead.test, path: /, upstream: {servers: [%q], connect_timeout: 1s}}
`, addr(slow), dead), Options{})
	if r := get(t, f, "slow.test", "/"); r.code != http.StatusGatewayTimeout {
		t.Errorf("slow upstream: %d, want 504", r.code)
	}
	if r := get(t, f, "dead.test", "/"); r.code != http.StatusBadGateway {
		t.Errorf("refused connection: %d, want 502", r.code)
	}
}

func TestProxySourceRanges(t *testing.T) {
	up := upstream(t, "web", 0)
	f := front(t, fmt.Sprintf(`
  - {name: other-net, host: a.test, path: /, allow_sources: ["10.0.0.0/8"], upstream: {servers: [%[1]q]}}
  - {name: loopback, host: b.test, path: /, allow_sources: ["10.0.0.0/8", "127.0.0.0/8"], upstream: {servers: [%[1]q]}}
  - {name: denied, host: c.test, path: /, deny_sources: ["127.0.0.1/32"], upstream: {servers: [%[1]q]}}
  - {name: deny-first, host: d.test, path: /, allow_sources: ["127.0.0.0/8"], deny_sources: ["127.0.0.1/32"], upstream: {servers: [%[1]q]}}
  - {name: deny-other, host: e.test, path: /, deny_sources: ["192.0.2.0/24"], upstream: {servers: [%[1]q]}}
`, addr(up)), Options{})
	for host, want := range map[string]int{"a.test": 403, "b.test": 200, "c.test": 403, "d.test": 403, "e.test": 200} {
		if r := get(t, f, host, "/"); r.code != want {
			t.Errorf("%s: %d, want %d", host, r.code, want)
		}
	}
}

func TestProxyCanary(t *testing.T) {
	stable, next := upstream(t, "stable", 0), upstream(t, "canary", 0)
	f := front(t, fmt.Sprintf(`
  - name: split
    host: c.test
    upstream: {servers: [%q]}
    canary: {header: X-Canary, cookie: canary, weight: 20, upstream: {servers: [%q]}}
  - name: by-value
    host: v.test
    upstream: {servers: [%[1]q]}
    canary: {header: X-Version, header_value: v2, upstream: {servers: [%[2]q]}}
  - name: by-pattern
    host: p.test
    upstream: {servers: [%[1]q]}
    canary: {header: X-Version, header_pattern: "^v[3-9]", upstream: {servers: [%[2]q]}}
`, addr(stable), addr(next)), Options{Rand: rand.New(rand.NewPCG(1, 2))})
	decided := []struct {
		name, host string
		hdr        []string
		want       string
	}{
		{"header always", "c.test", []string{"X-Canary", "always"}, "canary"},
		{"header never beats cookie", "c.test", []string{"X-Canary", "never", "Cookie", "canary=always"}, "stable"},
		{"cookie always", "c.test", []string{"Cookie", "canary=always"}, "canary"},
		{"cookie never", "c.test", []string{"Cookie", "canary=never"}, "stable"},
		{"header value", "v.test", []string{"X-Version", "v2"}, "canary"},
		{"other header value", "v.test", []string{"X-Version", "v3"}, "stable"},
		{"header pattern", "p.test", []string{"X-Version", "v4"}, "canary"},
		{"header pattern miss", "p.test", []string{"X-Version", "v1"}, "stable"},
	}
	for _, tt := range decided {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // no weight involved: every request goes the same way
				if r := get(t, f, tt.host, "/", tt.hdr...); r.seen.Server != tt.want {
					t.Fatalf("went to %q, want %q", r.seen.Server, tt.want)
				}
			}
		})
	}
	t.Run("weight", func(t *testing.T) {
		const n = 1000
		got := 0
		for range n {
			if get(t, f, "c.test", "/").seen.Server == "canary" {
				got++
			}
		}
		// 20% of 1000: mean 200, standard deviation about 12.6; ±60 is beyond 4.7σ.
		if got < 140 || got > 260 {
			t.Errorf("%d of %d requests went to the canary, want about 200", got, n)
		}
	})
}

func TestProxyBalancing(t *testing.T) {
	a, b, c := upstream(t, "a", 0), upstream(t, "b", 0), upstream(t, "c", 0)
	servers := fmt.Sprintf("[%q, %q, %q]", addr(a), addr(b), addr(c))
	f := front(t, fmt.Sprintf(`
  - {name: rr, host: rr.test, upstream: {servers: %[1]s}}
  - {name: hash, host: hash.test, upstream: {servers: %[1]s, balance: hash, hash_by: "$http_x_user"}}
  - {name: sticky, host: sticky.test, path: /app, upstream: {servers: %[1]s, affinity: {cookie: route, max_age: 1h, samesite: lax}}}
  - {name: ewma, host: ewma.test, upstream: {servers: %[1]s, balance: ewma}}
`, servers), Options{Rand: rand.New(rand.NewPCG(3, 4))})
	t.Run("round robin", func(t *testing.T) {
		counts := map[string]int{}
		for range 30 {
			counts[get(t, f, "rr.test", "/").seen.Server]++
		}
		if counts["a"] != 10 || counts["b"] != 10 || counts["c"] != 10 {
			t.Errorf("counts %v, want 10 each", counts)
		}
	})
	t.Run("hash", func(t *testing.T) {
		servers := map[string]bool{}
		for u := range 30 {
			user := fmt.Sprintf("user-%d", u)
			first := get(t, f, "hash.test", "/", "X-User", user).seen.Server
			for range 3 {
				if got := get(t, f, "hash.test", "/", "X-User", user).seen.Server; got != first {
					t.Fatalf("%s went to %s, then %s", user, first, got)
				}
			}
			servers[first] = true
		}
		if len(servers) < 2 {
			t.Errorf("30 users all hashed to %v", servers)
		}
	})
	t.Run("affinity", func(t *testing.T) {
		r := get(t, f, "sticky.test", "/app")
		ck := r.header.Get("Set-Cookie")
		if !strings.HasPrefix(ck, "route=") || !strings.Contains(ck, "Path=/app") || !strings.Contains(ck, "Max-Age=3600") || !strings.Contains(ck, "SameSite=Lax") {
			t.Fatalf("Set-Cookie %q", ck)
		}
		cookie := strings.SplitN(ck, ";", 2)[0]
		for range 10 {
			r2 := get(t, f, "sticky.test", "/app", "Cookie", cookie)
			if r2.seen.Server != r.seen.Server || r2.header.Get("Set-Cookie") != "" {
				t.Fatalf("pinned to %s, went to %s (Set-Cookie %q)", r.seen.Server, r2.seen.Server, r2.header.Get("Set-Cookie"))
			}
		}
		if r3 := get(t, f, "sticky.test", "/app", "Cookie", "route=stale"); r3.header.Get("Set-Cookie") == "" {
			t.Error("a stale cookie must be replaced")
		}
	})
	t.Run("ewma serves", func(t *testing.T) {
		for range 10 {
			if r := get(t, f, "ewma.test", "/"); r.code != 200 {
				t.Fatalf("status %d", r.code)
			}
		}
	})
}

func TestEWMAPrefersTheFaster(t *testing.T) {
	p := &pool{balance: "ewma", servers: []*backend{{addr: "slow:1"}, {addr: "fast:1"}}, rnd: newLockedRand(rand.New(rand.NewPCG(5, 6)))}
	p.servers[0].observe(500 * time.Millisecond)
	p.servers[1].observe(5 * time.Millisecond)
	for range 50 {
		if i := p.pick(httptest.NewRequest("GET", "/", nil)); i != 1 {
			t.Fatalf("picked %s", p.servers[i].addr)
		}
	}
	// Load counts too: a fast server with many requests in flight loses.
	p.servers[1].inflight.Store(1000)
	if i := p.pick(httptest.NewRequest("GET", "/", nil)); i != 0 {
		t.Errorf("picked %s with 1000 requests in flight", p.servers[i].addr)
	}
}

func TestProxyRetry(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	dead := addr(closed)
	closed.Close()
	failing, good := upstream(t, "failing", 503), upstream(t, "good", 0)
	f := front(t, fmt.Sprintf(`
  - {name: on-error, host: e.test, upstream: {servers: [%[1]q, %[3]q], retry: {on: [error]}}}
  - {name: no-retry, host: n.test, upstream: {servers: [%[1]q, %[3]q]}}
  - {name: on-503, host: s.test, upstream: {servers: [%[2]q, %[3]q], retry: {on: ["503"], tries: 2}}}
  - {name: one-try, host: o.test, upstream: {servers: [%[2]q, %[3]q], retry: {on: ["503"], tries: 1}}}
  - {name: post, host: p.test, upstream: {servers: [%[2]q, %[3]q], retry: {on: ["503"]}}}
`, dead, addr(failing), addr(good)), Options{})
	// Round robin starts at the first server, the broken one.
	if r := get(t, f, "e.test", "/"); r.code != 200 || r.seen.Server != "good" {
		t.Errorf("retry on error: %d from %q", r.code, r.seen.Server)
	}
	if r := get(t, f, "n.test", "/"); r.code != 502 {
		t.Errorf("without retry: %d, want 502", r.code)
	}
	if r := get(t, f, "s.test", "/"); r.code != 200 || r.seen.Server != "good" {
		t.Errorf("retry on 503: %d from %q", r.code, r.seen.Server)
	}
	if r := get(t, f, "o.test", "/"); r.code != 503 {
		t.Errorf("tries 1: %d, want 503", r.code)
	}
	// A request with a body is never retried.
	req, _ := http.NewRequest("POST", f.URL+"/", strings.NewReader("body"))
	req.Host = "p.test"
	if r := do(t, req); r.code != 503 || r.seen.Server != "failing" {
		t.Errorf("POST: %d from %q, want 503 from failing", r.code, r.seen.Server)
	}
}

func TestProxyWebSocket(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "not an upgrade", 400)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(conn, rw) // echo until the client closes
	}))
	t.Cleanup(ws.Close)
	f := front(t, fmt.Sprintf(`
  - {name: ws, host: ws.test, upstream: {servers: [%q], read_timeout: 1s}}
`, addr(ws)), Options{})
	conn, err := net.Dial("tcp", addr(f))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"hello", "world"} {
		fmt.Fprint(conn, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
}

func TestProxyGRPCh2c(t *testing.T) {
	grpc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" {
			http.Error(w, "want HTTP/2 gRPC, got "+r.Proto, 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write(b)
		w.Header().Set("Grpc-Status", "0")
	}))
	grpc.Config.Protocols = new(http.Protocols)
	grpc.Config.Protocols.SetUnencryptedHTTP2(true)
	grpc.Start()
	t.Cleanup(grpc.Close)

	tab, err := New(loadRoutes(t, fmt.Sprintf(`
  - {name: grpc, host: g.test, upstream: {servers: [%q], protocol: h2c}}
`, addr(grpc))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	fs := httptest.NewUnstartedServer(tab.Handler(http.NotFoundHandler()))
	fs.Config.Protocols = new(http.Protocols)
	fs.Config.Protocols.SetHTTP1(true)
	fs.Config.Protocols.SetUnencryptedHTTP2(true)
	fs.Start()
	t.Cleanup(fs.Close)

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest("POST", fs.URL+"/pkg.Service/Method", strings.NewReader("\x00\x00\x00\x00\x02hi"))
	req.Host = "g.test"
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "\x00\x00\x00\x00\x02hi" || resp.Trailer.Get("Grpc-Status") != "0" || resp.ProtoMajor != 2 {
		t.Errorf("status %d proto %s body %q trailer %v", resp.StatusCode, resp.Proto, body, resp.Trailer)
	}
}

func TestProxyErrorPages(t *testing.T) {
	missing := upstream(t, "missing", http.StatusNotFound)
	teapot := upstream(t, "teapot", http.StatusTeapot)
	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.Header.Get("X-Code"))
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprintf(w, "page %s for %s (%s) on %s", r.Header.Get("X-Code"), r.Header.Get("X-Original-URI"), r.Header.Get("X-Format"), r.Header.Get("X-Route"))
	}))
	t.Cleanup(pages.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	dead := addr(closed)
	closed.Close()
	f := front(t, fmt.Sprintf(`
  - {name: nf, host: nf.test, upstream: {servers: [%[1]q]}, error_pages: {codes: [404, 502], upstream: {servers: [%[4]q]}}}
  - {name: other, host: other.test, upstream: {servers: [%[2]q]}, error_pages: {codes: [404], upstream: {servers: [%[4]q]}}}
  - {name: down, host: down.test, upstream: {servers: [%[3]q]}, error_pages: {codes: [502], upstream: {servers: [%[4]q]}}}
  - {name: pages-down, host: pd.test, upstream: {servers: [%[1]q]}, error_pages: {codes: [404], upstream: {servers: [%[3]q]}}}
`, addr(missing), addr(teapot), dead, addr(pages)), Options{})
	tests := []struct {
		host string
		code int
		body string
	}{
		{"nf.test", 404, "page 404 for /a?b=c (text/html) on nf"},
		{"other.test", 418, ""}, // a code not listed passes through
		{"down.test", 502, "page 502 for /a?b=c (text/html) on down"},
		{"pd.test", 404, ""}, // the error backend is down: the upstream's answer stands
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := get(t, f, tt.host, "/a?b=c", "Accept", "text/html")
			if r.code != tt.code || tt.body != "" && r.body != tt.body {
				t.Errorf("got %d %q, want %d %q", r.code, r.body, tt.code, tt.body)
			}
		})
	}
}

// TestProxyReadTimeoutMidBody: an upstream that stops sending in the
// middle of a body is cut after the read timeout, as nginx's
// proxy_read_timeout does, instead of holding the client forever.
func TestProxyReadTimeoutMidBody(t *testing.T) {
	release := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first chunk")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stall.Close)
	t.Cleanup(func() { close(release) })
	f := front(t, fmt.Sprintf(`
  - {name: stall, host: s.test, upstream: {servers: [%q], read_timeout: 200ms}}
`, addr(stall)), Options{})
	req, _ := http.NewRequest("GET", f.URL+"/", nil)
	req.Host = "s.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = fmt.Errorf("body ended cleanly with %q", b)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if !strings.Contains(err.Error(), "unexpected EOF") && !strings.Contains(err.Error(), "INTERNAL_ERROR") {
			t.Errorf("want a truncated body, got %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stalled response was never cut")
	}
}

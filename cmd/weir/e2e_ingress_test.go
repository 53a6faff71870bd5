package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weir-gateway/weir/internal/weirtest"
)

// The fixtures in testdata/ingress are Ingress objects as users have them,
// with ingress-nginx annotations, in namespace e2e. Their Services are
// replaced by the servers below: weirctl import-ingress -f writes
// "<service>.e2e.svc.cluster.local:80" and the test swaps in loopback
// addresses before weir reads the config.

// ingressEcho is what a fixture backend answers: who answered and what it saw.
type ingressEcho struct {
	Backend string            `json:"backend"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Host    string            `json:"host"`
	Header  map[string]string `json:"header"`
	Body    int64             `json:"body"`
}

// echoedHeaders are the request headers a backend reports back.
var echoedHeaders = []string{"X-Auth-Request-User", "X-Real-Ip", "X-Code", "X-Original-Uri", "X-Format"}

// ingressEchoServer starts a backend that answers every request with an
// ingressEcho (after reading the whole body), with status NNN for paths
// /status/NNN.
func ingressEchoServer(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "backend: read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		e := ingressEcho{Backend: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Header: map[string]string{}, Body: n}
		for _, h := range echoedHeaders {
			if v := r.Header.Get(h); v != "" {
				e.Header[h] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			if c, err := strconv.Atoi(code); err == nil && c >= 200 && c <= 599 {
				w.WriteHeader(c)
			}
		}
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// ingressSlowServer answers /fast at once; /stall never sends headers and
// /stall-body stalls after the first bytes of its body, until the client
// (weir) goes away or the test ends.
func ingressSlowServer(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fast":
			_, _ = io.WriteString(w, "fast")
			return
		case "/stall-body":
			_, _ = io.WriteString(w, "first bytes")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: no handler outlives the test
	return srv.Listener.Addr().String()
}

// ingressBlackhole returns a loopback address whose listener never accepts
// and whose accept queue is full, so the kernel drops new SYNs and a
// connect hangs until the dialer's timeout (a real connect timeout without
// leaving loopback).
func ingressBlackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	// Backlog 0: the queue holds one connection, the next SYN is dropped.
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("the accept queue of %s never filled", addr)
	return ""
}

// ingressRefused is a loopback address nobody listens on.
func ingressRefused(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// authSeen records what the external auth service was asked.
type authSeen struct {
	mu   sync.Mutex
	last http.Header
}

func (a *authSeen) header() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// ingressAuthServer is an oauth2-proxy stand-in: "Bearer good" is alice
// (202, X-Auth-Request-User), anything else 401.
func ingressAuthServer(t *testing.T, seen *authSeen) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.mu.Lock()
		seen.last = r.Header.Clone()
		seen.mu.Unlock()
		if r.URL.Path != "/oauth2/auth" || r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="e2e"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Auth-Request-User", "alice")
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// ingressErrorPages is a default backend in ingress-nginx's contract: it
// answers with the status in X-Code and says what it was asked.
func ingressErrorPages(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.Header.Get("X-Code"))
		if err != nil {
			code = http.StatusNotFound
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprintf(w, "pretty %d for %s", code, r.Header.Get("X-Original-URI"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// serviceRef is a Service address as import-ingress writes it.
var serviceRef = regexp.MustCompile(`([a-z0-9-]+)\.e2e\.svc\.cluster\.local:80`)

// bindServices replaces the fixtures' Service addresses in an imported
// config: a "- <service>" list item becomes one item per server, any other
// mention the first server. An unknown Service fails the test.
func bindServices(t *testing.T, routes string, services map[string][]string) string {
	t.Helper()
	lookup := func(name string) []string {
		addrs, ok := services[name]
		if !ok || len(addrs) == 0 {
			t.Fatalf("the fixtures name Service %q, which the test does not provide", name)
		}
		return addrs
	}
	var out []string
	for line := range strings.SplitSeq(routes, "\n") {
		indent, item, isItem := strings.Cut(line, "- ")
		if m := serviceRef.FindStringSubmatch(item); isItem && strings.TrimSpace(indent) == "" && m != nil && m[0] == item {
			for _, a := range lookup(m[1]) {
				out = append(out, indent+"- "+a)
			}
			continue
		}
		out = append(out, serviceRef.ReplaceAllStringFunc(line, func(s string) string {
			return lookup(serviceRef.FindStringSubmatch(s)[1])[0]
		}))
	}
	return strings.Join(out, "\n")
}

// ingressEnv is weir serving the imported fixtures, and the clients to reach it.
type ingressEnv struct {
	proc    *weirtest.Proc
	base    string // http://127.0.0.1:port of the plain listener
	secure  string // host:port of the TLS listener
	auth    *authSeen
	mu      sync.Mutex
	clients map[string]*http.Client // by source address
}

// client returns a client that dials from source (a 127.0.0.0/8 address;
// "" is the kernel's choice), keeps connections alive and does not follow
// redirects.
func (e *ingressEnv) client(t *testing.T, source string) *http.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clients[source]; ok {
		return c
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	tr := &http.Transport{
		DialContext:     d.DialContext,
		MaxIdleConns:    8,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "secure.example.com"}, //nolint:gosec // weir's self-signed listener
	}
	c := &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second, // the bound every timeout check relies on
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	e.clients[source] = c
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// ingressReq is one request to weir.
type ingressReq struct {
	method  string
	host    string
	path    string
	header  map[string]string
	body    []byte
	chunked bool   // send body without Content-Length
	source  string // client address
	url     string // instead of the plain listener's base + path
}

type ingressResp struct {
	code    int
	header  http.Header
	body    string
	readErr error
	echo    ingressEcho // decoded when the body is one
}

func (e *ingressEnv) do(t *testing.T, r ingressReq) ingressResp {
	t.Helper()
	u := r.url
	if u == "" {
		u = e.base + r.path
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(cmpOr(r.method, http.MethodGet), u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = r.host
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.chunked {
		req.ContentLength = -1
		req.Body = io.NopCloser(bytes.NewReader(r.body))
		req.TransferEncoding = []string{"chunked"}
	}
	resp, err := e.client(t, r.source).Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", req.Method, r.host, r.path, err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	out := ingressResp{code: resp.StatusCode, header: resp.Header, body: string(b), readErr: rerr}
	_ = json.Unmarshal(b, &out.echo)
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// startIngressFixtures imports testdata/ingress with the real weirctl,
// checks its report, binds the Services and starts the real weir on it.
func startIngressFixtures(t *testing.T) *ingressEnv {
	t.Helper()
	e := &ingressEnv{auth: &authSeen{}, clients: map[string]*http.Client{}}
	services := map[string][]string{
		"web":          {ingressEchoServer(t, "web")},
		"web-canary":   {ingressEchoServer(t, "web-canary")},
		"pods":         {ingressEchoServer(t, "pod-a"), ingressEchoServer(t, "pod-b")},
		"slow":         {ingressSlowServer(t)},
		"blackhole":    {ingressBlackhole(t)},
		"refused":      {ingressRefused(t)},
		"error-pages":  {ingressErrorPages(t)},
		"oauth2-proxy": {ingressAuthServer(t, e.auth)},
	}

	cmd := exec.Command(weirtest.Weirctl(t), "import-ingress", "-f", "testdata/ingress")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("import-ingress must exit 3 (the Ingress TLS Secret is not read from a file), got %v\n%s", err, stderr.String())
	}
	// Everything the fixtures ask for is carried, except the certificate.
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "unsupported") && !strings.Contains(line, `spec.tls[0]="secure-tls"`) {
			t.Errorf("import-ingress did not carry: %s", line)
		}
	}
	routes := bindServices(t, strings.TrimPrefix(string(out), "version: 1\n"), services)
	cfg := `version: 1
listeners:
  - {name: public, address: "127.0.0.1:0"}
  - {name: secure, address: "127.0.0.1:0", tls: {self_signed: true}}
admin: {address: "127.0.0.1:0"}
dataplane: {mode: "off"}
providers: [{name: canned, type: offline}]
models: [{name: m, targets: [{provider: canned}]}]
` + routes
	e.proc = weirtest.Start(t, cfg)
	e.base = e.proc.URL("public")
	e.secure = e.proc.Listeners["secure"]
	return e
}

// TestE2EIngressFixtures serves testdata/ingress through weirctl
// import-ingress and the real weir binary, to real backends on loopback,
// one subtest per ingress-nginx behaviour.
func TestE2EIngressFixtures(t *testing.T) {
	e := startIngressFixtures(t)
	tests := []struct {
		name string
		run  func(t *testing.T, e *ingressEnv)
	}{
		{"rewrite-target regex groups", testIngressRewrite},
		{"permanent-redirect", func(t *testing.T, e *ingressEnv) {
			r := e.do(t, ingressReq{host: "permanent.example.com", path: "/old/page?x=1"})
			wantRedirect(t, r, http.StatusMovedPermanently, "https://new.example.com/landing")
		}},
		{"temporal-redirect", func(t *testing.T, e *ingressEnv) {
			r := e.do(t, ingressReq{host: "temporal.example.com", path: "/cart"})
			wantRedirect(t, r, http.StatusFound, "https://status.example.com/")
		}},
		{"app-root", func(t *testing.T, e *ingressEnv) {
			wantRedirect(t, e.do(t, ingressReq{host: "approot.example.com", path: "/"}), http.StatusFound, "http://approot.example.com/portal")
			wantEcho(t, e.do(t, ingressReq{host: "approot.example.com", path: "/portal"}), "web", "/portal")
		}},
		{"ssl-redirect with TLS", testIngressSSLRedirect},
		{"canary by header", testIngressCanaryHeader},
		{"canary by cookie", testIngressCanaryCookie},
		{"canary by weight", testIngressCanaryWeight},
		{"CORS preflight", testIngressCORSPreflight},
		{"CORS simple request", testIngressCORSSimple},
		{"proxy-body-size", testIngressBodySize},
		{"proxy-read-timeout", testIngressReadTimeout},
		{"proxy-connect-timeout", testIngressConnectTimeout},
		{"whitelist-source-range", func(t *testing.T, e *ingressEnv) {
			wantEcho(t, e.do(t, ingressReq{host: "allow.example.com", path: "/a", source: "127.0.0.1"}), "web", "/a")
			if r := e.do(t, ingressReq{host: "allow.example.com", path: "/a", source: "127.0.0.2"}); r.code != http.StatusForbidden {
				t.Errorf("127.0.0.2 is not in the whitelist: %d %s", r.code, r.body)
			}
		}},
		{"denylist-source-range", func(t *testing.T, e *ingressEnv) {
			if r := e.do(t, ingressReq{host: "deny.example.com", path: "/a", source: "127.0.0.2"}); r.code != http.StatusForbidden {
				t.Errorf("127.0.0.2 is denied: %d %s", r.code, r.body)
			}
			for _, src := range []string{"127.0.0.1", "127.0.0.3"} {
				r := e.do(t, ingressReq{host: "deny.example.com", path: "/a", source: src})
				wantEcho(t, r, "web", "/a")
				if r.echo.Header["X-Real-Ip"] != src {
					t.Errorf("X-Real-IP %q, want the client %s", r.echo.Header["X-Real-Ip"], src)
				}
			}
		}},
		{"limit-rps", testIngressLimitRPS},
		{"custom-http-errors with default-backend", testIngressErrorPages},
		{"auth-url", testIngressAuth},
		{"auth-signin", func(t *testing.T, e *ingressEnv) {
			r := e.do(t, ingressReq{host: "signin.example.com", path: "/page?id=3"})
			wantRedirect(t, r, http.StatusFound, "https://login.example.com/oauth2/start?rd="+
				"http%3A%2F%2Fsignin.example.com%2Fpage%3Fid%3D3")
			// auth-request-redirect replaces the request URI the auth service gets.
			if got := e.auth.header().Get("X-Auth-Request-Redirect"); got != "https://signin.example.com/after-login" {
				t.Errorf("the auth service saw X-Auth-Request-Redirect %q, want the annotation's, $host expanded", got)
			}
			wantEcho(t, e.do(t, ingressReq{host: "signin.example.com", path: "/page", header: map[string]string{"Authorization": "Bearer good"}}), "web", "/page")
		}},
		{"upstream-vhost", func(t *testing.T, e *ingressEnv) {
			r := e.do(t, ingressReq{host: "vhost.example.com", path: "/x"})
			wantEcho(t, r, "web", "/x")
			if r.echo.Host != "legacy.internal" {
				t.Errorf("the upstream saw Host %q, want legacy.internal", r.echo.Host)
			}
		}},
		{"affinity cookie", testIngressAffinity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, e) })
	}
}

func wantRedirect(t *testing.T, r ingressResp, code int, location string) {
	t.Helper()
	if r.code != code || r.header.Get("Location") != location {
		t.Errorf("got %d Location %q, want %d %q", r.code, r.header.Get("Location"), code, location)
	}
}

func wantEcho(t *testing.T, r ingressResp, backend, path string) {
	t.Helper()
	if r.code != http.StatusOK || r.echo.Backend != backend || r.echo.Path != path {
		t.Errorf("got %d from %q path %q (%s), want 200 from %q path %q", r.code, r.echo.Backend, r.echo.Path, r.body, backend, path)
	}
}

func testIngressRewrite(t *testing.T, e *ingressEnv) {
	for _, c := range []struct{ path, want, query string }{
		{"/something/users/7?page=2", "/users/7", "page=2"},
		{"/something", "/", ""},
		{"/something/", "/", ""},
		{"/SOMETHING/a", "/a", ""}, // nginx "~*": case-insensitive
		{"/v1/users/42", "/people/42/users", ""},
	} {
		r := e.do(t, ingressReq{host: "rewrite.example.com", path: c.path})
		wantEcho(t, r, "web", c.want)
		if r.echo.Query != c.query {
			t.Errorf("%s: the upstream saw query %q, want %q", c.path, r.echo.Query, c.query)
		}
	}
	if r := e.do(t, ingressReq{host: "rewrite.example.com", path: "/elsewhere"}); r.code != http.StatusNotFound || r.echo.Backend != "" {
		t.Errorf("a path no Ingress routes: %d %s", r.code, r.body)
	}
}

func testIngressSSLRedirect(t *testing.T, e *ingressEnv) {
	r := e.do(t, ingressReq{host: "secure.example.com", path: "/account?tab=2"})
	wantRedirect(t, r, http.StatusPermanentRedirect, "https://secure.example.com/account?tab=2")
	// ACME HTTP-01 challenges stay on http.
	wantEcho(t, e.do(t, ingressReq{host: "secure.example.com", path: "/.well-known/acme-challenge/token"}), "web", "/.well-known/acme-challenge/token")
	// Over TLS the route proxies.
	r = e.do(t, ingressReq{host: "secure.example.com", url: "https://" + e.secure + "/account"})
	wantEcho(t, r, "web", "/account")
}

func testIngressCanaryHeader(t *testing.T, e *ingressEnv) {
	for _, c := range []struct{ value, want string }{{"always", "web-canary"}, {"never", "web"}, {"", "web"}, {"maybe", "web"}} {
		h := map[string]string{}
		if c.value != "" {
			h["X-Canary"] = c.value
		}
		for range 3 {
			wantEcho(t, e.do(t, ingressReq{host: "canary-header.example.com", path: "/p", header: h}), c.want, "/p")
		}
	}
}

func testIngressCanaryCookie(t *testing.T, e *ingressEnv) {
	for _, c := range []struct{ cookie, want string }{{"use_canary=always", "web-canary"}, {"use_canary=never", "web"}, {"", "web"}, {"other=always", "web"}} {
		h := map[string]string{}
		if c.cookie != "" {
			h["Cookie"] = c.cookie
		}
		for range 3 {
			wantEcho(t, e.do(t, ingressReq{host: "canary-cookie.example.com", path: "/p", header: h}), c.want, "/p")
		}
	}
}

// testIngressCanaryWeight sends n requests to a canary of weight 20 (of
// 100). The canary count is Binomial(n, 0.2): mean 400, σ = √(n·p·(1−p))
// ≈ 17.9. The test fails outside mean ± 5σ (±89), which a correct split
// does with probability about 6·10⁻⁷; a split of 15% or 25% lands outside.
func testIngressCanaryWeight(t *testing.T, e *ingressEnv) {
	const n, p = 2000, 0.2
	mean, sigma := n*p, math.Sqrt(n*p*(1-p))
	counts := map[string]int{}
	for range n {
		r := e.do(t, ingressReq{host: "canary-weight.example.com", path: "/w"})
		if r.code != http.StatusOK {
			t.Fatalf("request failed: %d %s", r.code, r.body)
		}
		counts[r.echo.Backend]++
	}
	if counts["web"]+counts["web-canary"] != n {
		t.Fatalf("answers from unexpected backends: %v", counts)
	}
	if got := float64(counts["web-canary"]); math.Abs(got-mean) >= 5*sigma {
		t.Errorf("canary got %v of %d requests, want %v ± %.0f (5σ)", got, n, mean, 5*sigma)
	}
	t.Logf("canary share %d/%d (expected %v ± %.1f σ)", counts["web-canary"], n, mean, sigma)
}

func testIngressCORSPreflight(t *testing.T, e *ingressEnv) {
	for _, origin := range []string{"https://ui.example.com", "https://team.apps.example.com"} {
		r := e.do(t, ingressReq{method: http.MethodOptions, host: "cors.example.com", path: "/api",
			header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "X-Token"}})
		if r.code != http.StatusNoContent || r.echo.Backend != "" {
			t.Errorf("preflight from %s: %d %q, want 204 from weir", origin, r.code, r.body)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Methods":     "GET, POST",
			"Access-Control-Allow-Headers":     "X-Token, Content-Type",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "600",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("preflight from %s: %s %q, want %q", origin, k, got, want)
			}
		}
	}
	// An origin not allowed gets no CORS answer: the OPTIONS goes upstream.
	r := e.do(t, ingressReq{method: http.MethodOptions, host: "cors.example.com", path: "/api",
		header: map[string]string{"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"}})
	if r.header.Get("Access-Control-Allow-Origin") != "" || r.echo.Backend != "web" {
		t.Errorf("preflight from a foreign origin: %d %v %s", r.code, r.header, r.body)
	}
}

func testIngressCORSSimple(t *testing.T, e *ingressEnv) {
	r := e.do(t, ingressReq{host: "cors.example.com", path: "/api", header: map[string]string{"Origin": "https://ui.example.com"}})
	wantEcho(t, r, "web", "/api")
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      "https://ui.example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "X-Request-Id",
		"Vary":                             "Origin",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	r = e.do(t, ingressReq{host: "cors.example.com", path: "/api", header: map[string]string{"Origin": "https://evil.example.net"}})
	wantEcho(t, r, "web", "/api")
	if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("a foreign origin is allowed: %q", v)
	}
}

// testIngressBodySize: proxy-body-size 1k is 1024 bytes, with and without
// Content-Length.
func testIngressBodySize(t *testing.T, e *ingressEnv) {
	for _, c := range []struct {
		size    int
		chunked bool
		want    int
	}{
		{1024, false, http.StatusOK},
		{1025, false, http.StatusRequestEntityTooLarge},
		{1024, true, http.StatusOK},
		{1025, true, http.StatusRequestEntityTooLarge},
		{256 << 10, true, http.StatusRequestEntityTooLarge},
		{0, false, http.StatusOK},
	} {
		r := e.do(t, ingressReq{method: http.MethodPost, host: "upload.example.com", path: "/up", body: bytes.Repeat([]byte("x"), c.size), chunked: c.chunked})
		if r.code != c.want {
			t.Errorf("%d bytes (chunked %v): %d %s, want %d", c.size, c.chunked, r.code, r.body, c.want)
			continue
		}
		if c.want == http.StatusOK && (r.echo.Backend != "web" || r.echo.Body != int64(c.size)) {
			t.Errorf("%d bytes (chunked %v): the upstream got %d bytes: %s", c.size, c.chunked, r.echo.Body, r.body)
		}
	}
}

// testIngressReadTimeout: proxy-read-timeout 1s. The stalled upstream
// never answers, so a 504 before the client's 10s bound is weir's timeout.
func testIngressReadTimeout(t *testing.T, e *ingressEnv) {
	if r := e.do(t, ingressReq{host: "read-timeout.example.com", path: "/fast"}); r.code != http.StatusOK || r.body != "fast" {
		t.Errorf("fast upstream: %d %q", r.code, r.body)
	}
	if r := e.do(t, ingressReq{host: "read-timeout.example.com", path: "/stall"}); r.code != http.StatusGatewayTimeout {
		t.Errorf("stalled upstream: %d %q, want 504", r.code, r.body)
	}
	// A body that stops flowing is cut, not held open.
	r := e.do(t, ingressReq{host: "read-timeout.example.com", path: "/stall-body"})
	if r.code != http.StatusOK || r.readErr == nil || r.body != "first bytes" {
		t.Errorf("stalled body: %d %q, read error %v; want the first bytes and then an error", r.code, r.body, r.readErr)
	}
}

// testIngressConnectTimeout: proxy-connect-timeout 1s. The blackhole
// drops SYNs, so a 504 before the client's 10s bound is weir's connect
// timeout; a refused connection is 502 at once.
func testIngressConnectTimeout(t *testing.T, e *ingressEnv) {
	if r := e.do(t, ingressReq{host: "connect-timeout.example.com", path: "/"}); r.code != http.StatusGatewayTimeout {
		t.Errorf("upstream that never accepts: %d %q, want 504", r.code, r.body)
	}
	if r := e.do(t, ingressReq{host: "refused.example.com", path: "/"}); r.code != http.StatusBadGateway {
		t.Errorf("refused upstream: %d %q, want 502", r.code, r.body)
	}
}

// testIngressLimitRPS: limit-rps 1 allows a burst of 5 (ingress-nginx's
// burst multiplier), then 503. Each client address has its own bucket;
// 127.0.0.4 and .5 are used by no other subtest.
func testIngressLimitRPS(t *testing.T, e *ingressEnv) {
	var codes []int
	for range 30 {
		r := e.do(t, ingressReq{host: "limited.example.com", path: "/", source: "127.0.0.4"})
		codes = append(codes, r.code)
		if r.code == http.StatusServiceUnavailable {
			break
		}
		if r.code != http.StatusOK {
			t.Fatalf("codes %v", codes)
		}
	}
	if len(codes) < 6 || codes[len(codes)-1] != http.StatusServiceUnavailable {
		// The bucket starts full (5) and refills 1/s: 30 requests get a 503
		// unless they took over 25 seconds.
		t.Errorf("codes %v: want the burst of 5 served, then 503", codes)
	}
	wantEcho(t, e.do(t, ingressReq{host: "limited.example.com", path: "/", source: "127.0.0.5"}), "web", "/")
}

func testIngressErrorPages(t *testing.T, e *ingressEnv) {
	for _, code := range []int{404, 503} {
		path := fmt.Sprintf("/status/%d", code)
		r := e.do(t, ingressReq{host: "errors.example.com", path: path, header: map[string]string{"Accept": "text/html"}})
		if want := fmt.Sprintf("pretty %d for %s", code, path); r.code != code || r.body != want {
			t.Errorf("%s: %d %q, want %d %q from the default backend", path, r.code, r.body, code, want)
		}
	}
	// Other statuses and successes pass as the upstream sent them.
	if r := e.do(t, ingressReq{host: "errors.example.com", path: "/status/418"}); r.code != 418 || r.echo.Backend != "web" {
		t.Errorf("418: %d %s", r.code, r.body)
	}
	wantEcho(t, e.do(t, ingressReq{host: "errors.example.com", path: "/fine"}), "web", "/fine")
}

func testIngressAuth(t *testing.T, e *ingressEnv) {
	r := e.do(t, ingressReq{host: "auth.example.com", path: "/private?x=1"})
	if r.code != http.StatusUnauthorized || r.echo.Backend != "" || r.header.Get("WWW-Authenticate") != `Bearer realm="e2e"` {
		t.Errorf("no credentials: %d %v %s, want 401 with the auth service's challenge", r.code, r.header, r.body)
	}
	// The subrequest carries what ingress-nginx's does.
	seen := e.auth.header()
	for k, want := range map[string]string{
		"X-Original-URL":          "http://auth.example.com/private?x=1",
		"X-Original-Method":       "GET",
		"X-Auth-Request-Redirect": "/private?x=1",
		"X-Real-IP":               "127.0.0.1",
		"X-Forwarded-For":         "127.0.0.1",
	} {
		if got := seen.Get(k); got != want {
			t.Errorf("the auth service saw %s %q, want %q", k, got, want)
		}
	}
	// The user header comes from the auth service, never from the client.
	r = e.do(t, ingressReq{host: "auth.example.com", path: "/private", header: map[string]string{
		"Authorization": "Bearer good", "X-Auth-Request-User": "mallory"}})
	wantEcho(t, r, "web", "/private")
	if u := r.echo.Header["X-Auth-Request-User"]; u != "alice" {
		t.Errorf("the upstream saw user %q, want alice from the auth service", u)
	}
	if r := e.do(t, ingressReq{host: "auth.example.com", path: "/private", header: map[string]string{"Authorization": "Bearer bad"}}); r.code != http.StatusUnauthorized {
		t.Errorf("bad credentials: %d %s", r.code, r.body)
	}
}

// testIngressAffinity: the affinity cookie pins a client to one of the
// two pods; without it, round robin reaches both.
func testIngressAffinity(t *testing.T, e *ingressEnv) {
	r := e.do(t, ingressReq{host: "sticky.example.com", path: "/s"})
	if r.code != http.StatusOK {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "route" {
			cookie = c
		}
	}
	if cookie == nil || cookie.MaxAge != 3600 || !cookie.HttpOnly || cookie.Path != "/" {
		t.Fatalf("affinity cookie %+v (Set-Cookie %q)", cookie, r.header.Values("Set-Cookie"))
	}
	pinned := r.echo.Backend
	for range 20 {
		r := e.do(t, ingressReq{host: "sticky.example.com", path: "/s", header: map[string]string{"Cookie": "route=" + cookie.Value}})
		if r.echo.Backend != pinned {
			t.Fatalf("with the cookie of %s the request went to %q", pinned, r.echo.Backend)
		}
		if v := r.header.Get("Set-Cookie"); v != "" {
			t.Errorf("a pinned client is sent a new cookie: %q", v)
		}
	}
	seen := map[string]bool{}
	for range 10 {
		seen[e.do(t, ingressReq{host: "sticky.example.com", path: "/s"}).echo.Backend] = true
	}
	if !seen["pod-a"] || !seen["pod-b"] {
		t.Errorf("clients without the cookie reached only %v", seen)
	}
	// A cookie naming no current server is replaced.
	r = e.do(t, ingressReq{host: "sticky.example.com", path: "/s", header: map[string]string{"Cookie": "route=gone"}})
	if !strings.Contains(r.header.Get("Set-Cookie"), "route=") {
		t.Errorf("a stale cookie was not replaced: %v", r.header)
	}
}

package httproute

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
)

func TestLimiter(t *testing.T) {
	client := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	clock := time.Unix(1000, 0)
	newLim := func(t *testing.T, c config.RouteLimits) *limiter {
		t.Helper()
		l, err := newLimiter(c)
		if err != nil {
			t.Fatal(err)
		}
		l.now = func() time.Time { return clock }
		return l
	}
	admit := func(l *limiter, ip netip.Addr) bool {
		release, ok := l.acquire(ip)
		if ok {
			release()
		}
		return ok
	}
	t.Run("rps with burst", func(t *testing.T) {
		l := newLim(t, config.RouteLimits{RequestsPerSecond: 2, BurstMultiplier: 1})
		if !admit(l, client) || !admit(l, client) {
			t.Fatal("the burst of 2 must pass")
		}
		if admit(l, client) {
			t.Fatal("a third request in the same instant must be refused")
		}
		if !admit(l, other) {
			t.Fatal("another client has its own bucket")
		}
		clock = clock.Add(500 * time.Millisecond)
		if !admit(l, client) || admit(l, client) {
			t.Fatal("half a second refills one token")
		}
	})
	t.Run("rpm with the default multiplier", func(t *testing.T) {
		l := newLim(t, config.RouteLimits{RequestsPerMinute: 1})
		for i := range 5 {
			if !admit(l, client) {
				t.Fatalf("request %d of the burst of 5 refused", i)
			}
		}
		if admit(l, client) {
			t.Fatal("the sixth request must be refused")
		}
	})
	t.Run("rps and rpm both apply", func(t *testing.T) {
		l := newLim(t, config.RouteLimits{RequestsPerSecond: 10, RequestsPerMinute: 2, BurstMultiplier: 1})
		if !admit(l, client) || !admit(l, client) || admit(l, client) {
			t.Fatal("the per-minute bucket of 2 must stop the third request")
		}
		clock = clock.Add(30 * time.Second)
		if !admit(l, client) || admit(l, client) {
			t.Fatal("30 seconds refill one per-minute token")
		}
	})
	t.Run("connections", func(t *testing.T) {
		l := newLim(t, config.RouteLimits{Connections: 1})
		release, ok := l.acquire(client)
		if !ok {
			t.Fatal("first refused")
		}
		if admit(l, client) {
			t.Fatal("a second concurrent request must be refused")
		}
		release()
		if !admit(l, client) {
			t.Fatal("released, the next must pass")
		}
	})
	t.Run("exempt", func(t *testing.T) {
		l := newLim(t, config.RouteLimits{RequestsPerSecond: 1, BurstMultiplier: 1, Exempt: []string{"192.0.2.0/24"}})
		for range 10 {
			if !admit(l, client) {
				t.Fatal("an exempt client was limited")
			}
		}
	})
	t.Run("bounded", func(t *testing.T) {
		l := newLim(t, config.RouteLimits{RequestsPerSecond: 1, BurstMultiplier: 1})
		for i := range maxLimitClients + 10 {
			release, ok := l.acquire(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
			if !ok {
				t.Fatalf("new client %d refused", i)
			}
			release()
		}
		if n := len(l.clients); n > maxLimitClients {
			t.Errorf("%d clients tracked, bound is %d", n, maxLimitClients)
		}
	})
}

func TestProxyLimits(t *testing.T) {
	up := upstream(t, "web", 0)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	blocking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	t.Cleanup(blocking.Close)
	f := front(t, fmt.Sprintf(`
  - {name: rpm, host: r.test, limits: {requests_per_minute: 1, burst_multiplier: 1}, upstream: {servers: [%q]}}
  - {name: conns, host: c.test, limits: {connections: 1}, upstream: {servers: [%q]}}
`, addr(up), addr(blocking)), Options{})
	if r := get(t, f, "r.test", "/"); r.code != 200 {
		t.Fatalf("first: %d", r.code)
	}
	if r := get(t, f, "r.test", "/"); r.code != 503 {
		t.Fatalf("second within the minute: %d, want 503", r.code)
	}
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("GET", f.URL+"/", nil)
		req.Host = "c.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered // the first request holds the client's only slot
	if r := get(t, f, "c.test", "/"); r.code != 503 {
		t.Errorf("concurrent: %d, want 503", r.code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("first concurrent request: %d", code)
	}
}

func TestProxyAuth(t *testing.T) {
	up := upstream(t, "web", 0)
	var sawOriginal string
	var mu sync.Mutex
	sawRedirect := map[string]string{} // X-Auth-Request-Redirect by the original host
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawOriginal = r.Header.Get("X-Original-URL")
		mu.Lock()
		sawRedirect[r.URL.Query().Get("h")] = r.Header.Get("X-Auth-Request-Redirect")
		mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-User", "alice")
		case "Bearer nobody":
		case "Bearer bad":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(auth.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	f := front(t, fmt.Sprintf(`
  - {name: auth, host: a.test, auth: {url: "%[2]s/check?h=$host", response_headers: [X-User]}, upstream: {servers: [%[1]q]}}
  - {name: signin, host: s.test, auth: {url: "%[2]s/check", signin: "https://login.test/start"}, upstream: {servers: [%[1]q]}}
  - {name: down, host: d.test, auth: {url: "%[3]s/check"}, upstream: {servers: [%[1]q]}}
  - {name: redir, host: r.test, auth: {url: "%[2]s/check?h=$host", request_redirect: "https://$host/after"}, upstream: {servers: [%[1]q]}}
`, addr(up), auth.URL, closed.URL), Options{})
	tests := []struct {
		name, host, authz string
		hdr               []string
		code              int
		user, location    string
	}{
		{"allowed, header copied", "a.test", "Bearer good", []string{"X-User", "mallory"}, 200, "alice", ""},
		{"allowed, spoofed header removed", "a.test", "Bearer nobody", []string{"X-User", "mallory"}, 200, "", ""},
		{"forbidden", "a.test", "Bearer bad", nil, 403, "", ""},
		{"unauthorized", "a.test", "", nil, 401, "", ""},
		{"sign in", "s.test", "", nil, 302, "", "https://login.test/start?rd=" + url.QueryEscape("http://s.test/p?q=1")},
		{"auth service down", "d.test", "Bearer good", nil, 500, "", ""},
		{"request_redirect", "r.test", "Bearer nobody", nil, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := tt.hdr
			if tt.authz != "" {
				hdr = append(hdr, "Authorization", tt.authz)
			}
			r := get(t, f, tt.host, "/p?q=1", hdr...)
			if r.code != tt.code || r.seen.User != tt.user || r.header.Get("Location") != tt.location {
				t.Errorf("got %d user %q Location %q, want %d %q %q", r.code, r.seen.User, r.header.Get("Location"), tt.code, tt.user, tt.location)
			}
		})
	}
	if sawOriginal == "" {
		t.Error("the auth service never saw X-Original-URL")
	}
	// X-Auth-Request-Redirect: the request URI by default, request_redirect
	// (variables expanded) when set.
	for host, want := range map[string]string{"a.test": "/p?q=1", "r.test": "https://r.test/after"} {
		if got := sawRedirect[host]; got != want {
			t.Errorf("%s: X-Auth-Request-Redirect %q, want %q", host, got, want)
		}
	}
}

package httproute

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
)

// tlsUpstream starts an HTTPS echo server with cert (and its chain);
// conf, when set, adjusts its tls.Config (client authentication,
// versions, suites).
func tlsUpstream(t *testing.T, cert *httproutetest.Leaf, conf func(*tls.Config)) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "anonymous"
		if len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "hello %s over %s", who, tls.VersionName(r.TLS.Version))
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	if conf != nil {
		conf(s.TLS)
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// writeFile writes data into dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveRoutes serves routes (built in Go, not loaded from YAML) through a
// real listener, after the validation the Kubernetes provider applies.
func serveRoutes(t *testing.T, routes ...config.Route) *httptest.Server {
	t.Helper()
	if p := config.ValidateRoutes(routes); len(p) > 0 {
		t.Fatalf("routes do not validate: %v", p)
	}
	tab, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(tab.Handler(http.NotFoundHandler()))
	t.Cleanup(s.Close)
	t.Cleanup(tab.Close)
	return s
}

func tlsRoute(name string, up *httptest.Server, tc config.RouteUpstreamTLS) config.Route {
	return config.Route{Name: name, Host: name + ".test", Upstream: config.RouteUpstream{
		Servers: []string{strings.TrimPrefix(up.URL, "https://")}, Protocol: config.ProtocolHTTPS, TLS: tc}}
}

func TestUpstreamMutualTLS(t *testing.T) {
	serverCA, clientCA, otherCA := httproutetest.NewCA(t, "server-ca"), httproutetest.NewCA(t, "client-ca"), httproutetest.NewCA(t, "other-ca")
	client, stranger := clientCA.Issue(t, "weir-client"), otherCA.Issue(t, "stranger")
	up := tlsUpstream(t, serverCA.Issue(t, "127.0.0.1"), func(c *tls.Config) {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = httproutetest.Pool(clientCA)
	})
	dir := t.TempDir()
	caFile := writeFile(t, dir, "ca.crt", serverCA.PEM())
	otherCAFile := writeFile(t, dir, "other.crt", otherCA.PEM())
	certFile := writeFile(t, dir, "tls.crt", client.CertPEM)
	keyFile := writeFile(t, dir, "tls.key", client.KeyPEM)
	f := serveRoutes(t,
		tlsRoute("files", up, config.RouteUpstreamTLS{Verify: true, CAFile: caFile, CertFile: certFile, KeyFile: keyFile}),
		tlsRoute("inline", up, config.RouteUpstreamTLS{Verify: true, CAPEM: string(serverCA.PEM()), CertPEM: string(client.CertPEM), KeyPEM: config.Secret(client.KeyPEM)}),
		tlsRoute("unverified", up, config.RouteUpstreamTLS{CertPEM: string(client.CertPEM), KeyPEM: config.Secret(client.KeyPEM)}),
		tlsRoute("nocert", up, config.RouteUpstreamTLS{Verify: true, CAFile: caFile}),
		tlsRoute("stranger", up, config.RouteUpstreamTLS{Verify: true, CAFile: caFile, CertPEM: string(stranger.CertPEM), KeyPEM: config.Secret(stranger.KeyPEM)}),
		tlsRoute("wrongca", up, config.RouteUpstreamTLS{Verify: true, CAFile: otherCAFile, CertFile: certFile, KeyFile: keyFile}),
		tlsRoute("systemroots", up, config.RouteUpstreamTLS{Verify: true, CertFile: certFile, KeyFile: keyFile}),
	)
	tests := []struct {
		route string
		code  int
		body  string
	}{
		{"files", 200, "hello weir-client over TLS 1.3"},
		{"inline", 200, "hello weir-client over TLS 1.3"},
		{"unverified", 200, "hello weir-client over TLS 1.3"},
		{"nocert", http.StatusBadGateway, ""},
		{"stranger", http.StatusBadGateway, ""},
		{"wrongca", http.StatusBadGateway, ""},
		{"systemroots", http.StatusBadGateway, ""},
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			r := get(t, f, tt.route+".test", "/")
			if r.code != tt.code || tt.body != "" && r.body != tt.body {
				t.Errorf("%d %q, want %d %q", r.code, r.body, tt.code, tt.body)
			}
		})
	}
}

func TestUpstreamTLSVersionsAndSuites(t *testing.T) {
	ca := httproutetest.NewCA(t, "ca")
	cert := ca.Issue(t, "127.0.0.1")
	only12 := tlsUpstream(t, cert, func(c *tls.Config) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	})
	base := config.RouteUpstreamTLS{Verify: true, CAPEM: string(ca.PEM())}
	with := func(f func(*config.RouteUpstreamTLS)) config.RouteUpstreamTLS {
		c := base
		f(&c)
		return c
	}
	f := serveRoutes(t,
		tlsRoute("default", only12, base),
		tlsRoute("pin13", only12, with(func(c *config.RouteUpstreamTLS) { c.MinVersion = config.TLSVersion13 })),
		tlsRoute("max12", only12, with(func(c *config.RouteUpstreamTLS) { c.MaxVersion = config.TLSVersion12 })),
		tlsRoute("samesuite", only12, with(func(c *config.RouteUpstreamTLS) {
			c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
		})),
		tlsRoute("othersuite", only12, with(func(c *config.RouteUpstreamTLS) {
			c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"}
		})),
	)
	for _, tt := range []struct {
		route string
		code  int
	}{{"default", 200}, {"pin13", 502}, {"max12", 200}, {"samesuite", 200}, {"othersuite", 502}} {
		t.Run(tt.route, func(t *testing.T) {
			r := get(t, f, tt.route+".test", "/")
			if r.code != tt.code {
				t.Errorf("%d %q, want %d", r.code, r.body, tt.code)
			}
			if tt.code == 200 && r.body != "hello anonymous over TLS 1.2" {
				t.Errorf("body %q, want TLS 1.2", r.body)
			}
		})
	}
}

func TestUpstreamTLSVerifyDepth(t *testing.T) {
	root := httproutetest.NewCA(t, "root")
	one := root.Intermediate(t, "intermediate-1")
	two := one.Intermediate(t, "intermediate-2")
	direct := tlsUpstream(t, root.Issue(t, "127.0.0.1"), nil)
	oneUp := tlsUpstream(t, one.Issue(t, "127.0.0.1"), nil)
	twoUp := tlsUpstream(t, two.Issue(t, "127.0.0.1"), nil)
	depth := func(d int) config.RouteUpstreamTLS {
		return config.RouteUpstreamTLS{Verify: true, CAPEM: string(root.PEM()), VerifyDepth: d}
	}
	f := serveRoutes(t,
		tlsRoute("direct-depth1", direct, depth(1)),
		tlsRoute("one-depth1", oneUp, depth(1)),
		tlsRoute("two-depth1", twoUp, depth(1)),
		tlsRoute("two-depth2", twoUp, depth(2)),
		tlsRoute("two-nodepth", twoUp, depth(0)),
	)
	for _, tt := range []struct {
		route string
		code  int
	}{{"direct-depth1", 200}, {"one-depth1", 200}, {"two-depth1", 502}, {"two-depth2", 200}, {"two-nodepth", 200}} {
		t.Run(tt.route, func(t *testing.T) {
			if r := get(t, f, tt.route+".test", "/"); r.code != tt.code {
				t.Errorf("%d %q, want %d", r.code, r.body, tt.code)
			}
		})
	}
}

func TestUpstreamTLSFileErrors(t *testing.T) {
	ca := httproutetest.NewCA(t, "ca")
	leaf := ca.Issue(t, "127.0.0.1")
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "garbage", []byte("not a certificate"))
	key := writeFile(t, dir, "tls.key", leaf.KeyPEM)
	for name, tc := range map[string]config.RouteUpstreamTLS{
		"missing ca file": {Verify: true, CAFile: filepath.Join(dir, "absent.crt")},
		"ca not pem":      {Verify: true, CAFile: notPEM},
		"cert not pem":    {CertFile: notPEM, KeyFile: key},
		"missing key":     {CertPEM: string(leaf.CertPEM), KeyFile: filepath.Join(dir, "absent.key")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New([]config.Route{{Name: "r", Upstream: config.RouteUpstream{Servers: []string{"127.0.0.1:1"}, Protocol: config.ProtocolHTTPS, TLS: tc}}})
			if err == nil {
				t.Fatal("New accepted an unusable TLS setting")
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(leaf.KeyPEM[30:60])) {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
}

// zeros is an endless (but bounded) request body.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	return n, nil
}

func TestUpstreamSendTimeout(t *testing.T) {
	// deaf accepts connections and never reads from them.
	deaf, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deaf.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := deaf.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	up := upstream(t, "reader", 0)
	tab, err := New(loadRoutes(t, fmt.Sprintf(`
  - {name: deaf, host: deaf.test, upstream: {servers: [%q], send_timeout: 200ms}}
  - {name: reader, host: reader.test, upstream: {servers: [%q], send_timeout: 200ms}}
`, deaf.Addr(), addr(up))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	h := tab.Handler(http.NotFoundHandler())
	post := func(host string, size int64) *httptest.ResponseRecorder {
		// 1 GiB cannot fit in the socket buffers, so the writes stall.
		req := httptest.NewRequest("POST", "http://"+host+"/upload", io.NopCloser(&zeros{left: size}))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); h.ServeHTTP(rec, req) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the request was not cut by the send timeout", host)
		}
		return rec
	}
	if rec := post("deaf.test", 1<<30); rec.Code != http.StatusGatewayTimeout {
		t.Errorf("upstream that stops reading: %d %q, want 504", rec.Code, rec.Body)
	}
	// An upstream that reads is not cut, however long the body takes.
	if rec := post("reader.test", 8<<20); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"body_len":8388608`) {
		t.Errorf("upstream that reads: %d %q", rec.Code, rec.Body)
	}
}

func TestRetryTimeout(t *testing.T) {
	var hits atomic.Int64
	slowFail := func() string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(http.StatusBadGateway)
		}))
		t.Cleanup(s.Close)
		return addr(s)
	}
	a, b, c := slowFail(), slowFail(), slowFail()
	f := front(t, fmt.Sprintf(`
  - {name: bounded, host: bounded.test, upstream: {servers: [%[1]q, %[2]q, %[3]q], retry: {on: ["502"], timeout: 100ms}}}
  - {name: roomy, host: roomy.test, upstream: {servers: [%[1]q, %[2]q, %[3]q], retry: {on: ["502"], timeout: 1h}}}
`, a, b, c), Options{})
	for _, tt := range []struct {
		host string
		hits int64
	}{
		// Each attempt takes 300ms, longer than the 100ms during which
		// another server may be tried: one attempt only.
		{"bounded.test", 1},
		{"roomy.test", 3},
	} {
		t.Run(tt.host, func(t *testing.T) {
			hits.Store(0)
			if r := get(t, f, tt.host, "/"); r.code != http.StatusBadGateway {
				t.Errorf("status %d, want the upstream's 502", r.code)
			}
			if n := hits.Load(); n != tt.hits {
				t.Errorf("%d attempts, want %d", n, tt.hits)
			}
		})
	}
}

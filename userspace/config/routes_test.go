package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weir-gateway/weir/userspace/httproute/httproutetest"
)

func TestRoutes(t *testing.T) {
	const head = "version: 1\nroutes:\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "full route", src: head + `
  - name: shop
    host: "*.example.com"
    path: "/api/(.*)"
    path_type: regex
    rewrite: "/$1"
    app_root: /app
    https_redirect: true
    max_body_bytes: 1048576
    allow_sources: ["10.0.0.0/8"]
    deny_sources: ["10.1.0.0/16"]
    cors: {allow_origins: ["https://a.example"], allow_credentials: true, max_age: 1h}
    upstream:
      servers: ["10.0.0.1:8080", "svc.ns.svc.cluster.local:80"]
      protocol: h2c
      balance: hash
      hash_by: "$remote_addr$http_x_user"
      affinity: {cookie: route, samesite: lax, max_age: 1h}
      host_header: internal.example
      keepalive: 8
      connect_timeout: 2s
      read_timeout: 30s
      retry: {on: [error, timeout, "502"], tries: 2}
      tls: {verify: true, server_name: a.example}
    canary:
      header: X-Canary
      cookie: canary
      weight: 10
      upstream: {servers: ["10.0.0.9:8080"]}
    error_pages: {codes: [404, 503], upstream: {servers: ["errors.ns.svc:80"]}}
    limits: {requests_per_second: 10, requests_per_minute: 100, burst_multiplier: 3, connections: 5, exempt: ["10.0.0.0/8"]}
    auth: {url: "https://auth.example/check?h=$host", method: GET, signin: "https://login.example/start?rd=$escaped_request_uri", response_headers: [X-User], timeout: 2s}
  - name: moved
    redirect: {url: "https://new.example/", code: 301}
`},
		{name: "bad limits and auth", src: head + `
  - name: a
    upstream: {servers: [":1"]}
    limits: {requests_per_second: -1, connections: -2, exempt: [nope]}
    auth: {url: "ftp://x", method: PUT, signin: "x", response_headers: ["a b"], timeout: -1s, request_redirect: "a\r\nb"}
  - name: b
    path: /b
    upstream: {servers: [":1"]}
    error_pages: {codes: [200], upstream: {}}
  - name: c
    path: /c
    upstream: {servers: [":1"]}
    error_pages: {upstream: {servers: [":1"]}}
`, want: []string{
			`routes[0].limits.requests_per_second: must be 0 or more, got -1`,
			`routes[0].limits.connections: must be 0 or more, got -2`,
			`routes[0].limits.exempt[0]: "nope" is not a CIDR (e.g. "10.0.0.0/8", "fd00::/8")`,
			`routes[0].auth.url: "ftp://x" is not an http or https URL`,
			`routes[0].auth.method: "PUT" is not one of "GET", "HEAD", "POST", "OPTIONS"`,
			`routes[0].auth.signin: "x" is not a URL or a path`,
			`routes[0].auth.response_headers[0]: "a b" is not a valid header name`,
			`routes[0].auth.timeout: must be 0 (default) or more, got -1s`,
			`routes[0].auth.request_redirect: "a\r\nb" has control characters`,
			`routes[1].error_pages.codes[0]: 200 is not a status code from 300 to 599`,
			`routes[1].error_pages.upstream.servers: at least one server (host:port) is required`,
			`routes[2].error_pages.codes: at least one status code is required`,
		}},
		{name: "bad values", src: head + `
  - name: "a b"
    host: "bad host"
    path: "nope"
    path_type: glob
    rewrite: "x"
    app_root: "y"
    max_body_bytes: -1
    allow_sources: ["10.0.0.1"]
    cors: {allow_origins: ["example.com"]}
    upstream:
      servers: ["nohost"]
      protocol: ftp
      balance: random
      hash_by: "$x"
      keepalive: -1
      retry: {on: [sometimes], tries: -1}
    canary: {weight: 101, header_pattern: "(", upstream: {}}
`, want: []string{
			`routes[0].name: "a b" may only contain letters, digits, '-', '_' and '.'`,
			`routes[0].host: "bad host" is not a host name or *.wildcard`,
			`routes[0].path: "nope" must start with /`,
			`routes[0].path_type: "glob" is not one of "exact", "prefix", "string_prefix", "regex"`,
			`routes[0].rewrite: "x" must start with / or be an absolute URL`,
			`routes[0].app_root: "y" must start with /`,
			`routes[0].max_body_bytes: must be 0 (no limit) or more, got -1`,
			`routes[0].allow_sources[0]: "10.0.0.1" is an address, not a CIDR (did you mean "10.0.0.1/32"?)`,
			`routes[0].cors.allow_origins[0]: "example.com" is not "*" or an origin such as "https://example.com"`,
			`routes[0].upstream.servers[0]: "nohost" is not host:port (e.g. ":8080", "127.0.0.1:8080", "[::1]:8080")`,
			`routes[0].upstream.protocol: "ftp" is not one of "http", "https", "h2c", "h2"`,
			`routes[0].upstream.balance: "random" is not one of "round_robin", "ewma", "hash"`,
			`routes[0].upstream.hash_by: needs balance: hash`,
			`routes[0].upstream.keepalive: must be 0 or more, got -1`,
			`routes[0].upstream.retry.on[0]: "sometimes" is not error, timeout or a status code from 500 to 599 (or 403, 404, 429)`,
			`routes[0].upstream.retry.tries: must be 0 or more, got -1`,
			`routes[0].canary.weight: must be from 0 to weight_total (default 100), got 101 of 0`,
			`routes[0].canary.header_pattern: "(" is not a valid regular expression`,
			`routes[0].canary.upstream.servers: at least one server (host:port) is required`,
		}},
		{name: "regex and hash", src: head + `
  - {name: a, path: "/(", path_type: regex, upstream: {servers: [":1"], balance: hash}}
  - {name: a, path: /x, upstream: {servers: [":1"], hash_by: "$remote_addr"}}
  - {name: c, path: /x, path_type: prefix, upstream: {servers: [":1"]}}
  - {name: b, redirect: {url: "", code: 200}}
`, want: []string{
			`routes[0].path: "/(" is not a valid regular expression`,
			`routes[0].upstream.hash_by: is required with balance hash`,
			`routes[1].name: duplicate route name "a" (also routes[0])`,
			`routes[1].upstream.hash_by: needs balance: hash`,
			`routes[2].path: host "" path "/x" (prefix) is already routed by routes[1]`,
			`routes[3].redirect.url: is required (a URL without line breaks)`,
			`routes[3].redirect.code: 200 is not one of 301, 302, 303, 307, 308`,
		}},
		{name: "unknown key", src: head + "  - {name: a, upstream: {servers: [\":1\"]}, paths: [/]}\n",
			want: []string{`routes[0].paths: unknown key (did you mean "path"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src, envMap(nil))
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestHashByVars(t *testing.T) {
	for s, want := range map[string]bool{
		"$remote_addr": true, "$request_uri$host": true, "$http_x_user": true, "$cookie_sid": true,
		"$arg_id": true, "user-$uri": true, "$binary_remote_addr": false, "$": false, "$http_": false,
	} {
		if got := HashByVars(s); got != want {
			t.Errorf("HashByVars(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidateRoutes(t *testing.T) {
	ok := Route{Name: "a", Upstream: RouteUpstream{Servers: []string{"10.0.0.1:80"}}}
	bad := Route{Name: "b", Path: "x", Upstream: RouteUpstream{Servers: []string{"10.0.0.1:80"}}}
	if p := ValidateRoutes([]Route{ok}); len(p) != 0 {
		t.Errorf("valid route: %v", p)
	}
	p := ValidateRoutes([]Route{ok, bad})
	if len(p) != 1 || p[0].Path != "routes[1].path" {
		t.Errorf("problems %v, want one at routes[1].path", p)
	}
}

func TestRouteUpstreamTLS(t *testing.T) {
	ca := httproutetest.NewCA(t, "ca")
	leaf, other := ca.Issue(t, "client"), ca.Issue(t, "other")
	route := func(tc RouteUpstreamTLS) []Route {
		return []Route{{Name: "r", Upstream: RouteUpstream{Servers: []string{"10.0.0.1:443"}, Protocol: ProtocolHTTPS, TLS: tc}}}
	}
	const p = "routes[0].upstream.tls."
	tests := []struct {
		name string
		tc   RouteUpstreamTLS
		want []string
	}{
		{"files", RouteUpstreamTLS{Verify: true, CAFile: "/ca.crt", CertFile: "/tls.crt", KeyFile: "/tls.key", MinVersion: "1.2", MaxVersion: "1.3",
			CipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, VerifyDepth: 2}, nil},
		{"inline", RouteUpstreamTLS{Verify: true, CAPEM: string(ca.PEM()), CertPEM: string(leaf.CertPEM), KeyPEM: Secret(leaf.KeyPEM)}, nil},
		{"both forms", RouteUpstreamTLS{Verify: true, CAFile: "/ca", CAPEM: string(ca.PEM()), CertFile: "/c", CertPEM: string(leaf.CertPEM), KeyFile: "/k", KeyPEM: Secret(leaf.KeyPEM)}, []string{
			p + "ca_pem: set ca_file or ca_pem, not both",
			p + "cert_pem: set cert_file or cert_pem, not both",
			p + "key_pem: set key_file or key_pem, not both",
		}},
		{"ca without verify", RouteUpstreamTLS{CAFile: "/ca", VerifyDepth: -1}, []string{
			p + "verify: must be true with a CA (ca_file or ca_pem): without it the upstream's certificate is not checked",
			p + "verify_depth: needs verify: true",
			p + "verify_depth: must be 0 (no bound) or more, got -1",
		}},
		{"half pairs", RouteUpstreamTLS{CertFile: "/c"}, []string{p + "key_file: is required with a client certificate (key_file or key_pem)"}},
		{"key only", RouteUpstreamTLS{KeyPEM: Secret(leaf.KeyPEM)}, []string{p + "cert_file: is required with a client key (cert_file or cert_pem)"}},
		{"bad pem", RouteUpstreamTLS{Verify: true, CAPEM: "nope", CertPEM: string(leaf.CertPEM), KeyPEM: Secret(other.KeyPEM)}, []string{
			p + "ca_pem: holds no PEM certificate",
			p + "cert_pem: with key_pem is not a usable certificate and key: tls: private key does not match public key",
		}},
		{"versions and suites", RouteUpstreamTLS{MinVersion: "1.3", MaxVersion: "1.2", CipherSuites: []string{"TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_RSA_WITH_RC4_128_SHA"}}, []string{
			p + "max_version: 1.2 is below min_version 1.3",
			p + `cipher_suites[0]: "TLS_AES_128_GCM_SHA256" is a TLS 1.3 suite; Go does not let them be configured (leave it out)`,
			p + `cipher_suites[1]: "ECDHE-RSA-AES128-GCM-SHA256" is not a TLS 1.2 cipher suite Go offers (IANA names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`,
			p + `cipher_suites[2]: "TLS_RSA_WITH_RC4_128_SHA" is not a TLS 1.2 cipher suite Go offers (IANA names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`,
			p + "cipher_suites: has no effect with min_version 1.3",
		}},
		{"old versions", RouteUpstreamTLS{MinVersion: "1.0", MaxVersion: "TLSv1.3"}, []string{
			p + `min_version: "1.0" is not one of "1.2", "1.3" (weir does not speak TLS 1.0, 1.1 or SSL to upstreams)`,
			p + `max_version: "TLSv1.3" is not one of "1.2", "1.3" (weir does not speak TLS 1.0, 1.1 or SSL to upstreams)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, pr := range ValidateRoutes(route(tt.tc)) {
				got = append(got, pr.String())
				if strings.Contains(pr.String(), "PRIVATE KEY") {
					t.Errorf("problem shows the key: %s", pr)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestRouteTimeouts(t *testing.T) {
	got := problemsOf(t, "version: 1\nroutes:\n  - {name: a, upstream: {servers: [\":1\"], send_timeout: -1s, retry: {on: [error], timeout: -2s}}}\n", envMap(nil))
	want := []string{
		"routes[0].upstream.send_timeout: must be 0 (no bound) or more, got -1s",
		"routes[0].upstream.retry.timeout: must be 0 (no bound) or more, got -2s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%q\nwant:\n%q", got, want)
	}
}

func TestRouteKeyRedacted(t *testing.T) {
	leaf := httproutetest.NewCA(t, "ca").Issue(t, "client")
	c, err := LoadWith([]byte("version: 1\nroutes:\n  - {name: a, upstream: {servers: [\"127.0.0.1:1\"], protocol: https, tls: {cert_pem: \"${CERT}\", key_pem: \"${KEY}\"}}}\n"),
		envMap(map[string]string{"CERT": string(leaf.CertPEM), "KEY": string(leaf.KeyPEM)}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Upstream.TLS.KeyPEM.Value(); got != string(leaf.KeyPEM) {
		t.Fatalf("key_pem not loaded: %q", got)
	}
	red, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"/config": string(red), "%+v": fmt.Sprintf("%+v", c.Routes[0]), "%#v": fmt.Sprintf("%#v", c.Routes[0])} {
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("%s shows the private key", name)
		}
		if !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Errorf("%s lost the certificate (it is not secret)", name)
		}
	}
}

package config

import (
	"slices"
	"testing"
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
    auth: {url: "ftp://x", method: PUT, signin: "x", response_headers: ["a b"], timeout: -1s}
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

package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sections are the top-level keys of a test document, in output order.
var sections = []string{"version", "listeners", "admin", "server", "log", "retry", "providers", "models", "tenants", "ratelimit", "dataplane"}

// doc renders a configuration from a valid base with some top-level
// sections replaced (flow-style YAML values); "" removes a section.
func doc(over map[string]string) string {
	base := map[string]string{
		"version":   "1",
		"providers": `[{name: p, type: openai, base_url: "http://127.0.0.1:9/v1"}]`,
		"models":    `[{name: m, targets: [{provider: p}]}]`,
	}
	for k, v := range over {
		base[k] = v
	}
	var b strings.Builder
	for _, k := range sections {
		if v, ok := base[k]; ok && v != "" {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	for k := range over {
		if !slices.Contains(sections, k) {
			panic("doc: unknown section " + k)
		}
	}
	return b.String()
}

func envMap(m map[string]string) Options {
	return Options{LookupEnv: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

// problemsOf loads src and returns its problems as "path: message" (no line).
func problemsOf(t *testing.T, src string, opts Options) []string {
	t.Helper()
	_, err := LoadWith([]byte(src), opts)
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, not *ValidationError: %v", err, err)
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = Problem{Path: p.Path, Message: p.Message}.String()
	}
	return out
}

func digestHex(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

func TestValidation(t *testing.T) {
	env := envMap(map[string]string{"TEAM_A_KEY": "key-a", "TEAM_B_KEY": "key-b", "EMPTY": "", "SAME_AS_A": "key-a"})
	sha := digestHex("key-c")
	tests := []struct {
		name string
		over map[string]string
		want []string
	}{
		{"base is valid", nil, nil},

		// version
		{"version missing", map[string]string{"version": ""}, []string{"version: is required and must be 1"}},
		{"version 2", map[string]string{"version": "2"}, []string{"version: unsupported version 2 (must be 1)"}},

		// listeners
		{"listener ok", map[string]string{"listeners": `[{name: a, address: ":8080"}, {name: b, address: "[::1]:8443", tls: {cert_file: c.pem, key_file: k.pem}, http3: true}]`}, nil},
		{"listener name empty", map[string]string{"listeners": `[{address: ":80"}]`}, []string{"listeners[0].name: is required"}},
		{"listener name charset", map[string]string{"listeners": `[{name: "a b", address: ":80"}]`}, []string{`listeners[0].name: "a b" may only contain letters, digits, '-', '_' and '.'`}},
		{"listener name duplicate", map[string]string{"listeners": `[{name: a, address: ":80"}, {name: a, address: ":81"}]`}, []string{`listeners[1].name: duplicate listener name "a" (also listeners[0])`}},
		{"listener address missing", map[string]string{"listeners": `[{name: a}]`}, []string{`listeners[0].address: is required (host:port, e.g. ":8080")`}},
		{"listener address no port", map[string]string{"listeners": `[{name: a, address: "8080"}]`}, []string{`listeners[0].address: "8080" is not host:port (e.g. ":8080", "127.0.0.1:8080", "[::1]:8080")`}},
		{"listener port not numeric", map[string]string{"listeners": `[{name: a, address: ":http"}]`}, []string{`listeners[0].address: ":http": port "http" is not a number from 0 to 65535`}},
		{"listener port too big", map[string]string{"listeners": `[{name: a, address: ":70000"}]`}, []string{`listeners[0].address: ":70000": port "70000" is not a number from 0 to 65535`}},
		{"listener bad host", map[string]string{"listeners": `[{name: a, address: "bad host:80"}]`}, []string{`listeners[0].address: "bad host:80": "bad host" is not an IP address or host name`}},
		{"listener address duplicate", map[string]string{"listeners": `[{name: a, address: ":80"}, {name: b, address: ":80"}]`}, []string{`listeners[1].address: ":80" is also used by listeners[0].address`}},
		{"listener address same as admin", map[string]string{"listeners": `[{name: a, address: "127.0.0.1:9901"}]`}, []string{`listeners[0].address: "127.0.0.1:9901" is also used by admin.address`}},
		{"port 0 may repeat", map[string]string{"listeners": `[{name: a, address: "127.0.0.1:0"}, {name: b, address: "127.0.0.1:0"}]`, "admin": `{address: "127.0.0.1:0"}`}, nil},
		{"tls both", map[string]string{"listeners": `[{name: a, address: ":443", tls: {cert_file: c, key_file: k, self_signed: true}}]`}, []string{"listeners[0].tls: set either cert_file and key_file or self_signed, not both"}},
		{"tls neither", map[string]string{"listeners": `[{name: a, address: ":443", tls: {}}]`}, []string{"listeners[0].tls: needs cert_file and key_file, or self_signed: true"}},
		{"tls cert only", map[string]string{"listeners": `[{name: a, address: ":443", tls: {cert_file: c}}]`}, []string{"listeners[0].tls.key_file: is required with cert_file"}},
		{"tls key only", map[string]string{"listeners": `[{name: a, address: ":443", tls: {key_file: k}}]`}, []string{"listeners[0].tls.cert_file: is required with key_file"}},
		{"http3 without tls", map[string]string{"listeners": `[{name: a, address: ":443", http3: true}]`}, []string{"listeners[0].http3: needs tls (HTTP/3 is always encrypted)"}},
		{"http3 workers out of range", map[string]string{"listeners": `[{name: a, address: ":443", tls: {self_signed: true}, http3: true, http3_workers: 65}]`}, []string{"listeners[0].http3_workers: must be between 0 (GOMAXPROCS) and 64, got 65"}},

		// admin, server, log, retry
		{"admin address", map[string]string{"admin": `{address: "localhost"}`}, []string{`admin.address: "localhost" is not host:port (e.g. ":8080", "127.0.0.1:8080", "[::1]:8080")`}},
		{"max body negative", map[string]string{"server": `{max_body_bytes: -1}`}, []string{"server.max_body_bytes: must be positive, got -1"}},
		{"server duration negative", map[string]string{"server": `{idle_timeout: -1s, shutdown_timeout: -2s}`}, []string{"server.idle_timeout: must be positive, got -1s", "server.shutdown_timeout: must be positive, got -2s"}},
		{"log level", map[string]string{"log": `{level: verbose}`}, []string{`log.level: "verbose" is not one of "debug", "info", "warn", "error"`}},
		{"max attempts", map[string]string{"retry": `{max_attempts: -1}`}, []string{"retry.max_attempts: must be at least 1, got -1"}},
		{"max backoff below backoff", map[string]string{"retry": `{backoff: 2s, max_backoff: 1s}`}, []string{"retry.max_backoff: 1s is less than retry.backoff 2s"}},
		{"failure threshold", map[string]string{"retry": `{failure_threshold: -3, deadline: -1m}`}, []string{"retry.failure_threshold: must be at least 1, got -3", "retry.deadline: must be positive, got -1m0s"}},

		// providers
		{"provider types", map[string]string{"providers": `[{name: o, type: offline}, {name: a, type: anthropic}, {name: g, type: gemini}, {name: p, type: openai, base_url: "https://x.example/v1"}]`}, nil},
		{"provider name duplicate", map[string]string{"providers": `[{name: p, type: offline}, {name: p, type: offline}]`}, []string{`providers[1].name: duplicate provider name "p" (also providers[0])`}},
		{"provider name missing", map[string]string{"providers": `[{name: p, type: offline}, {type: offline}]`}, []string{"providers[1].name: is required"}},
		{"provider type unknown", map[string]string{"providers": `[{name: p, type: bedrock, base_url: "https://x"}]`}, []string{`providers[0].type: unknown provider type "bedrock" (one of "openai", "anthropic", "gemini", "offline")`}},
		{"provider type missing", map[string]string{"providers": `[{name: p, base_url: "https://x"}]`}, []string{`providers[0].type: is required (one of "openai", "anthropic", "gemini", "offline")`}},
		{"base url missing", map[string]string{"providers": `[{name: p, type: openai}]`}, []string{`providers[0].base_url: is required (e.g. "https://api.openai.com/v1", "http://127.0.0.1:11434/v1")`}},
		{"base url relative", map[string]string{"providers": `[{name: p, type: openai, base_url: "/v1"}]`}, []string{`providers[0].base_url: "/v1" must start with http:// or https://`}},
		{"base url scheme", map[string]string{"providers": `[{name: p, type: openai, base_url: "ftp://x/v1"}]`}, []string{`providers[0].base_url: "ftp://x/v1" must start with http:// or https://`}},
		{"base url no host", map[string]string{"providers": `[{name: p, type: openai, base_url: "http:///v1"}]`}, []string{`providers[0].base_url: "http:///v1" has no host`}},
		{"base url credentials", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://user:hunter2@x/v1"}]`}, []string{"providers[0].base_url: must not contain a user or password (use api_key or headers)"}},
		{"base url query", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x/v1?api-version=1"}]`}, []string{`providers[0].base_url: "https://x/v1?api-version=1" must not contain a query or fragment (use api_version for ?api-version=)`}},
		{"key and key file", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", api_key: k, api_key_file: /nonexistent}]`}, []string{"providers[0].api_key_file: set either api_key or api_key_file, not both"}},
		{"auth header unknown", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", auth_header: x-token}]`}, []string{`providers[0].auth_header: "x-token" is not one of "authorization", "api-key", "x-api-key", "x-goog-api-key"`}},
		{"auth header case", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", auth_header: Api-Key}]`}, nil},
		{"header name invalid", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", headers: {"bad header": v}}]`}, []string{`providers[0].headers["bad header"]: "bad header" is not a valid header name`}},
		{"header value newline", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", headers: {x-a: "v\r\nx-b: w"}}]`}, []string{"providers[0].headers.x-a: value contains a line break or control character"}},
		{"api key newline", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", api_key: "k\nx"}]`}, []string{"providers[0].api_key: contains a line break or control character"}},
		{"provider timeout negative", map[string]string{"providers": `[{name: p, type: openai, base_url: "https://x", timeouts: {connect: -1s}}]`}, []string{"providers[0].timeouts.connect: must be positive, got -1s"}},

		// models
		{"model name missing", map[string]string{"models": `[{targets: [{provider: p}]}]`}, []string{"models[0].name: is required"}},
		{"model bad glob", map[string]string{"models": `[{name: "gpt-[", targets: [{provider: p}]}]`}, []string{`models[0].name: "gpt-[" is not a valid pattern (use *, ? and [a-z] as in path.Match)`}},
		{"model no targets", map[string]string{"models": `[{name: m}]`}, []string{"models[0].targets: at least one target is required"}},
		{"target unknown provider", map[string]string{"models": `[{name: m, targets: [{provider: p}]}, {name: n, targets: [{provider: p}]}, {name: o, targets: [{provider: x}]}]`}, []string{`models[2].targets[0].provider: unknown provider "x"`}},
		{"target provider missing", map[string]string{"models": `[{name: m, targets: [{model: x}]}]`}, []string{"models[0].targets[0].provider: is required"}},
		{"target weight negative", map[string]string{"models": `[{name: m, targets: [{provider: p, weight: -1}, {provider: p}]}]`}, []string{"models[0].targets[0].weight: must be 0 or more, got -1"}},
		{"target priority negative", map[string]string{"models": `[{name: m, targets: [{provider: p, priority: -1}]}]`}, []string{"models[0].targets[0].priority: must be 0 or more, got -1"}},
		{"group without weight", map[string]string{"models": `[{name: m, targets: [{provider: p}, {provider: p, priority: 1, weight: 0}]}]`}, []string{"models[0].targets: priority 1 has no target with weight > 0"}},
		{"weight 0 beside a weighted target", map[string]string{"models": `[{name: m, targets: [{provider: p, weight: 0}, {provider: p}]}]`}, nil},
		{"duplicate model", map[string]string{"models": `[{name: m, targets: [{provider: p}]}, {name: m, targets: [{provider: p}]}]`}, []string{`models[1].name: duplicate model "m" with the same match_headers as models[0]`}},
		{"duplicate model headers differ in case only", map[string]string{"models": `[{name: m, match_headers: {X-Route: a}, targets: [{provider: p}]}, {name: m, match_headers: {x-route: a}, targets: [{provider: p}]}]`}, []string{`models[1].name: duplicate model "m" with the same match_headers as models[0]`}},
		{"same model other headers", map[string]string{"models": `[{name: m, targets: [{provider: p}]}, {name: m, match_headers: {x-route: canary}, targets: [{provider: p}]}]`}, nil},
		{"match header name invalid", map[string]string{"models": `[{name: m, match_headers: {"x:y": a}, targets: [{provider: p}]}]`}, []string{`models[0].match_headers["x:y"]: "x:y" is not a valid header name`}},

		// tenants
		{"tenant ok", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}, {sha256: "` + sha + `"}], models: ["m", "gpt-*"], sources: ["10.0.0.0/8", "fd00::/8"], model_limits: {"gpt-*": {tokens_per_minute: 5}}}]`}, nil},
		{"tenant sources only", map[string]string{"tenants": `[{name: a, sources: ["10.0.0.0/8"]}]`}, nil},
		{"tenant name missing", map[string]string{"tenants": `[{keys: [{env: TEAM_A_KEY}]}]`}, []string{"tenants[0].name: is required"}},
		{"tenant name duplicate", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}]}, {name: a, keys: [{env: TEAM_B_KEY}]}]`}, []string{`tenants[1].name: duplicate tenant name "a" (also tenants[0])`}},
		{"tenant without keys or sources", map[string]string{"tenants": `[{name: a}]`}, []string{"tenants[0]: needs at least one key or source"}},
		{"key both", map[string]string{"tenants": `[{name: a, keys: [{sha256: "` + sha + `", env: TEAM_A_KEY}]}]`}, []string{"tenants[0].keys[0]: set either sha256 or env, not both"}},
		{"key neither", map[string]string{"tenants": `[{name: a, keys: [{}]}]`}, []string{"tenants[0].keys[0]: needs sha256 or env"}},
		{"key sha256 short", map[string]string{"tenants": `[{name: a, keys: [{sha256: abc}]}]`}, []string{"tenants[0].keys[0].sha256: must be 64 hex characters (the SHA-256 of the key, e.g. from `printf %s KEY | sha256sum`)"}},
		{"key sha256 not hex", map[string]string{"tenants": `[{name: a, keys: [{sha256: "` + strings.Repeat("g", 64) + `"}]}]`}, []string{"tenants[0].keys[0].sha256: must be 64 hex characters (the SHA-256 of the key, e.g. from `printf %s KEY | sha256sum`)"}},
		{"key env bad name", map[string]string{"tenants": `[{name: a, keys: [{env: "1A"}]}]`}, []string{`tenants[0].keys[0].env: "1A" is not an environment variable name`}},
		{"key env unset", map[string]string{"tenants": `[{name: a, keys: [{env: NOPE}]}]`}, []string{"tenants[0].keys[0].env: environment variable NOPE is not set"}},
		{"key env empty", map[string]string{"tenants": `[{name: a, keys: [{env: EMPTY}]}]`}, []string{"tenants[0].keys[0].env: environment variable EMPTY is empty"}},
		{"same key in two tenants", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}]}, {name: b, keys: [{sha256: "` + digestHex("key-a") + `"}]}]`}, []string{"tenants[1].keys[0]: is the same key as tenants[0].keys[0]"}},
		{"same key twice", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}, {env: SAME_AS_A}]}]`}, []string{"tenants[0].keys[1]: is the same key as tenants[0].keys[0]"}},
		{"tenant model glob", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}], models: ["[x", ""]}]`}, []string{`tenants[0].models[0]: "[x" is not a valid pattern (use *, ? and [a-z] as in path.Match)`, "tenants[0].models[1]: is required"}},
		{"tenant limits negative", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}], limits: {requests_per_minute: -1, concurrent_requests: -2}}]`}, []string{"tenants[0].limits.requests_per_minute: must be 0 (unlimited) or more, got -1", "tenants[0].limits.concurrent_requests: must be 0 (unlimited) or more, got -2"}},
		{"model limits", map[string]string{"tenants": `[{name: a, keys: [{env: TEAM_A_KEY}], model_limits: {"[": {tokens_per_day: 1}, "g*": {tokens_per_day: -1}}}]`}, []string{`tenants[0].model_limits["["]: "[" is not a valid pattern (use *, ? and [a-z] as in path.Match)`, `tenants[0].model_limits["g*"].tokens_per_day: must be 0 (unlimited) or more, got -1`}},
		{"source not cidr", map[string]string{"tenants": `[{name: a, sources: ["10.0.0.0/33", "10.0.0.1", "::1", "10.1.0.0/8"]}]`}, []string{
			`tenants[0].sources[0]: "10.0.0.0/33" is not a CIDR (e.g. "10.0.0.0/8", "fd00::/8")`,
			`tenants[0].sources[1]: "10.0.0.1" is an address, not a CIDR (did you mean "10.0.0.1/32"?)`,
			`tenants[0].sources[2]: "::1" is an address, not a CIDR (did you mean "::1/128"?)`,
			`tenants[0].sources[3]: "10.1.0.0/8" has bits set past the prefix length (did you mean "10.0.0.0/8"?)`,
		}},
		{"source in two tenants", map[string]string{"tenants": `[{name: a, sources: ["10.0.0.0/8"]}, {name: b, sources: ["fd00::/8", "10.0.0.0/8"]}]`}, []string{"tenants[1].sources[1]: 10.0.0.0/8 is also claimed by tenants[0].sources[0]"}},

		// ratelimit
		{"redis ok", map[string]string{"ratelimit": `{backend: redis, redis: {address: "127.0.0.1:6379", db: 2}, on_redis_error: deny, kernel_block_after: 3}`}, nil},
		{"backend unknown", map[string]string{"ratelimit": `{backend: memcached}`}, []string{`ratelimit.backend: "memcached" is not one of "local", "redis"`}},
		{"redis address missing", map[string]string{"ratelimit": `{backend: redis}`}, []string{`ratelimit.redis.address: is required (host:port, e.g. ":8080")`}},
		{"on redis error", map[string]string{"ratelimit": `{on_redis_error: retry}`}, []string{`ratelimit.on_redis_error: "retry" is not one of "allow", "deny"`}},
		{"kernel block after negative", map[string]string{"ratelimit": `{kernel_block_after: -1, redis: {db: -1}}`}, []string{"ratelimit.kernel_block_after: must be 0 (off) or more, got -1", "ratelimit.redis.db: must be 0 or more, got -1"}},

		// dataplane
		{"dataplane ok", map[string]string{"dataplane": `{mode: "on", guard: {hook: xdp, interfaces: [eth0, lo], deny: ["192.0.2.0/24", "2001:db8::/32"]}}`}, nil},
		{"dataplane mode", map[string]string{"dataplane": `{mode: yes}`}, []string{`dataplane.mode: "yes" is not one of "auto", "on", "off"`}},
		{"guard hook", map[string]string{"dataplane": `{guard: {hook: kprobe}}`}, []string{`dataplane.guard.hook: "kprobe" is not one of "tc", "xdp"`}},
		{"guard interfaces", map[string]string{"dataplane": `{guard: {interfaces: ["", "averyverylongname0", "eth0", "eth0", "a/b"]}}`}, []string{
			"dataplane.guard.interfaces[0]: is empty",
			`dataplane.guard.interfaces[1]: "averyverylongname0" is longer than 15 characters, the Linux limit`,
			`dataplane.guard.interfaces[3]: duplicate interface "eth0" (also dataplane.guard.interfaces[2])`,
			`dataplane.guard.interfaces[4]: "a/b" is not a valid interface name`,
		}},
		{"guard deny", map[string]string{"dataplane": `{guard: {deny: ["nope"]}}`}, []string{`dataplane.guard.deny[0]: "nope" is not a CIDR (e.g. "10.0.0.0/8", "fd00::/8")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, doc(tt.over), env)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\ngot  %q\nwant %q", doc(tt.over), got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown top-level key", "version: 1\nlisteners_: []\n", []string{`listeners_: unknown key (did you mean "listeners"?)`}},
		{"unknown nested key", "version: 1\nlisteners: [{name: a, adress: \":80\"}]\n", []string{
			`listeners[0].address: is required (host:port, e.g. ":8080")`,
			`listeners[0].adress: unknown key (did you mean "address"?)`}},
		{"unknown key far from all", "version: 1\nretry: {zzzzzzzz: 1}\n", []string{"retry.zzzzzzzz: unknown key"}},
		{"string for int", "version: 1\nserver: {max_body_bytes: big}\n", []string{`server.max_body_bytes: expected an integer, got "big"`}},
		{"float for int", "version: 1\nretry: {max_attempts: 1.5}\n", []string{`retry.max_attempts: expected an integer, got "1.5"`}},
		{"list for string", "version: 1\nlog: {level: [a]}\n", []string{"log.level: expected a string, got a list"}},
		{"scalar for list", "version: 1\nlisteners: public\n", []string{`listeners: expected a list, got the value "public"`}},
		{"scalar for mapping", "version: 1\nadmin: x\n", []string{`admin: expected a mapping, got the value "x"`}},
		{"bad duration", "version: 1\nretry: {deadline: 10}\n", []string{`retry.deadline: invalid duration "10" (write a number with a unit, e.g. "30s", "250ms", "10m")`}},
		{"bad bool", "version: 1\nlisteners: [{name: a, address: \":1\", http3: yes}]\n", []string{`listeners[0].http3: expected true or false, got "yes"`}},
		{"negative uint", "version: 1\ndataplane: {guard: {default: {packets_per_second: -5}}}\n", []string{`dataplane.guard.default.packets_per_second: expected a non-negative integer, got "-5"`}},
		{"int overflow", "version: 1\nserver: {max_body_bytes: 99999999999999999999}\n", []string{`server.max_body_bytes: expected an integer, got "99999999999999999999"`}},
		{"duplicate key", "version: 1\nlog: {level: info}\nlog: {level: warn}\n", []string{"log: duplicate key (first on line 2)"}},
		{"syntax error", "version: 1\nlisteners: [\n", []string{"invalid YAML: did not find expected node content"}},
		{"tab indentation", "version: 1\nlog:\n\tlevel: info\n", []string{"invalid YAML: found character that cannot start any token"}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{`invalid YAML: more than one document (remove the "---" separator)`}},
		{"not a mapping", "- a\n- b\n", []string{"expected a mapping, got a list"}},
		{"empty", "", []string{"version: is required and must be 1"}},
		{"comments only", "# nothing\n", []string{"version: is required and must be 1"}},
		{"non-string key", "version: 1\n[a]: b\n", []string{"mapping keys must be strings, got a list"}},
		{"bad merge", "version: 1\nlog: {<<: 5}\n", []string{`log: merge key (<<) needs a mapping or a list of mappings, got the value "5"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src, envMap(nil))
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\ngot  %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestProblemLines(t *testing.T) {
	src := `version: 1
providers:
  - name: p
    type: openai
    base_url: http://127.0.0.1:1/v1
models:
  - name: m
    targets:
      - provider: x
        weight: heavy
tenants:
  - name: t
`
	_, err := LoadWith([]byte(src), envMap(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	want := []Problem{
		{Path: "models[0].targets[0].provider", Message: `unknown provider "x"`, Line: 9},
		{Path: "models[0].targets[0].weight", Message: `expected an integer, got "heavy"`, Line: 10},
		{Path: "tenants[0]", Message: "needs at least one key or source", Line: 12},
	}
	if !slices.Equal(ve.Problems, want) {
		t.Errorf("got  %+v\nwant %+v", ve.Problems, want)
	}
	wantErr := `models[0].targets[0].provider: unknown provider "x" (line 9)
models[0].targets[0].weight: expected an integer, got "heavy" (line 10)
tenants[0]: needs at least one key or source (line 12)`
	if err.Error() != wantErr {
		t.Errorf("Error() =\n%s\nwant\n%s", err, wantErr)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	src := `version: 1
x-timeouts: &t {connect: 1s, first_byte: 2s, idle: 3s}
`
	// Unknown top-level keys stay unknown even as anchor holders.
	if got := problemsOf(t, src, envMap(nil)); !slices.Equal(got, []string{"x-timeouts: unknown key"}) {
		t.Fatalf("got %q", got)
	}
	src = `version: 1
providers:
  - &base {name: a, type: openai, base_url: "http://127.0.0.1:1/v1", timeouts: {connect: 1s, first_byte: 2s, idle: 3s}}
  - <<: *base
    name: b
    timeouts: {connect: 4s}
models:
  - {name: m, targets: [{provider: a}, {provider: b}]}
`
	c, err := LoadWith([]byte(src), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Providers[1]
	if b.Name != "b" || b.BaseURL != "http://127.0.0.1:1/v1" || b.Timeouts.Connect.D().String() != "4s" || b.Timeouts.Idle.D().String() != "1m0s" {
		t.Errorf("merged provider = %+v", b)
	}
}

func TestAliasBomb(t *testing.T) {
	// One model with 2000 targets, aliased 1000 times: a few kilobytes
	// that expand to two million values.
	var b strings.Builder
	b.WriteString("version: 1\nproviders: [{name: p, type: offline}]\nmodels:\n  - &m {name: m, targets: [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{provider: p}")
	}
	b.WriteString("]}\n")
	for range 1000 {
		b.WriteString("  - *m\n")
	}
	_, err := LoadWith([]byte(b.String()), envMap(nil))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("alias bomb: got %v", err)
	}
	if len(err.Error()) > 1000 {
		t.Errorf("error is %d bytes, want one short problem", len(err.Error()))
	}
}

func TestSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		src  string
		want Problem
	}{
		{"version: 1\nlisteners: [{a: {b: ${X}}}]\n", Problem{Line: 2, Message: "invalid YAML: did not find expected ',' or '}'"}},
		{"version: 1\nlisteners: [\n", Problem{Line: 3, Message: "invalid YAML: did not find expected node content"}},
		{"version: 1\nlog:\n\tlevel: info\n", Problem{Line: 3, Message: "invalid YAML: found character that cannot start any token"}},
		{"version: 1\nlog:\n  level: info\n level: x\n", Problem{Line: 4, Message: "invalid YAML: did not find expected key"}},
		{"version: 1\n\n\nlog: {a: b\n", Problem{Line: 4, Message: "invalid YAML: did not find expected ',' or '}'"}},
		{"version: 1\nx: y: z\n", Problem{Line: 2, Message: "invalid YAML: mapping values are not allowed in this context"}},
		{"version: 1\n- a\n", Problem{Line: 2, Message: "invalid YAML: did not find expected key"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := LoadWith([]byte(tt.src), envMap(nil))
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0] != tt.want {
				t.Fatalf("got %v, want %+v", err, tt.want)
			}
		})
	}
}

func TestMergeBombs(t *testing.T) {
	tests := map[string]string{
		"self merge":   "version: 1\nlog: &a {<<: [*a, *a]}\n",
		"nested self":  "version: 1\nlog: &a {x: {<<: *a}, <<: *a}\n",
		"merge fanout": "version: 1\na0: &a0 {level: info}\n" + mergeChain(30) + "log: *a30\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadWith([]byte(src), envMap(nil)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// mergeChain builds a_i merging a_{i-1} four times: 4^n pairs if expanded.
func mergeChain(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		p := "*a" + strconv.Itoa(i-1)
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " {<<: [" + p + ", " + p + ", " + p + ", " + p + "]}\n")
	}
	return b.String()
}
